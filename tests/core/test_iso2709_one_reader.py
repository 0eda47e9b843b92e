"""Issue 19: one ISO 2709 stream reader. The same file with garbage between its records gives the
same problems through ``transcode_file``, ``MARCReader`` and ``marc8fast convert --format json``
(which used to read ISO 2709 with a reader of its own and reported a run of garbage piece by
piece)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import marc8fast

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample-marc8.mrc"
SKIPPED = {"garbage", "truncated_record"}


def _input(tmp_path: Path) -> Path:
    data = SAMPLE.read_bytes()
    first = data.index(b"\x1d") + 1
    second = data.index(b"\x1d", first) + 1
    # A run of garbage in three pieces (one ends at a record terminator, a line end between),
    # a lone piece, and a truncated record at the end.
    garbled = (
        data[:first]
        + b"junk one\x1d\r\nmore junk\x1dand more"
        + data[first:second]
        + b"tail garbage"
        + data[second:]
        + data[:40]
    )
    path = tmp_path / "garbled.mrc"
    path.write_bytes(garbled)
    return path


def _key(record: int, offset: int, kind: str, message: str) -> tuple[int, int, str, str]:
    return (record, offset, kind, message)


def test_garbage_gives_the_same_problems_through_every_reader(tmp_path: Path) -> None:
    src = _input(tmp_path)

    report = marc8fast.transcode_file(src, tmp_path / "ref.mrc", to="utf8")
    by_file = [
        _key(p.record, p.record_offset, p.kind, p.message)
        for p in report.problems
        if p.kind in SKIPPED
    ]
    assert [k[2] for k in by_file] == ["garbage", "garbage", "truncated_record"], by_file

    with marc8fast.MARCReader(src) as reader:
        records = sum(1 for _ in reader)
        by_reader = [
            _key(p.record, p.record_offset, p.kind, p.message)
            for p in reader.problems
            if p.kind in SKIPPED
        ]
    assert records == report.records_read
    assert by_reader == by_file

    out, rep = tmp_path / "out.json", tmp_path / "problems.jsonl"
    r = subprocess.run(
        [
            *(sys.executable, "-m", "marc8fast", "convert", str(src), str(out)),
            *("--to", "utf8", "--format", "json", "--report", str(rep), "-q"),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        timeout=120,
    )
    assert r.returncode == 1, r.stderr
    lines = [json.loads(x) for x in rep.read_text(encoding="utf-8").splitlines()]
    by_convert = [
        (x["record"], x["record_offset"], x["kind"], x["message"])
        for x in lines
        if x["kind"] in SKIPPED
    ]
    # The CLI's reports place junk by its byte offset and number no record for it (issue 18,
    # item 8: one numbering of junk everywhere); the rest of each problem is the same.
    assert [k[0] for k in by_convert if k[2] == "garbage"] == [None, None]
    assert [k[1:] for k in by_convert] == [k[1:] for k in by_file]
    assert len(json.loads(out.read_text(encoding="utf-8"))) == records
