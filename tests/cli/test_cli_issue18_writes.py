"""Issue 18, items 1, 3, 4 and 5: what the commands write, run as real ``marc8fast`` processes.

1. A record's printed line and its ``--report`` row appear only after its commit: with the disk
   filling (the catalog's, or only the report's), the lines printed, the report's rows and the
   records stored are the same number.
3. Every command that writes refuses a path that is one of its inputs, another of its outputs or
   a catalog (one guard, :func:`marc8fast._paths.check_paths`).
4. ``convert`` leaves an existing output alone when every record is rejected.
5. Only ``load`` and ``catalog init`` make a catalog; ``load`` never makes one out of a file
   that exists.

The disk is made full with RLIMIT_FSIZE in the child (Python ignores SIGXFSZ, so a write past
the limit fails with EFBIG, as a full disk fails with ENOSPC): no root, no mount needed.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from test_catalog_safety import SAMPLE, files_of, iso2709, one_line_error, records, titled

ROOT = Path(__file__).parent.parent.parent
MARC8FAST = str(ROOT / ".venv" / "bin" / "marc8fast")


def run(
    *args: str | Path,
    cwd: Path = ROOT,
    preexec_fn: Callable[[], object] | None = None,
    input: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """The command's outcome; one that does not end within ``timeout`` (a server that started
    when it should have refused) is killed and given exit status -9."""
    try:
        return subprocess.run(
            [MARC8FAST, *map(str, args)],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=timeout,
            preexec_fn=preexec_fn,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or ""
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else e.stderr or ""
        return subprocess.CompletedProcess(e.cmd, -9, out, err + "\n(still running: killed)")


def file_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def stored(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        con.close()


def received(stdout: str) -> int:
    return sum(1 for line in stdout.splitlines() if ": Record received: " in line)


# ------------------------------------------------------------------------------------------------
# 1. nothing said about a record before its commit


def _counts(tmp_path: Path, src: Path, limit: int) -> tuple[int, int, int, str]:
    db, rep = tmp_path / "c.sqlite", tmp_path / "fates.jsonl"
    proc = run(
        "load", src, "--db", db, "--report", rep, "--batch-size", "50",
        preexec_fn=file_limit(limit),
    )  # fmt: skip
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    rows = [json.loads(line) for line in rep.read_text().splitlines()] if rep.exists() else []
    loaded = [r for r in rows if r["fate"] == "new"]
    return received(proc.stdout), len(loaded), stored(db), proc.stderr


def test_a_full_catalog_disk_prints_and_reports_only_what_it_stored(tmp_path):
    # Records of about 4 KB: the catalog's WAL outgrows the limit long before the report does.
    src = tmp_path / "in.mrc"
    src.write_bytes(b"".join(titled(f"Big {i}", ("500", "  $a" + "x" * 4000)) for i in range(2000)))
    printed, rows, in_db, err = _counts(tmp_path, src, 2_000_000)
    print(f"catalog disk full: printed {printed}, report rows {rows}, stored {in_db}")
    assert 0 < in_db < 2000, err
    assert printed == rows == in_db, err
    assert "c.sqlite" in err  # the error names the catalog


def test_a_full_report_disk_prints_and_reports_only_what_it_stored(tmp_path):
    # Small records with many problems each (a DEL in every subfield: replaced, reported): the
    # report's rows are ten times the size of the records, so the report fills first.
    bodies = "".join(f"$a{i}\x7f" for i in range(40))
    src = tmp_path / "in.mrc"
    src.write_bytes(b"".join(titled(f"Noisy {i}", ("500", "  " + bodies)) for i in range(2000)))
    printed, rows, in_db, err = _counts(tmp_path, src, 1_500_000)
    print(f"report disk full: printed {printed}, report rows {rows}, stored {in_db}")
    assert 0 < in_db < 2000, err
    assert printed == rows == in_db, err
    assert "fates.jsonl" in err and "Errno" not in err  # names the report, no [Errno 27]


# ------------------------------------------------------------------------------------------------
# 3. one guard: never over an input, another output, or a catalog


def _catalog(tmp_path: Path) -> Path:
    db = tmp_path / "catalog.sqlite"
    assert run("load", SAMPLE, "--db", db, "-q").returncode == 0
    return db


def test_convert_never_writes_over_its_input_its_output_or_a_catalog(tmp_path):
    src = tmp_path / "a.mrc"
    src.write_bytes(SAMPLE.read_bytes())
    out = tmp_path / "out.mrc"
    out.write_bytes(b"old output")
    db = _catalog(tmp_path)
    (tmp_path / "a-link.mrc").symlink_to(src)
    os.link(src, tmp_path / "a-hard.mrc")
    before = files_of(tmp_path)
    for args in (
        [src, out, "--to", "utf8", "--report", src],
        [src, out, "--to", "utf8", "--report", tmp_path / "a-link.mrc"],
        [src, out, "--to", "utf8", "--report", tmp_path / "a-hard.mrc"],
        [src, out, "--to", "utf8", "--report", out],
        [src, db, "--to", "utf8"],
        [src, f"{db}-wal", "--to", "utf8"],
        [src, out, "--to", "utf8", "--report", db],
        [src, tmp_path / "a-hard.mrc", "--to", "utf8"],
    ):
        one_line_error(run("convert", *args), "refusing")
        assert files_of(tmp_path) == before, args
    assert len(records(db)) == 5


def test_serve_log_and_bench_json_are_guarded_too(tmp_path):
    db = _catalog(tmp_path)
    before = db.read_bytes()
    for log in (db, f"{db}-wal", f"{db}-shm"):
        one_line_error(
            run(
                "serve",
                "--db",
                db,
                "--no-auth",
                "--connexion",
                "127.0.0.1:0",
                "--log",
                log,
                timeout=20,
            ),
            "refusing",
            "the catalog",
        )
    other = tmp_path / "other.sqlite"
    assert run("catalog", "init", "--db", other).returncode == 0
    one_line_error(
        run(
            "serve",
            "--db",
            db,
            "--no-auth",
            "--connexion",
            "127.0.0.1:0",
            "--log",
            other,
            timeout=20,
        ),
        "refusing",
    )
    assert db.read_bytes() == before
    src = tmp_path / "a.mrc"
    src.write_bytes(SAMPLE.read_bytes())
    one_line_error(run("bench", src, "--json", src, "--tools", "marc8fast"), "refusing")
    assert src.read_bytes() == SAMPLE.read_bytes()


def test_an_output_over_some_other_catalog_is_refused(tmp_path):
    """Not only the command's own catalog: export -o over another catalog is refused too."""
    db = _catalog(tmp_path)
    other = tmp_path / "other.sqlite"
    assert run("catalog", "init", "--db", other).returncode == 0
    before = other.read_bytes()
    one_line_error(run("export", "--all", "--db", db, "-o", other), "refusing", "catalog")
    one_line_error(run("load", SAMPLE, "--db", db, "--report", other), "refusing", "catalog")
    assert other.read_bytes() == before


# ------------------------------------------------------------------------------------------------
# 4. convert leaves its output alone when nothing is written


def _marc8_record(body: str) -> bytes:
    rec = iso2709(("008", "990730s1999    xx            000 0 eng d"), ("245", f"10$a{body}"))
    return rec[:9] + b" " + rec[10:]  # leader/09 blank: MARC-8


def test_convert_keeps_the_old_output_when_every_record_is_rejected(tmp_path):
    src = tmp_path / "bad.mrc"
    src.write_bytes(_marc8_record("ab\x1b(Zcd") * 3)  # an escape that designates nothing
    out = tmp_path / "out.mrc"
    out.write_bytes(SAMPLE.read_bytes())
    proc = run("convert", src, out, "--to", "utf8", "--errors", "strict")
    assert proc.returncode == 1, proc.stderr
    assert "3 rejected" in proc.stderr and "left as it was" in proc.stderr
    assert out.read_bytes() == SAMPLE.read_bytes()
    gone = tmp_path / "new.mrc"
    proc = run("convert", src, gone, "--to", "utf8", "--errors", "strict")
    assert proc.returncode == 1 and not gone.exists() and "not created" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mrc", "out.mrc"]
    # one good record among them: written, replacing the old output
    src.write_bytes(_marc8_record("ab\x1b(Zcd") + _marc8_record("good"))
    proc = run("convert", src, out, "--to", "utf8", "--errors", "strict")
    assert proc.returncode == 1 and out.read_bytes().count(b"\x1d") == 1


# ------------------------------------------------------------------------------------------------
# 5. only load and catalog init make a catalog


def test_a_typo_in_db_makes_no_catalog(tmp_path):
    typo = tmp_path / "typo.sqlite"
    for args in (
        ["serve", "--db", typo, "--z3950", "127.0.0.1:0"],
        ["serve", "--db", typo, "--connexion", "127.0.0.1:0"],
        ["serve", "--db", typo, "--connexion", "127.0.0.1:0", "--no-auth"],
        ["users", "add", "cataloging", "--db", typo, "--password-stdin"],
        ["users", "list", "--db", typo],
    ):
        proc = run(*args, input="long enough password\n", timeout=20)
        one_line_error(proc, f"no catalog at {typo}")
        assert list(tmp_path.iterdir()) == [], args


@pytest.mark.parametrize("content", [b"", b"some notes, not a catalog\n"])
def test_load_never_turns_an_existing_file_into_a_catalog(tmp_path, content):
    target = tmp_path / "empty.mrc"
    target.write_bytes(content)
    one_line_error(run("load", SAMPLE, "--db", target), str(target), "not a marc8fast catalog")
    assert target.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mrc"]


def test_catalog_init_makes_one_and_load_or_users_use_it(tmp_path):
    db = tmp_path / "c.sqlite"
    made = run("catalog", "init", "--db", db)
    assert made.returncode == 0, made.stderr
    assert run("catalog", "init", "--db", db).returncode == 0  # there already: left alone
    added = run("users", "add", "unit", "--db", db, input="long enough password\n")
    assert added.returncode == 0, added.stderr
    assert run("load", SAMPLE, "--db", db, "-q").returncode == 0
    assert len(records(db)) == 5
    not_a_catalog = tmp_path / "notes.txt"
    not_a_catalog.write_text("x")
    proc = run("catalog", "init", "--db", not_a_catalog)
    assert proc.returncode == 2 and not_a_catalog.read_text() == "x"
