"""The pure-NumPy references, which live in fastloss/_tools/reference.py so
that ``python -m fastloss check`` can use them on an installed build; the
tests import them as ``import reference as ref``."""

from fastloss._tools.reference import *  # noqa: F403
from fastloss._tools.reference import _sigmoid  # noqa: F401
