"""Import profiles (issue 21, first part): a TOML file that says how ``load`` treats records.

This first part covers what the importer applies today; every key below changes what ``load``
does. The built-in default (:data:`DEFAULT_TEXT`, ``marc8fast profile show``) is what ``load``
does without ``--profile``. A profile is parsed with the standard library's ``tomllib`` (Python
3.11 and later); its keys and values are checked here, and every error names its place as
``PATH:LINE:COL`` (``marc8fast profile check FILE``): the place of a TOML syntax error is the
parser's, the place of a wrong key or value is found by reading the file's lines for the key in
its table (a choice: ``tomllib`` keeps no positions).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from ._native import ArgumentError

#: The built-in default profile (``marc8fast profile show``): today's rules.
DEFAULT_TEXT = """\
# marc8fast import profile: the built-in default (marc8fast profile show).
# Every key may be left out: its default is the value shown here.

[normalisation]
# 040 $b is compared trimmed and, with "fold", without regard to case ("ENG" is English);
# "exact": only "eng" is English.
lang_case = "fold"
# Stored text: "as-received" (as the record came, after conversion to Unicode), "nfc" or "nfd".
unicode = "as-received"

[rules]
# An 035 $a of this prefix and a nine-digit system number overlays that record (the target).
target_prefix = "(LOCAL)"
# Records whose 049 $a is one of these symbols (in any case) are skipped.
exclude_symbols = []
# An overlay: "merge" keeps the local fields of the record overlaid (every 9XX, every tag that
# is not three digits); "replace" replaces it whole.
overlay = "merge"

[match]
# In order: the targeting 035 overlays; a live record with one of the OCLC numbers (001/003,
# 035 (OCoLC) in any case, 019) makes the record a duplicate (not loaded); then, for a record
# without an OCLC number and with content_digest = true, a live record with the same content
# (the digest of every field but 001/003/005/066, a target and the local tags) makes it a
# duplicate; last, a live record with the same title/author key makes it a possible duplicate
# (loaded, flagged).
content_digest = true
# What a live record with one of the OCLC numbers makes of the incoming record: "duplicate" (not
# loaded) or "overlay" (it replaces that record, keeping the record's protected fields; a record
# whose OCLC numbers are on several live records is a duplicate of the first).
oclc = "duplicate"
# Match points replace the order above: each a key (oclc, lccn, isbn, issn, sysid, title,
# digest) and a weight; a live record whose shared keys weigh threshold or more is a candidate;
# the action on none, one, several: "new", "overlay", "merge", "skip", "review" (several: new,
# skip or review). For example (docs/examples/vendor-isbn.toml):
# points = [{ key = "isbn", weight = 100 }]
# threshold = 100
# none = "new"
# one = "overlay"
# several = "review"

[overlay]
# The fields of the stored record that an overlay (by OCLC number or a match point) or a merge
# keeps (the incoming record's fields with those tags are dropped): tags, "X" or "?" for any
# character, "local" for every tag that is not three digits.
protected = ["049", "590", "9XX", "local"]

[fields]
# Field rules, after the 040 rule: the tags deleted from every incoming record ("9XX", "H0?"),
# the exceptions kept, the fields added (unless the record holds the same field), the leader
# positions set (05-08, 17-19). For example:
# delete = ["9XX"], keep = ["949"], leader = { 17 = "7" },
# add = [{ tag = "949", indicators = "  ", subfields = ["a", "LOCL"] }]
delete = []
keep = []
add = []
leader = {}

[export]
# export --profile FILE: every exported record carries 035 $a local_prefix + its system number
# (local_035 = false: not), so that OCLC's copy sent back targets it when loaded.
local_prefix = "(LOCAL)"
local_035 = true
"""


def tag_matches(pattern: str, tag: str) -> bool:
    """A three-character tag pattern: ``X`` or ``?`` stands for any character (``9XX``)."""
    return len(pattern) == len(tag) and all(
        c in "X?" or c == t for c, t in zip(pattern, tag, strict=True)
    )


class ProfileError(ArgumentError):
    """A profile that cannot be used: every problem, one line each, ``PATH:LINE:COL: why``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Profile:
    """What ``load`` applies (see :data:`DEFAULT_TEXT`)."""

    lang_fold: bool = True
    target_prefix: str = "(LOCAL)"
    exclude_symbols: tuple[str, ...] = field(default_factory=tuple)
    overlay: str = "merge"
    content_digest: bool = True
    oclc: str = "duplicate"
    protected: tuple[str, ...] = ("049", "590", "9XX", "local")
    #: The match points (issue 21, i21-profile): (key, weight) in order; empty = the built-in
    #: order above ([match] oclc and content_digest).
    points: tuple[tuple[str, int], ...] = ()
    #: A candidate matches when the weights of the points it shares add up to this.
    threshold: int = 100
    #: The action on no match, one match, several matches.
    on_none: str = "new"
    on_one: str = "overlay"
    on_several: str = "review"
    #: ``[export]`` (``export --profile FILE``): the local 035 prefix, and whether it is added.
    export_local_prefix: str = "(LOCAL)"
    export_local_035: bool = True
    #: ``[fields]`` (i21-profile): tag patterns deleted from every incoming record (``keep``:
    #: exceptions), fields added (tag, indicators, subfields or control data), leader positions
    #: set; ``[normalisation] unicode``: ``as-received``, ``nfc`` or ``nfd`` for stored text.
    delete: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    add: tuple[tuple[str, str, tuple[tuple[str, str], ...], str | None], ...] = ()
    leader: tuple[tuple[int, str], ...] = ()
    unicode: str = "as-received"

    @property
    def edits(self) -> bool:
        """Whether the profile edits records beyond the core's rules (field rules, a Unicode
        form): such records take the Python rules' path (``Importer._one``)."""
        return bool(self.delete or self.add or self.leader or self.unicode != "as-received")

    def is_protected(self, tag: str) -> bool:
        """Whether an overlay by OCLC number keeps the stored record's fields with ``tag``."""
        for p in self.protected:
            if p == "local":
                if not (tag.isascii() and tag.isdigit()):
                    return True
            elif tag_matches(p, tag):
                return True
        return False


#: The match point keys (issue 21, i21-profile): one implementation each, the catalog's
#: ``match_keys`` and the search index's (see ``docs/import-pipeline.md``).
POINT_KEYS = ("oclc", "lccn", "isbn", "issn", "sysid", "title", "digest")
#: What a match point decision does with the incoming record.
ACTIONS = ("new", "overlay", "merge", "skip", "review")
#: The actions by name (a profile's words, not fates: ``new`` stores a record).
NEW, OVERLAY, MERGE, SKIP, REVIEW = ACTIONS


#: The keys of each table: (type, check) with the allowed values for strings.
_SCHEMA: dict[str, dict[str, tuple[type, tuple[str, ...] | None]]] = {
    "normalisation": {
        "lang_case": (str, ("fold", "exact")),
        "unicode": (str, ("as-received", "nfc", "nfd")),
    },
    "rules": {
        "target_prefix": (str, None),
        "exclude_symbols": (list, None),
        "overlay": (str, ("merge", "replace")),
    },
    "match": {
        "content_digest": (bool, None),
        "oclc": (str, ("duplicate", "overlay")),
        "points": (list, None),
        "threshold": (int, None),
        "none": (str, ("new", "skip", "review")),
        "one": (str, ACTIONS),
        "several": (str, ("new", "skip", "review")),
    },
    "overlay": {"protected": (list, None)},
    "fields": {
        "delete": (list, None),
        "keep": (list, None),
        "add": (list, None),
        "leader": (dict, None),
    },
    "export": {"local_prefix": (str, None), "local_035": (bool, None)},
}


def _place(lines: list[str], table: str | None, key: str | None) -> tuple[int, int]:
    """Line and column (from 1) of ``key`` in ``[table]`` (or of the table's header)."""
    current: str | None = None
    header = (1, 1)
    for n, line in enumerate(lines, 1):
        m = re.match(r"\s*\[\s*([A-Za-z0-9_.-]+)\s*\]", line)
        if m:
            current = m.group(1)
            if current == table:
                header = (n, line.index("[") + 1)
                if key is None:
                    return header
            continue
        if key is not None and current == table:
            m = re.match(rf"\s*({re.escape(key)})\s*=", line)
            if m:
                return n, m.start(1) + 1
    return header


def parse(text: str, path: str = "<profile>") -> Profile:
    """The profile in ``text`` (read from ``path``, for messages); :class:`ProfileError` with
    every problem found."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise ProfileError(
            [f"{path}: reading a profile needs Python 3.11 or later (tomllib)"]
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        where = f"{m.group(1)}:{m.group(2)}" if m else "1:1"
        why = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e)) or "not TOML"
        raise ProfileError([f"{path}:{where}: {why}"]) from None
    lines = text.splitlines()
    problems: list[str] = []

    def problem(table: str | None, key: str | None, why: str) -> None:
        line, col = _place(lines, table, key)
        problems.append(f"{path}:{line}:{col}: {why}")

    values: dict[str, object] = {}
    for table, body in data.items():
        if table not in _SCHEMA:
            problem(table, None, f"unknown table [{table}] (one of {', '.join(_SCHEMA)})")
            continue
        if not isinstance(body, dict):
            problem(None, table, f"{table} must be a table ([{table}])")
            continue
        for key, value in body.items():
            spec = _SCHEMA[table].get(key)
            if spec is None:
                known = ", ".join(_SCHEMA[table])
                problem(table, key, f"unknown key {key!r} in [{table}] (one of {known})")
                continue
            kind, allowed = spec
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                problem(table, key, f"{table}.{key} must be a {kind.__name__}, not {value!r}")
                continue
            if allowed is not None and value not in allowed:
                choices = " or ".join(repr(a) for a in allowed)
                problem(table, key, f"{table}.{key} must be {choices}, not {value!r}")
                continue
            if key == "exclude_symbols" and not all(isinstance(v, str) for v in value):  # type: ignore[attr-defined]
                problem(table, key, "rules.exclude_symbols must be a list of strings")
                continue
            if key in ("delete", "keep") and not all(
                isinstance(v, str) and re.fullmatch(r"[0-9A-Za-z?]{3}", v)
                for v in value  # type: ignore[attr-defined]
            ):
                problem(table, key, f'fields.{key} must be a list of tags ("9XX", "H0?")')
                continue
            if key == "add":
                wrong = _check_add(value)  # type: ignore[arg-type]
                if wrong:
                    problem(table, key, wrong)
                    continue
            if key == "leader":
                wrong = _check_leader(value)  # type: ignore[arg-type]
                if wrong:
                    problem(table, key, wrong)
                    continue
            if key == "protected" and not all(
                isinstance(v, str) and (v == "local" or re.fullmatch(r"[0-9A-Za-z?]{3}", v))
                for v in value  # type: ignore[attr-defined]
            ):
                problem(
                    table,
                    key,
                    'overlay.protected must be a list of tags ("9XX", "H0?") or "local"',
                )
                continue
            if key == "points":
                wrong = _check_points(value)  # type: ignore[arg-type]
                if wrong:
                    problem(table, key, wrong)
                    continue
            if key == "threshold" and value < 1:  # type: ignore[operator]
                problem(table, key, f"match.threshold must be 1 or more, not {value}")
                continue
            if key == "local_prefix" and (not value or str(value).strip() != value):
                problem(
                    table, key, "export.local_prefix must be non-empty, without spaces around it"
                )
                continue
            if key == "target_prefix" and (not value or str(value).strip() != value):
                problem(
                    table, key, "rules.target_prefix must be non-empty, without spaces around it"
                )
                continue
            values[key] = value
    if "points" not in values:
        for key in ("threshold", "none", "one", "several"):
            if key in values:
                problem("match", key, f"match.{key} needs match.points")
    elif "oclc" in values or "content_digest" in values:
        which = "oclc" if "oclc" in values else "content_digest"
        problem(
            "match",
            which,
            f"match.{which} is the built-in order's; with match.points, say it as a point",
        )
    if problems:
        raise ProfileError(problems)
    points = tuple(
        (str(p["key"]), int(p.get("weight", 100)))
        for p in values.get("points", ())  # type: ignore[attr-defined]
    )
    adds = tuple(
        (
            str(a["tag"]),
            str(a.get("indicators", "  ")),
            tuple(zip(a.get("subfields", [])[::2], a.get("subfields", [])[1::2], strict=True)),
            a.get("data"),
        )
        for a in values.get("add", ())  # type: ignore[attr-defined]
    )
    return Profile(
        delete=tuple(values.get("delete", ())),  # type: ignore[arg-type]
        keep=tuple(values.get("keep", ())),  # type: ignore[arg-type]
        add=adds,
        leader=tuple(sorted((int(k), str(v)) for k, v in values.get("leader", {}).items())),  # type: ignore[attr-defined]
        unicode=str(values.get("unicode", "as-received")),
        export_local_prefix=str(values.get("local_prefix", "(LOCAL)")),
        export_local_035=bool(values.get("local_035", True)),
        points=points,
        threshold=int(values.get("threshold", 100)),  # type: ignore[call-overload]
        on_none=str(values.get("none", "new")),
        on_one=str(values.get("one", "overlay")),
        on_several=str(values.get("several", "review")),
        lang_fold=values.get("lang_case", "fold") == "fold",
        target_prefix=str(values.get("target_prefix", "(LOCAL)")),
        exclude_symbols=tuple(values.get("exclude_symbols", ())),  # type: ignore[arg-type]
        overlay=str(values.get("overlay", "merge")),
        content_digest=bool(values.get("content_digest", True)),
        oclc=str(values.get("oclc", "duplicate")),
        protected=tuple(values.get("protected", ("049", "590", "9XX", "local"))),  # type: ignore[arg-type]
    )


def _check_points(points: list[object]) -> str | None:
    """Why ``[match] points`` is wrong (None if it is right): a list of inline tables
    ``{ key = "isbn", weight = 100 }``, each key once."""
    if not points:
        return "match.points must name at least one point"
    seen: set[str] = set()
    for n, p in enumerate(points, 1):
        where = f"match.points[{n}]"
        if not isinstance(p, dict):
            return f'{where} must be a table {{ key = "isbn", weight = 100 }}, not {p!r}'
        extra = sorted(set(p) - {"key", "weight"})
        if extra:
            return f"{where}: unknown key {extra[0]!r} (key, weight)"
        key = p.get("key")
        if key not in POINT_KEYS:
            return f"{where}.key must be one of {', '.join(POINT_KEYS)}, not {key!r}"
        if key in seen:
            return f"{where}: {key!r} is named twice"
        seen.add(key)
        weight = p.get("weight", 100)
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
            return f"{where}.weight must be a whole number, 1 or more, not {weight!r}"
    return None


def _check_add(adds: list[object]) -> str | None:
    """Why ``[fields] add`` is wrong: a list of ``{ tag = "949", indicators = "  ",
    subfields = ["a", "LOCL"] }`` (a data field) or ``{ tag = "003", data = "MyLib" }``."""
    for n, a in enumerate(adds, 1):
        where = f"fields.add[{n}]"
        if not isinstance(a, dict):
            return f'{where} must be a table {{ tag = "949", subfields = ["a", "x"] }}'
        extra = sorted(set(a) - {"tag", "indicators", "subfields", "data"})
        if extra:
            return f"{where}: unknown key {extra[0]!r} (tag, indicators, subfields, data)"
        tag = a.get("tag")
        if not isinstance(tag, str) or not re.fullmatch(r"[0-9A-Za-z]{3}", tag):
            return f"{where}.tag must be three letters or digits, not {tag!r}"
        control = tag.startswith("00")
        if control:
            if not isinstance(a.get("data"), str) or "subfields" in a or "indicators" in a:
                return f'{where}: a control field ({tag}) takes data = "..." only'
            continue
        ind = a.get("indicators", "  ")
        if not isinstance(ind, str) or len(ind) != 2 or not ind.isascii():
            return f"{where}.indicators must be two characters, not {ind!r}"
        subs = a.get("subfields")
        if (
            "data" in a
            or not isinstance(subs, list)
            or not subs
            or len(subs) % 2
            or not all(isinstance(x, str) and x for x in subs)
            or not all(len(c) == 1 and c.isascii() and c.isalnum() for c in subs[::2])
        ):
            return f'{where}.subfields must be codes and values, ["a", "text", "b", "more"]'
    return None


#: The leader positions a profile may set (the record's status, type, level, control,
#: encoding level, cataloguing form, multipart level): the others are the record's structure.
LEADER_POSITIONS = (5, 6, 7, 8, 17, 18, 19)


def _check_leader(table: dict[str, object]) -> str | None:
    for k, v in table.items():
        if not k.isdigit() or int(k) not in LEADER_POSITIONS:
            allowed = ", ".join(f"{p:02d}" for p in LEADER_POSITIONS)
            return f"fields.leader: position {k!r} cannot be set (one of {allowed})"
        if not isinstance(v, str) or len(v) != 1 or not v.isascii() or not v.isprintable():
            return f"fields.leader.{k} must be one ASCII character, not {v!r}"
    return None


def load_file(path: str) -> Profile:
    """The profile in the file at ``path`` (:class:`ProfileError`, or OSError if unreadable)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse(text, path)


DEFAULT = parse(DEFAULT_TEXT, "<built-in>") if sys.version_info >= (3, 11) else Profile()
