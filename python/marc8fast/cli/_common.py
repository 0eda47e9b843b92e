"""What every command of the ``marc8fast`` CLI shares: the exit codes, the progress bar,
argument types, the input and output guards and the catalog opener. The one problem line
(:class:`~marc8fast.cli._issue.Issue`) is in :mod:`._issue`, imported by the commands that
list problems when they do."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from enum import IntEnum

from .._native import PROBLEM_KINDS
from .._output import AtomicText

# ``typing`` is not imported at run time (it is for the type checker only): the modules that
# ``marc8fast convert`` loads before the conversion starts leave out ``typing``, ``dataclasses``
# and ``json`` (issue 22: 10-15 ms of a whole process's start). ``Issue`` is in :mod:`._issue`.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal, TextIO


class ExitCode(IntEnum):
    """The exit status of every command (README "Exit status"; issue 18, item 11)."""

    #: Done, clean or with warnings only.
    OK = 0
    #: A record rejected, data changed or lost, a problem found, no record, a record not found.
    PROBLEMS = 1
    #: Usage or environment: bad arguments, a file or catalog that cannot be used.
    ERROR = 2
    #: Interrupted (Ctrl-C).
    INTERRUPTED = 130


EXIT_OK = ExitCode.OK
EXIT_PROBLEMS = ExitCode.PROBLEMS
EXIT_ERROR = ExitCode.ERROR
EXIT_INTERRUPTED = ExitCode.INTERRUPTED


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


def _no_records_why(size: int) -> str:
    """Why an input gave nothing: ``no records: the file is empty`` or ``no records: 13
    byte(s), none of them a MARC record`` (the words load uses too)."""
    if size == 0:
        return "no records: the file is empty"
    return f"no records: {size:,} byte(s), none of them a MARC record"


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _open_catalog(
    path: str, *, create: bool = False, readonly: bool = False, wait: float | None = None
) -> Any:
    """The catalog store, or None after saying why in one line. Only ``load`` creates a catalog;
    readers (``export``, ``catalog show``) open it read-only and never wait for a writer."""
    from ..catalog import DEFAULT_WAIT, CatalogError, open_catalog

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
    from ..catalog import describe_error

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


def _finish_report(report: AtomicText) -> None:
    try:
        report.commit()
    except OSError as e:
        report.discard()
        print(f"marc8fast: {_os_error(e, report.dst)}", file=sys.stderr)


def _sysno_arg(value: str) -> int:
    from ..flows import parse_sysno

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
