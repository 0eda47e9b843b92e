#!/usr/bin/env python3
"""Whole-file conversion, MARC-8 <-> UTF-8: marc8fast beside pymarc, rmarc, yaz and marc4j.

Converts the 250,000-record LC corpus made by ``python3 tools/bench_corpus.py``
(``BooksAll.marc8.mrc``, MARC-8 made by yaz, and ``BooksAll.2016.part01.utf8``, the UTF-8
original) with each tool, every conversion in its own process so that its peak RSS can be read
(GNU ``time``, else ``os.wait4``), output to a file in a temporary directory:

  marc8fast  ``marc8fast.transcode_file(src, dst, to=..., jobs=1|2)`` (default ``errors``:
             replace to UTF-8, lossless NCRs to MARC-8)
  pymarc     ``MARCReader(open(src, "rb"), to_unicode=True)``, ``record.as_marc()`` written to
             the output (MARC-8 -> UTF-8 only: pymarc has no MARC-8 encoder)
  rmarc      the same calls on rmarc (pymarc's API over Rust; MARC-8 -> UTF-8 only)
  yaz        ``yaz-marcdump -f MARC-8 -t UTF-8 -l 9=97 -o marc SRC > DST`` and
             ``yaz-marcdump -f UTF-8 -t MARC-8 -l 9=32 -o marc SRC > DST``
  marc4j     ``java -jar marc4j.jar to_utf8|to_marc8 -out DST SRC`` (JVM start included)

For the Python tools the time is taken inside the child, around the conversion (interpreter
start and imports excluded); for yaz and marc4j it is the whole process.  Both figures are kept.
Every repetition runs every (tool, direction, jobs) once, in an order rotated between
repetitions, one at a time; the table gives the median, in MB/s of input (10^6 bytes) and
records/s.  After each run, outside the timing, the output's records are counted and their
leader/09 checked ('a' for UTF-8, ' ' for MARC-8); any loss is listed under the table.

Run:  python3 benches/bench_files.py                        (full corpus, 3 repetitions)
      python3 benches/bench_files.py --limit-records 20000  (a quick look on a prefix)
      python3 benches/bench_files.py --tmpdir /dev/shm --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _common import ROOT, data_dir, machine, version_of

MARC8_FILE = "BooksAll.marc8.mrc"
UTF8_FILE = "BooksAll.2016.part01.utf8"
TOOLS = ("marc8fast", "pymarc", "rmarc", "yaz", "marc4j")
DIRECTIONS = {"utf8": "MARC-8 → UTF-8", "marc8": "UTF-8 → MARC-8"}
LEADER09 = {"utf8": ord("a"), "marc8": ord(" ")}
MARC4J_JAR = Path("/usr/share/java/marc4j.jar")
GNU_TIME = Path("/usr/bin/time")

# The Python children print one JSON line on stdout: seconds (the conversion alone), records.
_MARC8FAST_CHILD = """
import json, sys, time
try:
    import marc8fast
except ImportError:
    sys.path.insert(0, sys.argv[5])
    import marc8fast
src, dst, to, jobs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t0 = time.perf_counter()
r = marc8fast.transcode_file(src, dst, to=to, jobs=jobs)
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "records_read": r.records_read,
                  "records_written": r.records_written, "bytes_in": r.bytes_in,
                  "bytes_out": r.bytes_out, "problems": r.problem_count(),
                  "records_rejected": r.records_rejected,
                  "counts_by_kind": r.counts_by_kind()}))
"""

_PYMARC_CHILD = """
import json, sys, time
import {module} as lib
src, dst = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
n = bad = 0
with open(src, "rb") as f, open(dst, "wb") as out:
    for record in lib.MARCReader(f, to_unicode=True):
        if record is None:
            bad += 1
            continue
        out.write(record.as_marc())
        n += 1
dt = time.perf_counter() - t0
print(json.dumps({{"seconds": dt, "records_written": n, "records_none": bad}}))
"""


@dataclass
class Case:
    tool: str
    to: str  # "utf8" or "marc8"
    jobs: int = 1

    @property
    def key(self) -> str:
        return f"{self.tool} {self.to} j{self.jobs}"


@dataclass
class Run:
    seconds: float  # the figure used: in-process for Python tools, the process otherwise
    process_seconds: float
    cpu_seconds: float  # user + sys of the child
    max_rss_mb: float
    returncode: int
    records_out: int  # records in the output (marc8fast's record layer)
    bad_leader09: int  # output records whose leader/09 is not the target's
    bytes_out: int
    stderr_lines: int
    stderr_head: str
    loadavg_before: float = 0.0  # 1-minute load average when the run started
    child: dict[str, Any] = field(default_factory=dict)


# data_dir, version_of and machine follow bench_peers.py (kept apart so that each script runs,
# and type-checks, on its own).
def scan(path: Path, target: str | None = None) -> tuple[int, int]:
    """Records in a file, and how many have a leader/09 other than ``target``'s.

    The records are found by marc8fast's record layer (``MARCReader``); a record it rejects is
    counted, and counted as bad when a leader is checked (its leader is not read). Read in small
    chunks on one thread: this process must stay small, because a child started with fork/vfork +
    exec inherits its parent's peak RSS in ``ru_maxrss`` (Linux keeps the high-water mark across
    exec).
    """
    from marc8fast import MARCReader

    bad = 0
    want = chr(LEADER09[target]) if target else None
    with MARCReader(path, jobs=1, chunk_size=1 << 20) as reader:
        for record in reader:
            if want is not None and record.leader[9:10] != want:
                bad += 1
        records, rejected = reader.records_read, reader.records_rejected  # read counts rejected
    return records, bad + (rejected if want is not None else 0)


def write_prefix(src: Path, dst: Path, n: int) -> int:
    """The first ``n`` records of ``src`` into ``dst`` (split by the record layer); how many."""
    from marc8fast.bench import write_prefix as prefix

    return prefix(src, dst, n)


def command(case: Case, src: Path, dst: Path) -> tuple[list[str], Path | None]:
    """The argv, and the file its stdout goes to (None: stdout is the child's JSON line)."""
    py = sys.executable
    if case.tool == "marc8fast":
        code = _MARC8FAST_CHILD
        return [
            py,
            "-c",
            code,
            str(src),
            str(dst),
            case.to,
            str(case.jobs),
            str(ROOT / "python"),
        ], None
    if case.tool in ("pymarc", "rmarc"):
        return [py, "-c", _PYMARC_CHILD.format(module=case.tool), str(src), str(dst)], None
    if case.tool == "yaz":
        if case.to == "utf8":
            args = ["-f", "MARC-8", "-t", "UTF-8", "-l", "9=97"]
        else:
            args = ["-f", "UTF-8", "-t", "MARC-8", "-l", "9=32"]
        return ["yaz-marcdump", *args, "-o", "marc", str(src)], dst
    if case.tool == "marc4j":
        verb = "to_utf8" if case.to == "utf8" else "to_marc8"
        return ["java", "-jar", str(MARC4J_JAR), verb, "-out", str(dst), str(src)], None
    raise ValueError(case.tool)


def measure(case: Case, src: Path, dst: Path, tmp: Path) -> Run:
    argv, stdout_to = command(case, src, dst)
    out_path = stdout_to or tmp / "child.stdout"
    err_path = tmp / "child.stderr"
    rss_path = tmp / "child.maxrss"
    if GNU_TIME.exists():
        # GNU time is a small process: its child's ru_maxrss is the tool's own.
        argv = [str(GNU_TIME), "-f", "%M", "-o", str(rss_path), *argv]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)  # CPU times include the reaped grandchild
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    maxrss_kib = ru.ru_maxrss  # without GNU time: includes this process's peak (see scan)
    if GNU_TIME.exists():
        lines = rss_path.read_text().split()
        maxrss_kib = int(lines[-1]) if lines and lines[-1].isdigit() else -1
    child: dict[str, Any] = {}
    if stdout_to is None and case.tool != "marc4j":
        text = out_path.read_text(errors="replace").strip()
        try:
            child = json.loads(text.splitlines()[-1]) if text else {}
        except json.JSONDecodeError:
            child = {"stdout": text[-500:]}
    err_text = err_path.read_bytes()
    records, bad = scan(dst, case.to) if dst.exists() else (0, 0)
    size = dst.stat().st_size if dst.exists() else 0
    if dst.exists():
        dst.unlink()  # before its dirty pages reach the disk, as far as possible
    return Run(
        seconds=float(child.get("seconds", wall)),
        process_seconds=wall,
        cpu_seconds=ru.ru_utime + ru.ru_stime,
        max_rss_mb=maxrss_kib / 1024,  # KiB on Linux
        returncode=p.returncode,
        records_out=records,
        bad_leader09=bad,
        bytes_out=size,
        stderr_lines=err_text.count(b"\n"),
        stderr_head=err_text[:300].decode("utf-8", "replace"),
        loadavg_before=load,
        child=child,
    )


def startup(argv: list[str], repeat: int = 3) -> float:
    """Median seconds to run ``argv`` (process start and exit: the fixed cost in a figure)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def available(tools: list[str], notes: list[str]) -> list[str]:
    ok = []
    for t in tools:
        if t in ("marc8fast", "pymarc", "rmarc"):
            probe = subprocess.run(
                [sys.executable, "-c", f"import {t}"],
                capture_output=True,
                env={**os.environ, "PYTHONPATH": str(ROOT / "python")}
                if t == "marc8fast"
                else None,
                check=False,
            )
            if probe.returncode == 0:
                ok.append(t)
                notes.append(f"{t} {version_of(t) or '(source tree)'}")
            else:
                notes.append(f"{t} skipped: not importable (pip install {t})")
        elif t == "yaz":
            if shutil.which("yaz-marcdump"):
                ok.append(t)
                v = subprocess.run(["yaz-marcdump", "-V"], capture_output=True, text=True)
                notes.append(f"yaz-marcdump {(v.stdout or v.stderr).strip().splitlines()[0]}")
            else:
                notes.append("yaz skipped: no yaz-marcdump (apt-get install yaz)")
        elif t == "marc4j":
            if shutil.which("java") and MARC4J_JAR.exists():
                ok.append(t)
                jv = subprocess.run(["java", "-version"], capture_output=True, text=True)
                jline = (jv.stderr or jv.stdout).strip().splitlines()[0]
                notes.append(f"marc4j {marc4j_version()} ({MARC4J_JAR}), {jline}")
            else:
                notes.append(
                    f"marc4j skipped: no java or no {MARC4J_JAR} (apt-get install libmarc4j-java)"
                )
        else:
            notes.append(f"unknown tool {t!r} ignored")
    return ok


def marc4j_version() -> str:
    import zipfile

    try:
        with zipfile.ZipFile(MARC4J_JAR) as z:
            for line in z.read("META-INF/MANIFEST.MF").decode().splitlines():
                if line.startswith("Implementation-Version:"):
                    return line.split(":", 1)[1].strip()
    except (OSError, KeyError, zipfile.BadZipFile):
        pass
    return "?"


def fmt_ratio(r: float) -> str:
    if r >= 0.095:
        return f"{r:.2f}×"
    return f"{r:.3f}× (1/{1 / r:,.0f})" if r > 0 else "–"


def main() -> int:
    doc = __doc__ or ""
    ap = argparse.ArgumentParser(
        description=doc.split("\n\n", 1)[0],
        epilog=doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--data",
        type=Path,
        default=None,
        help="corpus directory (default: $MARC8FAST_BENCH_DATA or <repo>/bench-data)",
    )
    ap.add_argument("--repeat", type=int, default=3, metavar="R", help="repetitions (default 3)")
    ap.add_argument(
        "--limit-records",
        type=int,
        default=None,
        metavar="N",
        help="run on the first N records of each file (prefix files written in the temp dir)",
    )
    ap.add_argument(
        "--tmpdir",
        type=Path,
        default=None,
        help="where outputs go (default: a temporary directory inside the corpus directory, "
        "on the same disk; try /dev/shm to leave the disk out)",
    )
    ap.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help=f"comma-separated tools (default {','.join(TOOLS)})",
    )
    ap.add_argument(
        "--jobs", default="1,2", help="marc8fast jobs values, comma-separated (default 1,2)"
    )
    ap.add_argument("--json", type=Path, default=None, metavar="OUT", help="write raw numbers")
    args = ap.parse_args()

    d = args.data.resolve() if args.data else data_dir()
    inputs = {"utf8": d / MARC8_FILE, "marc8": d / UTF8_FILE}  # keyed by the target encoding
    missing = [p for p in inputs.values() if not p.exists()]
    if missing:
        print(
            f"Missing {', '.join(str(p) for p in missing)}.\n"
            "Create them with `python3 tools/bench_corpus.py` (needs yaz: apt-get install yaz).",
            file=sys.stderr,
        )
        return 2

    notes: list[str] = []
    tools = available([t for t in args.tools.split(",") if t], notes)
    jobs_list = [int(j) for j in args.jobs.split(",") if j]
    cases: list[Case] = []
    for t in tools:
        for to in ("utf8", "marc8"):
            if t in ("pymarc", "rmarc") and to == "marc8":
                continue  # no MARC-8 encoder
            for j in jobs_list if t == "marc8fast" else [1]:
                cases.append(Case(t, to, j))
    if not cases:
        print("no tool available", file=sys.stderr)
        return 2

    base = args.tmpdir.resolve() if args.tmpdir else d
    tmp = Path(tempfile.mkdtemp(prefix="bench-files-", dir=base))
    try:
        if args.limit_records:
            for to, p in list(inputs.items()):
                q = tmp / f"prefix-{args.limit_records}-{p.name}"
                write_prefix(p, q, args.limit_records)
                inputs[to] = q
        # Read each input once (page cache warm for every tool) and count its records.
        corpus: dict[str, dict[str, Any]] = {}
        for to, p in inputs.items():
            recs, _ = scan(p)
            corpus[to] = {"path": str(p), "bytes": p.stat().st_size, "records": recs}
            print(
                f"{DIRECTIONS[to]}: {p.name} {recs:,} records, {p.stat().st_size / 1e6:.1f} MB",
                file=sys.stderr,
            )
        for n in notes:
            print(f"note: {n}", file=sys.stderr)
        starts = {"python": startup([sys.executable, "-c", "pass"])}
        if "marc8fast" in tools:
            starts["python + import marc8fast"] = startup(
                [sys.executable, "-c", "import marc8fast"]
            )
        if "yaz" in tools:
            starts["yaz-marcdump (empty input)"] = startup(["yaz-marcdump", "/dev/null"])
        if "marc4j" in tools:
            starts["java -jar marc4j.jar (usage)"] = startup(["java", "-jar", str(MARC4J_JAR)])

        runs: dict[str, list[Run]] = {c.key: [] for c in cases}
        t_start = time.perf_counter()
        for rep in range(args.repeat):
            k = rep % len(cases)
            for c in cases[k:] + cases[:k]:
                r = measure(c, Path(inputs[c.to]), tmp / f"out-{c.tool}-{c.to}.mrc", tmp)
                runs[c.key].append(r)
                nbytes = corpus[c.to]["bytes"]
                print(
                    f"  rep {rep + 1}/{args.repeat} {c.tool:<9} {c.to:<5} j{c.jobs} "
                    f"{r.seconds:8.3f} s {nbytes / r.seconds / 1e6:8.1f} MB/s "
                    f"{r.max_rss_mb:7.1f} MB RSS, {r.records_out:,} records out"
                    + (f", exit {r.returncode}" if r.returncode else ""),
                    file=sys.stderr,
                    flush=True,
                )
        wall = time.perf_counter() - t_start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    m = machine()
    med = {key: statistics.median(r.seconds for r in rs) for key, rs in runs.items()}
    rss = {key: max(r.max_rss_mb for r in rs) for key, rs in runs.items()}
    cpu = {key: statistics.median(r.cpu_seconds for r in rs) for key, rs in runs.items()}
    mbps = {c.key: corpus[c.to]["bytes"] / med[c.key] / 1e6 for c in cases}
    rps = {c.key: corpus[c.to]["records"] / med[c.key] for c in cases}

    print(f"\nWhole-file conversion, median of {args.repeat} (MB = 10^6 bytes of input)\n")
    print(
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); "
        f"{m['python']}; {m['date']}; load average before the table "
        f"{', '.join(f'{x:.2f}' for x in m['loadavg'] or [])}"
    )
    print(
        "Corpus: "
        + "; ".join(
            f"{Path(v['path']).name}: {v['records']:,} records, {v['bytes'] / 1e6:.1f} MB"
            for v in corpus.values()
        )
        + f"; outputs in {base} ({'prefix' if args.limit_records else 'full corpus'})\n"
    )
    head = [
        "tool",
        "direction",
        "jobs",
        "s",
        "MB/s",
        "records/s",
        "peak RSS MB",
        "CPU s",
        "vs marc8fast jobs=1",
        "records out",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---", "---", "---:"] + ["---:"] * (len(head) - 3)) + "|")
    for to in ("utf8", "marc8"):
        ref = f"marc8fast {to} j1"
        for c in (c for c in cases if c.to == to):
            rs = runs[c.key]
            outs = {r.records_out for r in rs}
            ratio = fmt_ratio(mbps[c.key] / mbps[ref]) if ref in mbps else "–"
            name = c.tool + (" (JVM start incl.)" if c.tool == "marc4j" else "")
            row = [
                name,
                DIRECTIONS[to],
                str(c.jobs),
                f"{med[c.key]:.2f}",
                f"{mbps[c.key]:,.1f}",
                f"{rps[c.key]:,.0f}",
                f"{rss[c.key]:,.0f}",
                f"{cpu[c.key]:.2f}",
                ratio,
                ", ".join(f"{n:,}" for n in sorted(outs)),
            ]
            print("| " + " | ".join(row) + " |")
        if to == "marc8":
            for t in ("pymarc", "rmarc"):
                if t in tools:
                    print(
                        f"| {t} | {DIRECTIONS[to]} | – | – | not supported (no MARC-8 encoder) "
                        "| – | – | – | – | – |"
                    )
    print()
    for to in ("utf8", "marc8"):
        j1, j2 = f"marc8fast {to} j1", f"marc8fast {to} j2"
        if j1 in med and j2 in med:
            print(f"- marc8fast {DIRECTIONS[to]}: jobs=2 / jobs=1 = {med[j1] / med[j2]:.2f}×")
    for c in cases:
        rs = runs[c.key]
        want = corpus[c.to]["records"]
        lost = [r.records_out for r in rs if r.records_out != want]
        if lost:
            print(f"- {c.key}: {sorted(set(lost))} records out, not {want:,}")
        if any(r.bad_leader09 for r in rs):
            print(
                f"- {c.key}: {max(r.bad_leader09 for r in rs):,} output records with leader/09 "
                f"≠ {chr(LEADER09[c.to])!r}"
            )
        if any(r.returncode for r in rs):
            print(f"- {c.key}: exit status {sorted({r.returncode for r in rs})}")
        if rs[-1].stderr_lines:
            print(
                f"- {c.key}: {rs[-1].stderr_lines:,} stderr lines, first: "
                f"{rs[-1].stderr_head.splitlines()[0][:120]!r}"
            )
        child = rs[-1].child
        if child.get("problems") or child.get("records_rejected"):
            print(
                f"- {c.key}: Report: {child.get('problems'):,} problems "
                f"{child.get('counts_by_kind')}, {child.get('records_rejected')} rejected"
            )
        if child.get("records_none"):
            print(f"- {c.key}: reader gave None for {child['records_none']:,} records")
    print(
        "- s: the conversion alone for marc8fast, pymarc and rmarc (timed in the child); the "
        "whole process for yaz and marc4j. Process start: "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in starts.items())
    )
    print(
        "- peak RSS: the tool's ru_maxrss, max over repetitions"
        + (" (read by GNU time)" if GNU_TIME.exists() else " (includes this script's own peak)")
        + "; CPU s: user + system time of the whole process (interpreter or JVM start included; "
        "above the process time when it used more than one core)"
    )
    for n in notes:
        print(f"- {n}")
    print(f"- wall time {wall:.0f} s")

    if args.json:
        out = {
            "machine": m,
            "settings": {
                "data": str(d),
                "tmpdir": str(base),
                "limit_records": args.limit_records,
                "repeat": args.repeat,
                "jobs": jobs_list,
            },
            "corpus": corpus,
            "startup_seconds": starts,
            "notes": notes,
            "results": [
                {
                    "tool": c.tool,
                    "to": c.to,
                    "jobs": c.jobs,
                    "median_s": med[c.key],
                    "mb_per_s": mbps[c.key],
                    "records_per_s": rps[c.key],
                    "peak_rss_mb": rss[c.key],
                    "runs": [asdict(r) for r in runs[c.key]],
                }
                for c in cases
            ],
        }
        args.json.write_text(json.dumps(out, indent=1) + "\n")
        print(f"- raw numbers in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
