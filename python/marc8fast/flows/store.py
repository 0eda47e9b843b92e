"""The catalog as the flows knew it before :mod:`marc8fast.catalog` (kept for callers that import
from here): every name is the catalog package's. No SQL here."""

from __future__ import annotations

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
    parse_sysno,
)
from ..catalog.sqlite import SQLiteStore, open_store

#: The protocol's former name.
CatalogStore = Catalog

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
