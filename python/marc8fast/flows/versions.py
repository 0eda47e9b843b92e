"""Record versions, batch reverts and the review staging area, as flows over the catalog API
(issue 21, i21-catalog; no SQL here).

* Every replace (overlay, merge), delete, undelete and revert keeps the record's previous state
  (bytes, title key, deleted flag, OCLC numbers) as a numbered version, in the catalog itself
  (:meth:`~marc8fast.catalog.api.Catalog.replace` and friends): version 1 is the record as first
  stored (or as it was when the catalog was upgraded to keep versions), the current one the last.
* :func:`field_diff`: what changed between two versions, field by field, as a cataloger reads it.
* :func:`revert_record`: a version made current again, exactly, as a new version.
* :func:`revert_batch`: a load undone: the records it created deleted, the records it overlaid
  put back as they were before it, refused where a later change would be lost.
* :func:`accept_staged` / :func:`reject_staged`: a cataloger's decision on a staged record.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .._native import Field, Marc8Error, Record
from .._problems import problem_line
from ..catalog import Catalog, Version, format_sysno
from ..profile import MERGE, Profile
from .rules import merge_fields
from .search import match_keys


def field_lines(data: bytes) -> list[str]:
    """A stored record's leader and fields as lines (``LDR #####nam a22##### a 4500``, ``245 10
    $aTitle``): the leader's record length and base address, which any change moves, as ``#``."""
    rec = Record.parse(data)
    ldr = rec.leader
    lines = [f"LDR #####{ldr[5:12]}#####{ldr[17:]}"]
    for f in rec.fields:
        lines.append(_field_text(f))
    return lines


def _field_text(f: Field) -> str:
    if f.is_control_field():
        return f"{f.tag} {f.data}"
    subs = "".join(f"${code}{value}" for code, value in f.subfields)
    return f"{f.tag} {f.indicators} {subs}"


def field_diff(old: bytes, new: bytes) -> list[str]:
    """The fields of ``old`` that ``new`` lacks (``- 245 10 $a...``) and those it adds
    (``+ 245 10 $a...``), in tag order, the removed one before the added one of a tag; fields
    the two share (as many times as both have them) are left out; the leader is compared too."""
    a, b = field_lines(old), field_lines(new)
    common = Counter(a) & Counter(b)
    gone = Counter(a) - common
    came = Counter(b) - common

    def pick(lines: list[str], left: Counter[str]) -> list[str]:
        out = []
        for line in lines:
            if left[line] > 0:
                out.append(line)
                left[line] -= 1
        return out

    minus = [("-", line) for line in pick(a, gone)]
    plus = [("+", line) for line in pick(b, came)]
    both = sorted(minus + plus, key=lambda p: (p[1][:3], p[0] == "+"))
    return [f"{sign} {line}" for sign, line in both]


def revert_record(
    store: Catalog, sysno: int, to: int | None = None, *, source: str | None = None
) -> tuple[str, int | None]:
    """Make version ``to`` (default: the one before the current) the current one, as a new
    version. Returns (what happened, the new version's number or None if refused)."""
    with store.transaction():
        versions = store.versions(sysno)
        if not versions:
            return "no such record", None
        current = versions[-1]
        if to is None:
            if len(versions) < 2:
                return "only one version: nothing to revert to", None
            to = versions[-2].version
        old = next((v for v in versions if v.version == to), None)
        if old is None:
            return f"no version {to} (versions 1 to {current.version})", None
        if old.version == current.version:
            return f"version {to} is the current one: nothing to do", None
        if not old.deleted:
            other = store.find_by_oclc(old.oclc_numbers, exclude=sysno)
            if other is not None:
                return (
                    f"not reverted: version {to} has OCLC number {other[1]}, which "
                    f"{format_sysno(other[0])} (a live record) has now",
                    None,
                )
        n = store.revert(sysno, to, source=source, detail=f"reverted to version {to}")
    return f"reverted to version {to} (now version {n})", n


@dataclass
class BatchPlan:
    """What reverting a batch would do: records to delete (it created them), to revert (to the
    version before it), and the conflicts (later changes that would be lost)."""

    batch_id: int
    delete: list[int] = field(default_factory=list)
    revert: list[tuple[int, int]] = field(default_factory=list)  # (sysno, version)
    conflicts: list[str] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    #: The versions read (the revert restores from them without reading them again).
    known: dict[int, list[Version]] = field(default_factory=dict, repr=False, compare=False)


def _state(v: Version) -> tuple[bytes, bool]:
    return v.data, v.deleted


def plan_batch_revert(store: Catalog, batch_id: int) -> BatchPlan:
    """Work out :func:`revert_batch` (read only). A record the batch changed and a later change
    (another batch, a receiver, a cataloger) changed again is a conflict, unless its current
    state is the one the batch left (nothing would be lost)."""
    plan = BatchPlan(batch_id)
    where = _log_places(store, batch_id)
    touched = store.batch_records(batch_id)
    plan.known = store.versions_of(list(touched))
    for sysno, created in touched.items():
        versions = plan.known.get(sysno, [])
        if not versions:
            continue
        by_batch = [v.version for v in versions if not v.current and v.batch_id == batch_id]
        last_b = max(by_batch) if by_batch else 0
        if created and not by_batch:
            first = None
        elif by_batch:
            first = min(by_batch)
        else:
            continue
        current = versions[-1]
        # The state the batch left: the version after its last change (or the first version
        # of a record it created and did not change again).
        left_n = (last_b + 1) if last_b else 1
        left = next((v for v in versions if v.version == left_n), current)
        if current.version > left_n and _state(current) != _state(left):
            later = [v for v in versions if left_n <= v.version < current.version]
            by = ", ".join(
                f"{v.action} in " + (f"batch {v.batch_id}" if v.batch_id else "no batch")
                for v in later
            )
            file, index = where.get(sysno, ("", None))
            plan.conflicts.append(
                problem_line(
                    file or f"batch {batch_id}",
                    {
                        "kind": "revert_conflict",
                        "record": index if index is not None else "?",
                        "control_number": None,
                        "message": f"{format_sysno(sysno)} was changed after batch {batch_id} "
                        f"({by}); revert it first, or revert the record itself",
                    },
                )
            )
            continue
        if first is None:
            if current.deleted:
                plan.unchanged.append(sysno)
            else:
                plan.delete.append(sysno)
        else:
            before = next(v for v in versions if v.version == first)
            if _state(before) == _state(current):
                plan.unchanged.append(sysno)
            else:
                plan.revert.append((sysno, first))
    return plan


def _log_places(store: Catalog, batch_id: int) -> dict[int, tuple[str, int]]:
    """Where each record of the batch came from: (input file, record number)."""
    out: dict[int, tuple[str, int]] = {}
    for row in store.batch_log(batch_id):
        if row.sysno is not None:
            out.setdefault(row.sysno, (row.input_file, row.record_index))
    return out


def revert_batch(store: Catalog, batch_id: int) -> BatchPlan:
    """Undo a batch in one transaction: the records it created are deleted (``STA DELETED``,
    as ``catalog delete`` does: their system numbers are not given again), the records it
    overlaid get their version from before it back (as new versions); its input records no
    longer count as loaded (the file loads again) and the batch is marked ``reverted``. Nothing
    is written when the plan has conflicts (they are returned)."""
    with store.transaction():
        # Planned inside the write transaction: no other writer changes a record meanwhile.
        plan = plan_batch_revert(store, batch_id)
        if plan.conflicts:
            return plan
        me = store.new_batch(f"revert-batch {batch_id}", status="running")
        for sysno, version in plan.revert:
            known = next(v for v in plan.known[sysno] if v.version == version)
            store.revert(
                sysno,
                version,
                detail=f"revert of batch {batch_id}: version {version}",
                known=known,
            )
        for sysno in plan.delete:
            current = plan.known[sysno][-1]  # read in this transaction
            model = Record.parse(current.data)
            model.add_field(Field("STA", "1 ", [("a", "DELETED")]))  # as catalog delete does
            store.mark_deleted(
                sysno, model.to_bytes(encoding="utf8"), detail=f"revert of batch {batch_id}"
            )
        store.unmark_loaded(batch_id)
        store.finish_batch(batch_id, "reverted")
        store.finish_batch(me, "completed")
    return plan


# --- review staging ----------------------------------------------------------------------------


def accept_staged(
    store: Catalog,
    staged_id: int,
    *,
    as_new: bool = False,
    overlay: int | None = None,
    profile: Profile | None = None,
) -> tuple[bool, str]:
    """Store a staged record through the normal path (history event, versions): as a new record
    (``as_new``), over ``overlay``, or by default over its one candidate (a new record if it has
    none). An overlay is the one a load with ``profile`` (the built-in default if None) makes of
    a one-candidate match: the stored record's protected fields (``[overlay] protected``) kept
    and the incoming record's fields of those tags dropped, and, when the profile's action on one
    match is ``merge``, the stored record's other repeatable fields merged in. Returns (done,
    message)."""
    with store.transaction():
        staged = store.staged_one(staged_id)
        if staged is None:
            return False, f"no staged record {staged_id}"
        if staged.status != "pending":
            return False, f"staged record {staged_id} is {staged.status} already"
        if not as_new and overlay is None:
            if len(staged.candidates) > 1:
                shown = ", ".join(format_sysno(c) for c in staged.candidates)
                return False, (
                    f"staged record {staged_id} has {len(staged.candidates)} candidates "
                    f"({shown}): say --as new or --overlay SYSNO"
                )
            if staged.candidates:
                overlay = staged.candidates[0]
        try:
            rec = Record.parse(staged.data)
        except (ValueError, Marc8Error) as e:
            return False, f"staged record {staged_id} cannot be read: {e}"
        numbers, key = match_keys(rec)
        source = f"review {staged_id} ({staged.input_name} record {staged.record_index})"
        if overlay is None:
            hit = store.find_by_oclc(numbers)
            if hit is not None:
                return False, (
                    f"not accepted as new: OCLC number {hit[1]} is on {format_sysno(hit[0])} "
                    "(--overlay it instead)"
                )
            sysno = store.insert(staged.data, numbers, key, source=source, detail="accepted")
            store.resolve_staged(staged_id, "accepted", sysno)
            return True, f"accepted as new record {format_sysno(sysno)}"
        old = store.get(overlay)
        if old is None or old.deleted:
            why = "does not exist" if old is None else "is deleted"
            return False, f"not accepted: {format_sysno(overlay)} {why}"
        other = store.find_by_oclc(numbers, exclude=overlay)
        if other is not None:
            return False, (
                f"not accepted: overlaying {format_sysno(overlay)} would give it OCLC number "
                f"{other[1]}, which {format_sysno(other[0])} has"
            )
        prof = profile if profile is not None else Profile()
        merge_fields(rec, Record.parse(old.data), prof.is_protected, merge=prof.on_one == MERGE)
        data = rec.to_bytes(encoding="utf8")
        store.replace(overlay, data, numbers, key, source=source, detail="accepted (overlay)")
        store.resolve_staged(staged_id, "accepted", overlay)
        return True, f"accepted: overlaid {format_sysno(overlay)}"


def reject_staged(store: Catalog, staged_id: int) -> tuple[bool, str]:
    with store.transaction():
        staged = store.staged_one(staged_id)
        if staged is None:
            return False, f"no staged record {staged_id}"
        if not store.resolve_staged(staged_id, "rejected", None):
            return False, f"staged record {staged_id} is {staged.status} already"
    return True, f"staged record {staged_id} rejected (not stored)"
