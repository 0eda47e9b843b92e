"""Mislabelled records: detected, and with ``trust="data"`` converted correctly.

Issue 4, acceptance point 4.  Fixtures: ``tests/data/records/mislabelled/`` (Evergreen FSL.marc and
map_data.mrc, Boston University bu_bibs.mrc; licences beside them) -- leader/09 blank, data UTF-8;
plus the other such records of the corpus (Stanford nonlatinscripts.mrc records 1-5, pymarc
utf8_without_leader_flag.dat, Open Library lesabndioeinas00sche_meta.mrc) and the reverse case
(leader/09 ``'a'``, data MARC-8: ruby-marc marc8_accented_chars.marc, and records made here).

bu_bibs.mrc: 100 records; the 16 with non-ASCII data have directories and record lengths counted
in characters, not bytes.  Eight of them are recovered by their field terminators; in the other
eight, counting the directory in characters shows fields (999, 504, 300 ...) that hold a field
terminator inside them, so the fields cannot be told apart: those are rejected with a
``bad_directory`` problem (never written corrupt), which is what this test expects.
"""

from __future__ import annotations

import re

import pytest
from test_records_corpus import DATA, check_structure

import marc8fast

M = DATA / "records" / "mislabelled"

# file -> (records, mislabelled records, records rejected with trust="data")
CASES = {
    "records/mislabelled/FSL.marc": (52, 52, 0),
    "records/mislabelled/map_data.mrc": (3, 3, 0),
    "records/mislabelled/bu_bibs.mrc": (100, 8, 8),
    "realworld/nonlatinscripts.mrc": (6, 5, 0),
    "records/pymarc/utf8_without_leader_flag.dat": (1, 1, 0),
    "realworld/openlibrary/lesabndioeinas00sche_meta.mrc": (1, 1, 0),
}


def input_fields(raw: bytes) -> list[tuple[str, bytes]]:
    """The input's fields: by the directory if it holds, else by the field terminators."""
    base = int(raw[12:17])
    entries = [raw[k : k + 12] for k in range(24, base - 1, 12)]
    fields = []
    for e in entries:
        a = base + int(e[7:12])
        b = a + int(e[3:7])
        if b > len(raw) or raw[b - 1] != 0x1E or 0x1E in raw[a : b - 1]:
            break
        fields.append((e[:3].decode(), raw[a : b - 1]))
    else:
        return fields
    bodies = raw[base:-1].split(b"\x1e")[:-1]
    assert len(bodies) == len(entries)
    return [(e[:3].decode(), body) for e, body in zip(entries, bodies, strict=True)]


def records_of(rel: str):
    return marc8fast.read_records((DATA / rel).read_bytes())


@pytest.mark.parametrize("rel", sorted(CASES))
def test_detected_per_record(rel):
    n_records, n_mislabelled, _ = CASES[rel]
    recs = records_of(rel)
    assert len(recs) == n_records
    flagged = 0
    for _n, _off, raw in recs:
        _out, problems = marc8fast.transcode_record(raw, to="utf8")
        mis = [p for p in problems if p.kind == "mislabelled"]
        assert len(mis) <= 1
        if mis:
            flagged += 1
            assert mis[0].action == "trusted_leader"
            assert mis[0].tag is None and mis[0].record == 1
        # only records with non-ASCII, valid-UTF-8 data can be flagged
        if not any(b >= 0x80 for b in raw):
            assert not mis
    assert flagged == n_mislabelled


_C1 = re.compile("[\x80-\x97\x99-\x9b\x9d-\x9f]")


def _without_c1(body: bytes) -> bytes:
    return _C1.sub("\ufffd", body.decode()).encode()


@pytest.mark.parametrize("rel", sorted(CASES))
def test_trust_data_converts_correctly(rel):
    _n, n_mislabelled, n_rejected = CASES[rel]
    rejected = converted = 0
    for n, _off, raw in records_of(rel):
        out, problems = marc8fast.transcode_record(raw, to="utf8", trust="data")
        if out is None:
            rejected += 1
            assert any(p.kind == "bad_directory" and p.action == "rejected" for p in problems)
            continue
        fields = check_structure(out)
        assert out[9:10] == b"a"
        mis = [p for p in problems if p.kind == "mislabelled"]
        if mis:
            converted += 1
            assert mis[0].action == "trusted_data"
            # the text is the input's UTF-8, untouched (no NFC, no MARC-8 reading), but for the
            # C1 controls of double-encoded text (U+0080-U+009F), each a control_character
            # written as U+FFFD
            exp = [(t, _without_c1(b)) for t, b in input_fields(raw) if t != "066"]
            assert fields == exp, (rel, n)
            c1 = sum(len(_C1.findall(b.decode())) for t, b in input_fields(raw) if t != "066")
            assert c1 == sum(p.kind == "control_character" for p in problems)
            for _t, body in fields:
                body.decode("utf-8")
            # trusting the leader gives something else: MARC-8 read of UTF-8 bytes
            other, _ = marc8fast.transcode_record(raw, to="utf8", trust="leader")
            assert other != out
    assert rejected == n_rejected
    assert converted == n_mislabelled


def test_trust_data_through_transcode_file(tmp_path):
    src = M / "FSL.marc"
    dst = tmp_path / "fsl.u8.mrc"
    report = marc8fast.transcode_file(src, dst, to="utf8", trust="data", jobs=2)
    assert report.records_written == 52 and report.records_rejected == 0
    assert report.counts_by_kind().get("mislabelled") == 52
    assert [p.record for p in report.problems if p.kind == "mislabelled"] == list(range(1, 53))
    out = dst.read_bytes()
    exp = b"".join(
        marc8fast.transcode_record(raw, to="utf8", trust="data")[0]
        for _n, _o, raw in records_of("records/mislabelled/FSL.marc")
    )
    assert out == exp


def _relabel(raw: bytes, ch: bytes) -> bytes:
    return raw[:9] + ch + raw[10:]


def test_reverse_mislabel_utf8_leader_marc8_data():
    """leader/09 'a' but the data is MARC-8 (ruby-marc's file; lul_fre_500 records relabelled)."""
    samples = [raw for _n, _o, raw in records_of("records/ruby-marc/marc8_accented_chars.marc")]
    lul = [raw for _n, _o, raw in records_of("realworld/lul_fre_500.mrc")]
    samples += [_relabel(raw, b"a") for raw in lul if any(b >= 0x80 for b in raw)][:20]
    assert len(samples) == 21
    for raw in samples:
        as_marc8 = _relabel(raw, b" ")
        expected, _ = marc8fast.transcode_record(as_marc8, to="utf8")
        out, problems = marc8fast.transcode_record(raw, to="utf8", trust="data")
        assert [p.action for p in problems if p.kind == "mislabelled"] == ["trusted_data"]
        assert out == expected
        out, problems = marc8fast.transcode_record(raw, to="utf8", trust="leader")
        assert [p.action for p in problems if p.kind == "mislabelled"] == ["trusted_leader"]
        # read as UTF-8 it is not valid: reported, never written as invalid UTF-8
        assert "invalid_utf8" in {p.kind for p in problems}
        assert out is not None
        for _t, body in check_structure(out):
            body.decode("utf-8")


@pytest.mark.parametrize(
    "rel", ["realworld/lul_fre_500.mrc", "realworld/uva_001_2000.mrc", "marc4j/brkrtest_UTF8.mrc"]
)
def test_correctly_labelled_records_are_not_flagged(rel):
    for _n, _o, raw in records_of(rel):
        for trust in ("leader", "data"):
            out, problems = marc8fast.transcode_record(raw, to="utf8", trust=trust)
            assert "mislabelled" not in {p.kind for p in problems}
            if trust == "data":
                assert out == marc8fast.transcode_record(raw, to="utf8")[0]
