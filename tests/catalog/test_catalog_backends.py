"""Issue 20: the catalog API on both backends. Every test that takes ``catalog_target`` runs on an
SQLite file and on a database of a throwaway PostgreSQL cluster (tests/pgserver.py); the tests
after them compare the two backends on the realworld corpus."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from marc8fast import Field, Record
from marc8fast.catalog import (
    CatalogError,
    LogRow,
    NoCatalogError,
    ReadOnlyError,
    Receipt,
    UniqueOclcError,
    is_url,
    now,
    open_catalog,
)
from marc8fast.catalog.maintenance import check_catalog, copy_catalog, records_checksum
from marc8fast.flows import accounts, delete_record, search, undelete_record
from marc8fast.flows.importer import Importer

TESTS = Path(__file__).resolve().parents[1]
REALWORLD = sorted(
    p
    for p in [
        *(TESTS / "data" / "realworld").iterdir(),
        *(TESTS / "data/realworld/openlibrary").iterdir(),
    ]
    if p.is_file() and p.suffix in (".mrc", ".marc", ".xml", ".json") and "README" not in p.name
)
BIN = Path(sys.executable).parent
MARC8FAST = str(BIN / "marc8fast")

#: The fixed query list both backends must answer alike (index, text, truncated).
QUERIES = [
    ("title", "the", False),
    ("title", "history", False),
    ("title", "jazz", False),
    ("title", "hist", True),
    ("any", "music", False),
    ("any", "mus*", False),
    ("author", "smith", False),
    ("author", "john*", False),
    ("subject", "jazz", False),
    ("subject", "history", False),
    ("title", "the history", False),
    ("any", "שלום", False),
    ("any", "中国", False),
    ("oclc", "1", False),
]


def record(title: str, oclc: str | None = None, author: str = "Writer, A.") -> bytes:
    r = Record(leader="00000nam a2200000 a 4500")
    if oclc is not None:
        r.add_field(Field("001", data=oclc))
        r.add_field(Field("003", data="OCoLC"))
        r.add_field(Field("035", "  ", [("a", f"(OCoLC){oclc}")]))
    r.add_field(Field("100", "1 ", [("a", author)]))
    r.add_field(Field("245", "10", [("a", title)]))
    return r.to_bytes(encoding="utf8")


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MARC8FAST, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        check=False,
    )


def terms(store) -> dict[int, list[set[str]]]:
    """Each record's index terms, column by column (a record with none left out)."""
    return {
        sysno: [set(col.split()) for col in row] for sysno, row in store.index_rows() if any(row)
    }


# -- the API on both backends --------------------------------------------------------------------


def test_records_history_and_deletes(catalog_target):
    with open_catalog(catalog_target) as s:
        s.source = "test writer"
        with s.transaction():
            s.new_batch("test batch")
            a = s.insert(record("First book", "101"), ["101"], "firstbook/writer")
            b = s.insert(record("Second book", "202"), ["202"], "secondbook/writer")
        assert b == a + 1 and s.count() == 2
        got = s.get(a)
        assert got is not None and got.data == record("First book", "101")
        assert got.oclc_numbers == ["101"] and not got.deleted
        assert s.find_by_oclc(["999", "202"]) == (b, "202")
        assert s.find_by_oclc(["202"], exclude=b) is None
        assert s.find_by_title_key("firstbook/writer") == a
        with s.transaction():
            s.replace(a, record("First book, 2nd ed.", "101"), ["101", "1001"], "x/", detail="ed")
        assert s.get(a).oclc_numbers == ["1001", "101"]  # type: ignore[union-attr]
        assert s.sysnos_by_oclc("1001") == {a}
        assert delete_record(s, b) == "deleted"
        assert delete_record(s, b) == "already deleted"
        assert s.find_by_oclc(["202"]) is None and s.live([a, b]) == {a}
        assert s.count(include_deleted=False) == 1
        assert undelete_record(s, b) == "undeleted"
        assert [e.action for e in s.events(a)] == ["created", "overlaid"]
        assert [(e.action, e.source) for e in s.events(b)] == [
            ("created", "test writer"),
            ("deleted", "test writer"),
            ("undeleted", "test writer"),
        ]
        assert list(s.sysnos()) == [a, b]
        assert [r.sysno for r in s.iter_records()] == [a, b]
        assert list(s.sysnos(since="2999")) == []


def test_a_transaction_that_raises_leaves_nothing(catalog_target):
    with open_catalog(catalog_target) as s:
        with pytest.raises(RuntimeError), s.transaction():
            s.insert(record("Gone"), [], None)
            raise RuntimeError("stop")
        assert s.count() == 0
        with s.transaction(), pytest.raises(CatalogError, match="already open"):
            with s.transaction():
                pass
        with s.transaction():
            s.insert(record("Kept"), [], None)
        assert s.count() == 1


def test_load_log_batches_and_receipts(catalog_target):
    with open_catalog(catalog_target) as s:
        with s.transaction():
            batch = s.new_batch("load x")
            sysno = s.insert(record("Logged"), [], None)
            s.log(LogRow(batch, "x.mrc", "h1", 1, "new", sysno, "new record", now()))
            s.log(LogRow(batch, "x.mrc", "h1", 2, "rejected", None, "bad", now()))
            assert s.loaded("h1", 1) == (sysno, batch)  # inside the transaction too
        assert s.loaded("h1", 2) is None
        assert s.loaded_indexes("h1") == {1: (sysno, batch)}
        assert s.log_count("h1") == 2 and s.log_count("h2") == 0
        assert [r.fate for r in s.log_for(sysno)] == ["new"]
        assert s.batches()[-1].fates == {"new": 1, "rejected": 1}
        with s.transaction():
            s.put_receipt(Receipt("unit1", "d1", "2026-01-01T00:00:00.000000Z", "new", 1, "ok"))
            s.put_receipt(Receipt("unit1", "d1", "2026-01-02T00:00:00.000000Z", "new", 1, "ok2"))
        got = s.receipt("unit1", "d1")
        assert got is not None and got.message == "ok2" and got.sysno == 1
        with s.transaction():
            s.prune_receipts("2026-01-03")
        assert s.receipt("unit1", "d1") is None


def test_one_input_record_is_logged_as_loaded_once(catalog_target):
    with open_catalog(catalog_target) as s:
        with s.transaction():
            batch = s.new_batch("b")
            s.log(LogRow(batch, "x", "h", 1, "new", None, "", now()))
        with pytest.raises(CatalogError), s.transaction():
            s.log(LogRow(batch, "x", "h", 1, "new", None, "", now()))
        assert s.log_count("h") == 1


def test_accounts(catalog_target):
    with open_catalog(catalog_target) as s:
        accounts.add_user(s, "unit1", "secret one")
        with pytest.raises(accounts.AccountError, match="already"):
            accounts.add_user(s, "UNIT1", "other")
        assert accounts.verify(s, "unit1", "secret one")
        assert not accounts.verify(s, "unit1", "wrong")
        assert accounts.has_accounts(s)
        accounts.disable_user(s, "unit1")
        assert not accounts.verify(s, "unit1", "secret one") and not accounts.has_accounts(s)
        accounts.enable_user(s, "unit1")
        accounts.set_password(s, "unit1", "secret two")
        assert accounts.verify(s, "unit1", "secret two")
        with pytest.raises(accounts.AccountError, match="no account"):
            accounts.set_password(s, "nobody", "x")
        assert [a.name for a in accounts.list_users(s)] == ["unit1"]


def test_search_exact_prefix_and_deleted(catalog_target):
    with open_catalog(catalog_target) as s:
        with s.transaction():
            a = s.insert(record("The hobbit", "11"), ["11"], None)
            b = s.insert(record("Hobbies at home", "12"), ["12"], None)
            c = s.insert(record("Co-operation", "13", author="O'Brien, P."), ["13"], None)
        assert search.search(s, title="hobbit") == [a]
        assert search.search(s, title="hobb*") == [a, b]
        assert search.search(s, title="hobb", truncated=True) == [a, b]
        assert search.search(s, title="cooperation") == [c]
        assert search.search(s, author="obrien") == [c]
        assert search.search(s, any="12") == [b]
        assert search.search(s, oclc="ocm00000013") == [c]
        assert search.search(s, title="the hobb*", author="writer") == [a]
        delete_record(s, a)
        assert search.search(s, title="hobb*") == [b]
        assert search.search(s, sysno=str(b)) == [b]


def test_a_catalog_is_not_made_by_a_reader_and_a_reader_cannot_write(catalog_target):
    with pytest.raises(NoCatalogError):
        open_catalog(catalog_target, create=False)
    with pytest.raises(NoCatalogError):
        open_catalog(catalog_target, readonly=True)
    open_catalog(catalog_target).close()
    with open_catalog(catalog_target, readonly=True) as s:
        assert s.count() == 0
        with pytest.raises(ReadOnlyError), s.transaction():
            s.insert(record("No"), [], None)


def test_check_and_copy(catalog_target, tmp_path):
    with open_catalog(catalog_target) as s:
        Importer(s).load([str(TESTS / "data" / "realworld" / "hebrew.marc")])
        assert list(check_catalog(s)) == []
        n, digest = records_checksum(s)
        other = str(tmp_path / "copy.sqlite")
        with open_catalog(other) as t:
            result = copy_catalog(s, t)
            assert result.same and result.records == n and records_checksum(t) == (n, digest)
            assert result.counts["records"] == n
            assert list(check_catalog(t)) == []
            assert terms(t) == terms(s) and len(terms(s)) == n
            with pytest.raises(CatalogError, match="not an empty catalog"):
                copy_catalog(s, t)


def test_check_says_what_is_wrong(catalog_target, tmp_path):
    with open_catalog(catalog_target) as s, s.transaction():
        s.restore("records", [(1, b"not a record", None, False, now(), now())])
        s.restore("records", [(2, record("Two", "5"), None, False, now(), now())])
        s.finish_restore()
    with open_catalog(catalog_target) as s:
        problems = list(check_catalog(s))
        assert len(problems) == 1
        assert problems[0].startswith("000000001: the stored record does not parse (")
        if is_url(catalog_target):
            # The database itself keeps a live OCLC number on one record.
            with pytest.raises(UniqueOclcError), s.transaction():
                s.restore("oclc", [("5", 1), ("5", 2)])
        else:
            with s.transaction():
                s.restore("oclc", [("5", 1), ("5", 2)])
            assert list(check_catalog(s))[1:] == [
                "OCLC number 5: on 2 live records (000000001, 000000002)"
            ]


def test_the_cli_takes_the_catalog_from_marc8fast_db(catalog_target, tmp_path):
    env = {"MARC8FAST_DB": catalog_target}
    r = cli("load", "-q", "--no-progress", str(TESTS / "data/realworld/hebrew.marc"), env=env)
    assert r.returncode in (0, 1), r.stderr
    r = cli("catalog", "show", "1", env=env)
    assert r.returncode == 0 and r.stdout.startswith("=SYS  000000001\n=STATUS  live"), r.stderr
    r = cli("users", "add", "unit1", "--password-stdin", env=env, stdin="a long password\n")
    assert r.returncode == 0, r.stderr
    assert cli("users", "list", env=env).stdout.startswith("unit1\tenabled")
    r = cli("catalog", "check", env=env)
    assert r.returncode == 0 and "0 problem(s)" in r.stderr, r.stderr
    assert "password" not in r.stderr


# -- the two backends side by side ---------------------------------------------------------------


def test_sqlite_and_postgresql_load_export_and_search_alike(pg_cluster, tmp_path):
    lite = str(tmp_path / "c.sqlite")
    url = pg_cluster.new_database()
    files = [str(p) for p in REALWORLD]
    for db in (lite, url):
        r = cli("load", "-q", "--no-progress", "--db", db, *files)
        assert r.returncode in (0, 1), r.stderr
    outs = []
    for i, db in enumerate((lite, url)):
        out = tmp_path / f"out{i}.mrc"
        r = cli("export", "--all", "-q", "--db", db, "-o", str(out))
        assert r.returncode in (0, 1), r.stderr
        outs.append(out.read_bytes())
    assert len(outs[0]) > 1_000_000 and outs[0] == outs[1]
    with open_catalog(lite, readonly=True) as a, open_catalog(url, readonly=True) as b:
        nonempty = 0
        for index, text, trunc in QUERIES:
            left = search.find(a, index, text, truncated=trunc)
            assert left == search.find(b, index, text, truncated=trunc), (index, text)
            nonempty += bool(left)
        assert nonempty >= 8  # the list finds something for most queries
    # The CLI's answers too.
    for args in (("--title", "jazz"), ("--any", "hist*"), ("--author", "smith")):
        one = cli("catalog", "search", *args, "--db", lite)
        two = cli("catalog", "search", *args, "--db", url)
        assert one.returncode == two.returncode and one.stdout == two.stdout


def test_copy_sqlite_to_postgresql_to_sqlite_round_trips_the_corpus(pg_cluster, tmp_path):
    lite = str(tmp_path / "c.sqlite")
    back = str(tmp_path / "back.sqlite")
    url = pg_cluster.new_database()
    r = cli("load", "-q", "--no-progress", "--db", lite, *[str(p) for p in REALWORLD])
    assert r.returncode in (0, 1), r.stderr
    with open_catalog(lite) as s:
        accounts.add_user(s, "unit1", "pass word")
    there = cli("catalog", "copy", "--from", lite, "--to", url)
    assert there.returncode == 0, there.stderr
    again = cli("catalog", "copy", "--from", url, "--to", back)
    assert again.returncode == 0, again.stderr
    sums = [
        line.split("\t")[1]
        for line in there.stdout.splitlines() + again.stdout.splitlines()
        if line.startswith("checksum")
    ]
    assert len(sums) == 4 and len(set(sums)) == 1
    assert (
        "records\t" in there.stdout and there.stdout.split("\n")[:7] == again.stdout.split("\n")[:7]
    )
    with open_catalog(lite, readonly=True) as a, open_catalog(back, readonly=True) as b:
        assert [(r.sysno, r.data, r.deleted, r.created_at) for r in a.iter_records()] == [
            (r.sysno, r.data, r.deleted, r.created_at) for r in b.iter_records()
        ]
        assert a.log_rows() == b.log_rows() and a.batches() == b.batches()
        assert accounts.verify(b, "unit1", "pass word")
    for db in (url, back):
        r = cli("catalog", "check", "--db", db)
        assert r.returncode == 0, r.stdout + r.stderr
    # New records continue after the copied system numbers (the sequence was moved on).
    with open_catalog(url) as p:
        last = max(p.sysnos())
        with p.transaction():
            assert p.insert(record("After the copy"), [], None) == last + 1


def test_postgresql_migrations_are_applied_by_the_first_writer(pg_cluster):
    import psycopg

    from marc8fast.catalog import SCHEMA_VERSION, SchemaError

    url = pg_cluster.new_database()
    with open_catalog(url) as s, s.transaction():
        sysno = s.insert(record("The hobbit", "11"), ["11"], None)
    # What a version-2 catalog had: the version, and no terms made by this core.
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM marc8fast_schema").fetchall() == [
            (SCHEMA_VERSION,)
        ]
        conn.execute("UPDATE marc8fast_schema SET version = 2")
        # Version 2's search index: the term table (version 6 made it search_index), empty.
        conn.execute(
            'DROP TABLE search_index; CREATE TABLE search_terms (term TEXT COLLATE "C" '
            "NOT NULL, col SMALLINT NOT NULL, sysno BIGINT NOT NULL, "
            "PRIMARY KEY (term, col, sysno))"
        )
    with pytest.raises(SchemaError, match="upgrades it"):
        open_catalog(url, readonly=True)
    with open_catalog(url) as s:  # the first writer reindexes (migration 3)
        assert search.search(s, title="hobb*") == [sysno]
    with open_catalog(url, readonly=True) as s:
        assert search.search(s, title="hobbit") == [sysno]
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM marc8fast_schema").fetchall() == [
            (SCHEMA_VERSION,)
        ]
        conn.execute("UPDATE marc8fast_schema SET version = 99")
    with pytest.raises(SchemaError, match="version 99"):
        open_catalog(url)


def test_a_postgresql_database_that_is_not_a_catalog_is_left_alone(pg_cluster):
    import psycopg

    from marc8fast.catalog import SchemaError

    url = pg_cluster.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE records (x int)")
    with pytest.raises(SchemaError, match="not a marc8fast catalog"):
        open_catalog(url)
    r = cli("catalog", "check", "--db", url.replace("marc8fast@", "marc8fast:secret@"))
    assert r.returncode == 2 and "secret" not in r.stderr and "not a marc8fast catalog" in r.stderr


def test_a_query_is_interrupted_when_its_time_is_up(catalog_target):
    """The Z39.50 server's time limit: ``interruptible(stop)`` ends a running query with
    QueryInterrupted once ``stop()`` is true (a slow query stands in for an expensive search)."""
    import time

    from marc8fast.catalog import QueryInterrupted

    with open_catalog(catalog_target) as s:
        deadline = time.monotonic() + 0.3
        t0 = time.monotonic()
        with pytest.raises(QueryInterrupted), s.interruptible(lambda: time.monotonic() > deadline):
            if is_url(catalog_target):
                s._q("SELECT pg_sleep(20)")  # type: ignore[attr-defined]
            else:
                import sqlite3

                from marc8fast.catalog.sqlite import translate

                try:  # what every public method of the store does with the driver's error
                    s.db.execute(  # type: ignore[attr-defined]
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                        "SELECT count(*) FROM n"
                    ).fetchone()
                except sqlite3.Error as e:
                    raise translate(catalog_target, e) from None
        took = time.monotonic() - t0
        print(f"interrupted after {took:.2f} s")
        assert took < 15  # far from the 20 s the query would take (or forever)
        assert s.count() == 0  # the connection still answers
