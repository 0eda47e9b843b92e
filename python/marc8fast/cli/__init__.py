"""The ``marc8fast`` command line: ``validate``, ``convert``, ``bench``, ``dump``, ``load``,
``export`` and ``catalog``.

``marc8fast validate FILE... | -``  checks every record (structure, encoding, and with
``--for-export`` every character MARC-8 lacks) and prints one line per problem.
``marc8fast convert IN OUT --to utf8|marc8 [--to-format iso2709|marcxml|json] [--from-format ...]``
converts a file (atomically; ISO 2709 to ISO 2709 on every core).
``marc8fast bench [FILE]``  measures marc8fast beside the peers installed on the machine.
``marc8fast dump FILE...``  prints records as ``=TAG  ind$aText`` lines.
``marc8fast load FILE... --db CATALOG``  loads records into the local catalog (import flow).
``marc8fast export SYSNO... --db CATALOG -o OUT``  writes catalog records as MARC-8 (export flow).
``marc8fast catalog init --db CATALOG``  makes an empty catalog (only where there is no file).
``marc8fast catalog show|history|delete|undelete SYSNO... --db CATALOG``, ``catalog batches``,
``catalog search --title ...``  look at, search, soft-delete or undelete records.
``marc8fast serve --db CATALOG --connexion [HOST:]PORT``, ``send``, ``users``: the catalog's
network services (:mod:`marc8fast.server`).

Exit status, the same for every command (README "Exit status"): 0 clean or warnings only, 1
records rejected, data changed or lost, problems found, 2 usage or environment; 130 when
interrupted (Ctrl-C). Every command that writes checks its paths first with one guard
(:func:`marc8fast._paths.check_paths`), and every problem line has one layout
(:func:`marc8fast._problems.problem_line`).

One module per command group (:mod:`.validate`, :mod:`.convert`, :mod:`.dump`, :mod:`.bench`,
:mod:`.load`, :mod:`.export`, :mod:`.catalog`; ``serve``/``send``/``users`` in
:mod:`marc8fast.server.cli`), each with ``register(subparsers)`` and ``run(args)``; what they
share (exit codes, progress bar, argument types, guards) is in :mod:`._common`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from .. import __version__
from ._common import _EXIT_EPILOG, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS

# The command groups, in the order of ``marc8fast --help``, and the command each registers. They
# are imported only when needed (issue 22: start-up of a whole ``convert`` process): ``main``
# registers only the group of the command asked for, so ``marc8fast convert`` does not import the
# catalog, the server's ``ssl`` or the other commands' modules.
_GROUPS = ("validate", "convert", "bench", "dump", "load", "export", "catalog", "profile")
_SERVER_COMMANDS = ("serve", "send", "users")

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PROBLEMS", "build_parser", "main"]


def __getattr__(name: str) -> ModuleType:
    """A command group's module as an attribute (``cli.convert``), imported on first use."""
    if name in _GROUPS:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; with ``command`` (one the CLI has), a parser that knows only
    that command's group, which parses that command's arguments exactly as the whole one does."""
    parser = argparse.ArgumentParser(
        prog="marc8fast",
        description="MARC-8 ⇄ UTF-8 tools for MARC 21 records.",
        epilog=_EXIT_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"marc8fast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _GROUPS:
        if command is None or command == name:
            importlib.import_module(f".{name}", __name__).register(sub)
    if command is None or command in _SERVER_COMMANDS:
        from ..server.cli import add_parsers as add_server_parsers  # serve, send, users (issue 12)

        add_server_parsers(sub)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command named by ``argv`` when it is one the CLI has (the top level's only options,
    ``-h`` and ``--version``, take no value, so it is the first word not starting with ``-``)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in _GROUPS or word in _SERVER_COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(_command_of(words)).parse_args(argv)
    args.verbosity = 1 + args.verbose - args.quiet
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        sys.stderr.write("\nmarc8fast: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like
        try:
            # Silence the flush at exit.
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
