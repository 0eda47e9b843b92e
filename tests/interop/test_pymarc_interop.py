"""marc8fast.pymarc against pymarc's own reader (issue 4, acceptance point 6).

On the corpus files below, ``marc8fast.pymarc.MARCReader(..., to_unicode=True)`` must give the
records ``pymarc.MARCReader(..., to_unicode=True)`` gives, field by field, modulo the differences
documented in ``marc8fast/pymarc.py``.  Each one is classified here and counted per file
(``EXPECTED``), so nothing else can slip through:

* ``nfc_ligatures``  -- we give the characters as stored and LC's U+0361/U+0360 for double
  diacritics; pymarc gives NFC and the legacy halves U+FE20-FE23.  Reading with
  ``normalize="NFC", legacy_ligatures=True`` removes the difference: the comparison is made with
  that reader (and, separately, the default reader must equal ``marc8fast.decode`` per subfield);
* ``066_dropped``    -- field 066 of a MARC-8 record describes MARC-8 escapes; we drop it;
* ``controls_dropped`` -- pymarc drops every C0/C1 byte, 0x88/0x89/0x8D/0x8E included; we keep
  the four specials (U+0098/U+009C/U+200D/U+200C): removing them from our text gives pymarc's
  (a stray 0x0C is a ``control_character``, U+FFFD in our text: counted as ``bad_as_space``);
* ``pymarc_space_for_char`` -- pymarc writes a space for a character it cannot read (Extended
  Cyrillic in G1, ...); we give the character: same length, the differences are pymarc's spaces;
* ``bad_as_space``   -- where we write U+FFFD (and report a problem), pymarc writes a space, three
  spaces (EACC) or nothing: our text with each U+FFFD matched by 0-3 spaces gives pymarc's;
* ``bad_bytes_pymarc_differs`` -- where we write U+FFFD for a bad unit, pymarc does something
  else (eats the byte after an unknown escape, loses its alignment in a broken EACC run and turns
  the rest of the subfield into spaces, ...): the texts agree up to our first U+FFFD;
* ``pymarc_lost_record`` -- pymarc yields ``None`` (an exception inside its decoder); we give the
  record;
* anything else must be listed in ``EXPLICIT`` with its reason.
"""

from __future__ import annotations

import io
import re
import sys
import unicodedata
from collections import Counter

import pymarc
import pytest
from test_records_corpus import DATA

import marc8fast
import marc8fast.pymarc as m8pymarc
from marc8fast.pymarc import MARCReader, record_to_marc8, record_to_utf8

FILES = [
    "realworld/uva_001_2000.mrc",
    "realworld/lul_fre_500.mrc",
    "realworld/jazz_1k.mrc",
    "realworld/specTestRecs.mrc",
    "realworld/hebrew.marc",
    "realworld/formatRecs.mrc",
    "realworld/u2103_raw.mrc",
    "marc4j/brkrtest.mrc",
    "marc4j/brkrtest_UTF8.mrc",
    "yaz/marc7.marc",
    "yaz/marc9.marc",
    "yaz/marc12.marc",
    "records/marc-charset/cjk1.marc",
    "records/marc-charset/cyrillic.marc",
    "records/marc-charset/hebrew1.marc",
    "records/marc4j/diacritic4.mrc",
    "records/marc4j/chinese_mangled_multibyte.mrc",
    "records/marc4j/incomplete_esc_seq.mrc",
    "records/marc4js/marc8_utf8_mixed.mrc",
    "records/pymarc/bad_eacc_encoding.dat",
    "records/pymarc/bad_marc8_escape.dat",
    "records/pymarc/test.dat",
    "encoder/marc4js/utf8_only.mrc",
]

# (file, 0-based record index, tag) -> reason, for differences the classes above do not explain
EXPLICIT: dict[tuple[str, int, str], str] = {}

# file -> difference classes and their counts (pinned from a run against pymarc 5.4.0; every
# other file of FILES is identical field by field).  Notable ones:
#   yaz/marc12.marc: two 880s hold a stray 0x0C (form feed) between EACC runs: pymarc drops it;
#     one 880 has a broken EACC triple: pymarc loses the rest of the subfield (spaces);
#   cyrillic.marc: Extended Cyrillic in G1 (њ, љ, Ј): pymarc gives spaces;
#   incomplete_esc_seq.mrc: a lone ESC at the end of a subfield makes pymarc's decoder raise, so
#     its reader yields None for the whole record; ours gives the record with U+FFFD + problems;
#   bad_marc8_escape.dat: unknown escapes (ESC t, ESC e ...): pymarc eats the byte after ESC.
EXPECTED: dict[str, dict[str, int]] = {
    "realworld/uva_001_2000.mrc": {"066_dropped": 1},
    "realworld/specTestRecs.mrc": {"066_dropped": 5},
    "realworld/hebrew.marc": {"bad_as_space": 1},
    "realworld/u2103_raw.mrc": {"066_dropped": 1, "bad_as_space": 2},
    "yaz/marc9.marc": {"066_dropped": 1},
    "yaz/marc12.marc": {"066_dropped": 1, "bad_as_space": 2, "bad_bytes_pymarc_differs": 1},
    "records/marc-charset/cjk1.marc": {"066_dropped": 1},
    "records/marc-charset/cyrillic.marc": {"066_dropped": 1, "pymarc_space_for_char": 2},
    "records/marc-charset/hebrew1.marc": {"066_dropped": 1},
    "records/marc4j/chinese_mangled_multibyte.mrc": {
        "066_dropped": 3,
        "bad_as_space": 16,
        "bad_bytes_pymarc_differs": 3,
    },
    "records/marc4j/incomplete_esc_seq.mrc": {"pymarc_lost_record": 1},
    "records/pymarc/bad_eacc_encoding.dat": {"066_dropped": 1, "bad_as_space": 1},
    "records/pymarc/bad_marc8_escape.dat": {"bad_bytes_pymarc_differs": 7, "bad_as_space": 1},
}


def ours(data: bytes, **kw):
    return list(MARCReader(data, to_unicode=True, hide_utf8_warnings=True, **kw))


def theirs(data: bytes):
    """pymarc's records; a None for a stretch of line ends between records is left out (our
    reader skips such padding silently, like the splitter; documented)."""
    reader = pymarc.MARCReader(data, to_unicode=True, hide_utf8_warnings=True)
    out = []
    for rec in reader:
        if rec is None and not reader.current_chunk.strip(b"\r\n\x00"):
            continue
        out.append(rec)
    return out


def _spaces_pattern(text: str) -> re.Pattern[str]:
    return re.compile(
        "".join(" {0,3}" if ch == "\ufffd" else re.escape(ch) for ch in text), re.DOTALL
    )


# pymarc drops every C0 and C1 byte (0x00-0x1F, 0x80-0x9F, so also 0x88/0x89/0x8D/0x8E)
DROPPED = dict.fromkeys([*range(0x20), *range(0x80, 0xA0), 0x200C, 0x200D])


def classify_value(our: str, their: str) -> str | None:
    if our == their:
        return None
    ours_nfc = unicodedata.normalize("NFC", our.translate(DROPPED))
    if ours_nfc == their:
        return "controls_dropped"
    if "\ufffd" in our and _spaces_pattern(ours_nfc).fullmatch(their):
        return "bad_as_space"
    if "\ufffd" in our:
        head = ours_nfc[: ours_nfc.index("\ufffd")]
        if their.startswith(head.rstrip()):
            return "bad_bytes_pymarc_differs"
    if (
        "\ufffd" not in our
        and len(ours_nfc) == len(their)
        and all(a == b or b == " " for a, b in zip(ours_nfc, their, strict=True))
    ):
        return "pymarc_space_for_char"
    return "other"


def compare_records(rel: str, index: int, a, b, causes: Counter, unexplained: list) -> None:
    assert str(a.leader) == str(b.leader), (rel, index)
    bf = list(b.fields)
    if any(f.tag == "066" for f in bf) and a.leader[9] != "a":
        causes["066_dropped"] += 1
        bf = [f for f in bf if f.tag != "066"]
    assert [f.tag for f in a.fields] == [f.tag for f in bf], (rel, index)
    for fa, fb in zip(a.fields, bf, strict=True):
        key = (rel, index, fa.tag)
        if fa.is_control_field():
            cause = classify_value(fa.data, fb.data)
            if cause:
                causes[cause] += 1
                if cause == "other" and key not in EXPLICIT:
                    unexplained.append((key, fa.data, fb.data))
            continue
        assert fa.indicators == fb.indicators, key
        assert [s.code for s in fa.subfields] == [s.code for s in fb.subfields], key
        for sa, sb in zip(fa.subfields, fb.subfields, strict=True):
            cause = classify_value(sa.value, sb.value)
            if cause:
                causes[cause] += 1
                if cause == "other" and key not in EXPLICIT:
                    unexplained.append((key, sa.value, sb.value))


@pytest.mark.parametrize("rel", FILES)
def test_same_records_as_pymarc(rel):
    data = (DATA / rel).read_bytes()
    # pymarc normalises MARC-8 records only; our normalize= applies to every record
    a_recs = [
        plain if plain is not None and plain.leader[9] == "a" else compat
        for plain, compat in zip(
            ours(data), ours(data, normalize="NFC", legacy_ligatures=True), strict=True
        )
    ]
    b_recs = theirs(data)
    assert len(a_recs) == len(b_recs)
    causes: Counter = Counter()
    unexplained: list = []
    for index, (a, b) in enumerate(zip(a_recs, b_recs, strict=True)):
        assert a is not None, (rel, index)
        if b is None:
            causes["pymarc_lost_record"] += 1
            continue
        compare_records(rel, index, a, b, causes, unexplained)
    assert not unexplained, unexplained[:5]
    assert dict(causes) == EXPECTED.get(rel, {}), (rel, dict(causes))


@pytest.mark.parametrize("rel", FILES)
def test_default_reader_text_is_the_decoders(rel):
    """Without options, every MARC-8 subfield is marc8fast.decode's text (no NFC, LC ligatures)."""
    data = (DATA / rel).read_bytes()
    recs = ours(data)
    raws = marc8fast.read_records(data)
    assert len(recs) == len(raws)
    for rec, (_n, _o, raw) in zip(recs, raws, strict=True):
        out, _ = marc8fast.transcode_record(raw, to="utf8")
        again = pymarc.Record(out, to_unicode=True, force_utf8=True)
        if raw[9:10] == b"a":
            again = pymarc.Record(raw, to_unicode=True, force_utf8=True)
        assert [str(f) for f in rec.fields] == [str(f) for f in again.fields]
        assert [f.tag for f in rec.fields] == [f.tag for f in again.fields]


@pytest.mark.parametrize("rel", ["realworld/uva_001_2000.mrc", "realworld/specTestRecs.mrc"])
def test_file_object_in_chunks_equals_bytes(rel):
    data = (DATA / rel).read_bytes()
    whole = [r.as_marc() for r in ours(data)]
    chunked = [
        r.as_marc()
        for r in MARCReader(io.BufferedReader(io.BytesIO(data)), chunk_size=4096)  # type: ignore[arg-type]
    ]
    assert chunked == whole
    with open(DATA / rel, "rb") as fh:
        assert [r.as_marc() for r in MARCReader(fh)] == whole


def test_broken_file_yields_none_and_goes_on():
    lul = marc8fast.read_records((DATA / "realworld/lul_fre_500.mrc").read_bytes())
    r1, r2, r3 = (raw for _n, _o, raw in lul[:3])
    data = r1 + b"garbage!" + r2 + r3[:100]
    for target in (data, io.BufferedReader(io.BytesIO(data))):
        reader = MARCReader(target, chunk_size=4096)  # type: ignore[arg-type]
        got = []
        excs = []
        for rec in reader:
            got.append(rec)
            if rec is None:
                assert isinstance(reader.current_exception, pymarc.exceptions.PymarcException)
                assert reader.current_chunk
                assert reader.current_problems
                excs.append(type(reader.current_exception))
        assert [r is None for r in got] == [False, True, False, True]
        assert excs == [pymarc.RecordLengthInvalid, pymarc.TruncatedRecord]
    # pymarc itself stops at the garbage (a FatalReaderError) and loses records 2 and 3
    assert [r is None for r in pymarc.MARCReader(data)] == [False, True]


def test_problem_positions_are_file_positions_when_chunked():
    lul = (DATA / "realworld/lul_fre_500.mrc").read_bytes()
    records = marc8fast.read_records(lul)
    bad = bytearray(records[300][2])
    k = bad.index(b"\x1fa", int(bad[12:17])) + 2
    bad[k] = 0xAF  # unmapped in ANSEL
    data = b"".join(raw for _n, _o, raw in records[:300]) + bytes(bad)
    for target in (data, io.BufferedReader(io.BytesIO(data))):
        reader = MARCReader(target, chunk_size=8192)  # type: ignore[arg-type]
        recs = []
        problems = []
        for rec in reader:
            recs.append(rec)
            problems.extend(reader.current_problems)
        assert len(recs) == 301 and all(recs)
        assert reader.problem_count == 1
        (p,) = problems
        assert p.kind == "unmapped_byte" and p.record == 301
        assert p.record_offset == records[300][1]
        assert "\ufffd" in str(recs[-1])


def test_record_to_marc8_reads_back():
    n = 0
    for rel in FILES:
        data = (DATA / rel).read_bytes()
        for index, rec in enumerate(ours(data)):
            m8 = record_to_marc8(rec)
            assert m8[9:10] == b" "
            utf8_source = rec.leader[9] == "a"
            legacy = utf8_source and any(0xFE20 <= ord(c) <= 0xFE23 for c in str(rec))
            (back,) = ours(m8, expand_ncr=True, legacy_ligatures=legacy)
            where = (rel, index)
            assert [f.tag for f in back.fields] == [f.tag for f in rec.fields if f.tag != "066"]
            for fa, fb in zip(back.fields, [f for f in rec.fields if f.tag != "066"], strict=True):
                if utf8_source:  # UTF-8 text may be NFC: it comes back decomposed
                    assert unicodedata.normalize("NFD", str(fa)) == unicodedata.normalize(
                        "NFD", str(fb)
                    ), where
                else:  # our reader's text is in the decoder's form: exactly the same
                    assert str(fa) == str(fb), where
            assert str(back.leader)[5:9] == str(rec.leader)[5:9], where
            n += 1
    assert n == 3739  # every record of FILES


def test_record_to_marc8_errors_and_066():
    nepali = marc8fast.read_records((DATA / "encoder/evergreen/nepali.marc").read_bytes())
    rec = next(r for r in ours(nepali[0][2]) if r is not None)
    if "\u0928" not in str(rec):
        rec = next(
            r for _n, _o, raw in nepali for r in ours(raw) if r is not None and "न" in str(r)
        )
    with pytest.raises(ValueError, match="unmappable"):
        record_to_marc8(rec, errors="strict")
    lossy = record_to_marc8(rec, errors="lossy")
    assert b"|" in lossy and b"&#x" not in lossy
    lossless = record_to_marc8(rec)
    assert b"&#x" in lossless
    # a Cyrillic record gets its 066 rebuilt
    cyr = ours((DATA / "records/marc-charset/cyrillic.marc").read_bytes())[0]
    m8 = record_to_marc8(cyr)
    (f066,) = [f for f in pymarc.Record(m8, to_unicode=False).fields if f.tag == "066"]
    assert "(N" in f066.as_marc("iso8859-1").decode("latin-1")


def test_record_to_utf8_has_no_side_effect():
    data = (DATA / "records/marc-charset/cjk1.marc").read_bytes()
    (rec,) = ours(data)
    leader_before = str(rec.leader)
    u8 = record_to_utf8(rec)
    assert str(rec.leader) == leader_before  # leader/09 not changed on the record
    assert u8[9:10] == b"a"
    again = pymarc.Record(u8, to_unicode=True, force_utf8=True)
    assert [str(f) for f in again.fields] == [str(f) for f in rec.fields]
    assert "066" not in [f.tag for f in again.fields]


def test_install_uninstall():
    original = pymarc.MARCReader
    data = (DATA / "realworld/hebrew.marc").read_bytes()
    try:
        m8pymarc.install()
        m8pymarc.install()  # twice is harmless
        assert pymarc.MARCReader is MARCReader
        assert pymarc.reader.MARCReader is MARCReader
        seen = []
        pymarc.map_records(seen.append, io.BytesIO(data))
        assert len(seen) == 20 and all(isinstance(r, pymarc.Record) for r in seen)
        assert isinstance(pymarc.MARCReader(data), MARCReader)
    finally:
        m8pymarc.uninstall()
    assert pymarc.MARCReader is original
    assert pymarc.reader.MARCReader is original
    m8pymarc.uninstall()  # no-op
    assert pymarc.MARCReader is original


def test_pymarc_missing_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymarc", None)
    with pytest.raises(ImportError, match="pip install"):
        MARCReader(b"")


def test_options_match_pymarc():
    data = (DATA / "marc4j/brkrtest.mrc").read_bytes()
    # to_unicode=False: pymarc's raw records
    a = list(MARCReader(data, to_unicode=False))
    b = list(pymarc.MARCReader(data, to_unicode=False))
    assert [r.as_marc() for r in a] == [r.as_marc() for r in b]
    # force_utf8 on UTF-8 data without the leader flag
    u = (DATA / "records/pymarc/utf8_without_leader_flag.dat").read_bytes()
    a = list(MARCReader(u, force_utf8=True))
    b = list(pymarc.MARCReader(u, force_utf8=True))
    assert [str(r) for r in a] == [str(r) for r in b]
    # utf8_handling on invalid UTF-8 under an 'a' leader
    bad = (DATA / "records/ruby-marc/marc8_accented_chars.marc").read_bytes()
    assert list(MARCReader(bad)) == [None] == list(pymarc.MARCReader(bad))
    a = list(MARCReader(bad, utf8_handling="replace"))
    b = list(pymarc.MARCReader(bad, utf8_handling="replace"))
    assert [str(r) for r in a] == [str(r) for r in b]
    # trust="data" reads such a record as MARC-8
    (rec,) = list(MARCReader(bad, trust="data"))
    assert "Geneviève" in unicodedata.normalize("NFC", str(rec))
