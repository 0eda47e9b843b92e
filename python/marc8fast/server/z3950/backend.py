"""The backend GFS calls (through :mod:`..yazgfs`, ctypes) in the child's session threads:
Init (accounts, login guard, character-set negotiation), Search (type-1 RPN, Bib-1), Present
(USMARC/MARCXML built by the exporter), Delete; and the constants the package shares."""

from __future__ import annotations

import ctypes
import itertools
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..._native import EventQueue, Marc8Error, Record, Z3950Hot
from ..._native import decode as marc8_decode
from ...catalog import Catalog, QueryInterrupted, format_sysno, open_catalog
from ...flows.exporter import CharReport, Exporter, TagFilter
from .. import query as q
from ..guard import LoginGuard, Policy, Verdict
from .eventline import render
from .watchdog import Watchdog, peer_address

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

#: Converted records kept per process (the search by system number + present Connexion makes
#: converts one record again and again): at most this many, each checked against the stored
#: record's bytes before it is used, so an edit or a delete is seen at once.
RECORD_CACHE = 4096

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


class NativeSets(Mapping[str, list[int]]):
    """A session's named result sets, kept by the hot path (:class:`Z3950Hot`), which answers
    most searches itself: the one place they are, read and written here through it. At most
    :data:`MAX_RESULT_SETS` (the oldest is dropped beyond)."""

    def __init__(self, hot: Z3950Hot, handle: int) -> None:
        self.hot = hot
        self.handle = handle

    def __getitem__(self, name: str) -> list[int]:
        hits = self.hot.set_get(self.handle, name.encode("utf-8", "surrogateescape"))
        if hits is None:
            raise KeyError(name)
        return hits

    def __iter__(self) -> Iterator[str]:
        names = self.hot.set_names(self.handle)
        return (n.decode("utf-8", "surrogateescape") for n in names)

    def __len__(self) -> int:
        return len(self.hot.set_names(self.handle))

    def put(self, name: str, hits: list[int]) -> None:
        self.hot.set_put(self.handle, name.encode("utf-8", "surrogateescape"), hits)

    def remove(self, name: str) -> bool:
        return self.hot.set_remove(self.handle, name.encode("utf-8", "surrogateescape"))

    def clear(self) -> None:
        self.hot.set_clear(self.handle)


@dataclass
class Session:
    peer: str
    sets: NativeSets
    user: str | None = None
    #: False for an SRU request without credentials: its explain is answered, its search refused
    authenticated: bool = True
    utf8: bool = False
    store: Catalog | None = None
    exporters: dict[tuple[str, bool], Exporter] = field(default_factory=dict)
    #: monotonic time after which the running search is interrupted (0: none running)
    deadline: float = 0.0
    #: an SRU session: one searchRetrieve only (its login was checked for that one request)
    http: bool = False
    searched: bool = False


#: The query Connexion sends for "Record ID Number", as YAZ renders it: answered without the
#: parser (the same answer: one live-record lookup; anything else takes the general path).
_SYSNO_QUERY = re.compile(r"@attrset Bib-1 @attr 1=12 ([0-9]{1,9})")


def _find(store: Catalog, index: str, text: str, truncated: bool) -> set[int]:
    from ...flows.search import find

    try:
        return find(store, index, text, truncated=truncated)
    except (ValueError, Marc8Error):
        return set()  # a term that cannot be a value of this index (a sysno "abc") finds nothing


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _term_text(raw: str) -> str:
    """A query term: UTF-8 when it is valid UTF-8 (negotiated or ASCII), else MARC-8, else
    Latin-1 (the rendering decoded undecodable bytes as surrogates)."""
    if _ESCAPED_BYTE.search(raw) is None:
        return raw
    data = raw.encode("utf-8", "surrogateescape")
    try:
        return marc8_decode(data, normalize="NFC")
    except (ValueError, Marc8Error):
        return data.decode("latin-1")


def printable(text: str) -> str:
    """``text`` fit for a log line: bytes that were not UTF-8 (surrogate escapes) as ``\\xE5``."""
    if _SURROGATE.search(text) is None:
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
        from ...flows import accounts

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
        cached = self.accounts  # one attribute read (atomic): every request asks this
        if not fresh and cached is not None and time.monotonic() - cached[0] < 1.0:
            return cached[1]
        from ...flows import accounts

        # Its age counts from before the read: a slow read may have seen the catalog before
        # a change it ends after (stamped at its end, a disable could take longer than a second).
        read_at = time.monotonic()
        with open_catalog(self.db_path, readonly=True) as store:
            users = accounts.list_users(store)
        states = {u.name: (bool(u.disabled), str(u.updated_at)) for u in users}
        with self.lock:
            self.accounts = (read_at, states)
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
    def __init__(
        self,
        config: Config,
        log: Log,
        *,
        events: EventQueue,
        checker: LoginChecker | None = None,
    ) -> None:
        from .. import yazgfs

        self.yaz = yazgfs.load()
        self.gfs = yazgfs
        self.config = config
        self.log = log
        self.checker = checker or LoginChecker(config.db_path, log, config.policy)
        self.sessions: dict[int, Session] = {}
        #: the queue ``log`` writes to: the hot path's lines, and those rendered once for its
        #: cache, go there too, in order
        self.events = events
        #: thread-local: whether this session thread's Python thread state is kept (``_pin``)
        self.pinned = threading.local()
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
        self.hot = self._hot_path()
        # GFS calls the hot path's handlers, which give what they do not answer to ours
        search, fetch = self.hot.install()
        self._hot_search = yazgfs.SEARCH_FN(search)
        self._hot_fetch = yazgfs.FETCH_FN(fetch)

    def _hot_path(self) -> Z3950Hot:
        """The native handlers of the search by system number and its present (``docs/z3950.md``
        section 4): YAZ's functions, our two callbacks to decline to, and the catalog's read
        statement (none on PostgreSQL, or with ``MARC8FAST_Z3950_HOT=0``: then every request
        is declined to the callbacks, which answer as they always did)."""
        lib, address = self.yaz.lib, _address
        yaz = {
            name: address(getattr(lib, name))
            for name in (
                "odr_malloc",
                "odr_strdup",
                "oid_oidcmp",
                "wrbuf_alloc",
                "wrbuf_destroy",
                "wrbuf_rewind",
                "wrbuf_cstr",
                "yaz_rpnquery_to_wrbuf",
            )
        }
        yaz["usmarc_oid"] = self.yaz.usmarc_address
        reader = None
        if os.environ.get("MARC8FAST_Z3950_HOT", "1") != "0":
            with open_catalog(self.config.db_path, readonly=True) as store:
                reader = store.native_reader()
        #: keeps the read connection open as long as the backend
        self.reader = reader
        return Z3950Hot(
            yaz=yaz,
            python_search=address(self._search),
            python_fetch=address(self._fetch),
            database=self.config.database,
            max_sets=MAX_RESULT_SETS,
            cache_size=RECORD_CACHE,
            events=self.events,
            sqlite=reader.functions if reader is not None else None,
            statement=reader.statement if reader is not None else 0,
        )

    def _valid_until(self, session: Session) -> float:
        """Until when the hot path may answer ``session`` without a look at the accounts: never
        for SRU (each request its own login) or without one; always with ``no_auth``; else
        while the accounts the last check read are less than a second old, as here."""
        if session.http or not session.authenticated:
            return 0.0
        if session.user is None:
            return math.inf
        accounts = self.checker.accounts
        return accounts[0] + 1.0 if accounts is not None else 0.0

    # Errors never reach C: a bug becomes Bib-1 diagnostic 1 on that request, and a log line.
    def _guard(self, fn: Callable[[int, Any], int]) -> Callable[[int, Any], int]:
        def call(handle: int | None, rr: Any) -> int:
            self._pin()
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

    # Each callback from a GFS session thread enters Python through PyGILState_Ensure (ctypes).
    # A thread Python does not know gets a new thread state each time, made and freed around
    # every call (its frame stack mmap'd and munmap'd: a third of the kernel time per request,
    # measured). So a session thread keeps its thread state from its Init (one Ensure more,
    # never released by the callbacks) to its Close (released there, and freed by ctypes as
    # the Close callback returns). The mark is thread-local data, which lives in that thread
    # state: a thread whose state was freed starts unmarked.
    def _pin(self) -> None:
        if not getattr(self.pinned, "on", False):
            _pythonapi_ensure()
            self.pinned.on = True

    def _unpin(self) -> None:
        if getattr(self.pinned, "on", False):
            self.pinned.on = False
            _pythonapi_release()

    def _done(self, tid: int, peer: str | None = None) -> None:
        """The end of a backend call, noted for the watchdog. Runs in the ``finally`` of every
        callback, outside its error handling: it must not raise (an exception there would reach
        C, and GFS would answer the request with diagnostic 1); a failure costs the watchdog
        this call's note, and is logged."""
        self.activity[tid] = time.monotonic()
        if self.watchdog is not None:
            try:
                self.watchdog.settle(tid, peer)
            except Exception as e:
                self.log({"event": "error", "where": "watchdog", "error": repr(e)})

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
        self.hot.stamp(handle, self._valid_until(session))
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
            with self.lock:
                handle = next(self.ids)
            session = Session(
                peer,
                NativeSets(self.hot, handle),
                user=outcome if isinstance(outcome, str) else None,
                authenticated=outcome is not _ANONYMOUS,
                http=http,
            )
            if req.charneg_request:
                proposed = self.yaz.proposed_charsets(req.charneg_request)
                if any(c.replace("-", "").lower() == "utf8" for c in proposed):
                    session.utf8 = True
                    req.charneg_response = self.yaz.charneg_response(req.stream, "UTF-8")
            req.bend_search = self._hot_search
            req.bend_fetch = self._hot_fetch
            req.bend_delete = self._delete
            req.named_result_sets = 1
            self.hot.open(handle, session.utf8, self._valid_until(session))
            with self.lock:
                self.sessions[handle] = session
            res.handle = handle
            self._pin()
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
            self.hot.close(handle or 0)
            if session is not None and session.store is not None:
                session.store.close()
        except Exception as e:
            self.log({"event": "error", "where": "close", "error": repr(e)})
        finally:
            self._unpin()

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
        sysno_query = _SYSNO_QUERY.fullmatch(pqf)
        if sysno_query is not None and len(pqf) <= limits.characters:
            # one primary-key lookup: what the general path makes of this query, without it
            # (read_record: one statement, and on SQLite without handing the GIL over)
            number = int(sysno_query.group(1))
            rec = store.read_record(number) if number else None
            found = {number} if rec is not None and not rec.deleted else set()
        else:
            found = self._evaluate(session, store, pqf)
        hits = sorted(found)
        session.sets.put(setname, hits)
        rr.hits = len(hits)
        self.log({"event": "z3950_search", "query": _shown(pqf), "set": setname, "hits": len(hits)})
        return 0

    def _evaluate(self, session: Session, store: Catalog, pqf: str) -> set[int]:
        """Any type-1 query: parsed, checked against the limits, run under the time limit."""
        limits = self.config.limits

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
        return found

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
        fmt = rr.request_format
        oid = None if fmt is None or self.yaz.is_usmarc(fmt) else self.yaz.oid_text(fmt)
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
        data = self._record(session, sysno, utf8=xml or session.utf8, brief=brief, xml=xml)
        if xml:
            rr.output_format = self.yaz.xml_address
        else:
            rr.output_format = self.yaz.usmarc_address
        rr.record = self.yaz.copy_bytes(rr.stream, data)
        rr.len = len(data)
        rr.basename = self.yaz.strdup(rr.stream, self.config.database)
        rr.last_in_set = 1 if rr.number == len(hits) else 0
        return 0

    def _record(
        self, session: Session, sysno: int, *, utf8: bool, brief: bool, xml: bool = False
    ) -> bytes:
        """The record to send (ISO 2709, or MARCXML with ``xml``): from the cache when the
        stored record is the one it was made of, else converted (and kept). Logged the same
        either way."""
        store = session.store
        assert store is not None
        encoding: Literal["utf8", "marc8"] = "utf8" if utf8 else "marc8"
        variant = f"{encoding}{'-brief' if brief else ''}{'-xml' if xml else ''}"
        rec = store.read_record(sysno)
        if rec is None or rec.deleted:
            raise q.Diagnostic(D_PRESENT_ERROR, f"{format_sysno(sysno)}: the record was deleted")
        hit = self.hot.cache_get(sysno, variant, rec.data)
        if hit is not None:
            self.events.push_many(hit[1])
            return hit[0]
        exporter = session.exporters.get((encoding, brief))
        if exporter is None:
            tags = TagFilter(BRIEF_TAGS) if brief else TagFilter()
            exporter = Exporter(store, tags=tags, encoding=encoding)
            session.exporters[encoding, brief] = exporter
        out, outcome = exporter.convert(rec)
        if out is None:
            if outcome.chars:
                self.log(self._chars_event(sysno, outcome.chars))
            raise q.Diagnostic(D_PRESENT_ERROR, outcome.line())
        if xml:
            text = Record.parse(out).as_marcxml()
            if text.startswith("<?xml"):
                text = text[text.index("?>") + 2 :].lstrip()
            out = text.encode("utf-8")
        # the lines every present of this conversion writes, rendered once: kept with it
        lines = [render(self._chars_event(sysno, outcome.chars))] if outcome.chars else []
        present: dict[str, object] = {
            "event": "z3950_present",
            "sysno": format_sysno(sysno),
            "encoding": encoding,
            "dropped": outcome.dropped,
        }
        lines.append(render(present))
        self.hot.cache_put(sysno, variant, rec.data, out, lines)
        self.events.push_many(lines)
        return out

    def _chars_event(self, sysno: int, chars: Sequence[CharReport]) -> dict[str, object]:
        """The one line of a record whose characters became NCRs: how many, the first few."""
        first = chars[0].to_dict()
        shown = "; ".join(c.line().split(": ", 1)[-1] for c in chars[:UNMAPPABLE_SHOWN])
        more = len(chars) - UNMAPPABLE_SHOWN
        return {
            "event": "z3950_unmappable",
            "sysno": format_sysno(sysno),
            "count": len(chars),
            **{k: v for k, v in first.items() if k != "sysno"},
            "message": shown + (f" (and {more} more)" if more > 0 else ""),
        }

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
            ok = session.sets.remove(name)
            if rr.statuses:
                rr.statuses[i] = self.gfs.DELETE_SUCCESS if ok else self.gfs.DELETE_NO_SUCH_SET
            if not ok:
                status = self.gfs.DELETE_NO_SUCH_SET
        rr.delete_status = status
        return 0


def _address(fn: Any) -> int:
    """The address of a ctypes function (a library's, or a callback)."""
    return int(ctypes.cast(fn, ctypes.c_void_p).value or 0)


def _pythonapi_ensure() -> None:
    ctypes.pythonapi.PyGILState_Ensure()


def _pythonapi_release() -> None:
    ctypes.pythonapi.PyGILState_Release(0)  # PyGILState_LOCKED: the GIL stays held


ctypes.pythonapi.PyGILState_Ensure.restype = ctypes.c_int
ctypes.pythonapi.PyGILState_Ensure.argtypes = []
ctypes.pythonapi.PyGILState_Release.restype = None
ctypes.pythonapi.PyGILState_Release.argtypes = [ctypes.c_int]


def _decode_terms(tree: q.Node) -> None:
    if isinstance(tree, q.Op):
        _decode_terms(tree.left)
        _decode_terms(tree.right)
    elif isinstance(tree, q.Term):
        tree.text = _term_text(tree.text)
