"""Issue 18, item 13: ``load`` reads its input once, as a stream.

Before, ``load`` hashed the file in a first pass and read its records in a second: ``load <(cat
x.mrc)`` said "the file is empty" (the pipe was drained by the hash), a named pipe hung (the
second open waited for a writer that had gone) and ``load -`` was refused although ``validate -``
worked. Each input record is now keyed by the SHA-256 of the input up to where the next record
starts, known while the input streams by; these tests run the real ``marc8fast`` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from test_flows_import import ROOT, catalog, check_consistent, run_cli

import marc8fast

DATA = Path(__file__).parent.parent / "data"
SRC = DATA / "realworld" / "uva_001_2000.mrc"  # 2,000 MARC-8 records, 2.4 MB: many pipe buffers


def _load(
    *args: str | Path,
    stdin: bytes | None = None,
    pass_fds: tuple[int, ...] = (),
    timeout: float = 300,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "marc8fast", "load", *map(str, args)],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=timeout,
        pass_fds=pass_fds,
    )


def _stored(db: Path) -> list[bytes]:
    with catalog(db) as s:
        return [r.data for r in sorted(s.iter_records(), key=lambda r: r.sysno)]


def _report(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _reference(tmp_path: Path) -> list[bytes]:
    db = tmp_path / "ref.sqlite"
    run_cli("load", SRC, "--db", db, "-q", check=0)
    stored = _stored(db)
    assert len(stored) > 1990  # two records duplicate others by OCLC number
    return stored


def _writer(path: str, data: bytes) -> threading.Thread:
    def write() -> None:
        with open(path, "wb") as fh:  # opening a FIFO waits for its reader
            for k in range(0, len(data), 65536):
                fh.write(data[k : k + 65536])

    t = threading.Thread(target=write, daemon=True)
    t.start()
    return t


def test_load_dash_reads_standard_input(tmp_path: Path) -> None:
    ref = _reference(tmp_path)
    db = tmp_path / "c.sqlite"
    report = tmp_path / "r.jsonl"
    proc = _load("-", "--db", db, "--report", report, "-q", stdin=SRC.read_bytes())
    assert proc.returncode == 0, proc.stderr.decode()
    assert _stored(db) == ref
    rows = _report(report)
    assert len(rows) == 2000 and {r["file"] for r in rows} == {"<stdin>"}
    loaded = [r["fate"] in ("new", "possible_duplicate") for r in rows]
    assert sum(loaded) == len(ref)
    # The same bytes again, from the file this time: every record is known (the key of an input
    # record does not depend on how the input arrives).
    again = tmp_path / "r2.jsonl"
    proc = _load(SRC, "--db", db, "--report", again, "-q")
    assert proc.returncode == 0, proc.stderr.decode()
    rows = _report(again)
    assert len(rows) == 2000
    assert ["already loaded from this file" in r["message"] for r in rows] == loaded
    assert _stored(db) == ref
    check_consistent(db)


def test_load_of_a_process_substitution_pipe(tmp_path: Path) -> None:
    """What ``load <(cat x.mrc)`` hands the command: /dev/fd/N, the read end of a pipe."""
    ref = _reference(tmp_path)
    db = tmp_path / "c.sqlite"
    r, w = os.pipe()
    try:
        t = threading.Thread(target=_write_all, args=(w, SRC.read_bytes()), daemon=True)
        t.start()
        proc = _load(f"/dev/fd/{r}", "--db", db, "-q", pass_fds=(r,))
        t.join(timeout=60)
    finally:
        os.close(r)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"empty" not in proc.stderr
    assert _stored(db) == ref


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view[:65536])
            view = view[n:]
    finally:
        os.close(fd)


def test_load_of_a_named_pipe(tmp_path: Path) -> None:
    ref = _reference(tmp_path)
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    db = tmp_path / "c.sqlite"
    t = _writer(str(fifo), SRC.read_bytes())
    # A load of these 2,000 records takes about a second; before, it hung (TimeoutExpired).
    proc = _load(fifo, "--db", db, "-q", timeout=120)
    t.join(timeout=60)
    assert not t.is_alive()
    assert proc.returncode == 0, proc.stderr.decode()
    assert _stored(db) == ref
    check_consistent(db)


def test_a_file_grown_by_appended_records_keeps_its_records_keys(tmp_path: Path) -> None:
    """The key of record N covers the input up to record N+1: records appended later do not
    change the keys of those before them, so they load and the others are known."""
    raw = SRC.read_bytes()
    recs = [r for _n, _o, r in marc8fast.read_records(raw)]
    head = tmp_path / "head.mrc"
    head.write_bytes(b"".join(recs[:10]))
    db = tmp_path / "c.sqlite"
    assert _load(head, "--db", db, "-q").returncode == 0
    grown = tmp_path / "grown.mrc"
    grown.write_bytes(b"".join(recs[:15]))
    report = tmp_path / "r.jsonl"
    proc = _load("-", "--db", db, "--report", report, "-q", stdin=grown.read_bytes())
    assert proc.returncode == 0, proc.stderr.decode()
    rows = _report(report)
    known = ["already loaded from this file" in r["message"] for r in rows]
    assert known == [True] * 10 + [False] * 5
    check_consistent(db)


def test_an_empty_pipe_and_stdin_twice(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    proc = _load("-", "--db", db, stdin=b"")
    assert proc.returncode == 1
    assert b"<stdin>: no records: the file is empty" in proc.stdout + proc.stderr
    proc = _load("-", "-", "--db", db, stdin=b"")
    assert proc.returncode == 2
    assert b"standard input" in proc.stderr
