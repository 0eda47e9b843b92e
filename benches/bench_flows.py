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

Run:  python3 benches/bench_flows.py                       (full corpus)
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


if __name__ == "__main__":
    raise SystemExit(main())
