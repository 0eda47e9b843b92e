"""`marc8fast validate`, run as a real subprocess (``python -m marc8fast`` and the console script).

Expectations are computed independently of the record layer: records and subfields are cut by
the test-side splitter (``tests/marcfile.py``), string-level problems come from
``marc8fast.decode_report`` on each subfield, and the positions (record number, record byte
offset, tag occurrence, subfield, offset in the subfield, offset in the field) are counted here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from marcfile import iter_records

import marc8fast

ROOT = Path(__file__).parent.parent.parent
DATA = ROOT / "tests" / "data"
R = DATA / "records"
CONSOLE = Path(sys.executable).parent / "marc8fast"
STRING_KINDS = {
    "unknown_escape",
    "truncated_escape",
    "unmapped_byte",
    "truncated_multibyte",
    "mark_without_base",
}

CLEAN = [
    ROOT / "examples" / "sample-marc8.mrc",
    DATA / "realworld" / "formatRecs.mrc",
    DATA / "realworld" / "lul_fre_500.mrc",
    DATA / "realworld" / "non_latin.mrc",
    R / "pymarc" / "test.dat",
    R / "pymarc" / "marc8.dat",
    R / "pymarc" / "diacritic.dat",
    R / "marc4j" / "diacritic4.mrc",
    R / "marc4j" / "oclc_63111280_export_as_UTF8_from_connexion.mrc",
    *sorted((R / "marc-charset").glob("*.marc")),
]


def run(*args: str, console: bool = False, **kw) -> subprocess.CompletedProcess[str]:
    exe = [str(CONSOLE)] if console else [sys.executable, "-m", "marc8fast"]
    return subprocess.run(
        [*exe, *args], capture_output=True, text=True, encoding="utf-8", check=False, **kw
    )


def validate_json(*args: str) -> tuple[int, dict]:
    r = run("validate", "-o", "json", *args)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def units(rec):
    """(tag, occurrence, subfield code or None, offset of the data in the field, data)."""
    seen: Counter = Counter()
    for f in rec.fields:
        seen[f.tag] += 1
        if f.is_control:
            yield f.tag, seen[f.tag], None, 0, f.raw
            continue
        pos = 2
        for code, raw in f.subfields:
            yield f.tag, seen[f.tag], code, pos + 2, raw
            pos += 2 + len(raw)


def expected_decoding(data: bytes) -> Counter:
    exp: Counter = Counter()
    for rec in iter_records(data):
        if rec.leader[9:10] == b"a":
            continue
        for tag, occ, code, start, raw in units(rec):
            if tag == "066":
                continue
            for p in marc8fast.decode_report(raw)[1]:
                hexb = " ".join(f"{b:02X}" for b in p.bytes)
                key = (rec.index + 1, rec.offset, tag, occ, code, p.offset, start + p.offset)
                exp[(*key, p.kind, hexb)] += 1
    return exp


def got_decoding(doc: dict) -> Counter:
    return Counter(
        (
            i["record"],
            i["record_offset"],
            i["tag"],
            i["occurrence"],
            i["subfield"],
            i["offset"],
            i["field_offset"],
            i["kind"],
            i["bytes"],
        )
        for i in doc["issues"]
        if i["kind"] in STRING_KINDS
    )


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CLEAN, ids=lambda p: p.name)
def test_clean_files_exit_0(path: Path) -> None:
    r = run("validate", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""
    assert "0 problem(s)" in r.stderr
    code, doc = validate_json(str(path))
    assert code == 0 and doc["status"] == "ok" and doc["issues"] == []
    assert doc["files"][0]["records"] == sum(1 for _ in iter_records(path.read_bytes()))


def test_console_script_and_several_files() -> None:
    assert CONSOLE.exists(), CONSOLE
    r = run("validate", "-v", *map(str, CLEAN[:3]), console=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count(" records, ok") == 3
    assert "3 file(s)" in r.stderr


def test_stdin() -> None:
    data = (R / "pymarc" / "bad_marc8_escape.dat").read_bytes()
    r = subprocess.run(
        [sys.executable, "-m", "marc8fast", "validate", "-o", "jsonl", "-"],
        input=data,
        capture_output=True,
        check=False,
    )
    assert r.returncode == 1
    issues = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert {i["file"] for i in issues} == {"<stdin>"}
    assert len(issues) == sum(expected_decoding(data).values())


@pytest.mark.parametrize(
    ("rel", "kinds"),
    [
        ("pymarc/bad_marc8_escape.dat", {"unknown_escape", "truncated_escape"}),
        ("pymarc/bad_eacc_encoding.dat", {"truncated_multibyte", "unmapped_byte"}),
        ("marc4j/incomplete_esc_seq.mrc", {"truncated_escape"}),
        ("marc4j/chinese_mangled_multibyte.mrc", {"truncated_multibyte"}),
        ("marc4j/greekmissingcharsetchange.mrc", {"unmapped_byte"}),
    ],
)
def test_decoding_problems_are_exactly_positioned(rel: str, kinds: set[str]) -> None:
    path = R / rel
    code, doc = validate_json(str(path))
    assert code == 1 and doc["status"] == "fail"
    exp = expected_decoding(path.read_bytes())
    assert got_decoding(doc) == exp
    assert kinds <= {k[7] for k in exp}
    for i in doc["issues"]:
        assert i["file"] == str(path) and i["severity"] in ("error", "warning", "info")


def test_text_lines_carry_the_position() -> None:
    path = R / "pymarc" / "bad_marc8_escape.dat"
    r = run("validate", str(path))
    assert r.returncode == 1
    first = r.stdout.splitlines()[0]
    assert first == (
        f"{path}: record 1 @0 001=2429943: 222#1 $a offset 19 (field byte 23): unknown_escape: "
        '[1B 74] "\\x1bt": escape sequence 1B 74 designates no MARC-8 character set'
    )
    assert "unknown_escape" in r.stderr and "16 problem(s) in 1 record(s)" in r.stderr


def hand_made(tmp_path: Path) -> tuple[Path, dict]:
    """The bundled sample with one bad byte in record 5's 245 $a, one bad indicator in record
    2's first 650 and one bad subfield code in record 4's 100."""
    data = bytearray((ROOT / "examples" / "sample-marc8.mrc").read_bytes())
    recs = list(iter_records(bytes(data)))
    where: dict = {}

    def locate(rec, tag: str, code: str | None):
        base = int(rec.leader[12:17])
        dir_ = bytes(data[rec.offset + 24 : rec.offset + base - 1])
        for k in range(0, len(dir_), 12):
            if dir_[k : k + 3].decode() == tag:
                field_start = rec.offset + base + int(dir_[k + 7 : k + 12])
                f = next(f for f in rec.fields if f.tag == tag)
                if code is None:
                    return field_start, f
                pos = 2
                for c, raw in f.subfields:
                    if c == code:
                        return field_start, f, pos + 2, raw
                    pos += 2 + len(raw)
        raise AssertionError(tag)

    rec5 = recs[4]
    fstart, _f, sub_at, raw = locate(rec5, "245", "a")
    k = 5
    assert raw[k : k + 1] == b"d"
    data[fstart + sub_at + k] = 0xAF
    where["byte"] = (5, rec5.offset, rec5.fields[0].raw.decode().strip(), sub_at + k, k)
    rec2 = recs[1]
    fstart, _f = locate(rec2, "650", None)
    data[fstart + 1] = ord("X")
    where["indicator"] = (2, rec2.offset)
    rec4 = recs[3]
    fstart, _f, sub_at, _raw = locate(rec4, "100", "a")
    data[fstart + sub_at - 1] = ord("A")
    where["code"] = (4, rec4.offset, sub_at - 1)
    path = tmp_path / "hand-made.mrc"
    path.write_bytes(bytes(data))
    return path, where


def test_hand_made_file(tmp_path: Path) -> None:
    path, where = hand_made(tmp_path)
    code, doc = validate_json(str(path))
    assert code == 1
    got = [
        (
            i["record"],
            i["record_offset"],
            i["tag"],
            i["occurrence"],
            i["subfield"],
            i["offset"],
            i["field_offset"],
            i["kind"],
            i["bytes"],
        )
        for i in doc["issues"]
    ]
    n, off, _cn, fo, k = where["byte"]
    n2, off2 = where["indicator"]
    n4, off4, fo4 = where["code"]
    assert got == [
        (n2, off2, "650", 1, None, None, 1, "bad_indicator", "58"),
        (n4, off4, "100", 1, "A", None, fo4, "bad_subfield_code", "41"),
        (n, off, "245", 1, "a", k, fo, "unmapped_byte", "AF"),
    ]
    assert doc["issues"][2]["control_number"] == where["byte"][2]
    # --offset/--limit count records; --max-problems caps the listing, not the count
    code, doc = validate_json("--offset", "3", "--limit", "1", str(path))
    assert [i["record"] for i in doc["issues"]] == [4] and doc["files"][0]["records"] == 1
    code, doc = validate_json("--max-problems", "1", str(path))
    assert len(doc["issues"]) == 1 and doc["issues_not_listed"] == 2
    assert doc["files"][0]["problems"] == 3
    for jobs in ("1", "2"):
        assert (
            validate_json("--jobs", jobs, str(path))[1]["issues"]
            == validate_json(str(path))[1]["issues"]
        )


def test_bad_structure_files() -> None:
    _, doc = validate_json(str(R / "marc4j" / "bad_leaders_10_11.mrc"))
    assert [(i["record"], i["kind"], i["bytes"]) for i in doc["issues"]] == [
        (1, "bad_leader", "20"),
        (1, "bad_leader", "20"),
        (1, "bad_leader", "20 20 20 20"),
    ]
    _, doc = validate_json(str(R / "marc4j" / "bad_oversize_field_bad_directory.mrc"))
    assert {(i["record"], i["record_offset"]) for i in doc["issues"]} == {(2, 1571)}
    kinds = {i["kind"] for i in doc["issues"]}
    assert {"bad_directory", "field_too_long"} <= kinds
    too_long = next(i for i in doc["issues"] if i["kind"] == "field_too_long")
    assert (too_long["tag"], too_long["occurrence"]) == ("520", 1)
    _, doc = validate_json(str(R / "marc4j" / "bad_too_long_plus_2.mrc"))
    assert {"length_mismatch", "record_too_long"} == {
        i["kind"] for i in doc["issues"] if i["record"] == 1 and i["kind"] != "bad_terminator"
    } - {"bad_leader"}
    # records 2 and 3 are sound but for their entry map ('45x ', '450 ')
    assert [(i["record"], i["kind"], i["bytes"]) for i in doc["issues"] if i["record"] > 1] == [
        (2, "bad_leader", "34 35 78 20"),
        (3, "bad_leader", "34 35 30 20"),
    ]
    _, doc = validate_json(str(R / "pymarc" / "bad_records.mrc"))
    by_record: dict[int, set[str]] = {}
    for i in doc["issues"]:
        by_record.setdefault(i["record"], set()).add(i["kind"])
    assert by_record[2] == by_record[3] == by_record[6] == {"bad_base_address"}
    assert "bad_directory" in by_record[4] and "bad_directory" in by_record[5]
    assert by_record[9] == {"truncated_record"}
    assert 1 not in by_record and 8 not in by_record
    trunc = next(i for i in doc["issues"] if i["kind"] == "truncated_record")
    assert trunc["record_offset"] == 917


def looks(raw: bytes) -> str:
    body = raw[24:]
    if 0x1B in body:
        return "other"
    if body.isascii():
        return "ascii"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "other"
    return "utf8"


@pytest.mark.parametrize(
    "rel",
    [
        "mislabelled/map_data.mrc",
        "mislabelled/FSL.marc",
        "mislabelled/bu_bibs.mrc",
        "pymarc/utf8_without_leader_flag.dat",
        "ruby-marc/marc8_accented_chars.marc",
    ],
)
def test_mislabelled_records(rel: str) -> None:
    data = (R / rel).read_bytes()
    expected = set()
    pos = n = 0
    while (end := data.find(b"\x1d", pos)) >= 0:  # every record here ends at its terminator
        raw = data[pos : end + 1]
        n += 1
        kind = looks(raw)
        if (raw[9:10] == b" " and kind == "utf8") or (raw[9:10] == b"a" and kind == "other"):
            expected.add((n, pos))
        pos = end + 1
    assert expected
    code, doc = validate_json(str(R / rel))
    assert code == 1
    got = {(i["record"], i["record_offset"]) for i in doc["issues"] if i["kind"] == "mislabelled"}
    assert got <= expected
    # A record whose directory cannot be read at all (its fields cannot be told apart) is
    # reported as that, not checked further.
    unreadable = {
        (i["record"], i["record_offset"])
        for i in doc["issues"]
        if i["kind"] == "bad_directory" and i["tag"] is None
    }
    assert expected - got <= unreadable
    assert got


def loose_units(data: bytes):
    """(record number, tag, occurrence, code, data offset in the field, data) of every control
    field and subfield; data before a data field's first delimiter counts as code None."""
    pos = n = 0
    while (end := data.find(b"\x1d", pos)) >= 0:
        raw = data[pos : end + 1]
        n += 1
        assert raw[9:10] == b"a"
        base = int(raw[12:17])
        seen: Counter = Counter()
        for k in range(24, base - 1, 12):
            tag = raw[k : k + 3].decode()
            length, start = int(raw[k + 3 : k + 7]), int(raw[k + 7 : k + 12])
            field = raw[base + start : base + start + length - 1]
            seen[tag] += 1
            if tag < "010":
                yield n, tag, seen[tag], None, 0, field
                continue
            at = 2
            lead, *parts = field[2:].split(b"\x1f")
            if lead:
                yield n, tag, seen[tag], None, at, lead
            at += len(lead)
            for part in parts:
                yield n, tag, seen[tag], chr(part[0]), at + 2, part[1:]
                at += 1 + len(part)
        pos = end + 1


def test_for_export_lists_every_devanagari_character() -> None:
    path = DATA / "encoder" / "evergreen" / "nepali.marc"
    expected = []
    for number, tag, occ, code, start, raw in loose_units(path.read_bytes()):
        text = raw.decode("utf-8")
        byte = 0
        for ci, ch in enumerate(text):
            if 0x0900 <= ord(ch) <= 0x097F:
                expected.append((number, tag, occ, code, ci, start + byte, ch))
            byte += len(ch.encode())
    assert len(expected) > 10_000
    r = run("validate", "--for-export", "-o", "jsonl", str(path))
    assert r.returncode == 1
    issues = [json.loads(line) for line in r.stdout.splitlines()]
    got = [
        (
            i["record"],
            i["tag"],
            i["occurrence"],
            i["subfield"],
            i["offset"],
            i["field_offset"],
            i["text"],
        )
        for i in issues
        if i["kind"] == "unmappable"
    ]
    assert got == expected
    # without --for-export the same file has no encoding problem
    plain = run("validate", "-o", "jsonl", str(path))
    assert "unmappable" not in plain.stdout


def test_usage_and_io_errors(tmp_path: Path) -> None:
    r = run("validate", str(tmp_path / "missing.mrc"))
    assert r.returncode == 2 and "missing.mrc" in r.stderr
    r = run("validate", "--format", "xml", str(CLEAN[0]))
    assert r.returncode == 2
    r = run("validate")
    assert r.returncode == 2
    r = run("validate", "--limit", "-1", str(CLEAN[0]))
    assert r.returncode == 2


def test_quiet_and_no_progress_when_piped() -> None:
    path = R / "pymarc" / "bad_marc8_escape.dat"
    r = run("validate", "-q", str(path))
    assert r.returncode == 1 and r.stderr == "" and r.stdout.count("\n") == 16
    r = run("validate", "-qq", str(path))
    assert r.returncode == 1 and r.stderr == "" and r.stdout == ""
    r = run("validate", str(path))
    assert "\r" not in r.stderr  # no progress bar: stderr is not a terminal


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a terminal")
def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    big = tmp_path / "big.mrc"
    big.write_bytes((DATA / "realworld" / "lul_fre_500.mrc").read_bytes() * 60)
    cmd = f"{sys.executable} -m marc8fast validate --jobs 1 {big}"
    r = subprocess.run(
        ["script", "-qec", cmd, "/dev/null"], capture_output=True, check=False, timeout=120
    )
    assert r.returncode == 0, r.stdout
    assert b"records" in r.stdout and b"30,000 records" in r.stdout
