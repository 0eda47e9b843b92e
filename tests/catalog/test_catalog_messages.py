"""Issue 11, items 8 and 11: what ``load`` and ``export`` say, and what they leave on disk.

* a record's problems are listed under its line at the default verbosity; ``export`` never writes
  a U+FFFD (data lost when the record was loaded) without saying so, with its place;
* the real reason for a record that cannot be exported (a field grown past 9,999 bytes), junk
  numbered by its byte offset and counted apart from the records, a folder or an empty file as
  input, an export of nothing that leaves the existing output alone, temporary files that the
  next run removes after a ``kill -9``.

Every test runs real ``marc8fast`` processes on records built here byte by byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from catalogs import has_catalog
from test_catalog_safety import iso2709, loaded_catalog, one_line_error, records, run, titled

from marc8fast.catalog import open_catalog


def marc8(record: bytes) -> bytes:
    """The record with leader/09 blank (MARC-8)."""
    return record[:9] + b" " + record[10:]


def lines_after(stdout: str, head: str) -> list[str]:
    """The indented lines that follow the line containing ``head``."""
    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if head in line)
    out = []
    for line in lines[at + 1 :]:
        if not line.startswith("    "):
            break
        out.append(line.strip())
    return out


# ------------------------------------------------------------------------------------------------
# 8. problems shown by default; a U+FFFD never exported silently


def test_a_records_problems_are_listed_under_its_line_by_default(tmp_path, catalog_target):
    db = catalog_target
    f = tmp_path / "del.mrc"
    f.write_bytes(marc8(titled("Caf\x7f ok")) + titled("Clean"))
    proc = run("load", f, "--db", db)
    assert proc.returncode == 1, proc.stderr
    under = lines_after(proc.stdout, "record 1")
    assert len(under) == 1, proc.stdout
    # the one problem-line layout of every command (issue 18, item 15)
    assert under[0].startswith(f"{f}: record 1 @0: 245#1 $a offset 3 (field byte 7): "), under
    assert ": control_character: " in under[0]
    assert "7F" in under[0]
    assert lines_after(proc.stdout, "record 2") == []
    assert "\ufffd".encode() in records(db)[1]


def test_export_says_so_when_it_writes_a_replacement_character(tmp_path, catalog_target):
    db = catalog_target
    f = tmp_path / "del.mrc"
    f.write_bytes(marc8(titled("Caf\x7f ok")))
    assert run("load", f, "--db", db, "-q").returncode == 1
    out = tmp_path / "out.mrc"
    proc = run("export", "1", "--db", db, "-o", out)
    assert proc.returncode == 1, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("000000001:"))
    assert "U+FFFD" in line and "data lost" in line and "&#xFFFD;" in line, line
    under = lines_after(proc.stdout, "000000001: exported")
    assert under == [
        "000000001: 245 $a position 3: U+FFFD REPLACEMENT CHARACTER, data lost when the record "
        "was loaded (fix it in the catalog): wrote_ncr"
    ]
    assert "1 of them U+FFFD" in proc.stderr
    assert b"Caf&#xFFFD; ok" in out.read_bytes()
    # lossy writes the fill character, and says so too; strict exports nothing
    lossy = run("export", "1", "--db", db, "-o", out, "--errors", "lossy")
    assert lossy.returncode == 1 and "U+FFFD" in lossy.stdout and "written as |" in lossy.stdout
    assert b"Caf| ok" in out.read_bytes()
    strict = run("export", "1", "--db", db, "-o", tmp_path / "s.mrc", "--errors", "strict")
    assert strict.returncode == 1 and "not exported" in strict.stdout
    assert not (tmp_path / "s.mrc").exists()


def test_exports_other_problems_are_listed_by_default(tmp_path, catalog_target):
    db, _src = loaded_catalog(tmp_path, catalog_target)
    with open_catalog(db) as s:  # a stored record with a control character MARC 21 forbids
        with s.transaction():
            assert s.insert(titled("Ring\x07 the bell"), [], "bel/") == 6
    proc = run("export", "6", "--db", db, "-o", tmp_path / "out.mrc")
    assert proc.returncode == 1, proc.stderr
    under = lines_after(proc.stdout, "000000006: exported")
    assert len(under) == 1 and "245 $a" in under[0] and "control_character" in under[0], under


# ------------------------------------------------------------------------------------------------
# 11. misleading messages


def test_a_field_too_long_for_iso2709_says_so_not_errors_strict(tmp_path, catalog_target):
    db = catalog_target
    f = tmp_path / "long.mrc"
    # 9,050 bytes in UTF-8; each र becomes the 8-byte NCR &#x0930; in MARC-8
    f.write_bytes(titled("x" * 50 + "\u0930" * 3000))
    assert run("load", f, "--db", db, "-q").returncode == 0
    proc = run("export", "1", "--db", db, "-o", tmp_path / "out.mrc")
    assert proc.returncode == 1, proc.stderr
    line = proc.stdout.splitlines()[0]
    assert line.startswith("000000001: not exported: field_too_long: field 245 would be"), line
    assert "9999" in line and "--errors strict" not in line
    assert "rejected" not in proc.stdout  # no character marked "rejected" one by one
    assert len(proc.stdout.splitlines()) == 1
    strict = run("export", "1", "--db", db, "-o", tmp_path / "out.mrc", "--errors", "strict")
    assert "(--errors strict)" in strict.stdout.splitlines()[0]


def test_junk_is_numbered_by_byte_offset_and_counted_apart(tmp_path, catalog_target):
    db = catalog_target
    one, two = titled("One"), titled("Two")
    f = tmp_path / "junk.mrc"
    f.write_bytes(one + b"JUNKJUNKJUNK\x1d" + two)
    proc = run("load", f, "--db", db, "--report", tmp_path / "r.jsonl")
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout.splitlines()
    assert out[:2] == [
        f"{f}: record 1: Record received: 000000001",
        f"{f}: record 2: Record received: 000000002",
    ]
    assert out[2].startswith(f"{f}: junk @{len(one)}: skipped: garbage: 13 bytes"), out
    assert "rejected" not in proc.stdout
    assert "2 record(s): 2 new" in proc.stderr and "0 rejected" in proc.stderr
    assert "1 stretch(es) of junk skipped" in proc.stderr
    rows = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [(r["fate"], r["record"], r["offset"]) for r in rows] == [
        ("new", 1, 0),
        ("new", 2, len(one) + 13),
        ("junk", None, len(one)),
    ]


def test_a_directory_as_input_says_so(tmp_path, catalog_target):
    folder = tmp_path / "folder"
    folder.mkdir()
    db = catalog_target
    one_line_error(run("load", folder, "--db", db), "is a directory")
    one_line_error(run("convert", folder, tmp_path / "o.mrc", "--to", "utf8"), "is a directory")
    one_line_error(run("load", tmp_path / "missing.mrc", "--db", db), "no such file")
    assert not has_catalog(db)


def test_an_empty_input_says_so(tmp_path, catalog_target):
    db = catalog_target
    empty = tmp_path / "empty.mrc"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.mrc"
    blank.write_bytes(b"\r\n\r\n")
    good = tmp_path / "good.mrc"
    good.write_bytes(titled("Fine"))
    proc = run("load", empty, "--db", db)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == f"{empty}: no records: the file is empty\n"
    assert "0 record(s)" in proc.stderr and "1 empty file(s)" in proc.stderr
    proc = run("load", good, blank, "--db", db)
    assert proc.returncode == 1, proc.stderr
    assert f"{blank}: no records: 4 byte(s), no record" in proc.stdout
    assert "Record received: 000000001" in proc.stdout


def test_an_export_of_nothing_leaves_an_existing_output_alone(tmp_path, catalog_target):
    db, _src = loaded_catalog(tmp_path, catalog_target)
    out = tmp_path / "out.mrc"
    out.write_bytes(b"yesterday's export")
    proc = run("export", "99", "--db", db, "-o", out)
    assert proc.returncode == 1
    assert "000000099: not exported: no such record" in proc.stdout
    assert "nothing exported; the file was left as it was" in proc.stderr
    assert out.read_bytes() == b"yesterday's export"
    assert run("catalog", "delete", "2", "--db", db).returncode == 0
    proc = run("export", "2", "--db", db, "-o", tmp_path / "new.mrc")
    assert "nothing exported; the file was not created" in proc.stderr
    assert not (tmp_path / "new.mrc").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temporary_files_a_killed_run_left_are_removed_by_the_next(tmp_path, catalog_target):
    db, src = loaded_catalog(tmp_path, catalog_target)
    dead, alive = _dead_pid(), os.getpid()
    leftovers = {
        name: tmp_path / f".{name}.{dead}-123456789.marc8fast-tmp"
        for name in ("out.mrc", "conv.mrc", "rep.jsonl")
    }
    for p in leftovers.values():
        p.write_bytes(b"x" * 1000)
    running = tmp_path / f".out.mrc.{alive}-1.marc8fast-tmp"  # a run still going: left alone
    running.write_bytes(b"y")
    other = tmp_path / f".other.mrc.{dead}-1.marc8fast-tmp"  # another output's: left alone
    other.write_bytes(b"z")
    assert run("export", "--all", "--db", db, "-o", tmp_path / "out.mrc").returncode == 0
    assert not leftovers["out.mrc"].exists()
    assert running.exists() and other.exists()
    proc = run(
        "convert", src, tmp_path / "conv.mrc", "--to", "utf8", "--report", tmp_path / "rep.jsonl"
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert not leftovers["conv.mrc"].exists() and not leftovers["rep.jsonl"].exists()
    assert running.exists() and other.exists()
    assert (tmp_path / "out.mrc").read_bytes().count(b"\x1d") == 5


def test_a_record_cut_off_by_the_end_of_the_file_is_a_record_not_junk(tmp_path, catalog_target):
    """A record the reader cannot read (cut off by the end of the file) is still a record:
    rejected, numbered, and counted among the records."""
    db = catalog_target
    f = tmp_path / "cut.mrc"
    f.write_bytes(titled("Whole") + iso2709(("245", "10$aCut off"))[:40])
    proc = run("load", f, "--db", db)
    assert proc.returncode == 1
    assert "record 2: rejected: truncated_record" in proc.stdout
    assert "2 record(s): 1 new" in proc.stderr and "1 rejected" in proc.stderr


# ------------------------------------------------------------------------------------------------
# Reports are outputs too: written under a temporary name and renamed when the run ends


def test_a_load_report_is_renamed_into_place_and_a_kill_leaves_the_old_one(
    tmp_path, catalog_target
):
    from test_catalog_safety import titled as _titled

    src = tmp_path / "many.mrc"
    src.write_bytes(b"".join(_titled(f"Title number {i}") for i in range(30_000)))
    report = tmp_path / "load.jsonl"
    report.write_text("the previous report\n")
    db = catalog_target
    cmd = [sys.executable, "-m", "marc8fast", "load", str(src), "--db", str(db), "-q"]
    proc = subprocess.Popen([*cmd, "--report", str(report)], stderr=subprocess.DEVNULL)
    try:
        temp = None
        while proc.poll() is None and temp is None:
            found = [p for p in tmp_path.iterdir() if p.name.startswith(".load.jsonl.")]
            if found and found[0].stat().st_size > 0:
                temp = found[0]
        assert temp is not None, "the load ended before its report was seen being written"
        proc.kill()
    finally:
        proc.wait()
    assert report.read_text() == "the previous report\n"  # never half-written
    assert temp.exists()
    done = subprocess.run([*cmd, "--report", str(report)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = report.read_text().splitlines()
    assert len(lines) == 30_000
    assert all(json.loads(line)["fate"] in ("new", "duplicate") for line in lines)
    assert not temp.exists()  # the killed run's leftover is removed
    assert oct(report.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_an_export_report_is_complete_and_leaves_no_temporary_file(tmp_path, catalog_target):
    db, _ = loaded_catalog(tmp_path, catalog_target)
    report = tmp_path / "export.jsonl"
    proc = run("export", "--all", "--db", db, "-o", tmp_path / "out.mrc", "--report", report)
    assert proc.returncode == 0, proc.stderr
    assert len(report.read_text().splitlines()) == 5
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".marc8fast-tmp")]


def test_control_characters_in_a_utf8_record_are_reported_when_it_loads(tmp_path, catalog_target):
    """A UTF-8 record's DEL used to go into the catalog silently (the MARC-8 one was reported):
    both are replaced and listed under the record's line."""
    src = tmp_path / "del.mrc"
    src.write_bytes(titled("Bad \x7f byte"))
    db = catalog_target
    proc = run("load", src, "--db", db)
    assert "control_character" in proc.stdout, proc.stdout
    (data,) = records(db).values()
    assert b"\x7f" not in data and "Bad \ufffd byte".encode() in data
