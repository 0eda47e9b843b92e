"""Searching the catalog: the word and number indexes behind ``marc8fast catalog search`` and the
Z39.50 and SRU servers (one implementation for all three).

The store keeps, for every record, the terms below in its ``search_index`` table, an SQLite FTS5
index with one row per record (rowid = system number; written in the same transaction as the
record, by :meth:`SQLiteStore.insert` / :meth:`~SQLiteStore.replace`). The terms are extracted
and folded by the Rust core (``marc8::search``, one pass over the parsed record) and stored
space-separated; FTS5's ``ascii`` tokenizer then only splits at the spaces, so folding has one
definition, used for indexing and for queries alike:

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

Words are folded: compatibility-decomposed, combining marks dropped, lower-cased, a few letters
that do not decompose mapped (``ø`` → ``o``, ``ł`` → ``l``, ``đ`` → ``d``, ``æ`` → ``ae``,
``œ`` → ``oe``, ``þ`` → ``th``, ``ß`` → ``ss``), split at everything that is not a letter or
digit. A query's
words must all occur in the index (in any order); with ``truncated`` the last one is a prefix.
``sysno`` finds a record by its system number (``123`` and ``000000123`` alike); ``any`` is any
of the word indexes, or a number index for a single number. Deleted records are never found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .._native import ArgumentError, search_index_row, search_numbers, search_words

if TYPE_CHECKING:
    from .store import SQLiteStore

WORD_INDEXES = ("title", "author", "subject")
NUMBER_INDEXES = ("isbn", "issn", "oclc")
#: Every index :func:`find` knows.
INDEXES = ("sysno", *WORD_INDEXES, *NUMBER_INDEXES, "any")
#: The columns of the ``search_index`` table, in the order of :func:`index_row`.
COLUMNS = (*WORD_INDEXES, *NUMBER_INDEXES)


def words(text: str) -> list[str]:
    """The folded words of ``text``, in order."""
    return search_words(text)


def fold(text: str) -> str:
    """``text``'s words, folded, one space between them."""
    return " ".join(search_words(text))


def numbers(index: str, text: str) -> list[str]:
    """What a number index (``isbn``, ``issn``, ``oclc``) holds for ``text``:
    ``numbers("isbn", "0-19-852663-6 (pbk.)") == ["0198526636", "9780198526636"]``."""
    return search_numbers(index, text)


def index_row(data: bytes) -> tuple[str, str, str, str, str, str]:
    """The ``search_index`` columns (:data:`COLUMNS`) of a stored (UTF-8 ISO 2709) record: each
    index's terms, lower case, space-separated (all empty if the record cannot be read)."""
    return search_index_row(data)


def index_terms(data: bytes) -> set[tuple[str, str]]:
    """Every ``(index, term)`` pair of a stored record."""
    return {(c, t) for c, col in zip(COLUMNS, index_row(data), strict=True) for t in col.split()}


def _number_terms(index: str, text: str) -> list[str]:
    found = search_numbers(index, text)
    if found or index == "oclc":
        return found
    # Not a well-formed ISBN/ISSN: look for it as written (letters and digits).
    alnum = re.sub(r"[^0-9A-Za-z]", "", text).upper()
    return [alnum] if alnum else []


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


def _phrase(term: str, prefix: bool) -> str:
    # A term is letters and digits (folded words, normalised numbers): quoting keeps FTS5 from
    # reading it as an operator (AND, OR, NOT, NEAR).
    return '"' + term.replace('"', "") + '"' + (" *" if prefix else "")


def _match(store: SQLiteStore, query: str) -> set[int]:
    return {
        r[0]
        for r in store.db.execute(
            "SELECT rowid FROM search_index WHERE search_index MATCH ?", (query,)
        )
    }


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
        terms = [t.lower() for t in _number_terms(index, text) if t]
        if not terms:
            return set()
        query = " OR ".join(f"{{{index}}} : {_phrase(t, False)}" for t in terms)
        return _live(store, _match(store, query))
    ws = words(text)
    if not ws:
        return set()
    columns = " ".join(WORD_INDEXES) if index == "any" else index
    query = " AND ".join(
        f"{{{columns}}} : {_phrase(w, truncated and i == len(ws) - 1)}" for i, w in enumerate(ws)
    )
    result = _match(store, query)
    if index == "any" and len(ws) == 1 and not truncated:
        for number_index in NUMBER_INDEXES:
            result |= find(store, number_index, text)
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
