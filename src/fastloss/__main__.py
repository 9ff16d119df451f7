"""python -m fastloss: the command line (see fastloss._tools.cli)."""

import sys

from fastloss._tools.cli import main

sys.exit(main())
