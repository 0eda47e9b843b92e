"""The Connexion receiver on an open network (issue 17): a hostile address beside an honest one,
each a real ``marc8fast serve`` process on loopback, the attacker and the legitimate client on
distinct 127.0.0.x addresses. The latency bounds are the issue's acceptance; the figures are
printed (``pytest -s``)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from connexion_server import Server, catalog_rows, item, marc8fast, read_reply, wait_for_log
from test_catalog_safety import iso2709, titled

SECRET = "Unit-password-17"
pytestmark = [
    pytest.mark.slow,  # a server under attack: minutes
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc"),
]


def add_user(db: Path, name: str = "cataloging", password: str = SECRET) -> None:
    if not db.exists():  # users add never makes a catalog (issue 18, item 5)
        assert marc8fast("catalog", "init", "--db", db).returncode == 0
    out = marc8fast("users", "add", name, "--db", db, "--password-stdin", input=password + "\n")
    assert out.returncode == 0, out.stderr


def login(name: str, password: str) -> bytes:
    return item("A", name.encode()) + item("P", password.encode())


def send(port: int, source: str, payload: bytes, timeout: float = 30) -> str:
    with socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
    ) as s:
        s.sendall(payload)
        got = read_reply(s)
    assert got.endswith(b"\0"), got
    return got[:-1].decode()


def health(port: int, source: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0)) as s:
        s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    return got.decode()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def figures(name: str, ms: list[float]) -> str:
    return (
        f"{name}: n={len(ms)} p50={pct(ms, 50):.1f} ms p99={pct(ms, 99):.1f} ms "
        f"max={max(ms):.1f} ms"
    )


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_split(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / os.sysconf("SC_CLK_TCK"), int(fields[12]) / os.sysconf("SC_CLK_TCK")


def timed(fn: Callable[[], str]) -> tuple[float, str]:
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1000, out


class Hoarder:
    """One address holding ``n`` connections: half idle, half trickling a byte every 0.5 s,
    each reopened as soon as the server closes it (or refuses it)."""

    def __init__(self, port: int, source: str, n: int) -> None:
        self.port, self.source, self.n = port, source, n
        self.stop = threading.Event()
        self.opened = 0
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(n)]

    def _run(self, i: int) -> None:
        while not self.stop.is_set():
            try:
                s = socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1, source_address=(self.source, 0)
                )
            except OSError:
                time.sleep(0.05)
                continue
            self.opened += 1
            try:
                s.settimeout(0.5)
                while not self.stop.is_set():
                    if i % 2:
                        s.sendall(b"A")  # an A item's length byte never quite completes it
                    try:
                        if not s.recv(4096):
                            break  # closed or refused: open another
                        break
                    except TimeoutError:
                        continue
            except OSError:
                pass
            finally:
                s.close()
            time.sleep(0.02)

    def __enter__(self) -> Hoarder:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)


@pytest.mark.parametrize("per_address", ["32", "64"])
def test_an_address_hoarding_connections_does_not_deny_others(tmp_path, per_address):
    """2x the global limit held by one address; per_address 64 = the global limit: only the
    backstop (closing the slowest connections of the address holding most) protects."""
    db = tmp_path / "c.sqlite"
    add_user(db)
    with Server(
        db, "--max-connections", "64", "--max-per-address", per_address, "--idle-timeout", "10"
    ) as s:
        legit = login("cataloging", SECRET)
        assert send(s.port, "127.0.0.3", legit + titled("Warm")).startswith("Record received")
        with Hoarder(s.port, "127.0.0.2", 128) as h:
            time.sleep(1.5)
            ms: list[float] = []
            for i in range(200):
                took, text = timed(lambda i=i: send(s.port, "127.0.0.3", legit + titled(f"L {i}")))
                assert text.startswith("Record received"), text
                ms.append(took)
                time.sleep(0.02)
            opened = h.opened
        print(
            f"\nhoarding (per address {per_address}, attacker opened {opened}): "
            + figures("legitimate", ms)
        )
        assert pct(ms, 99) < 100
        log = wait_for_log(s.log, "127.0.0.2")
        assert re.search(r"addr=127\.0\.0\.2:\d+ .*(too many connections|closed: a slow)", log)


def test_200_parallel_guesses_cost_the_configured_checks(tmp_path):
    db = tmp_path / "c.sqlite"
    add_user(db)
    with Server(db, "--lockout", "5", "--login-delay", "0", "--max-per-address", "250") as s:
        results: list[str | None] = [None] * 200
        go = threading.Barrier(200)

        def guess(i: int) -> None:
            go.wait(30)
            results[i] = send(s.port, "127.0.0.4", login("cataloging", f"guess{i}") + titled("G"))

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        checked = [r for r in results if r == "Login failed"]
        locked = [r for r in results if r and r.startswith("Login failed (too many")]
        print(f"\n200 parallel guesses: checked {len(checked)}, refused as locked {len(locked)}")
        assert len(checked) <= 5 and len(checked) + len(locked) == 200
        assert all(re.search(r"try again in \d+ s\)$", r) for r in locked)
        # the unit at another address is not locked out of its login
        assert send(s.port, "127.0.0.5", login("cataloging", SECRET) + titled("U")).startswith(
            "Record received"
        )
        # and the right password from the guessing address is refused, saying for how long
        text = send(s.port, "127.0.0.4", login("cataloging", SECRET) + titled("V"))
        assert re.fullmatch(
            r"Login failed \(too many failed logins from 127\.0\.0\.4; try again in \d+ s\)", text
        ), text
        log = wait_for_log(s.log, "login locked")
        assert re.search(r"service=guard outcome=\"login locked for [\d.]+ s \(5 failed", log), log
        assert log.count("fate=login_failed") <= 5


def test_a_login_flood_from_40_addresses_does_not_stall_the_unit(tmp_path):
    db = tmp_path / "c.sqlite"
    add_user(db)
    with Server(db, "--login-delay", "0.1") as s:
        legit = login("cataloging", SECRET)
        stop = threading.Event()
        sent = [0]

        def flood(a: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                name = f"user{n % 7}" if n % 3 else "cataloging"  # spraying, and the unit's
                try:
                    send(s.port, f"127.0.4.{a}", login(name, f"pw{n}") + titled("F"), timeout=10)
                    sent[0] += 1
                except (OSError, AssertionError):
                    time.sleep(0.05)

        threads = [threading.Thread(target=flood, args=(a,)) for a in range(1, 41)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            rec_ms: list[float] = []
            health_ms: list[float] = []
            end = time.monotonic() + 8
            i = 0
            while time.monotonic() < end and i < 400:
                i += 1
                took, text = timed(lambda i=i: send(s.port, "127.0.0.6", legit + titled(f"R{i}")))
                assert text.startswith("Record received"), text
                rec_ms.append(took)
                took, text = timed(lambda: health(s.port, "127.0.0.6"))
                assert text.startswith("HTTP/1.0 200 OK"), text
                health_ms.append(took)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        print(
            f"\nflood from 40 addresses ({sent[0]} guesses answered): "
            + figures("record", rec_ms)
            + "; "
            + figures("health", health_ms)
        )
        assert pct(rec_ms, 99) < 250 and pct(health_ms, 99) < 250


def test_two_records_in_one_request_are_refused_whole(tmp_path):
    db = tmp_path / "c.sqlite"
    with Server(db, "--no-auth") as s:
        one, two = titled("First of two"), titled("Second of two")
        text = send(s.port, "127.0.0.1", item("A", b"u") + one + two + b"\0")
        assert text.startswith("Rejected: one record per request"), text
        # the same with spaces between and no NUL, the second in a later write
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(item("A", b"u") + one + b"\r\n" + two)
            got = read_reply(c)
        assert got.startswith(b"Rejected: one record per request"), got
        assert catalog_rows(db) == []
        deadline = time.monotonic() + 20
        while True:  # a line is written once its connection is closed
            log = s.log.read_text() if s.log.exists() else ""
            lines = [ln for ln in log.splitlines() if "one record per request" in ln]
            if len(lines) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(lines) == 2 and all("fate=more_than_one_record" in ln for ln in lines)
        # one record with trailing line ends and NULs is one record
        ok = send(s.port, "127.0.0.1", item("A", b"u") + one + b"\r\n\0\0")
        assert ok.startswith("Record received"), ok
        # a second record sent only after the answer is not stored, and the log says so
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(item("A", b"u") + two)
            got = read_reply(c)
            assert got.startswith(b"Record received"), got
            c.sendall(titled("Third, after the answer"))
        log = wait_for_log(s.log, "ignored_after_reply=")
        assert re.search(r"fate=new .*ignored_after_reply=\d+", log), log
        assert len(catalog_rows(db)) == 2


def test_a_refusal_is_evaluated_again_once_its_cause_is_fixed(tmp_path):
    db = tmp_path / "c.sqlite"
    with Server(db, "--no-auth") as s:
        a = b"A" + bytes([64 + 4]) + b"unit"
        first = send(s.port, "127.0.0.1", a + titled("Target of an overlay") + b"\0")
        sysno = first.split(": ")[1]
        assert marc8fast("catalog", "delete", sysno, "--db", db).returncode == 0
        overlay = titled("The overlay", ("035", f"  $a(LOCAL){sysno}"))
        text = send(s.port, "127.0.0.1", a + overlay + b"\0")
        assert text == f"Not loaded: target {sysno} is deleted", text
        assert marc8fast("catalog", "undelete", sysno, "--db", db).returncode == 0
        text = send(s.port, "127.0.0.1", a + overlay + b"\0")  # the same export again
        assert text == f"Record received: {sysno} (overlaid)", text
        # a success is replayed, not stored twice
        again = send(s.port, "127.0.0.1", a + overlay + b"\0")
        assert again.startswith(f"Record received: {sysno} (overlaid) (already received "), again

        earlier = iso2709(("001", "ocn17001"), ("003", "OCoLC"), ("245", "10$aEarlier copy"))
        later = iso2709(("001", "ocn17001"), ("003", "OCoLC"), ("245", "10$aThe export"))
        kept = send(s.port, "127.0.0.1", item("A", b"other") + earlier + b"\0").split(": ")[1]
        text = send(s.port, "127.0.0.1", a + later + b"\0")
        assert text.startswith(f"Not loaded: duplicate of {kept}"), text
        assert marc8fast("catalog", "delete", kept, "--db", db).returncode == 0
        text = send(s.port, "127.0.0.1", a + later + b"\0")
        assert text.startswith("Record received: ") and "already" not in text, text


def test_a_trickled_request_costs_little_cpu(tmp_path):
    """The issue's bound: a 99 KB request trickled a byte per write costs < 50 ms of server CPU.

    The server takes a slow sender's bytes a few times a second, so what it spends grows with
    how long the trickle lasts. The trickle is spread over 3 s by the clock: each write of 40
    bytes waits until its time (the test once slept 1 ms after every 40 bytes, which a loaded
    machine stretches: 8 s cost 30 ms, 16.5 s cost 100 ms, a request the same)."""
    db = tmp_path / "c.sqlite"
    fields = [("008", "990730s1999    xx            000 0 eng d"), ("245", "10$aTrickled")]
    fields += [("500", "  $a" + "x" * 960)] * 100
    rec = iso2709(*fields)
    assert 95_000 < len(rec) < 99_999
    payload = item("A", b"u") + rec
    with Server(db, "--no-auth") as s:
        # the same request at once, for comparison
        at_once_before = cpu_seconds(s.proc.pid)
        assert send(s.port, "127.0.0.1", payload).startswith("Record received")
        at_once = cpu_seconds(s.proc.pid) - at_once_before
        rec2 = rec.replace(b"Trickled", b"Trickle2")
        payload2 = item("A", b"u") + rec2
        with socket.create_connection(("127.0.0.1", s.port), timeout=30) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            time.sleep(0.3)
            before = cpu_seconds(s.proc.pid)
            start = time.monotonic()
            for i in range(len(payload2)):
                c.send(payload2[i : i + 1])
                if i % 40 == 39:
                    # byte i is due 3 s * i / n after the start; ahead of time: wait for it
                    ahead = start + 3.0 * (i + 1) / len(payload2) - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
            got = read_reply(c)
            used = cpu_seconds(s.proc.pid) - before
            took = time.monotonic() - start
        assert got.startswith(b"Record received"), got
    print(
        f"\n{len(payload2):,}-byte request sent a byte per write over {took:.1f} s: server CPU "
        f"{used * 1000:.0f} ms (the same at once: {at_once * 1000:.0f} ms)"
    )
    assert used < 0.050


def test_send_stops_at_the_first_failed_login(tmp_path):
    db = tmp_path / "c.sqlite"
    add_user(db)
    sample = Path(__file__).parent.parent.parent / "examples" / "sample-marc8.mrc"
    with Server(db, "--login-delay", "0") as s:
        out = marc8fast(
            "send",
            sample,
            "--to",
            f"127.0.0.1:{s.port}",
            "--user",
            "cataloging",
            env={"MARC8FAST_PASSWORD": "not it"},
        )
        assert out.returncode == 1
        assert out.stdout.count("Login failed") == 1 and "record 2" not in out.stdout
        assert "stopped at record 1" in out.stderr and "not sent" in out.stderr
        # the right password is not locked out by it
        out = marc8fast(
            "send",
            sample,
            "--to",
            f"127.0.0.1:{s.port}",
            "--user",
            "cataloging",
            env={"MARC8FAST_PASSWORD": SECRET},
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout.count("Record received") == 5


def test_tls_handshakes_never_started_do_not_hold_the_server(tmp_path):
    """Connections stuck before their TLS handshake are closed to make room too."""
    import ssl

    from test_connexion_protocol import _self_signed

    cert, key = _self_signed(tmp_path)
    db = tmp_path / "c.sqlite"
    with Server(
        db, "--no-auth", "--tls-cert", cert, "--tls-key", key, "--max-connections", "8",
        "--max-per-address", "8",
    ) as s:  # fmt: skip
        held = [
            socket.create_connection(
                ("127.0.0.1", s.port), timeout=10, source_address=("127.0.0.2", 0)
            )
            for _ in range(8)
        ]
        try:
            time.sleep(0.5)
            ctx = ssl.create_default_context(cafile=str(cert))
            start = time.monotonic()
            with socket.create_connection(
                ("127.0.0.1", s.port), timeout=10, source_address=("127.0.0.3", 0)
            ) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
                    t.sendall(item("A", b"tls") + titled("Past the hoarder") + b"\0")
                    got = read_reply(t)
            took = time.monotonic() - start
        finally:
            for c in held:
                c.close()
        assert got.startswith(b"Record received"), got
        print(f"\nTLS past 8 connections stuck before the handshake: {took * 1000:.0f} ms")
        assert took < 5  # not the idle timeout (30 s)
        log = wait_for_log(s.log, "fate=closed")
        assert "fate=closed" in log
