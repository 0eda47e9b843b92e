"""``python -m marc8fast.server.z3950``: the foreground development runner (and ``--child``)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from .. import query as q
from .backend import (
    DEFAULT_DATABASE,
    IDLE_TIMEOUT,
    MAX_PDU_KB,
    MAX_PER_ADDRESS,
    PDU_DEADLINE,
    REFUSE_DELAY,
)
from .child import ChildSettings, _die_with_parent, child_main
from .supervisor import start

Log = Callable[[dict[str, object]], None]


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        _die_with_parent()
        return child_main(ChildSettings.from_json(args[1]), sys.stdout.buffer)
    p = argparse.ArgumentParser(
        prog="python -m marc8fast.server.z3950",
        description="Serve a catalog over Z39.50 and SRU in the foreground (development runner; "
        "`marc8fast serve` is the command for users).",
    )
    p.add_argument("db")
    p.add_argument("--z3950", type=_hostport, default=("127.0.0.1", 0), metavar="HOST:PORT")
    p.add_argument("--sru", type=_hostport, default=None, metavar="HOST:PORT")
    p.add_argument("--database", default=DEFAULT_DATABASE)
    p.add_argument("--no-auth", action="store_true")
    p.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT, metavar="SECONDS")
    p.add_argument("--max-pdu-kb", type=int, default=MAX_PDU_KB)
    p.add_argument("--refuse-delay", type=float, default=REFUSE_DELAY, metavar="SECONDS")
    p.add_argument("--pdu-deadline", type=float, default=PDU_DEADLINE, metavar="SECONDS")
    p.add_argument("--max-per-address", type=int, default=MAX_PER_ADDRESS, metavar="N")
    p.add_argument("--query-seconds", type=float, default=q.Limits.seconds, metavar="SECONDS")
    a = p.parse_args(args)

    def log(event: dict[str, object]) -> None:
        sys.stderr.write(json.dumps(event, ensure_ascii=False) + "\n")
        sys.stderr.flush()

    handle = start(
        a.db,
        z3950=a.z3950,
        sru=a.sru,
        database=a.database,
        no_auth=a.no_auth,
        log=log,
        idle_timeout=a.idle_timeout,
        max_pdu_kb=a.max_pdu_kb,
        refuse_delay=a.refuse_delay,
        pdu_deadline=a.pdu_deadline,
        max_per_address=a.max_per_address,
        limits=q.Limits(seconds=a.query_seconds),
    )
    for name, port in handle.ports.items():
        host = (a.z3950 if name == "z3950" else a.sru or a.z3950)[0]
        sys.stderr.write(f"listening {name} {host}:{port}\n")
    sys.stderr.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    handle.when_failed(stop.set)
    # a signal, or the server giving up, sets it; waited for in slices, as serve does (a
    # signal another thread received runs its handler here only when this thread runs)
    while not stop.wait(0.5):
        pass
    handle.stop(5.0)
    if handle.failed.is_set():
        sys.stderr.write(f"marc8fast: z3950: {handle.failure}\n")
        return 2
    return 0
