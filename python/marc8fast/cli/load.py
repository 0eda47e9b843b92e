"""``marc8fast load FILE... --db CATALOG``: loads records into the local catalog (import flow)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
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
    _error,
    _finish_report,
    _input_file_ok,
    _input_size,
    _jobs,
    _open_catalog,
    _os_error,
    _progress,
    _verbosity,
    _wait_option,
)


def register(sub: Any) -> None:
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
        "--profile",
        metavar="FILE",
        help="an import profile (TOML; marc8fast profile show prints the default): its rules "
        "and match settings; --target-prefix, --exclude-symbol and --overlay given as well win",
    )
    ld.add_argument(
        "--target-prefix",
        default=None,
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
        default=None,
        help="merge (default): an overlay keeps the old record's local fields (9XX and tags "
        "that are not numeric: H01, CAT ...); replace: the incoming record replaces it whole",
    )
    # i21-catalog
    ld.add_argument(
        "--dry-run",
        action="store_true",
        help="do everything in one transaction that is rolled back: the same lines and report, "
        "nothing stored (the catalog file is left byte for byte as it was; never upgraded)",
    )
    ld.add_argument(
        "--rejects",
        metavar="FILE.mrc",
        help="write the rejected records there as they came (their original bytes; ISO 2709 "
        "inputs that are files)",
    )
    _wait_option(ld)
    _verbosity(ld)
    ld.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..catalog import CatalogError
    from ..flows.importer import Importer
    from ..flows.outcome import Fate, Outcome

    # "-" is standard input, read once like any input (issue 18).
    if args.files.count("-") > 1:
        print("marc8fast: - (standard input) can be given once", file=sys.stderr)
        return EXIT_ERROR
    inputs = [f for f in args.files if f != "-"]
    for path in inputs:
        if not _input_file_ok(path):
            return EXIT_ERROR
    from ..profile import Profile
    from .profile import read_profile

    profile = Profile() if args.profile is None else read_profile(args.profile)
    if profile is None:
        return EXIT_ERROR
    if args.target_prefix is None:
        args.target_prefix = profile.target_prefix
    if args.overlay is None:
        args.overlay = profile.overlay
    args.exclude_symbol = [*profile.exclude_symbols, *args.exclude_symbol]
    why = _prefix_problem(args.target_prefix) or check_paths(
        [("the report", args.report), ("the rejects file", args.rejects)],
        inputs=[*args.files, *([args.profile] if args.profile else [])],
        catalog=args.db,
        catalog_is_output=True,
    )
    if why is None and args.rejects is not None:
        why = _rejects_problem(args.files)
    if why is not None:
        return _error(why)
    if args.dry_run:
        store = _open_for_dry_run(args.db, args.wait)
    else:
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

    rejected: list[Outcome] = []

    def show(out: Outcome) -> None:
        # Called once the record is committed (its report row was written just before).
        if args.rejects is not None and out.fate is Fate.REJECTED:
            rejected.append(out)
        if args.verbosity >= 1:
            bar.done()  # the bar is drawn again on the next progress call
            # A record's problems are listed under its line (issue 11, item 8).
            sys.stdout.write(out.line() + "\n")
            for line in out.problem_lines():
                sys.stdout.write(f"    {line}\n")

    t0 = time.perf_counter()
    # SIGTERM stops a load as Ctrl-C does: the open transaction is rolled back and the batch
    # is marked interrupted (i21-catalog).
    old_term = _term_as_interrupt()
    try:
        importer = Importer(
            store,
            target_prefix=args.target_prefix,
            exclude_symbols=args.exclude_symbol,
            batch_size=args.batch_size,
            on_outcome=show,
            overlay=args.overlay,
            profile=profile,
            on_progress=bar,
            before_commit=rows.write if rows is not None else None,
            commit_failed=rows.undo if rows is not None else None,
        )
        if args.dry_run:
            with store.dry_run():
                summary = importer.load(args.files)
        else:
            summary = importer.load(args.files)
    except BrokenPipeError:
        raise
    except OSError as e:
        return _error(_os_error(e))
    except CatalogError as e:  # read-only, locked too long, disk full ...
        return _catalog_failure(args.db, e)
    finally:
        _restore_term(old_term)
        bar.done()
        store.close()
        if report is not None:
            _finish_report(report)
        if args.rejects is not None:
            written = _write_rejects(args.rejects, rejected)
    if args.rejects is not None:
        if written is None:
            return EXIT_ERROR
        if args.verbosity >= 0:
            sys.stderr.write(f"{args.rejects}: {written:,} rejected record(s) written\n")
    if args.verbosity >= 0:
        secs = time.perf_counter() - t0
        head = "dry run, nothing stored (rolled back): " if args.dry_run else ""
        sys.stderr.write(f"{head}{summary.text()} in {secs:.2f} s\n")
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


def _prefix_problem(prefix: str) -> str | None:
    """Why a ``--target-prefix`` cannot be used (an empty or blank one would make every 035 a
    failed target and reject the record: issue 18, item 10), or None."""
    if not prefix.strip():
        return '--target-prefix must not be empty (default "(LOCAL)")'
    return None


# --- i21-catalog: --dry-run, --rejects, SIGTERM --------------------------------------------------


def _term_as_interrupt() -> Any:
    """Make SIGTERM raise KeyboardInterrupt (as Ctrl-C) while the load runs; the old handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, stop)
    except (ValueError, OSError):
        return None


def _restore_term(old: Any) -> None:
    import signal

    if old is not None:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGTERM, old)


def _open_for_dry_run(db: str, wait: float | None) -> Any:
    """The catalog for ``--dry-run``: it must exist (a dry run makes none) and be of this
    version (a dry run does not upgrade it: that would change it). None after saying why."""
    from ..catalog import SchemaError, is_url, open_catalog

    if not is_url(db) and not os.path.exists(db):
        print(f"marc8fast: no catalog at {db}; a dry run makes none", file=sys.stderr)
        return None
    try:
        open_catalog(db, readonly=True).close()
    except SchemaError as e:
        print(
            f"marc8fast: {e}; --dry-run does not upgrade a catalog (that would change it): "
            "nothing done",
            file=sys.stderr,
        )
        return None
    except Exception:  # said below, as any other command says it
        pass
    return _open_catalog(db, create=False, wait=wait)


def _rejects_problem(files: Sequence[str]) -> str | None:
    """``--rejects`` reads the rejected records again from their input: each must be a file."""
    for path in files:
        if path == "-" or not os.path.isfile(path):
            shown = "standard input" if path == "-" else path
            return (
                f"--rejects: {shown} is not a file; the rejected records are read again from "
                "their input (give files)"
            )
    return None


def _write_rejects(dst: str, rejected: Sequence[Any]) -> int | None:
    """Write the rejected records' original bytes to ``dst`` (atomically, in input order):
    each read again from its input file by the core's splitter (by record number, or the bytes
    from its offset to the next record). Returns how many, or None after saying why not."""
    from .._native import read_records_report
    from .._output import give_new_file_mode, remove_stale_temps, temp_path

    by_file: dict[str, list[Any]] = {}
    for out in rejected:
        by_file.setdefault(out.file, []).append(out)
    chunks: list[bytes] = []
    try:
        for path, outs in by_file.items():
            with open(path, "rb") as fh:
                data = fh.read()
            head = data.lstrip()[:1]
            if head in (b"<", b"{", b"["):
                print(
                    f"marc8fast: {path}: MARCXML or JSON: its {len(outs)} rejected record(s) are "
                    "in the lines and the report, not in --rejects (ISO 2709 only)",
                    file=sys.stderr,
                )
                continue
            found, _ = read_records_report(data)
            by_number = {n: raw for n, _, raw in found}
            starts = sorted(off for _, off, _ in found)
            for out in outs:
                raw = by_number.get(out.index)
                if raw is None and out.offset is not None:
                    after = [o for o in starts if o > out.offset]
                    raw = data[out.offset : after[0] if after else len(data)]
                if raw is None:
                    print(
                        f"marc8fast: {path}: record {out.index}: rejected, not found again in "
                        "the input; not in --rejects",
                        file=sys.stderr,
                    )
                    continue
                chunks.append(raw)
        remove_stale_temps(dst)
        tmp = temp_path(dst)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            give_new_file_mode(fd)
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"".join(chunks))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dst)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        print(f"marc8fast: {_os_error(e, dst)}", file=sys.stderr)
        return None
    return len(chunks)
