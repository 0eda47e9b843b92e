"""What issue 22 changed on the Z39.50 hot path (search by system number + present), checked as
a client meets it: the per-process cache of converted records never serves a record that was
edited or deleted since, and the session threads (which now keep their Python thread state
from Init to Close) leave nothing behind when thousands of sessions come and go."""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from z3950_server import Server, load_catalog, needs_yaz, serving

from marc8fast import Record
from marc8fast.flows.exporter import Exporter
from marc8fast.flows.store import SQLiteStore

pytestmark = pytest.mark.skipif(needs_yaz, reason="YAZ is not installed")


class Zoom:
    """YAZ's ZOOM C library through ctypes: one connection, search, record 1."""

    def __init__(self) -> None:
        lib = ctypes.CDLL("libyaz.so.5")
        vp, cp = ctypes.c_void_p, ctypes.c_char_p
        for name, res, args in (
            ("ZOOM_connection_create", vp, [vp]),
            ("ZOOM_connection_option_set", None, [vp, cp, cp]),
            ("ZOOM_connection_connect", None, [vp, cp, ctypes.c_int]),
            ("ZOOM_connection_error", ctypes.c_int, [vp, ctypes.POINTER(cp), ctypes.POINTER(cp)]),
            ("ZOOM_connection_search_pqf", vp, [vp, cp]),
            ("ZOOM_connection_destroy", None, [vp]),
            ("ZOOM_resultset_size", ctypes.c_size_t, [vp]),
            ("ZOOM_resultset_record", vp, [vp, ctypes.c_size_t]),
            ("ZOOM_resultset_destroy", None, [vp]),
            ("ZOOM_record_get", vp, [vp, cp, ctypes.POINTER(ctypes.c_int)]),
        ):
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        self.lib = lib

    def connect(self, target: str, syntax: str = "usmarc") -> int:
        c = self.lib.ZOOM_connection_create(None)
        self.lib.ZOOM_connection_option_set(c, b"preferredRecordSyntax", syntax.encode())
        self.lib.ZOOM_connection_option_set(c, b"piggyback", b"0")
        self.lib.ZOOM_connection_connect(c, target.encode(), 0)
        assert self.error(c) == 0
        return int(c)

    def error(self, conn: int) -> int:
        msg, add = ctypes.c_char_p(), ctypes.c_char_p()
        return int(self.lib.ZOOM_connection_error(conn, ctypes.byref(msg), ctypes.byref(add)))

    def search(self, conn: int, pqf: str) -> tuple[int, int]:
        """(result set, hits)."""
        rs = self.lib.ZOOM_connection_search_pqf(conn, pqf.encode())
        assert self.error(conn) == 0, pqf
        return int(rs), int(self.lib.ZOOM_resultset_size(rs))

    def first(self, conn: int, rs: int) -> tuple[bytes | None, int]:
        """Record 1 of ``rs`` (raw), or None and the Bib-1 diagnostic."""
        rec = self.lib.ZOOM_resultset_record(rs, 0)
        if not rec:
            return None, self.error(conn)
        n = ctypes.c_int(0)
        ptr = self.lib.ZOOM_record_get(rec, b"raw", ctypes.byref(n))
        return ctypes.string_at(ptr, n.value), 0

    def fetch(self, target: str, sysno: int, syntax: str = "usmarc") -> bytes | None:
        c = self.connect(target, syntax)
        try:
            rs, hits = self.search(c, f"@attr 1=12 {sysno}")
            try:
                return self.first(c, rs)[0] if hits else None
            finally:
                self.lib.ZOOM_resultset_destroy(rs)
        finally:
            self.lib.ZOOM_connection_destroy(c)


@pytest.fixture(scope="module")
def zoom() -> Zoom:
    return Zoom()


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[Path, Server]]:
    db = tmp_path / "catalog.db"
    load_catalog(db, account=False)
    with serving(db, "--no-auth") as s:
        yield db, s


def _exported(db: Path, sysno: int) -> bytes:
    with SQLiteStore(db, readonly=True) as store:
        rec = store.get(sysno)
        assert rec is not None
        out, _ = Exporter(store).convert(rec)
    assert out is not None
    return out


def _a_title_to_edit(db: Path) -> tuple[int, str]:
    """A live record whose 245 $a starts with an ASCII word with lower-case letters."""
    with SQLiteStore(db, readonly=True) as store:
        for rec in store.iter_records():
            if rec.deleted:
                continue
            word = (Record.parse(rec.data)["245"]["a"] or "").split(" ")[0]
            if len(word) > 3 and word.isascii() and word.isalpha() and word != word.upper():
                return rec.sysno, word
    raise AssertionError("no record to edit")


def test_an_edit_or_a_delete_is_served_at_once_never_the_cached_record(
    served: tuple[Path, Server], zoom: Zoom
) -> None:
    db, s = served
    sysno, word = _a_title_to_edit(db)
    before = _exported(db, sysno)
    for _ in range(3):  # converted once, then from the cache
        assert zoom.fetch(s.target, sysno) == before
    xml_before = zoom.fetch(s.target, sysno, "xml")
    assert xml_before is not None and word.encode() in xml_before

    # a session that searched before the edit, presenting after it
    conn = zoom.connect(s.target)
    rs, hits = zoom.search(conn, f"@attr 1=12 {sysno}")
    assert hits == 1
    with SQLiteStore(db) as store:  # edited while the server runs (the same length)
        rec = store.get(sysno)
        assert rec is not None
        edited = rec.data.replace(word.encode(), word.upper().encode(), 1)
        store.begin()
        store.replace(sysno, edited, rec.oclc_numbers, rec.title_key)
        store.commit()
    after = _exported(db, sysno)
    assert after != before and word.upper().encode() in after
    assert zoom.first(conn, rs) == (after, 0)
    assert zoom.fetch(s.target, sysno) == after
    xml_after = zoom.fetch(s.target, sysno, "xml")
    assert xml_after is not None and word.upper().encode() in xml_after
    assert word.encode() + b" " not in xml_after.split(b'tag="245"')[1].split(b"</datafield>")[0]

    # deleted between a search and its present: diagnostic 14, and no longer found
    rs2, hits = zoom.search(conn, f"@attr 1=12 {sysno}")
    assert hits == 1
    with SQLiteStore(db) as store:
        store.begin()
        store.mark_deleted(sysno, edited)
        store.commit()
    assert zoom.first(conn, rs2) == (None, 14)
    assert zoom.fetch(s.target, sysno) is None
    zoom.lib.ZOOM_resultset_destroy(rs)
    zoom.lib.ZOOM_resultset_destroy(rs2)
    zoom.lib.ZOOM_connection_destroy(conn)


def _child_of(pid: int) -> int:
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        return int(name)
            except (OSError, ValueError):
                continue
    raise AssertionError(f"no child of {pid}")


def _vm_kib(pid: int) -> tuple[int, int]:
    """(VmSize, number of memory mappings) of ``pid``."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        size = next(int(line.split()[1]) for line in fh if line.startswith("VmSize:"))
    with open(f"/proc/{pid}/maps", encoding="ascii") as fh:
        maps = sum(1 for _ in fh)
    return size, maps


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("Threads:"))


def _quiet_vm_kib(pid: int, threads: int | None = None) -> tuple[int, int, int]:
    """:func:`_vm_kib` once the session threads of the last clients have ended (a thread still
    exiting holds its 8 MiB stack): at most ``threads`` threads, waited for up to 30 s (a
    loaded machine); with the thread count measured."""
    deadline = time.monotonic() + 30.0
    while threads is not None and _threads(pid) > threads and time.monotonic() < deadline:
        time.sleep(0.05)
    return (*_vm_kib(pid), _threads(pid))


def test_thousands_of_sessions_leave_no_thread_state_behind(
    served: tuple[Path, Server], zoom: Zoom
) -> None:
    """Each session thread keeps a Python thread state (with its 16 KiB frame-stack mapping)
    from Init to Close: were one left behind per session, 1,200 sessions would leave 19 MiB
    of mappings; the memory of the server process stays where it was."""
    db, s = served
    with SQLiteStore(db, readonly=True) as store:
        sysnos = [r.sysno for r in store.iter_records() if not r.deleted][:50]
    child = _child_of(s.proc.pid)

    def sessions(count: int, threads: int = 8) -> None:
        def run(i: int) -> None:
            for k in range(i, count, threads):
                assert zoom.fetch(s.target, sysnos[k % len(sysnos)])

        ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    sessions(200)  # warm: the cache, the allocator, the thread stacks GFS keeps
    time.sleep(0.5)  # the last session threads end
    size0, maps0, threads0 = _quiet_vm_kib(child)
    sessions(1200)
    size1, maps1, threads1 = _quiet_vm_kib(child, threads0)
    print(
        f"\nchild VmSize {size0} -> {size1} KiB, mappings {maps0} -> {maps1}, "
        f"threads {threads0} -> {threads1}"
    )
    assert size1 - size0 < 8 * 1024, (size0, size1)
    assert maps1 - maps0 < 100, (maps0, maps1)


def test_event_lines_written_directly_are_what_json_writes() -> None:
    """The two events of every request are written without the JSON encoder (a third of the
    time); a line is the encoder's, byte for byte, and an event the direct path cannot write
    goes to the encoder."""
    import json

    from marc8fast.server.z3950.child import _event_line

    events: list[dict[object, object]] = [
        {"event": "z3950_search", "query": '@attr 1=4 "\\q" \udce5 é \x00\t😀', "set": "a b"},
        {"event": "z3950_present", "sysno": "000000043", "encoding": "marc8", "dropped": []},
        {"event": "z3950_present", "dropped": ["STA", 'H"1', "é"], "hits": -3, "big": 2**70},
        {"event": "z3950_init", "peer": "tcp:127.0.0.1:4", "user": None, "utf8": True},
        {"event": "x", "flag": False, "pair": ("a", "b")},
    ]
    for event in events:
        line = _event_line(event)  # type: ignore[arg-type]
        assert line == json.dumps({"service": "z3950", **event}, ensure_ascii=True, default=str)
    for other in ({"event": "x", "f": 1.5}, {"event": "x", "l": [1]}, {"service": "x"}, {1: "a"}):
        assert _event_line(other) is None  # type: ignore[arg-type]


def _open_files(pid: int, db: Path) -> dict[str, int]:
    """The descriptors of ``pid``: all of them, its sockets, those on the catalog's write-ahead
    log (one for each open connection that has read: SQLite closes it with the connection) and
    those on the catalog file itself (SQLite keeps a closed connection's there for the next
    one while another connection of the process holds a lock on the file)."""
    counts = {"all": 0, "socket": 0, "wal": 0, "catalog": 0}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        counts["all"] += 1
        counts["socket"] += target.startswith("socket:")
        counts["wal"] += target == f"{db}-wal"
        counts["catalog"] += target == str(db)
    return counts


def test_sessions_leave_no_catalog_connection_open(served: tuple[Path, Server], zoom: Zoom) -> None:
    """Each session reads the catalog through a read-only connection of its own (the sqlite3
    module's), and ``read_record`` through one the process shares. After 400 sessions (8
    clients at a time) the connections open and the sockets are no more than before, and 400
    sessions more leave no more descriptors than the first 400 did.

    SQLite keeps the descriptor of a connection closed while the shared connection holds its
    locks, for the next connection to take: those on the catalog file are as many as the
    sessions the server had at once, which is not the clients' 8: a client's next session can
    begin before the server has ended its last one, more so on a loaded machine (seen: 6 to 11
    more than before with the child process at nice 19). The test once held the count of all
    descriptors to 10 more than before, and failed on a busy machine (CI saw 19 then 20; 25
    against 24 here with the child at nice 19). The connections are now counted exactly, by
    their descriptors on the write-ahead log; a session's connection left open (or a socket)
    would add 400 a round. Each round's counts are taken once the connections and sockets are
    back to what they were, waited for up to 20 s: a session's descriptors are closed by its
    thread after its client has gone."""
    db, s = served
    with SQLiteStore(db, readonly=True) as store:
        sysnos = [r.sysno for r in store.iter_records() if not r.deleted][:40]
    child = _child_of(s.proc.pid)
    for sysno in sysnos[:8]:  # warm
        assert zoom.fetch(s.target, sysno)
    time.sleep(0.5)
    files0 = _open_files(child, db)
    assert files0["wal"] >= 1, files0  # the shared connection, at least

    def sessions() -> dict[str, int]:
        def run(i: int) -> None:
            for k in range(i, 400, 8):
                assert zoom.fetch(s.target, sysnos[k % len(sysnos)])

        ts = [threading.Thread(target=run, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        deadline = time.monotonic() + 20  # the last session threads end
        while time.monotonic() < deadline:
            files = _open_files(child, db)
            if files["wal"] <= files0["wal"] and files["socket"] <= files0["socket"]:
                break
            time.sleep(0.05)
        return _open_files(child, db)

    files1 = sessions()
    files2 = sessions()
    print(f"\nchild open files {files0} -> {files1} -> {files2}")
    for files in (files1, files2):
        assert files["wal"] <= files0["wal"], (files0, files)  # no connection left open
        assert files["socket"] <= files0["socket"], (files0, files)
    # SQLite's kept descriptors do not grow with the sessions served: the second round may
    # have had a few more sessions at once than the first; a leak would add 400
    assert files2["all"] <= files1["all"] + 8 + 2, (files0, files1, files2)


def test_a_writer_in_the_middle_of_a_transaction_does_not_hold_up_a_present(
    served: tuple[Path, Server], zoom: Zoom
) -> None:
    """The hot path reads SQLite with the GIL held: it must never wait for a writer. A writer
    holding the catalog (its change not committed) while a client searches and presents: the
    client gets the committed record, and the changed one once it is committed."""
    db, s = served
    sysno, word = _a_title_to_edit(db)
    before = _exported(db, sysno)
    with SQLiteStore(db) as store:
        rec = store.get(sysno)
        assert rec is not None
        edited = rec.data.replace(word.encode(), word.upper().encode(), 1)
        store.begin()
        store.replace(sysno, edited, rec.oclc_numbers, rec.title_key)
        for _ in range(20):  # the writer holds its transaction open meanwhile
            assert zoom.fetch(s.target, sysno) == before
        store.commit()
    after = zoom.fetch(s.target, sysno)
    assert after is not None and after != before and word.upper().encode() in after
