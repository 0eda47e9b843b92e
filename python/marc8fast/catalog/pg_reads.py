"""The PostgreSQL backend's one-statement record read (issue 22, i22-z16), a part of
:class:`.postgres.PostgresStore` kept in its own file: :meth:`PgReads.read_record` is
:meth:`~.postgres.PostgresStore.get` in one statement (one round trip to the server instead of
two), which the Z39.50 server makes for every search by system number and every present."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .api import NativeReader, StoredRecord

#: The record and its OCLC numbers, ordered as ``get`` orders them.
_READ_RECORD = (
    "SELECT r.sysno, r.data, r.deleted, r.title_key, r.created_at, r.updated_at, "
    'ARRAY(SELECT o.number FROM oclc o WHERE o.sysno=r.sysno ORDER BY o.number COLLATE "C") '
    "FROM records r WHERE r.sysno=%s"
)


class PgReads:
    """Methods of :class:`.postgres.PostgresStore` (which provides ``_q``)."""

    if TYPE_CHECKING:

        def _q(self, sql: str, params: Any = ()) -> Any: ...

    def native_reader(self) -> NativeReader | None:
        """None: PostgreSQL is read through psycopg (the Z39.50 hot path is SQLite's only)."""
        return None

    def read_record(self, sysno: int) -> StoredRecord | None:
        """As :meth:`get` (the record, deleted or not, with its OCLC numbers; None if there is
        none), in one statement."""
        row = self._q(_READ_RECORD, (sysno,)).fetchone()
        if row is None:
            return None
        return StoredRecord(
            row[0], bytes(row[1]), bool(row[2]), row[3], row[4], row[5], list(row[6] or [])
        )
