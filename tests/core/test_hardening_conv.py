"""Issue 9, the converters' part: NCR injection, structural bytes, the legacy ligature halves in a
lossless round trip, control characters, and the smaller points (a mark after a C1 special, a raw
ESC in a UTF-8 record, decoder offsets after setstate)."""

from __future__ import annotations

import unicodedata

import pytest

import marc8fast as m8
from marc8fast import _native


def rec(fields: list[tuple[bytes, bytes]], ldr09: bytes = b" ") -> bytes:
    """A record from (tag, data) pairs; the data gets its field terminator here."""
    directory = b""
    body = b""
    for tag, data in fields:
        x = data + b"\x1e"
        directory += tag + b"%04d%05d" % (len(x), len(body))
        body += x
    base = 24 + len(directory) + 1
    total = base + len(body) + 1
    leader = b"%05dnam " % total + ldr09 + b"22%05d a 4500" % base
    return leader + directory + b"\x1e" + body + b"\x1d"


def subfields(record: bytes, tag: bytes) -> list[bytes]:
    recs, _ = m8.read_records_report(record)
    assert len(recs) == 1
    fields = [f for f in _fields(record) if f[0] == tag]
    assert len(fields) == 1
    return fields[0][1].split(b"\x1f")[1:]


def _fields(record: bytes) -> list[tuple[bytes, bytes]]:
    base = int(record[12:17])
    out = []
    d = record[24 : base - 1]
    for i in range(0, len(d), 12):
        e = d[i : i + 12]
        length, start = int(e[3:7]), int(e[7:12])
        out.append((e[:3], record[base + start : base + start + length - 1]))
    return out


# ------------------------------------------------------------------------------------------------
# 1. NCR injection

STRUCTURAL_NCRS = [b"&#x001B;", b"&#x001F;", b"&#x001E;", b"&#x001D;", b"&#x001f;", b"&#X0001;"]


@pytest.mark.parametrize("ncr", STRUCTURAL_NCRS)
def test_ncr_of_a_control_stays_text_in_decode(ncr: bytes) -> None:
    src = b"ab" + ncr + b"cd"
    text, problems = m8.decode_report(src, expand_ncr=True)
    assert text == src.decode("ascii")
    assert [(p.kind, p.offset, p.length, p.bytes, p.action) for p in problems] == [
        ("control_character", 2, len(ncr), ncr, "kept_as_text")
    ]
    assert "control character" in problems[0].message
    with pytest.raises(UnicodeDecodeError):
        m8.decode(src, expand_ncr=True)
    # Other references still expand, before and after.
    assert m8.decode(b"&#x00E9;" + src + b"&#x00E9;", errors="replace", expand_ncr=True) == (
        "é" + src.decode("ascii") + "é"
    )


def test_ncrs_of_del_and_c1_controls_stay_text_but_nsb_nse_expand() -> None:
    for ncr in (b"&#x007F;", b"&#x0085;", b"&#x0000;"):
        text, problems = m8.decode_report(ncr, expand_ncr=True)
        assert text == ncr.decode("ascii")
        assert [p.kind for p in problems] == ["control_character"]
    assert m8.decode(b"&#x0098;The &#x009C;End", expand_ncr=True) == "\x98The \x9cEnd"


@pytest.mark.parametrize("ncr", STRUCTURAL_NCRS[:4])
@pytest.mark.parametrize("ldr09", [b" ", b"a"])
def test_ncr_cannot_inject_structure_into_a_record(ncr: bytes, ldr09: bytes) -> None:
    title = "Titlé".encode() if ldr09 == b"a" else b"Titl\xe2e"
    decoded = "Titlé" if ldr09 == b"a" else "Title\u0301"
    raw = rec([(b"001", b"123"), (b"245", b"10\x1fa" + title + ncr + b"zinjected\x1fbxyz")], ldr09)
    out, problems = m8.transcode_record(raw, to="utf8", expand_ncr=True)
    assert out is not None
    assert [(p.kind, p.tag, p.subfield, p.action) for p in problems] == [
        ("control_character", "245", "a", "kept_as_text")
    ]
    assert problems[0].bytes == ncr
    codes = subfields(out, b"245")
    assert codes == [b"a" + decoded.encode() + ncr + b"zinjected", b"bxyz"]
    recs, split_problems = m8.read_records_report(out)
    assert len(recs) == 1 and split_problems == []
    # ...and back to MARC-8 the reference is still text (its `&` protected, as any literal `&#x`).
    back, problems = m8.transcode_record(out, to="marc8")
    assert back is not None and problems == []
    assert subfields(back, b"245")[0].endswith(b"&#x0026;" + ncr[1:] + b"zinjected")
    again, problems = m8.transcode_record(back, to="utf8", expand_ncr=True)
    assert again is not None and problems == []
    a, b = subfields(again, b"245")
    assert a.endswith(ncr + b"zinjected") and b == b"bxyz"


@pytest.mark.parametrize("ldr09", [b" ", b"a"])
def test_validate_reports_an_ncr_of_a_control(ldr09: bytes) -> None:
    # Other references are listed as ncr_present (informational); one to a control is an error.
    raw = rec([(b"245", b"10\x1faA&#x001F;b&#x00E9;\x1fb&#x001b;")], ldr09)
    report = m8.validate_bytes(raw)
    assert report.counts_by_kind() == {"control_character": 2, "ncr_present": 1}
    got = [(p.kind, p.subfield, p.offset, p.field_offset) for p in report.problems]
    assert got == [
        ("control_character", "a", 1, 5),
        ("ncr_present", "a", 10, 14),
        ("control_character", "b", 0, 24),
    ]


# ------------------------------------------------------------------------------------------------
# 2. Structural bytes


def test_non_ascii_indicator_and_subfield_code_are_reported_and_replaced() -> None:
    raw = rec([(b"001", b"1"), (b"245", b"1\xe2\x1f\xb9abc\x1fb\xe2e")])
    for to in ("utf8", "marc8"):
        out, problems = m8.transcode_record(raw, to=to)
        assert out is not None
        if to == "utf8":
            out.decode("utf-8")  # never invalid UTF-8
        got = [(p.kind, p.tag, p.field_offset, p.bytes, p.action) for p in problems]
        assert got == [
            ("bad_indicator", "245", 1, b"\xe2", "replaced"),
            ("bad_subfield_code", "245", 3, b"\xb9", "replaced"),
        ], to
        data = dict(_fields(out))[b"245"]
        assert data[:2] == b"1|" and data[2:4] == b"\x1f|"
        for p in problems:
            assert "|" in p.message


def test_non_ascii_tag_is_reported_and_replaced() -> None:
    raw = rec([(b"001", b"1"), (b"\xc945", b"10\x1faabc")])
    out, problems = m8.transcode_record(raw, to="utf8")
    assert out is not None
    out.decode("utf-8")
    assert [(p.kind, p.bytes, p.action) for p in problems] == [("bad_tag", b"\xc945", "replaced")]
    assert [t for t, _ in _fields(out)] == [b"001", b"|45"]


def test_structural_bytes_in_strict_mode_reject_the_record() -> None:
    raw = rec([(b"245", b"1\xe2\x1faabc")])
    out, problems = m8.transcode_record(raw, to="utf8", errors="strict")
    assert out is None
    assert [(p.kind, p.action) for p in problems] == [("bad_indicator", "rejected")]


def test_validate_reports_a_structural_byte_once() -> None:
    raw = rec([(b"245", b"1\xe2\x1f\xb9abc")])
    kinds = m8.validate_bytes(raw).counts_by_kind()
    assert kinds == {"bad_indicator": 1, "bad_subfield_code": 1}


# ------------------------------------------------------------------------------------------------
# 3. The legacy ligature halves in a lossless round trip


@pytest.mark.parametrize(
    "s",
    [
        "?\ufe22",
        "\xfc\ufe20",
        "t\ufe20s\ufe21",
        "\u0404\ufe20",
        "x\ufe21y",
        "t\u0361s\ufe21",
        "a\ufe23",
    ],
)
def test_legacy_halves_survive_a_lossless_round_trip(s: str) -> None:
    data, problems = m8.encode_report(s, errors="lossless")
    back = m8.decode(data, expand_ncr=True)
    assert unicodedata.normalize("NFD", back) == unicodedata.normalize("NFD", s)
    # Any half written as a reference is reported.
    written = data.count(b"&#xFE2")
    assert written == len([p for p in problems if p.char in "\ufe20\ufe21\ufe22\ufe23"])


def test_legacy_halves_keep_their_codes_in_strict_and_lossy_modes() -> None:
    assert m8.encode("t\ufe20s\ufe21") == b"\xebt\xecs"
    assert m8.encode("t\ufe20s\ufe21", errors="lossy") == b"\xebt\xecs"


# ------------------------------------------------------------------------------------------------
# 4. Control characters


@pytest.mark.parametrize("byte", [0x00, 0x01, 0x0B, 0x0C, 0x1C, 0x7F, 0x80, 0x9F])
def test_control_byte_in_marc8_is_reported(byte: int) -> None:
    src = b"ab" + bytes([byte]) + b"cd"
    text, problems = m8.decode_report(src)
    assert text == "ab\ufffdcd"
    assert [(p.kind, p.offset, p.bytes, p.action) for p in problems] == [
        ("control_character", 2, bytes([byte]), "replaced")
    ]
    with pytest.raises(UnicodeDecodeError) as e:
        m8.decode(src)
    assert e.value.start == 2
    assert not _native.is_verbatim(src)


def test_tab_and_line_ends_pass_in_text_but_not_in_records() -> None:
    # The string calls and the codec read and write text, whose lines they keep...
    assert m8.decode(b"a\tb\r\nc") == "a\tb\r\nc"
    assert m8.encode("a\tb\r\nc") == b"a\tb\r\nc"
    # ...MARC 21 field data holds no such control (test_control_characters_in_records_both_ways).
    raw = rec([(b"245", b"10\x1faA\tB\nC")])
    assert m8.validate_bytes(raw).counts_by_kind() == {"control_character": 2}


def test_marc_controls_still_pass() -> None:
    assert m8.decode(b"a\x1fb\x1ec\x1d") == "a\x1fb\x1ec\x1d"
    assert m8.decode(b"\x88The \x89end\x8d\x8e") == "\x98The \x9cend\u200d\u200c"
    assert m8.encode("a\x1fb\x1ec\x1d") == b"a\x1fb\x1ec\x1d"


@pytest.mark.parametrize("ch", ["\x01", "\x0b", "\x1b", "\x7f", "\x85", "\x9b"])
def test_control_character_in_text_is_reported_when_encoding(ch: str) -> None:
    s = "ab" + ch + "cd"
    with pytest.raises(UnicodeEncodeError) as e:
        m8.encode(s)
    assert e.value.start == 2
    for mode, action in (("lossless", "wrote_fill"), ("lossy", "wrote_fill")):
        data, problems = m8.encode_report(s, errors=mode)
        assert data == b"ab|cd"
        assert [(p.kind, p.offset, p.char, p.action) for p in problems] == [
            ("control_character", 2, ch, action)
        ]
        assert m8.encode(s, errors=mode) == b"ab|cd"


def test_control_characters_in_records_both_ways() -> None:
    # MARC-8 source, to UTF-8.
    raw = rec([(b"001", b"1"), (b"245", b"10\x1faA\x01B\x1fbC\rD")])
    out, problems = m8.transcode_record(raw, to="utf8")
    assert out is not None
    assert [(p.kind, p.subfield, p.offset, p.field_offset) for p in problems] == [
        ("control_character", "a", 1, 5),
        ("control_character", "b", 1, 10),
    ]
    assert subfields(out, b"245") == ["aA\ufffdB".encode(), "bC\ufffdD".encode()]
    # UTF-8 source, to MARC-8: the fill character.
    raw = rec([(b"001", b"1"), (b"245", "10\x1faé\x01B\x1fbC\rD".encode())], b"a")
    out, problems = m8.transcode_record(raw, to="marc8")
    assert out is not None
    assert [(p.kind, p.subfield, p.offset, p.action) for p in problems] == [
        ("control_character", "a", 1, "wrote_fill"),
        ("control_character", "b", 1, "wrote_fill"),
    ]
    assert subfields(out, b"245") == [b"a\xe2e|B", b"bC|D"]
    # UTF-8 source, to UTF-8: U+FFFD.
    out, problems = m8.transcode_record(raw, to="utf8")
    assert out is not None
    assert [(p.kind, p.field_offset, p.bytes) for p in problems] == [
        ("control_character", 6, b"\x01"),
        ("control_character", 11, b"\r"),
    ]
    assert subfields(out, b"245") == ["aé\ufffdB".encode(), "bC\ufffdD".encode()]
    # Strict rejects.
    out, problems = m8.transcode_record(raw, to="marc8", errors="strict")
    assert out is None
    assert {p.action for p in problems} == {"rejected"}


def test_control_character_in_an_ascii_control_field() -> None:
    raw = rec([(b"001", b"12\t3"), (b"245", b"10\x1faA")])
    out, problems = m8.transcode_record(raw, to="utf8")
    assert out is not None
    assert [(p.kind, p.tag, p.offset) for p in problems] == [("control_character", "001", 2)]


def test_c1_control_in_utf8_record_and_validate() -> None:
    raw = rec([(b"245", "10\x1faA\x85B".encode())], b"a")
    assert m8.validate_bytes(raw).counts_by_kind() == {"control_character": 1}
    raw = rec([(b"245", b"10\x1faA\x01B\x1fbok")])
    report = m8.validate_bytes(raw)
    assert report.counts_by_kind() == {"control_character": 1}
    p = report.problems[0]
    assert (p.tag, p.subfield, p.offset, p.field_offset) == ("245", "a", 1, 5)


def test_mark_without_base_when_encoding() -> None:
    for s, at in (("\u0301a", 0), ("a\x1f\u0301", 2), ("a\u0098\u0301", 2), ("a\u200d\u0308", 2)):
        with pytest.raises(UnicodeEncodeError) as e:
            m8.encode(s)
        assert e.value.start == at
        data, problems = m8.encode_report(s, errors="lossless")
        assert [p.kind for p in problems] == ["mark_without_base"]
        msg = problems[0].message
        assert "no MARC-8 equivalent" not in msg
        assert "base" in msg
        assert m8.decode(data, expand_ncr=True) == s


# ------------------------------------------------------------------------------------------------
# 5. Smaller points


def test_raw_esc_in_a_utf8_record_is_a_control_character() -> None:
    raw = rec([(b"001", b"1"), (b"245", "10\x1faé\x1bx".encode())], b"a")
    out, problems = m8.transcode_record(raw, to="utf8")
    assert out is not None
    assert [(p.kind, p.field_offset) for p in problems] == [("control_character", 6)]
    assert m8.validate_bytes(raw).counts_by_kind() == {"control_character": 1}


def test_a_real_marc8_escape_in_a_utf8_labelled_record_is_still_mislabelled() -> None:
    raw = rec([(b"245", b"10\x1fa\x1b(NABC\x1b(B")], b"a")
    _, problems = m8.transcode_record(raw, to="utf8", trust="data")
    assert [p.kind for p in problems] == ["mislabelled"]
    assert "escape sequences" in problems[0].message
    # Trusting the leader, the data is read as UTF-8, where each ESC is a control character.
    _, problems = m8.transcode_record(raw, to="utf8")
    assert [p.kind for p in problems] == ["mislabelled", "control_character", "control_character"]


def test_decoder_offsets_continue_after_setstate() -> None:
    d = _native.Decoder(errors="replace")
    _, problems = d.decode(b"abc\xe2")
    assert problems == []
    d.setstate(*d.getstate())
    _, problems = d.decode(b"\x01x")
    assert [(p.kind, p.offset) for p in problems] == [("control_character", 4)]
    d.decode(b"\xe2")
    d.setstate(*d.getstate())
    _, problems = d.decode(b"", final=True)
    assert [(p.kind, p.offset) for p in problems] == [("mark_without_base", 6)]
