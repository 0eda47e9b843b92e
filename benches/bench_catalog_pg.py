#!/usr/bin/env python3
"""The catalog on PostgreSQL beside SQLite (issue 20), in one run on one machine:

1. ``marc8fast load`` of the realworld corpus (tests/data/realworld, ~3,700 records), and of
   ``--synthetic N`` made-up records (distinct OCLC numbers and titles, 4 subject words each),
   into a new SQLite file and into a new PostgreSQL database: records/s;
2. the Connexion receiver (``serve --connexion``) on each, 8 clients (bench_connexion.py's
   clients: one connection per record): records/s, p50/p99 latency;
3. Z39.50 retrieval (``serve --z3950``) on each, 8 clients (bench_z3950.py's ZOOM client: Search
   by system number + Present): records/s, p50/p99 latency.

With ``--lc``, step 1 also loads the 250,000-record LC corpus
(``$MARC8FAST_BENCH_DATA/BooksAll.marc8.mrc``, tools/bench_corpus.py; ``--lc-records N``: its
first N records) into each, and step 3 serves that catalog; the load average is printed beside
each figure, and beside each load the CPU time of the ``load`` process (client) and of the
PostgreSQL server's processes (server: the postmaster, its children and the backends that ended)
per record, with autovacuum off while the loads run (a worker's work would be counted in
whichever load runs then). ``--before PATH``: also load with another build's ``marc8fast``
(main's, say) right before this one's, in the same run, and with ``--repeat N`` N times, the
order turned each time (the later runs into new databases); ``--load-only``: step 1 only.

PostgreSQL is a throwaway cluster (tests/pgserver.py: initdb in a temporary folder, a unix socket,
``fsync=off`` as in the tests — say so beside the figures; SQLite runs with its usual settings).

    python benches/bench_catalog_pg.py [--seconds 5] [--lc] [--lc-records N] [--before PATH]
        [--repeat N] [--load-only]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(ROOT / "tests"),
    str(ROOT / "tests" / "support"),
    str(ROOT / "tests" / "catalog"),
    str(ROOT / "benches"),
]

import bench_connexion as bc  # noqa: E402
import bench_z3950 as bz  # noqa: E402
import pgserver  # noqa: E402

BIN = Path(sys.executable).parent
MARC8FAST = str(BIN / "marc8fast")


def corpus() -> list[str]:
    base = ROOT / "tests" / "data" / "realworld"
    return [
        str(p)
        for p in sorted([*base.iterdir(), *(base / "openlibrary").iterdir()])
        if p.is_file() and p.suffix in (".mrc", ".marc")
    ]


def synthetic(path: str, n: int) -> None:
    """``n`` UTF-8 records with distinct OCLC numbers and titles (what a weekly load looks
    like to the catalog: new records, each matched against the catalog first)."""
    from test_catalog_safety import iso2709

    words = ["history", "music", "jazz", "river", "poems", "letters", "science", "travel"]
    with open(path, "wb") as out:
        for k in range(n):
            out.write(
                iso2709(
                    ("001", f"ocn{5_000_000 + k}"),
                    ("003", "OCoLC"),
                    ("008", "990730s1999    xx            000 0 eng d"),
                    ("100", f"1 $aAuthor{k % 997}, A."),
                    ("245", f"10$aBook {k} of {words[k % 8]} and {words[(k // 8) % 8]}"),
                    ("650", f" 0$a{words[(k // 3) % 8]}$x{words[(k // 5) % 8]}"),
                )
            )


def lc_corpus(tmp: str, n: int) -> str:
    """The LC corpus, or its first ``n`` records in a file of their own."""
    data = os.environ.get("MARC8FAST_BENCH_DATA")
    if not data:
        raise SystemExit("--lc needs MARC8FAST_BENCH_DATA (the folder of BooksAll.marc8.mrc)")
    path = os.path.join(data, "BooksAll.marc8.mrc")
    if not n:
        return path
    with open(path, "rb") as f:
        records = f.read().split(b"\x1d")[:n]
    part = os.path.join(tmp, "lc-part.mrc")
    with open(part, "wb") as out:
        out.write(b"\x1d".join(records) + b"\x1d")
    return part


def loadavg() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _cpu_of(pid: int, children: bool) -> float:
    """CPU seconds of a process (and of its children that ended, if ``children``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _server_children(pm: int) -> set[int]:
    out = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            if int(rest[1]) == pm and rest[0] != "Z":
                out.add(int(p))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return out


def server_cpu(cluster: pgserver.Cluster, settle: set[int] | None = None) -> float:
    """CPU seconds of the PostgreSQL server so far: the postmaster with the backends that ended
    (once reaped), and its children still running (checkpointer, WAL writer, open sessions).
    ``settle``: first wait (up to 10 s) until the server's children are those again (the load's
    backend has ended and been reaped)."""
    pm = int((cluster.data / "postmaster.pid").read_text().split()[0])
    if settle is not None:
        deadline = time.monotonic() + 10
        while _server_children(pm) != settle and time.monotonic() < deadline:
            time.sleep(0.05)
    total = _cpu_of(pm, True)
    for p in _server_children(pm):
        try:
            total += _cpu_of(p, False)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def server_children(cluster: pgserver.Cluster) -> set[int]:
    return _server_children(int((cluster.data / "postmaster.pid").read_text().split()[0]))


def autovacuum(cluster: pgserver.Cluster, on: bool) -> None:
    """Autovacuum off while loads are timed: a worker vacuuming one load's tables would be
    counted in the server CPU of whichever load runs then."""
    import psycopg

    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET autovacuum = {'on' if on else 'off'}")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)


def timed_load(
    db: str, files: list[str], cluster: pgserver.Cluster | None = None, exe: str = MARC8FAST
) -> tuple[int, float, float, float]:
    """Records in the catalog after the load, seconds, client and server CPU seconds (the server's
    0 unless ``cluster``)."""
    from marc8fast.catalog import open_catalog

    def children() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    before = server_children(cluster) if cluster else set()
    s0 = server_cpu(cluster) if cluster else 0.0
    c0 = children()
    t0 = time.perf_counter()
    r = subprocess.run(
        [exe, "load", "-q", "--no-progress", "--db", db, *files],
        capture_output=True,
        text=True,
        check=False,
    )
    secs = time.perf_counter() - t0
    client = children() - c0
    server = server_cpu(cluster, before) - s0 if cluster else 0.0
    if r.returncode not in (0, 1):
        raise SystemExit(r.stderr)
    with open_catalog(db, readonly=True) as s:
        return s.count(), secs, client, server


def load_row(name: str, n: int, secs: float, client: float, server: float) -> str:
    per = (lambda x: f"{x / n * 1e6:,.0f}") if n else (lambda x: "-")
    return (
        f"| {name} | {n:,} | {secs:.2f} | {n / secs:,.0f} | {per(client)} | "
        f"{per(server) if server else '-'} | {loadavg()} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--synthetic", type=int, default=50_000, metavar="N")
    ap.add_argument("--lc", action="store_true", help="also load the LC corpus")
    ap.add_argument("--lc-records", type=int, default=0, metavar="N")
    ap.add_argument("--before", metavar="PATH", help="another build's marc8fast, loaded first")
    ap.add_argument("--load-only", action="store_true", help="only the loads (step 1)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N", help="each load N times")
    a = ap.parse_args()
    from marc8fast.catalog import open_catalog

    cluster = pgserver.Cluster()
    tmp = tempfile.mkdtemp(prefix="bench-catalog-")
    try:
        print(
            f"# {platform.node()}, {os.cpu_count()} CPUs, load average "
            f"{tuple(round(x, 2) for x in os.getloadavg())}, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        )
        files = corpus()
        targets = {
            "SQLite": os.path.join(tmp, "load.sqlite"),
            "PostgreSQL": cluster.new_database(),
        }
        print(
            "\n| load into | records | seconds | records/s | client CPU µs/record | "
            "server CPU µs/record | load average |\n|---|---:|---:|---:|---:|---:|---:|"
        )
        builds = [("before", a.before), ("", MARC8FAST)] if a.before else [("", MARC8FAST)]

        def loads(label: str, inputs: list[str], dbs: dict[str, str]) -> None:
            for name, target in dbs.items():
                for k, (build, exe) in enumerate(
                    b for r in range(a.repeat) for b in (builds[::-1] if r % 2 else builds)
                ):
                    db = target
                    if build or k >= len(builds):  # a new database of its own
                        db = os.path.join(tmp, f"{label}-{k}.sqlite")
                        if name == "PostgreSQL":
                            db = cluster.new_database()
                    pg = cluster if name == "PostgreSQL" else None
                    n, secs, client, server = timed_load(db, inputs, pg, exe)
                    shown = f"{name} ({label}{', ' + build if build else ''})"
                    print(load_row(shown, n, secs, client, server), flush=True)

        autovacuum(cluster, False)
        loads("realworld", files, targets)
        if a.lc:
            lc = lc_corpus(tmp, a.lc_records)
            targets = {
                "SQLite": os.path.join(tmp, "lc.sqlite"),
                "PostgreSQL": cluster.new_database(),
            }
            loads("LC", [lc], targets)
        if a.synthetic:
            made = os.path.join(tmp, "synthetic.mrc")
            synthetic(made, a.synthetic)
            loads(
                "synthetic",
                [made],
                {
                    "SQLite": os.path.join(tmp, "synthetic.sqlite"),
                    "PostgreSQL": cluster.new_database(),
                },
            )
        autovacuum(cluster, True)
        if a.load_only:
            return 0

        payloads = bc.records()
        print(
            "\n| receiver on | clients | requests | records/s | p50 ms | p99 ms | load average |"
            "\n|---|---:|---:|---:|---:|---:|---:|"
        )
        for name in ("SQLite", "PostgreSQL"):
            db = os.path.join(tmp, "recv.sqlite") if name == "SQLite" else cluster.new_database()
            subprocess.run([MARC8FAST, "catalog", "init", "--db", db], check=True)
            proc, port = bc.start_server(db)  # type: ignore[arg-type]
            try:
                r = bc.run_clients(port, payloads[:1600], a.clients)
            finally:
                proc.terminate()
                proc.wait(30)
            print(
                f"| {name} | {a.clients} | {r['requests']:.0f} | {r['records_per_s']:,.0f} | "
                f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {loadavg()} |"
            )

        zoom = bz.Zoom()
        print(
            "\n| Z39.50 on | clients | records | records/s | p50 ms | p99 ms | load average |"
            "\n|---|---:|---:|---:|---:|---:|---:|"
        )
        for name, db in targets.items():
            with open_catalog(db, readonly=True) as s:
                sysnos = [r.sysno for r in s.iter_records() if not r.deleted]
            proc, port = bz.start(
                [
                    *(MARC8FAST, "serve", "--db", db, "--no-auth"),
                    *("--z3950", "127.0.0.1:0", "--log", os.devnull),
                ],
                r"listening z3950 \S+:(\d+)",
                None,
            )
            try:
                queries = [f"@attr 1=12 {n}" for n in sysnos]
                r = bz.run_clients(
                    zoom, f"tcp:127.0.0.1:{port}/catalog", queries, a.clients, a.seconds
                )
            finally:
                proc.terminate()
                proc.wait(30)
            print(
                f"| {name} | {a.clients} | {r['records']:,.0f} | {r['rate']:,.0f} | "
                f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {loadavg()} |"
            )
        print(f"\n# load average at the end {tuple(round(x, 2) for x in os.getloadavg())}")
    finally:
        cluster.stop()
        subprocess.run(["rm", "-rf", tmp], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
