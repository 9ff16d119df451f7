"""python -m fastloss: the command line (see fastloss._cli)."""

import sys

from fastloss._cli import main

sys.exit(main())
