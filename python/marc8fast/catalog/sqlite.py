"""The SQLite backend of the catalog (:class:`SQLiteStore`): one file, the embedded default.

Records are kept as UTF-8 ISO 2709, keyed by an integer system number (shown 9-digit zero-padded),
with an index of the OCLC numbers each record carries and one on a normalised title/author key, a
soft-delete flag, a load log, the history of every record, the services' accounts and receipts and
an FTS5 search index. The API is :class:`marc8fast.catalog.api.Catalog`.

Transactions: ``with store.transaction():`` (a ``BEGIN IMMEDIATE`` transaction: one writer at a
time; a writer that finds the catalog locked waits, up to ``wait`` seconds, then raises
:class:`LockedError`). The load log admits one "loaded" row per input record (a UNIQUE index), so
two processes loading one file cannot both store a record. Readers (``readonly=True``) open the
file read-only and read a WAL snapshot: they never wait for a writer and never create a catalog.

Schema versions are numbered migrations (:data:`MIGRATIONS`), applied in order by the first
writer that opens an older catalog; the version is ``PRAGMA user_version`` (catalogs made before
it carry it in the ``meta`` table, which is still written for them).
"""

from __future__ import annotations

import functools
import inspect
import os
import sqlite3
import time as _time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .api import (
    BOOLEAN_COLUMNS,
    DEFAULT_WAIT,
    LOADED_FATES,
    SCHEMA_VERSION,
    TABLES,
    Account,
    Batch,
    CatalogError,
    Event,
    LockedError,
    LogRow,
    NoCatalogError,
    ReadOnlyError,
    Receipt,
    SchemaError,
    StoredRecord,
    batch_user,
    default_source,
    now,
    shown_status,
    this_host,
)
from .sqlite_bulk import SQLiteBulkWrites
from .sqlite_reads import SQLiteReads
from .sqlite_schema import (
    _LOADED_ONCE,
    _create_catalog,
    _error_code,
    _index,
    _is_busy,
    _is_readonly,
    describe_error,
    migrate,
    translate,
)
from .sqlite_versions import SQLiteVersions

_F = TypeVar("_F", bound=Callable[..., Any])


def _wrap(fn: _F) -> _F:
    """A public method whose SQLite errors reach the caller as :class:`CatalogError`."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(self: SQLiteStore, *a: Any, **k: Any) -> Any:
            try:
                yield from fn(self, *a, **k)
            except sqlite3.Error as e:
                raise translate(self.path, e) from None

        return gen  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(self: SQLiteStore, *a: Any, **k: Any) -> Any:
        try:
            return fn(self, *a, **k)
        except sqlite3.Error as e:
            raise translate(self.path, e) from None

    return call  # type: ignore[return-value]


def _wrapped(cls: type[SQLiteStore]) -> type[SQLiteStore]:
    for name, fn in list(vars(cls).items()):
        if callable(fn) and not name.startswith("_") and name not in ("transaction",):
            setattr(cls, name, _wrap(fn))
    return cls


@_wrapped
class SQLiteStore(SQLiteReads, SQLiteVersions, SQLiteBulkWrites):
    """:class:`Catalog` on one SQLite file (WAL, ``synchronous=NORMAL``).

    ``create``: make the catalog if there is none at ``path`` (else :class:`NoCatalogError`).
    ``readonly``: open it read-only (never creates, never waits for a writer: reads see the last
    committed state). ``wait``: seconds a write waits for another process's write transaction
    before :class:`LockedError`; ``on_wait`` is called once, with a message, when a write has to
    wait more than a second.
    """

    remote = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        readonly: bool = False,
        wait: float = DEFAULT_WAIT,
        on_wait: Callable[[str], object] | None = None,
        durable: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self.target = self.path
        self.readonly = readonly
        self.source = default_source()
        self.batch_id: int | None = None
        self.wait = wait
        self.on_wait = on_wait
        self._waited = False
        self._pending_log: list[tuple[object, ...]] = []
        self._dry = False  # inside dry_run(): transactions are savepoints of one rolled back
        self._in_sp = False
        self._bulk = False  # tuned for many records (insert_many)
        if os.path.isdir(self.path):
            raise CatalogError(f"{self.path}: is a directory, not a catalog")
        if (readonly or not create) and not os.path.exists(self.path):
            raise NoCatalogError(f"no catalog at {self.path}")
        if create and not readonly and not os.path.exists(self.path):
            if os.path.lexists(self.path):
                raise CatalogError(f"{self.path}: a symbolic link to nothing; no catalog made")
            _create_catalog(self.path)
        # From here on the file exists: it is opened as a catalog, never made into one (an
        # existing file that is not a catalog, even an empty one, is left as it was).
        self._asked_create = create
        create = False
        if readonly:
            self.db = self._connect_readonly(immutable=False)
        else:
            self.db = sqlite3.connect(self.path, isolation_level=None)
        try:
            # Writers poll in steps of up to a second (see _retry); readers in WAL mode do not
            # wait for writers at all, only (briefly) for a checkpoint or a recovery.
            if not readonly:
                self.db.execute(f"PRAGMA busy_timeout={int(min(wait, 1.0) * 1000)}")
            if readonly:
                try:
                    self._check_schema()
                except sqlite3.OperationalError as e:
                    # A folder that cannot be written: SQLite cannot make the -shm file a WAL
                    # reader needs. With no -wal file there, no writer can change the catalog
                    # either (it would have to make one), so it is read as immutable.
                    if not (_is_readonly(e) or _error_code(e) == 14) or os.path.exists(
                        self.path + "-wal"
                    ):
                        raise
                    self.db.close()
                    self.db = self._connect_readonly(immutable=True)
                    self._check_schema()
            else:
                # Look before changing anything: a foreign database or an empty file that is not
                # to become a catalog is left byte for byte as it was.
                if self._version() is None and not create:
                    if self._asked_create:
                        raise SchemaError(
                            f"{self.path}: not a marc8fast catalog (an empty file), left as it "
                            "was: a catalog is made only where there is no file"
                        )
                    raise NoCatalogError(f"no catalog at {self.path} (an empty file)")
                self._retry(lambda: self.db.execute("PRAGMA journal_mode=WAL"))
                # durable: every commit on disk before it returns (the receiver acknowledges
                # a record only then); else a commit may be lost to a power cut, never corrupted.
                self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self.db.execute("PRAGMA foreign_keys=ON")
                self._init_schema(create)
        except sqlite3.DatabaseError as e:
            self.db.close()
            error = ReadOnlyError if _is_readonly(e) else CatalogError
            raise error(describe_error(self.path, e)) from None
        except BaseException:
            self.db.close()
            raise

    def _connect_readonly(self, *, immutable: bool) -> sqlite3.Connection:
        uri = (
            Path(self.path).absolute().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
        )
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
        db.execute("PRAGMA busy_timeout=10000")
        return db

    def _version(self) -> int | None:
        """The catalog's schema version (None: an empty database, to become a catalog)."""
        have = self.db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if not have:
            others = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if others:
                raise SchemaError(f"{self.path}: an SQLite database, but not a marc8fast catalog")
            return None
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version == 0:  # made before the version moved to user_version
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                raise SchemaError(f"{self.path}: not a marc8fast catalog (no schema version)")
            version = int(row[0])
        if version < SCHEMA_VERSION and not self.readonly:
            return version
        if version != SCHEMA_VERSION:
            hint = (
                " (a command that writes to it, such as load, upgrades it)"
                if version < SCHEMA_VERSION
                else ""
            )
            raise SchemaError(
                f"{self.path}: catalog schema version {version}, this marc8fast knows "
                f"{SCHEMA_VERSION}{hint}"
            )
        return version

    def _check_schema(self) -> None:
        if self._version() is None:
            raise NoCatalogError(f"no catalog at {self.path} (an empty file)")

    def _init_schema(self, create: bool) -> None:
        self.begin()
        try:
            version = self._version()
            if version is None and not create:
                raise NoCatalogError(f"no catalog at {self.path} (an empty file)")
            migrate(self.db, version or 0)
            try:
                self.db.execute("SAVEPOINT once")
                self.db.execute(_LOADED_ONCE)
                self.db.execute("RELEASE once")
            except sqlite3.IntegrityError:
                # A catalog made before the index, where two concurrent loads already stored an
                # input record twice: keep it usable. The loader's check inside its write
                # transaction still prevents any new double.
                self.db.execute("ROLLBACK TO once")
                self.db.execute("RELEASE once")
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def _index(self, sysno: int, data: bytes, *, new: bool = False) -> None:
        _index(self.db, sysno, data, new=new)

    # -- transactions ----------------------------------------------------------------------------

    def _retry(self, step: Callable[[], object]) -> None:
        """Run a statement that takes the write lock, waiting for other writers up to
        ``self.wait`` seconds (the busy timeout polls within each one-second step)."""
        start = _time.monotonic()
        while True:
            try:
                step()
                return
            except sqlite3.OperationalError as e:
                if _is_readonly(e):
                    raise ReadOnlyError(f"{self.path}: the catalog is read-only ({e})") from None
                if not _is_busy(e):
                    raise
                waited = _time.monotonic() - start
                if waited >= self.wait:
                    raise LockedError(
                        f"{self.path}: another process kept the catalog locked for "
                        f"{waited:.0f} s; gave up (--wait SECONDS waits longer)"
                    ) from None
                if not self._waited and self.on_wait is not None:
                    self.on_wait(
                        f"{self.path}: another process is writing to the catalog; waiting "
                        f"(up to {self.wait:g} s)"
                    )
                self._waited = True

    def begin(self) -> None:
        if not self.db.in_transaction:
            if self.readonly:
                raise ReadOnlyError(f"{self.path}: opened read-only")
            self._retry(lambda: self.db.execute("BEGIN IMMEDIATE"))

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

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction: committed when the block ends, rolled back if it raises. Waits
        for another process's write transaction up to ``wait`` seconds (then
        :class:`LockedError`). Transactions do not nest. Inside :meth:`dry_run` a transaction
        is a savepoint of the dry run's one transaction."""
        if self._dry:
            with self._savepoint():
                yield
            return
        if self.db.in_transaction:
            raise CatalogError(f"{self.path}: a transaction is already open")
        try:
            self.begin()
            try:
                yield
                self.commit()
            except BaseException:
                self.rollback()
                raise
        except sqlite3.Error as e:
            raise translate(self.path, e) from None

    @contextmanager
    def interruptible(self, stop: Callable[[], bool]) -> Iterator[None]:
        """Queries inside the block stop with :class:`QueryInterrupted` once ``stop()`` is true
        (SQLite asks every 10,000 steps)."""
        self.db.set_progress_handler(lambda: int(stop()), 10000)
        try:
            yield
        finally:
            self.db.set_progress_handler(None, 0)

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

    def sysnos_by_oclc(self, number: str) -> set[int]:
        """Every record (live or deleted) the duplicate check knows by OCLC ``number``: also
        those whose 035 carrying it the 040 rule deleted (search's ``oclc`` index adds them)."""
        return {r[0] for r in self.db.execute("SELECT sysno FROM oclc WHERE number=?", (number,))}

    def find_by_oclc(
        self, numbers: Iterable[str], *, exclude: int | None = None
    ) -> tuple[int, str] | None:
        """The first live record (other than ``exclude``) carrying one of ``numbers``: (sysno,
        number)."""
        for n in numbers:
            row = self.db.execute(
                "SELECT o.sysno FROM oclc o JOIN records r ON r.sysno=o.sysno "
                "WHERE o.number=? AND r.deleted=0 AND o.sysno IS NOT ? ORDER BY o.sysno LIMIT 1",
                (n, exclude),
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

    def _event(self, sysno: int, action: str, source: str | None, detail: str) -> None:
        """A line of the record's history, in the transaction that changes the record."""
        self.db.execute(
            "INSERT INTO events (sysno, time, action, batch_id, source, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (sysno, now(), action, self.batch_id, source or self.source, detail),
        )

    def insert(
        self,
        data: bytes,
        oclc_numbers: list[str],
        title_key: str | None,
        *,
        source: str | None = None,
        detail: str = "",
        keys: list[tuple[str, str]] | None = None,
    ) -> int:
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
        self._index(sysno, data, new=True)
        self._put_keys(sysno, data, keys)
        self._event(sysno, "created", source, detail)
        return sysno

    def replace(
        self,
        sysno: int,
        data: bytes,
        oclc_numbers: list[str],
        title_key: str | None,
        *,
        source: str | None = None,
        detail: str = "",
        keys: list[tuple[str, str]] | None = None,
    ) -> None:
        self._save_version(sysno, "overlaid")
        self.db.execute(
            "UPDATE records SET data=?, title_key=?, updated_at=? WHERE sysno=?",
            (data, title_key, now(), sysno),
        )
        self.db.execute("DELETE FROM oclc WHERE sysno=?", (sysno,))
        self.db.executemany(
            "INSERT OR IGNORE INTO oclc VALUES (?, ?)", [(n, sysno) for n in oclc_numbers]
        )
        self._index(sysno, data)
        self._replace_keys(sysno, data, keys)
        self._event(sysno, "overlaid", source, detail)

    def mark_deleted(
        self, sysno: int, data: bytes, *, source: str | None = None, detail: str = ""
    ) -> None:
        self._set_deleted(sysno, data, True, source, detail)

    def undelete(
        self, sysno: int, data: bytes, *, source: str | None = None, detail: str = ""
    ) -> None:
        """Clear the deleted flag, with the record's data (its ``STA DELETED`` removed)."""
        self._set_deleted(sysno, data, False, source, detail)

    def _set_deleted(
        self, sysno: int, data: bytes, deleted: bool, source: str | None, detail: str
    ) -> None:
        # The search index is left as it is: STA is not indexed, and searches leave deleted
        # records out by their flag.
        self._save_version(sysno, "deleted" if deleted else "undeleted")
        self.db.execute(
            "UPDATE records SET data=?, deleted=?, updated_at=? WHERE sysno=?",
            (data, int(deleted), now(), sysno),
        )
        self._event(sysno, "deleted" if deleted else "undeleted", source, detail)

    # -- history ---------------------------------------------------------------------------------

    def events(self, sysno: int) -> list[Event]:
        """The record's history, oldest first."""
        return [
            Event(*r)
            for r in self.db.execute(
                "SELECT sysno, time, action, batch_id, source, detail FROM events WHERE sysno=? "
                "ORDER BY id",
                (sysno,),
            )
        ]

    def batches(self) -> list[Batch]:
        """Every batch, oldest first, with the fates of its logged input records."""
        fates: dict[int, dict[str, int]] = {}
        for batch, fate, n in self.db.execute(
            "SELECT batch_id, fate, count(*) FROM load_log GROUP BY batch_id, fate"
        ):
            fates.setdefault(batch, {})[fate] = n
        return [
            Batch(b, t, d, fates.get(b, {}), f, u, shown_status(st, h, p), h, p)
            for b, t, d, f, u, st, p, h in self.db.execute(
                "SELECT batch_id, started_at, description, finished_at, user_name, status, pid, "
                "host FROM batches ORDER BY batch_id"
            )
        ]

    def log_for(self, sysno: int) -> list[LogRow]:
        """The load-log rows that name the record (what it became, overlaid, or duplicated)."""
        self._flush_log()
        return [
            LogRow(*r)
            for r in self.db.execute(
                "SELECT batch_id, input_file, input_hash, record_index, fate, sysno, message, "
                "time FROM load_log WHERE sysno=? ORDER BY id",
                (sysno,),
            )
        ]

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

    def new_batch(self, description: str, *, status: str | None = None) -> int:
        """A new batch; ``status`` ``running`` for a load (which ends it with
        :meth:`finish_batch`), None for a receiver's session."""
        cur = self.db.execute(
            "INSERT INTO batches (started_at, description, user_name, status, pid, host) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (now(), description, batch_user(), status, os.getpid(), this_host()),
        )
        assert cur.lastrowid is not None
        self.batch_id = cur.lastrowid  # the batch of the events written from now on
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

    def loaded(self, input_hash: str, record_index: int) -> tuple[int | None, int] | None:
        """(sysno, batch_id) if this input record is already in the catalog. Asked inside the
        write transaction that would insert it, so no other process can insert it between."""
        self._flush_log()
        marks = ",".join("?" * len(LOADED_FATES))
        row = self.db.execute(
            f"SELECT sysno, batch_id FROM load_log WHERE input_hash=? AND record_index=? "
            f"AND fate IN ({marks}) ORDER BY id LIMIT 1",
            (input_hash, record_index, *LOADED_FATES),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def prepare(self, inputs: list[tuple[str, int]], numbers: list[str], keys: list[str]) -> None:
        """Nothing to prepare on SQLite: each question is a lookup in the same process."""

    def log_rows(self) -> list[LogRow]:
        self._flush_log()
        return [
            LogRow(*r)
            for r in self.db.execute(
                "SELECT batch_id, input_file, input_hash, record_index, fate, sysno, message, "
                "time FROM load_log ORDER BY id"
            )
        ]

    def live(self, sysnos: Iterable[int]) -> set[int]:
        """Those of ``sysnos`` that are live (not deleted) records."""
        found: set[int] = set()
        ids = list(sysnos)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            found.update(
                r[0]
                for r in self.db.execute(
                    f"SELECT sysno FROM records WHERE deleted=0 AND sysno IN ({marks})", part
                )
            )
        return found

    def log_count(self, input_hash: str) -> int:
        """How many load-log rows the input with this hash has (the receiver numbers a record
        sent again after them)."""
        self._flush_log()
        row = self.db.execute("SELECT count(*) FROM load_log WHERE input_hash=?", (input_hash,))
        return int(row.fetchone()[0])

    def log_counts(self, input_hashes: Iterable[str]) -> dict[str, int]:
        """:meth:`log_count` of each of ``input_hashes`` in one statement (the receiver asks
        for a whole group of requests at once): every hash given is a key, 0 when it has none."""
        hashes = list(dict.fromkeys(input_hashes))
        out = dict.fromkeys(hashes, 0)
        if not hashes:
            return out
        self._flush_log()
        for i in range(0, len(hashes), 500):  # well under SQLite's bound on parameters
            part = hashes[i : i + 500]
            for h, n in self.db.execute(
                "SELECT input_hash, count(*) FROM load_log WHERE input_hash IN "
                f"({','.join('?' * len(part))}) GROUP BY input_hash",
                part,
            ):
                out[h] = int(n)
        return out

    # -- accounts --------------------------------------------------------------------------------

    def add_account(self, name: str, password_hash: str) -> bool:
        """Add an enabled account (in the open transaction); False if the name, in any case,
        is taken."""
        if self.db.execute(
            "SELECT 1 FROM accounts WHERE name=? COLLATE NOCASE", (name,)
        ).fetchone():
            return False
        t = now()
        self.db.execute(
            "INSERT INTO accounts (name, password_hash, disabled, created_at, updated_at) "
            "VALUES (?, ?, 0, ?, ?)",
            (name, password_hash, t, t),
        )
        return True

    def update_account(
        self, name: str, *, password_hash: str | None = None, disabled: bool | None = None
    ) -> bool:
        """Change an account's password hash or disabled flag; False if there is none."""
        cur = self.db.execute(
            "UPDATE accounts SET password_hash=coalesce(?, password_hash), "
            "disabled=coalesce(?, disabled), updated_at=? WHERE name=?",
            (password_hash, None if disabled is None else int(disabled), now(), name),
        )
        return cur.rowcount > 0

    def accounts(self) -> list[Account]:
        return [
            Account(r[0], bool(r[1]), r[2], r[3])
            for r in self.db.execute(
                "SELECT name, disabled, created_at, updated_at FROM accounts ORDER BY name"
            )
        ]

    def has_accounts(self) -> bool:
        """Whether an enabled account exists."""
        row = self.db.execute("SELECT 1 FROM accounts WHERE disabled=0 LIMIT 1").fetchone()
        return row is not None

    def account_hash(self, name: str) -> tuple[str, bool] | None:
        """(password hash, disabled) of the account ``name``; None if there is none."""
        row = self.db.execute(
            "SELECT password_hash, disabled FROM accounts WHERE name=?", (name,)
        ).fetchone()
        return None if row is None else (str(row[0]), bool(row[1]))

    # -- receipts --------------------------------------------------------------------------------

    def receipt(self, login: str, digest: str) -> Receipt | None:
        row = self.db.execute(
            "SELECT login, digest, time, fate, sysno, message FROM receipts "
            "WHERE login=? AND digest=?",
            (login, digest),
        ).fetchone()
        return None if row is None else Receipt(*row)

    def receipts(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Receipt]:
        """:meth:`receipt` of each ``(login, digest)`` in one statement: those that have one."""
        wanted = list(dict.fromkeys(keys))
        out: dict[tuple[str, str], Receipt] = {}
        for i in range(0, len(wanted), 250):  # two parameters each
            part = wanted[i : i + 250]
            # OR of equalities: each a lookup in the primary key ("MULTI-INDEX OR"); a row
            # value IN (VALUES ...) of more than one row is planned as a scan of the table.
            rows = self.db.execute(
                "SELECT login, digest, time, fate, sysno, message FROM receipts WHERE "
                + " OR ".join(["(login=? AND digest=?)"] * len(part)),
                [v for key in part for v in key],
            )
            for row in rows:
                out[(row[0], row[1])] = Receipt(*row)
        return out

    def put_receipt(self, receipt: Receipt) -> None:
        self.put_receipts([receipt])

    def put_receipts(self, receipts: Iterable[Receipt]) -> None:
        """Each receipt stored, replacing the one its login and digest had (one statement)."""
        self.db.executemany(
            "INSERT OR REPLACE INTO receipts (login, digest, time, fate, sysno, message) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(r.login, r.digest, r.time, r.fate, r.sysno, r.message) for r in receipts],
        )

    def prune_receipts(self, before: str) -> None:
        self.db.execute("DELETE FROM receipts WHERE time < ?", (before,))

    # -- the search index ------------------------------------------------------------------------

    def match_terms(self, columns: tuple[str, ...], terms: list[tuple[str, bool]]) -> set[int]:
        """System numbers (live or deleted) of the records that hold every one of ``terms``
        (``(term, prefix)``: a prefix matches every term that starts with it) in one of the
        index ``columns``."""
        if not terms:
            return set()
        cols = " ".join(columns)
        # Terms are letters and digits: quoting keeps FTS5 from reading one as an operator.
        query = " AND ".join(
            f'{{{cols}}} : "{t.replace(chr(34), "")}"' + (" *" if prefix else "")
            for t, prefix in terms
        )
        return {
            r[0]
            for r in self.db.execute(
                "SELECT rowid FROM search_index WHERE search_index MATCH ?", (query,)
            )
        }

    def index_rows(self) -> Iterator[tuple[int, tuple[str, ...]]]:
        """Every search index row (system number, the columns' terms), by system number."""
        cur = self.db.execute(
            "SELECT rowid, title, author, subject, isbn, issn, oclc FROM search_index "
            "ORDER BY rowid"
        )
        while rows := cur.fetchmany(1000):
            for r in rows:
                yield r[0], tuple(r[1:])

    def live_oclc_duplicates(self) -> list[tuple[str, list[int]]]:
        """OCLC numbers that more than one live record carries, with those records."""
        rows = self.db.execute(
            "SELECT o.number, group_concat(o.sysno) FROM oclc o JOIN records r "
            "ON r.sysno=o.sysno WHERE r.deleted=0 GROUP BY o.number HAVING count(*) > 1 "
            "ORDER BY o.number"
        ).fetchall()
        return [(n, sorted(int(x) for x in s.split(","))) for n, s in rows]

    # -- moving a catalog ------------------------------------------------------------------------

    def dump(self, table: str) -> Iterator[tuple[object, ...]]:
        cols = TABLES[table]
        flags = [i for i, c in enumerate(cols) if c in BOOLEAN_COLUMNS]
        two = ("oclc", "receipts", "versions")
        order = cols[0] if table not in two else f"{cols[0]}, {cols[1]}"
        cur = self.db.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
        while rows := cur.fetchmany(1000):
            for r in rows:
                if flags:
                    r = tuple(bool(v) if i in flags else v for i, v in enumerate(r))
                yield tuple(r)

    def restore(self, table: str, rows: Iterable[tuple[object, ...]]) -> int:
        """Insert rows as they are (in the open transaction); records are also indexed."""
        cols = TABLES[table]
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        n = 0
        for r in rows:
            self.db.execute(sql, r)
            if table == "records":
                self._index(int(r[0]), r[1], new=True)  # type: ignore[call-overload,arg-type]
                self._put_keys(int(r[0]), r[1], None)  # type: ignore[call-overload,arg-type]
            n += 1
        return n

    def finish_restore(self) -> None:
        """Nothing to do on SQLite: a new system number follows the largest one."""

    # --- i21-catalog: record versions, batch status, dry runs, review staging ---
    # (in :class:`.sqlite_versions.SQLiteVersions`, which this class takes them from; the review
    # staging methods stage_review, staged, staged_one and resolve_staged are there too)

    # --- review staging (i21) ---

    # --- match keys and batched writes (i21-pipe): in :class:`.sqlite_bulk.SQLiteBulkWrites`


def open_store(
    path: str | os.PathLike[str],
    *,
    create: bool = True,
    readonly: bool = False,
    wait: float = DEFAULT_WAIT,
    on_wait: Callable[[str], object] | None = None,
) -> SQLiteStore:
    """Open the catalog at ``path``: creating it if needed (``create``), or read-only (a
    snapshot that never waits for writers). See :class:`SQLiteStore`."""
    return SQLiteStore(path, create=create, readonly=readonly, wait=wait, on_wait=on_wait)
