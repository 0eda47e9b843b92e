"""The Z39.50 and SRU server over the catalog (issue 13), on YAZ's generic frontend server.

GFS (``libyaz_server``, the engine behind Zebra and Net::Z3950::SimpleServer) speaks the protocol:
BER, Init, Search, Present, Delete, Close, SRU 1.2/2.0 over HTTP on the same listeners, CQL → RPN
through a mapping file. This module is the backend it calls (through :mod:`.yazgfs`, ctypes):

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
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any
from xml.sax.saxutils import escape

from .._native import Marc8Error, Record
from .._native import decode as marc8_decode
from ..flows.exporter import CharReport, Exporter, TagFilter
from ..flows.store import SQLiteStore, format_sysno
from . import query as q

Log = Callable[[dict[str, object]], None]

DEFAULT_DATABASE = "catalog"
#: Seconds a refused login waits before its answer (on top of the password hash).
REFUSE_DELAY = 2.0
#: Seconds a session may stay silent before GFS closes it.
IDLE_TIMEOUT = 600
#: Largest PDU accepted, in kilobytes (a claim of more closes that session).
MAX_PDU_KB = 1024
#: Seconds between two batches of log events from the server process.
LOG_INTERVAL = 0.1
#: Named result sets kept per session (the oldest is dropped beyond this).
MAX_RESULT_SETS = 64

USMARC_OIDS = {"1.2.840.10003.5.10"}  # USMARC and MARC 21 share this OID
XML_OIDS = {"1.2.840.10003.5.109.10", "1.2.840.10003.5.109.9"}

#: Element set B (brief): control fields, numbers, main entries, title, edition, imprint, extent.
BRIEF_TAGS = "001|003|005|008|010|020|022|035|040|100|110|111|130|245|250|260|264|300"
MARCXML_SCHEMAS = {"marcxml", "info:srw/schema/1/marcxml-v1.1", "marc21", "marc21-xml"}

# Bib-1 diagnostics used here (the rest come from query.py).
D_SYSTEM = 1
D_TEMPORARY = 2
D_OUT_OF_RANGE = 13
D_PRESENT_ERROR = 14
D_RESULT_SET_EXISTS = 21
D_ELEMENT_SET = 25
D_NO_RESULT_SET = 30
D_QUERY_TYPE = 107
D_NO_DATABASE = 235
D_SYNTAX = 239
D_BAD_LOGIN = 1011


# -- the backend (runs in the child, in GFS's session threads) -----------------------------------


@dataclass
class Config:
    db_path: str
    database: str = DEFAULT_DATABASE
    no_auth: bool = False
    refuse_delay: float = REFUSE_DELAY


@dataclass
class Session:
    peer: str
    utf8: bool = False
    store: SQLiteStore | None = None
    sets: OrderedDict[str, list[int]] = field(default_factory=OrderedDict)
    exporters: dict[tuple[str, bool], Exporter] = field(default_factory=dict)


def _find(store: SQLiteStore, index: str, text: str, truncated: bool) -> set[int]:
    from ..flows.search import find

    try:
        return find(store, index, text, truncated=truncated)
    except (ValueError, Marc8Error):
        return set()  # a term that cannot be a value of this index (a sysno "abc") finds nothing


def _term_text(raw: str) -> str:
    """A query term: UTF-8 when it is valid UTF-8 (negotiated or ASCII), else MARC-8, else
    Latin-1 (the rendering decoded undecodable bytes as surrogates)."""
    if not any("\udc80" <= c <= "\udcff" for c in raw):
        return raw
    data = raw.encode("utf-8", "surrogateescape")
    try:
        return marc8_decode(data, normalize="NFC")
    except (ValueError, Marc8Error):
        return data.decode("latin-1")


class Backend:
    def __init__(self, config: Config, log: Log) -> None:
        from . import yazgfs

        self.yaz = yazgfs.load()
        self.gfs = yazgfs
        self.config = config
        self.log = log
        self.sessions: dict[int, Session] = {}
        self.lock = threading.Lock()
        # Search, Present and Delete run one at a time. Python runs them one at a time anyway
        # (the GIL); holding a lock for the whole callback keeps the others waiting on it instead
        # of taking the GIL each time this one lets go of it for SQLite, a hand-over that made
        # 16 sessions slower than one.
        self.serial = threading.Lock()
        self.ids = itertools.count(1)
        self._search = yazgfs.SEARCH_FN(self._guard(self.search))
        self._fetch = yazgfs.FETCH_FN(self._guard(self.fetch))
        self._delete = yazgfs.DELETE_FN(self._guard(self.delete))
        self._init = yazgfs.INIT_FN(self.init)
        self._close = yazgfs.CLOSE_FN(self.close)

    # Errors never reach C: a bug becomes Bib-1 diagnostic 1 on that request, and a log line.
    def _guard(self, fn: Callable[[int, Any], int]) -> Callable[[int, Any], int]:
        def call(handle: int | None, rr: Any) -> int:
            try:
                with self.serial:
                    return fn(handle or 0, rr)
            except q.Diagnostic as d:
                self._diag(rr.contents, d.code, d.addinfo)
            except Exception as e:  # reported, and the session goes on
                self.log({"event": "error", "where": fn.__name__, "error": repr(e)})
                self._diag(rr.contents, D_SYSTEM, f"{type(e).__name__}: {e}")
            return 0

        return call

    def _diag(self, rr: Any, code: int, addinfo: str) -> None:
        rr.errcode = code
        rr.errstring = self.yaz.strdup(rr.stream, addinfo) if addinfo else None

    def _session(self, handle: int) -> Session:
        session = self.sessions.get(handle)
        if session is None:
            raise q.Diagnostic(D_SYSTEM, "no session")
        if session.store is None:
            session.store = SQLiteStore(self.config.db_path, readonly=True)
        return session

    # -- Init / Close ----------------------------------------------------------------------------

    def _credentials(self, req: Any) -> tuple[str, str] | None:
        auth = req.auth
        if not auth:
            return None
        a = auth.contents
        if a.which == self.gfs.AUTH_OPEN and a.u:
            text = (ctypes.cast(a.u, ctypes.c_char_p).value or b"").decode("utf-8", "replace")
            user, _, password = text.partition("/")
            return user, password
        if a.which == self.gfs.AUTH_IDPASS and a.u:
            idpass = ctypes.cast(a.u, ctypes.POINTER(self.gfs.IdPass)).contents
            return (
                (idpass.userId or b"").decode("utf-8", "replace"),
                (idpass.password or b"").decode("utf-8", "replace"),
            )
        return None

    def init(self, reqp: Any) -> int:
        req = reqp.contents
        result = int(self.yaz.lib.odr_malloc(req.stream, ctypes.sizeof(self.gfs.InitResult)))
        res = self.gfs.InitResult.from_address(result)
        res.errcode, res.errstring, res.handle = 0, None, None
        try:
            peer = (req.peer_name or b"").decode("utf-8", "replace")
            user = self._login(req, peer)
            if user is False:
                res.errcode = D_BAD_LOGIN
                res.errstring = self.yaz.strdup(req.stream, "wrong or missing user/password")
                return result
            session = Session(peer)
            if req.charneg_request:
                proposed = self.yaz.proposed_charsets(req.charneg_request)
                if any(c.replace("-", "").lower() == "utf8" for c in proposed):
                    session.utf8 = True
                    req.charneg_response = self.yaz.charneg_response(req.stream, "UTF-8")
            req.bend_search = self._search
            req.bend_fetch = self._fetch
            req.bend_delete = self._delete
            req.named_result_sets = 1
            with self.lock:
                handle = next(self.ids)
                self.sessions[handle] = session
            res.handle = handle
            self.log({"event": "z3950_init", "peer": peer, "user": user, "utf8": session.utf8})
        except Exception as e:
            self.log({"event": "error", "where": "init", "error": repr(e)})
            res.errcode = D_SYSTEM
            res.errstring = self.yaz.strdup(req.stream, f"{type(e).__name__}: {e}")
        return result

    def _login(self, req: Any, peer: str) -> str | bool | None:
        """The user name (None without accounts or with no_auth), or False if refused."""
        if self.config.no_auth:
            return None
        from ..flows import accounts

        with SQLiteStore(self.config.db_path, readonly=True) as store:
            if not accounts.has_accounts(store):
                return None
            cred = self._credentials(req)
            ok = cred is not None and accounts.verify(store, cred[0], cred[1])
        if ok and cred is not None:
            return cred[0]
        self.log({"event": "z3950_login_refused", "peer": peer, "user": cred[0] if cred else None})
        time.sleep(self.config.refuse_delay)
        return False

    def close(self, handle: int | None) -> None:
        try:
            with self.lock:
                session = self.sessions.pop(handle or 0, None)
            if session is not None and session.store is not None:
                session.store.close()
        except Exception as e:
            self.log({"event": "error", "where": "close", "error": repr(e)})

    # -- Search ----------------------------------------------------------------------------------

    def search(self, handle: int, rrp: Any) -> int:
        rr = rrp.contents
        session = self._session(handle)
        for i in range(rr.num_bases):
            base = (rr.basenames[i] or b"").decode("utf-8", "replace")
            if base.lower() != self.config.database.lower():
                raise q.Diagnostic(D_NO_DATABASE, base)
        setname = (rr.setname or b"default").decode("utf-8", "replace")
        if not rr.replace_set and setname in session.sets:
            raise q.Diagnostic(D_RESULT_SET_EXISTS, setname)
        query = rr.query.contents if rr.query else None
        if query is None or query.which not in (self.gfs.QUERY_TYPE_1, self.gfs.QUERY_TYPE_101):
            raise q.Diagnostic(D_QUERY_TYPE, "only type-1 (RPN) queries")
        pqf = self.yaz.rpn_to_pqf(query.u)
        try:
            tree = q.parse(pqf)
            _decode_terms(tree)
            q.check(tree)
            store = session.store
            assert store is not None
            found = q.evaluate(
                tree, lambda index, text, trunc: _find(store, index, text, trunc), session.sets
            )
        except q.Diagnostic as d:
            self.log({"event": "z3950_search", "query": pqf, "diagnostic": d.code})
            raise
        hits = sorted(found)
        session.sets.pop(setname, None)
        session.sets[setname] = hits
        while len(session.sets) > MAX_RESULT_SETS:
            session.sets.popitem(last=False)
        rr.hits = len(hits)
        self.log({"event": "z3950_search", "query": pqf, "set": setname, "hits": len(hits)})
        return 0

    # -- Present ---------------------------------------------------------------------------------

    def _element_set(self, rr: Any) -> str:
        if rr.comp:
            comp = rr.comp.contents
            if comp.which != 1 or not comp.u:
                # a CompSpec: GFS makes one of SRU's recordSchema, which rr.schema also has
                return ""
            esn = ctypes.cast(comp.u, ctypes.POINTER(self.gfs.ElementSetNames)).contents
            if esn.which != 1 or not esn.u:
                raise q.Diagnostic(D_ELEMENT_SET, "database-specific element set names")
            return (ctypes.cast(esn.u, ctypes.c_char_p).value or b"").decode("utf-8", "replace")
        return "F"

    def fetch(self, handle: int, rrp: Any) -> int:
        rr = rrp.contents
        session = self._session(handle)
        setname = (rr.setname or b"default").decode("utf-8", "replace")
        hits = session.sets.get(setname)
        if hits is None:
            raise q.Diagnostic(D_NO_RESULT_SET, setname)
        if not 1 <= rr.number <= len(hits):
            raise q.Diagnostic(D_OUT_OF_RANGE, f"{rr.number} of {len(hits)}")
        oid = self.yaz.oid_text(rr.request_format)
        if oid is None or oid in USMARC_OIDS:
            xml = False
        elif oid in XML_OIDS:
            xml = True
        else:
            raise q.Diagnostic(D_SYNTAX, oid)
        esn = self._element_set(rr)
        schema = (rr.schema or b"").decode("utf-8", "replace")
        names = {esn.lower(), schema.lower()} - {""}
        if xml:
            names -= MARCXML_SCHEMAS
        brief = "b" in names
        names -= {"f", "b"}
        if names:
            raise q.Diagnostic(D_ELEMENT_SET, sorted(names)[0])
        sysno = hits[rr.number - 1]
        data = self._record(session, sysno, utf8=xml or session.utf8, brief=brief)
        if xml:
            text = Record.parse(data).as_marcxml()
            if text.startswith("<?xml"):
                text = text[text.index("?>") + 2 :].lstrip()
            data = text.encode("utf-8")
            rr.output_format = ctypes.addressof(self.yaz.xml_oid)
        else:
            rr.output_format = ctypes.addressof(self.yaz.usmarc_oid)
        rr.record = self.yaz.copy_bytes(rr.stream, data)
        rr.len = len(data)
        rr.basename = self.yaz.strdup(rr.stream, self.config.database)
        rr.last_in_set = 1 if rr.number == len(hits) else 0
        return 0

    def _record(self, session: Session, sysno: int, *, utf8: bool, brief: bool) -> bytes:
        store = session.store
        assert store is not None
        exporter = session.exporters.get((("utf8" if utf8 else "marc8"), brief))
        if exporter is None:
            tags = TagFilter(BRIEF_TAGS) if brief else TagFilter()
            exporter = Exporter(store, tags=tags, encoding="utf8" if utf8 else "marc8")
            session.exporters[("utf8" if utf8 else "marc8"), brief] = exporter
        rec = store.get(sysno)
        if rec is None or rec.deleted:
            raise q.Diagnostic(D_PRESENT_ERROR, f"{format_sysno(sysno)}: the record was deleted")
        out, outcome = exporter.convert(rec)
        for c in outcome.chars:
            self._log_char(c)
        if out is None:
            raise q.Diagnostic(D_PRESENT_ERROR, outcome.line())
        self.log(
            {
                "event": "z3950_present",
                "sysno": format_sysno(sysno),
                "encoding": "utf8" if utf8 else "marc8",
                "dropped": outcome.dropped,
            }
        )
        return out

    def _log_char(self, c: CharReport) -> None:
        d: dict[str, object] = {"event": "z3950_unmappable", **c.to_dict()}
        d["message"] = c.line()
        self.log(d)

    # -- Delete (result sets) --------------------------------------------------------------------

    def delete(self, handle: int, rrp: Any) -> int:
        rr = rrp.contents
        session = self._session(handle)
        if rr.function == self.gfs.DELETE_ALL:
            session.sets.clear()
            rr.delete_status = self.gfs.DELETE_SUCCESS
            return 0
        status = self.gfs.DELETE_SUCCESS
        for i in range(rr.num_setnames):
            name = (rr.setnames[i] or b"").decode("utf-8", "replace")
            ok = session.sets.pop(name, None) is not None
            if rr.statuses:
                rr.statuses[i] = self.gfs.DELETE_SUCCESS if ok else self.gfs.DELETE_NO_SUCH_SET
            if not ok:
                status = self.gfs.DELETE_NO_SUCH_SET
        rr.delete_status = status
        return 0


def _decode_terms(tree: q.Node) -> None:
    if isinstance(tree, q.Op):
        _decode_terms(tree.left)
        _decode_terms(tree.right)
    elif isinstance(tree, q.Term):
        tree.text = _term_text(tree.text)


# -- GFS configuration: the SRU side ---------------------------------------------------------------

#: CQL index → Bib-1 use attribute (the CQL → RPN mapping GFS applies to SRU queries).
CQL_INDEXES = {
    "rec.id": 12,
    "oclc.number": 1211,
    "dc.title": 4,
    "dc.creator": 1003,
    "bath.isbn": 7,
    "bath.issn": 8,
    "dc.subject": 21,
    "cql.serverChoice": 1016,
    "cql.anywhere": 1016,
}

_CQL_SETS = {
    "cql": "info:srw/cql-context-set/1/cql-v1.2",
    "dc": "info:srw/cql-context-set/1/dc-v1.1",
    "bath": "http://zing.z3950.org/cql/bath/2.0/",
    "rec": "info:srw/cql-context-set/2/rec-1.0",
    "oclc": "info:srw/cql-context-set/marc8fast/oclc-1.0",
}


def cql_properties() -> str:
    lines = [f"set.{k} = {v}" for k, v in _CQL_SETS.items()]
    lines += [f"index.{k} = 1={v}" for k, v in CQL_INDEXES.items()]
    lines += [
        # "=" is looked up as eq, "==" as exact; "all" (every word) is what every search does
        "relation.eq = 2=3",
        "relation.exact = 2=3",
        "relation.scr = 2=3",
        "relation.all = 2=3",
        "relation.adj = 2=3",
        "structure.* = 4=2",
        "position.any = 3=3",
        "truncation.right = 5=1",
        "truncation.none = 5=100",
    ]
    return "\n".join(lines) + "\n"


def gfs_config(cql_file: str, database: str, host: str, port: int) -> str:
    idx = "".join(
        f'<index><title>{escape(name)}</title><map><name set="{escape(name.split(".")[0])}">'
        f"{escape(name.split('.', 1)[1])}</name></map></index>"
        for name in CQL_INDEXES
    )
    return f"""<?xml version="1.0"?>
<yazgfs>
  <server id="marc8fast">
    <cql2rpn>{escape(cql_file)}</cql2rpn>
    <maximumrecordsize>{MAX_PDU_KB * 1024}</maximumrecordsize>
    <explain xmlns="http://explain.z3950.org/dtd/2.0/">
      <serverInfo protocol="SRU">
        <host>{escape(host or "localhost")}</host>{f"<port>{port}</port>" if port else ""}
        <database>{escape(database)}</database>
      </serverInfo>
      <databaseInfo><title>marc8fast catalog</title></databaseInfo>
      <indexInfo>{idx}</indexInfo>
      <schemaInfo>
        <schema identifier="info:srw/schema/1/marcxml-v1.1" name="marcxml">
          <title>MARCXML</title>
        </schema>
      </schemaInfo>
    </explain>
  </server>
</yazgfs>
"""


# -- the child process -----------------------------------------------------------------------------


def _listening_ports() -> list[int]:
    """Ports of this process's listening TCP sockets, in the order of their descriptors."""
    out: list[tuple[int, int]] = []
    folder = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    for name in os.listdir(folder):
        fd = int(name)
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if s.type == socket.SOCK_STREAM and s.getsockopt(
                socket.SOL_SOCKET, socket.SO_ACCEPTCONN
            ):
                out.append((fd, s.getsockname()[1]))
        except OSError:
            pass
        finally:
            s.close()
    return [port for _, port in sorted(out)]


def _assign_ports(wanted: list[tuple[str, int]], found: list[int]) -> dict[str, int]:
    ports: dict[str, int] = {}
    left = list(found)
    for name, port in wanted:
        if port and port in left:
            ports[name] = port
            left.remove(port)
    for name, _port in wanted:
        if name not in ports and left:
            ports[name] = left.pop(0)
    return ports


def _address(host: str, port: int) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"tcp:{host or '@'}:{port}"


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class EventPipe:
    """The child's events, as JSON lines on ``out``, written in batches (every
    :data:`LOG_INTERVAL` seconds, or at once for ``urgent`` ones): one write per batch, not two
    pipe wake-ups per record."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.buf: list[str] = []
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        threading.Thread(target=self._run, name="z3950-events", daemon=True).start()

    def emit(self, event: dict[str, object], urgent: bool = False) -> None:
        line = json.dumps({"service": "z3950", **event}, ensure_ascii=False, default=str)
        with self.lock:
            self.buf.append(line)
        if urgent:
            self.flush()

    def flush(self) -> None:
        with self.write_lock:
            with self.lock:
                lines, self.buf = self.buf, []
            if lines:
                try:
                    self.out.write("\n".join(lines) + "\n")
                    self.out.flush()
                except (OSError, ValueError):
                    pass  # the parent is gone: nothing to report to

    def _run(self) -> None:
        while True:
            time.sleep(LOG_INTERVAL)
            self.flush()


def _stop_on_eof(pipe: EventPipe) -> None:
    """The parent closes our stdin to stop us (or dies): flush the events, then SIGTERM
    ourselves (GFS's handler exits)."""
    try:
        while sys.stdin.read(65536):
            pass
    except (OSError, ValueError):
        pass
    pipe.flush()
    os.kill(os.getpid(), signal.SIGTERM)


def child_main(spec: dict[str, Any], out: IO[str]) -> int:
    """Serve until stdin closes: GFS in this (main) thread, events as JSON lines on ``out``."""
    from . import yazgfs

    pipe = EventPipe(out)
    emit = pipe.emit
    threading.Thread(target=_stop_on_eof, args=(pipe,), name="z3950-stop", daemon=True).start()

    config = Config(
        spec["db_path"],
        database=spec["database"],
        no_auth=spec["no_auth"],
        refuse_delay=spec["refuse_delay"],
    )
    try:
        SQLiteStore(config.db_path, readonly=True).close()
        backend = Backend(config, emit)
    except (Marc8Error, OSError) as e:
        emit({"event": "fatal", "error": str(e)}, urgent=True)
        return 2
    wanted = [(name, int(spec[name][1])) for name in ("z3950", "sru") if spec.get(name)]

    def started(_block: Any) -> None:
        try:
            ports = _assign_ports(wanted, _listening_ports())
        except OSError as e:
            emit({"event": "fatal", "error": f"cannot find the ports listened on: {e}"}, True)
            return
        emit({"event": "ready", "ports": ports}, urgent=True)

    start_fn = yazgfs.START_FN(started)
    control = backend.yaz.server.statserv_getcontrol().contents
    control.bend_start = start_fn
    argv = [
        "marc8fast-z3950",
        "-T",
        "-f",
        spec["config"],
        "-t",
        f"{int(spec['idle_timeout'])}s",
        "-k",
        str(int(spec["max_pdu_kb"])),
        "-v",
        spec.get("yaz_log", "none,fatal,warn"),
    ]
    argv += [_address(spec[name][0], int(spec[name][1])) for name, _ in wanted]
    cargv = (ctypes.c_char_p * (len(argv) + 1))(*[a.encode() for a in argv], None)
    rc = backend.yaz.server.statserv_main(len(argv), cargv, backend._init, backend._close)
    if rc:
        emit({"event": "fatal", "error": f"the Z39.50 server stopped (status {rc})"}, urgent=True)
    else:
        emit({"event": "z3950_stopped"}, urgent=True)
    return 2 if rc else 0


# -- the parent side: start() and its handle -------------------------------------------------------


class ServerError(Marc8Error, OSError):
    """The Z39.50/SRU server could not start (an OSError, as a port in use is)."""


class Handle:
    """A running server (a child process); :meth:`stop` ends it."""

    def __init__(self, proc: subprocess.Popen[str], tmp: str, log: Log) -> None:
        self.proc = proc
        self.tmp = tmp
        self.log = log
        self.ports: dict[str, int] = {}
        self.ready = threading.Event()
        self.failure: str | None = None
        self.reader = threading.Thread(target=self._read, name="z3950-log", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "output", "text": line.rstrip("\n")}
            if event.get("event") == "ready":
                self.ports = {k: int(v) for k, v in event.get("ports", {}).items()}
                self.ready.set()
                continue
            if event.get("event") == "fatal" and not self.ready.is_set():
                self.failure = str(event.get("error"))
            try:
                self.log(event)
            except Exception:  # a failing logger must not stop the reader
                pass
        self.ready.set()

    def _close_stdin(self) -> None:
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server: its stdin is closed (it writes its last events and exits), then
        SIGTERM, then SIGKILL, ``timeout`` seconds apart at most."""
        for step in (self._close_stdin, self.proc.terminate, self.proc.kill):
            if self.proc.poll() is not None:
                break
            step()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.reader.join(timeout)
        for name in os.listdir(self.tmp):
            os.unlink(os.path.join(self.tmp, name))
        os.rmdir(self.tmp)


def start(
    db_path: str,
    *,
    z3950: tuple[str, int] | None,
    sru: tuple[str, int] | None,
    database: str = DEFAULT_DATABASE,
    no_auth: bool = False,
    log: Log,
    idle_timeout: float = IDLE_TIMEOUT,
    max_pdu_kb: int = MAX_PDU_KB,
    refuse_delay: float = REFUSE_DELAY,
    startup_timeout: float = 30.0,
) -> Handle:
    """Start the Z39.50 server (and SRU, on the Z39.50 port and on ``sru`` if given) over the
    catalog ``db_path``; ``handle.ports`` has the ports listened on ("z3950", "sru")."""
    if z3950 is None and sru is None:
        raise ServerError("nothing to listen on: give a Z39.50 or an SRU address")
    SQLiteStore(db_path, readonly=True).close()  # a missing catalog is said here, in one line
    tmp = tempfile.mkdtemp(prefix="marc8fast-z3950-")
    cql = os.path.join(tmp, "cql.properties")
    cfg = os.path.join(tmp, "gfs.xml")
    with open(cql, "w", encoding="utf-8") as fh:
        fh.write(cql_properties())
    host, port = z3950 or sru or ("", 0)
    with open(cfg, "w", encoding="utf-8") as fh:
        fh.write(gfs_config(cql, database, host, port))
    spec = {
        "db_path": os.path.abspath(db_path),
        "z3950": list(z3950) if z3950 else None,
        "sru": list(sru) if sru else None,
        "database": database,
        "no_auth": no_auth,
        "refuse_delay": refuse_delay,
        "idle_timeout": max(1, int(idle_timeout)),
        "max_pdu_kb": max(1, int(max_pdu_kb)),
        "config": cfg,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "marc8fast.server.z3950", "--child", json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=tmp,
    )
    handle = Handle(proc, tmp, log)
    if not handle.ready.wait(startup_timeout) or not handle.ports:
        why = handle.failure or "it did not start listening"
        handle.stop(5.0)
        raise ServerError(f"the Z39.50 server could not start: {why}")
    return handle


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        _die_with_parent()
        return child_main(json.loads(args[1]), sys.stdout)
    p = argparse.ArgumentParser(
        prog="python -m marc8fast.server.z3950",
        description="Serve a catalog over Z39.50 and SRU in the foreground (development runner; "
        "`marc8fast serve` is the command for users).",
    )
    p.add_argument("db")
    p.add_argument("--z3950", type=_hostport, default=("127.0.0.1", 0), metavar="HOST:PORT")
    p.add_argument("--sru", type=_hostport, default=None, metavar="HOST:PORT")
    p.add_argument("--database", default=DEFAULT_DATABASE)
    p.add_argument("--no-auth", action="store_true")
    p.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT, metavar="SECONDS")
    p.add_argument("--max-pdu-kb", type=int, default=MAX_PDU_KB)
    p.add_argument("--refuse-delay", type=float, default=REFUSE_DELAY, metavar="SECONDS")
    a = p.parse_args(args)

    def log(event: dict[str, object]) -> None:
        sys.stderr.write(json.dumps(event, ensure_ascii=False) + "\n")
        sys.stderr.flush()

    handle = start(
        a.db,
        z3950=a.z3950,
        sru=a.sru,
        database=a.database,
        no_auth=a.no_auth,
        log=log,
        idle_timeout=a.idle_timeout,
        max_pdu_kb=a.max_pdu_kb,
        refuse_delay=a.refuse_delay,
    )
    for name, port in handle.ports.items():
        host = (a.z3950 if name == "z3950" else a.sru or a.z3950)[0]
        sys.stderr.write(f"listening {name} {host}:{port}\n")
    sys.stderr.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set() and handle.running():
        stop.wait(0.5)
    handle.stop(5.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
