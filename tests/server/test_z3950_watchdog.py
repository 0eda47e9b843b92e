"""The watchdog's bookkeeping under concurrent session threads (the cause of a flaky
``test_sru_basic_auth_rate_8_clients_8_addresses``: an SRU Init answered with diagnostic 1).

Every backend call ends with ``Watchdog.settle`` in its session thread; an Init looks for its
connection (``_unknown_connection``), reading the thread → connection table other session
threads add to at the same moment. Reading the live dict in a Python loop failed when another
thread added to it in between ("dictionary changed size during iteration"), and the exception,
raised in the Init callback's ``finally``, reached C: GFS answered "Permanent system error"."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator

from marc8fast.server.z3950.backend import Backend
from marc8fast.server.z3950.watchdog import Watchdog


class _Interleaved:
    """A table entry that, when read, lets "another session thread" add its own entry: the
    thread switch that broke the loop, made to happen at the worst moment every time."""

    def __init__(self, table: dict[int, tuple[int, int]], value: tuple[int, int]) -> None:
        self.table = table
        self.value = value

    def __iter__(self) -> Iterator[int]:
        self.table[max(self.table) + 1] = (-1, -1)  # another thread's settle
        return iter(self.value)


def test_an_init_finds_its_connection_while_another_thread_settles() -> None:
    events: list[dict[str, object]] = []
    dog = Watchdog({}, 60.0, events.append)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), source_address=("127.0.0.7", 0))
        server, _ = listener.accept()
        with client, server:
            dog.fds[1] = _Interleaved(dog.fds, (999, 999))  # type: ignore[assignment]
            found = dog._unknown_connection("tcp:127.0.0.7:1234")
            assert found is not None and found[0] == server.fileno(), found
            assert len(dog.fds) == 2  # the other thread's entry went in meanwhile


def test_an_init_finds_its_connection_when_a_collection_lets_a_writer_in() -> None:
    """The copy of the table is itself not safe from other threads: a garbage collection
    triggered by an allocation inside ``tuple(d.values())`` runs Python code (finalizers, GC
    callbacks), where the interpreter may hand the GIL to a thread that adds to the table.
    Here the collection's callback is that thread, three times (failed once in CI, 2026-12-06)."""
    import gc

    dog = Watchdog({}, 60.0, lambda e: None)
    dog.fds.update({n: (-1, n) for n in range(1, 100)})
    writes = []

    def writer(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and len(writes) < 3:
            writes.append(phase)
            dog.fds[1000 + len(writes)] = (-1, 1000 + len(writes))  # another thread's settle

    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), source_address=("127.0.0.9", 0))
        server, _ = listener.accept()
        with client, server:
            threshold = gc.get_threshold()
            gc.callbacks.append(writer)
            gc.set_threshold(1)
            try:
                found = dog._unknown_connection("tcp:127.0.0.9:1")
            finally:
                gc.set_threshold(*threshold)
                gc.callbacks.remove(writer)
            assert found is not None and found[0] == server.fileno(), found
    assert len(writes) == 3 and len(dog.fds) == 102  # the writer did get in, all three times


def test_settle_from_many_threads_at_once_never_raises() -> None:
    """Bounded in time (2 s): Inits (settle with a peer) on some threads while others add to
    the table, with the interpreter switching threads as often as it can."""
    dog = Watchdog({}, 60.0, lambda e: None)
    failures: list[BaseException] = []
    stop = time.monotonic() + 2.0
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), source_address=("127.0.0.8", 0))
        server, _ = listener.accept()

        def adder(base: int) -> None:
            n = 0
            while time.monotonic() < stop:
                dog.fds[base + n % 5000] = (-1, base + n)
                n += 1
                if n % 5000 == 0:
                    dog.fds = {}  # a sweep replaces the table

        def init() -> None:
            while time.monotonic() < stop:
                try:
                    dog._unknown_connection("tcp:127.0.0.8:1")
                except Exception as e:
                    failures.append(e)
                    return

        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            with client, server:
                threads = [threading.Thread(target=adder, args=(i * 10**6,)) for i in (1, 2)]
                threads += [threading.Thread(target=init) for _ in range(2)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
        finally:
            sys.setswitchinterval(old)
    assert not failures, failures[:1]


def test_a_failing_watchdog_never_fails_the_request() -> None:
    """The backend's end-of-call note runs outside its error handling: whatever the watchdog
    raises is logged, not passed to C (where GFS would make it diagnostic 1)."""

    class Broken(Watchdog):
        def settle(self, tid: int, peer: str | None = None) -> None:
            raise RuntimeError("dictionary changed size during iteration")

    events: list[dict[str, object]] = []
    backend = object.__new__(Backend)
    backend.activity = {}
    backend.log = events.append
    backend.watchdog = Broken({}, 60.0, events.append)
    backend._done(threading.get_native_id(), "tcp:127.0.0.2:1")
    assert backend.activity[threading.get_native_id()] > 0
    assert events == [
        {
            "event": "error",
            "where": "watchdog",
            "error": "RuntimeError('dictionary changed size during iteration')",
        }
    ]
