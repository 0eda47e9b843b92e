"""ctypes binding of YAZ's generic frontend server (GFS, ``libyaz_server.so.5``).

Only what the Z39.50/SRU backend in :mod:`marc8fast.server.z3950` needs: the ``bend_*`` request
structures of ``yaz/backend.h`` (YAZ 5), the entry point ``statserv_main`` and a few helpers of
``libyaz`` (ODR memory, OIDs, rendering a type-1 query as PQF text, character-set negotiation).
The layouts follow the YAZ 5 headers field for field; GFS owns the protocol (BER, Init, Search,
Present, Close, SRU over HTTP), this module only fills in the answers.

Nothing here is loaded at import time: :func:`load` opens the libraries on first use, so the rest
of marc8fast works on machines without YAZ.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_int,
    c_longlong,
    c_short,
    c_void_p,
)
from typing import Any

BEND_NAME_MAX = 1024

c_char_pp = POINTER(c_char_p)


class IdPass(Structure):
    _fields_ = [("groupId", c_char_p), ("userId", c_char_p), ("password", c_char_p)]


class IdAuthentication(Structure):
    # which: 1 open (u = char *), 2 idPass (u = Z_IdPass *), 3 anonymous, 4 other
    _fields_ = [("which", c_int), ("u", c_void_p)]


AUTH_OPEN, AUTH_IDPASS, AUTH_ANONYMOUS, AUTH_OTHER = 1, 2, 3, 4


class Query(Structure):
    # which: 2 type_1 (RPN), 5 type_101 (RPN); u = Z_RPNQuery * for both
    _fields_ = [("which", c_int), ("u", c_void_p)]


QUERY_TYPE_1, QUERY_TYPE_101 = 2, 5


class ElementSetNames(Structure):
    # which: 1 generic (u = char *), 2 database specific
    _fields_ = [("which", c_int), ("u", c_void_p)]


class RecordComposition(Structure):
    # which: 1 simple (u = Z_ElementSetNames *), 2 complex (u = Z_CompSpec *)
    _fields_ = [("which", c_int), ("u", c_void_p)]


class SearchRR(Structure):
    _fields_ = [
        ("setname", c_char_p),
        ("replace_set", c_int),
        ("num_bases", c_int),
        ("basenames", c_char_pp),
        ("referenceId", c_void_p),
        ("query", POINTER(Query)),
        ("stream", c_void_p),
        ("decode", c_void_p),
        ("print", c_void_p),
        ("association", c_void_p),
        ("hits", c_longlong),
        ("errcode", c_int),
        ("errstring", c_void_p),
        ("search_info", c_void_p),
        ("srw_sortKeys", c_char_p),
        ("srw_setname", c_void_p),
        ("srw_setnameIdleTime", c_void_p),
        ("estimated_hit_count", c_int),
        ("partial_resultset", c_int),
        ("extra_args", c_void_p),
        ("extra_response_data", c_void_p),
        ("search_input", c_void_p),
        ("present_number", c_longlong),
    ]


class FetchRR(Structure):
    _fields_ = [
        ("setname", c_char_p),
        ("number", c_int),
        ("referenceId", c_void_p),
        ("request_format", c_void_p),  # Odr_oid * (an int here: compared by oid_oidcmp)
        ("comp", POINTER(RecordComposition)),
        ("stream", c_void_p),
        ("print", c_void_p),
        ("basename", c_void_p),
        ("len", c_int),
        ("record", c_void_p),
        ("last_in_set", c_int),
        ("output_format", c_void_p),
        ("errcode", c_int),
        ("errstring", c_void_p),
        ("surrogate_flag", c_int),
        ("schema", c_char_p),
    ]


class DeleteRR(Structure):
    _fields_ = [
        ("function", c_int),
        ("num_setnames", c_int),
        ("setnames", c_char_pp),
        ("referenceId", c_void_p),
        ("delete_status", c_int),
        ("statuses", POINTER(c_int)),
        ("stream", c_void_p),
        ("print", c_void_p),
    ]


DELETE_LIST, DELETE_ALL = 0, 1
DELETE_SUCCESS, DELETE_NO_SUCH_SET = 0, 1

SEARCH_FN = CFUNCTYPE(c_int, c_void_p, POINTER(SearchRR))
FETCH_FN = CFUNCTYPE(c_int, c_void_p, POINTER(FetchRR))
DELETE_FN = CFUNCTYPE(c_int, c_void_p, POINTER(DeleteRR))


class InitRequest(Structure):
    _fields_ = [
        ("auth", POINTER(IdAuthentication)),
        ("stream", c_void_p),
        ("print", c_void_p),
        ("decode", c_void_p),
        ("referenceId", c_void_p),
        ("peer_name", c_char_p),
        ("charneg_request", c_void_p),
        ("charneg_response", c_void_p),
        ("query_charset", c_void_p),
        ("records_in_same_charset", c_int),
        ("implementation_id", c_void_p),
        ("implementation_name", c_void_p),
        ("implementation_version", c_void_p),
        ("bend_sort", c_void_p),
        ("bend_search", SEARCH_FN),
        ("bend_fetch", FETCH_FN),
        ("bend_present", c_void_p),
        ("bend_esrequest", c_void_p),
        ("bend_delete", DELETE_FN),
        ("bend_scan", c_void_p),
        ("bend_segment", c_void_p),
        ("bend_explain", c_void_p),
        ("bend_srw_scan", c_void_p),
        ("bend_srw_update", c_void_p),
        ("named_result_sets", c_int),
    ]


class InitResult(Structure):
    _fields_ = [("errcode", c_int), ("errstring", c_void_p), ("handle", c_void_p)]


# (a callback cannot return a pointer type: the InitResult's address goes back as void *)
INIT_FN = CFUNCTYPE(c_void_p, POINTER(InitRequest))
CLOSE_FN = CFUNCTYPE(None, c_void_p)


class OptionsBlock(Structure):
    pass


START_FN = CFUNCTYPE(None, POINTER(OptionsBlock))

OptionsBlock._fields_ = [
    ("dynamic", c_int),
    ("threads", c_int),
    ("one_shot", c_int),
    ("apdufile", c_char * BEND_NAME_MAX),
    ("logfile", c_char * BEND_NAME_MAX),
    ("default_proto", c_int),
    ("idle_timeout", c_int),
    ("maxrecordsize", c_int),
    ("configname", c_char * BEND_NAME_MAX),
    ("setuid", c_char * BEND_NAME_MAX),
    ("bend_start", START_FN),
    ("bend_stop", c_void_p),
    ("options_func", c_void_p),
    ("check_ip", c_void_p),
    ("daemon_name", c_char * BEND_NAME_MAX),
    ("inetd", c_int),
    ("handle", c_void_p),
    ("bend_init", c_void_p),
    ("bend_close", c_void_p),
    ("pid_fname", c_char * BEND_NAME_MAX),
    ("background", c_int),
    ("cert_fname", c_char * BEND_NAME_MAX),
    ("xml_config", c_char * BEND_NAME_MAX),
    ("keepalive", c_int),
]


class Yaz:
    """The two libraries with argument and result types declared."""

    def __init__(self) -> None:
        # The helpers (ODR memory, OIDs, PQF rendering, charset negotiation) are called from
        # inside the callbacks and return at once: loaded as a PyDLL they keep the GIL. Through
        # CDLL each call let go of it and queued to get it back behind every other session's
        # callback, and with 16 clients the server answered fewer requests than with one.
        # statserv_main, which runs the server's loop, must release it: CDLL.
        self.lib = _open("yaz", "libyaz.so.5", ctypes.PyDLL)
        self.server = _open("yaz_server", "libyaz_server.so.5")
        self.libc = ctypes.PyDLL(None)
        lib, srv = self.lib, self.server
        _sig(self.libc.memcpy, c_void_p, [c_void_p, c_char_p, ctypes.c_size_t])
        _sig(lib.odr_malloc, c_void_p, [c_void_p, ctypes.c_size_t])
        _sig(lib.odr_strdup, c_void_p, [c_void_p, c_char_p])
        _sig(lib.oid_oid_to_dotstring, c_char_p, [c_void_p, c_char_p])
        _sig(lib.oid_oidcmp, c_int, [c_void_p, c_void_p])
        _sig(lib.wrbuf_alloc, c_void_p, [])
        _sig(lib.wrbuf_destroy, None, [c_void_p])
        _sig(lib.wrbuf_cstr, c_char_p, [c_void_p])
        _sig(lib.wrbuf_rewind, None, [c_void_p])
        _sig(lib.yaz_rpnquery_to_wrbuf, None, [c_void_p, c_void_p])
        _sig(lib.nmem_create, c_void_p, [])
        _sig(lib.nmem_destroy, None, [c_void_p])
        _sig(
            lib.yaz_get_proposal_charneg,
            None,
            [
                c_void_p,
                c_void_p,
                POINTER(c_char_pp),
                POINTER(c_int),
                POINTER(c_char_pp),
                POINTER(c_int),
                POINTER(c_int),
            ],
        )
        _sig(lib.yaz_set_response_charneg, c_void_p, [c_void_p, c_char_p, c_char_p, c_int])
        _sig(
            srv.statserv_main,
            c_int,
            [c_int, POINTER(c_char_p), INIT_FN, CLOSE_FN],
        )
        _sig(srv.statserv_getcontrol, POINTER(OptionsBlock), [])
        #: per session thread: a WRBUF and an OID text buffer, made once, used for every request
        self.local = threading.local()
        self.usmarc_oid = c_short.in_dll(lib, "yaz_oid_recsyn_usmarc")
        self.xml_oid = c_short.in_dll(lib, "yaz_oid_recsyn_xml")
        self.usmarc_address = ctypes.addressof(self.usmarc_oid)
        self.xml_address = ctypes.addressof(self.xml_oid)

    # -- helpers ---------------------------------------------------------------------------------

    def strdup(self, odr: int, text: str) -> int:
        """A copy of ``text`` (UTF-8) in the ODR stream's memory (freed with the PDU)."""
        return int(self.lib.odr_strdup(odr, text.encode("utf-8", "replace")))

    def copy_bytes(self, odr: int, data: bytes) -> int:
        ptr = int(self.lib.odr_malloc(odr, max(len(data), 1)))
        # libc's memcpy through PyDLL: ctypes.memmove is a CFUNCTYPE, which lets go of the GIL
        # (a hand-over to another session thread on every Present)
        self.libc.memcpy(ptr, data, len(data))
        return ptr

    def is_usmarc(self, oid: int | None) -> bool:
        """Whether ``oid`` (an ``Odr_oid *``, None for none) is USMARC's (one C call: the
        format of nearly every Present)."""
        return bool(oid) and self.lib.oid_oidcmp(oid, self.usmarc_address) == 0

    def oid_text(self, oid: Any) -> str | None:
        if not oid:
            return None
        buf = getattr(self.local, "oid", None)
        if buf is None:
            buf = self.local.oid = ctypes.create_string_buffer(256)
        out = self.lib.oid_oid_to_dotstring(ctypes.cast(oid, c_void_p), buf)
        return out.decode("ascii", "replace") if out else None

    def rpn_to_pqf(self, rpn: int) -> str:
        """YAZ's own rendering of a type-1 query as PQF text (``@attrset Bib-1 @and ...``)."""
        w = getattr(self.local, "wrbuf", None)
        if w is None:
            # one per session thread, kept while its Python thread state is (from Init to
            # Close): freed with the thread's local data
            w = self.local.wrbuf = _WrBuf(self.lib)
        self.lib.wrbuf_rewind(w.ptr)
        self.lib.yaz_rpnquery_to_wrbuf(w.ptr, rpn)
        raw: bytes = self.lib.wrbuf_cstr(w.ptr) or b""
        return raw.decode("utf-8", "surrogateescape")

    def proposed_charsets(self, charneg_request: int) -> list[str]:
        nmem = self.lib.nmem_create()
        try:
            sets, langs = c_char_pp(), c_char_pp()
            nsets, nlangs, selected = c_int(0), c_int(0), c_int(0)
            self.lib.yaz_get_proposal_charneg(
                nmem,
                charneg_request,
                ctypes.byref(sets),
                ctypes.byref(nsets),
                ctypes.byref(langs),
                ctypes.byref(nlangs),
                ctypes.byref(selected),
            )
            return [(sets[i] or b"").decode("ascii", "replace") for i in range(max(nsets.value, 0))]
        finally:
            self.lib.nmem_destroy(nmem)

    def charneg_response(self, odr: int, charset: str) -> int:
        """The answer to a proposal: ``charset`` chosen, and recordsInSelectedCharSets true
        (the records are sent in it)."""
        return int(self.lib.yaz_set_response_charneg(odr, charset.encode("ascii"), None, 1))


class _WrBuf:
    """A YAZ WRBUF owned by one thread's local data: destroyed when that data goes (the
    thread's Python state is freed at the end of its session)."""

    def __init__(self, lib: Any) -> None:
        self.lib = lib
        self.ptr = lib.wrbuf_alloc()

    def __del__(self) -> None:
        self.lib.wrbuf_destroy(self.ptr)


def _open(name: str, soname: str, kind: type[ctypes.CDLL] = ctypes.CDLL) -> ctypes.CDLL:
    try:
        return kind(soname)
    except OSError:
        found = ctypes.util.find_library(name)
        if found is None:
            raise OSError(
                f"the YAZ library {soname} is not installed (Debian/Ubuntu: apt-get install yaz)"
            ) from None
        return kind(found)


def _sig(fn: Any, res: Any, args: list[Any]) -> None:
    fn.restype = res
    fn.argtypes = args


_yaz: list[Yaz] = []


def load() -> Yaz:
    if not _yaz:
        _yaz.append(Yaz())
    return _yaz[0]
