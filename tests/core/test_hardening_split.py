"""Issue 9: splitting is linear with one problem per stretch of garbage, the streaming reader splits
as the one-shot reader does, and reports keep a bounded number of problems while counting all of
them (the CLI streams them instead of collecting them).

No timing here: linear work is asserted structurally (one problem per stretch, whatever its size)
and in the Rust tests (bytes examined by the splitter); the wall times are in benches/RESULTS.md.
"""

from __future__ import annotations

import json

import pytest

import marc8fast
from marc8fast import cli


def record(fields: list[tuple[bytes, bytes]], declared: int | None = None) -> bytes:
    """An ISO 2709 record (MARC-8) from (tag, data) pairs; `declared` overrides its length."""
    directory = body = b""
    for tag, data in fields:
        field = data + b"\x1e"
        directory += tag + b"%04d%05d" % (len(field), len(body))
        body += field
    base = 24 + len(directory) + 1
    total = base + len(body) + 1
    leader = b"%05dnam  22%05d   4500" % (declared or total, base)
    return leader + directory + b"\x1e" + body + b"\x1d"


GOOD = record([(b"001", b"ok1"), (b"245", b"10\x1faA title")])


# ------------------------------------------------------------------------------------------------
# Garbage


@pytest.mark.parametrize("unit", [b"x\x1d", b"x\x1d\r\n", b"\x1d", b"junk 12345\x1d"])
def test_a_stretch_of_garbage_is_one_problem(unit: bytes) -> None:
    data = unit * (60_000 // len(unit))
    records, problems = marc8fast.read_records_report(data)
    assert records == []
    stretch = len(data.rstrip(b"\r\n"))
    assert [(p.kind, p.record, p.record_offset) for p in problems] == [("garbage", 1, 0)]
    assert problems[0].message == f"{stretch} bytes between records are not a record"
    assert problems[0].bytes == data[:64]
    report = marc8fast.validate_bytes(data, jobs=1)
    assert report.problem_count() == 1
    assert report.counts_by_kind() == {"garbage": 1}


def test_garbage_between_records_is_one_problem_per_stretch(tmp_path) -> None:
    junk = b"x\x1d" * 3000
    data = GOOD + junk + b"\n" + junk + GOOD + junk
    records, problems = marc8fast.read_records_report(data)
    assert [(n, off) for n, off, _raw in records] == [(1, 0), (2, len(GOOD) + 2 * len(junk) + 1)]
    assert [(p.kind, p.record, p.record_offset) for p in problems] == [
        ("garbage", 2, len(GOOD)),
        ("garbage", 3, len(data) - len(junk)),
    ]
    src = tmp_path / "in.mrc"
    src.write_bytes(data)
    for jobs in (1, 2):
        rep = marc8fast.transcode_file(src, tmp_path / "out.mrc", to="utf8", jobs=jobs)
        assert rep.records_read == 2 and rep.counts_by_kind() == {"garbage": 2}
        assert [p.to_dict() for p in rep.problems] == [p.to_dict() for p in problems]


def test_cli_validate_reports_a_stretch_once(tmp_path, capsys) -> None:
    src = tmp_path / "junk.mrc"
    src.write_bytes(b"x\x1d" * 40_000)
    assert cli.main(["validate", str(src), "-q", "--no-progress"]) == cli.EXIT_PROBLEMS
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and ": garbage: " in lines[0]


# ------------------------------------------------------------------------------------------------
# Streaming = one-shot


def lying_across_a_read_boundary() -> tuple[bytes, int]:
    """A record whose leader says 500 bytes and whose terminator is ~200 KB on, starting ~100 KB
    before the first 1 MiB read boundary of transcode_file / validate_file."""
    pad = GOOD * (((1 << 20) - 100_000) // len(GOOD))
    bad = record([(b"001", b"liar")] + [(b"520", b"  \x1fa" + b"y" * 8000)] * 25, declared=500)
    return pad + bad + GOOD, len(pad)


def test_streaming_splits_a_lying_length_as_the_one_shot_reader(tmp_path) -> None:
    data, at = lying_across_a_read_boundary()
    src = tmp_path / "in.mrc"
    src.write_bytes(data)
    records, problems = marc8fast.read_records_report(data)
    split_kinds = {"garbage", "truncated_record", "length_mismatch"}
    whole = [(p.kind, p.record, p.record_offset, p.message) for p in problems]
    for jobs in (1, 2):
        rep = marc8fast.transcode_file(src, tmp_path / "out.mrc", to="utf8", jobs=jobs)
        val = marc8fast.validate_file(src, jobs=jobs)
        for r in (rep, val):
            assert r.records_read == len(records)
            got = [
                (p.kind, p.record, p.record_offset, p.message)
                for p in r.problems
                if p.kind in split_kinds
            ]
            assert got == whole
    # The ~200 KB up to the terminator are one record (its length reported), then the last one.
    assert [(k, o) for k, _n, o, _m in whole] == [("length_mismatch", at)]
    assert records[-2][1] == at
    assert records[-1][1:] == (len(data) - len(GOOD), GOOD)


# ------------------------------------------------------------------------------------------------
# Bounded problem lists


def many_problems(n_records: int, each: int = 20_000) -> bytes:
    """Records whose sixteen 500s are all 0xAF (no mapping in MARC-8): `each` problems a
    record (more than 30,000 make a record too long once the bytes are U+FFFD in UTF-8)."""
    fields = [(b"001", b"n")] + [(b"500", b"  \x1fa" + b"\xaf" * (each // 16))] * 16
    return record(fields) * n_records


@pytest.fixture(scope="module")
def million() -> bytes:
    data = many_problems(50)
    assert len(data) < 1_020_000
    return data


def test_a_million_problems_are_counted_and_at_most_max_problems_kept(million) -> None:
    for jobs in (1, 2):
        rep = marc8fast.validate_bytes(million, jobs=jobs, max_problems=100)
        assert rep.counts_by_kind() == {"unmapped_byte": 1_000_000}
        assert rep.problem_count() == 1_000_000
        assert len(rep.problems) == 100
        assert rep.problems_dropped == 1_000_000 - 100
        assert [p.field_offset for p in rep.problems[:3]] == [4, 5, 6]  # the first ones
        doc = json.loads(rep.to_json())
        assert len(doc["problems"]) == 100
        assert doc["problems_dropped"] == 999_900
        assert doc["counts_by_kind"] == {"unmapped_byte": 1_000_000}


def test_the_default_cap_and_no_cap(tmp_path) -> None:
    data = many_problems(2)
    rep = marc8fast.validate_bytes(data, jobs=1)
    assert len(rep.problems) == 10_000  # the default max_problems
    assert rep.problem_count() == 40_000 and rep.problems_dropped == 30_000
    everything = marc8fast.validate_bytes(data, jobs=1, max_problems=None)
    assert len(everything.problems) == 40_000 and everything.problems_dropped == 0
    src = tmp_path / "in.mrc"
    src.write_bytes(data)
    conv = marc8fast.transcode_file(src, tmp_path / "o.mrc", to="utf8", max_problems=0)
    assert conv.problems == [] and conv.counts_by_kind()["unmapped_byte"] == 40_000
    val = marc8fast.validate_file(src, max_problems=5)
    assert len(val.problems) == 5 and val.counts_by_kind()["unmapped_byte"] == 40_000
    with pytest.raises(OverflowError):
        marc8fast.validate_bytes(data, max_problems=-1)


def test_on_problem_sees_every_problem_in_input_order(tmp_path) -> None:
    data = many_problems(2) + b"x\x1d" * 10
    src = tmp_path / "in.mrc"
    src.write_bytes(data)
    everything = marc8fast.validate_bytes(data, jobs=1, max_problems=None).problems
    expected = [(p.record, p.field_offset, p.kind) for p in everything]
    for jobs in (1, 2):
        seen: list[tuple[int, int | None, str]] = []

        def note(p: marc8fast.RecordProblem, seen: list = seen) -> None:
            seen.append((p.record, p.field_offset, p.kind))

        rep = marc8fast.validate_file(src, jobs=jobs, max_problems=3, on_problem=note)
        assert seen == expected
        assert len(rep.problems) == 3 and rep.problem_count() == len(expected)
    seen_conv: list[str] = []
    dst = tmp_path / "o.mrc"
    marc8fast.transcode_file(
        src, dst, to="utf8", max_problems=0, on_problem=lambda p: seen_conv.append(p.kind)
    )
    assert len(seen_conv) == len(expected)


def test_an_exception_in_on_problem_stops_the_run(tmp_path) -> None:
    src = tmp_path / "in.mrc"
    src.write_bytes(many_problems(3))

    def boom(_p: marc8fast.RecordProblem) -> None:
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        marc8fast.validate_file(src, jobs=2, on_problem=boom)
    dst = tmp_path / "o.mrc"
    with pytest.raises(RuntimeError, match="stop here"):
        marc8fast.transcode_file(src, dst, to="utf8", on_problem=boom)
    assert not dst.exists()


class Spy:
    """Wraps a marc8fast function, remembering the keyword arguments and the reports."""

    def __init__(self, fn):
        self.fn = fn
        self.kwargs: list[dict] = []
        self.reports: list[marc8fast.Report] = []

    def __call__(self, *args, **kwargs):
        self.kwargs.append(kwargs)
        rep = self.fn(*args, **kwargs)
        self.reports.append(rep)
        return rep


def test_cli_convert_streams_its_report(tmp_path, monkeypatch, capsys) -> None:
    src = tmp_path / "in.mrc"
    src.write_bytes(many_problems(3))
    spy = Spy(marc8fast.transcode_file)
    monkeypatch.setattr(cli.convert, "transcode_file", spy)
    report = tmp_path / "problems.jsonl"
    status = cli.main(
        ["convert", str(src), str(tmp_path / "o.mrc"), "--to", "utf8", "--report", str(report)]
    )
    assert status == cli.EXIT_PROBLEMS
    lines = report.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 60_000
    assert json.loads(lines[-1])["kind"] == "unmapped_byte"
    # Only what stderr lists (--max-problems, 20 by default) was kept in memory.
    assert len(spy.reports[0].problems) <= 20
    err = capsys.readouterr().err
    assert "... and 59,980 more problem(s)" in err
    assert "60,000 problem(s) in 3 record(s)" in err
    assert not list(tmp_path.glob(".*tmp*"))


def test_cli_validate_prints_problems_as_they_come(tmp_path, monkeypatch, capsys) -> None:
    src = tmp_path / "in.mrc"
    src.write_bytes(many_problems(2))
    spy = Spy(marc8fast.validate_file)
    monkeypatch.setattr(cli.validate, "validate_file", spy)
    assert cli.main(["validate", str(src), "-o", "jsonl", "--no-progress"]) == cli.EXIT_PROBLEMS
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 40_000
    assert spy.reports[0].problems == [] and spy.reports[0].problem_count() == 40_000
    assert "40,000 problem(s) in 2 record(s)" in err
    assert cli.main(["validate", str(src), "--max-problems", "7", "-q"]) == cli.EXIT_PROBLEMS
    assert len(capsys.readouterr().out.splitlines()) == 7
