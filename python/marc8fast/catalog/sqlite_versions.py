"""The SQLite backend's record versions, batch status, dry runs and review staging (issue 21,
i21-catalog), a part of :class:`.sqlite.SQLiteStore` kept in its own file."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
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
from .sqlite_schema import translate


def _wrapped_mixin(cls: type[Any]) -> type[Any]:
    """The mixin's public methods report SQLite errors as :class:`CatalogError` (as the
    store's own do)."""
    import functools

    for name, fn in list(vars(cls).items()):
        if callable(fn) and not name.startswith("_") and name != "dry_run":

            def make(f: Callable[..., Any]) -> Callable[..., Any]:
                @functools.wraps(f)
                def call(self: Any, *a: Any, **k: Any) -> Any:
                    try:
                        return f(self, *a, **k)
                    except sqlite3.Error as e:
                        raise translate(self.path, e) from None

                return call

            setattr(cls, name, make(fn))
    return cls


@_wrapped_mixin
class SQLiteVersions:
    """Methods of :class:`.sqlite.SQLiteStore` (which provides ``db``, ``path``, ``get``,
    ``_index``, ``_event``, ``begin``, ``rollback``, ``_flush_log``, ``batches``)."""

    db: sqlite3.Connection
    path: str
    source: str
    batch_id: int | None
    _dry: bool
    _in_sp: bool
    _pending_log: list[tuple[object, ...]]

    if TYPE_CHECKING:

        def get(self, sysno: int) -> StoredRecord | None: ...
        def batches(self) -> list[Batch]: ...
        def begin(self) -> None: ...
        def rollback(self) -> None: ...
        def _flush_log(self) -> None: ...
        def _index(self, sysno: int, data: bytes, *, new: bool = False) -> None: ...
        def _event(self, sysno: int, action: str, source: str | None, detail: str) -> None: ...
        def _replace_keys(
            self, sysno: int, data: bytes, keys: list[tuple[str, str]] | None
        ) -> None: ...

    def _save_version(self, sysno: int, action: str) -> None:
        """Keep the record's current state as its next numbered version (in the transaction that
        changes it): bytes, title key, deleted flag and OCLC numbers, so a revert restores all."""
        self.db.execute(
            "INSERT INTO versions (sysno, version, data, title_key, deleted, oclc, saved_at, "
            "batch_id, action) SELECT r.sysno, (SELECT coalesce(max(v.version), 0) + 1 FROM "
            "versions v WHERE v.sysno=r.sysno), r.data, r.title_key, r.deleted, "
            "coalesce((SELECT group_concat(number, ' ') FROM (SELECT number FROM oclc "
            "WHERE sysno=r.sysno ORDER BY number)), ''), ?, ?, ? FROM records r WHERE r.sysno=?",
            (now(), self.batch_id, action, sysno),
        )

    def versions(self, sysno: int) -> list[Version]:
        """Every version of the record, oldest first, the current one last (empty: no record)."""
        return self.versions_of([sysno]).get(sysno, [])

    def versions_of(self, sysnos: list[int]) -> dict[int, list[Version]]:
        """:meth:`versions` of many records in a few queries (records that do not exist are
        left out)."""
        out: dict[int, list[Version]] = {}
        for i in range(0, len(sysnos), 500):
            part = sysnos[i : i + 500]
            marks = ",".join("?" * len(part))
            kept: dict[int, list[Version]] = {}
            for r in self.db.execute(
                "SELECT sysno, version, data, title_key, deleted, oclc, saved_at, batch_id, "
                f"action FROM versions WHERE sysno IN ({marks}) ORDER BY sysno, version",
                part,
            ):
                kept.setdefault(r[0], []).append(
                    Version(r[0], r[1], r[2], r[3], bool(r[4]), r[5].split(), r[6], r[7], r[8])
                )
            numbers: dict[int, list[str]] = {}
            for sysno, n in self.db.execute(
                f"SELECT sysno, number FROM oclc WHERE sysno IN ({marks}) ORDER BY sysno, number",
                part,
            ):
                numbers.setdefault(sysno, []).append(n)
            for sysno, data, key, deleted in self.db.execute(
                f"SELECT sysno, data, title_key, deleted FROM records WHERE sysno IN ({marks})",
                part,
            ):
                vs = kept.get(sysno, [])
                n = vs[-1].version + 1 if vs else 1
                vs.append(
                    Version(
                        sysno,
                        n,
                        data,
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
        """Make version ``number`` the record's current state again, exactly (bytes, title key,
        deleted flag, OCLC numbers; the search index made again), as a new version itself (so
        the revert can be reverted). Returns the new version's number."""
        old = known if known is not None and known.version == number else None
        if old is None:
            old = self.version(sysno, number)
        if old is None:
            raise CatalogError(f"{self.path}: record {sysno} has no version {number}")
        self._save_version(sysno, "reverted")
        self.db.execute(
            "UPDATE records SET data=?, title_key=?, deleted=?, updated_at=? WHERE sysno=?",
            (old.data, old.title_key, int(old.deleted), now(), sysno),
        )
        self.db.execute("DELETE FROM oclc WHERE sysno=?", (sysno,))
        self.db.executemany(
            "INSERT OR IGNORE INTO oclc VALUES (?, ?)", [(n, sysno) for n in old.oclc_numbers]
        )
        self._index(sysno, old.data)
        self._replace_keys(sysno, old.data, None)
        self._event(sysno, "reverted", source, detail or f"to version {number}")
        row = self.db.execute("SELECT max(version) FROM versions WHERE sysno=?", (sysno,))
        return int(row.fetchone()[0]) + 1

    def batch(self, batch_id: int) -> Batch | None:
        return next((b for b in self.batches() if b.batch_id == batch_id), None)

    def batch_records(self, batch_id: int) -> dict[int, bool]:
        """The records a batch wrote: ``{sysno: created by it}``."""
        return {
            int(s): bool(c)
            for s, c in self.db.execute(
                "SELECT sysno, max(action='created') FROM events WHERE batch_id=? GROUP BY sysno "
                "ORDER BY sysno",
                (batch_id,),
            )
        }

    def batch_log(self, batch_id: int) -> list[LogRow]:
        """The load-log rows of one batch."""
        self._flush_log()
        return [
            LogRow(*r)
            for r in self.db.execute(
                "SELECT batch_id, input_file, input_hash, record_index, fate, sysno, message, "
                "time FROM load_log WHERE batch_id=? ORDER BY id",
                (batch_id,),
            )
        ]

    def finish_batch(self, batch_id: int, status: str) -> None:
        self.db.execute(
            "UPDATE batches SET status=?, finished_at=? WHERE batch_id=?",
            (status, now(), batch_id),
        )

    def unmark_loaded(self, batch_id: int) -> int:
        """The batch's input records no longer count as loaded (after its revert: the same file
        loads again): their fates become ``FATE_reverted``."""
        self._flush_log()
        marks = ",".join("?" * len(LOADED_FATES))
        cur = self.db.execute(
            f"UPDATE load_log SET fate=fate || '_reverted' WHERE batch_id=? AND fate IN ({marks})",
            (batch_id, *LOADED_FATES),
        )
        return int(cur.rowcount)

    def deleted_since(self, since: str) -> Iterator[StoredRecord]:
        """Deleted records whose deletion (the last one) is at or after ``since``."""
        cur = self.db.execute(
            "SELECT sysno, data, deleted, title_key, created_at, updated_at FROM records r "
            "WHERE deleted=1 AND (SELECT max(time) FROM events e WHERE e.sysno=r.sysno AND "
            "e.action='deleted') >= ? ORDER BY sysno",
            (since,),
        )
        while rows := cur.fetchmany(1000):
            for r in rows:
                yield StoredRecord(r[0], r[1], bool(r[2]), r[3], r[4], r[5], [])

    @contextmanager
    def dry_run(self) -> Iterator[None]:
        """Everything inside runs in one write transaction that is rolled back at the end; the
        transactions opened inside are its savepoints (so a flow runs as it would, and nothing
        reaches the file: the catalog is byte for byte as it was)."""
        if self.db.in_transaction or self._dry:
            raise CatalogError(f"{self.path}: a transaction is already open")
        self.begin()
        self._dry = True
        try:
            yield
        finally:
            self._dry = False
            self._in_sp = False
            self.rollback()

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        if self._in_sp:
            raise CatalogError(f"{self.path}: a transaction is already open")
        self._in_sp = True
        try:
            self.db.execute("SAVEPOINT dry")
            try:
                yield
                self._flush_log()
            except BaseException:
                self._pending_log.clear()
                self.db.execute("ROLLBACK TO dry")
                self.db.execute("RELEASE dry")
                raise
            self.db.execute("RELEASE dry")
        except sqlite3.Error as e:
            raise translate(self.path, e) from None
        finally:
            self._in_sp = False

    # --- review staging (i21) ---

    def stage_review(
        self, data: bytes, candidates: list[int], reason: str, *, input_name: str, record_index: int
    ) -> int:
        """Stage a record for a cataloger's review (in the open transaction); its id."""
        cur = self.db.execute(
            "INSERT INTO review (data, candidates, reason, input_name, record_index, batch_id, "
            "staged_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
            (
                data,
                " ".join(str(c) for c in candidates),
                reason,
                input_name,
                record_index,
                self.batch_id,
                now(),
            ),
        )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    _STAGED = (
        "SELECT id, data, candidates, reason, input_name, record_index, batch_id, staged_at, "
        "status, resolved_at, resolved_by, sysno FROM review"
    )

    def staged(self, status: str | None = "pending") -> list[Staged]:
        if status is None:
            rows = self.db.execute(self._STAGED + " ORDER BY id")
        else:
            rows = self.db.execute(self._STAGED + " WHERE status=? ORDER BY id", (status,))
        return [_staged(r) for r in rows]

    def staged_one(self, staged_id: int) -> Staged | None:
        row = self.db.execute(self._STAGED + " WHERE id=?", (staged_id,)).fetchone()
        return None if row is None else _staged(row)

    def resolve_staged(self, staged_id: int, status: str, sysno: int | None) -> bool:
        """Mark a pending staged record accepted or rejected; False if it is not pending."""
        cur = self.db.execute(
            "UPDATE review SET status=?, resolved_at=?, resolved_by=?, sysno=? "
            "WHERE id=? AND status='pending'",
            (status, now(), self.source, sysno, staged_id),
        )
        return cur.rowcount > 0


def _staged(r: Any) -> Staged:
    return Staged(
        int(r[0]),
        bytes(r[1]),
        [int(c) for c in r[2].split()],
        r[3],
        r[4],
        int(r[5]),
        r[6],
        r[7],
        r[8],
        r[9],
        r[10],
        r[11],
    )
