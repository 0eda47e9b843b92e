"""The parent side: :func:`start` and the :class:`Handle` that supervises the child process."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import cast

from ..._native import Marc8Error
from ...catalog import is_url, open_catalog
from .. import query as q
from ..guard import Policy
from ..log import RequestLog
from .backend import (
    DEFAULT_DATABASE,
    IDLE_TIMEOUT,
    MAX_PDU_KB,
    MAX_PER_ADDRESS,
    MAX_RESTARTS,
    PDU_DEADLINE,
    REFUSE_DELAY,
    RESTART_BACKOFF_MAX,
    RESTART_WINDOW,
    printable,
)
from .child import ChildSettings
from .gfs_config import cql_properties, gfs_config

Log = Callable[[dict[str, object]], None]

# -- the parent side: start() and its handle -------------------------------------------------------


class ServerError(Marc8Error, OSError):
    """The Z39.50/SRU server could not start (an OSError, as a port in use is)."""


class Handle:
    """A running server (a supervised child process); :meth:`stop` ends it.

    A child that dies (a crash in the protocol library, a kill) is logged
    (``z3950_child_died``) and started again on the same ports, after 0.5, 1, 2 ... seconds (at
    most :data:`RESTART_BACKOFF_MAX`). After :data:`MAX_RESTARTS` deaths within
    :data:`RESTART_WINDOW` seconds, or a restart that cannot listen, it gives up: ``failure``
    says why and ``failed`` is set (``serve`` then stops and exits non-zero)."""

    def __init__(self, spec: ChildSettings, tmp: str, log: Log) -> None:
        self.spec = spec
        self.tmp = tmp
        self.log = log
        self.ports: dict[str, int] = {}
        self.failure: str | None = None
        self.failed = threading.Event()
        self._on_failure: list[Callable[[], object]] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.deaths: list[float] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = threading.Event()
        self.reader: threading.Thread | None = None
        self.supervisor: threading.Thread | None = None

    # -- one child --------------------------------------------------------------------------------

    def _spawn(self) -> bool:
        """Start a child and wait until it listens (True) or fails (False, ``self.failure``)."""
        spec, ports = self.spec, self.ports  # a restart listens where the first one did
        if spec.z3950 and "z3950" in ports:
            spec = dataclasses.replace(spec, z3950=(spec.z3950[0], ports["z3950"]))
        if spec.sru and "sru" in ports:
            spec = dataclasses.replace(spec, sru=(spec.sru[0], ports["sru"]))
        ready = threading.Event()
        proc = subprocess.Popen(
            [sys.executable, "-m", "marc8fast.server.z3950", "--child", spec.to_json()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=self.tmp,
        )
        with self.lock:
            self.proc, self.ready = proc, ready
        reader = threading.Thread(
            target=self._read, args=(proc, ready), name="z3950-log", daemon=True
        )
        reader.start()
        self.reader = reader
        if not ready.wait(self.spec.startup_timeout) or proc.poll() is not None:
            self.failure = self.failure or "it did not start listening"
            self._end(proc)
            return False
        return True

    def _read(self, proc: subprocess.Popen[bytes], ready: threading.Event) -> None:
        """The child's events → the log, as they come (a batch every 0.1 s, written to the log
        as one). A line that cannot be read is logged as what it is; if reading itself fails,
        the child is killed (and restarted): its events never pile up unread."""
        assert proc.stdout is not None
        stdout = cast(io.BufferedReader, proc.stdout)  # Popen's pipe, not typed as what it is
        pending = b""
        try:
            while True:
                chunk = stdout.read1(1 << 16)
                *lines, pending = (pending + chunk).split(b"\n") if chunk else [pending, b""]
                self._events([line for line in lines if line], ready)
                if not chunk:
                    break
        except Exception as e:
            self._log({"event": "error", "where": "z3950_events", "error": repr(e)})
            if proc.poll() is None:
                proc.kill()
        finally:
            ready.set()

    def _events(self, lines: list[bytes], ready: threading.Event) -> None:
        entries: list[dict[str, object]] = []
        for raw in lines:
            try:
                entry = self._entry(raw, ready)
            except Exception as e:  # a bad line: said, and go on
                entry = {"event": "error", "where": "z3950_events", "error": repr(e)}
            if entry is not None:
                entries.append(entry)
        if isinstance(self.log, RequestLog):
            self.log.write_many(entries)
        else:
            for entry in entries:
                self._log(entry)

    def _event(self, raw: bytes, ready: threading.Event) -> None:
        """One line of the child, logged (or taken: the ``ready`` line)."""
        entry = self._entry(raw, ready)
        if entry is not None:
            self._log(entry)

    def _entry(self, raw: bytes, ready: threading.Event) -> dict[str, object] | None:
        """The log entry of one line of the child (None for the ``ready`` line, taken here)."""
        line = raw.decode("utf-8", "replace")
        try:
            event = json.loads(line)
            if not isinstance(event, dict):
                raise ValueError("not an object")
        except ValueError:
            event = {"service": "z3950", "event": "output", "text": printable(line.rstrip())}
        if event.get("event") == "ready":
            self.ports = {k: int(v) for k, v in event.get("ports", {}).items()}
            ready.set()
            return None
        if event.get("event") == "fatal" and not ready.is_set():
            self.failure = str(event.get("error"))
        return {k: printable(v) if isinstance(v, str) else v for k, v in event.items()}

    def _log(self, event: dict[str, object]) -> None:
        try:
            self.log(event)
        except Exception:  # a failing logger must not stop the reader
            pass

    def _end(self, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
        def close_stdin() -> None:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

        for step in (close_stdin, proc.terminate, proc.kill):
            if proc.poll() is not None:
                break
            step()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass

    # -- supervision -----------------------------------------------------------------------------

    def start(self) -> None:
        if not self._spawn():
            raise ServerError(f"the Z39.50 server could not start: {self.failure}")
        self.supervisor = threading.Thread(
            target=self._supervise, name="z3950-supervisor", daemon=True
        )
        self.supervisor.start()

    def _supervise(self) -> None:
        while not self.stopping.is_set():
            proc = self.proc
            assert proc is not None
            status = proc.wait()
            if self.stopping.is_set():
                return
            if self.reader is not None:
                self.reader.join(5.0)  # its last events first
            how = f"signal {-status}" if status < 0 else f"status {status}"
            self._log({"event": "z3950_child_died", "pid": proc.pid, "how": how})
            while True:  # restarted with back-off; a start that fails is one more death
                now = time.monotonic()
                self.deaths = [t for t in self.deaths if now - t < RESTART_WINDOW] + [now]
                if len(self.deaths) > MAX_RESTARTS:
                    self._give_up(
                        f"the Z39.50 server died {len(self.deaths)} times in "
                        f"{RESTART_WINDOW:g} s (last: {how})"
                    )
                    return
                delay = min(RESTART_BACKOFF_MAX, 0.5 * 2 ** (len(self.deaths) - 1))
                if self.stopping.wait(delay):
                    return
                self.failure = None
                if self._spawn():
                    break
                how = f"restart failed: {self.failure}"
                self._log({"event": "z3950_child_died", "how": how})
            self._log({"event": "z3950_restarted", "pid": self.pid, "ports": self.ports})

    def _give_up(self, why: str) -> None:
        self.failure = why
        self._log({"event": "fatal", "service": "z3950", "error": why})
        self.failed.set()
        with self.lock:
            callbacks = list(self._on_failure)
        for fn in callbacks:
            fn()

    def when_failed(self, fn: Callable[[], object]) -> None:
        """Call ``fn`` (once) when the server gives up; at once if it has already: the owner
        waits on its own event (set by ``fn``) instead of looking at ``failed`` every so often."""
        with self.lock:
            if not self.failed.is_set():
                self._on_failure.append(fn)
                return
        fn()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and not self.failed.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server: its stdin is closed (it writes its last events and exits), then
        SIGTERM, then SIGKILL, ``timeout`` seconds apart at most."""
        self.stopping.set()
        if self.proc is not None:
            self._end(self.proc, timeout)
        if self.reader is not None:
            self.reader.join(timeout)
        if self.supervisor is not None:
            self.supervisor.join(timeout)
        shutil.rmtree(self.tmp, ignore_errors=True)


TMP_PREFIX = "marc8fast-z3950-"


def _clean_stale(folder: str | None = None) -> None:
    """Remove the working folders of servers that are gone (``serve`` killed with -9 cannot
    remove its own): each is named after the pid of the process that made it."""
    folder = folder or tempfile.gettempdir()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.startswith(TMP_PREFIX):
            continue
        pid_text = name[len(TMP_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
            continue  # its owner runs
        except ProcessLookupError:
            pass
        except OSError:
            continue  # another user's process: not ours to judge
        shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def start(
    db_path: str,
    *,
    z3950: tuple[str, int] | None,
    sru: tuple[str, int] | None,
    database: str = DEFAULT_DATABASE,
    no_auth: bool = False,
    log: Log,
    idle_timeout: float = IDLE_TIMEOUT,
    max_pdu_kb: int = MAX_PDU_KB,
    refuse_delay: float = REFUSE_DELAY,
    pdu_deadline: float = PDU_DEADLINE,
    max_per_address: int = MAX_PER_ADDRESS,
    limits: q.Limits | None = None,
    policy: Policy | None = None,
    startup_timeout: float = 30.0,
) -> Handle:
    """Start the Z39.50 server (and SRU, on the Z39.50 port and on ``sru`` if given) over the
    catalog ``db_path``; ``handle.ports`` has the ports listened on ("z3950", "sru")."""
    if z3950 is None and sru is None:
        raise ServerError("nothing to listen on: give a Z39.50 or an SRU address")
    open_catalog(db_path, readonly=True).close()  # a missing catalog is said here, in one line
    _clean_stale()
    tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-")
    cql = os.path.join(tmp, "cql.properties")
    cfg = os.path.join(tmp, "gfs.xml")
    with open(cql, "w", encoding="utf-8") as fh:
        fh.write(cql_properties())
    host, port = z3950 or sru or ("", 0)
    with open(cfg, "w", encoding="utf-8") as fh:
        fh.write(gfs_config(cql, database, host, port))
    spec = ChildSettings(
        db_path=db_path if is_url(db_path) else os.path.abspath(db_path),
        config=cfg,
        z3950=z3950,
        sru=sru,
        database=database,
        no_auth=no_auth,
        refuse_delay=refuse_delay,
        idle_timeout=max(1, int(idle_timeout)),
        max_pdu_kb=max(1, int(max_pdu_kb)),
        pdu_deadline=pdu_deadline,
        max_per_address=max(0, int(max_per_address)),
        limits=limits or q.Limits(),
        policy=policy or Policy(),
        startup_timeout=startup_timeout,
    )
    handle = Handle(spec, tmp, log)
    try:
        handle.start()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return handle
