"""Issue 21 (i21-pipe): import profiles on the command line: ``profile show`` prints the
built-in default, ``profile check`` lists every problem with its place (exit 2), ``load
--profile`` applies one."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import marc8fast

ROOT = Path(__file__).resolve().parent.parent.parent
JAZZ = ROOT / "tests" / "data" / "realworld" / "jazz_1k.mrc"


def run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marc8fast", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


def test_show_prints_a_profile_that_checks_clean(tmp_path):
    shown = run("profile", "show")
    assert shown.returncode == 0 and "[match]" in shown.stdout
    path = tmp_path / "default.toml"
    path.write_text(shown.stdout)
    checked = run("profile", "check", path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"{path}: a usable profile\n"


def test_check_names_every_problem_with_its_place(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[normalisation]\nlang_case = "upper"\n\n[match]\n  content_digest = "yes"\n'
        "weight = 3\n[other]\nx = 1\n"
    )
    proc = run("profile", "check", bad)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"marc8fast: {bad}:2:1: normalisation.lang_case must be 'fold' or 'exact', not 'upper'",
        f"marc8fast: {bad}:5:3: match.content_digest must be a bool, not 'yes'",
        f"marc8fast: {bad}:6:1: unknown key 'weight' in [match] (one of content_digest, oclc, "
        "points, threshold, none, one, several)",
        f"marc8fast: {bad}:7:1: unknown table [other] "
        "(one of normalisation, rules, match, overlay, fields, export)",
    ]
    broken = tmp_path / "broken.toml"
    broken.write_text("[rules]\ntarget_prefix = \n")
    proc = run("profile", "check", broken)
    assert proc.returncode == 2 and proc.stderr.startswith(f"marc8fast: {broken}:2:"), proc.stderr
    assert "Traceback" not in proc.stderr
    missing = run("profile", "check", tmp_path / "none.toml")
    assert missing.returncode == 2 and "none.toml" in missing.stderr
    # load refuses a bad profile before it opens (or makes) the catalog
    db = tmp_path / "c.sqlite"
    proc = run("load", JAZZ, "--db", db, "--profile", bad, "-q")
    assert proc.returncode == 2 and f"{bad}:2:1:" in proc.stderr
    assert not db.exists()


def test_load_applies_the_profile(tmp_path):
    exact = tmp_path / "exact.toml"
    exact.write_text('[normalisation]\nlang_case = "exact"\n\n[match]\ncontent_digest = false\n')
    raws = [raw for _n, _o, raw in marc8fast.read_records(JAZZ.read_bytes())]
    other = tmp_path / "reordered.mrc"
    other.write_bytes(b"".join(reversed(raws)))
    counts = {}
    for name, profile in (("default", None), ("exact", exact)):
        db = tmp_path / f"{name}.sqlite"
        extra = ["--profile", profile] if profile else []
        for src in (JAZZ, other):
            proc = run("load", src, "--db", db, "-q", *extra)
            assert proc.returncode == 0, proc.stderr
        con = sqlite3.connect(db)
        counts[name] = con.execute("SELECT count(*) FROM records").fetchone()[0]
        # $bENG: English under the default (035/040 kept), not under lang_case = "exact"
        n040 = con.execute("SELECT count(*) FROM records WHERE instr(data, '040') > 0").fetchone()
        counts[name + " 5"] = con.execute(
            "SELECT count(*) FROM records WHERE substr(data, 18, 1) = x'35'"
        ).fetchone()[0]
        con.close()
        assert n040[0] > 0
    # without the content digest, the records with no OCLC number load again
    assert counts["exact"] > counts["default"]
    assert counts["exact 5"] > counts["default 5"]
