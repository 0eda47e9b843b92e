"""Issue 20: a consortium on one PostgreSQL catalog, simulated on one machine. Two Connexion
receivers and one Z39.50 server run as separate processes on the same catalog; 8 clients send to
both receivers while a ``load`` runs beside them; one receiver is killed with SIGKILL mid-stream
and its clients send what had no reply to the other one (several receivers behind one address).
Some OCLC numbers are sent by every client and are in the loaded file too, so writers on both
receivers and the loader race for them: one stores it, the others answer "duplicate of" it.

Afterwards: every acknowledged record is in the catalog exactly once, no two live records share an
OCLC number, the load's records are in, and the Z39.50 server finds records that either receiver
wrote."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from connexion_server import Server, item, reply
from test_catalog_safety import iso2709
from z3950_server import serving, yaz_client

from marc8fast import Record
from marc8fast.catalog import open_catalog

CLIENTS = 8
PER_CLIENT = 30
SHARED = 4  # OCLC numbers every client sends (and the load holds): the race
LOADED = 300
BIN = Path(sys.executable).parent


def client_record(c: int, j: int) -> bytes:
    if j < SHARED:
        number, title = f"ocn7770{j:04d}", f"shared{j} from client{c}"
    else:
        number, title = f"ocn8{c:02d}{j:05d}", f"multihost client{c} record{j}"
    return iso2709(
        ("001", number),
        ("003", "OCoLC"),
        ("008", "990730s1999    xx            000 0 eng d"),
        ("245", f"10$a{title}"),
    )


def load_file(path: Path) -> None:
    recs = [
        iso2709(
            ("001", f"ocn9{k:07d}"),
            ("003", "OCoLC"),
            ("008", "990730s1999    xx            000 0 eng d"),
            ("245", f"10$aloaded book{k}"),
        )
        for k in range(LOADED)
    ]
    recs += [
        iso2709(("001", f"ocn7770{j:04d}"), ("003", "OCoLC"), ("245", f"10$ashared{j} loaded"))
        for j in range(SHARED)
    ]
    path.write_bytes(b"".join(recs))


def test_two_receivers_a_load_and_z3950_on_one_postgresql_catalog(pg_cluster, tmp_path):
    url = pg_cluster.new_database()
    made = subprocess.run(
        [str(BIN / "marc8fast"), "catalog", "init", "--db", url], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    acked: dict[tuple[int, int], str] = {}
    lock = threading.Lock()

    def client(c: int, port: int, todo: list[int]) -> list[int]:
        """Send until the receiver goes away; the records that had no reply."""
        for n, j in enumerate(todo):
            try:
                text = reply(port, item("A", f"unit{c}".encode()) + client_record(c, j), timeout=30)
            except (OSError, AssertionError):
                return todo[n:]
            m = re.match(r"Record received: (\d{9})", text)
            if j < SHARED and m is None:
                # A shared number stored by another writer first: this one is its duplicate.
                m = re.match(r"Not loaded: duplicate of (\d{9}) \(OCLC number 7770", text)
            assert m, text
            with lock:
                if (c, j) in acked and j >= SHARED:
                    assert acked[(c, j)] == m.group(1)
                acked[(c, j)] = m.group(1)
        return []

    listing = tmp_path / "load.mrc"
    load_file(listing)
    a = Server(url, "--no-auth", log=tmp_path / "a.log")
    b = Server(url, "--no-auth", log=tmp_path / "b.log")
    left: dict[int, list[int]] = {}
    try:
        loader = subprocess.Popen(
            [
                *(str(BIN / "marc8fast"), "load", "-q", "--no-progress", "--batch-size", "25"),
                *("--db", url, str(listing)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threads = []
        for c in range(CLIENTS):
            port = a.port if c < CLIENTS // 2 else b.port

            def run(c: int = c, port: int = port) -> None:
                left[c] = client(c, port, list(range(PER_CLIENT)))

            threads.append(threading.Thread(target=run))
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(acked) < CLIENTS * PER_CLIENT // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        a.proc.send_signal(signal.SIGKILL)  # receiver A dies mid-stream
        for t in threads:
            t.join(180)
        killed_early = sum(len(left.get(c, [])) for c in range(CLIENTS // 2))
        assert killed_early > 0, "the kill came while A's clients were sending"
        # A's clients send what had no reply to B, and resend two they had a reply for.
        threads = []
        for c in range(CLIENTS // 2):
            again = [j for j in (SHARED, SHARED + 1) if (c, j) in acked]

            def rerun(c: int = c, todo: list[int] = left[c] + again) -> None:
                assert client(c, b.port, todo) == []

            threads.append(threading.Thread(target=rerun))
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        _, err = loader.communicate(timeout=300)
        assert loader.returncode in (0, 1), err
    finally:
        a.kill()
        b.terminate()
        b.kill()
    assert len(acked) == CLIENTS * PER_CLIENT

    with open_catalog(url, readonly=True) as store:
        live = [r for r in store.iter_records() if not r.deleted]
        titles = [Record.parse(r.data)["245"]["a"] for r in live]
        data = {r.sysno: r.data for r in live}
        # every acknowledged record is there, once, under the system number it was given
        for (c, j), sysno in acked.items():
            if j < SHARED:
                continue
            want = f"multihost client{c} record{j}"
            assert titles.count(want) == 1, want
            assert Record.parse(data[int(sysno)])["245"]["a"] == want
        # the shared OCLC numbers: one live record each, the one every acknowledgement named
        for j in range(SHARED):
            holders = store.sysnos_by_oclc(f"7770{j:04d}".lstrip("0"))
            live_holders = store.live(holders)
            assert len(live_holders) == 1, (j, holders)
            named = {s for (c, jj), s in acked.items() if jj == j}
            assert {int(s) for s in named} == live_holders
        assert store.live_oclc_duplicates() == []
        # the load's records are in, once
        for k in (0, LOADED // 2, LOADED - 1):
            assert titles.count(f"loaded book{k}") == 1
        assert sum(t.startswith("loaded book") for t in titles) == LOADED
        expected = CLIENTS * (PER_CLIENT - SHARED) + LOADED + SHARED
        assert len(live) == expected

    # the Z39.50 server finds records written through either receiver
    with serving(url, "--no-auth") as z:
        script = f"open {z.target}\n"
        for c in (0, CLIENTS - 1):
            script += f'find @attr 1=4 "multihost client{c} record{PER_CLIENT - 1}"\n'
        script += "find @attr 1=4 shared0\n"
        got = re.findall(r"Number of hits: (\d+)", yaz_client(script))
    assert got == ["1", "1", "1"], got
