"""The profile's match points and actions (issue 21, i21-profile): a part of
:class:`marc8fast.flows.importer.Importer` (a base class of it, kept apart so that each file
stays readable), used for every record without a target when the profile names
``[match] points`` (the built-in default names none and keeps the batch path's order, see
``docs/profiles.md``).

Each point is a key the catalog keeps for every live record (``oclc`` from the ``oclc`` table,
``title`` the title/author key, ``lccn``, ``isbn``, ``issn``, ``sysid`` and ``digest`` from
``match_keys``: one implementation each, the core's, the same the search index uses) and a
weight. A live record's score is the sum of the weights of the points whose key it shares with
the incoming record; it is a candidate when the score reaches the threshold. The action for no
candidate, one, or several is the profile's: ``new``, ``overlay``, ``merge``, ``skip`` or
``review`` (``catalog.stage_review``: the record waits for a cataloger, nothing is stored).
Two live records never share an OCLC number (issue 11): a ``new`` whose OCLC number a live
record has is a duplicate of it, and an overlay or merge that would give the record another
live record's OCLC number is rejected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._native import Record, pipeline_stored_keys
from ..profile import MERGE, NEW, REVIEW, SKIP, Profile
from .batch import _tag_counts
from .outcome import Change, Fate, Outcome, RejectReason
from .rules import field_text, merge_fields
from .search import match_keys
from .store import format_sysno

if TYPE_CHECKING:
    from ..catalog.api import Catalog


class PointsPath:
    """The match-point decision (see the module documentation)."""

    store: Catalog
    profile: Profile
    prefix: str

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
        """Match the record (``data``, after the rules) by the profile's points and apply the
        action; the catalog is written here (in the caller's transaction)."""
        prof = self.profile
        if keys is None:
            keys = pipeline_stored_keys(data, target_prefix=self.prefix)

        def outcome(
            fate: Fate, sysno: int | None, message: str, detail: str = "", **kw: object
        ) -> Outcome:
            return Outcome(
                path,
                index,
                fate,
                sysno,
                message,
                cn,
                list(problems or []),
                changes,
                offset=offset,
                detail=detail,
                **kw,  # type: ignore[arg-type]
            )

        wanted: list[tuple[str, list[str]]] = []
        for kind, _w in prof.points:
            if kind == "oclc":
                values = list(numbers)
            elif kind == "title":
                values = [key] if key else []
            else:
                values = [v for k, v in keys if k == kind]
            wanted.append((kind, values))
        found = self.store.candidates([(k, v) for k, vs in wanted for v in vs])
        score: dict[int, int] = {}
        why: dict[int, list[str]] = {}
        for (kind, values), (_, weight) in zip(wanted, prof.points, strict=True):
            hits: dict[int, str] = {}
            for v in values:
                for s in found.get((kind, v), ()):
                    hits.setdefault(s, v)
            for s, v in hits.items():
                score[s] = score.get(s, 0) + weight
                shown = "same content" if kind == "digest" else f"{kind} {v}"
                why.setdefault(s, []).append(shown)
        matched = sorted(
            (s for s, n in score.items() if n >= prof.threshold), key=lambda s: (-score[s], s)
        )
        action = (
            prof.on_none if not matched else prof.on_one if len(matched) == 1 else prof.on_several
        )
        reason = "; ".join(f"{format_sysno(s)} by {', '.join(why[s])}" for s in matched)
        if action == SKIP:
            detail = f"matches {reason}" if matched else "no match"
            return outcome(Fate.SKIPPED, None, f"skipped: {detail}", detail)
        if action == REVIEW:
            staged = self.store.stage_review(
                data,
                matched,
                f"matches {reason}" if matched else "no match",
                input_name=path,
                record_index=index,
            )
            detail = f"staged for review as {staged}" + (f": matches {reason}" if matched else "")
            return outcome(Fate.SKIPPED, None, f"not loaded: {detail}", detail)
        if action == NEW:
            hit = self.store.find_by_oclc(numbers)
            if hit is not None:
                detail = f"duplicate of {format_sysno(hit[0])} (OCLC number {hit[1]})"
                return outcome(Fate.DUPLICATE, hit[0], f"not loaded: {detail}", detail)
            also = f"matches {reason}" if matched else ""
            history = "; ".join(
                [f"record {index}", *filter(None, (also,))] + [c.full for c in changes]
            )
            sysno = self.store.insert(data, numbers, key, source=path, detail=history, keys=keys)
            return outcome(Fate.NEW, sysno, f"Record received: {format_sysno(sysno)}")
        # overlay or merge: the one candidate (an action on several is new, skip or review).
        sysno = matched[0]
        shown = format_sysno(sysno)
        old = self.store.get(sysno)
        assert old is not None
        rec = Record.parse(data)
        kept, added = merge_fields(
            rec, Record.parse(old.data), prof.is_protected, merge=action == MERGE
        )
        if kept:
            changes.append(
                Change(
                    f"kept {_tag_counts(kept)}",
                    "kept from the record overlaid: " + "; ".join(field_text(f) for f in kept),
                )
            )
        if added:
            changes.append(
                Change(
                    f"merged {_tag_counts(added)}",
                    "merged from the stored record: " + "; ".join(field_text(f) for f in added),
                )
            )
        new, write_problems = rec.to_bytes_report(encoding="utf8")
        if new is None:
            text = "; ".join(f"{p.kind}: {p.message}" for p in write_problems) or "not written"
            detail = f"{action} of {shown}: {text}"
            return outcome(
                Fate.REJECTED, None, f"rejected: {detail}", detail, reason=RejectReason.NOT_WRITTEN
            )
        numbers, key = match_keys(rec)
        other = self.store.find_by_oclc(numbers, exclude=sysno)
        if other is not None:
            detail = (
                f"overlaying {shown} would give it OCLC number {other[1]}, which "
                f"{format_sysno(other[0])} has"
            )
            return outcome(
                Fate.REJECTED, None, f"rejected: {detail}", detail, reason=RejectReason.OCLC_TAKEN
            )
        verb = "merged into" if action == MERGE else "overlay of"
        history = "; ".join(
            [f"record {index}", f"{verb} {shown}: matches {reason}"] + [c.full for c in changes]
        )
        self.store.replace(
            sysno,
            new,
            numbers,
            key,
            source=path,
            detail=history,
            keys=pipeline_stored_keys(new, target_prefix=self.prefix),
        )
        word = "merged" if action == MERGE else "overlaid"
        return outcome(Fate.OVERLAID, sysno, f"Record {word}: {shown} ({', '.join(why[sysno])})")
