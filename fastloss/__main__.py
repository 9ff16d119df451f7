"""python -m fastloss: the demonstration benchmark (see fastloss._demo)."""

import sys

from fastloss._demo import main

sys.exit(main())
