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
import dataclasses
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any
from xml.sax.saxutils import escape

from .._native import Marc8Error, Record
from .._native import decode as marc8_decode
from ..catalog import Catalog, QueryInterrupted, format_sysno, is_url, open_catalog
from ..flows.exporter import CharReport, Exporter, TagFilter
from . import query as q
from .guard import LoginGuard, Policy, Verdict

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
#: Characters described in the one ``z3950_unmappable`` line of a record (the count has all).
UNMAPPABLE_SHOWN = 5
#: Seconds a partly received PDU (or HTTP request) may take to arrive whole: a client that
#: trickles, or claims a length it never sends, is disconnected after this.
PDU_DEADLINE = 60.0
#: Connections one address may hold at once (serve's --max-per-address); the watchdog closes
#: the slowest and longest idle beyond it, once a second.
MAX_PER_ADDRESS = 32
#: Events the child keeps while ``serve`` does not read them; beyond this the oldest are
#: dropped and counted (one ``z3950_events_dropped`` line says how many).
MAX_PENDING_EVENTS = 10000
#: YAZ's own warnings (malformed PDUs ...) logged per second at most; the rest are counted.
YAZ_LOG_RATE = 10
#: The child is restarted after it dies, waiting 0.5, 1, 2 ... up to this many seconds.
RESTART_BACKOFF_MAX = 8.0
#: ``serve`` gives up (and exits non-zero) after this many deaths within RESTART_WINDOW seconds.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0

USMARC_OIDS = {"1.2.840.10003.5.10"}  # USMARC and MARC 21 share this OID
XML_OIDS = {"1.2.840.10003.5.109.10", "1.2.840.10003.5.109.9"}

#: Element set B (brief): control fields, numbers, main entries, title, edition, imprint, extent.
BRIEF_TAGS = "001|003|005|008|010|020|022|035|040|100|110|111|130|245|250|260|264|300"
MARCXML_SCHEMAS = {"marcxml", "info:srw/schema/1/marcxml-v1.1", "marc21", "marc21-xml"}

# Bib-1 diagnostics used here (the rest come from query.py).
D_SYSTEM = 1
D_TEMPORARY = 2
D_RESOURCES = 31
D_OUT_OF_RANGE = 13
D_PRESENT_ERROR = 14
D_RESULT_SET_EXISTS = 21
D_ELEMENT_SET = 25
D_NO_RESULT_SET = 30
D_QUERY_TYPE = 107
D_NO_DATABASE = 235
D_SYNTAX = 239
D_BAD_LOGIN = 1011
D_OUT_OF_RESOURCES = 1018
D_UNAVAILABLE = 1020


# -- the backend (runs in the child, in GFS's session threads) -----------------------------------


@dataclass
class Config:
    db_path: str
    database: str = DEFAULT_DATABASE
    no_auth: bool = False
    refuse_delay: float = REFUSE_DELAY
    limits: q.Limits = field(default_factory=q.Limits)
    policy: Policy = field(default_factory=Policy)


@dataclass
class Session:
    peer: str
    user: str | None = None
    #: False for an SRU request without credentials: its explain is answered, its search refused
    authenticated: bool = True
    utf8: bool = False
    store: Catalog | None = None
    sets: OrderedDict[str, list[int]] = field(default_factory=OrderedDict)
    exporters: dict[tuple[str, bool], Exporter] = field(default_factory=dict)
    #: monotonic time after which the running search is interrupted (0: none running)
    deadline: float = 0.0
    #: an SRU session: one searchRetrieve only (its login was checked for that one request)
    http: bool = False
    searched: bool = False


def _find(store: Catalog, index: str, text: str, truncated: bool) -> set[int]:
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


def printable(text: str) -> str:
    """``text`` fit for a log line: bytes that were not UTF-8 (surrogate escapes) as ``\\xE5``."""
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return "".join(
        f"\\x{ord(c) - 0xDC00:02X}"
        if "\udc80" <= c <= "\udcff"
        else "\ufffd"
        if "\ud800" <= c <= "\udfff"
        else c
        for c in text
    )


def _shown(pqf: str, limit: int = 500) -> str:
    """A query for the log: printable, and cut (with its length said) when it is long."""
    if len(pqf) > limit:
        pqf = f"{pqf[:limit]}... ({len(pqf)} characters)"
    return printable(pqf)


def peer_address(peer: str) -> str:
    """The IP address in GFS's peer name (``tcp:127.0.0.2:40112``, ``tcp:[::1]:40112``, or a
    host name when GFS resolved one)."""
    text = peer.split(":", 1)[1] if peer.startswith(("tcp:", "ssl:")) else peer
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    host, sep, port = text.rpartition(":")
    return host if sep and port.isdigit() else text


class _Anonymous:
    pass


_ANONYMOUS = _Anonymous()


@dataclass(frozen=True)
class Refusal:
    code: int
    text: str


@dataclass(frozen=True)
class Checked:
    """A login check's outcome: ``ok``, else the Bib-1 diagnostic, its text, the reason logged
    and, for a lock, the seconds it still lasts."""

    ok: bool
    code: int = 0
    text: str = ""
    reason: str = ""
    retry_after: float | None = None


class LoginChecker:
    """Logins checked with the :class:`~.guard.LoginGuard` the Connexion receiver uses (the
    same policy: attempts counted before the check, per address and per login; a bounded pool
    of scrypt checks, fair between addresses; a verified-credential cache keyed by an HMAC), on
    the catalog's accounts. The account list is re-read at most once a second (at once for an
    unknown or disabled login); a changed account drops its cached credentials, so ``users
    disable`` and ``users passwd`` take effect within a second."""

    def __init__(self, db_path: str, log: Log, policy: Policy | None = None) -> None:
        self.db_path = db_path
        self.log = log
        self.guard = LoginGuard(self.verify, policy or Policy(), log)
        self.lock = threading.Lock()
        self.accounts: tuple[float, dict[str, tuple[bool, str]]] | None = None
        self.seen: dict[str, tuple[bool, str] | None] = {}

    def verify(self, login: str, password: bytes) -> bool:
        """The guard's check (on its own threads): one scrypt, also for an unknown or disabled
        login (on a dummy hash), so the time of a failure does not tell them apart."""
        from ..flows import accounts

        with open_catalog(self.db_path, readonly=True) as store:
            stored = accounts.stored_hash(store, login)
        try:
            text = password.decode("utf-8")
        except UnicodeDecodeError:
            accounts.check(None, "")  # no one's password: the same time spent all the same
            return False
        return accounts.check(stored, text)

    def states(self, *, fresh: bool = False) -> dict[str, tuple[bool, str]]:
        """login → (disabled, updated_at), at most a second old (or ``fresh``)."""
        from ..flows import accounts

        with self.lock:
            cached = self.accounts
        if not fresh and cached is not None and time.monotonic() - cached[0] < 1.0:
            return cached[1]
        with open_catalog(self.db_path, readonly=True) as store:
            users = accounts.list_users(store)
        states = {u.name: (bool(u.disabled), str(u.updated_at)) for u in users}
        with self.lock:
            self.accounts = (time.monotonic(), states)
        return states

    def any_enabled(self) -> bool:
        """Whether an enabled account exists (else every login is refused: fail closed). A
        "yes" is at most a second old; a "no" is read again."""
        return any(not d for d, _ in self.states().values()) or any(
            not d for d, _ in self.states(fresh=True).values()
        )

    def _state(self, login: str) -> tuple[bool, str] | None:
        state = self.states().get(login)
        if state is None or state[0]:  # unknown or disabled a moment ago: look again
            state = self.states(fresh=True).get(login)
        with self.lock:
            if self.seen.get(login, state) != state:
                self.guard.forget(login)
            if len(self.seen) > 10_000:
                self.seen.clear()
            self.seen[login] = state
        return state

    def check(self, login: str, password: bytes, address: str) -> Checked:
        state = self._state(login)
        result = self.guard.check(login, password, address)
        if result.verdict is Verdict.OK and self._state(login) != state:
            result = self.guard.check(login, password, address)  # it changed meanwhile
        if result.verdict is Verdict.OK:
            return Checked(True)
        if result.verdict is Verdict.LOCKED:
            wait = math.ceil(result.retry_after or self.guard.policy.lock_seconds)
            return Checked(
                False,
                D_BAD_LOGIN,
                f"too many failed logins: try again in {wait} s",
                "locked",
                float(wait),
            )
        if result.verdict is Verdict.BUSY:
            return Checked(False, D_OUT_OF_RESOURCES, "busy checking logins: try again", "busy")
        if result.verdict is Verdict.UNAVAILABLE:
            return Checked(
                False, D_UNAVAILABLE, "the accounts cannot be read", f"unavailable: {result.detail}"
            )
        return Checked(False, D_BAD_LOGIN, "wrong or missing user/password", "wrong password")

    def close(self) -> None:
        self.guard.close()


class Backend:
    def __init__(self, config: Config, log: Log, checker: LoginChecker | None = None) -> None:
        from . import yazgfs

        self.yaz = yazgfs.load()
        self.gfs = yazgfs
        self.config = config
        self.log = log
        self.checker = checker or LoginChecker(config.db_path, log, config.policy)
        self.sessions: dict[int, Session] = {}
        #: session thread → monotonic time of its last call into the backend (the Watchdog's)
        self.activity: dict[int, float] = {}
        self.watchdog: Watchdog | None = None
        # Guards the session table only: searches and presents run side by side (each session
        # has its own SQLite connection; SQLite and the hashing let go of the GIL), so one
        # expensive query holds up nobody but its own session.
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self._search = yazgfs.SEARCH_FN(self._guard(self.search))
        self._fetch = yazgfs.FETCH_FN(self._guard(self.fetch))
        self._delete = yazgfs.DELETE_FN(self._guard(self.delete))
        self._init = yazgfs.INIT_FN(self.init)
        self._close = yazgfs.CLOSE_FN(self.close)

    # Errors never reach C: a bug becomes Bib-1 diagnostic 1 on that request, and a log line.
    def _guard(self, fn: Callable[[int, Any], int]) -> Callable[[int, Any], int]:
        def call(handle: int | None, rr: Any) -> int:
            tid = threading.get_native_id()
            self.activity[tid] = time.monotonic()
            try:
                return fn(handle or 0, rr)
            except q.Diagnostic as d:
                self._diag(rr.contents, d.code, d.addinfo)
            except Exception as e:  # reported, and the session goes on
                self.log({"event": "error", "where": fn.__name__, "error": repr(e)})
                self._diag(rr.contents, D_SYSTEM, f"{type(e).__name__}: {e}")
            finally:
                self._done(tid)
            return 0

        return call

    def _done(self, tid: int, peer: str | None = None) -> None:
        self.activity[tid] = time.monotonic()
        if self.watchdog is not None:
            self.watchdog.settle(tid, peer)

    def _diag(self, rr: Any, code: int, addinfo: str) -> None:
        rr.errcode = code
        rr.errstring = self.yaz.strdup(rr.stream, addinfo) if addinfo else None

    def _session(self, handle: int) -> Session:
        session = self.sessions.get(handle)
        if session is None:
            raise q.Diagnostic(D_SYSTEM, "no session")
        if not session.authenticated:
            self.log(
                {
                    "event": "z3950_login_refused",
                    "peer": session.peer,
                    "user": None,
                    "reason": "no credentials",
                }
            )
            raise q.Diagnostic(D_BAD_LOGIN, "a login is required (HTTP basic authentication)")
        if session.user is not None:
            state = self.checker.states().get(session.user)
            if state is None or state[0]:  # disabled (or removed) since its Init
                self.log(
                    {
                        "event": "z3950_login_refused",
                        "peer": session.peer,
                        "user": session.user,
                        "reason": "login disabled",
                    }
                )
                raise q.Diagnostic(D_BAD_LOGIN, f"the login {session.user} is disabled")
        if session.store is None:
            session.store = open_catalog(self.config.db_path, readonly=True)
        return session

    # -- Init / Close ----------------------------------------------------------------------------

    def _credentials(self, req: Any) -> tuple[str, bytes] | None:
        auth = req.auth
        if not auth:
            return None
        a = auth.contents
        if a.which == self.gfs.AUTH_OPEN and a.u:
            raw = ctypes.cast(a.u, ctypes.c_char_p).value or b""
            user, _, password = raw.partition(b"/")
            return user.decode("utf-8", "replace"), password
        if a.which == self.gfs.AUTH_IDPASS and a.u:
            idpass = ctypes.cast(a.u, ctypes.POINTER(self.gfs.IdPass)).contents
            return (idpass.userId or b"").decode("utf-8", "replace"), idpass.password or b""
        return None

    def _is_http(self, req: Any) -> bool:
        """An SRU request: GFS's HTTP side calls Init with a UTF-8 proposal of its own and no
        implementation name, version or reference id (a Z39.50 Init from a real client has
        them; one without them and without a login is refused all the same at its search)."""
        return bool(
            req.charneg_request
            and not req.implementation_id
            and not req.implementation_name
            and not req.implementation_version
            and not req.referenceId
        )

    def init(self, reqp: Any) -> int:
        req = reqp.contents
        result = int(self.yaz.lib.odr_malloc(req.stream, ctypes.sizeof(self.gfs.InitResult)))
        res = self.gfs.InitResult.from_address(result)
        res.errcode, res.errstring, res.handle = 0, None, None
        peer = ""
        try:
            peer = (req.peer_name or b"").decode("utf-8", "replace")
            self.activity[threading.get_native_id()] = time.monotonic()
            http = self._is_http(req)
            outcome = self._login(req, peer, http)
            if isinstance(outcome, Refusal):
                res.errcode = outcome.code
                res.errstring = self.yaz.strdup(req.stream, outcome.text)
                return result
            session = Session(
                peer,
                user=outcome if isinstance(outcome, str) else None,
                authenticated=outcome is not _ANONYMOUS,
                http=http,
            )
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
            if session.authenticated and not http:
                self.log(
                    {
                        "event": "z3950_init",
                        "peer": peer,
                        "user": session.user,
                        "utf8": session.utf8,
                    }
                )
        except Exception as e:
            self.log({"event": "error", "where": "init", "error": repr(e)})
            res.errcode = D_SYSTEM
            res.errstring = self.yaz.strdup(req.stream, f"{type(e).__name__}: {e}")
        finally:
            self._done(threading.get_native_id(), peer)
        return result

    def _login(self, req: Any, peer: str, http: bool) -> str | _Anonymous | Refusal | None:
        """The user name (None with no_auth; :data:`_ANONYMOUS` for an SRU request without
        credentials), or the :class:`Refusal`. With no enabled account every login is refused
        (fail closed: ``no_auth`` is the only way to open the server)."""
        if self.config.no_auth:
            return None
        cred = self._credentials(req)
        user = cred[0] if cred else None
        if not self.checker.any_enabled():
            self.log(
                {
                    "event": "z3950_login_refused",
                    "peer": peer,
                    "user": user,
                    "reason": "no enabled account",
                }
            )
            return Refusal(D_BAD_LOGIN, "no enabled account: every login is refused")
        if cred is None:
            if http:
                return _ANONYMOUS  # explain is answered; a search is refused (and logged)
            self.log(
                {
                    "event": "z3950_login_refused",
                    "peer": peer,
                    "user": None,
                    "reason": "no credentials",
                }
            )
            return Refusal(D_BAD_LOGIN, "a login is required")
        verdict = self.checker.check(cred[0], cred[1], peer_address(peer))
        if verdict.ok:
            return cred[0]
        self.log(
            {
                "event": "z3950_login_refused",
                "peer": peer,
                "user": user,
                "reason": verdict.reason,
                **({"retry_after": verdict.retry_after} if verdict.retry_after else {}),
            }
        )
        if verdict.code == D_BAD_LOGIN:
            time.sleep(self.config.refuse_delay)  # a guess: its answer is slowed
        return Refusal(verdict.code, verdict.text)

    def close(self, handle: int | None) -> None:
        try:
            with self.lock:
                session = self.sessions.pop(handle or 0, None)
                self.activity.pop(threading.get_native_id(), None)
            if session is not None and session.store is not None:
                session.store.close()
        except Exception as e:
            self.log({"event": "error", "where": "close", "error": repr(e)})

    # -- Search ----------------------------------------------------------------------------------

    def search(self, handle: int, rrp: Any) -> int:
        rr = rrp.contents
        session = self._session(handle)
        if session.http:
            # GFS answers requests pipelined on one HTTP connection with the session of the
            # first: each request must bring its own credentials, so a second one is refused
            if session.searched:
                self.log(
                    {
                        "event": "z3950_login_refused",
                        "peer": session.peer,
                        "user": session.user,
                        "reason": "a second SRU request on one connection",
                    }
                )
                raise q.Diagnostic(D_BAD_LOGIN, "one request per connection: send it again")
            session.searched = True
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
        limits = self.config.limits
        store = session.store
        assert store is not None

        def find(index: str, text: str, trunc: bool) -> set[int]:
            if time.monotonic() > session.deadline:
                raise QueryInterrupted("interrupted")
            return _find(store, index, text, trunc)

        try:
            tree = q.parse(pqf, limits)
            _decode_terms(tree)
            q.check(tree, limits)
            session.deadline = time.monotonic() + limits.seconds
            try:
                # the time limit of a search: the catalog asks now and then whether to go on
                with store.interruptible(lambda: time.monotonic() > session.deadline):
                    found = q.evaluate(tree, find, session.sets)
            except QueryInterrupted:
                raise q.Diagnostic(
                    D_RESOURCES, f"the search took longer than {limits.seconds:g} s"
                ) from None
            finally:
                session.deadline = 0.0
        except q.Diagnostic as d:
            self.log({"event": "z3950_search", "query": _shown(pqf), "diagnostic": d.code})
            raise
        hits = sorted(found)
        session.sets.pop(setname, None)
        session.sets[setname] = hits
        while len(session.sets) > MAX_RESULT_SETS:
            session.sets.popitem(last=False)
        rr.hits = len(hits)
        self.log({"event": "z3950_search", "query": _shown(pqf), "set": setname, "hits": len(hits)})
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
        if outcome.chars:
            self._log_chars(sysno, outcome.chars)
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

    def _log_chars(self, sysno: int, chars: Sequence[CharReport]) -> None:
        """One line per record: how many characters became NCRs, and the first few of them."""
        first = chars[0].to_dict()
        shown = "; ".join(c.line().split(": ", 1)[-1] for c in chars[:UNMAPPABLE_SHOWN])
        more = len(chars) - UNMAPPABLE_SHOWN
        self.log(
            {
                "event": "z3950_unmappable",
                "sysno": format_sysno(sysno),
                "count": len(chars),
                **{k: v for k, v in first.items() if k != "sysno"},
                "message": shown + (f" (and {more} more)" if more > 0 else ""),
            }
        )

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


def _socket_of(fd: int) -> socket.socket | None:
    """A socket object on a duplicate of ``fd`` (closed by the caller), None if ``fd`` is not
    a socket (or is gone)."""
    try:
        dup = os.dup(fd)
    except OSError:
        return None
    try:
        return socket.socket(fileno=dup)
    except OSError:
        os.close(dup)
        return None


def _listening_ports() -> list[int]:
    """Ports of this process's listening TCP sockets, in the order of their descriptors."""
    out: list[tuple[int, int]] = []
    folder = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    for name in os.listdir(folder):
        fd = int(name)
        s = _socket_of(fd)
        if s is None:
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
    pipe wake-ups per record.

    The lines are ASCII (``json.dumps`` escapes everything else, lone surrogates included), so
    any byte a client sends reaches ``serve`` intact and readable. While ``serve`` does not read,
    at most :data:`MAX_PENDING_EVENTS` wait here: older ones are dropped and counted, never an
    unbounded buffer."""

    def __init__(self, out: IO[bytes], limit: int = MAX_PENDING_EVENTS) -> None:
        self.out = out
        self.limit = limit
        self.buf: deque[str] = deque()
        self.dropped = 0
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        threading.Thread(target=self._run, name="z3950-events", daemon=True).start()

    def emit(self, event: dict[str, object], urgent: bool = False) -> None:
        try:
            line = json.dumps({"service": "z3950", **event}, ensure_ascii=True, default=str)
        except (TypeError, ValueError) as e:
            line = json.dumps({"service": "z3950", "event": "error", "error": repr(e)})
        with self.lock:
            self.buf.append(line)
            while len(self.buf) > self.limit:
                self.buf.popleft()
                self.dropped += 1
        if urgent:
            self.flush()

    def flush(self) -> None:
        with self.write_lock:
            with self.lock:
                lines, self.buf = list(self.buf), deque()
                dropped, self.dropped = self.dropped, 0
            if dropped:
                lines.insert(
                    0,
                    json.dumps(
                        {"service": "z3950", "event": "z3950_events_dropped", "count": dropped}
                    ),
                )
            if lines:
                try:
                    self.out.write(("\n".join(lines) + "\n").encode("ascii"))
                    self.out.flush()
                except (OSError, ValueError):
                    pass  # the parent is gone: nothing to report to

    def _run(self) -> None:
        while True:
            time.sleep(LOG_INTERVAL)
            self.flush()


class YazLog:
    """YAZ's own log lines (malformed PDUs, failed accepts ...) as ``z3950_yaz`` events instead
    of the child's stderr: GFS writes its log (``-l``) into a pipe that this reads, at most
    :data:`YAZ_LOG_RATE` lines a second forwarded, the rest counted (and the BER dumps YAZ
    writes after a malformed PDU dropped)."""

    def __init__(self, emit: Callable[..., None]) -> None:
        self.emit = emit
        self.read_fd, self.write_fd = os.pipe()
        threading.Thread(target=self._run, name="z3950-yazlog", daemon=True).start()

    @property
    def path(self) -> str:
        return f"/proc/self/fd/{self.write_fd}"

    def _run(self) -> None:
        second, count, suppressed = 0, 0, 0
        with open(self.read_fd, "rb") as fh:
            for raw in fh:
                try:
                    m = re.search(rb"\[(fatal|warn|log)\]\s*(.*)", raw)
                    if m is None:
                        continue  # a line of a BER dump, or a continuation
                    now = int(time.monotonic())
                    if now != second:
                        if suppressed:
                            self.emit({"event": "z3950_yaz_suppressed", "count": suppressed})
                        second, count, suppressed = now, 0, 0
                    count += 1
                    if count > YAZ_LOG_RATE:
                        suppressed += 1
                        continue
                    self.emit(
                        {
                            "event": "z3950_yaz",
                            "level": m.group(1).decode(),
                            "message": m.group(2).decode("utf-8", "replace").strip(),
                        }
                    )
                except Exception:  # never the end of the reader (GFS would block on the pipe)
                    pass


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


@dataclass
class _Conn:
    first_seen: float
    pending_since: float | None = None


#: poll and ppoll, whose first argument is the ``struct pollfd`` array a GFS session waits on
_POLL_SYSCALLS = {"x86_64": {7, 271}, "aarch64": {73}}


class Watchdog:
    """Disconnects a client whose request has been arriving for longer than ``deadline``
    seconds: one trickling bytes, or one that claimed a length (up to GFS's PDU limit) and
    never sent it. GFS itself only drops a connection that is silent.

    GFS reads in C, one thread per connection, so the watchdog looks from outside, once a
    second: a session thread waits in ``poll`` on its connection (``/proc/self/task/TID/syscall``
    gives the ``pollfd`` array, read through ``/proc/self/mem``); the kernel says when data
    last arrived on it (``TCP_INFO``); the backend notes when it was last called from that
    thread (Init, Search, Present, Delete). Data that came after the last call and has not made
    a complete request ``deadline`` seconds on is a partial request: the connection is shut
    down (GFS then closes the session) and logged (``z3950_dropped``)."""

    TCP_INFO_LAST_DATA_RECV = 52  # offsets in struct tcp_info: tcpi_last_data_recv (ms)
    TCP_INFO_BYTES_RECEIVED = 128  # tcpi_bytes_received

    def __init__(
        self, activity: dict[int, float], deadline: float, emit: Log, per_address: int = 0
    ) -> None:
        self.activity = activity
        self.deadline = deadline
        #: connections one address may hold (0: no limit); beyond, the slowest are closed
        self.per_address = per_address
        self.emit = emit
        self.conns: dict[tuple[int, int], _Conn] = {}
        #: thread → (descriptor, inode) of the connection it polled at the last sweep
        self.fds: dict[int, tuple[int, int]] = {}
        #: thread → (inode, bytes received) when its last backend call ended
        self.settled: dict[int, tuple[int, int]] = {}
        self.syscalls = _POLL_SYSCALLS.get(os.uname().machine, set())

    def start(self) -> None:
        if self.syscalls and hasattr(socket, "TCP_INFO") and os.path.isdir("/proc/self/task"):
            threading.Thread(target=self._run, name="z3950-watchdog", daemon=True).start()

    def _run(self) -> None:
        try:
            mem = os.open("/proc/self/mem", os.O_RDONLY)
        except OSError as e:
            self.emit({"event": "error", "where": "watchdog", "error": repr(e)})
            return
        while True:
            time.sleep(1.0)
            try:
                self.sweep(time.monotonic(), mem)
            except Exception as e:  # never the end of the watchdog
                self.emit({"event": "error", "where": "watchdog", "error": repr(e)})

    def waiting(self, mem: int) -> dict[int, int]:
        """thread id → the one descriptor it polls, for the threads waiting in poll on one."""
        out: dict[int, int] = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/syscall", encoding="ascii") as fh:
                    fields = fh.read().split()
                if len(fields) < 3 or not fields[0].isdigit():
                    continue  # running, or not in a system call
                if int(fields[0]) not in self.syscalls or int(fields[2], 16) != 1:
                    continue
                data = os.pread(mem, 4, int(fields[1], 16))
            except (OSError, ValueError):
                continue
            if len(data) == 4:
                out[int(tid)] = struct.unpack("i", data)[0]
        return out

    def _info(self, fd: int) -> tuple[int, int, float, str] | None:
        """(inode, bytes received, seconds since data was last received, peer address) of a
        connected TCP socket, else None."""
        s = _socket_of(fd)
        if s is None:
            return None
        try:
            if s.type != socket.SOCK_STREAM or s.getsockopt(
                socket.SOL_SOCKET, socket.SO_ACCEPTCONN
            ):
                return None
            host = str(s.getpeername()[0]).removeprefix("::ffff:")
            info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
            inode = os.fstat(s.fileno()).st_ino
        except OSError:
            return None
        finally:
            s.close()
        if len(info) < self.TCP_INFO_BYTES_RECEIVED + 8:
            return None
        (idle_ms,) = struct.unpack_from("I", info, self.TCP_INFO_LAST_DATA_RECV)
        (received,) = struct.unpack_from("Q", info, self.TCP_INFO_BYTES_RECEIVED)
        return inode, received, idle_ms / 1000.0, host

    def settle(self, tid: int, peer: str | None = None) -> None:
        """Called at the end of each backend call, in its session thread: every byte received
        so far made complete requests (the client waits for the answer). A connection no sweep
        has seen yet (an Init) is found as the one connection from ``peer`` no thread is known
        to poll."""
        known = self.fds.get(tid)
        if known is None and peer is not None:
            known = self._unknown_connection(peer)
            if known is not None:
                self.fds[tid] = known
        if known is None:
            return
        info = self._info(known[0])
        if info is not None and info[0] == known[1]:
            self.settled[tid] = (info[0], info[1])

    def _unknown_connection(self, peer: str) -> tuple[int, int] | None:
        address = peer_address(peer)
        polled = {inode for _fd, inode in self.fds.values()}
        found: list[tuple[int, int]] = []
        for name in os.listdir("/proc/self/fd"):
            s = _socket_of(int(name))
            if s is None:
                continue
            try:
                if s.type != socket.SOCK_STREAM or s.getsockopt(
                    socket.SOL_SOCKET, socket.SO_ACCEPTCONN
                ):
                    continue
                host = s.getpeername()[0]
                inode = os.fstat(s.fileno()).st_ino
            except OSError:
                continue
            finally:
                s.close()
            if host.removeprefix("::ffff:") == address and inode not in polled:
                found.append((int(name), inode))
                if len(found) > 1:
                    return None  # several: which one is not known (the time rule decides)
        return found[0] if found else None

    def sweep(self, now: float, mem: int) -> None:
        seen: set[tuple[int, int]] = set()
        fds: dict[int, tuple[int, int]] = {}
        by_address: dict[str, list[tuple[bool, float, int, int, tuple[int, int]]]] = {}
        for tid, fd in self.waiting(mem).items():
            info = self._info(fd)
            if info is None:
                continue
            inode, received, idle, host = info
            fds[tid] = (fd, inode)
            key = (tid, inode)
            seen.add(key)
            conn = self.conns.setdefault(key, _Conn(now))
            settled = self.settled.get(tid)
            if settled is not None and settled[0] == inode:
                pending = received > settled[1]  # bytes beyond the last complete request
                since = now
            else:
                # not settled yet (a connection younger than a sweep): by time, to within the
                # kernel's 10 ms, received after the last call
                last_call = self.activity.get(tid, conn.first_seen)
                pending = now - idle > last_call + 0.01
                since = now - idle
            if not pending:
                conn.pending_since = None
            elif conn.pending_since is None:
                conn.pending_since = since
            if conn.pending_since is not None and now - conn.pending_since > self.deadline:
                self.drop(fd, inode, f"a request still incomplete after {self.deadline:g} s")
                del self.conns[key]
                continue
            last = self.activity.get(tid, conn.first_seen)
            by_address.setdefault(host, []).append((pending, last, fd, inode, key))
        self.fds = fds
        if self.per_address:
            for host, conns in by_address.items():
                if len(conns) <= self.per_address:
                    continue
                # over its share: the slow ones (a request arriving) first, then the longest idle
                conns.sort(key=lambda c: (not c[0], c[1]))
                over = conns[: len(conns) - self.per_address]
                for _pending, _last, fd, inode, key in over:
                    self.drop(fd, inode, None)
                    self.conns.pop(key, None)
                self.emit(
                    {
                        "event": "z3950_dropped",
                        "peer": host,
                        "count": len(over),
                        "reason": f"more than {self.per_address} connections from {host}: its "
                        "slowest and longest idle closed",
                    }
                )
        for key in set(self.conns) - seen:
            del self.conns[key]
        for tid in set(self.settled) - set(fds):
            self.settled.pop(tid, None)

    def drop(self, fd: int, inode: int, reason: str | None) -> None:
        """Shut the connection down (GFS then ends its session); logged if ``reason``."""
        s = _socket_of(fd)
        if s is None:
            return
        try:
            if os.fstat(s.fileno()).st_ino != inode:
                return
            peer = s.getpeername()
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            return
        finally:
            s.close()
        if reason is not None:
            self.emit({"event": "z3950_dropped", "peer": f"{peer[0]}:{peer[1]}", "reason": reason})


def child_main(spec: dict[str, Any], out: IO[bytes]) -> int:
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
        limits=q.Limits(**spec.get("limits", {})),
        policy=Policy(**spec.get("policy", {})),
    )
    try:
        open_catalog(config.db_path, readonly=True).close()
        backend = Backend(config, emit)
    except (Marc8Error, OSError) as e:
        emit({"event": "fatal", "error": str(e)}, urgent=True)
        return 2
    yaz_log = YazLog(emit)
    backend.watchdog = Watchdog(
        backend.activity,
        float(spec.get("pdu_deadline", PDU_DEADLINE)),
        emit,
        int(spec.get("max_per_address", MAX_PER_ADDRESS)),
    )
    backend.watchdog.start()
    wanted = [(name, int(spec[name][1])) for name in ("z3950", "sru") if spec.get(name)]

    def started(_block: Any) -> None:
        try:
            ports = _assign_ports(wanted, _listening_ports())
        except OSError as e:
            emit({"event": "fatal", "error": f"cannot find the ports listened on: {e}"}, True)
            return
        emit({"event": "ready", "ports": ports, "pid": os.getpid()}, urgent=True)

    start_fn = yazgfs.START_FN(started)
    control = backend.yaz.server.statserv_getcontrol().contents
    control.bend_start = start_fn
    argv = [
        "marc8fast-z3950",
        "-T",
        # HTTP: one request per connection, so every SRU request goes through Init (its own
        # login check); a kept-alive connection never carries a second request's credentials
        "-K",
        "-f",
        spec["config"],
        "-t",
        f"{int(spec['idle_timeout'])}s",
        "-k",
        str(int(spec["max_pdu_kb"])),
        # YAZ's log lines (and the BER dumps of malformed PDUs) go into a pipe (YazLog, then
        # serve's log), not to stderr
        "-l",
        yaz_log.path,
        "-v",
        spec.get("yaz_log", "none,fatal,warn,flush"),
    ]
    argv += [_address(spec[name][0], int(spec[name][1])) for name, _ in wanted]
    cargv = (ctypes.c_char_p * (len(argv) + 1))(*[a.encode() for a in argv], None)
    rc = backend.yaz.server.statserv_main(len(argv), cargv, backend._init, backend._close)
    del yaz_log
    if rc:
        emit({"event": "fatal", "error": f"the Z39.50 server stopped (status {rc})"}, urgent=True)
    else:
        emit({"event": "z3950_stopped"}, urgent=True)
    return 2 if rc else 0


# -- the parent side: start() and its handle -------------------------------------------------------


class ServerError(Marc8Error, OSError):
    """The Z39.50/SRU server could not start (an OSError, as a port in use is)."""


class Handle:
    """A running server (a supervised child process); :meth:`stop` ends it.

    A child that dies (a crash in the protocol library, a kill) is logged
    (``z3950_child_died``) and started again on the same ports, after 0.5, 1, 2 ... seconds (at
    most :data:`RESTART_BACKOFF_MAX`). After :data:`MAX_RESTARTS` deaths within
    :data:`RESTART_WINDOW` seconds, or a restart that cannot listen, it gives up: ``failure``
    says why and ``failed`` is set (``serve`` then stops and exits non-zero)."""

    def __init__(self, spec: dict[str, Any], tmp: str, log: Log) -> None:
        self.spec = spec
        self.tmp = tmp
        self.log = log
        self.ports: dict[str, int] = {}
        self.failure: str | None = None
        self.failed = threading.Event()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.deaths: list[float] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = threading.Event()
        self.reader: threading.Thread | None = None
        self.supervisor: threading.Thread | None = None

    # -- one child --------------------------------------------------------------------------------

    def _spawn(self) -> bool:
        """Start a child and wait until it listens (True) or fails (False, ``self.failure``)."""
        spec = dict(self.spec)
        for name, port in self.ports.items():  # a restart listens where the first one did
            if spec.get(name):
                spec[name] = [spec[name][0], port]
        ready = threading.Event()
        proc = subprocess.Popen(
            [sys.executable, "-m", "marc8fast.server.z3950", "--child", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=self.tmp,
        )
        with self.lock:
            self.proc, self.ready = proc, ready
        reader = threading.Thread(
            target=self._read, args=(proc, ready), name="z3950-log", daemon=True
        )
        reader.start()
        self.reader = reader
        if not ready.wait(float(self.spec.get("startup_timeout", 30.0))) or proc.poll() is not None:
            self.failure = self.failure or "it did not start listening"
            self._end(proc)
            return False
        return True

    def _read(self, proc: subprocess.Popen[bytes], ready: threading.Event) -> None:
        """The child's events → the log. A line that cannot be read is logged as what it is;
        if reading itself fails, the child is killed (and restarted): its events never pile up
        unread."""
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                try:
                    self._event(raw, ready)
                except Exception as e:  # a bad line or a failing logger: said, and go on
                    self._log({"event": "error", "where": "z3950_events", "error": repr(e)})
        except Exception as e:
            self._log({"event": "error", "where": "z3950_events", "error": repr(e)})
            if proc.poll() is None:
                proc.kill()
        finally:
            ready.set()

    def _event(self, raw: bytes, ready: threading.Event) -> None:
        line = raw.decode("utf-8", "replace")
        try:
            event = json.loads(line)
            if not isinstance(event, dict):
                raise ValueError("not an object")
        except ValueError:
            event = {"service": "z3950", "event": "output", "text": printable(line.rstrip())}
        if event.get("event") == "ready":
            self.ports = {k: int(v) for k, v in event.get("ports", {}).items()}
            ready.set()
            return
        if event.get("event") == "fatal" and not ready.is_set():
            self.failure = str(event.get("error"))
        self._log({k: printable(v) if isinstance(v, str) else v for k, v in event.items()})

    def _log(self, event: dict[str, object]) -> None:
        try:
            self.log(event)
        except Exception:  # a failing logger must not stop the reader
            pass

    def _end(self, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
        def close_stdin() -> None:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

        for step in (close_stdin, proc.terminate, proc.kill):
            if proc.poll() is not None:
                break
            step()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass

    # -- supervision -----------------------------------------------------------------------------

    def start(self) -> None:
        if not self._spawn():
            raise ServerError(f"the Z39.50 server could not start: {self.failure}")
        self.supervisor = threading.Thread(
            target=self._supervise, name="z3950-supervisor", daemon=True
        )
        self.supervisor.start()

    def _supervise(self) -> None:
        while not self.stopping.is_set():
            proc = self.proc
            assert proc is not None
            status = proc.wait()
            if self.stopping.is_set():
                return
            if self.reader is not None:
                self.reader.join(5.0)  # its last events first
            how = f"signal {-status}" if status < 0 else f"status {status}"
            self._log({"event": "z3950_child_died", "pid": proc.pid, "how": how})
            while True:  # restarted with back-off; a start that fails is one more death
                now = time.monotonic()
                self.deaths = [t for t in self.deaths if now - t < RESTART_WINDOW] + [now]
                if len(self.deaths) > MAX_RESTARTS:
                    self._give_up(
                        f"the Z39.50 server died {len(self.deaths)} times in "
                        f"{RESTART_WINDOW:g} s (last: {how})"
                    )
                    return
                delay = min(RESTART_BACKOFF_MAX, 0.5 * 2 ** (len(self.deaths) - 1))
                if self.stopping.wait(delay):
                    return
                self.failure = None
                if self._spawn():
                    break
                how = f"restart failed: {self.failure}"
                self._log({"event": "z3950_child_died", "how": how})
            self._log({"event": "z3950_restarted", "pid": self.pid, "ports": self.ports})

    def _give_up(self, why: str) -> None:
        self.failure = why
        self._log({"event": "fatal", "service": "z3950", "error": why})
        self.failed.set()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and not self.failed.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server: its stdin is closed (it writes its last events and exits), then
        SIGTERM, then SIGKILL, ``timeout`` seconds apart at most."""
        self.stopping.set()
        if self.proc is not None:
            self._end(self.proc, timeout)
        if self.reader is not None:
            self.reader.join(timeout)
        if self.supervisor is not None:
            self.supervisor.join(timeout)
        shutil.rmtree(self.tmp, ignore_errors=True)


TMP_PREFIX = "marc8fast-z3950-"


def _clean_stale(folder: str | None = None) -> None:
    """Remove the working folders of servers that are gone (``serve`` killed with -9 cannot
    remove its own): each is named after the pid of the process that made it."""
    folder = folder or tempfile.gettempdir()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.startswith(TMP_PREFIX):
            continue
        pid_text = name[len(TMP_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
            continue  # its owner runs
        except ProcessLookupError:
            pass
        except OSError:
            continue  # another user's process: not ours to judge
        shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


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
    pdu_deadline: float = PDU_DEADLINE,
    max_per_address: int = MAX_PER_ADDRESS,
    limits: q.Limits | None = None,
    policy: Policy | None = None,
    startup_timeout: float = 30.0,
) -> Handle:
    """Start the Z39.50 server (and SRU, on the Z39.50 port and on ``sru`` if given) over the
    catalog ``db_path``; ``handle.ports`` has the ports listened on ("z3950", "sru")."""
    if z3950 is None and sru is None:
        raise ServerError("nothing to listen on: give a Z39.50 or an SRU address")
    open_catalog(db_path, readonly=True).close()  # a missing catalog is said here, in one line
    _clean_stale()
    tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-")
    cql = os.path.join(tmp, "cql.properties")
    cfg = os.path.join(tmp, "gfs.xml")
    with open(cql, "w", encoding="utf-8") as fh:
        fh.write(cql_properties())
    host, port = z3950 or sru or ("", 0)
    with open(cfg, "w", encoding="utf-8") as fh:
        fh.write(gfs_config(cql, database, host, port))
    spec = {
        "db_path": db_path if is_url(db_path) else os.path.abspath(db_path),
        "z3950": list(z3950) if z3950 else None,
        "sru": list(sru) if sru else None,
        "database": database,
        "no_auth": no_auth,
        "refuse_delay": refuse_delay,
        "idle_timeout": max(1, int(idle_timeout)),
        "max_pdu_kb": max(1, int(max_pdu_kb)),
        "pdu_deadline": pdu_deadline,
        "max_per_address": max(0, int(max_per_address)),
        "limits": dataclasses.asdict(limits or q.Limits()),
        "policy": dataclasses.asdict(policy or Policy()),
        "config": cfg,
        "startup_timeout": startup_timeout,
    }
    handle = Handle(spec, tmp, log)
    try:
        handle.start()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return handle


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        _die_with_parent()
        return child_main(json.loads(args[1]), sys.stdout.buffer)
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
    p.add_argument("--pdu-deadline", type=float, default=PDU_DEADLINE, metavar="SECONDS")
    p.add_argument("--max-per-address", type=int, default=MAX_PER_ADDRESS, metavar="N")
    p.add_argument("--query-seconds", type=float, default=q.Limits.seconds, metavar="SECONDS")
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
        pdu_deadline=a.pdu_deadline,
        max_per_address=a.max_per_address,
        limits=q.Limits(seconds=a.query_seconds),
    )
    for name, port in handle.ports.items():
        host = (a.z3950 if name == "z3950" else a.sru or a.z3950)[0]
        sys.stderr.write(f"listening {name} {host}:{port}\n")
    sys.stderr.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set() and not handle.failed.is_set():
        stop.wait(0.5)
    handle.stop(5.0)
    if handle.failed.is_set():
        sys.stderr.write(f"marc8fast: z3950: {handle.failure}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
