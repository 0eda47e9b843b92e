"""A login disabled while its session runs is refused within a second (docs/z3950.md,
docs/connexion.md): both services keep the account list at most a second old. "A second old"
counts from when the list was read, not from when the read ended: a read that a loaded
machine stretches (the Connexion receiver's waits behind other reads on its reader thread)
may have seen the catalog before a ``users disable`` that it ends after. Stamped at its end,
such a list was kept up to a second after that; the disable then took up to a second plus the
read's length to take effect.

Each test makes that read slow on purpose: the list is read, the login is disabled (committed),
and the read ends half a second later; one second after the disable, the services must see it
disabled."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from marc8fast.catalog import Catalog, open_catalog
from marc8fast.flows import accounts
from marc8fast.server.connexion import Receiver
from marc8fast.server.z3950.backend import LoginChecker


def _catalog(tmp_path: Path) -> str:
    db = str(tmp_path / "c.sqlite")
    with open_catalog(db) as store:
        accounts.add_user(store, "unit", "a good password")
    return db


def _slow_first_read(monkeypatch: pytest.MonkeyPatch, db: str) -> list[float]:
    """``list_users`` whose first call disables ``unit`` right after its read and returns half
    a second later; the time of the disable's commit."""
    real = accounts.list_users
    committed: list[float] = []

    def slow(store: Catalog) -> list[accounts.Account]:
        users = real(store)
        if not committed:
            with open_catalog(db) as writer:
                accounts.disable_user(writer, "unit")
            committed.append(time.monotonic())
            time.sleep(0.5)  # the rest of a read a loaded machine made slow
        return users

    monkeypatch.setattr(accounts, "list_users", slow)
    return committed


def _a_second_after(committed: list[float]) -> None:
    left = committed[0] + 1.05 - time.monotonic()
    if left > 0:
        time.sleep(left)


def _disabled(states: Callable[[], dict[str, tuple[bool, str]]]) -> bool:
    return states()["unit"][0]


def test_z3950_sees_a_disable_a_second_after_it(tmp_path, monkeypatch):
    db = _catalog(tmp_path)
    committed = _slow_first_read(monkeypatch, db)
    checker = LoginChecker(db, lambda event: None)
    try:
        assert not _disabled(checker.states)  # read before the disable
        _a_second_after(committed)
        assert _disabled(checker.states)
    finally:
        checker.guard.close()


def test_connexion_sees_a_disable_a_second_after_it(tmp_path, monkeypatch):
    db = _catalog(tmp_path)
    committed = _slow_first_read(monkeypatch, db)
    receiver = object.__new__(Receiver)  # only its account list: no threads, no writer
    receiver._accounts = None
    with open_catalog(db, readonly=True) as store:
        receiver._read = lambda fn: fn(store)  # type: ignore[method-assign]
        assert not _disabled(receiver._account_states)  # read before the disable
        _a_second_after(committed)
        assert _disabled(receiver._account_states)
