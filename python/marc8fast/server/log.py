"""The request log of ``marc8fast serve``: one line per request, text or JSON, to a file (reopened
on SIGHUP, for logrotate) or to stderr. Passwords never reach it: callers log a login's name,
never what was sent with it.

Built on the standard :mod:`logging` module: each entry (a dict) is one :class:`logging.LogRecord`
whose ``msg`` is the dict; :class:`EntryFormatter` writes the line (``time`` first, from the
record's creation time), :class:`ReopeningFileHandler` is a :class:`logging.FileHandler` that
reopens its file when told (SIGHUP), as :class:`logging.handlers.WatchedFileHandler` does when
it sees the file moved. The logger is private to one :class:`RequestLog` (not registered in the
logging tree), so that an application's own logging configuration neither receives nor changes
these lines.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

#: a value with one of these is written as a JSON string
_QUOTED = re.compile(r'[ "=\\]')


#: the last time stamped, and its text (a batch of lines shares one time)
_last_stamp: tuple[float, str] = (-1.0, "")
#: the last whole second stamped, and its text up to the seconds (strftime once a second)
_last_second: tuple[int, str] = (-1, "")


def _stamp(t: float) -> str:
    global _last_stamp, _last_second
    last = _last_stamp
    if last[0] == t:
        return last[1]
    second = int(t)
    known = _last_second
    if known[0] != second:
        known = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)))
        _last_second = known
    text = f"{known[1]}.{int(t % 1 * 1000):03d}Z"
    _last_stamp = (t, text)
    return text


class EntryFormatter(logging.Formatter):
    """``time=… key=value …`` (a value with a space, quote, ``=`` or backslash, or not
    printable, as a JSON string; None as ``-``), or one JSON object a line."""

    def __init__(self, fmt: str = "text") -> None:
        if fmt not in ("text", "json"):
            raise ValueError(f"log format {fmt!r} is not text or json")
        super().__init__()
        self.kind = fmt

    def format(self, record: logging.LogRecord) -> str:
        given = record.msg if isinstance(record.msg, dict) else {"message": record.getMessage()}
        return self.line(given, record.created)

    def line(self, given: dict[str, object], created: float) -> str:
        if self.kind == "json":
            entry = {"time": _stamp(created), **{k: v for k, v in given.items() if k != "time"}}
            return json.dumps(entry, ensure_ascii=False, default=str)
        parts = [_stamp(created)]
        for k, v in given.items():
            if k == "time":
                continue
            if v is None:
                text = "-"
            elif type(v) is int or type(v) is float:
                text = str(v)  # digits, a sign, a point, an exponent: never quoted
            else:
                text = str(v)
                printable = text.isprintable()
                if text == "" or not printable or _QUOTED.search(text) is not None:
                    if printable and '"' not in text and "\\" not in text:
                        text = f'"{text}"'  # what json.dumps writes for it, without its work
                    else:
                        text = json.dumps(text, ensure_ascii=False)
            parts.append(f"{k}={text}")
        return " ".join(parts)


class _Quiet:
    """A log that cannot be written must not stop the service (nor print tracebacks)."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


class ReopeningFileHandler(_Quiet, logging.FileHandler):
    """Appends to a file, line-buffered; :meth:`reopen` closes it and opens the path again
    (after logrotate moved it)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, mode="a", encoding="utf-8")

    def reopen(self) -> None:
        self.acquire()
        try:
            old = self.stream
            self.stream = self._open()
            if old is not None:
                old.close()
        finally:
            self.release()


class _StderrHandler(_Quiet, logging.StreamHandler):  # type: ignore[type-arg]
    pass


class RequestLog:
    def __init__(self, path: str | None = None, *, fmt: str = "text") -> None:
        self.formatter = EntryFormatter(fmt)
        self.path = path
        self.fmt = fmt
        self._handler: logging.Handler = (
            _StderrHandler(sys.stderr) if path is None else ReopeningFileHandler(path)
        )
        self._handler.setFormatter(self.formatter)
        self.logger = logging.Logger("marc8fast.serve", logging.INFO)
        self.logger.propagate = False
        self.logger.addHandler(self._handler)

    def reopen(self) -> None:
        """Close and reopen the log file (after logrotate moved it)."""
        if isinstance(self._handler, ReopeningFileHandler):
            self._handler.reopen()

    def close(self) -> None:
        self.logger.removeHandler(self._handler)
        self._handler.close()

    def __call__(self, entry: dict[str, object]) -> None:
        self.write(entry)

    def write(self, entry: dict[str, object]) -> None:
        # Straight to the handler, as Logger.info would after looking up its caller's frame
        # (which cost more than writing the line; issue 22): the record is the same.
        record = logging.LogRecord(self.logger.name, logging.INFO, "", 0, entry, None, None)
        self._handler.handle(record)

    def write_many(self, entries: list[dict[str, object]]) -> None:
        """Entries that arrived together (the Z39.50 child sends its events in batches), written
        as one: one time, one lock, one write (a write and a flush a line cost more than the
        lines themselves at thousands a second). Quiet on failure, as every write here."""
        if not entries:
            return
        now = time.time()
        handler = self._handler
        lines = []
        for e in entries:
            try:
                lines.append(self.formatter.line(e, now) + "\n")
            except Exception:
                pass  # that line only, as write() would
        text = "".join(lines)
        handler.acquire()
        try:
            stream = getattr(handler, "stream", None)
            if stream is not None:
                stream.write(text)
                stream.flush()
        except Exception:
            pass
        finally:
            handler.release()

    def format(self, entry: dict[str, object]) -> str:
        return self.formatter.line(entry, time.time())
