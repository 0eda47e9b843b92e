"""Helpers for the files the package writes: every output gets the mode a new file gets under
the process's umask (as ``open()`` would give it), not the 0600 of a temporary file; temporary
files are named so that the leftovers of a killed run are removed by the next one."""

from __future__ import annotations

import os
import re
import time


def umask_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file under the current umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def give_new_file_mode(fd: int) -> None:
    """Set an open temporary file's mode to what a new file gets (it is renamed into place)."""
    os.fchmod(fd, umask_mode())


#: Temporary outputs are named ``.NAME.PID-NANOS.marc8fast-tmp`` beside NAME (the Rust core
#: names its own the same way), so that a later run can tell a leftover of a process that died
#: (``kill -9``, a power cut) from the file of a run still going.
TEMP_SUFFIX = ".marc8fast-tmp"


def temp_path(dst: str) -> str:
    """A temporary file name beside ``dst``, with this process's id in it."""
    folder, name = os.path.split(os.path.abspath(dst))
    return os.path.join(folder, f".{name}.{os.getpid()}-{time.time_ns() % 10**9}{TEMP_SUFFIX}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (EPERM): alive
        return True
    return True


def remove_stale_temps(dst: str) -> list[str]:
    """Remove the temporary files for ``dst`` left by processes that no longer exist (their
    writer was killed before it could rename or remove them); return their paths. Files of live
    processes, and every other file, are left alone."""
    folder, name = os.path.split(os.path.abspath(dst))
    # Also the core's temporary file for one of ours (``convert`` has the core write to a
    # temporary file of its own, renamed over OUT only when a record was written).
    pattern = re.compile(
        r"\.?"
        + re.escape(f".{name}.")
        + r"(\d+)-\d+"
        + re.escape(TEMP_SUFFIX)
        + r"(?:\.\d+-\d+"
        + re.escape(TEMP_SUFFIX)
        + ")?"
    )
    removed: list[str] = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry)
        if m is None or _alive(int(m.group(1))):
            continue
        path = os.path.join(folder, entry)
        try:
            os.unlink(path)
        except OSError:
            continue
        removed.append(path)
    return removed


class AtomicText:
    """A text file written under a temporary name beside ``dst`` (with the umask's mode) and
    renamed over ``dst`` by :meth:`commit`; :meth:`discard` removes it. Stale temporary files of
    ``dst`` left by dead processes are removed when one is opened."""

    def __init__(self, dst: str) -> None:
        remove_stale_temps(dst)
        self.dst = dst
        self.temp = temp_path(dst)
        self.fh = open(self.temp, "x", encoding="utf-8")
        try:
            give_new_file_mode(self.fh.fileno())
        except OSError:
            self.discard()
            raise

    def write(self, text: str) -> None:
        self.fh.write(text)

    def commit(self) -> None:
        """Flush, sync and rename into place."""
        if self.fh.closed:
            return
        try:
            self.fh.flush()
            os.fsync(self.fh.fileno())
        finally:
            self.fh.close()
        os.replace(self.temp, self.dst)

    def discard(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        try:
            os.unlink(self.temp)
        except OSError:
            pass
