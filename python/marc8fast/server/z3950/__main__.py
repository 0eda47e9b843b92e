"""``python -m marc8fast.server.z3950``: see :mod:`.dev`."""

import sys

from .dev import main

sys.exit(main())
