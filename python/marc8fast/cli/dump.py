"""``marc8fast dump FILE...``: prints records as ``=TAG  ind$aText`` lines."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._native import MARCReader
from ._common import (
    _EXIT_EPILOG,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PROBLEMS,
    _error,
    _fails,
    _input_file_ok,
    _no_records_why,
    _os_error,
    _size,
)
from ._issue import Issue


def register(sub: Any) -> None:
    d = sub.add_parser(
        "dump",
        help="print MARC records as UTF-8 text, problems on stderr",
        description="Print every record as =LDR and =TAG  ind$aText lines (UTF-8), a blank line "
        "after each; problems on stderr, one line each, as validate prints them.",
        epilog=_EXIT_EPILOG,
    )
    d.add_argument("files", nargs="+", metavar="FILE", help="ISO 2709, MARCXML or JSON files")
    d.set_defaults(func=run, verbose=0, quiet=0, no_progress=True)


def run(args: argparse.Namespace) -> int:
    status: int = EXIT_OK
    for path in args.files:
        if not _input_file_ok(path):
            return EXIT_ERROR
        try:
            reader = MARCReader(path)
        except OSError as e:
            return _error(_os_error(e, path))
        with reader:
            for rec in reader:
                err = [Issue.from_problem(path, p) for p in rec.problems]
                # ``str(record)``: the one rendering of a record as =LDR and =TAG  ind$a lines.
                sys.stdout.write(f"{rec}\n")
                if any(_fails(i.kind) for i in err):
                    status = max(status, EXIT_PROBLEMS)
                if err:
                    sys.stderr.write("\n".join(i.line() for i in err) + "\n")
            lost = [Issue.from_problem(path, p) for p in reader.problems]
            if lost:
                if any(_fails(i.kind) for i in lost):
                    status = max(status, EXIT_PROBLEMS)
                sys.stderr.write("\n".join(i.line() for i in lost) + "\n")
            if reader.records_read == 0:
                status = max(status, EXIT_PROBLEMS)
                print(f"marc8fast: {path}: {_no_records_why(_size(path))}", file=sys.stderr)
    return status
