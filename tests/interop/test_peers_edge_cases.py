"""PEERS.md section (b): the byte strings on which the peers disagree (issue 2, acceptance point 4).

Each test names the PEERS (b) item it covers.  The expected outputs are written from DESIGN.md
"Decoding" (and MARC8.md for the byte model), not copied from any peer:

* a call starts with G0 = ASCII, G1 = ANSEL; any set may be designated into G0 or G1, by any
  designation form (incl. ``ESC ) ! E``, ``ESC $ ) 1``, ``ESC $ ( 1``);
* 0x20 is SPACE in every set, at a character boundary (also between EACC characters);
* 88/89/8D/8E -> U+0098/U+009C/U+200D/U+200C, kept;
* marks are emitted after their base, in stored order, with no normalization unless asked;
* EB x EC y -> x U+0361 y and FA x FB y -> x U+0360 y (legacy option: U+FE20..U+FE23 halves);
* bad input is a problem: strict raises UnicodeDecodeError("marc-8") with the bad unit's byte span;
  replace gives one U+FFFD per bad unit and decoding goes on with the next byte.

Items 11-13 of PEERS (b) are about the *encoder* and belong to a later issue: no tests here.
Code points were checked against tests/data/codetables.tsv (LC codetables.xml).
"""

from __future__ import annotations

import codecs

import pytest

import marc8fast


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def only_problem(data: bytes):
    text, problems = marc8fast.decode_report(data)
    assert len(problems) == 1, problems
    return text, problems[0]


# --------------------------------------------------------------------------------------------
# PEERS (b) 1: Cyrillic (and Hebrew, Arabic) designated into G1


def test_peers_b1_cyrillic_in_g1():
    assert marc8fast.decode(h("1b294e edcfd3 1b2945")) == "\u041c\u043e\u0441"  # Мос


def test_peers_b1_cyrillic_in_g1_back_to_ansel_with_bang_e():
    # ESC ) ! E is ANSEL's other final form; after it E2 is the acute again.
    assert marc8fast.decode(h("1b294e edcfd3 1b292145 e265")) == "\u041c\u043e\u0441e\u0301"


def test_peers_b1_hebrew_in_g1():
    # Hebrew set '2': 60 alef, 61 bet, 6C lamed; as GR bytes E0 E1 EC
    assert marc8fast.decode(h("1b2932 e0e1ec 1b2945")) == "\u05d0\u05d1\u05dc"


def test_peers_b1_arabic_in_g1():
    # Basic Arabic set '3': 47 alef, 48 beh, 4C jeem; as GR bytes C7 C8 CC
    assert marc8fast.decode(h("1b2933 c7c8cc 1b2945")) == "\u0627\u0628\u062c"


def test_peers_b1_no_problems_reported():
    for data in ("1b294e edcfd3 1b2945", "1b2932 e0e1ec 1b2945", "1b2933 c7c8cc 1b2945"):
        assert marc8fast.decode_report(h(data))[1] == []


# --------------------------------------------------------------------------------------------
# PEERS (b) 2: yaz's G0 form of Extended Cyrillic / Extended Arabic, and the G1 form of the others


def test_peers_b2_extended_cyrillic_in_g0_yaz_form():
    assert marc8fast.decode(h("1b2851 6047 1b2842")) == "\u0490\u0457"  # Ґї


def test_peers_b2_extended_cyrillic_in_g1_marc4j_form():
    assert marc8fast.decode(h("1b2951 e0c7 1b2945")) == "\u0490\u0457"


def test_peers_b2_extended_arabic_in_g0_yaz_form():
    assert marc8fast.decode(h("1b2834 29 1b2842")) == "\u067e"  # پ


def test_peers_b2_extended_arabic_in_g1():
    assert marc8fast.decode(h("1b2934 a9 1b2945")) == "\u067e"


# --------------------------------------------------------------------------------------------
# PEERS (b) 3: a single-byte SPACE inside EACC


def test_peers_b3_space_inside_eacc():
    assert marc8fast.decode(h("1b2431 213034 20 214258 1b2842")) == "\u4e2d \u6587"  # 中 文


def test_peers_b3_space_inside_eacc_then_ascii_not_lost():
    # MARC::Charset writes "中文 abc" this way; nothing after the space may be lost
    data = h("1b2431 213034 214258 20 1b2842 616263")
    assert marc8fast.decode(data) == "\u4e2d\u6587 abc"


def test_peers_b3_space_inside_eacc_then_technique1_return():
    assert marc8fast.decode(h("1b2431 213034 214258 20 1b73 616263")) == "\u4e2d\u6587 abc"


def test_peers_b3_space_as_third_byte_is_part_of_the_code():
    # MARC8.md: 0x20 is SPACE only at a character boundary, "21 23 20" is one EACC code.
    # 21 30 34 then 21 23 20: the second triple is EACC 212320 = U+3000 IDEOGRAPHIC SPACE
    # (codetables.tsv), not "21 23" + SPACE.
    text, problems = marc8fast.decode_report(h("1b2431 213034 212320 1b2842"))
    assert text == "\u4e2d\u3000"
    assert problems == []


# --------------------------------------------------------------------------------------------
# PEERS (b) 4: double diacritics (ligature)


def test_peers_b4_ligature_default_lc_2004_mapping():
    assert marc8fast.decode(h("eb74ec73")) == "t\u0361s"


def test_peers_b4_ligature_legacy_halves():
    assert marc8fast.decode(h("eb74ec73"), legacy_ligatures=True) == "t\ufe20s\ufe21"


def test_peers_b4_double_tilde_default_and_legacy():
    assert marc8fast.decode(h("fa6efb67")) == "n\u0360g"
    assert marc8fast.decode(h("fa6efb67"), legacy_ligatures=True) == "n\ufe22g\ufe23"


def test_peers_b4_b6_ligature_second_half_without_base_is_a_problem_in_both_forms():
    """EB t EC at the end: the EC (a mark) has no base after it.  DESIGN: a mark with no base is
    a problem, whatever output form is chosen for the ligature (legacy or LC 2004)."""
    data = h("eb74ec")
    for legacy, first_half in ((False, "\u0361"), (True, "\ufe20")):
        text, problems = marc8fast.decode_report(data, legacy_ligatures=legacy)
        assert text == "t" + first_half + "\ufffd", legacy
        assert [(p.kind, p.offset, p.length) for p in problems] == [("mark_without_base", 2, 1)]
        with pytest.raises(UnicodeDecodeError) as info:
            marc8fast.decode(data, legacy_ligatures=legacy)
        assert (info.value.start, info.value.end) == (2, 3)


# --------------------------------------------------------------------------------------------
# PEERS (b) 5: normalization only when asked


def test_peers_b5_no_normalization_by_default():
    assert marc8fast.decode(h("436166e265")) == "Cafe\u0301"


def test_peers_b5_nfc_and_nfd_when_asked():
    assert marc8fast.decode(h("436166e265"), normalize="NFC") == "Caf\u00e9"
    assert marc8fast.decode(h("436166e265"), normalize="NFD") == "Cafe\u0301"


def test_peers_b5_greek_singletons_not_normalized_by_default():
    # Greek question mark and ano teleia: NFC would rewrite them to ; and ·
    assert marc8fast.decode(h("1b2853 3f3b 1b2842")) == "\u037e\u0387"


def test_peers_b5_greek_singletons_nfc_only_when_asked():
    assert marc8fast.decode(h("1b2853 3f3b 1b2842"), normalize="NFC") == "\u003b\u00b7"


def test_peers_b5_marks_in_stored_order_not_canonical_order():
    # MARC8.md §3: E3 F2 61 -> a U+0302 U+0323 (stored order), NFC gives U+1EAD
    assert marc8fast.decode(h("e3f261")) == "a\u0302\u0323"
    assert marc8fast.decode(h("e3f261"), normalize="NFC") == "\u1ead"


# --------------------------------------------------------------------------------------------
# PEERS (b) 6: trailing diacritic (mark without base)


def test_peers_b6_trailing_mark_strict_raises_with_span():
    with pytest.raises(UnicodeDecodeError) as info:
        marc8fast.decode(h("616263e2"))
    err = info.value
    assert err.encoding == "marc-8"
    assert (err.start, err.end) == (3, 4)
    assert err.object == h("616263e2")


def test_peers_b6_trailing_mark_replace():
    assert marc8fast.decode(h("616263e2"), errors="replace") == "abc\ufffd"


def test_peers_b6_trailing_mark_report():
    text, p = only_problem(h("616263e2"))
    assert text == "abc\ufffd"
    assert p.kind == "mark_without_base"
    assert (p.offset, p.length, p.bytes) == (3, 1, b"\xe2")


# --------------------------------------------------------------------------------------------
# PEERS (b) 7: undefined byte


def test_peers_b7_undefined_byte_strict():
    with pytest.raises(UnicodeDecodeError) as info:
        marc8fast.decode(h("61af62"))
    assert info.value.encoding == "marc-8"
    assert (info.value.start, info.value.end) == (1, 2)


def test_peers_b7_undefined_byte_replace_keeps_what_follows():
    assert marc8fast.decode(h("61af62"), errors="replace") == "a\ufffdb"


def test_peers_b7_undefined_byte_report():
    text, p = only_problem(h("61af62"))
    assert text == "a\ufffdb"
    assert p.kind == "unmapped_byte"
    assert (p.offset, p.length, p.bytes) == (1, 1, b"\xaf")
    assert (p.g0, p.g1) == ("ascii", "ansel")
    assert p.action == "replaced"
    assert isinstance(p.message, str) and p.message


# --------------------------------------------------------------------------------------------
# PEERS (b) 8: NSB/NSE and ZWJ/ZWNJ are kept


def test_peers_b8_zwj_zwnj_kept():
    assert marc8fast.decode(h("618d628e63")) == "a\u200db\u200cc"


def test_peers_b8_nsb_nse_kept():
    assert marc8fast.decode(h("8874686589")) == "\u0098the\u009c"


# --------------------------------------------------------------------------------------------
# PEERS (b) 9: unknown escape


def test_peers_b9_unknown_escape_strict():
    with pytest.raises(UnicodeDecodeError) as info:
        marc8fast.decode(h("61621b285a6364"))
    assert info.value.encoding == "marc-8"
    assert (info.value.start, info.value.end) == (2, 5)


def test_peers_b9_unknown_escape_replace_keeps_what_follows():
    assert marc8fast.decode(h("61621b285a6364"), errors="replace") == "ab\ufffdcd"


def test_peers_b9_unknown_escape_report():
    text, p = only_problem(h("61621b285a6364"))
    assert text == "ab\ufffdcd"
    assert p.kind == "unknown_escape"
    assert (p.offset, p.length, p.bytes) == (2, 3, b"\x1b(Z")


# --------------------------------------------------------------------------------------------
# PEERS (b) 10: EACC designated into G1, and the other multibyte designation forms


def test_peers_b10_eacc_in_g1():
    assert marc8fast.decode(h("1b242931 a1b0b4 1b2945")) == "\u4e2d"  # EACC 213034 = U+4E2D


def test_peers_b10_eacc_in_g1_then_ansel_again():
    assert marc8fast.decode(h("1b242931 a1b0b4 1b2945 e265")) == "\u4e2de\u0301"


@pytest.mark.parametrize(
    "designation",
    ["1b2431", "1b242831", "1b242c31"],  # ESC $ 1, ESC $ ( 1, ESC $ , 1
)
def test_peers_b10_eacc_in_g0_every_form(designation):
    assert marc8fast.decode(h(designation + "213034 1b2842 41")) == "\u4e2dA"


# --------------------------------------------------------------------------------------------
# PEERS (b) 14: what peers lose in bulk runs


def test_peers_b14_eacc_not_lost_at_chunk_boundaries():
    """yaz-iconv drops a CJK character whenever its 64-byte read boundary falls inside the triple.
    Feeding the incremental decoder in chunks, split at every byte offset, must lose nothing."""
    data = h("1b2431") + h("213034 214258") * 20 + h("1b2842") + b"end"
    expected = "\u4e2d\u6587" * 20 + "end"
    assert marc8fast.decode(data) == expected
    factory = codecs.getincrementaldecoder("marc8")
    for cut in range(1, len(data)):
        dec = factory()
        got = dec.decode(data[:cut]) + dec.decode(data[cut:], final=True)
        assert got == expected, f"split at byte {cut}"
    # and in fixed 64-byte chunks, as yaz-iconv reads
    dec = factory()
    got = "".join(dec.decode(data[i : i + 64]) for i in range(0, len(data), 64)) + dec.decode(
        b"", final=True
    )
    assert got == expected


def test_peers_b14_tab_newline_carriage_return_not_dropped():
    """yaz-iconv drops LF, CR and TAB.  C0 controls are independent of the designated sets
    (MARC8.md §0); DESIGN: nothing is silently lost."""
    assert marc8fast.decode(h("61 09 62 0a 63 0d 64")) == "a\tb\nc\rd"


def test_peers_b14_mark_before_space_stays_on_the_space():
    """MARC::Charset moves a diacritic that precedes a space onto the next letter ("a ĺos").
    SPACE is a character in every set, so a mark stored before it is emitted after it."""
    assert marc8fast.decode(h("61 e2 20 6c6f73")) == "a \u0301los"


@pytest.mark.parametrize(
    "data, expected",
    [
        ("1b284e 6d4f 20 6d4f 1b2842", "\u041c\u043e \u041c\u043e"),  # Cyrillic in G0
        ("1b2932 e0e1 20 ecf9 1b2945", "\u05d0\u05d1 \u05dc\u05e9"),  # Hebrew in G1
        ("1b2833 4748 20 4c 1b2842", "\u0627\u0628 \u062c"),  # Arabic in G0
        ("1b62 3031 20 31 1b73", "\u2080\u2081 \u2081"),  # subscript (technique 1)
    ],
)
def test_peers_b14_space_inside_non_latin_sets_is_a_plain_space(data, expected):
    """pymarc/rmarc warn "Unable to parse character 0x20" for every space inside Hebrew, Arabic,
    Cyrillic or subscript text.  0x20 is SPACE in every set: no problem, no warning."""
    text, problems = marc8fast.decode_report(h(data))
    assert text == expected
    assert problems == []
