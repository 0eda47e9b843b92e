"""The one guard every writing command runs before it writes (issue 18, item 3).

A command that writes a file (``convert`` OUT and ``--report``, ``load`` ``--report`` and the
catalog, ``export`` ``-o`` and ``--report``, ``serve --log``, ``bench --json``) refuses a path
that is

* one of its inputs,
* another of its outputs,
* the catalog it uses, or a file SQLite keeps beside it (``-wal``, ``-shm``, ``-journal``),
* or any catalog at all (an SQLite database, or the ``-wal``/``-shm``/``-journal`` of one): an
  output is never written over a catalog, whichever command's catalog it is;

compared by file identity (a relative path, ``./x``, a symlink, a hard link all name the same
file), and, for a path that does not exist yet, by where it lands once symlinks are resolved.
It also says, naming the path, when an output cannot be made there at all: a folder, a folder
that does not exist, a parent that is not a folder.

:func:`check_paths` returns the one line to print (without the ``marc8fast:`` prefix), or None.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

#: Files SQLite keeps beside a database.
SIDE_FILES = ("-wal", "-shm", "-journal")

_SQLITE_MAGIC = b"SQLite format 3\x00"


def catalog_files(db: str) -> list[str]:
    """The catalog file and the files SQLite keeps beside it."""
    return [db, *(db + s for s in SIDE_FILES)]


def same_file(a: str, b: str) -> bool:
    """True when the paths name one file: the same inode (hard links, symlinks, ``./x`` and
    ``x``), or, for a path that does not exist yet, the same place once symlinks are resolved."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def is_sqlite(path: str) -> bool:
    """Whether ``path`` is an SQLite database (its first 16 bytes say so)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == _SQLITE_MAGIC
    except OSError:
        return False


def catalog_beside(path: str) -> str | None:
    """The catalog ``path`` belongs to: itself if it is an SQLite database, the database if it
    is one's ``-wal``, ``-shm`` or ``-journal``; else None."""
    if os.path.isfile(path) and is_sqlite(path):
        return path
    for suffix in SIDE_FILES:
        if path.endswith(suffix) and is_sqlite(path[: -len(suffix)]):
            return path[: -len(suffix)]
    return None


def output_place_problem(path: str) -> str | None:
    """Why no file can be written at ``path`` (a folder, a missing folder ...), or None."""
    if os.path.isdir(path):
        return f"{path}: is a directory, not a file"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        return f"{path}: no such directory {os.path.dirname(path) or folder}"
    if not os.path.isdir(folder):
        return f"{path}: {os.path.dirname(path)} is not a directory"
    return None


def check_paths(
    outputs: Sequence[tuple[str, str | None]],
    *,
    inputs: Iterable[str] = (),
    catalog: str | None = None,
    catalog_is_output: bool = False,
) -> str | None:
    """The reason to refuse the run, or None.

    ``outputs``: ``(what, path)`` pairs, such as ``("the output", "out.mrc")``, ``("the
    report", None)`` (None: not asked for). ``inputs``: the files read (``-``, stdin, is left
    out). ``catalog``: the catalog the command uses (its files are never an output); with
    ``catalog_is_output`` (``load``, which may create it) it must not be an input either."""
    ins = [p for p in inputs if p != "-"]
    protected: list[tuple[str, str]] = [("the input", p) for p in ins]
    if catalog is not None:
        protected += [("the catalog", f) for f in catalog_files(catalog)]
    wanted = [(what, p) for what, p in outputs if p is not None and p != "-"]
    for _what, path in wanted:
        why = output_place_problem(path)
        if why is not None:
            return why
    if catalog is not None and catalog_is_output:
        for f in ins:
            if same_file(catalog, f):
                return f"refusing to write the catalog {catalog} over the input {f}"
        if os.path.isdir(catalog):
            return f"{catalog}: is a directory, not a catalog"
    for i, (what, path) in enumerate(wanted):
        for other, f in protected:
            if same_file(path, f):
                return f"refusing to write {what} {path} over {other} {f}"
        for what2, path2 in wanted[i + 1 :]:
            if same_file(path, path2):
                return f"refusing to write {what} and {what2} to one file {path}"
        db = catalog_beside(path)
        if db is not None:
            return f"refusing to write {what} {path} over the catalog {db}"
    return None
