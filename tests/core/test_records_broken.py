"""Broken inputs: positioned problems, every recoverable record, no crash, no silent loss.

Issue 4, acceptance point 3.  Fixtures in ``tests/data/records/`` (see its README): pymarc's
``bad_eacc_encoding.dat``, ``bad_marc8_escape.dat``, ``bad_records.mrc``; marc4j's
``bad_leaders_10_11.mrc``, ``bad_oversize_field_bad_directory.mrc``, ``bad_too_long_plus_2.mrc``,
``incomplete_esc_seq.mrc``, ``chinese_mangled_multibyte.mrc``; plus a truncated file and a file with
garbage between records, made here from ``tests/data/realworld/lul_fre_500.mrc``.

"No silent loss" is checked byte by byte: every byte of the input lies in a record the splitter
returned, or in a stretch that starts at a reported problem's ``record_offset`` (a ``garbage`` or
``truncated_record`` problem, whose ``bytes`` may be cut short in the report).  Line ends and NULs
between records are tolerated padding, as in every peer.  Every returned record is either converted
or rejected with a problem whose action is ``"rejected"``.  ``transcode_file`` must give the same
output and the same problems, positioned in the file (record number, record byte offset).
"""

from __future__ import annotations

import pytest
from marcfile import parse_record
from test_records_corpus import (
    DATA,
    STRING_KINDS,
    check_structure,
    expected_string_problems,
    got_string_problems,
)

import marc8fast

R = DATA / "records"


def convert(data: bytes, **opts):
    """Split with the robust splitter, convert each record: (records, split problems, results)."""
    records, split_problems = marc8fast.read_records_report(data)
    results = [marc8fast.transcode_record(raw, **{"to": "utf8", **opts}) for _n, _o, raw in records]
    return records, split_problems, results


def check_no_silent_loss(data: bytes, records, split_problems, results) -> None:
    starts: dict[int, str] = {}
    for n, off, raw in records:
        assert data[off : off + len(raw)] == raw, (n, off)
        starts[off] = "record"
    for p in split_problems:
        assert p.offset is None and p.tag is None, p.to_dict()
        assert p.action in ("skipped", "recovered", "rejected"), p.to_dict()
        assert data[p.record_offset :].startswith(p.bytes[: min(len(p.bytes), 16)]) or (
            p.kind == "length_mismatch"
        ), p.to_dict()
        starts.setdefault(p.record_offset, p.kind)
    ordered = sorted(starts)
    assert (ordered and ordered[0] == 0) or data[: ordered[0]].strip(b"\r\n\x00") == b""
    ends = {off: off + len(raw) for _n, off, raw in records}
    for k, off in enumerate(ordered):
        nxt = ordered[k + 1] if k + 1 < len(ordered) else len(data)
        if off in ends:  # the bytes after a record up to the next start: padding only
            assert data[ends[off] : nxt].strip(b"\r\n\x00") == b"", (off, data[ends[off] : nxt])
    for (n, _off, _raw), (out, problems) in zip(records, results, strict=True):
        if out is None:
            assert any(p.action == "rejected" for p in problems), n
        else:
            check_structure(out)
            assert out[9:10] == b"a"


def file_report(tmp_path, src_bytes: bytes, **opts):
    src = tmp_path / "in.mrc"
    dst = tmp_path / "out.mrc"
    src.write_bytes(src_bytes)
    report = marc8fast.transcode_file(src, dst, **{"to": "utf8", **opts})
    return report, dst.read_bytes()


def check_file_matches(tmp_path, data: bytes, records, split_problems, results) -> None:
    """transcode_file: same output, same problems, positioned in the file."""
    report, out = file_report(tmp_path, data)
    assert out == b"".join(o for o, _ in results if o is not None)
    assert report.records_written == sum(o is not None for o, _ in results)
    assert report.records_rejected == sum(o is None for o, _ in results)
    assert report.bytes_in == len(data) and report.bytes_out == len(out)
    expected = sorted(
        [(p.record, p.record_offset, p.kind, p.action, bytes(p.bytes)) for p in split_problems]
        + [
            (n, off, p.kind, p.action, bytes(p.bytes))
            for (n, off, _raw), (_o, probs) in zip(records, results, strict=True)
            for p in probs
        ]
    )
    got = sorted(
        (p.record, p.record_offset, p.kind, p.action, bytes(p.bytes)) for p in report.problems
    )
    assert got == expected
    assert report.problem_count() == len(expected)


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("pymarc/bad_eacc_encoding.dat", {"truncated_multibyte", "unmapped_byte"}),
        ("pymarc/bad_marc8_escape.dat", {"unknown_escape"}),
        ("marc4j/incomplete_esc_seq.mrc", {"truncated_escape"}),
        ("marc4j/chinese_mangled_multibyte.mrc", {"truncated_multibyte"}),
    ],
)
def test_bad_text_in_good_records(tmp_path, name, kinds):
    data = (R / name).read_bytes()
    records, split_problems, results = convert(data)
    assert split_problems == []
    check_no_silent_loss(data, records, split_problems, results)
    assert all(out is not None for out, _ in results)  # a bad byte never loses a record
    seen = set()
    for (n, off, raw), (_out, problems) in zip(records, results, strict=True):
        if raw[9:10] == b"a":
            assert not problems
            continue
        rec = parse_record(raw[:-1], n - 1, off)
        exp = expected_string_problems(rec.fields)
        assert got_string_problems(problems) == exp, (name, n)
        seen |= {k[4] for k in exp}
        for p in problems:
            if p.kind in STRING_KINDS:
                assert p.tag is not None and p.occurrence >= 1 and p.offset is not None
    assert kinds <= seen, seen
    check_file_matches(tmp_path, data, records, split_problems, results)


def test_bad_records_mrc(tmp_path):
    """pymarc's bad_records.mrc: 8 terminated records (the base address is 99937, 00000, 'f0037';
    a 13-byte directory; a non-ASCII tag; no fields) and a 9th cut short."""
    data = (R / "pymarc/bad_records.mrc").read_bytes()
    offsets = [0, 127, 254, 381, 509, 637, 764, 790]
    records, split_problems, results = convert(data)
    check_no_silent_loss(data, records, split_problems, results)
    assert [(n, off) for n, off, _ in records] == list(enumerate(offsets, 1))
    # the 9th record: cut short at the end of the file
    assert [(p.record, p.record_offset, p.kind) for p in split_problems] == [
        (9, 917, "truncated_record")
    ]
    assert data[917:].startswith(split_problems[0].bytes)
    title = "The pragmatic programmer : "
    out = {n: o for (n, _off, _r), (o, _p) in zip(records, results, strict=True)}
    probs = {n: p for (n, _off, _r), (_o, p) in zip(records, results, strict=True)}
    # good records, and records whose fields are found by their terminators
    for n in (1, 2, 3, 4, 5, 6, 8):
        assert out[n] is not None, (n, [p.to_dict() for p in probs[n]])
        assert title.encode() in out[n]
    for n in (2, 3, 6):  # the base address lies (99937, 00000, "f0037")
        assert {p.kind for p in probs[n]} & {"bad_leader", "bad_directory"}, n
        assert all(p.action == "recovered" for p in probs[n]), n
    for n in (4, 5):  # directory of 13 bytes; a tag with non-ASCII bytes
        assert "bad_directory" in {p.kind for p in probs[n]}, n
    assert not probs[1] and not probs[8]
    check_file_matches(tmp_path, data, records, split_problems, results)


def test_bad_leaders_10_11():
    """Leader/10-11 and /20-23 are blank: the record converts, the leader is repaired and the
    repair reported (a leader that says 'no indicators' is not passed on silently)."""
    data = (R / "marc4j/bad_leaders_10_11.mrc").read_bytes()
    records, split_problems, results = convert(data)
    assert len(records) == 1 and not split_problems
    out, problems = results[0]
    assert out is not None
    check_structure(out)
    assert out[10:12] == b"22" and out[20:24] == b"4500", out[:24]
    assert any(p.kind == "bad_leader" and p.action == "recovered" for p in problems)


def test_oversize_field(tmp_path):
    """Record 2 has a 520 of 11,242 bytes (its directory entry overflowed): rejected with a
    field_too_long problem naming the field; the other four records convert."""
    data = (R / "marc4j/bad_oversize_field_bad_directory.mrc").read_bytes()
    records, split_problems, results = convert(data)
    check_no_silent_loss(data, records, split_problems, results)
    assert [off for _n, off, _r in records] == [0, 1571, 13404, 16133, 18823]
    assert [o is not None for o, _ in results] == [True, False, True, True, True]
    problems = results[1][1]
    too_long = [p for p in problems if p.kind == "field_too_long"]
    assert len(too_long) == 1 and too_long[0].action == "rejected"
    assert too_long[0].tag == "520" and too_long[0].occurrence == 1, too_long[0].to_dict()
    for to in ("marc8",):
        out, probs = marc8fast.transcode_record(records[1][2], to=to)
        assert out is None and "field_too_long" in {p.kind for p in probs}
    check_file_matches(tmp_path, data, records, split_problems, results)


def test_too_long_plus_2(tmp_path):
    """Record 1 is really 123,375 bytes (its length and offsets wrapped at 100,000): found by its
    terminator, reported, and rejected as too long; records 2 and 3 convert."""
    data = (R / "marc4j/bad_too_long_plus_2.mrc").read_bytes()
    records, split_problems, results = convert(data)
    check_no_silent_loss(data, records, split_problems, results)
    assert [(n, off) for n, off, _ in records] == [(1, 0), (2, 123375), (3, 124682)]
    assert [(p.record, p.record_offset, p.kind, p.action) for p in split_problems] == [
        (1, 0, "length_mismatch", "recovered")
    ]
    assert results[0][0] is None
    assert "record_too_long" in {p.kind for p in results[0][1] if p.action == "rejected"}
    assert results[1][0] is not None and results[2][0] is not None
    check_file_matches(tmp_path, data, records, split_problems, results)


@pytest.fixture(scope="module")
def lul_records():
    data = (DATA / "realworld/lul_fre_500.mrc").read_bytes()
    return [raw for _n, _o, raw in marc8fast.read_records(data)[:4]]


def test_truncated_file(tmp_path, lul_records):
    r1, r2, r3, r4 = lul_records
    cut = len(r4) // 2
    data = r1 + r2 + r3 + r4[:cut]
    records, split_problems, results = convert(data)
    check_no_silent_loss(data, records, split_problems, results)
    assert [raw for _n, _o, raw in records] == [r1, r2, r3]
    assert all(o is not None for o, _ in results)
    assert [(p.record, p.record_offset, p.kind) for p in split_problems] == [
        (4, len(r1 + r2 + r3), "truncated_record")
    ]
    assert r4[:cut].startswith(split_problems[0].bytes)
    check_file_matches(tmp_path, data, records, split_problems, results)
    # cut inside the leader, and cut right after a record terminator (nothing to report)
    for tail, n_problems in ((r4[:10], 1), (b"", 0)):
        recs, probs = marc8fast.read_records_report(r1 + tail)
        assert len(recs) == 1 and len(probs) == n_problems


def test_garbage_between_records(tmp_path, lul_records):
    r1, r2, r3, _ = lul_records
    g1 = b"this is not a record"
    g2 = b"00000junk\x1e"  # looks like the start of a leader
    g3 = b"\x1dstray terminator\x1d"
    data = r1 + g1 + r2 + g2 + r3 + g3 + r1
    records, split_problems, results = convert(data)
    check_no_silent_loss(data, records, split_problems, results)
    assert [raw for _n, _o, raw in records] == [r1, r2, r3, r1]
    assert [n for n, _o, _r in records] == [1, 2, 3, 4]  # garbage is not a record
    assert all(o is not None for o, _ in results)
    # adjacent garbage problems are one stretch (the stray 0x1D may be reported on its own)
    garbage: list[tuple[int, bytes, str]] = []
    for p in split_problems:
        if garbage and garbage[-1][0] + len(garbage[-1][1]) == p.record_offset:
            off, b, a = garbage.pop()
            garbage.append((off, b + bytes(p.bytes), a))
        else:
            garbage.append((p.record_offset, bytes(p.bytes), p.action))
    o2 = len(r1 + g1 + r2)
    o3 = len(r1 + g1 + r2 + g2 + r3)
    assert [(off, a) for off, _b, a in garbage] == [
        (len(r1), "skipped"),
        (o2, "skipped"),
        (o3, "skipped"),
    ]
    assert [b for _o, b, _a in garbage] == [g1, g2, g3]
    assert {p.kind for p in split_problems} == {"garbage"}
    check_file_matches(tmp_path, data, records, split_problems, results)


def test_every_problem_is_positioned_in_a_file(tmp_path):
    """All the broken files at once through transcode_file: no crash, counts add up."""
    total_written = 0
    for name in (
        "pymarc/bad_eacc_encoding.dat",
        "pymarc/bad_marc8_escape.dat",
        "pymarc/bad_records.mrc",
        "marc4j/bad_leaders_10_11.mrc",
        "marc4j/bad_oversize_field_bad_directory.mrc",
        "marc4j/bad_too_long_plus_2.mrc",
        "marc4j/incomplete_esc_seq.mrc",
        "marc4j/chinese_mangled_multibyte.mrc",
    ):
        data = (R / name).read_bytes()
        for to in ("utf8", "marc8"):
            report, _out = file_report(tmp_path, data, to=to)
            assert report.records_read >= report.records_written + report.records_rejected - 1
            for p in report.problems:
                assert 0 <= p.record_offset < len(data) and p.record >= 1, (name, p.to_dict())
            total_written += report.records_written if to == "utf8" else 0
    # 1 + 1 + 8 + 1 + 4 + 2 + 1 + 4 recoverable records
    assert total_written == 22
