from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL cluster for the session (tests/pgserver.py); skipped where
    PostgreSQL is not installed, failed under CI=true."""
    import pgserver

    pgserver.require()
    cluster = pgserver.Cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_target(pg_cluster):
    """A new empty database on the session's PostgreSQL cluster (nothing in it until a writer
    makes the catalog), dropped after the test: the PostgreSQL-only tests take it."""
    url = pg_cluster.new_database()
    try:
        yield url
    finally:
        pg_cluster.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_target(request, tmp_path) -> str:
    """Where a test's catalog lives: an SQLite file (not made yet), or a new empty database on
    the PostgreSQL cluster (``pg_target``). Every catalog test that takes this fixture runs on
    both backends."""
    if request.param == "sqlite":
        return str(tmp_path / "catalog.sqlite")
    return str(request.getfixturevalue("pg_target"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_catalog_target(request, tmp_path_factory) -> str:
    """As ``catalog_target``, but one per test module and backend: for tests that only read a
    catalog their module builds once (a database per test would load it again for each)."""
    if request.param == "sqlite":
        return str(tmp_path_factory.mktemp("catalog") / "catalog.sqlite")
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.new_database()
    request.addfinalizer(lambda: cluster.drop_database(url))
    return str(url)
