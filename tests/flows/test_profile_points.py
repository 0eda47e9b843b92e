"""Issue 21 (i21-profile): the profile's match points, weights, threshold and actions (new,
overlay, merge, skip, review), on both catalog backends (``catalog_target``).

Acceptance examples: a vendor file overlaying by ISBN (keeping 049, 590, 9XX); a migration that
merges by the old system's 001+003 (incoming fields added, identical fields not doubled,
protected fields kept); several candidates staged for review.
"""

from __future__ import annotations

from test_flows_import import make_record, write_marc8

import marc8fast
from marc8fast import Field, flows
from marc8fast.flows.importer import Importer
from marc8fast.profile import parse

VENDOR = """
[match]
points = [{ key = "isbn", weight = 100 }]
none = "new"
one = "overlay"
several = "review"
"""

MIGRATION = """
[match]
points = [{ key = "sysid", weight = 100 }, { key = "title", weight = 50 }]
threshold = 100
one = "merge"
several = "skip"
"""


def with_isbn(title: str, isbn: str, **kw: object) -> marc8fast.Record:
    rec = make_record(title=title, **kw)  # type: ignore[arg-type]
    rec.remove_fields("020")
    rec.add_ordered_field(Field("020", "  ", [("a", isbn)]))
    return rec


def run(db: str, path, profile_text: str) -> list[flows.Outcome]:
    outs: list[flows.Outcome] = []
    with flows.open_store(db) as store:
        Importer(store, on_outcome=outs.append, profile=parse(profile_text)).load([path])
    return outs


def stored(db: str, sysno: int) -> marc8fast.Record:
    with flows.open_store(db) as store:
        got = store.get(sysno)
        assert got is not None
        return marc8fast.Record.parse(got.data)


def values(rec: marc8fast.Record, tag: str) -> list[str]:
    return [f["a"] for f in rec.get_fields(tag)]


def test_a_vendor_file_overlays_by_isbn_keeping_local_fields(tmp_path, catalog_target):
    db = catalog_target
    ours = with_isbn("Our title", "0-306-40615-2", f049="LOCL", n=0)
    ours.add_ordered_field(Field("590", "  ", [("a", "Signed copy.")]))
    ours.add_ordered_field(Field("950", "  ", [("a", "shelf 12")]))
    other = with_isbn("Another book", "9780262033848", n=1)
    flows.import_records([write_marc8(tmp_path / "a.mrc", [ours, other])], db)
    # The vendor's record: the same ISBN written as ISBN-13, no OCLC number, a better title.
    vendor = with_isbn("Vendor title", "978-0-306-40615-7", f049="VEND", n=0)
    vendor.add_ordered_field(Field("590", "  ", [("a", "Vendor note.")]))
    unknown = with_isbn("Unknown book", "9781449355739", n=2)
    outs = run(db, write_marc8(tmp_path / "v.mrc", [vendor, unknown]), VENDOR)
    assert [o.fate for o in outs] == ["overlaid", "new"]
    assert outs[0].sysno == 1 and outs[0].message.startswith("Record overlaid: 000000001 (isbn ")
    rec = stored(db, 1)
    assert rec["245"]["a"].startswith("Vendor title")
    assert values(rec, "049") == ["LOCL"] and values(rec, "590") == ["Signed copy."]
    assert values(rec, "950") == ["shelf 12"]
    assert stored(db, 2)["245"]["a"].startswith("Another book")
    with flows.open_store(db) as store:
        assert store.count() == 3


def test_several_candidates_are_staged_for_review(tmp_path, catalog_target):
    db = catalog_target
    a = with_isbn("Copy one", "9780262033848", n=0)
    b = with_isbn("Copy two", "9780262033848", n=1)
    flows.import_records([write_marc8(tmp_path / "a.mrc", [a, b])], db)
    incoming = with_isbn("Copy three", "0262033844", n=2)
    outs = run(db, write_marc8(tmp_path / "v.mrc", [incoming]), VENDOR)
    assert [o.fate for o in outs] == ["skipped"]
    assert "staged for review" in outs[0].message
    with flows.open_store(db) as store:
        assert store.count() == 2
        staged = store.staged()
        assert len(staged) == 1 and sorted(staged[0].candidates) == [1, 2]
        assert staged[0].record_index == 1


def test_a_migration_merges_by_the_old_system_number(tmp_path, catalog_target):
    db = catalog_target
    old = make_record(f001="A123", f003="OLDSYS", f049="LOCL", title="Migrated", n=0)
    old.remove_fields("650", "500")
    old.add_ordered_field(Field("500", "  ", [("a", "Old note.")]))
    old.add_ordered_field(Field("650", " 0", [("a", "Jazz.")]))
    old.add_ordered_field(Field("950", "  ", [("a", "local 1")]))
    flows.import_records([write_marc8(tmp_path / "a.mrc", [old])], db)
    new = make_record(f001="A123", f003="OLDSYS", title="Migrated, revised", n=0)
    new.remove_fields("650", "500")
    new.add_ordered_field(Field("650", " 0", [("a", "Jazz.")]))
    new.add_ordered_field(Field("650", " 0", [("a", "Blues.")]))
    new.add_ordered_field(Field("950", "  ", [("a", "incoming local")]))
    outs = run(db, write_marc8(tmp_path / "m.mrc", [new]), MIGRATION)
    assert [o.fate for o in outs] == ["overlaid"], outs[0].message
    assert outs[0].message.startswith("Record merged: 000000001 (sysid ")
    rec = stored(db, 1)
    assert rec["245"]["a"].startswith("Migrated, revised")  # non-repeatable: the incoming one
    assert len(rec.get_fields("245")) == 1
    assert sorted(values(rec, "650")) == ["Blues.", "Jazz."]  # identical not doubled
    assert values(rec, "500") == ["Old note."]  # the stored repeatable field added
    assert values(rec, "950") == ["local 1"] and values(rec, "049") == ["LOCL"]  # protected
    assert any(c.short.startswith("merged 500") for c in outs[0].changes)


def test_below_the_threshold_is_no_match_and_skip_is_not_stored(tmp_path, catalog_target):
    db = catalog_target
    first = make_record(f001="B1", f003="OLDSYS", title="Same title", n=0)
    flows.import_records([write_marc8(tmp_path / "a.mrc", [first])], db)
    # Same title/author key (weight 50), another system number: below the threshold of 100.
    other = make_record(f001="B2", f003="OLDSYS", title="Same title", n=0)
    profile = MIGRATION.replace('one = "merge"', 'one = "merge"\nnone = "skip"')
    outs = run(db, write_marc8(tmp_path / "b.mrc", [other]), profile)
    assert [o.fate for o in outs] == ["skipped"] and outs[0].message == "skipped: no match"
    # Weight the title up to the threshold: now it matches by title alone and merges.
    heavier = profile.replace('key = "title", weight = 50', 'key = "title", weight = 100')
    outs = run(db, write_marc8(tmp_path / "c.mrc", [other]), heavier)
    assert [o.fate for o in outs] == ["overlaid"] and "title " in outs[0].message
    with flows.open_store(db) as store:
        assert store.count() == 1


def test_new_keeps_one_live_record_per_oclc_number(tmp_path, catalog_target):
    db = catalog_target
    first = make_record(f001="ocm00000777", f003="OCoLC", title="First", n=0)
    flows.import_records([write_marc8(tmp_path / "a.mrc", [first])], db)
    again = make_record(f035=["(OCoLC)777"], title="Second", n=1)
    outs = run(db, write_marc8(tmp_path / "b.mrc", [again]), VENDOR)
    assert [o.message for o in outs] == ["not loaded: duplicate of 000000001 (OCLC number 777)"]
