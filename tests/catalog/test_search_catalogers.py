"""Issue 18, items 16-19: the searches catalogers expect, and one implementation of the keys.

* 16: a ``*`` after a word is a prefix (``hobb*``, ``dvor*``, ``москв*``), also Z39.50's right
  truncation and SRU's ``*``;
* 17: 880 fields are indexed as the field their ``$6`` names; CJK text without spaces (kana
  included) is found by any contiguous run of two or more characters;
* 18: ``--isbn "ISBN 0-12-601720-4"``; a wrong check digit is said, not a silent no-match;
  ``co-operation``/``cooperation``, ``o'brien``/``obrien``, ``e-mail``/``email`` and Greek final
  sigma fold alike;
* 19: the duplicate check folds like search (title/author key, initial articles by 245's second
  indicator) and reads OCLC numbers as the search index does (``(ocolc)``, 019).

The catalog items run the real ``marc8fast load`` and ``marc8fast catalog search`` processes on
records built here byte by byte.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_catalog_safety import iso2709, records, run

from marc8fast import Field, Record, flows
from marc8fast.catalog import open_catalog
from marc8fast.flows import search

FIXED = ("008", "990730s1999    xx            000 0 eng d")


def rec(title: str, *more: tuple[str, str], ind2: str = "0") -> bytes:
    """A UTF-8 record: 008, the fields ``more`` (before 245), 245 1<ind2> $a title."""
    return iso2709(FIXED, *more, ("245", f"1{ind2}$a{title}"))


def load(tmp_path: Path, name: str, *records: bytes, db: Path | str | None = None) -> Path | str:
    db = db or tmp_path / "catalog.sqlite"
    src = tmp_path / name
    src.write_bytes(b"".join(records))
    proc = run("load", src, "--db", db)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return db


def found(db: Path | str, *args: str) -> list[int]:
    """System numbers ``catalog search`` lists (exit 0 when some, 1 when none)."""
    proc = run("catalog", "search", "--db", db, *args)
    assert "Traceback" not in proc.stderr, proc.stderr
    sysnos = [int(line.split()[0]) for line in proc.stdout.splitlines()]
    assert proc.returncode == (0 if sysnos else 1), (proc.returncode, proc.stderr)
    return sysnos


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory, module_catalog_target: str) -> Path | str:
    """The catalog of the search tests, on each backend in turn: built once per backend (the
    tests that take it only read it)."""
    return load(
        tmp_path_factory.mktemp("search"),
        "a.mrc",
        rec("The hobbit /", ("100", "1 $aTolkien, J. R. R."), ind2="4"),  # 1
        rec("Symphonies", ("100", "1 $aDvořák, Antonín,$d1841-1904.")),  # 2
        rec("Москва и москвичи"),  # 3
        rec(
            "Zhedong wen hua yan jiu",
            ("880", "10$6245-01/$1$a浙东文化研究 /"),
            ("880", "1 $6100-02/$1$a王明"),
        ),  # 4
        rec("Katakana", ("880", "10$6245-01/$1$aひらがなとカタカナのほん")),  # 5
        rec("Tables", ("020", "  $a0126017204 (pbk.)")),  # 6
        rec("International co-operation and the e-mail of O'Brien"),  # 7
        rec("Cooperation by email with Obrien"),  # 8
        rec("ΟΔΥΣΣΕΥΣ"),  # 9
        rec("Kana not split", ("246", "1 $aがっこう")),  # 10
        db=module_catalog_target,
    )


# ------------------------------------------------------------------------------------------------
# 16. truncation


def test_a_star_after_a_word_is_a_prefix(catalog):
    assert found(catalog, "--title", "hobb*") == [1]
    assert found(catalog, "--title", "HOBB*") == [1]
    assert found(catalog, "--title", "hobb") == []  # no star, no prefix
    assert found(catalog, "--author", "dvor*") == [2]
    assert found(catalog, "--author", "Dvoř*") == [2]
    assert found(catalog, "--title", "москв*") == [3]
    assert found(catalog, "--title", "моск* москвичи") == [3]
    assert found(catalog, "--any", "tolk*") == [1]
    assert found(catalog, "--title", "the hobb* x*") == []


def test_z3950_and_sru_truncation_go_through_the_same_query(catalog):
    from marc8fast.server import query

    with flows.open_store(catalog, readonly=True) as s:

        def find(index: str, text: str, truncated: bool) -> set[int]:
            return search.find(s, index, text, truncated=truncated)

        # Z39.50: right truncation 5=1 on a word index
        assert query.evaluate(query.parse("@attr 1=4 @attr 5=1 hobb"), find, {}) == {1}
        assert query.evaluate(query.parse("@attr 1=4 hobb"), find, {}) == set()
        # SRU: YAZ hands on a CQL term such as "hobb*" as it is when no truncation is mapped
        assert query.evaluate(query.parse("@attr 1=4 hobb*"), find, {}) == {1}
        assert query.evaluate(query.parse("@attr 1=1003 @attr 5=1 dvor"), find, {}) == {2}


# ------------------------------------------------------------------------------------------------
# 17. vernacular fields and CJK


def test_880_fields_are_indexed_under_their_linked_field(catalog):
    assert found(catalog, "--any", "浙东") == [4]
    assert found(catalog, "--title", "浙东") == [4]
    assert found(catalog, "--title", "文化研究") == [4]
    assert found(catalog, "--author", "王明") == [4]
    assert found(catalog, "--title", "王明") == []  # an author, not a title
    assert found(catalog, "--title", "浙西") == []


def test_cjk_is_found_by_any_run_of_two_or_more_characters(catalog):
    title = "浙东文化研究"
    for i in range(len(title)):
        for j in range(i + 2, len(title) + 1):
            assert found(catalog, "--title", title[i:j]) == [4], title[i:j]
    assert found(catalog, "--title", "カタカナ") == [5]
    assert found(catalog, "--title", "がなとカ") == [5]
    assert found(catalog, "--title", "かな") == []  # voiced and plain kana are not folded
    assert found(catalog, "--title", "がっこう") == [10]
    assert found(catalog, "--title", "浙*") == [4]


# ------------------------------------------------------------------------------------------------
# 18. ISBN labels and check digits, hyphens, apostrophes, final sigma


def test_isbn_with_its_label_and_hyphens(catalog):
    assert found(catalog, "--isbn", "ISBN 0-12-601720-4") == [6]
    assert found(catalog, "--isbn", "isbn: 978-0-12-601720-5") == [6]
    assert found(catalog, "--isbn", "0126017204") == [6]


def test_a_wrong_check_digit_is_said(catalog):
    proc = run("catalog", "search", "--db", catalog, "--isbn", "0-12-601720-5")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert "invalid" in proc.stderr and "should be 4" in proc.stderr, proc.stderr
    proc = run("catalog", "search", "--db", catalog, "--isbn", "978-0-12-601720-6")
    assert proc.returncode == 1 and "should be 5" in proc.stderr, proc.stderr


def test_a_wrong_isbn_a_record_holds_as_written_is_found(tmp_path, catalog_target):
    db = load(tmp_path, "a.mrc", rec("Misprinted", ("020", "  $a0126017205")), db=catalog_target)
    assert found(db, "--isbn", "0-12-601720-5") == [1]


@pytest.mark.parametrize(
    "query",
    [
        "co-operation",
        "cooperation",
        "Co‐operation",
        "e-mail",
        "email",
        "o'brien",
        "obrien",
        "O’Brien",
    ],
)
def test_hyphen_and_apostrophe_variants_find_alike(catalog, query):
    assert found(catalog, "--title", query) == [7, 8]


def test_the_parts_of_a_hyphenated_word_are_words(catalog):
    assert found(catalog, "--title", "operation") == [7]
    assert found(catalog, "--title", "mail") == [7]
    assert found(catalog, "--title", "co-op*") == [7, 8]


def test_greek_final_sigma(catalog):
    assert found(catalog, "--title", "Οδυσσεύς") == [9]
    assert found(catalog, "--title", "οδυσσευσ") == [9]


# ------------------------------------------------------------------------------------------------
# 19. the duplicate check folds and reads numbers as search does


def test_possible_duplicates_by_a_folded_title_key(tmp_path, catalog_target):
    db = load(
        tmp_path,
        "a.mrc",
        rec("The hobbit /", ("100", "1 $aTolkien, J. R. R."), ind2="4"),
        rec("Łódź", ("100", "1 $aStraße, Anna.")),
        rec("Œuvres complètes"),
        db=catalog_target,
    )
    src = tmp_path / "b.mrc"
    src.write_bytes(
        rec("Hobbit", ("100", "1 $aTOLKIEN, J.R.R."))
        + rec("Lodz", ("100", "1 $aStrasse, Anna"))
        + rec("Oeuvres completes.")
        + rec("Hobbits", ("100", "1 $aTolkien, J. R. R."))
    )
    proc = run("load", src, "--db", db)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "Record received" in line]
    assert len(lines) == 4, proc.stdout
    assert "possible duplicate of 000000001" in lines[0]
    assert "possible duplicate of 000000002" in lines[1]
    assert "possible duplicate of 000000003" in lines[2]
    assert "possible duplicate" not in lines[3]
    # and search finds each pair with either spelling
    assert found(db, "--title", "hobbit", "--author", "tolkien") == [1, 4]
    assert found(db, "--title", "lodz", "--author", "straße") == [2, 5]
    assert found(db, "--title", "œuvres") == [3, 6]


@pytest.mark.parametrize(
    "field", [("035", "  $a(ocolc)777"), ("035", "  $a(OCOLC)ocm0000777"), ("019", "  $a777")]
)
def test_oclc_numbers_in_any_case_and_019_are_duplicates(tmp_path, catalog_target, field):
    db = load(tmp_path, "a.mrc", rec("Live", ("035", "  $a(OCoLC)777")), db=catalog_target)
    src = tmp_path / "b.mrc"
    src.write_bytes(rec("Another title", field))
    proc = run("load", src, "--db", db)
    assert "Traceback" not in proc.stderr
    assert "not loaded: duplicate of 000000001 (OCLC number 777)" in proc.stdout, proc.stdout
    assert list(records(db)) == [1]
    assert found(db, "--oclc", "777") == [1]
    assert found(db, "--oclc", "(ocolc)777") == [1]


def test_a_019_on_the_live_record_catches_its_merged_number(tmp_path, catalog_target):
    db = load(
        tmp_path,
        "a.mrc",
        rec("Live", ("019", "  $a555"), ("035", "  $a(OCoLC)777")),
        db=catalog_target,
    )
    src = tmp_path / "b.mrc"
    src.write_bytes(rec("Old number", ("035", "  $a(OCoLC)555")))
    proc = run("load", src, "--db", db)
    assert "not loaded: duplicate of 000000001 (OCLC number 555)" in proc.stdout, proc.stdout
    assert found(db, "--oclc", "555") == [1]


def test_search_finds_what_matching_finds_after_the_040_rule(tmp_path, catalog_target):
    """A record cataloged in French loses its 035s (the 040 rule), but the duplicate check keeps
    its OCLC number: ``catalog search --oclc`` finds it by that number too."""
    db = load(
        tmp_path,
        "a.mrc",
        rec("Le hobbit", ("035", "  $a(OCoLC)555"), ("040", "  $aXYZ$bfre")),
        db=catalog_target,
    )
    src = tmp_path / "b.mrc"
    src.write_bytes(rec("The hobbit", ("019", "  $a555")))
    proc = run("load", src, "--db", db)
    assert "not loaded: duplicate of 000000001 (OCLC number 555)" in proc.stdout, proc.stdout
    assert found(db, "--oclc", "555") == [1]
    assert found(db, "--any", "555") == [1]


def _record(*fields: Field) -> Record:
    r = Record(leader="00000nam a2200000 a 4500")
    for f in fields:
        r.add_field(f)
    return r


def test_the_importers_keys_are_the_search_index_terms():
    """One implementation: the importer's OCLC numbers are the record's ``oclc`` terms and its
    title key's words are title terms (the core's property test covers random records)."""
    from marc8fast.flows.importer import oclc_numbers, title_key

    r = _record(
        Field("001", data="ocm00000777"),
        Field("003", data="OCoLC"),
        Field("019", "  ", [("a", "12")]),
        Field("035", "  ", [("a", "(ocolc)13")]),
        Field("100", "1 ", [("a", "O'Brien, Flann.")]),
        Field("245", "14", [("a", "The co-operation of Łódź /"), ("c", "x")]),
    )
    terms = search.index_terms(r.to_bytes(encoding="utf8"))
    assert oclc_numbers(r) == ["777", "12", "13"]
    assert {("oclc", n) for n in oclc_numbers(r)} <= terms
    assert title_key(r) == "cooperationoflodz/obrienflann"
    for w in search.words("co-operation of Łódź"):
        assert ("title", w) in terms
    for w in search.words("O'Brien, Flann."):
        assert ("author", w) in terms
    assert flows.normalise_oclc("(ocolc)ocm0077") == "77"


def test_a_version_2_catalog_is_reindexed_by_the_first_writer(tmp_path):
    """Schema 3: the search terms and keys changed; a writer makes them again (search index
    rows, title keys, OCLC numbers added from the stored data)."""
    db = tmp_path / "c.sqlite"
    load(tmp_path, "a.mrc", rec("The hobbit", ("019", "  $a555"), ind2="4"), db=db)
    con = sqlite3.connect(db)
    # What version 2 had stored: the old terms, key and numbers.
    con.execute("UPDATE search_index SET title='the hobbit', oclc=''")
    con.execute("UPDATE records SET title_key='thehobbit/'")
    con.execute("DELETE FROM oclc")
    con.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    con.execute("PRAGMA user_version=0")  # as a version-2 catalog had it
    con.commit()
    con.close()
    proc = run("catalog", "search", "--db", db, "--title", "hobb*")
    assert proc.returncode == 2 and "upgrades it" in proc.stderr, proc.stderr
    load(tmp_path, "b.mrc", rec("Hobbit"), db=db)  # a writer upgrades, then loads
    con = sqlite3.connect(db)
    from marc8fast.catalog import SCHEMA_VERSION

    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    assert con.execute("SELECT title_key FROM records ORDER BY sysno").fetchall() == [
        ("hobbit/",),
        ("hobbit/",),
    ]
    assert con.execute("SELECT number, sysno FROM oclc").fetchall() == [("555", 1)]
    con.close()
    assert found(db, "--title", "hobb*") == [1, 2]
    assert found(db, "--oclc", "555") == [1]


def test_a_version_2_catalog_is_reindexed_by_the_first_writer_pg(tmp_path, pg_target, pg_cluster):
    """The PostgreSQL side of the test above: the catalog's migration 3 (the same reindex) is
    applied by the first writer, never by a reader."""
    db = load(tmp_path, "a.mrc", rec("The hobbit", ("019", "  $a555"), ind2="4"), db=pg_target)
    # What version 2 had stored: the old terms (in version 2's term table, which version 6
    # replaced with search_index), key and numbers.
    pg_cluster.execute(
        db,
        'CREATE TABLE search_terms (term TEXT COLLATE "C" NOT NULL, col SMALLINT NOT NULL, '
        "sysno BIGINT NOT NULL, PRIMARY KEY (term, col, sysno)); "
        "INSERT INTO search_terms SELECT split_part(x, ':', 2), split_part(x, ':', 1)::int, sysno "
        "FROM search_index, unnest(tsvector_to_array(terms)) AS u(x); DROP TABLE search_index; "
        "DELETE FROM search_terms WHERE col IN (0, 5); "
        "INSERT INTO search_terms (term, col, sysno) VALUES ('thehobbit', 0, 1); "
        "UPDATE records SET title_key = 'thehobbit/'; DELETE FROM oclc; "
        "UPDATE marc8fast_schema SET version = 2",
    )
    proc = run("catalog", "search", "--db", db, "--title", "hobb*")
    assert proc.returncode == 2 and "upgrades it" in proc.stderr, proc.stderr
    load(tmp_path, "b.mrc", rec("Hobbit"), db=db)  # a writer upgrades, then loads
    from marc8fast.catalog import SCHEMA_VERSION

    assert pg_cluster.query(db, "SELECT version FROM marc8fast_schema") == [(SCHEMA_VERSION,)]
    with open_catalog(db, readonly=True) as s:
        assert [(r.sysno, r.title_key) for r in s.iter_records()] == [
            (1, "hobbit/"),
            (2, "hobbit/"),
        ]
        assert s.sysnos_by_oclc("555") == {1}
    assert found(db, "--title", "hobb*") == [1, 2]
    assert found(db, "--oclc", "555") == [1]


def test_z3950_and_sru_servers_find_by_prefix_and_cjk(catalog):
    """The real server (``marc8fast serve --z3950 --sru``) and real clients (yaz-client, HTTP)."""
    import re
    import urllib.parse
    import urllib.request

    from z3950_server import serving, yaz_client

    def hits_z3950(pqf: str) -> int:
        out = yaz_client(f"open {server.target}\nfind {pqf}\nquit\n")
        m = re.search(r"Number of hits: (\d+)", out)
        assert m, out
        return int(m.group(1))

    def hits_sru(cql: str) -> int:
        url = (
            f"http://127.0.0.1:{server.ports['sru']}/catalog?version=1.2&operation=searchRetrieve"
            f"&maximumRecords=0&query={urllib.parse.quote(cql)}"
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=30) as resp:
            text = resp.read().decode("utf-8").replace("zs:", "")
        m = re.search(r"<numberOfRecords>(\d+)<", text)
        assert m, text
        return int(m.group(1))

    with serving(catalog, "--sru", "127.0.0.1:0", "--no-auth") as server:
        assert hits_z3950("@attr 1=4 @attr 5=1 hobb") == 1
        assert hits_z3950("@attr 1=1003 @attr 5=1 dvor") == 1
        assert hits_z3950("@attr 1=4 hobb") == 0
        assert hits_sru("dc.title=hobb*") == 1
        assert hits_sru("dc.title=москв*") == 1
        assert hits_sru("dc.title=浙东") == 1
        assert hits_sru("dc.title=co-operation") == 2
