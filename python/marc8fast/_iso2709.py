"""A minimal ISO 2709 reader for the ``dump`` command.

It splits records, fields and subfields and nothing more; conversion is the Rust core's job.
Records whose leader or directory cannot be read are yielded as errors, and reading goes on at the
next record terminator.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

RT, FT, SD = 0x1D, 0x1E, 0x1F


@dataclass
class Field:
    tag: str
    data: bytes  # control field data, or the whole data field without its terminator
    indicators: bytes = b""
    subfields: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def is_control(self) -> bool:
        return self.tag < "010" and self.tag.isdigit()


@dataclass
class Record:
    index: int
    offset: int
    leader: bytes
    fields: list[Field]


class RecordError(ValueError):
    def __init__(self, index: int, offset: int, message: str) -> None:
        super().__init__(f"record {index} at byte {offset}: {message}")
        self.index, self.offset = index, offset


def _parse(index: int, offset: int, raw: bytes) -> Record:
    if len(raw) < 25:
        raise RecordError(index, offset, f"only {len(raw)} bytes")
    leader = raw[:24]
    try:
        base = int(leader[12:17])
    except ValueError:
        raise RecordError(
            index, offset, f"base address {leader[12:17]!r} is not a number"
        ) from None
    end = raw.find(bytes([FT]), 24)
    if end < 0 or (end - 24) % 12:
        raise RecordError(index, offset, "directory is not a whole number of 12-byte entries")
    fields = []
    for pos in range(24, end, 12):
        entry = raw[pos : pos + 12]
        tag = entry[:3].decode("ascii", "replace")
        try:
            length, start = int(entry[3:7]), int(entry[7:12])
        except ValueError:
            raise RecordError(index, offset, f"directory entry {entry!r} is not numeric") from None
        data = raw[base + start : base + start + length]
        if data.endswith(bytes([FT])):
            data = data[:-1]
        f = Field(tag, data)
        if not f.is_control:
            f.indicators = data[:2]
            for chunk in data[2:].split(bytes([SD]))[1:]:
                f.subfields.append((chr(chunk[0]) if chunk else "?", chunk[1:]))
        fields.append(f)
    return Record(index, offset, leader, fields)


def read(data: bytes) -> Iterator[Record | RecordError]:
    """Yield each record of ``data`` (or a RecordError for one that cannot be read)."""
    offset = 0
    index = 0
    while offset < len(data):
        end = data.find(bytes([RT]), offset)
        end = len(data) if end < 0 else end + 1
        raw = data[offset:end]
        if raw.strip(b"\r\n \x00"):
            index += 1
            try:
                yield _parse(index, offset, raw)
            except RecordError as e:
                yield e
        offset = end
