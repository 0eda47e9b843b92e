"""Every connection is ended by the server — closed, its log line written, counted out of the
limits — whichever thread answers it (issue 22: a plain connection's reply is sent by the
writer link's thread and its close waited for by the closer thread; a TLS connection is
served wholly by its handler thread). The server holds no descriptor for a connection whose
client has gone, and writes one log line for each."""

from __future__ import annotations

import os
import re
import socket
import ssl
import time
from pathlib import Path

from connexion_server import Server, item, read_reply
from test_catalog_safety import titled
from test_connexion_protocol import _self_signed


def _fds(pid: int) -> int:
    """The server's open sockets (not its threads' epoll descriptors, which come and go with
    the threads)."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # closed meanwhile
    return n


def _settles(pid: int, most: int, timeout: float = 10.0) -> int:
    """The server's open sockets once they are at most ``most`` (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    n = _fds(pid)
    while n > most and time.monotonic() < deadline:
        time.sleep(0.05)
        n = _fds(pid)
    return n


def _lines(path: Path, n: int, timeout: float = 10.0) -> str:
    """The log once it has ``n`` lines of stored records (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    log = path.read_text()
    while len(re.findall(r"fate=new", log)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
        log = path.read_text()
    return log


def test_tls_and_plain_connections_are_all_closed_and_logged(tmp_path):
    cert, key = _self_signed(tmp_path)
    db = tmp_path / "c.sqlite"
    with Server(db, "--no-auth", "--tls-cert", cert, "--tls-key", key) as tls_server:
        ctx = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
                t.sendall(item("A", b"tls") + titled("TLS 0") + b"\0")
                assert read_reply(t).startswith(b"Record received")
        base = _settles(tls_server.proc.pid, 0, timeout=1.0)
        for i in range(1, 21):
            with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
                    t.sendall(item("A", b"tls") + titled(f"TLS {i}") + b"\0")
                    assert read_reply(t).startswith(b"Record received")
        after = _settles(tls_server.proc.pid, base)
        print(f"\nTLS server sockets: {base} before 20 connections, {after} after")
        assert after <= base, (base, after)
        # a connection's line is written just after its socket is closed: waited for
        log = _lines(tls_server.log, 21)
        assert len(re.findall(r"fate=new", log)) == 21, log

    plain_db = tmp_path / "p.sqlite"
    with Server(plain_db, "--no-auth") as plain:
        with socket.create_connection(("127.0.0.1", plain.port), timeout=10) as c:
            c.sendall(item("A", b"u") + titled("Plain 0") + b"\0")
            assert read_reply(c).startswith(b"Record received")
        base = _settles(plain.proc.pid, 0, timeout=1.0)
        for i in range(1, 41):
            with socket.create_connection(("127.0.0.1", plain.port), timeout=10) as c:
                c.sendall(item("A", b"u") + titled(f"Plain {i}") + b"\0")
                assert read_reply(c).startswith(b"Record received")
                if i % 2:
                    # the server closes its side after the reply: the client sees the end
                    c.settimeout(5)
                    assert c.recv(100) == b""
        after = _settles(plain.proc.pid, base)
        print(f"plain server sockets: {base} before 40 connections, {after} after")
        assert after <= base, (base, after)
        log = _lines(plain.log, 41)
        assert len(re.findall(r"fate=new", log)) == 41, log
