"""Issue 21 (i21-catalog): record versions, reverts, batch status, dry runs and the review staging
table, on both backends (``catalog_target``: an SQLite file and a PostgreSQL database)."""

from __future__ import annotations

import pytest

from marc8fast import Field, Record
from marc8fast.catalog import CatalogError, open_catalog
from marc8fast.catalog.maintenance import copy_catalog, records_checksum
from marc8fast.flows import delete_record, search, undelete_record
from marc8fast.flows.versions import (
    accept_staged,
    field_diff,
    plan_batch_revert,
    reject_staged,
    revert_batch,
    revert_record,
)


def record(title: str, oclc: str | None = None, extra: list[Field] | None = None) -> bytes:
    r = Record(leader="00000nam a2200000 a 4500")
    if oclc is not None:
        r.add_field(Field("035", "  ", [("a", f"(OCoLC){oclc}")]))
    r.add_field(Field("100", "1 ", [("a", "Writer, A.")]))
    r.add_field(Field("245", "10", [("a", title)]))
    for f in extra or []:
        r.add_field(f)
    return r.to_bytes(encoding="utf8")


def test_every_change_keeps_the_previous_version_and_a_revert_restores_it(catalog_target):
    first = record("Original title", "101", [Field("590", "  ", [("a", "Local note")])])
    with open_catalog(catalog_target) as s:
        with s.transaction():
            a = s.insert(first, ["101", "555"], "originaltitle/writer")
        with s.transaction():
            s.replace(a, record("Corrected title", "202"), ["202"], "correctedtitle/writer")
        assert delete_record(s, a) == "deleted"
        assert undelete_record(s, a) == "undeleted"
        versions = s.versions(a)
        assert [(v.version, v.action, v.current) for v in versions] == [
            (1, "overlaid", False),
            (2, "deleted", False),
            (3, "undeleted", False),
            (4, None, True),
        ]
        assert versions[0].data == first and versions[0].oclc_numbers == ["101", "555"]
        assert versions[0].title_key == "originaltitle/writer" and not versions[0].deleted
        assert versions[2].deleted and not versions[3].deleted
        assert search.search(s, title="corrected") == [a]
        what, n = revert_record(s, a, 1)
        assert (what, n) == ("reverted to version 1 (now version 5)", 5)
        got = s.get(a)
        assert got is not None and got.data == first  # byte for byte
        assert got.oclc_numbers == ["101", "555"] and got.title_key == "originaltitle/writer"
        # The keys and the search index follow the restored bytes.
        assert s.find_by_oclc(["555"]) == (a, "555") and s.find_by_oclc(["202"]) is None
        assert (
            search.search(s, title="original") == [a] and search.search(s, title="corrected") == []
        )
        assert s.events(a)[-1].action == "reverted"
        # The revert is a version itself: it can be undone.
        assert revert_record(s, a)[1] == 6
        assert s.get(a).data == s.version(a, 4).data  # type: ignore[union-attr]
        assert revert_record(s, a, 6)[1] is None  # the current one: nothing to do
        assert revert_record(s, a, 99)[0].startswith("no version 99")
        assert revert_record(s, 999)[0] == "no such record"


def test_a_revert_never_gives_a_live_record_another_ones_oclc_number(catalog_target):
    with open_catalog(catalog_target) as s:
        with s.transaction():
            a = s.insert(record("A", "1"), ["1"], None)
        with s.transaction():
            s.replace(a, record("A", "2"), ["2"], None)
            b = s.insert(record("B", "1"), ["1"], None)
        what, n = revert_record(s, a, 1)
        assert n is None and "OCLC number 1" in what and f"{b:09d}" in what
        assert s.get(a).data == record("A", "2")  # type: ignore[union-attr]


def test_field_diff_reads_as_a_cataloger_reads():
    old = record("Old title", "1", [Field("590", "  ", [("a", "Note")])])
    new = record("New title", "1", [Field("650", " 0", [("a", "Jazz.")])])
    assert field_diff(old, new) == [
        "- 245 10 $aOld title",
        "+ 245 10 $aNew title",
        "- 590    $aNote",
        "+ 650  0 $aJazz.",
    ]
    assert field_diff(old, old) == []


def test_a_dry_run_leaves_nothing_and_its_transactions_are_savepoints(catalog_target):
    with open_catalog(catalog_target) as s:
        with s.transaction():
            a = s.insert(record("Kept", "7"), ["7"], None)
        with s.dry_run():
            with s.transaction():
                s.new_batch("dry", status="running")
                b = s.insert(record("Dry", "8"), ["8"], None)
                s.replace(a, record("Changed", "7"), ["7"], None)
            assert s.count() == 2 and s.get(b) is not None
            with pytest.raises(RuntimeError), s.transaction():
                s.insert(record("Undone", "9"), ["9"], None)
                raise RuntimeError("stop")
            assert s.count() == 2  # the savepoint rolled back, the dry run goes on
            with s.transaction(), pytest.raises(CatalogError, match="already open"):
                with s.transaction():
                    pass
        assert s.count() == 1 and s.get(a).data == record("Kept", "7")  # type: ignore[union-attr]
        assert s.versions(a)[-1].version == 1 and s.batches() == []
        with s.transaction():  # an ordinary transaction after it
            s.insert(record("After"), [], None)
        assert s.count() == 2


def test_batches_record_user_status_and_end(catalog_target):
    with open_catalog(catalog_target) as s:
        with s.transaction():
            b = s.new_batch("load x", status="running")
            r = s.new_batch("receiver session")
        got = s.batch(b)
        assert got is not None and got.status == "running" and got.finished_at is None
        assert got.user and got.pid and got.host
        assert s.batch(r).status is None  # type: ignore[union-attr]
        with s.transaction():
            s.finish_batch(b, "completed")
        got = s.batch(b)
        assert got is not None and got.status == "completed" and got.finished_at is not None


def test_revert_batch_and_its_conflicts(catalog_target):
    with open_catalog(catalog_target) as s:
        with s.transaction():
            s.new_batch("before", status="running")
            old = [
                s.insert(record(f"Old {i}", str(100 + i)), [str(100 + i)], None) for i in range(3)
            ]
        before = {r.sysno: r.data for r in s.iter_records()}
        with s.transaction():
            batch = s.new_batch("the batch", status="running")
            new = s.insert(record("New", "900"), ["900"], None)
            s.replace(old[0], record("Old 0 corrected", "100"), ["100"], None)
            s.replace(old[0], record("Old 0 twice", "100"), ["100"], None)
            s.replace(old[1], record("Old 1 corrected", "101"), ["101"], None)
            s.finish_batch(batch, "completed")
        # A later batch changes a record of the batch: refused, naming it.
        with s.transaction():
            later = s.new_batch("later", status="running")
            s.replace(old[1], record("Old 1 by a later batch", "101"), ["101"], None)
        plan = plan_batch_revert(s, batch)
        assert len(plan.conflicts) == 1 and f"{old[1]:09d}" in plan.conflicts[0]
        assert f"batch {later}" in plan.conflicts[0] and "revert_conflict" in plan.conflicts[0]
        assert revert_batch(s, batch).conflicts and s.get(new) is not None
        assert not s.get(new).deleted  # type: ignore[union-attr]
        # Once the later change is undone, nothing would conflict.
        assert revert_record(s, old[1])[1] is not None
        plan = revert_batch(s, batch)
        assert plan.conflicts == [] and plan.delete == [new]
        assert sorted(plan.revert) == [(old[0], 1), (old[1], 1)]
        assert {r.sysno: r.data for r in s.iter_records() if not r.deleted} == before
        assert s.get(new).deleted and s.count(include_deleted=False) == 3  # type: ignore[union-attr]
        assert s.batch(batch).status == "reverted"  # type: ignore[union-attr]


def test_review_staging_accept_and_reject(catalog_target):
    with open_catalog(catalog_target) as s:
        with s.transaction():
            s.new_batch("load", status="running")
            target = s.insert(
                record("Stored", "55", [Field("949", "  ", [("a", "local copy")])]), ["55"], None
            )
            one = s.stage_review(
                record("Stored, corrected", "55"),
                [target],
                "one match",
                input_name="in.mrc",
                record_index=4,
            )
            two = s.stage_review(
                record("Other", "66"), [], "low score", input_name="in.mrc", record_index=5
            )
            three = s.stage_review(
                record("Third", "77"), [target, 999], "two", input_name="in.mrc", record_index=6
            )
        assert [st.id for st in s.staged()] == [one, two, three]
        st = s.staged_one(one)
        assert st is not None and st.candidates == [target] and st.record_index == 4
        assert st.input_name == "in.mrc" and st.status == "pending"
        done, msg = accept_staged(s, three)
        assert not done and "--as new or --overlay" in msg
        done, msg = accept_staged(s, one)
        assert done and msg == f"accepted: overlaid {target:09d}"
        got = Record.parse(s.get(target).data)  # type: ignore[union-attr]
        assert got["245"]["a"] == "Stored, corrected" and got["949"]["a"] == "local copy"
        assert s.versions(target)[0].data == record(
            "Stored", "55", [Field("949", "  ", [("a", "local copy")])]
        )
        assert s.events(target)[-1].source.startswith(f"review {one} (in.mrc record 4)")
        assert accept_staged(s, one) == (False, f"staged record {one} is accepted already")
        done, msg = accept_staged(s, two, as_new=True)
        assert done and s.find_by_oclc(["66"]) is not None
        assert reject_staged(s, three)[0] and s.staged() == []
        assert [x.status for x in s.staged(None)] == ["accepted", "accepted", "rejected"]


def test_review_accept_keeps_the_profiles_protected_fields(catalog_target):
    """An accepted overlay is the one a load with the profile makes of a one-candidate match:
    the built-in profile keeps the stored 049, 590 and 9XX over the incoming ones; a profile
    protecting 500 keeps the stored 500; one whose action on one match is merge adds the stored
    record's other repeatable fields."""
    from marc8fast.profile import parse

    stored_extra = [
        Field("049", "  ", [("a", "LOCL")]),
        Field("500", "  ", [("a", "Stored note")]),
        Field("590", "  ", [("a", "Stored local note")]),
        Field("650", " 0", [("a", "Stored subject.")]),
        Field("949", "  ", [("a", "copy 1")]),
    ]
    incoming_extra = [
        Field("049", "  ", [("a", "OCLC")]),
        Field("500", "  ", [("a", "Incoming note")]),
        Field("590", "  ", [("a", "Incoming local note")]),
    ]
    profiles = {
        "default": None,
        "protect-500": parse('[overlay]\nprotected = ["500"]\n'),
        "merge": parse('[match]\npoints = [{ key = "oclc", weight = 100 }]\none = "merge"\n'),
    }
    got = {}
    with open_catalog(catalog_target) as s:
        for name, prof in profiles.items():
            with s.transaction():
                s.new_batch("load", status="running")
                n = str(700 + len(got))
                target = s.insert(record("Stored", n, stored_extra), [n], None)
                staged = s.stage_review(
                    record("Stored, corrected", n, incoming_extra),
                    [target],
                    "one match",
                    input_name="in.mrc",
                    record_index=1,
                )
            done, msg = accept_staged(s, staged, profile=prof)
            assert done, msg
            r = Record.parse(s.get(target).data)  # type: ignore[union-attr]
            assert r["245"]["a"] == "Stored, corrected"
            got[name] = {
                t: [f["a"] for f in r.get_fields(t)] for t in ("049", "500", "590", "650", "949")
            }
    assert got["default"] == {
        "049": ["LOCL"], "500": ["Incoming note"], "590": ["Stored local note"], "650": [],
        "949": ["copy 1"],
    }  # fmt: skip
    assert got["protect-500"] == {
        "049": ["OCLC"], "500": ["Stored note"], "590": ["Incoming local note"], "650": [],
        "949": [],
    }  # fmt: skip
    assert got["merge"] == {
        "049": ["LOCL"], "500": ["Incoming note", "Stored note"], "590": ["Stored local note"],
        "650": ["Stored subject."], "949": ["copy 1"],
    }  # fmt: skip


def test_copy_takes_versions_batches_and_staged_records_along(catalog_target, tmp_path):
    with open_catalog(catalog_target) as s:
        with s.transaction():
            s.new_batch("b", status="running")
            a = s.insert(record("A", "1"), ["1"], None)
            s.replace(a, record("A2", "1"), ["1"], None)
            s.stage_review(record("S"), [a], "r", input_name="x", record_index=1)
        with open_catalog(str(tmp_path / "copy.sqlite")) as t:
            result = copy_catalog(s, t)
            assert result.same and records_checksum(t) == records_checksum(s)
            assert t.versions(a) == s.versions(a) and t.staged() == s.staged()
            assert t.batches() == s.batches()


def test_a_load_that_fails_is_a_failed_batch(catalog_target, tmp_path):
    from marc8fast.flows.importer import Importer

    good = tmp_path / "good.mrc"
    good.write_bytes(record("Loaded", "1"))
    with open_catalog(catalog_target) as s:
        Importer(s).load([str(good)])
        with pytest.raises(FileNotFoundError):
            Importer(s).load([str(good), str(tmp_path / "missing.mrc")])
        first, second = s.batches()
        assert first.status == "completed" and first.finished_at is not None
        assert second.status == "failed" and second.finished_at is not None
