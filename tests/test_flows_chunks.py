"""The loader reads its input with ``marc8fast.MARCReader``, which streams the file in blocks: the
records, their numbers and the problems' positions must be those of splitting the whole file at
once, wherever the blocks end — also when a stray record terminator (0x1D) sits inside a field
right before a block boundary (issue 10)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import marc8fast

DATA = Path(__file__).parent / "data"


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


def test_stray_terminator_at_every_offset_around_a_block_boundary() -> None:
    """Three records, the middle one holding a 0x1D inside a field; the 0x1D is moved over every
    offset around the reader's block boundary: always three records, as a whole-file split."""
    raws = [raw for _n, _o, raw in marc8fast.read_records(_corpus())[:3]]
    middle = bytearray(raws[1])
    base = int(middle[12:17])
    first_len = len(raws[0])
    block = 4096
    for stray in range(base + 4, len(middle) - 2):
        m = bytearray(middle)
        if m[stray] in (0x1E, 0x1F):
            continue
        m[stray] = 0x1D
        # put the block boundary at -3..+3 bytes around the stray terminator
        for delta in range(-3, 4):
            pad = block - (first_len + stray) + delta
            if pad < 0:
                continue
            data = raws[0] + b"\n" * pad + bytes(m) + raws[2]
            whole = _whole(data)
            assert [t[0] for t in whole] == ["r", "r", "r"], "the whole-file split lost it"
            assert _streamed(io.BytesIO(data), chunk_size=block) == whole, (stray, delta)
