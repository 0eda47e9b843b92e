"""The receiver's writer process (issue 22): the imports run in a process of their own beside the
network process. Killed with SIGKILL while 8 clients send, it is replaced; every record
acknowledged is in the catalog once, and the requests it had taken get no reply (never a false
one) — their retries are answered from the receipt or stored. The writer never outlives its
server, and the kept handler threads stay bounded."""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

from connexion_server import Server, item, read_reply, reply, wait_for_log
from test_catalog_safety import titled
from test_connexion_crash import CLIENTS, record, titles

PER_CLIENT = 30


def writer_pids(server_pid: int) -> list[int]:
    """The live writer processes whose parent is ``server_pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == server_pid and b"server.writer" in cmd:
            found.append(int(entry))
    return found


def wait_for(fn, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.02)
    return fn()


def test_the_writer_process_killed_mid_stream_loses_and_doubles_nothing(tmp_path):
    db = tmp_path / "c.sqlite"
    acked: dict[tuple[int, int], str] = {}
    no_reply: list[tuple[int, int]] = []
    lock = threading.Lock()

    with Server(db, "--no-auth") as s:
        first = wait_for(lambda: writer_pids(s.proc.pid))
        assert len(first) == 1, first

        def client(c: int) -> None:
            for j in range(PER_CLIENT):
                payload = item("A", f"crash{c}".encode()) + record(c, j)
                for _attempt in range(20):  # bounded: a request with no reply is sent again
                    try:
                        text = reply(s.port, payload, timeout=20)
                    except (OSError, AssertionError):
                        with lock:
                            no_reply.append((c, j))
                        time.sleep(0.05)
                        continue
                    m = re.match(r"Record received: (\d{9})", text)
                    assert m, text
                    with lock:
                        if (c, j) in acked:  # a retry of one acknowledged: the same answer
                            assert acked[(c, j)] == m.group(1), text
                        acked[(c, j)] = m.group(1)
                    break

        threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
        for t in threads:
            t.start()
        assert wait_for(lambda: len(acked) >= CLIENTS * PER_CLIENT // 3)
        # Stopped first, so that requests are surely in its hands (sent, not answered) when
        # it is killed.
        os.kill(first[0], signal.SIGSTOP)
        time.sleep(0.5)
        os.kill(first[0], signal.SIGKILL)
        killed_at = len(acked)
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        assert killed_at < CLIENTS * PER_CLIENT, "the kill came while the clients were sending"
        after = writer_pids(s.proc.pid)
        assert len(after) == 1 and after != first, (first, after)
        log = wait_for_log(s.log, "requests_lost")
        assert f"writer process {first[0]} ended" in log
    print(
        f"\nwriter killed after {killed_at} acknowledgements; {len(no_reply)} requests had no reply"
    )
    assert no_reply, "requests in the writer's hands when it was killed get no reply"
    # every record was acknowledged in the end, each is in the catalog once
    assert len(acked) == CLIENTS * PER_CLIENT
    got = titles(db)
    assert len(got) == len(set(got)) == CLIENTS * PER_CLIENT
    for c, j in acked:
        assert f"Crash client {c} record {j}" in got


def test_the_writer_process_ends_with_its_server(tmp_path):
    db = tmp_path / "c.sqlite"
    s = Server(db, "--no-auth")
    try:
        assert reply(s.port, item("A", b"u") + titled("One")).startswith("Record received")
        pids = writer_pids(s.proc.pid)
        assert len(pids) == 1
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(10)
    finally:
        s.kill()
    # orphaned, it sees its socket closed and ends (it never answers anyone again)
    assert wait_for(lambda: not os.path.exists(f"/proc/{pids[0]}/cmdline") or _zombie(pids[0]))
    # and a new server on the catalog stores at once
    with Server(db, "--no-auth") as s2:
        assert reply(s2.port, item("A", b"u") + titled("Two")).startswith("Record received")
    assert sorted(titles(db)) == ["One", "Two"]


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_handler_threads_are_kept_but_bounded(tmp_path):
    """After 240 connections, 60 at a time, the server holds at most the kept handler threads
    (64) and its own few — not one per connection served."""
    db = tmp_path / "c.sqlite"
    with Server(db, "--no-auth", "--max-per-address", "64") as s:
        barrier = threading.Barrier(60)

        def one(i: int) -> str:
            with socket.create_connection(("127.0.0.1", s.port), timeout=30) as sock:
                barrier.wait(30)
                sock.sendall(item("A", b"u") + titled(f"Pool {i}") + b"\0")
                return read_reply(sock).decode()

        results: list[str] = [""] * 240

        def run(i: int) -> None:
            results[i] = one(i)

        for wave in range(4):
            ts = [threading.Thread(target=run, args=(wave * 60 + k,)) for k in range(60)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
        assert all(r.startswith("Record received") for r in results), [
            r for r in results if not r.startswith("Record received")
        ]
        status = Path(f"/proc/{s.proc.pid}/status").read_text()
        threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        print(f"\nserver threads after 240 connections: {threads}")
        assert threads <= 64 + 10
    assert len(titles(db)) == 240


def test_the_writer_process_waits_for_its_server_to_stop_it(tmp_path):
    """Ctrl-C and systemd's stop signal the whole process group: the writer keeps serving until
    serve, draining, tells it to end."""
    db = tmp_path / "c.sqlite"
    with Server(db, "--no-auth") as s:
        assert reply(s.port, item("A", b"u") + titled("Before")).startswith("Record received")
        pids = writer_pids(s.proc.pid)
        assert len(pids) == 1
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            os.kill(pids[0], sig)
        time.sleep(0.3)
        assert writer_pids(s.proc.pid) == pids
        assert reply(s.port, item("A", b"u") + titled("After")).startswith("Record received")
        assert s.terminate() == 0
        assert "Traceback" not in s.stderr()
    assert wait_for(lambda: not os.path.exists(f"/proc/{pids[0]}/cmdline") or _zombie(pids[0]))
    assert sorted(titles(db)) == ["After", "Before"]
