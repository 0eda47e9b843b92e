#!/usr/bin/env python3
"""The import and export flows on the LC corpus: load it into a fresh catalog, export it again.

Loads ``BooksAll.marc8.mrc`` (250,000 LC records, MARC-8 made by yaz; see ``tools/bench_corpus.py``)
into a new SQLite catalog with ``marc8fast.flows.import_records`` (every record converted, the
local rules applied, matched against the catalog, committed in groups with its load-log row), then
exports every record with ``marc8fast.flows.export_records`` (MARC-8, lossless). Each step runs
in its own process so that its peak RSS can be read (``os.wait4``); the time is taken inside the
child around the call (interpreter start and imports excluded). Targets on the 2-core reference
machine: load >= 5,000 records/s, export >= 20,000 records/s.

``--profile`` also runs each step once under cProfile (on ``--profile-records`` records) and prints
the top functions by own time, to say what bounds it.

``--writes`` measures the SQLite writes alone (issue 21, i21-sqlspeed): the rows a load of the
first ``--limit-records`` records hands to the catalog (``insert_many`` and the load-log rows) are
captured, then written again into a fresh catalog with nothing else in the process, group by
group, each table's statement timed (CPU seconds of the process and wall seconds): the ceiling any
loader writing this schema through one SQLite connection can reach on this machine.

Run:  python3 benches/bench_flows.py                       (full corpus)
      python3 benches/bench_flows.py --limit-records 50000 --batch-size 5000 --writes
      python3 benches/bench_flows.py --limit-records 20000 --profile
      python3 benches/bench_flows.py --tmpdir /dev/shm --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MARC8FAST_BENCH_DATA", ROOT / "bench-data"))

CHILD = r"""
import json, sys, time
from marc8fast import flows
step, src, db, out, batch = sys.argv[1:6]
t0 = time.perf_counter()
if step == "load":
    s = flows.import_records([src], db, batch_size=int(batch))
    n, detail = s.records, dict(s.fates)
else:
    s = flows.export_records(None, db, out)
    n, detail = s.records, {**dict(s.fates), "unmappable": s.unmappable}
secs = time.perf_counter() - t0
print(json.dumps({"step": step, "records": n, "seconds": secs, "detail": detail}))
"""

PROFILE = r"""
import cProfile, pstats, sys
from marc8fast import flows
step, src, db, out, batch = sys.argv[1:6]
prof = cProfile.Profile()
prof.enable()
if step == "load":
    flows.import_records([src], db, batch_size=int(batch))
else:
    flows.export_records(None, db, out)
prof.disable()
st = pstats.Stats(prof)
st.sort_stats("tottime").print_stats(18)
"""

CAPTURE = r"""
import pickle, sys
from marc8fast import flows
from marc8fast.catalog import sqlite as sq, sqlite_bulk
src, db, out, batch = sys.argv[1:5]
rows, logs = [], []
insert_many, flush_log = sqlite_bulk.SQLiteBulkWrites.insert_many, sq.SQLiteStore._flush_log
def capture_rows(self, r):
    rows.extend(r)
    return insert_many(self, r)
def capture_log(self):
    logs.extend(self._pending_log)
    return flush_log(self)
sqlite_bulk.SQLiteBulkWrites.insert_many = capture_rows
sq.SQLiteStore._flush_log = capture_log
flows.import_records([src], db, batch_size=int(batch))
with open(out, "wb") as fh:
    pickle.dump((rows, logs), fh)
"""

# The same statements as SQLiteStore.insert_many and _flush_log, one table at a time, with the
# connection set up as a bulk writer's (WAL, synchronous=NORMAL, 64 MiB cache, checkpoint every
# 16,000 pages); a group per transaction.
WRITES = r"""
import json, os, pickle, sqlite3, sys, time
from marc8fast.catalog.sqlite import SQLiteStore
rows_file, db_path, group = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(rows_file, "rb") as fh:
    rows, logs = pickle.load(fh)
SQLiteStore(db_path, create=True).close()
db = sqlite3.connect(db_path, isolation_level=None)
for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536",
               "wal_autocheckpoint=16000"):
    db.execute("PRAGMA " + pragma)
db.execute("INSERT INTO batches (batch_id, started_at, description) VALUES (1, 'x', 'x')")
T = "2026-12-06T15:00:00.000000Z"
stmts = {
    "records": ("INSERT INTO records (sysno, data, title_key, deleted, created_at, updated_at) "
                "VALUES (?, ?, ?, 0, ?, ?)",
                lambda s, r: [(s, r.data, r.title_key, T, T)]),
    "oclc": ("INSERT OR IGNORE INTO oclc VALUES (?, ?)", lambda s, r: [(n, s) for n in r.oclc]),
    "search_index": ("INSERT INTO search_index (rowid, title, author, subject, isbn, issn, oclc) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", lambda s, r: [(s, *r.terms)]),
    "match_keys": ("INSERT OR IGNORE INTO match_keys VALUES (?, ?, ?)",
                   lambda s, r: [(k, v, s) for k, v in r.keys]),
    "events": ("INSERT INTO events (sysno, time, action, batch_id, source, detail) "
               "VALUES (?, ?, 'created', 1, 'bench', ?)", lambda s, r: [(s, T, r.detail)]),
}
LOG = ("INSERT INTO load_log (batch_id, input_file, input_hash, record_index, fate, sysno, "
       "message, time) VALUES (1, ?, ?, ?, ?, ?, ?, ?)")
cpu = {k: 0.0 for k in [*stmts, "load_log", "commit"]}
wall = dict(cpu)
c0, w0 = time.process_time(), time.perf_counter()
for g in range(0, len(rows), group):
    db.execute("BEGIN IMMEDIATE")
    part = list(enumerate(rows[g : g + group], start=g + 1))
    for name, (sql, make) in stmts.items():
        params = [p for s, r in part for p in make(s, r)]
        c, w = time.process_time(), time.perf_counter()
        db.executemany(sql, params)
        cpu[name] += time.process_time() - c
        wall[name] += time.perf_counter() - w
    params = [(l[1], l[2], l[3], str(l[4]), l[5], l[6], l[7]) for l in logs[g : g + group]]
    c, w = time.process_time(), time.perf_counter()
    db.executemany(LOG, params)
    cpu["load_log"] += time.process_time() - c
    wall["load_log"] += time.perf_counter() - w
    c, w = time.process_time(), time.perf_counter()
    db.execute("COMMIT")
    cpu["commit"] += time.process_time() - c
    wall["commit"] += time.perf_counter() - w
c1, w1 = time.process_time() - c0, time.perf_counter() - w0
print(json.dumps({"records": len(rows), "cpu": cpu, "wall": wall, "cpu_total": c1,
                  "wall_total": w1}))
"""


def run_child(code: str, *args: str) -> tuple[str, int]:
    """Run ``code`` in a child Python; return (stdout, peak RSS in KiB)."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {args}")
    return out, usage.ru_maxrss


def prefix(src: Path, n: int, dst: Path) -> Path:
    """The first ``n`` records of ``src`` (split by marc8fast's record layer) into ``dst``."""
    from marc8fast.bench import write_prefix

    write_prefix(src, dst, n)
    return dst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--file", type=Path, default=DATA / "BooksAll.marc8.mrc")
    ap.add_argument("--limit-records", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--profile-records", type=int, default=20000)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--writes", action="store_true", help="the SQLite writes alone (see above)")
    args = ap.parse_args()
    if not args.file.exists():
        print(f"{args.file} is missing: run python3 tools/bench_corpus.py", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        t = Path(tmp)
        src = args.file
        if args.limit_records:
            src = prefix(src, args.limit_records, t / "prefix.mrc")
        db, out = t / "catalog.sqlite", t / "export.mrc"
        if args.writes:
            return writes_only(src, t, args.batch_size)
        for step in ("load", "export"):
            line, rss = run_child(CHILD, step, str(src), str(db), str(out), str(args.batch_size))
            r = json.loads(line)
            r["peak_rss_mb"] = rss / 1024
            r["records_per_s"] = r["records"] / r["seconds"]
            results.append(r)
            print(
                f"{step:<6} {r['records']:>9,} records in {r['seconds']:7.2f} s = "
                f"{r['records_per_s']:>9,.0f} records/s, peak RSS {r['peak_rss_mb']:,.0f} MB  "
                f"{r['detail']}"
            )
        print(
            f"catalog {db.stat().st_size / 1e6:,.1f} MB, export {out.stat().st_size / 1e6:,.1f} MB "
            f"(input {src.stat().st_size / 1e6:,.1f} MB)"
        )
        if args.profile:
            psrc = prefix(args.file, args.profile_records, t / "profile.mrc")
            pdb, pout = t / "profile.sqlite", t / "profile-export.mrc"
            for step in ("load", "export"):
                print(f"\n== cProfile: {step}, {args.profile_records:,} records")
                text, _ = run_child(
                    PROFILE, step, str(psrc), str(pdb), str(pout), str(args.batch_size)
                )
                print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def writes_only(src: Path, t: Path, batch: int) -> int:
    """Capture the rows a load writes, then time writing them alone (see the module notes)."""
    rows = t / "rows.pickle"
    run_child(CAPTURE, str(src), str(t / "capture.sqlite"), str(rows), str(batch))
    line, rss = run_child(WRITES, str(rows), str(t / "writes.sqlite"), str(batch))
    r = json.loads(line)
    n = r["records"]
    print(
        f"writes alone: {n:,} records in groups of {batch:,}: CPU {r['cpu_total']:.2f} s "
        f"(= {n / r['cpu_total']:,.0f} records per CPU second), wall {r['wall_total']:.2f} s "
        f"(= {n / r['wall_total']:,.0f} records/s), peak RSS {rss / 1024:,.0f} MB, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    for name, secs in r["cpu"].items():
        us = secs / n * 1e6
        print(
            f"  {name:<13} CPU {secs:6.2f} s  {us:5.1f} us/record   wall {r['wall'][name]:6.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
