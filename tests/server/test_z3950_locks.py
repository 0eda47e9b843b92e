"""i22-z16: the Z39.50 child looks at its own descriptors (the watchdog finds the connection of
a new session among them; the child finds the ports it listens on). Closing a duplicate of a
file's descriptor drops every POSIX lock the process holds on that file — SQLite's locks on the
catalog, its WAL and its shared-memory index, which tell a writer in another process that the
catalog is in use (else it takes itself for the last user, checkpoints and removes the WAL
under the server's connections: a delete was then not seen by a present). Only sockets are
duplicated."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys

from marc8fast.server.z3950.watchdog import _socket_of

PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("taken")
except OSError:
    print("held")
"""


def _lock_seen_by_another_process(path: str) -> str:
    r = subprocess.run(
        [sys.executable, "-c", PROBE, path], capture_output=True, text=True, timeout=60
    )
    return r.stdout.strip()


def test_looking_at_a_file_descriptor_keeps_the_locks_on_its_file(tmp_path):
    path = str(tmp_path / "catalog.db")
    with open(path, "wb") as fh:
        fh.write(b"x" * 100)
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert _lock_seen_by_another_process(path) == "held"
        assert _socket_of(fd) is None  # not a socket
        assert _lock_seen_by_another_process(path) == "held"  # and the lock is still ours
    finally:
        os.close(fd)
    assert _lock_seen_by_another_process(path) == "taken"


def test_a_socket_is_still_found():
    a, b = socket.socketpair()
    try:
        s = _socket_of(a.fileno())
        assert s is not None
        try:
            assert s.type == socket.SOCK_STREAM
        finally:
            s.close()
        a.sendall(b"still open")  # the duplicate's close left the socket itself open
        assert b.recv(100) == b"still open"
    finally:
        a.close()
        b.close()
    assert _socket_of(10**6) is None  # no such descriptor
