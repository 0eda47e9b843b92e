"""``python -m marc8fast``: the ``marc8fast`` command line (see :mod:`marc8fast.cli`).

Commands: ``validate``, ``convert``, ``bench``, ``dump``. Exit status: 0 clean, 1 problems found,
2 usage or I/O error.
"""

from __future__ import annotations

import sys

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
