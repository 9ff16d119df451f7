"""The tools around the library: the command line (``cli``, ``python -m
fastloss``) with its demonstration (``demo``), benchmark grid (``bench``) and
check of the installed build (``check``), and the pure-NumPy references
(``reference``) that ``check`` and the tests compare the kernels with."""
