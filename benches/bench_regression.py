"""Before/after: the same file-level work timed with two builds of marc8fast, interleaved.

Used to show that a change costs no throughput (issue 9: "no throughput regression on the LC
corpus"). Each build is a Python interpreter whose environment has marc8fast installed (e.g. a
venv with `pip install .` of the old commit, and the working tree's `.venv`). Every case runs in a
fresh child process of each interpreter in turn, `--repeat` times, and the median wall time of the
work itself (imports excluded) is reported with the ratio new/old. The machine is shared, so only
the ratio from the same run means anything.

    python benches/bench_regression.py --old /tmp/venv-old/bin/python --new .venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir, machine

# Each case is a snippet run in the child; it prints the seconds the work took as JSON.
CASES: dict[str, str] = {
    "transcode_file marc8->utf8 (jobs=1)": ("r = m.transcode_file(SRC8, DST, to='utf8', jobs=1)"),
    "transcode_file marc8->utf8 (jobs=2)": ("r = m.transcode_file(SRC8, DST, to='utf8', jobs=2)"),
    "transcode_file utf8->marc8 (jobs=1)": ("r = m.transcode_file(SRCU, DST, to='marc8', jobs=1)"),
    "validate_file marc8 (jobs=1)": "r = m.validate_file(SRC8, jobs=1)",
    "read_records_report marc8": "r = m.read_records_report(DATA8)",
}

CHILD = """
import json, sys, time
import marc8fast as m
SRC8, SRCU, DST = sys.argv[1], sys.argv[2], sys.argv[3]
DATA8 = open(SRC8, 'rb').read() if 'DATA8' in {code!r} else None
t = time.perf_counter()
{code}
print(json.dumps(time.perf_counter() - t))
"""


def run(python: str, code: str, src8: Path, srcu: Path, dst: Path) -> float:
    out = subprocess.run(
        [python, "-c", CHILD.format(code=code), str(src8), str(srcu), str(dst)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", required=True, help="python of the build before the change")
    ap.add_argument("--new", required=True, help="python of the build after the change")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    d = data_dir()
    src8, srcu = d / "BooksAll.marc8.mrc", d / "BooksAll.2016.part01.utf8"
    if not src8.exists() or not srcu.exists():
        print(f"no corpus in {d}: run tools/bench_corpus.py first", file=sys.stderr)
        return 2
    size = src8.stat().st_size
    print(json.dumps(machine()))
    print(f"corpus: {src8.name} ({size / 1e6:.1f} MB), {srcu.name}; repeat {args.repeat}")
    print("| case | old s | new s | new/old time |\n|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        dst = Path(tmp) / "out.mrc"
        for name, code in CASES.items():
            old: list[float] = []
            new: list[float] = []
            for _ in range(args.repeat):
                old.append(run(args.old, code, src8, srcu, dst))
                new.append(run(args.new, code, src8, srcu, dst))
            mo, mn = statistics.median(old), statistics.median(new)
            print(f"| {name} | {mo:.3f} | {mn:.3f} | {mn / mo:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
