"""Searching the catalog: the word and number indexes behind ``marc8fast catalog search`` and the
Z39.50 and SRU servers (one implementation for all three).

The store keeps, for every record, the terms below in its ``search_terms`` table (written in the
same transaction as the record, by :meth:`SQLiteStore.insert` / :meth:`~SQLiteStore.replace`):

========== ==================================================================== ============
index      from                                                                 terms
========== ==================================================================== ============
title      245 $a $b $n $p, 246 $a $b, 130 $a, 240 $a, 740 $a                    words
author     100, 110, 111, 700, 710, 711: $a $b $c $d $q                          words
subject    600–699, every alphabetic subfield                                   words
isbn       020 $a: the ISBN as written (digits and X) and its other form         numbers
           (ISBN-10 ↔ ISBN-13 for 978 numbers)
issn       022 $a: eight characters, no hyphen                                   numbers
oclc       001 (when it is an OCLC number), 035 $a ``(OCoLC)…`` in any case,     numbers
           019 $a (former OCLC numbers), leading zeros and ocm/ocn/on dropped
========== ==================================================================== ============

Words are folded: compatibility-decomposed, combining marks dropped, case-folded, a few letters
that do not decompose mapped (``ø`` → ``o``, ``ł`` → ``l``, ``đ`` → ``d``, ``æ`` → ``ae``,
``œ`` → ``oe``, ``þ`` → ``th``), split at everything that is not a letter or digit. A query's
words must all occur in the index (in any order); with ``truncated`` the last one is a prefix.
``sysno`` finds a record by its system number (``123`` and ``000000123`` alike); ``any`` is any
of the word indexes, or a number index for a single number. Deleted records are never found.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from .._native import ArgumentError, Record

if TYPE_CHECKING:
    from .store import SQLiteStore

WORD_INDEXES = ("title", "author", "subject")
NUMBER_INDEXES = ("isbn", "issn", "oclc")
#: Every index :func:`find` knows.
INDEXES = ("sysno", *WORD_INDEXES, *NUMBER_INDEXES, "any")

_TITLE = {"245": "abnp", "246": "ab", "130": "a", "240": "a", "740": "a"}
_AUTHOR = {t: "abcdq" for t in ("100", "110", "111", "700", "710", "711")}
_EXTRA = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "æ": "ae", "œ": "oe", "þ": "th", "ı": "i"}
)
_SPLIT = re.compile(r"[\W_]+")
_OCLC = re.compile(r"^\s*(?:\(ocolc\))?\s*(?:ocm|ocn|on)?\s*0*(\d+)\s*$", re.IGNORECASE)


def fold(text: str) -> str:
    """Case and diacritics folded, as the word indexes store it."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.casefold().translate(_EXTRA)


def words(text: str) -> list[str]:
    """The folded words of ``text``, in order."""
    return [w for w in _SPLIT.split(fold(text)) if w]


def oclc_number(text: str) -> str | None:
    """``"(OCoLC)ocm00012345"``, ``"(ocolc)12345"``, ``"012345"`` → ``"12345"``; else None."""
    m = _OCLC.match(text)
    if m is None or not m.group(1).isascii():
        return None
    return m.group(1).lstrip("0") or None


def _isbn10_check(nine: str) -> str:
    s = sum((10 - i) * int(d) for i, d in enumerate(nine)) % 11
    return "X" if (11 - s) % 11 == 10 else str((11 - s) % 11)


def _isbn13_check(twelve: str) -> str:
    s = sum((1 if i % 2 == 0 else 3) * int(d) for i, d in enumerate(twelve))
    return str((10 - s % 10) % 10)


def isbns(text: str) -> list[str]:
    """The ISBN at the start of ``text`` (``"0-19-852663-6 (pbk.)"``) in its written form and, for
    a 978 number, its other form: ``["0198526636", "9780198526637"]``. Empty if there is none."""
    m = re.match(r"\s*([0-9][0-9\- ]{8,16}[0-9Xx])", text)
    if m is None:
        return []
    n = re.sub(r"[\- ]", "", m.group(1)).upper()
    if len(n) == 10 and n[:9].isdigit():
        return [n, "978" + n[:9] + _isbn13_check("978" + n[:9])]
    if len(n) == 13 and n.isdigit():
        if n.startswith("978"):
            return [n, n[3:12] + _isbn10_check(n[3:12])]
        return [n]
    return []


def issn(text: str) -> str | None:
    m = re.match(r"\s*(\d{4})-?(\d{3}[\dXx])\b", text)
    return (m.group(1) + m.group(2)).upper() if m else None


def _subfield_words(rec: Record, tags: dict[str, str]) -> Iterator[str]:
    for f in rec.fields:
        codes = tags.get(f.tag)
        if codes is None or f.is_control_field():
            continue
        for code, value in f.subfields:
            if code in codes:
                yield from words(value)


def index_terms(rec: Record) -> set[tuple[str, str]]:
    """Every ``(index, term)`` pair of a record (see the module's table)."""
    out: set[tuple[str, str]] = set()
    out.update(("title", w) for w in _subfield_words(rec, _TITLE))
    out.update(("author", w) for w in _subfield_words(rec, _AUTHOR))
    f003 = rec.get_fields("003")
    is_oclc_001 = bool(f003) and (f003[0].data or "").strip() == "OCoLC"
    for f in rec.fields:
        tag = f.tag
        if f.is_control_field():
            if tag == "001" and f.data:
                d = f.data.strip()
                if is_oclc_001 or re.match(r"(?i)ocm|ocn|on\d", d):
                    n = oclc_number(d)
                    if n:
                        out.add(("oclc", n))
            continue
        if tag.startswith("6"):
            for code, value in f.subfields:
                if code.isalpha():
                    out.update(("subject", w) for w in words(value))
        elif tag == "020":
            for a in f.get_subfields("a"):
                out.update(("isbn", n) for n in isbns(a))
        elif tag == "022":
            for a in f.get_subfields("a"):
                n = issn(a)
                if n:
                    out.add(("issn", n))
        elif tag == "035":
            for a in f.get_subfields("a"):
                if a.strip().casefold().startswith("(ocolc)"):
                    n = oclc_number(a)
                    if n:
                        out.add(("oclc", n))
        elif tag == "019":
            for a in f.get_subfields("a"):
                n = oclc_number(a)
                if n:
                    out.add(("oclc", n))
    return out


def terms_of(data: bytes) -> set[tuple[str, str]]:
    """:func:`index_terms` of a stored (UTF-8 ISO 2709) record; empty if it cannot be read."""
    try:
        return index_terms(Record.parse(data))
    except ValueError:
        return set()


def _number_terms(index: str, text: str) -> list[str]:
    if index == "isbn":
        return isbns(text) or [re.sub(r"[\s\-]", "", text).upper()]
    if index == "issn":
        n = issn(text)
        return [n] if n else [re.sub(r"[\s\-]", "", text).upper()]
    n = oclc_number(text)
    return [n] if n else []


def _live(store: SQLiteStore, sysnos: Iterable[int]) -> set[int]:
    found: set[int] = set()
    ids = list(sysnos)
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        marks = ",".join("?" * len(part))
        found.update(
            r[0]
            for r in store.db.execute(
                f"SELECT sysno FROM records WHERE deleted=0 AND sysno IN ({marks})", part
            )
        )
    return found


def _word_hits(store: SQLiteStore, indexes: tuple[str, ...], word: str, prefix: bool) -> set[int]:
    marks = ",".join("?" * len(indexes))
    if prefix:
        sql = (
            f"SELECT DISTINCT sysno FROM search_terms WHERE idx IN ({marks}) "
            "AND term >= ? AND term < ?"
        )
        params: tuple[str, ...] = (*indexes, word, word + "\U0010ffff")
    else:
        sql = f"SELECT DISTINCT sysno FROM search_terms WHERE idx IN ({marks}) AND term = ?"
        params = (*indexes, word)
    return {r[0] for r in store.db.execute(sql, params)}


def find(store: SQLiteStore, index: str, text: str, *, truncated: bool = False) -> set[int]:
    """System numbers of the live records that ``text`` finds in ``index`` (one of
    :data:`INDEXES`). Raises :class:`ArgumentError` for an unknown index."""
    if index not in INDEXES:
        raise ArgumentError(f"unknown index {index!r} (one of {', '.join(INDEXES)})")
    if index == "sysno":
        t = text.strip()
        if not (t.isascii() and t.isdigit()) or len(t) > 9 or int(t) == 0:
            return set()
        return _live(store, [int(t)])
    if index in NUMBER_INDEXES:
        hits: set[int] = set()
        for term in _number_terms(index, text):
            hits |= _word_hits(store, (index,), term, False)
        return _live(store, hits)
    indexes = WORD_INDEXES if index == "any" else (index,)
    ws = words(text)
    if not ws:
        return set()
    result: set[int] | None = None
    for i, w in enumerate(ws):
        hits = _word_hits(store, indexes, w, truncated and i == len(ws) - 1)
        result = hits if result is None else result & hits
        if not result:
            break
    result = result or set()
    if index == "any" and len(ws) == 1 and not truncated:
        for number_index in NUMBER_INDEXES:
            for term in _number_terms(number_index, text):
                result |= _word_hits(store, (number_index,), term, False)
    return _live(store, result)


def search(
    store: SQLiteStore,
    *,
    sysno: str | None = None,
    oclc: str | None = None,
    title: str | None = None,
    author: str | None = None,
    isbn: str | None = None,
    issn: str | None = None,
    subject: str | None = None,
    any: str | None = None,
    truncated: bool = False,
) -> list[int]:
    """System numbers (ascending) of live records matching every criterion given; ``truncated``
    makes the last word of title, author, subject and any a prefix."""
    given = {
        "sysno": sysno,
        "oclc": oclc,
        "title": title,
        "author": author,
        "isbn": isbn,
        "issn": issn,
        "subject": subject,
        "any": any,
    }
    result: set[int] | None = None
    for index, text in given.items():
        if text is None:
            continue
        hits = find(store, index, text, truncated=truncated and index in (*WORD_INDEXES, "any"))
        result = hits if result is None else result & hits
    if result is None:
        raise ArgumentError("no search criterion given")
    return sorted(result)
