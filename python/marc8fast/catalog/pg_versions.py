"""The PostgreSQL backend's record versions, batch status, dry runs and review staging (issue 21,
i21-catalog), a part of :class:`.postgres.PostgresStore` kept in its own file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .api import (
    LOADED_FATES,
    Batch,
    CatalogError,
    LogRow,
    Staged,
    StoredRecord,
    Version,
    now,
)
from .pg_schema import _translate

try:
    import psycopg
except ImportError:  # pragma: no cover - said when a postgresql:// catalog is opened
    psycopg = None  # type: ignore[assignment]


class PgVersions:
    """Methods of :class:`.postgres.PostgresStore` (which provides ``conn``, ``_q``, ``get``,
    ``_index``, ``_event``, ``_put_oclc``, the write buffers and ``begin``/``rollback``)."""

    conn: Any
    target: str
    source: str
    batch_id: int | None
    _dry: bool
    _in_sp: bool
    _in_tx: bool
    _pending_log: list[tuple[object, ...]]
    _new_records: list[tuple[object, ...]]
    _new_oclc: list[tuple[object, ...]]
    _new_terms: list[tuple[object, ...]]
    _new_events: list[tuple[object, ...]]
    _new_keys: list[tuple[object, ...]]
    _new_copy: list[Any]  # insert_many's records, written with binary COPY (i20-pgcopy)
    _sysno_pool: list[int]
    _tx_sysnos: list[int]

    if TYPE_CHECKING:

        def _q(self, sql: str, params: Any = ()) -> Any: ...
        def get(self, sysno: int) -> StoredRecord | None: ...
        def batches(self) -> list[Batch]: ...
        def begin(self) -> None: ...
        def rollback(self) -> None: ...
        def _forget(self) -> None: ...
        def _flush_log(self) -> None: ...
        def _index(self, sysno: int, data: bytes, *, new: bool = False) -> None: ...
        def _event(self, sysno: int, action: str, source: str | None, detail: str) -> None: ...
        def _put_oclc(self, sysno: int, numbers: list[str], live: bool = True) -> None: ...
        def _replace_keys(
            self, sysno: int, data: bytes, keys: list[tuple[str, str]] | None
        ) -> None: ...

    def _save_version(self, sysno: int, action: str) -> None:
        """Keep the record's current state as its next numbered version (as on SQLite)."""
        self._q(
            "INSERT INTO versions (sysno, version, data, title_key, deleted, oclc, saved_at, "
            "batch_id, action) SELECT r.sysno, (SELECT coalesce(max(v.version), 0) + 1 FROM "
            "versions v WHERE v.sysno=r.sysno), r.data, r.title_key, r.deleted, "
            "coalesce((SELECT string_agg(number, ' ' ORDER BY number COLLATE \"C\") FROM oclc "
            "WHERE sysno=r.sysno), ''), %s, %s, %s FROM records r WHERE r.sysno=%s",
            (now(), self.batch_id, action, sysno),
        )

    def versions(self, sysno: int) -> list[Version]:
        return self.versions_of([sysno]).get(sysno, [])

    def versions_of(self, sysnos: list[int]) -> dict[int, list[Version]]:
        kept: dict[int, list[Version]] = {}
        for r in self._q(
            "SELECT sysno, version, data, title_key, deleted, oclc, saved_at, batch_id, action "
            "FROM versions WHERE sysno = ANY(%s) ORDER BY sysno, version",
            (sysnos,),
        ):
            kept.setdefault(int(r[0]), []).append(
                Version(
                    int(r[0]),
                    int(r[1]),
                    bytes(r[2]),
                    r[3],
                    bool(r[4]),
                    r[5].split(),
                    r[6],
                    None if r[7] is None else int(r[7]),
                    r[8],
                )
            )
        numbers: dict[int, list[str]] = {}
        for sysno, n in self._q(
            "SELECT sysno, number FROM oclc WHERE sysno = ANY(%s) "
            'ORDER BY sysno, number COLLATE "C"',
            (sysnos,),
        ):
            numbers.setdefault(int(sysno), []).append(n)
        out: dict[int, list[Version]] = {}
        for sysno, data, key, deleted in self._q(
            "SELECT sysno, data, title_key, deleted FROM records WHERE sysno = ANY(%s)", (sysnos,)
        ):
            sysno = int(sysno)
            vs = kept.get(sysno, [])
            n = vs[-1].version + 1 if vs else 1
            vs.append(
                Version(
                    sysno,
                    n,
                    bytes(data),
                    key,
                    bool(deleted),
                    numbers.get(sysno, []),
                    None,
                    None,
                    None,
                    current=True,
                )
            )
            out[sysno] = vs
        return out

    def version(self, sysno: int, number: int) -> Version | None:
        return next((v for v in self.versions(sysno) if v.version == number), None)

    def revert(
        self,
        sysno: int,
        number: int,
        *,
        source: str | None = None,
        detail: str = "",
        known: Version | None = None,
    ) -> int:
        old = known if known is not None and known.version == number else None
        if old is None:
            old = self.version(sysno, number)
        if old is None:
            raise CatalogError(f"{self.target}: record {sysno} has no version {number}")
        self._forget()
        self._save_version(sysno, "reverted")
        self._q(
            "UPDATE records SET data=%s, title_key=%s, deleted=%s, updated_at=%s WHERE sysno=%s",
            (old.data, old.title_key, old.deleted, now(), sysno),
        )
        self._q("DELETE FROM oclc WHERE sysno=%s", (sysno,))
        self._put_oclc(sysno, old.oclc_numbers, live=not old.deleted)
        try:
            self._index(sysno, old.data)
        except psycopg.Error as e:
            raise _translate(self.target, e) from None
        self._replace_keys(sysno, old.data, None)
        self._event(sysno, "reverted", source, detail or f"to version {number}")
        row = self._q("SELECT max(version) FROM versions WHERE sysno=%s", (sysno,)).fetchone()
        return int(row[0]) + 1

    def batch(self, batch_id: int) -> Batch | None:
        return next((b for b in self.batches() if b.batch_id == batch_id), None)

    def batch_records(self, batch_id: int) -> dict[int, bool]:
        return {
            int(s): bool(c)
            for s, c in self._q(
                "SELECT sysno, bool_or(action='created') FROM events WHERE batch_id=%s "
                "GROUP BY sysno ORDER BY sysno",
                (batch_id,),
            )
        }

    def batch_log(self, batch_id: int) -> list[LogRow]:
        self._flush_log()
        return [
            LogRow(*r)
            for r in self._q(
                "SELECT batch_id, input_file, input_hash, record_index, fate, sysno, message, "
                "time FROM load_log WHERE batch_id=%s ORDER BY id",
                (batch_id,),
            )
        ]

    def finish_batch(self, batch_id: int, status: str) -> None:
        self._q(
            "UPDATE batches SET status=%s, finished_at=%s WHERE batch_id=%s",
            (status, now(), batch_id),
        )

    def unmark_loaded(self, batch_id: int) -> int:
        self._flush_log()
        cur = self._q(
            "UPDATE load_log SET fate=fate || '_reverted' WHERE batch_id=%s AND fate = ANY(%s)",
            (batch_id, list(LOADED_FATES)),
        )
        return int(cur.rowcount)

    def deleted_since(self, since: str) -> Iterator[StoredRecord]:
        rows = self._q(
            "SELECT sysno, data, deleted, title_key, created_at, updated_at FROM records r "
            "WHERE deleted AND (SELECT max(time) FROM events e WHERE e.sysno=r.sysno AND "
            "e.action='deleted') >= %s ORDER BY sysno",
            (since,),
        ).fetchall()
        for r in rows:
            yield StoredRecord(int(r[0]), bytes(r[1]), bool(r[2]), r[3], r[4], r[5], [])

    @contextmanager
    def dry_run(self) -> Iterator[None]:
        """Everything inside runs in one transaction that is rolled back at the end; the
        transactions opened inside are its savepoints. (System numbers a dry run takes from the
        sequence are not given back: the next real load's numbers skip them.)"""
        if self._in_tx or self._dry:
            raise CatalogError(f"{self.target}: a transaction is already open")
        self.begin()
        self._dry = True
        try:
            yield
        finally:
            self._dry = False
            self._in_sp = False
            self.rollback()

    def _discard_buffers(self) -> None:
        if self._tx_sysnos:
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

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        if self._in_sp:
            raise CatalogError(f"{self.target}: a transaction is already open")
        self._in_sp = True
        try:
            self._q("SAVEPOINT dry")
            self._forget()
            try:
                yield
                self._flush_log()
            except BaseException:
                self._discard_buffers()
                try:
                    self.conn.execute("ROLLBACK TO SAVEPOINT dry")
                    self.conn.execute("RELEASE SAVEPOINT dry")
                except psycopg.Error as e:
                    raise _translate(self.target, e) from None
                raise
            self._q("RELEASE SAVEPOINT dry")
        finally:
            self._in_sp = False

    # --- review staging (i21) ---

    def stage_review(
        self, data: bytes, candidates: list[int], reason: str, *, input_name: str, record_index: int
    ) -> int:
        row = self._q(
            "INSERT INTO review (data, candidates, reason, input_name, record_index, batch_id, "
            "staged_at, status) VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending') RETURNING id",
            (
                data,
                " ".join(str(c) for c in candidates),
                reason,
                input_name,
                record_index,
                self.batch_id,
                now(),
            ),
        ).fetchone()
        return int(row[0])

    _STAGED = (
        "SELECT id, data, candidates, reason, input_name, record_index, batch_id, staged_at, "
        "status, resolved_at, resolved_by, sysno FROM review"
    )

    def staged(self, status: str | None = "pending") -> list[Staged]:
        if status is None:
            rows = self._q(self._STAGED + " ORDER BY id")
        else:
            rows = self._q(self._STAGED + " WHERE status=%s ORDER BY id", (status,))
        return [_staged(r) for r in rows]

    def staged_one(self, staged_id: int) -> Staged | None:
        row = self._q(self._STAGED + " WHERE id=%s", (staged_id,)).fetchone()
        return None if row is None else _staged(row)

    def resolve_staged(self, staged_id: int, status: str, sysno: int | None) -> bool:
        cur = self._q(
            "UPDATE review SET status=%s, resolved_at=%s, resolved_by=%s, sysno=%s "
            "WHERE id=%s AND status='pending'",
            (status, now(), self.source, sysno, staged_id),
        )
        return bool(cur.rowcount > 0)


def _staged(r: Any) -> Staged:
    return Staged(
        int(r[0]),
        bytes(r[1]),
        [int(c) for c in r[2].split()],
        r[3],
        r[4],
        int(r[5]),
        None if r[6] is None else int(r[6]),
        r[7],
        r[8],
        r[9],
        r[10],
        None if r[11] is None else int(r[11]),
    )
