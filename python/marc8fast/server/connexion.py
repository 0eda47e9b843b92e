"""The Connexion real-time receiver (issue 12): OCLC Connexion's gateway export → the catalog.

This module is the application: a parsed request in, the reply out. Accepting, TLS, deadlines,
the per-address limits and ``GET /health`` are the transport's (:mod:`.transport`).

Threads, written down (the acceptor and the handlers: see :mod:`.transport`):

* a **handler** thread (one per connection) checks the login with the
  :class:`~.guard.LoginGuard` (its own pool of scrypt workers: the handler only waits for its own
  answer) and waits for the writer's answer;
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
from .guard import LoginGuard, Policy, Verdict
from .transport import Peer, Reply, Transport, TransportSettings

#: How many times the writer runs a group whose transaction conflicted with another writer's
#: (several receivers and loads on one PostgreSQL catalog).
CONFLICT_TRIES = 10

UNAVAILABLE = "Rejected: catalog unavailable"
LOGIN_FAILED = "Login failed"
#: Fates whose receipt answers a retry; any other is evaluated again.
REPLAYED = frozenset({"new", "possible_duplicate", "overlaid"})

T = TypeVar("T")
Log = Callable[[dict[str, object]], None]


@dataclass(kw_only=True)
class Settings(TransportSettings):
    db: str
    no_auth: bool = False
    retry_window: float = 24 * 3600.0
    login_delay: float = 2.0
    lockout_failures: int = 5  # per login
    lockout_address_failures: int = 20  # per address
    lockout_seconds: float = 300.0
    login_checks: int = 2
    login_checks_per_address: int = 2
    login_cache: float = 300.0
    wait: float = 20.0
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


class Receiver:
    """The application: a parsed request in (:meth:`handle`), its reply out; no sockets. It
    owns the login guard, the reader thread (quick catalog reads) and the writer thread (the
    imports), which the transport starts (:meth:`workers`) and ends (:meth:`close`)."""

    def __init__(self, settings: Settings, log: Log) -> None:
        self.s = settings
        self.log = log
        self.port = 0  # told by the transport once it listens (for the batch's description)
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

    def workers(self) -> list[tuple[Callable[[], None], str]]:
        return [(self._writer_loop, "connexion-writer"), (self._reader_loop, "connexion-reader")]

    def close(self) -> None:
        """Ask the workers to end (after the requests in flight are answered)."""
        self._guard.close()
        self._jobs.put(None)
        self._calls.put(None)

    def health(self) -> int:
        """The catalog's live records (``GET /health``); raises when the catalog fails."""
        return self._read(lambda store: store.count(include_deleted=False))

    # -- one request -----------------------------------------------------------------------------

    def handle(self, req: protocol.Request, peer: Peer) -> Reply:
        """The reply to one request, and the fields of its log line."""
        entry: dict[str, object] = {}
        return Reply(self._request(req, peer.addr, peer.ip, entry), entry)

    def _answer(self, entry: dict[str, object], text: str, fate: str | None = None) -> str:
        if fate is not None:
            entry["fate"] = fate
        entry["outcome"] = text
        return text

    def _request(self, req: protocol.Request, addr: str, ip: str, entry: dict[str, object]) -> str:
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

    def _login(self, login: str, password: bytes, ip: str, entry: dict[str, object]) -> str | None:
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


class ConnexionService(Transport):
    """The Connexion receiver: the transport (:mod:`.transport`) around the application
    (:class:`Receiver`)."""

    def __init__(self, settings: Settings, log: Log) -> None:
        super().__init__(settings, Receiver(settings, log), log)
