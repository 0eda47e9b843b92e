"""The request log of ``marc8fast serve``: one line per request, text or JSON, to a file (reopened
on SIGHUP, for logrotate) or to stderr. Passwords never reach it: callers log a login's name,
never what was sent with it."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO


def _stamp() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class RequestLog:
    def __init__(self, path: str | None = None, *, fmt: str = "text") -> None:
        if fmt not in ("text", "json"):
            raise ValueError(f"log format {fmt!r} is not text or json")
        self.path = path
        self.fmt = fmt
        self._lock = threading.Lock()
        self._fh: IO[str] = self._open()

    def _open(self) -> IO[str]:
        if self.path is None:
            return sys.stderr
        return open(self.path, "a", encoding="utf-8", buffering=1)

    def reopen(self) -> None:
        """Close and reopen the log file (after logrotate moved it)."""
        if self.path is None:
            return
        with self._lock:
            old = self._fh
            self._fh = self._open()
            old.close()

    def close(self) -> None:
        with self._lock:
            if self._fh is not sys.stderr:
                self._fh.close()

    def __call__(self, entry: dict[str, object]) -> None:
        self.write(entry)

    def write(self, entry: dict[str, object]) -> None:
        line = self.format(entry)
        with self._lock:
            try:
                self._fh.write(line + "\n")
                self._fh.flush()
            except (OSError, ValueError):
                pass  # a log that cannot be written must not stop the service

    def format(self, entry: dict[str, object]) -> str:
        entry = {"time": _stamp(), **{k: v for k, v in entry.items() if k != "time"}}
        if self.fmt == "json":
            return json.dumps(entry, ensure_ascii=False, default=str)
        parts = []
        for k, v in entry.items():
            if k == "time":
                parts.append(str(v))
                continue
            text = "-" if v is None else str(v)
            if text == "" or any(c in text for c in ' "=\\') or not text.isprintable():
                text = json.dumps(text, ensure_ascii=False)
            parts.append(f"{k}={text}")
        return " ".join(parts)
