"""Issue 6: a crash in the middle of a load leaves the catalog consistent, and re-running the load
completes it with no duplicate and no lost record.

A real ``python -m marc8fast load`` process loads a generated file (corpus records repeated, each
with its own OCLC number in 001/003, so none is a duplicate of another) and is killed with
SIGKILL once some groups are committed (the test polls the catalog's record count through its own
connection). The same command is then run again.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from test_flows_import import DATA, ROOT, check_consistent, run_cli

import marc8fast
from marc8fast import Field, Record

SOURCES = ["uva_001_2000.mrc", "lul_fre_500.mrc", "jazz_1k.mrc", "hebrew.marc"]


def big_file(path, copies: int) -> int:
    base = []
    for name in SOURCES:
        for _n, _o, raw in marc8fast.read_records((DATA / "realworld" / name).read_bytes()):
            base.append(Record.parse(raw, trust="data", expand_ncr=True))
    chunks = []
    number = 0
    for _ in range(copies):
        for rec in base:
            number += 1
            # 019 too: former OCLC numbers are OCLC numbers (issue 18), and the copies must not
            # share one
            rec.remove_fields("001", "003", "019", "035")
            rec.add_ordered_field(Field("001", data=f"ocm{number:08d}"))
            rec.add_ordered_field(Field("003", data="OCoLC"))
            chunks.append(rec.to_bytes(encoding="marc8"))
    path.write_bytes(b"".join(chunks))
    return number


def count(db) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM records").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0  # not created yet


@pytest.mark.slow
def test_sigkill_mid_load_then_rerun(tmp_path):
    src = tmp_path / "big.mrc"
    total = big_file(src, copies=10)
    assert total == 35_200
    db = tmp_path / "catalog.sqlite"
    cmd = [sys.executable, "-m", "marc8fast", "load", str(src), "--db", str(db)]
    proc = subprocess.Popen(
        [*cmd, "--batch-size", "100", "-q"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while count(db) < 3000:
            assert proc.poll() is None, "the load finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = count(db)
    assert 3000 <= killed_at < total, killed_at
    # consistent after the crash: every record has its log row and the reverse
    check_consistent(db)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()

    again = run_cli("load", src, "--db", db, "-q", check=0)
    check_consistent(db)
    con = sqlite3.connect(db)
    n = con.execute("SELECT count(*) FROM records").fetchone()[0]
    assert n == total  # no lost record, no duplicate
    numbers = [r[0] for r in con.execute("SELECT number FROM oclc")]
    assert len(numbers) == len(set(numbers)) == total
    assert set(numbers) == {str(k) for k in range(1, total + 1)}
    per_sysno = con.execute("SELECT count(*) FROM oclc GROUP BY sysno HAVING count(*) != 1")
    assert per_sysno.fetchall() == []
    # the rerun reported the records already in as duplicates of what they became
    fates = dict(
        con.execute(
            "SELECT fate, count(*) FROM load_log WHERE batch_id = (SELECT max(batch_id) FROM "
            "batches) GROUP BY fate"
        ).fetchall()
    )
    assert fates.get("duplicate", 0) >= killed_at
    assert sum(fates.values()) == total
    con.close()
    assert "rejected" in again.stderr  # the summary line
    # and a third run changes nothing
    run_cli("load", src, "--db", db, "-q", check=0)
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM records").fetchone()[0] == total
    con.close()
