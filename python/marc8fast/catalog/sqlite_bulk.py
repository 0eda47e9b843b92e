"""The SQLite backend's match keys and batched writes (issue 21, i21-pipe), a part of
:class:`.sqlite.SQLiteStore` kept in its own file (the 900-line limit)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .._native import pipeline_stored_keys, search_index_row
from .api import LOADED_FATES, NewRecord, now
from .sqlite_versions import _wrapped_mixin


@_wrapped_mixin
class SQLiteBulkWrites:
    """Methods of :class:`.sqlite.SQLiteStore` (which provides ``db``, ``path``, ``source``,
    ``batch_id``, ``_bulk`` and ``_flush_log``)."""

    db: sqlite3.Connection
    path: str
    source: str
    batch_id: int | None
    _bulk: bool

    def _flush_log(self) -> None:
        raise NotImplementedError

    def _put_keys(self, sysno: int, data: bytes, keys: list[tuple[str, str]] | None) -> None:
        """The record's match keys (made from its data by the core when not given)."""
        if keys is None:
            keys = pipeline_stored_keys(data)
        self.db.executemany(
            "INSERT OR IGNORE INTO match_keys VALUES (?, ?, ?)", [(k, v, sysno) for k, v in keys]
        )

    def _replace_keys(self, sysno: int, data: bytes, keys: list[tuple[str, str]] | None) -> None:
        """The record's match keys made again (an overlay, a revert): :meth:`_put_keys` after the
        old ones are gone."""
        self.db.execute("DELETE FROM match_keys WHERE sysno=?", (sysno,))
        self._put_keys(sysno, data, keys)

    def candidates(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], set[int]]:
        """The live records that carry each of ``keys`` (``(kind, value)``; kind ``oclc``, ``title``
        or one of the match-key kinds), in a few queries; keys no live record has are left out."""
        by_kind: dict[str, list[str]] = {}
        for kind, value in keys:
            by_kind.setdefault(kind, []).append(value)
        out: dict[tuple[str, str], set[int]] = {}
        for kind, values in by_kind.items():
            values = list(dict.fromkeys(values))
            for i in range(0, len(values), 500):
                part = values[i : i + 500]
                marks = ",".join("?" * len(part))
                if kind == "oclc":
                    sql = (
                        "SELECT o.number, o.sysno FROM oclc o JOIN records r ON r.sysno=o.sysno "
                        f"WHERE o.number IN ({marks}) AND r.deleted=0"
                    )
                    params: list[object] = list(part)
                elif kind == "title":
                    sql = (
                        f"SELECT title_key, sysno FROM records WHERE title_key IN ({marks}) "
                        "AND deleted=0"
                    )
                    params = list(part)
                else:
                    sql = (
                        "SELECT k.value, k.sysno FROM match_keys k JOIN records r "
                        f"ON r.sysno=k.sysno WHERE k.kind=? AND k.value IN ({marks}) "
                        "AND r.deleted=0"
                    )
                    params = [kind, *part]
                for value, sysno in self.db.execute(sql, params):
                    out.setdefault((kind, value), set()).add(sysno)
        return out

    def loaded_many(
        self, inputs: list[tuple[str, int]]
    ) -> dict[tuple[str, int], tuple[int | None, int]]:
        """:meth:`loaded` for many input records at once: ``{(input_hash, record_index): (sysno,
        batch_id)}`` for those already in the catalog."""
        self._flush_log()
        wanted = set(inputs)
        hashes = list(dict.fromkeys(h for h, _ in inputs))
        out: dict[tuple[str, int], tuple[int | None, int]] = {}
        fates = ",".join("?" * len(LOADED_FATES))
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            marks = ",".join("?" * len(part))
            for h, idx, sysno, batch in self.db.execute(
                f"SELECT input_hash, record_index, sysno, batch_id FROM load_log "
                f"WHERE input_hash IN ({marks}) AND fate IN ({fates}) ORDER BY id",
                (*part, *LOADED_FATES),
            ):
                if (h, idx) in wanted:
                    out.setdefault((h, idx), (sysno, batch))
        return out

    def insert_many(self, rows: list[NewRecord]) -> list[int]:
        """Insert new records with multi-row statements (in the open transaction): each with its
        OCLC numbers, title key, match keys, search terms and history event. Returns their
        system numbers, in order."""
        if not rows:
            return []
        if not self._bulk:
            # A writer of many records: a page cache of 64 MiB (the indexes of random keys --
            # input hashes, digests, search terms -- stay in memory rather than being read back
            # for every group) and a WAL checkpoint every 16,000 pages rather than 1,000.
            self._bulk = True
            self.db.execute("PRAGMA cache_size=-65536")
            self.db.execute("PRAGMA wal_autocheckpoint=16000")
        (top,) = self.db.execute("SELECT coalesce(max(sysno), 0) FROM records").fetchone()
        first = int(top) + 1
        if first + len(rows) - 1 > 999_999_999:
            raise OverflowError("system numbers are exhausted (9 digits)")
        sysnos = list(range(first, first + len(rows)))
        recs: list[tuple[object, ...]] = []
        oclc: list[tuple[str, int]] = []
        terms: list[tuple[object, ...]] = []
        keys: list[tuple[str, str, int]] = []
        events: list[tuple[object, ...]] = []
        batch = self.batch_id
        for sysno, r in zip(sysnos, rows, strict=True):
            t = now()
            recs.append((sysno, r.data, r.title_key, t, t))
            oclc.extend((n, sysno) for n in r.oclc)
            terms.append((sysno, *r.terms))
            keys.extend((k, v, sysno) for k, v in r.keys)
            events.append((sysno, t, "created", batch, r.source or self.source, r.detail))
        db = self.db
        db.executemany(
            "INSERT INTO records (sysno, data, title_key, deleted, created_at, updated_at) "
            "VALUES (?, ?, ?, 0, ?, ?)",
            recs,
        )
        db.executemany("INSERT OR IGNORE INTO oclc VALUES (?, ?)", oclc)
        db.executemany(
            "INSERT INTO search_index (rowid, title, author, subject, isbn, issn, oclc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            terms,
        )
        db.executemany("INSERT OR IGNORE INTO match_keys VALUES (?, ?, ?)", keys)
        db.executemany(
            "INSERT INTO events (sysno, time, action, batch_id, source, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            events,
        )
        return sysnos

    def index_row_of(self, data: bytes) -> tuple[str, ...]:
        """The search index row this catalog holds for a record of ``data`` (what ``catalog
        check`` compares :meth:`index_rows` with): the core's terms as they are."""
        return tuple(search_index_row(data))
