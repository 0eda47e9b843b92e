"""Every output file gets the mode a new file gets under the umask (issue 10, item 6): export
files used to be 0600 (a temporary file's mode) while ``convert`` output was 0644."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "sample-marc8.mrc"


def run(args: list[str], umask: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    def set_umask() -> None:
        os.umask(umask)

    return subprocess.run(
        [sys.executable, "-m", "marc8fast", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        preexec_fn=set_umask,
        check=False,
    )


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_export_convert_and_reports_follow_the_umask(tmp_path: Path, umask: int) -> None:
    want = 0o666 & ~umask
    db = tmp_path / "c.sqlite"
    r = run(["load", str(SAMPLE), "--db", str(db)], umask, tmp_path)
    assert r.returncode == 0, r.stderr
    r = run(["export", "--all", "--db", str(db), "-o", "out.mrc"], umask, tmp_path)
    assert r.returncode == 0, r.stderr
    assert mode(tmp_path / "out.mrc") == want
    r = run(
        ["convert", str(SAMPLE), "utf8.mrc", "--to", "utf8", "--report", "rep.jsonl"],
        umask,
        tmp_path,
    )
    assert r.returncode in (0, 1), r.stderr
    assert mode(tmp_path / "utf8.mrc") == want
    assert mode(tmp_path / "rep.jsonl") == want
    r = run(
        ["convert", str(SAMPLE), "out.xml", "--to", "utf8", "--format", "marcxml"], umask, tmp_path
    )
    assert r.returncode in (0, 1), r.stderr
    assert mode(tmp_path / "out.xml") == want
    # No temporary file is left beside the outputs.
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
