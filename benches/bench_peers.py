#!/usr/bin/env python3
"""Per-field MARC-8 decoding speed from Python: marc8fast beside pymarc and rmarc, in one run.

Reads the field group files made by ``python3 tools/bench_corpus.py`` (subfields of 250,000 LC
records converted to MARC-8 by yaz: ``ascii``, ``latin``, ``nonlatin`` and all of them in file
order, ``mix``) and calls each decoder once per field:

  marc8fast   ``marc8fast.decode(field, errors="replace")``
  pymarc      ``pymarc.marc8.marc8_to_unicode(field)``  (a new ``MARC8ToUnicode`` per call,
              pure Python, NFC output; warnings go to stderr)
  rmarc       ``rmarc.marc8.marc8_to_unicode(field)``   (rmarc's public function: a Python
              wrapper around its Rust ``_rmarc.marc8_to_unicode_rs``)
  rmarc-rs    ``rmarc._rmarc.marc8_to_unicode_rs(field, False)``  (the native call alone)
  marc8fast-strict  ``marc8fast.decode(field)``  (not in the default list: shows what the
              keyword argument costs per call; yaz's output has no errors, so same result)

``--compare`` also decodes every field once more with each peer, outside the timing, and counts
the fields whose text differs from marc8fast's, modulo NFD and the legacy ligature halves
U+FE20-FE23 (pymarc's form).

Every repetition times every (group, decoder) pair, in an order rotated from one repetition to
the next, so the decoders share the machine's state; the table shows the median.  Throughput is
MB/s (10^6 bytes) of MARC-8 input.  File descriptor 2 is redirected to a temporary file while a
decoder runs, so pymarc's warnings do not flood the terminal; the lines written are counted and
reported.  Exceptions are counted per field (the loop goes on).

Run:  python3 benches/bench_peers.py                 (all fields; pymarc needs ~2 min a repetition)
      python3 benches/bench_peers.py --limit 20000   (a quick look)
      python3 benches/bench_peers.py --json out.json (also write the raw timings)
      python3 benches/bench_peers.py --compare       (also count output differences)
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import NOT_INSTALLED, ROOT, data_dir, machine, read_fields, version_of

GROUPS = ("ascii", "latin", "nonlatin", "mix")

Decoder = Callable[[bytes], Any]


def load_decoders(wanted: list[str], notes: list[str]) -> dict[str, Decoder]:
    decoders: dict[str, Decoder] = {}
    if "marc8fast" in wanted or "marc8fast-strict" in wanted:
        try:
            m8 = _import_marc8fast()
            m8.decode(b"a\xe2e", errors="replace")
            native = importlib.import_module("marc8fast._native")
            so = Path(native.__file__ or "?")
            stamp = datetime.datetime.fromtimestamp(so.stat().st_mtime).isoformat(
                timespec="seconds"
            )
            notes.append(
                f"marc8fast {version_of('marc8fast') or NOT_INSTALLED} from {so} (built {stamp})"
            )
            decode = m8.decode

            def marc8fast_decode(f: bytes) -> Any:
                return decode(f, errors="replace")

            if "marc8fast" in wanted:
                decoders["marc8fast"] = marc8fast_decode
            if "marc8fast-strict" in wanted:
                decoders["marc8fast-strict"] = decode  # default errors="strict", no keyword
        except Exception as e:  # not built yet, or a broken build
            notes.append(f"marc8fast skipped: not importable ({type(e).__name__}: {e})")
    if "pymarc" in wanted:
        try:
            import pymarc.marc8

            decoders["pymarc"] = pymarc.marc8.marc8_to_unicode
            notes.append(f"pymarc {version_of('pymarc') or NOT_INSTALLED}")
        except ImportError as e:
            notes.append(f"pymarc skipped: {e} (pip install pymarc)")
    if "rmarc" in wanted or "rmarc-rs" in wanted:
        try:
            import rmarc.marc8

            notes.append(
                f"rmarc {version_of('rmarc') or NOT_INSTALLED} (native MARC-8: "
                f"{getattr(rmarc.marc8, '_HAS_RUST_MARC8', '?')})"
            )
            if "rmarc" in wanted:
                decoders["rmarc"] = rmarc.marc8.marc8_to_unicode
            if "rmarc-rs" in wanted:
                from rmarc._rmarc import marc8_to_unicode_rs

                def rmarc_rs(f: bytes) -> Any:
                    return marc8_to_unicode_rs(f, False)

                decoders["rmarc-rs"] = rmarc_rs
        except ImportError as e:
            notes.append(f"rmarc skipped: {e} (pip install rmarc)")
    return decoders


def _import_marc8fast() -> Any:
    try:
        return importlib.import_module("marc8fast")
    except ImportError:
        # Not installed: try the source tree (works after `maturin develop`).
        sys.path.insert(0, str(ROOT / "python"))
        return importlib.import_module("marc8fast")


def run(fn: Decoder, fields: list[bytes]) -> int:
    errors = 0
    for f in fields:
        try:
            fn(f)
        except Exception:
            errors += 1
    return errors


def timed(fn: Decoder, fields: list[bytes]) -> tuple[float, int, int]:
    """Seconds, exceptions, lines written to fd 2 during one pass."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            t0 = time.perf_counter()
            errors = run(fn, fields)
            dt = time.perf_counter() - t0
            sys.stderr.flush()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: sink.read(1 << 20), b""))
    return dt, errors, lines


_LIGATURES = str.maketrans({"\ufe20": "\u0361", "\ufe21": "", "\ufe22": "\u0360", "\ufe23": ""})


def _canon(s: Any) -> str:
    return unicodedata.normalize("NFD", str(s).translate(_LIGATURES))


def compare(
    decoders: dict[str, Decoder], fields: dict[str, list[bytes]], groups: list[str]
) -> dict[tuple[str, str], tuple[int, str]]:
    """For each (group, peer): fields whose text differs from marc8fast's, and one example."""
    ref = decoders["marc8fast"]
    peers = [n for n in decoders if not n.startswith("marc8fast")]
    out: dict[tuple[str, str], tuple[int, str]] = {}
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        sys.stderr.flush()
        os.dup2(null.fileno(), 2)
        try:
            for g in (x for x in groups if x != "mix"):  # mix is the union of the others
                counts = dict.fromkeys(peers, 0)
                examples = dict.fromkeys(peers, "")
                for f in fields[g]:
                    want = _canon(ref(f))
                    for n in peers:
                        try:
                            got = _canon(decoders[n](f))
                        except Exception as e:
                            got = f"<{type(e).__name__}>"
                        if got != want:
                            counts[n] += 1
                            if not examples[n]:
                                examples[n] = (
                                    f"{f[:60]!r}: marc8fast {want[:40]!r}, {n} {got[:40]!r}"
                                )
                for n in peers:
                    out[(g, n)] = (counts[n], examples[n])
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--data",
        type=Path,
        default=None,
        help="field files directory (default: $MARC8FAST_BENCH_DATA or <repo>/bench-data)",
    )
    ap.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="use only the first N fields of each group",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="R",
        help="repetitions; the median is reported (default 3)",
    )
    ap.add_argument(
        "--groups",
        default=",".join(GROUPS),
        help=f"comma-separated groups (default {','.join(GROUPS)})",
    )
    ap.add_argument(
        "--decoders",
        default="marc8fast,pymarc,rmarc,rmarc-rs",
        help="comma-separated decoders (default marc8fast,pymarc,rmarc,rmarc-rs)",
    )
    ap.add_argument(
        "--compare",
        action="store_true",
        help="count fields where a peer's text differs from marc8fast's (modulo NFD "
        "and ligature form), with one example each",
    )
    ap.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT",
        help="write the machine, settings and every timing to OUT",
    )
    args = ap.parse_args()

    d = args.data.resolve() if args.data else data_dir()
    groups = [g for g in args.groups.split(",") if g]
    missing = [g for g in groups if not (d / f"fields-{g}.bin").exists()]
    if missing:
        print(
            f"No field files ({', '.join(f'fields-{g}.bin' for g in missing)}) in {d}.\n"
            "Create them with `python3 tools/bench_corpus.py` (needs yaz: apt-get install yaz).",
            file=sys.stderr,
        )
        return 2

    notes: list[str] = []
    decoders = load_decoders([x for x in args.decoders.split(",") if x], notes)
    if not decoders:
        print("no decoder available", file=sys.stderr)
        return 2

    fields = {g: read_fields(d / f"fields-{g}.bin", args.limit) for g in groups}
    nbytes = {g: sum(map(len, fs)) for g, fs in fields.items()}
    for g in groups:
        print(f"{g:>9}: {len(fields[g]):>10,} fields {nbytes[g] / 1e6:>9.2f} MB", file=sys.stderr)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)

    pairs = [(g, name) for g in groups for name in decoders]
    times: dict[tuple[str, str], list[float]] = {p: [] for p in pairs}
    errors: dict[tuple[str, str], int] = {}
    warnings: dict[tuple[str, str], int] = {}
    t_start = time.perf_counter()
    for rep in range(args.repeat):
        k = rep % len(pairs)
        for g, name in pairs[k:] + pairs[:k]:
            dt, err, lines = timed(decoders[name], fields[g])
            times[(g, name)].append(dt)
            errors[(g, name)] = err
            warnings[(g, name)] = lines
            print(
                f"  rep {rep + 1}/{args.repeat} {g:>9} {name:<10} {dt:8.3f} s "
                f"{nbytes[g] / dt / 1e6:9.1f} MB/s",
                file=sys.stderr,
                flush=True,
            )
    wall = time.perf_counter() - t_start

    diffs = compare(decoders, fields, groups) if args.compare and "marc8fast" in decoders else {}

    med = {p: statistics.median(ts) for p, ts in times.items()}
    mbps = {p: nbytes[p[0]] / med[p] / 1e6 if med[p] > 0 else float("inf") for p in pairs}
    m = machine()
    names = list(decoders)
    ref = "marc8fast" if "marc8fast" in decoders else None

    print(f"\nMARC-8 decoding, one call per field, MB/s of input (median of {args.repeat})\n")
    print(
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); "
        f"{m['python']}; {m['date']}"
    )
    if args.limit:
        print(f"First {args.limit:,} fields of each group.")
    print()
    head = ["group", "fields", "MB"] + [f"{n} MB/s" for n in names]
    peers = [n for n in names if not n.startswith("marc8fast")]
    if ref:
        head += [f"{ref} / {n}" for n in peers]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for g in groups:
        row = [g, f"{len(fields[g]):,}", f"{nbytes[g] / 1e6:.2f}"]
        row += [f"{mbps[(g, n)]:,.1f}" for n in names]
        if ref:
            row += [f"{mbps[(g, ref)] / mbps[(g, n)]:,.1f}×" for n in peers]
        print("| " + " | ".join(row) + " |")
    print()
    for g in groups:
        for n in names:
            if warnings[(g, n)] or errors[(g, n)]:
                print(
                    f"- {n} on {g}: {warnings[(g, n)]:,} stderr lines, "
                    f"{errors[(g, n)]:,} exceptions per pass"
                )
    for (g, n), (count, example) in diffs.items():
        print(
            f"- {n} on {g}: {count:,} fields differ from marc8fast (modulo NFD and ligature "
            f"form)" + (f"; e.g. {example}" if example else "")
        )
    for n in notes:
        print(f"- {n}")
    print(f"- wall time {wall:.0f} s")

    if args.json:
        out = {
            "machine": m,
            "settings": {"data": str(d), "limit": args.limit, "repeat": args.repeat},
            "notes": notes,
            "groups": {g: {"fields": len(fields[g]), "bytes": nbytes[g]} for g in groups},
            "differences": [
                {"group": g, "decoder": n, "fields": c, "example": e}
                for (g, n), (c, e) in diffs.items()
            ],
            "results": [
                {
                    "group": g,
                    "decoder": n,
                    "seconds": times[(g, n)],
                    "median_s": med[(g, n)],
                    "mb_per_s": mbps[(g, n)],
                    "stderr_lines": warnings[(g, n)],
                    "exceptions": errors[(g, n)],
                }
                for g, n in pairs
            ],
        }
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"- raw numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
