"""Issue 21 (i21-pipe): ``marc8fast load`` through the core's batch pipeline, as a cataloger
meets it: the same records loaded again in another order, on SQLite and PostgreSQL, store
nothing; the summary and the exit status say so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import marc8fast
import marc8fast.catalog

ROOT = Path(__file__).resolve().parent.parent.parent
JAZZ = ROOT / "tests" / "data" / "realworld" / "jazz_1k.mrc"


def load(db: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marc8fast", "load", "--no-progress", "--db", db, *map(str, files)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


def test_loading_the_same_records_in_another_order_stores_nothing(tmp_path, catalog_target):
    first = load(catalog_target, JAZZ)
    assert first.returncode == 0, first.stderr[-2000:]
    with marc8fast.catalog.open_catalog(catalog_target, readonly=True) as c:
        stored = c.count()
    assert stored > 900
    raws = [raw for _n, _o, raw in marc8fast.read_records(JAZZ.read_bytes())]
    other = tmp_path / "reordered.mrc"
    other.write_bytes(b"".join(reversed(raws)))
    again = load(catalog_target, other)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{len(raws):,} record(s): 0 new, 0 possible duplicate, 0 overlaid, " in again.stderr
    assert f"{len(raws):,} duplicate" in again.stderr
    lines = again.stdout.splitlines()
    assert len(lines) == len(raws)
    assert all(": not loaded: duplicate of " in line for line in lines), lines[:3]
    assert any(line.endswith("(same content)") for line in lines)
    with marc8fast.catalog.open_catalog(catalog_target, readonly=True) as c:
        assert c.count() == stored
