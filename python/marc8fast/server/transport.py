"""The Connexion receiver's transport: listening, TLS, deadlines, per-address limits and the
``GET /health`` check, apart from the application (:mod:`.connexion`), which answers a parsed
request (:mod:`.protocol` parses without I/O).

Threads, written down:

* **handler** threads take the connections themselves (issue 22: no acceptor thread handing each
  connection to another, a wake-up and an interpreter-lock hand-over a connection). Each one
  waits for the listener in an ``epoll`` of its own (``EPOLLEXCLUSIVE``: a connection wakes one
  waiting thread, not all), accepts, and serves what it accepted from start to end. At least one
  thread is always waiting: the thread that takes the last waiting place starts another first.
  A thread whose connection has ended waits for the next one (up to ``HANDLER_IDLE`` s, at most
  ``HANDLERS_KEPT`` waiting); each connection's request is still read (and its login
  checked) on a thread of its own, never waiting behind another's;
* the per-address and global limits are decided by the thread that accepted, under one lock.
  Per address: at most ``max_per_address`` open and ``connection_rate`` new ones a second (a
  token bucket, twice that in a burst); in all ``max_connections``. A connection over its
  address's limits is answered ``Rejected: …`` and closed. When the server is at its own limit,
  the slowest connection (fewest bytes a second, at least 0.2 s old, request not complete) of
  the address holding most is closed to make room, if that address holds more than its share;
  otherwise the newcomer is refused. Refusals are logged, once and then every 10 s per address;
* the handler reads the request (:mod:`.protocol`'s incremental reader) and hands it to the
  application (:meth:`Application.start`: it checks the login and gives the request to the
  writer), then goes back to accepting. The application's own thread (the writer link's) gives
  the reply (:meth:`Transport._answered`): sent at once with ``MSG_DONTWAIT`` (a client whose
  buffer cannot take it gets a thread of its own for it), then the connection goes to
  the closer. A reply known at once (a login refused, a bad request, ``/health``) is sent by
  the handler, which then waits for the client's close itself, as before. A TLS connection is
  served wholly by its handler (its handshake and sends block): the application answers it
  with :meth:`Application.handle`, which waits;
* one **closer** thread waits (``epoll``) for the clients that have their reply to close,
  reads and drops what they still send (counted in the log line), and ends those connections
  (closed, counted out of the limits, their log lines written together with one write).
"""

from __future__ import annotations

import heapq
import itertools
import os
import select
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

#: _exchange's answer for a request whose reply the application gives later.
_HANDED = b"handed on"


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
    def start(
        self, req: protocol.Request, peer: Peer, then: Callable[[Reply], object]
    ) -> Reply | None: ...
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


@dataclass(eq=False)
class _Lingering:
    """A connection that has its reply and is waiting for its client to close."""

    conn: _Conn
    sock: socket.socket
    entry: dict[str, object]
    start: float
    end: float  # closed then, whatever the client does
    fd: int
    got: int = 0  # bytes other than spaces, line ends and NULs received after the reply


class _Closer:
    """One thread that waits for the clients to close after their reply (issue 22: not a
    thread a connection, each woken for its client's close), reads and drops what they still
    send (counted in the log line), and ends each connection (:meth:`Transport._close`)."""

    def __init__(self, done: Callable[[list[_Lingering]], None]) -> None:
        self._done = done
        self._poller = select.epoll()
        self._lock = threading.Lock()
        self._items: dict[int, _Lingering] = {}
        self._ends: list[tuple[float, int, _Lingering]] = []  # a heap: the soonest end first
        self._seq = itertools.count()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._poller.register(self._wake_r.fileno(), select.EPOLLIN)
        self._next = float("inf")  # when the thread's wait ends at the latest
        self._stopped = False

    def add(self, item: _Lingering) -> None:
        with self._lock:
            self._items[item.fd] = item
            heapq.heappush(self._ends, (item.end, next(self._seq), item))
            self._poller.register(item.fd, select.EPOLLIN)
            wake = item.end < self._next
        if wake:
            try:
                self._wake_w.send(b"\0", socket.MSG_DONTWAIT)
            except OSError:
                pass

    def stop(self) -> None:
        self._stopped = True
        try:
            self._wake_w.send(b"\0", socket.MSG_DONTWAIT)
        except OSError:
            pass

    def run(self) -> None:
        wake = self._wake_r.fileno()
        try:
            while not self._stopped:
                with self._lock:
                    soonest = self._ends[0][0] if self._ends else time.monotonic() + 1.0
                    self._next = soonest
                ready = self._poller.poll(max(0.0, soonest - time.monotonic()))
                ended: list[_Lingering] = []
                for fd, _ev in ready:
                    if fd == wake:
                        try:
                            self._wake_r.recv(4096)
                        except OSError:
                            pass
                        continue
                    item = self._items.get(fd)
                    if item is not None and self._read(item):
                        ended.append(item)
                now = time.monotonic()
                with self._lock:
                    while self._ends and self._ends[0][0] <= now:
                        item = heapq.heappop(self._ends)[2]
                        if self._items.get(item.fd) is item:
                            ended.append(item)
                    for item in ended:
                        if self._items.get(item.fd) is item:
                            del self._items[item.fd]
                            try:
                                self._poller.unregister(item.fd)
                            except OSError:
                                pass
                if ended:
                    self._end(list(dict.fromkeys(ended)))
        finally:
            # stopped (after the drain): the connections still waiting are ended now
            with self._lock:
                left, self._items = list(self._items.values()), {}
                self._ends.clear()
            if left:
                self._end(left)
            self._poller.close()
            self._wake_r.close()
            self._wake_w.close()

    def _end(self, items: list[_Lingering]) -> None:
        try:
            self._done(items)
        except Exception:
            pass  # the log could not be written: the thread goes on closing the others

    @staticmethod
    def _read(item: _Lingering) -> bool:
        """What the client sent after its reply (dropped, counted); whether it is done."""
        try:
            chunk = item.sock.recv(65536, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        if not chunk:
            return True
        item.got += len(chunk.translate(None, b" \t\r\n\0"))
        return item.got >= 1 << 20


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
        # stop() writes a byte here: the handler threads wait on the listener and on this
        self._wake_r, self._wake_w = socket.socketpair()
        self._family = socket.AF_INET
        # The handler threads waiting for a connection (counted from before a thread starts),
        # and how many threads there are; under _pool (a Condition: stop() waits on it).
        self._pool = threading.Condition()
        self._waiting = 0
        self._handler_threads = 0
        self._refused_lock = threading.Lock()
        self._closer = _Closer(self._lingered)

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> int:
        family = socket.AF_INET6 if ":" in self.s.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.s.host, self.s.port))
        sock.listen(1024)
        sock.setblocking(False)  # accepted only once epoll says a connection waits
        self._listener = sock
        self._family = family
        self.port = self.app.port = sock.getsockname()[1]
        for target, name in (*self.app.workers(), (self._closer.run, "connexion-closer")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        with self._pool:
            self._spawn()
        return self.port

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, let the requests in flight finish (up to ``timeout`` seconds), then
        stop the writer once it has answered every request it took."""
        limit = self.s.drain_timeout if timeout is None else timeout
        self._stopping.set()
        try:
            self._wake_w.send(b"\0")  # every waiting handler's epoll returns
        except OSError:
            pass
        with self._pool:
            # The waiting handlers see the wake-up and end; none accepts any more.
            self._pool.wait_for(lambda: not self._waiting, 2.0)
        if self._listener is not None:
            self._listener.close()
        deadline = time.monotonic() + limit
        with self._active_lock:
            while self._active and time.monotonic() < deadline:
                # notified by each connection's end (and each eviction)
                self._active_lock.wait(max(0.0, deadline - time.monotonic()))
        self.app.close()
        self._closer.stop()
        for t in self._threads:
            t.join(max(1.0, deadline - time.monotonic()))
        self._wake_r.close()
        self._wake_w.close()

    # -- accepting -------------------------------------------------------------------------------

    def _spawn(self) -> None:
        """Start a handler thread, counted as waiting from now (caller holds ``_pool``)."""
        self._waiting += 1
        self._handler_threads += 1
        try:
            threading.Thread(target=self._handler, name="connexion-handler", daemon=True).start()
        except BaseException:
            self._waiting -= 1
            self._handler_threads -= 1
            raise

    def _handler(self) -> None:
        """A handler thread: accept a connection, serve it, wait for the next one."""
        assert self._listener is not None
        listener = self._listener
        family = self._family
        waiting = True  # counted in _waiting
        poller = select.epoll(2)
        try:
            # EPOLLEXCLUSIVE: a connection wakes one of the waiting threads, not every one.
            poller.register(listener.fileno(), select.EPOLLIN | select.EPOLLEXCLUSIVE)
            poller.register(self._wake_r.fileno(), select.EPOLLIN)
            idle_since = time.monotonic()
            wait = False  # a new thread tries at once: a connection may be waiting already
            while not self._stopping.is_set():
                if wait:
                    # (after a connection, waited for first: trying to accept right away would
                    # mostly cost a failed accept, a syscall and an exception, per connection)
                    left = idle_since + HANDLER_IDLE - time.monotonic()
                    if left <= 0:
                        with self._pool:
                            if self._waiting > 1:  # another waits: this one may go
                                return
                        idle_since = time.monotonic()
                        continue
                    poller.poll(left)
                    if self._stopping.is_set():
                        return
                try:
                    # the socket object is made here (no enum conversions): a blocking socket
                    fd, peer = listener._accept()  # type: ignore[attr-defined]
                except (BlockingIOError, InterruptedError):
                    wait = True
                    continue
                except OSError:
                    if self._stopping.is_set():
                        return
                    time.sleep(0.05)  # e.g. out of file descriptors: let handlers finish
                    continue
                with self._pool:
                    waiting = False
                    self._waiting -= 1
                    if not self._waiting:
                        # someone must wait for the next connection while this one is served
                        try:
                            self._spawn()
                        except RuntimeError:
                            pass  # no thread could start: the next to finish waits instead
                sock = socket.socket(family, socket.SOCK_STREAM, 0, fd)
                self._take(sock, peer)
                with self._pool:
                    if self._stopping.is_set() or self._waiting >= HANDLERS_KEPT:
                        return
                    waiting = True
                    self._waiting += 1
                idle_since = time.monotonic()
                wait = True
        finally:
            poller.close()
            with self._pool:
                self._handler_threads -= 1
                if waiting:
                    self._waiting -= 1
                self._pool.notify_all()

    def _take(self, sock: socket.socket, peer: Any) -> None:
        """A connection just accepted: refused at once, or served on this thread."""
        addr = f"{peer[0]}:{peer[1]}"
        # An IPv4 socket's peer is a dotted quad already as address_key writes it.
        ip = peer[0] if self._family == socket.AF_INET else address_key(str(peer[0]))
        conn = _Conn(sock, ip, time.monotonic(), sock.fileno())
        refusal = self._admit(conn)
        if refusal is not None:
            self._refuse(sock, addr, conn.ip, refusal)
            return
        self._serve(conn, addr)

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
            # (a refusal must cost the thread that accepted it as little as possible).
            sock.send(text.encode() + b"\0", socket.MSG_DONTWAIT)
        except OSError:
            pass
        finally:
            sock.close()
        # Logged once, then at most every 10 s per address with the count in between.
        now = time.monotonic()
        with self._refused_lock:  # every handler thread accepts, so may refuse
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
        start = time.monotonic()
        entry: dict[str, object] = {"service": "connexion", "addr": addr}
        sock: socket.socket = conn.sock
        handed = False
        try:
            handed = self._handle(conn, sock, addr, start, entry)
        finally:
            if not handed:
                # conn.sock: the TLS wrapper if there is one (the plain socket is detached)
                self._close(conn, conn.sock, entry, start)

    def _close(
        self, conn: _Conn, sock: socket.socket, entry: dict[str, object], start: float
    ) -> None:
        """The connection's end: closed, its log line written, counted out."""
        try:
            self.log(self._end(conn, sock, entry, start))
        finally:
            self._count_out([conn])

    def _end(
        self, conn: _Conn, sock: socket.socket, entry: dict[str, object], start: float
    ) -> dict[str, object]:
        """Close the connection; its log line."""
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
        return entry

    def _count_out(self, conns: list[_Conn]) -> None:
        """Connections closed (and logged) no longer count toward the limits."""
        with self._active_lock:
            for conn in conns:
                if not conn.evicted:
                    self._active -= 1
                    mine = self._conns.get(conn.ip)
                    if mine is not None:
                        mine.discard(conn)
                if not self._conns.get(conn.ip, True):
                    del self._conns[conn.ip]
            self._active_lock.notify_all()

    # -- one connection --------------------------------------------------------------------------

    def _handle(
        self,
        conn: _Conn,
        sock: socket.socket,
        addr: str,
        start: float,
        entry: dict[str, object],
    ) -> bool:
        """Serve the connection on this thread; True when its end was handed on (the
        application answers later, :meth:`_answered` finishes it)."""
        deadline = start + self.s.idle_timeout
        try:
            if self.s.tls is not None:
                # (A plain connection's reply is one write on an idle connection: Nagle's
                # algorithm never holds it back, so it needs no TCP_NODELAY, nor its syscall.)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(self.s.idle_timeout)
                sock = self.s.tls.wrap_socket(sock, server_side=True)
            reply = self._exchange(sock, conn, addr, deadline, entry, start)
            if reply is _HANDED:
                return True
            if reply is not None:
                sock.settimeout(max(1.0, deadline - time.monotonic()))
                sock.sendall(reply)
                self._linger(sock, deadline, entry)
        except (OSError, ssl.SSLError) as e:
            entry.setdefault("outcome", f"connection lost: {e.__class__.__name__}")
        finally:
            conn.sock = sock  # the TLS wrapper, if any: closed by _close
        return False

    def _answered(
        self,
        conn: _Conn,
        sock: socket.socket,
        entry: dict[str, object],
        start: float,
        deadline: float,
        reply: Reply,
    ) -> None:
        """The application's reply to a request handed on (on its thread, which must not
        block): sent, then the client's close is waited for by the closer thread."""
        try:
            self._reply_now(conn, sock, entry, start, deadline, reply)
        except Exception as e:  # whatever happens, the connection is ended and counted out
            entry.setdefault("outcome", f"connection lost: {e.__class__.__name__}")
            self._close(conn, sock, entry, start)

    def _reply_now(
        self,
        conn: _Conn,
        sock: socket.socket,
        entry: dict[str, object],
        start: float,
        deadline: float,
        reply: Reply,
    ) -> None:
        entry.update(reply.log)
        if reply.text is None:
            self._close(conn, sock, entry, start)
            return
        data = reply.text.encode("utf-8") + b"\0"
        try:
            # The socket is blocking (no timeout) here: one send, never waiting: a new
            # connection's send buffer holds a reply line many times over.
            sent = sock.send(data, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as e:
            entry.setdefault("outcome", f"connection lost: {e.__class__.__name__}")
            self._close(conn, sock, entry, start)
            return
        if sent < len(data):
            # The client does not take its reply now: finished on a thread of its own.
            threading.Thread(
                target=self._finish_slowly,
                args=(conn, sock, entry, start, deadline, data[sent:]),
                name="connexion-reply",
                daemon=True,
            ).start()
            return
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn, sock, entry, start)
            return
        end = min(deadline, time.monotonic() + 2.0)
        self._closer.add(_Lingering(conn, sock, entry, start, end, sock.fileno()))

    def _finish_slowly(
        self,
        conn: _Conn,
        sock: socket.socket,
        entry: dict[str, object],
        start: float,
        deadline: float,
        rest: bytes,
    ) -> None:
        try:
            sock.settimeout(max(1.0, deadline - time.monotonic()))
            sock.sendall(rest)
            self._linger(sock, deadline, entry)
        except OSError as e:
            entry.setdefault("outcome", f"connection lost: {e.__class__.__name__}")
        finally:
            self._close(conn, sock, entry, start)

    def _lingered(self, items: list[_Lingering]) -> None:
        """The closer's end of connections: their clients closed, or their time is up. Their
        log lines are written together (one time stamp, one write: issue 22)."""
        entries = []
        for item in items:
            if item.got:
                item.entry["ignored_after_reply"] = item.got
            entries.append(self._end(item.conn, item.sock, item.entry, item.start))
        try:
            write_many = getattr(self.log, "write_many", None)
            if write_many is not None:
                write_many(entries)
            else:
                for entry in entries:
                    self.log(entry)
        finally:
            self._count_out([item.conn for item in items])

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
        if sock.gettimeout() is None and not isinstance(sock, ssl.SSLSocket):
            # blocking, no timeout: MSG_DONTWAIT reads without waiting (and without a poll)
            try:
                while len(reader) <= self.s.max_request:
                    chunk = sock.recv(65536, socket.MSG_DONTWAIT)
                    if not chunk:
                        break
                    reader.feed(chunk)
            except OSError:
                pass
            return
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
        start: float,
    ) -> bytes | None:
        """The reply to send (None: close with none; ``_HANDED``: the application answers
        later, see :meth:`_answered`)."""
        reader = protocol.RequestReader()
        paced = False
        blocking = self.s.tls is None  # the socket is still blocking, with no timeout
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
                peer = Peer(addr, conn.ip)
                if self.s.tls is None:
                    # Answered later on the application's thread (the writer's answer), which
                    # sends the reply: this thread is free for the next connection at once.
                    reply = self.app.start(
                        got,
                        peer,
                        lambda r: self._answered(conn, sock, entry, start, deadline, r),
                    )
                    if reply is None:
                        return _HANDED
                else:
                    reply = self.app.handle(got, peer)
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
            if blocking:
                # A plain socket as accepted (blocking, no timeout): what has arrived is taken
                # without the poll a timed read makes first (the request is usually there).
                try:
                    chunk = sock.recv(65536, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    blocking = False  # nothing yet: timed reads from now on
                    continue
            else:
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
