"""The local rules of the import flow, as pure functions of a record (no catalog, no I/O): the
targeting 035 (:func:`find_target`), the 040 $b rule (:func:`apply_040_rule`), the 049 holding
symbols (:func:`holding_symbols`), and which tags are local (:func:`is_local_tag`, the one
definition: the exporter's default filter and the overlay's merge both follow it).

:mod:`marc8fast.flows.importer` applies them in its order (see its docstring); the matching
keys (OCLC numbers, title/author key) are the search index's (:func:`.search.match_keys`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from .._native import Field, Marc8Error, Record
from ..profile import Profile, tag_matches
from .outcome import Change

#: The tags of the MARC 21 formats: three ASCII digits, as a regular expression matched in full
#: (the exporter's default ``--keep-tags``). Every other tag (H01, STA, CAT ...) is local.
MARC_TAGS = r"[0-9]{3}"


def is_marc_tag(tag: str) -> bool:
    """Three ASCII digits (a tag is always three ASCII characters): :data:`MARC_TAGS`."""
    return tag.isascii() and tag.isdigit()


#: Tags the local rules read: :class:`RuleFields`.
_RULE_TAGS = frozenset({"001", "035", "040", "049"})


class RuleFields:
    """The fields of a record that the local rules read, gathered in one pass: 001, every 035,
    040 and 049 (they are the record's own fields: editing one edits the record)."""

    __slots__ = ("by_tag",)

    def __init__(self, rec: Record) -> None:
        by_tag: dict[str, list[Field]] = {}
        for f in rec.fields:
            tag = f.tag
            if tag in _RULE_TAGS:
                by_tag.setdefault(tag, []).append(f)
        self.by_tag = by_tag

    def all(self, tag: str) -> list[Field]:
        return self.by_tag.get(tag, [])

    def first(self, tag: str) -> Field | None:
        fields = self.by_tag.get(tag)
        return fields[0] if fields else None

    def control(self, tag: str) -> str | None:
        f = self.first(tag)
        return f.data if f is not None else None


def _view(rec: Record | RuleFields) -> RuleFields:
    return rec if isinstance(rec, RuleFields) else RuleFields(rec)


class TargetError(Marc8Error, ValueError):
    """An 035 $a that starts with the target prefix but is not a target: the record is rejected
    (it would overlay nothing, and the 035 would stay and go to OCLC)."""


def find_target(rec: Record | RuleFields, prefix: str) -> tuple[Field, int] | None:
    """The targeting 035: (the field, system number), or None.

    A target is the prefix and a system number written in full: nine ASCII digits, not all zero
    (a digit left out must not target another record). An 035 $a that starts with the prefix in
    any case but is not one (``(LOCAL)²``, ``(local)000000001``, ``(LOCAL)4``), or a second
    target, raises :class:`TargetError`."""
    found: list[tuple[Field, int, str]] = []
    folded = prefix.casefold()
    for f in _view(rec).all("035"):
        for a in f.get_subfields("a"):
            a = a.strip()
            if not a.casefold().startswith(folded):
                continue
            digits = a[len(prefix) :]
            ok = a.startswith(prefix) and digits.isascii() and digits.isdigit()
            if not ok or len(digits) != 9 or int(digits) == 0:
                raise TargetError(
                    f"035 $a {a!r} is not a target ({prefix} and a nine-digit system number)"
                )
            found.append((f, int(digits), a))
    if len(found) > 1:
        raise TargetError("more than one targeting 035: " + ", ".join(a for _, _, a in found))
    return (found[0][0], found[0][1]) if found else None


def apply_040_rule(rec: Record, view: RuleFields | None = None, *, fold: bool = True) -> bool:
    """If 040 $b is present and not ``eng``: delete every 035 and 040, leader/17 = ``5``."""
    return change_by_040_rule(rec, view, fold=fold) is not None


def is_english(code: str, *, fold: bool = True) -> bool:
    """Whether a 040 $b (trimmed) says English: ``eng``, in any case with ``fold`` (the default
    profile's normalisation: ``$bENG`` is English), else exactly."""
    return (code.lower() if fold and code.isascii() else code) == "eng"


def change_by_040_rule(
    rec: Record, view: RuleFields | None = None, *, fold: bool = True
) -> Change | None:
    """The 040 rule, and what it changed (None if it did not apply). The same rule as the core's
    pipeline (``marc8::pipeline``), which applies it to the records it prepares."""
    view = view or RuleFields(rec)
    f040 = view.first("040")
    if f040 is None:
        return None
    langs = [b.strip() for b in f040.get_subfields("b")]
    if not langs or all(is_english(b, fold=fold) for b in langs):
        return None
    gone = [f for f in rec.fields if f.tag in ("035", "040")]  # (the target is gone already)
    n035 = sum(1 for f in gone if f.tag == "035")
    before = rec.leader_at(17)
    rec.remove_fields("035", "040")
    rec.set_leader(17, "5")
    lang = next(b for b in langs if not is_english(b, fold=fold))
    deleted = (f"035×{n035}, " if n035 > 1 else "035, " if n035 else "") + "040"
    return Change(
        f"040 $b {lang}: {deleted} deleted, leader/17 {before!r}→'5'",
        f"040 $b is {lang!r}, not 'eng': deleted "
        + "; ".join(field_text(f) for f in gone)
        + f"; leader/17 {before!r} → '5'",
    )


def holding_symbols(rec: Record | RuleFields) -> list[str]:
    return [a.strip() for f in _view(rec).all("049") for a in f.get_subfields("a")]


def field_text(f: Field) -> str:
    """A field as one line: ``035 \\\\$a(OCoLC)123`` (a backslash for a blank indicator)."""
    # ``str(field)`` is the one rendering (``=035  \\$a(OCoLC)123``); this line drops the
    # ``=`` and one of the two spaces.
    return f"{f.tag} {str(f)[len(f.tag) + 3 :]}"


def is_local_tag(tag: str) -> bool:
    """A local field, kept by an overlay: every tag that is not three ASCII digits (H01, CAT,
    STA ...) and every 9XX."""
    return not is_marc_tag(tag) or tag.startswith("9")


def keep_local_fields(rec: Record, old_data: bytes) -> list[Field]:
    """Overlay merge: add to ``rec`` (the incoming record) every local field of the record it
    overlays (9XX in tag order, other local tags at the end) that ``rec`` does not already hold
    identically; return the fields added."""
    old = Record.parse(old_data)
    kept = [f for f in old.fields if is_local_tag(f.tag)]
    if not kept:
        return []
    have = [f for f in rec.fields if is_local_tag(f.tag)]
    added = [f.copy() for f in kept if f not in have]
    if added:
        rec.add_ordered_field(*added)
    return added


#: Tags that a record holds once (MARC 21's non-repeatable data fields, and the control fields
#: but 006/007): a merge takes the incoming record's and leaves the stored one's out. Every other
#: tag is repeatable: a merge adds the stored record's fields the incoming one lacks.
NON_REPEATABLE = frozenset(
    {"001", "003", "005", "008", "010", "018", "040", "042", "066"}
    | {"100", "110", "111", "130", "240", "243", "245", "250", "254", "256", "263"}
    | {"306", "357", "384", "507", "514", "841", "842", "844"}
)


def merge_fields(
    rec: Record, old: Record, is_protected: Callable[[str], bool], *, merge: bool
) -> tuple[list[Field], list[Field]]:
    """Overlay or merge ``rec`` (the incoming record, edited) over ``old`` (the stored one):
    the incoming fields with a protected tag are dropped and the stored ones kept; with
    ``merge``, every stored field of a repeatable, unprotected tag that ``rec`` does not hold
    identically is added too (incoming fields added, identical fields not doubled). Returns
    (protected fields kept, fields merged)."""
    dropped = [f for f in rec.fields if is_protected(f.tag)]
    if dropped:
        rec.remove_field(*dropped)
    kept = [f.copy() for f in old.fields if is_protected(f.tag)]
    added: list[Field] = []
    if merge:
        have = [f for f in rec.fields]
        for f in old.fields:
            if is_protected(f.tag) or f.tag in NON_REPEATABLE or f in have:
                continue
            if f.is_control_field() and f.tag not in ("006", "007"):
                continue
            added.append(f.copy())
    if kept or added:
        rec.add_ordered_field(*kept, *added)
    return kept, added


def apply_field_rules(rec: Record, profile: Profile) -> list[Change]:
    """The profile's ``[fields]`` rules and ``[normalisation] unicode`` (i21-profile), after the
    seed rules: delete the fields whose tag matches ``delete`` and none of ``keep``, add each
    ``add`` field the record does not already hold identically, set the leader positions, and
    bring every control field's data and subfield value to the Unicode form asked for. Returns
    what changed."""
    changes: list[Change] = []
    if profile.delete:
        gone = [
            f
            for f in rec.fields
            if any(tag_matches(p, f.tag) for p in profile.delete)
            and not any(tag_matches(p, f.tag) for p in profile.keep)
        ]
        if gone:
            rec.remove_field(*gone)
            changes.append(
                Change(
                    f"deleted {_counts(gone)}",
                    "deleted by the profile: " + "; ".join(field_text(f) for f in gone),
                )
            )
    if profile.add:
        have = list(rec.fields)
        new = []
        for tag, ind, subs, data in profile.add:
            f = Field(tag, data=data) if data is not None else Field(tag, ind, list(subs))
            if f not in have:
                new.append(f)
        if new:
            rec.add_ordered_field(*new)
            changes.append(
                Change(
                    f"added {_counts(new)}",
                    "added by the profile: " + "; ".join(field_text(f) for f in new),
                )
            )
    for pos, ch in profile.leader:
        before = rec.leader_at(pos)
        if before != ch:
            rec.set_leader(pos, ch)
            changes.append(
                Change(
                    f"leader/{pos:02d} {before!r}→{ch!r}", f"leader/{pos:02d} {before!r} → {ch!r}"
                )
            )
    if profile.unicode != "as-received":
        form = profile.unicode.upper()
        n = 0
        for f in rec.fields:
            if f.is_control_field():
                d = f.data or ""
                if not unicodedata.is_normalized(form, d):  # type: ignore[arg-type]
                    f.data = unicodedata.normalize(form, d)  # type: ignore[arg-type]
                    n += 1
                continue
            pairs = f.subfields
            if not all(unicodedata.is_normalized(form, v) for _, v in pairs):  # type: ignore[arg-type]
                f.subfields = [(c, unicodedata.normalize(form, v)) for c, v in pairs]  # type: ignore[arg-type]
                n += 1
        if n:
            changes.append(Change(f"{form} ×{n}", f"text of {n} field(s) brought to {form}"))
    return changes


def _counts(fields: list[Field]) -> str:
    counts: dict[str, int] = {}
    for f in fields:
        counts[f.tag] = counts.get(f.tag, 0) + 1
    return ", ".join(f"{t}×{n}" if n > 1 else t for t, n in counts.items())
