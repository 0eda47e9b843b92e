"""`marc8fast dump`, the README's demo command, run as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
SAMPLE = ROOT / "examples" / "sample-marc8.mrc"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marc8fast", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )


def test_dump_sample() -> None:
    r = run("dump", str(SAMPLE))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.count("=LDR  ") == 5
    assert "=880  10$6245-02/(N$aОдлуке и решења Савезног устава суда." not in out
    assert "Одлуке и решења Савезног уставног суда." in out
    assert "גג  :$bבטאון" in out
    assert "金田一 京助 と アイヌ語" in out
    assert "Superscript 1 (¹)" in out and "Subscript 2 (₂)" in out
    assert "De la solitude a\u0300 la communaute\u0301." in out


def test_dump_reports_problems_with_positions(tmp_path: Path) -> None:
    raw = SAMPLE.read_bytes().split(b"\x1d")[0] + b"\x1d"
    at = raw.index(b"Tournier, Paul.")
    bad = raw[:at] + b"\xaf" + raw[at + 1 :]
    path = tmp_path / "bad.mrc"
    path.write_bytes(bad)
    r = run("dump", str(path))
    assert r.returncode == 1
    # the one problem-line layout of every command (issue 18, item 15)
    assert "record 1 @0 001=2: 100#1 $a offset 0 (field byte 4): unmapped_byte: [AF]" in r.stderr
    assert "=100  10$a\ufffdournier, Paul." in r.stdout


def test_dump_missing_file_is_exit_2(tmp_path: Path) -> None:
    r = run("dump", str(tmp_path / "nope.mrc"))
    assert r.returncode == 2 and "nope.mrc" in r.stderr
