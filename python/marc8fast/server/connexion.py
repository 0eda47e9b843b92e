"""The Connexion real-time receiver (issue 12): OCLC Connexion's gateway export → the catalog.

Threads, written down:

* one **acceptor** thread takes connections (bounded by ``max_connections``; one over is
  answered ``Rejected: the server is busy`` and closed);
* one **handler** thread per connection reads the request (:mod:`.protocol`), checks the login
  and waits for the writer's answer, then replies and closes;
* one **reader** thread owns a read-only catalog connection: logins (``accounts.verify``, whose
  scrypt runs there) and ``GET /health``;
* one **writer** thread owns the write connection (``PRAGMA synchronous=FULL``: a commit is on
  disk when it returns, also across a power loss) and imports every record with
  :meth:`~marc8fast.flows.importer.Importer.import_bytes` — the rules of ``marc8fast load``.
  It takes the requests waiting at that moment as one group: one ``BEGIN IMMEDIATE``, each record
  with its load-log row and its receipt, one ``COMMIT``; only then are the replies sent. A group
  that fails is retried one request at a time, so one request's failure is its own.

Retries: each request leaves a receipt (login, SHA-256 of the record bytes, time, fate, system
number, reply) in the same transaction as the record. The same bytes from the same login within
the retry window (24 h) are answered with the first reply and ``(already received HH:MM:SS)``
(server local time) and store nothing. One batch per server run holds the load-log rows; a row's
``input_file`` is ``connexion LOGIN from ADDRESS``, its ``input_hash`` the record's SHA-256 and
its ``record_index`` the number of times those bytes were imported (1 the first time).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import os
import queue
import secrets
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .._native import Marc8Error, raw_fields
from ..flows.importer import DEFAULT_TARGET_PREFIX, Importer, Outcome
from ..flows.store import (
    CatalogError,
    ReadOnlyError,
    SQLiteStore,
    describe_error,
    format_sysno,
    now,
    open_store,
)
from . import protocol

UNAVAILABLE = "Rejected: catalog unavailable"
LOGIN_FAILED = "Login failed"

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
    max_request: int = protocol.MAX_REQUEST
    retry_window: float = 24 * 3600.0
    login_delay: float = 2.0
    lockout_failures: int = 5
    lockout_seconds: float = 300.0
    wait: float = 20.0
    drain_timeout: float = 10.0
    tls: ssl.SSLContext | None = None
    target_prefix: str = DEFAULT_TARGET_PREFIX
    exclude_symbols: Iterable[str] = ()


def reply_text(out: Outcome) -> str:
    """The line Connexion shows for an import outcome."""
    sysno = format_sysno(out.sysno) if out.sysno is not None else None
    msg = " ".join(out.message.split())
    head, _, rest = msg.partition(": ")
    if out.fate in ("new", "possible_duplicate"):
        if msg.startswith("Record received:"):
            return msg
        return f"Record received: {sysno}"
    if out.fate == "overlaid":
        return f"Record received: {sysno} (overlaid)"
    if out.fate in ("duplicate", "skipped"):
        return "Not loaded: " + (rest or msg)
    # rejected
    if rest.startswith("target ") and rest.endswith(("does not exist", "is deleted")):
        return "Not loaded: " + rest
    return "Rejected: " + (rest if head.lower() == "rejected" else msg or "the record")


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
    def __init__(self, fn: Callable[[SQLiteStore], Any]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class _ResetReader(Exception):
    """Raised in the reader thread to make it close its connection."""


def _reset_reader(store: SQLiteStore) -> None:
    raise _ResetReader


class ConnexionService:
    def __init__(self, settings: Settings, log: Log) -> None:
        self.s = settings
        self.log = log
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._active = 0
        self._active_lock = threading.Condition()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._calls: queue.Queue[_Call | None] = queue.Queue()
        self._writer: tuple[SQLiteStore, Importer] | None = None
        # logins: failures per address, and credentials already verified
        self._fail_lock = threading.Lock()
        self._failures: dict[str, list[float]] = {}
        self._secret = secrets.token_bytes(32)
        self._verified: dict[tuple[str, bytes], str] = {}  # → the account's updated_at
        self._accounts: tuple[float, dict[str, tuple[bool, str]]] | None = None
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
                    conn, peer = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stopping.is_set():
                        break
                    time.sleep(0.05)  # e.g. out of file descriptors: let handlers finish
                    continue
                addr = f"{peer[0]}:{peer[1]}"
                with self._active_lock:
                    busy = self._active >= self.s.max_connections
                    if not busy:
                        self._active += 1
                if busy:
                    self._refuse(conn, addr)
                    continue
                t = threading.Thread(target=self._serve, args=(conn, addr), daemon=True)
                t.start()
        finally:
            listener.close()

    def _refuse(self, conn: socket.socket, addr: str) -> None:
        text = f"Rejected: the server is busy ({self.s.max_connections} connections); try again"
        try:
            conn.settimeout(1.0)
            conn.sendall(text.encode() + b"\0")
        except OSError:
            pass
        finally:
            conn.close()
        self.log({"service": "connexion", "addr": addr, "outcome": text})

    def _serve(self, conn: socket.socket, addr: str) -> None:
        try:
            self._handle(conn, addr)
        finally:
            with self._active_lock:
                self._active -= 1
                self._active_lock.notify_all()

    # -- one connection --------------------------------------------------------------------------

    def _handle(self, conn: socket.socket, addr: str) -> None:
        start = time.monotonic()
        deadline = start + self.s.idle_timeout
        entry: dict[str, object] = {"service": "connexion", "addr": addr}
        sock: socket.socket = conn
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.s.tls is not None:
                conn.settimeout(self.s.idle_timeout)
                sock = self.s.tls.wrap_socket(conn, server_side=True)
            reply = self._exchange(sock, addr, deadline, entry)
            if reply is not None:
                sock.settimeout(max(1.0, deadline - time.monotonic()))
                sock.sendall(reply)
                self._linger(sock, deadline)
        except (OSError, ssl.SSLError) as e:
            entry.setdefault("outcome", f"connection lost: {e.__class__.__name__}")
        finally:
            try:
                sock.close()
            except OSError:
                pass
            entry["ms"] = round((time.monotonic() - start) * 1000, 1)
            self.log(entry)

    def _linger(self, sock: socket.socket, deadline: float) -> None:
        """After the reply: read (and drop) what the client still sends until it closes, so
        that closing does not reset the connection before the client has read the reply."""
        if not isinstance(sock, ssl.SSLSocket):
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                return
        end = min(deadline, time.monotonic() + 2.0)
        got = 0
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
            got += len(chunk)

    def _exchange(
        self, sock: socket.socket, addr: str, deadline: float, entry: dict[str, object]
    ) -> bytes | None:
        buf = bytearray()
        ended = False
        while True:
            if not ended and buf and (b"GET ".startswith(buf) or b"HEAD ".startswith(buf)):
                req = None  # perhaps an HTTP request, not all of its first word yet
            elif buf[:4] == b"GET " or buf[:5] == b"HEAD ":
                head_end = buf.find(b"\r\n\r\n") if b"\r\n\r\n" in buf else buf.find(b"\n\n")
                if head_end >= 0 or ended:
                    return self._http(bytes(buf), entry)
                req = None
            else:
                try:
                    req = protocol.parse(bytes(buf), ended=ended)
                except protocol.ProtocolError as e:
                    return self._answer(entry, f"Rejected: {e}", "bad_request")
            if req is not None:
                return self._request(req, addr, entry)
            left = deadline - time.monotonic()
            if left <= 0:
                return self._answer(
                    entry,
                    f"Rejected: no complete request within {self.s.idle_timeout:g} s",
                    "timeout",
                )
            if not buf and self._stopping.is_set():
                return None  # shutting down: a connection that sent nothing is just closed
            sock.settimeout(min(left, 0.5))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                ended = True
                continue
            nul = chunk.find(b"\0")
            if nul >= 0:
                chunk = chunk[:nul]
                ended = True
            buf += chunk
            if len(buf) > self.s.max_request:
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

    def _request(self, req: protocol.Request, addr: str, entry: dict[str, object]) -> bytes:
        login = _text(req.login).strip()
        entry["login"] = login or None
        entry["bytes"] = len(req.record)
        entry["001"] = _control_number(req.record)
        if not self.s.no_auth:
            ip = addr.rsplit(":", 1)[0]
            if self._locked_out(ip):
                time.sleep(self.s.login_delay)
                return self._answer(
                    entry,
                    f"{LOGIN_FAILED} (too many failed logins from {ip}; try again later)",
                    "locked_out",
                )
            try:
                ok = self._verify(login, req.password)
            except Exception as e:
                entry["detail"] = f"accounts: {e}"
                return self._answer(entry, UNAVAILABLE, "unavailable")
            if not ok:
                self._failed(ip)
                time.sleep(self.s.login_delay)
                return self._answer(entry, LOGIN_FAILED, "login_failed")
        digest = hashlib.sha256(req.record).hexdigest()
        job = _Job(login, addr, req.record, digest)
        self._jobs.put(job)
        job.done.wait()
        entry["fate"] = job.fate
        if job.detail:
            entry["detail"] = job.detail
        return self._answer(entry, job.reply)

    # -- logins ----------------------------------------------------------------------------------

    def _locked_out(self, ip: str) -> bool:
        now_ = time.monotonic()
        with self._fail_lock:
            times = [t for t in self._failures.get(ip, []) if now_ - t < self.s.lockout_seconds]
            if times:
                self._failures[ip] = times
            else:
                self._failures.pop(ip, None)
            return len(times) >= self.s.lockout_failures

    def _failed(self, ip: str) -> None:
        now_ = time.monotonic()
        with self._fail_lock:
            if len(self._failures) > 10_000:  # many addresses: forget the expired ones
                self._failures = {
                    a: times
                    for a, times in self._failures.items()
                    if times and now_ - times[-1] < self.s.lockout_seconds
                }
            self._failures.setdefault(ip, []).append(now_)

    def _verify(self, login: str, password: bytes) -> bool:
        """scrypt once per (login, password) while the account is unchanged: a verified pair is
        remembered (as an HMAC of the password under a key made at start, never the password)
        with the account's ``updated_at``; the account list is re-read at most once a second,
        so ``users disable`` and ``users passwd`` take effect within a second."""
        from ..flows import accounts

        key = (login, hmac.new(self._secret, password, "sha256").digest())
        state = self._account_states().get(login)
        if state is None or state[0]:  # unknown or disabled a moment ago: look again
            state = self._account_states(fresh=True).get(login)
        if state is not None and not state[0] and self._verified.get(key) == state[1]:
            return True
        # Everything else pays one scrypt check, unknown and disabled logins too (verify()
        # spends it on a dummy hash), so that the time of a failure does not tell them apart.
        text = _text(password)
        ok = bool(self._read(lambda store: accounts.verify(store, login, text)))
        if ok and state is not None:
            self._verified[key] = state[1]
        return ok

    def _account_states(self, *, fresh: bool = False) -> dict[str, tuple[bool, str]]:
        from ..flows import accounts

        cached = self._accounts
        if not fresh and cached is not None and time.monotonic() - cached[0] < 1.0:
            return cached[1]
        users = self._read(accounts.list_users)
        states = {u.name: (bool(u.disabled), str(u.updated_at)) for u in users}
        self._accounts = (time.monotonic(), states)
        return states

    # -- the reader thread -----------------------------------------------------------------------

    def _read(self, fn: Callable[[SQLiteStore], T]) -> T:
        call = _Call(fn)
        self._calls.put(call)
        call.done.wait()
        if call.error is not None:
            raise call.error
        return call.value  # type: ignore[no-any-return]

    def _reader_loop(self) -> None:
        store: SQLiteStore | None = None
        while True:
            call = self._calls.get()
            if call is None:
                break
            try:
                if store is None:
                    store = open_store(self.s.db, readonly=True)
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

    def _open_writer(self) -> tuple[SQLiteStore, Importer]:
        if self._writer is None:
            store = SQLiteStore(self.s.db, create=False, wait=self.s.wait)
            try:
                store.db.execute("PRAGMA synchronous=FULL")
                store.begin()
                batch = store.new_batch(
                    f"connexion serve on {self.s.host}:{self.port} (pid {os.getpid()})"
                )
                store.commit()
            except BaseException:
                store.close()
                raise
            importer = Importer(
                store, target_prefix=self.s.target_prefix, exclude_symbols=self.s.exclude_symbols
            )
            importer.summary.batch_id = batch
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

    def _run_group(self, group: list[_Job]) -> None:
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
            store.begin()
            if time.monotonic() - self._pruned > 3600:
                # Receipts older than the retry window answer nothing: let them go.
                cutoff = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(
                    seconds=self.s.retry_window
                )
                store.db.execute(
                    "DELETE FROM receipts WHERE time < ?",
                    (cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),),
                )
                self._pruned = time.monotonic()
            seen: dict[str, int] = {}
            for job in group:
                results.append(self._import(store, importer, job, seen))
            store.commit()
        except Exception as e:
            try:
                store.rollback()
            except Exception:
                self._drop_writer()
            if len(group) > 1:
                for job in group:
                    self._run_group([job])
                return
            catalog = isinstance(e, (sqlite3.Error, OSError, CatalogError))
            self._drop_writer()
            reply = UNAVAILABLE if catalog else "Rejected: internal error (see the server log)"
            group[0].finish(reply, "unavailable", detail=describe_error(self.s.db, e))
            return
        for job, (reply, fate, sysno) in zip(group, results, strict=True):
            job.finish(reply, fate, sysno)

    def _import(
        self, store: SQLiteStore, importer: Importer, job: _Job, seen: dict[str, int]
    ) -> tuple[str, str, int | None]:
        db = store.db
        row = db.execute(
            "SELECT time, fate, sysno, message FROM receipts WHERE login=? AND digest=?",
            (job.login, job.digest),
        ).fetchone()
        if row is not None and _age(row[0]) < self.s.retry_window:
            return f"{row[3]} (already received {_clock(row[0])})", "retry", row[2]
        count = db.execute(
            "SELECT count(*) FROM load_log WHERE input_hash=?", (job.digest,)
        ).fetchone()[0]
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
        db.execute(
            "INSERT OR REPLACE INTO receipts (login, digest, time, fate, sysno, message) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (job.login, job.digest, now(), out.fate, out.sysno, reply),
        )
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
