"""``marc8fast validate FILE... | -``: checks every record (structure, encoding, and with
``--for-export`` every character MARC-8 lacks) and prints one line per problem.

The results are collected (:class:`~marc8fast.cli._issue.Issue`, :class:`FileResult`) apart
from the reporters that print them (:class:`TextReporter`, :class:`JsonReporter`,
:class:`JsonlReporter`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from .. import validate_bytes, validate_file
from .._native import PROBLEM_KINDS, RecordProblem, Report
from ..kinds import Severity
from ._common import (
    _EXIT_EPILOG,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PROBLEMS,
    Progress,
    _count,
    _fails,
    _input_file_ok,
    _jobs,
    _no_records_why,
    _progress,
    _verbosity,
)
from ._issue import Issue


def register(sub: Any) -> None:
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
    v.set_defaults(func=run)


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
        severity: str = PROBLEM_KINDS.get(kind, "error")
        lines.append(
            f"  {kind:<22} {n:>9,}" + ("" if severity == Severity.ERROR else f"  ({severity})")
        )
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


def run(args: argparse.Namespace) -> int:
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
