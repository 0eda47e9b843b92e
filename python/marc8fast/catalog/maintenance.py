"""Moving a catalog between backends (``catalog copy``) and checking one (``catalog check``),
written against the :class:`~.api.Catalog` API only (no SQL here).

A copy goes into an empty catalog (a new SQLite file, or an empty PostgreSQL database), table by
table in one transaction: records keep their system numbers, times, deleted flags and history;
the load log, batches, accounts (their password hashes) and receipts come along; the search
index is made again from the records by the core. The counts of every table and a checksum of
every record's bytes (SHA-256 over system number and data, in system-number order) are taken on
both sides, so that the copy is known to be whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from .._native import Marc8Error, Record
from .api import TABLES, Catalog, CatalogError


def records_checksum(store: Catalog) -> tuple[int, str]:
    """(number of records, SHA-256 over every record's system number and bytes, in order)."""
    h = hashlib.sha256()
    n = 0
    for rec in store.iter_records():
        h.update(rec.sysno.to_bytes(8, "big"))
        h.update(len(rec.data).to_bytes(8, "big"))
        h.update(rec.data)
        n += 1
    return n, h.hexdigest()


@dataclass
class CopyResult:
    counts: dict[str, int] = field(default_factory=dict)
    source_checksum: str = ""
    target_checksum: str = ""
    records: int = 0

    @property
    def same(self) -> bool:
        return self.source_checksum == self.target_checksum


def copy_catalog(source: Catalog, target: Catalog) -> CopyResult:
    """Copy every table of ``source`` into ``target`` (which must hold no record, batch or
    account) in one transaction; then compare the records' checksums."""
    if target.count() or target.batches() or target.accounts():
        raise CatalogError(f"{target.target}: not an empty catalog (copy goes into a new one)")
    result = CopyResult()
    with target.transaction():
        for table in TABLES:
            result.counts[table] = target.restore(table, source.dump(table))
        target.finish_restore()
    result.records, result.source_checksum = records_checksum(source)
    n, result.target_checksum = records_checksum(target)
    if n != result.records:
        result.target_checksum += f" ({n} records)"
    return result


def check_catalog(store: Catalog) -> Iterator[str]:
    """Every problem of the catalog, one line each: a record that does not parse, a search index
    row that differs from the terms its record gives, a live OCLC number on two records."""
    index = dict(store.index_rows())
    for rec in store.iter_records():
        try:
            Record.parse(rec.data)
        except (ValueError, Marc8Error) as e:
            yield f"{rec.sysno:09d}: the stored record does not parse ({e})"
            continue
        want = [set(col.split()) for col in store.index_row_of(rec.data)]
        have = [set(col.split()) for col in index.pop(rec.sysno, ("",) * len(want))]
        if want != have:
            yield f"{rec.sysno:09d}: its search index terms differ from its record's"
    for sysno in sorted(index):
        if any(index[sysno]):
            yield f"{sysno:09d}: search index terms for a record that does not exist"
    for number, sysnos in store.live_oclc_duplicates():
        shown = ", ".join(f"{s:09d}" for s in sysnos)
        yield f"OCLC number {number}: on {len(sysnos)} live records ({shown})"
