"""The catalog store: one small interface (:class:`CatalogStore`) and its SQLite implementation.

Records are kept as UTF-8 ISO 2709, keyed by an integer system number (shown 9-digit zero-padded),
with an index of the OCLC numbers each record carries and one on a normalised title/author key, a
soft-delete flag, and a load log. Only this module speaks SQL: a server database could replace
SQLite by implementing the same methods.

Transactions are explicit: the loader calls :meth:`CatalogStore.begin` and
:meth:`CatalogStore.commit` around a group of records, the log rows in the same transaction as
the records they describe, so a crash loses at most one uncommitted group and the log says which
records are in.
"""

from __future__ import annotations

import os
import sqlite3
import time as _time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

SCHEMA_VERSION = 1

#: Fates of a load-log row that mean "this input record is in the catalog".
LOADED_FATES = ("new", "possible_duplicate", "overlaid")


def format_sysno(n: int) -> str:
    return f"{n:09d}"


def parse_sysno(text: str) -> int:
    """``"000000123"`` or ``"123"`` → 123; ValueError otherwise."""
    t = text.strip()
    if not t.isdigit() or len(t) > 9 or int(t) == 0:
        raise ValueError(f"{text!r} is not a system number (1 to 9 digits)")
    return int(t)


_second: list[tuple[int, str]] = [(-1, "")]  # the last whole second formatted, and its text


def now() -> str:
    """UTC time as ISO 8601 with microseconds (sorts as text; ``--since 2026-11-23`` compares
    with it). The date and time are formatted once a second: the loader asks for every record."""
    t = _time.time()
    sec = int(t)
    last, text = _second[0]
    if sec != last:
        text = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(sec))
        _second[0] = (sec, text)
    return f"{text}.{int((t - sec) * 1_000_000):06d}Z"


@dataclass
class StoredRecord:
    sysno: int
    data: bytes  # UTF-8 ISO 2709
    deleted: bool
    title_key: str | None
    created_at: str
    updated_at: str
    oclc_numbers: list[str]


@dataclass
class LogRow:
    batch_id: int
    input_file: str
    input_hash: str
    record_index: int
    fate: str
    sysno: int | None
    message: str
    time: str


class CatalogStore(Protocol):
    """What the flows need from a catalog database."""

    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...
    def get(self, sysno: int) -> StoredRecord | None: ...
    def find_by_oclc(self, numbers: Iterable[str]) -> tuple[int, str] | None: ...
    def find_by_title_key(self, key: str) -> int | None: ...
    def insert(self, data: bytes, oclc_numbers: list[str], title_key: str | None) -> int: ...
    def replace(
        self, sysno: int, data: bytes, oclc_numbers: list[str], title_key: str | None
    ) -> None: ...
    def mark_deleted(self, sysno: int, data: bytes) -> None: ...
    def new_batch(self, description: str) -> int: ...
    def log(self, row: LogRow) -> None: ...
    def loaded_indexes(self, input_hash: str) -> dict[int, tuple[int | None, int]]: ...
    def sysnos(self, since: str | None = None) -> Iterator[int]: ...
    def iter_records(self, since: str | None = None) -> Iterator[StoredRecord]: ...
    def log_rows(self) -> list[LogRow]: ...
    def count(self, *, include_deleted: bool = True) -> int: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    sysno INTEGER PRIMARY KEY,
    data BLOB NOT NULL,
    title_key TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_title_key ON records (title_key);
CREATE INDEX IF NOT EXISTS records_updated_at ON records (updated_at);
CREATE TABLE IF NOT EXISTS oclc (
    number TEXT NOT NULL,
    sysno INTEGER NOT NULL REFERENCES records (sysno),
    PRIMARY KEY (number, sysno)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS oclc_sysno ON oclc (sysno);
CREATE TABLE IF NOT EXISTS batches (
    batch_id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    description TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS load_log (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches (batch_id),
    input_file TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    record_index INTEGER NOT NULL,
    fate TEXT NOT NULL,
    sysno INTEGER REFERENCES records (sysno),
    message TEXT NOT NULL,
    time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS load_log_input ON load_log (input_hash, record_index);
"""


class SchemaError(RuntimeError):
    """The database was made by an incompatible version of marc8fast."""


class SQLiteStore:
    """:class:`CatalogStore` on one SQLite file (WAL, ``synchronous=NORMAL``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA busy_timeout=10000")
        self._in_tx = False
        self._pending_log: list[tuple[object, ...]] = []
        self._init_schema()

    def _init_schema(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            have = self.db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name='meta'"
            ).fetchone()
            version = None
            if have:
                row = self.db.execute(
                    "SELECT value FROM meta WHERE key='schema_version'"
                ).fetchone()
                version = int(row[0]) if row else None
            if version is None:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        self.db.execute(stmt)
                self.db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif version != SCHEMA_VERSION:
                raise SchemaError(
                    f"{self.path}: catalog schema version {version}, this marc8fast knows "
                    f"{SCHEMA_VERSION}"
                )
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    # -- transactions ----------------------------------------------------------------------------

    def begin(self) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._flush_log()
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    def rollback(self) -> None:
        self._pending_log.clear()
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def close(self) -> None:
        self.rollback()
        self.db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- records ---------------------------------------------------------------------------------

    def get(self, sysno: int) -> StoredRecord | None:
        row = self.db.execute(
            "SELECT sysno, data, deleted, title_key, created_at, updated_at FROM records "
            "WHERE sysno=?",
            (sysno,),
        ).fetchone()
        if row is None:
            return None
        numbers = [
            r[0]
            for r in self.db.execute("SELECT number FROM oclc WHERE sysno=? ORDER BY 1", (sysno,))
        ]
        return StoredRecord(row[0], row[1], bool(row[2]), row[3], row[4], row[5], numbers)

    def find_by_oclc(self, numbers: Iterable[str]) -> tuple[int, str] | None:
        """The first live record carrying one of ``numbers``: (sysno, number)."""
        for n in numbers:
            row = self.db.execute(
                "SELECT o.sysno FROM oclc o JOIN records r ON r.sysno=o.sysno "
                "WHERE o.number=? AND r.deleted=0 ORDER BY o.sysno LIMIT 1",
                (n,),
            ).fetchone()
            if row:
                return row[0], n
        return None

    def find_by_title_key(self, key: str) -> int | None:
        row = self.db.execute(
            "SELECT sysno FROM records WHERE title_key=? AND deleted=0 ORDER BY sysno LIMIT 1",
            (key,),
        ).fetchone()
        return row[0] if row else None

    def insert(self, data: bytes, oclc_numbers: list[str], title_key: str | None) -> int:
        t = now()
        cur = self.db.execute(
            "INSERT INTO records (data, title_key, deleted, created_at, updated_at) "
            "VALUES (?, ?, 0, ?, ?)",
            (data, title_key, t, t),
        )
        sysno = cur.lastrowid
        assert sysno is not None
        if sysno > 999_999_999:
            raise OverflowError("system numbers are exhausted (9 digits)")
        self.db.executemany(
            "INSERT OR IGNORE INTO oclc VALUES (?, ?)", [(n, sysno) for n in oclc_numbers]
        )
        return sysno

    def replace(
        self, sysno: int, data: bytes, oclc_numbers: list[str], title_key: str | None
    ) -> None:
        self.db.execute(
            "UPDATE records SET data=?, title_key=?, updated_at=? WHERE sysno=?",
            (data, title_key, now(), sysno),
        )
        self.db.execute("DELETE FROM oclc WHERE sysno=?", (sysno,))
        self.db.executemany(
            "INSERT OR IGNORE INTO oclc VALUES (?, ?)", [(n, sysno) for n in oclc_numbers]
        )

    def mark_deleted(self, sysno: int, data: bytes) -> None:
        self.db.execute(
            "UPDATE records SET data=?, deleted=1, updated_at=? WHERE sysno=?",
            (data, now(), sysno),
        )

    def sysnos(self, since: str | None = None) -> Iterator[int]:
        if since is None:
            cur = self.db.execute("SELECT sysno FROM records ORDER BY sysno")
        else:
            cur = self.db.execute(
                "SELECT sysno FROM records WHERE updated_at >= ? ORDER BY sysno", (since,)
            )
        for (s,) in cur:
            yield s

    def iter_records(self, since: str | None = None) -> Iterator[StoredRecord]:
        """Every record (OCLC numbers left empty), in system-number order, streamed."""
        sql = "SELECT sysno, data, deleted, title_key, created_at, updated_at FROM records"
        params: tuple[str, ...] = ()
        if since is not None:
            sql += " WHERE updated_at >= ?"
            params = (since,)
        cur = self.db.execute(sql + " ORDER BY sysno", params)
        while rows := cur.fetchmany(1000):
            for r in rows:
                yield StoredRecord(r[0], r[1], bool(r[2]), r[3], r[4], r[5], [])

    def count(self, *, include_deleted: bool = True) -> int:
        sql = "SELECT count(*) FROM records" + ("" if include_deleted else " WHERE deleted=0")
        return int(self.db.execute(sql).fetchone()[0])

    # -- the load log ----------------------------------------------------------------------------

    def new_batch(self, description: str) -> int:
        cur = self.db.execute(
            "INSERT INTO batches (started_at, description) VALUES (?, ?)", (now(), description)
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def log(self, row: LogRow) -> None:
        """Log rows written inside a transaction go in with one statement when it commits (the
        same transaction as the records they describe)."""
        self._pending_log.append(
            (
                row.batch_id,
                row.input_file,
                row.input_hash,
                row.record_index,
                row.fate,
                row.sysno,
                row.message,
                row.time,
            )
        )
        if not self.db.in_transaction:
            self._flush_log()

    def _flush_log(self) -> None:
        if self._pending_log:
            self.db.executemany(
                "INSERT INTO load_log (batch_id, input_file, input_hash, record_index, fate, "
                "sysno, message, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                self._pending_log,
            )
            self._pending_log.clear()

    def loaded_indexes(self, input_hash: str) -> dict[int, tuple[int | None, int]]:
        """Input records of the file with this hash already in the catalog:
        ``{record_index: (sysno, batch_id)}``."""
        self._flush_log()
        marks = ",".join("?" * len(LOADED_FATES))
        out: dict[int, tuple[int | None, int]] = {}
        for idx, sysno, batch in self.db.execute(
            f"SELECT record_index, sysno, batch_id FROM load_log WHERE input_hash=? "
            f"AND fate IN ({marks}) ORDER BY id",
            (input_hash, *LOADED_FATES),
        ):
            out.setdefault(idx, (sysno, batch))
        return out

    def log_rows(self) -> list[LogRow]:
        self._flush_log()
        return [
            LogRow(*r)
            for r in self.db.execute(
                "SELECT batch_id, input_file, input_hash, record_index, fate, sysno, message, "
                "time FROM load_log ORDER BY id"
            )
        ]


def open_store(path: str | os.PathLike[str]) -> SQLiteStore:
    """Open (creating if needed) the catalog at ``path``."""
    return SQLiteStore(path)
