"""Issue 11, what catalogers asked for: what the rules changed in each record (short in its line,
in full in ``--report`` and the load log), an overlay that keeps the local fields of the record
it replaces (``--overlay replace``: the old behaviour), and a progress bar on a terminal.

Real ``marc8fast`` processes on records built here byte by byte.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from catalogs import log_messages
from test_catalog_safety import ROOT, SAMPLE, records, run, titled

import marc8fast
from marc8fast import flows


def fields_of(data: bytes) -> list[str]:
    """``TAG value`` per field of a stored record, in order."""
    rec = marc8fast.Record.parse(data)
    return [f"{f.tag} {f.data if f.is_control_field() else f.value()}" for f in rec.fields]


# ------------------------------------------------------------------------------------------------
# what the rules changed


def test_each_record_says_what_the_rules_changed(tmp_path, catalog_target):
    db = catalog_target
    first = tmp_path / "first.mrc"
    first.write_bytes(titled("Plain"))
    assert run("load", first, "--db", db, "-q").returncode == 0
    f = tmp_path / "in.mrc"
    f.write_bytes(
        titled(
            "French",
            ("035", "  $a(OCoLC)777"),
            ("035", "  $a(LOCAL)000000001"),
            ("040", "  $aFRBN$bfre$cFRBN"),
        )
        + titled("Skipped", ("049", "  $aXYZ"))
        + titled("Untouched", ("040", "  $aDLC$beng"))
    )
    proc = run("load", f, "--db", db, "--exclude-symbol", "XYZ", "--report", tmp_path / "r.jsonl")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        f"{f}: record 1: Record overlaid: 000000001 [target 035 removed; "
        "040 $b fre: 035, 040 deleted, leader/17 ' '→'5']"
    )
    assert lines[1] == f"{f}: record 2: skipped: 049 $a XYZ is excluded"
    assert lines[2] == f"{f}: record 3: Record received: 000000002"
    rows = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert rows[0]["changes"] == [
        "removed the targeting 035 \\\\$a(LOCAL)000000001",
        "040 $b is 'fre', not 'eng': deleted 035 \\\\$a(OCoLC)777; "
        "040 \\\\$aFRBN$bfre$cFRBN; leader/17 ' ' → '5'",
    ]
    assert rows[1]["changes"] == ["skipped because 049 $a 'XYZ' is an excluded symbol"]
    assert rows[2]["changes"] == []
    log = log_messages(db)[1:]
    assert log[0] == "Record overlaid: 000000001 [" + "; ".join(rows[0]["changes"]) + "]"
    assert "excluded symbol" in log[1]
    assert log[2] == "Record received: 000000002"
    stored = fields_of(records(db)[1])
    assert not [x for x in stored if x[:3] in ("035", "040")]
    assert marc8fast.Record.parse(records(db)[1]).leader_at(17) == "5"


# ------------------------------------------------------------------------------------------------
# an overlay keeps the local fields


def _overlay_case(tmp_path: Path, db: str) -> tuple[str, Path]:
    old = tmp_path / "old.mrc"
    old.write_bytes(
        titled(
            "Old title",
            ("500", "  $aOld note"),
            ("949", "  $aOld item"),
            ("949", "  $aShared item"),
            ("CAT", "  $aCAT1$b20260101"),
            ("H01", "  $aHolding 1"),
        )
    )
    assert run("load", old, "--db", db, "-q").returncode == 0
    new = tmp_path / "new.mrc"
    new.write_bytes(
        titled(
            "New title",
            ("035", "  $a(LOCAL)000000001"),
            ("650", " 0$aSubject"),
            ("949", "  $aShared item"),
        )
    )
    return db, new


def test_an_overlay_keeps_the_local_fields_of_the_record_it_replaces(tmp_path, catalog_target):
    db, new = _overlay_case(tmp_path, catalog_target)
    proc = run("load", new, "--db", db, "--report", tmp_path / "r.jsonl")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        f"{new}: record 1: Record overlaid: 000000001 "
        "[target 035 removed; kept local 949, CAT, H01]"
    )
    # the bibliographic fields are the new record's, the local ones the old record's (9XX in
    # tag order, the others at the end), a field both have is not doubled
    assert fields_of(records(db)[1]) == [
        "008 990730s1999    xx            000 0 eng d",
        "650 Subject",
        "949 Shared item",
        "245 New title",
        "949 Old item",
        "CAT CAT1 20260101",
        "H01 Holding 1",
    ]
    row = json.loads((tmp_path / "r.jsonl").read_text())
    assert row["changes"][1] == (
        "kept from the record overlaid: 949 \\\\$aOld item; CAT \\\\$aCAT1$b20260101; "
        "H01 \\\\$aHolding 1"
    )


def test_overlay_replace_keeps_nothing(tmp_path, catalog_target):
    db, new = _overlay_case(tmp_path, catalog_target)
    proc = run("load", new, "--db", db, "--overlay", "replace")
    assert proc.returncode == 0, proc.stderr
    assert "kept" not in proc.stdout and "Record overlaid: 000000001" in proc.stdout
    assert fields_of(records(db)[1]) == [
        "008 990730s1999    xx            000 0 eng d",
        "650 Subject",
        "949 Shared item",
        "245 New title",
    ]


def test_the_overlay_api_defaults_to_merge(tmp_path, catalog_target):
    db, new = _overlay_case(tmp_path, catalog_target)
    seen = []
    flows.import_records([new], db, on_outcome=seen.append)
    assert seen[0].fate == "overlaid"
    assert [c.short for c in seen[0].changes] == ["target 035 removed", "kept local 949, CAT, H01"]
    with pytest.raises(ValueError, match="merge or replace"):
        flows.import_records([new], db, overlay="keep")


# ------------------------------------------------------------------------------------------------
# a progress bar on a terminal


def _run_with_tty_stderr(*args: str | Path) -> tuple[int, str, str]:
    """Run marc8fast with stderr on a pseudo-terminal (stdout piped): (status, stdout, what the
    terminal received)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "marc8fast", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=slave,
        cwd=ROOT,
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout=600), out, seen.decode("utf-8", "replace")


def test_load_and_export_draw_a_progress_bar_on_a_terminal(tmp_path, catalog_target):
    db = catalog_target
    status, out, tty = _run_with_tty_stderr("load", SAMPLE, "--db", db)
    assert status == 0, tty
    assert "\rload [" in tty and "] 100% 5 records" in tty, repr(tty)
    assert "\r\x1b[K" in tty  # the bar is wiped before the summary
    assert "Record received: 000000005" in out and "\r" not in out
    status, out, tty = _run_with_tty_stderr("export", "--all", "--db", db, "-o", tmp_path / "o")
    assert status == 0, tty
    assert "\rexport [" in tty and "] 100% 5 records" in tty, repr(tty)
    # --no-progress, -q, or stderr not a terminal: no bar
    status, _out, tty = _run_with_tty_stderr("load", SAMPLE, "--db", db, "--no-progress")
    assert status == 0 and "\r" not in tty.replace("\r\n", "\n"), repr(tty)
    status, _out, tty = _run_with_tty_stderr(
        "export", "--all", "--db", db, "-o", tmp_path / "o", "--no-progress"
    )
    assert status == 0 and "\r" not in tty.replace("\r\n", "\n"), repr(tty)
    piped = run("load", SAMPLE, "--db", db)
    assert "\r" not in piped.stderr
