"""Issue 11: the catalog commands never destroy a file by its path, never create a catalog by a
typo, never wait for a writer to read, and say what went wrong in one line (exit 2) instead of a
traceback. Every test runs real ``marc8fast`` processes.

Tests that take ``catalog_target`` run on an SQLite file and on a PostgreSQL database (issue 20).
Those about the SQLite file itself (paths, links, file modes, its lock) run on SQLite only; their
PostgreSQL counterparts follow them (``_pg`` in the name). tests/README.md lists both kinds.

The records are built here as plain UTF-8 ISO 2709 (no library involved), so that the tests say
exactly which bytes went in.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from catalogs import contents, has_catalog, records

from marc8fast.catalog import open_catalog, shown

TESTS = Path(__file__).parent.parent
ROOT = TESTS.parent
SAMPLE = ROOT / "examples" / "sample-marc8.mrc"  # 5 MARC-8 records


# ------------------------------------------------------------------------------------------------
# helpers (also used by test_flows_concurrency.py)


def iso2709(*fields: tuple[str, str]) -> bytes:
    """A UTF-8 record (leader/09 ``a``) from (tag, body) pairs; a data field's body is its two
    indicators then ``$a...`` with ``$`` standing for the subfield delimiter."""
    directory = b""
    data = b""
    for tag, body in fields:
        raw = (body if tag < "010" else body.replace("$", "\x1f")).encode() + b"\x1e"
        directory += tag.encode() + b"%04d%05d" % (len(raw), len(data))
        data += raw
    base = 24 + len(directory) + 1
    total = base + len(data) + 1
    leader = b"%05dnam a22%05d   4500" % (total, base)
    assert len(leader) == 24
    return leader + directory + b"\x1e" + data + b"\x1d"


def titled(title: str, *more: tuple[str, str]) -> bytes:
    """A record with no OCLC number (no 001, 003 or 035) and this 245 $a."""
    return iso2709(
        ("008", "990730s1999    xx            000 0 eng d"), *more, ("245", f"10$a{title}")
    )


def run(
    *args: str | Path, cwd: Path = ROOT, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "marc8fast", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, and a single line on stderr (no traceback) that says ``words``."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def usage_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, argparse's usage and then one error line that says ``words`` (no traceback, no
    Python internals)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    for w in words:
        assert w in last, (w, last)
    assert "invalid literal" not in last and "_jobs" not in last and "_count" not in last
    return last


def loaded_catalog(tmp_path: Path, db: Path | str | None = None) -> tuple[Any, Path]:
    """A catalog with the 5 sample records (at ``db``: a path or a PostgreSQL URL; by default
    ``catalog.sqlite`` in ``tmp_path``), and the input file they came from."""
    src = tmp_path / "in.mrc"
    shutil.copyfile(SAMPLE, src)
    db = db or tmp_path / "catalog.sqlite"
    proc = run("load", src, "--db", db, "-q")
    assert proc.returncode == 0, proc.stderr
    return db, src


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ------------------------------------------------------------------------------------------------
# 1. an output path that is the catalog or the input


def _destroyers(tmp: Path, db: Path, src: Path) -> list[tuple[list[str | Path], Path]]:
    """(command, cwd) pairs that name the catalog or the input as an output, every way."""
    (tmp / "db-link").symlink_to(db)
    (tmp / "in-link").symlink_to(src)
    os.link(db, tmp / "db-hard")
    sub = tmp / "sub"
    sub.mkdir()
    return [
        (["export", "--all", "--db", db, "-o", db], ROOT),
        (["export", "--all", "--db", db, "-o", tmp / "db-link"], ROOT),
        (["export", "--all", "--db", db, "-o", tmp / "db-hard"], ROOT),
        (["export", "--all", "--db", "catalog.sqlite", "-o", "./catalog.sqlite"], tmp),
        (["export", "--all", "--db", "../catalog.sqlite", "-o", str(db)], sub),
        (["export", "1", "--db", db, "-o", tmp / "out.mrc", "--report", db], ROOT),
        (["export", "1", "--db", db, "-o", tmp / "out.mrc", "--report", tmp / "db-link"], ROOT),
        (["export", "1", "--db", db, "-o", tmp / "out.mrc", "--report", tmp / "out.mrc"], ROOT),
        (["export", "--all", "--db", db, "-o", f"{db}-wal"], ROOT),
        (["load", src, "--db", db, "--report", db], ROOT),
        (["load", src, "--db", db, "--report", tmp / "db-hard"], ROOT),
        (["load", "in.mrc", "--db", "catalog.sqlite", "--report", "./catalog.sqlite"], tmp),
        (["load", src, "--db", db, "--report", src], ROOT),
        (["load", src, "--db", db, "--report", tmp / "in-link"], ROOT),
        (["load", "../in.mrc", "--db", db, "--report", src], sub),
        (["load", SAMPLE, src, "--db", db, "--report", "in.mrc"], tmp),
        (["load", src, "--db", src], ROOT),
    ]


def test_an_output_over_the_catalog_or_the_input_is_refused(tmp_path):
    db, src = loaded_catalog(tmp_path)
    for cmd, cwd in _destroyers(tmp_path, db, src):
        before = files_of(tmp_path)
        proc = run(*cmd, cwd=cwd)
        line = one_line_error(proc, "refusing")
        assert files_of(tmp_path) == before, (cmd, line)
        assert (tmp_path / "db-link").is_symlink()
    assert len(records(db)) == 5


def test_no_command_writes_over_a_postgresql_catalog_or_the_input_pg(tmp_path, pg_target):
    """The PostgreSQL side of the test above: a database cannot be named as an output, so what
    holds is that the commands that only read leave every row of the catalog as it was, and
    that an output over the input is refused there too."""
    db, src = loaded_catalog(tmp_path, pg_target)
    before = contents(db)
    out = tmp_path / "out.mrc"
    for cmd in (
        ["export", "--all", "--db", db, "-o", out],
        ["export", "1", "2", "--db", db, "-o", out, "--report", tmp_path / "r.jsonl"],
        ["catalog", "show", "1", "--db", db],
        ["catalog", "history", "1", "--db", db],
        ["catalog", "batches", "--db", db],
        ["catalog", "search", "--title", "a", "--db", db],
        ["catalog", "check", "--db", db],
    ):
        proc = run(*cmd)
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, (cmd, proc.stderr)
    for cmd in (
        ["load", src, "--db", db, "--report", src],
        ["load", SAMPLE, src, "--db", db, "--report", "in.mrc"],
        ["export", "1", "--db", db, "-o", out, "--report", out],
    ):
        inputs = files_of(tmp_path)
        one_line_error(run(*cmd, cwd=tmp_path), "refusing")
        assert files_of(tmp_path) == inputs, cmd
    assert contents(db) == before


def test_outputs_elsewhere_are_still_written(tmp_path, catalog_target):
    db, src = loaded_catalog(tmp_path, catalog_target)
    out = tmp_path / "out.mrc"
    run_ok = run("export", "--all", "--db", db, "-o", out, "--report", tmp_path / "x.jsonl")
    assert run_ok.returncode == 0, run_ok.stderr
    assert out.read_bytes().count(b"\x1d") == 5
    again = run("load", src, "--db", db, "--report", tmp_path / "fates.jsonl", "-q")
    assert again.returncode == 0, again.stderr
    assert len((tmp_path / "fates.jsonl").read_text().splitlines()) == 5


# ------------------------------------------------------------------------------------------------
# 4. tracebacks and wrong exit codes


@pytest.mark.parametrize(
    "bad",
    [
        "(LOCAL)²",  # a superscript digit: int() raised ValueError
        "(LOCAL)٤",  # an Arabic-Indic digit overlaid record 4
        "(LOCAL)00000000A",
        "(LOCAL)0000000004",  # ten digits
        "(LOCAL)00000004",  # eight: a digit left out would target another record
        "(LOCAL)4",
        "(LOCAL) 000000004",
        "(LOCAL)000000000",
        "(local)000000001",
    ],
)
def test_a_035_that_looks_like_a_target_but_is_not_rejects_the_record(
    tmp_path, catalog_target, bad
):
    db, _src = loaded_catalog(tmp_path, catalog_target)
    before = records(db)
    f = tmp_path / "t.mrc"
    f.write_bytes(titled("Not a target", ("035", "  $a" + bad)) + titled("Fine"))
    proc = run("load", f, "--db", db)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    first = proc.stdout.splitlines()[0]
    assert "record 1" in first and "rejected" in first and bad in first, first
    after = records(db)
    assert {k: after[k] for k in before} == before  # record 4 (or 1) not overlaid
    assert len(after) == 6  # the other record loads
    assert not any(bad.encode() in v for v in after.values())


def test_two_targeting_035s_reject_the_record(tmp_path, catalog_target):
    db, _src = loaded_catalog(tmp_path, catalog_target)
    before = records(db)
    f = tmp_path / "t.mrc"
    f.write_bytes(
        titled("Two targets", ("035", "  $a(LOCAL)000000001"), ("035", "  $a(LOCAL)000000002"))
    )
    proc = run("load", f, "--db", db)
    assert proc.returncode == 1, proc.stderr
    assert "rejected" in proc.stdout and "more than one targeting 035" in proc.stdout
    assert records(db) == before


def test_a_valid_target_still_overlays(tmp_path, catalog_target):
    db, _src = loaded_catalog(tmp_path, catalog_target)
    f = tmp_path / "t.mrc"
    f.write_bytes(titled("Overlaid title", ("035", "  $a(LOCAL)000000004")))
    proc = run("load", f, "--db", db)
    assert proc.returncode == 0, proc.stderr
    assert "Record overlaid: 000000004" in proc.stdout
    assert b"Overlaid title" in records(db)[4]
    assert b"(LOCAL)" not in records(db)[4]


def test_a_system_number_in_other_digits_is_a_usage_error(tmp_path, catalog_target):
    db, _src = loaded_catalog(tmp_path, catalog_target)
    for value in ("²", "٤", "1x", "0"):
        usage_error(run("catalog", "show", value, "--db", db), "not a system number")
        usage_error(run("export", value, "--db", db, "-o", tmp_path / "o.mrc"), "system number")
    assert not (tmp_path / "o.mrc").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["load", SAMPLE, "--db", "{db}", "--batch-size", "x"],
        ["load", SAMPLE, "--db", "{db}", "--batch-size", "²"],
        ["load", SAMPLE, "--db", "{db}", "--wait", "soon"],
        ["validate", SAMPLE, "--limit", "ten"],
        ["validate", SAMPLE, "--jobs", "two"],
    ],
)
def test_a_number_that_is_not_one_is_a_usage_error(catalog_target, args):
    db = catalog_target
    usage_error(run(*[str(a).replace("{db}", str(db)) for a in args]), "is not a")
    assert not has_catalog(db)


def _read_only_prefix() -> list[str]:
    """Run the child so that file permissions bind it, even as root (which ignores them unless
    its capability to override them is dropped)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only file cannot be made")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


def test_a_read_only_catalog_says_so_in_one_line(tmp_path):
    db, _src = loaded_catalog(tmp_path)
    prefix = _read_only_prefix()
    db.chmod(0o444)
    try:
        before = db.read_bytes()
        one_line_error(run("load", SAMPLE, "--db", db, prefix=prefix), "read-only")
        one_line_error(run("catalog", "delete", "1", "--db", db, prefix=prefix), "read-only")
        assert db.read_bytes() == before
        # reading a read-only catalog works
        show = run("catalog", "show", "1", "--db", db, prefix=prefix)
        assert show.returncode == 0 and "=SYS  000000001" in show.stdout, show.stderr
        out = tmp_path / "out.mrc"
        exp = run("export", "--all", "--db", db, "-o", out, prefix=prefix)
        assert exp.returncode == 0, exp.stderr
        assert out.read_bytes().count(b"\x1d") == 5
    finally:
        db.chmod(0o644)


def test_a_catalog_in_a_read_only_folder_can_be_read_not_written(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "catalog.sqlite"
    assert run("load", SAMPLE, "--db", db, "-q").returncode == 0
    prefix = _read_only_prefix()
    folder.chmod(0o555)
    try:
        before = files_of(folder)
        show = run("catalog", "show", "2", "--db", db, prefix=prefix)
        assert show.returncode == 0 and "=SYS  000000002" in show.stdout, show.stderr
        out = tmp_path / "out.mrc"
        exp = run("export", "--all", "--db", db, "-o", out, prefix=prefix)
        assert exp.returncode == 0, exp.stderr
        assert out.read_bytes().count(b"\x1d") == 5
        one_line_error(run("load", SAMPLE, "--db", db, prefix=prefix), "read-only")
        one_line_error(run("catalog", "delete", "1", "--db", db, prefix=prefix), "read-only")
        assert files_of(folder) == before
    finally:
        folder.chmod(0o755)


def test_a_catalog_the_role_cannot_write_says_so_in_one_line_pg(tmp_path, pg_target, pg_cluster):
    """The PostgreSQL side of the two tests above: a role granted SELECT only (what a read-only
    file is on SQLite) reads the catalog; load and delete say in one line that it cannot be
    written, and change nothing."""
    db, _src = loaded_catalog(tmp_path, pg_target)
    role = f"reader{os.getpid()}"
    pg_cluster.execute(
        db,
        f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; "
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
    )
    reader = db.replace(f"//{pg_cluster.user}@", f"//{role}@")
    try:
        before = contents(db)
        one_line_error(run("load", SAMPLE, "--db", reader), "cannot be written")
        one_line_error(run("catalog", "delete", "1", "--db", reader), "cannot be written")
        assert contents(db) == before
        show = run("catalog", "show", "1", "--db", reader)
        assert show.returncode == 0 and "=SYS  000000001" in show.stdout, show.stderr
        out = tmp_path / "out.mrc"
        exp = run("export", "--all", "--db", reader, "-o", out)
        assert exp.returncode == 0, exp.stderr
        assert out.read_bytes().count(b"\x1d") == 5
    finally:
        pg_cluster.drop_database(db)  # its sessions first: then the role can go
        pg_cluster.execute(pg_cluster.url(), f"DROP ROLE IF EXISTS {role}")


def _hold_write_lock(db: Path) -> sqlite3.Connection:
    """What a load does while it writes a group: a write transaction, left open."""
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO batches (started_at, description) VALUES ('now', 'held by a test')")
    return con


def test_a_load_locked_out_longer_than_it_waits_says_so_in_one_line(tmp_path):
    db, _src = loaded_catalog(tmp_path)
    holder = _hold_write_lock(db)
    try:
        line = one_line_error(
            run("load", SAMPLE, "--db", db, "--wait", "1", "-q"), "another process", "locked"
        )
        assert "--wait" in line
        one_line_error(run("catalog", "delete", "1", "--db", db, "--wait", "0"), "locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(records(db)) == 5
    assert b"DELETED" not in records(db)[1]


def test_a_load_waits_for_another_writer_and_says_so(tmp_path):
    db, _src = loaded_catalog(tmp_path)
    f = tmp_path / "new.mrc"
    f.write_bytes(titled("Waited for"))
    holder = _hold_write_lock(db)
    proc = subprocess.Popen(
        [sys.executable, "-m", "marc8fast", "load", str(f), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # blocks until the loader has waited a while
        assert "another process is writing to the catalog; waiting" in first, first
    finally:
        holder.execute("COMMIT")
        holder.close()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "Record received: 000000006" in out
    assert len(records(db)) == 6


def _hold_a_record_pg(db: str) -> Any:
    """What a writer on another host does while it overlays record 1 (PostgreSQL has no lock on
    the whole catalog: writers wait for each other on the rows they both change): its
    transaction holds the record's row, left open."""
    holder = open_catalog(db)
    holder.begin()
    holder.replace(1, titled("Held by a test"), [], "heldbyatest/")
    return holder


def _overlay_of_1(tmp_path: Path, *more: bytes) -> Path:
    f = tmp_path / "overlay.mrc"
    f.write_bytes(titled("Overlay of 1", ("035", "  $a(LOCAL)000000001")) + b"".join(more))
    return f


def test_a_write_locked_out_longer_than_it_waits_says_so_in_one_line_pg(tmp_path, pg_target):
    """The PostgreSQL side of the SQLite test above: a write that waits for another writer's
    lock longer than ``--wait`` gives up with the same line and exit 2; one that waits more
    than a second says so first (once)."""
    db, _src = loaded_catalog(tmp_path, pg_target)
    before = records(db)
    f = _overlay_of_1(tmp_path)
    holder = _hold_a_record_pg(db)
    try:
        line = one_line_error(
            run("load", f, "--db", db, "--wait", "1", "-q"), "another process", "locked"
        )
        assert "--wait" in line
        one_line_error(run("catalog", "delete", "1", "--db", db, "--wait", "0"), "locked")
        proc = run("catalog", "delete", "1", "--db", db, "--wait", "5")
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        notice, last = proc.stderr.strip().splitlines()
        assert notice == (
            f"marc8fast: {shown(db)}: another process is writing to the catalog; waiting "
            "(up to 5 s)"
        )
        assert "another process" in last and "locked" in last and "--wait" in last, last
    finally:
        holder.rollback()
        holder.close()
    assert records(db) == before


@pytest.mark.parametrize("holder_ends", ["rollback", "commit"])
@pytest.mark.parametrize("command", ["load", "delete"])
def test_a_write_waits_for_another_writer_and_says_so_pg(tmp_path, pg_target, command, holder_ends):
    """The PostgreSQL side of the SQLite test above: a load (or a delete) that needs a row
    another writer holds says once that it waits, and goes on when that writer ends, whether it
    rolled back or committed (then it overlays, or deletes, what the other writer stored)."""
    db, _src = loaded_catalog(tmp_path, pg_target)
    f = _overlay_of_1(tmp_path, titled("Waited for"))
    holder = _hold_a_record_pg(db)
    args = ["load", str(f)] if command == "load" else ["catalog", "delete", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "marc8fast", *args, "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # blocks until the loader has waited a while
        assert "another process is writing to the catalog; waiting" in first, first
    finally:
        getattr(holder, holder_ends)()
        holder.close()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, (out, err)
    held = ["overlaid"] if holder_ends == "commit" else []
    with open_catalog(db, readonly=True) as s:
        actions = [e.action for e in s.events(1)]
    if command == "load":
        assert "Record overlaid: 000000001" in out and "Record received: 000000006" in out, out
        assert b"Overlay of 1" in records(db)[1]
        assert actions == ["created", *held, "overlaid"]
    else:
        assert out == "000000001: deleted\n", out
        assert b"DELETED" in records(db)[1]
        assert (b"Held by a test" in records(db)[1]) == (holder_ends == "commit")
        assert actions == ["created", *held, "deleted"]


# ------------------------------------------------------------------------------------------------
# 9. readers never wait for a writer


def test_export_and_show_read_while_a_load_holds_its_transaction(tmp_path):
    db, _src = loaded_catalog(tmp_path)
    holder = _hold_write_lock(db)
    # an uncommitted record: readers must not see it
    holder.execute(
        "INSERT INTO records (data, title_key, deleted, created_at, updated_at) "
        "VALUES (?, 'uncommitted/', 0, 'now', 'now')",
        (titled("Uncommitted"),),
    )
    try:
        out = tmp_path / "out.mrc"
        exp = run("export", "--all", "--db", db, "-o", out)
        assert exp.returncode == 0, exp.stderr
        assert out.read_bytes().count(b"\x1d") == 5
        assert b"Uncommitted" not in out.read_bytes()
        show = run("catalog", "show", "1", "2", "--db", db)
        assert show.returncode == 0, show.stderr
        assert "=SYS  000000001" in show.stdout and "=SYS  000000002" in show.stdout
        missing = run("catalog", "show", "6", "--db", db)
        assert missing.returncode == 1 and "000000006: not found" in missing.stderr
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_export_and_show_read_while_a_writer_holds_its_transaction_pg(tmp_path, pg_target):
    """The PostgreSQL side of the test above: another writer's open transaction, with a new
    record and an overlay in it, is neither waited for nor seen."""
    db, _src = loaded_catalog(tmp_path, pg_target)
    before = records(db)
    holder = _hold_a_record_pg(db)
    holder.insert(titled("Uncommitted"), [], "uncommitted/")
    assert holder.count() == 6  # written in its transaction (not committed)
    try:
        out = tmp_path / "out.mrc"
        exp = run("export", "--all", "--db", db, "-o", out)
        assert exp.returncode == 0, exp.stderr
        assert out.read_bytes().count(b"\x1d") == 5
        assert b"Uncommitted" not in out.read_bytes() and b"Held by" not in out.read_bytes()
        show = run("catalog", "show", "1", "2", "--db", db)
        assert show.returncode == 0, show.stderr
        assert "=SYS  000000001" in show.stdout and "=SYS  000000002" in show.stdout
        assert "Held by" not in show.stdout
        missing = run("catalog", "show", "6", "--db", db)
        assert missing.returncode == 1 and "000000006: not found" in missing.stderr
        assert records(db) == before
    finally:
        holder.rollback()
        holder.close()


# ------------------------------------------------------------------------------------------------
# 10. only load creates a catalog


def test_a_mistyped_catalog_is_not_created(tmp_path):
    typo = tmp_path / "typo.sqlite"
    out = tmp_path / "out.mrc"
    for cmd in (
        ["catalog", "show", "1", "--db", typo],
        ["catalog", "delete", "1", "--db", typo],
        ["export", "--all", "--db", typo, "-o", out],
        ["export", "1", "--db", typo, "-o", out, "--report", tmp_path / "r.jsonl"],
    ):
        one_line_error(run(*cmd), f"no catalog at {typo}")
        assert list(tmp_path.iterdir()) == [], cmd
    # an existing file that is not a catalog is not turned into one either
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    one_line_error(run("catalog", "delete", "1", "--db", empty), "no catalog at")
    one_line_error(run("export", "--all", "--db", empty, "-o", out), "no catalog at")
    assert empty.read_bytes() == b"" and not out.exists()
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = other.read_bytes()
    one_line_error(run("load", SAMPLE, "--db", other), "not a marc8fast catalog")
    assert other.read_bytes() == before
    # load creates one
    db = tmp_path / "new.sqlite"
    assert run("load", SAMPLE, "--db", db, "-q").returncode == 0
    assert len(records(db)) == 5


def test_a_mistyped_catalog_is_not_created_pg(tmp_path, pg_target, pg_cluster):
    """The PostgreSQL side of the test above: a URL naming no database is said in one line and
    no database is made (not even by load: a consortium's DBA makes it); an empty database is
    not made a catalog by a command that only reads or deletes; a database whose ``records``
    table is not the catalog's is left as it was, by load too."""
    typo = pg_cluster.url("no_such_catalog")
    out = tmp_path / "out.mrc"
    for cmd in (
        ["catalog", "show", "1", "--db", typo],
        ["catalog", "delete", "1", "--db", typo],
        ["export", "--all", "--db", typo, "-o", out],
        ["load", SAMPLE, "--db", typo],
    ):
        one_line_error(run(*cmd), "no_such_catalog")
        assert not pg_cluster.database_exists("no_such_catalog"), cmd
        assert list(tmp_path.iterdir()) == [], cmd
    empty = pg_target
    one_line_error(run("catalog", "delete", "1", "--db", empty), "no catalog at")
    one_line_error(run("catalog", "show", "1", "--db", empty), "no catalog at")
    one_line_error(run("export", "--all", "--db", empty, "-o", out), "no catalog at")
    assert not has_catalog(empty) and not out.exists()
    pg_cluster.execute(empty, "CREATE TABLE records (x integer); INSERT INTO records VALUES (7)")
    one_line_error(run("load", SAMPLE, "--db", empty), "not a marc8fast catalog")
    one_line_error(run("catalog", "show", "1", "--db", empty), "not a marc8fast catalog")
    tables = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    assert pg_cluster.query(empty, tables) == [("records",)]
    assert pg_cluster.query(empty, "SELECT x FROM records") == [(7,)]
    # load makes one in the empty database the DBA gave it
    db = pg_cluster.new_database()
    try:
        assert run("load", SAMPLE, "--db", db, "-q").returncode == 0
        assert len(records(db)) == 5
    finally:
        pg_cluster.drop_database(db)


# ------------------------------------------------------------------------------------------------
# 6. an overlay never gives two live records one OCLC number; 7. a record with no fields


def test_an_overlay_that_would_share_an_oclc_number_is_refused(tmp_path, catalog_target):
    db = catalog_target
    first = tmp_path / "first.mrc"
    first.write_bytes(
        titled("Has OCLC 101", ("001", "ocm00000101"), ("003", "OCoLC")) + titled("Has none")
    )
    assert run("load", first, "--db", db, "-q").returncode == 0
    before = records(db)
    upd = tmp_path / "upd.mrc"
    upd.write_bytes(
        titled("Now 101 too", ("035", "  $a(OCoLC)101"), ("035", "  $a(LOCAL)000000002"))
    )
    proc = run("load", upd, "--db", db)
    assert proc.returncode == 1, proc.stderr
    assert (
        "rejected: overlaying 000000002 would give it OCLC number 101, which 000000001 has"
        in proc.stdout
    )
    assert records(db) == before
    # the record that has the number may be overlaid with it
    own = tmp_path / "own.mrc"
    own.write_bytes(titled("Still 101", ("035", "  $a(OCoLC)101"), ("035", "  $a(LOCAL)000000001")))
    proc = run("load", own, "--db", db)
    assert proc.returncode == 0 and "Record overlaid: 000000001" in proc.stdout, proc.stdout
    assert b"Still 101" in records(db)[1]


def test_a_record_with_no_fields_is_rejected(tmp_path, catalog_target):
    db, _src = loaded_catalog(tmp_path, catalog_target)
    empty = iso2709()
    assert len(empty) == 26
    f = tmp_path / "empty.mrc"
    f.write_bytes(empty + titled("After it"))
    proc = run("load", f, "--db", db)
    assert proc.returncode == 1, proc.stderr
    assert "record 1: rejected: the record has no fields" in proc.stdout
    assert "record 2: Record received: 000000006" in proc.stdout
    assert len(records(db)) == 6
