"""Every LC code through the Python binding (the Rust suite checks both registers)."""

from __future__ import annotations

from pathlib import Path

import marc8fast as m8

TSV = Path(__file__).parent.parent / "data" / "codetables.tsv"
G1_SETS = {"45", "51", "34"}  # listed by LC with their high-byte values


def test_every_code_decodes_to_its_lc_value() -> None:
    count = 0
    for line in TSV.read_text().splitlines():
        if line.startswith("#"):
            continue
        final, marc, ucs, alt, combining, _half = line.split("\t")
        code = bytes.fromhex(marc)
        want = chr(int(ucs or alt, 16))
        if final == "31":
            data = b"\x1b$1" + code
        elif code[0] & 0x7F <= 0x20:
            if code == b"\x1b":
                continue  # ESC only ever starts an escape sequence
            data = code
        elif final in G1_SETS:
            data = b"\x1b)" + bytes.fromhex(final) + code
        elif final == "42":
            data = code
        else:
            data = b"\x1b(" + bytes.fromhex(final) + code
        if combining == "1":
            data, want = data + b" ", " " + want
        assert m8.decode(data) == want, (final, marc)
        count += 1
    assert count == 16_399  # all 16,400 codes but ESC
