"""The import flow (OCLC → local catalog): convert, apply the local rules, match, store.

For each record of each input (ISO 2709, MARCXML or MARC-in-JSON, told apart by the core's one
format detection; ``-`` is standard input), in this order:

1. read it with ``marc8fast.MARCReader`` (the Rust record layer: one splitter, parsing and
   conversion to Unicode on worker threads; ``trust="data"``: a record whose leader/09 lies is
   converted by what its data is; NCRs ``&#xXXXX;`` are expanded) into a ``marc8fast.Record``; a
   record the core rejects, or whose directory had to be rebuilt from its terminators, is
   **rejected**; the record is stored as ``Record.to_bytes()`` writes it in UTF-8;
2. records whose 049 $a holding symbol is excluded are **skipped**;
3. the local rules: the targeting 035 (``$a`` = target prefix + nine-digit system number) is read
   and removed (an 035 that starts with the prefix in any case but is not that rejects the record);
   the OCLC numbers are read (001 when 003 is ``OCoLC`` or 001 starts ocm/ocn/on; 035 $a
   ``(OCoLC)…`` in any case; 019 $a) and the title/author key made, both by the core, as the
   search index reads and folds them (:func:`marc8fast.flows.search.match_keys`); if 040 $b is
   present and not ``eng``, every 035 and 040 is deleted and leader/17 set to ``5``; 049 is kept
   as received;
4. matching: a target → that record is **overlaid** (it must exist and not be deleted, else the
   record is rejected, as is an overlay that would give it another live record's OCLC number;
   ``overlay="merge"``, the default, keeps the local fields of the record overlaid: every 9XX and
   every tag that is not three digits; ``"replace"`` replaces it whole);
   else a live record with one of its OCLC numbers → not loaded, a **duplicate** of that record;
   else a live record with the same title/author key → loaded as a **possible duplicate**; else
   loaded as **new**.

What the rules and the overlay changed is carried on each :class:`Outcome` (``changes``: a short
form for the record's line, the full one for the report and the load log), and the store writes
the record's history event with the input's name and those changes.

Bytes between records that are no record (``garbage``) are **junk**: an outcome of fate
``junk`` placed by its byte offset (``junk @OFFSET``, as every command shows it), counted apart
from the records; an input with no record and no junk gives one outcome of fate ``empty``.

Records commit in groups of ``batch_size``, each group with its load-log rows in the same
transaction. An input record is identified by (SHA-256 of the input from its first byte up to
where the next record starts — or its end, for the last record —, record number), so loading a
file again — after it completed or after a crash — skips the records already in the catalog (they
are reported as duplicates of the records they became) and completes the rest. That check is
made inside the write transaction that would store the record (and a UNIQUE index admits one
loaded log row per input record), so loads of one file running at once store each record once.
The key is known while the input is read, once, as a stream: a pipe, a FIFO or standard input
(``-``) loads like a file (issue 18). A file that grew by records appended to it keeps the keys of
the records it had.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time as _time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, BinaryIO, cast

from .._native import (
    PROBLEM_KINDS,
    ArgumentError,
    ImportReader,
    Marc8Error,
    MARCReader,
    Record,
    RecordProblem,
    next_record,
    pipeline_stored_keys,
    search_numbers,
)
from ..catalog import ConflictError
from ..kinds import JUNK_KINDS, REJECT_KINDS, ProblemAction
from ..profile import Profile
from .batch import BatchPath, _Batch, _Item, _rejected, _tag_counts
from .outcome import FATES, Change, Fate, LoadSummary, Outcome, RejectReason
from .points import PointsPath
from .rules import (
    RuleFields,
    TargetError,
    apply_field_rules,
    change_by_040_rule,
    field_text,
    find_target,
    holding_symbols,
    keep_local_fields,
)
from .search import match_keys
from .store import CatalogStore, LogRow, format_sysno, now, open_store

DEFAULT_TARGET_PREFIX = "(LOCAL)"
#: How many times a group of records is stored again after a conflict with another writer.
CONFLICT_RETRIES = 5

#: ``merge`` (default): an overlay keeps the local fields of the record it replaces
#: (:func:`.rules.is_local_tag`); ``replace``: the incoming record replaces it whole.
OVERLAY_MODES = ("merge", "replace")


def normalise_oclc(text: str) -> str | None:
    """``"ocm00012345"``, ``"(ocolc)ocn012345 "`` → ``"12345"``; None if not an OCLC number (the
    search index's reading, :func:`marc8fast.flows.search.numbers`)."""
    found = search_numbers("oclc", text)
    return found[0] if found else None


def oclc_numbers(rec: Record) -> list[str]:
    """The record's OCLC numbers, normalised: 001 (when 003 is OCoLC or 001 has an OCLC prefix),
    then every 035 $a ``(OCoLC)…`` in any case and 019 $a, in field order; without repeats (the
    core's reading, the same as the search index's ``oclc`` terms)."""
    return match_keys(rec)[0]


def title_key(rec: Record) -> str | None:
    """245 $a $b without its nonfiling characters (second indicator) + ``/`` + the first 1XX $a,
    folded as search folds them, letters and digits only (``The hobbit`` with indicator 4 and
    ``Hobbit`` have one key; so do ``Łódź``/``Lodz``, ``Straße``/``Strasse``)."""
    return match_keys(rec)[1]


#: How ``load`` names standard input (the path ``-``) in its lines, report and load log.
STDIN_LABEL = "<stdin>"


class _KeyedInput:
    """A binary input read once, as a stream (a file, a pipe, standard input): hands the record
    reader what it asks for and keeps the bytes it has not hashed yet, so that the key of each
    input record -- the SHA-256 of the input from its first byte up to where the next record
    starts (or the end) -- is known as soon as the next record is read. No second pass, and
    memory holds only what the reader has read ahead."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self._pending = bytearray()  # bytes read but not hashed, from offset ``_start``
        self._start = 0
        self._hash = hashlib.sha256()
        self.total = 0  # bytes read so far

    def read(self, n: int = -1) -> bytes:
        # Called by the reader thread (with the GIL): it only appends; ``key_through`` only
        # removes from the front.
        # read1: what has arrived, up to n bytes (a pipe's records are not held back until n
        # bytes have come); plain read() for a raw or unbuffered stream.
        read1 = getattr(self.raw, "read1", None)
        data = read1(n) if read1 is not None else self.raw.read(n)
        if data:
            self._pending += data
            self.total += len(data)
        return data

    def key_through(self, end: int | None = None) -> str:
        """The hex SHA-256 of the input's bytes before ``end`` (all read so far if None)."""
        end = self.total if end is None else end
        k = end - self._start
        if k > 0:
            self._hash.update(self._pending[:k])
            del self._pending[:k]
            self._start = end
        return self._hash.hexdigest()


def _lost_outcomes(path: str, problems: Iterable[RecordProblem]) -> list[Outcome]:
    """What the reader could not make a record of: one ``junk`` outcome per stretch of bytes
    between records, one ``rejected`` outcome per record it could not read."""
    groups: dict[tuple[int, int, bool], list[RecordProblem]] = {}
    for p in problems:
        # A recovered record was read; its problems are its own.
        if p.action != ProblemAction.RECOVERED:
            junk = p.kind in JUNK_KINDS
            groups.setdefault((p.record, p.record_offset, junk), []).append(p)
    out = []
    for (number, offset, junk), group in sorted(groups.items(), key=lambda kv: kv[0][1]):
        text = "; ".join(f"{p.kind}: {p.message}" for p in group)
        cn = next((p.control_number for p in group if p.control_number), None)
        detail = text if junk else f"{text} (at byte {offset})"
        out.append(
            Outcome(
                path,
                0 if junk else number,
                Fate.JUNK if junk else Fate.REJECTED,
                message=f"skipped: {detail}" if junk else f"rejected: {detail}",
                control_number=cn,
                problems=[_problem_dict(p) for p in group],
                offset=offset,
                reason=None if junk else RejectReason.UNREADABLE,
                detail=detail,
            )
        )
    return out


def _problem_dict(p: RecordProblem) -> dict[str, Any]:
    d = p.to_dict()
    d.pop("record", None)
    d.pop("record_offset", None)
    return d


class Importer(PointsPath, BatchPath):
    def __init__(
        self,
        store: CatalogStore,
        *,
        target_prefix: str = DEFAULT_TARGET_PREFIX,
        exclude_symbols: Iterable[str] = (),
        batch_size: int = 500,
        on_outcome: Callable[[Outcome], object] | None = None,
        overlay: str = "merge",
        on_progress: Callable[[int, int], object] | None = None,
        before_commit: Callable[[list[Outcome]], object] | None = None,
        commit_failed: Callable[[], object] | None = None,
        lang_fold: bool = True,
        content_digest: bool = True,
        profile: Profile | None = None,
    ) -> None:
        """``on_outcome`` is called with each outcome only once its record (and its load-log
        row) is committed. ``before_commit`` is called with the outcomes of the transaction
        about to commit (the CLI writes their ``--report`` rows there: if it raises, the
        transaction is rolled back and the load stops), ``commit_failed`` when that commit then
        fails (the CLI takes those rows back): so the report's rows, the printed lines and the
        stored records always agree, even on a full disk (issue 18, item 1)."""
        if overlay not in OVERLAY_MODES:
            raise ArgumentError(f"overlay must be merge or replace, not {overlay!r}")
        self.store = store
        self.prefix = target_prefix
        # Holding symbols are compared without regard to case (OCLC's are upper case; a symbol
        # typed in lower case still excludes).
        self.exclude = frozenset(sym.strip().casefold() for sym in exclude_symbols)
        self.batch_size = max(1, batch_size)
        self.on_outcome = on_outcome
        self.overlay = overlay
        #: 040 $b compared without regard to case (the default profile's normalisation).
        self.lang_fold = lang_fold
        #: A record without an OCLC number whose content a live record has is a duplicate.
        self.content_digest = content_digest
        #: What a live record with one of the OCLC numbers does: duplicate, or overlay it
        #: keeping its protected fields (the profile's ``[match] oclc`` and ``[overlay]``).
        self.profile = profile if profile is not None else Profile()
        if profile is not None:
            self.lang_fold = profile.lang_fold
            self.content_digest = profile.content_digest
        self.on_progress = on_progress
        self.before_commit = before_commit
        self.commit_failed = commit_failed
        self._pending: list[Outcome] = []  # logged in the open transaction, not yet told
        self._bytes_before = 0  # bytes of the files already loaded (for on_progress)
        self.summary = LoadSummary()

    def load(self, paths: Sequence[str | os.PathLike[str]]) -> LoadSummary:
        """Load the files. ``on_progress(records, bytes)`` is called as the records go by (the
        bytes of every file read so far)."""
        batch = self.start_batch("load " + " ".join(os.fspath(p) for p in paths), status="running")
        # i21-catalog: the batch says how it ended (Ctrl-C, SIGTERM: interrupted).
        status = "failed"
        try:
            for path in paths:
                self._load_file(os.fspath(path))
            status = "completed"
        except (KeyboardInterrupt, SystemExit):
            status = "interrupted"
            raise
        finally:
            self._finish_batch(batch, status)
        return self.summary

    def _finish_batch(self, batch: int, status: str) -> None:
        """Record how the batch ended; a catalog that cannot be written any more (the reason
        the load failed) leaves it ``running``, which ``catalog batches`` reports as
        interrupted once this process is gone."""
        # The load's own error, if any, is the one to report.
        with contextlib.suppress(Exception), self.store.transaction():
            self.store.finish_batch(batch, status)

    def start_batch(self, description: str, *, status: str | None = None) -> int:
        """Begin a batch (a load, a receiver's session): the records stored from now on are
        logged under it. ``status``: ``running`` for a load, which ends it (a receiver's
        session has none)."""
        with self.store.transaction():
            self.summary.batch_id = self.store.new_batch(description, status=status)
        return self.summary.batch_id

    def _load_file(self, path: str) -> None:
        # The input is read once, as a stream (so that a pipe, a FIFO or standard input can be
        # loaded, and memory does not grow with its size). Records are split, parsed and
        # converted to Unicode by the Rust record layer (MARCReader), on worker threads, in
        # whichever format the input is in (ISO 2709, MARCXML, MARC-in-JSON: the core's one
        # format detection). An input record is identified by the SHA-256 of the input up to
        # where the next record starts, and its number: known one record later, without a first
        # pass over the whole input.
        if path == "-":
            label, fh, own = STDIN_LABEL, sys.stdin.buffer, False
        else:
            label, fh, own = path, open(path, "rb"), True
        try:
            self._load_stream(label, _KeyedInput(fh))
        finally:
            if own:
                fh.close()

    def _load_stream(self, path: str, src: _KeyedInput) -> None:
        self.summary.files += 1
        # ImportReader reads any object with read(n) that returns bytes; each batch comes
        # prepared by the core's pipeline (rules, stored bytes, keys, search terms).
        stream = cast(BinaryIO, src)
        with ImportReader(stream, target_prefix=self.prefix, lang_fold=self.lang_fold) as reader:
            chunk: list[_Item] = []  # read, with each record's key; not stored
            held: tuple[_Batch, int] | None = None  # the record read last, waiting for its key
            while (prepared := reader.next_batch()) is not None:
                batch = _Batch(prepared)
                for i, offset in enumerate(batch.offsets):
                    if held is not None:
                        chunk.append((held[0], held[1], src.key_through(offset)))
                        if len(chunk) >= self.batch_size:
                            self._store_chunk(path, chunk, reader.problems)
                            chunk = []
                    held = (batch, i)
                if self.on_progress is not None:
                    self.on_progress(
                        self.summary.records + len(chunk) + (held is not None),
                        self._bytes_before + reader.bytes_read,
                    )
            if held is not None:
                chunk.append((held[0], held[1], src.key_through()))
            problems = reader.problems
            whole = src.key_through()
            # What the reader could not make a record of (a truncated record, garbage, a
            # record the core rejects), grouped by place.
            extra = [(out, whole) for out in _lost_outcomes(path, problems)]
            if reader.records_read == 0 and not extra:
                size = src.total
                why = "the file is empty" if size == 0 else f"{size:,} byte(s), no record"
                self.summary.empty_files.append(path)
                extra.append((Outcome(path, 0, Fate.EMPTY, message=f"no records: {why}"), whole))
            self._store_chunk(path, chunk, problems, extra)
            self._bytes_before += reader.bytes_read
            if self.on_progress is not None:
                self.on_progress(self.summary.records, self._bytes_before)

    def _store_chunk(
        self,
        path: str,
        chunk: list[_Item],
        problems: list[RecordProblem],
        extra: list[tuple[Outcome, str]] = (),  # type: ignore[assignment]
    ) -> None:
        """Store records read from ``path`` in one catalog transaction, with their load-log
        rows (and ``extra`` outcomes: what the reader could not read); count and tell them once
        it is committed. A conflict with a concurrent writer (another loader or receiver on a
        shared PostgreSQL catalog) rolls the whole transaction back, and it is run again from
        the records as read (the rules change a record: each attempt works on a copy)."""
        for attempt in range(CONFLICT_RETRIES + 1):
            committing = False
            try:
                with self.store.transaction():
                    group = self._fast_chunk(path, chunk)
                    self._commit_group(group, problems)
                    for out, digest in extra:
                        self._record(out, digest)
                    if self.before_commit is not None and self._pending:
                        self.before_commit(self._pending)
                    committing = True
            except ConflictError:
                self._pending.clear()
                if attempt == CONFLICT_RETRIES:
                    raise
                _time.sleep(0.05 * (attempt + 1))
                continue
            except BaseException:
                if committing and self.commit_failed is not None and self._pending:
                    self.commit_failed()
                self._pending.clear()
                raise
            pending, self._pending = self._pending, []
            self._told(pending)
            return

    def _prepare(self, chunk: list[tuple[Record, str]]) -> None:
        """Tell the catalog what the group will ask (a database server answers it in a few
        queries rather than a few per record)."""
        numbers: list[str] = []
        keys: list[str] = []
        for rec, _ in chunk:
            try:
                n, k = match_keys(rec)
            except (ValueError, Marc8Error):
                continue
            numbers += n
            if k is not None:
                keys.append(k)
        inputs = [(digest, rec.number or 0) for rec, digest in chunk]
        self.store.prepare(inputs, list(dict.fromkeys(numbers)), list(dict.fromkeys(keys)))

    def _handle(self, path: str, rec: Record, digest: str) -> Outcome:
        index = rec.number or 0  # the reader numbers every record from 1
        # Asked inside the write transaction that stores the record: another process loading
        # the same input cannot slip in between (issue 11).
        done = self.store.loaded(digest, index)
        if done is None:
            return self._one(path, index, rec)
        sysno, batch = done
        shown = format_sysno(sysno) if sysno is not None else "?"
        detail = f"duplicate of {shown} (already loaded from this file, batch {batch})"
        return Outcome(path, index, Fate.DUPLICATE, sysno, f"not loaded: {detail}", detail=detail)

    def import_bytes(
        self,
        raw: bytes,
        *,
        source: str,
        index: int = 1,
        input_hash: str | None = None,
        commit: bool = True,
    ) -> Outcome:
        """Import one record given as bytes (the Connexion receiver, issue 12): read with the
        same options as :meth:`load` (a well-framed record by ``Record.parse``, anything else
        by the same splitter as a file), the same rules (:meth:`_one`), and its load-log row
        (under ``self.summary.batch_id``, as ``source``, ``input_hash``, ``index``) written in
        the same write transaction: its own (``commit=True``), or with ``commit=False`` the
        caller's open one (``with store.transaction():``), which the caller ends."""
        digest = input_hash if input_hash is not None else hashlib.sha256(raw).hexdigest()
        if not commit:
            # Inside the caller's transaction, which the caller commits or rolls back: the
            # outcome is counted and told now.
            out = self._one_of_bytes(raw, source, index)
            self._record(out, digest)
            pending, self._pending = self._pending, []
            self._told(pending)
            return out
        committing = False
        try:
            with self.store.transaction():
                out = self._one_of_bytes(raw, source, index)
                self._record(out, digest)
                if self.before_commit is not None:
                    self.before_commit(self._pending)
                committing = True
        except BaseException:
            if committing and self.commit_failed is not None:
                self.commit_failed()
            self._pending.clear()
            raise
        pending, self._pending = self._pending, []
        self._told(pending)
        return out

    def _one_of_bytes(self, raw: bytes, source: str, index: int) -> Outcome:
        found = next_record(raw, eof=True)
        framed = found.kind == "record" and not found.length_mismatch and found.end == len(raw)
        if framed:
            # What the splitter would hand the record layer, unchanged: parse it alone.
            try:
                rec = Record.parse(raw, trust="data", expand_ncr=True)
            except Marc8Error:
                pass  # the reader says why, as it would for a file
            else:
                return self._one(source, index, rec)
        with MARCReader(raw, trust="data", expand_ncr=True, jobs=1) as reader:
            recs = list(reader)
            problems = reader.problems
        if len(recs) > 1:
            return _rejected(
                source, index, RejectReason.NOT_ONE_RECORD, f"{len(recs)} records, expected one"
            )
        if recs:
            out = self._one(source, index, recs[0])
            extra = [_problem_dict(p) for p in problems if p.action == ProblemAction.RECOVERED]
            out.problems = extra + [d for d in out.problems if d not in extra]
            return out
        # No record: what the reader could not read is why. Bytes that are not a record at
        # all ("junk" in a file) are this request's record, so it is rejected.
        lost = sorted(_lost_outcomes(source, problems), key=lambda o: o.fate is Fate.JUNK)
        if not lost:
            return _rejected(source, index, RejectReason.NOT_ONE_RECORD, "no record")
        out = lost[0]
        out.index = index
        if out.fate is Fate.JUNK:
            out.fate, out.reason = Fate.REJECTED, RejectReason.NOT_MARC
            out.detail = "not a MARC record: " + out.detail
            out.message = "rejected: " + out.detail
        return out

    def _commit_group(
        self, group: list[tuple[Outcome, str]], problems: list[RecordProblem]
    ) -> None:
        """Log a group of outcomes, each with the splitter's word on its record (a length that
        had to be recovered from the terminators), in the transaction that stores them."""
        recovered: dict[int, list[dict[str, Any]]] = {}
        for p in problems:
            if p.action == ProblemAction.RECOVERED:
                recovered.setdefault(p.record, []).append(_problem_dict(p))
        for out, digest in group:
            extra = recovered.get(out.index)
            if extra and not any(d in out.problems for d in extra):
                out.problems = extra + out.problems
            self._record(out, digest)
        group.clear()

    def _told(self, outcomes: list[Outcome]) -> None:
        for out in outcomes:
            self._count(out)
            if self.on_outcome is not None:
                self.on_outcome(out)

    def _count(self, out: Outcome) -> None:
        if out.fate is Fate.JUNK:
            self.summary.junk += 1
        elif out.fate in FATES:
            self.summary.records += 1
            self.summary.fates[out.fate] += 1
            if out.problems and out.fate is not Fate.REJECTED:
                # Exit 1 for data changed or lost (severity "error"); warnings alone (a
                # mislabelled record read correctly, a length recovered) exit 0 (item 11).
                if any(PROBLEM_KINDS.get(p["kind"], "error") == "error" for p in out.problems):
                    self.summary.records_with_problems += 1
                else:
                    self.summary.records_with_warnings += 1

    def _record(self, out: Outcome, digest: str) -> None:
        self.store.log(
            LogRow(
                self.summary.batch_id,
                out.file,
                digest,
                out.index,
                out.fate,
                out.sysno,
                out.log_message(),
                now(),
            )
        )
        self._pending.append(out)

    def _one(
        self,
        path: str,
        index: int,
        rec: Record,
        prepared: tuple[list[str], list[Change]] | None = None,
    ) -> Outcome:
        """``prepared``: the record as the core's rules left it (i21-profile, a profile with
        field rules): its OCLC numbers as read and what the core's rules changed."""
        probs = rec.problems
        problems = [_problem_dict(p) for p in probs]
        cn = next((p.control_number for p in probs if p.control_number), None)
        reasons = [
            f"{p.kind}: {p.message}"
            for p in probs
            if p.action == ProblemAction.REJECTED or p.kind in REJECT_KINDS
        ]
        if reasons:
            return _rejected(path, index, RejectReason.UNREADABLE, "; ".join(reasons), cn, problems)
        view = RuleFields(rec)
        cn = view.control("001") or cn
        if not rec.fields:
            return _rejected(
                path, index, RejectReason.NO_FIELDS, "the record has no fields", cn, problems
            )

        # what the rules (and an overlay) changed, in order
        changes: list[Change] = list(prepared[1]) if prepared is not None else []

        def history(*more: str) -> str:
            """The detail of the record's history event: which input record, what changed."""
            return "; ".join([f"record {index}", *filter(None, more)] + [c.full for c in changes])

        def outcome(fate: Fate, sysno: int | None, message: str, detail: str = "") -> Outcome:
            return Outcome(
                path,
                index,
                fate,
                sysno,
                message,
                cn,
                problems,
                changes,
                offset=rec.offset,
                detail=detail,
            )

        def reject(reason: RejectReason, detail: str) -> Outcome:
            out = outcome(Fate.REJECTED, None, f"rejected: {detail}", detail)
            out.reason = reason
            return out

        if self.exclude:
            excluded = [s for s in holding_symbols(view) if s.casefold() in self.exclude]
            if excluded:
                changes.append(  # the line's message names the symbol already
                    Change("", f"skipped because 049 $a {excluded[0]!r} is an excluded symbol")
                )
                why = f"049 $a {excluded[0]} is excluded"
                return outcome(Fate.SKIPPED, None, f"skipped: {why}", why)
        # The local rules. The target is read before the 040 rule may delete every 035.
        try:
            target = find_target(view, self.prefix)
        except TargetError as e:
            return reject(RejectReason.BAD_TARGET, str(e))
        if target is not None:
            changes.append(
                Change("target 035 removed", f"removed the targeting {field_text(target[0])}")
            )
            rec.remove_field(target[0])
        # The duplicate check's keys, read by the core as the search index reads them (before
        # the 040 rule may delete the 035s that carry the OCLC numbers).
        numbers, key = match_keys(rec)
        if prepared is not None:
            numbers = list(prepared[0])  # read before the core's 040 rule
        rule = change_by_040_rule(rec, view, fold=self.lang_fold)
        if rule is not None:
            changes.append(rule)
        if self.profile.edits:
            # The profile's field rules and Unicode form (i21-profile), after the seed rules.
            changes.extend(apply_field_rules(rec, self.profile))
        data, write_problems = rec.to_bytes_report(encoding="utf8")
        if data is None:
            reasons = [f"{p.kind}: {p.message}" for p in write_problems]
            return reject(RejectReason.NOT_WRITTEN, "; ".join(reasons) or "not written")
        # Matching.
        if target is not None:
            sysno = target[1]
            old = self.store.get(sysno)
            if old is None:
                return reject(
                    RejectReason.TARGET_MISSING, f"target {format_sysno(sysno)} does not exist"
                )
            if old.deleted:
                return reject(
                    RejectReason.TARGET_DELETED, f"target {format_sysno(sysno)} is deleted"
                )
            # Two live records must not share an OCLC number: refuse the overlay (issue 11).
            other = self.store.find_by_oclc(numbers, exclude=sysno)
            if other is not None:
                return reject(
                    RejectReason.OCLC_TAKEN,
                    f"overlaying {format_sysno(sysno)} would give it OCLC number "
                    f"{other[1]}, which {format_sysno(other[0])} has",
                )
            if self.overlay == "merge":
                kept = keep_local_fields(rec, old.data)
                if kept:
                    changes.append(
                        Change(
                            f"kept local {_tag_counts(kept)}",
                            "kept from the record overlaid: "
                            + "; ".join(field_text(f) for f in kept),
                        )
                    )
                    data, write_problems = rec.to_bytes_report(encoding="utf8")
                    if data is None:
                        reasons = [f"{p.kind}: {p.message}" for p in write_problems]
                        return reject(
                            RejectReason.NOT_WRITTEN,
                            f"overlaying {format_sysno(sysno)} with its local fields "
                            "kept: " + ("; ".join(reasons) or "not written"),
                        )
            self.store.replace(sysno, data, numbers, key, source=path, detail=history())
            return outcome(Fate.OVERLAID, sysno, f"Record overlaid: {format_sysno(sysno)}")
        if self.profile.points:
            return self._by_points(
                path, index, data, numbers, key, None, cn, changes, rec.offset, problems
            )
        hit = self.store.find_by_oclc(numbers)
        if hit is not None and self.profile.oclc == "overlay":
            live = self.store.candidates([("oclc", n) for n in numbers])
            if len(set().union(*live.values())) == 1:
                return self._overlay_by_oclc(
                    path, index, data, numbers, key, hit, cn, changes, rec.offset
                )
        if hit is not None:
            detail = f"duplicate of {format_sysno(hit[0])} (OCLC number {hit[1]})"
            return outcome(Fate.DUPLICATE, hit[0], f"not loaded: {detail}", detail)
        keys = pipeline_stored_keys(data, target_prefix=self.prefix)
        digest = next(((k, v) for k, v in keys if k == "digest"), None)
        same = (
            self.store.candidates([digest]).get(digest)
            if digest and not numbers and self.content_digest
            else None
        )
        if same:
            detail = f"duplicate of {format_sysno(min(same))} (same content)"
            return outcome(Fate.DUPLICATE, min(same), f"not loaded: {detail}", detail)
        similar = self.store.find_by_title_key(key) if key else None
        also = f"possible duplicate of {format_sysno(similar)}" if similar is not None else ""
        sysno = self.store.insert(data, numbers, key, source=path, detail=history(also), keys=keys)
        if similar is not None:
            return outcome(
                Fate.POSSIBLE_DUPLICATE,
                sysno,
                f"Record received: {format_sysno(sysno)} (possible duplicate of "
                f"{format_sysno(similar)}: same title and author)",
            )
        return outcome(Fate.NEW, sysno, f"Record received: {format_sysno(sysno)}")


def import_records(
    paths: Sequence[str | os.PathLike[str]],
    db: str | os.PathLike[str] | CatalogStore,
    *,
    target_prefix: str = DEFAULT_TARGET_PREFIX,
    exclude_symbols: Iterable[str] = (),
    batch_size: int = 500,
    on_outcome: Callable[[Outcome], object] | None = None,
    overlay: str = "merge",
) -> LoadSummary:
    """Load ``paths`` into the catalog ``db`` (a path to an SQLite file, or a store). Each input
    is ISO 2709, MARCXML or MARC-in-JSON, read once (a FIFO works); ``"-"`` is standard input."""
    own = isinstance(db, (str, os.PathLike))
    store: CatalogStore = open_store(db) if isinstance(db, (str, os.PathLike)) else db
    try:
        return Importer(
            store,
            target_prefix=target_prefix,
            exclude_symbols=exclude_symbols,
            batch_size=batch_size,
            on_outcome=on_outcome,
            overlay=overlay,
        ).load(paths)
    finally:
        if own:
            store.close()
