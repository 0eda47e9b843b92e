"""The loader reads files in chunks: the records, their numbers and the problems' positions must
be those of splitting the whole file at once, wherever the chunks fall."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import marc8fast
from marc8fast.flows.importer import _record_chunks

DATA = Path(__file__).parent / "data"


def _whole_and_chunked(data: bytes, size: int) -> tuple[list[tuple], list[tuple]]:
    records, problems = marc8fast.read_records_report(data)
    whole = [("r", n, off, raw) for n, off, raw in records]
    whole += [("p", p.record, p.record_offset, p.kind) for p in problems]
    chunked = []
    for recs, probs, shift, base in _record_chunks(io.BytesIO(data), size):
        chunked += [("r", n + shift, off + base, raw) for n, off, raw in recs]
        chunked += [("p", p.record + shift, p.record_offset + base, p.kind) for p in probs]
    return sorted(whole), sorted(chunked)


@pytest.mark.parametrize("size", [1, 7, 1000, 4096, 1 << 20])
def test_chunks_split_like_the_whole_file(size: int) -> None:
    good = (DATA / "realworld" / "lul_fre_500.mrc").read_bytes()[:60_000]
    cut = good.rindex(b"\x1d") + 1
    data = good[:cut] + b"\r\nsome garbage\x1d" + good[:cut] + good[:500]  # + a truncated record
    whole, chunked = _whole_and_chunked(data, size)
    assert chunked == whole
    kinds = [k for tag, *_, k in whole if tag == "p"]
    assert "garbage" in kinds and "truncated_record" in kinds
