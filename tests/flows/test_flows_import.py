"""Issue 6: the import flow (OCLC → local catalog) on real SQLite files.

Acceptance points covered here: the corpus loads as ``transcode_file`` output plus the local rules
(and exports back to MARC-8 that our reader and yaz read as the same text: test_flows_export.py);
the 040 $b rule; targeting; loading the same file twice; bad input rejected while the rest loads.
The crash test is in test_flows_crash.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from marcfile import iter_records, parse_record

import marc8fast
from marc8fast import Field, Record, flows

TESTS = Path(__file__).parent.parent
DATA = TESTS / "data"
ROOT = TESTS.parent
SAMPLE = ROOT / "examples" / "sample-marc8.mrc"
NEPALI = DATA / "encoder" / "evergreen" / "nepali.marc"

CORPUS = [
    SAMPLE,
    DATA / "realworld" / "lul_fre_500.mrc",
    DATA / "realworld" / "uva_001_2000.mrc",
    DATA / "realworld" / "jazz_1k.mrc",
    DATA / "realworld" / "hebrew.marc",
    DATA / "realworld" / "nonlatinscripts.mrc",
    DATA / "realworld" / "non_latin.mrc",
]


# ------------------------------------------------------------------------------------------------
# helpers (also used by the other test_flows_* files)


def run_cli(*args: str | Path, check: int | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "marc8fast", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def base_record(n: int = 0) -> Record:
    """Record ``n`` of the bundled sample, converted to UTF-8, as an editable model."""
    raw = marc8fast.read_records(SAMPLE.read_bytes())[n][2]
    out, _ = marc8fast.transcode_record(raw, to="utf8")
    assert out is not None
    return Record.parse(out)


def make_record(
    *,
    f001: str | None = None,
    f003: str | None = None,
    f035: list[str] = (),  # type: ignore[assignment]
    f040b: str | None = None,
    f049: str | None = None,
    title: str | None = None,
    n: int = 0,
) -> Record:
    """A sample record with its 001/003/035/040/049 (and optionally its 245 $a) replaced."""
    rec = base_record(n)
    rec.remove_fields("001", "003", "035", "040", "049")
    if f001 is not None:
        rec.add_ordered_field(Field("001", data=f001))
    if f003 is not None:
        rec.add_ordered_field(Field("003", data=f003))
    for a in f035:
        rec.add_ordered_field(Field("035", "  ", [("a", a)]))
    subs = [("a", "DLC")] + ([("b", f040b)] if f040b is not None else []) + [("c", "DLC")]
    rec.add_ordered_field(Field("040", "  ", subs))
    if f049 is not None:
        rec.add_ordered_field(Field("049", "  ", [("a", f049)]))
    if title is not None:
        rec.replace_field(rec["245"], Field("245", "10", [("a", title)]))
    return rec


def write_marc8(path: Path, records: list[Record]) -> Path:
    """Write the records as MARC-8 (what OCLC sends)."""
    out = []
    for r in records:
        m8 = r.to_bytes(encoding="marc8")
        assert m8 is not None
        out.append(m8)
    path.write_bytes(b"".join(out))
    return path


def catalog(db: Path) -> flows.SQLiteStore:
    return flows.open_store(db)


def live_records(db: Path) -> dict[int, bytes]:
    with catalog(db) as s:
        return {r.sysno: r.data for r in s.iter_records() if not r.deleted}


def check_consistent(db: Path) -> None:
    """Every log row that names a record names one that exists; loaded rows are unique per input
    record; every record came from exactly one loaded row or an overlay."""
    with catalog(db) as s:
        rows = s.log_rows()
        sysnos = set(s.sysnos())
        seen: dict[tuple[str, int], int] = {}
        for r in rows:
            if r.sysno is not None:
                assert r.sysno in sysnos, r
            if r.fate in ("new", "possible_duplicate"):
                key = (r.input_hash, r.record_index)
                assert key not in seen, f"input record loaded twice: {r}"
                seen[key] = r.sysno  # type: ignore[assignment]
        created = [r.sysno for r in rows if r.fate in ("new", "possible_duplicate")]
        assert sorted(created) == sorted(sysnos), "records without a log row, or the reverse"
        ok = s.db.execute("PRAGMA integrity_check").fetchone()[0]
        assert ok == "ok"


def fields_of(raw: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(leader without lengths, [(tag, raw)]) with the test-side splitter."""
    rec = parse_record(raw[:-1] if raw.endswith(b"\x1d") else raw)
    leader = rec.leader[5:12] + rec.leader[17:]
    return leader, [(f.tag, f.raw) for f in rec.fields]


def expected_local_rules(raw_utf8: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The local rules, done independently of marc8fast.flows on transcode_file's output."""
    rec = parse_record(raw_utf8[:-1])
    leader = bytearray(rec.leader)
    # A subfield delimiter with no code after it holds nothing: the record model has no place
    # for it and the stored record is written without it.
    fields = [(f.tag, re.sub(rb"\x1f(?=\x1f|$)", b"", f.raw)) for f in rec.fields]
    langs = [v.strip() for f in rec.fields if f.tag == "040" for c, v in f.subfields if c == "b"]
    # 040 $b compared trimmed and without regard to case: `$bENG` is English (issue 21).
    if any(b.decode().lower() != "eng" for b in langs):
        fields = [(t, r) for t, r in fields if t not in ("035", "040")]
        leader[17:18] = b"5"
    return bytes(leader[5:12] + leader[17:]), fields


# ------------------------------------------------------------------------------------------------
# the corpus


def test_corpus_loads_as_transcode_file_plus_local_rules(tmp_path):
    db = tmp_path / "catalog.sqlite"
    for src in CORPUS:
        expected_file = tmp_path / (src.name + ".utf8")
        report = marc8fast.transcode_file(
            src, expected_file, to="utf8", trust="data", expand_ncr=True
        )
        assert report.records_rejected == 0
        expected = [r for r in marc8fast.read_records(expected_file.read_bytes())]
        outcomes: list[flows.Outcome] = []
        summary = flows.import_records([src], db, on_outcome=outcomes.append)
        assert summary.fates["rejected"] == 0, [o.message for o in outcomes]
        assert len(outcomes) == len(expected) == report.records_read
        with catalog(db) as s:
            for out, (_n, _off, utf8) in zip(outcomes, expected, strict=True):
                if out.fate == "duplicate":
                    # same OCLC number as a record already in: not loaded, says which
                    assert "duplicate of" in out.message and out.sysno is not None
                    continue
                assert out.fate in ("new", "possible_duplicate"), out
                assert out.message.startswith(f"Record received: {out.sysno:09d}")
                stored = s.get(out.sysno)  # type: ignore[arg-type]
                assert stored is not None
                assert stored.data[9:10] == b"a"
                assert fields_of(stored.data) == expected_local_rules(utf8), (src, out.index)
                # lengths right: the core reads it back unchanged
                again, probs = marc8fast.transcode_record(stored.data, to="utf8")
                assert again == stored.data and not probs
    check_consistent(db)


def test_lul_fre_records_follow_the_040_rule(tmp_path):
    """The French corpus has 040 $b fre: every stored record lost 035/040 and has leader/17 5."""
    db = tmp_path / "c.sqlite"
    src = DATA / "realworld" / "lul_fre_500.mrc"
    flows.import_records([src], db)
    french = 0
    for _n, _o, raw in marc8fast.read_records(src.read_bytes()):
        rec = parse_record(raw[:-1])
        french += any(
            c == "b" and v != b"eng" for f in rec.fields if f.tag == "040" for c, v in f.subfields
        )
    assert french > 0
    n5 = 0
    for data in live_records(db).values():
        tags = [t for t, _ in fields_of(data)[1]]
        if data[17:18] == b"5":
            n5 += 1
            assert "035" not in tags and "040" not in tags
    assert n5 >= french - 5  # a few may be duplicates by OCLC number


# ------------------------------------------------------------------------------------------------
# the 040 $b rule


@pytest.mark.parametrize(
    ("lang", "rule"), [("fre", True), ("ger", True), ("eng", False), (None, False)]
)
def test_040_b_rule(tmp_path, lang, rule):
    rec = make_record(f001="ocm00012345", f003="OCoLC", f035=["(OCoLC)12345"], f040b=lang)
    rec.set_leader(17, "I")
    src = write_marc8(tmp_path / "in.mrc", [rec])
    db = tmp_path / "c.sqlite"
    run_cli("load", src, "--db", db, check=0)
    [(sysno, data)] = live_records(db).items()
    stored = Record.parse(data)
    tags = [f.tag for f in stored.fields]
    if rule:
        assert "035" not in tags and "040" not in tags
        assert stored.leader[17] == "5"
    else:
        assert tags.count("035") == 1 and tags.count("040") == 1
        assert stored.leader[17] == "I"
        assert stored["040"].get_subfields("b") == ([lang] if lang else [])
    # the 049 and 001/003 are kept as received either way
    assert stored["001"].data == "ocm00012345" and stored["003"].data == "OCoLC"
    with catalog(db) as s:
        assert s.get(sysno).oclc_numbers == ["12345"]  # type: ignore[union-attr]


def test_049_kept_and_exclude_symbol(tmp_path):
    recs = [
        make_record(f001="1001", f049="HLSS", title="Kept one"),
        make_record(f001="1002", f049="XYZA", title="Skipped one"),
    ]
    src = write_marc8(tmp_path / "in.mrc", recs)
    db = tmp_path / "c.sqlite"
    proc = run_cli(
        "load",
        src,
        "--db",
        db,
        "--exclude-symbol",
        "XYZA",
        "--exclude-symbol",
        "QQQQ",
        check=0,
    )  # one symbol a flag (issue 18, item 10)
    assert "record 2 001=1002: skipped: 049 $a XYZA is excluded" in proc.stdout
    [data] = live_records(db).values()
    assert Record.parse(data)["049"].get_subfields("a") == ["HLSS"]


# ------------------------------------------------------------------------------------------------
# matching


def test_oclc_number_normalisation():
    n = flows.normalise_oclc
    assert n("ocm00012345") == n("ocn12345") == n("on12345") == n("(OCoLC)ocm0012345") == "12345"
    assert n("(OCoLC)12345 ") == "12345"
    assert n("(DLC)12345") is None and n("ocmDCLC6114599B") is None and n("000") is None


def test_duplicates_by_oclc_number_in_001_and_035(tmp_path):
    db = tmp_path / "c.sqlite"
    first = write_marc8(
        tmp_path / "a.mrc", [make_record(f001="ocm00000777", f003="OCoLC", title="Alpha")]
    )
    flows.import_records([first], db)
    second = write_marc8(
        tmp_path / "b.mrc",
        [
            make_record(f001="x1", f035=["(OCoLC)ocn777"], title="Alpha again"),
            make_record(f001="on778", title="Beta"),  # a prefix alone marks 001 as OCLC
            make_record(f001="778", f003="DLC", f035=["(OCoLC)000778"], title="Beta again"),
            make_record(f001="779", f003="DLC", title="Gamma"),  # 001 of another agency
            make_record(f001="x3", f035=["(OCoLC)779"], title="Gamma again"),
        ],
    )
    outs: list[flows.Outcome] = []
    flows.import_records([second], db, on_outcome=outs.append)
    assert [o.fate for o in outs] == ["duplicate", "new", "duplicate", "new", "new"]
    assert outs[0].message == "not loaded: duplicate of 000000001 (OCLC number 777)"
    assert outs[2].message == "not loaded: duplicate of 000000002 (OCLC number 778)"
    assert len(live_records(db)) == 4


def test_possible_duplicate_by_title_and_author(tmp_path):
    db = tmp_path / "c.sqlite"
    src = write_marc8(
        tmp_path / "a.mrc",
        [
            make_record(f001="1", title="Escape from loneliness /"),
            make_record(f001="2", title="ESCAPE FROM LONELINESS."),  # same key, no OCLC match
            make_record(f001="3", title="Escape from lonéliness"),  # NFKD folds the accent
            make_record(f001="4", title="Escape from solitude"),
        ],
    )
    outs: list[flows.Outcome] = []
    flows.import_records([src], db, on_outcome=outs.append)
    assert [o.fate for o in outs] == ["new", "possible_duplicate", "possible_duplicate", "new"]
    assert outs[1].message == (
        "Record received: 000000002 (possible duplicate of 000000001: same title and author)"
    )
    assert len(live_records(db)) == 4


def test_targeting_overlays_and_removes_the_035(tmp_path):
    db = tmp_path / "c.sqlite"
    src = write_marc8(
        tmp_path / "a.mrc",
        [make_record(f001=str(k), title=f"Title {k}", n=k) for k in range(3)],
    )
    flows.import_records([src], db)
    before = live_records(db)
    new = make_record(
        f001="ocm55", f003="OCoLC", f035=["(OCoLC)55", "(HVD)000000002"], title="Replaced"
    )
    upd = write_marc8(tmp_path / "b.mrc", [new])
    proc = run_cli("load", upd, "--db", db, "--target-prefix", "(HVD)", check=0)
    assert "Record overlaid: 000000002" in proc.stdout
    after = live_records(db)
    assert after.keys() == before.keys()  # no new record
    assert after[1] == before[1] and after[3] == before[3]
    rec = Record.parse(after[2])
    assert rec["245"].get_subfields("a") == ["Replaced"]
    assert [f.get_subfields("a") for f in rec.get_fields("035")] == [
        ["(OCoLC)55"]
    ]  # the target is gone
    with catalog(db) as s:
        assert s.get(2).oclc_numbers == ["55"]  # type: ignore[union-attr]
    # the default prefix is (LOCAL), and a target with 040 $b fre still overlays (read first)
    fre = make_record(f035=["(LOCAL)000000003"], f040b="fre", title="French overlay")
    flows.import_records([write_marc8(tmp_path / "c.mrc", [fre])], db)
    rec3 = Record.parse(live_records(db)[3])
    assert rec3["245"].get_subfields("a") == ["French overlay"]
    assert not rec3.get_fields("035") and rec3.leader[17] == "5"


@pytest.mark.parametrize("why", ["missing", "deleted"])
def test_target_that_does_not_exist_rejects_and_changes_nothing(tmp_path, why):
    db = tmp_path / "c.sqlite"
    flows.import_records([write_marc8(tmp_path / "a.mrc", [make_record(f001="1")])], db)
    if why == "deleted":
        with catalog(db) as s:
            assert flows.delete_record(s, 1) == "deleted"
    target = "(LOCAL)000000001" if why == "deleted" else "(LOCAL)000000042"
    bad = write_marc8(tmp_path / "b.mrc", [make_record(f035=[target], title="Never")])
    with catalog(db) as s:
        before = [(r.sysno, r.data, r.updated_at) for r in s.iter_records()]
    proc = run_cli("load", bad, "--db", db, check=1)
    sysno = "000000001" if why == "deleted" else "000000042"
    word = "is deleted" if why == "deleted" else "does not exist"
    assert f"rejected: target {sysno} {word}" in proc.stdout
    with catalog(db) as s:
        assert [(r.sysno, r.data, r.updated_at) for r in s.iter_records()] == before


# ------------------------------------------------------------------------------------------------
# loading twice


def test_loading_the_same_file_twice_creates_nothing(tmp_path):
    db = tmp_path / "c.sqlite"
    src = DATA / "realworld" / "uva_001_2000.mrc"
    first = run_cli("load", src, "--db", db, "--report", tmp_path / "r1.jsonl", check=0)
    assert "Record received: 000000001" in first.stdout
    with catalog(db) as s:
        snapshot = [(r.sysno, r.data, r.updated_at) for r in s.iter_records()]
    assert len(snapshot) > 1900
    second = run_cli("load", src, "--db", db, "--report", tmp_path / "r2.jsonl", check=0)
    with catalog(db) as s:
        assert [(r.sysno, r.data, r.updated_at) for r in s.iter_records()] == snapshot
    rows = [json.loads(x) for x in (tmp_path / "r2.jsonl").read_text().splitlines()]
    assert len(rows) == 2000
    assert {r["fate"] for r in rows} == {"duplicate"}
    assert all("duplicate of" in r["message"] for r in rows)
    assert " 0 new, 0 possible duplicate, 0 overlaid, 2,000 duplicate" in second.stderr
    # the same records in another file (another hash) are caught by their OCLC numbers; an input
    # record's key is the hash of the input up to the next record (issue 18: one pass), so the
    # copy differs from its first bytes (a copy with bytes added at the end keeps the keys of the
    # records before them: test_load_stream.py)
    copy = tmp_path / "copy.mrc"
    copy.write_bytes(b"\n" + src.read_bytes())
    outs: list[flows.Outcome] = []
    flows.import_records([copy], db, on_outcome=outs.append)
    with catalog(db) as s:
        assert s.count() == len(snapshot) + sum(o.fate != "duplicate" for o in outs)
    # records with no OCLC number are caught by their content digest (issue 21: the same records
    # loaded again store nothing): not loaded either
    assert sum(o.fate == "duplicate" for o in outs) > 1800
    assert {o.fate for o in outs} == {"duplicate"}
    assert any(o.message.endswith("(same content)") for o in outs)
    check_consistent(db)


# ------------------------------------------------------------------------------------------------
# bad input


def test_truncated_file_and_broken_directory_are_rejected_the_rest_loads(tmp_path):
    good = marc8fast.read_records((DATA / "realworld" / "lul_fre_500.mrc").read_bytes())[:20]
    raws = [bytearray(raw) for _n, _o, raw in good]
    # record 5: a directory that cannot be recovered (an entry's digits replaced, one entry
    # less than the fields)
    r = raws[4]
    base = int(r[12:17])
    r[24 + 12 : 24 + 24] = b"24X0012Q0042"
    del r[24:36]
    r[12:17] = f"{base - 12:05d}".encode()
    r[0:5] = f"{len(r):05d}".encode()
    data = b"".join(bytes(x) for x in raws)
    data = data[:-200]  # record 20 is cut off by the end of the file
    src = tmp_path / "bad.mrc"
    src.write_bytes(data)
    db = tmp_path / "c.sqlite"
    proc = run_cli("load", src, "--db", db, "--report", tmp_path / "r.jsonl", check=1)
    rows = {
        x["record"]: x for x in map(json.loads, (tmp_path / "r.jsonl").read_text().split("\n")[:-1])
    }
    assert rows[5]["fate"] == "rejected" and rows[5]["problems"], rows[5]
    assert "bad_directory" in rows[5]["message"] or "directory" in rows[5]["message"]
    assert rows[20]["fate"] == "rejected"
    assert "truncated_record" in rows[20]["message"]
    loaded = [k for k, x in rows.items() if x["fate"] in ("new", "possible_duplicate")]
    assert sorted(loaded) == [k for k in range(1, 20) if k != 5]
    assert len(live_records(db)) == 18
    assert "record 5" in proc.stdout and "rejected:" in proc.stdout
    check_consistent(db)


def test_a_file_that_is_not_marc_loads_nothing(tmp_path):
    src = tmp_path / "junk.mrc"
    src.write_bytes(b"this is not a MARC file at all\n" * 10)
    db = tmp_path / "c.sqlite"
    proc = run_cli("load", src, "--db", db, check=1)
    # junk, not a record (issue 11): numbered by its byte offset, counted apart
    assert f"{src}: junk @0: skipped: garbage: 310 bytes" in proc.stdout
    assert "0 record(s)" in proc.stderr and "1 stretch(es) of junk skipped" in proc.stderr
    with catalog(db) as s:
        assert s.count() == 0


def test_usage_errors(tmp_path):
    assert run_cli("load", tmp_path / "missing.mrc", "--db", tmp_path / "c.sqlite").returncode == 2
    notdb = tmp_path / "not.sqlite"
    notdb.write_bytes(b"garbage" * 1000)
    assert run_cli("load", SAMPLE, "--db", notdb).returncode == 2
    assert run_cli("export", "--db", tmp_path / "c.sqlite", "-o", tmp_path / "o").returncode == 2
    assert run_cli("catalog", "show", "12x", "--db", tmp_path / "c.sqlite").returncode == 2


def test_schema_has_a_version(tmp_path):
    db = tmp_path / "c.sqlite"
    with catalog(db) as s:
        assert s.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            str(flows.store.SCHEMA_VERSION),
        )
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == flows.store.SCHEMA_VERSION
        s.db.execute("PRAGMA user_version=999")
    with pytest.raises(flows.store.SchemaError):
        flows.open_store(db)


def test_iter_records_reads_what_the_splitter_reads(tmp_path):
    """The stored records are well-formed for an independent splitter."""
    db = tmp_path / "c.sqlite"
    flows.import_records([DATA / "realworld" / "hebrew.marc", SAMPLE], db)
    data = b"".join(live_records(db).values())
    assert len(list(iter_records(data))) == 25


def test_a_record_whose_length_lies_loads_with_the_problem_shown(tmp_path):
    """A record recovered by its terminators (leader length wrong) loads, and the recovery is
    listed under that record; a warning alone (the record is read whole) exits 0 (issue 18,
    item 11)."""
    good = marc8fast.read_records((DATA / "realworld" / "lul_fre_500.mrc").read_bytes())[:3]
    raws = [bytearray(raw) for _n, _o, raw in good]
    raws[1][0:5] = f"{len(raws[1]) + 7:05d}".encode()
    src = tmp_path / "lies.mrc"
    src.write_bytes(b"".join(bytes(r) for r in raws))
    db = tmp_path / "c.sqlite"
    proc = run_cli("load", src, "--db", db, "--report", tmp_path / "r.jsonl", check=0)
    rows = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["record"] for r in rows] == [1, 2, 3]
    assert all(r["fate"] in ("new", "possible_duplicate", "duplicate") for r in rows), rows
    assert [p["kind"] for p in rows[1]["problems"]] == ["length_mismatch"]
    assert not rows[0]["problems"] and not rows[2]["problems"]
    assert "0 record(s) with conversion problems (1 more with warnings only)" in proc.stderr
