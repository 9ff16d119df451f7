"""``python -m fastloss``: the command line.

Without a command it runs the demonstration benchmark (``demo``);
``bench`` the full benchmark grid (``bench``); ``info`` prints
:func:`fastloss.show_config`; ``check`` compares the installed build with
the NumPy references (``check``). Bad arguments print the usage
and exit with status 2 (argparse's convention); ``--version`` prints the
version. ``__main__`` stops quietly when the reader of its output goes away
(``python -m fastloss check | head``).

A command is one entry of ``COMMANDS``: its name, a one-line help, a
function that adds its options to its sub-parser, and a function
``run(parser, args) -> int`` whose result is the exit status.
"""

from __future__ import annotations

import argparse
import json
from typing import Callable, NamedTuple

from .._version import __version__


class Command(NamedTuple):
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.ArgumentParser, argparse.Namespace], int]


def _info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print show_config(mode='dicts') as JSON")


def _info(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .._config import show_config

    if args.json:
        print(json.dumps(show_config(mode="dicts"), indent=2))
    else:
        show_config()
    return 0


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random data (default 0)")


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from . import check

    if args.seed < 0:        # NumPy's generators take non-negative seeds
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    return check.run(seed=args.seed)


def _bench_arguments(parser: argparse.ArgumentParser) -> None:
    from . import bench

    bench.add_arguments(parser)


def _bench_run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from . import bench

    status: int = bench.run(parser, args)
    return status


COMMANDS = [
    Command("bench", "the full benchmark grid: fastloss against its memory floors and "
            "every installed peer, as a table (--json, --plot)", _bench_arguments, _bench_run),
    Command("info", "print the build's configuration (fastloss.show_config())",
            _info_arguments, _info),
    Command("check", "check the installed build against the NumPy references on "
            "random data; exit status 1 on a mismatch", _check_arguments, _check),
]


def _default_arguments(parser: argparse.ArgumentParser) -> None:
    from . import demo

    demo.add_arguments(parser)


def _default(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from . import demo

    status: int = demo.run_demo(parser, args)
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fastloss",
        description="Without a command: time fastloss's cross-entropy against plain "
                    "NumPy on a few shapes. Commands: " + ", ".join(c.name for c in COMMANDS)
                    + ".",
    )
    parser.add_argument("--version", action="version", version=f"fastloss {__version__}")
    _default_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        sub_parser = sub.add_parser(command.name, help=command.help,
                                    description=command.help)
        command.add_arguments(sub_parser)
        sub_parser.set_defaults(_command=command, _parser=sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "_command", None)
    if command is None:
        return _default(parser, args)
    return command.run(args._parser, args)     # its own usage in its errors
