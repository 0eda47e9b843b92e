"""The loader reads its input with ``marc8fast.MARCReader``, which streams the file in blocks: the
records, their numbers and the problems' positions must be those of splitting the whole file at
once, wherever the blocks end. (A stray record terminator at every offset around a block boundary:
test_marcreader.py; the same as a user meets it with ``load``: test_flows_stray_terminator.py.)"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import marc8fast

DATA = Path(__file__).parent.parent / "data"


def _whole(data: bytes) -> list[tuple[object, ...]]:
    records, problems = marc8fast.read_records_report(data)
    out: list[tuple[object, ...]] = [("r", n, off) for n, off, _raw in records]
    out += [("p", p.record, p.record_offset, p.kind) for p in problems]
    return sorted(out)


def _streamed(source: object, **kw: object) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    with marc8fast.MARCReader(source, **kw) as reader:  # type: ignore[arg-type]
        for rec in reader:
            out.append(("r", rec.number, rec.offset))
        out += [("p", p.record, p.record_offset, p.kind) for p in reader.problems]
    return sorted(set(out))


def _corpus() -> bytes:
    good = (DATA / "realworld" / "lul_fre_500.mrc").read_bytes()[:60_000]
    cut = good.rindex(b"\x1d") + 1
    return good[:cut] + b"\r\nsome garbage\x1d" + good[:cut] + good[:500]  # + a truncated record


@pytest.mark.parametrize("size", [4096, 10_000, 1 << 20])
def test_reader_blocks_split_like_the_whole_file(size: int) -> None:
    data = _corpus()
    whole = _whole(data)
    assert _streamed(io.BytesIO(data), chunk_size=size) == whole
    kinds = [k for tag, *_, k in whole if tag == "p"]
    assert "garbage" in kinds and "truncated_record" in kinds
