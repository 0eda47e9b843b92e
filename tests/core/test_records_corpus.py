"""Every MARC-8 record of the corpus converts to UTF-8 (issue 4, acceptance point 1).

For every record whose leader/09 is not ``'a'`` in the MARC-8 files of the corpus (fixtures in
``tests/data/realworld``, ``tests/data/yaz``, ``tests/data/marc4j`` and ``tests/data/records``;
provenance and licences in the READMEs/SOURCES files beside them):

* ``marc8fast.transcode_record(raw, to="utf8")`` gives a record (never ``None``);
* the output's structure is checked byte by byte here (record length, base address, every directory
  entry's length and start, terminators), independently of any MARC library;
* pymarc (``MARCReader(to_unicode=True, force_utf8=True)``) reads every output record, with
  leader/09 ``'a'``, the other leader positions unchanged, the same tags (066 dropped),
  indicators and subfield codes in the same order as the input (cut by the test-side splitter
  ``tests/marcfile.py``), and text equal to ``marc8fast.decode(subfield, errors="replace")``;
* the string-level problems the record layer reports are exactly those ``decode_report`` finds in
  each subfield, with the right tag, occurrence, subfield code and offset.

The helpers at the top are shared with the other ``test_records_*`` files.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import pymarc
import pytest
from marcfile import iter_records, parse_record

import marc8fast

DATA = Path(__file__).parent.parent / "data"

STRING_KINDS = {
    "unknown_escape",
    "truncated_escape",
    "unmapped_byte",
    "truncated_multibyte",
    "mark_without_base",
    "malformed_ncr",
    "control_character",
}

# file (relative to tests/data) -> number of records whose leader/09 is not 'a'.  Pinned from the
# test-side splitter, so a record the record layer skipped would show up.
MARC8_FILES: dict[str, int] = {
    "realworld/uva_001_2000.mrc": 2000,
    "realworld/specTestRecs.mrc": 76,
    "realworld/lul_fre_500.mrc": 500,
    "realworld/jazz_1k.mrc": 1000,
    "realworld/hebrew.marc": 20,
    "realworld/oss.marc": 42,
    "realworld/formatRecs.mrc": 88,
    "realworld/non_latin.mrc": 1,
    "realworld/nonlatinscripts.mrc": 5,
    "realworld/u2103_raw.mrc": 1,
    "realworld/openlibrary/880_table_of_contents.mrc": 1,
    "realworld/openlibrary/collingswood_bad_008.mrc": 1,
    "realworld/openlibrary/histoirereligieu05cr_meta.mrc": 1,
    "realworld/openlibrary/lc_0444897283.mrc": 1,
    "realworld/openlibrary/lesnoirsetlesrou0000garl_meta.mrc": 1,
    "realworld/openlibrary/memoirsofjosephf00fouc_meta.mrc": 1,
    "realworld/openlibrary/merchantsfromcat00ben_meta.mrc": 1,
    "realworld/openlibrary/scrapbooksofmoun03tupp_meta.mrc": 1,
    "yaz/marc6.marc": 1,
    "yaz/marc7.marc": 1,
    "yaz/marc8.marc": 1,  # leader/09 is '^' (neither ' ' nor 'a'): read as MARC-8, like yaz
    "yaz/marc9.marc": 1,
    "yaz/marc12.marc": 1,
    "marc4j/brkrtest.mrc": 8,
    "records/marc-charset/cjk1.marc": 1,
    "records/marc-charset/cjk2.marc": 1,
    "records/marc-charset/cjk3.marc": 1,
    "records/marc-charset/cjk4.marc": 1,
    "records/marc-charset/cyrillic.marc": 1,
    "records/marc-charset/hebrew1.marc": 1,
    "records/marc-charset/hebrew2.marc": 1,
    "records/marc-charset/hebrew3.marc": 1,
    "records/marc-charset/hebrew4.marc": 1,
    "records/marc4j/cyrillic_capital_e.mrc": 2,
    "records/marc4j/diacritic4.mrc": 1,
    "records/marc4j/greekmissingcharsetchange.mrc": 2,
    "records/marc4j/loongboonmee.mrc": 1,
    "records/marc4j/incomplete_esc_seq.mrc": 1,
    "records/marc4j/chinese_mangled_multibyte.mrc": 3,
    "records/marc4js/marc8_utf8_mixed.mrc": 3,
    "records/pymarc/marc8.dat": 1,
    "records/pymarc/test.dat": 10,
    "records/pymarc/1251.dat": 6,  # Windows-1251, not MARC-8: converts, with problems
    "records/pymarc/bad_eacc_encoding.dat": 1,
    "records/pymarc/bad_marc8_escape.dat": 1,
    "records/pymarc/utf8_without_leader_flag.dat": 1,
    "records/ruby-marc/escaped_character_reference.marc8.marc": 1,
}


# ---------------------------------------------------------------------------------------------
# shared helpers


def raw_records(data: bytes) -> list[tuple[int, int, bytes]]:
    """(index, offset, raw bytes) of each record, cut by the test-side splitter."""
    out = []
    for rec in iter_records(data):
        length = int(rec.leader[:5])
        out.append((rec.index, rec.offset, data[rec.offset : rec.offset + length]))
    return out


def check_structure(out: bytes) -> list[tuple[str, bytes]]:
    """Check an ISO 2709 record byte by byte; return its (tag, field bytes without 0x1E)."""
    assert len(out) >= 26, out
    assert out[:5].isdigit() and int(out[:5]) == len(out), (out[:5], len(out))
    assert out[-1:] == b"\x1d"
    # the entry map: 4-digit lengths, 5-digit starts (what this directory is checked against);
    # leader/22-23 are kept from the input (oss.marc has '45 0')
    assert out[20:22] == b"45", out[:24]
    assert out[12:17].isdigit()
    base = int(out[12:17])
    assert (base - 25) % 12 == 0 and base >= 25, base
    assert out[base - 1] == 0x1E
    fields = []
    pos = base
    for k in range(24, base - 1, 12):
        entry = out[k : k + 12]
        assert entry.isdigit() or (entry[3:].isdigit()), entry
        tag = entry[:3].decode("ascii")
        length = int(entry[3:7])
        start = int(entry[7:12])
        assert base + start == pos, (tag, start, pos - base)  # fields contiguous, in order
        assert length >= 1 and out[pos + length - 1] == 0x1E, (tag, length)
        assert 0x1E not in out[pos : pos + length - 1], tag
        fields.append((tag, out[pos : pos + length - 1]))
        pos += length
    assert pos == len(out) - 1, (pos, len(out))
    return fields


def is_control(tag: str) -> bool:
    return tag.isdigit() and tag.startswith("00")


def units(fields):
    """(tag, occurrence, subfield code or None, raw data) for every subfield/control field."""
    seen: Counter = Counter()
    for f in fields:
        seen[f.tag] += 1
        occ = seen[f.tag]
        if f.is_control:
            yield f.tag, occ, None, f.raw
        else:
            for code, raw in f.subfields:
                yield f.tag, occ, code, raw


def expected_string_problems(in_fields, **opts) -> Counter:
    """The string-level problems decode_report finds, positioned as the record layer must."""
    exp: Counter = Counter()
    for tag, occ, code, raw in units([f for f in in_fields if f.tag != "066"]):
        _text, problems = marc8fast.decode_report(raw, **opts)
        for p in problems:
            exp[(tag, occ, code, p.offset, p.kind, bytes(p.bytes))] += 1
    return exp


def got_string_problems(problems) -> Counter:
    got: Counter = Counter()
    for p in problems:
        if p.kind in STRING_KINDS:
            got[(p.tag, p.occurrence, p.subfield, p.offset, p.kind, bytes(p.bytes))] += 1
    return got


def read_file(rel: str) -> bytes:
    return (DATA / rel).read_bytes()


# ---------------------------------------------------------------------------------------------


@functools.cache
def converted(rel: str):
    """[(input record, output bytes, problems)] for the MARC-8 records of a file."""
    data = read_file(rel)
    out = []
    for index, offset, raw in raw_records(data):
        if raw[9:10] == b"a":
            continue
        result, problems = marc8fast.transcode_record(raw, to="utf8")
        out.append((parse_record(raw[:-1], index, offset), raw, result, problems))
    return out


@pytest.mark.parametrize("rel", sorted(MARC8_FILES))
def test_every_marc8_record_converts(rel):
    recs = converted(rel)
    assert len(recs) == MARC8_FILES[rel]
    for rec, _raw, result, problems in recs:
        assert result is not None, (rel, rec.index, [p.to_dict() for p in problems])
        assert not [p for p in problems if p.action == "rejected"], (rel, rec.index)


@pytest.mark.parametrize("rel", sorted(MARC8_FILES))
def test_output_structure_and_leader(rel):
    for rec, raw, result, _problems in converted(rel):
        fields = check_structure(result)
        where = (rel, rec.index)
        assert result[9:10] == b"a", where
        # the leader is kept but for the lengths, leader/09 and MARC 21's fixed values (10-11
        # "22", 20-23 "4500"), which are repaired when a record has something else there
        assert result[10:12] == b"22" and result[20:24] == b"4500", where
        for i in [*range(5, 9), *range(17, 20)]:
            assert result[i] == (raw[i] if 0x20 <= raw[i] < 0x7F else 0x20), where
        repaired = raw[10:12] != b"22" or raw[20:24] != b"4500" or not raw[:24].isascii()
        assert repaired == any(p.kind == "bad_leader" for p in _problems), where
        assert [t for t, _ in fields] == [f.tag for f in rec.fields if f.tag != "066"], where
        assert "066" not in [t for t, _ in fields], where
        # the output is UTF-8 through and through
        for _tag, body in fields:
            body.decode("utf-8")


@pytest.mark.parametrize("rel", sorted(MARC8_FILES))
def test_pymarc_reads_output_with_decoder_text(rel):
    recs = converted(rel)
    blob = b"".join(result for _rec, _raw, result, _p in recs)
    reader = pymarc.MARCReader(blob, to_unicode=True, force_utf8=True)
    got = list(reader)
    assert len(got) == len(recs)
    for (rec, _raw, _result, _p), prec in zip(recs, got, strict=True):
        where = (rel, rec.index)
        assert prec is not None, (where, reader.current_exception)
        assert prec.leader[9] == "a", where
        in_fields = [f for f in rec.fields if f.tag != "066"]
        assert len(prec.fields) == len(in_fields), where
        for f, pf in zip(in_fields, prec.fields, strict=True):
            assert pf.tag == f.tag, where
            if f.is_control:
                assert pf.is_control_field(), (where, f.tag)
                assert pf.data == marc8fast.decode(f.raw, errors="replace"), (where, f.tag)
                continue
            assert (pf.indicator1 + pf.indicator2).encode("utf-8") == f.indicators, where
            assert [s.code for s in pf.subfields] == [c for c, _ in f.subfields], (where, f.tag)
            for s, (_code, raw) in zip(pf.subfields, f.subfields, strict=True):
                assert s.value == marc8fast.decode(raw, errors="replace"), (where, f.tag, raw)


@pytest.mark.parametrize("rel", sorted(MARC8_FILES))
def test_string_problems_positioned(rel):
    for rec, _raw, _result, problems in converted(rel):
        assert got_string_problems(problems) == expected_string_problems(rec.fields), (
            rel,
            rec.index,
        )
        for p in problems:
            assert p.record == 1 and p.record_offset == 0, p.to_dict()
            assert p.action, p.to_dict()
            if p.kind in STRING_KINDS:
                assert p.action == "replaced" or p.kind == "malformed_ncr", p.to_dict()
            cn = [f.raw for f in rec.fields if f.tag == "001"]
            # the 001 as text, trimmed of the spaces OCLC numbers often carry
            expected_cn = marc8fast.decode(cn[0], errors="replace").strip() if cn else None
            assert p.control_number == expected_cn, p.to_dict()


def test_corpus_totals():
    """The corpus exercises what the record layer must do: 066, problems, non-Latin sets."""
    records = problems = with_066 = 0
    kinds: Counter = Counter()
    for rel in MARC8_FILES:
        for rec, _raw, _result, probs in converted(rel):
            records += 1
            with_066 += any(f.tag == "066" for f in rec.fields)
            kinds.update(p.kind for p in probs)
            problems += bool(probs)
    assert records == sum(MARC8_FILES.values()) == 3797
    assert with_066 >= 20  # 066 present in the input and dropped in the output
    assert kinds["unknown_escape"] >= 1 and kinds["truncated_multibyte"] >= 1
    assert kinds["mislabelled"] >= 6  # nonlatinscripts 0-4, utf8_without_leader_flag


def test_normalize_and_ligature_options_reach_every_subfield():
    recs = converted("marc4j/brkrtest.mrc")
    for rec, raw, _result, _p in recs:
        for normalize in ("NFC", "NFD"):
            out, _ = marc8fast.transcode_record(
                raw, to="utf8", normalize=normalize, legacy_ligatures=True
            )
            fields = dict(
                (tag + str(i), body) for i, (tag, body) in enumerate(check_structure(out))
            )
            exp = []
            for f in rec.fields:
                if f.tag == "066":
                    continue
                if f.is_control:
                    exp.append(
                        marc8fast.decode(f.raw, errors="replace", normalize=normalize).encode()
                    )
                else:
                    exp.append(
                        f.indicators
                        + b"".join(
                            b"\x1f"
                            + c.encode("latin-1")
                            + marc8fast.decode(
                                r, errors="replace", normalize=normalize, legacy_ligatures=True
                            ).encode()
                            for c, r in f.subfields
                        )
                    )
            assert list(fields.values()) == exp, rec.index
