"""``marc8fast profile show`` and ``marc8fast profile check FILE``: import profiles (issue 21)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import _EXIT_EPILOG, EXIT_ERROR, EXIT_OK, _verbosity


def register(sub: Any) -> None:
    pr = sub.add_parser(
        "profile",
        help="show the built-in import profile, or check one",
        description="Import profiles (TOML) for load --profile FILE: 'show' prints the built-in "
        "default, explained; 'check FILE' reads one and lists every problem as PATH:LINE:COL.",
        epilog=_EXIT_EPILOG,
    )
    what = pr.add_subparsers(dest="profile_command", metavar="COMMAND", required=True)
    show = what.add_parser("show", help="print the built-in default profile")
    _verbosity(show)
    show.set_defaults(func=run_show)
    check = what.add_parser("check", help="check a profile: exit 0 if usable, 2 if not")
    check.add_argument("file", metavar="FILE", help="the profile (TOML)")
    _verbosity(check)
    check.set_defaults(func=run_check)


def run_show(args: argparse.Namespace) -> int:
    from ..profile import DEFAULT_TEXT

    sys.stdout.write(DEFAULT_TEXT)
    return EXIT_OK


def read_profile(path: str) -> Any:
    """The profile at ``path``, or None after printing why not (every problem, one a line)."""
    from ..profile import ProfileError, load_file

    try:
        return load_file(path)
    except ProfileError as e:
        for line in e.problems:
            print(f"marc8fast: {line}", file=sys.stderr)
    except UnicodeDecodeError:
        print(f"marc8fast: {path}: not UTF-8 text", file=sys.stderr)
    except OSError as e:
        print(f"marc8fast: {path}: {e.strerror or e}", file=sys.stderr)
    return None


def run_check(args: argparse.Namespace) -> int:
    if read_profile(args.file) is None:
        return EXIT_ERROR
    print(f"{args.file}: a usable profile")
    return EXIT_OK
