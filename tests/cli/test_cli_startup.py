"""Issue 22: the start of a whole ``marc8fast convert`` process is part of every file's time
(with two jobs it does not divide). ``convert`` of ISO 2709 to ISO 2709 loads neither
``typing``, ``dataclasses`` (with ``inspect``) nor ``json`` when it lists no problem and writes
no report (together 10-15 ms of a ~40 ms start); it does load them when it lists problems, and
its problem lines and report are those of the other commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
SAMPLE = ROOT / "examples" / "sample-marc8.mrc"
BAD = ROOT / "tests" / "data" / "records" / "pymarc" / "bad_marc8_escape.dat"
HEAVY = ("typing", "dataclasses", "inspect", "json")

# Runs the CLI in a fresh interpreter and prints its exit status and which of HEAVY it loaded.
PROBE = """
import sys
from marc8fast.__main__ import main
status = main(sys.argv[1:])
print(int(status), ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def probe(*args: str) -> tuple[int, list[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        timeout=120,
    )
    status, _, loaded = done.stdout.strip().partition(" ")
    return int(status), [m for m in loaded.split(",") if m], done.stderr


def test_convert_loads_no_heavy_module_when_it_lists_no_problem(tmp_path: Path) -> None:
    out = tmp_path / "out.mrc"
    for args in (["-q", "--no-progress"], ["--jobs", "2"]):
        status, loaded, err = probe("convert", str(SAMPLE), str(out), "--to", "utf8", *args)
        assert status == 0, err
        assert loaded == [], (args, loaded)
        assert out.stat().st_size > 0


def test_convert_still_lists_and_reports_problems(tmp_path: Path) -> None:
    out, report = tmp_path / "out.mrc", tmp_path / "report.jsonl"
    status, loaded, err = probe(
        "convert", str(BAD), str(out), "--to", "utf8", "--report", str(report)
    )
    assert status == 1
    assert "dataclasses" in loaded
    lines = report.read_text(encoding="utf-8").splitlines()
    assert lines
    first = json.loads(lines[0])
    assert first["file"] == str(BAD) and first["kind"]
    assert f"{BAD}: record {first['record']}" in err
