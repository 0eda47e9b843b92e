"""``marc8fast export SYSNO... --db CATALOG -o OUT``: writes catalog records as MARC-8 (export
flow)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Any

from .._output import AtomicText
from .._paths import check_paths
from ..catalog import add_db_option
from ._common import (
    _EXIT_EPILOG,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PROBLEMS,
    _catalog_failure,
    _date_arg,
    _error,
    _finish_report,
    _open_catalog,
    _os_error,
    _progress,
    _sysno_arg,
    _verbosity,
)


def register(sub: Any) -> None:
    ex = sub.add_parser(
        "export",
        help="export catalog records to MARC-8 for OCLC",
        description="Write catalog records as MARC-8 ISO 2709: deleted records are never "
        "exported, fields with non-numeric tags (H01, STA ...) are left out, and every character "
        "with no MARC-8 equivalent is listed (system number, tag, subfield, position, U+XXXX).",
        epilog=_EXIT_EPILOG,
    )
    ex.add_argument(
        "sysnos", nargs="*", type=_sysno_arg, metavar="SYSNO", help="system numbers to export"
    )
    add_db_option(ex)
    ex.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.mrc",
        help="the file to write (left as it was when no record is exported)",
    )
    ex.add_argument(
        "--errors",
        choices=["lossless", "strict", "lossy"],
        default="lossless",
        help="characters MARC-8 lacks: lossless (&#xXXXX;, default), strict (record not "
        "exported) or lossy (|)",
    )
    ex.add_argument(
        "--since", type=_date_arg, default=None, metavar="DATE", help="records changed since"
    )
    ex.add_argument(
        "--all", action="store_true", help="every live record (not with SYSNO or --since)"
    )
    ex.add_argument(
        "--keep-tags",
        default=r"[0-9]{3}",
        metavar="REGEX",
        help="tags exported must match REGEX in full (default [0-9]{3})",
    )
    ex.add_argument(
        "--drop-tag",
        action="append",
        default=[],
        metavar="TAG",
        help="also leave out this tag, or a pattern such as 9XX (X: any digit); one a flag, "
        "repeat the flag for more",
    )
    ex.add_argument(
        "--profile",
        metavar="FILE",
        help="an import profile (TOML) whose [export] section sets the local 035 (local_prefix, "
        "local_035); --local-prefix and --no-local-035 given as well win",
    )
    ex.add_argument(
        "--local-prefix",
        default=None,
        metavar="PREFIX",
        help="every record carries 035 $a PREFIX + its system number, so that OCLC's copy sent "
        'back overlays it when loaded (default "(LOCAL)", the load --target-prefix default)',
    )
    ex.add_argument(
        "--no-local-035",
        action="store_true",
        help="leave out that 035 (records sent back by OCLC then match by OCLC number only)",
    )
    ex.add_argument(
        "--deleted-since",
        type=_date_arg,
        default=None,
        metavar="DATE",
        help="also the records deleted since DATE, with leader/05 d (so OCLC holdings can be "
        "cancelled); alone, or after the records of --since or --all",
    )
    ex.add_argument("--report", metavar="FILE.jsonl", help="one JSON line per record")
    _verbosity(ex)
    ex.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..catalog import CatalogError
    from ..flows.exporter import Exporter, ExportOutcome, TagFilter
    from ..flows.outcome import ExportFate

    chosen = [bool(args.sysnos), args.since is not None, args.all]
    if args.deleted_since is not None and args.sysnos:
        return _error("export: --deleted-since goes alone or with --since or --all, not SYSNO")
    if not any(chosen) and args.deleted_since is None:
        return _error("export: give SYSNO..., --since DATE, --all or --deleted-since DATE")
    if args.profile is not None:
        from .profile import read_profile

        profile = read_profile(args.profile)
        if profile is None:
            return EXIT_ERROR
        if args.local_prefix is None:
            # The profile's [export] section; --local-prefix given on the line wins.
            args.local_prefix = profile.export_local_prefix
            if not profile.export_local_035:
                args.no_local_035 = True
    if args.local_prefix is None:
        args.local_prefix = "(LOCAL)"
    if not args.local_prefix.strip():
        return _error(
            '--local-prefix must not be empty (default "(LOCAL)"; --no-local-035 to '
            "leave the 035 out)"
        )
    if sum(chosen) > 1:
        # `export --all 1` exported only record 1 (issue 18, item 10): one way to choose.
        return _error("export: give SYSNO..., --since DATE or --all, only one of them")
    try:
        tags = TagFilter(args.keep_tags, args.drop_tag)
    except re.error as e:
        return _error(f"--keep-tags: {e}")
    except ValueError as e:
        return _error(f"--drop-tag: {e}")
    why = check_paths(
        [("the output", args.output), ("the report", args.report)],
        inputs=[args.profile] if args.profile else [],
        catalog=args.db,
    )
    if why is not None:
        return _error(why)
    store = _open_catalog(args.db, readonly=True)
    if store is None:
        return EXIT_ERROR
    try:
        # Written under a temporary name, renamed into place when the run ends (also when it
        # stops on an error: the report then says what was done before it).
        report = AtomicText(args.report) if args.report else None
    except OSError as e:
        store.close()
        return _error(_os_error(e, args.report))

    sysnos: list[int] | None = list(args.sysnos) if args.sysnos else None
    total = len(sysnos) if sysnos is not None else None
    if total is None and args.since is None and args.deleted_since is None:
        total = store.count()
    bar = _progress("export", total, args, unit="records")

    def show(out: ExportOutcome) -> None:
        if report is not None:
            try:
                report.write(json.dumps(out.to_dict(), ensure_ascii=False) + "\n")
            except OSError as e:  # named as the report's error, not the output's
                raise OSError(e.errno, e.strerror, args.report) from None
        lines = out.problem_lines()
        if args.verbosity >= 1 and (
            out.fate is not ExportFate.EXPORTED or lines or args.verbosity >= 2
        ):
            bar.done()
            sys.stdout.write(out.line() + "\n")
            for line in lines:
                sys.stdout.write("    " + line + "\n")

    t0 = time.perf_counter()
    try:
        summary = Exporter(
            store,
            errors=args.errors,
            tags=tags,
            on_outcome=show,
            local_prefix=None if args.no_local_035 else args.local_prefix,
        ).export(
            sysnos,
            args.output,
            since=args.since,
            on_progress=bar,
            deleted_since=args.deleted_since,
            live=bool(args.since is not None or args.all),
        )
    except BrokenPipeError:
        raise
    except OSError as e:
        return _error(
            _os_error(e, None if args.report and e.filename == args.report else args.output)
        )
    except CatalogError as e:
        return _catalog_failure(args.db, e)
    finally:
        bar.done()
        store.close()
        if report is not None:
            _finish_report(report)
    if args.verbosity >= 0:
        secs = time.perf_counter() - t0
        sys.stderr.write(f"{args.output}: {summary.text()} in {secs:.2f} s\n")
        if not summary.written:
            left = "left as it was" if os.path.exists(args.output) else "not created"
            sys.stderr.write(f"{args.output}: nothing exported; the file was {left}\n")
    return EXIT_OK if summary.clean else EXIT_PROBLEMS
