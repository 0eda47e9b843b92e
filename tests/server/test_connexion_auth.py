"""Logins of the Connexion receiver (issue 12): the ``users`` command, the ``A``/``P`` items
checked against the catalog's accounts, the delay after a failure and the per-address lockout,
and passwords that never reach a log."""

from __future__ import annotations

import os
import socket
import time

import pytest
from connexion_server import (
    SAMPLE,
    Server,
    catalog_rows,
    item,
    marc8fast,
    read_reply,
    reply,
    wait_for_log,
)
from test_catalog_safety import titled

SECRET = "Tr0ub4dor&3-unit-secret"
OTHER = "correct horse battery staple"


def add_user(db, name: str, password: str) -> None:
    if not os.path.exists(db):  # users add never makes a catalog (issue 18, item 5)
        assert marc8fast("catalog", "init", "--db", db).returncode == 0
    out = marc8fast("users", "add", name, "--db", db, "--password-stdin", input=password + "\n")
    assert out.returncode == 0, out.stderr
    assert password not in out.stdout + out.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("auth") / "catalog.sqlite"
    add_user(db, "cataloging", SECRET)
    add_user(db, "serials", OTHER)
    with Server(db, "--login-delay", "0.4", "--lockout", "3", "--lockout-time", "60") as s:
        yield s


def login(name: str, password: str, form: str = "byte") -> bytes:
    return item("A", name.encode(), form) + item("P", password.encode(), form)


def from_address(port: int, source: str, payload: bytes) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(source, 0)) as s:
        s.sendall(payload + b"\0")
        got = read_reply(s)
    assert got.endswith(b"\0"), got
    return got[:-1].decode()


def test_users_add_list_disable_passwd(tmp_path):
    db = tmp_path / "c.sqlite"
    add_user(db, "acq", "first password")
    again = marc8fast("users", "add", "acq", "--db", db, "--password-stdin", input="x\n")
    assert again.returncode == 2 and "already" in again.stderr
    bad = marc8fast("users", "add", "no spaces", "--db", db, "--password-stdin", input="x\n")
    assert bad.returncode == 2 and "login name" in bad.stderr
    empty = marc8fast("users", "add", "e", "--db", db, "--password-stdin", input="\n")
    assert empty.returncode == 2 and "empty" in empty.stderr
    listed = marc8fast("users", "list", "--db", db)
    assert listed.returncode == 0 and listed.stdout.startswith("acq\tenabled"), listed
    assert "first password" not in listed.stdout
    out = marc8fast("users", "disable", "acq", "--db", db)
    assert out.returncode == 0
    assert "acq\tdisabled" in marc8fast("users", "list", "--db", db).stdout
    out = marc8fast("users", "passwd", "ghost", "--db", db, "--password-stdin", input="x\n")
    assert out.returncode == 2 and "no account" in out.stderr
    out = marc8fast(
        "users", "passwd", "acq", "--db", db, "--password-stdin", input="second password\n"
    )
    assert out.returncode == 0, out.stderr
    # no prompt possible and no --password-stdin: a clear error, nothing added
    out = marc8fast("users", "add", "tty", "--db", db, input="")
    assert out.returncode == 2
    assert "tty" not in marc8fast("users", "list", "--db", db).stdout


def test_serve_refuses_to_start_with_no_account(tmp_path):
    db = tmp_path / "c.sqlite"
    assert marc8fast("load", SAMPLE, "--db", db, "-q").returncode == 0
    out = marc8fast("serve", "--db", db, "--connexion", "127.0.0.1:0", timeout=30)
    assert out.returncode == 2 and "no enabled account" in out.stderr and "--no-auth" in out.stderr


def test_a_right_login_in_both_forms(server):
    for form in ("byte", "digits"):
        text = reply(server.port, login("cataloging", SECRET, form) + titled(f"Logged in {form}"))
        assert text.startswith("Record received: "), text


def test_wrong_password_unknown_login_and_no_login_fail_after_a_delay(server):
    before = len(catalog_rows(server.db))
    for i, payload in enumerate(
        (
            login("cataloging", "wrong"),
            login("nobody", SECRET),
            login("serials", SECRET),  # another account's password
            item("P", SECRET.encode()),
            b"",
        )
    ):
        start = time.monotonic()
        # (each from its own address: the lockout is tested below)
        text = from_address(server.port, f"127.0.1.{i + 1}", payload + titled("Not let in"))
        assert text == "Login failed"
        assert time.monotonic() - start >= 0.35  # the delay is spent before the answer
    assert len(catalog_rows(server.db)) == before


def test_repeated_failures_lock_out_the_address_not_others(server):
    src = "127.0.0.7"
    for _ in range(3):
        # (the login's earlier failure from 127.0.1.1 counts too: the third may be the lock)
        text = from_address(server.port, src, login("cataloging", "guess") + titled("x"))
        assert text.startswith("Login failed"), text
    # now even the right password is refused from that address ...
    text = from_address(server.port, src, login("cataloging", SECRET) + titled("Locked out"))
    assert text.startswith("Login failed (too many failed logins from 127.0.0.7"), text
    # ... while another address logs in
    text = from_address(server.port, "127.0.0.8", login("cataloging", SECRET) + titled("Other"))
    assert text.startswith("Record received"), text


def test_a_disabled_login_and_a_changed_password(server):
    db = server.db
    add_user(db, "temp", "temporary pw")
    assert reply(server.port, login("temp", "temporary pw") + titled("Temp 1")).startswith(
        "Record received"
    )
    out = marc8fast(
        "users", "passwd", "temp", "--db", db, "--password-stdin", input="new password\n"
    )
    assert out.returncode == 0
    time.sleep(1.2)  # the receiver re-reads the accounts at most once a second
    src = "127.0.0.9"
    assert from_address(server.port, src, login("temp", "temporary pw") + titled("T")) == (
        "Login failed"
    )
    assert from_address(
        server.port, src, login("temp", "new password") + titled("Temp 2")
    ).startswith("Record received")
    assert marc8fast("users", "disable", "temp", "--db", db).returncode == 0
    time.sleep(1.2)
    assert from_address(server.port, src, login("temp", "new password") + titled("Temp 3")) == (
        "Login failed"
    )
    assert marc8fast("users", "enable", "temp", "--db", db).returncode == 0
    assert from_address(
        server.port, src, login("temp", "new password") + titled("Temp 4")
    ).startswith("Record received")


def test_passwords_never_reach_the_log(server):
    reply(server.port, login("cataloging", SECRET) + titled("Logged"))
    from_address(server.port, "127.0.0.10", login("cataloging", OTHER + "x") + titled("Wrong"))
    log = wait_for_log(server.log, "addr=127.0.0.10:")
    err = server.stderr()
    assert "login=cataloging" in log
    for secret in (SECRET, OTHER, OTHER + "x"):
        assert secret not in log and secret not in err
        assert secret.encode().hex() not in log


def test_send_takes_the_password_from_the_environment(server):
    out = marc8fast(
        "send",
        SAMPLE,
        "--to",
        f"127.0.0.1:{server.port}",
        "--user",
        "serials",
        env={"MARC8FAST_PASSWORD": OTHER},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("Record received") == 5
    assert OTHER not in out.stdout + out.stderr
    out = marc8fast(
        "send",
        SAMPLE,
        "--to",
        f"127.0.0.1:{server.port}",
        "--user",
        "nobody",
        env={"MARC8FAST_PASSWORD": "x"},
    )
    # a failed login: exit 1 (from 127.0.0.1, the other tests' address; one failure per record)
    assert out.returncode == 1 and "Login failed" in out.stdout
