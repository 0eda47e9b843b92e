"""Helpers of the Z39.50/SRU server tests: a catalog loaded from the realworld corpus, a server
process on a loopback port, scripted yaz-client runs, and a recording proxy that captures the
PDUs a real client sends (so the bad-input tests replay real BER, not hand-made bytes)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from conftest import DATA

BIN = Path(sys.executable).parent
MARC8FAST = str(BIN / "marc8fast")
REALWORLD = sorted(str(p) for p in (DATA / "realworld").iterdir() if p.suffix in (".mrc", ".marc"))
USER, PASSWORD = "tsunit", "catalogers-2026"

needs_yaz = shutil.which("yaz-client") is None


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_catalog(db: Path, *, account: bool) -> None:
    r = subprocess.run(
        [MARC8FAST, "load", "-q", "--no-progress", "--db", str(db), *REALWORLD],
        capture_output=True,
        text=True,
    )
    assert r.returncode in (0, 1), r.stderr
    if account:
        from marc8fast.flows.accounts import add_user
        from marc8fast.flows.store import SQLiteStore

        with SQLiteStore(db) as store:
            add_user(store, USER, PASSWORD)


@dataclass
class Server:
    proc: subprocess.Popen[str]
    ports: dict[str, int]
    lines: list[str]

    @property
    def port(self) -> int:
        return self.ports["z3950"]

    @property
    def target(self) -> str:
        return f"tcp:127.0.0.1:{self.port}/catalog"


@contextmanager
def serving(
    db: Path, *extra: str, runner: bool = False, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """``marc8fast serve --z3950 127.0.0.1:0`` (or, with ``runner``, the development runner
    ``python -m marc8fast.server.z3950`` for the knobs serve does not expose), with ``env``
    added to the environment; stops it after."""
    if runner:
        cmd = [sys.executable, "-m", "marc8fast.server.z3950", str(db), *extra]
    else:
        cmd = [MARC8FAST, "serve", "--db", str(db), "--z3950", "127.0.0.1:0", *extra]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env} if env else None,
    )
    lines: list[str] = []
    ports: dict[str, int] = {}
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line)
        m = re.match(r"listening (z3950|sru) (\S+):(\d+)$", line.strip())
        if m:
            ports[m.group(1)] = int(m.group(3))
            if "z3950" in ports and ("--sru" not in extra or "sru" in ports):
                break
    assert "z3950" in ports, "".join(lines)
    # keep draining stderr so the server never blocks on a full pipe
    drain = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    drain.start()
    try:
        yield Server(proc, ports, lines)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        drain.join(5)


def yaz_client(script: str, *, marcdump: Path | None = None, timeout: float = 120) -> str:
    """Run yaz-client with ``script`` on stdin; its output."""
    args = ["yaz-client"]
    if marcdump is not None:
        args += ["-m", str(marcdump)]
    r = subprocess.run(
        args, input=script, capture_output=True, text=True, errors="replace", timeout=timeout
    )
    return r.stdout + r.stderr


def ber_pdus(data: bytes) -> list[bytes]:
    """Split a byte stream into BER PDUs (definite lengths, as YAZ writes them)."""
    out: list[bytes] = []
    i = 0
    while i < len(data):
        j = i + 1
        if data[i] & 0x1F == 0x1F:  # high tag number
            while data[j] & 0x80:
                j += 1
            j += 1
        first = data[j]
        j += 1
        if first & 0x80:
            n = first & 0x7F
            length = int.from_bytes(data[j : j + n], "big")
            j += n
        else:
            length = first
        out.append(data[i : j + length])
        i = j + length
    return out


@contextmanager
def recording_proxy(port: int) -> Iterator[tuple[int, list[bytes]]]:
    """A one-connection TCP proxy to 127.0.0.1:``port``; yields (its port, the bytes the
    client sent, in chunks)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    sent: list[bytes] = []

    def pump(src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    sent.append(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def run() -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        upstream = socket.create_connection(("127.0.0.1", port))
        t = threading.Thread(target=pump, args=(upstream, client, False), daemon=True)
        t.start()
        pump(client, upstream, True)
        t.join(10)
        client.close()
        upstream.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], sent
    finally:
        listener.close()
        thread.join(10)


def read_until_closed(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything the server sends until it closes the connection (a 30 s guard against a
    hang, not a timing assertion)."""
    sock.settimeout(30)
    out = b""
    while len(out) < limit:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        out += data
    return out


def recv_pdu(sock: socket.socket) -> bytes:
    """One whole PDU from the server (30 s guard)."""
    sock.settimeout(30)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        try:
            pdus = ber_pdus(data)
        except IndexError:
            continue
        if pdus and sum(map(len, pdus)) == len(data):
            return data


def env_without_proxy() -> dict[str, str]:
    env = dict(os.environ)
    for k in ("http_proxy", "HTTP_PROXY", "no_proxy"):
        env.pop(k, None)
    return env
