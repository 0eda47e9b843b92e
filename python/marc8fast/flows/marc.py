"""A minimal ISO 2709 record model for the local rules, on UTF-8 records.

The Rust core converts; this model only cuts a (converted, well-formed) record into its leader and
fields, lets the rules read and edit them, and writes the record back with every length and
address recomputed in bytes. Field data is kept as bytes (without the field terminator); subfields
are split on demand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

FT, RT, SD = b"\x1e", b"\x1d", b"\x1f"


class MarcError(ValueError):
    """The bytes are not a record this model can read."""


def is_control_tag(tag: str) -> bool:
    return tag.startswith("00") and tag.isdigit()


@dataclass
class Field:
    tag: str
    data: bytes  # control field data, or indicators + subfields, without the terminator

    @property
    def is_control(self) -> bool:
        return is_control_tag(self.tag)

    @property
    def indicators(self) -> str:
        return self.data[:2].decode("utf-8", "replace")

    def subfields(self) -> Iterator[tuple[str, str]]:
        """(code, text) for every subfield of a data field."""
        if self.is_control:
            return
        for chunk in self.data[2:].split(SD)[1:]:
            if chunk:
                yield chr(chunk[0]), chunk[1:].decode("utf-8", "replace")

    def values(self, code: str) -> list[str]:
        return [v for c, v in self.subfields() if c == code]

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    @classmethod
    def data_field(cls, tag: str, indicators: str, subfields: Iterable[tuple[str, str]]) -> Field:
        body = b"".join(SD + c.encode() + v.encode("utf-8") for c, v in subfields)
        return cls(tag, indicators.encode("ascii") + body)


@dataclass
class Record:
    leader: bytearray
    fields: list[Field]

    @classmethod
    def parse(cls, raw: bytes) -> Record:
        """Read a well-formed record (as ``transcode_record`` writes them)."""
        if len(raw) < 25:
            raise MarcError(f"only {len(raw)} bytes")
        try:
            base = int(raw[12:17])
        except ValueError:
            raise MarcError(f"base address {raw[12:17]!r} is not a number") from None
        if base < 25 or base > len(raw) or raw[base - 1 : base] != FT:
            raise MarcError(f"base address {base} does not end the directory")
        directory = raw[24 : base - 1]
        if len(directory) % 12:
            raise MarcError(f"directory of {len(directory)} bytes, not a multiple of 12")
        fields = []
        for k in range(0, len(directory), 12):
            entry = directory[k : k + 12]
            try:
                length, start = int(entry[3:7]), int(entry[7:12])
            except ValueError:
                raise MarcError(f"directory entry {entry!r} is not numeric") from None
            a = base + start
            data = raw[a : a + length]
            if data.endswith(FT):
                data = data[:-1]
            fields.append(Field(entry[:3].decode("ascii", "replace"), data))
        return cls(bytearray(raw[:24]), fields)

    def to_bytes(self) -> bytes:
        """ISO 2709 with record length, base address and directory recomputed in bytes."""
        directory = []
        body = []
        pos = 0
        for f in self.fields:
            n = len(f.data) + 1
            if n > 9999:
                raise MarcError(f"field {f.tag} would be {n} bytes; ISO 2709 allows 9999")
            directory.append(f"{f.tag}{n:04d}{pos:05d}".encode("ascii"))
            body.append(f.data + FT)
            pos += n
        base = 24 + 12 * len(self.fields) + 1
        total = base + pos + 1
        if total > 99999:
            raise MarcError(f"record would be {total} bytes; ISO 2709 allows 99999")
        leader = bytearray(self.leader)
        leader[0:5] = f"{total:05d}".encode()
        leader[12:17] = f"{base:05d}".encode()
        return bytes(leader) + b"".join(directory) + FT + b"".join(body) + RT

    # -- access ----------------------------------------------------------------------------------

    def get(self, tag: str) -> list[Field]:
        return [f for f in self.fields if f.tag == tag]

    def first(self, tag: str) -> Field | None:
        for f in self.fields:
            if f.tag == tag:
                return f
        return None

    def control(self, tag: str) -> str | None:
        f = self.first(tag)
        return f.text() if f is not None else None

    def remove(self, *tags: str) -> int:
        before = len(self.fields)
        self.fields = [f for f in self.fields if f.tag not in tags]
        return before - len(self.fields)

    def add(self, field: Field) -> None:
        """Insert in tag order among numeric tags; non-numeric tags go at the end."""
        if field.tag.isdigit():
            for k, f in enumerate(self.fields):
                if not f.tag.isdigit() or f.tag > field.tag:
                    self.fields.insert(k, field)
                    return
        self.fields.append(field)
