"""Issue 10: a stray record terminator (0x1D) inside a field must not cost a record, wherever the
loader's read buffer happens to end.

The loader used to cut its input at the last 0x1D of each 16 MiB chunk; a record holding a stray
0x1D just before that boundary was cut in two (a ``length_mismatch`` record followed by
``garbage``) and one record was lost. This builds the file as a user meets it — records made with
pymarc, one of them with a 0x1D in a 500 $a one byte before each power-of-two boundary from
64 KiB to 16 MiB — loads it with the real command and checks every record is in the catalog.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pymarc
from test_flows_import import run_cli

import marc8fast

BOUNDARIES = [1 << k for k in range(16, 25)]  # 64 KiB ... 16 MiB
SIZE = 7_000  # bytes of an ordinary record


def _record(serial: int, size: int, stray_at: int | None = None) -> bytes:
    """A UTF-8 record of exactly ``size`` bytes; with ``stray_at``, byte ``stray_at`` of the
    record is a 0x1D inside the 500 $a."""
    rec = pymarc.Record(force_utf8=True, leader="     nam a22     4a 4500")
    rec.add_field(pymarc.Field(tag="001", data=f"stray{serial:06d}"))
    rec.add_field(
        pymarc.Field(
            tag="245",
            indicators=pymarc.Indicators("1", "0"),
            subfields=[pymarc.Subfield("a", f"Title number {serial}")],
        )
    )
    note = pymarc.Field(
        tag="500", indicators=pymarc.Indicators(" ", " "), subfields=[pymarc.Subfield("a", "x")]
    )
    rec.add_field(note)
    short = len(rec.as_marc())
    note.subfields = [pymarc.Subfield("a", "x" * (size - short + 1))]
    raw = bytearray(rec.as_marc())
    assert len(raw) == size
    if stray_at is not None:
        start = raw.index(b"\x1fa" + b"x" * 10) + 2
        assert start <= stray_at < len(raw) - 2
        raw[stray_at] = 0x1D
    return bytes(raw)


def _build(path: Path) -> int:
    out = bytearray()
    serial = 0
    for boundary in BOUNDARIES:
        stray_record_start = boundary - 1 - (SIZE - 500)  # the 0x1D sits 500 bytes before its end
        while stray_record_start - len(out) >= SIZE + 1_000:
            serial += 1
            out += _record(serial, SIZE)
        gap = stray_record_start - len(out)
        if gap:
            serial += 1
            out += _record(serial, gap)
        serial += 1
        out += _record(serial, SIZE, stray_at=SIZE - 500)
        assert out[boundary - 1] == 0x1D and len(out) > boundary
    for _ in range(3):
        serial += 1
        out += _record(serial, SIZE)
    path.write_bytes(out)
    return serial


def test_stray_terminator_before_a_chunk_boundary_loses_nothing(tmp_path: Path) -> None:
    src = tmp_path / "stray.mrc"
    n = _build(src)
    # the one record splitter reads every record of the whole file cleanly
    records, problems = marc8fast.read_records_report(src.read_bytes())
    assert len(records) == n and not problems
    db = tmp_path / "c.sqlite"
    r = run_cli("load", src, "--db", db, "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{n:,} record(s): {n:,} new, 0 possible duplicate" in r.stderr
    with sqlite3.connect(db) as con:
        (stored,) = con.execute("SELECT count(*) FROM records").fetchone()
    assert stored == n
