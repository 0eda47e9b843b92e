"""The catalog as the flows knew it before :mod:`marc8fast.catalog` (kept for callers that import
from here): every name is the catalog package's. No SQL here."""

from __future__ import annotations

import os
from collections.abc import Callable

from ..catalog import (
    DEFAULT_WAIT,
    LOADED_FATES,
    SCHEMA_VERSION,
    Batch,
    Catalog,
    CatalogError,
    Event,
    LockedError,
    LogRow,
    NoCatalogError,
    ReadOnlyError,
    SchemaError,
    StoredRecord,
    default_source,
    describe_error,
    format_sysno,
    now,
    open_catalog,
    parse_sysno,
)
from ..catalog.sqlite import SQLiteStore

#: The protocol's former name.
CatalogStore = Catalog


def open_store(
    target: str | os.PathLike[str],
    *,
    create: bool = True,
    readonly: bool = False,
    wait: float = DEFAULT_WAIT,
    on_wait: Callable[[str], object] | None = None,
) -> Catalog:
    """Open the catalog at ``target``, an SQLite path or a ``postgresql://`` URL (the flows'
    ``import_records``/``export_records`` given a URL used to make an SQLite file of that name):
    :func:`marc8fast.catalog.open_catalog`."""
    return open_catalog(target, create=create, readonly=readonly, wait=wait, on_wait=on_wait)


__all__ = [
    "DEFAULT_WAIT",
    "LOADED_FATES",
    "SCHEMA_VERSION",
    "Batch",
    "CatalogError",
    "CatalogStore",
    "Event",
    "LockedError",
    "LogRow",
    "NoCatalogError",
    "ReadOnlyError",
    "SQLiteStore",
    "SchemaError",
    "StoredRecord",
    "default_source",
    "describe_error",
    "format_sysno",
    "now",
    "open_store",
    "parse_sysno",
]
