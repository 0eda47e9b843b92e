"""Hypothesis properties of the decoder, through the Python API."""

from __future__ import annotations

import codecs
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

import marc8fast as m8

PIECES = [
    b"\x1b(B", b"\x1b(N", b"\x1b)Q", b"\x1b$1", b"\x1b$)1", b"\x1b)!E", b"\x1bg", b"\x1bs",
    b"\x1b(S", b"\x1b(2", b"\x1b(3", b"\x1b)4", b"\x1b(Z", b"\x1b", b"\x1f", b"\x1e",
    b"&#x00E9;", b"&#x12", b"\xeb", b"\xec", b"\xe2", b"\x21\x30\x64", b" ",
]  # fmt: skip

marc8ish = st.lists(
    st.one_of(
        st.binary(max_size=6),
        st.sampled_from(PIECES),
        st.binary(max_size=4).map(lambda b: bytes(x | 0x80 for x in b)),
    ),
    max_size=20,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(marc8ish, st.booleans(), st.booleans())
def test_replace_mode_never_raises(data: bytes, ncr: bool, legacy: bool) -> None:
    text, problems = m8.decode_report(data, expand_ncr=ncr, legacy_ligatures=legacy)
    assert m8.decode(data, errors="replace", expand_ncr=ncr, legacy_ligatures=legacy) == text
    assert text.count("\ufffd") == sum(p.action == "replaced" for p in problems)
    for p in problems:
        assert data[p.offset : p.offset + p.length] == p.bytes or p.kind == "malformed_ncr"


@settings(max_examples=400, deadline=None)
@given(marc8ish)
def test_normalize_options_equal_unicodedata(data: bytes) -> None:
    raw = m8.decode(data, errors="replace")
    assert m8.decode(data, errors="replace", normalize="NFC") == unicodedata.normalize("NFC", raw)
    assert m8.decode(data, errors="replace", normalize="NFD") == unicodedata.normalize("NFD", raw)


@settings(max_examples=300, deadline=None)
@given(marc8ish, st.lists(st.integers(min_value=0, max_value=200), max_size=4))
def test_incremental_equals_one_shot(data: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=False)]
    got = "".join(codecs.iterdecode(chunks, "marc8", errors="replace"))
    assert got == m8.decode(data, errors="replace")


@settings(max_examples=300, deadline=None)
@given(marc8ish)
def test_strict_raises_at_the_first_reported_problem(data: bytes) -> None:
    _, problems = m8.decode_report(data)
    try:
        m8.decode(data)
    except UnicodeDecodeError as e:
        assert problems and e.start == problems[0].offset
        assert e.end == problems[0].offset + problems[0].length
    else:
        assert not problems
