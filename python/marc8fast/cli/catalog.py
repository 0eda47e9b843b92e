"""``marc8fast catalog init --db CATALOG``: makes an empty catalog (only where there is no file).
``marc8fast catalog show|history|delete|undelete SYSNO... --db CATALOG``, ``catalog batches``,
``catalog search --title ...``: look at, search, soft-delete or undelete records."""

from __future__ import annotations

import argparse
import os
import sys
import time
import unicodedata
from collections.abc import Callable
from typing import Any

from .._native import Record
from ..catalog import add_db_option
from ._common import (
    _EXIT_EPILOG,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PROBLEMS,
    _catalog_failure,
    _count,
    _error,
    _open_catalog,
    _sysno_arg,
    _wait_option,
)


def register(sub: Any) -> None:
    cat = sub.add_parser(
        "catalog",
        help="show, search, delete or undelete catalog records; their history; the batches",
        description="show: print records as =TAG lines with their system number, status, OCLC "
        "numbers and times; search: find records by OCLC number, title, author, ISBN, ISSN; "
        "history: when and from where a record came, every overlay, the delete; batches: every "
        "load; delete: mark records deleted (field STA 1_ $a DELETED); undelete: undo it.",
        epilog=_EXIT_EPILOG,
    )
    cat.set_defaults(func=run, verbose=0, quiet=0, no_progress=True, wait=None)
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
        if name == "show":
            a.add_argument(
                "--version",
                type=_count,
                default=None,
                metavar="N",
                help="show version N of the record (1: as first stored; see catalog history)",
            )
    _register_i21(acts)
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


def run(args: argparse.Namespace) -> int:
    from ..catalog import CatalogError

    if args.action == "init":
        return _catalog_init(args)
    if args.action == "copy":
        return _catalog_copy(args)
    if args.action in _I21_ACTIONS:
        return _run_i21(args)
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
        status: int = EXIT_OK
        for sysno in args.sysnos:
            if args.action == "show" and args.version is not None:
                status = max(status, _show_version(store, sysno, args.version))
                continue
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
    from .._paths import same_file
    from ..catalog import CatalogError, shown
    from ..catalog.maintenance import copy_catalog

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
    from ..catalog import shown
    from ..catalog.maintenance import check_catalog

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
    from .._paths import output_place_problem
    from ..catalog import is_url, shown

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
    from ..flows import format_sysno

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
    sys.stdout.write(str(model))  # =LDR and =TAG  ind$a lines, one rendering
    print()
    return EXIT_OK


def _catalog_delete(store: Any, sysno: int) -> int:
    from ..flows import delete_record, format_sysno
    from ..flows.outcome import DeleteResult

    what = delete_record(store, sysno)
    print(f"{format_sysno(sysno)}: {what}")
    return EXIT_OK if what is DeleteResult.DELETED else EXIT_PROBLEMS


def _catalog_undelete(store: Any, sysno: int) -> int:
    from ..flows import format_sysno, undelete_record
    from ..flows.outcome import DeleteResult

    what = undelete_record(store, sysno)
    print(f"{format_sysno(sysno)}: {what}")
    return EXIT_OK if what is DeleteResult.UNDELETED else EXIT_PROBLEMS


def _catalog_history(store: Any, sysno: int) -> int:
    """When and from where the record came, every overlay, the delete (and undelete): one line
    per event, oldest first. A record stored before the catalog kept history (schema 1) shows
    what the load log says of it."""
    from ..flows import format_sysno
    from ..flows.outcome import STORED_FATES

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
            if row.fate in STORED_FATES:
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
    from ..flows.outcome import FATES

    batches = store.batches()
    for b in batches:
        order = [*FATES, *sorted(set(b.fates) - set(FATES))]
        counts = ", ".join(f"{b.fates[f]:,} {f.replace('_', ' ')}" for f in order if f in b.fates)
        # i21-catalog: how it ended, when, and who ran it (batches made before schema 4 and
        # receiver sessions have no status).
        how = ""
        if b.status is not None:
            how = f"  [{b.status}"
            if b.finished_at:
                how += f" {b.finished_at}"
            how += f", {b.user}]" if b.user else "]"
        print(
            f"batch {b.batch_id}  {b.started_at}  {b.description}: "
            f"{counts or 'nothing logged'}{how}"
        )
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
    from ..flows import format_sysno
    from ..flows.search import InvalidTermError, search

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


# --- i21-catalog: versions, diff, revert, revert-batch, review --------------------------------

_I21_ACTIONS = ("diff", "revert", "revert-batch", "review")


def _register_i21(acts: Any) -> None:
    a = acts.add_parser(
        "diff",
        help="what changed between two versions of a record, field by field",
        description="Fields of version N that version M lacks (- lines) and those it adds "
        "(+ lines), in tag order. Default: the version before the current one, and the current "
        "one. Version 1 is the record as first stored; every overlay, delete, undelete and "
        "revert makes the next.",
        epilog=_EXIT_EPILOG,
    )
    a.add_argument("sysno", type=_sysno_arg, metavar="SYSNO", help="a system number")
    a.add_argument("versions", nargs="*", type=_count, metavar="N", help="two version numbers")
    add_db_option(a)
    a = acts.add_parser(
        "revert",
        help="make an earlier version of a record current again (as a new version)",
        description="Restores version N's bytes exactly (and its OCLC numbers, deleted flag and "
        "search terms), as a new version: a revert can be reverted. Default: the version before "
        "the current one.",
        epilog=_EXIT_EPILOG,
    )
    a.add_argument("sysno", type=_sysno_arg, metavar="SYSNO", help="a system number")
    a.add_argument("--to", type=_count, default=None, metavar="N", help="the version to restore")
    add_db_option(a)
    _wait_option(a)
    a = acts.add_parser(
        "revert-batch",
        help="undo a load: its new records deleted, its overlays reverted",
        description="Every record the batch created is deleted (STA DELETED) and every record it "
        "overlaid gets its version from before the batch back; the batch's input records no "
        "longer count as loaded. Refused (exit 1, one line per record) where a later change to "
        "one of its records would be lost; nothing is changed then.",
        epilog=_EXIT_EPILOG,
    )
    a.add_argument("batch", type=_count, metavar="BATCH", help="a batch number (catalog batches)")
    add_db_option(a)
    _wait_option(a)
    a = acts.add_parser(
        "review",
        help="records staged for review: list, show, accept or reject them",
        description="list: the pending staged records (--all: every one); show ID: one as =TAG "
        "lines with its candidates; accept ID: store it (over its one candidate, or --as new, "
        "or --overlay SYSNO; through the normal path: history, versions); reject ID: drop it.",
        epilog=_EXIT_EPILOG,
    )
    a.add_argument(
        "what",
        choices=["list", "show", "accept", "reject"],
        metavar="list|show|accept|reject",
        help="what to do",
    )
    a.add_argument("id", nargs="?", type=_count, metavar="ID", help="a staged record's number")
    a.add_argument("--all", action="store_true", help="list: every staged record, not pending only")
    how = a.add_mutually_exclusive_group()
    how.add_argument("--as", dest="as_new", choices=["new"], help="accept: as a new record")
    how.add_argument(
        "--overlay", type=_sysno_arg, metavar="SYSNO", help="accept: overlay this record"
    )
    a.add_argument(
        "--profile",
        metavar="FILE",
        help="accept: an import profile (TOML; marc8fast profile show prints the default): the "
        "overlay keeps its [overlay] protected fields, and merges when its [match] one is "
        '"merge", as a load with it would (default: the built-in profile)',
    )
    add_db_option(a)
    _wait_option(a)


def _run_i21(args: argparse.Namespace) -> int:
    from ..catalog import CatalogError

    writes = args.action in ("revert", "revert-batch") or (
        args.action == "review" and args.what in ("accept", "reject")
    )
    if args.action == "review":
        if args.what != "list" and args.id is None:
            return _error(f"catalog review {args.what}: give the staged record's ID")
        if (args.as_new or args.overlay or args.profile) and args.what != "accept":
            return _error("catalog review: --as, --overlay and --profile go with accept")
        args.profile_read = None
        if args.profile is not None:
            # Read before the catalog is opened: a profile that cannot be used is a usage error.
            from .profile import read_profile

            args.profile_read = read_profile(args.profile)
            if args.profile_read is None:
                return EXIT_ERROR
    if args.action == "diff" and len(args.versions) not in (0, 2):
        return _error("catalog diff: give no version (previous vs current) or two: N M")
    store = (
        _open_catalog(args.db, wait=args.wait) if writes else _open_catalog(args.db, readonly=True)
    )
    if store is None:
        return EXIT_ERROR
    try:
        if args.action == "diff":
            return _catalog_diff(store, args)
        if args.action == "revert":
            return _catalog_revert(store, args)
        if args.action == "revert-batch":
            return _catalog_revert_batch(store, args)
        return _catalog_review(store, args)
    except CatalogError as e:
        return _catalog_failure(args.db, e)
    finally:
        store.close()


def _show_version(store: Any, sysno: int, number: int) -> int:
    from ..flows import format_sysno

    versions = store.versions(sysno)
    if not versions:
        print(f"{format_sysno(sysno)}: not found", file=sys.stderr)
        return EXIT_PROBLEMS
    v = next((v for v in versions if v.version == number), None)
    if v is None:
        print(
            f"{format_sysno(sysno)}: no version {number} (versions 1 to {versions[-1].version})",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    print(f"=SYS  {format_sysno(sysno)}")
    if v.current:
        print(f"=VERSION  {v.version} of {versions[-1].version} (current)")
    else:
        batch = f" in batch {v.batch_id}" if v.batch_id is not None else ""
        print(f"=VERSION  {v.version} of {versions[-1].version} ({v.action}{batch} {v.saved_at})")
    print(f"=STATUS  {'deleted' if v.deleted else 'live'}")
    print(f"=OCLC  {' '.join(v.oclc_numbers) or '-'}")
    sys.stdout.write(str(Record.parse(v.data)))
    print()
    return EXIT_OK


def _catalog_diff(store: Any, args: argparse.Namespace) -> int:
    from ..flows import format_sysno
    from ..flows.versions import field_diff

    shown = format_sysno(args.sysno)
    versions = store.versions(args.sysno)
    if not versions:
        print(f"{shown}: not found", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.versions:
        n, m = args.versions
    elif len(versions) < 2:
        print(f"{shown}: one version only: nothing to compare", file=sys.stderr)
        return EXIT_OK
    else:
        n, m = versions[-2].version, versions[-1].version
    by = {v.version: v for v in versions}
    for k in (n, m):
        if k not in by:
            print(
                f"{shown}: no version {k} (versions 1 to {versions[-1].version})", file=sys.stderr
            )
            return EXIT_PROBLEMS
    print(f"=SYS  {shown}  version {n} -> {m}")
    a, b = by[n], by[m]
    if a.deleted != b.deleted:
        state = {True: "deleted", False: "live"}
        print(f"  status: {state[a.deleted]} -> {state[b.deleted]}")
    lines = field_diff(a.data, b.data)
    for line in lines:
        print(line)
    if not lines:
        print("  (the same fields)")
    return EXIT_OK


def _catalog_revert(store: Any, args: argparse.Namespace) -> int:
    from ..flows import format_sysno
    from ..flows.versions import revert_record

    what, n = revert_record(store, args.sysno, args.to)
    print(f"{format_sysno(args.sysno)}: {what}")
    return EXIT_OK if n is not None else EXIT_PROBLEMS


def _catalog_revert_batch(store: Any, args: argparse.Namespace) -> int:
    from ..flows.versions import revert_batch

    b = store.batch(args.batch)
    if b is None:
        print(f"marc8fast: no batch {args.batch}", file=sys.stderr)
        return EXIT_PROBLEMS
    if b.status == "reverted":
        print(f"marc8fast: batch {args.batch} is reverted already", file=sys.stderr)
        return EXIT_PROBLEMS
    if b.status == "running":
        print(
            f"marc8fast: batch {args.batch} is still running (pid {b.pid} on {b.host}); "
            "revert it once it has ended",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    plan = revert_batch(store, args.batch)
    if plan.conflicts:
        for line in plan.conflicts:
            print(line)
        print(
            f"marc8fast: batch {args.batch} not reverted: {len(plan.conflicts)} record(s) changed "
            "since (nothing was changed)",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    print(
        f"batch {args.batch} reverted: {len(plan.delete):,} new record(s) deleted, "
        f"{len(plan.revert):,} overlaid record(s) restored, {len(plan.unchanged):,} unchanged"
    )
    return EXIT_OK


def _catalog_review(store: Any, args: argparse.Namespace) -> int:
    from ..flows import format_sysno
    from ..flows.versions import accept_staged, reject_staged

    if args.what == "list":
        rows = store.staged(None if args.all else "pending")
        for st in rows:
            cands = " ".join(format_sysno(c) for c in st.candidates) or "-"
            print(
                f"{st.id}  {st.status}  {st.input_name}: record {st.record_index}  "
                f"candidates {cands}  {st.reason}  {_title_of(st.data)}"
            )
        print(f"{len(rows):,} staged record(s)", file=sys.stderr)
        return EXIT_OK
    if args.what == "show":
        st = store.staged_one(args.id)
        if st is None:
            print(f"marc8fast: no staged record {args.id}", file=sys.stderr)
            return EXIT_PROBLEMS
        print(f"=STAGED  {st.id} ({st.status}) {st.staged_at}")
        print(f"=FROM  {st.input_name}: record {st.record_index} (batch {st.batch_id})")
        print(f"=REASON  {st.reason}")
        print(f"=CANDIDATES  {' '.join(format_sysno(c) for c in st.candidates) or '-'}")
        sys.stdout.write(str(Record.parse(st.data)))
        print()
        return EXIT_OK
    if args.what == "accept":
        done, msg = accept_staged(
            store,
            args.id,
            as_new=args.as_new is not None,
            overlay=args.overlay,
            profile=args.profile_read,
        )
    else:
        done, msg = reject_staged(store, args.id)
    print(f"staged {args.id}: {msg}")
    return EXIT_OK if done else EXIT_PROBLEMS
