"""The child process: GFS in its main thread, the backend, the watchdog, events as JSON lines
on stdout (read by :mod:`.supervisor`)."""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from ..._native import EventQueue, Marc8Error
from ...catalog import open_catalog
from .. import query as q
from ..guard import Policy
from .backend import (
    DEFAULT_DATABASE,
    IDLE_TIMEOUT,
    LOG_INTERVAL,
    MAX_PDU_KB,
    MAX_PENDING_EVENTS,
    MAX_PER_ADDRESS,
    PDU_DEADLINE,
    REFUSE_DELAY,
    YAZ_LOG_RATE,
    Backend,
    Config,
)
from .eventline import _event_line, render
from .watchdog import Watchdog, _socket_of

__all__ = ["EventPipe", "_event_line", "child_main"]

Log = Callable[[dict[str, object]], None]

# -- the child process -----------------------------------------------------------------------------


@dataclass
class ChildSettings:
    """What the supervisor tells the child, as one JSON argument (``--child JSON``)."""

    db_path: str
    config: str  # the yazgfs XML file (gfs_config)
    z3950: tuple[str, int] | None = None
    sru: tuple[str, int] | None = None
    database: str = DEFAULT_DATABASE
    no_auth: bool = False
    refuse_delay: float = REFUSE_DELAY
    idle_timeout: int = IDLE_TIMEOUT
    max_pdu_kb: int = MAX_PDU_KB
    pdu_deadline: float = PDU_DEADLINE
    max_per_address: int = MAX_PER_ADDRESS
    limits: q.Limits = field(default_factory=q.Limits)
    policy: Policy = field(default_factory=Policy)
    startup_timeout: float = 30.0
    yaz_log: str = "none,fatal,warn,flush"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ChildSettings:
        data = json.loads(text)
        for name in ("z3950", "sru"):
            if data.get(name):
                data[name] = (str(data[name][0]), int(data[name][1]))
        data["limits"] = q.Limits(**data.get("limits", {}))
        data["policy"] = Policy(**data.get("policy", {}))
        return cls(**data)


def _listening_ports() -> list[int]:
    """Ports of this process's listening TCP sockets, in the order of their descriptors."""
    out: list[tuple[int, int]] = []
    folder = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    for name in os.listdir(folder):
        fd = int(name)
        s = _socket_of(fd)
        if s is None:
            continue
        try:
            if s.type == socket.SOCK_STREAM and s.getsockopt(
                socket.SOL_SOCKET, socket.SO_ACCEPTCONN
            ):
                out.append((fd, s.getsockname()[1]))
        except OSError:
            pass
        finally:
            s.close()
    return [port for _, port in sorted(out)]


def _assign_ports(wanted: list[tuple[str, int]], found: list[int]) -> dict[str, int]:
    ports: dict[str, int] = {}
    left = list(found)
    for name, port in wanted:
        if port and port in left:
            ports[name] = port
            left.remove(port)
    for name, _port in wanted:
        if name not in ports and left:
            ports[name] = left.pop(0)
    return ports


def _address(host: str, port: int) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"tcp:{host or '@'}:{port}"


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class EventPipe:
    """The child's events, as JSON lines on ``out``, written in batches (every
    :data:`LOG_INTERVAL` seconds, or at once for ``urgent`` ones): one write per batch, not two
    pipe wake-ups per record.

    The lines are ASCII (``json.dumps`` escapes everything else, lone surrogates included), so
    any byte a client sends reaches ``serve`` intact and readable. While ``serve`` does not read,
    at most :data:`MAX_PENDING_EVENTS` wait here: older ones are dropped and counted, never an
    unbounded buffer."""

    def __init__(
        self, out: IO[bytes], limit: int = MAX_PENDING_EVENTS, queue: EventQueue | None = None
    ) -> None:
        self.out = out
        #: the lines waiting (native: the Z39.50 hot path adds its own to the same queue)
        self.queue = queue if queue is not None else EventQueue(limit)
        self.write_lock = threading.Lock()
        threading.Thread(target=self._run, name="z3950-events", daemon=True).start()

    def emit(self, event: dict[str, object], urgent: bool = False) -> None:
        self.queue.push(render(event))
        if urgent:
            self.flush()

    def flush(self) -> None:
        with self.write_lock:
            lines, dropped = self.queue.take()
            if dropped:
                lines.insert(
                    0,
                    json.dumps(
                        {"service": "z3950", "event": "z3950_events_dropped", "count": dropped}
                    ),
                )
            if lines:
                try:
                    self.out.write(("\n".join(lines) + "\n").encode("ascii"))
                    self.out.flush()
                except (OSError, ValueError):
                    pass  # the parent is gone: nothing to report to

    def _run(self) -> None:
        while True:
            time.sleep(LOG_INTERVAL)
            self.flush()


class YazLog:
    """YAZ's own log lines (malformed PDUs, failed accepts ...) as ``z3950_yaz`` events instead
    of the child's stderr: GFS writes its log (``-l``) into a pipe that this reads, at most
    :data:`YAZ_LOG_RATE` lines a second forwarded, the rest counted (and the BER dumps YAZ
    writes after a malformed PDU dropped)."""

    def __init__(self, emit: Callable[..., None]) -> None:
        self.emit = emit
        self.read_fd, self.write_fd = os.pipe()
        threading.Thread(target=self._run, name="z3950-yazlog", daemon=True).start()

    @property
    def path(self) -> str:
        return f"/proc/self/fd/{self.write_fd}"

    def _run(self) -> None:
        second, count, suppressed = 0, 0, 0
        with open(self.read_fd, "rb") as fh:
            for raw in fh:
                try:
                    m = re.search(rb"\[(fatal|warn|log)\]\s*(.*)", raw)
                    if m is None:
                        continue  # a line of a BER dump, or a continuation
                    now = int(time.monotonic())
                    if now != second:
                        if suppressed:
                            self.emit({"event": "z3950_yaz_suppressed", "count": suppressed})
                        second, count, suppressed = now, 0, 0
                    count += 1
                    if count > YAZ_LOG_RATE:
                        suppressed += 1
                        continue
                    self.emit(
                        {
                            "event": "z3950_yaz",
                            "level": m.group(1).decode(),
                            "message": m.group(2).decode("utf-8", "replace").strip(),
                        }
                    )
                except Exception:  # never the end of the reader (GFS would block on the pipe)
                    pass


def _stop_on_eof(pipe: EventPipe) -> None:
    """The parent closes our stdin to stop us (or dies): flush the events, then SIGTERM
    ourselves (GFS's handler exits)."""
    try:
        while sys.stdin.read(65536):
            pass
    except (OSError, ValueError):
        pass
    pipe.flush()
    os.kill(os.getpid(), signal.SIGTERM)


def child_main(spec: ChildSettings, out: IO[bytes]) -> int:
    """Serve until stdin closes: GFS in this (main) thread, events as JSON lines on ``out``."""
    from .. import yazgfs

    pipe = EventPipe(out)
    emit = pipe.emit
    threading.Thread(target=_stop_on_eof, args=(pipe,), name="z3950-stop", daemon=True).start()

    config = Config(
        spec.db_path,
        database=spec.database,
        no_auth=spec.no_auth,
        refuse_delay=spec.refuse_delay,
        limits=spec.limits,
        policy=spec.policy,
    )
    try:
        open_catalog(config.db_path, readonly=True).close()
        backend = Backend(config, emit, events=pipe.queue)
    except (Marc8Error, OSError) as e:
        emit({"event": "fatal", "error": str(e)}, urgent=True)
        return 2
    yaz_log = YazLog(emit)
    backend.watchdog = Watchdog(
        backend.activity,
        spec.pdu_deadline,
        emit,
        spec.max_per_address,
        hot=backend.hot,
    )
    backend.watchdog.start()
    listen = {"z3950": spec.z3950, "sru": spec.sru}
    wanted = [(name, where[1]) for name, where in listen.items() if where]

    def started(_block: Any) -> None:
        try:
            ports = _assign_ports(wanted, _listening_ports())
        except OSError as e:
            emit({"event": "fatal", "error": f"cannot find the ports listened on: {e}"}, True)
            return
        emit({"event": "ready", "ports": ports, "pid": os.getpid()}, urgent=True)

    start_fn = yazgfs.START_FN(started)
    control = backend.yaz.server.statserv_getcontrol().contents
    control.bend_start = start_fn
    argv = [
        "marc8fast-z3950",
        "-T",
        # HTTP: one request per connection, so every SRU request goes through Init (its own
        # login check); a kept-alive connection never carries a second request's credentials
        "-K",
        "-f",
        spec.config,
        "-t",
        f"{spec.idle_timeout}s",
        "-k",
        str(spec.max_pdu_kb),
        # YAZ's log lines (and the BER dumps of malformed PDUs) go into a pipe (YazLog, then
        # serve's log), not to stderr
        "-l",
        yaz_log.path,
        "-v",
        spec.yaz_log,
    ]
    argv += [_address(where[0], where[1]) for where in listen.values() if where]
    cargv = (ctypes.c_char_p * (len(argv) + 1))(*[a.encode() for a in argv], None)
    rc = backend.yaz.server.statserv_main(len(argv), cargv, backend._init, backend._close)
    del yaz_log
    if rc:
        emit({"event": "fatal", "error": f"the Z39.50 server stopped (status {rc})"}, urgent=True)
    else:
        # with how many requests the hot path answered, and gave to the Python backend
        hot = backend.hot
        emit(
            {"event": "z3950_stopped", "hot_answered": hot.answered, "hot_declined": hot.declined},
            urgent=True,
        )
    return 2 if rc else 0
