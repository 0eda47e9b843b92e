"""Retrieval by system number over Z39.50 (issues 13, 22): ``marc8fast serve --z3950`` beside
``yaz-ztest`` (YAZ's own test server), driven by the same client in the same run.

The client is ``benches/zoom_bench.c`` (YAZ's ZOOM C library, compiled by this script with
``cc``; YAZ's headers come with ``libyaz-dev``): N threads, each its own connection, Init once,
then per record a Search ``@attr 1=12 SYSNO`` and a Present of record 1 in USMARC (piggyback
off, so each record costs the two round trips Connexion makes). Latency is that search +
present pair, from a histogram of 10 us buckets. The client costs ~40 us of CPU a pair, so it
is not what limits yaz-ztest (the ctypes client of issue 13, ``--client python``, was). Each
row runs yaz-ztest and our server one after the other and gives the ratio of the two, so a
machine shared with other work still gives comparable figures; the CPU the server used per
record (user + system, its processes) is printed too.

    python benches/bench_z3950.py [--seconds 5] [--clients 1 16] [--postgresql]
                                  [--baseline OTHER/python]

``--baseline`` adds rows for the server of another checkout (its ``python`` folder, with the
``_native`` module built or copied in): a before/after in the same run.

The catalog is the realworld corpus of tests/data loaded into a temporary file (and, with
``--postgresql``, into a throwaway PostgreSQL cluster: tests/support/pgserver.py).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MARC8FAST = str(BIN / "marc8fast")


class Zoom:
    def __init__(self) -> None:
        lib = ctypes.CDLL("libyaz.so.5")
        vp, cp = ctypes.c_void_p, ctypes.c_char_p
        sigs = {
            "ZOOM_connection_create": (vp, [vp]),
            "ZOOM_connection_option_set": (None, [vp, cp, cp]),
            "ZOOM_connection_connect": (None, [vp, cp, ctypes.c_int]),
            "ZOOM_connection_error": (ctypes.c_int, [vp, ctypes.POINTER(cp), ctypes.POINTER(cp)]),
            "ZOOM_connection_search_pqf": (vp, [vp, cp]),
            "ZOOM_connection_destroy": (None, [vp]),
            "ZOOM_resultset_size": (ctypes.c_size_t, [vp]),
            "ZOOM_resultset_record": (vp, [vp, ctypes.c_size_t]),
            "ZOOM_resultset_destroy": (None, [vp]),
            "ZOOM_record_get": (vp, [vp, cp, ctypes.POINTER(ctypes.c_int)]),
        }
        for name, (res, args) in sigs.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        self.lib = lib

    def error(self, conn: int) -> str | None:
        msg, add = ctypes.c_char_p(), ctypes.c_char_p()
        code = self.lib.ZOOM_connection_error(conn, ctypes.byref(msg), ctypes.byref(add))
        if not code:
            return None
        return f"{code} {(msg.value or b'').decode()} {(add.value or b'').decode()}"

    def connect(self, target: str, user: str | None, password: str | None) -> int:
        c = self.lib.ZOOM_connection_create(None)
        for k, v in (
            ("preferredRecordSyntax", "usmarc"),
            ("piggyback", "0"),
            ("user", user),
            ("password", password),
        ):
            if v is not None:
                self.lib.ZOOM_connection_option_set(c, k.encode(), v.encode())
        self.lib.ZOOM_connection_connect(c, target.encode(), 0)
        err = self.error(c)
        if err:
            raise RuntimeError(f"{target}: {err}")
        return int(c)

    def fetch(self, conn: int, pqf: str) -> int:
        """Search, then present record 1; the record's length (0 if there was none)."""
        rs = self.lib.ZOOM_connection_search_pqf(conn, pqf.encode())
        try:
            if self.lib.ZOOM_resultset_size(rs) == 0:
                return 0
            rec = self.lib.ZOOM_resultset_record(rs, 0)
            if not rec:
                raise RuntimeError(self.error(conn) or "no record")
            n = ctypes.c_int(0)
            self.lib.ZOOM_record_get(rec, b"raw", ctypes.byref(n))
            return n.value
        finally:
            self.lib.ZOOM_resultset_destroy(rs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_clients(
    zoom: Zoom,
    target: str,
    queries: list[str],
    clients: int,
    seconds: float,
    user: str | None = None,
    password: str | None = None,
) -> dict[str, float]:
    conns = [zoom.connect(target, user, password) for _ in range(clients)]
    for c in conns:  # warm up: every connection once
        zoom.fetch(c, queries[0])
    lat: list[list[float]] = [[] for _ in range(clients)]
    sizes = [0] * clients
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        k = i
        c = conns[i]
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            n = zoom.fetch(c, queries[k % len(queries)])
            lat[i].append(time.perf_counter() - t0)
            if n == 0:
                raise RuntimeError(f"no record for {queries[k % len(queries)]}")
            sizes[i] += n
            k += clients

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for c in conns:
        zoom.lib.ZOOM_connection_destroy(c)
    every = sorted(x for xs in lat for x in xs)
    return {
        "records": len(every),
        "rate": len(every) / wall,
        "p50_ms": statistics.median(every) * 1000,
        "p99_ms": every[min(len(every) - 1, int(len(every) * 0.99))] * 1000,
        "bytes": sum(sizes) / max(1, len(every)),
    }


def start(
    cmd: list[str], pattern: str | None, port: int | None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stderr is not None
    if pattern is not None:
        for line in proc.stderr:
            m = re.search(pattern, line)
            if m:
                port = int(m.group(1))
                break
    assert port is not None
    threading.Thread(target=lambda: [None for _ in proc.stderr or ()], daemon=True).start()
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, port


def build_client(folder: str) -> str:
    """Compile zoom_bench.c (cc, -lyaz) into ``folder``; its path."""
    out = os.path.join(folder, "zoom_bench")
    cc = os.environ.get("CC", "cc")
    src = str(ROOT / "benches" / "zoom_bench.c")
    r = subprocess.run(
        [cc, "-O2", "-o", out, src, "-lyaz", "-lpthread"], capture_output=True, text=True
    )
    if r.returncode:
        raise SystemExit(
            f"bench_z3950: cannot compile {src} (needs cc and libyaz-dev):\n{r.stderr.strip()}"
        )
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(name)] = int(fields[1])
        times[int(name)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += times.get(p, 0.0)
        todo += [c for c, pp in parents.items() if pp == p]
    return total


def run_c(
    client: str,
    target: str,
    queries: list[str],
    clients: int,
    seconds: float,
    user: str | None,
    password: str | None,
    server_pid: int,
    folder: str,
) -> dict[str, float]:
    qfile = os.path.join(folder, "queries.txt")
    with open(qfile, "w", encoding="ascii") as fh:
        fh.write("\n".join(queries) + "\n")
    cpu0 = cpu_seconds(server_pid)
    r = subprocess.run(
        [client, target, user or "-", password or "-", str(clients), str(seconds), qfile],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    cpu = cpu_seconds(server_pid) - cpu0
    if r.returncode or not r.stdout.strip():
        raise RuntimeError(f"zoom_bench {target}: {r.stderr.strip() or r.stdout.strip()}")
    out: dict[str, float] = json.loads(r.stdout)
    if out["errors"]:
        raise RuntimeError(f"zoom_bench {target}: {out['errors']} errors, {out['error']}")
    out["records"] = out["requests"]
    out["server_us"] = cpu / max(1, out["requests"]) * 1e6
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    ap.add_argument(
        "--postgresql",
        action="store_true",
        help="also our server on a PostgreSQL catalog (tests/support/pgserver.py)",
    )
    ap.add_argument(
        "--baseline",
        metavar="DIR",
        help="also serve with the marc8fast package found in DIR (another checkout's python/)",
    )
    ap.add_argument(
        "--python-path",
        action="store_true",
        help="also our server with its native hot path off (MARC8FAST_Z3950_HOT=0): every "
        "request answered by the Python backend, as before the hot path",
    )
    ap.add_argument(
        "--client",
        choices=("c", "python"),
        default="c",
        help="c: zoom_bench.c (the default); python: issue 13's ctypes client",
    )
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from marc8fast.catalog import open_catalog
    from marc8fast.flows.accounts import add_user

    zoom = Zoom() if a.client == "python" else None
    cluster = None
    with tempfile.TemporaryDirectory() as tmp:
        client = build_client(tmp) if zoom is None else ""
        files = sorted(
            str(p)
            for p in (ROOT / "tests/data/realworld").iterdir()
            if p.suffix in (".mrc", ".marc")
        )
        dbs = {"SQLite": os.path.join(tmp, "catalog.db")}
        if a.postgresql:
            import pgserver

            cluster = pgserver.Cluster()
            dbs["PostgreSQL"] = cluster.new_database()
        servers: dict[str, tuple[subprocess.Popen[str], int]] = {}
        try:
            sysnos: list[int] = []
            for db in dbs.values():
                subprocess.run(
                    [MARC8FAST, "load", "-q", "--no-progress", "--db", db, *files], check=False
                )
                with open_catalog(db) as store:
                    add_user(store, "bench", "bench-password-1")
                    sysnos = [r.sysno for r in store.iter_records() if not r.deleted]
            serve = ["serve", "--z3950", "127.0.0.1:0", "--log", os.devnull, "--db"]
            for name, db in dbs.items():
                servers[name] = start([MARC8FAST, *serve, db], r"listening z3950 \S+:(\d+)", None)
                if a.python_path:
                    servers[f"{name} (Python path)"] = start(
                        [MARC8FAST, *serve, db],
                        r"listening z3950 \S+:(\d+)",
                        None,
                        env={**os.environ, "MARC8FAST_Z3950_HOT": "0"},
                    )
                if a.baseline:
                    servers[f"{name} (baseline)"] = start(
                        [sys.executable, "-m", "marc8fast", *serve, db],
                        r"listening z3950 \S+:(\d+)",
                        None,
                        env={**os.environ, "PYTHONPATH": os.path.abspath(a.baseline)},
                    )
            zport = free_port()
            servers["yaz-ztest"] = start(["yaz-ztest", "-T", f"tcp:127.0.0.1:{zport}"], None, zport)
            queries = [f"@attr 1=12 {n}" for n in sysnos]
            # yaz-ztest answers any term; a number N gives N hits, record 1 is one of its own
            ztest_queries = [f"@attr 1=12 {1 + n % 9}" for n in sysnos]
            print(
                f"# {platform.node()} {platform.processor() or platform.machine()}, "
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()}, "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {len(sysnos)} records, "
                f"client {'zoom_bench.c' if zoom is None else 'ctypes ZOOM'}"
            )
            print(
                "| server | catalog | clients | records/s | × yaz-ztest | p50 ms | p99 ms | "
                "server CPU µs/record | bytes/record |"
            )
            print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
            for clients in a.clients:
                ztest_rate = 0.0
                rows: list[tuple[str, str, str, list[str], str | None]] = [
                    ("yaz-ztest", "-", f"tcp:127.0.0.1:{zport}/Default", ztest_queries, None)
                ]
                for name in servers:
                    if name == "yaz-ztest":
                        continue
                    port = servers[name][1]
                    label = "marc8fast serve" + (f" ({name.split(' (')[1]}" if " (" in name else "")
                    rows.append((label, name, f"tcp:127.0.0.1:{port}/catalog", queries, "bench"))
                for label, catalog, target, qs, user in rows:
                    server = servers["yaz-ztest" if catalog == "-" else catalog][0]
                    password = "bench-password-1" if user else None
                    if zoom is None:
                        r = run_c(
                            client,
                            target,
                            qs,
                            clients,
                            a.seconds,
                            user,
                            password,
                            server.pid,
                            tmp,
                        )
                    else:
                        cpu0 = cpu_seconds(server.pid)
                        r = run_clients(zoom, target, qs, clients, a.seconds, user, password)
                        r["server_us"] = (cpu_seconds(server.pid) - cpu0) / r["records"] * 1e6
                    if catalog == "-":
                        ztest_rate = r["rate"]
                    ratio = r["rate"] / ztest_rate if ztest_rate else 0.0
                    print(
                        f"| {label} | {catalog.split(' (')[0]} | {clients} | {r['rate']:,.0f} | "
                        f"{ratio:.2f} | "
                        f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['server_us']:,.0f} | "
                        f"{r['bytes']:,.0f} |",
                        flush=True,
                    )
            print(f"# load average after: {os.getloadavg()}")
        finally:
            for p, _ in servers.values():
                p.terminate()
                p.wait(10)
            if cluster is not None:
                cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
