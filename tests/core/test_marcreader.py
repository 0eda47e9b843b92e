"""marc8fast.MARCReader and MARCWriter: the one Rust splitter, streamed, and atomic output."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

import marc8fast as m

DATA = Path(__file__).parent.parent / "data"
FILE_LEVEL = {"garbage", "truncated_record", "length_mismatch"}


def iso2709(leader: str, fields: list[tuple[str, bytes]]) -> bytes:
    directory = b""
    data = b""
    for tag, body in fields:
        directory += tag.encode() + b"%04d%05d" % (len(body) + 1, len(data))
        data += body + b"\x1e"
    base = 24 + len(directory) + 1
    total = base + len(data) + 1
    lead = leader.encode("ascii")
    return (
        b"%05d" % total + lead[5:12] + b"%05d" % base + lead[17:] + directory + b"\x1e" + data
    ) + b"\x1d"


def realworld() -> list[Path]:
    files = [
        *sorted((DATA / "realworld").glob("*.mrc")),
        *sorted((DATA / "realworld").glob("*.marc")),
        *sorted((DATA / "records").rglob("*.mrc")),
        *sorted((DATA / "records").rglob("*.marc")),
    ]
    assert len(files) > 20
    return files


def comparable(p: m.RecordProblem) -> dict[str, object]:
    d = p.to_dict()
    del d["record"], d["record_offset"]
    return d


def expected_file_problems(path: Path, tmp_path: Path) -> list[dict[str, object]]:
    """The file-level problems transcode_file reports: what the splitter skipped or recovered,
    and the records that cannot be parsed."""
    report = m.transcode_file(path, tmp_path / "out.mrc", to="utf8", jobs=1)
    return [
        p.to_dict()
        for p in report.problems
        if p.kind in FILE_LEVEL
        or (p.action == "rejected" and p.kind in ("bad_leader", "bad_directory"))
    ]


def check_against_split(records: list[m.Record], data: bytes) -> None:
    """Every record equals the whole-file split's record, parsed and converted one by one."""
    found, _ = m.read_records_report(data)
    parsed = []
    for n, off, raw in found:
        try:
            parsed.append((n, off, raw, m.Record.parse(raw)))
        except m.RecordError:
            continue
    assert len(records) == len(parsed)
    for rec, (n, off, raw, alone) in zip(records, parsed, strict=True):
        assert (rec.number, rec.offset) == (n, off)
        assert rec == alone
        assert [comparable(p) for p in rec.problems] == [comparable(p) for p in alone.problems]
        assert all((p.record, p.record_offset) == (n, off) for p in rec.problems)
        # ... and what transcode_record makes of it
        out, problems = m.transcode_record(raw, to="utf8")
        mine = [p for p in rec.problems if p.kind != "data_outside_subfield"]
        written, write_problems = rec.to_bytes_report("utf8")
        if out is None:
            assert any(p.action == "rejected" for p in problems)
            continue
        assert [comparable(p) for p in [*mine, *write_problems]] == [
            comparable(p) for p in problems
        ]
        if len(mine) == len(rec.problems) and b"\x1f\x1f" not in raw and b"\x1f\x1e" not in raw:
            assert written == out


@pytest.mark.parametrize("path", realworld(), ids=lambda p: p.name)
def test_reader_over_a_path_matches_the_split_and_transcode(path: Path, tmp_path: Path) -> None:
    data = path.read_bytes()
    reader = m.MARCReader(path, jobs=2)
    records = list(reader)
    check_against_split(records, data)
    assert [p.to_dict() for p in reader.problems] == expected_file_problems(path, tmp_path)
    assert reader.records_read == len(records) + reader.records_rejected
    assert reader.bytes_read == len(data)


@pytest.mark.parametrize(
    "path",
    [DATA / "realworld" / "uva_001_2000.mrc", DATA / "records" / "mislabelled" / "bu_bibs.mrc"],
    ids=lambda p: p.name,
)
def test_file_object_bytes_and_path_agree(path: Path) -> None:
    data = path.read_bytes()
    with m.MARCReader(path) as r:
        by_path = list(r)
        problems = [p.to_dict() for p in r.problems]
    with open(path, "rb") as fh, m.MARCReader(fh, jobs=3) as r:
        assert list(r) == by_path
        assert [p.to_dict() for p in r.problems] == problems
    for source in (data, bytearray(data), io.BytesIO(data)):
        r = m.MARCReader(source, jobs=1, chunk_size=4096)
        assert list(r) == by_path
        assert [p.to_dict() for p in r.problems] == problems


def test_reader_options_are_the_parse_options() -> None:
    raw = iso2709("00000nam  2200000   4500", [("245", "10\x1faCafé".encode())])
    (rec,) = m.MARCReader(raw, trust="data")
    assert rec.source_encoding == "utf8" and rec["245"]["a"] == "Café"
    m8 = iso2709("00000nam  2200000   4500", [("245", b"10\x1faCafe\xe2")])
    (rec,) = m.MARCReader(m8, normalize="NFC")
    assert rec == m.Record.parse(m8, normalize="NFC")


def test_unparseable_records_are_reported_and_skipped() -> None:
    good = iso2709("00000nam a2200000   4500", [("001", b"g1")])
    bad = b"00030nam a2200000   4500xxxxx\x1d"  # no directory terminator
    r = m.MARCReader(good + bad + good)
    assert [rec.control_number() for rec in r] == ["g1", "g1"]
    assert r.records_read == 3 and r.records_rejected == 1
    assert [(p.kind, p.action, p.record) for p in r.problems] == [("bad_directory", "rejected", 2)]
    assert r.report.records_rejected == 1
    assert r.problem_count == len(r.problems) == 1


def test_problem_count_grows_as_the_reader_goes() -> None:
    good = iso2709("00000nam a2200000   4500", [("001", b"g1")])
    garbage = b"not a record"
    r = m.MARCReader(good + garbage + good + garbage + good, chunk_size=16, jobs=1)
    counts = [r.problem_count for _ in r]
    assert counts[0] <= counts[1] <= counts[2] == r.problem_count == len(r.problems) == 2
    assert counts[-1] >= 1


def test_bad_sources() -> None:
    with pytest.raises(TypeError):
        m.MARCReader(42)  # type: ignore[arg-type]
    with pytest.raises(OSError):
        m.MARCReader("/nonexistent/file.mrc")
    with pytest.raises(OSError, match="binary"):
        list(m.MARCReader(io.StringIO("text")))


def test_closing_early_stops_and_keeps_the_counts() -> None:
    data = (DATA / "realworld" / "uva_001_2000.mrc").read_bytes()
    r = m.MARCReader(data * 3, jobs=2)
    first = next(r)
    assert first.number == 1
    r.close()
    assert list(r) == []
    assert r.records_read >= 1


# ------------------------------------------------------------------------------------------------
# The stray record terminator at a chunk boundary (issue 10)


def stray_file() -> tuple[bytes, int]:
    leader = "00000nam a2200000   4500"
    one = iso2709(leader, [("001", b"r1"), ("245", b"10\x1faFirst.")])
    two = iso2709(leader, [("001", b"r2"), ("500", b"  \x1faA stray \x1d inside a field.")])
    three = iso2709(leader, [("001", b"r3"), ("245", b"10\x1faThird.")])
    data = one + two + three
    stray = len(one) + two.index(b" \x1d ") + 1
    assert data[stray] == 0x1D
    return data, stray


def test_a_stray_record_terminator_at_every_offset_around_a_chunk_boundary() -> None:
    data, stray = stray_file()
    found, problems = m.read_records_report(data)
    assert len(found) == 3 and problems == []
    whole = [m.Record.parse(raw) for _, _, raw in found]
    sizes = [*range(max(1, stray - 40), stray + 41), 1, 2, 3, 5, 7, 64]
    for size in sizes:
        for jobs in (1, 2):
            r = m.MARCReader(data, jobs=jobs, chunk_size=size)
            records = list(r)
            assert r.problems == [], f"chunk {size}: {r.problems}"
            assert records == whole, f"chunk {size}"
            assert [x.control_number() for x in records] == ["r1", "r2", "r3"]
            assert "\x1d" in records[1]["500"]["a"]


def test_the_stray_terminator_in_a_file_bigger_than_a_read() -> None:
    data, _ = stray_file()
    filler = iso2709("00000nam a2200000   4500", [("001", b"f"), ("500", b"  \x1fa" + b"x" * 900)])
    # Around the reader's 1 MiB reads, with the real read size.
    head = filler * ((1 << 20) // len(filler) - 1)
    for pad in range(0, 2 * len(filler), len(filler) // 7):
        body = head + b"\n" * pad + data
        records = list(m.MARCReader(body, jobs=2))
        found, problems = m.read_records_report(body)
        assert len(records) == len(found) and problems == []
        assert records[-2]["500"]["a"] == "A stray \x1d inside a field."


# ------------------------------------------------------------------------------------------------
# MARCWriter


def sample_records() -> list[m.Record]:
    return list(m.MARCReader(DATA / "realworld" / "uva_001_2000.mrc"))[:50]


@pytest.mark.parametrize("encoding", ["utf8", "marc8"])
def test_writer_writes_what_to_bytes_gives(tmp_path: Path, encoding: str) -> None:
    recs = sample_records()
    out = tmp_path / "out.mrc"
    with m.MARCWriter(out, encoding=encoding) as w:  # type: ignore[arg-type]
        for r in recs:
            assert w.write(r)
        assert not out.exists(), "nothing at the destination before the commit"
    assert w.closed and w.records_written == len(recs) and w.records_rejected == 0
    assert out.read_bytes() == b"".join(r.to_bytes(encoding) for r in recs)  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == ["out.mrc"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_writer_reports_rejected_records_and_leaves_them_out(tmp_path: Path) -> None:
    good = m.Record(fields=[m.Field("001", data="ok")])
    bad = m.Record(fields=[m.Field("500", "  ", [("a", "x" * 10_000)])])
    out = tmp_path / "out.mrc"
    w = m.MARCWriter(out, encoding="marc8", errors="strict")
    assert w.write(good) and not w.write(bad)
    assert not w.write(m.Record(fields=[m.Field("245", "  ", [("a", "☺")])]))
    w.close()
    assert (w.records_written, w.records_rejected) == (1, 2)
    assert [(p.kind, p.record) for p in w.problems if p.action == "rejected"] == [
        ("field_too_long", 2),
        ("unmappable", 3),
    ]
    assert out.read_bytes() == good.to_bytes("marc8")


def test_writer_on_an_exception_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.mrc"
    out.write_bytes(b"previous")
    with pytest.raises(RuntimeError), m.MARCWriter(out) as w:
        w.write(sample_records()[0])
        raise RuntimeError("boom")
    assert out.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["out.mrc"]
    w2 = m.MARCWriter(out)
    w2.write(sample_records()[0])
    w2.abort()
    del w2
    assert out.read_bytes() == b"previous" and os.listdir(tmp_path) == ["out.mrc"]


def test_writer_refuses_the_file_being_read(tmp_path: Path) -> None:
    src = tmp_path / "in.mrc"
    src.write_bytes((DATA / "realworld" / "uva_001_2000.mrc").read_bytes())
    with m.MARCReader(src) as r:
        with pytest.raises(ValueError, match="input"):
            m.MARCWriter(tmp_path / "." / "in.mrc")
        next(r)
    with m.MARCWriter(src) as w:  # closed readers no longer count
        w.write(m.Record(fields=[m.Field("001", data="x")]))
    with pytest.raises(ValueError):
        m.MARCWriter(tmp_path / "out.xml", format="marcxml-typo")  # type: ignore[arg-type]
