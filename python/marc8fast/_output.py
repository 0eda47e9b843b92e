"""Helpers for the files the package writes: every output gets the mode a new file gets under
the process's umask (as ``open()`` would give it), not the 0600 of a temporary file."""

from __future__ import annotations

import os


def umask_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file under the current umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def give_new_file_mode(fd: int) -> None:
    """Set an open temporary file's mode to what a new file gets (it is renamed into place)."""
    os.fchmod(fd, umask_mode())
