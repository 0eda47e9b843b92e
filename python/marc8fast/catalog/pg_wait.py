"""The PostgreSQL backend's notice that a write waits for another writer (``--wait``), a part of
:class:`.postgres.PostgresStore` kept in its own file (the 900-line limit)."""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Callable

try:
    import psycopg
except ImportError:  # pragma: no cover - said when a postgresql:// catalog is opened
    psycopg = None  # type: ignore[assignment]


class PgWaitNotice:
    """Methods of :class:`.postgres.PostgresStore` (which sets these attributes in its
    ``__init__`` and calls :meth:`_started`/:meth:`_finished` around each statement)."""

    target: str
    wait: float
    readonly: bool
    on_wait: Callable[[str], object] | None
    _url: str
    _pid: int
    _waited: bool
    _running: int
    _statements: int
    _watcher: threading.Thread | None
    _watch_stop: threading.Event

    # -- waiting for another writer --------------------------------------------------------------

    def _started(self) -> None:
        """Mark a statement that may wait for another session's lock as running (the watcher
        looks at it); :meth:`_finished` ends it."""
        self._statements += 1
        self._running = self._statements
        if (
            self._watcher is None
            and self.on_wait is not None
            and self.wait > 1.0
            and not self.readonly
            and not self._waited
        ):
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()

    def _finished(self) -> None:
        self._running = 0

    def _watch(self) -> None:
        """Say once, through ``on_wait``, that this session's write waits for another session
        (the SQLite backend's notice, the same words). A statement still running after a second
        is asked about on a second session (``pg_blocking_pids``; opened only then, kept while
        the store is open): a slow statement that waits for no one is not a writer waiting.
        The notice is a courtesy: a failure here ends the watching, never the write."""
        side = None
        seen, since = 0, 0.0
        try:
            while not self._watch_stop.wait(0.2):
                running = self._running
                if running == 0:
                    seen = 0
                    continue
                t = _time.monotonic()
                if running != seen:
                    seen, since = running, t
                    continue
                if t - since < 1.0:
                    continue
                if side is None:
                    side = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
                row = side.execute(
                    "SELECT cardinality(pg_blocking_pids(%s))", (self._pid,)
                ).fetchone()
                if row and row[0] and self._running == seen and self.on_wait is not None:
                    self._waited = True
                    self.on_wait(
                        f"{self.target}: another process is writing to the catalog; waiting "
                        f"(up to {self.wait:g} s)"
                    )
                    return
                since = t  # not blocked (a slow statement): asked again a second later
        except psycopg.Error:
            return
        finally:
            if side is not None:
                side.close()
