"""pytest-benchmark suite for the Python-level numbers (not part of `make test`).

Run:  .venv/bin/python -m pytest benches/test_bench_python.py --benchmark-only
      (add --benchmark-json=out.json to keep the raw numbers)

Uses the field groups and LC files made by tools/bench_corpus.py (bench-data/, or
$MARC8FAST_BENCH_DATA); a benchmark whose data is missing fails with the command to make it.
Each benchmark's `extra_info` records the bytes it processes, so MB/s = bytes / mean time.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import marc8fast as m8

DATA = Path(os.environ.get("MARC8FAST_BENCH_DATA") or Path(__file__).parent.parent / "bench-data")
LIMIT = 200_000  # fields per group: enough for stable timings, small enough to run in seconds


def _fields(name: str) -> list[bytes]:
    path = DATA / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `python3 tools/bench_corpus.py` first")
    raw = path.read_bytes()
    out, pos = [], 0
    while pos < len(raw) and len(out) < LIMIT:
        (n,) = struct.unpack_from("<I", raw, pos)
        out.append(raw[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def _per_field(benchmark: Any, items: list[Any], fn: Callable[[Any], object]) -> None:
    size = sum(len(i if isinstance(i, bytes) else i.encode()) for i in items)
    benchmark.extra_info["bytes"] = size
    benchmark.extra_info["items"] = len(items)

    def run() -> None:
        for i in items:
            fn(i)

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("group", ["ascii", "latin", "nonlatin", "mix"])
def test_decode_per_field(benchmark: Any, group: str) -> None:
    _per_field(benchmark, _fields(f"fields-{group}.bin"), lambda f: m8.decode(f, errors="replace"))


@pytest.mark.parametrize("group", ["ascii", "latin", "nonlatin", "mix"])
def test_encode_per_field(benchmark: Any, group: str) -> None:
    texts = [f.decode("utf-8") for f in _fields(f"utf8-fields-{group}.bin")]
    _per_field(benchmark, texts, lambda t: m8.encode(t, errors="lossless"))


@pytest.mark.parametrize("group", ["mix"])
def test_pymarc_decode_per_field(benchmark: Any, group: str) -> None:
    pymarc_marc8 = pytest.importorskip("pymarc.marc8")
    fields = _fields(f"fields-{group}.bin")[:20_000]
    decoder = pymarc_marc8.MARC8ToUnicode(quiet=True)
    _per_field(benchmark, fields, decoder.translate)


@pytest.mark.parametrize(
    ("source", "to", "jobs"),
    [
        ("BooksAll.marc8.mrc", "utf8", 1),
        ("BooksAll.marc8.mrc", "utf8", 2),
        ("BooksAll.2016.part01.utf8", "marc8", 1),
        ("BooksAll.2016.part01.utf8", "marc8", 2),
    ],
)
def test_transcode_file(benchmark: Any, tmp_path: Path, source: str, to: str, jobs: int) -> None:
    src = DATA / source
    if not src.exists():
        pytest.fail(f"{src} is missing: run `python3 tools/bench_corpus.py` first")
    benchmark.extra_info["bytes"] = src.stat().st_size
    dst = tmp_path / "out.mrc"
    report = benchmark.pedantic(
        lambda: m8.transcode_file(src, dst, to=to, jobs=jobs),  # type: ignore[arg-type]
        rounds=3,
        iterations=1,
    )
    assert report.records_read == 250_000
