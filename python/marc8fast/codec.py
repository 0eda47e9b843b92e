"""The ``marc8`` codec: ``bytes.decode("marc8")``, ``str.encode("marc8")``, incremental coders.

Importing :mod:`marc8fast` registers it; :func:`register` is idempotent. Accepted names:
``marc8``, ``marc-8``, ``marc_8`` (any case).

Error handlers: ``strict`` and ``replace`` are done in Rust. ``ignore`` drops the U+FFFD that
``replace`` writes (MARC-8 has no code for U+FFFD, so every U+FFFD in the output stands for one bad
unit). Any other handler name (``backslashreplace`` or one registered with
:func:`codecs.register_error`) is called once per problem with a real
:class:`UnicodeDecodeError`; the handler must resume at the end of the bad unit.

The decoder never normalizes and never expands NCRs: use :func:`marc8fast.decode` for those.
"""

from __future__ import annotations

import codecs
import warnings

from . import _native
from .kinds import ProblemKind

# ``typing`` for the type checker only: importing the package stays light (issue 22: the start
# of a whole ``marc8fast convert`` process).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAMES = frozenset({"marc8", "marc_8", "marc-8"})
CODEC_NAME = "marc-8"
_NATIVE_ERRORS = frozenset({"strict", "replace"})


def encode(text: str, errors: str = "strict") -> bytes:
    """Encode ``text`` to MARC-8 with any error handler name.

    ``strict``, ``lossless`` (LC's ``&#xXXXX;``) and ``lossy`` (the fill character ``|``) run in
    Rust; ``replace`` is ``lossy`` (MARC-8's replacement is the fill character). Any other handler
    (``ignore``, ``xmlcharrefreplace``, ``backslashreplace``, a registered one) is called with a
    real :class:`UnicodeEncodeError` for each unmappable character; the text between problems is
    encoded as separate strings (each ends in the default sets).
    """
    native = _ENCODE_ERRORS.get(errors)
    if native is not None:
        return _native.encode(text, errors=native)  # type: ignore[arg-type]
    handler = codecs.lookup_error(errors)
    out: list[bytes] = []
    pos = 0
    while True:
        try:
            out.append(_native.encode(text[pos:]))
            return b"".join(out)
        except UnicodeEncodeError as e:
            start, end, reason = pos + e.start, pos + e.end, e.reason
        out.append(_native.encode(text[pos:start]))
        replacement, resume = handler(UnicodeEncodeError(CODEC_NAME, text, start, end, reason))
        if isinstance(replacement, str):
            replacement = _native.encode(replacement)
        out.append(bytes(replacement))
        pos = resume if resume >= 0 else len(text) + resume
        if pos <= start:
            raise _native.ArgumentError(
                f"error handler {errors!r} did not move past position {start}"
            )


_ENCODE_ERRORS = {"strict": "strict", "lossless": "lossless", "lossy": "lossy", "replace": "lossy"}


def _unit(data: bytes, problem: _native.Problem, base: int) -> tuple[bytes, int, int]:
    """(object, start, end) of a bad unit for a :class:`UnicodeDecodeError`: ``data`` and the
    unit's span in it, or the unit's own bytes if it does not lie wholly inside ``data`` (it began
    in an earlier chunk). ``base`` is the stream offset of ``data[0]``."""
    start = problem.offset - base
    end = start + problem.length
    if start < 0 or end > len(data) or data[start:end] != problem.bytes:
        return bytes(problem.bytes), 0, len(problem.bytes)
    return data, start, end


def _apply_handler(
    errors: str, data: bytes, text: str, problems: list[_native.Problem], base: int = 0
) -> str:
    """Replace each U+FFFD written for a problem by what the error handler ``errors`` gives.

    ``base`` is the stream offset of ``data[0]`` (problem offsets count from the stream start).
    The handler's :class:`UnicodeDecodeError` has ``data`` as its object when the bad unit lies
    inside it; a unit that began in an earlier chunk (an escape, EACC character or mark cut by
    the chunk boundary) is given as its own bytes (object = the unit, start 0, end its length),
    so that the handler sees the whole unit wherever the input was cut.
    """
    if errors == "ignore":
        return text.replace("\ufffd", "")
    handler = codecs.lookup_error(errors)
    pieces: list[str] = []
    pos = 0
    for problem in problems:
        if problem.kind == ProblemKind.MALFORMED_NCR:
            continue
        at = text.index("\ufffd", pos)
        obj, start, end = _unit(data, problem, base)
        exc = _native.DecodeError(CODEC_NAME, obj, start, end, problem.message)
        replacement, resume = handler(exc)
        if not isinstance(replacement, str):
            raise TypeError(f"error handler {errors!r} must return str for decoding")
        if resume != end:
            raise _native.ArgumentError(
                f"error handler {errors!r} resumed at {resume}; the marc8 codec only supports "
                f"resuming at the end of the bad unit ({end})"
            )
        pieces.append(text[pos:at])
        pieces.append(replacement)
        pos = at + 1
    pieces.append(text[pos:])
    return "".join(pieces)


def _as_bytes(data: Any) -> bytes | bytearray:
    return data if isinstance(data, (bytes, bytearray)) else bytes(data)


def decode(data: Any, errors: str = "strict") -> tuple[str, int]:
    """Stateless decode, as ``codecs`` expects: (text, bytes consumed)."""
    data = _as_bytes(data)
    if errors in _NATIVE_ERRORS:
        return _native.decode(data, errors=errors), len(data)  # type: ignore[arg-type]
    text, problems = _native.decode_report(data)
    return _apply_handler(errors, bytes(data), text, problems), len(data)


class IncrementalDecoder(codecs.IncrementalDecoder):
    """Decodes chunks split anywhere (inside escapes, EACC characters, before a mark's base).

    A bad unit is reported with its real bytes wherever the chunks cut it: when it began in an
    earlier chunk, the :class:`UnicodeDecodeError` (raised in strict mode, or handed to an error
    handler) has the unit's own bytes as its object instead of the current chunk. After a strict
    error the decoder is back in its initial state.
    """

    def __init__(self, errors: str = "strict") -> None:
        super().__init__(errors)
        # Always "replace": strict mode raises from the first problem here, where the problem's
        # bytes are at hand (the native error can only point into the current chunk).
        self._decoder = _native.Decoder(errors="replace")
        self._consumed = 0

    def decode(self, input: Any, final: bool = False) -> str:
        data = _as_bytes(input)
        base = self._consumed
        self._consumed += len(data)
        text, problems = self._decoder.decode(data, final)
        if final:
            self._consumed = 0
        if not problems or self.errors == "replace":
            return text
        if self.errors == "strict":
            self.reset()
            problem = problems[0]
            obj, start, end = _unit(bytes(data), problem, base)
            raise _native.DecodeError(CODEC_NAME, obj, start, end, problem.message)
        return _apply_handler(self.errors, bytes(data), text, problems, base)

    def reset(self) -> None:
        self._decoder.reset()
        self._consumed = 0

    def getstate(self) -> tuple[bytes, int]:
        pending, packed = self._decoder.getstate()
        flags = int.from_bytes(b"\x01" + packed, "big") if packed else 0
        return pending, flags

    def setstate(self, state: tuple[bytes, int]) -> None:
        pending, flags = state
        packed = b""
        if flags:
            raw = flags.to_bytes((flags.bit_length() + 7) // 8, "big")
            packed = raw[1:]
        self._decoder.setstate(pending, packed)
        # The native decoder counts offsets on from the held-back bytes; so do we.
        self._consumed = len(pending)


class IncrementalEncoder(codecs.IncrementalEncoder):
    """Encodes text given in pieces. The last base character is held back until the next piece
    shows whether combining marks follow it; ``final=True`` writes it and returns to the default
    sets (G0 = ASCII, G1 = ANSEL).

    ``open(path, "w", encoding="marc8")`` never calls ``encode(final=True)`` (CPython gh-79792), so
    the file would lose its last character: use :func:`marc8fast.encode` on the whole text, or
    ``codecs.iterencode``, or call ``encode("", final=True)`` yourself.
    """

    def __init__(self, errors: str = "strict") -> None:
        super().__init__(errors)
        native = _ENCODE_ERRORS.get(errors)
        if native is None:
            raise _native.ArgumentError(
                f"the incremental marc8 encoder supports errors='strict', 'lossless', 'lossy' or "
                f"'replace', not {errors!r}"
            )
        self._encoder = _native.Encoder(errors=native)  # type: ignore[arg-type]

    def encode(self, input: str, final: bool = False) -> bytes:
        data, _problems = self._encoder.encode(input, final)
        return data

    def reset(self) -> None:
        self._encoder.reset()

    def __del__(self) -> None:
        encoder = getattr(self, "_encoder", None)
        if encoder is not None and encoder.has_pending_state:
            warnings.warn(
                "a marc8 incremental encoder was discarded before encode(final=True): its last "
                "character or the escape back to the default sets was never written (open() and "
                "io.TextIOWrapper never finalize the codec, CPython gh-79792); encode whole "
                "strings with marc8fast.encode instead",
                RuntimeWarning,
                stacklevel=2,
            )


class StreamReader(codecs.StreamReader):
    """Reads MARC-8 from a binary stream (``codecs.getreader("marc8")``, ``codecs.open``).

    Decodes incrementally, as ``open(..., encoding="marc8")`` does: escape sequences, EACC
    characters and marks may be cut by any read, and the designations in force carry over from
    one read to the next. The end of the stream (a read that returns nothing) finishes the
    decoding: a mark or escape left open there is a problem, handled by ``errors``.

    A decoding error (strict mode) leaves the reader as it was before the read that failed, with
    the bytes it could not decode kept: reading again raises again, and setting ``errors`` (say
    to ``"replace"``) first reads on from the same place. ``readline()`` returns the lines that
    come before the bad unit first, as the standard stream readers do.
    """

    # Set by codecs.StreamReader.__init__ (untyped there).
    bytebuffer: bytes
    charbuffer: str
    linebuffer: list[str] | None

    def __init__(self, stream: Any, errors: str = "strict") -> None:
        super().__init__(stream, errors)
        self._decoder = IncrementalDecoder(errors)

    def decode(self, input: Any, errors: str = "strict") -> tuple[str, int]:
        """Stateless decode of one whole input (the :class:`codecs.Codec` method)."""
        return decode(input, errors)

    def _decode(self, data: bytes, final: bool) -> str:
        if self._decoder.errors != self.errors:
            # ``errors`` was changed on the reader: carry the state over to a decoder for it.
            state = self._decoder.getstate()
            self._decoder = IncrementalDecoder(self.errors)
            self._decoder.setstate(state)
        return self._decoder.decode(data, final)

    def _restore(self, state: tuple[bytes, int]) -> None:
        self._decoder.reset()
        self._decoder.setstate(state)

    def read(self, size: int = -1, chars: int = -1, firstline: bool = False) -> str:
        """Decoded text: up to ``chars`` characters (all if negative; ``chars`` defaults to
        ``size``), reading the stream ``size`` bytes at a time (all at once if negative)."""
        if self.linebuffer:
            self.charbuffer = "".join(self.linebuffer)
            self.linebuffer = None
        if chars < 0:
            chars = size
        while chars < 0 or len(self.charbuffer) < chars:
            newdata = self.stream.read() if size < 0 else self.stream.read(size)
            final = not newdata
            data = self.bytebuffer + newdata
            saved = self._decoder.getstate()
            try:
                newchars = self._decode(data, final)
                self.bytebuffer = b""
            except UnicodeDecodeError as exc:
                # Back to the state before this chunk, which is kept to be decoded again.
                self._restore(saved)
                self.bytebuffer = data
                if not firstline:
                    raise
                head = ""
                if exc.start > 0 and exc.object == data:
                    head = self._decode(data[: exc.start], False)
                if len((self.charbuffer + head).splitlines(keepends=True)) <= 1:
                    self._restore(saved)
                    raise
                # readline(): the lines before the bad unit are returned first; the unit waits
                # for the next read.
                newchars = head
                self.bytebuffer = data[exc.start :] if head else data
                final = True
            self.charbuffer += newchars
            if final:
                break
        if chars < 0:
            result, self.charbuffer = self.charbuffer, ""
        else:
            result, self.charbuffer = self.charbuffer[:chars], self.charbuffer[chars:]
        return result

    def reset(self) -> None:
        """Forget buffered bytes, text and decoder state (the stream is not moved)."""
        super().reset()
        self._decoder.reset()


class StreamWriter(codecs.StreamWriter):
    def encode(self, input: str, errors: str = "strict") -> tuple[bytes, int]:
        return encode(input, errors), len(input)


def _codec_encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
    return encode(text, errors), len(text)


def search(name: str) -> codecs.CodecInfo | None:
    """The ``codecs`` search function: the codec for ``marc8`` / ``marc-8`` / ``marc_8``."""
    if name.lower().replace(" ", "_") not in NAMES:
        return None
    return codecs.CodecInfo(
        name=CODEC_NAME,
        encode=_codec_encode,
        decode=decode,
        incrementalencoder=IncrementalEncoder,
        incrementaldecoder=IncrementalDecoder,
        streamreader=StreamReader,
        streamwriter=StreamWriter,
    )


_registered = False


def register() -> None:
    """Register the codec with :mod:`codecs` (idempotent)."""
    global _registered
    if not _registered:
        codecs.register(search)
        _registered = True
