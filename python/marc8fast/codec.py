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
from typing import Any

from . import _native

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
            raise ValueError(f"error handler {errors!r} did not move past position {start}")


_ENCODE_ERRORS = {"strict": "strict", "lossless": "lossless", "lossy": "lossy", "replace": "lossy"}


def _apply_handler(
    errors: str, data: bytes, text: str, problems: list[_native.Problem], base: int = 0
) -> str:
    """Replace each U+FFFD written for a problem by what the error handler ``errors`` gives.

    ``base`` is the stream offset of ``data[0]`` (problem offsets count from the stream start).
    """
    if errors == "ignore":
        return text.replace("\ufffd", "")
    handler = codecs.lookup_error(errors)
    pieces: list[str] = []
    pos = 0
    for problem in problems:
        if problem.kind == "malformed_ncr":
            continue
        at = text.index("\ufffd", pos)
        start = min(max(problem.offset - base, 0), len(data))
        end = min(max(problem.offset + problem.length - base, start), len(data))
        exc = UnicodeDecodeError(CODEC_NAME, data, start, end, problem.message)
        replacement, resume = handler(exc)
        if not isinstance(replacement, str):
            raise TypeError(f"error handler {errors!r} must return str for decoding")
        if resume != end:
            raise ValueError(
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
    """Decodes chunks split anywhere (inside escapes, EACC characters, before a mark's base)."""

    def __init__(self, errors: str = "strict") -> None:
        super().__init__(errors)
        self._decoder = _native.Decoder(errors="strict" if errors == "strict" else "replace")
        self._consumed = 0

    def decode(self, input: Any, final: bool = False) -> str:
        data = _as_bytes(input)
        base = self._consumed
        self._consumed += len(data)
        text, problems = self._decoder.decode(data, final)
        if final:
            self._consumed = 0
        if problems and self.errors not in _NATIVE_ERRORS:
            return _apply_handler(self.errors, bytes(data), text, problems, base)
        return text

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
            raise ValueError(
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
    def decode(self, input: Any, errors: str = "strict") -> tuple[str, int]:
        return decode(input, errors)


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
