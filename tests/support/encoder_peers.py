"""Test-side helpers: hand MARC-8 bytes that marc8fast *wrote* to the peers' decoders.

Used by ``test_encoder_interop.py`` and ``test_encoder_peers_cases.py`` (issue 3, "Interop").

Peers (versions of PEERS.md): yaz 5.34 (Debian ``yaz``), MARC::Charset 1.35 (Debian
``libmarc-charset-perl``), pymarc 5.4.0 (``requirements-dev.txt``).

How each peer is called, and why:

* **yaz** -- ``yaz-marcdump -f MARC-8 -t UTF-8 -o marc`` on *synthetic* ISO 2709 records that we
  build here (leader/09 blank, one field ``500  $a`` per string).  yaz converts each subfield on its
  own (``marc_iconv_reset`` after every subfield), entirely in memory, so a whole corpus goes
  through one process.  We read yaz's UTF-8 ISO 2709 back with ``tests/marcfile.py``: no XML, so
  nothing is escaped or dropped by an XML writer.  ``yaz-iconv`` is *not* used for batches: it reads
  stdin in 64-byte chunks and loses a CJK character whenever a chunk boundary falls inside its three
  bytes, and it drops LF/CR/TAB (PEERS.md (b) 14), so no separator is safe.  ``yaz_iconv`` (one
  process per string, input as a file argument) is kept for the handful of edge cases, whose inputs
  are far shorter than 64 bytes.
* **MARC::Charset** -- one ``perl`` process for all strings: one hex-encoded MARC-8 string per stdin
  line, ``MARC::Charset::marc8_to_utf8`` on it, the result printed as hex of its UTF-8 (``-`` for
  ``undef``).  Hex keeps every byte (ESC, controls, spaces) intact.
* **pymarc** -- ``pymarc.marc8.marc8_to_unicode`` in-process.

When a peer is not installed, :func:`require` skips locally but **fails** when ``CI`` is set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from marcfile import (
    SD,
    Field,
    MarcStructureError,
    Record,
    is_control_tag,
    iter_records,
    parse_record,
    split_subfields,
)

DATA = Path(__file__).parent.parent / "data"
ENC_DATA = DATA / "encoder"

ESC = 0x1B


# --------------------------------------------------------------------------------- text forms
def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


def fold_ligatures(s: str) -> str:
    """Legacy half marks -> LC 2004 double diacritics (U+0361 / U+0360; second half dropped).

    pymarc decodes ``EB x EC y`` as ``x U+FE20 y U+FE21`` (and FA/FB as FE22/FE23); yaz and
    MARC::Charset give ``x U+0361 y``.  Folding both forms to the latter compares them."""
    return (
        s.replace("\ufe20", "\u0361")
        .replace("\ufe21", "")
        .replace("\ufe22", "\u0360")
        .replace("\ufe23", "")
    )


def same_text(a: str, b: str) -> bool:
    return nfd(a) == nfd(b)


# ------------------------------------------------------------------------------- availability
def require(tool: str, available: bool, how: str) -> None:
    """Skip locally, fail under CI (the issue: interop is tested in CI with the peers installed)."""
    if available:
        return
    msg = f"{tool} is not installed ({how})"
    if os.environ.get("CI"):
        pytest.fail(f"{msg}; CI must install it (.ci/run)", pytrace=False)
    pytest.skip(msg)


def have_yaz_marcdump() -> bool:
    return shutil.which("yaz-marcdump") is not None


def have_yaz_iconv() -> bool:
    return shutil.which("yaz-iconv") is not None


_HAVE_MARC_CHARSET: bool | None = None


def have_marc_charset() -> bool:
    global _HAVE_MARC_CHARSET
    if _HAVE_MARC_CHARSET is None:
        perl = shutil.which("perl")
        _HAVE_MARC_CHARSET = bool(perl) and (
            subprocess.run(
                [perl, "-MMARC::Charset", "-e", "1"], capture_output=True, check=False
            ).returncode
            == 0
        )
    return _HAVE_MARC_CHARSET


def require_yaz_marcdump() -> None:
    require("yaz-marcdump", have_yaz_marcdump(), "apt-get install yaz")


def require_yaz_iconv() -> None:
    require("yaz-iconv", have_yaz_iconv(), "apt-get install yaz")


def require_marc_charset() -> None:
    require("MARC::Charset", have_marc_charset(), "apt-get install libmarc-charset-perl")


def require_pymarc():
    try:
        import pymarc.marc8
    except ImportError:
        require("pymarc", False, "pip install pymarc (requirements-dev.txt)")
    import pymarc.marc8

    return pymarc.marc8


# ------------------------------------------------------------------------------- corpus input
@dataclass(frozen=True)
class Item:
    """One string of a UTF-8 corpus record: a control field or a subfield."""

    file: str  # file name, e.g. "marccol1.u8.marc"
    record: int  # 0-based record index
    tag: str
    occurrence: int  # 0-based occurrence of this tag in the record
    position: int  # 0-based subfield position in the field (0 for a control field)
    code: str  # subfield code, "" for a control field
    text: str

    @property
    def key(self) -> str:
        sub = f"${self.code}{self.position}" if self.code else ""
        return f"{self.file}#{self.record}/{self.tag}.{self.occurrence}{sub}"


def _parse_tolerant(rec: bytes, index: int, offset: int) -> Record:
    """``marcfile.parse_record``; for a data field whose subfields do not start right after two
    indicators (nepali.marc record 15, field 260 has *three* indicator bytes ``"   "``), the bytes
    before the first 0x1F are taken as indicators.  Only used after the strict parse failed."""
    try:
        return parse_record(rec, index, offset)
    except MarcStructureError:
        pass
    base = int(rec[12:17])
    directory = rec[24 : base - 1]
    fields: list[Field] = []
    for k in range(0, len(directory), 12):
        e = directory[k : k + 12]
        tag = e[:3].decode("ascii")
        a = base + int(e[7:12])
        raw = rec[a : a + int(e[3:7]) - 1]
        if is_control_tag(tag):
            fields.append(Field(tag, raw))
            continue
        first = raw.index(bytes([SD])) if SD in raw else len(raw)
        assert raw[:first].strip(b" 0123456789") == b"", (index, tag, raw[:first])
        fields.append(Field(tag, raw, raw[:first], split_subfields(raw[first:])))
    return Record(index, offset, rec[:24], fields)


def iter_records_tolerant(data: bytes) -> Iterator[Record]:
    pos = index = 0
    while pos < len(data):
        if data[pos] in b"\r\n\x00":  # stray line ends between records, as marcfile allows
            pos += 1
            continue
        length = int(data[pos : pos + 5])
        rec = data[pos : pos + length]
        assert rec[-1] == 0x1D
        yield _parse_tolerant(rec[:-1], index, pos)
        pos += length
        index += 1


def corpus_items(path: Path, *, tolerant: bool = False) -> list[Item]:
    """Every control field and every subfield of a UTF-8 file, as text."""
    data = path.read_bytes()
    recs = iter_records_tolerant(data) if tolerant else iter_records(data)
    out: list[Item] = []
    for rec in recs:
        assert rec.coding_scheme == "a", (path.name, rec.index)
        seen: dict[str, int] = {}
        for f in rec.fields:
            occ = seen.get(f.tag, 0)
            seen[f.tag] = occ + 1
            if f.is_control:
                out.append(Item(path.name, rec.index, f.tag, occ, 0, "", f.raw.decode("utf-8")))
            else:
                for pos, (code, value) in enumerate(f.subfields):
                    out.append(
                        Item(path.name, rec.index, f.tag, occ, pos, code, value.decode("utf-8"))
                    )
    return out


# ----------------------------------------------------------------------------------- yaz
# leader/05-11: status, type, level, control, leader/09 = ' ' (MARC-8), indicator and code counts
_LEADER_TAIL = b"nam  22"


def build_marc8_record(values: list[bytes]) -> bytes:
    """An ISO 2709 record, leader/09 blank (MARC-8), one field ``500 ␢␢ $a <value>`` per value."""
    dir_entries = []
    body = b""
    for v in values:
        assert not any(b in v for b in (0x1D, 0x1E, 0x1F)), v
        field = b"  \x1fa" + v + b"\x1e"
        assert len(field) <= 9999, len(field)
        dir_entries.append(b"500" + b"%04d" % len(field) + b"%05d" % len(body))
        body += field
    directory = b"".join(dir_entries) + b"\x1e"
    base = 24 + len(directory)
    total = base + len(body) + 1
    assert total <= 99999, total
    leader = b"%05d" % total + _LEADER_TAIL + b"%05d" % base + b"   4500"
    assert len(leader) == 24
    return leader + directory + body + b"\x1d"


def _chunks(values: list[bytes], limit: int = 60000) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    size = 0
    for v in values:
        if chunk and (size + len(v) + 20 > limit or len(chunk) >= 800):
            yield chunk
            chunk, size = [], 0
        chunk.append(v)
        size += len(v) + 17
    if chunk:
        yield chunk


def yaz_marcdump_decode_many(values: list[bytes]) -> list[str]:
    """yaz's MARC-8 -> UTF-8 conversion of every value (one subfield each), one process."""
    if not values:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mrc"
        src.write_bytes(b"".join(build_marc8_record(c) for c in _chunks(values)))
        proc = subprocess.run(
            ["yaz-marcdump", "-f", "MARC-8", "-t", "UTF-8", "-o", "marc", str(src)],
            capture_output=True,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out: list[str] = []
    for rec in iter_records(proc.stdout):
        for f in rec.fields:
            assert f.tag == "500"
            # yaz drops a subfield entirely when its conversion fails (PEERS.md (b) 6, 9): the
            # field is then "  " with no subfield -- that reads as None, never as "".
            if not f.subfields:
                out.append(None)  # type: ignore[arg-type]
                continue
            assert [c for c, _ in f.subfields] == ["a"], f.subfields
            out.append(f.subfields[0][1].decode("utf-8"))
    assert len(out) == len(values), (len(out), len(values))
    return out


def yaz_iconv_decode(data: bytes) -> str:
    """``yaz-iconv -f MARC-8 -t UTF-8 FILE`` on one short string (see the module doc for why not
    batches).  Only for strings well under yaz-iconv's 64-byte read chunk."""
    assert len(data) < 64, "yaz-iconv loses characters at 64-byte chunk boundaries"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.bin"
        src.write_bytes(data)
        proc = subprocess.run(
            ["yaz-iconv", "-f", "MARC-8", "-t", "UTF-8", str(src)],
            capture_output=True,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode("utf-8")


# ------------------------------------------------------------------------------ MARC::Charset
_PERL = r"""
use strict; use warnings;
use MARC::Charset qw(marc8_to_utf8);
binmode STDOUT, ':raw';
$| = 1;
while (my $line = <STDIN>) {
    chomp $line;
    my $in = pack('H*', $line);
    my $out = marc8_to_utf8($in);
    if (!defined $out) { print "-\n"; next; }
    utf8::encode($out) if utf8::is_utf8($out);
    print unpack('H*', $out), "\n";
}
"""


def marc_charset_decode_many(values: list[bytes]) -> list[str | None]:
    """``MARC::Charset::marc8_to_utf8`` on every value, one perl process; ``None`` = undef."""
    if not values:
        return []
    inp = "".join(v.hex() + "\n" for v in values).encode("ascii")
    proc = subprocess.run(["perl", "-e", _PERL], input=inp, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = proc.stdout.decode("ascii").split("\n")
    assert lines[-1] == "" and len(lines) == len(values) + 1, (len(lines), len(values))
    return [None if ln == "-" else bytes.fromhex(ln).decode("utf-8") for ln in lines[:-1]]


# ----------------------------------------------------------------------------------- pymarc
def pymarc_decode(data: bytes) -> str:
    m8 = require_pymarc()
    return m8.marc8_to_unicode(data, hide_utf8_warnings=True)


# ------------------------------------------------------------------------ MARC-8 byte analysis
def designated_sets(data: bytes) -> set[str]:
    """The escape sequences in ``data``, as text (``"(S"``, ``")Q"``, ``"$1"`` ...)."""
    out: set[str] = set()
    i = 0
    while i < len(data):
        if data[i] == ESC:
            j = i + 1
            while j < len(data) and data[j] in b"()$,-!":
                j += 1
            out.add(data[i + 1 : j + 1].decode("latin-1"))
            i = j + 1
        else:
            i += 1
    return out
