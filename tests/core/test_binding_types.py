"""The binding's small types (issue 19): ``next_record`` answers with a frozen ``Next``, the
problem vocabularies are enums made from the core's lists, ``Report`` counts are plain attributes,
and the public names are listed once (``_native.__all__``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import marc8fast
from marc8fast import _native
from marc8fast._native import Next, next_record
from marc8fast.kinds import ProblemAction, ProblemKind, Severity

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample-marc8.mrc"


@pytest.fixture(scope="module")
def record() -> bytes:
    return marc8fast.read_records(SAMPLE.read_bytes())[0][2]


def test_a_whole_record(record: bytes) -> None:
    found = next_record(record + record, eof=True)
    assert isinstance(found, Next)
    assert (found.kind, found.start, found.end) == ("record", 0, len(record))
    assert not found.length_mismatch and not found.truncated
    # From a position: the second record.
    again = next_record(record + record, len(record), eof=True)
    assert (again.kind, again.start, again.end) == ("record", len(record), 2 * len(record))


def test_a_record_whose_length_lies_is_flagged_by_name(record: bytes) -> None:
    lying = b"%05d" % (len(record) + 7) + record[5:]
    found = next_record(lying, eof=True)
    assert (found.kind, found.end, found.length_mismatch) == ("record", len(record), True)
    assert not found.truncated


def test_garbage_and_a_cut_record_are_skips_told_apart(record: bytes) -> None:
    garbage = next_record(b"not a record\x1d" + record, eof=True)
    assert (garbage.kind, garbage.start, garbage.truncated) == ("skip", 0, False)
    assert 0 < garbage.end <= len(b"not a record\x1d")
    cut = record[: len(record) // 2]
    found = next_record(cut, eof=True)
    assert (found.kind, found.end, found.truncated) == ("skip", len(cut), True)
    assert not found.length_mismatch
    # Without the end of the input the splitter waits for the rest instead.
    assert next_record(cut).kind == "need_more"


def test_blank_and_end() -> None:
    blank = next_record(b"\r\n", eof=True)
    assert (blank.kind, blank.start, blank.end) == ("blank", 0, 2)
    end = next_record(b"\r\n", 2, eof=True)
    assert (end.kind, end.start, end.end) == ("end", 2, 2)


def test_next_is_frozen_and_compares_by_value(record: bytes) -> None:
    found = next_record(record, eof=True)
    assert found == next_record(record, eof=True)
    assert found != next_record(record + b"\r\n", len(record), eof=True)
    with pytest.raises(AttributeError):
        found.end = 3  # type: ignore[misc]
    assert repr(found) == (
        f"Next(kind='record', start=0, end={len(record)}, length_mismatch=False, truncated=False)"
    )


def test_the_enums_are_the_core_vocabularies() -> None:
    assert {k.value for k in ProblemKind} == set(marc8fast.PROBLEM_KINDS)
    assert ProblemKind.BAD_066 == "bad_066"
    assert [s.value for s in Severity] == ["info", "warning", "error"]
    assert "rejected" in {a.value for a in ProblemAction}
    # Members are the words: compared, formatted, hashed and written as JSON as the words.
    assert ProblemKind.GARBAGE == "garbage" and "garbage" == ProblemKind.GARBAGE
    assert str(ProblemKind.GARBAGE) == f"{ProblemKind.GARBAGE}" == "garbage"
    assert f"{Severity.ERROR:>7}" == "  error"
    assert json.dumps({"kind": ProblemKind.UNMAPPABLE}) == '{"kind": "unmappable"}'
    assert {ProblemKind.GARBAGE: 1}["garbage"] == 1
    assert ProblemKind("unmappable") is ProblemKind.UNMAPPABLE
    assert ProblemKind.GARBAGE.__module__ == "marc8fast._native"


def test_problems_carry_the_words_of_the_enums() -> None:
    _, problems = marc8fast.encode_report("\u4e00\U0001f600", errors="lossless")
    kinds = {p.kind for p in problems}
    assert kinds and kinds <= {k.value for k in ProblemKind}
    assert ProblemKind.UNMAPPABLE in kinds
    assert all(ProblemAction(p.action) in ProblemAction for p in problems)


def test_report_counts_are_plain_read_only_attributes(tmp_path: Path) -> None:
    out = tmp_path / "out.mrc"
    report = marc8fast.transcode_file(SAMPLE, out, to="utf8")
    assert report.records_read == len(marc8fast.read_records(SAMPLE.read_bytes())) > 0
    assert report.records_written == report.records_read
    assert report.bytes_in == SAMPLE.stat().st_size and report.bytes_out == out.stat().st_size
    assert report.problem_count() == len(report.problems) + report.problems_dropped
    assert json.loads(report.to_json())["records_read"] == report.records_read
    with pytest.raises(AttributeError):
        report.records_read = 0  # type: ignore[misc]


def test_the_public_names_are_listed_once() -> None:
    assert marc8fast.__all__ == ["codec", *_native.__all__]
    assert len(set(marc8fast.__all__)) == len(marc8fast.__all__)
    for name in marc8fast.__all__:
        assert getattr(marc8fast, name) is not None
    assert {"ProblemKind", "ProblemAction", "Severity"} <= set(_native.__all__)
    # The binding's helpers for the package itself stay out of the public list.
    assert "next_record" not in _native.__all__ and hasattr(_native, "next_record")
