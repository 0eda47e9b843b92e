#!/usr/bin/env python3
"""Build the benchmark corpus: 250,000 LC records in MARC-8 and UTF-8, split into field groups.

Usage:  python3 tools/bench_corpus.py            (build whatever is missing, print a summary)
        python3 tools/bench_corpus.py --force    (rebuild the field files, keep the download)

The MARC-8 data is made *without our own encoder*, so a benchmark of our decoder does not run on
bytes shaped by our own code.  Steps (each is skipped when its output already exists):

1. ``pip download --no-binary :all: --no-deps pymarc==5.4.0`` and take
   ``BooksAll.2016.part01.utf8`` (250,000 Library of Congress records, UTF-8, 241 MB) out of the
   source tarball.
2. Convert it to MARC-8 with yaz: ``yaz-marcdump -f UTF-8 -t MARC-8 -l 9=32 -o marc
   BooksAll... > BooksAll.marc8.mrc`` (Debian/Ubuntu: ``apt-get install yaz``; macOS:
   ``brew install yaz``).  ``-l 9=32`` sets leader/09 to blank (MARC-8): yaz 5.34 converts the
   data but leaves the UTF-8 flag ``a`` in place.  yaz's warnings go to ``yaz-marcdump.log``.
   Note that yaz silently drops characters MARC-8 cannot hold (in this corpus: U+200F and the
   bidi controls U+202A-U+202C in about 5,400 subfields), so the two files differ there.
3. Split every subfield of every data field of the MARC-8 file into three groups by its bytes:

   ``ascii``     all bytes < 0x80 and no ESC (0x1B)
   ``latin``     some byte >= 0x80 (ANSEL diacritics and specials) but no ESC
   ``nonlatin``  contains ESC: EACC, Hebrew, Cyrillic, Arabic, Greek, sub/superscripts

   and write ``fields-ascii.bin``, ``fields-latin.bin``, ``fields-nonlatin.bin`` plus
   ``fields-mix.bin`` (every subfield, all groups, in file order).
4. The same for the UTF-8 file (for the encoder benchmark), grouped by the script of the text:

   ``ascii``     all characters < U+0080
   ``latin``     other characters are Latin letters, combining marks, or not letters at all
                 (punctuation, symbols, digits, spaces)
   ``nonlatin``  contains a letter of another script (CJK, Hebrew, Cyrillic, Arabic, Greek ...)

   written as ``utf8-fields-{ascii,latin,nonlatin,mix}.bin``.

File format of the ``*.bin`` files: a sequence of items, each a little-endian u32 byte length
followed by that many bytes (the subfield content, without the 0x1F and code byte).  Empty
subfields are left out.  ``fields-manifest.json`` records the counts and sizes.

Where: ``$MARC8FAST_BENCH_DATA`` if set, else ``bench-data/`` at the repository root (ignored by
git).  The download and the conversion take a few minutes; the split about a minute.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYMARC_VERSION = "5.4.0"
UTF8_NAME = "BooksAll.2016.part01.utf8"
MARC8_NAME = "BooksAll.marc8.mrc"
YAZ_LOG = "yaz-marcdump.log"
MANIFEST = "fields-manifest.json"
GROUPS = ("ascii", "latin", "nonlatin", "mix")

SF = 0x1F  # subfield delimiter
ESC = 0x1B


def data_dir() -> Path:
    env = os.environ.get("MARC8FAST_BENCH_DATA")
    return Path(env).expanduser().resolve() if env else ROOT / "bench-data"


def mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


# --- step 1: the UTF-8 corpus from pymarc's sdist ----------------------------------------------


def fetch_utf8(d: Path) -> tuple[Path, bool]:
    """Returns the path and whether it was (re)made in this run."""
    out = d / UTF8_NAME
    if out.exists():
        print(f"[1] {out.name}: present ({mb(out.stat().st_size)}), skipped")
        return out, False
    sdist_dir = d / "sdist"
    tarballs = sorted(sdist_dir.glob(f"pymarc-{PYMARC_VERSION}.tar.gz"))
    if not tarballs:
        print(f"[1] downloading pymarc=={PYMARC_VERSION} sdist into {sdist_dir} ...", flush=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            f"pymarc=={PYMARC_VERSION}",
            "-d",
            str(sdist_dir),
        ]
        subprocess.run(cmd, check=True)
        tarballs = sorted(sdist_dir.glob(f"pymarc-{PYMARC_VERSION}.tar.gz"))
        if not tarballs:
            sys.exit(f"pip download did not leave pymarc-{PYMARC_VERSION}.tar.gz in {sdist_dir}")
    with tarfile.open(tarballs[0]) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith("/" + UTF8_NAME)]
        if not members:
            sys.exit(f"{tarballs[0].name} has no {UTF8_NAME}")
        src = tar.extractfile(members[0])
        assert src is not None
        tmp = out.with_suffix(".part")
        with src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        tmp.replace(out)
    print(f"[1] {out.name}: extracted from {tarballs[0].name} ({mb(out.stat().st_size)})")
    return out, True


# --- step 2: MARC-8 via yaz --------------------------------------------------------------------


def convert_marc8(d: Path, utf8: Path, force: bool) -> tuple[Path, bool]:
    """Returns the path and whether it was (re)made in this run."""
    out = d / MARC8_NAME
    if out.exists() and not force:
        print(f"[2] {out.name}: present ({mb(out.stat().st_size)}), skipped")
        return out, False
    yaz = shutil.which("yaz-marcdump")
    if yaz is None:
        sys.exit(
            "yaz-marcdump not found.  Install yaz:\n"
            "    Debian/Ubuntu:  sudo apt-get install yaz\n"
            "    Fedora:         sudo dnf install yaz\n"
            "    macOS:          brew install yaz\n"
            "then run this script again."
        )
    cmd = [yaz, "-f", "UTF-8", "-t", "MARC-8", "-l", "9=32", "-o", "marc", str(utf8)]
    print(f"[2] converting to MARC-8: {' '.join(cmd[:-1])} {utf8.name} ...", flush=True)
    tmp = out.with_suffix(".part")
    log = d / YAZ_LOG
    t0 = time.perf_counter()
    with open(tmp, "wb") as dst, open(log, "wb") as err:
        proc = subprocess.run(cmd, stdout=dst, stderr=err, check=False)
    if proc.returncode != 0:
        sys.exit(f"yaz-marcdump failed with exit code {proc.returncode}; see {log}")
    tmp.replace(out)
    lines = log.read_text(errors="replace").splitlines()
    print(
        f"[2] {out.name}: {mb(out.stat().st_size)} in {time.perf_counter() - t0:.0f} s; "
        f"{len(lines)} line(s) of yaz warnings in {log.name}"
    )
    for line in lines[:5]:
        print(f"      {line}")
    return out, True


# --- ISO 2709 reading --------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.records = 0
        self.bad_records = 0
        self.fields = 0
        self.subfields = 0
        self.empty = 0
        self.length_mismatch = 0
        self.leader09: dict[str, int] = {}


def _core() -> Any:
    """marc8fast's native module: the records are split and parsed by its record layer (the one
    ISO 2709 reader of the project), not by this script."""
    try:
        from marc8fast import _native
    except ImportError:
        sys.exit("marc8fast is not installed in this Python: run `make build-dev` and use .venv")
    return _native


def records(path: Path, stats: Stats) -> Iterator[bytes]:
    """Yields each record's bytes, split by the record layer (records whose leader/00-04 is
    wrong are counted; bytes that are not a record are counted as bad records and skipped)."""
    recs, problems = _core().read_records_report(path.read_bytes())
    for p in problems:
        if p.kind == "length_mismatch":
            stats.length_mismatch += 1
        elif p.kind in ("garbage", "truncated_record"):
            stats.bad_records += 1
    for _, _, rec in recs:
        yield rec


def subfields(rec: bytes, stats: Stats) -> Iterator[bytes]:
    """Yields the content of every subfield of every data field (tag >= 010) of one record, its
    bytes as they stand (not converted), from the record layer's parse."""
    stats.records += 1
    core = _core()
    try:
        leader, fields = core.raw_fields(rec)
    except core.RecordError:
        stats.bad_records += 1
        return
    l9 = chr(leader[9])
    stats.leader09[l9] = stats.leader09.get(l9, 0) + 1
    for tag, body in fields:
        if tag < "010" and tag.isdigit():
            continue  # control field: no subfields, no MARC-8 beyond ASCII
        stats.fields += 1
        # body = 2 indicators, then 0x1F code content 0x1F code content ...
        for part in body.split(bytes([SF]))[1:]:
            stats.subfields += 1
            content = part[1:]
            if content:
                yield content
            else:
                stats.empty += 1


# --- classification ----------------------------------------------------------------------------


def classify_marc8(b: bytes) -> str:
    if ESC in b:
        return "nonlatin"
    if b.isascii():
        return "ascii"
    return "latin"


_char_cache: dict[str, bool] = {}


def _latin_char(c: str) -> bool:
    """True for a character that fits a Latin-script text: a Latin letter, a combining mark, or
    anything that is not a letter (digits, punctuation, symbols, spaces)."""
    r = _char_cache.get(c)
    if r is None:
        cat = unicodedata.category(c)
        if cat[0] != "L":
            r = True
        else:
            name = unicodedata.name(c, "")
            # MODIFIER LETTER covers LC's ayn/alif (U+02BB/U+02BC) and prime marks
            r = name.startswith(("LATIN ", "MODIFIER LETTER "))
        _char_cache[c] = r
    return r


def classify_utf8(b: bytes) -> str:
    if b.isascii():
        return "ascii"
    text = b.decode("utf-8", errors="replace")
    if all(_latin_char(c) for c in set(text)):
        return "latin"
    return "nonlatin"


# --- steps 3 and 4: field files ----------------------------------------------------------------


def split_fields(
    src: Path, d: Path, prefix: str, classify: Callable[[bytes], str], force: bool, label: str
) -> dict[str, object] | None:
    outs = {g: d / f"{prefix}-{g}.bin" for g in GROUPS}
    if not force and all(p.exists() for p in outs.values()):
        print(f"[{label}] {prefix}-*.bin: present, skipped")
        return None
    print(
        f"[{label}] splitting {src.name} into {prefix}-{{{','.join(GROUPS)}}}.bin ...", flush=True
    )
    t0 = time.perf_counter()
    stats = Stats()
    counts = dict.fromkeys(GROUPS, 0)
    sizes = dict.fromkeys(GROUPS, 0)
    bufs: dict[str, list[bytes]] = {g: [] for g in GROUPS}
    pack = struct.Struct("<I").pack
    for rec in records(src, stats):
        for content in subfields(rec, stats):
            g = classify(content)
            item = pack(len(content)) + content
            for grp in (g, "mix"):
                bufs[grp].append(item)
                counts[grp] += 1
                sizes[grp] += len(content)
    for g, p in outs.items():
        tmp = p.with_suffix(".part")
        with open(tmp, "wb") as f:
            f.write(b"".join(bufs[g]))
        tmp.replace(p)
    info: dict[str, object] = {
        "source": src.name,
        "source_bytes": src.stat().st_size,
        "source_sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
        "records": stats.records,
        "bad_records": stats.bad_records,
        "length_mismatch": stats.length_mismatch,
        "data_fields": stats.fields,
        "subfields": stats.subfields,
        "empty_subfields": stats.empty,
        "leader09": stats.leader09,
        "groups": {
            g: {"file": outs[g].name, "items": counts[g], "bytes": sizes[g]} for g in GROUPS
        },
    }
    print(
        f"[{label}] {stats.records:,} records, {stats.fields:,} data fields, "
        f"{stats.subfields:,} subfields ({stats.empty:,} empty, left out), "
        f"{stats.bad_records} unreadable records, {stats.length_mismatch} with a wrong "
        f"leader/00-04, leader/09 {stats.leader09}, "
        f"{time.perf_counter() - t0:.0f} s"
    )
    return info


def summary(d: Path) -> None:
    print(f"\nBenchmark data in {d}:")
    for name in (UTF8_NAME, MARC8_NAME):
        p = d / name
        if p.exists():
            print(f"  {name:<28} {mb(p.stat().st_size):>12}")
    manifest = d / MANIFEST
    if not manifest.exists():
        return
    info = json.loads(manifest.read_text())
    for side in ("marc8", "utf8"):
        s = info.get(side)
        if not s:
            continue
        print(f"  {side} subfields of {s['records']:,} records ({s['source']}):")
        for g in GROUPS:
            gi = s["groups"][g]
            share = gi["bytes"] / max(1, s["groups"]["mix"]["bytes"])
            print(
                f"    {gi['file']:<26} {gi['items']:>10,} items {mb(gi['bytes']):>11}"
                f"  ({share:6.1%} of bytes)"
            )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--data",
        type=Path,
        default=None,
        help="cache directory (default: $MARC8FAST_BENCH_DATA or <repo>/bench-data)",
    )
    ap.add_argument(
        "--force",
        action="store_true",
        help="rebuild the field files even if present (the download and the yaz "
        "conversion are kept; delete them by hand to redo them)",
    )
    args = ap.parse_args()
    d = args.data.resolve() if args.data else data_dir()
    d.mkdir(parents=True, exist_ok=True)
    utf8, new_utf8 = fetch_utf8(d)
    marc8, new_marc8 = convert_marc8(d, utf8, new_utf8)
    manifest_path = d / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for side, src, prefix, classify, label, fresh in (
        ("marc8", marc8, "fields", classify_marc8, "3", new_marc8),
        ("utf8", utf8, "utf8-fields", classify_utf8, "4", new_utf8),
    ):
        force = args.force or fresh or side not in manifest
        info = split_fields(src, d, prefix, classify, force, label)
        if info is not None:
            manifest[side] = info
            manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    summary(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
