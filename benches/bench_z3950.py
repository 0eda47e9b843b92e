"""Retrieval by system number over Z39.50 (issue 13): ``marc8fast serve --z3950`` beside
``yaz-ztest`` (YAZ's own test server), driven by the same client in the same run.

The client is YAZ's ZOOM C library through ctypes (its calls release the GIL, so 16 client
threads run at once): Init once per connection, then per record a Search ``@attr 1=12 SYSNO`` and
a Present of record 1 in USMARC (piggyback off, so each record costs the two round trips
Connexion makes). Latency is that search + present pair. Both servers run in threaded mode.

    python benches/bench_z3950.py [--seconds 8] [--clients 1 16]

The catalog is the realworld corpus of tests/data loaded into a temporary file.
"""

from __future__ import annotations

import argparse
import ctypes
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
    cmd: list[str], pattern: str | None, port: int | None
) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from marc8fast.flows.accounts import add_user
    from marc8fast.flows.store import SQLiteStore

    zoom = Zoom()
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "catalog.db")
        files = sorted(
            str(p)
            for p in (ROOT / "tests/data/realworld").iterdir()
            if p.suffix in (".mrc", ".marc")
        )
        subprocess.run([MARC8FAST, "load", "-q", "--no-progress", "--db", db, *files], check=False)
        with SQLiteStore(db) as store:
            add_user(store, "bench", "bench-password-1")
            sysnos = [r.sysno for r in store.iter_records() if not r.deleted]
        ours, our_port = start(
            [MARC8FAST, "serve", "--db", db, "--z3950", "127.0.0.1:0", "--log", os.devnull],
            r"listening z3950 \S+:(\d+)",
            None,
        )
        zport = free_port()
        ztest, _ = start(["yaz-ztest", "-T", f"tcp:127.0.0.1:{zport}"], None, zport)
        try:
            queries = [f"@attr 1=12 {n}" for n in sysnos]
            # yaz-ztest answers any term; a number N gives N hits, record 1 is one of its own
            ztest_queries = [f"@attr 1=12 {1 + n % 9}" for n in sysnos]
            print(
                f"# {platform.node()} {platform.processor() or platform.machine()}, "
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()}, "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {len(sysnos)} records"
            )
            print("| server | clients | records/s | p50 ms | p99 ms | bytes/record |")
            print("|---|---:|---:|---:|---:|---:|")
            for clients in a.clients:
                for name, target, qs, user in (
                    ("marc8fast serve", f"tcp:127.0.0.1:{our_port}/catalog", queries, "bench"),
                    ("yaz-ztest", f"tcp:127.0.0.1:{zport}/Default", ztest_queries, None),
                ):
                    r = run_clients(
                        zoom,
                        target,
                        qs,
                        clients,
                        a.seconds,
                        user,
                        "bench-password-1" if user else None,
                    )
                    print(
                        f"| {name} | {clients} | {r['rate']:,.0f} | {r['p50_ms']:.2f} | "
                        f"{r['p99_ms']:.2f} | {r['bytes']:,.0f} |",
                        flush=True,
                    )
            print(f"# load average after: {os.getloadavg()}")
        finally:
            for p in (ours, ztest):
                p.terminate()
                p.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
