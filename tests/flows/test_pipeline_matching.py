"""Issue 21 (i21-pipe): the import pipeline in the core, in batches, and duplicate detection
without an OCLC number, on real SQLite catalogs.

Acceptance points covered here, under the default rules: the same records loaded twice (in
another order, with and without OCLC numbers) store nothing the second time; an export of the
catalog loaded back stores nothing new; ``035 (ocolc)N`` or ``019 N`` matches a live
``(OCoLC)N``; ``$bENG`` is English. And: what the core prepares for a record is what the Python
rules make of it (the stored bytes, the changes, the keys), record for record, on the corpus.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from test_flows_import import CORPUS, base_record, make_record, write_marc8

import marc8fast
from marc8fast import Field, flows
from marc8fast._native import ImportReader, pipeline_stored_keys, search_match_keys
from marc8fast.flows.rules import change_by_040_rule

DATA = Path(__file__).parent.parent / "data"


def count(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        con.close()


def reordered(src: Path, dst: Path) -> Path:
    """The records of ``src`` in reverse order (another file: other input keys)."""
    raws = [raw for _n, _o, raw in marc8fast.read_records(src.read_bytes())]
    dst.write_bytes(b"".join(reversed(raws)))
    return dst


def test_the_same_records_in_another_order_store_nothing_the_second_time(tmp_path):
    db = tmp_path / "c.sqlite"
    src = DATA / "realworld" / "jazz_1k.mrc"  # records with and without OCLC numbers
    first = flows.import_records([src], db)
    stored = count(db)
    assert stored == first.fates["new"] + first.fates["possible_duplicate"] > 900
    outs: list[flows.Outcome] = []
    again = flows.import_records([reordered(src, tmp_path / "r.mrc")], db, on_outcome=outs.append)
    assert count(db) == stored
    assert again.fates["duplicate"] == again.records == first.records
    by_digest = [o for o in outs if o.message.endswith("(same content)")]
    by_oclc = [o for o in outs if "(OCLC number " in o.message]
    assert by_digest and by_oclc, (len(by_digest), len(by_oclc))
    assert len(by_digest) + len(by_oclc) == len(outs)


def test_records_without_an_oclc_number_are_matched_by_their_content(tmp_path):
    db = tmp_path / "c.sqlite"
    recs = [make_record(title=f"Untold story {k}", n=k % 3) for k in range(4)]
    flows.import_records([write_marc8(tmp_path / "a.mrc", recs)], db)
    assert count(db) == 4
    outs: list[flows.Outcome] = []
    # The same content in another encoding (UTF-8), another order, with another 005.
    again = []
    for r in reversed(recs):
        r = r.copy()
        r.remove_fields("005")
        r.add_ordered_field(Field("005", data="20261206120000.0"))
        again.append(r.to_bytes(encoding="utf8"))
    (tmp_path / "b.mrc").write_bytes(b"".join(again))
    flows.import_records([tmp_path / "b.mrc"], db, on_outcome=outs.append)
    assert count(db) == 4
    assert [o.fate for o in outs] == ["duplicate"] * 4
    assert outs[0].message == "not loaded: duplicate of 000000004 (same content)"
    # A changed record is not the same content: loaded (flagged by its title key).
    changed = recs[0].copy()
    changed.add_ordered_field(Field("500", "  ", [("a", "A note.")]))
    outs.clear()
    flows.import_records([write_marc8(tmp_path / "c.mrc", [changed])], db, on_outcome=outs.append)
    assert [o.fate for o in outs] == ["possible_duplicate"]
    assert count(db) == 5


def test_an_export_loaded_back_stores_nothing_new(tmp_path):
    db = tmp_path / "c.sqlite"
    srcs = [DATA / "realworld" / "jazz_1k.mrc", DATA / "realworld" / "lul_fre_500.mrc"]
    flows.import_records(srcs, db)
    stored = count(db)
    out = tmp_path / "export.mrc"
    summary = flows.export_records(None, db, out)
    assert summary.records == stored
    outs: list[flows.Outcome] = []
    flows.import_records([out], db, on_outcome=outs.append)
    assert count(db) == stored, [o.message for o in outs if o.fate != "duplicate"][:5]
    assert {o.fate for o in outs} == {"duplicate"}


def test_035_in_any_case_and_019_match_a_live_oclc_number(tmp_path):
    db = tmp_path / "c.sqlite"
    flows.import_records(
        [write_marc8(tmp_path / "a.mrc", [make_record(f035=["(OCoLC)555"], title="First")])], db
    )
    lower = make_record(f035=["(ocolc)ocm00000555"], title="Second")
    former = make_record(title="Third")
    former.add_ordered_field(Field("019", "  ", [("a", "555")]))
    outs: list[flows.Outcome] = []
    flows.import_records(
        [write_marc8(tmp_path / "b.mrc", [lower, former])], db, on_outcome=outs.append
    )
    assert [o.message for o in outs] == [
        "not loaded: duplicate of 000000001 (OCLC number 555)",
        "not loaded: duplicate of 000000001 (OCLC number 555)",
    ]
    assert count(db) == 1


def test_eng_in_any_case_is_english(tmp_path):
    db = tmp_path / "c.sqlite"
    recs = [
        make_record(f001="ocm1", f003="OCoLC", f035=["(Sirsi)1"], f040b=b, title=f"T{b}", n=k)
        for k, b in enumerate(["ENG", " Eng ", "fre"])
    ]
    outs: list[flows.Outcome] = []
    flows.import_records([write_marc8(tmp_path / "a.mrc", recs[:1])], db, on_outcome=outs.append)
    recs[1].remove_fields("001", "003")
    recs[2].remove_fields("001", "003")
    flows.import_records([write_marc8(tmp_path / "b.mrc", recs[1:])], db, on_outcome=outs.append)
    with flows.open_store(db) as s:
        kept = [marc8fast.Record.parse(s.get(o.sysno).data) for o in outs]  # type: ignore[union-attr]
    assert [o.changes for o in outs[:2]] == [[], []]
    assert all("035" in r and "040" in r for r in kept[:2])
    assert outs[2].changes and "040 $b fre" in outs[2].changes[0].short
    assert "035" not in kept[2] and kept[2].leader[17] == "5"


def test_the_core_prepares_what_the_python_rules_make(tmp_path):
    """Record for record on the corpus: the core's stored bytes, changes and keys are those of
    the Python rules (the slow path) and of the search index's match keys."""
    checked = 0
    for src in CORPUS:
        data = src.read_bytes()
        with ImportReader(data) as reader:
            while (batch := reader.next_batch()) is not None:
                status = batch.status
                for i in range(len(batch)):
                    if status[i] != 0:
                        continue
                    at = batch.offsets[i]
                    raw = data[at : at + int(data[at : at + 5])]  # a clean record: its length
                    rec = next(iter(marc8fast.MARCReader(raw, trust="data", expand_ncr=True)))
                    numbers, key = search_match_keys(rec)
                    change = change_by_040_rule(rec)
                    assert batch.oclc[i] == numbers and batch.title_keys[i] == key
                    got = batch.changes.get(i, [])
                    assert got == ([(change.short, change.full)] if change else []), src
                    want = rec.to_bytes(encoding="utf8")
                    assert batch.data[i] == want, (src, i)
                    assert batch.keys[i] == pipeline_stored_keys(want), (src, i)
                    assert batch.terms[i] == flows.search.index_row(want)
                    checked += 1
    assert checked > 3000


def test_a_group_with_a_target_in_the_middle_matches_in_input_order(tmp_path):
    """A record the core leaves to the Python rules (a target) between records of the fast
    path: the group's answers are asked again after it, and each record is matched as if the
    ones before it were stored one by one."""
    db = tmp_path / "c.sqlite"
    flows.import_records([write_marc8(tmp_path / "a.mrc", [make_record(title="Base")])], db)
    recs = [
        make_record(f035=["(OCoLC)700"], title="One", n=1),
        make_record(f035=["(LOCAL)000000001", "(OCoLC)701"], title="Base again"),
        make_record(f035=["(OCoLC)701"], title="Two", n=2),  # now carried by 000000001
        make_record(f035=["(OCoLC)700"], title="Three", n=1),  # duplicate of the new record
    ]
    outs: list[flows.Outcome] = []
    flows.import_records([write_marc8(tmp_path / "b.mrc", recs)], db, on_outcome=outs.append)
    assert [o.message for o in outs] == [
        "Record received: 000000002",
        "Record overlaid: 000000001",
        "not loaded: duplicate of 000000001 (OCLC number 701)",
        "not loaded: duplicate of 000000002 (OCLC number 700)",
    ]
    assert base_record(0) is not None


def test_a_profile_overlaying_by_oclc_number_keeps_049_590_and_9xx(tmp_path):
    from marc8fast.catalog import open_catalog
    from marc8fast.flows.importer import Importer
    from marc8fast.profile import parse

    db = tmp_path / "c.sqlite"
    stored = make_record(f001="ocm00000321", f003="OCoLC", f049="LOCL", title="Old title")
    stored.add_ordered_field(Field("590", "  ", [("a", "Our copy is signed.")]))
    stored.add_ordered_field(Field("950", "  ", [("a", "shelf 12")]))
    stored.add_ordered_field(Field("H01", "  ", [("a", "local")]))
    flows.import_records([write_marc8(tmp_path / "a.mrc", [stored])], db)
    corrected = make_record(f035=["(OCoLC)321"], f049="OCLC", title="Corrected title")
    corrected.add_ordered_field(Field("590", "  ", [("a", "OCLC's note.")]))
    profile = parse('[match]\noclc = "overlay"\n')
    outs: list[flows.Outcome] = []
    with open_catalog(str(db)) as store:
        Importer(store, on_outcome=outs.append, profile=profile).load(
            [write_marc8(tmp_path / "b.mrc", [corrected])]
        )
        rec = marc8fast.Record.parse(store.get(1).data)  # type: ignore[union-attr]
        assert store.count() == 1
    assert [o.message for o in outs] == ["Record overlaid: 000000001 (OCLC number 321)"]
    assert outs[0].changes[0].short.startswith("kept 049, 590, 950, ")
    assert rec["245"]["a"].startswith("Corrected title")

    def values(tag: str) -> list[str]:
        return [f["a"] for f in rec.get_fields(tag)]

    assert values("049") == ["LOCL"]
    assert values("590") == ["Our copy is signed."]  # the incoming 590 is dropped
    assert "shelf 12" in values("950") and values("H01") == ["local"]
    # under the default profile the same record is a duplicate, not an overlay
    outs.clear()
    again = make_record(f035=["(OCoLC)321"], title="Corrected again")
    flows.import_records([write_marc8(tmp_path / "c.mrc", [again])], db, on_outcome=outs.append)
    assert [o.message for o in outs] == ["not loaded: duplicate of 000000001 (OCLC number 321)"]
