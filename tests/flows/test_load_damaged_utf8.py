"""Issue 11 item 3: a UTF-8 record (leader/09 ``a``) with one invalid UTF-8 sequence is loaded as
UTF-8 — the bad bytes replaced by U+FFFD and reported with their place — not read as MARC-8 by
the mislabel detector (``load`` trusts the data)."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from test_flows_import import catalog, make_record, run_cli

import marc8fast


def _damaged(tmp_path: Path) -> Path:
    rec = make_record(f001="dmg1", title="Café ok and BA@@TF")
    raw = rec.to_bytes(encoding="utf8")
    assert raw[9:10] == b"a" and raw.count(b"@@") == 1
    src = tmp_path / "damaged.mrc"
    src.write_bytes(raw.replace(b"@@", b"\xe0\xa4"))  # same length: the directory still holds
    return src


def test_one_bad_sequence_is_replaced_and_reported_not_read_as_marc8(tmp_path: Path) -> None:
    src = _damaged(tmp_path)
    db = tmp_path / "c.sqlite"
    report = tmp_path / "r.jsonl"
    proc = run_cli("load", src, "--db", db, "--report", report, check=1)
    rows = [json.loads(x) for x in report.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["fate"] in ("new", "possible_duplicate"), rows
    problems = rows[0]["problems"]
    assert [p["kind"] for p in problems] == ["invalid_utf8"], problems
    p = problems[0]
    assert (p["tag"], p["subfield"], p["action"]) == ("245", "a", "replaced")
    assert p["offset"] == len("Café ok and BA".encode())
    assert "1 record(s) with conversion problems" in proc.stderr
    with catalog(db) as s:
        (stored,) = [r for r in s.iter_records() if not r.deleted]
    rec = marc8fast.Record.parse(stored.data)
    assert rec.leader_at(9) == "a"
    assert rec["245"]["a"] == "Café ok and BA\ufffdTF"
    assert not rec.problems


def test_a_marc8_record_labelled_utf8_is_still_read_as_marc8(tmp_path: Path) -> None:
    """The reverse case the detector exists for: MARC-8 diacritics under leader/09 ``a``."""
    m8 = make_record(f001="m8a", title="Café Ångström").to_bytes(encoding="marc8")
    src = tmp_path / "m8.mrc"
    src.write_bytes(m8[:9] + b"a" + m8[10:])
    db = tmp_path / "c.sqlite"
    report = tmp_path / "r.jsonl"
    # read correctly by its data: a warning alone, exit 0 (issue 18, item 11)
    run_cli("load", src, "--db", db, "--report", report, check=0)
    (row,) = [json.loads(x) for x in report.read_text().splitlines()]
    assert [(p["kind"], p["action"]) for p in row["problems"]] == [("mislabelled", "trusted_data")]
    with catalog(db) as s:
        (stored,) = [r for r in s.iter_records() if not r.deleted]
    title = marc8fast.Record.parse(stored.data)["245"]["a"]
    assert unicodedata.normalize("NFC", title) == "Café Ångström"
