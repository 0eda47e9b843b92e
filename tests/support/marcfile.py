"""A tiny, test-side ISO 2709 splitter (independent of the package under test).

It only cuts records into fields and subfields and hands back the *raw bytes*, so
the corpus tests can feed each subfield to ``marc8fast.decode`` themselves.

Layout: a 24-byte leader; the base address of data is ``leader[12:17]``; the
directory is a run of 12-byte entries ``tag(3) length(4) start(5)`` ended by a
field terminator (0x1E); each field ends with 0x1E; data fields start with two
indicators, then subfields introduced by 0x1F and a one-byte code.  Control fields
(tags 001-009) have no indicators or subfields.

Broken records raise :class:`MarcStructureError` with a message saying what and where.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

FT = 0x1E  # field terminator
RT = 0x1D  # record terminator
SD = 0x1F  # subfield delimiter


class MarcStructureError(ValueError):
    """The bytes are not a well-formed ISO 2709 record."""


@dataclass
class Field:
    tag: str
    raw: bytes  # the field's bytes without the trailing field terminator
    indicators: bytes | None = None  # two bytes for data fields, None for control fields
    subfields: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def is_control(self) -> bool:
        return self.indicators is None


@dataclass
class Record:
    index: int  # 0-based position in the file
    offset: int  # byte offset of the record in the file
    leader: bytes
    fields: list[Field]

    @property
    def coding_scheme(self) -> str:
        """leader/09: ' ' = MARC-8, 'a' = UCS/Unicode."""
        return chr(self.leader[9])


def is_control_tag(tag: str) -> bool:
    return tag.isdigit() and tag.startswith("00")


def split_subfields(body: bytes) -> list[tuple[str, bytes]]:
    """``body`` is the field data after the two indicators (no terminator)."""
    if not body:
        return []
    if body[0] != SD:
        raise MarcStructureError(
            f"data field does not start with a subfield delimiter: {body[:10]!r}"
        )
    out: list[tuple[str, bytes]] = []
    chunks = body.split(bytes([SD]))[1:]
    for k, chunk in enumerate(chunks):
        if not chunk:
            if k == len(chunks) - 1:
                # a lone 0x1F right before the field terminator (seen in real
                # records, e.g. jazz_1k.mrc): no subfield, nothing to decode
                continue
            raise MarcStructureError("empty subfield (0x1F followed by 0x1F)")
        out.append((chr(chunk[0]), chunk[1:]))
    return out


def parse_record(data: bytes, index: int = 0, offset: int = 0) -> Record:
    where = f"record {index} at byte {offset}"
    if len(data) < 24:
        raise MarcStructureError(f"{where}: shorter than a leader ({len(data)} bytes)")
    leader = data[:24]
    try:
        base = int(leader[12:17])
    except ValueError:
        raise MarcStructureError(
            f"{where}: base address {leader[12:17]!r} is not a number"
        ) from None
    if base < 25 or base > len(data):
        raise MarcStructureError(
            f"{where}: base address {base} outside the record (length {len(data)})"
        )
    if data[base - 1] != FT:
        raise MarcStructureError(
            f"{where}: directory not terminated by 0x1E at base address {base}"
        )
    directory = data[24 : base - 1]
    if len(directory) % 12:
        raise MarcStructureError(
            f"{where}: directory length {len(directory)} is not a multiple of 12"
        )
    fields: list[Field] = []
    for k in range(0, len(directory), 12):
        entry = directory[k : k + 12]
        tag = entry[:3].decode("ascii", "replace")
        try:
            length = int(entry[3:7])
            start = int(entry[7:12])
        except ValueError:
            raise MarcStructureError(f"{where}: bad directory entry {entry!r}") from None
        a = base + start
        b = a + length
        if length < 1 or b > len(data):
            raise MarcStructureError(
                f"{where}: field {tag} ({a}..{b}) runs past the record end {len(data)}"
            )
        if data[b - 1] != FT:
            raise MarcStructureError(f"{where}: field {tag} at {a} is not terminated by 0x1E")
        raw = data[a : b - 1]
        if is_control_tag(tag):
            fields.append(Field(tag, raw))
        else:
            if len(raw) < 2:
                raise MarcStructureError(f"{where}: data field {tag} shorter than its indicators")
            fields.append(Field(tag, raw, raw[:2], split_subfields(raw[2:])))
    return Record(index, offset, leader, fields)


def iter_records(data: bytes) -> Iterator[Record]:
    """Yield every record of a file's bytes, using each leader's record length."""
    pos = 0
    index = 0
    n = len(data)
    while pos < n:
        # tolerate stray line ends / padding between records
        if data[pos] in b"\r\n\x00":
            pos += 1
            continue
        head = data[pos : pos + 5]
        try:
            length = int(head)
        except ValueError:
            raise MarcStructureError(
                f"record {index} at byte {pos}: record length {head!r} is not a number"
            ) from None
        if length < 24 or pos + length > n:
            raise MarcStructureError(
                f"record {index} at byte {pos}: record length {length} runs past end of file ({n})"
            )
        rec = data[pos : pos + length]
        if rec[-1] != RT:
            raise MarcStructureError(f"record {index} at byte {pos}: does not end with 0x1D")
        yield parse_record(rec[:-1], index, pos)
        pos += length
        index += 1


def read_records(path) -> list[Record]:
    with open(path, "rb") as fh:
        return list(iter_records(fh.read()))


def iter_fields(record: Record) -> Iterator[tuple[str, bytes]]:
    """(tag, raw field bytes) pairs: the plain view of a record."""
    for f in record.fields:
        yield f.tag, f.raw
