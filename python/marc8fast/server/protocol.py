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

from .._native import Marc8Error, next_record

#: An ISO 2709 record is at most 99,999 bytes; the items before it are short.
MAX_REQUEST = 100_000

_SPACES = b" \t\r\n"


class ProtocolError(Marc8Error, ValueError):
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


_NAMES = {0x55: "U", 0x41: "A", 0x50: "P"}
_BLANK = b" \t\r\n\0\x1a"


class RequestReader:
    """Reads one request as its bytes arrive, however they are split: each byte is looked at a
    bounded number of times (issue 17: re-reading the whole buffer after every read made a
    trickled request cost quadratic time).

    :meth:`feed` the bytes as they come, :meth:`close` at a half-close; :meth:`poll` says what
    has been read: None (more is needed), a :class:`Request`, or the bytes of an HTTP request's
    head (``GET``/``HEAD``, for ``/health``); it raises :class:`ProtocolError`. A NUL ends the
    request; what comes after it is kept (:meth:`trailing`)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.nul = -1  # index of the first NUL: the request ends there
        self.closed = False
        self.http = False
        self._kind_known = False
        self._pos = 0  # items before it are read
        self._req = Request()
        self._rec = -1  # where the record starts
        self._need = -1  # the record's length, from its first five bytes
        self._tried = 0  # record bytes there were when the splitter was last asked
        self._scan = 0  # HTTP: where to look for the end of the head
        self.record_end = -1

    @property
    def ended(self) -> bool:
        return self.closed or self.nul >= 0

    def __len__(self) -> int:
        return len(self.buf)

    def feed(self, chunk: bytes) -> None:
        if self.nul < 0:
            at = chunk.find(b"\0")
            if at >= 0:
                self.nul = len(self.buf) + at
        self.buf += chunk

    def close(self) -> None:
        self.closed = True

    def trailing(self) -> int:
        """How many bytes other than spaces, line ends and NULs came after the record."""
        if self.record_end < 0:
            return 0
        return len(bytes(self.buf[self.record_end :]).translate(None, _BLANK))

    def poll(self) -> Request | bytes | None:
        buf = self.buf
        n = self.nul if self.nul >= 0 else len(buf)
        ended = self.ended
        if not self._kind_known:
            if n == 0:
                if ended:
                    raise ProtocolError("no record in the request")
                return None
            head = bytes(buf[: min(n, 5)])
            if head.startswith((b"GET ", b"HEAD ")):
                self.http = True
            elif not ended and (b"GET ".startswith(head) or b"HEAD ".startswith(head)):
                return None  # perhaps an HTTP request, not all of its first word yet
            self._kind_known = True
        if self.http:
            start = max(0, self._scan - 3)
            found = buf.find(b"\n\n", start, n) >= 0 or buf.find(b"\r\n\r\n", start, n) >= 0
            self._scan = n
            return bytes(buf[:n]) if found or ended else None
        if self._rec < 0 and not self._items(n, ended):
            return None
        return self._record(n, ended)

    def _items(self, n: int, ended: bool) -> bool:
        """Reads the complete items; True once the record's first byte is reached."""
        buf, req, i = self.buf, self._req, self._pos
        while True:
            while i < n and buf[i] in _SPACES:
                i += 1
            self._pos = i
            if i >= n:
                if ended:
                    raise ProtocolError("no record in the request")
                return False
            b = buf[i]
            if b in b"UAP":
                name = _NAMES[b]
                i += 1
                if i >= n:
                    if ended:
                        raise ProtocolError(f"the request ends inside its {name} item")
                    return False
                lb = buf[i]
                if lb >= 0x40:
                    length = lb - 0x40
                    i += 1
                elif 0x30 <= lb <= 0x39:
                    j = i
                    while j < n and j - i <= 6 and 0x30 <= buf[j] <= 0x39:
                        j += 1
                    if j - i > 6:
                        raise ProtocolError(f"the {name} item's length is too long")
                    if j >= n and not ended:
                        return False
                    length = int(buf[i:j])
                    i = j
                else:
                    raise ProtocolError(
                        f"the {name} item at byte {i - 1} has no length (byte 0x{lb:02X})"
                    )
                if i + length > n:
                    if ended:
                        raise ProtocolError(f"the request ends inside its {name} item")
                    return False
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
                self._rec = i
                return True
            raise ProtocolError(
                f"byte 0x{b:02X} at {i} is neither an item (U, A, P) nor the start of a record"
            )

    def _record(self, n: int, ended: bool) -> Request | None:
        buf, i = self.buf, self._rec
        have = n - i
        if self._need < 0 and have >= 5 and bytes(buf[i : i + 5]).isdigit():
            self._need = int(buf[i : i + 5])
        if not ended:
            if have < max(5, self._need):
                return None  # the record's length has not all arrived: nothing to look at
            if self._tried and have < 2 * self._tried:
                return None  # asked already: again when twice as much has come (or the end)
        self._tried = have
        # Where the record ends is the record layer's splitter's answer, as for a file.
        found = next_record(bytes(buf[i:n]), eof=ended)
        req = self._req
        if found.kind == "record" and not found.length_mismatch:
            req.record = bytes(buf[i : i + found.end])  # complete: answer without waiting for more
            self.record_end = i + found.end
            return req
        if not ended:
            return None
        if found.kind == "skip" and found.truncated:
            raise ProtocolError(f"the record is truncated: {have} byte(s) arrived")
        if found.kind == "skip":
            raise ProtocolError(
                f"the record does not start with its length ({bytes(buf[i : i + 5])!r})"
            )
        # The request has ended and the length and the bytes do not agree: the record layer reads
        # what came (it recovers a length that lies from the terminators, as in a file).
        req.record = bytes(buf[i:n])
        self.record_end = n
        return req


def parse(buf: bytes, *, ended: bool) -> Request | None:
    """Read a request from the bytes received so far (before any NUL). ``ended``: nothing more
    will come (a NUL or a half-close was seen). Returns the request when it is complete, None
    when more bytes are needed; raises :class:`ProtocolError`."""
    reader = RequestReader()
    reader.feed(buf)
    if ended:
        reader.close()
    got = reader.poll()
    if isinstance(got, bytes):
        raise ProtocolError("an HTTP request, not a Connexion request")
    return got


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
