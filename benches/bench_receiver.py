#!/usr/bin/env python3
"""The Connexion receiver with logins (issue 22): records/s, reply latency and the server's CPU a
request, with a load client that is not the bottleneck.

A ``marc8fast serve --connexion 127.0.0.1:0`` process with one login (``users add``, scrypt), on a
fresh catalog (SQLite, or PostgreSQL with ``--pg``: a throwaway cluster from
tests/support/pgserver.py). The clients are processes, one per client, each bound to its own
source address 127.0.0.11, .12, … (so the per-address limits count them apart, as distinct
workstations), each sending one request per connection (``A`` + ``P`` items, the record, a NUL;
read the reply), as Connexion does. Records: the realworld MARC-8 files in tests/data/realworld
(3,500 records), cut into the clients' shares. Latency is from connect to the reply's NUL.

"Server CPU" is utime + stime of the serve process and of its children (the writer process),
over the run, divided by the requests; also each apart.

Several builds side by side in one run: ``--tree NAME=PYTHONPATH`` (repeatable) runs the server
with that directory first on ``sys.path`` (e.g. a copy of main's ``python/`` with this build's
``_native`` module), so "before" and "after" come from the same minutes.

Run:  python3 benches/bench_receiver.py                        (8 clients, this tree)
      python3 benches/bench_receiver.py --tree before=/tmp/old --tree after= --repeat 2
      python3 benches/bench_receiver.py --pg --clients 8
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benches"))
from _common import machine  # noqa: E402

FILES = ["uva_001_2000.mrc", "jazz_1k.mrc", "lul_fre_500.mrc"]
LOGIN, PASSWORD = b"bench", b"bench-password-1"


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


def item(name: bytes, value: bytes) -> bytes:
    return name + bytes([64 + len(value)]) + value


def env_for(pythonpath: str) -> dict[str, str]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def marc8fast(pythonpath: str, *args: str, stdin: str | None = None) -> None:
    got = subprocess.run(
        [sys.executable, "-m", "marc8fast", *args],
        input=stdin, capture_output=True, text=True, env=env_for(pythonpath),
    )  # fmt: skip
    if got.returncode != 0:
        raise SystemExit(f"marc8fast {' '.join(args)}: {got.stderr.strip()}")


def start_server(pythonpath: str, db: str, extra: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "marc8fast", "serve", "--db", db,
         "--connexion", "127.0.0.1:0", "--log", os.devnull, *extra],
        stderr=subprocess.PIPE, env=env_for(pythonpath),
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    m = re.search(r"listening connexion \S+:(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"serve did not start: {line}{proc.stderr.read().decode()[-2000:]}")
    return proc, int(m.group(1))


def tree_cpu(pid: int) -> tuple[float, float]:
    """utime + stime (s) of ``pid``, and of its live children."""
    tick = os.sysconf("SC_CLK_TCK")
    own = children = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / tick
        if int(entry) == pid:
            own += cpu
        elif int(fields[1]) == pid:
            children += cpu
    return own, children


def thread_cpu(pid: int) -> dict[str, float]:
    """utime + stime (s) of the threads of ``pid`` by name (threads with one name summed)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def send(port: int, source: str, payload: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(payload)
        got = b""
        while not got.endswith(b"\0"):
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    return got


def _client(port: int, source: str, payloads: list[bytes], start: float, q: mp.Queue) -> None:  # type: ignore[type-arg]
    while time.time() < start:
        time.sleep(0.001)
    lat: list[float] = []
    good = 0
    other: dict[str, int] = {}
    for p in payloads:
        t = time.perf_counter()
        r = send(port, source, p)
        lat.append(time.perf_counter() - t)
        if r.startswith((b"Record received", b"Not loaded")):
            good += 1
        else:
            key = r[:60].decode("utf-8", "replace")
            other[key] = other.get(key, 0) + 1
    ru = resource.getrusage(resource.RUSAGE_SELF)
    q.put((lat, good, other, time.time(), ru.ru_utime + ru.ru_stime))


def run_clients(port: int, payloads: list[bytes], clients: int) -> dict[str, object]:
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    start = time.time() + 0.5  # every client process is up before the first request
    procs = [
        mp.Process(target=_client, args=(port, f"127.0.0.{11 + i}", payloads[i::clients], start, q))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    lat: list[float] = []
    good = 0
    other: dict[str, int] = {}
    end = start
    client_cpu = 0.0
    for _ in procs:
        part, g, o, finished, cpu = q.get()
        client_cpu += cpu
        lat.extend(part)
        good += g
        end = max(end, finished)
        for k, v in o.items():
            other[k] = other.get(k, 0) + v
    for p in procs:
        p.join()
    wall = end - start
    lat.sort()
    return {
        "clients": clients,
        "requests": len(lat),
        "answered": good,
        "other_replies": other,
        "seconds": round(wall, 3),
        "records_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(lat[len(lat) // 2] * 1000, 2),
        "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2),
        # the load client's own CPU (same cores): what the machine spends beside the server
        "client_cpu_ms_per_request": round(client_cpu * 1000 / max(1, len(lat)), 3),
    }


def one_run(
    name: str,
    pythonpath: str,
    db: str,
    payloads: list[bytes],
    clients: int,
    extra: list[str],
    profile: str | None = None,
) -> dict[str, object]:
    proc, port = start_server(pythonpath, db, extra)
    spy = None
    try:
        # The verified-credential cache is per address: each client address's first login
        # pays one scrypt check; those are not measured.
        for i in range(clients):
            send(port, f"127.0.0.{11 + i}", payloads[0])
        if profile:
            # py-spy (pip install py-spy) samples the server and its writer process: collapsed
            # stacks, one file per run (read with benches/bench_receiver.py --summarize FILE)
            spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(proc.pid),
                 "--subprocesses", "--threads", "--gil", "--rate", "250", "--format", "raw",
                 "--output", f"{profile}-{name}.txt"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)
        own0, kids0 = tree_cpu(proc.pid)
        threads0 = thread_cpu(proc.pid)
        r = run_clients(port, payloads[1:], clients)
        own1, kids1 = tree_cpu(proc.pid)
        threads1 = thread_cpu(proc.pid)
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(60)
        proc.terminate()
        proc.wait(60)
    r["tree"] = name
    n = max(1, int(r["requests"]))  # type: ignore[call-overload]
    r["server_cpu_ms_per_request"] = round((own1 - own0 + kids1 - kids0) * 1000 / n, 3)
    r["network_process_cpu_ms"] = round((own1 - own0) * 1000 / n, 3)
    r["writer_process_cpu_ms"] = round((kids1 - kids0) * 1000 / n, 3)
    # Threads that ended during the run are missing here (their time is in the process's).
    r["network_threads_cpu_ms"] = {
        k: round((v - threads0.get(k, 0.0)) * 1000 / n, 3)
        for k, v in sorted(threads1.items(), key=lambda kv: -kv[1])
        if v - threads0.get(k, 0.0) > 0
    }
    r["load_average"] = round(os.getloadavg()[0], 2)
    return r


def summarize(path: str, top: int = 25) -> None:
    """Samples by thread (or process) and the functions with the most samples (self and
    inclusive), from py-spy's collapsed stacks; idle waits left out."""
    idle = ("wait (threading", "select (selectors", "_recv", "recv (", "accept (", "get (queue",
            "take (", "sleep", "poll (")  # fmt: skip
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    threads: dict[str, int] = {}
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or any(frames[-1].startswith(w) or w in frames[-1] for w in idle):
            continue
        n = int(count)
        total += n
        threads[frames[0]] = threads.get(frames[0], 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames[1:]):
            incl[f] = incl.get(f, 0) + n
    print(f"{total} busy samples")
    for title, table in (("by thread", threads), ("self", own), ("inclusive", incl)):
        print(f"-- {title}")
        for k, v in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"{v * 100 / max(1, total):5.1f} %  {k[:150]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--tree", action="append", default=[], metavar="NAME=PYTHONPATH")
    ap.add_argument("--repeat", type=int, default=1, help="rounds over the trees")
    ap.add_argument("--limit", type=int, default=0, help="send only this many records")
    ap.add_argument("--pg", action="store_true", help="a PostgreSQL catalog (throwaway cluster)")
    ap.add_argument("--serve-option", action="append", default=[], metavar="OPT",
                    help="passed to serve (e.g. --serve-option=--writer=thread)")  # fmt: skip
    ap.add_argument("--profile", metavar="PREFIX", help="py-spy the server: PREFIX-TREE.txt")
    ap.add_argument("--summarize", metavar="FILE", help="the busiest functions of a profile")
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return 0
    trees = [t.split("=", 1) for t in args.tree] or [["this", ""]]
    recs = records()
    if args.limit:
        recs = recs[: args.limit]
    payloads = [item(b"A", LOGIN) + item(b"P", PASSWORD) + r + b"\0" for r in recs]
    result: dict[str, object] = {"machine": machine(), "records": len(recs), "runs": []}
    print(
        f"{len(recs)} records, {args.clients} clients, load average {os.getloadavg()}", flush=True
    )
    pg = None
    if args.pg:
        sys.path.insert(0, str(ROOT / "tests" / "support"))
        from pgserver import Cluster  # type: ignore[import-not-found]

        pg = Cluster()
    try:
        with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
            n = 0
            for _ in range(args.repeat):
                for name, path in trees:
                    n += 1
                    if pg is not None:
                        db = pg.new_database()
                    else:
                        db = str(Path(tmp) / f"r{n}.sqlite")
                    marc8fast(path, "catalog", "init", "--db", db)
                    marc8fast(path, "users", "add", LOGIN.decode(), "--db", db,
                              "--password-stdin", stdin=PASSWORD.decode() + "\n")  # fmt: skip
                    r = one_run(
                        name, path, db, payloads, args.clients, args.serve_option, args.profile
                    )
                    print(json.dumps(r), flush=True)
                    result["runs"].append(r)  # type: ignore[attr-defined]
    finally:
        if pg is not None:
            pg.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
