"""i20-pgcopy (issue 20): a load into PostgreSQL writes its new records and load log in the binary
COPY format, every table's payload built by the core (``pgcopy_new_records``,
``pgcopy_load_log``). What it stores must be exactly what the text COPY of rows made in Python
stored (``binary_copy = False``, the path before): the realworld corpus is loaded both ways and
every table of the two databases compared row by row (times, which differ from run to run,
left out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from marc8fast.catalog import open_catalog
from marc8fast.catalog.pg_bulk import PgBulkWrites
from marc8fast.flows.importer import Importer

TESTS = Path(__file__).resolve().parents[1]
REALWORLD = sorted(
    str(p)
    for p in [
        *(TESTS / "data" / "realworld").iterdir(),
        *(TESTS / "data/realworld/openlibrary").iterdir(),
    ]
    if p.is_file() and p.suffix in (".mrc", ".marc", ".xml", ".json") and "README" not in p.name
)

#: Columns whose values are the time of the run or of the process, not what was loaded.
_RUN_COLUMNS = {"created_at", "updated_at", "time", "started_at", "finished_at", "pid", "saved_at"}


def _tables(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows (tsvectors as text, in a fixed order; run-dependent columns out)."""
    import psycopg

    out: dict[str, list[tuple[object, ...]]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' ORDER BY table_name"
            )
        ]
        for t in tables:
            cols = [
                c
                for (c,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "ORDER BY ordinal_position",
                    (t,),
                )
                if c not in _RUN_COLUMNS
            ]
            shown = ", ".join(f"{c}::text" if c == "terms" else c for c in cols)
            order = ", ".join(f'{c}::text COLLATE "C"' for c in cols)
            out[t] = [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                for r in conn.execute(f"SELECT {shown} FROM {t} ORDER BY {order}")
            ]
    return out


def _load(url: str, *, binary: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PgBulkWrites, "binary_copy", binary)
    with open_catalog(url) as store:
        assert store.binary_copy is binary
        summary = Importer(store, batch_size=500).load(REALWORLD)
    assert summary.records > 3000


def test_binary_copy_stores_what_text_copy_stored(pg_cluster, monkeypatch):
    text_url, binary_url = pg_cluster.new_database(), pg_cluster.new_database()
    try:
        _load(text_url, binary=False, monkeypatch=monkeypatch)
        _load(binary_url, binary=True, monkeypatch=monkeypatch)
        before, after = _tables(text_url), _tables(binary_url)
        assert before.keys() == after.keys()
        for table in before:
            assert before[table] == after[table], table
        # Something of every kind was written and compared.
        for table in ("records", "oclc", "search_index", "events", "match_keys", "load_log"):
            assert before[table], table
        # Lexemes that need quoting in the text form, and a term cut at 2,000 bytes, are among
        # those compared when the corpus has them; the search index holds one row a record with
        # terms.
        assert len(after["search_index"]) <= len(after["records"])
    finally:
        pg_cluster.drop_database(text_url)
        pg_cluster.drop_database(binary_url)


def test_binary_copy_special_terms(pg_cluster, monkeypatch):
    """Terms that the text form must quote or escape (a quote, a backslash), a term longer than
    a lexeme holds, and a record without OCLC numbers or terms, stored alike both ways."""
    from marc8fast.catalog.api import NewRecord

    long = "x" * 1999 + "é" + "y" * 10  # 2,012 bytes: cut inside nothing, before the é
    rows = [
        NewRecord(
            b"rec-a",
            ["1", "2", "1"],
            "key a",
            [("isbn", "9"), ("isbn", "9")],
            ("o'brien back\\slash", "", "", "", "", long),
            "record 1",
            "f.mrc",
        ),
        NewRecord(b"rec-b", [], None, [], ("", "", "", "", "", ""), "record 2", None),
        NewRecord(
            b"rec-c",
            ["3"],
            "key c",
            [("lccn", "85000002")],
            ("b a b", "tab\tsep", "", "", "", ""),
            "",
            "g.mrc",
        ),
    ]
    urls = [pg_cluster.new_database(), pg_cluster.new_database()]
    try:
        for url, binary in zip(urls, (False, True), strict=True):
            monkeypatch.setattr(PgBulkWrites, "binary_copy", binary)
            with open_catalog(url) as store:
                with store.transaction():
                    store.new_batch("test")
                    assert store.insert_many(rows) == [1, 2, 3]
                index = dict(store.index_rows())
            assert set(index) == {1, 3}
            assert index[1][0] == "back\\slash o'brien"
            assert index[1][5] == "x" * 1999
        a, b = (_tables(u) for u in urls)
        assert a == b
        assert a["oclc"] == [("1", 1, True), ("2", 1, True), ("3", 3, True)]
    finally:
        for url in urls:
            pg_cluster.drop_database(url)


def test_group_queries_with_any_values(pg_target):
    """The group's questions (``loaded_many``, ``candidates``) send their values as one string
    the server splits at newlines, or as an array when a value is empty or holds a newline: the
    answers are the same either way."""
    from marc8fast.catalog import LogRow, now
    from marc8fast.catalog.api import NewRecord

    odd = "title\nwith a newline"
    with open_catalog(pg_target) as store:
        with store.transaction():
            batch = store.new_batch("test")
            a, b = store.insert_many(
                [
                    NewRecord(b"a", ["11"], odd, [("lccn", "x\ny")], ("",) * 6, "", "f"),
                    NewRecord(b"b", ["12"], "plain key", [("lccn", "z")], ("",) * 6, "", "f"),
                ]
            )
            for h, i, s in ((f"h\n{a}", 1, a), ("h2", 2, b)):
                store.log(LogRow(batch, "f", h, i, "new", s, "m", now()))
        plain = [("oclc", "11"), ("oclc", "12"), ("title", "plain key"), ("lccn", "z")]
        assert store.candidates(plain) == {
            ("oclc", "11"): {a},
            ("oclc", "12"): {b},
            ("title", "plain key"): {b},
            ("lccn", "z"): {b},
        }
        odd_keys = [("title", odd), ("title", "plain key"), ("lccn", "x\ny"), ("lccn", "")]
        assert store.candidates(odd_keys) == {
            ("title", odd): {a},
            ("title", "plain key"): {b},
            ("lccn", "x\ny"): {a},
        }
        assert store.loaded_many([("h2", 2), ("h2", 3)]) == {("h2", 2): (b, batch)}
        assert store.loaded_many([(f"h\n{a}", 1), ("h2", 2)]) == {
            (f"h\n{a}", 1): (a, batch),
            ("h2", 2): (b, batch),
        }
