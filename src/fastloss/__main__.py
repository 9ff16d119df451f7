"""python -m fastloss: the command line (see fastloss._tools.cli)."""

import os
import signal
import sys

from fastloss._tools.cli import main

try:
    status = main()
    sys.stdout.flush()       # a closed pipe raises here, inside the try, not at exit
except BrokenPipeError:
    # The reader went away (`python -m fastloss check | head`): stop quietly,
    # as the Python docs' "Note on SIGPIPE" does. stdout goes to devnull so
    # that the flush at exit does not raise again; the status is the shell's
    # for a command ended by SIGPIPE (1 would read as check's mismatch).
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    status = 128 + signal.SIGPIPE
sys.exit(status)
