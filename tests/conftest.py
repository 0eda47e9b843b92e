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


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_target(request, tmp_path) -> str:
    """Where a test's catalog lives: an SQLite file, or a new database on the PostgreSQL
    cluster (every catalog test that takes this fixture runs on both backends)."""
    if request.param == "sqlite":
        return str(tmp_path / "catalog.sqlite")
    return request.getfixturevalue("pg_cluster").new_database()
