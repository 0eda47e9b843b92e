"""The Z39.50 and SRU server over the catalog (issue 13), on YAZ's generic frontend server.

GFS (``libyaz_server``, the engine behind Zebra and Net::Z3950::SimpleServer) speaks the protocol:
BER, Init, Search, Present, Delete, Close, SRU 1.2/2.0 over HTTP on the same listeners, CQL → RPN
through a mapping file. The package is the backend it calls (through :mod:`..yazgfs`, ctypes):

* Init: the catalog's accounts (``open`` ``user/password`` or ``idPass``; HTTP basic for SRU);
  a refused login is answered after :data:`REFUSE_DELAY` seconds, with Bib-1 diagnostic 1011.
  Character-set negotiation: a proposal of UTF-8 switches the session's MARC records to UTF-8.
* Search: type-1 RPN, Bib-1 (see :mod:`.query`), named result sets.
* Present: USMARC records built by :meth:`marc8fast.flows.exporter.Exporter.convert` (the
  ``export`` path: MARC-8, non-numeric tags dropped, NCRs logged), XML syntax → MARCXML.

GFS owns its process (its own SIGTERM handler, a listener loop that does not return), so
:func:`start` runs it in a child process (``python -m marc8fast.server.z3950 --child``) in
threaded mode: one thread per session, each running the Python backend under the GIL. The child
reports the ports it listens on and one JSON line per event on its stdout; the parent forwards
the events to ``log``. Running ``python -m marc8fast.server.z3950 CATALOG`` serves in the
foreground (for development and the tests of the knobs ``serve`` does not expose).

Modules: :mod:`.backend` (the requests, in the child's session threads; the shared constants),
:mod:`.gfs_config` (the files GFS reads), :mod:`.child` (the child process: GFS, watchdog,
events), :mod:`.supervisor` (:func:`start`, the parent's :class:`Handle`), :mod:`.dev` (the
development runner, ``python -m marc8fast.server.z3950``).
"""

from .backend import DEFAULT_DATABASE, printable
from .child import EventPipe
from .supervisor import Handle, ServerError, start
from .watchdog import peer_address

__all__ = [
    "DEFAULT_DATABASE",
    "EventPipe",
    "Handle",
    "ServerError",
    "peer_address",
    "printable",
    "start",
]
