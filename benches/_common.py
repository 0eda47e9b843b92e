"""Helpers shared by the benchmark scripts: where the corpus is, the field-file format, versions,
and a description of the machine."""

from __future__ import annotations

import datetime
import os
import platform
import struct
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOT_INSTALLED = "(not installed as a distribution)"


def data_dir() -> Path:
    """The benchmark corpus: $MARC8FAST_BENCH_DATA, else bench-data/ at the repository root."""
    env = os.environ.get("MARC8FAST_BENCH_DATA")
    return Path(env).expanduser().resolve() if env else ROOT / "bench-data"


def read_fields(path: Path, limit: int | None) -> list[bytes]:
    """The items of a field file (each a little-endian u32 length, then the bytes)."""
    data = path.read_bytes()
    out: list[bytes] = []
    pos = 0
    unpack = struct.Struct("<I").unpack_from
    while pos < len(data) and (limit is None or len(out) < limit):
        (n,) = unpack(data, pos)
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def version_of(dist: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def machine() -> dict[str, Any]:
    """CPU model, cores, Python, platform, date and load average, for the results."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "?"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
