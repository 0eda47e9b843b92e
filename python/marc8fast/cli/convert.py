"""``marc8fast convert IN OUT --to utf8|marc8 [--to-format ...] [--from-format ...]``:
converts a file (atomically; ISO 2709 to ISO 2709 on every core)."""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
import time

from .. import transcode_file
from .._native import RecordProblem, Report, convert_records_file, detect_format
from .._output import AtomicText, give_new_file_mode, remove_stale_temps, temp_path
from .._paths import check_paths
from ._common import (
    _EXIT_EPILOG,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PROBLEMS,
    _count,
    _error,
    _fails,
    _input_file_ok,
    _jobs,
    _no_records_why,
    _os_error,
    _progress,
    _verbosity,
)

# Imported when needed, not here (issue 22: a whole ``convert`` process's start): ``json`` and
# the problem line (:mod:`._issue`, with ``dataclasses``) only when a problem is listed or a
# report written; ``typing`` only by the type checker.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, Literal


def register(sub: Any) -> None:
    c = sub.add_parser(
        "convert",
        help="convert a file between MARC-8 and UTF-8, ISO 2709, MARCXML and JSON",
        description="Convert every record of IN into OUT (written to a temporary file and "
        "renamed into place only when complete; never over IN).",
        epilog=_EXIT_EPILOG,
    )
    c.add_argument("input", metavar="IN", help="the file to convert (never written)")
    c.add_argument(
        "output",
        metavar="OUT",
        help="the file to write (replaced only when at least one record is written)",
    )
    c.add_argument(
        "--to",
        required=True,
        choices=["utf8", "marc8"],
        help="the character encoding to write: utf8 or marc8",
    )
    c.add_argument(
        "--to-format",
        dest="format",
        choices=["iso2709", "marcxml", "json"],
        default="iso2709",
        help="record format of OUT (default iso2709); marcxml and json are UTF-8",
    )
    # Old spelling, kept for a release (--format names a report format elsewhere).
    c.add_argument(
        "--format", dest="format", choices=["iso2709", "marcxml", "json"], help=argparse.SUPPRESS
    )
    c.add_argument(
        "--from-format",
        choices=["iso2709", "marcxml", "json"],
        default=None,
        help="input format (default: detected: '<' MARCXML, '[' or '{' JSON, else ISO 2709)",
    )
    c.add_argument(
        "--errors",
        default=None,
        help="to utf8: replace (default) or strict (reject records with a problem); "
        "to marc8: lossless (default, &#xXXXX;), lossy (|) or strict",
    )
    c.add_argument(
        "--normalize",
        choices=["NFC", "NFD"],
        default=None,
        help="Unicode normalization of the UTF-8 written (default: as converted)",
    )
    c.add_argument(
        "--trust",
        choices=["leader", "data"],
        default="leader",
        help="when leader/09 says MARC-8 but the bytes are UTF-8 (or the reverse): leader "
        "(default) reads the record as the leader says; data reads it as what its bytes are",
    )
    c.add_argument("--expand-ncr", action="store_true", help="read &#xXXXX; back as characters")
    c.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N", help="threads")
    c.add_argument(
        "--report", metavar="FILE.jsonl", help="write every problem there, one JSON object a line"
    )
    c.add_argument(
        "--max-problems",
        type=_count,
        default=20,
        metavar="N",
        help="problems listed on stderr (default 20)",
    )
    _verbosity(c)
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    src, dst = args.input, args.output
    if not _input_file_ok(src):
        return EXIT_ERROR
    why = check_paths([("the output", dst), ("the report", args.report)], inputs=[src])
    if why is not None:
        return _error(why)
    # What a killed conversion left beside OUT (and the report): its process is gone.
    remove_stale_temps(dst)
    if args.report:
        remove_stale_temps(args.report)
    from_format = args.from_format or _detect_format(src)
    # The conversion is written to a temporary file of ours beside OUT, renamed over OUT only
    # when at least one record was written: a run that rejects every record (or finds none)
    # leaves an existing OUT as it was (issue 18, item 4).
    tmp = temp_path(dst)
    # ISO 2709 to ISO 2709 streams its problems to --report as it goes; the other formats'
    # report is written at the end.
    streamed = args.format == "iso2709" and from_format == "iso2709"
    try:
        if streamed:
            status, report, secs = _convert_iso2709(args, tmp)
        else:
            status, report, secs = _convert_formats(args, from_format, tmp)
        if report is None:
            return status
        written = report.records_written > 0
        if written:
            os.replace(tmp, dst)
    except OSError as e:
        return _error(_os_error(e, dst))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return _convert_summary(args, report, secs, written=written, write_report=not streamed)


def _convert_iso2709(args: argparse.Namespace, tmp: str) -> tuple[int, Report | None, float]:
    """ISO 2709 to ISO 2709 (``transcode_file``) into ``tmp``, the problems streamed to
    ``--report``. Returns (exit status, the report, seconds); the report is None after an error
    (said already: the status is 2)."""
    src = args.input
    # --report: every problem is written as it comes, to a temporary file renamed into place
    # when the conversion is done; only the problems listed on stderr are kept in memory.
    fh: IO[str] | None = None
    if args.report:
        import json

        from ._issue import Issue

        try:
            fh = open(temp_path(args.report), "x", encoding="utf-8")
            give_new_file_mode(fh.fileno())
        except OSError as e:
            return _error(_os_error(e, args.report)), None, 0.0

    def found(p: RecordProblem) -> None:
        assert fh is not None
        line = json.dumps(Issue.from_problem(src, p).as_dict(), ensure_ascii=False) + "\n"
        try:
            fh.write(line)
        except OSError as e:
            raise OSError(e.errno, e.strerror, args.report) from None

    bar = _progress(f"{src} → {args.output}", os.path.getsize(src), args)
    t0 = time.perf_counter()
    try:
        report = transcode_file(
            src,
            tmp,
            to=args.to,
            errors=args.errors,
            normalize=args.normalize,
            expand_ncr=args.expand_ncr,
            trust=args.trust,
            jobs=args.jobs,
            progress=bar,
            max_problems=args.max_problems if args.verbosity >= 1 else 0,
            on_problem=found if fh is not None else None,
        )
        if fh is not None:
            try:
                fh.close()
                os.replace(fh.name, args.report)
            except OSError as e:
                raise OSError(e.errno, e.strerror, args.report) from None
    except (ValueError, OSError) as e:  # bad options, I/O
        bar.done()
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()
            with contextlib.suppress(OSError):
                os.unlink(fh.name)
        if isinstance(e, OSError):
            return _error(_os_error(e)), None, 0.0
        return _error(str(e)), None, 0.0
    except BaseException:
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()
            with contextlib.suppress(OSError):
                os.unlink(fh.name)
        raise
    bar.done()
    return EXIT_OK, report, time.perf_counter() - t0


if TYPE_CHECKING:
    _RecordFormat = Literal["iso2709", "marcxml", "json"]


def _detect_format(path: str) -> _RecordFormat:
    """The input format, by the core's one detection (``detect_format``, as every reader) on
    the file's first bytes. A pipe, a FIFO or a device is read once, by the conversion: reading
    its first bytes here would take them from the conversion (its start was lost, or the
    conversion waited for a writer that had gone), so it is ISO 2709 unless ``--from-format``
    says otherwise — as standard input is (a choice, in the README)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "iso2709"
        with open(path, "rb") as fh:
            head = fh.read(64 << 10)
    except OSError:
        return "iso2709"
    return detect_format(head)


def _convert_formats(
    args: argparse.Namespace, from_format: _RecordFormat, tmp: str
) -> tuple[int, Report | None, float]:
    """convert --to-format / --from-format: any of ISO 2709, MARCXML, MARC-in-JSON to any, into
    ``tmp``. Returns as :func:`_convert_iso2709`."""
    if args.format != "iso2709" and args.to != "utf8":
        return _error(f"{args.format} is always UTF-8; use --to utf8"), None, 0.0
    if args.to == "utf8" and args.errors not in (None, "replace"):
        return (
            _error(
                "--errors strict applies to ISO 2709 to ISO 2709 only; "
                "MARCXML and JSON conversions replace and report"
            ),
            None,
            0.0,
        )
    t0 = time.perf_counter()
    try:
        _, report = convert_records_file(
            args.input,
            tmp,
            format=args.format,
            from_format=from_format,
            to=args.to,
            errors=args.errors if args.to == "marc8" and args.errors else "lossless",
            normalize=args.normalize,
            expand_ncr=args.expand_ncr,
            trust=args.trust,
        )
    except OSError as e:
        return _error(_os_error(e)), None, 0.0
    except ValueError as e:
        return _error(str(e)), None, 0.0
    return EXIT_OK, report, time.perf_counter() - t0


def _convert_summary(
    args: argparse.Namespace,
    report: Report,
    secs: float,
    *,
    written: bool,
    write_report: bool = True,
) -> int:
    src, dst = args.input, args.output
    if args.report and write_report:
        import json

        from ._issue import Issue

        try:
            out = AtomicText(args.report)
            try:
                for p in report.problems:
                    i = Issue.from_problem(src, p)
                    out.write(json.dumps(i.as_dict(), ensure_ascii=False) + "\n")
            except BaseException:
                out.discard()
                raise
            out.commit()
        except OSError as e:
            return _error(_os_error(e, args.report))
    if args.verbosity >= 1:
        listed = report.problems
        if listed:
            from ._issue import Issue

            for p in listed:
                sys.stderr.write(Issue.from_problem(src, p).line() + "\n")
        more = report.problem_count() - len(listed)
        if more > 0:
            where = f" (all in {args.report})" if args.report else " (--report FILE.jsonl)"
            sys.stderr.write(f"... and {more:,} more problem(s){where}\n")
        mb = report.bytes_in / 1e6
        sys.stderr.write(
            f"{src} → {dst} ({args.to}{'' if args.format == 'iso2709' else ', ' + args.format}): "
            f"{report.records_read:,} records read, "
            f"{report.records_written:,} written, {report.records_rejected:,} rejected; "
            f"{report.problem_count():,} problem(s) in {report.records_with_problems:,} "
            f"record(s); {mb:,.1f} MB in {secs:.2f} s\n"
        )
        for kind, n in sorted(report.counts_by_kind().items(), key=lambda kv: (-kv[1], kv[0])):
            sys.stderr.write(f"  {kind:<22} {n:>9,}\n")
    if report.records_read == 0 and args.verbosity >= 0:
        print(f"marc8fast: {src}: {_no_records_why(report.bytes_in)}", file=sys.stderr)
    if not written and args.verbosity >= 0:
        left = "left as it was" if os.path.exists(dst) else "not created"
        print(f"marc8fast: {dst}: no record written; the file was {left}", file=sys.stderr)
    failed = (
        not written
        or report.records_rejected > 0
        or any(_fails(k) for k in report.counts_by_kind())
    )
    return EXIT_PROBLEMS if failed else EXIT_OK
