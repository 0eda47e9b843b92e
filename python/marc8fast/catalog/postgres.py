"""The PostgreSQL backend of the catalog (:class:`PostgresStore`), for a consortium: one catalog
that receivers, Z39.50/SRU servers and loaders on several hosts share. Driver: psycopg 3 (the
optional extra ``marc8fast[postgresql]``).

The tables are those of the SQLite backend, with these differences:

* system numbers come from a sequence (``records.sysno`` is an identity column);
* the ``oclc`` table carries each record's deleted state as ``live``, and a partial unique index
  (``oclc_live_once``) admits each OCLC number on one live record only: two writers on two hosts
  cannot both store a record with one OCLC number (the second one's transaction fails with
  :class:`UniqueOclcError`, a :class:`ConflictError`; run again, it finds the first record);
* the search index is one row a record (``search_index``): its terms (the core's, exactly as
  the SQLite FTS5 index holds them) one ``tsvector`` of ``"<col>:<term>"`` lexemes, with a GIN
  index that serves exact and prefix (``'0:hobb':*``) lookups alike (schema version 6).

Transactions: ``REPEATABLE READ`` (a snapshot; two transactions that change one row conflict and
the later one fails with a serialisation failure, reported as :class:`ConflictError`, which the
receiver retries). Inserts that race (the same OCLC number, the same input record twice) are kept
apart by the unique indexes. Reads outside a transaction see every committed write.

Schema versions: the table ``marc8fast_schema`` holds the version; the first writer to open an
older (or empty) database applies the numbered :data:`MIGRATIONS` under an advisory lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from .._native import pgcopy_load_log, pipeline_stored_keys, search_index_row
from .api import (
    DEFAULT_WAIT,
    LOADED_FATES,
    SCHEMA_VERSION,
    TABLES,
    Batch,
    CatalogError,
    Event,
    LockedError,
    LogRow,
    NoCatalogError,
    ReadOnlyError,
    SchemaError,
    StoredRecord,
    batch_user,
    default_source,
    now,
    shown_status,
    this_host,
)
from .pg_accounts import PgAccounts
from .pg_bulk import CopyRow, PgBulkWrites
from .pg_reads import PgReads
from .pg_schema import (
    _COL,
    _DUMP_ORDER,
    _MIGRATION_LOCK,
    COLUMNS,
    MIGRATIONS,
    _first_line,
    redact,
    tsquery_text,
    tsvector_of,
)
from .pg_schema import _translate as _translate_driver_error
from .pg_versions import PgVersions
from .pg_wait import PgWaitNotice

try:
    import psycopg
    from psycopg import errors as _pg_errors
except ImportError:  # pragma: no cover - said when a postgresql:// catalog is opened
    psycopg = None  # type: ignore[assignment]
    _pg_errors = None  # type: ignore[assignment]


def _translate(target: str, e: Exception) -> CatalogError:
    """The :class:`CatalogError` for a psycopg error; a lock waited for past ``lock_timeout``
    (the ``--wait`` limit) is said as the SQLite backend says it."""
    if _pg_errors is not None and isinstance(e, _pg_errors.LockNotAvailable):
        return LockedError(
            f"{target}: another process kept the catalog locked longer than the wait allows; "
            "gave up (--wait SECONDS waits longer)"
        )
    return _translate_driver_error(target, e)


class PostgresStore(PgReads, PgWaitNotice, PgAccounts, PgVersions, PgBulkWrites):
    """:class:`~marc8fast.catalog.api.Catalog` on a PostgreSQL database (``url``: a libpq
    connection URL, ``postgresql://USER@HOST[:PORT]/DBNAME``; ``?host=/run/postgresql`` for a
    unix socket). ``create``: make the tables in an empty database; ``readonly``: a read-only
    session. ``wait``: seconds a write waits for a lock another session holds (``lock_timeout``;
    then :class:`LockedError`); ``on_wait`` is called once, with the SQLite backend's message,
    when a write has waited a second for another session's lock (see :meth:`_watch`)."""

    remote = True

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        readonly: bool = False,
        wait: float = DEFAULT_WAIT,
        on_wait: Callable[[str], object] | None = None,
    ) -> None:
        self.target = redact(url)
        self.path = self.target
        self.readonly = readonly
        self.source = default_source()
        self.batch_id: int | None = None
        self.wait = wait
        self.on_wait = on_wait
        self._url = url  # with its password: the wait watcher opens a second session
        self._waited = False
        self._running = 0  # the number of the statement running now (0: none)
        self._statements = 0
        self._watcher: threading.Thread | None = None
        self._watch_stop = threading.Event()
        self._pending_log: list[tuple[object, ...]] = []
        self._in_tx = False
        self._dry = False  # inside dry_run(): transactions are savepoints of one rolled back
        self._in_sp = False
        # New records of the open transaction, written with COPY before the next statement or
        # the commit (a load stores thousands of records a second this way), and what the
        # importer asked to know in advance for a group of records (see prepare()).
        self._new_records: list[tuple[object, ...]] = []
        self._new_oclc: list[tuple[object, ...]] = []
        self._new_terms: list[tuple[object, ...]] = []
        self._new_events: list[tuple[object, ...]] = []
        self._new_keys: list[tuple[object, ...]] = []  # match keys of new records (i21-pipe)
        self._new_copy: list[CopyRow] = []  # insert_many's records (i20-pgcopy)
        self._sysno_pool: list[int] = []  # taken from the sequence, not used yet (descending)
        self._tx_sysnos: list[int] = []  # used by the open transaction (back to the pool if it
        self._expect = 0  # rolls back); records of the prepared group still to come
        self._known_oclc: dict[str, set[int]] = {}
        self._known_keys: dict[str, int | None] = {}
        self._known_loaded: dict[tuple[str, int], tuple[int | None, int] | None] = {}
        if psycopg is None:
            raise CatalogError(
                f"{self.target}: a PostgreSQL catalog needs the psycopg driver "
                "(pip install 'marc8fast[postgresql]' or 'psycopg[binary]')"
            )
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as e:
            raise CatalogError(f"{self.target}: cannot connect ({_first_line(e)})") from None
        try:
            # lock_timeout 0 would wait for ever: --wait 0 is one millisecond.
            self.conn.execute(f"SET lock_timeout = {max(1, int(wait * 1000))}")
            self._pid = self.conn.info.backend_pid
            if readonly:
                self.conn.execute("SET default_transaction_read_only = on")
            self._init_schema(create)
        except psycopg.Error as e:
            self.conn.close()
            raise _translate(self.target, e) from None
        except BaseException:
            self.conn.close()
            raise

    # -- the schema ------------------------------------------------------------------------------

    def _version(self) -> int | None:
        have = self.conn.execute("SELECT to_regclass('marc8fast_schema')").fetchone()
        if have is None or have[0] is None:
            others = self.conn.execute("SELECT to_regclass('records')").fetchone()
            if others is not None and others[0] is not None:
                raise SchemaError(
                    f"{self.target}: a PostgreSQL database, but not a marc8fast catalog"
                )
            return None
        row = self.conn.execute("SELECT max(version) FROM marc8fast_schema").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _init_schema(self, create: bool) -> None:
        version = self._version()
        if version == SCHEMA_VERSION:
            return
        if version is not None and version > SCHEMA_VERSION:
            raise SchemaError(
                f"{self.target}: catalog schema version {version}, this marc8fast knows "
                f"{SCHEMA_VERSION}"
            )
        if version is None and not create:
            raise NoCatalogError(f"no catalog at {self.target}")
        if self.readonly:
            if version is None:
                raise NoCatalogError(f"no catalog at {self.target}")
            raise SchemaError(
                f"{self.target}: catalog schema version {version}, this marc8fast knows "
                f"{SCHEMA_VERSION} (a command that writes to it, such as load, upgrades it)"
            )
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self.conn.execute("CREATE TABLE IF NOT EXISTS marc8fast_schema (version INTEGER)")
            version = self._version() or 0  # again, under the lock: another writer may have
            for step in MIGRATIONS[version:]:
                step(self)
            if version < SCHEMA_VERSION:
                self.conn.execute("DELETE FROM marc8fast_schema")
                self.conn.execute(
                    "INSERT INTO marc8fast_schema (version) VALUES (%s)", (SCHEMA_VERSION,)
                )

    def _index(self, sysno: int, data: bytes, *, new: bool = False) -> None:
        """(Re)write the search terms of one record: the core's, as on SQLite."""
        if not new:
            self.conn.execute("DELETE FROM search_index WHERE sysno=%s", (sysno,))
        terms = tsvector_of(search_index_row(data))
        if terms is not None:
            self.conn.execute(
                "INSERT INTO search_index (sysno, terms) VALUES (%s, %s::tsvector)",
                (sysno, terms),
            )

    # -- transactions ----------------------------------------------------------------------------

    def begin(self) -> None:
        if self._in_tx:
            return
        if self.readonly:
            raise ReadOnlyError(f"{self.target}: opened read-only")
        try:
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        except psycopg.Error as e:
            raise _translate(self.target, e) from None
        self._forget()
        self._in_tx = True

    def commit(self) -> None:
        if not self._in_tx:
            return
        try:
            self._flush_log()
            self.conn.execute("COMMIT")
            self._tx_sysnos.clear()
        except psycopg.Error as e:
            self.rollback()
            raise _translate(self.target, e) from None
        except BaseException:
            self.rollback()
            raise
        self._in_tx = False

    def rollback(self) -> None:
        if self._tx_sysnos:  # never stored: the next records take them (no gap)
            self._sysno_pool = sorted({*self._sysno_pool, *self._tx_sysnos}, reverse=True)
            self._tx_sysnos.clear()
        self._pending_log.clear()
        self._new_records.clear()
        self._new_oclc.clear()
        self._new_terms.clear()
        self._new_events.clear()
        self._new_keys.clear()
        self._new_copy.clear()
        self._forget()
        if self._in_tx:
            self._in_tx = False
            try:
                self.conn.execute("ROLLBACK")
            except psycopg.Error as e:
                raise _translate(self.target, e) from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction (REPEATABLE READ): committed when the block ends, rolled back if it
        raises. A conflict with a concurrent transaction raises :class:`ConflictError`. Inside
        :meth:`dry_run` a transaction is a savepoint of the dry run's one transaction."""
        if self._dry:
            with self._savepoint():
                yield
            return
        if self._in_tx:
            raise CatalogError(f"{self.target}: a transaction is already open")
        self.begin()
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        self.commit()

    @contextmanager
    def interruptible(self, stop: Callable[[], bool]) -> Iterator[None]:
        """Queries inside the block are cancelled (:class:`QueryInterrupted`) once ``stop()``
        is true (asked every 50 ms by a watcher thread)."""
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.05):
                if stop():
                    self.conn.cancel_safe()
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()

    def close(self) -> None:
        try:
            self.rollback()
        except CatalogError:
            pass
        self._watch_stop.set()
        if self._watcher is not None:
            self._watcher.join()
        self.conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _forget(self) -> None:
        self._known_oclc.clear()
        self._known_keys.clear()
        self._known_loaded.clear()

    def _flush_writes(self) -> None:
        """Write the new records of the transaction (COPY: records, then their OCLC numbers,
        terms and events; insert_many's in the binary format, see pg_bulk)."""
        if self._new_copy:
            self._started()
            try:
                self._flush_copy()
            finally:
                self._finished()
        if not self._new_records:
            return
        if len(self._new_records) == 1:
            self._write_one()
            self._flush_keys()
            return
        batches = (
            (
                "records (sysno, data, title_key, deleted, created_at, updated_at)",
                self._new_records,
            ),
            ("oclc (number, sysno, live)", self._new_oclc),
            ("search_index (sysno, terms)", self._new_terms),
            ("events (sysno, time, action, batch_id, source, detail)", self._new_events),
            ("match_keys (kind, value, sysno)", self._new_keys),
        )
        self._started()
        try:
            with self.conn.cursor() as cur:
                for table, rows in batches:
                    if rows:
                        with cur.copy(f"COPY {table} FROM STDIN") as copy:
                            for r in rows:
                                copy.write_row(r)
        except psycopg.Error as e:
            raise _translate(self.target, e) from None
        finally:
            self._finished()
            for _, rows in batches:
                rows.clear()

    def _write_one(self) -> None:
        """One new record (the receiver's case) in one statement rather than four COPYs."""
        (sysno, data, title_key, _, t, _) = self._new_records[0]
        numbers = [r[0] for r in self._new_oclc]
        terms = self._new_terms[0][1] if self._new_terms else None
        event = self._new_events[0]
        for rows in (self._new_records, self._new_oclc, self._new_terms, self._new_events):
            rows.clear()
        self._started()
        try:
            self.conn.execute(
                "WITH r AS (INSERT INTO records (sysno, data, title_key, deleted, created_at, "
                "updated_at) VALUES (%s, %s, %s, false, %s, %s) RETURNING sysno), "
                "o AS (INSERT INTO oclc (number, sysno, live) SELECT n, r.sysno, true "
                "FROM r, unnest(%s::text[]) AS u(n)), "
                "t AS (INSERT INTO search_index (sysno, terms) SELECT r.sysno, "
                "%s::tsvector FROM r WHERE %s::text IS NOT NULL) "
                "INSERT INTO events (sysno, time, action, batch_id, source, detail) "
                "SELECT r.sysno, %s, %s, %s, %s, %s FROM r",
                (sysno, data, title_key, t, t, numbers, terms, terms, *event[1:]),
            )
        except psycopg.Error as e:
            raise _translate(self.target, e) from None
        finally:
            self._finished()

    def prepare(self, inputs: list[tuple[str, int]], numbers: list[str], keys: list[str]) -> None:
        """Before a group of records in the open transaction: learn, in three queries, which
        input records are loaded already and which live records carry these OCLC numbers and
        title keys (the transaction's snapshot, kept up to date by its own inserts). A question
        outside what was prepared goes to the database as before."""
        if not self._in_tx:
            return
        self._expect = len(inputs)
        hashes = [h for h, _ in inputs]
        indexes = [i for _, i in inputs]
        for key in inputs:
            self._known_loaded[key] = None
        for h, i, sysno, batch in self._q(
            "SELECT DISTINCT ON (input_hash, record_index) input_hash, record_index, sysno, "
            "batch_id FROM load_log WHERE (input_hash, record_index) IN (SELECT * FROM "
            "unnest(%s::text[], %s::int[])) AND fate = ANY(%s) "
            "ORDER BY input_hash, record_index, id",
            (hashes, indexes, list(LOADED_FATES)),
        ):
            self._known_loaded[(h, i)] = (sysno, batch)
        for n in numbers:
            self._known_oclc[n] = set()
        for n, sysno in self._q(
            "SELECT o.number, o.sysno FROM oclc o JOIN records r ON r.sysno=o.sysno "
            "WHERE o.number = ANY(%s) AND NOT r.deleted",
            (numbers,),
        ):
            self._known_oclc[n].add(int(sysno))
        for k in keys:
            self._known_keys[k] = None
        for k, sysno in self._q(
            "SELECT title_key, min(sysno) FROM records WHERE title_key = ANY(%s) AND NOT deleted "
            "GROUP BY title_key",
            (keys,),
        ):
            self._known_keys[k] = int(sysno)

    def _next_sysno(self) -> int:
        """A system number from the sequence, taken for as many records of the prepared group
        as are still to come (at most 256; one outside a group), so that numbers are not
        skipped: what a group leaves goes to the next one, what a rolled-back one used too."""
        if not self._sysno_pool:
            n = max(1, min(self._expect + 1, 256))
            rows = self.conn.execute(
                "SELECT nextval(pg_get_serial_sequence('records', 'sysno')) "
                "FROM generate_series(1, %s)",
                (n,),
            ).fetchall()
            self._sysno_pool = sorted((int(r[0]) for r in rows), reverse=True)
        sysno = self._sysno_pool.pop()
        self._tx_sysnos.append(sysno)
        return sysno

    def _q(self, sql: str, params: Any = ()) -> Any:
        """Run one statement (after the transaction's new records are written); a driver error
        becomes a :class:`CatalogError`."""
        self._flush_writes()
        self._started()
        try:
            return self.conn.execute(sql, params)
        except psycopg.Error as e:
            if self._in_tx:
                self._pending_log.clear()
            raise _translate(self.target, e) from None
        finally:
            self._finished()

    # -- records ---------------------------------------------------------------------------------

    def get(self, sysno: int) -> StoredRecord | None:
        row = self._q(
            "SELECT sysno, data, deleted, title_key, created_at, updated_at FROM records "
            "WHERE sysno=%s",
            (sysno,),
        ).fetchone()
        if row is None:
            return None
        numbers = [
            r[0]
            for r in self._q(
                'SELECT number FROM oclc WHERE sysno=%s ORDER BY number COLLATE "C"', (sysno,)
            )
        ]
        return StoredRecord(row[0], bytes(row[1]), bool(row[2]), row[3], row[4], row[5], numbers)

    def sysnos_by_oclc(self, number: str) -> set[int]:
        return {r[0] for r in self._q("SELECT sysno FROM oclc WHERE number=%s", (number,))}

    def find_by_oclc(
        self, numbers: Iterable[str], *, exclude: int | None = None
    ) -> tuple[int, str] | None:
        wanted = list(numbers)
        if not wanted:
            return None
        if all(n in self._known_oclc for n in wanted):
            for n in wanted:
                live = sorted(s for s in self._known_oclc[n] if s != exclude)
                if live:
                    return live[0], n
            return None
        # One round trip for all the numbers; the first number (in the order given) wins.
        found: dict[str, int] = {}
        for number, sysno in self._q(
            "SELECT o.number, min(o.sysno) FROM oclc o JOIN records r ON r.sysno=o.sysno "
            "WHERE o.number = ANY(%s) AND NOT r.deleted AND o.sysno IS DISTINCT FROM %s "
            "GROUP BY o.number",
            (wanted, exclude),
        ):
            found[number] = int(sysno)
        for n in wanted:
            if n in found:
                return found[n], n
        return None

    def find_by_title_key(self, key: str) -> int | None:
        if key in self._known_keys:
            return self._known_keys[key]
        row = self._q(
            "SELECT sysno FROM records WHERE title_key=%s AND NOT deleted ORDER BY sysno LIMIT 1",
            (key,),
        ).fetchone()
        return int(row[0]) if row else None

    def _event(self, sysno: int, action: str, source: str | None, detail: str) -> None:
        self._q(
            "INSERT INTO events (sysno, time, action, batch_id, source, detail) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (sysno, now(), action, self.batch_id, source or self.source, detail),
        )

    def _put_oclc(self, sysno: int, numbers: list[str], live: bool = True) -> None:
        if numbers:
            self._q(
                "INSERT INTO oclc (number, sysno, live) SELECT DISTINCT n, %s, %s "
                "FROM unnest(%s::text[]) AS u(n) ON CONFLICT (number, sysno) DO NOTHING",
                (sysno, live, numbers),
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
        try:
            sysno = self._next_sysno()
        except psycopg.Error as e:
            raise _translate(self.target, e) from None
        if sysno > 999_999_999:
            raise OverflowError("system numbers are exhausted (9 digits)")
        # Written with COPY before the next statement or at the commit (see _flush_writes).
        self._new_records.append((sysno, data, title_key, False, t, t))
        for n in dict.fromkeys(oclc_numbers):
            self._new_oclc.append((n, sysno, True))
            if n in self._known_oclc:
                self._known_oclc[n].add(sysno)
        if (terms := tsvector_of(search_index_row(data))) is not None:
            self._new_terms.append((sysno, terms))
        self._new_keys.extend(
            (k, v, sysno)
            for k, v in dict.fromkeys(keys if keys is not None else pipeline_stored_keys(data))
        )
        self._new_events.append((sysno, t, "created", self.batch_id, source or self.source, detail))
        if title_key is not None and self._known_keys.get(title_key, 0) is None:
            self._known_keys[title_key] = sysno
        if not self._in_tx:
            self._flush_writes()
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
        self._forget()
        self._save_version(sysno, "overlaid")
        row = self._q(
            "UPDATE records SET data=%s, title_key=%s, updated_at=%s WHERE sysno=%s "
            "RETURNING deleted",
            (data, title_key, now(), sysno),
        ).fetchone()
        self._q("DELETE FROM oclc WHERE sysno=%s", (sysno,))
        self._put_oclc(sysno, oclc_numbers, live=not (row and row[0]))
        try:
            self._index(sysno, data)
        except psycopg.Error as e:
            raise _translate(self.target, e) from None
        self._replace_keys(sysno, data, keys)
        self._event(sysno, "overlaid", source, detail)

    def mark_deleted(
        self, sysno: int, data: bytes, *, source: str | None = None, detail: str = ""
    ) -> None:
        self._set_deleted(sysno, data, True, source, detail)

    def undelete(
        self, sysno: int, data: bytes, *, source: str | None = None, detail: str = ""
    ) -> None:
        self._set_deleted(sysno, data, False, source, detail)

    def _set_deleted(
        self, sysno: int, data: bytes, deleted: bool, source: str | None, detail: str
    ) -> None:
        self._forget()
        self._save_version(sysno, "deleted" if deleted else "undeleted")
        self._q(
            "UPDATE records SET data=%s, deleted=%s, updated_at=%s WHERE sysno=%s",
            (data, deleted, now(), sysno),
        )
        self._q("UPDATE oclc SET live=%s WHERE sysno=%s", (not deleted, sysno))
        self._event(sysno, "deleted" if deleted else "undeleted", source, detail)

    def sysnos(self, since: str | None = None) -> Iterator[int]:
        if since is None:
            rows = self._q("SELECT sysno FROM records ORDER BY sysno").fetchall()
        else:
            rows = self._q(
                "SELECT sysno FROM records WHERE updated_at >= %s ORDER BY sysno", (since,)
            ).fetchall()
        for (s,) in rows:
            yield int(s)

    def iter_records(self, since: str | None = None) -> Iterator[StoredRecord]:
        """Every record (OCLC numbers left empty), in system-number order, read 1,000 at a
        time (keyset pages: no cursor held open between them)."""
        last = 0
        while True:
            sql = (
                "SELECT sysno, data, deleted, title_key, created_at, updated_at FROM records "
                "WHERE sysno > %s"
            )
            params: tuple[object, ...] = (last,)
            if since is not None:
                sql += " AND updated_at >= %s"
                params = (last, since)
            rows = self._q(sql + " ORDER BY sysno LIMIT 1000", params).fetchall()
            if not rows:
                return
            for r in rows:
                yield StoredRecord(int(r[0]), bytes(r[1]), bool(r[2]), r[3], r[4], r[5], [])
            last = int(rows[-1][0])

    def count(self, *, include_deleted: bool = True) -> int:
        sql = "SELECT count(*) FROM records" + ("" if include_deleted else " WHERE NOT deleted")
        return int(self._q(sql).fetchone()[0])

    def live(self, sysnos: Iterable[int]) -> set[int]:
        ids = list(sysnos)
        if not ids:
            return set()
        return {
            int(r[0])
            for r in self._q(
                "SELECT sysno FROM records WHERE NOT deleted AND sysno = ANY(%s)", (ids,)
            )
        }

    # -- history and the load log ----------------------------------------------------------------

    def events(self, sysno: int) -> list[Event]:
        return [
            Event(*r)
            for r in self._q(
                "SELECT sysno, time, action, batch_id, source, detail FROM events "
                "WHERE sysno=%s ORDER BY id",
                (sysno,),
            )
        ]

    def batches(self) -> list[Batch]:
        fates: dict[int, dict[str, int]] = {}
        for batch, fate, n in self._q(
            "SELECT batch_id, fate, count(*) FROM load_log GROUP BY batch_id, fate"
        ):
            fates.setdefault(batch, {})[fate] = int(n)
        return [
            Batch(b, t, d, fates.get(b, {}), f, u, shown_status(st, h, p), h, p)
            for b, t, d, f, u, st, p, h in self._q(
                "SELECT batch_id, started_at, description, finished_at, user_name, status, pid, "
                "host FROM batches ORDER BY batch_id"
            )
        ]

    def new_batch(self, description: str, *, status: str | None = None) -> int:
        row = self._q(
            "INSERT INTO batches (started_at, description, user_name, status, pid, host) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING batch_id",
            (now(), description, batch_user(), status, os.getpid(), this_host()),
        ).fetchone()
        self.batch_id = int(row[0])
        return self.batch_id

    def log(self, row: LogRow) -> None:
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
        if not self._in_tx:
            self._flush_log()

    def _flush_log(self) -> None:
        self._flush_writes()
        if self._pending_log:
            rows, self._pending_log = self._pending_log, []
            self._started()
            try:
                with (
                    self.conn.cursor() as cur,
                    cur.copy(
                        "COPY load_log (batch_id, input_file, input_hash, record_index, fate, "
                        "sysno, message, time) FROM STDIN"
                        + (" (FORMAT binary)" if self.binary_copy else "")
                    ) as copy,
                ):
                    if self.binary_copy:  # built by the core (i20-pgcopy)
                        copy.write(pgcopy_load_log(cast("list[Any]", rows)))
                    else:
                        for r in rows:
                            copy.write_row(r)
            except psycopg.Error as e:
                raise _translate(self.target, e) from None
            finally:
                self._finished()

    def _log_rows(self, where: str, params: tuple[object, ...]) -> list[LogRow]:
        self._flush_log()
        return [
            LogRow(*r)
            for r in self._q(
                "SELECT batch_id, input_file, input_hash, record_index, fate, sysno, message, "
                f"time FROM load_log {where} ORDER BY id",
                params,
            )
        ]

    def log_for(self, sysno: int) -> list[LogRow]:
        return self._log_rows("WHERE sysno=%s", (sysno,))

    def log_rows(self) -> list[LogRow]:
        return self._log_rows("", ())

    def log_count(self, input_hash: str) -> int:
        self._flush_log()
        row = self._q("SELECT count(*) FROM load_log WHERE input_hash=%s", (input_hash,))
        return int(row.fetchone()[0])

    def loaded_indexes(self, input_hash: str) -> dict[int, tuple[int | None, int]]:
        self._flush_log()
        out: dict[int, tuple[int | None, int]] = {}
        for idx, sysno, batch in self._q(
            "SELECT record_index, sysno, batch_id FROM load_log WHERE input_hash=%s "
            "AND fate = ANY(%s) ORDER BY id",
            (input_hash, list(LOADED_FATES)),
        ):
            out.setdefault(idx, (sysno, batch))
        return out

    def loaded(self, input_hash: str, record_index: int) -> tuple[int | None, int] | None:
        self._expect = max(0, self._expect - 1)  # the importer asks once per record
        known = self._known_loaded.get((input_hash, record_index), False)
        if known is not False:
            if known is not None:
                return known  # type: ignore[return-value]
            return self._pending_loaded(input_hash, record_index)
        row = self._q(
            "SELECT sysno, batch_id FROM load_log WHERE input_hash=%s AND record_index=%s "
            "AND fate = ANY(%s) ORDER BY id LIMIT 1",
            (input_hash, record_index, list(LOADED_FATES)),
        ).fetchone()
        if row:
            return row[0], row[1]
        return self._pending_loaded(input_hash, record_index)

    def _pending_loaded(self, input_hash: str, record_index: int) -> tuple[int | None, int] | None:
        """The rows of this transaction not yet written (they go in with one statement at
        commit: no round trip to write them for every record)."""
        for r in self._pending_log:
            if r[2] == input_hash and r[3] == record_index and r[4] in LOADED_FATES:
                return r[5], r[0]  # type: ignore[return-value]
        return None

    # -- the search index ------------------------------------------------------------------------

    def match_terms(self, columns: tuple[str, ...], terms: list[tuple[str, bool]]) -> set[int]:
        if not terms:
            return set()
        query = tsquery_text([_COL[c] for c in columns], terms)
        rows = self._q("SELECT sysno FROM search_index WHERE terms @@ %s::tsquery", (query,))
        return {int(r[0]) for r in rows}

    def index_rows(self) -> Iterator[tuple[int, tuple[str, ...]]]:
        """Every record's search terms as the SQLite index holds them (each column's terms,
        sorted, space-separated), by system number."""
        rows = self._q(
            "SELECT sysno, tsvector_to_array(terms) FROM search_index ORDER BY sysno"
        ).fetchall()
        for sysno, terms in rows:
            cols: list[list[str]] = [[] for _ in COLUMNS]
            for x in terms:
                col, _, term = x.partition(":")
                cols[int(col)].append(term)
            yield int(sysno), tuple(" ".join(sorted(c)) for c in cols)

    def live_oclc_duplicates(self) -> list[tuple[str, list[int]]]:
        """OCLC numbers that more than one live record carries (the unique index makes this
        empty unless it was dropped), with those records."""
        rows = self._q(
            "SELECT o.number, array_agg(o.sysno ORDER BY o.sysno) FROM oclc o JOIN records r "
            "ON r.sysno=o.sysno WHERE NOT r.deleted GROUP BY o.number HAVING count(*) > 1 "
            'ORDER BY o.number COLLATE "C"'
        ).fetchall()
        return [(n, [int(x) for x in s]) for n, s in rows]

    # -- moving a catalog ------------------------------------------------------------------------

    def dump(self, table: str) -> Iterator[tuple[object, ...]]:
        cols = TABLES[table]
        order = _DUMP_ORDER.get(table, cols[0])
        try:
            with self.conn.transaction(), self.conn.cursor(name=f"dump_{table}") as cur:
                cur.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
                while rows := cur.fetchmany(1000):
                    for r in rows:
                        yield tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
        except psycopg.Error as e:
            raise _translate(self.target, e) from None

    def restore(self, table: str, rows: Iterable[tuple[object, ...]]) -> int:
        """Insert rows as they are (in the open transaction, with COPY); records are also
        indexed, and an OCLC number is live when its record is."""
        cols = TABLES[table]
        n = 0
        try:
            with self.conn.cursor().copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
                    n += 1
            if table == "records":
                for sysno, data in self.conn.execute("SELECT sysno, data FROM records"):
                    self._index(int(sysno), bytes(data), new=True)
                    self._new_keys.extend(
                        (k, v, int(sysno))
                        for k, v in dict.fromkeys(pipeline_stored_keys(bytes(data)))
                    )
                self._flush_keys()
            if table == "oclc":
                self.conn.execute(
                    "UPDATE oclc o SET live = NOT r.deleted FROM records r WHERE r.sysno=o.sysno"
                )
        except psycopg.Error as e:
            raise _translate(self.target, e) from None
        return n

    def finish_restore(self) -> None:
        """The sequences continue after the largest number copied."""
        for table, col in (
            ("records", "sysno"),
            ("batches", "batch_id"),
            ("load_log", "id"),
            ("events", "id"),
            ("review", "id"),
        ):
            self._q(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{col}'), "
                f"coalesce((SELECT max({col}) FROM {table}), 0) + 1, false)"
            )

    # --- i21-catalog: record versions, batch status, dry runs, review staging ---
    # (in :class:`.pg_versions.PgVersions`, which this class takes them from; the review
    # staging methods stage_review, staged, staged_one and resolve_staged are there too)

    # --- review staging (i21) ---
