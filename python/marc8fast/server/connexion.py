"""The Connexion real-time receiver (issue 12): OCLC Connexion's gateway export → the catalog.

This module is the application: a parsed request in, the reply out. Accepting, TLS, deadlines,
the per-address limits and ``GET /health`` are the transport's (:mod:`.transport`).

Threads, written down (the handlers and the closer: see :mod:`.transport`):

* the **handler** thread that accepted a connection checks the login with the
  :class:`~.guard.LoginGuard` (its own pool of scrypt workers: the handler only waits for its own
  answer) and hands the request to the writer (:meth:`Receiver.start`); it does not wait for
  the answer (a TLS connection's handler does: :meth:`Receiver.handle`);
* one **reader** thread owns a read-only catalog connection for quick reads only: the account
  list, a login's stored hash, ``GET /health`` (no scrypt ever runs there);
* the **writer process** (:mod:`.writer`, issue 22: the record work off this process's
  interpreter lock) owns the write connection (opened ``durable``: a commit is on disk when it
  returns, also across a power loss) and imports every record with
  :meth:`~marc8fast.flows.importer.Importer.import_bytes` — the rules of ``marc8fast load``.
  It takes the requests waiting at that moment as one group: one catalog transaction, each
  record with its load-log row and its receipt; only once it is committed are the answers sent
  back, and the replies then (a conflict with another writer on a shared PostgreSQL catalog
  runs the group again). A group that fails is retried one request at a time, so one
  request's failure is its own. One **link** thread here starts it (again, if it dies) and
  gives each answer to the transport, which sends the reply from that thread (issue 22: no
  thread wakes up to send one reply).

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

import hashlib
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from .._native import Marc8Error, raw_fields
from ..catalog import Catalog, open_catalog
from ..flows import accounts
from ..flows.importer import DEFAULT_TARGET_PREFIX
from . import protocol
from .guard import LoginGuard, Policy, Verdict
from .transport import Peer, Reply, Transport, TransportSettings
from .writer import UNAVAILABLE, Job, WriterLink, WriterSettings, reply_text

__all__ = ["ConnexionService", "Receiver", "Settings", "reply_text"]

LOGIN_FAILED = "Login failed"

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
    #: ``--profile FILE`` (i21-profile): its text and path, for the writer; None: the default.
    profile_text: str | None = None
    profile_path: str = "<profile>"


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class _Call:
    def __init__(self, fn: Callable[[Catalog], Any]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class Receiver:
    """The application: a parsed request in (:meth:`handle`), its reply out; no sockets. It
    owns the login guard, the reader thread (quick catalog reads) and the link to the writer
    process (the imports), which the transport starts (:meth:`workers`) and ends
    (:meth:`close`)."""

    def __init__(self, settings: Settings, log: Log) -> None:
        self.s = settings
        self.log = log
        self.port = 0  # told by the transport once it listens (for the batch's description)
        self._calls: queue.Queue[_Call | None] = queue.Queue()
        self._link = WriterLink(
            WriterSettings(
                db=settings.db,
                wait=settings.wait,
                target_prefix=settings.target_prefix,
                exclude_symbols=list(settings.exclude_symbols),
                profile_text=settings.profile_text,
                profile_path=settings.profile_path,
                retry_window=settings.retry_window,
                description="",  # told once the port is known (workers)
            ),
            log,
        )
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

    def workers(self) -> list[tuple[Callable[[], None], str]]:
        self._link.settings.description = (
            f"connexion serve on {self.s.host}:{self.port} (pid {os.getpid()})"
        )
        return [(self._link.run, "connexion-writer-link"), (self._reader_loop, "connexion-reader")]

    def close(self) -> None:
        """Ask the workers to end (after the requests in flight are answered)."""
        self._guard.close()
        self._calls.put(None)
        self._link.close(self.s.drain_timeout)

    def health(self) -> int:
        """The catalog's live records (``GET /health``); raises when the catalog fails."""
        return self._read(lambda store: store.count(include_deleted=False))

    # -- one request -----------------------------------------------------------------------------

    def handle(self, req: protocol.Request, peer: Peer) -> Reply:
        """The reply to one request, and the fields of its log line."""
        entry: dict[str, object] = {}
        job = self._request(req, peer.addr, peer.ip, entry)
        if not isinstance(job, Job):
            return Reply(job, entry)
        done = job.done = threading.Event()
        self._link.submit(job)
        done.wait()
        return Reply(self._result(job, entry), entry)

    def start(
        self, req: protocol.Request, peer: Peer, then: Callable[[Reply], object]
    ) -> Reply | None:
        """As :meth:`handle`, for a caller that does not wait: a reply known at once (a login
        refused, the accounts unreadable) is returned; a request that goes to the writer
        returns None and its reply is given to ``then`` once the writer has answered (on the
        link's thread: ``then`` must not block)."""
        entry: dict[str, object] = {}
        job = self._request(req, peer.addr, peer.ip, entry)
        if not isinstance(job, Job):
            return Reply(job, entry)
        job.then = lambda done: then(Reply(self._result(done, entry), entry))
        self._link.submit(job)
        return None

    def _answer(self, entry: dict[str, object], text: str, fate: str | None = None) -> str:
        if fate is not None:
            entry["fate"] = fate
        entry["outcome"] = text
        return text

    def _request(
        self, req: protocol.Request, addr: str, ip: str, entry: dict[str, object]
    ) -> Job | str:
        """The request for the writer, or the reply when it goes no further (login)."""
        login = _text(req.login).strip()
        entry["login"] = login or None
        entry["bytes"] = len(req.record)
        entry["001"] = _control_number(req.record)
        if not self.s.no_auth:
            refusal = self._login(login, req.password, ip, entry)
            if refusal is not None:
                return refusal
        digest = hashlib.sha256(req.record).hexdigest()
        return Job(login, addr, req.record, digest)

    def _result(self, job: Job, entry: dict[str, object]) -> str | None:
        """The reply to a request the writer answered (or was lost with)."""
        entry["fate"] = job.fate
        if job.detail:
            entry["detail"] = job.detail
        if job.reply is None:
            # The writer process was lost with it: no reply, as if the server had been killed
            # (committed or not, a retry gets the right answer).
            entry["outcome"] = "no reply: the writer process ended"
            return None
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
        stored = self._read(lambda store: accounts.stored_hash(store, login))
        return accounts.check(stored, _text(password))

    def _account_states(self, *, fresh: bool = False) -> dict[str, tuple[bool, str]]:
        cached = self._accounts
        age = time.monotonic() - cached[0] if cached is not None else float("inf")
        if cached is not None and age < (0.1 if fresh else 1.0):
            return cached[1]  # (fresh: at most ten reads a second, whatever the names sent)
        # Its age counts from before the read (which may wait behind others on the reader
        # thread): a read that saw the catalog before a change it ends after must not be kept
        # for a second after its end, or a disable would take longer than a second.
        read_at = time.monotonic()
        users = self._read(accounts.list_users)
        states = {u.name: (bool(u.disabled), str(u.updated_at)) for u in users}
        self._accounts = (read_at, states)
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
