"""The local rules of the import flow, as pure functions of a record (no catalog, no I/O): the
targeting 035 (:func:`find_target`), the 040 $b rule (:func:`apply_040_rule`), the 049 holding
symbols (:func:`holding_symbols`), and which tags are local (:func:`is_local_tag`, the one
definition: the exporter's default filter and the overlay's merge both follow it).

:mod:`marc8fast.flows.importer` applies them in its order (see its docstring); the matching
keys (OCLC numbers, title/author key) are the search index's (:func:`.search.match_keys`).
"""

from __future__ import annotations

from .._native import Field, Marc8Error, Record
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
