"""Issue 11: loads of the same file running at once store every input record exactly once.

Records without an OCLC number are the ones at risk (nothing else says they are the same): two
concurrent ``load`` runs of one file used to store both copies. Here two, then four, real
``marc8fast load`` processes load one file of such records into one catalog. To make them run
together, the test holds the catalog's write lock while they start, so that all of them are
waiting at the same point when it lets go; with small groups (``--batch-size``) their write
transactions then interleave. The guarantee itself does not depend on that timing: each record is
checked against the load log inside the write transaction that would store it, and a UNIQUE index
admits one loaded row per input record.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_catalog_safety import ROOT, SAMPLE, records, run, titled

RECORDS = 3000


def no_oclc_file(path: Path) -> list[str]:
    """RECORDS records with no 001, 003 or 035, each with its own title; returns the titles."""
    titles = [f"Concurrent record {i:04d} of a file loaded at once" for i in range(RECORDS)]
    path.write_bytes(b"".join(titled(t) for t in titles))
    return titles


def summary_counts(stderr: str) -> dict[str, int]:
    m = re.search(r"record\(s\): (.*?); ", stderr)
    assert m, stderr
    return {
        name: int(n.replace(",", ""))
        for n, name in (p.split(" ", 1) for p in m.group(1).split(", "))
    }


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 4])
def test_concurrent_loads_of_one_file_store_each_record_once(tmp_path, processes):
    db = tmp_path / "catalog.sqlite"
    assert run("load", SAMPLE, "--db", db, "-q").returncode == 0  # an existing catalog
    src = tmp_path / "same.mrc"
    titles = no_oclc_file(src)

    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "marc8fast",
                "load",
                str(src),
                "--db",
                str(db),
                "--batch-size",
                "1",
                "-q",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(processes)
    ]
    try:
        time.sleep(3)  # let them start and line up behind the lock (not an assertion)
    finally:
        holder.execute("COMMIT")
        holder.close()
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in err

    # Each input record is in the catalog exactly once.
    stored = records(db)
    assert len(stored) == 5 + RECORDS
    for t in titles:
        assert sum(t.encode() in data for data in stored.values()) == 1, t

    # Between them the processes loaded each record once; the others said it was already in.
    counts = [summary_counts(err) for _out, err in results]
    assert sum(c["new"] + c["possible duplicate"] for c in counts) == RECORDS
    for c in counts:
        assert c["new"] + c["possible duplicate"] + c["duplicate"] == RECORDS

    # The load log has one loaded row per input record, naming a record that exists.
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT record_index, count(*), min(sysno) FROM load_log "
            "WHERE input_file=? AND fate IN ('new', 'possible_duplicate', 'overlaid') "
            "GROUP BY record_index",
            (str(src),),
        ).fetchall()
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    assert sorted(r[0] for r in rows) == list(range(1, RECORDS + 1))
    assert all(r[1] == 1 and r[2] in stored for r in rows)


def test_the_load_log_refuses_a_second_loaded_row_for_one_input_record(tmp_path):
    """The backstop: even a writer that skipped the check cannot log an input record as loaded
    twice (the transaction fails instead of storing a double)."""
    db = tmp_path / "catalog.sqlite"
    assert run("load", SAMPLE, "--db", db, "-q").returncode == 0
    con = sqlite3.connect(db, isolation_level=None)
    try:
        batch, digest, index, sysno = con.execute(
            "SELECT batch_id, input_hash, record_index, sysno FROM load_log WHERE fate='new' "
            "LIMIT 1"
        ).fetchone()
        row = (batch, "x", digest, index, "{}", sysno, "m", "t")
        sql = (
            "INSERT INTO load_log (batch_id, input_file, input_hash, record_index, fate, "
            "sysno, message, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        for fate in ("new", "possible_duplicate", "overlaid"):
            with pytest.raises(sqlite3.IntegrityError):
                con.execute(sql, tuple(fate if v == "{}" else v for v in row))
        # the other fates are a history: a re-run logs "duplicate", a rejected record again
        for fate in ("duplicate", "rejected", "duplicate"):
            con.execute(sql, tuple(fate if v == "{}" else v for v in row))
    finally:
        con.close()


def test_concurrent_imports_in_threads_store_each_record_once(tmp_path):
    """The same guarantee for callers in one process (the receiver of issue 12 serves requests on
    threads through the same import steps): each thread with its own store."""
    import threading

    from marc8fast import flows

    db = tmp_path / "catalog.sqlite"
    flows.import_records([SAMPLE], db)
    src = tmp_path / "same.mrc"
    titles = no_oclc_file(src)
    summaries: list[flows.LoadSummary] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            summaries.append(flows.import_records([src], db, batch_size=1))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    stored = records(db)
    assert len(stored) == 5 + RECORDS
    for t in titles[:: RECORDS // 50]:
        assert sum(t.encode() in data for data in stored.values()) == 1, t
    assert sum(s.fates["new"] + s.fates["possible_duplicate"] for s in summaries) == RECORDS
