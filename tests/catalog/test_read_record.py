"""Issue 22 (i22-z16): ``Catalog.read_record`` — ``get`` in one statement, what the Z39.50 server
reads for every search by system number and every present. It must give exactly what ``get``
gives (the record, deleted or not, its OCLC numbers in ``get``'s order; None for no record), see
every commit made after the reader opened, and on SQLite (where a read-only store reads it
through the C library, keeping the interpreter lock) fall back to the ``sqlite3`` module when
SQLite does not answer."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from marc8fast import Field, Record
from marc8fast.catalog import open_catalog, sqlite_reads
from marc8fast.flows import delete_record


def record(title: str, oclc: list[str]) -> bytes:
    r = Record(leader="00000nam a2200000 a 4500")
    for n in oclc:
        r.add_field(Field("035", "  ", [("a", f"(OCoLC){n}")]))
    r.add_field(Field("245", "10", [("a", title)]))
    return r.to_bytes(encoding="utf8")


def fill(target: str) -> list[int]:
    with open_catalog(target) as s:
        with s.transaction():
            s.new_batch("read_record")
            return [
                s.insert(record("None", []), [], None),
                s.insert(record("One", ["77"]), ["77"], "one/"),
                # binary order: "1001" < "101" < "99"; inserted in another order
                s.insert(record("Three", ["99", "101", "1001"]), ["99", "101", "1001"], "three/"),
                s.insert(record("Gone", ["55"]), ["55"], "gone/"),
            ]


@pytest.mark.parametrize("readonly", [False, True])
def test_read_record_is_get(catalog_target, readonly):
    ids = fill(catalog_target)
    with open_catalog(catalog_target) as w:
        assert delete_record(w, ids[3]) == "deleted"
    with open_catalog(catalog_target, readonly=readonly) as s:
        for sysno in ids:
            got = s.get(sysno)
            assert got is not None
            assert s.read_record(sysno) == got
        assert s.read_record(ids[2]).oclc_numbers == ["1001", "101", "99"]  # type: ignore[union-attr]
        assert s.read_record(ids[0]).oclc_numbers == []  # type: ignore[union-attr]
        assert s.read_record(ids[0]).title_key is None  # type: ignore[union-attr]
        assert s.read_record(ids[3]).deleted  # type: ignore[union-attr]
        assert not s.read_record(ids[1]).deleted  # type: ignore[union-attr]
        assert s.read_record(max(ids) + 1000) is None
        assert s.read_record(0) is None


def test_a_reader_sees_each_commit_made_after_it_opened(catalog_target):
    ids = fill(catalog_target)
    with open_catalog(catalog_target, readonly=True) as r, open_catalog(catalog_target) as w:
        before = r.read_record(ids[1])
        assert before is not None and before.oclc_numbers == ["77"]
        with w.transaction():
            w.replace(ids[1], record("One, again", ["78"]), ["78", "77"], "one/again", detail="x")
        after = r.read_record(ids[1])
        assert after is not None and after == w.get(ids[1]) and after.data != before.data
        assert after.oclc_numbers == ["77", "78"]
        assert delete_record(w, ids[1]) == "deleted"
        assert r.read_record(ids[1]).deleted  # type: ignore[union-attr]
        with w.transaction():
            new = w.insert(record("New", []), [], "new/")
        assert r.read_record(new) == w.get(new)


def test_sqlite_a_read_only_store_reads_through_the_c_library(tmp_path):
    target = str(tmp_path / "c.sqlite")
    ids = fill(target)
    with open_catalog(target, readonly=True) as s:
        assert s.read_record(ids[1]) == s.get(ids[1])
        assert isinstance(s._direct, sqlite_reads._Direct)  # the C library's connection
    with open_catalog(target) as w:  # a writer's store reads through its own connection
        assert w.read_record(ids[1]) == w.get(ids[1])
        assert w._direct is False


def test_sqlite_a_writer_holding_the_catalog_does_not_stop_a_reader(tmp_path):
    """A write transaction in progress (another thread, another connection): the reader gets the
    last committed state at once, through the C library (WAL: readers do not wait)."""
    target = str(tmp_path / "c.sqlite")
    ids = fill(target)
    with open_catalog(target, readonly=True) as r:
        committed = r.read_record(ids[1])
        inside, release = threading.Event(), threading.Event()

        def write() -> None:
            with open_catalog(target) as w, w.transaction():
                w.replace(ids[1], record("Changing", ["79"]), ["79"], "c/", detail="x")
                inside.set()
                release.wait(10)

        t = threading.Thread(target=write)
        t.start()
        try:
            assert inside.wait(10)
            assert r.read_record(ids[1]) == committed
            assert isinstance(r._direct, sqlite_reads._Direct)
        finally:
            release.set()
            t.join()
        assert r.read_record(ids[1]).oclc_numbers == ["79"]  # type: ignore[union-attr]


def test_sqlite_when_the_c_library_does_not_answer_the_module_does(tmp_path, monkeypatch):
    target = str(tmp_path / "c.sqlite")
    ids = fill(target)
    with open_catalog(target, readonly=True) as s:
        want = s.get(ids[2])
        s.read_record(ids[2])
        direct = s._direct
        assert isinstance(direct, sqlite_reads._Direct)
        # busy (5): read through the module this time, the C library again next time
        monkeypatch.setattr(sqlite_reads._Direct, "read", lambda self, sysno: 5)
        assert s.read_record(ids[2]) == want and s._direct is direct
        # any other failure (1: SQLITE_ERROR): the module from then on
        monkeypatch.setattr(sqlite_reads._Direct, "read", lambda self, sysno: 1)
        assert s.read_record(ids[2]) == want and s._direct is False
        monkeypatch.undo()
        assert s.read_record(ids[2]) == want and s._direct is False


def test_sqlite_a_title_key_with_a_nul_is_read_whole(tmp_path):
    target = str(tmp_path / "c.sqlite")
    with open_catalog(target) as w, w.transaction():
        w.new_batch("nul")
        sysno = w.insert(record("Nul", []), [], "ab\x00cd/")
    with open_catalog(target, readonly=True) as s:
        got = s.read_record(sysno)
        assert isinstance(s._direct, sqlite_reads._Direct)
        assert got is not None and got.title_key == "ab\x00cd/" == s.get(sysno).title_key  # type: ignore[union-attr]


def test_sqlite_read_only_stores_of_one_file_share_one_connection(tmp_path):
    """One C-library connection per file per process, whatever the number of stores (a
    Z39.50 session per record opens a store each time); a file put in the place of another
    (a new inode) gets its own."""
    a, b = str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite")
    ids = fill(a)
    fill(b)
    with open_catalog(a, readonly=True) as s1, open_catalog(a, readonly=True) as s2:
        assert s1.read_record(ids[1]) == s2.read_record(ids[1]) == s1.get(ids[1])
        assert s1._direct is s2._direct
        with open_catalog(b, readonly=True) as other:
            other.read_record(ids[1])
            assert other._direct is not s1._direct
    with open_catalog(a, readonly=True) as s3:  # the last one made is kept between stores
        s3.read_record(ids[0])
        kept = s3._direct
    os.replace(b, a)  # another catalog where the first was
    with open_catalog(a, readonly=True) as s4:
        got = s4.read_record(ids[2])
        assert s4._direct is not kept and got == s4.get(ids[2])


def test_sqlite_threads_reading_through_the_shared_connection_get_their_own_records(tmp_path):
    """Reads from many threads at once on the shared connection, with the GIL handed over as
    often as the interpreter allows (a switch between two calls of one read): each read gets
    its own record."""
    target = str(tmp_path / "c.sqlite")
    ids = fill(target)
    want = {}
    with open_catalog(target) as w:
        for sysno in ids:
            want[sysno] = w.get(sysno)
    errors: list[str] = []

    def run(k: int) -> None:
        with open_catalog(target, readonly=True) as s:
            for i in range(400):
                sysno = ids[(i + k) % len(ids)]
                if s.read_record(sysno) != want[sysno]:
                    errors.append(f"thread {k}: {sysno}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        ts = [threading.Thread(target=run, args=(k,)) for k in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
