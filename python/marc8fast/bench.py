"""``marc8fast bench``: MARC-8 → UTF-8 file conversion, marc8fast beside every peer installed.

Each tool converts the same MARC-8 file to UTF-8 records, in its own process (with a timeout),
writing to a temporary file:

  marc8fast      ``marc8fast.transcode_file(src, dst, to="utf8", jobs=N)``
  pymarc         ``MARCReader(fh, to_unicode=True, permissive=True)``, leader/09 set to ``a``,
                 ``record.as_marc()`` written
  rmarc          the same calls on rmarc (pymarc's API over Rust)
  yaz-marcdump   ``yaz-marcdump -f MARC-8 -t UTF-8 -l 9=97 -o marc SRC > DST``
  MARC::Charset  a Perl script: every subfield through ``MARC::Charset::marc8_to_utf8``, the record
                 rebuilt (length, base address, directory) and written
  marc4j         ``java -jar marc4j.jar to_utf8 -out DST SRC``

For the Python tools the time is taken inside the child around the conversion (interpreter start
and imports excluded); for the others it is the whole process (start-up included, measured
separately on an empty input and shown under the table). Every repetition runs every tool once, in
an order rotated from one repetition to the next; the table gives the median. Throughput is MB/s
(10^6 bytes) of MARC-8 input and records/s. A tool that is not installed is listed as such.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._native import read_records, validate_file

TOOLS = ("marc8fast", "pymarc", "rmarc", "yaz-marcdump", "MARC::Charset", "marc4j")
CORPUS_NAME = "BooksAll.marc8.mrc"
MARC4J_JARS = (Path("/usr/share/java/marc4j.jar"),)

_MARC8FAST_CHILD = """
import json, sys, time
import marc8fast
src, dst, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
r = marc8fast.transcode_file(src, dst, to="utf8", jobs=jobs)
print(json.dumps({"seconds": time.perf_counter() - t0, "records": r.records_written}))
"""

_PYMARC_CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import {module} as lib
src, dst = sys.argv[1], sys.argv[2]
n = 0
t0 = time.perf_counter()
with open(src, "rb") as fh, open(dst, "wb") as out:
    for rec in lib.MARCReader(fh, to_unicode=True, permissive=True):
        if rec is None:
            continue
        rec.leader = rec.leader[:9] + "a" + rec.leader[10:]
        out.write(rec.as_marc())
        n += 1
print(json.dumps({{"seconds": time.perf_counter() - t0, "records": n}}))
"""

# MARC::Charset decodes strings; this script splits the records, decodes every subfield (and
# control field) and writes the record back with its lengths and directory recomputed in bytes.
_PERL_CHILD = r"""
use strict; use warnings; no warnings 'utf8';
use MARC::Charset qw(marc8_to_utf8);
MARC::Charset->ignore_errors(1);
MARC::Charset->assume_unicode(0);
my ($src, $dst) = @ARGV;
open(my $in, '<:raw', $src) or die "$src: $!";
open(my $out, '>:raw', $dst) or die "$dst: $!";
local $/ = "\x1D";
while (my $rec = <$in>) {
    next if length($rec) < 25;
    my $leader = substr($rec, 0, 24);
    my $base = substr($leader, 12, 5) + 0;
    my $dir = substr($rec, 24, $base - 25);
    my (@tags, @data);
    for (my $i = 0; $i + 12 <= length($dir); $i += 12) {
        my ($tag, $len, $start) = unpack('A3 A4 A5', substr($dir, $i, 12));
        my $f = substr($rec, $base + $start, $len - 1);
        if ($tag lt '010') {
            $f = marc8_to_utf8($f) // '';
        } else {
            my @parts = split(/\x1F/, $f, -1);
            my $ind = shift @parts;
            $f = $ind . join('', map {
                "\x1F" . substr($_, 0, 1) . (marc8_to_utf8(substr($_, 1)) // '')
            } @parts);
        }
        utf8::encode($f) if utf8::is_utf8($f);
        push @tags, $tag; push @data, $f;
    }
    my ($d, $body, $pos) = ('', '', 0);
    for my $k (0 .. $#tags) {
        my $len = length($data[$k]) + 1;
        $d .= sprintf('%3s%04d%05d', $tags[$k], $len, $pos);
        $body .= $data[$k] . "\x1E";
        $pos += $len;
    }
    my $b = 24 + length($d) + 1;
    substr($leader, 9, 1) = 'a';
    substr($leader, 0, 5) = sprintf('%05d', $b + length($body) + 1);
    substr($leader, 12, 5) = sprintf('%05d', $b);
    print $out $leader, $d, "\x1E", $body, "\x1D";
}
"""


@dataclass
class Tool:
    name: str
    installed: bool
    version: str = ""
    note: str = ""  # why not installed, or how it is timed
    in_child: bool = True  # time taken inside the child (else the whole process)
    seconds: list[float] = field(default_factory=list)
    records_out: int | None = None
    failure: str | None = None
    startup: float | None = None


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return "?"


def _run_quiet(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _marc4j_jar() -> Path | None:
    env = os.environ.get("MARC4J_JAR")
    for p in ([Path(env)] if env else []) + list(MARC4J_JARS):
        if p.is_file():
            return p
    return None


def _jar_version(jar: Path) -> str:
    import zipfile

    try:
        with zipfile.ZipFile(jar) as z:
            manifest = z.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return "?"
    for line in manifest.splitlines():
        if line.startswith(("Implementation-Version:", "Version:")):
            return line.split(":", 1)[1].strip()
    return "?"


def discover(wanted: list[str]) -> list[Tool]:
    """Which tools are installed, with their versions."""
    tools: list[Tool] = []
    for name in wanted:
        if name == "marc8fast":
            from . import __version__

            tools.append(Tool(name, True, __version__, "time inside the child"))
        elif name in ("pymarc", "rmarc"):
            if importlib.util.find_spec(name) is None:
                tools.append(Tool(name, False, note=f"pip install {name}"))
            else:
                tools.append(Tool(name, True, _dist_version(name), "time inside the child"))
        elif name == "yaz-marcdump":
            exe = shutil.which("yaz-marcdump")
            v = _run_quiet([exe, "-V"]) if exe else None
            if exe is None or v is None:
                tools.append(Tool(name, False, note="apt-get install yaz"))
            else:
                words = (v.stdout or v.stderr).replace(":", " ").split()
                ver = next((w for w in words if w[:1].isdigit()), "?")
                tools.append(Tool(name, True, ver, "whole process", in_child=False))
        elif name == "MARC::Charset":
            perl = shutil.which("perl")
            v = (
                _run_quiet([perl, "-MMARC::Charset", "-e", "print $MARC::Charset::VERSION"])
                if perl
                else None
            )
            if v is None or v.returncode != 0:
                tools.append(Tool(name, False, note="apt-get install libmarc-charset-perl"))
            else:
                tools.append(Tool(name, True, v.stdout.strip(), "whole process", in_child=False))
        elif name == "marc4j":
            jar = _marc4j_jar()
            if shutil.which("java") is None or jar is None:
                tools.append(
                    Tool(name, False, note="apt-get install libmarc4j-java default-jre-headless")
                )
            else:
                ver = _jar_version(jar)
                tools.append(Tool(name, True, ver, "whole process (JVM start)", in_child=False))
        else:
            raise ValueError(f"unknown tool {name!r}; known: {', '.join(TOOLS)}")
    return tools


def _argv(tool: Tool, src: Path, dst: Path, jobs: int) -> tuple[list[str], Path | None]:
    """The command, and the file its stdout goes to (None: stdout is the child's JSON line)."""
    py = sys.executable
    if tool.name == "marc8fast":
        return [py, "-c", _MARC8FAST_CHILD, str(src), str(dst), str(jobs)], None
    if tool.name in ("pymarc", "rmarc"):
        return [py, "-c", _PYMARC_CHILD.format(module=tool.name), str(src), str(dst)], None
    if tool.name == "yaz-marcdump":
        return [
            "yaz-marcdump",
            *("-f", "MARC-8", "-t", "UTF-8", "-l", "9=97", "-o", "marc"),
            str(src),
        ], dst
    if tool.name == "MARC::Charset":
        return ["perl", "-e", _PERL_CHILD, str(src), str(dst)], None
    if tool.name == "marc4j":
        jar = _marc4j_jar()
        return ["java", "-jar", str(jar), "to_utf8", "-out", str(dst), str(src)], None
    raise ValueError(tool.name)


def count_records(path: Path) -> int:
    """Records in `path` as the record layer splits them (streamed; no problem kept)."""
    return validate_file(path, max_problems=0).records_read


def measure(tool: Tool, src: Path, dst: Path, jobs: int, timeout: float) -> float | str:
    """One run: seconds, or a failure message."""
    argv, stdout_to = _argv(tool, src, dst, jobs)
    out = open(stdout_to, "wb") if stdout_to else subprocess.PIPE
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            argv, stdout=out, stderr=subprocess.PIPE, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:g} s"
    except OSError as e:
        return f"could not run: {e}"
    finally:
        if stdout_to and not isinstance(out, int):
            out.close()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        return f"exit status {proc.returncode}: {' '.join(tail)[:200]}"
    if tool.in_child:
        try:
            line = proc.stdout.decode().strip().splitlines()[-1]
            return float(json.loads(line)["seconds"])
        except (IndexError, ValueError, KeyError) as e:
            return f"no timing from the child ({e})"
    return wall


def startup(tool: Tool, tmp: Path) -> float | None:
    """Seconds the whole-process tools take on an empty input (the median of 3)."""
    if tool.in_child:
        return None
    empty = tmp / "empty.mrc"
    empty.write_bytes(b"")
    times = []
    for _ in range(3):
        t = measure(tool, empty, tmp / "empty.out", 1, 60)
        if isinstance(t, str):
            return None
        times.append(t)
    return statistics.median(times)


def write_prefix(src: Path, dst: Path, n: int) -> int:
    """The first `n` records of `src` into `dst`; returns how many were written.

    The records are found by the record layer (`read_records`) on a prefix of `src` that doubles
    until it holds more than `n` records or is the whole file: only the last record of a prefix
    can be cut, so the first `n` are whole. Bytes between them (garbage) are copied as they are.
    """
    want = 1 << 20
    data = b""
    with open(src, "rb") as fh:
        while True:
            data += fh.read(want - len(data))
            records = read_records(data)
            if len(records) > n or len(data) < want:
                break
            want *= 2
    if len(records) <= n:  # the whole file: copied whole, as before (a cut tail included)
        dst.write_bytes(data)
        return len(records)
    _number, offset, raw = records[n - 1] if n > 0 else (0, 0, b"")
    dst.write_bytes(data[: offset + len(raw)])
    return n


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        r = _run_quiet(["sysctl", "-n", "machdep.cpu.brand_string"])
        if r and r.returncode == 0:
            return r.stdout.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    cores = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    return (
        f"{cpu_model()}, {cores} logical cores ({usable} usable), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


#: What ``bench --download`` fetches: pymarc 5.4.0's source archive, which holds the LC file.
DOWNLOAD_SIZE = "a 76 MB"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "marc8fast"


def find_corpus() -> Path | None:
    """The LC corpus if it is already somewhere: $MARC8FAST_BENCH_DATA when it is set (else the
    source tree's bench-data/), then the cache."""
    places = []
    if os.environ.get("MARC8FAST_BENCH_DATA"):
        places.append(Path(os.environ["MARC8FAST_BENCH_DATA"]).expanduser())
    else:
        places.append(Path(__file__).resolve().parents[2] / "bench-data")
    places.append(cache_dir())
    for d in places:
        if (d / CORPUS_NAME).is_file():
            return d / CORPUS_NAME
    return None


def build_corpus() -> Path | None:
    """Builds the MARC-8 corpus into the cache with tools/bench_corpus.py's steps 1 and 2 (pymarc's
    sdist download, yaz conversion), when running from a source tree; else returns None."""
    script = Path(__file__).resolve().parents[2] / "tools" / "bench_corpus.py"
    if not script.is_file():
        return None
    spec = importlib.util.spec_from_file_location("_marc8fast_bench_corpus", script)
    if spec is None or spec.loader is None:
        return None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    utf8, _ = mod.fetch_utf8(d)
    marc8, _ = mod.convert_marc8(d, utf8, False)
    return Path(marc8)


def fmt_rate(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def table(tools: list[Tool], size: int, records: int) -> list[str]:
    ref = next((t for t in tools if t.name == "marc8fast" and t.seconds), None)
    ref_s = statistics.median(ref.seconds) if ref else None
    rows = [("tool", "version", "MB/s", "records/s", "vs marc8fast", "median s", "timed")]
    for t in tools:
        if not t.installed:
            rows.append((t.name, "-", "-", "-", "-", "-", f"not installed ({t.note})"))
            continue
        if not t.seconds:
            rows.append((t.name, t.version, "-", "-", "-", "-", f"failed: {t.failure}"))
            continue
        s = statistics.median(t.seconds)
        ratio = "1.0×" if t.name == "marc8fast" or not ref_s else f"{s / ref_s:,.1f}× slower"
        if ref_s and s < ref_s and t.name != "marc8fast":
            ratio = f"{ref_s / s:,.1f}× faster"
        rows.append(
            (
                t.name,
                t.version,
                fmt_rate(size / s / 1e6),
                f"{records / s:,.0f}",
                ratio,
                f"{s:.3f}",
                t.note,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for k, r in enumerate(rows):
        cells = [
            c.ljust(w) if i in (0, 1, 6) else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append("| " + " | ".join(cells) + " |")
        if k == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return out


def run(args: argparse.Namespace) -> int:
    from ._paths import check_paths

    say = print if args.verbosity >= 1 else (lambda *a, **k: None)
    why = check_paths([("the timings", args.json)], inputs=[args.file] if args.file else [])
    if why is not None:
        print(f"marc8fast: {why}", file=sys.stderr)
        return 2
    if args.file:
        src = Path(args.file)
        if not src.is_file():
            print(f"marc8fast: {src}: no such file", file=sys.stderr)
            return 2
    else:
        found = find_corpus()
        if found is None and not getattr(args, "download", False):
            # Never a download nobody asked for (issue 18, item 20).
            print(
                f"marc8fast: the LC benchmark corpus ({CORPUS_NAME}) is not in "
                f"$MARC8FAST_BENCH_DATA, bench-data/ or {cache_dir()}. `marc8fast bench "
                f"--download` builds it there ({DOWNLOAD_SIZE} download of pymarc's source, "
                "then a yaz conversion; from a source checkout), or give a MARC-8 file: "
                "marc8fast bench FILE",
                file=sys.stderr,
            )
            return 2
        if found is None:
            say(
                f"The LC benchmark corpus ({CORPUS_NAME}) is not there; building it in "
                f"{cache_dir()} ({DOWNLOAD_SIZE} download and a yaz conversion)...",
                file=sys.stderr,
            )
            try:
                found = build_corpus()
            except (SystemExit, OSError, subprocess.CalledProcessError) as e:
                print(f"marc8fast: could not build the corpus: {e}", file=sys.stderr)
                return 2
            if found is None:
                print(
                    f"marc8fast: no {CORPUS_NAME}. Build it from a source checkout with "
                    f"`MARC8FAST_BENCH_DATA={cache_dir()} python3 tools/bench_corpus.py` "
                    "(needs yaz), or give a MARC-8 file: marc8fast bench FILE",
                    file=sys.stderr,
                )
                return 2
        src = found
    wanted = [t.strip() for t in args.tools.split(",")] if args.tools else list(TOOLS)
    try:
        tools = discover(wanted)
    except ValueError as e:
        print(f"marc8fast: {e}", file=sys.stderr)
        return 2
    jobs = args.jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="marc8fast-bench-") as tmpname:
        tmp = Path(tmpname)
        if args.limit is not None:
            data = tmp / "input.mrc"
            records = write_prefix(src, data, args.limit)
        else:
            data = src
            records = count_records(src)
        size = data.stat().st_size
        say(
            f"marc8fast bench: {src} ({records:,} records, {size / 1e6:,.1f} MB, MARC-8 → UTF-8), "
            f"{args.repeat} repetition(s), marc8fast with {jobs} thread(s)"
        )
        say(f"machine: {machine()}")
        active = [t for t in tools if t.installed]
        for rep in range(args.repeat):
            k = rep % max(len(active), 1)
            for t in active[k:] + active[:k]:
                if t.failure:
                    continue
                dst = tmp / "out.mrc"
                result = measure(t, data, dst, jobs, args.timeout)
                if isinstance(result, str):
                    t.failure = result
                    t.seconds.clear()
                else:
                    t.seconds.append(result)
                    if t.records_out is None and dst.exists():
                        t.records_out = count_records(dst)
                dst.unlink(missing_ok=True)
                if args.verbosity >= 2:
                    say(f"  [{rep + 1}] {t.name}: {result}", file=sys.stderr)
        for t in active:
            t.startup = startup(t, tmp) if not t.failure else None
    say("")
    for line in table(tools, size, records):
        print(line)
    notes = []
    for t in tools:
        if t.startup is not None:
            notes.append(
                f"{t.name}: process start-up {t.startup:.3f} s (on an empty input), "
                "included in its time"
            )
        if t.records_out is not None and t.records_out != records:
            notes.append(f"{t.name}: wrote {t.records_out:,} of {records:,} records")
    if notes:
        say("")
        for n in notes:
            say(f"* {n}")
    if args.json:
        doc: dict[str, Any] = {
            "file": str(src),
            "records": records,
            "bytes": size,
            "machine": machine(),
            "jobs": jobs,
            "repeat": args.repeat,
            "tools": [asdict(t) for t in tools],
        }
        try:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=1)
        except OSError as e:
            print(f"marc8fast: {args.json}: {e.strerror or e}", file=sys.stderr)
            return 2
    failed = any(t.failure for t in tools if t.installed)
    return 1 if failed else 0
