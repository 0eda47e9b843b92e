"""A throwaway PostgreSQL cluster for the tests: ``initdb`` in a temporary folder, ``pg_ctl start``
on a unix socket only (no TCP port), run as an unprivileged user (``nobody`` when the tests run
as root: PostgreSQL refuses to run as root), stopped and removed at the end of the session.

Where PostgreSQL (Debian's ``postgresql`` package) or the psycopg driver is missing, the tests
that need it are skipped with a message that says how to install them — except under ``CI=true``,
where they fail: CI always runs them.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

INSTALL_HINT = (
    "PostgreSQL tests need the server binaries (apt-get install postgresql) and the driver "
    "(pip install 'psycopg[binary]')"
)


def find_bin() -> Path | None:
    """The folder of initdb/pg_ctl/postgres, or None."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    return Path(found[-1]).parent if found else None


def _version_key(path: str) -> int:
    try:
        return int(Path(path).parent.parent.name)
    except ValueError:
        return 0


def unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here (None: they can)."""
    if find_bin() is None:
        return "no PostgreSQL server binaries (initdb)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "no psycopg driver"
    return None


def require() -> None:
    """Skip (fail under CI=true) when PostgreSQL cannot run here."""
    why = unavailable()
    if why is None:
        return
    message = f"{why}: {INSTALL_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI runs every PostgreSQL test)", pytrace=False)
    pytest.skip(message)


class Cluster:
    """One running cluster; :meth:`new_database` gives each test its own database."""

    def __init__(self) -> None:
        bindir = find_bin()
        assert bindir is not None
        self.bin = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="marc8fast-pg-"))
        self.data = self.dir / "data"
        self.socket = self.dir  # the unix socket's folder
        self.port = 5432
        self.user = "marc8fast"
        self._names = itertools.count(1)
        self._as: list[str] = []
        if os.geteuid() == 0:
            os.chown(self.dir, 65534, 65534)  # nobody: PostgreSQL will not run as root
            os.chmod(self.dir, 0o755)
            self._as = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-c listen_addresses='' -c unix_socket_directories={self.socket} -p {self.port} "
            "-c fsync=off -c max_connections=200",
            "start",
        )

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run(
            [*self._as, str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            cwd=self.dir,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} failed ({proc.returncode}): {proc.stderr or proc.stdout}")

    def url(self, dbname: str = "postgres", user: str | None = None) -> str:
        return f"postgresql://{user or self.user}@/{dbname}?host={self.socket}&port={self.port}"

    def new_database(self) -> str:
        """A new empty database (no catalog in it: the first writer makes one, as in a real
        deployment); its URL. Copied from ``template1`` file by file (``STRATEGY FILE_COPY``:
        0.2 s against 0.5 s for the default WAL_LOG copy on this machine under load)."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database :meth:`new_database` made (its sessions ended first, by force: a
        test that failed may have left one open)."""
        import psycopg

        name = url.split("?", 1)[0].rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def execute(self, url: str, sql: str) -> None:
        """Run ``sql`` as the cluster's superuser in the database at ``url`` (what a test does
        to a catalog behind the API's back: a foreign table, a role)."""
        import psycopg

        name = url.split("?", 1)[0].rsplit("/", 1)[1]
        with psycopg.connect(self.url(name), autocommit=True) as conn:
            conn.execute(sql)

    def query(self, url: str, sql: str) -> list[tuple[object, ...]]:
        """The rows of one query, as the superuser, in the database at ``url``."""
        import psycopg

        name = url.split("?", 1)[0].rsplit("/", 1)[1]
        with psycopg.connect(self.url(name), autocommit=True) as conn:
            return list(conn.execute(sql).fetchall())

    def database_exists(self, name: str) -> bool:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
