"""The SQLite backend's one-statement record read (issue 22, i22-z16), a part of
:class:`.sqlite.SQLiteStore` kept in its own file.

:meth:`SQLiteReads.read_record` is :meth:`~.sqlite.SQLiteStore.get` in one statement (the record,
whether it is deleted, and its OCLC numbers). It is what the Z39.50 server reads for every search
by system number and every present, from GFS's session threads, 16 of them or more at once. The
``sqlite3`` module lets go of Python's interpreter lock around every call into SQLite, and with
many sessions each such call hands the lock to another thread and queues to get it back (the
server then did more work per record with 16 sessions than with one). A primary-key read of a
page SQLite has in memory takes a few microseconds, less than one hand-over, so on a catalog
opened read-only this read goes to SQLite through ``ctypes.PyDLL`` (calls that keep the lock) on
a second read-only connection of the same file: one per file per process, shared by the
read-only stores of that file (a Connexion client opens a session, and so a store, for every
record it fetches: opening a connection and reading the schema each time, with the lock held,
cost more than the reads), made on first use:

* only the SQLite library the ``sqlite3`` module itself uses (found in this process's mappings)
  is called: two copies of SQLite in one process would not see each other's POSIX locks;
* that connection has no busy timeout: a read that finds the file locked (a WAL recovery, or a
  writer's checkpoint holding it) is not waited for with the lock held, it is made again through
  the ``sqlite3`` module (which waits as every other read does), as is any read that fails;
* a catalog opened as immutable (a read-only folder), a writer's connection, a platform without
  the library: the ``sqlite3`` module, always.

Either way each read is its own snapshot of the last committed state, as ``get`` is.
"""

from __future__ import annotations

import ctypes
import json
import os
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

from .api import NativeReader, StoredRecord
from .sqlite_schema import translate

#: The record and its OCLC numbers (a JSON array, sorted as ``get`` sorts them by the reader:
#: binary order, which is the order of Python's ``sorted`` on the decoded strings).
_READ_RECORD = (
    "SELECT r.sysno, r.data, r.deleted, r.title_key, r.created_at, r.updated_at, "
    "(SELECT json_group_array(o.number) FROM oclc o WHERE o.sysno=r.sysno) "
    "FROM records r WHERE r.sysno=?"
)

_SQLITE_OK, _SQLITE_ROW, _SQLITE_DONE = 0, 100, 101
#: SQLITE_BUSY, SQLITE_LOCKED: read through the module this time (it waits), directly again next
_TRY_AGAIN = {5, 6}
_SQLITE_OPEN_READONLY, _SQLITE_OPEN_URI = 0x1, 0x40


def _module_library() -> str | None:
    """The path of the shared SQLite library the ``sqlite3`` module is linked with (None when it
    is linked in statically, or the mappings cannot be read)."""
    import _sqlite3  # noqa: F401  (loaded: its library is mapped)

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                path = line.rstrip("\n").split(None, 5)[-1]
                if "/libsqlite3" in path and Path(path).is_file():
                    return path
    except OSError:
        pass
    return None


def _record(row: tuple[Any, ...]) -> StoredRecord:
    """The :class:`StoredRecord` of a row of :data:`_READ_RECORD`."""
    raw = row[6]
    if raw is None or len(raw) <= 2:  # "[]"
        numbers = []
    else:  # (bytes from the C library: decoded first, json.loads would guess their encoding)
        numbers = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    if len(numbers) > 1:
        numbers.sort()
    return StoredRecord(row[0], row[1], bool(row[2]), row[3], row[4], row[5], numbers)


class _Library:
    """libsqlite3's C API through ``ctypes.PyDLL`` (each call keeps the interpreter lock)."""

    def __init__(self, path: str) -> None:
        lib = ctypes.PyDLL(path)
        vp, cp, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        for name, res, args in (
            ("sqlite3_open_v2", ci, [cp, ctypes.POINTER(vp), ci, cp]),
            ("sqlite3_close_v2", ci, [vp]),
            ("sqlite3_prepare_v2", ci, [vp, cp, ci, ctypes.POINTER(vp), vp]),
            ("sqlite3_finalize", ci, [vp]),
            ("sqlite3_reset", ci, [vp]),
            ("sqlite3_bind_int64", ci, [vp, ci, ctypes.c_int64]),
            ("sqlite3_step", ci, [vp]),
            ("sqlite3_column_int64", ctypes.c_int64, [vp, ci]),
            ("sqlite3_column_blob", vp, [vp, ci]),
            ("sqlite3_column_text", cp, [vp, ci]),
            ("sqlite3_column_bytes", ci, [vp, ci]),
        ):
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        self.lib = lib
        #: sqlite3_column_text as an address (the text read whole, NULs and all)
        self.text_at = lib["sqlite3_column_text"]
        self.text_at.restype, self.text_at.argtypes = vp, [vp, ci]


_library: list[_Library | None] = []
_library_lock = threading.Lock()


def _load() -> _Library | None:
    with _library_lock:
        if not _library:
            try:
                path = _module_library()
                _library.append(_Library(path) if path else None)
            except (OSError, AttributeError):
                _library.append(None)
        return _library[0]


def _close(lib: _Library, db: int, stmt: int) -> None:
    lib.lib.sqlite3_finalize(stmt)
    lib.lib.sqlite3_close_v2(db)


class _Direct:
    """A read-only connection of the catalog's file with the one prepared statement, called
    through :class:`_Library`. One per file per process (:func:`_shared`), used by every
    read-only store of that file in turn (``lock``: the reads run under the GIL, which a
    forced switch could still hand over between two calls of one read); closed when no store
    uses it any longer and it is not the last one used."""

    def __init__(self, lib: _Library, path: str) -> None:
        self.lib = lib
        self.lock = threading.Lock()
        c = lib.lib
        uri = (Path(path).absolute().as_uri() + "?mode=ro").encode("utf-8")
        db, stmt = ctypes.c_void_p(), ctypes.c_void_p()
        rc = c.sqlite3_open_v2(
            uri, ctypes.byref(db), _SQLITE_OPEN_READONLY | _SQLITE_OPEN_URI, None
        )
        if rc != _SQLITE_OK:
            c.sqlite3_close_v2(db)
            raise OSError(f"sqlite3_open_v2: {rc}")
        sql = _READ_RECORD.encode("ascii")
        rc = c.sqlite3_prepare_v2(db, sql, len(sql), ctypes.byref(stmt), None)
        if rc != _SQLITE_OK:
            c.sqlite3_close_v2(db)
            raise OSError(f"sqlite3_prepare_v2: {rc}")
        self.db, self.stmt = int(db.value or 0), int(stmt.value or 0)
        self.key: tuple[int, int] = (0, 0)
        weakref.finalize(self, _close, lib, self.db, self.stmt)

    def read(self, sysno: int) -> StoredRecord | int | None:
        """The record (None: no such record), or SQLite's result code when it did not answer
        (busy, or an error): the caller reads it the other way."""
        with self.lock:
            return self._read(sysno)

    def _read(self, sysno: int) -> StoredRecord | int | None:
        c, stmt = self.lib.lib, self.stmt
        try:
            rc = c.sqlite3_bind_int64(stmt, 1, sysno)
            if rc != _SQLITE_OK:
                return int(rc)
            rc = c.sqlite3_step(stmt)
            if rc == _SQLITE_DONE:
                return None
            if rc != _SQLITE_ROW:
                return int(rc)
            size = c.sqlite3_column_bytes(stmt, 1)
            data = ctypes.string_at(c.sqlite3_column_blob(stmt, 1), size) if size else b""
            # text read up to its NUL: the times and the JSON array never hold one; a title
            # key that did is read whole
            text = c.sqlite3_column_text
            title_key = text(stmt, 3)
            if title_key is not None and len(title_key) != c.sqlite3_column_bytes(stmt, 3):
                whole = self.lib.text_at(stmt, 3)
                title_key = ctypes.string_at(whole, c.sqlite3_column_bytes(stmt, 3))
            return _record(
                (
                    sysno,
                    data,
                    c.sqlite3_column_int64(stmt, 2),
                    None if title_key is None else title_key.decode("utf-8", "replace"),
                    (text(stmt, 4) or b"").decode("utf-8", "replace"),
                    (text(stmt, 5) or b"").decode("utf-8", "replace"),
                    text(stmt, 6),
                )
            )
        finally:
            c.sqlite3_reset(stmt)


#: The :class:`_Direct` of each catalog file (device, inode) some store uses, and the last one
#: made (kept: a server whose sessions come and go one at a time does not open it each time).
_directs: weakref.WeakValueDictionary[tuple[int, int], _Direct] = weakref.WeakValueDictionary()
_last_direct: list[_Direct] = []
_directs_lock = threading.Lock()


def _shared(lib: _Library, path: str) -> _Direct | None:
    """The connection of the file at ``path`` (the one already open for that file, else a new
    one); None if SQLite cannot open it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (st.st_dev, st.st_ino)
    with _directs_lock:
        direct = _directs.get(key)
        if direct is None:
            try:
                direct = _Direct(lib, path)
            except OSError:
                return None
            direct.key = key
            _directs[key] = direct
            _last_direct[:] = [direct]
        return direct


def _forget(direct: _Direct) -> None:
    """``direct`` failed: no new store gets it (the stores that have it find out themselves)."""
    with _directs_lock:
        if _directs.get(direct.key) is direct:
            del _directs[direct.key]
        if _last_direct and _last_direct[0] is direct:
            _last_direct.clear()


class SQLiteReads:
    """Methods of :class:`.sqlite.SQLiteStore` (which provides ``db``, ``path``, ``readonly``)."""

    db: sqlite3.Connection
    path: str
    readonly: bool
    #: the connection of :class:`_Direct` (None: not made yet; False: not to be used)
    _direct: _Direct | bool | None = None

    def read_record(self, sysno: int) -> StoredRecord | None:
        """As :meth:`get` (the record, deleted or not, with its OCLC numbers; None if there is
        none), in one statement; on a read-only catalog without letting go of Python's
        interpreter lock (the module's docstring says when)."""
        direct = self._direct
        if direct is None:
            direct = self._direct = self._open_direct()
        if isinstance(direct, _Direct):
            rec = direct.read(sysno)
            if not isinstance(rec, int):
                return rec
            if rec & 0xFF not in _TRY_AGAIN:  # not a lock of the moment: not this way again
                self._direct = False
                _forget(direct)
        try:
            row = self.db.execute(_READ_RECORD, (sysno,)).fetchone()
        except sqlite3.Error as e:
            raise translate(self.path, e) from None
        return None if row is None else _record(row)

    def native_reader(self) -> NativeReader | None:
        """:data:`_READ_RECORD` on a read-only connection of its own, for native code (one
        caller at a time); None where :meth:`read_record` would not read directly either (a
        writer's or an immutable catalog, no shared SQLite library) or the file cannot be
        opened."""
        if not self.readonly or not self._reads_wal():
            return None
        lib = _load()
        if lib is None:
            return None
        try:
            direct = _Direct(lib, self.path)
        except OSError:
            return None
        names = (
            "sqlite3_bind_int64",
            "sqlite3_step",
            "sqlite3_reset",
            "sqlite3_column_blob",
            "sqlite3_column_bytes",
            "sqlite3_column_int64",
        )
        functions = {
            n: int(ctypes.cast(getattr(lib.lib, n), ctypes.c_void_p).value or 0) for n in names
        }
        return NativeReader(functions, direct.stmt, direct)

    def _open_direct(self) -> _Direct | bool:
        if not self.readonly or not self._reads_wal():
            return False
        lib = _load()
        if lib is None:
            return False
        return _shared(lib, self.path) or False

    def _reads_wal(self) -> bool:
        """Whether the module's connection reads the file as a WAL catalog (not as immutable,
        which a read-only folder needs: the second connection could not open it)."""
        try:
            row = self.db.execute("PRAGMA journal_mode").fetchone()
        except sqlite3.Error:
            return False
        return bool(row) and str(row[0]).lower() == "wal"
