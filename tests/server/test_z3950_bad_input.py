"""The Z39.50 server (issue 13) under bad input: each bad session gets its diagnostic or is
closed, alone; the server keeps serving the others, its memory stays bounded and the catalog
file does not change. The PDUs replayed are those a real client (yaz-client) sent, captured by a
recording proxy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from z3950_server import (
    MARC8FAST,
    PASSWORD,
    REALWORLD,
    USER,
    Server,
    ber_pdus,
    file_hash,
    needs_yaz,
    read_until_closed,
    recording_proxy,
    recv_pdu,
    serving,
    yaz_client,
)

pytestmark = pytest.mark.skipif(needs_yaz, reason="yaz-client is not installed")

LOGIN = f"auth {USER}/{PASSWORD}\n"

INIT_RESPONSE = 0xB5  # [21] initResponse
SEARCH_RESPONSE = 0xB7  # [23] searchResponse
PRESENT_RESPONSE = 0xB9  # [25] presentResponse
# Bib-1 diagnostic set OID (1.2.840.10003.4.1), then the condition as an INTEGER
BIB1 = bytes.fromhex("06072a8648ce130401")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    db = tmp_path_factory.mktemp("z3950bad") / "catalog.db"
    r = subprocess.run(
        [MARC8FAST, "load", "-q", "--no-progress", "--db", str(db), *REALWORLD[:3]],
        capture_output=True,
        text=True,
    )
    assert r.returncode in (0, 1), r.stderr
    from marc8fast.flows.accounts import add_user
    from marc8fast.flows.store import SQLiteStore

    with SQLiteStore(db) as store:
        add_user(store, USER, PASSWORD)
    before = file_hash(db)
    yield db
    assert file_hash(db) == before, "the server changed the catalog"


@pytest.fixture(scope="module")
def server(catalog: Path) -> Iterator[Server]:
    with serving(catalog) as s:
        yield s


@pytest.fixture(scope="module")
def pdus(server: Server) -> list[bytes]:
    """Init (with the login), Search (@attr 1=12 1) and Present as yaz-client sends them."""
    with recording_proxy(server.port) as (port, sent):
        out = yaz_client(
            f"{LOGIN}open tcp:127.0.0.1:{port}/catalog\nfind @attr 1=12 1\nshow 1\nquit\n"
        )
    assert "Number of hits: 1" in out, out
    init, search, present = ber_pdus(b"".join(sent))[:3]
    assert (init[0], search[0], present[0]) == (0xB4, 0xB6, 0xB8)
    return [init, search, present]


def _still_serving(server: Server) -> None:
    out = yaz_client(f"{LOGIN}open {server.target}\nfind @attr 1=12 1\nshow 1\nquit\n")
    assert "Number of hits: 1" in out and "Record type: USmarc" in out, out


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def _diagnostic(pdu: bytes) -> int | None:
    at = pdu.find(BIB1)
    if at < 0:
        return None
    rest = pdu[at + len(BIB1) :]
    assert rest[0] == 0x02  # INTEGER
    return int.from_bytes(rest[2 : 2 + rest[1]], "big")


def test_search_before_init_closes_that_session(server: Server, pdus: list[bytes]) -> None:
    with _connect(server) as s:
        s.sendall(pdus[1])
        answer = read_until_closed(s)
    assert SEARCH_RESPONSE not in answer[:1]
    _still_serving(server)


def test_malformed_ber_closes_that_session(server: Server, pdus: list[bytes]) -> None:
    for junk in (
        b"\xb4\x03\x02\x01",  # an Init whose content ends inside an element
        b"\xff\xfe\x00garbage\x00" * 4,
        pdus[0][:10] + bytes(len(pdus[0]) - 10),  # a real Init, then zeros
    ):
        with _connect(server) as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            answer = read_until_closed(s)
        assert INIT_RESPONSE not in answer[:1] or b"\x8c\x01\x00" in answer
    _still_serving(server)


def test_pdu_claiming_2_gb_is_refused(server: Server) -> None:
    with _connect(server) as s:
        s.sendall(b"\xb4\x84\x80\x00\x00\x00" + bytes(4096))  # Init, length 2^31
        answer = read_until_closed(s)
    assert answer == b""
    _still_serving(server)


def test_present_before_search_and_unknown_set(server: Server, pdus: list[bytes]) -> None:
    init, search, present = pdus
    with _connect(server) as s:
        s.sendall(init)
        assert recv_pdu(s)[0] == INIT_RESPONSE
        s.sendall(present)
        answer = recv_pdu(s)
        assert answer[0] == PRESENT_RESPONSE
        assert _diagnostic(answer) == 30  # result set does not exist
        s.sendall(search)
        answer = recv_pdu(s)
        assert answer[0] == SEARCH_RESPONSE and _diagnostic(answer) is None
        s.sendall(present)
        answer = recv_pdu(s)
        assert answer[0] == PRESENT_RESPONSE and _diagnostic(answer) is None
        assert b"\x1e" in answer and b"\x1d" in answer  # a MARC record came back


def test_wrong_password_then_nothing_is_served(server: Server, pdus: list[bytes]) -> None:
    init, search, _ = pdus
    wrong = init.replace(PASSWORD.encode(), b"x" * len(PASSWORD))
    assert wrong != init
    with _connect(server) as s:
        s.sendall(wrong)
        answer = recv_pdu(s)
        assert answer[0] == INIT_RESPONSE
        assert b"\x8c\x01\x00" in answer  # result FALSE
        assert _diagnostic(answer) == 1011
        try:
            s.sendall(search)
            after = read_until_closed(s)
        except OSError:
            after = b""
    assert SEARCH_RESPONSE not in after[:1]
    _still_serving(server)


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _server_pids(server: Server) -> list[int]:
    pids = [server.proc.pid]
    task = f"/proc/{server.proc.pid}/task"
    for tid in os.listdir(task):
        with open(f"{task}/{tid}/children", encoding="ascii") as fh:
            pids += [int(p) for p in fh.read().split()]
    return pids


def test_200_sessions_at_once(catalog: Path, pdus: list[bytes]) -> None:
    # --no-auth: 200 password checks (scrypt, by design slow) would only measure scrypt
    init, search, _ = pdus
    # and the per-address cap raised: the 200 come from one address (127.0.0.1)
    with serving(catalog, "--no-auth", "--max-per-address", "256") as server:
        _200_sessions(server, init, search)


def _200_sessions(server: Server, init: bytes, search: bytes) -> None:
    socks = [_connect(server) for _ in range(200)]
    try:
        for s in socks:
            s.sendall(init)
        for s in socks:
            assert recv_pdu(s)[0] == INIT_RESPONSE
        for s in socks[::10]:
            s.sendall(search)
        for s in socks[::10]:
            answer = recv_pdu(s)
            assert answer[0] == SEARCH_RESPONSE and _diagnostic(answer) is None
        _still_serving(server)  # the 201st session
    finally:
        for s in socks:
            s.close()
    _still_serving(server)
    if sys.platform.startswith("linux"):
        rss = sum(_rss_kb(p) for p in _server_pids(server))
        assert rss < 512 * 1024, f"server processes use {rss} kB"


def test_silent_client_does_not_block_others_and_idle_session_is_closed(
    catalog: Path, pdus: list[bytes]
) -> None:
    # the development runner, for an idle timeout of 2 s (serve keeps the default)
    with serving(catalog, "--idle-timeout", "2", runner=True) as server:
        silent = _connect(server)
        _still_serving(server)  # while a connection says nothing
        with _connect(server) as s:
            s.sendall(pdus[0])
            assert recv_pdu(s)[0] == INIT_RESPONSE
            answer = read_until_closed(s)  # then silence: GFS sends Close and hangs up
        assert answer[:2] == b"\xbf\x30"  # [48] Close
        _still_serving(server)
        silent.close()
