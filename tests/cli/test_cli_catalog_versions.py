"""Issue 21 (i21-catalog), as a cataloger meets it on the command line: catalog show --version,
diff, revert, revert-batch, batches' status, review; load --dry-run and --rejects; export's
local 035 and --deleted-since. Every test that takes ``catalog_target`` runs on an SQLite file
and on a PostgreSQL database."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from marc8fast import Field, Record, read_records
from marc8fast.catalog import is_url, open_catalog

MARC8FAST = str(Path(sys.executable).parent / "marc8fast")


def cli(*args: object, check: int | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [MARC8FAST, *map(str, args)], capture_output=True, text=True, timeout=600, check=False
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout[-2000:], proc.stderr)
    return proc


def rec(title: str, oclc: str | None = None, *, target: int | None = None, note: str = "") -> bytes:
    r = Record(leader="00000nam a2200000 a 4500")
    if oclc is not None:
        r.add_field(Field("001", data=f"ocm{int(oclc):08d}"))
        r.add_field(Field("003", data="OCoLC"))
        r.add_field(Field("035", "  ", [("a", f"(OCoLC){oclc}")]))
    if target is not None:
        r.add_field(Field("035", "  ", [("a", f"(LOCAL){target:09d}")]))
    r.add_field(Field("040", "  ", [("a", "DLC"), ("b", "eng"), ("c", "DLC")]))
    r.add_field(Field("100", "1 ", [("a", f"Author {title}")]))
    r.add_field(Field("245", "10", [("a", title)]))
    if note:
        r.add_field(Field("500", "  ", [("a", note)]))
    return r.to_bytes(encoding="utf8")


def live_bytes(target: str) -> dict[int, bytes]:
    with open_catalog(target, readonly=True) as s:
        return {r.sysno: r.data for r in s.iter_records() if not r.deleted}


def fates(report: Path) -> list[tuple[int, str]]:
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    return [(r["record"], r["fate"]) for r in rows]


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def base(tmp_path, catalog_target) -> tuple[str, dict[int, bytes]]:
    """A catalog with 400 records (200 with OCLC numbers, 200 without), loaded in batch 1."""
    path = tmp_path / "base.mrc"
    path.write_bytes(
        b"".join(rec(f"Base {i}", str(1000 + i) if i % 2 else None) for i in range(400))
    )
    cli("load", path, "--db", catalog_target, "-q", check=0)
    return catalog_target, live_bytes(catalog_target)


def batch_file(tmp_path: Path, sysnos: list[int], name: str = "batch.mrc") -> Path:
    """1,000 records: the first 400 overlay ``sysnos`` by 035 (LOCAL), 600 are new."""
    overlays = [
        rec(f"Base {i} revised", None, target=s, note="revised") for i, s in enumerate(sysnos)
    ]
    new = [rec(f"New {i}", str(50_000 + i) if i % 3 else None) for i in range(600)]
    path = tmp_path / name
    path.write_bytes(b"".join(overlays + new))
    return path


def test_revert_batch_restores_every_record_and_the_count(tmp_path, base):
    db, before = base
    sysnos = sorted(before)
    assert len(sysnos) == 400
    path = batch_file(tmp_path, sysnos)
    proc = cli("load", path, "--db", db, "-q", "--report", tmp_path / "r.jsonl", check=0)
    got = fates(tmp_path / "r.jsonl")
    assert [f for _, f in got].count("overlaid") == 400 and [f for _, f in got].count("new") == 600
    after = live_bytes(db)
    assert len(after) == 1000 and all(after[s] != before[s] for s in sysnos)
    lines = cli("catalog", "batches", "--db", db, check=0).stdout.splitlines()
    assert len(lines) == 2 and "[completed 20" in lines[1] and "400 overlaid" in lines[1]
    proc = cli("catalog", "revert-batch", "2", "--db", db, check=0)
    assert proc.stdout.strip() == (
        "batch 2 reverted: 600 new record(s) deleted, 400 overlaid record(s) restored, 0 unchanged"
    )
    assert live_bytes(db) == before  # every record's bytes and the record count
    assert "[reverted" in cli("catalog", "batches", "--db", db, check=0).stdout.splitlines()[1]
    assert cli("catalog", "revert-batch", "2", "--db", db, check=1).stderr.endswith(
        "batch 2 is reverted already\n"
    )
    # The file loads again (its records no longer count as loaded).
    cli("load", path, "--db", db, "-q", "--report", tmp_path / "r2.jsonl", check=0)
    assert sorted(f for _, f in fates(tmp_path / "r2.jsonl")) == sorted(f for _, f in got)
    # A later batch changes one of batch 4's records: refused, naming the record; nothing done.
    one = tmp_path / "one.mrc"
    one.write_bytes(rec("Changed later", None, target=sysnos[7]))
    cli("load", one, "--db", db, "-q", check=0)
    snapshot = live_bytes(db)
    proc = cli("catalog", "revert-batch", "4", "--db", db, check=1)
    assert proc.stdout.splitlines() == [
        f"{path}: record 8: revert_conflict: {sysnos[7]:09d} was changed after batch 4 "
        "(overlaid in batch 5); revert it first, or revert the record itself"
    ]
    assert "not reverted: 1 record(s) changed since" in proc.stderr
    assert live_bytes(db) == snapshot
    # Undo the later change and nothing conflicts any more.
    cli("catalog", "revert-batch", "5", "--db", db, check=0)
    cli("catalog", "revert-batch", "4", "--db", db, check=0)
    assert live_bytes(db) == before


def test_diff_show_version_and_revert(tmp_path, base):
    db, before = base
    first = min(before)
    path = tmp_path / "fix.mrc"
    path.write_bytes(rec("Base 0 corrected", None, target=first, note="fixed"))
    cli("load", path, "--db", db, "-q", check=0)
    proc = cli("catalog", "diff", first, "--db", db, check=0)
    assert proc.stdout.splitlines() == [
        f"={'SYS'}  {first:09d}  version 1 -> 2",
        "- 100 1  $aAuthor Base 0",
        "+ 100 1  $aAuthor Base 0 corrected",
        "- 245 10 $aBase 0",
        "+ 245 10 $aBase 0 corrected",
        "+ 500    $afixed",
    ]
    assert cli("catalog", "diff", first, "2", "1", "--db", db, check=0).stdout.count("- 500") == 1
    shown = cli("catalog", "show", first, "--version", "1", "--db", db, check=0).stdout
    assert "=VERSION  1 of 2 (overlaid in batch 2" in shown and "$aBase 0\n" in shown
    assert cli("catalog", "show", first, "--version", "7", "--db", db, check=1).stderr.endswith(
        "no version 7 (versions 1 to 2)\n"
    )
    proc = cli("catalog", "revert", first, "--db", db, check=0)
    assert proc.stdout == f"{first:09d}: reverted to version 1 (now version 3)\n"
    assert live_bytes(db)[first] == before[first]
    history = cli("catalog", "history", first, "--db", db, check=0).stdout
    assert "reverted" in history and "reverted to version 1" in history
    cli("catalog", "revert", first, "--to", "2", "--db", db, check=0)
    assert b"corrected" in live_bytes(db)[first]
    assert cli("catalog", "diff", first, "1", "--db", db, check=2).returncode == 2


def test_dry_run_changes_nothing_and_reports_what_the_load_does(tmp_path, base):
    db, before = base
    path = batch_file(tmp_path, sorted(before)[:400])
    digest = None if is_url(db) else sha256(db)
    proc = cli("load", "--dry-run", path, "--db", db, "--report", tmp_path / "dry.jsonl", check=0)
    assert (
        "dry run, nothing stored (rolled back): batch 2: 1 file(s), 1,000 record(s): 600 new, "
        in (proc.stderr)
    )
    assert proc.stdout.count("Record overlaid") == 400
    if digest is not None:
        assert sha256(db) == digest  # the catalog file, byte for byte
    assert live_bytes(db) == before
    assert "batch 2" not in cli("catalog", "batches", "--db", db, check=0).stdout
    real = cli("load", path, "--db", db, "--report", tmp_path / "real.jsonl", check=0)
    assert fates(tmp_path / "dry.jsonl") == fates(tmp_path / "real.jsonl")
    # The same counts (on PostgreSQL the batch number differs: sequences are not rolled back).
    said = proc.stderr.split("(rolled back): ")[1].split(" in ")[0].split(": ", 1)[1]
    assert said == real.stderr.split(" in ")[0].split(": ", 1)[1]
    if digest is not None:  # the same system numbers too (nothing was taken)
        assert proc.stdout == real.stdout


def test_dry_run_never_makes_or_upgrades_a_catalog(tmp_path):
    import sqlite3

    path = tmp_path / "in.mrc"
    path.write_bytes(rec("One", "1"))
    db = tmp_path / "c.sqlite"
    proc = cli("load", "--dry-run", path, "--db", db, check=2)
    assert f"no catalog at {db}; a dry run makes none" in proc.stderr and not db.exists()
    cli("load", path, "--db", db, "-q", check=0)
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version=3")  # as an older marc8fast left it
    con.commit()
    con.close()
    digest = sha256(str(db))
    proc = cli("load", "--dry-run", path, "--db", db, check=2)
    assert "--dry-run does not upgrade a catalog" in proc.stderr
    assert sha256(str(db)) == digest


def test_rejects_are_written_as_they_came(tmp_path, catalog_target):
    good = rec("Good", "7")
    missing = rec("Targets nothing", None, target=999)
    empty = Record(leader="00000nam a2200000 a 4500").to_bytes(encoding="utf8")
    truncated = rec("Cut short", "8")[:-15]
    path = tmp_path / "in.mrc"
    path.write_bytes(good + missing + rec("Also good", "9") + empty + truncated)
    out = tmp_path / "rejects.mrc"
    proc = cli("load", path, "--db", catalog_target, "--rejects", out, check=1)
    assert proc.stdout.count("rejected") == 3, proc.stdout
    assert out.read_bytes() == missing + empty + truncated
    assert f"{out}: 3 rejected record(s) written" in proc.stderr
    assert [r for _, _, r in read_records(out.read_bytes())][:2] == [missing, empty]
    proc = cli("load", "-", "--db", catalog_target, "--rejects", out, check=2)
    assert "--rejects: standard input is not a file" in proc.stderr


def _batch_line(db: str) -> str:
    return cli("catalog", "batches", "--db", db, check=0).stdout.splitlines()[-1]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_or_killed_load_is_an_interrupted_batch(tmp_path, catalog_target, how):
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    load = subprocess.Popen(
        [MARC8FAST, "load", str(fifo), "--db", catalog_target, "--batch-size", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        w = open(fifo, "wb")
        try:
            w.write(b"".join(rec(f"Piped {i}", str(i + 1)) for i in range(5)))
            w.flush()
            deadline = time.monotonic() + 60
            while "running" not in _batch_line(catalog_target):
                assert time.monotonic() < deadline, _batch_line(catalog_target)
                time.sleep(0.2)
            load.send_signal(how)
        finally:
            # The loader waits in the core for more input; Python runs the SIGTERM handler
            # once the core hands it records (here: at the end of the input), as for Ctrl-C.
            with contextlib.suppress(BrokenPipeError):
                w.close()
        load.wait(timeout=60)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    assert "Traceback" not in (load.stderr.read() if load.stderr else "")
    line = _batch_line(catalog_target)
    assert "[interrupted" in line, line
    if how == signal.SIGTERM:
        assert load.returncode == 130  # as after Ctrl-C
        assert line.split("[interrupted ")[1][:2] == "20"  # its end was recorded


def test_export_carries_the_local_035_and_comes_back_as_overlays(tmp_path, base):
    db, before = base
    out = tmp_path / "out.mrc"
    cli("export", "--all", "--db", db, "-o", out, check=0)
    exported = [Record.parse(r) for _, _, r in read_records(out.read_bytes())]
    assert len(exported) == 400
    for sysno, r in zip(sorted(before), exported, strict=True):
        assert [f["a"] for f in r.get_fields("035") if f["a"].startswith("(LOCAL)")] == [
            f"(LOCAL){sysno:09d}"
        ]
    # Sent back by OCLC: every record overlays the one it came from (none stored twice).
    proc = cli("load", out, "--db", db, "-q", "--report", tmp_path / "r.jsonl", check=0)
    assert {f for _, f in fates(tmp_path / "r.jsonl")} == {"overlaid"}, proc.stderr
    assert sorted(live_bytes(db)) == sorted(before)
    assert b"(LOCAL)" not in b"".join(live_bytes(db).values())  # removed as it loaded
    cli("export", "--all", "--db", db, "-o", out, "--local-prefix", "(MYLIB)", check=0)
    assert out.read_bytes().count(b"(MYLIB)") == 400 and b"(LOCAL)" not in out.read_bytes()
    cli("export", "--all", "--db", db, "-o", out, "--no-local-035", check=0)
    assert b"(MYLIB)" not in out.read_bytes() and b"(LOCAL)" not in out.read_bytes()
    assert cli("export", "--all", "--db", db, "-o", out, "--local-prefix", " ", check=2)


def test_export_deleted_since_sends_deletions_with_leader_d(tmp_path, base):
    db, before = base
    gone = sorted(before)[3]
    cli("catalog", "delete", gone, "--db", db, check=0)
    out = tmp_path / "del.mrc"
    proc = cli("export", "--deleted-since", "2000-01-01", "--db", db, "-o", out, "-v", check=0)
    [(_, _, raw)] = read_records(out.read_bytes())
    r = Record.parse(raw)
    assert r.leader[5] == "d" and r.get("STA") is None
    assert f"{gone:09d}: exported as a deletion (leader/05 d)" in proc.stdout
    assert cli("export", "--deleted-since", "2999-01-01", "--db", db, "-o", out, check=0)
    both = tmp_path / "both.mrc"
    cli("export", "--all", "--deleted-since", "2000-01-01", "--db", db, "-o", both, check=0)
    leaders = [Record.parse(x).leader[5] for _, _, x in read_records(both.read_bytes())]
    assert len(leaders) == 400 and leaders.count("d") == 1
    proc = cli("export", "1", "--deleted-since", "2000-01-01", "--db", db, "-o", out, check=2)
    assert "not SYSNO" in proc.stderr


def test_review_commands(tmp_path, catalog_target):
    path = tmp_path / "in.mrc"
    path.write_bytes(rec("Stored", "5"))
    cli("load", path, "--db", catalog_target, "-q", check=0)
    with open_catalog(catalog_target) as s, s.transaction():
        one = s.stage_review(
            rec("Stored, better", "5"), [1], "title score 0.8", input_name="v.mrc", record_index=3
        )
        two = s.stage_review(
            rec("Unsure", "6"), [], "no match point", input_name="v.mrc", record_index=4
        )
    proc = cli("review" if False else "catalog", "review", "list", "--db", catalog_target, check=0)
    assert proc.stdout.splitlines() == [
        f"{one}  pending  v.mrc: record 3  candidates 000000001  title score 0.8  Stored, better",
        f"{two}  pending  v.mrc: record 4  candidates -  no match point  Unsure",
    ]
    shown = cli("catalog", "review", "show", one, "--db", catalog_target, check=0).stdout
    assert "=CANDIDATES  000000001" in shown and "$aStored, better" in shown
    proc = cli("catalog", "review", "accept", one, "--db", catalog_target, check=0)
    assert proc.stdout == f"staged {one}: accepted: overlaid 000000001\n"
    diff = cli("catalog", "diff", "1", "--db", catalog_target, check=0).stdout
    assert "+ 245 10 $aStored, better" in diff
    assert cli("catalog", "review", "accept", one, "--db", catalog_target, check=1)
    cli("catalog", "review", "reject", two, "--db", catalog_target, check=0)
    assert cli("catalog", "review", "list", "--db", catalog_target, check=0).stdout == ""
    assert (
        len(cli("catalog", "review", "list", "--all", "--db", catalog_target).stdout.splitlines())
        == 2
    )
    assert cli("catalog", "review", "show", "--db", catalog_target, check=2)
    assert cli("catalog", "review", "reject", "1", "--as", "new", "--db", catalog_target, check=2)


def test_review_accept_with_a_profile(tmp_path, catalog_target):
    """accept --profile: the overlay keeps that profile's protected fields; a profile that
    cannot be used, or --profile with another action, is a usage error (exit 2) and changes
    nothing."""
    path = tmp_path / "in.mrc"
    path.write_bytes(rec("Stored", "5", note="Stored note"))
    cli("load", path, "--db", catalog_target, "-q", check=0)
    with open_catalog(catalog_target) as s, s.transaction():
        one = s.stage_review(
            rec("Stored, better", "5", note="Incoming note"), [1], "title", input_name="v.mrc",
            record_index=1,
        )  # fmt: skip
    bad = tmp_path / "bad.toml"
    bad.write_text('[overlay]\nprotected = ["50"]\n')
    proc = cli("catalog", "review", "accept", one, "--profile", bad, "--db", catalog_target,
               check=2)  # fmt: skip
    assert proc.stderr.startswith(f"marc8fast: {bad}:2:") and "Traceback" not in proc.stderr
    proc = cli("catalog", "review", "list", "--profile", bad, "--db", catalog_target, check=2)
    assert "--profile go with accept" in proc.stderr
    good = tmp_path / "keep500.toml"
    good.write_text('[overlay]\nprotected = ["500"]\n')
    proc = cli("catalog", "review", "accept", one, "--profile", good, "--db", catalog_target,
               check=0)  # fmt: skip
    assert proc.stdout == f"staged {one}: accepted: overlaid 000000001\n"
    with open_catalog(catalog_target) as s:
        got = Record.parse(s.get(1).data)  # type: ignore[union-attr]
    assert got["245"]["a"] == "Stored, better" and got["500"]["a"] == "Stored note"
