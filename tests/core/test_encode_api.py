"""marc8fast.encode / encode_report and the native streaming Encoder."""

from __future__ import annotations

import unicodedata

import pytest

import marc8fast as m8


def test_modes() -> None:
    assert m8.encode("Café") == b"Caf\xe2e"
    assert m8.encode("a\u0915b", errors="lossless") == b"a&#x0915;b"
    assert m8.encode("a\u0915b", errors="lossy") == b"a|b"
    assert m8.encode("plain") == b"plain"
    with pytest.raises(ValueError, match="lossless"):
        m8.encode("x", errors="replace")  # type: ignore[arg-type]


def test_strict_error_names_the_character_span() -> None:
    with pytest.raises(UnicodeEncodeError) as exc:
        m8.encode("Ελλάδα — क")
    e = exc.value
    assert (e.encoding, e.object[e.start : e.end]) == ("marc-8", "—")
    assert "U+2014" in e.reason


def test_report_lists_every_unmappable_character() -> None:
    text = "नेपाल & 😀 &#x0041;"
    data, problems = m8.encode_report(text)
    assert [(p.kind, p.offset, p.char, p.action) for p in problems] == [
        ("unmappable", i, text[i], "wrote_ncr") for i in (0, 1, 2, 3, 4, 8)
    ]
    assert m8.decode(data, expand_ncr=True) == text
    _, lossy = m8.encode_report(text, errors="lossy")
    assert {p.action for p in lossy} == {"wrote_fill"}
    # Strict mode reports too (and writes what lossless would).
    assert m8.encode_report(text, errors="strict")[0] == data


def test_streaming_encoder_matches_one_shot() -> None:
    text = "Ελλάδα Москва 人 Cafe\u0301 a\u0915"
    whole = m8.encode(text, errors="lossless")
    for cut in range(len(text) + 1):
        enc = m8.Encoder(errors="lossless")
        a, pa = enc.encode(text[:cut])
        b, pb = enc.encode(text[cut:], final=True)
        assert a + b == whole, cut
        assert [p.offset for p in pa + pb] == [len(text) - 1]
        assert not enc.has_pending_state


def test_large_input_round_trips() -> None:
    text = "Łódź 人 Москва Ἀθῆναι " * 5000
    data = m8.encode(text)
    assert m8.decode(data, normalize="NFC") == unicodedata.normalize("NFC", text)


def test_legacy_ligature_halves_come_back_in_lc_2004_form() -> None:
    assert m8.encode("t\ufe20s\ufe21") == b"\xebt\xecs"
    assert m8.decode(b"\xebt\xecs") == "t\u0361s"
    assert m8.decode(b"\xebt\xecs", legacy_ligatures=True) == "t\ufe20s\ufe21"
    assert m8.encode("t\u0361s") == b"\xebt\xecs"
