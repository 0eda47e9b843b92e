"""`marc8fast bench` as a real subprocess: with only pymarc (no yaz, Perl or Java on PATH) and with
every peer installed on this machine; a few records so that it takes seconds."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
SRC = ROOT / "tests" / "data" / "realworld" / "lul_fre_500.mrc"
PEERS = ("pymarc", "rmarc", "yaz-marcdump", "MARC::Charset", "marc4j")


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marc8fast", "bench", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        env=env,
        timeout=300,
    )


def rows(stdout: str) -> dict[str, list[str]]:
    out = {}
    for line in stdout.splitlines():
        if line.startswith("| ") and not line.startswith("| tool"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            out[cells[0]] = cells
    return out


@pytest.mark.skipif(importlib.util.find_spec("pymarc") is None, reason="needs pymarc")
def test_with_only_pymarc(tmp_path) -> None:
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    r = bench(str(SRC), "--limit", "100", "--repeat", "1", env=env)
    assert r.returncode == 0, r.stderr
    table = rows(r.stdout)
    assert set(table) == {"marc8fast", *PEERS}
    for tool in ("yaz-marcdump", "MARC::Charset", "marc4j"):
        assert table[tool][6].startswith("not installed"), table[tool]
    for tool in ("marc8fast", "pymarc"):
        assert float(table[tool][2].replace(",", "")) > 0, table[tool]  # MB/s
    assert table["marc8fast"][4] == "1.0×"
    assert table["pymarc"][4].endswith(("slower", "faster"))
    assert "machine:" in r.stdout and "cores" in r.stdout


def test_with_every_peer_installed(tmp_path) -> None:
    out_json = tmp_path / "bench.json"
    r = bench(str(SRC), "--limit", "200", "--repeat", "2", "--json", str(out_json))
    assert r.returncode == 0, r.stdout + r.stderr
    table = rows(r.stdout)
    installed = {
        "pymarc": importlib.util.find_spec("pymarc") is not None,
        "rmarc": importlib.util.find_spec("rmarc") is not None,
        "yaz-marcdump": shutil.which("yaz-marcdump") is not None,
        "MARC::Charset": shutil.which("perl") is not None
        and subprocess.run(["perl", "-MMARC::Charset", "-e1"], check=False).returncode == 0,
        "marc4j": shutil.which("java") is not None and Path("/usr/share/java/marc4j.jar").exists(),
    }
    for tool, present in installed.items():
        cells = table[tool]
        if present:
            assert float(cells[2].replace(",", "")) > 0, cells
            assert float(cells[3].replace(",", "")) > 0, cells
        else:
            assert cells[6].startswith("not installed"), cells
    assert "200 records" in r.stdout
    assert out_json.exists()


def test_bad_arguments(tmp_path) -> None:
    assert bench(str(tmp_path / "missing.mrc")).returncode == 2
    assert bench(str(SRC), "--tools", "nosuchtool").returncode == 2
