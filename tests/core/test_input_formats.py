"""Issue 18, item 12: one format detection, in the core, for every command.

``Format::detect`` (the binding's ``detect_format``) tells MARCXML (``<``) and MARC-in-JSON
(``[`` / ``{``) from ISO 2709 by the first byte that is not whitespace; ``MARCReader``,
``validate``, ``dump``, ``load`` and ``convert`` all go through it. Before, only ``convert``
sniffed (on its own, in the CLI): ``validate``, ``dump`` and ``load`` reported a MARCXML or JSON
file as ``garbage`` + ``truncated_record``. These tests run the real ``marc8fast`` process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_flows_import import ROOT, catalog

import marc8fast

DATA = Path(__file__).parent.parent / "data"
SRC = DATA / "realworld" / "uva_001_2000.mrc"  # MARC-8, with diacritics
N = 40


def cli(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "marc8fast", *map(str, args)],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("formats")
    raw = b"".join(r for _n, _o, r in marc8fast.read_records(SRC.read_bytes())[:N])
    iso = d / "in.mrc"
    iso.write_bytes(raw)
    out = {"iso2709": iso}
    for fmt, name in (("marcxml", "in.xml"), ("json", "in.json")):
        data, _, report = marc8fast.convert_records(raw, format=fmt)
        assert report.records_written == N
        out[fmt] = d / name
        # leading whitespace (and, for JSON, a byte order mark) must not matter
        prefix = b"\xef\xbb\xbf\n " if fmt == "json" else b"\n  "
        out[fmt].write_bytes(prefix + data)
    return out


def test_the_core_detects_each_format(inputs: dict[str, Path]) -> None:
    for fmt, path in inputs.items():
        assert marc8fast.detect_format(path.read_bytes()[:100]) == fmt
        with marc8fast.MARCReader(path) as reader:
            assert reader.format == fmt
            assert len(list(reader)) == N
            assert reader.problems == []


@pytest.mark.parametrize("fmt", ["marcxml", "json"])
def test_validate(inputs: dict[str, Path], fmt: str) -> None:
    for args, stdin in (([inputs[fmt]], None), (["-"], inputs[fmt].read_bytes())):
        r = cli("validate", "-o", "json", *args, stdin=stdin)
        assert r.returncode == 0, r.stderr.decode()
        doc = json.loads(r.stdout)
        (f,) = doc["files"]
        assert (f["records"], f["problems"]) == (N, 0), doc
    # what the file would lose in MARC-8: a character MARC-8 lacks, found and placed
    text = inputs[fmt].read_bytes()
    bad = text.replace(b"The ", "The \u2603".encode(), 1)  # a snowman in a title
    assert bad != text
    r = cli("validate", "--for-export", "-o", "json", "-", stdin=bad)
    assert r.returncode == 1, r.stderr.decode()
    doc = json.loads(r.stdout)
    assert doc["files"][0]["records"] == N
    kinds = {i["kind"] for i in doc["issues"]}
    assert "garbage" not in kinds and "truncated_record" not in kinds
    assert doc["issues"] and all(i["record"] >= 1 for i in doc["issues"])
    assert any("2603" in json.dumps(i) for i in doc["issues"]), doc["issues"]


def _dump_fields(out: bytes) -> list[str]:
    """dump's lines but the leaders (lengths and leader/09 depend on the source encoding)."""
    return [x for x in out.decode().splitlines() if not x.startswith("=LDR")]


@pytest.mark.parametrize("fmt", ["marcxml", "json"])
def test_dump(inputs: dict[str, Path], fmt: str) -> None:
    ref = cli("dump", inputs["iso2709"])
    assert ref.returncode == 0
    r = cli("dump", inputs[fmt])
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr == b""
    assert r.stdout.count(b"=LDR") == N
    assert _dump_fields(r.stdout) == _dump_fields(ref.stdout)


def _stored(db: Path) -> list[bytes]:
    with catalog(db) as s:
        return [r.data for r in sorted(s.iter_records(), key=lambda r: r.sysno)]


@pytest.mark.parametrize("fmt", ["marcxml", "json"])
def test_load(inputs: dict[str, Path], fmt: str, tmp_path: Path) -> None:
    ref_db = tmp_path / "ref.sqlite"
    assert cli("load", inputs["iso2709"], "--db", ref_db, "-q").returncode == 0
    db = tmp_path / "c.sqlite"
    report = tmp_path / "r.jsonl"
    r = cli("load", inputs[fmt], "--db", db, "--report", report)
    assert r.returncode == 0, r.stderr.decode()
    rows = [json.loads(x) for x in report.read_text().splitlines()]
    assert len(rows) == N and [row["record"] for row in rows] == list(range(1, N + 1))
    assert {row["fate"] for row in rows} <= {"new", "possible_duplicate", "duplicate"}
    # the same records as loading the ISO 2709 file: the same import pipeline
    assert _stored(db) == _stored(ref_db)
    # and the same bytes again are known
    r = cli("load", "-", "--db", db, "-q", stdin=inputs[fmt].read_bytes())
    assert r.returncode == 0, r.stderr.decode()
    assert _stored(db) == _stored(ref_db)


@pytest.mark.parametrize("fmt", ["marcxml", "json"])
def test_convert(inputs: dict[str, Path], fmt: str, tmp_path: Path) -> None:
    ref = tmp_path / "ref.mrc"
    assert cli("convert", inputs["iso2709"], ref, "--to", "utf8").returncode == 0
    out = tmp_path / "out.mrc"
    r = cli("convert", inputs[fmt], out, "--to", "utf8")
    assert r.returncode == 0, r.stderr.decode()
    assert out.read_bytes() == ref.read_bytes()
