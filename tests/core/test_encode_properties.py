"""Round-trip properties of the encoder (hypothesis), with strategies built from LC's tables."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import marc8fast as m8

TSV = Path(__file__).parent.parent / "data" / "codetables.tsv"
LEGACY_HALVES = "\ufe20\ufe21\ufe22\ufe23"


def _pools() -> tuple[list[str], list[str], list[str]]:
    bases, marks, eacc = set(), set(), set()
    for line in TSV.read_text().splitlines():
        if line.startswith("#"):
            continue
        final, marc, ucs, _alt, combining, half = line.split("\t")
        if not ucs or (final != "31" and int(marc, 16) & 0x7F < 0x21):
            continue
        ch = chr(int(ucs, 16))
        if combining == "1":
            if not half:  # double diacritics have their own strategy
                marks.add(ch)
        elif final == "31":
            eacc.add(ch)
        else:
            bases.add(ch)
    return sorted(bases), sorted(marks), sorted(eacc)


BASES, MARKS, EACC = _pools()

base = st.one_of(st.sampled_from(BASES), st.just(" "), st.sampled_from(EACC))
marked = st.tuples(base, st.lists(st.sampled_from(MARKS), max_size=3)).map(
    lambda t: t[0] + "".join(t[1])
)
double = st.tuples(st.sampled_from(BASES), st.sampled_from("\u0361\u0360"), st.sampled_from(BASES))
unit = st.one_of(
    marked,
    marked,
    st.lists(st.sampled_from(EACC), min_size=1, max_size=4).map("".join),
    st.text(alphabet="abcXYZ0123 .,&#;", max_size=6),
    double.map("".join),
    st.sampled_from(["\x1f", "\x1e", "\u200d", "\u200c", "\u0098", "\u009c"]),
)
representable = st.lists(unit, max_size=10).map("".join)

anything = st.lists(
    st.one_of(
        st.text(max_size=8),
        unit,
        st.sampled_from(["&#x0041;", "&#X1F600;", "&#x", "&", "\u0301", "😀", "\x1b", "क\u094d"]),
        st.sampled_from(["t\ufe20s\ufe21", "?\ufe22", "a\ufe23", "t\u0361s\ufe21", "\x01", "\x85"]),
        st.sampled_from(LEGACY_HALVES),
    ),
    max_size=8,
).map("".join)

# MARC 21 forbids these controls; the encoder reports them and writes the fill character (tab,
# line feed and carriage return are kept in text, refused only in records).
FORBIDDEN_CONTROLS = {
    cp: None
    for cp in [*range(0x20), *range(0x7F, 0xA0)]
    if chr(cp) not in "\t\n\r\x1d\x1e\x1f\x98\x9c"
}


@settings(max_examples=500, deadline=None)
@given(representable)
def test_decode_of_encode_is_identity(s: str) -> None:
    assert m8.decode(m8.encode(s)) == s


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(representable)
def test_encode_of_decode_is_identity_on_encoder_output(s: str) -> None:
    m = m8.encode(s)
    assert m8.encode(m8.decode(m)) == m


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(anything)
def test_lossless_round_trip_of_any_text(s: str) -> None:
    """Equal after NFD: precomposed characters MARC-8 lacks come back decomposed, and marks
    come back in canonical order. The legacy ligature halves U+FE20-FE23 are included (lossless
    mode writes a half LC's mapping would read as U+0361/U+0360 as a reference); the control
    characters MARC forbids are not (they are written as the fill character)."""
    s = s.translate(FORBIDDEN_CONTROLS)
    data = m8.encode(s, errors="lossless")
    back = m8.decode(data, expand_ncr=True)
    assert unicodedata.normalize("NFD", back) == unicodedata.normalize("NFD", s)


@settings(max_examples=300, deadline=None)
@given(anything)
def test_every_unmappable_character_is_reported(s: str) -> None:
    # (The legacy halves are written as references in lossless mode only.)
    s = s.translate({ord(c): None for c in LEGACY_HALVES})
    strict_ok = True
    try:
        m8.encode(s)
    except UnicodeEncodeError:
        strict_ok = False
    _, problems = m8.encode_report(s)
    assert strict_ok == (not problems)
    for p in problems:
        assert p.char == s[p.offset]
