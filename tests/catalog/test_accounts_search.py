"""The catalog's accounts (for the network services) and search index (for ``catalog search``,
Z39.50 and SRU), and the upgrade of a version-1 catalog to version 2."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from catalogs import contents, is_pg

from marc8fast import Field, Record, flows
from marc8fast.flows import accounts, search
from marc8fast.flows.store import SchemaError

TESTS = Path(__file__).parent.parent
DATA = TESTS / "data"


def rec(
    title: str,
    author: str | None = None,
    *,
    f001: str | None = None,
    f003: str | None = None,
    extra: list[Field] = (),  # type: ignore[assignment]
) -> Record:
    r = Record(leader="00000nam a2200000 a 4500")
    if f001 is not None:
        r.add_field(Field("001", data=f001))
    if f003 is not None:
        r.add_field(Field("003", data=f003))
    if author is not None:
        r.add_field(Field("100", "1 ", [("a", author)]))
    r.add_field(Field("245", "10", [("a", title)]))
    for f in extra:
        r.add_field(f)
    return r


def store_records(db: Path, records: list[Record]) -> list[int]:
    with flows.open_store(db) as s:
        s.begin()
        out = [s.insert(r.to_bytes(encoding="utf8"), [], None) for r in records]
        s.commit()
    return out


# -- accounts ------------------------------------------------------------------------------------


def test_accounts_store_only_a_salted_slow_hash(catalog_target):
    db = catalog_target
    with flows.open_store(db) as s:
        assert not accounts.has_accounts(s)
        accounts.add_user(s, "cat-unit", "s3cret pass")
        accounts.add_user(s, "acq", "s3cret pass")
        assert accounts.has_accounts(s)
        assert [a.name for a in accounts.list_users(s)] == ["acq", "cat-unit"]
        rows = [s.account_hash(name) for name in ("acq", "cat-unit")]
    # on either backend, no row of any table holds the password; an SQLite file not either
    assert "s3cret" not in repr(contents(db))
    if not is_pg(db):
        blob = Path(db).read_bytes() + (
            Path(db + "-wal").read_bytes() if Path(db + "-wal").exists() else b""
        )
        assert b"s3cret" not in blob
    (h1, _), (h2, _) = rows  # type: ignore[misc]
    assert h1.startswith("scrypt$32768$8$1$") and h2.startswith("scrypt$")
    assert h1 != h2  # the same password, different salts


def test_verify(catalog_target):
    with flows.open_store(catalog_target) as s:
        accounts.add_user(s, "unit1", "right")
        assert accounts.verify(s, "unit1", "right")
        assert not accounts.verify(s, "unit1", "wrong")
        assert not accounts.verify(s, "unit1", "")
        assert not accounts.verify(s, "nobody", "right")
        accounts.set_password(s, "unit1", "new one")
        assert not accounts.verify(s, "unit1", "right")
        assert accounts.verify(s, "unit1", "new one")
        accounts.disable_user(s, "unit1")
        assert not accounts.verify(s, "unit1", "new one")
        assert not accounts.has_accounts(s)
        assert [a.name for a in accounts.list_users(s)] == ["unit1"]
        assert accounts.list_users(s)[0].disabled
        accounts.enable_user(s, "unit1")
        assert accounts.verify(s, "unit1", "new one")


def test_unknown_name_costs_as_much_as_a_wrong_password(catalog_target):
    """No timing oracle for which names exist: both paths run one scrypt (a ratio, not a
    threshold: an unknown name must not be answered 10× faster)."""
    with flows.open_store(catalog_target) as s:
        accounts.add_user(s, "unit1", "right")
        t0 = time.perf_counter()
        accounts.verify(s, "unit1", "wrong")
        known = time.perf_counter() - t0
        t0 = time.perf_counter()
        accounts.verify(s, "nobody", "wrong")
        unknown = time.perf_counter() - t0
    assert unknown > known / 10


@pytest.mark.parametrize("name", ["", "a/b", "with space", "x" * 65, "ünit", "-lead", "a\x00"])
def test_bad_names_refused(catalog_target, name):
    with flows.open_store(catalog_target) as s, pytest.raises(accounts.AccountError):
        accounts.add_user(s, name, "pw")


def test_bad_passwords_and_duplicates_refused(catalog_target):
    with flows.open_store(catalog_target) as s:
        with pytest.raises(accounts.AccountError):
            accounts.add_user(s, "u", "")
        with pytest.raises(accounts.AccountError):
            accounts.add_user(s, "u", "a\nb")
        accounts.add_user(s, "u", "pw")
        with pytest.raises(accounts.AccountError):
            accounts.add_user(s, "U", "pw")  # names differ in case only: refused
        with pytest.raises(accounts.AccountError):
            accounts.set_password(s, "nobody", "pw")
        with pytest.raises(accounts.AccountError):
            accounts.disable_user(s, "nobody")


def test_check_password_rejects_a_damaged_hash():
    good = accounts.hash_password("pw", n=2**10)
    assert accounts.check_password("pw", good)
    assert not accounts.check_password("pw", good.replace("scrypt", "md5"))
    assert not accounts.check_password("pw", "scrypt$x$8$1$AAAA$AAAA")
    assert not accounts.check_password("pw", "garbage")


# -- search --------------------------------------------------------------------------------------


def test_fold_and_words():
    assert search.words("Ça ira! Les Misérables, vol. 2") == [
        "ca",
        "ira",
        "les",
        "miserables",
        "vol",
        "2",
    ]
    assert search.words("Łódź / Øresund Æsir") == ["lodz", "oresund", "aesir"]
    assert search.fold("STRASSE") == search.fold("Straße") == "strasse"


def test_isbn_forms():
    assert search.numbers("isbn", "0-19-852663-6 (pbk.)") == ["0198526636", "9780198526636"]
    assert search.numbers("isbn", "9780198526636") == ["9780198526636", "0198526636"]
    assert search.numbers("isbn", "979-10-90636-07-1") == ["9791090636071"]
    assert search.numbers("isbn", "pbk.") == []
    assert search.numbers("issn", "0317-8471") == ["03178471"]
    assert search.numbers("issn", "1234-567X (print)") == ["1234567X"]
    assert search.numbers("oclc", "(ocolc)ocm0042") == ["42"]
    with pytest.raises(ValueError):
        search.numbers("title", "x")


def test_search_indexes(catalog_target):
    db = catalog_target
    a, b, c, d = store_records(
        db,
        [
            rec(
                "Les misérables /",
                "Hugo, Victor,",
                f001="ocm00012345",
                extra=[
                    Field("020", "  ", [("a", "0-19-852663-6 (pbk.)")]),
                    Field("019", "  ", [("a", "999"), ("a", "ocm777")]),
                    Field("650", " 0", [("a", "Paris (France)"), ("x", "History")]),
                ],
            ),
            rec(
                "The misery index",
                "Hugh, Victoria",
                extra=[
                    Field("035", "  ", [("a", "(ocolc)000555")]),
                    Field("022", "  ", [("a", "0317-8471")]),
                ],
            ),
            rec("Misérables again", None, f001="42", f003="OCoLC"),
            rec("Untitled", "Anonymous", f001="12345"),  # not an OCLC 001 (no 003, no prefix)
        ],
    )
    with flows.open_store(db, readonly=True) as s:
        assert search.find(s, "title", "MISERABLES") == {a, c}
        assert search.find(s, "title", "les miserables") == {a}
        assert search.find(s, "title", "miser", truncated=True) == {a, b, c}
        assert search.find(s, "title", "miser") == set()
        assert search.find(s, "author", "victor hugo") == {a}
        assert search.find(s, "author", "vict", truncated=True) == {a, b}
        assert search.find(s, "subject", "paris") == {a}
        assert search.find(s, "isbn", "9780198526636") == {a}
        assert search.find(s, "isbn", "0198526636") == {a}
        assert search.find(s, "issn", "03178471") == {b}
        assert search.find(s, "issn", "0317-8471") == {b}
        assert search.find(s, "oclc", "12345") == {a}
        assert search.find(s, "oclc", "(OCoLC)12345") == {a}
        assert search.find(s, "oclc", "777") == {a}  # 019
        assert search.find(s, "oclc", "999") == {a}
        assert search.find(s, "oclc", "555") == {b}  # (ocolc) in lower case
        assert search.find(s, "oclc", "42") == {c}  # 001 with 003 OCoLC
        assert search.find(s, "sysno", str(d)) == {d}
        assert search.find(s, "sysno", f"{d:09d}") == {d}
        assert search.find(s, "sysno", "0") == set()
        assert search.find(s, "sysno", "x") == set()
        assert search.find(s, "any", "hugo") == {a}
        assert search.find(s, "any", "history") == {a}
        assert search.find(s, "any", "555") == {b}
        assert search.search(s, title="miserables", author="hugo") == [a]
        assert search.search(s, title="miser", truncated=True) == sorted([a, b, c])
        # FTS5 operators and punctuation are only words here
        for q in ("AND", "or not", 'NEAR(" x', "*", "(", "title:x", "-"):
            assert search.find(s, "title", q) == set()
            assert search.find(s, "isbn", q) == set()
            assert search.find(s, "any", q, truncated=True) == set()
        with pytest.raises(ValueError):
            search.find(s, "color", "red")
        with pytest.raises(ValueError):
            search.search(s)


def test_deleted_records_are_not_found_and_overlays_reindex(catalog_target):
    db = catalog_target
    a, b = store_records(db, [rec("First title", "Smith"), rec("Second title", "Jones")])
    with flows.open_store(db) as s:
        assert flows.delete_record(s, a) == "deleted"
        s.begin()
        s.replace(b, rec("Replaced heading", "Jones").to_bytes(encoding="utf8"), [], None)
        s.commit()
        assert search.find(s, "title", "title") == set()
        assert search.find(s, "title", "replaced") == {b}
        assert search.find(s, "title", "second") == set()


def test_loaded_records_are_indexed(catalog_target):
    db = catalog_target
    flows.import_records([DATA / "realworld" / "hebrew.marc"], db)
    with flows.open_store(db, readonly=True) as s:
        recs = [(r.sysno, Record.parse(r.data)) for r in s.iter_records()]
        # an independent count: records whose 245 $a contains the first word of the first title
        word = search.words(recs[0][1]["245"]["a"])[0]
        expect = {
            n
            for n, r in recs
            if any(word in search.words(v) for v in r["245"].get_subfields("a", "b", "n", "p"))
            or any(
                word in search.words(v)
                for f in r.get_fields("246", "130", "240", "740")
                for v in f.get_subfields("a", "b")
            )
        }
        assert search.find(s, "title", word) == expect


def test_version_1_catalog_is_upgraded_by_a_writer(tmp_path):
    """SQLite only: a version-1 catalog (no accounts, receipts, search index or history; the
    version in ``meta``) only ever existed as an SQLite file. The PostgreSQL migrations are
    tested from version 2 (test_search_catalogers.py) and from nothing (every PG test)."""
    db = tmp_path / "c.sqlite"
    (a,) = store_records(db, [rec("Old catalog", "Writer")])
    con = sqlite3.connect(db)
    for t in ("accounts", "receipts", "search_index", "events"):
        con.execute(f"DROP TABLE {t}")
    con.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    con.execute("PRAGMA user_version=0")  # as a version-1 catalog had it
    con.commit()
    con.close()
    with pytest.raises(SchemaError, match="upgrades it"):
        flows.open_store(db, readonly=True)
    with flows.open_store(db, create=False) as s:
        assert s.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            str(flows.store.SCHEMA_VERSION),
        )
        assert search.find(s, "title", "old catalog") == {a}
        assert not accounts.has_accounts(s)
    with flows.open_store(db, readonly=True) as s:
        assert search.find(s, "author", "writer") == {a}
