#!/usr/bin/env python3
"""The Connexion receiver under attack (issue 17): the legitimate client's latency while one
attack runs, each on a fresh ``marc8fast serve --connexion`` process with one account.

The attacker runs in processes of its own (so that its threads do not take the measuring
client's interpreter), on addresses 127.0.0.2, 127.0.0.4, 127.0.4.x; the legitimate client at
127.0.0.3 sends one record per connection (login ``cataloging`` with its right password), one
after another, and a ``GET /health`` after each, for ``--seconds`` seconds. Latency is from
connect to the reply, in the client.

Attacks:

* ``none``: no attack (the baseline);
* ``hoard``: one address holds 2x ``--max-connections`` (512 sockets), half idle, half
  trickling a byte every 0.5 s, each reopened as soon as it is closed or refused;
* ``hoard-backstop``: the same with ``--max-per-address 256`` (only the global backstop);
* ``guess``: waves of 200 wrong passwords at once from one address;
* ``flood``: 40 addresses sending wrong passwords continuously (spraying names and the unit's);
* ``trickle``: 48 connections from two addresses each trickling a 99 KB request a byte per
  write at ~4 KB/s (the server's CPU time over the run is reported too);
* ``warmup``: no attack; the first 300 sends of 8 clients right after the start (item 9).

Run:  python3 benches/bench_attacks.py                  (every attack, 8 s each)
      python3 benches/bench_attacks.py --attacks flood,hoard --seconds 5 --json out.json
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benches"))
from _common import machine  # noqa: E402

PASSWORD = "bench-unit-password"
LEGIT = "127.0.0.3"


def record(title: str, pad: int = 0) -> bytes:
    """A small UTF-8 record with this 245 $a (and ``pad`` 500 fields of 960 bytes)."""
    fields = [("008", "990730s1999    xx            000 0 eng d"), ("245", f"10\x1fa{title}")]
    fields += [("500", "  \x1fa" + "x" * 960)] * pad
    directory = data = b""
    for tag, body in fields:
        raw = body.encode() + b"\x1e"
        directory += tag.encode() + b"%04d%05d" % (len(raw), len(data))
        data += raw
    base = 24 + len(directory) + 1
    total = base + len(data) + 1
    return b"%05dnam a22%05d   4500" % (total, base) + directory + b"\x1e" + data + b"\x1d"


def login(name: str, password: str) -> bytes:
    return (
        b"A" + bytes([64 + len(name)]) + name.encode() + b"P" + bytes([64 + len(password)])
        + password.encode()
    )  # fmt: skip


def exchange(port: int, source: str, payload: bytes, timeout: float = 30) -> bytes:
    with socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
    ) as s:
        s.sendall(payload)
        got = b""
        while b"\0" not in got:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    return got


def start_server(db: Path, *options: str) -> tuple[subprocess.Popen[bytes], int]:
    subprocess.run(
        [sys.executable, "-m", "marc8fast", "users", "add", "cataloging", "--db", str(db),
         "--password-stdin"],
        input=(PASSWORD + "\n").encode(), check=True, capture_output=True,
    )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "marc8fast", "serve", "--db", str(db), "--connexion",
         "127.0.0.1:0", "--log", str(db.with_suffix(".log")), *options],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    m = re.search(r"listening connexion \S+:(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"serve did not start: {line}")
    return proc, int(m.group(1))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- attackers (each in a process of its own) ------------------------------------------------------


def _threads(n: int, target: Any, stop: Any, *args: Any) -> None:
    ts = [threading.Thread(target=target, args=(i, stop, *args), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    stop.wait()
    for t in ts:
        t.join(5)


def _hoard_one(i: int, stop: Any, port: int, source: str) -> None:
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1, source_address=(source, 0))
        except OSError:
            time.sleep(0.05)
            continue
        try:
            s.settimeout(0.5)
            while not stop.is_set():
                if i % 2:
                    s.sendall(b"A")
                try:
                    s.recv(4096)
                    break  # closed or refused: open another
                except TimeoutError:
                    continue
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.02)


def hoard(stop: Any, port: int, n: int) -> None:
    _threads(n, _hoard_one, stop, port, "127.0.0.2")


def _guess_one(i: int, stop: Any, port: int, wave: Any) -> None:
    k = 0
    while not stop.is_set():
        try:
            wave.wait(30)
        except threading.BrokenBarrierError:
            return
        k += 1
        try:
            exchange(port, "127.0.0.4", login("cataloging", f"g{i}-{k}") + record("G") + b"\0")
        except OSError:
            pass


def guess(stop: Any, port: int) -> None:
    wave = threading.Barrier(200)
    _threads(200, _guess_one, stop, port, wave)
    wave.abort()


def _flood_one(i: int, stop: Any, port: int) -> None:
    n = 0
    source = f"127.0.4.{i + 1}"
    while not stop.is_set():
        n += 1
        name = f"user{n % 7}" if n % 3 else "cataloging"
        try:
            exchange(port, source, login(name, f"pw{n}") + record("F") + b"\0", timeout=10)
        except OSError:
            time.sleep(0.05)


def flood(stop: Any, port: int) -> None:
    _threads(40, _flood_one, stop, port)


def _trickle_one(i: int, stop: Any, port: int, payload: bytes) -> None:
    source = "127.0.0.2" if i % 2 else "127.0.0.7"
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
        except OSError:
            time.sleep(0.1)
            continue
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for k in range(len(payload)):
                if stop.is_set():
                    break
                s.send(payload[k : k + 1])
                if k % 40 == 39:
                    time.sleep(0.01)  # ~4 KB/s
        except OSError:
            pass
        finally:
            s.close()


def trickle(stop: Any, port: int) -> None:
    payload = login("cataloging", "trickler") + record("Trickled", pad=100)
    _threads(48, _trickle_one, stop, port, payload)


ATTACKERS = {"hoard": hoard, "hoard-backstop": hoard, "guess": guess, "flood": flood,
             "trickle": trickle}  # fmt: skip


# -- the legitimate client ---------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, round(p / 100 * (len(v) - 1)))] if v else float("nan")


def legit(port: int, seconds: float) -> dict[str, Any]:
    rec_ms: list[float] = []
    health_ms: list[float] = []
    bad: list[str] = []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        i += 1
        t = time.perf_counter()
        got = exchange(port, LEGIT, login("cataloging", PASSWORD) + record(f"Legit {i}") + b"\0")
        rec_ms.append((time.perf_counter() - t) * 1000)
        if not got.startswith(b"Record received"):
            bad.append(got[:80].decode("utf-8", "replace"))
        t = time.perf_counter()
        got = exchange(port, LEGIT, b"GET /health HTTP/1.0\r\n\r\n")
        health_ms.append((time.perf_counter() - t) * 1000)
        if not got.startswith(b"HTTP/1.0 200"):
            bad.append(got[:80].decode("utf-8", "replace"))
        time.sleep(0.01)
    return {
        "requests": len(rec_ms),
        "refused_or_failed": len(bad),
        "first_failures": bad[:3],
        "record_p50_ms": round(pct(rec_ms, 50), 1),
        "record_p99_ms": round(pct(rec_ms, 99), 1),
        "record_max_ms": round(max(rec_ms), 1),
        "health_p50_ms": round(pct(health_ms, 50), 1),
        "health_p99_ms": round(pct(health_ms, 99), 1),
    }


def warmup(port: int) -> dict[str, Any]:
    lat: list[float] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        for j in range(300 // 8 + 1):
            t = time.perf_counter()
            exchange(port, LEGIT, login("cataloging", PASSWORD) + record(f"W {c} {j}") + b"\0")
            with lock:
                lat.append((time.perf_counter() - t) * 1000)

    ts = [threading.Thread(target=client, args=(c,)) for c in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lat = lat[:300]
    return {
        "requests": len(lat),
        "record_p50_ms": round(pct(lat, 50), 1),
        "record_p99_ms": round(pct(lat, 99), 1),
        "record_max_ms": round(max(lat), 1),
    }


def run(name: str, tmp: Path, seconds: float) -> dict[str, Any]:
    options = ["--max-per-address", "256"] if name == "hoard-backstop" else []
    proc, port = start_server(tmp / f"{name}.db", *options)
    stop = mp.Event()
    attacker = None
    try:
        time.sleep(0.5)
        if name == "warmup":
            out = warmup(port)
        else:
            if name in ATTACKERS:
                args: tuple[Any, ...] = (
                    (stop, port, 512) if name.startswith("hoard") else (stop, port)
                )
                attacker = mp.Process(target=ATTACKERS[name], args=args)
                attacker.start()
                time.sleep(2.0)  # the attack under way
            cpu0 = cpu_seconds(proc.pid)
            t0 = time.monotonic()
            out = legit(port, seconds)
            out["server_cpu_percent"] = round(
                100 * (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
            )
    finally:
        stop.set()
        if attacker is not None:
            attacker.join(15)
            if attacker.is_alive():
                attacker.kill()
        proc.terminate()
        proc.wait(30)
    out["attack"] = name
    out["load_average"] = round(os.getloadavg()[0], 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--attacks", default="none,hoard,hoard-backstop,guess,flood,trickle,warmup")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    result: dict[str, Any] = {"machine": machine(), "runs": []}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    result["commit"] = commit
    print(f"commit {commit}, load average {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.attacks.split(","):
            r = run(name, Path(tmp), args.seconds)
            print(json.dumps(r), flush=True)
            result["runs"].append(r)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
