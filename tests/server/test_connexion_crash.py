"""What the Connexion receiver acknowledges is never lost and never doubled (issue 12): the
server killed with SIGKILL while 8 clients send, then restarted and the clients retrying; and a
catalog that cannot be written is answered "Rejected: catalog unavailable", never "Record
received"."""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import time

import pytest
from connexion_server import Server, catalog_rows, item, reply
from test_catalog_safety import iso2709, titled

from marc8fast import Record

CLIENTS = 8
PER_CLIENT = 40


def record(c: int, j: int) -> bytes:
    title = f"Crash client {c} record {j}"
    if j % 2:
        return titled(title)  # no OCLC number: only the receipt stops a second copy
    return iso2709(
        ("001", f"ocn9{c:02d}{j:04d}"),
        ("003", "OCoLC"),
        ("008", "990730s1999    xx            000 0 eng d"),
        ("245", f"10$a{title}"),
    )


def titles(db) -> list[str]:
    return [Record.parse(data)["245"]["a"] for _, data in catalog_rows(db)]


def test_sigkill_while_8_clients_send_then_retry(tmp_path):
    db = tmp_path / "c.sqlite"
    acked: dict[tuple[int, int], str] = {}  # what got "Record received", and its sysno
    lock = threading.Lock()

    def client(c: int, port: int, todo: list[int]) -> list[int]:
        """Send records until the server goes away; returns the ones with no reply."""
        for n, j in enumerate(todo):
            try:
                text = reply(port, item("A", f"crash{c}".encode()) + record(c, j), timeout=20)
            except (OSError, AssertionError):
                return todo[n:]
            m = re.match(r"Record received: (\d{9})", text)
            assert m, text
            with lock:
                if (c, j) in acked:
                    assert acked[(c, j)] == m.group(1)
                    assert "(already received" in text
                acked[(c, j)] = m.group(1)
        return []

    left: dict[int, list[int]] = {}
    s = Server(db, "--no-auth")
    try:
        threads = []
        for c in range(CLIENTS):

            def run(c: int = c) -> None:
                left[c] = client(c, s.port, list(range(PER_CLIENT)))

            threads.append(threading.Thread(target=run))
        for t in threads:
            t.start()
        while len(acked) < CLIENTS * PER_CLIENT // 3:
            time.sleep(0.01)
        s.proc.send_signal(signal.SIGKILL)
        for t in threads:
            t.join(60)
    finally:
        s.kill()
    before = dict(acked)
    assert 0 < len(before) < CLIENTS * PER_CLIENT, "the kill came while the clients were sending"
    # every record acknowledged before the kill is in the catalog, once
    got = titles(db)
    rows = dict(catalog_rows(db))
    for (c, j), sysno in before.items():
        assert got.count(f"Crash client {c} record {j}") == 1
        assert Record.parse(rows[int(sysno)])["245"]["a"] == f"Crash client {c} record {j}"
    # restart; every client retries what had no reply, and resends three it had
    with Server(db, "--no-auth") as s2:
        threads = []
        for c in range(CLIENTS):
            again = [j for j in range(3) if (c, j) in before]

            def run(c: int = c, todo: list[int] = left[c] + again) -> None:
                assert client(c, s2.port, todo) == []

            threads.append(threading.Thread(target=run))
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert len(acked) == CLIENTS * PER_CLIENT
    got = titles(db)
    assert len(got) == len(set(got)) == CLIENTS * PER_CLIENT  # no record twice
    rows = dict(catalog_rows(db))
    for (c, j), sysno in acked.items():
        assert Record.parse(rows[int(sysno)])["245"]["a"] == f"Crash client {c} record {j}"


def _read_only_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only file cannot be made")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


def _files(db) -> dict[str, bytes]:
    """The catalog and its write-ahead log, when not empty (the shared-memory index aside)."""
    files = {str(f): f.read_bytes() for f in sorted(db.parent.glob(db.name + "*"))}
    return {k: v for k, v in files.items() if v and not k.endswith("-shm")}


def test_a_read_only_catalog_is_unavailable_never_received(tmp_path):
    db = tmp_path / "c.sqlite"
    with Server(db, "--no-auth") as s:
        assert reply(s.port, item("A", b"u") + titled("Before")).startswith("Record received")
    prefix = _read_only_prefix()
    db.chmod(0o444)
    try:
        before = _files(db)
        with Server(db, "--no-auth", prefix=prefix) as s:
            for form in ("byte", "digits"):
                text = reply(s.port, item("A", b"u", form) + titled("While read-only"))
                assert text == "Rejected: catalog unavailable"
            # it keeps serving: health reads the catalog
            from connexion_server import exchange

            got = exchange(s.port, b"GET /health HTTP/1.0\r\n\r\n")
            assert got.startswith(b"HTTP/1.0 200 OK") and b'"records": 1' in got, got
            assert _files(db) == before
            # once the catalog can be written again, the next request is stored
            for f in db.parent.glob(db.name + "*"):
                f.chmod(0o644)
            text = reply(s.port, item("A", b"u") + titled("Writable again"))
            assert text.startswith("Record received"), text
        log = s.log.read_text()
        assert "catalog unavailable" in log and "read-only" in log
    finally:
        db.chmod(0o644)
    assert titles(db) == ["Before", "Writable again"]


def test_a_full_disk_is_unavailable_never_received(tmp_path):
    """A file-size limit on the server process stands for a full disk: writing the catalog
    fails (EFBIG; Python ignores SIGXFSZ) as it would with ENOSPC."""
    import resource

    db = tmp_path / "c.sqlite"
    with Server(db, "--no-auth") as s:
        assert reply(s.port, item("A", b"u") + titled("Before")).startswith("Record received")
    limit = db.stat().st_size + 48 * 1024

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    answers: dict[str, str] = {}
    with Server(db, "--no-auth", log=tmp_path / "full.log", preexec_fn=small_disk) as s:
        for i in range(400):
            title = f"Filling the disk {i} " + "x" * 400
            answers[title] = reply(s.port, item("A", b"u") + titled(title))
            if answers[title] == "Rejected: catalog unavailable":
                break
        full = [t for t, a in answers.items() if not a.startswith("Record received")]
        assert full and all(answers[t] == "Rejected: catalog unavailable" for t in full)
        # it keeps serving what needs no writing
        from connexion_server import exchange

        assert exchange(s.port, b"GET /health HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
    got = titles(db)
    assert len(got) == len(set(got))
    for title, answer in answers.items():
        assert (title in got) == answer.startswith("Record received"), (title, answer)
