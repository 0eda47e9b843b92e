"""The Connexion real-time receiver (issue 12): OCLC Connexion's gateway export → the catalog.

Threads, written down:

* one **acceptor** thread takes connections. Per address: at most ``max_per_address`` open and
  ``connection_rate`` new ones a second (a token bucket, twice that in a burst); in all
  ``max_connections``. A connection over its address's limits is answered ``Rejected: …`` and
  closed. When the server is at its own limit, the slowest connection (fewest bytes a second, at
  least 0.2 s old, request not complete) of the address holding most is closed to make room, if
  that address holds more than its share; otherwise the newcomer is refused. Refusals are
  logged, once and then every 10 s per address;
* one **handler** thread per connection reads the request (:mod:`.protocol`'s incremental
  reader), checks the login with the :class:`~.guard.LoginGuard` (its own pool of scrypt
  workers: the handler only waits for its own answer) and waits for the writer's answer, then
  replies and closes;
* one **reader** thread owns a read-only catalog connection for quick reads only: the account
  list, a login's stored hash, ``GET /health`` (no scrypt ever runs there);
* one **writer** thread owns the write connection (opened ``durable``: a commit is on disk when
  it returns, also across a power loss) and imports every record with
  :meth:`~marc8fast.flows.importer.Importer.import_bytes` — the rules of ``marc8fast load``.
  It takes the requests waiting at that moment as one group: one catalog transaction, each
  record with its load-log row and its receipt; only once it is committed are the replies sent
  (a conflict with another writer on a shared PostgreSQL catalog runs the group again). A group
  that fails is retried one request at a time, so one request's failure is its own.

Retries: each request leaves a receipt (login, SHA-256 of the record bytes, time, fate, system
number, reply) in the same transaction as the record. The same bytes from the same login within
the retry window (24 h), after a success, are answered with the first reply and ``(already
received HH:MM:SS)`` (server local time) and store nothing; after a refusal they are evaluated
again (its cause — a deleted target, a duplicate — may have been fixed). One batch per server
run holds the load-log rows; a row's ``input_file`` is ``connexion LOGIN from ADDRESS``, its
``input_hash`` the record's SHA-256 and its ``record_index`` the number of times those bytes
were imported (1 the first time).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
import queue
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .._native import Marc8Error, raw_fields
from ..catalog import (
    Catalog,
    CatalogError,
    ConflictError,
    ReadOnlyError,
    Receipt,
    describe_error,
    format_sysno,
    now,
    open_catalog,
)
from ..flows.importer import DEFAULT_TARGET_PREFIX, Importer
from ..flows.outcome import NOT_LOADED_REASONS, Fate, Outcome
from . import protocol
from .guard import LoginGuard, Policy, Verdict, address_key

#: How many times the writer runs a group whose transaction conflicted with another writer's
#: (several receivers and loads on one PostgreSQL catalog).
CONFLICT_TRIES = 10

UNAVAILABLE = "Rejected: catalog unavailable"
LOGIN_FAILED = "Login failed"
ONE_RECORD = "Rejected: one record per request"
#: A read of fewer bytes than this, the request not complete, makes the next read wait PACE s.
SMALL_READ = 4096
PACE = 0.05
#: Fates whose receipt answers a retry; any other is evaluated again.
REPLAYED = frozenset({"new", "possible_duplicate", "overlaid"})

T = TypeVar("T")
Log = Callable[[dict[str, object]], None]


@dataclass
class Settings:
    db: str
    host: str = "127.0.0.1"
    port: int = 0
    no_auth: bool = False
    idle_timeout: float = 30.0
    max_connections: int = 256
    max_per_address: int = 32
    connection_rate: float = 500.0  # new connections a second from one address
    max_request: int = protocol.MAX_REQUEST
    retry_window: float = 24 * 3600.0
    login_delay: float = 2.0
    lockout_failures: int = 5  # per login
    lockout_address_failures: int = 20  # per address
    lockout_seconds: float = 300.0
    login_checks: int = 2
    login_checks_per_address: int = 2
    login_cache: float = 300.0
    wait: float = 20.0
    drain_timeout: float = 10.0
    tls: ssl.SSLContext | None = None
    target_prefix: str = DEFAULT_TARGET_PREFIX
    exclude_symbols: Iterable[str] = ()


def reply_text(out: Outcome) -> str:
    """The line Connexion shows for an import outcome, built from its fate and reason (the
    importer's message is read only as a whole, for a record received)."""
    sysno = format_sysno(out.sysno) if out.sysno is not None else None
    msg = " ".join(out.message.split())
    detail = " ".join(out.detail.split())
    if out.fate in (Fate.NEW, Fate.POSSIBLE_DUPLICATE):
        if msg.startswith("Record received:"):
            return msg
        return f"Record received: {sysno}"
    if out.fate is Fate.OVERLAID:
        return f"Record received: {sysno} (overlaid)"
    if out.fate in (Fate.DUPLICATE, Fate.SKIPPED):
        return "Not loaded: " + (detail or msg)
    # rejected
    if out.reason in NOT_LOADED_REASONS:
        return "Not loaded: " + detail
    return "Rejected: " + (detail or msg or "the record")


def _clock(iso: str) -> str:
    """``2026-11-27T12:04:31.123456Z`` → ``12:04:31`` in the server's local time."""
    try:
        t = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return t.astimezone().strftime("%H:%M:%S")


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


@dataclass
class _Job:
    login: str
    addr: str
    raw: bytes
    digest: str
    done: threading.Event = field(default_factory=threading.Event)
    reply: str = UNAVAILABLE
    fate: str = "unavailable"
    sysno: int | None = None
    detail: str | None = None

    def finish(
        self, reply: str, fate: str, sysno: int | None = None, detail: str | None = None
    ) -> None:
        self.reply, self.fate, self.sysno, self.detail = reply, fate, sysno, detail
        self.done.set()


class _Call:
    def __init__(self, fn: Callable[[Catalog], Any]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class _ResetReader(Exception):
    """Raised in the reader thread to make it close its connection."""


def _reset_reader(store: Catalog) -> None:
    raise _ResetReader


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


class ConnexionService:
    def __init__(self, settings: Settings, log: Log) -> None:
        self.s = settings
        self.log = log
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._active = 0
        self._active_lock = threading.Condition()
        self._conns: dict[str, set[_Conn]] = {}  # by address
        self._buckets: dict[str, tuple[float, float]] = {}  # address → (tokens, when)
        self._refused: dict[str, list[float]] = {}  # address → [refusals not logged, logged at]
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._calls: queue.Queue[_Call | None] = queue.Queue()
        self._writer: tuple[Catalog, Importer] | None = None
        self._guard = LoginGuard(
            self._check_password,
            Policy(
                login_failures=max(1, settings.lockout_failures),
                address_failures=max(1, settings.lockout_address_failures),
                lock_seconds=settings.lockout_seconds,
                checks=max(1, settings.login_checks),
                checks_per_address=max(1, settings.login_checks_per_address),
                cache_seconds=settings.login_cache,
            ),
            log,
        )
        self._accounts: tuple[float, dict[str, tuple[bool, str]]] | None = None
        self._seen: dict[str, tuple[bool, str] | None] = {}  # login → its state when last seen
        self._pruned = float("-inf")
        self.port = 0

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> int:
        family = socket.AF_INET6 if ":" in self.s.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.s.host, self.s.port))
        sock.listen(1024)
        sock.settimeout(0.25)
        self._listener = sock
        self.port = sock.getsockname()[1]
        for target, name in (
            (self._accept_loop, "connexion-accept"),
            (self._writer_loop, "connexion-writer"),
            (self._reader_loop, "connexion-reader"),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self.port

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, let the requests in flight finish (up to ``timeout`` seconds), then
        stop the writer once it has answered every request it took."""
        limit = self.s.drain_timeout if timeout is None else timeout
        self._stopping.set()
        accept = self._threads[0] if self._threads else None
        if accept is not None:
            accept.join(2.0)
        deadline = time.monotonic() + limit
        with self._active_lock:
            while self._active and time.monotonic() < deadline:
                self._active_lock.wait(max(0.0, min(0.2, deadline - time.monotonic())))
        self._guard.close()
        self._jobs.put(None)
        self._calls.put(None)
        for t in self._threads[1:]:
            t.join(max(1.0, deadline - time.monotonic()))

    # -- accepting -------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        listener = self._listener
        try:
            while not self._stopping.is_set():
                try:
                    sock, peer = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stopping.is_set():
                        break
                    time.sleep(0.05)  # e.g. out of file descriptors: let handlers finish
                    continue
                addr = f"{peer[0]}:{peer[1]}"
                conn = _Conn(sock, address_key(str(peer[0])), time.monotonic(), sock.fileno())
                refusal = self._admit(conn)
                if refusal is not None:
                    self._refuse(sock, addr, conn.ip, refusal)
                    continue
                t = threading.Thread(target=self._serve, args=(conn, addr), daemon=True)
                t.start()
        finally:
            listener.close()

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
                return self._request(got, addr, conn.ip, entry)
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
                count = self._read(lambda store: store.count(include_deleted=False))
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

    def _request(
        self, req: protocol.Request, addr: str, ip: str, entry: dict[str, object]
    ) -> bytes:
        login = _text(req.login).strip()
        entry["login"] = login or None
        entry["bytes"] = len(req.record)
        entry["001"] = _control_number(req.record)
        if not self.s.no_auth:
            refusal = self._login(login, req.password, ip, entry)
            if refusal is not None:
                return refusal
        digest = hashlib.sha256(req.record).hexdigest()
        job = _Job(login, addr, req.record, digest)
        self._jobs.put(job)
        job.done.wait()
        entry["fate"] = job.fate
        if job.detail:
            entry["detail"] = job.detail
        return self._answer(entry, job.reply)

    # -- logins ----------------------------------------------------------------------------------

    def _login(
        self, login: str, password: bytes, ip: str, entry: dict[str, object]
    ) -> bytes | None:
        """None if ``login``/``password`` may enter; else the reply. The guard counts the
        attempt before its check and runs the check on its own pool; this thread only waits."""
        try:
            state = self._state(login)
            result = self._guard.check(login, password, ip)
            if result.verdict is Verdict.OK and self._state(login) != state:
                # The account changed while it was being checked: check against the new one.
                self._state(login)
                result = self._guard.check(login, password, ip)
        except Exception as e:
            entry["detail"] = f"accounts: {e}"
            return self._answer(entry, UNAVAILABLE, "unavailable")
        verdict = result.verdict
        if verdict is Verdict.OK:
            return None
        if verdict is Verdict.UNAVAILABLE:
            entry["detail"] = f"accounts: {result.detail}"
            return self._answer(entry, UNAVAILABLE, "unavailable")
        if verdict is Verdict.BUSY:
            return self._answer(
                entry, "Rejected: the server is busy checking logins; try again", "busy"
            )
        time.sleep(self.s.login_delay)
        if verdict is Verdict.LOCKED:
            wait = math.ceil(result.retry_after or self.s.lockout_seconds)
            return self._answer(
                entry,
                f"{LOGIN_FAILED} (too many failed logins from {ip}; try again in {wait} s)",
                "locked_out",
            )
        return self._answer(entry, LOGIN_FAILED, "login_failed")

    def _state(self, login: str) -> tuple[bool, str] | None:
        """The account's (disabled, updated_at), re-read at most once a second (at once when it
        is unknown or disabled); a change drops the login's verified credentials, so ``users
        disable`` and ``users passwd`` take effect within a second."""
        state = self._account_states().get(login)
        if state is None or state[0]:  # unknown or disabled a moment ago: look again
            state = self._account_states(fresh=True).get(login)
        if self._seen.get(login, state) != state:
            self._guard.forget(login)
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[login] = state
        return state

    def _check_password(self, login: str, password: bytes) -> bool:
        """The guard's check, on its pool: the stored hash read by the reader thread (a quick
        read), then scrypt here. Unknown and disabled logins pay one scrypt too (on a dummy
        hash), so that the time of a failure does not tell them apart."""
        from ..flows import accounts

        stored = self._read(lambda store: accounts.stored_hash(store, login))
        return accounts.check(stored, _text(password))

    def _account_states(self, *, fresh: bool = False) -> dict[str, tuple[bool, str]]:
        from ..flows import accounts

        cached = self._accounts
        age = time.monotonic() - cached[0] if cached is not None else float("inf")
        if cached is not None and age < (0.1 if fresh else 1.0):
            return cached[1]  # (fresh: at most ten reads a second, whatever the names sent)
        users = self._read(accounts.list_users)
        states = {u.name: (bool(u.disabled), str(u.updated_at)) for u in users}
        self._accounts = (time.monotonic(), states)
        return states

    # -- the reader thread -----------------------------------------------------------------------

    def _read(self, fn: Callable[[Catalog], T]) -> T:
        call = _Call(fn)
        self._calls.put(call)
        call.done.wait()
        if call.error is not None:
            raise call.error
        return call.value  # type: ignore[no-any-return]

    def _reader_loop(self) -> None:
        store: Catalog | None = None
        while True:
            call = self._calls.get()
            if call is None:
                break
            try:
                if store is None:
                    store = open_catalog(self.s.db, readonly=True)
                call.value = call.fn(store)
            except BaseException as e:
                call.error = e
                if store is not None:
                    store.close()
                    store = None
            finally:
                call.done.set()
        if store is not None:
            store.close()

    # -- the writer thread -----------------------------------------------------------------------

    def _open_writer(self) -> tuple[Catalog, Importer]:
        if self._writer is None:
            store = open_catalog(self.s.db, create=False, wait=self.s.wait, durable=True)
            try:
                importer = Importer(
                    store,
                    target_prefix=self.s.target_prefix,
                    exclude_symbols=self.s.exclude_symbols,
                )
                importer.start_batch(
                    f"connexion serve on {self.s.host}:{self.port} (pid {os.getpid()})"
                )
            except BaseException:
                store.close()
                raise
            self._writer = (store, importer)
        return self._writer

    def _drop_writer(self) -> None:
        if self._writer is not None:
            try:
                self._writer[0].close()
            except Exception:
                pass
            self._writer = None

    def _writer_loop(self) -> None:
        stop = False
        while not stop:
            first = self._jobs.get()
            if first is None:
                break
            group = [first]
            while len(group) < 64:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                group.append(job)
            self._run_group(group)
        self._drop_writer()

    def _run_group(self, group: list[_Job], tries: int = CONFLICT_TRIES) -> None:
        try:
            try:
                store, importer = self._open_writer()
            except ReadOnlyError:
                # The catalog may have been made writable since the reader opened it: SQLite
                # shares one mapping of its shared-memory file per process, and the reader's
                # was made read-only. Let the reader close it, and try once more.
                try:
                    self._read(_reset_reader)
                except _ResetReader:
                    pass
                store, importer = self._open_writer()
        except Exception as e:
            for job in group:
                job.finish(UNAVAILABLE, "unavailable", detail=describe_error(self.s.db, e))
            return
        results: list[tuple[str, str, int | None]] = []
        try:
            with store.transaction():
                if time.monotonic() - self._pruned > 3600:
                    # Receipts older than the retry window answer nothing: let them go.
                    cutoff = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(
                        seconds=self.s.retry_window
                    )
                    store.prune_receipts(cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
                    self._pruned = time.monotonic()
                seen: dict[str, int] = {}
                for job in group:
                    results.append(self._import(store, importer, job, seen))
        except Exception as e:
            if isinstance(e, ConflictError) and tries > 1:
                # Another writer (another receiver, a load) conflicted: the database kept
                # nothing of this transaction; run it again after a short random pause (so that
                # writers racing for one record do not meet again at once).
                time.sleep(random.uniform(0.005, 0.05) * (CONFLICT_TRIES - tries + 1))
                self._run_group(group, tries - 1)
                return
            if len(group) > 1:
                # One by one: a record that fails (or a conflict with another writer) then
                # costs only its own reply.
                for job in group:
                    self._run_group([job])
                return
            catalog = isinstance(e, (OSError, CatalogError))
            self._drop_writer()
            reply = UNAVAILABLE if catalog else "Rejected: internal error (see the server log)"
            group[0].finish(reply, "unavailable", detail=describe_error(self.s.db, e))
            return
        for job, (reply, fate, sysno) in zip(group, results, strict=True):
            job.finish(reply, fate, sysno)

    def _import(
        self, store: Catalog, importer: Importer, job: _Job, seen: dict[str, int]
    ) -> tuple[str, str, int | None]:
        got = store.receipt(job.login, job.digest)
        if got is not None and got.fate in REPLAYED and _age(got.time) < self.s.retry_window:
            return f"{got.message} (already received {_clock(got.time)})", "retry", got.sysno
        # No receipt, an old one, or a refusal: evaluated (again) — a refusal's cause (a
        # deleted target, an earlier duplicate) may have been fixed since.
        count = store.log_count(job.digest)
        index = count + seen.get(job.digest, 0) + 1
        seen[job.digest] = seen.get(job.digest, 0) + 1
        out = importer.import_bytes(
            job.raw,
            source=f"connexion {job.login or '-'} from {job.addr.rsplit(':', 1)[0]}",
            index=index,
            input_hash=job.digest,
            commit=False,
        )
        reply = reply_text(out)
        store.put_receipt(Receipt(job.login, job.digest, now(), out.fate, out.sysno, reply))
        return reply, out.fate, out.sysno


def _age(iso: str) -> float:
    try:
        t = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (_dt.datetime.now(_dt.timezone.utc) - t).total_seconds()


def _control_number(record: bytes) -> str | None:
    """The 001 of an ISO 2709 record, as the record layer's parser finds it (for the log line
    only)."""
    try:
        _, fields = raw_fields(record)
    except (Marc8Error, ValueError):
        return None
    data = next((d for tag, d in fields if tag == "001"), None)
    return (_text(data).strip()[:40] or None) if data is not None else None
