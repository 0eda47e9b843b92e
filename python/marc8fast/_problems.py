"""The one layout of a problem line, for every command that prints problems about records read
from a file (``validate``, ``convert``, ``dump``, ``load``; issue 18, item 15)::

    FILE: record N @OFFSET 001=CN: TAG#OCC $c offset K (field byte F): kind: [HEX] "text": message
    FILE: junk @OFFSET: garbage: [HEX] "text": message

The parts that do not apply are left out; a kind whose severity is not ``error`` says so
(``mislabelled (warning)``, ``ncr_present (info)``). Bytes between records that are no record
(``garbage``) are **junk**: not a record, so not numbered as one, but placed by their byte offset
in the file — the same in every command and in the JSON reports (``"record": null``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._native import PROBLEM_KINDS
from .kinds import JUNK_KINDS, ProblemKind, Severity


def shown_bytes(kind: str, raw: bytes) -> str:
    """The problem's bytes as a person reads them: the character for UTF-8 text (unmappable,
    NCRs), else the bytes with controls and non-ASCII as ``\\xNN``."""
    if kind in (ProblemKind.UNMAPPABLE, ProblemKind.NCR_PRESENT):
        return raw.decode("utf-8", "backslashreplace")
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in raw)


def hex_of(raw: bytes) -> str:
    return " ".join(f"{b:02X}" for b in raw)


def problem_line(file: str, p: Mapping[str, Any]) -> str:
    """One problem, laid out as the module says. ``p`` has the keys of ``RecordProblem.to_dict``
    (``bytes`` as hex) and, optionally, ``severity`` and ``text`` (the bytes as shown)."""
    kind = p["kind"]
    at = f" @{p['record_offset']}" if p.get("record_offset") is not None else ""
    head = f"{file}: junk{at}" if kind in JUNK_KINDS else f"{file}: record {p.get('record')}{at}"
    if p.get("control_number"):
        head += f" 001={p['control_number']}"
    parts = [head]
    loc = []
    if p.get("tag") is not None:
        loc.append(f"{p['tag']}#{p['occurrence']}" if p.get("occurrence") else p["tag"])
    if p.get("subfield") is not None:
        loc.append(f"${p['subfield']}")
    if p.get("offset") is not None:
        loc.append(f"offset {p['offset']}")
    if p.get("field_offset") is not None:
        loc.append(f"(field byte {p['field_offset']})")
    if loc:
        parts.append(" ".join(loc))
    severity = p.get("severity") or PROBLEM_KINDS.get(kind, "error")
    parts.append(kind if severity == Severity.ERROR else f"{kind} ({severity})")
    hexed = p.get("bytes") or ""
    if hexed:
        text = p.get("text")
        if text is None:
            try:
                text = shown_bytes(kind, bytes.fromhex(hexed))
            except ValueError:
                text = ""
        parts.append(f'[{hexed}] "{text}"')
    parts.append(p["message"])
    return ": ".join(parts)
