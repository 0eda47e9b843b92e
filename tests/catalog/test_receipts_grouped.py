"""The receiver's writer asks a group's questions once each (issue 22): the receipts of several
(login, digest) pairs, the load-log counts of several record digests, and the group's receipts
stored with one call. Each answers as the one-at-a-time statement does, on both backends."""

from __future__ import annotations

from marc8fast.catalog import LogRow, Receipt, now, open_catalog


def test_grouped_receipts_and_counts_answer_as_one_at_a_time(catalog_target):
    with open_catalog(catalog_target) as s:
        with s.transaction():
            batch = s.new_batch("connexion")
            for digest, times in (("h1", 3), ("h2", 1), ("h3", 0)):
                for i in range(1, times + 1):
                    s.log(LogRow(batch, "connexion u", digest, i, "duplicate", None, "", now()))
            s.put_receipts(
                [
                    Receipt("unit1", "h1", "2026-01-01T00:00:00.000000Z", "new", 1, "ok1"),
                    Receipt("unit2", "h1", "2026-01-01T00:00:01.000000Z", "duplicate", None, "n"),
                    Receipt("unit1", "h2", "2026-01-01T00:00:02.000000Z", "new", 2, "ok2"),
                    # the later of two with one login and digest stays, as with put_receipt
                    Receipt("unit1", "h2", "2026-01-01T00:00:03.000000Z", "overlaid", 2, "ok3"),
                ]
            )
        keys = [("unit1", "h1"), ("unit2", "h1"), ("unit1", "h2"), ("unit2", "h2"), ("x", "h9")]
        grouped = s.receipts([*keys, ("unit1", "h1")])  # a key asked twice: once in the answer
        assert grouped == {k: r for k in keys if (r := s.receipt(*k)) is not None}
        assert set(grouped) == {("unit1", "h1"), ("unit2", "h1"), ("unit1", "h2")}
        assert grouped[("unit1", "h2")].message == "ok3"
        assert grouped[("unit2", "h1")].sysno is None
        assert s.receipts([]) == {}

        hashes = ["h1", "h2", "h3", "h9", "h1"]
        counts = s.log_counts(hashes)
        assert counts == {h: s.log_count(h) for h in hashes}
        assert counts == {"h1": 3, "h2": 1, "h3": 0, "h9": 0}
        assert s.log_counts([]) == {}
        # rows written in the open transaction are counted, as log_count counts them
        with s.transaction():
            s.log(LogRow(batch, "connexion u", "h3", 1, "new", None, "", now()))
            assert s.log_counts(["h3"]) == {"h3": 1} == {"h3": s.log_count("h3")}


def test_grouped_questions_over_many_keys(catalog_target):
    """More keys than one statement's parameters may hold on SQLite: asked in parts."""
    with open_catalog(catalog_target) as s:
        with s.transaction():
            batch = s.new_batch("connexion")
            s.put_receipts(
                Receipt(f"u{i % 7}", f"d{i}", "2026-01-01T00:00:00.000000Z", "new", i, f"m{i}")
                for i in range(0, 1200, 3)
            )
            for i in range(0, 1200, 5):
                s.log(LogRow(batch, "connexion u", f"d{i}", 1, "rejected", None, "", now()))
        keys = [(f"u{i % 7}", f"d{i}") for i in range(1200)]
        got = s.receipts(keys)
        assert sorted(r.sysno or 0 for r in got.values()) == list(range(0, 1200, 3))
        assert all(got[k].message == f"m{k[1][1:]}" for k in got)
        counts = s.log_counts(f"d{i}" for i in range(1200))
        assert counts == {f"d{i}": int(i % 5 == 0) for i in range(1200)}
