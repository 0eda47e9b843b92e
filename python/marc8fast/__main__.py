"""``marc8fast`` command line.

``marc8fast dump FILE...`` prints every record of MARC-8 (or UTF-8) ISO 2709 files as UTF-8 text,
one field per line in the usual ``=TAG  ind$aSubfield`` form, and lists every conversion problem
(record, tag, subfield, byte offset in the subfield) on standard error.

Exit status: 0 clean, 1 problems found, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__, decode_report
from ._iso2709 import Record, RecordError, read


def _text(raw: bytes, utf8: bool) -> tuple[str, list[str]]:
    if utf8:
        return raw.decode("utf-8", "replace"), []
    text, problems = decode_report(raw)
    return text, [f"byte {p.offset}: {p.kind}: {p.message}" for p in problems]


def _dump(path: str, rec: Record, out: list[str], err: list[str]) -> None:
    utf8 = rec.leader[9:10] == b"a"
    out.append(f"=LDR  {rec.leader.decode('ascii', 'replace')}")
    for f in rec.fields:
        if f.is_control:
            text, probs = _text(f.data, utf8)
            out.append(f"={f.tag}  {text}")
            err.extend(f"{path}: record {rec.index} {f.tag}: {p}" for p in probs)
            continue
        parts = [f.indicators.decode("ascii", "replace").replace(" ", "\\")]
        for code, raw in f.subfields:
            text, probs = _text(raw, utf8)
            parts.append(f"${code}{text}")
            err.extend(f"{path}: record {rec.index} {f.tag} ${code}: {p}" for p in probs)
        out.append(f"={f.tag}  {''.join(parts)}")
    out.append("")


def _cmd_dump(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as e:
            print(f"marc8fast: {e}", file=sys.stderr)
            return 2
        for rec in read(data):
            out: list[str] = []
            err: list[str] = []
            if isinstance(rec, RecordError):
                err.append(f"{path}: {rec}")
            else:
                _dump(path, rec, out, err)
            if out:
                sys.stdout.write("\n".join(out) + "\n")
            if err:
                status = 1
                sys.stderr.write("\n".join(err) + "\n")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marc8fast", description="MARC-8 ⇄ UTF-8 tools")
    parser.add_argument("--version", action="version", version=f"marc8fast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    dump = sub.add_parser("dump", help="print MARC records as UTF-8 text, problems on stderr")
    dump.add_argument("files", nargs="+", metavar="FILE")
    dump.set_defaults(func=_cmd_dump)
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
