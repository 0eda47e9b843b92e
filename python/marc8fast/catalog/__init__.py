"""The catalog: records, their history, batches and the load log, the services' accounts and
receipts, and the search index, behind one API (:class:`~.api.Catalog`) on two backends.

* SQLite (:mod:`.sqlite`): a file path, the embedded default for one unit on one machine.
* PostgreSQL (:mod:`.postgres`): a ``postgresql://`` URL, for a consortium whose receivers,
  servers and loaders run on several hosts (needs the optional ``psycopg`` driver).

This package is the only place that speaks SQL or imports a database driver; callers see
:class:`CatalogError` for every database failure. Open a catalog with :func:`open_catalog`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .api import (
    DEFAULT_WAIT,
    LOADED_FATES,
    SCHEMA_VERSION,
    Account,
    Batch,
    Catalog,
    CatalogError,
    ConflictError,
    Event,
    LockedError,
    LogRow,
    NativeReader,
    NoCatalogError,
    QueryInterrupted,
    ReadOnlyError,
    Receipt,
    SchemaError,
    Staged,
    StoredRecord,
    UniqueOclcError,
    Version,
    default_source,
    format_sysno,
    now,
    parse_sysno,
)

#: The environment variable that names the catalog when no ``--db`` is given.
ENV_VAR = "MARC8FAST_DB"

__all__ = [
    "DEFAULT_WAIT",
    "ENV_VAR",
    "LOADED_FATES",
    "SCHEMA_VERSION",
    "Account",
    "Batch",
    "Catalog",
    "CatalogError",
    "ConflictError",
    "Event",
    "LockedError",
    "LogRow",
    "NativeReader",
    "NoCatalogError",
    "QueryInterrupted",
    "ReadOnlyError",
    "Receipt",
    "SchemaError",
    "Staged",
    "StoredRecord",
    "UniqueOclcError",
    "Version",
    "add_db_option",
    "default_source",
    "describe_error",
    "format_sysno",
    "is_url",
    "now",
    "open_catalog",
    "parse_sysno",
    "shown",
]


def is_url(target: str | os.PathLike[str]) -> bool:
    """Whether ``target`` names a PostgreSQL catalog (``postgresql://`` or ``postgres://``)."""
    t = os.fspath(target)
    return t.startswith(("postgresql://", "postgres://"))


def shown(target: str | os.PathLike[str]) -> str:
    """``target`` as messages show it: a URL without its password."""
    t = os.fspath(target)
    if not is_url(t):
        return t
    from .pg_schema import redact

    return redact(t)


def describe_error(target: str | os.PathLike[str], e: BaseException) -> str:
    """One line for an error from the catalog at ``target`` (for the command line)."""
    if isinstance(e, CatalogError):
        return str(e)
    return f"{shown(target)}: {e}"


def add_db_option(parser: Any, more: str | None = None) -> None:
    """Every command's ``--db`` option (an argparse parser): a catalog path or URL, by default
    ``$MARC8FAST_DB`` (then optional). ``more``: what the command adds to its help."""
    env = os.environ.get(ENV_VAR) or None
    text = f"the catalog: an SQLite file or postgresql://USER@HOST/DBNAME (default ${ENV_VAR})"
    parser.add_argument(
        "--db",
        required=env is None,
        default=env,
        metavar="CATALOG",
        help=f"{text}; {more}" if more else text,
    )


def open_catalog(
    target: str | os.PathLike[str],
    *,
    create: bool = True,
    readonly: bool = False,
    wait: float = DEFAULT_WAIT,
    on_wait: Callable[[str], object] | None = None,
    durable: bool = False,
) -> Catalog:
    """Open the catalog at ``target`` (a path or a ``postgresql://`` URL). ``create``: make it
    if there is none; ``readonly``: never write (reads see committed data); ``wait``: seconds a
    writer waits for a lock; ``durable``: every commit on disk before it returns."""
    if is_url(target):
        from .postgres import PostgresStore

        return PostgresStore(
            os.fspath(target), create=create, readonly=readonly, wait=wait, on_wait=on_wait
        )
    from .sqlite import SQLiteStore

    return SQLiteStore(
        target, create=create, readonly=readonly, wait=wait, on_wait=on_wait, durable=durable
    )
