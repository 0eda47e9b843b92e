"""The SQLite backend's schema, numbered migrations, error translation and the making of a new
catalog file (for :mod:`.sqlite`)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable

from .._native import (
    Marc8Error,
    Record,
    pipeline_stored_keys,
    search_index_row,
    search_match_keys,
)
from .api import (
    LOADED_FATES,
    SCHEMA_VERSION,
    CatalogError,
    LockedError,
    QueryInterrupted,
    ReadOnlyError,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    sysno INTEGER PRIMARY KEY,
    data BLOB NOT NULL,
    title_key TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_title_key ON records (title_key);
CREATE INDEX IF NOT EXISTS records_updated_at ON records (updated_at);
CREATE TABLE IF NOT EXISTS oclc (
    number TEXT NOT NULL,
    sysno INTEGER NOT NULL REFERENCES records (sysno),
    PRIMARY KEY (number, sysno)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS oclc_sysno ON oclc (sysno);
CREATE TABLE IF NOT EXISTS batches (
    batch_id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    description TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS load_log (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches (batch_id),
    input_file TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    record_index INTEGER NOT NULL,
    fate TEXT NOT NULL,
    sysno INTEGER REFERENCES records (sysno),
    message TEXT NOT NULL,
    time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS load_log_input ON load_log (input_hash, record_index);
"""

# Schema version 2: the network services' accounts and retry receipts, the search index and
# the record history. Added to a version-1 catalog by the first writer that opens it.
_SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts (
    login TEXT NOT NULL,
    digest TEXT NOT NULL,
    time TEXT NOT NULL,
    fate TEXT NOT NULL,
    sysno INTEGER,
    message TEXT NOT NULL,
    PRIMARY KEY (login, digest)
);
CREATE VIRTUAL TABLE IF NOT EXISTS search_index USING fts5 (
    title, author, subject, isbn, issn, oclc, tokenize='ascii', detail=column
);
-- Merge segments 16 at a time rather than 4: loading 250,000 records took 20 % less time.
INSERT INTO search_index (search_index, rank) VALUES ('automerge', 16);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    sysno INTEGER NOT NULL,
    time TEXT NOT NULL,
    action TEXT NOT NULL,
    batch_id INTEGER,
    source TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_sysno ON events (sysno);
"""

# One "loaded" row per input record: the backstop behind the check the loader makes in the same
# write transaction as the insert (added to catalogs made before it, see _init_schema).
_LOADED_ONCE = (
    "CREATE UNIQUE INDEX IF NOT EXISTS load_log_loaded_once ON load_log (input_hash, record_index) "
    "WHERE fate IN ({})".format(", ".join(f"'{f}'" for f in LOADED_FATES))
)


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def run(db: sqlite3.Connection) -> None:
        for stmt in sql.split(";"):
            if stmt.strip():
                db.execute(stmt)

    return run


def _index(db: sqlite3.Connection, sysno: int, data: bytes, *, new: bool = False) -> None:
    """(Re)write the search index row of one record (see :mod:`marc8fast.flows.search`)."""
    if not new:
        db.execute("DELETE FROM search_index WHERE rowid=?", (sysno,))
    db.execute(
        "INSERT INTO search_index (rowid, title, author, subject, isbn, issn, oclc) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (sysno, *search_index_row(data)),
    )


def _reindex(db: sqlite3.Connection) -> None:
    """Version 3: the search terms and the duplicate check's keys changed (truncation, 880 fields,
    CJK bigrams, joined hyphenated words, ISBN labels; title keys that fold like search and skip
    nonfiling characters; OCLC numbers from ``(ocolc)`` and 019): every record's search index row
    and title key are made again, and the OCLC numbers read from its stored data are added (never
    removed: a number read from an 035 that the 040 rule deleted stays)."""
    db.execute("DELETE FROM search_index")
    cur = db.cursor()
    for (sysno,) in db.execute("SELECT sysno FROM records ORDER BY sysno").fetchall():
        (data,) = cur.execute("SELECT data FROM records WHERE sysno=?", (sysno,)).fetchone()
        _index(db, sysno, data, new=True)
        try:
            numbers, key = search_match_keys(Record.parse(data))
        except (ValueError, Marc8Error):
            continue  # a stored record the core cannot read keeps its key
        cur.execute("UPDATE records SET title_key=? WHERE sysno=?", (key, sysno))
        cur.executemany("INSERT OR IGNORE INTO oclc VALUES (?, ?)", [(n, sysno) for n in numbers])


# --- i21-catalog: record versions, batch status, review staging ---
_VERSIONS = """
CREATE TABLE IF NOT EXISTS versions (
    sysno INTEGER NOT NULL,
    version INTEGER NOT NULL,
    data BLOB NOT NULL,
    title_key TEXT,
    deleted INTEGER NOT NULL,
    oclc TEXT NOT NULL DEFAULT '',
    saved_at TEXT NOT NULL,
    batch_id INTEGER,
    action TEXT NOT NULL,
    PRIMARY KEY (sysno, version)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS versions_batch ON versions (batch_id);
CREATE INDEX IF NOT EXISTS events_batch ON events (batch_id);
CREATE TABLE IF NOT EXISTS review (
    id INTEGER PRIMARY KEY,
    data BLOB NOT NULL,
    candidates TEXT NOT NULL,
    reason TEXT NOT NULL,
    input_name TEXT NOT NULL,
    record_index INTEGER NOT NULL,
    batch_id INTEGER,
    staged_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    resolved_at TEXT,
    resolved_by TEXT,
    sysno INTEGER
);
CREATE INDEX IF NOT EXISTS review_status ON review (status, id);
"""

#: The columns version 4 adds to ``batches`` (when it ended, who ran it, how it ended, and the
#: process that ran it: a batch left ``running`` by a process that is gone was interrupted).
BATCH_COLUMNS = (
    ("finished_at", "TEXT"),
    ("user_name", "TEXT"),
    ("status", "TEXT"),
    ("pid", "INTEGER"),
    ("host", "TEXT"),
)


def _versions(db: sqlite3.Connection) -> None:
    """Version 4: the previous versions of records, the batches' end, user and status, and the
    review staging table (columns added only where missing: a catalog whose recorded version
    was set back still upgrades)."""
    _script(_VERSIONS)(db)
    have = {r[1] for r in db.execute("PRAGMA table_info(batches)")}
    for name, kind in BATCH_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE batches ADD COLUMN {name} {kind}")


# --- match keys (i21-pipe) ---
# Schema version 5: the import profiles' match keys other than the OCLC numbers (table ``oclc``)
# and the title/author key (``records.title_key``): ``lccn``, ``isbn``, ``issn``, ``sysid`` and
# ``digest`` (the core's ``marc8::pipeline``), filled from every stored record.
_MATCH_KEYS = """
CREATE TABLE IF NOT EXISTS match_keys (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    sysno INTEGER NOT NULL,
    PRIMARY KEY (kind, value, sysno)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS match_keys_sysno ON match_keys (sysno)
"""


def _match_keys(db: sqlite3.Connection) -> None:
    _script(_MATCH_KEYS)(db)
    cur = db.cursor()
    for (sysno,) in db.execute("SELECT sysno FROM records ORDER BY sysno").fetchall():
        (data,) = cur.execute("SELECT data FROM records WHERE sysno=?", (sysno,)).fetchone()
        cur.executemany(
            "INSERT OR IGNORE INTO match_keys VALUES (?, ?, ?)",
            [(k, v, sysno) for k, v in pipeline_stored_keys(data)],
        )


def _nothing(db: sqlite3.Connection) -> None:
    """Version 6 is PostgreSQL's (its search index, i20-pgspeed); on SQLite the step is empty so
    that a version number means one schema on both backends."""


#: Schema migrations: version N is reached by running ``MIGRATIONS[N - 1]`` on version N - 1,
#: inside the first writer's transaction. 1: records, OCLC numbers, batches, the load log. 2: the
#: services' accounts and receipts, the search index, the history. 3: search terms made again.
#: 4: record versions, batch status, review staging (issue 21). 5: the match keys (issue 21).
#: 6: nothing here (on PostgreSQL: the search index as one tsvector per record, issue 20).
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _script(_SCHEMA),
    _script(_SCHEMA_2),
    _reindex,
    _versions,
    _match_keys,
    _nothing,
]
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring the catalog from ``version`` (0: empty) to :data:`SCHEMA_VERSION`, inside the
    caller's write transaction."""
    if version >= SCHEMA_VERSION:
        return
    for step in MIGRATIONS[version:]:
        step(db)
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _error_code(e: sqlite3.Error) -> int | None:
    code = getattr(e, "sqlite_errorcode", None)  # Python 3.11+
    return int(code) & 0xFF if code is not None else None


def _is_busy(e: sqlite3.OperationalError) -> bool:
    code = _error_code(e)
    if code is not None:
        return code in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
    return "locked" in str(e) or "busy" in str(e)


def _is_readonly(e: sqlite3.Error) -> bool:
    code = _error_code(e)
    if code is not None:
        return code == 8  # SQLITE_READONLY
    return "readonly" in str(e)


def describe_error(path: str, e: BaseException) -> str:
    """One line for an error from the catalog at ``path`` (for the command line)."""
    if isinstance(e, CatalogError):
        return str(e)
    if isinstance(e, sqlite3.Error) and _is_readonly(e):
        return f"{path}: the catalog (or its folder) is read-only ({e})"
    if isinstance(e, sqlite3.DatabaseError) and (
        _error_code(e) == 26 or "file is not a database" in str(e)
    ):
        return f"{path}: not a marc8fast catalog (not an SQLite database); left as it was"
    return f"{path}: {e}"


def translate(path: str, e: sqlite3.Error) -> CatalogError:
    """The :class:`CatalogError` a caller sees for an SQLite error."""
    if isinstance(e, sqlite3.OperationalError) and "interrupt" in str(e):
        return QueryInterrupted(f"{path}: the query was interrupted")
    if _is_readonly(e):
        return ReadOnlyError(describe_error(path, e))
    if isinstance(e, sqlite3.OperationalError) and _is_busy(e):
        return LockedError(f"{path}: the catalog is locked ({e})")
    return CatalogError(describe_error(path, e))


def _create_catalog(path: str) -> None:
    """Make an empty catalog at ``path``, which does not exist: built in full under a temporary
    name beside it, then linked into place (never over a file that appeared meanwhile: then
    that file, probably another process's new catalog, is what gets opened)."""
    from .._output import give_new_file_mode, temp_path

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CatalogError(f"{path}: no such directory {os.path.dirname(path) or folder}")
    if not os.access(folder, os.W_OK):
        raise ReadOnlyError(f"{path}: the catalog (or its folder) is read-only")
    temp = temp_path(path)
    try:
        db = sqlite3.connect(temp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")
            migrate(db, 0)
            db.execute(_LOADED_ONCE)
            db.execute("COMMIT")
        finally:
            db.close()  # the last connection: the WAL is checkpointed into the file and removed
        fd = os.open(temp, os.O_RDONLY)
        try:
            give_new_file_mode(fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # made by another process meanwhile: open that one
    except sqlite3.Error as e:
        error = ReadOnlyError if _is_readonly(e) else CatalogError
        raise error(describe_error(path, e)) from None
    except OSError as e:
        if e.errno in (13, 30):  # EACCES, EROFS
            raise ReadOnlyError(
                f"{path}: the catalog (or its folder) is read-only ({e.strerror or e})"
            ) from None
        raise CatalogError(f"{path}: {e.strerror or e}") from None
    finally:
        for f in (temp, temp + "-wal", temp + "-shm", temp + "-journal"):
            with contextlib.suppress(OSError):
                os.unlink(f)
