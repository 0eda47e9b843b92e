"""The PostgreSQL backend's match keys and batched writes (issue 21, i21-pipe): a part of
:class:`marc8fast.catalog.postgres.PostgresStore` (a base class of it, kept apart so that each
file stays readable)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._native import pgcopy_new_records, pipeline_stored_keys, search_index_row
from .api import LOADED_FATES, NewRecord, now
from .pg_schema import _cut, _translate, tsvector_of

try:
    import psycopg
except ImportError:  # pragma: no cover - said when a postgresql:// catalog is opened
    psycopg = None  # type: ignore[assignment]


#: A new record as :func:`marc8fast._native.pgcopy_new_records` takes it: system number,
#: data, title key, OCLC numbers, search index row, match keys, source, history detail.
CopyRow = tuple[int, bytes, str | None, list[str], tuple[str, ...], list[tuple[str, str]], str, str]

#: The tables of :func:`marc8fast._native.pgcopy_new_records`' payloads, in its order.
_COPY_TABLES = (
    "records (sysno, data, title_key, deleted, created_at, updated_at)",
    "oclc (number, sysno, live)",
    "search_index (sysno, terms)",
    "events (sysno, time, action, batch_id, source, detail)",
    "match_keys (kind, value, sysno)",
)


def _texts(values: list[str]) -> tuple[str, object]:
    """A ``text[]`` parameter of a group's query: the SQL that stands for it and its value. The
    values joined by newlines into one string, split again by the server (psycopg makes an array
    of a Python list element by element in Python: ~3 µs a record for a group's input keys), or,
    when a value is empty or holds a newline, the list itself."""
    joined = "\n".join(values)
    if values and all(values) and joined.count("\n") == len(values) - 1:
        return "string_to_array(%s, E'\\n')", joined
    return "%s::text[]", values


class PgBulkWrites:
    """Match keys and batched writes of :class:`PostgresStore` (its state and helpers are used
    as they are: ``conn``, ``_q``, ``_next_sysno``, the ``_new_*`` buffers)."""

    conn: Any
    target: str
    source: str
    batch_id: int | None
    _in_tx: bool
    _expect: int
    _new_records: list[tuple[object, ...]]
    _new_oclc: list[tuple[object, ...]]
    _new_terms: list[tuple[object, ...]]
    _new_events: list[tuple[object, ...]]
    _new_keys: list[tuple[object, ...]]
    _new_copy: list[CopyRow]
    _sysno_pool: list[int]
    _tx_sysnos: list[int]
    #: Write new records and the load log in PostgreSQL's binary COPY format, built by the
    #: core (i20-pgcopy); off: the text COPY of rows made in Python, as before.
    binary_copy = True

    def _q(self, sql: str, params: Any = ()) -> Any:
        raise NotImplementedError

    def _next_sysno(self) -> int:
        raise NotImplementedError

    def _flush_writes(self) -> None:
        raise NotImplementedError

    def _flush_log(self) -> None:
        raise NotImplementedError

    # --- match keys and batched writes (i21-pipe) ---

    def _replace_keys(self, sysno: int, data: bytes, keys: list[tuple[str, str]] | None) -> None:
        """The record's match keys made again (an overlay, a revert; made from its data by the
        core when not given), written at once."""
        self._q("DELETE FROM match_keys WHERE sysno=%s", (sysno,))
        self._new_keys.extend(
            (k, v, sysno)
            for k, v in dict.fromkeys(keys if keys is not None else pipeline_stored_keys(data))
        )
        self._flush_keys()

    def _flush_keys(self) -> None:
        """Write the match keys gathered (after their records)."""
        if self._new_keys:
            rows, self._new_keys = self._new_keys, []
            try:
                with (
                    self.conn.cursor() as cur,
                    cur.copy("COPY match_keys (kind, value, sysno) FROM STDIN") as copy,
                ):
                    for r in rows:
                        copy.write_row(r)
            except psycopg.Error as e:
                raise _translate(self.target, e) from None

    def candidates(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], set[int]]:
        """The live records that carry each of ``keys`` (see the SQLite backend), one query per
        kind."""
        by_kind: dict[str, list[str]] = {}
        for kind, value in keys:
            by_kind.setdefault(kind, []).append(value)
        out: dict[tuple[str, str], set[int]] = {}
        for kind, values in by_kind.items():
            sql, param = _texts(list(dict.fromkeys(values)))
            if kind == "oclc":
                rows = self._q(
                    f"SELECT number, sysno FROM oclc WHERE number = ANY({sql}) AND live", (param,)
                )
            elif kind == "title":
                rows = self._q(
                    f"SELECT title_key, sysno FROM records WHERE title_key = ANY({sql}) "
                    "AND NOT deleted",
                    (param,),
                )
            else:
                rows = self._q(
                    "SELECT k.value, k.sysno FROM match_keys k JOIN records r ON r.sysno=k.sysno "
                    f"WHERE k.kind=%s AND k.value = ANY({sql}) AND NOT r.deleted",
                    (kind, param),
                )
            for value, sysno in rows:
                out.setdefault((kind, value), set()).add(int(sysno))
        return out

    def loaded_many(
        self, inputs: list[tuple[str, int]]
    ) -> dict[tuple[str, int], tuple[int | None, int]]:
        """:meth:`loaded` for many input records, in one query."""
        self._flush_log()
        out: dict[tuple[str, int], tuple[int | None, int]] = {}
        if not inputs:
            return out
        sql, hashes = _texts([h for h, _ in inputs])
        for h, i, sysno, batch in self._q(
            "SELECT DISTINCT ON (input_hash, record_index) input_hash, record_index, sysno, "
            "batch_id FROM load_log WHERE (input_hash, record_index) IN (SELECT * FROM "
            f"unnest({sql}, string_to_array(%s, ',')::int[])) AND fate = ANY(%s) "
            "ORDER BY input_hash, record_index, id",
            (hashes, ",".join(str(int(i)) for _, i in inputs), list(LOADED_FATES)),
        ):
            out[(h, i)] = (sysno, batch)
        return out

    def insert_many(self, rows: list[NewRecord]) -> list[int]:
        """Insert new records (in the open transaction), written with COPY at the next
        statement or the commit: in PostgreSQL's binary format, every table's rows built by the
        core (:func:`marc8fast._native.pgcopy_new_records`, i20-pgcopy), unless
        :attr:`binary_copy` is off (the text COPY of rows made here, as before)."""
        if not self.binary_copy:
            return self._insert_many_rows(rows)
        if self._new_records:
            self._flush_writes()  # single inserts before these: written first, in order
        try:
            sysnos = self._take_sysnos(len(rows))
        except psycopg.Error as e:
            raise _translate(self.target, e) from None
        if sysnos and sysnos[-1] > 999_999_999:
            self._sysno_pool = sorted({*self._sysno_pool, *sysnos}, reverse=True)
            del self._tx_sysnos[-len(sysnos) :]
            raise OverflowError("system numbers are exhausted (9 digits)")
        source = self.source
        self._new_copy.extend(
            (sysno, r.data, r.title_key, r.oclc, r.terms, r.keys, r.source or source, r.detail)
            for sysno, r in zip(sysnos, rows, strict=True)
        )
        if not self._in_tx:
            self._flush_writes()
        return sysnos

    def _take_sysnos(self, n: int) -> list[int]:
        """``n`` system numbers, ascending: the pool's first, the rest from the sequence in one
        query (none skipped: what a group leaves goes to the next one, see ``_next_sysno``)."""
        out: list[int] = []
        while self._sysno_pool and len(out) < n:
            out.append(self._sysno_pool.pop())
        if len(out) < n:
            rows = self.conn.execute(
                "SELECT nextval(pg_get_serial_sequence('records', 'sysno')) "
                "FROM generate_series(1, %s)",
                (n - len(out),),
            ).fetchall()
            out.extend(sorted(int(r[0]) for r in rows))
        self._tx_sysnos.extend(out)
        return out

    def _flush_copy(self) -> None:
        """Write the new records gathered by :meth:`insert_many`: one binary COPY a table, its
        payload built by the core."""
        rows, self._new_copy = self._new_copy, []
        payloads = pgcopy_new_records(rows, now(), self.batch_id)
        try:
            with self.conn.cursor() as cur:
                for table, (payload, n) in zip(_COPY_TABLES, payloads, strict=True):
                    if n:
                        with cur.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                            copy.write(payload)
        except psycopg.Error as e:
            raise _translate(self.target, e) from None

    def _insert_many_rows(self, rows: list[NewRecord]) -> list[int]:
        """:meth:`insert_many` as it was before i20-pgcopy: each table's rows made here, written
        with text COPY (kept for :attr:`binary_copy` off: the tests compare the two)."""
        sysnos = []
        for k, r in enumerate(rows):
            # The sequence gives as many numbers as records are still to come (no gap).
            self._expect = len(rows) - k - 1
            try:
                sysno = self._next_sysno()
            except psycopg.Error as e:
                raise _translate(self.target, e) from None
            if sysno > 999_999_999:
                raise OverflowError("system numbers are exhausted (9 digits)")
            t = now()
            self._new_records.append((sysno, r.data, r.title_key, False, t, t))
            for n in dict.fromkeys(r.oclc):
                self._new_oclc.append((n, sysno, True))
            if (terms := tsvector_of(r.terms)) is not None:
                self._new_terms.append((sysno, terms))
            self._new_keys.extend((k, v, sysno) for k, v in dict.fromkeys(r.keys))
            self._new_events.append(
                (sysno, t, "created", self.batch_id, r.source or self.source, r.detail)
            )
            sysnos.append(sysno)
        self._expect = 0
        if not self._in_tx:
            self._flush_writes()
        return sysnos

    def index_row_of(self, data: bytes) -> tuple[str, ...]:
        """The search index row this catalog holds for a record of ``data`` (what ``catalog
        check`` compares :meth:`index_rows` with): the core's terms, each cut to what a tsvector
        lexeme holds (:func:`.pg_schema._cut`), as the writer stores them."""
        return tuple(" ".join(_cut(t) for t in col.split()) for col in search_index_row(data))
