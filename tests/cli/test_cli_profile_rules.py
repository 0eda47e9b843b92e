"""Issue 21 (i21-profile): the rest of the profile language on the command line: positioned
errors for every new key, the worked examples under docs/examples/ accepted by ``profile
check``, field rules and the Unicode form on ``load``, and ``export --profile``'s ``[export]``
section."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from test_flows_import import make_record, write_marc8

import marc8fast
from marc8fast import Field

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "docs" / "examples"


def run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marc8fast", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


@pytest.mark.parametrize(
    "name", ["vendor-isbn.toml", "oclc-reclamation.toml", "migration-merge.toml"]
)
def test_the_worked_examples_are_usable_profiles(name):
    proc = run("profile", "check", EXAMPLES / name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(": a usable profile\n")


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ('[match]\npoints = [{ key = "isbm" }]\n', "2:1", "match.points[1].key must be one of"),
        ('[match]\npoints = [{ key = "isbn", weight = 0 }]\n', "2:1", "match.points[1].weight"),
        ('[match]\n\none = "merge"\n', "3:1", "match.one needs match.points"),
        ('[match]\npoints = [{ key = "oclc" }]\nseveral = "merge"\n', "3:1", "match.several"),
        (
            '[match]\npoints = [{ key = "oclc" }]\noclc = "overlay"\n',
            "3:1",
            "match.oclc is the built-in order's",
        ),
        ('[fields]\n  delete = ["9XXX"]\n', "2:3", "fields.delete must be a list of tags"),
        ('[fields]\nleader = { 9 = "b" }\n', "2:1", "fields.leader: position '9'"),
        (
            '[fields]\nadd = [{ tag = "949", subfields = ["a"] }]\n',
            "2:1",
            "fields.add[1].subfields",
        ),
        ('[normalisation]\nunicode = "nfkc"\n', "2:1", "normalisation.unicode must be"),
        ('[export]\nlocal_prefix = ""\n', "2:1", "export.local_prefix must be non-empty"),
        ('[export]\nlocal_035 = "no"\n', "2:1", "export.local_035 must be a bool"),
    ],
)
def test_check_places_every_new_key(tmp_path, text, line, why):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    proc = run("profile", "check", bad)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"marc8fast: {bad}:{line}: {why}"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_field_rules_and_leader_on_load(tmp_path):
    rec = make_record(f001="ocm00000042", f003="OCoLC", title="Rules")
    rec.add_ordered_field(Field("938", "  ", [("a", "vendor invoice")]))
    rec.add_ordered_field(Field("949", "  ", [("a", "keep me")]))
    src = write_marc8(tmp_path / "a.mrc", [rec])
    profile = tmp_path / "p.toml"
    profile.write_text(
        '[fields]\ndelete = ["9XX"]\nkeep = ["949"]\nleader = { 17 = "7" }\n'
        'add = [{ tag = "910", indicators = " 1", subfields = ["a", "loaded"] }]\n'
    )
    db = tmp_path / "c.sqlite"
    proc = run("load", src, "--db", db, "--profile", profile, "-q")
    assert proc.returncode == 0, proc.stderr
    con = sqlite3.connect(db)
    data = con.execute("SELECT data FROM records").fetchone()[0]
    con.close()
    got = marc8fast.Record.parse(data)
    assert [f.tag for f in got.fields if f.tag.startswith("9")] == ["910", "949"]
    assert got["910"]["a"] == "loaded" and got["910"].indicators == " 1"
    assert got.leader[17] == "7"
    # Under the default profile the same file stores the record as read: 938 kept.
    db2 = tmp_path / "d.sqlite"
    assert run("load", src, "--db", db2, "-q").returncode == 0
    con = sqlite3.connect(db2)
    plain = marc8fast.Record.parse(con.execute("SELECT data FROM records").fetchone()[0])
    con.close()
    assert plain["938"]["a"] == "vendor invoice" and "910" not in plain


def test_unicode_form_of_stored_text(tmp_path):
    rec = make_record(title="Cafe\u0301 society")
    src = tmp_path / "u.mrc"
    data = rec.to_bytes(encoding="utf8")
    assert data is not None
    src.write_bytes(data)
    stored = {}
    for form in ("as-received", "nfc", "nfd"):
        profile = tmp_path / f"{form}.toml"
        profile.write_text(f'[normalisation]\nunicode = "{form}"\n')
        db = tmp_path / f"{form}.sqlite"
        proc = run("load", src, "--db", db, "--profile", profile, "-q")
        assert proc.returncode == 0, proc.stderr
        con = sqlite3.connect(db)
        got = marc8fast.Record.parse(con.execute("SELECT data FROM records").fetchone()[0])
        con.close()
        stored[form] = got["245"]["a"]
    assert stored["nfc"].startswith("Café") and unicodedata.is_normalized("NFC", stored["nfc"])
    assert stored["nfd"].startswith("Cafe\u0301")
    assert stored["as-received"].startswith("Cafe\u0301")


def test_export_takes_the_local_035_from_the_profile(tmp_path):
    src = write_marc8(tmp_path / "a.mrc", [make_record(f001="ocm00000042", f003="OCoLC")])
    db = tmp_path / "c.sqlite"
    assert run("load", src, "--db", db, "-q").returncode == 0
    mine = tmp_path / "mine.toml"
    mine.write_text('[export]\nlocal_prefix = "(MYLIB)"\n')
    off = tmp_path / "off.toml"
    off.write_text("[export]\nlocal_035 = false\n")

    def exported(*extra: object) -> list[str]:
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}.mrc"
        proc = run("export", "--db", db, "--all", "-o", out, "-q", *extra)
        assert proc.returncode == 0, proc.stderr
        (raw,) = [r for _n, _o, r in marc8fast.read_records(out.read_bytes())]
        rec = marc8fast.Record.parse(raw)
        return [a for f in rec.get_fields("035") for a in f.get_subfields("a")]

    assert "(LOCAL)000000001" in exported()
    assert "(MYLIB)000000001" in exported("--profile", mine)
    assert not any(a.startswith(("(LOCAL)", "(MYLIB)")) for a in exported("--profile", off))
    # the command line wins
    assert "(X)000000001" in exported("--profile", off, "--local-prefix", "(X)")
    bad = tmp_path / "bad.toml"
    bad.write_text("[export]\nlocal_prefix = 3\n")
    proc = run("export", "--db", db, "--all", "-o", tmp_path / "z.mrc", "--profile", bad)
    assert proc.returncode == 2 and f"{bad}:2:1:" in proc.stderr
    assert not (tmp_path / "z.mrc").exists()


def test_load_with_the_vendor_example_overlays_by_isbn(tmp_path):
    ours = make_record(f049="LOCL", title="Brief order record")
    ours.remove_fields("020")
    ours.add_ordered_field(Field("020", "  ", [("a", "0306406152")]))
    ours.add_ordered_field(Field("950", "  ", [("a", "ordered 2026-11")]))
    db = tmp_path / "c.sqlite"
    assert run("load", write_marc8(tmp_path / "a.mrc", [ours]), "--db", db, "-q").returncode == 0
    full = make_record(f049="VEND", title="Full vendor record")
    full.remove_fields("020")
    full.add_ordered_field(Field("020", "  ", [("a", "9780306406157")]))
    full.add_ordered_field(Field("938", "  ", [("a", "vendor invoice")]))
    src = write_marc8(tmp_path / "v.mrc", [full])
    proc = run("load", src, "--db", db, "--profile", EXAMPLES / "vendor-isbn.toml")
    assert proc.returncode == 0, proc.stderr
    assert "Record overlaid: 000000001 (isbn 9780306406157)" in proc.stdout + proc.stderr
    con = sqlite3.connect(db)
    rows = con.execute("SELECT data FROM records").fetchall()
    con.close()
    assert len(rows) == 1
    rec = marc8fast.Record.parse(rows[0][0])
    assert rec["245"]["a"].startswith("Full vendor record")
    assert rec["049"]["a"] == "LOCL" and rec["950"]["a"] == "ordered 2026-11"
    assert "938" not in rec  # the vendor's 9XX deleted by the profile's field rules


def test_dry_run_with_a_review_profile_stages_nothing(tmp_path):
    a = make_record(title="Copy one", n=0)
    b = make_record(title="Copy two", n=1)
    for r in (a, b):
        r.remove_fields("020")
        r.add_ordered_field(Field("020", "  ", [("a", "9780262033848")]))
    db = tmp_path / "c.sqlite"
    assert run("load", write_marc8(tmp_path / "a.mrc", [a, b]), "--db", db, "-q").returncode == 0
    before = db.read_bytes()
    c = make_record(title="Copy three", n=2)
    c.remove_fields("020")
    c.add_ordered_field(Field("020", "  ", [("a", "0262033844")]))
    src = write_marc8(tmp_path / "v.mrc", [c])
    vendor = EXAMPLES / "vendor-isbn.toml"
    dry = run("load", src, "--db", db, "--profile", vendor, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "staged for review" in dry.stdout + dry.stderr
    assert db.read_bytes() == before
    real = run("load", src, "--db", db, "--profile", vendor)
    assert real.returncode == 0, real.stderr
    assert "staged for review as 1" in real.stdout + real.stderr
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM records").fetchone()[0] == 2
    con.close()
