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

[overlay]
# The fields of the stored record that an overlay by OCLC number keeps (the incoming record's
# fields with those tags are dropped): tags, "X" or "?" for any character, "local" for every tag
# that is not three digits.
protected = ["049", "590", "9XX", "local"]
"""


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

    def is_protected(self, tag: str) -> bool:
        """Whether an overlay by OCLC number keeps the stored record's fields with ``tag``."""
        for p in self.protected:
            if p == "local":
                if not (tag.isascii() and tag.isdigit()):
                    return True
            elif len(p) == len(tag) and all(
                c in "X?" or c == t for c, t in zip(p, tag, strict=True)
            ):
                return True
        return False


#: The keys of each table: (type, check) with the allowed values for strings.
_SCHEMA: dict[str, dict[str, tuple[type, tuple[str, ...] | None]]] = {
    "normalisation": {"lang_case": (str, ("fold", "exact"))},
    "rules": {
        "target_prefix": (str, None),
        "exclude_symbols": (list, None),
        "overlay": (str, ("merge", "replace")),
    },
    "match": {"content_digest": (bool, None), "oclc": (str, ("duplicate", "overlay"))},
    "overlay": {"protected": (list, None)},
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
            if key == "target_prefix" and (not value or str(value).strip() != value):
                problem(
                    table, key, "rules.target_prefix must be non-empty, without spaces around it"
                )
                continue
            values[key] = value
    if problems:
        raise ProfileError(problems)
    return Profile(
        lang_fold=values.get("lang_case", "fold") == "fold",
        target_prefix=str(values.get("target_prefix", "(LOCAL)")),
        exclude_symbols=tuple(values.get("exclude_symbols", ())),  # type: ignore[arg-type]
        overlay=str(values.get("overlay", "merge")),
        content_digest=bool(values.get("content_digest", True)),
        oclc=str(values.get("oclc", "duplicate")),
        protected=tuple(values.get("protected", ("049", "590", "9XX", "local"))),  # type: ignore[arg-type]
    )


def load_file(path: str) -> Profile:
    """The profile in the file at ``path`` (:class:`ProfileError`, or OSError if unreadable)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse(text, path)


DEFAULT = parse(DEFAULT_TEXT, "<built-in>") if sys.version_info >= (3, 11) else Profile()
