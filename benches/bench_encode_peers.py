#!/usr/bin/env python3
"""UTF-8 -> MARC-8 encoding speed: marc8fast beside yaz-iconv and MARC::Charset, in one run.

Reads the UTF-8 field group files made by ``python3 tools/bench_corpus.py`` (every data-field
subfield of 250,000 LC records in UTF-8, by script: ``ascii``, ``latin``, ``nonlatin`` and all of
them in file order, ``mix``; ``utf8-fields-<group>.bin``), by default the first 200,000 fields of
each group, and encodes them with:

  marc8fast 1-call  ``marc8fast.encode(text, errors="lossless")`` once, on the group's fields
                    joined by 0x1F (the same bytes yaz-iconv gets): the Rust core's speed, plus one
                    copy of the result into a ``bytes`` (timed over enough fresh copies of the
                    text to make ~50 MB, and divided)
  marc8fast         ``marc8fast.encode(field, errors="lossless")`` once per field, from Python
  yaz-iconv         ``yaz-iconv -f UTF-8 -t MARC-8 FILE`` on the fields joined by 0x1F, one
                    process per group; the time is the whole process (start, reading the file,
                    writing MARC-8 to a file)
  yaz-lossless      the same with ``-t MARC-8lossless`` (NCRs for unmappable characters, like
                    marc8fast's lossless mode); only if this yaz knows the target
  MARC::Charset     ``MARC::Charset::utf8_to_marc8($field)`` once per field, in one perl
                    process that reads the length-prefixed fields and decodes them to Perl
                    strings first; only the loop is timed (Time::HiRes, inside perl)

yaz-iconv gets one file because it is a command-line tool: one process per field would measure
process start. It drops newline, CR and tab and reads its input in 64-byte chunks (a CJK
character cut by a chunk boundary is lost), so the fields are joined by 0x1F (the MARC subfield
delimiter), which it keeps, returning to ASCII before it as at the end of a subfield. MARC::Charset
is used without ``ignore_errors``: for an unmappable character it warns and returns undef, at the
character (with ``ignore_errors`` it dies on those instead); the warnings are counted, not shown,
and the fields it gave undef for are counted per group.

Every repetition times every (group, encoder) pair, in an order rotated from one repetition to
the next; the table shows the median. Throughput is MB/s (10^6 bytes) of UTF-8 input: the bytes
of the fields, not counting the 0x1F separators (one byte per field) that the 1-call and
yaz-iconv inputs also hold.

Run:  python3 benches/bench_encode_peers.py              (200,000 fields a group; ~6 min)
      python3 benches/bench_encode_peers.py --limit 20000   (a quick look)
      python3 benches/bench_encode_peers.py --limit 0       (every field; MARC::Charset does
                                                            ~0.2 MB/s, so about 25 min a rep)
      python3 benches/bench_encode_peers.py --json out.json (also write the raw timings)
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import NOT_INSTALLED, ROOT, data_dir, machine, read_fields, version_of

GROUPS = ("ascii", "latin", "nonlatin", "mix")
ENCODERS = ("marc8fast-1call", "marc8fast", "yaz-iconv", "yaz-lossless", "marc-charset")
LABELS = {
    "marc8fast-1call": "marc8fast 1-call",
    "marc8fast": "marc8fast per field",
    "yaz-iconv": "yaz-iconv",
    "yaz-lossless": "yaz-iconv lossless",
    "marc-charset": "MARC::Charset",
}
SEP = b"\x1f"

# One perl process per (group, repetition). Prints one JSON line on stdout.
PERL = r"""
use strict;
use warnings;
use Encode qw(decode_utf8);
use MARC::Charset qw(utf8_to_marc8);
use Time::HiRes qw(time);

my ($path) = @ARGV;
open(my $fh, '<:raw', $path) or die "$path: $!";
my $data = do { local $/; <$fh> };
close $fh;
my @fields;
my $bytes = 0;
my $pos = 0;
while ($pos < length($data)) {
    my $n = unpack('V', substr($data, $pos, 4));
    push @fields, decode_utf8(substr($data, $pos + 4, $n));
    $bytes += $n;
    $pos += 4 + $n;
}
my $warnings = 0;
local $SIG{__WARN__} = sub { $warnings++ };
my ($undef, $out) = (0, 0);
my $t0 = time;
for my $s (@fields) {
    my $m = utf8_to_marc8($s);
    if (defined $m) { $out += length($m) } else { $undef++ }
}
my $dt = time - $t0;
printf('{"fields": %d, "bytes": %d, "seconds": %.6f, '
       . '"undef": %d, "warnings": %d, "out": %d}' . "\n",
       scalar(@fields), $bytes, $dt, $undef, $warnings, $out);
"""


# data_dir, read_fields, version_of and machine are those of bench_peers.py (kept apart so that
# each script runs, and type-checks, on its own).
class Group:
    """One group's fields, as the encoders need them."""

    def __init__(self, name: str, raw: list[bytes], tmp: Path) -> None:
        self.name = name
        self.raw = raw
        self.texts = [f.decode("utf-8") for f in raw]
        self.nbytes = sum(map(len, raw))
        self.with_sep = sum(SEP in f for f in raw)
        self.joined = SEP.join(raw)
        self.joined_path = tmp / f"{name}.txt"
        self.joined_path.write_bytes(self.joined)
        self.bin_path = tmp / f"{name}.bin"
        pack = struct.Struct("<I").pack
        self.bin_path.write_bytes(b"".join(pack(len(f)) + f for f in raw))


# An encoder runs over one group once and returns (seconds, details).
Runner = Callable[[Group], tuple[float, dict[str, Any]]]


def load_marc8fast() -> Any:
    try:
        return importlib.import_module("marc8fast")
    except ImportError:
        # Not installed: try the source tree (works after `maturin develop`).
        sys.path.insert(0, str(ROOT / "python"))
        return importlib.import_module("marc8fast")


def make_runners(wanted: list[str], tmp: Path, notes: list[str]) -> dict[str, Runner]:
    runners: dict[str, Runner] = {}
    if "marc8fast" in wanted or "marc8fast-1call" in wanted:
        try:
            m8 = load_marc8fast()
            m8.encode("Łódź 😀", errors="lossless")
            native = importlib.import_module("marc8fast._native")
            so = Path(native.__file__ or "?")
            stamp = datetime.datetime.fromtimestamp(so.stat().st_mtime).isoformat(
                timespec="seconds"
            )
            notes.append(
                f"marc8fast {version_of('marc8fast') or NOT_INSTALLED} from {so} (built {stamp})"
            )
            encode = m8.encode

            # Each pass gets new str objects, decoded outside the timing, as text from a reader
            # would be: CPython caches a str's UTF-8 form once asked for it, and a pass over
            # strs already converted would leave that conversion out.
            def per_field(g: Group) -> tuple[float, dict[str, Any]]:
                texts = [f.decode("utf-8") for f in g.raw]
                t0 = time.perf_counter()
                for t in texts:
                    encode(t, errors="lossless")
                return time.perf_counter() - t0, {}

            # One call on a 200,000-field group takes a few ms: time enough fresh copies of
            # the text to make ~50 MB (at most 30) and divide.
            def one_call(g: Group) -> tuple[float, dict[str, Any]]:
                copies = max(1, min(30, round(50e6 / max(1, len(g.joined)))))
                texts = [g.joined.decode("utf-8") for _ in range(copies)]
                t0 = time.perf_counter()
                for text in texts:
                    out = encode(text, errors="lossless")
                dt = time.perf_counter() - t0
                return dt / copies, {"out_bytes": len(out), "calls_per_timing": copies}

            if "marc8fast-1call" in wanted:
                runners["marc8fast-1call"] = one_call
            if "marc8fast" in wanted:
                runners["marc8fast"] = per_field
        except Exception as e:  # not built yet, or a broken build
            notes.append(f"marc8fast skipped: not importable ({type(e).__name__}: {e})")

    yaz = shutil.which("yaz-iconv")
    targets = {"yaz-iconv": "MARC-8", "yaz-lossless": "MARC-8lossless"}
    for name, target in targets.items():
        if name not in wanted:
            continue
        if yaz is None:
            notes.append(f"{name} skipped: no yaz-iconv on PATH (apt-get install yaz)")
            continue
        probe = subprocess.run(
            [yaz, "-f", "UTF-8", "-t", target],
            input="é".encode(),
            capture_output=True,
            check=False,
        )
        if probe.returncode != 0 or not probe.stdout:
            notes.append(f"{name} skipped: yaz-iconv does not know -t {target}")
            continue
        runners[name] = yaz_runner(yaz, target, tmp)
    if "yaz-iconv" in runners or "yaz-lossless" in runners:
        assert yaz is not None
        empty = tmp / "empty.txt"
        empty.write_bytes(b"")
        starts = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([yaz, "-f", "UTF-8", "-t", "MARC-8", str(empty)], check=True)
            starts.append(time.perf_counter() - t0)
        notes.append(
            f"yaz-iconv from {yaz_version()}: start and exit on an empty file take "
            f"{statistics.median(starts) * 1e3:.1f} ms (median of 5), included in its times"
        )

    if "marc-charset" in wanted:
        perl = shutil.which("perl")
        ver = subprocess.run(
            [perl or "perl", "-MMARC::Charset", "-e", "print $MARC::Charset::VERSION"],
            capture_output=True,
            text=True,
            check=False,
        )
        if perl is None or ver.returncode != 0:
            notes.append(
                "MARC::Charset skipped: not installed (apt-get install libmarc-charset-perl)"
            )
        else:
            script = tmp / "marc_charset.pl"
            script.write_text(PERL)
            notes.append(f"MARC::Charset {ver.stdout.strip()} (perl {perl})")
            runners["marc-charset"] = perl_runner(perl, script)
    return runners


def yaz_version() -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "yaz"],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode == 0 and out.stdout:
            return f"Debian yaz {out.stdout}"
    except OSError:
        pass
    return "yaz (version unknown)"


def yaz_runner(yaz: str, target: str, tmp: Path) -> Runner:
    def run(g: Group) -> tuple[float, dict[str, Any]]:
        out_path = tmp / f"{g.name}.{target}.out"
        with out_path.open("wb") as out:
            t0 = time.perf_counter()
            p = subprocess.run(
                [yaz, "-f", "UTF-8", "-t", target, str(g.joined_path)],
                stdout=out,
                stderr=subprocess.PIPE,
                check=False,
            )
            dt = time.perf_counter() - t0
        result = out_path.read_bytes()
        details = {
            "returncode": p.returncode,
            "stderr_lines": p.stderr.count(b"\n"),
            "out_bytes": len(result),
            # Fields back: 0x1F is kept, so one separator fewer than fields is a sanity check.
            "separators_out": result.count(SEP),
            "separators_in": len(g.raw) - 1 + g.with_sep,
        }
        return dt, details

    return run


def perl_runner(perl: str, script: Path) -> Runner:
    def run(g: Group) -> tuple[float, dict[str, Any]]:
        p = subprocess.run(
            [perl, str(script), str(g.bin_path)], capture_output=True, text=True, check=False
        )
        if p.returncode != 0:
            raise RuntimeError(f"perl failed ({p.returncode}): {p.stderr.strip()[-500:]}")
        res: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
        if res["bytes"] != g.nbytes:
            raise RuntimeError(f"perl read {res['bytes']} bytes, expected {g.nbytes}")
        return float(res.pop("seconds")), res

    return run


def unmappable(encode_report: Callable[..., Any], g: Group) -> tuple[int, int]:
    """Fields with an unmappable character, and unmappable characters, per marc8fast."""
    fields = chars = 0
    for t in g.texts:
        _, problems = encode_report(t, errors="lossless")
        if problems:
            fields += 1
            chars += len(problems)
    return fields, chars


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
        default=200_000,
        metavar="N",
        help="use only the first N fields of each group; 0 for all (default 200000)",
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
        "--encoders",
        default=",".join(ENCODERS),
        help=f"comma-separated encoders (default {','.join(ENCODERS)})",
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
    missing = [g for g in groups if not (d / f"utf8-fields-{g}.bin").exists()]
    if missing:
        print(
            f"No field files ({', '.join(f'utf8-fields-{g}.bin' for g in missing)}) in {d}.\n"
            "Create them with `python3 tools/bench_corpus.py` (needs yaz: apt-get install yaz).",
            file=sys.stderr,
        )
        return 2
    limit = args.limit if args.limit > 0 else None

    with tempfile.TemporaryDirectory(prefix="marc8fast-encbench-") as tmpdir:
        tmp = Path(tmpdir)
        notes: list[str] = []
        runners = make_runners([x for x in args.encoders.split(",") if x], tmp, notes)
        if not runners:
            print("no encoder available", file=sys.stderr)
            return 2

        data = {g: Group(g, read_fields(d / f"utf8-fields-{g}.bin", limit), tmp) for g in groups}
        for grp in data.values():
            print(
                f"{grp.name:>9}: {len(grp.raw):>10,} fields {grp.nbytes / 1e6:>9.2f} MB",
                file=sys.stderr,
            )
            if grp.with_sep:
                notes.append(f"{grp.with_sep} fields of {grp.name} contain 0x1F themselves")
        for n in notes:
            print(f"note: {n}", file=sys.stderr)
        ours: dict[str, tuple[int, int]] = {}
        if "marc8fast" in runners:
            m8 = load_marc8fast()
            ours = {grp.name: unmappable(m8.encode_report, grp) for grp in data.values()}

        pairs = [(g, name) for g in groups for name in runners]
        times: dict[tuple[str, str], list[float]] = {p: [] for p in pairs}
        details: dict[tuple[str, str], dict[str, Any]] = {}
        failures: dict[tuple[str, str], str] = {}
        t_start = time.perf_counter()
        for rep in range(args.repeat):
            k = rep % len(pairs)
            for g, name in pairs[k:] + pairs[:k]:
                if (g, name) in failures:
                    continue
                try:
                    dt, det = runners[name](data[g])
                except Exception as e:
                    failures[(g, name)] = f"{type(e).__name__}: {e}"
                    print(f"  {g} {name}: {failures[(g, name)]}", file=sys.stderr)
                    continue
                times[(g, name)].append(dt)
                details[(g, name)] = det
                print(
                    f"  rep {rep + 1}/{args.repeat} {g:>9} {name:<16} {dt:8.3f} s "
                    f"{data[g].nbytes / dt / 1e6:9.2f} MB/s",
                    file=sys.stderr,
                    flush=True,
                )
        wall = time.perf_counter() - t_start

    med = {p: statistics.median(ts) for p, ts in times.items() if ts}
    mbps = {p: data[p[0]].nbytes / t / 1e6 if t > 0 else float("inf") for p, t in med.items()}
    m = machine()
    names = list(runners)
    refs = [n for n in ("marc8fast-1call", "marc8fast") if n in runners]
    peers = [n for n in names if not n.startswith("marc8fast")]

    def cell(g: str, n: str) -> str:
        v = mbps.get((g, n))
        if v is None:
            return "–"
        return f"{v:,.0f}" if v >= 100 else f"{v:,.2f}"

    def ratio(g: str, a: str, b: str) -> str:
        if (g, a) not in mbps or (g, b) not in mbps:
            return "–"
        return f"{mbps[(g, a)] / mbps[(g, b)]:,.0f}×"

    print(f"\nUTF-8 → MARC-8 encoding, MB/s of UTF-8 input (median of {args.repeat})\n")
    print(
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); "
        f"{m['python']}; {m['date']}"
    )
    print(f"First {args.limit:,} fields of each group." if limit else "Every field of each group.")
    print()
    head = ["group", "fields", "MB"] + [f"{LABELS[n]} MB/s" for n in names]
    if refs:
        which = " / ".join({"marc8fast-1call": "1-call", "marc8fast": "per field"}[r] for r in refs)
        head += [f"marc8fast ÷ {LABELS[p]} ({which})" for p in peers]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for g in groups:
        row = [g, f"{len(data[g].raw):,}", f"{data[g].nbytes / 1e6:.2f}"]
        row += [cell(g, n) for n in names]
        if refs:
            row += [" / ".join(ratio(g, r, p) for r in refs) for p in peers]
        print("| " + " | ".join(row) + " |")
    print()
    for g in groups:
        if g in ours:
            nf, c = ours[g]
            print(f"- marc8fast on {g}: {c:,} unmappable characters in {nf:,} fields (NCRs)")
        pc = details.get((g, "marc-charset"))
        if pc:
            print(
                f"- MARC::Charset on {g}: undef (an unmappable character) for "
                f"{pc['undef']:,} of {pc['fields']:,} fields"
            )
        for n in ("yaz-iconv", "yaz-lossless"):
            yd = details.get((g, n))
            if yd and (
                yd["returncode"]
                or yd["stderr_lines"]
                or yd["separators_out"] != yd["separators_in"]
            ):
                print(
                    f"- {n} on {g}: exit {yd['returncode']}, {yd['stderr_lines']} stderr lines, "
                    f"{yd['separators_out']:,} of {yd['separators_in']:,} separators written"
                )
    for (g, n), err in failures.items():
        print(f"- {n} on {g} failed: {err}")
    for n in notes:
        print(f"- {n}")
    print(f"- wall time {wall:.0f} s")

    if args.json:
        out = {
            "machine": m,
            "settings": {"data": str(d), "limit": limit, "repeat": args.repeat},
            "notes": notes,
            "groups": {
                g: {
                    "fields": len(data[g].raw),
                    "bytes": data[g].nbytes,
                    "marc8fast_unmappable": {"fields": ours[g][0], "chars": ours[g][1]}
                    if g in ours
                    else None,
                }
                for g in groups
            },
            "results": [
                {
                    "group": g,
                    "encoder": n,
                    "seconds": times[(g, n)],
                    "median_s": med.get((g, n)),
                    "mb_per_s": mbps.get((g, n)),
                    "details": details.get((g, n)),
                    "failure": failures.get((g, n)),
                }
                for g, n in pairs
            ],
        }
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"- raw numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
