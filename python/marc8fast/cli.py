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

The results of ``validate`` are collected (:class:`Issue`, :class:`FileResult`) apart from the
reporters that print them (:class:`TextReporter`, :class:`JsonReporter`,
:class:`JsonlReporter`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Literal, TextIO

from . import __version__, transcode_file, validate_bytes, validate_file
from ._native import (
    PROBLEM_KINDS,
    MARCReader,
    Record,
    RecordProblem,
    Report,
    convert_records_file,
    detect_format,
)
from ._output import AtomicText, give_new_file_mode, remove_stale_temps, temp_path
from ._paths import check_paths
from ._problems import JUNK_KINDS, hex_of, problem_line, shown_bytes
from .catalog import add_db_option

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def _fails(kind: str) -> bool:
    """Whether a problem of this kind makes the exit status 1: severity ``error`` (data lost,
    replaced, rejected or skipped). ``warning`` (recovered without losing data: a mislabelled
    record read correctly, a record length recovered) and ``info`` are reported but exit 0, in
    every command (issue 18, item 11). A kind the core does not list counts as an error."""
    return PROBLEM_KINDS.get(kind, "error") == "error"


def _os_error(e: OSError, path: str | None = None) -> str:
    """An OSError in one line that names the file: ``out.jsonl: No space left on device``."""
    where = path or (os.fsdecode(e.filename) if e.filename is not None else None)
    what = e.strerror or str(e)
    if where and where not in what:
        return f"{where}: {what}"
    return what


def _error(message: str) -> int:
    print(f"marc8fast: {message}", file=sys.stderr)
    return EXIT_ERROR


# ------------------------------------------------------------------------------------------------
# Progress bar


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second. Does nothing unless
    ``enabled`` (callers enable it only when stderr is a terminal and output is not quiet)."""

    WIDTH = 24

    def __init__(
        self,
        label: str,
        total_bytes: int | None,
        enabled: bool,
        stream: TextIO,
        unit: Literal["bytes", "records"] = "bytes",
    ) -> None:
        self.label = label
        self.total = total_bytes if total_bytes else None
        self.enabled = enabled
        self.stream = stream
        self.unit = unit
        self.start = time.monotonic()
        self.last = 0.0
        self.drawn = False

    def __call__(self, records: int, bytes_in: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.1:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        if self.total:
            frac = min(bytes_in / self.total, 1.0)
            fill = int(frac * self.WIDTH)
            bar = f"[{'#' * fill}{'.' * (self.WIDTH - fill)}] {frac * 100:3.0f}% "
        elif self.unit == "bytes":
            bar = f"{bytes_in / 1e6:,.1f} MB "
        else:
            bar = ""
        if self.unit == "bytes":
            line = f"{self.label} {bar}{records:,} records {bytes_in / elapsed / 1e6:,.1f} MB/s"
        else:
            line = f"{self.label} {bar}{records:,} records {records / elapsed:,.0f} records/s"
        self.stream.write("\r" + line[:200] + "\033[K")
        self.stream.flush()
        self.drawn = True

    def done(self) -> None:
        if self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.drawn = False


def _progress(
    label: str,
    total: int | None,
    args: argparse.Namespace,
    unit: Literal["bytes", "records"] = "bytes",
) -> Progress:
    """``total``: bytes (or records, ``unit="records"``) to go through, None if not known."""
    enabled = args.verbosity >= 1 and not args.no_progress and sys.stderr.isatty()
    return Progress(label, total, enabled, sys.stderr, unit)


# ------------------------------------------------------------------------------------------------
# Results (validate)


@dataclass
class Issue:
    """One problem found in one record of one file."""

    file: str
    record: int | None  # None for junk (bytes between records that are no record)
    record_offset: int
    control_number: str | None
    tag: str | None
    occurrence: int | None
    subfield: str | None
    offset: int | None
    field_offset: int | None
    kind: str
    severity: str  # "info", "warning" or "error" (marc8fast.PROBLEM_KINDS)
    bytes: str  # upper-case hex, space-separated
    text: str  # the bytes or character as shown
    message: str

    @classmethod
    def from_problem(cls, file: str, p: RecordProblem) -> Issue:
        return cls(
            file=file,
            record=None if p.kind in JUNK_KINDS else p.record,
            record_offset=p.record_offset,
            control_number=p.control_number,
            tag=p.tag,
            occurrence=p.occurrence,
            subfield=p.subfield,
            offset=p.offset,
            field_offset=p.field_offset,
            kind=p.kind,
            severity=p.severity,
            bytes=hex_of(p.bytes),
            text=shown_bytes(p.kind, p.bytes),
            message=p.message,
        )

    def line(self) -> str:
        """The one layout of a problem line (:mod:`marc8fast._problems`)."""
        return problem_line(self.file, asdict(self))


@dataclass
class FileResult:
    """The outcome of validating one file."""

    file: str
    records: int = 0
    bytes: int = 0
    records_with_problems: int = 0
    problems: int = 0
    errors: int = 0  # problems that fail validation (severity warning or error)
    counts_by_kind: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None  # I/O error: the file could not be read
    no_records: bool = False  # read, but not one record in it (empty, or not MARC)

    @classmethod
    def from_report(cls, file: str, r: Report, seconds: float) -> FileResult:
        counts = r.counts_by_kind()
        return cls(
            file=file,
            records=r.records_read,
            bytes=r.bytes_in,
            records_with_problems=r.records_with_problems,
            problems=r.problem_count(),
            errors=sum(n for k, n in counts.items() if _fails(k)),
            counts_by_kind=counts,
            seconds=seconds,
        )


# ------------------------------------------------------------------------------------------------
# Reporters (validate)


class Reporter:
    """Prints issues as they are found and the results at the end."""

    def __init__(self, out: TextIO, err: TextIO, verbosity: int, max_problems: int | None):
        self.out, self.err = out, err
        self.verbosity = verbosity
        self.max_problems = max_problems
        self.shown = 0
        self.hidden = 0

    def _room(self) -> bool:
        if self.max_problems is not None and self.shown >= self.max_problems:
            self.hidden += 1
            return False
        self.shown += 1
        return True

    def issue(self, issue: Issue) -> None:
        raise NotImplementedError

    def problem(self, file: str, p: RecordProblem) -> None:
        """A problem as it is found: listed if there is room (``--max-problems``), else only
        counted as not listed."""
        if self.max_problems is not None and self.shown >= self.max_problems:
            self.hidden += 1
            return
        self.issue(Issue.from_problem(file, p))

    def file_done(self, result: FileResult) -> None:
        pass

    def finish(self, results: list[FileResult]) -> None:
        if self.verbosity >= 1:
            self.err.write(summary(results, self.hidden))


def summary(results: list[FileResult], hidden: int) -> str:
    records = sum(r.records for r in results)
    problems = sum(r.problems for r in results)
    with_problems = sum(r.records_with_problems for r in results)
    counts: Counter[str] = Counter()
    for r in results:
        counts.update(r.counts_by_kind)
    secs = sum(r.seconds for r in results)
    mb = sum(r.bytes for r in results) / 1e6
    lines = [
        f"{len(results)} file(s), {records:,} records ({mb:,.1f} MB in {secs:.2f} s): "
        f"{problems:,} problem(s) in {with_problems:,} record(s)"
    ]
    for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        severity = PROBLEM_KINDS.get(kind, "error")
        lines.append(f"  {kind:<22} {n:>9,}" + ("" if severity == "error" else f"  ({severity})"))
    if hidden:
        lines.append(f"  ({hidden:,} problem(s) not listed: --max-problems)")
    return "\n".join(lines) + "\n"


class TextReporter(Reporter):
    def issue(self, issue: Issue) -> None:
        if self.verbosity >= 0 and self._room():
            self.out.write(issue.line() + "\n")

    def file_done(self, result: FileResult) -> None:
        if self.verbosity >= 2 and not result.error:
            state = "ok" if result.errors == 0 else f"{result.problems:,} problem(s)"
            self.err.write(f"{result.file}: {result.records:,} records, {state}\n")


class JsonlReporter(Reporter):
    def issue(self, issue: Issue) -> None:
        if self._room():
            self.out.write(json.dumps(asdict(issue), ensure_ascii=False) + "\n")


class JsonReporter(Reporter):
    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.issues: list[Issue] = []

    def issue(self, issue: Issue) -> None:
        if self._room():
            self.issues.append(issue)

    def finish(self, results: list[FileResult]) -> None:
        failed = any(r.errors or r.error or r.no_records for r in results)
        doc = {
            "status": "fail" if failed else "ok",
            "files": [asdict(r) for r in results],
            "issues": [asdict(i) for i in self.issues],
            "issues_not_listed": self.hidden,
        }
        self.out.write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
        super().finish(results)


REPORTERS: dict[str, type[Reporter]] = {
    "text": TextReporter,
    "json": JsonReporter,
    "jsonl": JsonlReporter,
}


class _Listing:
    """Hands a file's problems to the reporter as the validator finds them, clearing the
    progress bar first so that the lines do not mix."""

    def __init__(self, reporter: Reporter, label: str) -> None:
        self.reporter = reporter
        self.label = label
        self.bar: Progress | None = None

    def __call__(self, p: RecordProblem) -> None:
        if self.bar is not None:
            self.bar.done()
        self.reporter.problem(self.label, p)


def _cmd_validate(args: argparse.Namespace) -> int:
    reporter = REPORTERS[args.output_format](
        sys.stdout, sys.stderr, args.verbosity, args.max_problems
    )
    results: list[FileResult] = []
    for path in args.files:
        label = "<stdin>" if path == "-" else path
        if path != "-" and not _input_file_ok(path):
            results.append(FileResult(file=label, error="cannot be read"))
            continue
        opts: dict[str, Any] = {
            "for_export": args.for_export,
            "jobs": args.jobs,
            "offset": args.offset,
            "limit": args.limit,
        }
        t0 = time.perf_counter()
        bar: Progress | None = None
        # Problems are listed as they are found, not collected: the report keeps none.
        listing = _Listing(reporter, label)
        opts["max_problems"] = 0
        opts["on_problem"] = listing
        try:
            if path == "-":
                data = sys.stdin.buffer.read()
                bar = listing.bar = _progress(label, len(data), args)
                report = validate_bytes(data, progress=bar, **opts)
            else:
                bar = listing.bar = _progress(label, os.path.getsize(path), args)
                report = validate_file(path, progress=bar, **opts)
        except OSError as e:
            results.append(FileResult(file=label, error=e.strerror or str(e)))
            print(f"marc8fast: {label}: {e.strerror or e}", file=sys.stderr)
            continue
        finally:
            if bar is not None:
                bar.done()
        result = FileResult.from_report(label, report, time.perf_counter() - t0)
        if report.records_read == 0 and args.offset == 0 and args.limit != 0:
            # Nothing to check is not "clean": say so, exit 1 (as load does; issue 18, item 7).
            result.no_records = True
            if args.verbosity >= 0:
                print(f"marc8fast: {label}: {_no_records_why(report.bytes_in)}", file=sys.stderr)
        results.append(result)
        reporter.file_done(result)
    reporter.finish(results)
    if any(r.error for r in results):
        return EXIT_ERROR
    failed = any(r.errors or r.no_records for r in results)
    return EXIT_PROBLEMS if failed else EXIT_OK


def _no_records_why(size: int) -> str:
    """Why an input gave nothing: ``no records: the file is empty`` or ``no records: 13
    byte(s), none of them a MARC record`` (the words load uses too)."""
    if size == 0:
        return "no records: the file is empty"
    return f"no records: {size:,} byte(s), none of them a MARC record"


# ------------------------------------------------------------------------------------------------
# convert


def _cmd_convert(args: argparse.Namespace) -> int:
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
        try:
            fh = open(temp_path(args.report), "x", encoding="utf-8")
            give_new_file_mode(fh.fileno())
        except OSError as e:
            return _error(_os_error(e, args.report)), None, 0.0

    def found(p: RecordProblem) -> None:
        assert fh is not None
        line = json.dumps(asdict(Issue.from_problem(src, p)), ensure_ascii=False) + "\n"
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


_RecordFormat = Literal["iso2709", "marcxml", "json"]


def _detect_format(path: str) -> _RecordFormat:
    """The input format, by the core's one detection (``detect_format``, as every reader) on
    the file's first bytes."""
    try:
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
        try:
            out = AtomicText(args.report)
            try:
                for p in report.problems:
                    i = Issue.from_problem(src, p)
                    out.write(json.dumps(asdict(i), ensure_ascii=False) + "\n")
            except BaseException:
                out.discard()
                raise
            out.commit()
        except OSError as e:
            return _error(_os_error(e, args.report))
    if args.verbosity >= 1:
        listed = report.problems
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


# ------------------------------------------------------------------------------------------------
# dump


def _field_lines(rec: Record) -> list[str]:
    """``=LDR`` and ``=TAG  ind$aText`` lines of a record (``dump`` and ``catalog show``)."""
    out = [f"=LDR  {rec.leader}"]
    for f in rec.fields:
        if f.is_control_field():
            out.append(f"={f.tag}  {f.data}")
        else:
            subs = "".join(f"${c}{v}" for c, v in f.subfields)
            out.append(f"={f.tag}  {f.indicators.replace(' ', chr(92))}{subs}")
    return out


def _cmd_dump(args: argparse.Namespace) -> int:
    status = EXIT_OK
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
                sys.stdout.write("\n".join([*_field_lines(rec), ""]) + "\n")
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


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# ------------------------------------------------------------------------------------------------
# bench


def _cmd_bench(args: argparse.Namespace) -> int:
    from . import bench

    return bench.run(args)


# ------------------------------------------------------------------------------------------------
# load, export, catalog (the import and export flows; see marc8fast.flows)


def _open_catalog(
    path: str, *, create: bool = False, readonly: bool = False, wait: float | None = None
) -> Any:
    """The catalog store, or None after saying why in one line. Only ``load`` creates a catalog;
    readers (``export``, ``catalog show``) open it read-only and never wait for a writer."""
    from .catalog import DEFAULT_WAIT, CatalogError, open_catalog

    def waiting(message: str) -> None:
        print(f"marc8fast: {message}", file=sys.stderr, flush=True)

    try:
        return open_catalog(
            path,
            create=create,
            readonly=readonly,
            wait=DEFAULT_WAIT if wait is None else wait,
            on_wait=waiting,
        )
    except CatalogError as e:
        print(f"marc8fast: {e}", file=sys.stderr)
        return None
    except OSError as e:  # cannot be opened ...
        print(f"marc8fast: {path}: {e}", file=sys.stderr)
        return None


def _catalog_failure(path: str, e: Exception) -> int:
    """One line for an error from the catalog in the middle of a command (read-only, locked too
    long, disk full ...): exit 2."""
    from .catalog import describe_error

    print(f"marc8fast: {describe_error(path, e)}", file=sys.stderr)
    return EXIT_ERROR


def _input_file_ok(path: str) -> bool:
    """True if ``path`` is a file that can be read; else say why in one line (a folder, a
    missing file, no permission) and return False."""
    if os.path.isdir(path):
        print(f"marc8fast: {path}: is a directory, not a file", file=sys.stderr)
        return False
    if not os.path.exists(path):
        print(f"marc8fast: {path}: no such file", file=sys.stderr)
        return False
    if not os.path.isfile(path):
        # A FIFO (or a device): opening it to try would take its writer's data or wait for one;
        # it is read once, by the command.
        if not os.access(path, os.R_OK):
            print(f"marc8fast: {path}: Permission denied", file=sys.stderr)
            return False
        return True
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        print(f"marc8fast: {path}: {e.strerror or e}", file=sys.stderr)
        return False
    return True


def _input_size(paths: Sequence[str]) -> int | None:
    """The bytes to read from ``paths`` (for a progress bar), None if one is a pipe, a FIFO or
    standard input (``-``)."""
    if any(p == "-" or not os.path.isfile(p) for p in paths):
        return None
    return sum(os.path.getsize(p) for p in paths)


def _cmd_load(args: argparse.Namespace) -> int:
    from .catalog import CatalogError
    from .flows.importer import Importer, Outcome

    # "-" is standard input, read once like any input (issue 18).
    if args.files.count("-") > 1:
        print("marc8fast: - (standard input) can be given once", file=sys.stderr)
        return EXIT_ERROR
    inputs = [f for f in args.files if f != "-"]
    for path in inputs:
        if not _input_file_ok(path):
            return EXIT_ERROR
    why = _prefix_problem(args.target_prefix) or check_paths(
        [("the report", args.report)], inputs=args.files, catalog=args.db, catalog_is_output=True
    )
    if why is not None:
        return _error(why)
    store = _open_catalog(args.db, create=True, wait=args.wait)
    if store is None:
        return EXIT_ERROR
    try:
        # Written under a temporary name, renamed into place when the run ends (also when it
        # stops on an error: the report then says what was done before it).
        report = AtomicText(args.report) if args.report else None
    except OSError as e:
        store.close()
        return _error(_os_error(e, args.report))

    bar = _progress("load", _input_size(args.files), args)
    rows = _ReportRows(report) if report is not None else None

    def show(out: Outcome) -> None:
        # Called once the record is committed (its report row was written just before).
        if args.verbosity >= 1:
            bar.done()  # the bar is drawn again on the next progress call
            # A record's problems are listed under its line (issue 11, item 8).
            sys.stdout.write(out.line() + "\n")
            for line in out.problem_lines():
                sys.stdout.write(f"    {line}\n")

    t0 = time.perf_counter()
    try:
        summary = Importer(
            store,
            target_prefix=args.target_prefix,
            exclude_symbols=args.exclude_symbol,
            batch_size=args.batch_size,
            on_outcome=show,
            overlay=args.overlay,
            on_progress=bar,
            before_commit=rows.write if rows is not None else None,
            commit_failed=rows.undo if rows is not None else None,
        ).load(args.files)
    except BrokenPipeError:
        raise
    except OSError as e:
        return _error(_os_error(e))
    except CatalogError as e:  # read-only, locked too long, disk full ...
        return _catalog_failure(args.db, e)
    finally:
        bar.done()
        store.close()
        if report is not None:
            _finish_report(report)
    if args.verbosity >= 0:
        secs = time.perf_counter() - t0
        sys.stderr.write(f"{summary.text()} in {secs:.2f} s\n")
    return EXIT_OK if summary.clean else EXIT_PROBLEMS


class _ReportRows:
    """``load --report``: the rows of a transaction's records are written (to the report's
    temporary file, by its descriptor, unbuffered) before the transaction commits; a write that
    fails takes back what it wrote and stops the load (the transaction is rolled back), and a
    commit that fails takes the rows back: the report holds a row for every record stored and
    for no other (issue 18, item 1)."""

    def __init__(self, report: AtomicText) -> None:
        self.report = report
        self.fd = report.fh.fileno()
        self.mark = 0

    def write(self, outcomes: Sequence[Any]) -> None:
        data = "".join(json.dumps(o.to_dict(), ensure_ascii=False) + "\n" for o in outcomes)
        self.mark = os.lseek(self.fd, 0, os.SEEK_CUR)
        view = memoryview(data.encode("utf-8"))
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except OSError as e:
            self.undo()
            raise OSError(e.errno, f"{self.report.dst}: {e.strerror or e}") from None

    def undo(self) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, self.mark)
            os.lseek(self.fd, self.mark, os.SEEK_SET)


def _finish_report(report: AtomicText) -> None:
    try:
        report.commit()
    except OSError as e:
        report.discard()
        print(f"marc8fast: {_os_error(e, report.dst)}", file=sys.stderr)


def _prefix_problem(prefix: str) -> str | None:
    """Why a ``--target-prefix`` cannot be used (an empty or blank one would make every 035 a
    failed target and reject the record: issue 18, item 10), or None."""
    if not prefix.strip():
        return '--target-prefix must not be empty (default "(LOCAL)")'
    return None


def _sysno_arg(value: str) -> int:
    from .flows import parse_sysno

    try:
        return parse_sysno(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _date_arg(value: str) -> str:
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date (YYYY-MM-DD[THH:MM:SS])"
        ) from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cmd_export(args: argparse.Namespace) -> int:
    from .catalog import CatalogError
    from .flows.exporter import Exporter, ExportOutcome, TagFilter

    chosen = [bool(args.sysnos), args.since is not None, args.all]
    if not any(chosen):
        return _error("export: give SYSNO..., --since DATE or --all")
    if sum(chosen) > 1:
        # `export --all 1` exported only record 1 (issue 18, item 10): one way to choose.
        return _error("export: give SYSNO..., --since DATE or --all, only one of them")
    try:
        tags = TagFilter(args.keep_tags, args.drop_tag)
    except re.error as e:
        return _error(f"--keep-tags: {e}")
    except ValueError as e:
        return _error(f"--drop-tag: {e}")
    why = check_paths([("the output", args.output), ("the report", args.report)], catalog=args.db)
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
    if total is None and args.since is None:
        total = store.count()
    bar = _progress("export", total, args, unit="records")

    def show(out: ExportOutcome) -> None:
        if report is not None:
            try:
                report.write(json.dumps(out.to_dict(), ensure_ascii=False) + "\n")
            except OSError as e:  # named as the report's error, not the output's
                raise OSError(e.errno, e.strerror, args.report) from None
        lines = out.problem_lines()
        if args.verbosity >= 1 and (out.fate != "exported" or lines or args.verbosity >= 2):
            bar.done()
            sys.stdout.write(out.line() + "\n")
            for line in lines:
                sys.stdout.write("    " + line + "\n")

    t0 = time.perf_counter()
    try:
        summary = Exporter(store, errors=args.errors, tags=tags, on_outcome=show).export(
            sysnos, args.output, since=args.since, on_progress=bar
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


def _cmd_catalog(args: argparse.Namespace) -> int:
    from .catalog import CatalogError

    if args.action == "copy":
        return _catalog_copy(args)
    if args.action == "init":
        return _catalog_init(args)
    writes = args.action in ("delete", "undelete")
    store = (
        _open_catalog(args.db, wait=args.wait) if writes else _open_catalog(args.db, readonly=True)
    )
    if store is None:
        return EXIT_ERROR
    try:
        if args.action == "batches":
            return _catalog_batches(store)
        if args.action == "search":
            return _catalog_search(store, args)
        if args.action == "check":
            return _catalog_check(store, args)
        status = EXIT_OK
        for sysno in args.sysnos:
            one = _CATALOG_ACTIONS[args.action](store, sysno)
            status = max(status, one)
        return status
    except CatalogError as e:  # read-only, locked too long ...
        return _catalog_failure(args.db, e)
    finally:
        store.close()


def _catalog_copy(args: argparse.Namespace) -> int:
    """``catalog copy --from SRC --to DST``: every table into a new catalog, with counts and the
    records' checksum on both sides (exit 0 equal, 1 they differ, 2 an error)."""
    from ._paths import same_file
    from .catalog import CatalogError, shown
    from .catalog.maintenance import copy_catalog

    if shown(args.source) == shown(args.dest) or same_file(args.source, args.dest):
        print("marc8fast: --from and --to name the same catalog", file=sys.stderr)
        return EXIT_ERROR
    source = _open_catalog(args.source, readonly=True)
    if source is None:
        return EXIT_ERROR
    try:
        target = _open_catalog(args.dest, create=True)
        if target is None:
            return EXIT_ERROR
        try:
            t0 = time.perf_counter()
            result = copy_catalog(source, target)
        finally:
            target.close()
    except CatalogError as e:
        return _catalog_failure(args.dest, e)
    finally:
        source.close()
    for table, n in result.counts.items():
        print(f"{table}\t{n}")
    print(f"checksum {shown(args.source)}\t{result.source_checksum}")
    print(f"checksum {shown(args.dest)}\t{result.target_checksum}")
    secs = time.perf_counter() - t0
    if not result.same:
        print("marc8fast: the copy's records differ from the source's", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"{result.records:,} record(s) copied in {secs:.2f} s; checksums equal", file=sys.stderr)
    return EXIT_OK


def _catalog_check(store: Any, args: argparse.Namespace) -> int:
    """``catalog check``: one line per problem; exit 0 none, 1 some."""
    from .catalog import shown
    from .catalog.maintenance import check_catalog

    problems = 0
    for line in check_catalog(store):
        print(f"{shown(args.db)}: {line}")
        problems += 1
    n = store.count()
    print(f"{shown(args.db)}: {n:,} record(s) checked, {problems} problem(s)", file=sys.stderr)
    return EXIT_PROBLEMS if problems else EXIT_OK


def _catalog_init(args: argparse.Namespace) -> int:
    """Make an empty catalog at ``--db``: only where there is no file (an existing catalog is
    left as it was, and said so; any other file is refused)."""
    from ._paths import output_place_problem
    from .catalog import is_url, shown

    if is_url(args.db):
        # A database server: the tables are made in the (existing, empty) database.
        store = _open_catalog(args.db, create=True)
        if store is None:
            return EXIT_ERROR
        store.close()
        print(f"marc8fast: {shown(args.db)}: a catalog (made if it was empty)", file=sys.stderr)
        return EXIT_OK
    if os.path.exists(args.db):
        store = _open_catalog(args.db, readonly=True)
        if store is None:
            return EXIT_ERROR
        store.close()
        print(f"marc8fast: {args.db}: a catalog already; left as it was", file=sys.stderr)
        return EXIT_OK
    why = output_place_problem(args.db)
    if why is not None:
        return _error(why)
    store = _open_catalog(args.db, create=True)
    if store is None:
        return EXIT_ERROR
    store.close()
    print(f"marc8fast: {args.db}: catalog made", file=sys.stderr)
    return EXIT_OK


def _catalog_show(store: Any, sysno: int) -> int:
    from .flows import format_sysno

    rec = store.get(sysno)
    if rec is None:
        print(f"{format_sysno(sysno)}: not found", file=sys.stderr)
        return EXIT_PROBLEMS
    model = Record.parse(rec.data)
    print(f"=SYS  {format_sysno(sysno)}")
    print(f"=STATUS  {'deleted' if rec.deleted else 'live'}")
    print(f"=OCLC  {' '.join(rec.oclc_numbers) or '-'}")
    print(f"=KEY  {rec.title_key or '-'}")
    print(f"=TIME  created {rec.created_at}, updated {rec.updated_at}")
    print("\n".join(_field_lines(model)))
    print()
    return EXIT_OK


def _catalog_delete(store: Any, sysno: int) -> int:
    from .flows import delete_record, format_sysno

    what = delete_record(store, sysno)
    print(f"{format_sysno(sysno)}: {what}")
    return EXIT_OK if what == "deleted" else EXIT_PROBLEMS


def _catalog_undelete(store: Any, sysno: int) -> int:
    from .flows import format_sysno, undelete_record

    what = undelete_record(store, sysno)
    print(f"{format_sysno(sysno)}: {what}")
    return EXIT_OK if what == "undeleted" else EXIT_PROBLEMS


def _catalog_history(store: Any, sysno: int) -> int:
    """When and from where the record came, every overlay, the delete (and undelete): one line
    per event, oldest first. A record stored before the catalog kept history (schema 1) shows
    what the load log says of it."""
    from .flows import format_sysno

    shown = format_sysno(sysno)
    rec = store.get(sysno)
    if rec is None:
        print(f"{shown}: not found", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"=SYS  {shown}  ({'deleted' if rec.deleted else 'live'})")
    events = store.events(sysno)
    if not events or events[0].action != "created":
        print(f"{rec.created_at}  created    (before the catalog kept history)")
        for row in store.log_for(sysno):
            if row.fate in ("new", "possible_duplicate", "overlaid"):
                print(
                    f"{row.time}  {row.fate:<10} batch {row.batch_id}  {row.input_file}  "
                    f"record {row.record_index}; {row.message}  (load log)"
                )
    for e in events:
        batch = f"batch {e.batch_id}" if e.batch_id is not None else "-"
        detail = f"  {e.detail}" if e.detail else ""
        print(f"{e.time}  {e.action:<10} {batch}  {e.source}{detail}")
    print()
    return EXIT_OK


_CATALOG_ACTIONS: dict[str, Callable[[Any, int], int]] = {
    "show": _catalog_show,
    "delete": _catalog_delete,
    "undelete": _catalog_undelete,
    "history": _catalog_history,
}


def _catalog_batches(store: Any) -> int:
    from .flows.importer import FATES

    batches = store.batches()
    for b in batches:
        order = [*FATES, *sorted(set(b.fates) - set(FATES))]
        counts = ", ".join(f"{b.fates[f]:,} {f.replace('_', ' ')}" for f in order if f in b.fates)
        print(f"batch {b.batch_id}  {b.started_at}  {b.description}: {counts or 'nothing logged'}")
    if not batches:
        print("no batches", file=sys.stderr)
    return EXIT_OK


def _title_of(data: bytes) -> str:
    """245 $a $b $n $p of a stored record, on one line (``-`` if it has none)."""
    try:
        rec = Record.parse(data)
    except ValueError:
        return "-"
    f = rec.get("245")
    if f is None:
        return "-"
    text = " ".join(v.strip() for v in f.get_subfields("a", "b", "n", "p"))
    return unicodedata.normalize("NFC", text.rstrip(" /:;,.")) or "-"


def _catalog_search(store: Any, args: argparse.Namespace) -> int:
    """Every live record matching all the criteria given: system number, status, title."""
    from .flows import format_sysno
    from .flows.search import InvalidTermError, search

    criteria = {
        name: getattr(args, name)
        for name in ("oclc", "title", "author", "isbn", "issn", "any")
        if getattr(args, name) is not None
    }
    if not criteria:
        print(
            "marc8fast: catalog search: give --oclc, --title, --author, --isbn, --issn or --any",
            file=sys.stderr,
        )
        return EXIT_ERROR
    try:
        found = search(store, **criteria)
    except InvalidTermError as e:  # an ISBN with a wrong check digit that no record holds
        print(f"marc8fast: catalog search: {e}", file=sys.stderr)
        return EXIT_PROBLEMS
    for sysno in found:
        rec = store.get(sysno)
        if rec is None:  # not possible in one snapshot, but never a traceback
            continue
        status = "deleted" if rec.deleted else "live"
        print(f"{format_sysno(sysno)}  {status}  {_title_of(rec.data)}")
    print(f"{len(found):,} record(s) found", file=sys.stderr)
    return EXIT_OK if found else EXIT_PROBLEMS


# ------------------------------------------------------------------------------------------------
# The parser


def _whole(value: str) -> int:
    t = value.strip()
    if not (t.isascii() and t.lstrip("-").isdigit()):
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number")
    return int(t)


def _count(value: str) -> int:
    n = _whole(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {n}")
    return n


def _jobs(value: str) -> int:
    n = _whole(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {n}")
    return n


def _seconds(value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not n >= 0 or n == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {value}")
    return n


def _wait_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--wait",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="how long to wait while another process writes to the catalog (300)",
    )


def _verbosity(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="count", default=0, help="say more (repeatable)")
    p.add_argument("-q", "--quiet", action="count", default=0, help="say less (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")


#: The exit status of every command (README, "Exit status"; issue 18, item 11).
_EXIT_EPILOG = (
    "Exit status, the same for every command: 0 done, clean or with warnings only (a "
    "mislabelled record read correctly, a recovered length, informational findings); 1 a "
    "record rejected, data changed or lost in conversion (a replacement, an NCR written), a "
    "problem found by validate, no record in an input, a record not found; 2 usage or "
    "environment: bad arguments, a file or catalog that cannot be read or written, no catalog, "
    "an output over an input or a catalog; 130 interrupted."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marc8fast",
        description="MARC-8 ⇄ UTF-8 tools for MARC 21 records.",
        epilog=_EXIT_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"marc8fast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser(
        "validate",
        help="check every record's structure and encoding",
        description="Check every record: leader, directory, terminators, tags, indicators, "
        "subfield codes; leader/09 against the data, MARC-8 errors, invalid UTF-8, NCRs, 066; "
        "with --for-export every character MARC-8 lacks. One line per problem on stdout, a "
        "summary on stderr.",
        epilog=_EXIT_EPILOG,
    )
    v.add_argument(
        "files", nargs="+", metavar="FILE", help="ISO 2709, MARCXML or JSON files; - for stdin"
    )
    v.add_argument(
        "--report-format",
        dest="output_format",
        choices=sorted(REPORTERS),
        default="text",
        help="how the problems are printed on stdout: text (default) one line per problem; "
        "json one document; jsonl one JSON object per line",
    )
    # Old spellings, kept for a release: -o means an output FILE in every other command.
    v.add_argument(
        "-o",
        "--output-format",
        "--format",
        dest="output_format",
        choices=sorted(REPORTERS),
        help=argparse.SUPPRESS,
    )
    v.add_argument(
        "--max-problems", type=_count, default=None, metavar="N", help="list at most N problems"
    )
    v.add_argument("--offset", type=_count, default=0, metavar="N", help="skip N records")
    v.add_argument("--limit", type=_count, default=None, metavar="N", help="check N records")
    v.add_argument(
        "--for-export",
        action="store_true",
        help="also list every character of UTF-8 records that has no MARC-8 equivalent",
    )
    v.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N", help="threads")
    _verbosity(v)
    v.set_defaults(func=_cmd_validate)

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
    c.set_defaults(func=_cmd_convert)

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
    b.set_defaults(func=_cmd_bench)

    d = sub.add_parser(
        "dump",
        help="print MARC records as UTF-8 text, problems on stderr",
        description="Print every record as =LDR and =TAG  ind$aText lines (UTF-8), a blank line "
        "after each; problems on stderr, one line each, as validate prints them.",
        epilog=_EXIT_EPILOG,
    )
    d.add_argument("files", nargs="+", metavar="FILE", help="ISO 2709, MARCXML or JSON files")
    d.set_defaults(func=_cmd_dump, verbose=0, quiet=0, no_progress=True)

    ld = sub.add_parser(
        "load",
        help="load OCLC records into the local catalog",
        description="Load MARC-8 or UTF-8 records into the catalog: convert to UTF-8, apply the "
        "local rules (049 kept; 040 $b not eng: 035 and 040 deleted, leader/17 = 5), then match: "
        "a targeting 035 overlays that record, the same OCLC number is a duplicate (not loaded), "
        "the same title/author is a possible duplicate (loaded), else a new system number. One "
        "line per record on stdout, a summary on stderr.",
        epilog=_EXIT_EPILOG,
    )
    ld.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="ISO 2709, MARCXML or JSON files, pipes or - (standard input, once); each read once",
    )
    add_db_option(ld, "made if there is nothing at that path")
    ld.add_argument(
        "--target-prefix",
        default="(LOCAL)",
        metavar="PREFIX",
        help='035 $a PREFIX + system number targets a local record (default "(LOCAL)")',
    )
    ld.add_argument(
        "--exclude-symbol",
        action="append",
        default=[],
        metavar="SYM",
        help="skip records whose 049 $a is SYM, in any case (one symbol a flag; repeat the flag "
        "for more)",
    )
    ld.add_argument(
        "--report", metavar="FILE.jsonl", help="one JSON line per record's fate, once committed"
    )
    ld.add_argument(
        "--batch-size", type=_jobs, default=500, metavar="N", help="records per commit (500)"
    )
    ld.add_argument(
        "--overlay",
        choices=["merge", "replace"],
        default="merge",
        help="merge (default): an overlay keeps the old record's local fields (9XX and tags "
        "that are not numeric: H01, CAT ...); replace: the incoming record replaces it whole",
    )
    _wait_option(ld)
    _verbosity(ld)
    ld.set_defaults(func=_cmd_load)

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
    ex.add_argument("--report", metavar="FILE.jsonl", help="one JSON line per record")
    _verbosity(ex)
    ex.set_defaults(func=_cmd_export)

    cat = sub.add_parser(
        "catalog",
        help="show, search, delete or undelete catalog records; their history; the batches",
        description="show: print records as =TAG lines with their system number, status, OCLC "
        "numbers and times; search: find records by OCLC number, title, author, ISBN, ISSN; "
        "history: when and from where a record came, every overlay, the delete; batches: every "
        "load; delete: mark records deleted (field STA 1_ $a DELETED); undelete: undo it.",
        epilog=_EXIT_EPILOG,
    )
    cat.set_defaults(func=_cmd_catalog, verbose=0, quiet=0, no_progress=True, wait=None)
    acts = cat.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("show", "print records as =TAG lines"),
        ("history", "when and from where each record came, every overlay, the delete"),
        ("delete", "mark records deleted (STA 1_ $a DELETED); never exported or matched"),
        ("undelete", "remove STA DELETED and make records live again"),
    ):
        a = acts.add_parser(name, help=text, description=text)
        a.add_argument("sysnos", nargs="+", type=_sysno_arg, metavar="SYSNO", help="system numbers")
        add_db_option(a)
        if name in ("delete", "undelete"):
            _wait_option(a)
    a = acts.add_parser(
        "copy",
        help="copy a catalog into a new one (SQLite <-> PostgreSQL), with counts and a checksum",
        description="Every record (its system number, history, deleted flag), batch, load-log "
        "row, account and receipt, into an empty catalog; the search index is made again. "
        "Prints each table's count and a checksum of every record's bytes on both sides.",
        epilog="Exit status: 0 copied, checksums equal; 1 they differ; 2 usage or I/O error.",
    )
    a.add_argument(
        "--from", dest="source", required=True, metavar="CATALOG", help="the catalog to copy"
    )
    a.add_argument(
        "--to",
        dest="dest",
        required=True,
        metavar="CATALOG",
        help="a new catalog: a file that does not exist, or an empty PostgreSQL database",
    )
    a = acts.add_parser(
        "check",
        help="integrity: every record parses, index rows match records, no live OCLC doubles",
        description="Reads the whole catalog: a record that does not parse, search index terms "
        "that differ from what the record gives, an OCLC number on two live records: one line "
        "each.",
        epilog="Exit status: 0 no problem; 1 problems; 2 usage or I/O error.",
    )
    add_db_option(a)
    a = acts.add_parser(
        "batches",
        help="every load: when, what, and the fates of its records",
        description="Every batch (a load), oldest first: its number, when it started, the files "
        "and what became of their records.",
    )
    add_db_option(a)
    a = acts.add_parser(
        "init",
        help="make an empty catalog",
        description="Make an empty catalog at --db, only where there is no file (load makes one "
        "too). The other commands never make a catalog: they say `no catalog at PATH`.",
    )
    add_db_option(a, "where to make the catalog")
    a = acts.add_parser(
        "search",
        help="find live records by OCLC number, title, author, ISBN, ISSN",
        description="Live records matching every criterion given (words in any order, folded; "
        "a * after a word makes it a prefix: hobb*; CJK by any run of two or more characters; "
        "OCLC numbers also from 019 and (OCoLC) in any case; ISBN-10 and -13 alike): system "
        "number, status and title, one per line; the count on stderr.",
        epilog=_EXIT_EPILOG,
    )
    add_db_option(a)
    a.add_argument("--oclc", metavar="N", help="an OCLC number (ocm/ocn/on and zeros ignored)")
    a.add_argument(
        "--title",
        metavar="WORDS",
        help="words of the title (245, 246, 130, 240, 740, and their 880s); hobb* for a prefix",
    )
    a.add_argument("--author", metavar="WORDS", help="words of an author (1XX, 7XX)")
    a.add_argument(
        "--isbn", metavar="ISBN", help="an ISBN, 10 or 13 digits, hyphens or not, 'ISBN' or not"
    )
    a.add_argument("--issn", metavar="ISSN", help="an ISSN")
    a.add_argument("--any", metavar="WORDS", help="words of any index (or a number)")

    from .server.cli import add_parsers as add_server_parsers  # serve, send, users (issue 12)

    add_server_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
