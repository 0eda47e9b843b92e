"""Looking into a test's catalog on either backend, through the catalog API only (no SQL in the
tests): the same helper reads an SQLite file and a PostgreSQL database, so a test body that uses
these runs unchanged on both (the ``catalog_target`` fixture of ``tests/conftest.py``)."""

from __future__ import annotations

import os
from pathlib import Path

from marc8fast.catalog import NoCatalogError, is_url, open_catalog
from marc8fast.catalog.api import TABLES

Target = str | Path


def is_pg(target: Target) -> bool:
    """Whether the test's catalog is a PostgreSQL database."""
    return is_url(os.fspath(target))


def records(target: Target) -> dict[int, bytes]:
    """Every stored record (live or deleted): system number → its bytes."""
    with open_catalog(target, readonly=True) as s:
        return {r.sysno: r.data for r in s.iter_records()}


def log_messages(target: Target) -> list[str]:
    """The load log's messages, oldest first."""
    with open_catalog(target, readonly=True) as s:
        return [r.message for r in s.log_rows()]


def has_catalog(target: Target) -> bool:
    """Whether a catalog exists at ``target`` (an SQLite file that is one; a database with the
    catalog's tables). Asked without creating one."""
    if not is_pg(target) and not os.path.exists(target):
        return False
    try:
        with open_catalog(target, readonly=True):
            return True
    except NoCatalogError:
        return False


def contents(target: Target) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the catalog, in a fixed order (what "left untouched"
    compares on a database, where there is no file to compare byte for byte)."""
    with open_catalog(target, readonly=True) as s:
        return {table: list(s.dump(table)) for table in TABLES}
