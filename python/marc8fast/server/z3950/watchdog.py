"""The child's watchdog: closes a connection whose PDU (or HTTP request) does not arrive whole
within its deadline, and the slowest, longest idle connections of an address over its limit."""

from __future__ import annotations

import ctypes
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..._native import Z3950Hot

Log = Callable[[dict[str, object]], None]


def peer_address(peer: str) -> str:
    """The IP address in GFS's peer name (``tcp:127.0.0.2:40112``, ``tcp:[::1]:40112``, or a
    host name when GFS resolved one)."""
    text = peer.split(":", 1)[1] if peer.startswith(("tcp:", "ssl:")) else peer
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    host, sep, port = text.rpartition(":")
    return host if sep and port.isdigit() else text


def _socket_of(fd: int) -> socket.socket | None:
    """A socket object on a duplicate of ``fd`` (closed by the caller), None if ``fd`` is not
    a socket (or is gone).

    Only a socket is duplicated: closing a duplicate of a file's descriptor would drop every
    POSIX lock this process holds on that file — SQLite's, on the catalog, its WAL and its
    shared-memory index (a writer elsewhere could then take the catalog for the last user,
    checkpoint and remove the WAL under the server's connections)."""
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return None
        dup = os.dup(fd)
    except OSError:
        return None
    try:
        return socket.socket(fileno=dup)
    except OSError:
        os.close(dup)
        return None


@dataclass
class _Conn:
    first_seen: float
    pending_since: float | None = None


_TCP_INFO = getattr(socket, "TCP_INFO", 11)


def _load_libc() -> ctypes.PyDLL | None:
    """libc's getsockopt, called with the GIL held (a system call that returns at once: no
    hand-over of the GIL to another session thread and back)."""
    try:
        libc = ctypes.PyDLL(None)
        fn = libc.getsockopt
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    return libc


def _load_fstat() -> Callable[[int, Any], int] | None:
    """libc's ``fstat`` with the GIL held, as :func:`_load_libc` (``os.fstat`` lets go of it: a
    hand-over of the GIL after every request); None where libc does not export it (glibc before
    2.33) or ``struct stat`` does not start with a 64-bit device and inode."""
    if _libc is None or os.uname().machine not in ("x86_64", "aarch64"):
        return None
    try:
        fn = _libc.fstat
    except AttributeError:
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p]
    probe = ctypes.create_string_buffer(256)
    with open(os.devnull, "rb") as fh:  # the layout checked once against os.fstat
        if fn(fh.fileno(), probe) != 0:
            return None
        if struct.unpack_from("Q", probe.raw, 8)[0] != os.fstat(fh.fileno()).st_ino:
            return None
    return fn


_libc = _load_libc()
_fstat = _load_fstat()

#: poll and ppoll, whose first argument is the ``struct pollfd`` array a GFS session waits on
_POLL_SYSCALLS = {"x86_64": {7, 271}, "aarch64": {73}}


_K = TypeVar("_K")
_V = TypeVar("_V")


def _snapshot(table: dict[_K, _V]) -> dict[_K, _V]:
    """A copy of ``table`` while other threads may add to it, retried until no writer got in.
    Session threads add to the watchdog's tables (``settle``) while another thread reads them.
    Neither a Python loop nor one C call (``tuple(d.values())``) is safe from them: a garbage
    collection triggered by an allocation inside the copy runs finalizers and callbacks, Python
    code at which the interpreter hands the GIL to another thread, and the copy then fails with
    "dictionary changed size during iteration" (an Init answered with diagnostic 1 under load;
    seen once in CI, made reproducible by a GC callback in the test). A copy takes
    microseconds, so a writer gets in rarely and a retry costs nothing."""
    while True:
        try:
            return dict(table)
        except RuntimeError:
            continue


class Watchdog:
    """Disconnects a client whose request has been arriving for longer than ``deadline``
    seconds: one trickling bytes, or one that claimed a length (up to GFS's PDU limit) and
    never sent it. GFS itself only drops a connection that is silent.

    GFS reads in C, one thread per connection, so the watchdog looks from outside, once a
    second: a session thread waits in ``poll`` on its connection (``/proc/self/task/TID/syscall``
    gives the ``pollfd`` array, read through ``/proc/self/mem``); the kernel says when data
    last arrived on it (``TCP_INFO``); the backend notes when it was last called from that
    thread (Init, Search, Present, Delete). Data that came after the last call and has not made
    a complete request ``deadline`` seconds on is a partial request: the connection is shut
    down (GFS then closes the session) and logged (``z3950_dropped``)."""

    TCP_INFO_LAST_DATA_RECV = 52  # offsets in struct tcp_info: tcpi_last_data_recv (ms)
    TCP_INFO_BYTES_RECEIVED = 128  # tcpi_bytes_received

    def __init__(
        self,
        activity: dict[int, float],
        deadline: float,
        emit: Log,
        per_address: int = 0,
        hot: Z3950Hot | None = None,
    ) -> None:
        self.activity = activity
        #: the native hot path, which notes the requests it answers as ``settle`` does
        self.hot = hot
        self.deadline = deadline
        #: connections one address may hold (0: no limit); beyond, the slowest are closed
        self.per_address = per_address
        self.emit = emit
        self.conns: dict[tuple[int, int], _Conn] = {}
        #: thread → (descriptor, inode) of the connection it polled at the last sweep; added to
        #: by the session threads (settle) while others read it: read only through a copy
        self.fds: dict[int, tuple[int, int]] = {}
        #: thread → (inode, bytes received) when its last backend call ended (set by the session
        #: threads, read by the sweep through a copy)
        self.settled: dict[int, tuple[int, int]] = {}
        self.syscalls = _POLL_SYSCALLS.get(os.uname().machine, set())
        #: per session thread: the TCP_INFO buffer of :meth:`_received`
        self.local = threading.local()

    def start(self) -> None:
        if self.syscalls and hasattr(socket, "TCP_INFO") and os.path.isdir("/proc/self/task"):
            threading.Thread(target=self._run, name="z3950-watchdog", daemon=True).start()

    def _run(self) -> None:
        try:
            mem = os.open("/proc/self/mem", os.O_RDONLY)
        except OSError as e:
            self.emit({"event": "error", "where": "watchdog", "error": repr(e)})
            return
        while True:
            time.sleep(1.0)
            try:
                self.sweep(time.monotonic(), mem)
            except Exception as e:  # never the end of the watchdog
                self.emit({"event": "error", "where": "watchdog", "error": repr(e)})

    def waiting(self, mem: int) -> dict[int, int]:
        """thread id → the one descriptor it polls, for the threads waiting in poll on one."""
        out: dict[int, int] = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/syscall", encoding="ascii") as fh:
                    fields = fh.read().split()
                if len(fields) < 3 or not fields[0].isdigit():
                    continue  # running, or not in a system call
                if int(fields[0]) not in self.syscalls or int(fields[2], 16) != 1:
                    continue
                data = os.pread(mem, 4, int(fields[1], 16))
            except (OSError, ValueError):
                continue
            if len(data) == 4:
                out[int(tid)] = struct.unpack("i", data)[0]
        return out

    def _info(self, fd: int) -> tuple[int, int, float, str] | None:
        """(inode, bytes received, seconds since data was last received, peer address) of a
        connected TCP socket, else None."""
        s = _socket_of(fd)
        if s is None:
            return None
        try:
            if s.type != socket.SOCK_STREAM or s.getsockopt(
                socket.SOL_SOCKET, socket.SO_ACCEPTCONN
            ):
                return None
            host = str(s.getpeername()[0]).removeprefix("::ffff:")
            info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
            inode = os.fstat(s.fileno()).st_ino
        except OSError:
            return None
        finally:
            s.close()
        if len(info) < self.TCP_INFO_BYTES_RECEIVED + 8:
            return None
        (idle_ms,) = struct.unpack_from("I", info, self.TCP_INFO_LAST_DATA_RECV)
        (received,) = struct.unpack_from("Q", info, self.TCP_INFO_BYTES_RECEIVED)
        return inode, received, idle_ms / 1000.0, host

    def settle(self, tid: int, peer: str | None = None) -> None:
        """Called at the end of each backend call, in its session thread: every byte received
        so far made complete requests (the client waits for the answer). A connection no sweep
        has seen yet (an Init) is found as the one connection from ``peer`` no thread is known
        to poll."""
        known = self.fds.get(tid)
        if known is None and peer is not None:
            known = self._unknown_connection(peer)
            if known is not None:
                self.fds[tid] = known
                if self.hot is not None:
                    self.hot.watch_fd(tid, *known)
        if known is None:
            return
        received = self._received(*known)
        if received is not None:
            self.settled[tid] = (known[1], received)

    def _received(self, fd: int, inode: int) -> int | None:
        """Bytes received so far on the connection ``fd`` if it is still the socket ``inode``
        (else None): one ``fstat`` and one ``getsockopt`` (this runs after every request)."""
        buf = getattr(self.local, "buf", None)
        if buf is None:
            buf = self.local.buf = ctypes.create_string_buffer(256)
        if _fstat is not None:
            if _fstat(fd, buf) != 0 or struct.unpack_from("Q", buf, 8)[0] != inode:
                return None
        else:
            try:
                if os.fstat(fd).st_ino != inode:
                    return None
            except OSError:
                return None
        if _libc is None:
            info = self._info(fd)
            return info[1] if info is not None and info[0] == inode else None
        size = ctypes.c_uint32(256)
        if _libc.getsockopt(fd, socket.IPPROTO_TCP, _TCP_INFO, buf, ctypes.byref(size)) != 0:
            return None
        if size.value < self.TCP_INFO_BYTES_RECEIVED + 8:
            return None
        (received,) = struct.unpack_from("Q", buf, self.TCP_INFO_BYTES_RECEIVED)
        return int(received)

    def _unknown_connection(self, peer: str) -> tuple[int, int] | None:
        address = peer_address(peer)
        polled = {inode for _fd, inode in _snapshot(self.fds).values()}
        found: list[tuple[int, int]] = []
        for name in os.listdir("/proc/self/fd"):
            s = _socket_of(int(name))
            if s is None:
                continue
            try:
                if s.type != socket.SOCK_STREAM or s.getsockopt(
                    socket.SOL_SOCKET, socket.SO_ACCEPTCONN
                ):
                    continue
                host = s.getpeername()[0]
                inode = os.fstat(s.fileno()).st_ino
            except OSError:
                continue
            finally:
                s.close()
            if host.removeprefix("::ffff:") == address and inode not in polled:
                found.append((int(name), inode))
                if len(found) > 1:
                    return None  # several: which one is not known (the time rule decides)
        return found[0] if found else None

    def _take_hot_notes(self) -> None:
        """The hot path's notes since the last sweep, where they are newer than the backend's:
        when each session thread's last call ended, and its connection's bytes then."""
        if self.hot is None:
            return
        for tid, when, settled in self.hot.watch_take():
            if when >= self.activity.get(tid, 0.0):
                self.activity[tid] = when
                if settled is not None:
                    self.settled[tid] = settled

    def sweep(self, now: float, mem: int) -> None:
        self._take_hot_notes()
        seen: set[tuple[int, int]] = set()
        fds: dict[int, tuple[int, int]] = {}
        by_address: dict[str, list[tuple[bool, float, int, int, tuple[int, int]]]] = {}
        for tid, fd in self.waiting(mem).items():
            info = self._info(fd)
            if info is None:
                continue
            inode, received, idle, host = info
            fds[tid] = (fd, inode)
            key = (tid, inode)
            seen.add(key)
            conn = self.conns.setdefault(key, _Conn(now))
            settled = self.settled.get(tid)
            if settled is not None and settled[0] == inode:
                pending = received > settled[1]  # bytes beyond the last complete request
                since = now
            else:
                # not settled yet (a connection younger than a sweep): by time, to within the
                # kernel's 10 ms, received after the last call
                last_call = self.activity.get(tid, conn.first_seen)
                pending = now - idle > last_call + 0.01
                since = now - idle
            if not pending:
                conn.pending_since = None
            elif conn.pending_since is None:
                conn.pending_since = since
            if conn.pending_since is not None and now - conn.pending_since > self.deadline:
                self.drop(fd, inode, f"a request still incomplete after {self.deadline:g} s")
                del self.conns[key]
                continue
            last = self.activity.get(tid, conn.first_seen)
            by_address.setdefault(host, []).append((pending, last, fd, inode, key))
        self.fds = fds
        if self.hot is not None:
            self.hot.watch_fds(fds)
        if self.per_address:
            for host, conns in by_address.items():
                if len(conns) <= self.per_address:
                    continue
                # over its share: the slow ones (a request arriving) first, then the longest idle
                conns.sort(key=lambda c: (not c[0], c[1]))
                over = conns[: len(conns) - self.per_address]
                for _pending, _last, fd, inode, key in over:
                    self.drop(fd, inode, None)
                    self.conns.pop(key, None)
                self.emit(
                    {
                        "event": "z3950_dropped",
                        "peer": host,
                        "count": len(over),
                        "reason": f"more than {self.per_address} connections from {host}: its "
                        "slowest and longest idle closed",
                    }
                )
        for key in set(self.conns) - seen:
            del self.conns[key]
        for tid in set(_snapshot(self.settled)) - set(fds):
            self.settled.pop(tid, None)

    def drop(self, fd: int, inode: int, reason: str | None) -> None:
        """Shut the connection down (GFS then ends its session); logged if ``reason``."""
        s = _socket_of(fd)
        if s is None:
            return
        try:
            if os.fstat(s.fileno()).st_ino != inode:
                return
            peer = s.getpeername()
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            return
        finally:
            s.close()
        if reason is not None:
            self.emit({"event": "z3950_dropped", "peer": f"{peer[0]}:{peer[1]}", "reason": reason})
