#!/usr/bin/env python3
"""Every row of issue 22's table beside its peer, in one run, with the ratios.

Rows (each whole processes, the peer run beside marc8fast in the same repetition, the order
rotated between repetitions; the median of ``--repeat`` runs is used):

  files, MARC-8 → UTF-8   ``marc8fast convert SRC DST --to utf8 -j N`` beside
                          ``yaz-marcdump -f MARC-8 -t UTF-8 -l 9=97 -o marc SRC > DST`` and
                          ``cp SRC DST`` (the ceiling: the same bytes read and written)
  files, UTF-8 → MARC-8   ``... --to marc8`` beside ``yaz-marcdump -f UTF-8 -t MARC-8 -l 9=32``
  2 jobs ÷ 1 job          the same ``convert`` with ``-j 2`` and ``-j 1``
  MARCXML writing         ``marc8fast convert UTF8SRC OUT.xml --to utf8 --to-format marcxml``
                          (no ``-j``: conversions between formats use every core)
                          beside ``yaz-marcdump -i marc -o marcxml UTF8SRC > OUT.xml``
  receiver                ``benches/bench_receiver*.py`` if there is one, else
                          ``benches/bench_connexion.py --clients 8 --rss-requests 0``; its JSON
                          line for 8 clients is read (records_per_s, p99_ms)
  Z39.50                  ``benches/bench_z3950.py --clients 1 16``; its table rows for
                          ``marc8fast serve`` and ``yaz-ztest`` are read

The corpus is the LC corpus of ``tools/bench_corpus.py`` ($MARC8FAST_BENCH_DATA:
``BooksAll.marc8.mrc`` and ``BooksAll.2016.part01.utf8``, 250,000 records, 242 MB each).
Outputs go to ``--tmpdir`` (default: a directory beside the corpus, so on disk;
``--tmpdir /dev/shm`` for tmpfs). The output directory is emptied before every timed run and
again after it, outside the timing, for every tool alike: no run pays for freeing an earlier
run's output (renaming a new 242 MB file over an old one frees the old one's pages, 35-47 ms on
tmpfs, inside the run that renames). The conversion itself is unchanged: ``marc8fast convert``
still writes a temporary file and renames it into place. A row that fails (a missing
tool, a script that exits non-zero or prints nothing we can read) is printed as ``failed``
with the reason; the other rows still run.

Run:  MARC8FAST_BENCH_DATA=/work/lc python3 benches/run_all.py
      python3 benches/run_all.py --rows files,marcxml --repeat 3 --tmpdir /dev/shm
      python3 benches/run_all.py --limit-records 20000      (a quick look on a prefix)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import ROOT, data_dir, machine

MARC8_FILE = "BooksAll.marc8.mrc"
UTF8_FILE = "BooksAll.2016.part01.utf8"
ROWS = ("files", "marcxml", "receiver", "z3950")


def marc8fast_cmd() -> list[str]:
    """The CLI of the checkout's venv if there is one, else ``python -m marc8fast``."""
    exe = ROOT / ".venv" / "bin" / "marc8fast"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "marc8fast"]


@dataclass
class Timed:
    """One command's runs: wall seconds and CPU seconds (user + sys) of each."""

    argv: list[str]
    stdout: str | None = None  # a file the command's stdout goes to (yaz)
    ok_codes: tuple[int, ...] = (0,)
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    error: str | None = None

    def run(self, timeout: float) -> None:
        out = open(self.stdout, "wb") if self.stdout else subprocess.DEVNULL
        try:
            t0 = time.perf_counter()
            p = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.PIPE)
            try:
                _, err = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                self.error = f"timed out after {timeout:.0f} s"
                return
            wall = time.perf_counter() - t0
        finally:
            if self.stdout and not isinstance(out, int):
                out.close()
        if p.returncode not in self.ok_codes:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            self.error = f"exit {p.returncode}: {tail[0][:200]}"
            return
        self.walls.append(wall)

    @property
    def median(self) -> float | None:
        return statistics.median(self.walls) if self.walls and not self.error else None

    @property
    def cpu(self) -> float | None:
        """Median CPU seconds (user + sys) of the runs: steadier than wall time on a busy
        machine, but blind to what a run waits for (the disk, a core)."""
        return statistics.median(self.cpus) if self.cpus and not self.error else None


def child_cpu() -> float:
    r = os.times()
    return r.children_user + r.children_system


def prefix(src: Path, dst: Path, n: int) -> Path:
    sys.path.insert(0, str(ROOT / "python"))
    from marc8fast.bench import write_prefix

    write_prefix(src, dst, n)
    return dst


# ------------------------------------------------------------------------------------------------
# files and MARCXML


def file_cases(srcs: dict[str, Path], tmp: Path, rows: set[str]) -> dict[str, Timed]:
    cli = marc8fast_cmd()
    cases: dict[str, Timed] = {}
    if "files" in rows:
        for to, src, yaz_from, yaz_to, l9 in (
            ("utf8", srcs["marc8"], "MARC-8", "UTF-8", "9=97"),
            ("marc8", srcs["utf8"], "UTF-8", "MARC-8", "9=32"),
        ):
            out = str(tmp / f"out-{to}.mrc")
            for jobs in (1, 2):
                # exit 1: data changed in conversion (a replacement reported): still a run
                cases[f"marc8fast {to} j{jobs}"] = Timed(
                    [*cli, "convert", str(src), out, "--to", to, "-j", str(jobs), "-q",
                     "--no-progress"],
                    ok_codes=(0, 1),
                )  # fmt: skip
            cases[f"yaz {to}"] = Timed(
                ["yaz-marcdump", "-f", yaz_from, "-t", yaz_to, "-l", l9, "-o", "marc", str(src)],
                stdout=out,
            )
            cases[f"cp {to}"] = Timed(["cp", str(src), out])
            # marc8fast syncs its output before renaming it into place: the fair ceiling
            # syncs too (coreutils `sync FILE` is an fsync of that file).
            cases[f"cp+sync {to}"] = Timed(
                ["sh", "-c", 'cp "$1" "$2" && sync "$2"', "sh", str(src), out]
            )
    if "marcxml" in rows:
        out = str(tmp / "out.xml")
        # No -j: the CLI's conversions between formats run on every core (convert_file).
        cases["marc8fast marcxml"] = Timed(
            [*cli, "convert", str(srcs["utf8"]), out, "--to", "utf8", "--to-format", "marcxml",
             "-q", "--no-progress"],
            ok_codes=(0, 1),
        )  # fmt: skip
        cases["yaz marcxml"] = Timed(
            ["yaz-marcdump", "-i", "marc", "-o", "marcxml", str(srcs["utf8"])], stdout=out
        )
    return cases


def clear(tmp: Path) -> None:
    """Removes every file of the output directory, outside the timing: each timed run starts
    with no earlier output to free (an unlink, or a rename over an old file, frees its pages
    then and there)."""
    for p in tmp.iterdir():
        p.unlink()


def run_cases(cases: dict[str, Timed], repeat: int, tmp: Path, timeout: float) -> None:
    if not shutil.which("yaz-marcdump"):
        for k, c in cases.items():
            if k.startswith("yaz"):
                c.error = "yaz-marcdump not installed"
    keys = list(cases)
    for rep in range(repeat):
        turn = rep % len(keys)
        for key in keys[turn:] + keys[:turn]:
            c = cases[key]
            if c.error:
                continue
            clear(tmp)
            before = child_cpu()
            c.run(timeout)
            c.cpus.append(child_cpu() - before)
            clear(tmp)
            w = f"{c.walls[-1]:.2f} s" if c.walls and not c.error else c.error
            print(f"  [{rep + 1}/{repeat}] {key}: {w} (load {os.getloadavg()[0]:.2f})", flush=True)


# ------------------------------------------------------------------------------------------------
# the servers: their own scripts, run and parsed


def run_script(argv: list[str], timeout: float) -> tuple[str | None, str]:
    """Runs a bench script; (its stdout, '') or (None, why it failed)."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    except OSError as e:
        return None, str(e)
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or [""])[-1]
        return None, f"exit {p.returncode}: {tail[:200]}"
    return p.stdout, ""


def receiver_row(timeout: float) -> dict[str, Any]:
    scripts = sorted((ROOT / "benches").glob("bench_receiver*.py"))
    if scripts:
        argv = [sys.executable, str(scripts[0]), "--clients", "8"]
    else:
        argv = [sys.executable, str(ROOT / "benches" / "bench_connexion.py"), "--clients", "8",
                "--rss-requests", "0"]  # fmt: skip
    print(f"  receiver: {' '.join(Path(a).name if '/' in a else a for a in argv)}", flush=True)
    out, why = run_script(argv, timeout)
    row: dict[str, Any] = {"command": argv[1:], "load_before": os.getloadavg()[0]}
    if out is None:
        return {**row, "failed": why}
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("clients") == 8 and "records_per_s" in r:
            return {**row, "records_per_s": r["records_per_s"], "p99_ms": r.get("p99_ms")}
    return {**row, "failed": "no JSON line for 8 clients in the script's output"}


# | server | catalog | clients | records/s | × yaz-ztest | p50 ms | p99 ms | ...
# (bench_z3950.py since the C client; the catalog column is "-" for yaz-ztest). Rows of a
# --baseline or --postgresql run are not this row's figures and are skipped by the caller.
_Z_ROW = re.compile(r"^\|\s*(marc8fast[^|]*|yaz-ztest[^|]*)\|\s*([A-Za-z-]+)\s*\|\s*(\d+)\s*\|"
                    r"\s*([\d,.]+)\s*\|\s*[\d.]+\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|")  # fmt: skip


def z3950_row(timeout: float, seconds: float) -> dict[str, Any]:
    argv = [sys.executable, str(ROOT / "benches" / "bench_z3950.py"), "--clients", "1", "16",
            "--seconds", str(seconds)]  # fmt: skip
    print("  z3950: bench_z3950.py --clients 1 16", flush=True)
    out, why = run_script(argv, timeout)
    row: dict[str, Any] = {"command": argv[1:], "load_before": os.getloadavg()[0]}
    if out is None:
        return {**row, "failed": why}
    got: dict[tuple[str, int], tuple[float, float]] = {}
    for line in out.splitlines():
        m = _Z_ROW.match(line.strip())
        if not m or "baseline" in m.group(1) or m.group(2) not in ("SQLite", "-"):
            continue
        who = "ours" if m.group(1).startswith("marc8fast") else "yaz"
        got[(who, int(m.group(3)))] = (float(m.group(4).replace(",", "")), float(m.group(6)))
    need = [("ours", 1), ("ours", 16), ("yaz", 16)]
    if any(k not in got for k in need):
        return {**row, "failed": "the script's table lacks a row for 1 or 16 clients"}
    return {**row, "rates": {f"{w} {c}": v[0] for (w, c), v in got.items()},
            "p99_ms": {f"{w} {c}": v[1] for (w, c), v in got.items()}}  # fmt: skip


# ------------------------------------------------------------------------------------------------
# the summary


def summary(cases: dict[str, Timed], size: dict[str, int], servers: dict[str, Any]) -> list[str]:
    def med(key: str) -> float | None:
        c = cases.get(key)
        return c.median if c else None

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}×" if a and b else "failed"

    def secs(key: str) -> str:
        c = cases.get(key)
        if c is None:
            return "–"
        if c.median is None:
            return f"failed ({c.error})"
        return f"{c.median:.2f} s (CPU {c.cpu or 0:.2f} s)"

    def cpu_ratio(peer: str, ours: str) -> str:
        a, b = cases.get(peer), cases.get(ours)
        if a is None or b is None or not a.cpu or not b.cpu:
            return ""
        return f" (CPU {a.cpu / b.cpu:.1f}×)"

    lines = [
        "| workload | marc8fast | peer | ratio | target | met |",
        "|---|---:|---:|---:|---:|---|",
    ]

    def add(name: str, ours: str, peer: str, r: str, target: str, met: bool | None) -> None:
        verdict = "–" if target == "–" else "failed" if met is None else ("yes" if met else "no")
        lines.append(f"| {name} | {ours} | {peer} | {r} | {target} | {verdict} |")

    for to, label, src in (
        ("utf8", "MARC-8 → UTF-8", "marc8"),
        ("marc8", "UTF-8 → MARC-8", "utf8"),
    ):
        if f"yaz {to}" not in cases:
            continue
        mb = size[src] / 1e6
        ours, yaz, cp = med(f"marc8fast {to} j1"), med(f"yaz {to}"), med(f"cp {to}")
        r = yaz / ours if ours and yaz else None
        add(f"file {label}, 1 job ({mb:.0f} MB)",
            f"{secs(f'marc8fast {to} j1')}" + (f" = {mb / ours:.0f} MB/s" if ours else ""),
            f"yaz {secs(f'yaz {to}')}",
            ratio(yaz, ours) + cpu_ratio(f"yaz {to}", f"marc8fast {to} j1"), "≥ 25×",
            None if r is None else r >= 25)  # fmt: skip
        cps = med(f"cp+sync {to}")
        add("… `cp` of the same file (the ceiling)", secs(f"marc8fast {to} j1"),
            f"cp {secs(f'cp {to}')}, cp + sync {secs(f'cp+sync {to}')}",
            f"{ratio(cp, ours)} / {ratio(cps, ours)} of their speed", "–", None)  # fmt: skip
        j2 = med(f"marc8fast {to} j2")
        r2 = ours / j2 if ours and j2 else None
        add(f"file {label}, 2 jobs ÷ 1 job", secs(f"marc8fast {to} j2"), secs(f"marc8fast {to} j1"),
            ratio(ours, j2), "≥ 1.8×", None if r2 is None else r2 >= 1.8)  # fmt: skip
    if "yaz marcxml" in cases:
        yaz, ours = med("yaz marcxml"), med("marc8fast marcxml")
        r = yaz / ours if ours and yaz else None
        add("MARCXML writing (UTF-8 file, every core)", secs("marc8fast marcxml"),
            f"yaz {secs('yaz marcxml')}",
            ratio(yaz, ours) + cpu_ratio("yaz marcxml", "marc8fast marcxml"), "≥ 5×",
            None if r is None else r >= 5)  # fmt: skip
    rec = servers.get("receiver")
    if rec is not None:
        if "failed" in rec:
            add("Connexion receiver, 8 clients", "failed", "–", "–", "≥ 2,000/s, p99 < 50 ms", None)
            lines[-1] = lines[-1].replace("| failed |", f"| failed ({rec['failed']}) |", 1)
        else:
            rps, p99 = rec["records_per_s"], rec.get("p99_ms") or 0.0
            add("Connexion receiver, 8 clients", f"{rps:,.0f} records/s, p99 {p99:.1f} ms",
                "–", f"{rps / 2000:.2f}× of target", "≥ 2,000/s, p99 < 50 ms",
                rps >= 2000 and p99 < 50)  # fmt: skip
    z = servers.get("z3950")
    if z is not None:
        if "failed" in z:
            add("Z39.50 by sysno + present, 16 clients", f"failed ({z['failed']})", "–", "–",
                "≥ 0.5× yaz-ztest", None)  # fmt: skip
        else:
            rt, p = z["rates"], z["p99_ms"]
            r = rt["ours 16"] / rt["yaz 16"]
            add("Z39.50 by sysno + present, 16 clients",
                f"{rt['ours 16']:,.0f}/s, p99 {p['ours 16']:.1f} ms",
                f"yaz-ztest {rt['yaz 16']:,.0f}/s", f"{r:.2f}×", "≥ 0.5×, p99 < 20 ms",
                r >= 0.5 and p["ours 16"] < 20)  # fmt: skip
            s = rt["ours 16"] / rt["ours 1"]
            add("Z39.50, 16 clients ÷ 1 client", f"{rt['ours 16']:,.0f}/s",
                f"{rt['ours 1']:,.0f}/s (1 client)", f"{s:.2f}×", "≥ 1.5×", s >= 1.5)  # fmt: skip
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default=",".join(ROWS), help=f"subset of {','.join(ROWS)}")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each file command (3)")
    ap.add_argument("--tmpdir", default=None, help="where outputs go (default: beside the corpus)")
    ap.add_argument("--limit-records", type=int, default=None, metavar="N")
    ap.add_argument("--timeout", type=float, default=900.0, help="per command, seconds")
    ap.add_argument("--z3950-seconds", type=float, default=5.0)
    ap.add_argument("--json", metavar="FILE", help="also write everything measured as JSON")
    a = ap.parse_args()
    rows = {r.strip() for r in a.rows.split(",") if r.strip()}
    if rows - set(ROWS):
        ap.error(f"unknown rows: {', '.join(sorted(rows - set(ROWS)))}")
    info = machine()
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
    except OSError:
        commit = "?"
    print(f"# {info['cpu']}, {info['cores']} cores; {info['date']}; commit {commit}; "
          f"load average {info['loadavg']}", flush=True)  # fmt: skip
    srcs = {"marc8": data_dir() / MARC8_FILE, "utf8": data_dir() / UTF8_FILE}
    cases: dict[str, Timed] = {}
    servers: dict[str, Any] = {}
    size: dict[str, int] = {}
    if rows & {"files", "marcxml"}:
        missing = [str(p) for p in srcs.values() if not p.exists()]
        if missing:
            print(f"the corpus is missing ({', '.join(missing)}): python3 tools/bench_corpus.py; "
                  "file rows failed", flush=True)  # fmt: skip
            rows -= {"files", "marcxml"}
    # Outputs beside the corpus (the same disk) unless told otherwise.
    where = a.tmpdir or (str(data_dir()) if data_dir().is_dir() else None)
    work = Path(tempfile.mkdtemp(prefix="run_all-", dir=where))
    try:
        if rows & {"files", "marcxml"}:
            if a.limit_records:
                pre = Path(tempfile.mkdtemp(prefix="prefix-", dir=data_dir()))
                srcs = {k: prefix(v, pre / v.name, a.limit_records) for k, v in srcs.items()}
            size = {k: v.stat().st_size for k, v in srcs.items()}
            out = work / "out"
            out.mkdir()
            cases = file_cases(srcs, out, rows)
            print(f"files: {len(cases)} commands × {a.repeat}, outputs in {out}", flush=True)
            run_cases(cases, a.repeat, out, a.timeout)
            if a.limit_records:
                shutil.rmtree(srcs["marc8"].parent, ignore_errors=True)
        if "receiver" in rows:
            servers["receiver"] = receiver_row(a.timeout)
        if "z3950" in rows:
            servers["z3950"] = z3950_row(a.timeout, a.z3950_seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"# load average after: {os.getloadavg()}")
    for line in summary(cases, size, servers):
        print(line)
    if a.json:
        Path(a.json).write_text(json.dumps({
            "machine": info, "commit": commit, "sizes": size, "servers": servers,
            "files": {k: {"argv": c.argv, "walls": c.walls, "cpus": c.cpus, "error": c.error}
                      for k, c in cases.items()},
        }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
