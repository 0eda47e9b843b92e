"""The PostgreSQL search index as one tsvector per record (schema version 6, issue 20): a
version-5 catalog (the term table ``search_terms``) is upgraded by the first writer, and terms
that the tsvector and tsquery syntaxes would read as operators are found as they are."""

from __future__ import annotations

from test_catalog_safety import run
from test_search_catalogers import found, load, rec

from marc8fast.catalog import SCHEMA_VERSION, open_catalog

# What version 5 had: a term table, one row per (term, column, record).
_DOWNGRADE = (
    'CREATE TABLE search_terms (term TEXT COLLATE "C" NOT NULL, col SMALLINT NOT NULL, '
    "sysno BIGINT NOT NULL, PRIMARY KEY (term, col, sysno)); "
    "CREATE INDEX search_terms_sysno ON search_terms (sysno); "
    "INSERT INTO search_terms SELECT substr(x, strpos(x, ':') + 1), split_part(x, ':', 1)::int, "
    "sysno FROM search_index, unnest(tsvector_to_array(terms)) AS u(x); "
    "DROP TABLE search_index; UPDATE marc8fast_schema SET version = 5"
)


def test_a_version_5_catalog_is_upgraded_by_the_first_writer(tmp_path, pg_target, pg_cluster):
    db = load(
        tmp_path,
        "a.mrc",
        rec("The hobbit", ("650", " 0$aJazz$xHistory")),
        rec("Hobbies of O'Brien"),
        db=pg_target,
    )
    pg_cluster.execute(db, _DOWNGRADE)
    assert pg_cluster.query(db, "SELECT count(*) FROM search_terms")[0][0] > 4
    proc = run("catalog", "search", "--db", db, "--title", "hobb*")
    assert proc.returncode == 2 and "upgrades it" in proc.stderr, proc.stderr
    load(tmp_path, "b.mrc", rec("Hobbit poems \\ O'Neill's"), db=db)  # a writer upgrades
    assert pg_cluster.query(db, "SELECT version FROM marc8fast_schema") == [(SCHEMA_VERSION,)]
    assert pg_cluster.query(db, "SELECT to_regclass('search_terms') IS NULL") == [(True,)]
    assert pg_cluster.query(db, "SELECT count(*) FROM search_index") == [(3,)]
    assert found(db, "--title", "hobb*") == [1, 2, 3]
    assert found(db, "--title", "hobbit") == [1, 3]
    assert found(db, "--any", "jazz") == [1]
    proc = run("catalog", "check", "--db", db)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_terms_with_query_syntax_are_found_as_they_are(tmp_path, pg_target):
    """Quotes, backslashes, colons, '&', '|', '!' and '*' in a term are the term's, never
    tsquery operators (the catalog API, below the query parser that splits such text)."""
    db = load(tmp_path, "a.mrc", rec("Plain title"), db=pg_target)
    odd = ["o'brien", "a\\b", "c:d", "x&y|z", "!not", "star*", "'"]
    with open_catalog(db) as s:
        with s.transaction():
            s.conn.execute(  # type: ignore[attr-defined]
                "UPDATE search_index SET terms = array_to_tsvector(%s) WHERE sysno = 1",
                ([f"0:{t}" for t in odd],),
            )
        for t in odd:
            assert s.match_terms(("title",), [(t, False)]) == {1}, t
            assert s.match_terms(("title",), [(t[:1], True)]) == {1}, t
            assert s.match_terms(("author",), [(t, False)]) == set(), t
        assert s.match_terms(("title",), [("o'brien", False), ("c:d", False)]) == {1}
        assert s.match_terms(("title",), [("o'brie", False)]) == set()
        assert s.match_terms(("title", "subject"), [("c", True), ("x&y", True)]) == {1}


def test_a_term_longer_than_a_lexeme_is_stored_cut_and_found(tmp_path, pg_target):
    """A tsvector lexeme holds 2,046 bytes: a longer term (one unbroken 9,050-byte word) is kept
    as its start and found by the whole word (a prefix query on that start) and by a prefix."""
    word = "x" * 50 + "\u0930" * 3000
    db = load(tmp_path, "a.mrc", rec(f"Long {word}"), rec(f"Longer {word}"), db=pg_target)
    assert found(db, "--title", word) == [1, 2]
    assert found(db, "--title", "xxxxx*") == [1, 2]
    assert found(db, "--title", "long") == [1]
    check = run("catalog", "check", "--db", db)  # the cut word is what the index should hold
    assert check.returncode == 0 and "differ" not in check.stdout + check.stderr, check


def test_a_long_term_of_a_version_5_catalog_is_cut_alike(tmp_path, pg_target, pg_cluster):
    """Step 6 cuts a term as the writer does (its longest start of at most 2,000 bytes)."""
    word = "x" * 51 + "\u0930" * 3000
    db = load(tmp_path, "a.mrc", rec(f"Long {word}"), rec("Other"), db=pg_target)
    before = pg_cluster.query(db, "SELECT terms::text FROM search_index ORDER BY sysno")
    pg_cluster.execute(db, _DOWNGRADE)
    pg_cluster.execute(  # version 5 held the whole term
        db, f"UPDATE search_terms SET term = '{word.lower()}' WHERE term LIKE 'xxx%'"
    )
    long = "SELECT count(*) FROM search_terms WHERE octet_length(term) > 9000"
    assert pg_cluster.query(db, long) == [(1,)]
    load(tmp_path, "b.mrc", rec("Third"), db=db)
    assert pg_cluster.query(db, "SELECT terms::text FROM search_index ORDER BY sysno")[:2] == before
    assert found(db, "--title", word) == [1]
