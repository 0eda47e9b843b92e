"""The Connexion receiver's writer process (issue 22): the record work off the network process's
interpreter lock.

``marc8fast serve`` runs the imports in a process of its own (``python -m
marc8fast.server.writer FD``), started by the network process (:class:`WriterLink`) and joined
to it by a Unix socket pair. The network process keeps everything that must be decided in one
place — accepting, the per-address and global connection limits, the login guard and its
lockouts, reading requests, ``/health`` — so those hold exactly as with one process; the writer
process holds the catalog's write connection and nothing else. On 2 cores the two run side by
side: a request's ~0.5 ms of import, receipt and commit no longer waits for the interpreter
lock that the connections' threads hold, nor they for it.

The durability contract is unchanged: the writer takes the requests waiting at that moment as
one group (one transaction: each record with its load-log row and its receipt), commits it
(``durable``: on disk when the commit returns), and only then sends the group's answers back;
the network process replies to each client on its answer. If the writer process dies (killed,
crashed), the requests it had taken get no reply — the connection is closed, as when the whole
server is killed: each was either committed (a retry is answered from its receipt) or not stored
(a retry stores it) — and a new writer process is started for the next requests.

Messages, each a 4-byte big-endian length then a pickle (both ends are this module, in
processes of one server run): network → writer: the settings (first), then ``(id, login, addr,
raw, digest)`` per request, ``None`` to stop after the requests already sent; writer → network:
a list of ``(id, reply, fate, sysno, detail)``, one list per group, after its commit.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import itertools
import pickle
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..catalog import (
    Catalog,
    CatalogError,
    ConflictError,
    Receipt,
    describe_error,
    format_sysno,
    now,
    open_catalog,
)
from ..flows.importer import Importer
from ..flows.outcome import NOT_LOADED_REASONS, Fate, Outcome

#: How many times the writer runs a group whose transaction conflicted with another writer's
#: (several receivers and loads on one PostgreSQL catalog).
CONFLICT_TRIES = 10
#: At most this many requests in one transaction.
GROUP = 64

UNAVAILABLE = "Rejected: catalog unavailable"
#: Fates whose receipt answers a retry; any other is evaluated again.
REPLAYED = frozenset({"new", "possible_duplicate", "overlaid"})

_LEN = struct.Struct(">I")
#: The most one read of the socket between the two processes takes.
RECV_SIZE = 65536

Log = Callable[[dict[str, object]], None]
#: A request as sent to the writer process, and its answer.
JobMsg = tuple[int, str, str, bytes, str]  # id, login, address, record bytes, its SHA-256
Answer = tuple[int, str, str, int | None, str | None]  # id, reply, fate, sysno, detail


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


def _age(iso: str) -> float:
    try:
        t = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (_dt.datetime.now(_dt.timezone.utc) - t).total_seconds()


# -- framing ---------------------------------------------------------------------------------------


def _send(sock: socket.socket, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_LEN.pack(len(data)) + data)


class _Frames:
    """Reads length-prefixed pickles from a socket: :meth:`take` blocks for the first, then
    returns every one already received (at most ``limit``)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0  # the messages before it are taken
        self.eof = False

    def _one(self) -> tuple[bool, Any]:
        buf, pos = self.buf, self.pos
        if len(buf) - pos < 4:
            return False, None
        (n,) = _LEN.unpack_from(buf, pos)
        end = pos + 4 + n
        if len(buf) < end:
            return False, None
        with memoryview(buf) as view, view[pos + 4 : end] as part:
            obj = pickle.loads(part)  # read in place: no copy, no shift of what follows
        self.pos = end
        return True, obj

    def _recv(self, flags: int = 0) -> bytes:
        # 64 KiB a call: asking for 1 MiB cost ~13 µs more a call (a large buffer allocated
        # and freed each time), several calls a request on each side (issue 22).
        chunk = self.sock.recv(RECV_SIZE, flags)
        if chunk:
            if self.pos:
                del self.buf[: self.pos]
                self.pos = 0
            self.buf += chunk
        return chunk

    def take(self, limit: int = GROUP, gather: bool = True) -> list[Any]:
        """``gather``: once a message is in hand, look (without waiting) for more already
        sent — the writer, to make its group; the link's thread hands out what it has."""
        out: list[Any] = []
        while len(out) < limit:
            ok, obj = self._one()
            if ok:
                out.append(obj)
                continue
            if out and not gather:
                break
            if out or self.eof:
                # what has come, without waiting: more only if it is there already
                try:
                    chunk = self._recv(socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    self.eof = True
                    break
            else:
                try:
                    chunk = self._recv()
                except OSError:
                    chunk = b""
            if not chunk:
                self.eof = True
                break
        return out


# -- the writer (in its process) -------------------------------------------------------------------


@dataclass
class WriterSettings:
    db: str
    wait: float
    target_prefix: str
    exclude_symbols: list[str]
    retry_window: float
    description: str  # the batch's
    #: ``serve --connexion --profile FILE``: the profile's text and path (parsed again here, in
    #: the writer's process: the settings cross as plain data). None: the built-in default.
    profile_text: str | None = None
    profile_path: str = "<profile>"


class Writer:
    """The catalog's write connection and the importer; :meth:`run_group` imports requests."""

    def __init__(self, s: WriterSettings) -> None:
        self.s = s
        self._writer: tuple[Catalog, Importer] | None = None
        self._pruned = float("-inf")

    def _open(self) -> tuple[Catalog, Importer]:
        if self._writer is None:
            store = open_catalog(self.s.db, create=False, wait=self.s.wait, durable=True)
            try:
                profile = None
                overlay = "merge"
                if self.s.profile_text is not None:
                    from ..profile import parse

                    profile = parse(self.s.profile_text, self.s.profile_path)
                    overlay = profile.overlay
                importer = Importer(
                    store,
                    target_prefix=self.s.target_prefix,
                    exclude_symbols=self.s.exclude_symbols,
                    overlay=overlay,
                    profile=profile,
                )
                importer.start_batch(self.s.description)
            except BaseException:
                store.close()
                raise
            self._writer = (store, importer)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            try:
                self._writer[0].close()
            except Exception:
                pass
            self._writer = None

    def run_group(self, group: list[JobMsg], tries: int = CONFLICT_TRIES) -> list[Answer]:
        """``(id, login, addr, raw, digest)`` each → ``(id, reply, fate, sysno, detail)`` each,
        after the group's commit."""
        try:
            store, importer = self._open()
        except Exception as e:
            detail = describe_error(self.s.db, e)
            return [(job[0], UNAVAILABLE, "unavailable", None, detail) for job in group]
        results: list[Answer] = []
        try:
            with store.transaction():
                if time.monotonic() - self._pruned > 3600:
                    # Receipts older than the retry window answer nothing: let them go.
                    cutoff = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(
                        seconds=self.s.retry_window
                    )
                    store.prune_receipts(cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
                    self._pruned = time.monotonic()
                # The group's questions asked once each (issue 22): its receipts and how many
                # times each record's bytes were imported before it.
                receipts = store.receipts((job[1], job[4]) for job in group)
                counts = store.log_counts(job[4] for job in group)
                made: list[Receipt] = []
                for job in group:
                    results.append(self._import(importer, job, receipts, counts, made))
                store.put_receipts(made)
        except Exception as e:
            if isinstance(e, ConflictError) and tries > 1:
                # Another writer (another receiver, a load) conflicted: the database kept
                # nothing of this transaction; run it again after a short random pause (so that
                # writers racing for one record do not meet again at once).
                time.sleep(random.uniform(0.005, 0.05) * (CONFLICT_TRIES - tries + 1))
                return self.run_group(group, tries - 1)
            if len(group) > 1:
                # One by one: a record that fails (or a conflict with another writer) then
                # costs only its own reply.
                out: list[Answer] = []
                for job in group:
                    out.extend(self.run_group([job]))
                return out
            catalog = isinstance(e, (OSError, CatalogError))
            self.close()
            reply = UNAVAILABLE if catalog else "Rejected: internal error (see the server log)"
            return [(group[0][0], reply, "unavailable", None, describe_error(self.s.db, e))]
        return results

    def _import(
        self,
        importer: Importer,
        job: JobMsg,
        receipts: dict[tuple[str, str], Receipt],
        counts: dict[str, int],
        made: list[Receipt],
    ) -> Answer:
        """One request of a group: ``receipts`` (by login and digest) and ``counts`` (load-log
        rows by digest) as they stand before this request, kept so for the next ones here."""
        jid, login, addr, raw, digest = job
        got = receipts.get((login, digest))
        if got is not None and got.fate in REPLAYED and _age(got.time) < self.s.retry_window:
            reply = f"{got.message} (already received {_clock(got.time)})"
            return jid, reply, "retry", got.sysno, None
        # No receipt, an old one, or a refusal: evaluated (again) — a refusal's cause (a
        # deleted target, an earlier duplicate) may have been fixed since.
        index = counts.get(digest, 0) + 1
        out = importer.import_bytes(
            raw,
            source=f"connexion {login or '-'} from {addr.rsplit(':', 1)[0]}",
            index=index,
            input_hash=digest,
            commit=False,
        )
        counts[digest] = index  # its load-log row is written
        reply = reply_text(out)
        receipt = Receipt(login, digest, now(), out.fate, out.sysno, reply)
        receipts[(login, digest)] = receipt
        made.append(receipt)
        return jid, reply, out.fate.value, out.sysno, None


def main(argv: list[str] | None = None) -> int:
    """The writer process: ``python -m marc8fast.server.writer FD``."""
    args = sys.argv[1:] if argv is None else argv
    # Ctrl-C in a terminal and systemd's stop reach the whole process group: the writer ends
    # when serve, draining, tells it to (or when serve is gone), never in the middle of a group.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    sock = socket.socket(fileno=int(args[0]))
    frames = _Frames(sock)
    first = frames.take(1)
    if not first:
        return 0
    writer = Writer(WriterSettings(**first[0]))
    stop = False
    try:
        while not stop:
            msgs = frames.take(GROUP)
            if not msgs:
                break  # the network process is gone (or closed its end): nothing to answer
            jobs = []
            for m in msgs:
                if m is None:
                    stop = True
                    break
                jobs.append(m)
            if jobs:
                results = writer.run_group(jobs)
                try:
                    _send(sock, results)
                except OSError:
                    break  # no one to answer: what was committed is answered by its receipt
    finally:
        writer.close()
    return 0


# -- the network process's end ---------------------------------------------------------------------


@dataclass(eq=False)
class Job:
    login: str
    addr: str
    raw: bytes
    digest: str
    #: set once it is answered, for a caller that waits (made by it: most callers give
    #: ``then`` instead, and an Event costs a lock and a condition to make)
    done: threading.Event | None = None
    reply: str | None = UNAVAILABLE  # None: the writer was lost with it (no reply is sent)
    fate: str = "unavailable"
    sysno: int | None = None
    detail: str | None = None
    #: Called with the job once it is answered (on the link's thread, or on the submitting
    #: thread when the link is closing), instead of setting ``done``: the transport replies
    #: from there, no thread waiting for the answer (issue 22: one wake-up less a request).
    then: Callable[[Job], object] | None = None

    def finish(self) -> None:
        then = self.then
        if then is None:
            if self.done is not None:
                self.done.set()
            return
        try:
            then(self)
        except Exception:
            pass  # the callback answers its own failures; the link's thread must not die


class WriterLink:
    """Starts the writer process, sends it requests (:meth:`submit`, from any thread), hands
    each its answer; a writer process that dies is replaced (its requests in flight get no
    reply, see the module's doc)."""

    def __init__(self, settings: WriterSettings, log: Log) -> None:
        self.settings = settings
        self.log = log
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._inflight: dict[int, Job] = {}
        self._backlog: list[tuple[int, Job]] = []  # submitted while no writer process is up
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._closing = False
        self.started = 0  # writer processes started (for tests and the log)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def submit(self, job: Job) -> None:
        with self._lock:
            closing = self._closing
            if not closing:
                jid = next(self._ids)
                self._inflight[jid] = job
                if self._sock is None:
                    self._backlog.append((jid, job))
                    return
                try:
                    _send(self._sock, (jid, job.login, job.addr, job.raw, job.digest))
                except OSError:
                    # Not sent whole: the writer, gone, never ran it. The next one will.
                    self._backlog.append((jid, job))
        if closing:
            job.finish()

    def close(self, timeout: float = 10.0) -> None:
        """After the requests sent are answered, the writer process ends."""
        with self._lock:
            self._closing = True
            backlog = [job for _jid, job in self._backlog]
            for jid, _job in self._backlog:
                self._inflight.pop(jid, None)
            self._backlog.clear()
            sock = self._sock
            if sock is not None:
                try:
                    _send(sock, None)
                except OSError:
                    pass
        for job in backlog:
            job.finish()  # never sent: answered "catalog unavailable"
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def _spawn(self) -> tuple[socket.socket, subprocess.Popen[bytes]]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "marc8fast.server.writer", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            _send(ours, dataclasses.asdict(self.settings))
        except OSError:
            ours.close()
            proc.kill()
            proc.wait()
            raise
        return ours, proc

    def run(self) -> None:
        """The link's thread: keeps a writer process up and hands out its answers."""
        failures = 0
        while True:
            with self._lock:
                if self._closing and not self._inflight:
                    return
            try:
                sock, proc = self._spawn()
            except OSError as e:
                failures += 1
                self._lost(f"writer process not started: {e}")
                time.sleep(min(2.0, 0.1 * failures))
                continue
            started = time.monotonic()
            with self._lock:
                self._sock, self._proc = sock, proc
                self.started += 1
                backlog, self._backlog = self._backlog, []
                for jid, job in backlog:
                    try:
                        _send(sock, (jid, job.login, job.addr, job.raw, job.digest))
                    except OSError:
                        self._backlog.append((jid, job))
            frames = _Frames(sock)
            while True:
                got = frames.take(GROUP, gather=False)
                if not got:
                    break
                for results in got:
                    with self._lock:
                        jobs = [(self._inflight.pop(r[0], None), r) for r in results]
                    for got_job, (_jid, reply, fate, sysno, detail) in jobs:
                        if got_job is not None:
                            got_job.reply, got_job.fate = reply, fate
                            got_job.sysno, got_job.detail = sysno, detail
                            got_job.finish()
            # The writer process ended: on close, after answering everything; else it died.
            with self._lock:
                self._sock = None
                sock.close()
            code = proc.wait()
            with self._lock:
                if self._closing and not self._inflight:
                    return
            failures = failures + 1 if time.monotonic() - started < 1.0 else 0
            self._lost(f"writer process {proc.pid} ended (status {code})")
            if failures:
                time.sleep(min(2.0, 0.1 * failures))

    def _lost(self, why: str) -> None:
        """The requests the writer had taken get no reply (the client retries; a retry of one
        that was committed is answered from its receipt)."""
        with self._lock:
            backlog = {id(job) for _jid, job in self._backlog}
            lost = [(jid, j) for jid, j in self._inflight.items() if id(j) not in backlog]
            for jid, job in lost:
                del self._inflight[jid]
                job.reply, job.fate, job.detail = None, "writer_lost", why
            closing = self._closing
        for _jid, job in lost:
            job.finish()
        if lost or not closing:
            self.log({"service": "connexion", "outcome": why, "requests_lost": len(lost)})


if __name__ == "__main__":
    raise SystemExit(main())
