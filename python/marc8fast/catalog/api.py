"""The catalog's one API: what every flow, command and service may ask of a catalog database.

A catalog is opened with :func:`marc8fast.catalog.open_catalog` from a *target*: a file path
(SQLite, the embedded default: one unit on one machine) or a ``postgresql://`` URL (a consortium:
one catalog, several receivers, servers and loaders on several hosts). Both backends implement
:class:`Catalog` and keep the same tables; only the package :mod:`marc8fast.catalog` speaks SQL or
imports a database driver, and every driver error reaches callers as a :class:`CatalogError`.

Writes happen only inside ``with catalog.transaction():`` — committed when the block ends, rolled
back when it raises. A transaction that the database aborts because a concurrent one conflicted
(PostgreSQL's serialisation failure, SQLite's busy lock) raises :class:`ConflictError` or is waited
for, see :meth:`Catalog.transaction`.
"""

from __future__ import annotations

import getpass
import os
import time as _time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from .._native import ArgumentError, Marc8Error

#: The schema version this code writes (numbered migrations: see the backends' ``MIGRATIONS``).
SCHEMA_VERSION = 6

#: Fates of a load-log row that mean "this input record is in the catalog".
LOADED_FATES = ("new", "possible_duplicate", "overlaid")


def format_sysno(n: int) -> str:
    return f"{n:09d}"


def parse_sysno(text: str) -> int:
    """``"000000123"`` or ``"123"`` → 123; ValueError otherwise (ASCII digits only: ``"²"`` or
    ``"٤"`` are not system numbers)."""
    t = text.strip()
    if not (t.isascii() and t.isdigit()) or len(t) > 9 or int(t) == 0:
        raise ArgumentError(f"{text!r} is not a system number (1 to 9 digits, not all zero)")
    return int(t)


_second: list[tuple[int, str]] = [(-1, "")]  # the last whole second formatted, and its text


def now() -> str:
    """UTC time as ISO 8601 with microseconds (sorts as text; ``--since 2026-11-23`` compares
    with it). The date and time are formatted once a second: the loader asks for every record."""
    t = _time.time()
    sec = int(t)
    last, text = _second[0]
    if sec != last:
        text = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(sec))
        _second[0] = (sec, text)
    return f"{text}.{int((t - sec) * 1_000_000):06d}Z"


@dataclass
class StoredRecord:
    sysno: int
    data: bytes  # UTF-8 ISO 2709
    deleted: bool
    title_key: str | None
    created_at: str
    updated_at: str
    oclc_numbers: list[str]


@dataclass
class NewRecord:
    """A new record for :meth:`Catalog.insert_many`: its stored bytes, OCLC numbers, title key,
    other match keys (``(kind, value)``), search index row and history event (i21-pipe)."""

    data: bytes
    oclc: list[str]
    title_key: str | None
    keys: list[tuple[str, str]]
    terms: tuple[str, ...]
    detail: str
    source: str | None = None


@dataclass
class LogRow:
    batch_id: int
    input_file: str
    input_hash: str
    record_index: int
    fate: str
    sysno: int | None
    message: str
    time: str


@dataclass
class Event:
    """One line of a record's history (the ``events`` table): ``action`` is ``created``,
    ``overlaid``, ``deleted`` or ``undeleted``; ``source`` says where the record came from (the
    input file, the receiver's login) or who acted (``user NAME``)."""

    sysno: int
    time: str
    action: str
    batch_id: int | None
    source: str
    detail: str


@dataclass
class Batch:
    """A load (or a receiver session): when, what, and the fates of its input records."""

    batch_id: int
    started_at: str
    description: str
    fates: dict[str, int]
    # i21-catalog: when it ended, who ran it, how it ended (``running``, ``completed``,
    # ``interrupted``, ``failed``, ``reverted``; None: a receiver's session or a batch made
    # before version 4), and the process that ran it (host, pid).
    finished_at: str | None = None
    user: str | None = None
    status: str | None = None
    host: str | None = None
    pid: int | None = None


@dataclass(frozen=True)
class Version:
    """A numbered state of a record (i21-catalog). Version 1 is the record as first stored;
    each replace, delete, undelete or revert makes the next one. A kept (previous) version
    says when it was superseded (``saved_at``), by which batch and by what (``action``:
    ``overlaid``, ``deleted``, ``undeleted``, ``reverted``); the current one has ``current``."""

    sysno: int
    version: int
    data: bytes
    title_key: str | None
    deleted: bool
    oclc_numbers: list[str]
    saved_at: str | None
    batch_id: int | None
    action: str | None
    current: bool = False


@dataclass(frozen=True)
class Staged:
    """A record staged for a cataloger's review (the profile's ``review`` action)."""

    id: int
    data: bytes
    candidates: list[int]
    reason: str
    input_name: str
    record_index: int
    batch_id: int | None
    staged_at: str
    status: str  # pending, accepted, rejected
    resolved_at: str | None
    resolved_by: str | None
    sysno: int | None


def default_source() -> str:
    """Who writes when the writer does not say: ``user NAME`` (the login of the process)."""
    try:
        name = getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        name = f"uid {os.getuid()}"
    return f"user {name}"


@dataclass(frozen=True)
class Account:
    """A login of the network services (its password hash is never part of it)."""

    name: str
    disabled: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Receipt:
    """What the receiver answered a login for a record (by the SHA-256 of its bytes), kept so that
    a client's retry is answered the same way."""

    login: str
    digest: str
    time: str
    fate: str
    sysno: int | None
    message: str


#: The tables :meth:`Catalog.dump` and :meth:`Catalog.restore` move (``catalog copy``), in the
#: order they are copied (a row's references first), with their columns in order. The search
#: index is not among them: the destination makes it again from the records (with the core).
TABLES: dict[str, tuple[str, ...]] = {
    "records": ("sysno", "data", "title_key", "deleted", "created_at", "updated_at"),
    "oclc": ("number", "sysno"),
    "batches": (
        "batch_id",
        "started_at",
        "description",
        "finished_at",
        "user_name",
        "status",
        "pid",
        "host",
    ),
    "load_log": (
        "id",
        "batch_id",
        "input_file",
        "input_hash",
        "record_index",
        "fate",
        "sysno",
        "message",
        "time",
    ),
    "events": ("id", "sysno", "time", "action", "batch_id", "source", "detail"),
    "accounts": ("name", "password_hash", "disabled", "created_at", "updated_at"),
    "receipts": ("login", "digest", "time", "fate", "sysno", "message"),
    # i21-catalog
    "versions": (
        "sysno",
        "version",
        "data",
        "title_key",
        "deleted",
        "oclc",
        "saved_at",
        "batch_id",
        "action",
    ),
    "review": (
        "id",
        "data",
        "candidates",
        "reason",
        "input_name",
        "record_index",
        "batch_id",
        "staged_at",
        "status",
        "resolved_at",
        "resolved_by",
        "sysno",
    ),
}
#: How a batch ends (i21-catalog): ``running`` until then.
BATCH_STATUSES = ("running", "completed", "interrupted", "failed", "reverted")


def this_host() -> str:
    """The host name batches record (with the process id) to tell a running batch from one
    whose process is gone."""
    import socket

    return socket.gethostname()


def batch_user() -> str:
    """The login name a batch records (``uid N`` where there is none)."""
    try:
        return getpass.getuser()
    except Exception:
        return f"uid {os.getuid()}"


def shown_status(status: str | None, host: str | None, pid: int | None) -> str | None:
    """A batch's status as reported: ``running`` where its process (on this host) is gone is
    ``interrupted`` (killed: it could not say so itself). A batch running on another host is
    reported as running."""
    if status != "running" or pid is None or host != this_host():
        return status
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "interrupted"
    except PermissionError:
        return status  # alive, another user's
    return status


#: Columns kept as 0/1 on SQLite and as booleans on PostgreSQL (dumped as bool).
BOOLEAN_COLUMNS = frozenset({"deleted", "disabled"})


@dataclass(frozen=True)
class NativeReader:
    """:meth:`Catalog.read_record`'s statement for native code (the Z39.50 hot path): a prepared
    SQLite statement on a read-only connection of its own — parameter 1 the system number,
    column 1 the record's bytes, column 2 whether it is deleted — and the addresses of the SQLite
    functions that run it (``sqlite3_step`` ...), from the library the ``sqlite3`` module uses.
    ``owner`` keeps the connection open; one caller at a time uses the statement."""

    functions: dict[str, int]
    statement: int
    owner: object


class Catalog(Protocol):
    """What the flows and services need from a catalog database (both backends implement it).

    Every write of a record (:meth:`insert`, :meth:`replace`, :meth:`mark_deleted`,
    :meth:`undelete`) also writes a history event in the same transaction: ``source`` (default
    :attr:`source`, the process's user) says where the record came from or who acted, ``detail``
    what happened, and the batch is the last one :meth:`new_batch` made on this connection.
    """

    source: str
    #: Whether each question is a round trip to a database server (then the importer tells the
    #: catalog a group's questions in advance: :meth:`prepare`).
    remote: bool
    #: What the catalog was opened from (a path, or the URL without its password), for messages.
    target: str
    batch_id: int | None

    def transaction(self) -> AbstractContextManager[None]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Catalog: ...
    def __exit__(self, *exc: object) -> None: ...
    # records
    def get(self, sysno: int) -> StoredRecord | None: ...
    def read_record(self, sysno: int) -> StoredRecord | None: ...  # get, in one statement
    def native_reader(self) -> NativeReader | None: ...  # read_record for native code
    def find_by_oclc(
        self, numbers: Iterable[str], *, exclude: int | None = None
    ) -> tuple[int, str] | None: ...
    def find_by_title_key(self, key: str) -> int | None: ...
    def sysnos_by_oclc(self, number: str) -> set[int]: ...
    def insert(
        self,
        data: bytes,
        oclc_numbers: list[str],
        title_key: str | None,
        *,
        source: str | None = None,
        detail: str = "",
        keys: list[tuple[str, str]] | None = None,
    ) -> int: ...
    def replace(
        self,
        sysno: int,
        data: bytes,
        oclc_numbers: list[str],
        title_key: str | None,
        *,
        source: str | None = None,
        detail: str = "",
        keys: list[tuple[str, str]] | None = None,
    ) -> None: ...
    def mark_deleted(
        self, sysno: int, data: bytes, *, source: str | None = None, detail: str = ""
    ) -> None: ...
    def undelete(
        self, sysno: int, data: bytes, *, source: str | None = None, detail: str = ""
    ) -> None: ...
    def sysnos(self, since: str | None = None) -> Iterator[int]: ...
    def iter_records(self, since: str | None = None) -> Iterator[StoredRecord]: ...
    def count(self, *, include_deleted: bool = True) -> int: ...
    def live(self, sysnos: Iterable[int]) -> set[int]: ...
    # history, batches and the load log
    def events(self, sysno: int) -> list[Event]: ...
    def batches(self) -> list[Batch]: ...
    def new_batch(self, description: str, *, status: str | None = None) -> int: ...
    def log(self, row: LogRow) -> None: ...
    def log_for(self, sysno: int) -> list[LogRow]: ...
    def log_rows(self) -> list[LogRow]: ...
    def log_count(self, input_hash: str) -> int: ...
    def log_counts(self, input_hashes: Iterable[str]) -> dict[str, int]: ...
    def loaded_indexes(self, input_hash: str) -> dict[int, tuple[int | None, int]]: ...
    def loaded(self, input_hash: str, record_index: int) -> tuple[int | None, int] | None: ...
    def prepare(
        self, inputs: list[tuple[str, int]], numbers: list[str], keys: list[str]
    ) -> None: ...
    # accounts
    def add_account(self, name: str, password_hash: str) -> bool: ...
    def update_account(
        self, name: str, *, password_hash: str | None = None, disabled: bool | None = None
    ) -> bool: ...
    def accounts(self) -> list[Account]: ...
    def has_accounts(self) -> bool: ...
    def account_hash(self, name: str) -> tuple[str, bool] | None: ...
    # receipts
    def receipt(self, login: str, digest: str) -> Receipt | None: ...
    def receipts(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Receipt]: ...
    def put_receipt(self, receipt: Receipt) -> None: ...
    def put_receipts(self, receipts: Iterable[Receipt]) -> None: ...
    def prune_receipts(self, before: str) -> None: ...
    # the search index
    def match_terms(self, columns: tuple[str, ...], terms: list[tuple[str, bool]]) -> set[int]: ...
    def index_rows(self) -> Iterator[tuple[int, tuple[str, ...]]]: ...
    def index_row_of(self, data: bytes) -> tuple[str, ...]: ...
    def live_oclc_duplicates(self) -> list[tuple[str, list[int]]]: ...
    # moving a catalog (catalog copy): every row of a table of TABLES, in its column order
    def dump(self, table: str) -> Iterator[tuple[object, ...]]: ...
    def restore(self, table: str, rows: Iterable[tuple[object, ...]]) -> int: ...
    def finish_restore(self) -> None: ...
    def interruptible(self, stop: Callable[[], bool]) -> AbstractContextManager[None]: ...
    # --- i21-catalog: versions, batch status, dry runs, review staging ---
    def versions(self, sysno: int) -> list[Version]: ...
    def versions_of(self, sysnos: list[int]) -> dict[int, list[Version]]: ...
    def version(self, sysno: int, number: int) -> Version | None: ...
    def revert(
        self,
        sysno: int,
        number: int,
        *,
        source: str | None = None,
        detail: str = "",
        known: Version | None = None,
    ) -> int: ...
    def batch_log(self, batch_id: int) -> list[LogRow]: ...
    def batch(self, batch_id: int) -> Batch | None: ...
    def batch_records(self, batch_id: int) -> dict[int, bool]: ...
    def finish_batch(self, batch_id: int, status: str) -> None: ...
    def unmark_loaded(self, batch_id: int) -> int: ...
    def deleted_since(self, since: str) -> Iterator[StoredRecord]: ...
    def dry_run(self) -> AbstractContextManager[None]: ...
    def stage_review(
        self, data: bytes, candidates: list[int], reason: str, *, input_name: str, record_index: int
    ) -> int: ...
    def staged(self, status: str | None = "pending") -> list[Staged]: ...
    def staged_one(self, staged_id: int) -> Staged | None: ...
    def resolve_staged(self, staged_id: int, status: str, sysno: int | None) -> bool: ...
    # --- match keys and batched writes (i21-pipe) ---
    def candidates(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], set[int]]: ...
    def loaded_many(
        self, inputs: list[tuple[str, int]]
    ) -> dict[tuple[str, int], tuple[int | None, int]]: ...
    def insert_many(self, rows: list[NewRecord]) -> list[int]: ...


#: How long a writer waits for another process's write transaction before giving up (seconds).
DEFAULT_WAIT = 300.0


class CatalogError(Marc8Error, RuntimeError):
    """A catalog that cannot be opened or written, said in one line (the CLI prints it as is)."""


class SchemaError(CatalogError):
    """The database was made by an incompatible version of marc8fast, or is not a catalog."""


class NoCatalogError(CatalogError):
    """There is no catalog at the path (only a loader creates one)."""


class LockedError(CatalogError):
    """Another process held the write lock longer than the writer would wait."""


class ReadOnlyError(CatalogError):
    """The catalog file (or its folder) cannot be written."""


class ConflictError(CatalogError):
    """A concurrent transaction conflicted with this one more often than the writer retries."""


class QueryInterrupted(CatalogError):
    """A query stopped by the ``stop`` test of :meth:`Catalog.interruptible` (a time limit)."""


class UniqueOclcError(ConflictError):
    """Two live records would carry one OCLC number (refused by the database)."""
