"""The Connexion receiver's transport: listening, TLS, deadlines, per-address limits and the
``GET /health`` check, apart from the application (:mod:`.connexion`), which answers a parsed
request (:mod:`.protocol` parses without I/O).

Threads, written down:

* one **acceptor** thread takes connections. Per address: at most ``max_per_address`` open and
  ``connection_rate`` new ones a second (a token bucket, twice that in a burst); in all
  ``max_connections``. A connection over its address's limits is answered ``Rejected: …`` and
  closed. When the server is at its own limit, the slowest connection (fewest bytes a second, at
  least 0.2 s old, request not complete) of the address holding most is closed to make room, if
  that address holds more than its share; otherwise the newcomer is refused. Refusals are
  logged, once and then every 10 s per address;
* one **handler** thread per connection reads the request (:mod:`.protocol`'s incremental
  reader), hands it to the application (which checks the login and waits for the writer's
  answer), then replies and closes. A handler thread whose connection has ended waits (up to
  ``HANDLER_IDLE`` s, at most ``HANDLERS_KEPT`` of them) for the next connection instead of
  ending (issue 22: starting a thread was the largest single cost of a request here); each
  connection still has a thread of its own, never waiting behind another's.
"""

from __future__ import annotations

import os
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import protocol
from .guard import address_key

ONE_RECORD = "Rejected: one record per request"
#: A read of fewer bytes than this, the request not complete, makes the next read wait PACE s.
SMALL_READ = 4096
PACE = 0.05

#: Idle handler threads kept for the next connections, and how long one waits for one.
HANDLERS_KEPT = 64
HANDLER_IDLE = 30.0

Log = Callable[[dict[str, object]], None]


class _Handlers:
    """Runs ``target(*task)`` for each task on a thread of its own: an idle thread kept from an
    earlier task if there is one, else a new one."""

    def __init__(self, target: Callable[..., object], name: str) -> None:
        self._target = target
        self._name = name
        self._lock = threading.Lock()
        self._idle: list[list[Any]] = []  # each: [a lock held until a task is given, the task]
        self._closed = False

    def run(self, *task: object) -> None:
        with self._lock:
            slot = self._idle.pop() if self._idle else None
        if slot is None:
            threading.Thread(target=self._work, args=(task,), name=self._name, daemon=True).start()
            return
        slot[1] = task
        slot[0].release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for slot in idle:
            slot[1] = None
            slot[0].release()

    def _work(self, task: tuple[object, ...] | None) -> None:
        gate = threading.Lock()
        while task is not None:
            try:
                self._target(*task)
            except Exception:
                pass  # a task handles its own failures; a thread kept must not die of one
            gate.acquire()  # held: the next task releases it
            slot: list[Any] = [gate, None]
            with self._lock:
                if self._closed or len(self._idle) >= HANDLERS_KEPT:
                    return
                self._idle.append(slot)
            if not gate.acquire(timeout=HANDLER_IDLE):
                with self._lock:
                    if slot in self._idle:  # still idle: nobody can give it a task now
                        self._idle.remove(slot)
                        return
                gate.acquire()  # taken just now: its task is on the way
            gate.release()
            task = slot[1]


@dataclass(frozen=True)
class Peer:
    addr: str  # "IP:PORT", as logged
    ip: str  # the address the per-address limits and the login guard count by


@dataclass
class Reply:
    text: str | None  # sent, NUL-terminated; None: the connection is closed with no reply
    log: dict[str, object] = field(default_factory=dict)  # fields for the request's log line


class Application(Protocol):
    """What the transport serves (:class:`.connexion.Receiver`): pure of sockets."""

    port: int

    def handle(self, req: protocol.Request, peer: Peer) -> Reply: ...
    def health(self) -> int: ...
    def workers(self) -> list[tuple[Callable[[], None], str]]: ...
    def close(self) -> None: ...


@dataclass(kw_only=True)
class TransportSettings:
    host: str = "127.0.0.1"
    port: int = 0
    idle_timeout: float = 30.0
    max_connections: int = 256
    max_per_address: int = 32
    connection_rate: float = 500.0  # new connections a second from one address
    max_request: int = protocol.MAX_REQUEST
    drain_timeout: float = 10.0
    tls: ssl.SSLContext | None = None


@dataclass(eq=False)
class _Conn:
    """An open connection, as the acceptor sees it (for the per-address limits)."""

    sock: socket.socket
    ip: str
    start: float
    fd: int = -1  # the socket's descriptor (the TLS wrapper detaches the socket object)
    got: int = 0  # bytes received
    busy: bool = False  # its request is complete and being answered: never closed for room
    evicted: bool = False
    closing: bool = False  # its handler is closing the socket: the descriptor may be reused

    def rate(self, now: float) -> float:
        return self.got / max(now - self.start, 1e-3)


class Transport:
    """Accepts and reads Connexion requests; the application answers them (``handle``), says
    the catalog's record count for ``GET /health`` (``health``), and runs threads of its own
    (``workers``, started here, ended by ``close``)."""

    def __init__(self, settings: TransportSettings, app: Application, log: Log) -> None:
        self.s = settings
        self.app = app
        self.log = log
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._active = 0
        self._active_lock = threading.Condition()
        self._conns: dict[str, set[_Conn]] = {}  # by address
        self._buckets: dict[str, tuple[float, float]] = {}  # address → (tokens, when)
        self._refused: dict[str, list[float]] = {}  # address → [refusals not logged, logged at]
        self.port = 0
        # stop() writes a byte here: the acceptor waits on its listener and on this, never polls
        self._wake_r, self._wake_w = socket.socketpair()
        self._handlers = _Handlers(self._serve, "connexion-handler")

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> int:
        family = socket.AF_INET6 if ":" in self.s.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.s.host, self.s.port))
        sock.listen(1024)
        sock.setblocking(False)  # accept() is called only once select says a connection waits
        self._listener = sock
        self.port = self.app.port = sock.getsockname()[1]
        for target, name in ((self._accept_loop, "connexion-accept"), *self.app.workers()):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self.port

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, let the requests in flight finish (up to ``timeout`` seconds), then
        stop the writer once it has answered every request it took."""
        limit = self.s.drain_timeout if timeout is None else timeout
        self._stopping.set()
        try:
            self._wake_w.send(b"\0")  # the acceptor's select returns
        except OSError:
            pass
        accept = self._threads[0] if self._threads else None
        if accept is not None:
            accept.join(2.0)
        deadline = time.monotonic() + limit
        with self._active_lock:
            while self._active and time.monotonic() < deadline:
                # notified by each connection's end (and each eviction)
                self._active_lock.wait(max(0.0, deadline - time.monotonic()))
        self._handlers.close()
        self.app.close()
        for t in self._threads[1:]:
            t.join(max(1.0, deadline - time.monotonic()))

    # -- accepting -------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        listener = self._listener
        family = listener.family
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        burst = 0  # connections taken since the last select: more are tried without one
        try:
            while not self._stopping.is_set():
                if not burst:
                    # Blocks until a connection waits or stop() writes to the wake-up socket.
                    ready = {key.fileobj for key, _ in selector.select()}
                    if self._wake_r in ready or self._stopping.is_set():
                        break
                try:
                    sock, peer = listener.accept()
                    sock.setblocking(True)
                except (BlockingIOError, InterruptedError):
                    # none waiting (or taken back by the client before accept: it reset)
                    burst = 0
                    continue
                except OSError:
                    if self._stopping.is_set():
                        break
                    burst = 0
                    time.sleep(0.05)  # e.g. out of file descriptors: let handlers finish
                    continue
                burst = (burst + 1) % 64  # a select now and then: stop() is seen
                addr = f"{peer[0]}:{peer[1]}"
                # An IPv4 socket's peer is a dotted quad already as address_key writes it.
                ip = peer[0] if family == socket.AF_INET else address_key(str(peer[0]))
                conn = _Conn(sock, ip, time.monotonic(), sock.fileno())
                refusal = self._admit(conn)
                if refusal is not None:
                    self._refuse(sock, addr, conn.ip, refusal)
                    continue
                self._handlers.run(conn, addr)
        finally:
            selector.close()
            listener.close()
            self._wake_r.close()
            self._wake_w.close()

    def _admit(self, conn: _Conn) -> str | None:
        """Count ``conn`` in, making room by closing a slow connection if need be; or the
        reason it is refused."""
        s, ip, now = self.s, conn.ip, conn.start
        rate = s.connection_rate
        with self._active_lock:
            if rate > 0:
                if len(self._buckets) > 10_000:  # many addresses: forget the full buckets
                    burst = 2 * rate
                    self._buckets = {
                        a: (t, w)
                        for a, (t, w) in self._buckets.items()
                        if t + (now - w) * rate < burst
                    }
                tokens, when = self._buckets.get(ip, (2 * rate, now))
                tokens = min(2 * rate, tokens + (now - when) * rate)
                if tokens < 1:
                    self._buckets[ip] = (tokens, now)
                    return (
                        f"Rejected: too many connections from {ip} (over {rate:g} a second); "
                        "try again"
                    )
                self._buckets[ip] = (tokens - 1, now)
            mine = self._conns.get(ip, set())
            if len(mine) >= s.max_per_address:
                return (
                    f"Rejected: too many connections from {ip} ({s.max_per_address} open); "
                    "try again"
                )
            if self._active >= s.max_connections:
                # The backstop: room is made at the address holding most, if over its share.
                biggest = max(self._conns.values(), key=len, default=set())
                share = s.max_connections / (len(self._conns) + (0 if mine else 1))
                if not (len(biggest) > max(share, len(mine) + 1) and self._evict(biggest, now)):
                    return (
                        f"Rejected: the server is busy ({s.max_connections} connections); try again"
                    )
            self._active += 1
            self._conns.setdefault(ip, set()).add(conn)
        return None

    def _evict(self, conns: set[_Conn], now: float) -> bool:
        """Close the slowest of ``conns`` whose request is not complete and which is at least
        0.2 s old (caller holds the lock); whether one was."""
        victims = [
            c for c in conns if not (c.busy or c.evicted or c.closing) and now - c.start >= 0.2
        ]
        if not victims:
            return False
        victim = min(victims, key=lambda c: (c.rate(now), c.start))
        victim.evicted = True
        conns.discard(victim)  # its slot is taken now; its handler ends on its own
        if not conns:
            self._conns.pop(victim.ip, None)
        self._active -= 1
        self._active_lock.notify_all()
        try:
            # Through a duplicate of its descriptor: also while a TLS handshake holds the
            # socket (its handler has not closed it: ``closing`` is set under this lock first).
            with socket.socket(fileno=os.dup(victim.fd)) as dup:
                dup.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return True

    def _refuse(self, sock: socket.socket, addr: str, ip: str, text: str) -> None:
        try:
            # A new connection's send buffer is empty: the line goes at once, never waited for
            # (this is the acceptor's thread: a refusal must cost it as little as possible).
            sock.send(text.encode() + b"\0", socket.MSG_DONTWAIT)
        except OSError:
            pass
        finally:
            sock.close()
        # Logged once, then at most every 10 s per address with the count in between.
        now = time.monotonic()
        seen = self._refused.get(ip)
        if seen is not None and now - seen[1] < 10.0:
            seen[0] += 1
            return
        if len(self._refused) > 10_000:
            self._refused = {a: v for a, v in self._refused.items() if now - v[1] < 10.0}
        entry: dict[str, object] = {"service": "connexion", "addr": addr, "outcome": text}
        if seen is not None and seen[0]:
            entry["refused_since"] = int(seen[0])
        self._refused[ip] = [0, now]
        self.log(entry)

    def _serve(self, conn: _Conn, addr: str) -> None:
        try:
            self._handle(conn, addr)
        finally:
            with self._active_lock:
                if not conn.evicted:
                    self._active -= 1
                    mine = self._conns.get(conn.ip)
                    if mine is not None:
                        mine.discard(conn)
                if not self._conns.get(conn.ip, True):
                    del self._conns[conn.ip]
                self._active_lock.notify_all()

    # -- one connection --------------------------------------------------------------------------

    def _handle(self, conn: _Conn, addr: str) -> None:
        start = time.monotonic()
        deadline = start + self.s.idle_timeout
        entry: dict[str, object] = {"service": "connexion", "addr": addr}
        sock: socket.socket = conn.sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.s.tls is not None:
                sock.settimeout(self.s.idle_timeout)
                sock = self.s.tls.wrap_socket(sock, server_side=True)
            reply = self._exchange(sock, conn, addr, deadline, entry)
            if reply is not None:
                sock.settimeout(max(1.0, deadline - time.monotonic()))
                sock.sendall(reply)
                self._linger(sock, deadline, entry)
        except (OSError, ssl.SSLError) as e:
            entry.setdefault("outcome", f"connection lost: {e.__class__.__name__}")
        finally:
            if conn.evicted and entry.get("fate") is None:
                entry["outcome"] = "closed: the slowest connection of the address holding most"
                entry["fate"] = "closed"
            with self._active_lock:
                conn.closing = True
            try:
                sock.close()
            except OSError:
                pass
            entry["ms"] = round((time.monotonic() - start) * 1000, 1)
            self.log(entry)

    def _linger(self, sock: socket.socket, deadline: float, entry: dict[str, object]) -> None:
        """After the reply: read (and drop, counting them in the log) what the client still
        sends until it closes, so that closing does not reset the connection before the client
        has read the reply."""
        if not isinstance(sock, ssl.SSLSocket):
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                return
        end = min(deadline, time.monotonic() + 2.0)
        got = 0
        try:
            while got < 1 << 20:
                left = end - time.monotonic()
                if left <= 0:
                    return
                sock.settimeout(left)
                try:
                    chunk = sock.recv(65536)
                except (OSError, ssl.SSLError):
                    return
                if not chunk:
                    return
                got += len(chunk.translate(None, b" \t\r\n\0"))
        finally:
            if got:
                entry["ignored_after_reply"] = got

    def _drain(self, sock: socket.socket, reader: protocol.RequestReader) -> None:
        """What has already arrived after a complete request (not waiting for more)."""
        try:
            sock.setblocking(False)
            while len(reader) <= self.s.max_request:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reader.feed(chunk)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                sock.setblocking(True)
            except OSError:
                pass

    def _exchange(
        self,
        sock: socket.socket,
        conn: _Conn,
        addr: str,
        deadline: float,
        entry: dict[str, object],
    ) -> bytes | None:
        reader = protocol.RequestReader()
        paced = False
        while True:
            try:
                got = reader.poll()
            except protocol.ProtocolError as e:
                return self._answer(entry, f"Rejected: {e}", "bad_request")
            if isinstance(got, bytes):
                return self._http(got, entry)
            if got is not None:
                with self._active_lock:
                    if conn.evicted:
                        return None
                    conn.busy = True
                self._drain(sock, reader)
                extra = reader.trailing()
                if extra:
                    entry["bytes"] = len(reader)
                    return self._answer(
                        entry,
                        f"{ONE_RECORD} ({extra:,} more bytes after the first record; nothing "
                        "was stored)",
                        "more_than_one_record",
                    )
                reply = self.app.handle(got, Peer(addr, conn.ip))
                entry.update(reply.log)
                if reply.text is None:
                    return None
                return reply.text.encode("utf-8") + b"\0"
            if conn.evicted:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return self._answer(
                    entry,
                    f"Rejected: no complete request within {self.s.idle_timeout:g} s",
                    "timeout",
                )
            if not len(reader) and self._stopping.is_set():
                return None  # shutting down: a connection that sent nothing is just closed
            if paced:
                # A slow sender's bytes are taken a few times a second, not one by one: a
                # request trickled a byte at a time costs a few dozen reads, not 100,000.
                time.sleep(min(PACE, left))
                paced = False
                continue
            sock.settimeout(min(left, 0.5))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                if conn.evicted:
                    return None
                reader.close()
                continue
            conn.got += len(chunk)
            reader.feed(chunk)
            paced = len(chunk) < SMALL_READ
            if (reader.nul if reader.nul >= 0 else len(reader)) > self.s.max_request:
                return self._answer(
                    entry,
                    f"Rejected: the request is larger than {self.s.max_request:,} bytes",
                    "too_large",
                )

    def _answer(self, entry: dict[str, object], text: str, fate: str | None = None) -> bytes:
        if fate is not None:
            entry["fate"] = fate
        entry["outcome"] = text
        return text.encode("utf-8") + b"\0"

    def _http(self, head: bytes, entry: dict[str, object]) -> bytes:
        line = head.split(b"\n", 1)[0].decode("latin-1").strip()
        parts = line.split()
        path = parts[1] if len(parts) > 1 else ""
        entry["http"] = line[:200]
        if path.split("?")[0] not in ("/health", "/admin/health"):
            status, body = "404 Not Found", "not found\n"
        else:
            try:
                count = self.app.health()
            except Exception:  # any failure of the catalog is "unavailable", said in the body
                status, body = "503 Service Unavailable", '{"status": "catalog unavailable"}\n'
            else:
                status, body = "200 OK", f'{{"status": "ok", "records": {count}}}\n'
        entry["outcome"] = status
        payload = body.encode()
        return (
            f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\nContent-Length: "
            f"{len(payload)}\r\nConnection: close\r\n\r\n"
        ).encode() + (payload if not head.startswith(b"HEAD") else b"")
