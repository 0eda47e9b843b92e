"""Searching the catalog: the word and number indexes behind ``marc8fast catalog search`` and the
Z39.50 and SRU servers (one implementation for all three).

The catalog keeps, for every record, the terms below in its search index (written in the same
transaction as the record, by :meth:`Catalog.insert` / :meth:`~Catalog.replace`; on SQLite an
FTS5 table with one row per record, on PostgreSQL a table of (term, index, system number) rows
with a btree index, see :mod:`marc8fast.catalog`). The terms are extracted and folded by the Rust
core (``marc8::search``, one pass over the parsed record); the catalog only stores and matches
them (:meth:`Catalog.match_terms`: exact, or as a prefix), so folding has one definition, used
for indexing and for queries alike, on both backends:

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
           019 $a (former OCLC numbers), leading zeros and ocm/ocn/on dropped;
           also the numbers the duplicate check keeps (``oclc`` table), such as
           those of an 035 the 040 rule deleted
========== ==================================================================== ============

Words are folded: compatibility-decomposed (Hangul syllables kept whole), combining marks dropped
(kana voicing marks kept), lower-cased, a few letters that do not decompose mapped (``ø`` →
``o``, ``ł`` → ``l``, ``đ`` → ``d``, ``æ`` → ``ae``, ``œ`` → ``oe``, ``þ`` → ``th``, ``ß`` →
``ss``, ``ς`` → ``σ``), split at everything that is not a letter or digit — except that a hyphen
or apostrophe between two letters or digits joins: the index holds each part and the joined
form (``co-operation`` → ``co``, ``operation``, ``cooperation``) and a query looks up the joined
form, so ``co-operation``/``cooperation``, ``o'brien``/``obrien``, ``e-mail``/``email`` find the
same records. Runs of CJK characters (Han, kana, Hangul) are indexed and looked up by their
bigrams: any contiguous run of two or more characters finds the record. An 880 field is indexed
as the field its ``$6`` names (``880 $6 245-01`` is a title).

A query's words must all occur in the index (in any order). A ``*`` right after a word makes it a
prefix (``hobb*`` finds "The hobbit"; ``浙东文*``); ``truncated`` (Z39.50's right truncation)
makes the last word a prefix. ``sysno`` finds a record by its system number (``123`` and
``000000123`` alike); ``any`` is any of the word indexes, or a number index for a single number.
An ISBN may carry its label (``ISBN 0-12-601720-4``); one with a wrong check digit or the wrong
number of digits is looked up as written, and when no record holds it :class:`InvalidTermError`
says why. Deleted records are never found.

The duplicate check of the importer (OCLC numbers, title/author key) is made by the same core
module (``marc8::search::match_keys``): its OCLC numbers are the record's ``oclc`` terms, and its
title key folds like the ``title`` index (see :func:`match_keys`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .._native import (
    ArgumentError,
    Record,
    search_index_row,
    search_isbn_problem,
    search_match_keys,
    search_numbers,
    search_query_terms,
    search_words,
)

if TYPE_CHECKING:
    from ..catalog.api import Catalog

WORD_INDEXES = ("title", "author", "subject")
NUMBER_INDEXES = ("isbn", "issn", "oclc")
#: Every index :func:`find` knows.
INDEXES = ("sysno", *WORD_INDEXES, *NUMBER_INDEXES, "any")
#: The columns of the ``search_index`` table, in the order of :func:`index_row`.
COLUMNS = (*WORD_INDEXES, *NUMBER_INDEXES)


class InvalidTermError(ArgumentError):
    """A search term that cannot be what it is looked up as (an ISBN with a wrong check digit)
    and that no record holds as written: said rather than answered with nothing."""


def words(text: str) -> list[str]:
    """The folded words (query terms) of ``text``, in order."""
    return search_words(text)


def query_terms(text: str) -> list[tuple[str, bool]]:
    """``(term, prefix)`` of a query text: ``query_terms("The hobb*") == [("the", False),
    ("hobb", True)]``."""
    return search_query_terms(text)


def match_keys(rec: Record) -> tuple[list[str], str | None]:
    """The importer's duplicate-check keys of a record: its OCLC numbers (normalised, 001 first,
    then 035 ``(OCoLC)`` in any case and 019, in field order) and its title/author key (245 $a $b
    without the nonfiling characters of its second indicator, ``/``, the first 1XX $a; each
    folded as the search index folds, letters and digits only)."""
    return search_match_keys(rec)


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
    if index == "isbn" and found and search_isbn_problem(text):
        return found[:1]  # as written: its "other form" would be made from a wrong number
    if found or index == "oclc":
        return found
    # Not a well-formed ISBN/ISSN: look for it as written (letters and digits).
    alnum = re.sub(r"[^0-9A-Za-z]", "", text).upper()
    return [alnum] if alnum else []


def find(store: Catalog, index: str, text: str, *, truncated: bool = False) -> set[int]:
    """System numbers of the live records that ``text`` finds in ``index`` (one of
    :data:`INDEXES`). Raises :class:`ArgumentError` for an unknown index."""
    if index not in INDEXES:
        raise ArgumentError(f"unknown index {index!r} (one of {', '.join(INDEXES)})")
    if index == "sysno":
        t = text.strip()
        if not (t.isascii() and t.isdigit()) or len(t) > 9 or int(t) == 0:
            return set()
        return store.live([int(t)])
    if index in NUMBER_INDEXES:
        terms = [t.lower() for t in _number_terms(index, text) if t]
        if not terms:
            return set()
        hits: set[int] = set()
        for t in terms:
            hits |= store.match_terms((index,), [(t, False)])
        if index == "oclc":
            # The numbers the duplicate check matches by, also those read from an 035 that the
            # 040 rule then deleted: search finds what matching finds.
            for t in terms:
                hits |= store.sysnos_by_oclc(t)
        found = store.live(hits)
        problem = search_isbn_problem(text) if index == "isbn" else None
        if problem and not found:
            raise InvalidTermError(f"{problem} (no record holds it as written)")
        return found
    ws = query_terms(text)
    if not ws:
        return set()
    if truncated:
        ws[-1] = (ws[-1][0], True)
    columns = WORD_INDEXES if index == "any" else (index,)
    result = store.match_terms(columns, ws)
    if index == "any" and len(ws) == 1 and not ws[0][1]:
        for number_index in NUMBER_INDEXES:
            try:
                result |= find(store, number_index, text)
            except InvalidTermError:
                pass  # a word that is no valid number is a word
    return store.live(result)


def search(
    store: Catalog,
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
