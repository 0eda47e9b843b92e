#!/usr/bin/env python3
"""The Connexion receiver (issue 12): records/s and reply latency with 1, 8 and 32 clients, and
the server's RSS over many requests, beside ``marc8fast load`` of the same records.

A ``marc8fast serve --no-auth`` process on a loopback port and a fresh catalog per run; the
clients are threads spread over up to 4 client processes, each request on its own connection
(connect, send the record with ``A`` and a NUL, read the reply: what Connexion does). The
records are the realworld MARC-8 files in tests/data/realworld (uva_001_2000, jazz_1k,
lul_fre_500: 3,500 records). Latency is from connect to the reply's NUL, in the client.

The RSS run sends the records over and over, each pass under another login (so that no request
is answered from a receipt: every one is read, converted, matched and committed), and reads the
server's VmRSS from /proc every 5,000 requests.

Run:  python3 benches/bench_connexion.py                      (1, 8, 32 clients; 100,000 for RSS)
      python3 benches/bench_connexion.py --rss-requests 20000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benches"))
from _common import machine  # noqa: E402

FILES = ["uva_001_2000.mrc", "jazz_1k.mrc", "lul_fre_500.mrc"]


def records() -> list[bytes]:
    out = []
    for name in FILES:
        data = (ROOT / "tests" / "data" / "realworld" / name).read_bytes()
        i = 0
        while i < len(data):
            n = int(data[i : i + 5])
            out.append(data[i : i + n])
            i += n
    return out


def start_server(db: Path) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "marc8fast", "serve", "--db", str(db), "--no-auth",
         "--connexion", "127.0.0.1:0", "--log", os.devnull],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    m = re.search(r"listening connexion \S+:(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"serve did not start: {line}")
    return proc, int(m.group(1))


def send(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(payload)
        got = b""
        while not got.endswith(b"\0"):
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    return got


def _client_process(port: int, jobs: list[list[bytes]], q: mp.Queue) -> None:  # type: ignore[type-arg]
    lat: list[float] = []
    ok = [0]
    lock = threading.Lock()

    def run(payloads: list[bytes]) -> None:
        mine = []
        good = 0
        for p in payloads:
            t = time.perf_counter()
            r = send(port, p)
            mine.append(time.perf_counter() - t)
            good += r.startswith((b"Record received", b"Not loaded"))
        with lock:
            lat.extend(mine)
            ok[0] += good

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q.put((lat, ok[0]))


def run_clients(port: int, payloads: list[bytes], clients: int) -> dict[str, float]:
    shares = [payloads[i::clients] for i in range(clients)]
    procs_n = min(clients, 4)
    groups = [shares[i::procs_n] for i in range(procs_n)]
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    procs = [mp.Process(target=_client_process, args=(port, g, q)) for g in groups]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    lat: list[float] = []
    ok = 0
    for _ in procs:
        part, good = q.get()
        lat.extend(part)
        ok += good
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    lat.sort()
    return {
        "clients": clients,
        "requests": len(lat),
        "answered": ok,
        "seconds": wall,
        "records_per_s": len(lat) / wall,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--rss-requests", type=int, default=100_000)
    ap.add_argument("--rss-clients", type=int, default=8)
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    recs = records()
    result: dict[str, object] = {"machine": machine(), "records": len(recs), "runs": []}
    print(f"{len(recs)} records, load average {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        # marc8fast load of the same records, for scale
        src = Path(tmp) / "all.mrc"
        src.write_bytes(b"".join(recs))
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "marc8fast", "load", str(src), "--db", str(Path(tmp) / "l.db"),
             "-q", "--no-progress"],
            capture_output=True, text=True,
        )  # fmt: skip
        secs = time.perf_counter() - t0
        load = {"records": len(recs), "seconds": secs, "records_per_s": len(recs) / secs}
        print(f"load: {load} (whole process) {out.stderr.strip()[-200:]}", flush=True)
        result["load"] = load
        for n in [int(x) for x in args.clients.split(",")]:
            db = Path(tmp) / f"c{n}.db"
            proc, port = start_server(db)
            try:
                payloads = [b"A\x45bench" + r + b"\0" for r in recs]
                r = run_clients(port, payloads, n)
                r["load_average"] = os.getloadavg()[0]
            finally:
                proc.terminate()
                proc.wait(30)
            print(json.dumps(r), flush=True)
            result["runs"].append(r)  # type: ignore[attr-defined]
        if args.rss_requests:
            db = Path(tmp) / "rss.db"
            proc, port = start_server(db)
            samples = [(0, rss_mb(proc.pid))]
            sent = 0
            t0 = time.perf_counter()
            try:
                while sent < args.rss_requests:
                    step = min(5_000, args.rss_requests - sent)
                    payloads = []
                    for k in range(sent, sent + step):
                        login = f"pass{k // len(recs):04d}".encode()  # a new login each pass
                        rec = recs[k % len(recs)]
                        payloads.append(b"A" + bytes([64 + len(login)]) + login + rec + b"\0")
                    run_clients(port, payloads, args.rss_clients)
                    sent += step
                    samples.append((sent, rss_mb(proc.pid)))
                    print(f"  {sent:,} requests: RSS {samples[-1][1]:.1f} MB", flush=True)
            finally:
                proc.terminate()
                proc.wait(60)
            result["rss"] = {
                "requests": sent,
                "seconds": time.perf_counter() - t0,
                "samples_mb": samples,
                "load_average": os.getloadavg()[0],
            }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
