"""The import and export flows between OCLC and a local Unicode catalog (see the README section
"Import and export flows").

* :func:`import_records` loads MARC-8 or UTF-8 files into the catalog with the local rules and
  matching (:mod:`.importer`);
* :func:`export_records` writes catalog records to MARC-8 for OCLC (:mod:`.exporter`);
* :func:`delete_record` soft-deletes a record (field ``STA 1_ $a DELETED``),
  :func:`undelete_record` undoes it;
* :func:`open_store` opens the catalog (SQLite; :class:`CatalogStore` is the interface).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .._native import Field, Record
from ..catalog import ConflictError
from .exporter import CharReport, ExportOutcome, ExportSummary, TagFilter, export_records
from .importer import import_records, normalise_oclc, title_key
from .outcome import DeleteResult, ExportFate, Fate, LoadSummary, Outcome, RejectReason
from .store import CatalogStore, SQLiteStore, StoredRecord, format_sysno, open_store, parse_sysno

_T = TypeVar("_T")

#: How many times a delete or undelete runs when concurrent writers keep conflicting with it.
_TRIES = 5


def _in_transaction(store: CatalogStore, body: Callable[[], _T]) -> _T:
    """``body()`` in one write transaction; run again (it reads the record afresh) when another
    writer's transaction changed the record meanwhile (:class:`ConflictError`: PostgreSQL's
    serialisation failure once that writer commits; SQLite has one writer at a time)."""
    for attempt in range(1, _TRIES + 1):
        try:
            with store.transaction():
                return body()
        except ConflictError:
            if attempt == _TRIES:
                raise
    raise AssertionError("unreachable")


def delete_record(store: CatalogStore, sysno: int) -> DeleteResult:
    """Soft-delete: add ``STA 1_ $a DELETED`` and set the deleted flag. Returns what happened:
    :class:`~.outcome.DeleteResult` ``DELETED``, ``ALREADY_DELETED`` or ``NOT_FOUND``."""

    def body() -> DeleteResult:
        rec = store.get(sysno)
        if rec is None:
            return DeleteResult.NOT_FOUND
        if rec.deleted:
            return DeleteResult.ALREADY_DELETED
        model = Record.parse(rec.data)
        model.add_field(Field("STA", "1 ", [("a", "DELETED")]))  # a local field: last
        store.mark_deleted(sysno, model.to_bytes(encoding="utf8"))
        return DeleteResult.DELETED

    return _in_transaction(store, body)


def undelete_record(store: CatalogStore, sysno: int) -> DeleteResult | str:
    """Undo :func:`delete_record`: remove the ``STA $a DELETED`` field(s) and clear the deleted
    flag (the history says who and when). Returns :class:`~.outcome.DeleteResult` ``UNDELETED``,
    ``NOT_DELETED``, ``NOT_FOUND``, or (a plain ``str``) why it was refused: a live record has
    one of its OCLC numbers (two live records never share one)."""

    def body() -> DeleteResult | str:
        rec = store.get(sysno)
        if rec is None:
            return DeleteResult.NOT_FOUND
        if not rec.deleted:
            return DeleteResult.NOT_DELETED
        other = store.find_by_oclc(rec.oclc_numbers, exclude=sysno)
        if other is not None:
            return (
                f"not undeleted: OCLC number {other[1]} is on {format_sysno(other[0])}, a live "
                "record (delete or overlay it first)"
            )
        model = Record.parse(rec.data)
        for f in model.get_fields("STA"):
            if any(a.strip() == "DELETED" for a in f.get_subfields("a")):
                model.remove_field(f)
        store.undelete(sysno, model.to_bytes(encoding="utf8"))
        return DeleteResult.UNDELETED

    return _in_transaction(store, body)


__all__ = [
    "CatalogStore",
    "CharReport",
    "DeleteResult",
    "ExportFate",
    "ExportOutcome",
    "ExportSummary",
    "Fate",
    "LoadSummary",
    "Outcome",
    "RejectReason",
    "SQLiteStore",
    "StoredRecord",
    "TagFilter",
    "delete_record",
    "export_records",
    "format_sysno",
    "import_records",
    "normalise_oclc",
    "open_store",
    "parse_sysno",
    "title_key",
    "undelete_record",
]
