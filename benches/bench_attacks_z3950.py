"""A legitimate Z39.50 client's latency while the server is attacked (issue 17).

One ``marc8fast serve --z3950 --sru`` process on loopback, over the realworld corpus of
tests/data with one account. The legitimate client, at 127.0.0.1, does what Connexion does: a new
connection, Init with the unit's login, Search ``@attr 1=12 43``, Present of record 1 (USMARC),
Close; the figure is that whole exchange, repeated for the length of each scenario. The attacks,
each from other 127.0.0.x addresses, each alone:

* quiet: no attack (the reference);
* Init flood: 100 connections at once from 127.0.0.2, each an Init with a different wrong
  password, reconnecting as soon as answered;
* parallel guessing: 40 addresses (127.0.0.10-49), each guessing passwords one after another;
* trickle: 200 connections from 127.0.0.3 that Init and then send a Search a byte every 2 s;
* hoarding: 127.0.0.5 keeps opening connections (Init, then idle) to hold 300 at once;
* expensive query: 4 sessions from 127.0.0.4 repeating the costliest query allowed (an OR of 8
  right-truncated two-letter prefixes over every word index) and a 100-term OR (refused);
* SRU: 8 clients from 127.0.0.50-57, basic auth, a new connection per searchRetrieve (rate).

    python benches/bench_attacks_z3950.py [--seconds 6]

The PDUs are those yaz-client sends (captured through a recording proxy).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# tests/support/z3950_server.py imports the tests' conftest (tests/) for the data folder
sys.path[:0] = [str(ROOT / "tests" / "support"), str(ROOT / "tests")]

from z3950_server import (  # noqa: E402
    PASSWORD,
    USER,
    ber_pdus,
    load_catalog,
    recording_proxy,
    recv_pdu,
    serving,
    yaz_client,
)

LEGIT = "127.0.0.1"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def capture(port: int, script: str) -> list[bytes]:
    with recording_proxy(port) as (proxy, sent):
        yaz_client(f"auth {USER}/{PASSWORD}\nopen tcp:127.0.0.1:{proxy}/catalog\n{script}quit\n")
    return ber_pdus(b"".join(sent))


def capture_search(port: int, query: str) -> bytes:
    """The Search PDU of ``find QUERY`` (a big query is written with indefinite lengths, which
    ber_pdus does not split): what yaz-client sent between its Init and its Close."""
    with recording_proxy(port) as (proxy, sent):
        yaz_client(f"auth {USER}/{PASSWORD}\nopen tcp:127.0.0.1:{proxy}/catalog\nfind {query}\n")
    data = b"".join(sent)
    init = ber_pdus(data)[0]
    rest = data[len(init) :]
    close = rest.rfind(b"\xbf\x30")
    return rest[:close] if close > 0 else rest


def connect(port: int, source: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0))


def legit_once(port: int, pdus: dict[str, bytes]) -> float:
    t0 = time.perf_counter()
    with connect(port, LEGIT) as s:
        for pdu in (pdus["init"], pdus["search"], pdus["present"]):
            s.sendall(pdu)
            answer = recv_pdu(s)
            if b"\x8c\x01\x00" in answer[:64] and pdu is pdus["init"]:
                raise RuntimeError("the legitimate login was refused")
    return (time.perf_counter() - t0) * 1000


def run_scenario(
    port: int, pdus: dict[str, bytes], seconds: float, attack: Callable[[threading.Event], None]
) -> tuple[list[float], list[str]]:
    stop = threading.Event()
    t = threading.Thread(target=attack, args=(stop,), daemon=True)
    t.start()
    time.sleep(0.5)  # the attack under way
    ms: list[float] = []
    errors: list[str] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            ms.append(legit_once(port, pdus))
        except (OSError, RuntimeError) as e:  # counted and shown, not hidden
            errors.append(repr(e))
    stop.set()
    t.join(30)
    return ms, errors


def quiet(stop: threading.Event) -> None:
    stop.wait()


def init_flood(port: int, init: bytes) -> Callable[[threading.Event], None]:
    def one(stop: threading.Event, i: int) -> None:
        n = 0
        while not stop.is_set():
            guess = f"{i:03d}{n:0{len(PASSWORD) - 3}d}"[: len(PASSWORD)].encode()
            n += 1
            try:
                with connect(port, "127.0.0.2") as s:
                    s.sendall(init.replace(PASSWORD.encode(), guess))
                    recv_pdu(s)
            except OSError:
                time.sleep(0.05)

    def attack(stop: threading.Event) -> None:
        threads = [threading.Thread(target=one, args=(stop, i)) for i in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return attack


def guessing(port: int, init: bytes) -> Callable[[threading.Event], None]:
    def one(stop: threading.Event, i: int) -> None:
        n = 0
        while not stop.is_set():
            guess = f"{i:02d}{n:0{len(PASSWORD) - 2}d}"[: len(PASSWORD)].encode()
            n += 1
            try:
                with connect(port, f"127.0.0.{10 + i}") as s:
                    s.sendall(init.replace(PASSWORD.encode(), guess))
                    recv_pdu(s)
            except OSError:
                time.sleep(0.05)

    def attack(stop: threading.Event) -> None:
        threads = [threading.Thread(target=one, args=(stop, i)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return attack


def trickle(port: int, init: bytes, search: bytes) -> Callable[[threading.Event], None]:
    def attack(stop: threading.Event) -> None:
        socks = []
        for _ in range(200):
            try:
                s = connect(port, "127.0.0.3")
                s.sendall(init)
                recv_pdu(s)
                socks.append(s)
            except OSError:
                pass
        i = 0
        while not stop.wait(2.0):
            for s in socks:
                try:
                    s.sendall(search[i % len(search) : i % len(search) + 1])
                except OSError:
                    pass
            i += 1
        for s in socks:
            s.close()

    return attack


def hoarding(port: int, init: bytes) -> Callable[[threading.Event], None]:
    def attack(stop: threading.Event) -> None:
        socks: list[socket.socket] = []
        while not stop.is_set():
            while len(socks) < 300 and not stop.is_set():  # reopened as they are closed
                try:
                    s = connect(port, "127.0.0.5")
                    s.sendall(init)
                    recv_pdu(s)
                    socks.append(s)
                except OSError:
                    time.sleep(0.01)
            stop.wait(0.5)
            for s in socks[:]:
                s.settimeout(0.001)
                try:
                    if s.recv(1) == b"":
                        socks.remove(s)
                        s.close()
                except TimeoutError:
                    pass
                except OSError:
                    socks.remove(s)
                    s.close()
        for s in socks:
            s.close()

    return attack


def expensive(
    port: int, init: bytes, costly: bytes, big: bytes
) -> Callable[[threading.Event], None]:
    def one(stop: threading.Event) -> None:
        with connect(port, "127.0.0.4") as s:
            s.sendall(init)
            recv_pdu(s)
            while not stop.is_set():
                for pdu in (costly, big):
                    s.sendall(pdu)
                    recv_pdu(s)

    def attack(stop: threading.Event) -> None:
        threads = [threading.Thread(target=one, args=(stop,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return attack


def sru_rate(port: int, seconds: float) -> tuple[float, list[float]]:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    path = "/catalog?version=1.2&operation=searchRetrieve&query=rec.id%3D43&maximumRecords=1"
    ms: list[list[float]] = [[] for _ in range(8)]

    def client(i: int) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            c = http.client.HTTPConnection(
                "127.0.0.1", port, timeout=60, source_address=(f"127.0.0.{i + 50}", 0)
            )
            c.request("GET", path, headers={"Authorization": f"Basic {token}"})
            body = c.getresponse().read()
            c.close()
            if b"MARC21/slim" not in body:
                raise RuntimeError(body[:300])
            ms[i].append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [x for m in ms for x in m]
    return len(every) / (time.monotonic() - t0), every


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=6.0)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-attacks-z3950-") as folder:
        return run(Path(folder), a.seconds)


def run(tmp: Path, seconds: float) -> int:
    db = tmp / "catalog.db"
    load_catalog(db, account=True)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    with serving(db, "--sru", "127.0.0.1:0", "--log", str(tmp / "serve.log")) as server:
        port = server.port
        init, search, present = capture(port, "find @attr 1=12 43\nshow 1\n")[:3]
        prefixes = " ".join(f"@attr 1=1016 @attr 5=1 {c}a" for c in "abcdefgh")
        costly = capture_search(port, "@or " * 7 + prefixes)
        big = capture_search(port, "@or " * 99 + " ".join(f"w{i}" for i in range(100)))
        pdus = {"init": init, "search": search, "present": present}
        legit_once(port, pdus)  # the login verified (and remembered) once
        scenarios = [
            ("quiet", quiet),
            ("Init flood (100 at once, wrong passwords)", init_flood(port, init)),
            ("parallel guessing (40 addresses)", guessing(port, init)),
            ("trickle (200 connections, a byte / 2 s)", trickle(port, init, search)),
            ("hoarding (300 idle connections from one address)", hoarding(port, init)),
            ("expensive query (4 sessions)", expensive(port, init, costly, big)),
        ]
        print("| attack | n | failed | p50 ms | p99 ms | max ms |")
        print("|---|---|---|---|---|---|")
        for name, attack in scenarios:
            ms, errors = run_scenario(port, pdus, seconds, attack)
            print(
                f"| {name} | {len(ms)} | {len(errors)} | {pct(ms, 50):.1f} | {pct(ms, 99):.1f} "
                f"| {max(ms):.1f} |",
                flush=True,
            )
            for e in sorted(set(errors)):
                print(f"#   {errors.count(e)} x {e}")
            time.sleep(1.0)
        rate, ms = sru_rate(server.ports["sru"], seconds)
        print(
            f"| SRU, 8 clients / 8 addresses, a connection per request | {len(ms)} "
            f"({rate:.0f} req/s) | 0 | {pct(ms, 50):.1f} | {pct(ms, 99):.1f} | {max(ms):.1f} |"
        )
    print(f"# load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
