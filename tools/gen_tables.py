#!/usr/bin/env python3
"""Generate the MARC-8 code tables for the Rust core from LC's codetables.xml.

Usage:  python3 tools/gen_tables.py            (writes the files below)
        python3 tools/gen_tables.py --check    (exit 1 if they are out of date)

Reads   rust/marc8/data/codetables.xml
Writes  rust/marc8/src/tables.rs     forward tables (decoder) and the reverse table (encoder)
        tests/data/codetables.tsv    one line per LC code, for the exhaustive conformance tests

Layout of the generated tables (see rust/marc8/src/tables.rs for the accessors):

* ``SINGLE[set][byte & 0x7F]``: a u32 per position of each of the 11 single-byte sets.  ANSEL,
  Extended Cyrillic and Extended Arabic are listed by LC with their GR (high-byte) values; folding
  every set to 7-bit keys lets any set sit in G0 or G1.  Bits: 31 mapped, 30 combining,
  29 right half of a double diacritic (no primary mapping; the value is LC's ``alt``),
  28 left half of a double diacritic, 0-20 the code point.
* EACC: a rank/select index.  ``EACC_PAIR[(b1-0x21)*94 + (b2-0x21)]`` is 0 or 1 + a row number;
  ``EACC_ROWS[row] = (bitmap of third bytes 0x20..0x7E, base)``; the value of (b1, b2, b3) is
  ``EACC_VALUES[base + popcount(bitmap & ((1 << (b3-0x20)) - 1))]``.  One table lookup, one row
  read and one popcount per character, in 78 KB.
* ``REVERSE``: every (code point, set, code) the tables define, primary ``ucs`` values first and
  ``alt`` values after them, sorted by code point and, for one code point, in LC file order with
  primaries before alternates (the encoder's deterministic preference; exceptions live in the
  encoder, not here).
* ``LEGACY_HALVES``: the pre-2004 half-mark mappings (U+FE20-FE23) for the double diacritics.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
XML = ROOT / "rust/marc8/data/codetables.xml"
RS_OUT = ROOT / "rust/marc8/src/tables.rs"
TSV_OUT = ROOT / "tests/data/codetables.tsv"

# (final byte, Rust variant name) in the order of the Charset enum in charset.rs.
SETS = [
    (0x42, "Ascii"),
    (0x45, "Ansel"),
    (0x67, "GreekSymbols"),
    (0x62, "Subscript"),
    (0x70, "Superscript"),
    (0x32, "Hebrew"),
    (0x4E, "Cyrillic"),
    (0x51, "ExtCyrillic"),
    (0x33, "Arabic"),
    (0x34, "ExtArabic"),
    (0x53, "Greek"),
    (0x31, "Eacc"),
]
SET_INDEX = {final: i for i, (final, _) in enumerate(SETS)}
EACC = SET_INDEX[0x31]

MAPPED = 1 << 31
COMBINING = 1 << 30
RIGHT_HALF = 1 << 29
LEFT_HALF = 1 << 28


def load():
    tree = ET.parse(XML)
    sets = {}
    for cs in tree.iter("characterSet"):
        final = int(cs.get("ISOcode"), 16)
        codes = []
        for c in cs.iter("code"):
            marc = int(c.findtext("marc").strip(), 16)
            ucs = (c.findtext("ucs") or "").strip()
            alt = (c.findtext("alt") or "").strip()
            codes.append(
                {
                    "marc": marc,
                    "ucs": int(ucs, 16) if ucs else None,
                    "alt": int(alt, 16) if alt else None,
                    "combining": (c.findtext("isCombining") or "").strip() == "true",
                    "left_half": c.find("marc_right_half") is not None,
                    "right_half": c.find("marc_left_half") is not None,
                }
            )
        sets[final] = codes
    if sorted(sets) != sorted(SET_INDEX):
        sys.exit(f"unexpected set list in {XML}: {sorted(hex(s) for s in sets)}")
    return sets


def single_table(codes):
    table = [0] * 128
    for c in codes:
        key = c["marc"] & 0x7F
        if c["ucs"] is None:
            if not c["right_half"] or c["alt"] is None:
                sys.exit(f"code {c['marc']:X} has no Unicode value and is not a right half")
            value = MAPPED | RIGHT_HALF | c["alt"]
        else:
            value = MAPPED | c["ucs"]
        if c["combining"]:
            value |= COMBINING
        if c["left_half"]:
            value |= LEFT_HALF
        if table[key]:
            sys.exit(f"duplicate key {key:02X}")
        table[key] = value
    return table


def eacc_tables(codes):
    by_pair: dict[tuple[int, int], dict[int, int]] = {}
    for c in codes:
        b1, b2, b3 = (c["marc"] >> 16) & 0xFF, (c["marc"] >> 8) & 0xFF, c["marc"] & 0xFF
        assert 0x21 <= b1 <= 0x7E and 0x21 <= b2 <= 0x7E and 0x20 <= b3 <= 0x7E, hex(c["marc"])
        assert not c["combining"]
        by_pair.setdefault((b1, b2), {})[b3] = c["ucs"]
    pair_index = [0] * (94 * 94)
    rows = []
    values = []
    for row, (b1, b2) in enumerate(sorted(by_pair)):
        pair_index[(b1 - 0x21) * 94 + (b2 - 0x21)] = row + 1
        bitmap = 0
        base = len(values)
        for b3 in sorted(by_pair[(b1, b2)]):
            bitmap |= 1 << (b3 - 0x20)
            values.append(by_pair[(b1, b2)][b3])
        rows.append((bitmap, base))
    return pair_index, rows, values


def reverse_entries(sets):
    """(code point, set index, code, is_alt) in preference order for each code point."""
    entries = []
    order = 0
    for final, codes in sets.items():
        s = SET_INDEX[final]
        for c in codes:
            if s != EACC and (c["marc"] & 0x7F) < 0x20:
                continue  # C0/C1 controls are written as themselves, not through a set
            if c["ucs"] is not None:
                entries.append((c["ucs"], 0, order, s, c["marc"]))
            if c["alt"] is not None:
                entries.append((c["alt"], 1, order, s, c["marc"]))
            order += 1
    entries.sort()
    return [(cp, s, marc, alt) for cp, alt, _, s, marc in entries]


def fmt_array(name, ty, items, per_line, fmt):
    lines = [f"#[rustfmt::skip]\npub(crate) static {name}: [{ty}; {len(items)}] = ["]
    for i in range(0, len(items), per_line):
        lines.append("    " + " ".join(fmt(x) + "," for x in items[i : i + per_line]))
    lines.append("];\n")
    return "\n".join(lines)


def render_rust(sets):
    singles = [single_table(sets[final]) for final, _ in SETS if final != 0x31]
    pair_index, rows, values = eacc_tables(sets[0x31])
    reverse = reverse_entries(sets)
    legacy = []
    for final, codes in sets.items():
        for c in codes:
            if (c["left_half"] or c["right_half"]) and c["alt"] is not None:
                legacy.append((SET_INDEX[final], c["marc"] & 0x7F, c["alt"]))
    legacy.sort()

    out = [
        "// GENERATED FILE - DO NOT EDIT.",
        "// Generated by `python3 tools/gen_tables.py` from rust/marc8/data/codetables.xml",
        "// (LC MARC-8 code tables, December 2007).  Re-run the generator instead of editing;",
        "// CI re-runs it and fails if this file changes.",
        "",
        f"pub(crate) const MAPPED: u32 = 0x{MAPPED:08X};",
        f"pub(crate) const COMBINING: u32 = 0x{COMBINING:08X};",
        f"pub(crate) const RIGHT_HALF: u32 = 0x{RIGHT_HALF:08X};",
        f"pub(crate) const LEFT_HALF: u32 = 0x{LEFT_HALF:08X};",
        "pub(crate) const CP_MASK: u32 = 0x001F_FFFF;",
        f"/// Number of codes in LC's EACC table.\npub const EACC_CODE_COUNT: usize = {len(values)};",
        "",
        "/// Single-byte sets, indexed by `Charset as usize` then by `byte & 0x7F`.",
        "#[rustfmt::skip]",
        f"pub(crate) static SINGLE: [[u32; 128]; {len(singles)}] = [",
    ]
    for (final, name), table in zip(SETS, singles, strict=False):
        out.append(f"    // {name} (final 0x{final:02X})")
        out.append("    [")
        for i in range(0, 128, 8):
            out.append("        " + " ".join(f"0x{v:08X}," for v in table[i : i + 8]))
        out.append("    ],")
    out.append("];\n")
    out.append("/// EACC: 0, or 1 + row number, for each (first, second) byte pair.")
    out.append(fmt_array("EACC_PAIR", "u16", pair_index, 16, lambda v: str(v)))
    out.append(
        "/// EACC rows: (bitmap of third bytes 0x20..=0x7E, index of the row's first value)."
    )
    out.append(fmt_array("EACC_ROWS", "(u128, u16)", rows, 2, lambda r: f"(0x{r[0]:032X}, {r[1]})"))
    out.append("/// EACC code points, row by row, in third-byte order.")
    out.append(fmt_array("EACC_VALUES", "u32", values, 10, lambda v: f"0x{v:05X}"))
    out.append(
        "/// Every mapping, sorted by code point: (code point, set index, MARC code as LC lists it,\n"
        "/// true when the code point is LC's `alt` value rather than the primary `ucs`)."
    )
    out.append(
        fmt_array(
            "REVERSE",
            "(u32, u8, u32, bool)",
            reverse,
            3,
            lambda e: f"(0x{e[0]:05X}, {e[1]}, 0x{e[2]:06X}, {'true' if e[3] else 'false'})",
        )
    )
    out.append(
        "/// Pre-2004 half-mark mappings of the double diacritics: (set index, byte & 0x7F, code point)."
    )
    out.append(
        fmt_array(
            "LEGACY_HALVES",
            "(u8, u8, u32)",
            legacy,
            4,
            lambda e: f"({e[0]}, 0x{e[1]:02X}, 0x{e[2]:04X})",
        )
    )
    return "\n".join(out)


def render_tsv(sets):
    lines = [
        "# GENERATED by tools/gen_tables.py from rust/marc8/data/codetables.xml - do not edit",
        "# final\tmarc\tucs\talt\tcombining\thalf",
    ]
    for final, codes in sets.items():
        for c in codes:
            width = 6 if final == 0x31 else 2
            half = "left" if c["left_half"] else "right" if c["right_half"] else ""
            lines.append(
                "\t".join(
                    [
                        f"{final:02X}",
                        f"{c['marc']:0{width}X}",
                        f"{c['ucs']:04X}" if c["ucs"] is not None else "",
                        f"{c['alt']:04X}" if c["alt"] is not None else "",
                        "1" if c["combining"] else "0",
                        half,
                    ]
                )
            )
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the outputs are out of date")
    args = ap.parse_args()
    sets = load()
    outputs = {RS_OUT: render_rust(sets), TSV_OUT: render_tsv(sets)}
    stale = [p for p, text in outputs.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"out of date: {p.relative_to(ROOT)} (run python3 tools/gen_tables.py)")
        return 1 if stale else 0
    for p, text in outputs.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
