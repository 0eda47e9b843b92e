"""``marc8fast bench [FILE]``: measures marc8fast beside the peers installed on the machine
(:mod:`marc8fast.bench`)."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import _count, _jobs, _verbosity


def register(sub: Any) -> None:
    b = sub.add_parser(
        "bench",
        help="measure marc8fast beside the peers installed",
        description="Convert the same MARC-8 file to UTF-8 with marc8fast and every peer "
        "installed (pymarc, rmarc, yaz-marcdump, MARC::Charset, marc4j), each run in its own "
        "process, interleaved, and print MB/s, records/s and the ratio to marc8fast.",
    )
    b.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="a MARC-8 file (default: the LC corpus BooksAll.marc8.mrc; see --download)",
    )
    b.add_argument("--repeat", type=_jobs, default=3, metavar="N", help="repetitions (3)")
    b.add_argument(
        "--limit", type=_count, default=None, metavar="N", help="use the first N records"
    )
    b.add_argument("--tools", default=None, help="comma-separated subset of the tools")
    b.add_argument("--timeout", type=float, default=600.0, metavar="S", help="per run (600 s)")
    b.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N", help="marc8fast threads")
    b.add_argument("--json", metavar="FILE", help="also write the timings as JSON to FILE")
    b.add_argument(
        "--download",
        action="store_true",
        help="with no FILE, build the LC corpus if it is missing (a 76 MB download; never "
        "without this flag)",
    )
    _verbosity(b)
    b.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import bench

    return bench.run(args)
