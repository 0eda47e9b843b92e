"""Helpers for the Connexion receiver tests: a real ``marc8fast serve`` process on a loopback
port (port 0; the port is read from its ``listening connexion HOST:PORT`` line), raw sockets."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
SAMPLE = ROOT / "examples" / "sample-marc8.mrc"  # 5 MARC-8 records
UTF8_EXPORT = (
    ROOT
    / "tests"
    / "data"
    / "records"
    / "marc4j"
    / "oclc_63111280_export_as_UTF8_from_connexion.mrc"
)

_LISTEN = re.compile(r"listening (\w+) (\S+):(\d+)")


def marc8fast(
    *args: str | Path,
    input: str | None = None,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "marc8fast", *map(str, args)],
        capture_output=True,
        text=True,
        input=input,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        timeout=timeout,
    )


class Server:
    """``marc8fast serve --connexion 127.0.0.1:0`` with the given options; the log goes to
    ``log`` (a file), stderr is kept."""

    def __init__(
        self,
        db: Path | str,
        *options: str | Path,
        log: Path | None = None,
        prefix: Sequence[str] = (),
        preexec_fn: Callable[[], object] | None = None,
    ) -> None:
        """``db``: a catalog file, or a ``postgresql://`` URL (then ``log`` is required: the
        server's stderr is kept beside it)."""
        self.db = db
        if isinstance(db, str):
            assert log is not None
            self.log = log
        else:
            if not db.exists():
                # serve never makes a catalog (issue 18, item 5): the tests make one first.
                made = marc8fast("catalog", "init", "--db", db)
                assert made.returncode == 0, made.stderr
            self.log = log or db.with_suffix(".log")
        self.stderr_path = self.log.with_suffix(f".stderr{time.monotonic_ns()}")
        self._err = open(self.stderr_path, "w+b")
        cmd = [
            *prefix,
            sys.executable,
            "-m",
            "marc8fast",
            "serve",
            "--db",
            str(db),
            "--connexion",
            "127.0.0.1:0",
            "--log",
            str(self.log),
            *map(str, options),
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self._err, preexec_fn=preexec_fn
        )
        self.ports: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.stderr()
            for m in _LISTEN.finditer(text):
                self.ports[m.group(1)] = int(m.group(3))
            if "connexion" in self.ports:
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}: {text}")
            time.sleep(0.05)
        else:
            self.kill()
            raise RuntimeError("serve did not say where it listens: " + self.stderr())
        self.port = self.ports["connexion"]

    def stderr(self) -> str:
        self._err.flush()
        return self.stderr_path.read_bytes().decode("utf-8", "replace")

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._err.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.terminate()
        self.kill()


def wait_for_log(path: Path, text: str, timeout: float = 20) -> str:
    """The log's text once it holds ``text`` (a request's line is written after its reply)."""
    deadline = time.monotonic() + timeout
    while True:
        got = path.read_text() if path.exists() else ""
        if text in got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def unread_by_server(port: int, clients: list[socket.socket]) -> dict[int, int] | None:
    """For each of ``clients`` (connected to the server's ``port`` over IPv4), the bytes it sent
    that the server has not read yet (the receive queue of the server's end, from
    ``/proc/net/tcp``), by client port; None while an end is not listed. The server reads a
    connection only once it has accepted it and counted it in (a connection waiting in the
    listen backlog holds what it was sent), so 0 for every client says they are all being
    served."""
    ports = {c.getsockname()[1] for c in clients}
    queued: dict[int, int] = {}
    with open("/proc/net/tcp", encoding="ascii") as fh:
        next(fh)
        for line in fh:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if int(local.rsplit(":", 1)[1], 16) != port or state not in ("01", "08"):
                continue  # not the server's end of an established connection
            peer = int(remote.rsplit(":", 1)[1], 16)
            if peer in ports:
                queued[peer] = int(fields[4].split(":")[1], 16)
    return queued if set(queued) == ports else None


def listening(port: int) -> bool:
    """Whether something listens on ``port`` over IPv4 (``/proc/net/tcp``)."""
    with open("/proc/net/tcp", encoding="ascii") as fh:
        next(fh)
        return any(
            f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port
            for f in (line.split() for line in fh)
        )


def wait_until_read(port: int, clients: list[socket.socket], timeout: float = 30) -> None:
    """Wait until the server has read everything ``clients`` sent (see
    :func:`unread_by_server`): the moment they are surely accepted and counted."""
    deadline = time.monotonic() + timeout
    while True:
        queued = unread_by_server(port, clients)
        if queued is not None and not any(queued.values()):
            return
        assert time.monotonic() < deadline, f"the server did not read its clients: {queued}"
        time.sleep(0.01)


def exchange(
    port: int,
    payload: bytes,
    *,
    half_close: bool = False,
    timeout: float = 30,
    host: str = "127.0.0.1",
) -> bytes:
    """Send ``payload`` and read until NUL or close; returns what came (NUL included)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(payload)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        return read_reply(s)


def read_reply(s: socket.socket) -> bytes:
    got = b""
    while b"\0" not in got:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    return got


def reply(port: int, payload: bytes, **kw: object) -> str:
    got = exchange(port, payload, **kw)  # type: ignore[arg-type]
    assert got.endswith(b"\0"), got
    text = got[:-1].decode()
    assert "\0" not in text and "\n" not in text
    return text


def item(name: str, value: bytes, form: str = "byte") -> bytes:
    if form == "byte":
        return name.encode() + bytes([64 + len(value)]) + value
    return name.encode() + str(len(value)).encode() + value


def records_of(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out = []
    i = 0
    while i < len(data):
        n = int(data[i : i + 5])
        out.append(data[i : i + n])
        i += n
    return out


def catalog_rows(db: Path) -> list[tuple[int, bytes]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(con.execute("SELECT sysno, data FROM records ORDER BY sysno"))
    finally:
        con.close()


def in_threads(n: int, target: object, *args: object) -> list[object]:
    """Run ``target(i, *args)`` in ``n`` threads at once; the results (or exceptions)."""
    results: list[object] = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            barrier.wait(30)
            results[i] = target(i, *args)  # type: ignore[operator]
        except BaseException as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results
