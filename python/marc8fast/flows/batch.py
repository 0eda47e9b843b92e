"""The import flow's batch path (issue 21, i21-pipe): the records the core's pipeline prepared
(:class:`marc8fast._native.PreparedBatch`), matched against the catalog a group at a time and
written with multi-row statements. A part of :class:`marc8fast.flows.importer.Importer` (a base
class of it, kept apart so that each file stays readable); the order of the rules and the fates
are the importer's (see its docstring) and ``docs/import-pipeline.md``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._native import Field, PreparedBatch, Record
from ..catalog.api import NewRecord
from ..profile import Profile
from .outcome import STORED_FATES, Change, Fate, Outcome, RejectReason
from .rules import field_text, merge_fields
from .store import format_sysno

if TYPE_CHECKING:
    from ..catalog.api import Catalog


#: What the core's pipeline made of a record (``PreparedBatch.status``).
_READY, _SLOW, _NO_FIELDS = 0, 1, 2


class _Batch:
    """A batch prepared by the core (:class:`marc8fast._native.PreparedBatch`), its columns
    taken once as Python lists."""

    __slots__ = (
        "_records",
        "_symbols",
        "b",
        "changes",
        "cns",
        "data",
        "keys",
        "numbers",
        "oclc",
        "offsets",
        "status",
        "terms",
        "title_keys",
    )

    def __init__(self, b: PreparedBatch) -> None:
        self.b = b
        self.numbers = b.numbers
        self.offsets = b.offsets
        self.status = b.status
        self.data = b.data
        self.oclc = b.oclc
        self.title_keys = b.title_keys
        self.keys = b.keys
        self.terms = b.terms
        self.cns = b.control_numbers
        self.changes = b.changes
        self._symbols: list[list[str]] | None = None
        self._records: dict[int, Record] = {}

    def symbols(self) -> list[list[str]]:
        if self._symbols is None:
            self._symbols = self.b.symbols
        return self._symbols

    def record(self, i: int) -> Record:
        """A copy of record ``i`` as read (the slow path's rules change it; a retried group
        starts again from the record as read)."""
        rec = self._records.get(i)
        if rec is None:
            got = self.b.record(i)
            assert got is not None
            rec = self._records[i] = got
        return rec.copy()


#: A record of a group: its batch, its place in it, its input key.
_Item = tuple[_Batch, int, str]


def _rejected(
    path: str,
    index: int,
    reason: RejectReason,
    detail: str,
    control_number: str | None = None,
    problems: list[dict[str, Any]] | None = None,
) -> Outcome:
    """A rejected outcome: the message is ``rejected: `` and the detail."""
    return Outcome(
        path,
        index,
        Fate.REJECTED,
        None,
        f"rejected: {detail}",
        control_number,
        problems or [],
        reason=reason,
        detail=detail,
    )


def _tag_counts(fields: Iterable[Field]) -> str:
    counts = Counter(f.tag for f in fields)
    return ", ".join(f"{t}×{n}" if n > 1 else t for t, n in counts.items())


class BatchPath:
    """The importer's batch path (see the module documentation)."""

    store: Catalog
    exclude: frozenset[str]
    content_digest: bool
    profile: Profile

    def _one(
        self,
        path: str,
        index: int,
        rec: Record,
        prepared: tuple[list[str], list[Change]] | None = None,
    ) -> Outcome:
        raise NotImplementedError

    def _by_points(
        self,
        path: str,
        index: int,
        data: bytes,
        numbers: list[str],
        key: str | None,
        keys: list[tuple[str, str]] | None,
        cn: str | None,
        changes: list[Change],
        offset: int | None,
        problems: list[dict[str, object]] | None = None,
    ) -> Outcome:
        raise NotImplementedError  # flows/points.py (i21-profile)

    def _fast_chunk(self, path: str, chunk: list[_Item]) -> list[tuple[Outcome, str]]:
        """The outcomes of a group of prepared records, in input order, their new records
        written with multi-row statements (:meth:`Catalog.insert_many`). The catalog is asked
        what the group needs in a few queries (which input records are loaded already, which
        live records carry the group's OCLC numbers, title keys and content digests), and what
        the group itself stores is added to those answers as it goes, so each record is matched
        as if the ones before it were stored one by one. A record the core left to the Python
        rules (problems, a target, ...) is handled by :meth:`_handle` after the new records
        before it are written; the answers are then asked again."""
        store = self.store
        group: list[tuple[Outcome, str]] = []
        loaded = store.loaded_many([(d, b.numbers[i]) for b, i, d in chunk])
        cands: dict[tuple[str, str], set[int]] | None = None
        waiting: list[tuple[NewRecord, Outcome]] = []  # new records not written yet
        # The system numbers of the group's new records (None until written): a new record not
        # written yet is known to the answers by a placeholder, -(its place in this list + 1).
        resolved: list[int | None] = []

        def first(found: set[int]) -> int:
            """The record a match names: the oldest live one (the smallest system number)."""
            real = [s for s in found if s > 0]
            if real:
                return min(real)
            k = -max(found) - 1  # the group's earliest new record among them
            if resolved[k] is None:
                write()
            sysno = resolved[k]
            assert sysno is not None
            return sysno

        def write() -> None:
            if waiting:
                sysnos = store.insert_many([r for r, _ in waiting])
                start = len(resolved) - len(waiting)
                resolved[start:] = sysnos
                for sysno, (_, out) in zip(sysnos, waiting, strict=True):
                    out.sysno = sysno
                    fmt = format_sysno(sysno)
                    if out.fate is Fate.NEW:
                        out.message = f"Record received: {fmt}"
                    else:
                        out.message = f"Record received: {fmt}{out.message}"
                waiting.clear()

        # The profile's Python parts (i21-profile), asked once a group.
        edits = self.profile.edits
        by_points = bool(self.profile.points)
        pos = 0
        for b, i, digest in chunk:
            pos += 1
            index = b.numbers[i]
            done = loaded.get((digest, index))
            status = b.status[i]
            if done is not None:
                sysno, batch_id = done
                shown = format_sysno(sysno) if sysno is not None else "?"
                detail = f"duplicate of {shown} (already loaded from this file, batch {batch_id})"
                out = Outcome(
                    path, index, Fate.DUPLICATE, sysno, f"not loaded: {detail}", detail=detail
                )
                group.append((out, digest))
                continue
            if edits and status == _READY:
                # A profile's field rules and Unicode form are applied by the Python rules
                # (i21-profile), to the record as the core's rules left it.
                write()
                done_by_core = [Change(short, full) for short, full in b.changes.get(i, ())]
                out = self._one(
                    path, index, Record.parse(b.data[i]), prepared=(b.oclc[i], done_by_core)
                )
                cands = None
                group.append((out, digest))
                continue
            if status == _SLOW:
                out = self._one(path, index, b.record(i))
                if out.fate in STORED_FATES:
                    cands = None  # the catalog changed under the answers
                group.append((out, digest))
                continue
            if status == _NO_FIELDS:
                out = _rejected(
                    path, index, RejectReason.NO_FIELDS, "the record has no fields", None
                )
                group.append((out, digest))
                continue
            cn = b.cns[i]
            changes = [Change(short, full) for short, full in b.changes.get(i, ())]

            offset = b.offsets[i]

            def outcome(
                fate: Fate,
                sysno: int | None,
                message: str,
                detail: str = "",
                *,
                _at: tuple[int, int, str | None, list[Change]] = (index, offset, cn, changes),
            ) -> Outcome:
                n, off, c, ch = _at
                return Outcome(path, n, fate, sysno, message, c, [], ch, offset=off, detail=detail)

            if self.exclude:
                excluded = [s for s in b.symbols()[i] if s.casefold() in self.exclude]
                if excluded:
                    changes.append(
                        Change("", f"skipped because 049 $a {excluded[0]!r} is an excluded symbol")
                    )
                    why = f"049 $a {excluded[0]} is excluded"
                    group.append((outcome(Fate.SKIPPED, None, f"skipped: {why}", why), digest))
                    continue
            if by_points:
                # The profile's match points and actions (flows/points.py, i21-profile).
                write()
                out = self._by_points(
                    path,
                    index,
                    b.data[i],
                    b.oclc[i],
                    b.title_keys[i],
                    b.keys[i],
                    cn,
                    changes,
                    offset,
                )
                cands = None  # the catalog may have changed under the answers
                group.append((out, digest))
                continue
            if cands is None:
                write()
                cands = store.candidates(self._wanted(chunk[pos - 1 :]))
            numbers = b.oclc[i]
            key = b.title_keys[i]
            keys = b.keys[i]
            hit = None
            for n in numbers:
                found = cands.get(("oclc", n))
                if found:
                    hit = (first(found), n)
                    break
            if hit is not None and self.profile.oclc == "overlay":
                live = set().union(*(cands.get(("oclc", n), set()) for n in numbers))
                if len(live) == 1:
                    write()
                    out = self._overlay_by_oclc(
                        path, index, b.data[i], numbers, key, hit, cn, changes, offset
                    )
                    cands = None  # the catalog changed under the answers
                    group.append((out, digest))
                    continue
            if hit is not None:
                detail = f"duplicate of {format_sysno(hit[0])} (OCLC number {hit[1]})"
                out = outcome(Fate.DUPLICATE, hit[0], f"not loaded: {detail}", detail)
                group.append((out, digest))
                continue
            # The content digest, the last resort, for a record without an OCLC number (records
            # that OCLC numbers tell apart are not the same, however alike).
            same = (
                cands.get(("digest", keys[-1][1]))
                if keys and not numbers and self.content_digest
                else None
            )
            if same:
                twin = first(same)
                detail = f"duplicate of {format_sysno(twin)} (same content)"
                out = outcome(Fate.DUPLICATE, twin, f"not loaded: {detail}", detail)
                group.append((out, digest))
                continue
            found = cands.get(("title", key)) if key else None
            similar = first(found) if found else None
            also = f"possible duplicate of {format_sysno(similar)}" if similar is not None else ""
            history = "; ".join(
                [f"record {index}", *filter(None, (also,))] + [c.full for c in changes]
            )
            if similar is not None:
                out = outcome(
                    Fate.POSSIBLE_DUPLICATE,
                    None,
                    f" (possible duplicate of {format_sysno(similar)}: same title and author)",
                )
            else:
                out = outcome(Fate.NEW, None, "")
            waiting.append(
                (NewRecord(b.data[i], numbers, key, keys, b.terms[i], history, path), out)
            )
            # What this record stores, the next ones of the group find.
            resolved.append(None)
            mark = -len(resolved)
            for n in numbers:
                cands.setdefault(("oclc", n), set()).add(mark)
            if key:
                cands.setdefault(("title", key), set()).add(mark)
            for k in keys:
                cands.setdefault(k, set()).add(mark)
            group.append((out, digest))
        write()
        return group

    def _overlay_by_oclc(
        self,
        path: str,
        index: int,
        data: bytes,
        numbers: list[str],
        key: str | None,
        hit: tuple[int, str],
        cn: str | None,
        changes: list[Change],
        offset: int | None,
    ) -> Outcome:
        """The profile's overlay by OCLC number: the incoming record (``data``, after the rules)
        replaces the one live record with its OCLC numbers, which keeps its protected fields
        (the incoming record's fields with those tags are dropped)."""
        sysno, number = hit
        old = self.store.get(sysno)
        assert old is not None
        rec = Record.parse(data)
        kept, _ = merge_fields(rec, Record.parse(old.data), self.profile.is_protected, merge=False)
        if kept:
            changes.append(
                Change(
                    f"kept {_tag_counts(kept)}",
                    "kept from the record overlaid: " + "; ".join(field_text(f) for f in kept),
                )
            )
        shown = format_sysno(sysno)
        new, problems = rec.to_bytes_report(encoding="utf8")
        if new is None:
            why = "; ".join(f"{p.kind}: {p.message}" for p in problems) or "not written"
            detail = f"overlaying {shown} with its protected fields kept: {why}"
            return Outcome(
                path,
                index,
                Fate.REJECTED,
                None,
                f"rejected: {detail}",
                cn,
                [],
                changes,
                offset=offset,
                reason=RejectReason.NOT_WRITTEN,
                detail=detail,
            )
        history = "; ".join(
            [f"record {index}", f"overlay by OCLC number {number}"] + [c.full for c in changes]
        )
        self.store.replace(sysno, new, numbers, key, source=path, detail=history)
        return Outcome(
            path,
            index,
            Fate.OVERLAID,
            sysno,
            f"Record overlaid: {shown} (OCLC number {number})",
            cn,
            [],
            changes,
            offset=offset,
        )

    @staticmethod
    def _wanted(chunk: list[_Item]) -> list[tuple[str, str]]:
        """The keys the catalog is asked about for these records: OCLC numbers, title keys,
        content digests."""
        wanted: list[tuple[str, str]] = []
        for b, i, _ in chunk:
            if b.status[i] != _READY:
                continue
            wanted.extend(("oclc", n) for n in b.oclc[i])
            key = b.title_keys[i]
            if key:
                wanted.append(("title", key))
            keys = b.keys[i]
            if keys and not b.oclc[i]:
                wanted.append(keys[-1])
        return wanted
