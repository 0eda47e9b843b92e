"""The Connexion gateway-export wire format (OCLC Connexion's "OCLC Gateway Export" to a local
system), as the public receivers read it; see docs/connexion.md.

A request is a sequence of items, optionally separated by spaces, then one ISO 2709 record:

* ``U`` + length + value: the OCLC user; ``A`` + length + value: the local login;
  ``P`` + length + value: the password;
* a length is one byte whose value minus 64 is the length (``@`` = 0, ``A`` = 1, …; the desktop
  client), or decimal digits followed directly by the value (the web client; the value must then
  not start with a digit);
* the record starts with its five-digit length.

The request ends when the record is complete (its leader's length has arrived and its last byte
is the record terminator), at a NUL byte, or when the client half-closes. The reply is one line
of text ended by a NUL byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._native import next_record

#: An ISO 2709 record is at most 99,999 bytes; the items before it are short.
MAX_REQUEST = 100_000

_SPACES = b" \t\r\n"


class ProtocolError(ValueError):
    """A request that cannot be read; the message is what the reply says after ``Rejected:``."""


@dataclass
class Request:
    user: bytes = b""  # U: the OCLC user
    login: bytes = b""  # A: the local login
    password: bytes = b""  # P
    record: bytes = b""
    has_login: bool = False
    has_password: bool = False

    def __repr__(self) -> str:  # never show the password
        return (
            f"Request(user={self.user!r}, login={self.login!r}, password=<{len(self.password)} "
            f"bytes>, record=<{len(self.record)} bytes>)"
        )


def parse(buf: bytes, *, ended: bool) -> Request | None:
    """Read a request from the bytes received so far. ``ended``: nothing more will come (a NUL
    or a half-close was seen; ``buf`` holds what came before it). Returns the request when it is
    complete, None when more bytes are needed; raises :class:`ProtocolError`."""
    req = Request()
    i = 0
    n = len(buf)
    while True:
        while i < n and buf[i] in _SPACES:
            i += 1
        if i >= n:
            if ended:
                raise ProtocolError("no record in the request")
            return None
        b = buf[i]
        if b in b"UAP":
            name = {0x55: "U", 0x41: "A", 0x50: "P"}[b]
            i += 1
            if i >= n:
                if ended:
                    raise ProtocolError(f"the request ends inside its {name} item")
                return None
            lb = buf[i]
            if lb >= 0x40:
                length = lb - 0x40
                i += 1
            elif 0x30 <= lb <= 0x39:
                j = i
                while j < n and 0x30 <= buf[j] <= 0x39:
                    j += 1
                if j >= n and not ended:
                    return None
                if j - i > 6:
                    raise ProtocolError(f"the {name} item's length is too long")
                length = int(buf[i:j])
                i = j
            else:
                raise ProtocolError(
                    f"the {name} item at byte {i - 1} has no length (byte 0x{lb:02X})"
                )
            if i + length > n:
                if ended:
                    raise ProtocolError(f"the request ends inside its {name} item")
                return None
            value = bytes(buf[i : i + length])
            i += length
            if name == "U":
                req.user = value
            elif name == "A":
                req.login, req.has_login = value, True
            else:
                req.password, req.has_password = value, True
            continue
        if 0x30 <= b <= 0x39:
            return _record(req, buf, i, ended)
        raise ProtocolError(
            f"byte 0x{b:02X} at {i} is neither an item (U, A, P) nor the start of a record"
        )


def _record(req: Request, buf: bytes, i: int, ended: bool) -> Request | None:
    # Where the record ends is the record layer's splitter's answer, as for a file.
    kind, _, end, flag = next_record(bytes(buf[i:]), eof=ended)
    if kind == "record" and not flag:
        req.record = bytes(buf[i : i + end])  # complete: answer without waiting for more
        return req
    if not ended:
        return None
    if kind == "skip" and flag:
        raise ProtocolError(f"the record is truncated: {len(buf) - i} byte(s) arrived")
    if kind == "skip":
        raise ProtocolError(
            f"the record does not start with its length ({bytes(buf[i : i + 5])!r})"
        )
    # The request has ended and the length and the bytes do not agree: the record layer reads
    # what came (it recovers a length that lies from the terminators, as in a file).
    req.record = bytes(buf[i:])
    return req


def encode_item(name: str, value: bytes, *, form: str = "byte") -> bytes:
    """One request item: ``form="byte"`` (one length byte, values up to 63 bytes; longer ones
    use digits) or ``"digits"`` (a value starting with a digit cannot be sent so)."""
    if form == "byte" and len(value) <= 63:
        return name.encode() + bytes([0x40 + len(value)]) + value
    if value[:1].isdigit():
        raise ValueError(f"a {name} value longer than 63 bytes cannot start with a digit")
    return name.encode() + str(len(value)).encode() + value


def encode_request(
    record: bytes,
    *,
    login: bytes | None = None,
    password: bytes | None = None,
    user: bytes | None = None,
    form: str = "byte",
    end: bytes = b"\x00",
) -> bytes:
    parts = []
    if user is not None:
        parts.append(encode_item("U", user, form=form))
    if login is not None:
        parts.append(encode_item("A", login, form=form))
    if password is not None:
        parts.append(encode_item("P", password, form=form))
    return b"".join(parts) + record + end
