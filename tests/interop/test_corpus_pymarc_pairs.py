"""Corpus conformance: pymarc's 1,515 MARC-8 / UTF-8 line pairs (issue 2, acceptance point 2).

Fixtures: ``tests/data/pymarc/test_marc8.txt`` and ``test_utf8.txt`` from the pymarc 5.4.0 source
distribution (BSD-2-Clause, ``tests/data/pymarc/LICENSE``).  pymarc took most of the pairs from
MARC::Charset's test data.  The UTF-8 side is NFC and uses the legacy U+FE20..U+FE23 ligature
halves, so we decode with ``normalize="NFC", legacy_ligatures=True`` and expect an exact match.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import marc8fast

DATA = Path(__file__).parent.parent / "data" / "pymarc"

N_PAIRS = 1515

# Line 1515 (1-based) is the one line pymarc added to MARC::Charset's pairs: "a …“—’”™ z" written
# with non-LC *vendor* EACC codes.  They are not in LC's code tables (codetables.xml), so a
# conforming decoder cannot produce the expected text:
#   21 20 3D -> U+2026 …    21 20 40 -> U+201C “   (second byte 0x20: not an EACC byte at all)
#   7F 20 14 -> U+2014 —    7F 20 19 -> U+2019 ’    7F 20 20 -> U+201D ”    7F 21 22 -> U+2122 ™
#   (first byte 0x7F: outside EACC's 0x21..0x7E range)
# pymarc maps them only because its own table carries these vendor extensions.
EXCLUDED_LINE = 1515
EXCLUDED_CODES = [
    (bytes.fromhex("21203d"), "\u2026"),
    (bytes.fromhex("212040"), "\u201c"),
    (bytes.fromhex("7f2014"), "\u2014"),
    (bytes.fromhex("7f2019"), "\u2019"),
    (bytes.fromhex("7f2020"), "\u201d"),
    (bytes.fromhex("7f2122"), "\u2122"),
]


def _lines(name: str) -> list[bytes]:
    raw = (DATA / name).read_bytes()
    assert raw.endswith(b"\n")
    return raw[:-1].split(b"\n")


@pytest.fixture(scope="module")
def pairs() -> list[tuple[int, bytes, str]]:
    marc8 = _lines("test_marc8.txt")
    utf8 = _lines("test_utf8.txt")
    assert len(marc8) == len(utf8) == N_PAIRS
    return [
        (n, m, u.decode("utf-8"))
        for n, (m, u) in enumerate(zip(marc8, utf8, strict=False), start=1)
    ]


def test_pair_count(pairs):
    assert len(pairs) == N_PAIRS
    assert sum(1 for n, _, _ in pairs if n != EXCLUDED_LINE) == N_PAIRS - 1


def test_all_pairs_match_nfc_legacy_ligatures(pairs):
    failures = []
    for n, m, expected in pairs:
        if n == EXCLUDED_LINE:
            continue
        try:
            got = marc8fast.decode(m, normalize="NFC", legacy_ligatures=True)
        except UnicodeDecodeError as exc:
            failures.append(f"line {n}: {m.hex(' ')}\n    raised {exc!r}")
            continue
        if got != expected:
            failures.append(
                f"line {n}: {m.hex(' ')}\n    expected {expected!r}\n    got      {got!r}"
            )
    assert not failures, f"{len(failures)} of {N_PAIRS - 1} pairs differ:\n" + "\n".join(
        failures[:40]
    )


def test_pairs_also_match_in_default_form_modulo_ligatures_and_nfc(pairs):
    """Same pairs with the default (LC 2004) ligature mapping: only U+FE20..FE23 vs U+0361/U+0360
    and normalization may differ."""
    import unicodedata

    def unlegacy(s: str) -> str:
        return (
            s.replace("\ufe20", "\u0361")
            .replace("\ufe21", "")
            .replace("\ufe22", "\u0360")
            .replace("\ufe23", "")
        )

    failures = []
    for n, m, expected in pairs:
        if n == EXCLUDED_LINE:
            continue
        got = marc8fast.decode(m)
        if unicodedata.normalize("NFD", got) != unicodedata.normalize("NFD", unlegacy(expected)):
            failures.append(
                f"line {n}: {m.hex(' ')}\n    expected {expected!r}\n    got      {got!r}"
            )
    assert not failures, f"{len(failures)} pairs differ:\n" + "\n".join(failures[:40])


def test_excluded_line_is_the_vendor_eacc_line(pairs):
    """Pin down why line 1515 is excluded: it is exactly the six non-LC codes listed above."""
    n, m, expected = pairs[EXCLUDED_LINE - 1]
    assert n == EXCLUDED_LINE
    body = b"".join(code for code, _ in EXCLUDED_CODES)
    assert m == b"a \x1b$1" + body + b"\x1b(B z"
    assert expected == "a " + "".join(ch for _, ch in EXCLUDED_CODES) + " z"
    # Not LC codes: strict decoding must refuse the line rather than guess...
    with pytest.raises(UnicodeDecodeError) as info:
        marc8fast.decode(m)
    assert info.value.encoding == "marc-8"
    assert info.value.start == 5  # the first vendor code, right after "a " and ESC $ 1
    # ...and replace mode reports problems there but keeps the text around them.
    text, problems = marc8fast.decode_report(m)
    assert text.startswith("a ") and text.endswith(" z")
    assert "\ufffd" in text
    assert problems and problems[0].offset == 5
    assert all(5 <= p.offset < 5 + len(body) for p in problems)
