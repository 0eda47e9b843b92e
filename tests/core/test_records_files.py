"""Whole files: transcode_file (issue 4, acceptance point 5).

* both directions equal the concatenated ``transcode_record`` outputs, with the Report's counts and
  problems positioned in the file;
* ``jobs=1`` and ``jobs=2`` give byte-identical output;
* peak memory does not grow with file size: a subprocess converts a one-copy file and a ~200 MB file
  (uva_001_2000.mrc repeated; far larger than the 1 MiB read chunk), reporting its own peak RSS;
* atomic output: ``dst == src`` is refused and the input untouched; a failing conversion leaves
  neither the destination nor a temporary file; an existing destination survives a failure;
* the progress callback sees increasing (records read, bytes read) counts.

Fixtures: ``tests/data/realworld`` and ``tests/data/encoder`` (see their READMEs).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap

import pytest
from test_records_corpus import DATA, check_structure

import marc8fast

MARC8 = DATA / "realworld" / "uva_001_2000.mrc"


def per_record(data: bytes, **opts):
    records = marc8fast.read_records(data)
    return records, [marc8fast.transcode_record(raw, **opts) for _n, _o, raw in records]


@pytest.mark.parametrize(
    ("rel", "opts"),
    [
        ("realworld/uva_001_2000.mrc", {"to": "utf8"}),
        ("realworld/specTestRecs.mrc", {"to": "utf8"}),
        ("realworld/hebrew.marc", {"to": "utf8", "normalize": "NFC"}),
        ("realworld/u2103_raw.mrc", {"to": "utf8", "legacy_ligatures": True}),
        ("encoder/yaz/marccol1.u8.marc", {"to": "marc8", "errors": "strict"}),
        ("encoder/yaz/marccol5.u8.marc", {"to": "marc8", "errors": "lossless"}),
        ("encoder/evergreen/nepali.marc", {"to": "marc8", "errors": "lossy"}),
        ("marc4j/brkrtest_UTF8.mrc", {"to": "marc8"}),
    ],
)
def test_file_equals_records(tmp_path, rel, opts):
    src = DATA / rel
    data = src.read_bytes()
    records, results = per_record(data, **opts)
    dst = tmp_path / "out.mrc"
    # str and PathLike; every problem kept (not only the first 10,000)
    report = marc8fast.transcode_file(str(src), dst, jobs=2, max_problems=None, **opts)
    out = dst.read_bytes()
    assert out == b"".join(o for o, _p in results if o is not None)
    assert report.records_read == len(records)
    assert report.records_written == sum(o is not None for o, _ in results)
    assert report.records_rejected == sum(o is None for o, _ in results)
    assert report.records_written >= len(records) - 1
    assert report.records_with_problems == sum(bool(p) for _, p in results)
    assert report.bytes_in == len(data) and report.bytes_out == len(out)
    exp = [
        (n, off, p.tag, p.occurrence, p.subfield, p.offset, p.kind, bytes(p.bytes), p.action)
        for (n, off, _raw), (_o, probs) in zip(records, results, strict=True)
        for p in probs
    ]
    got = [
        (
            p.record,
            p.record_offset,
            p.tag,
            p.occurrence,
            p.subfield,
            p.offset,
            p.kind,
            bytes(p.bytes),
            p.action,
        )
        for p in report.problems
    ]
    assert got == exp  # positioned in the file, in file order
    assert report.problem_count() == len(exp)
    assert sum(report.counts_by_kind().values()) == len(exp)
    doc = json.loads(report.to_json())
    assert isinstance(doc, dict)
    assert json.dumps(doc)  # plain data
    target = b"a" if opts["to"] == "utf8" else b" "
    pos = 0
    for _ in range(report.records_written):
        length = int(out[pos : pos + 5])
        check_structure(out[pos : pos + length])
        assert out[pos + 9 : pos + 10] == target
        pos += length
    assert pos == len(out)


@pytest.fixture(scope="module")
def big_marc8(tmp_path_factory):
    """~23 MB of MARC-8 (uva x 10, plus a broken record and garbage in the middle)."""
    path = tmp_path_factory.mktemp("big") / "uva10.mrc"
    data = MARC8.read_bytes()
    with open(path, "wb") as fh:
        for k in range(10):
            fh.write(data)
            if k == 4:
                fh.write(b"garbage between records")
    return path


def test_jobs_1_and_2_identical_both_ways(tmp_path, big_marc8):
    outs = {}
    reports = {}
    for jobs in (1, 2):
        dst = tmp_path / f"u8.{jobs}.mrc"
        reports[jobs] = marc8fast.transcode_file(big_marc8, dst, to="utf8", jobs=jobs)
        outs[jobs] = dst.read_bytes()
    assert outs[1] == outs[2]
    assert reports[1].records_written == reports[2].records_written == 20000
    assert [p.to_dict() for p in reports[1].problems] == [p.to_dict() for p in reports[2].problems]
    assert reports[1].counts_by_kind().get("garbage") == 1
    back = {}
    for jobs in (1, 2, 3):
        dst = tmp_path / f"m8.{jobs}.mrc"
        marc8fast.transcode_file(tmp_path / "u8.1.mrc", dst, to="marc8", jobs=jobs)
        back[jobs] = dst.read_bytes()
    assert back[1] == back[2] == back[3]
    # and the MARC-8 written from the UTF-8 reads back to the same UTF-8
    dst = tmp_path / "again.mrc"
    marc8fast.transcode_file(tmp_path / "m8.2.mrc", dst, to="utf8", jobs=2)
    assert dst.read_bytes() == outs[1]


def test_progress_callback(big_marc8, tmp_path):
    calls = []
    report = marc8fast.transcode_file(
        big_marc8, tmp_path / "p.mrc", to="utf8", jobs=2, progress=lambda r, b: calls.append((r, b))
    )
    assert len(calls) >= 2
    for (r0, b0), (r1, b1) in itertools.pairwise(calls):
        assert r1 >= r0 and b1 >= b0
    assert calls[-1][0] <= report.records_read and calls[-1][1] <= report.bytes_in
    assert calls[-1][1] > calls[0][1]


def test_progress_callback_error_stops_and_leaves_nothing(big_marc8, tmp_path):
    def boom(records, nbytes):
        raise RuntimeError("stop")

    dst = tmp_path / "never.mrc"
    with pytest.raises(RuntimeError, match="stop"):
        marc8fast.transcode_file(big_marc8, dst, to="utf8", progress=boom)
    assert os.listdir(tmp_path) == []


# The child reports its own peak RSS.  Not ru_maxrss: Linux keeps the high-water mark across
# fork + exec, so a child of a big pytest process would report the parent's size.  VmHWM in
# /proc/self/status belongs to the new address space made by exec.
PEAK = textwrap.dedent(
    """
    import sys, marc8fast
    report = marc8fast.transcode_file(sys.argv[1], sys.argv[2], to=sys.argv[3], jobs=2)
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    print(hwm, report.records_written)
    """
)


def peak_rss_mb(src, dst, to):
    out = subprocess.run(
        [sys.executable, "-c", PEAK, str(src), str(dst), to],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]) / 1024, int(out[1])  # VmHWM is in kB


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_peak_memory_does_not_grow_with_file_size(tmp_path):
    data = MARC8.read_bytes()
    small = tmp_path / "small.mrc"
    small.write_bytes(data)
    big = tmp_path / "big.mrc"
    copies = 200_000_000 // len(data) + 1  # ~200 MB, ~190 times the 1 MiB read chunk
    with open(big, "wb") as fh:
        for _ in range(copies):
            fh.write(data)
    assert big.stat().st_size > 200_000_000
    small_peak, n_small = peak_rss_mb(small, tmp_path / "small.out", "utf8")
    big_peak, n_big = peak_rss_mb(big, tmp_path / "big.out", "utf8")
    assert n_small == 2000 and n_big == 2000 * copies
    assert big_peak < small_peak + 150, (small_peak, big_peak)
    assert big_peak < 200, big_peak
    (tmp_path / "big.out").unlink()
    # the other way: UTF-8 -> MARC-8, from the big UTF-8 file we just made
    marc8fast.transcode_file(small, tmp_path / "small.u8", to="utf8")
    u8 = (tmp_path / "small.u8").read_bytes()
    with open(big, "wb") as fh:
        for _ in range(copies):
            fh.write(u8)
    back_peak, n_back = peak_rss_mb(big, tmp_path / "big.m8", "marc8")
    assert n_back == 2000 * copies
    assert back_peak < small_peak + 150 and back_peak < 200, (small_peak, back_peak)


def test_dst_equal_to_src_is_refused(tmp_path):
    src = tmp_path / "in.mrc"
    data = MARC8.read_bytes()[:50_000]
    src.write_bytes(data)
    before = src.stat()
    for dst in (src, str(src), tmp_path / "sub" / ".." / "in.mrc", tmp_path / "." / "in.mrc"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(ValueError):
            marc8fast.transcode_file(src, dst, to="utf8")
    assert src.read_bytes() == data
    assert src.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(os.listdir(tmp_path)) == ["in.mrc", "sub"]
    # a hard link to the source: the output replaces the link's directory entry (temp file +
    # rename), the input's bytes are never written over
    link = tmp_path / "link.mrc"
    os.link(src, link)
    try:
        marc8fast.transcode_file(src, link, to="utf8")
    except ValueError:
        pass
    assert src.read_bytes() == data


def test_failures_leave_nothing_behind(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dst = out_dir / "x.mrc"
    with pytest.raises(OSError):
        marc8fast.transcode_file(tmp_path / "missing.mrc", dst, to="utf8")
    assert os.listdir(out_dir) == []
    # an existing destination survives a failed conversion untouched
    dst.write_bytes(b"old")
    with pytest.raises(OSError):
        marc8fast.transcode_file(tmp_path / "missing.mrc", dst, to="utf8")
    assert dst.read_bytes() == b"old" and os.listdir(out_dir) == ["x.mrc"]
    # destination directory missing
    with pytest.raises(OSError):
        marc8fast.transcode_file(MARC8, tmp_path / "nowhere" / "x.mrc", to="utf8")
    assert not (tmp_path / "nowhere").exists()
    # bad options are refused before anything is written
    with pytest.raises(ValueError):
        marc8fast.transcode_file(MARC8, dst, to="latin1")
    with pytest.raises(ValueError):
        marc8fast.transcode_file(MARC8, dst, to="utf8", trust="nobody")
    assert dst.read_bytes() == b"old" and os.listdir(out_dir) == ["x.mrc"]


def test_strict_rejections_in_a_file(tmp_path):
    """errors="strict": records with a problem are rejected (counted), the others written."""
    src = DATA / "encoder/yaz/marccol5.u8.marc"
    dst = tmp_path / "strict.mrc"
    report = marc8fast.transcode_file(src, dst, to="marc8", errors="strict")
    records, results = per_record(src.read_bytes(), to="marc8", errors="strict")
    rejected = sum(o is None for o, _ in results)
    assert rejected >= 1
    assert report.records_rejected == rejected
    assert report.records_written == len(records) - rejected
    assert dst.read_bytes() == b"".join(o for o, _ in results if o is not None)
