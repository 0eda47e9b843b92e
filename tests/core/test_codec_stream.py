"""The codec's stream reader and writer (``codecs.getreader``/``getwriter``, ``codecs.open``).

The reader must decode as ``open(..., encoding="marc8")`` does, however the stream hands out its
bytes: every test compares with the one-shot decode of the whole input while the stream cuts the
input at every point, or returns one to three bytes per read.
"""

from __future__ import annotations

import codecs
import io
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

import marc8fast as m8

# Escapes, a multibyte (EACC) designation and characters, marks before their base, a double
# diacritic, Greek, subscripts, and line ends between them.
GOOD = [
    b"x" * 71 + b"\x1b(Nabc",  # ESC ( N straddles readline()'s first 72-byte read
    b"\x1b(Nabc\ndef",
    b"Caf\xe2e \x1b)N\xed\xcf\xd3\x1b)E fin\nnext \xe3\xf2a line\r\nlast",
    b"\x1b$1\x21\x30\x34 \x21\x42\x58\x1b(B abc\n\x1b$1\x21\x30\x34\x1b(B \xe3\xf2a",
    b"\x1bgabc\x1bs \x1bb12\x1bs\n\xebt\xecs \x88The\x89 end\n",
    b"\x1b(2\x40\x60\x1b(B x\x1b$)1\xa1\xb0\xe4\x1b)E\xe2e\n\xe2\xe3\xe4a",
]
# Bad units, some of them cut off by the end of the input.
BAD = [
    b"a\xafb\x1b(Zc\nd",
    b"one\ntwo\nth\xafree\nfour\n",
    b"x\x1b$1\x21\x30",  # EACC character cut short by the end
    b"abc\xe2",  # mark at the end
    b"abc\x1b(",  # escape cut short by the end
    b"ab\xe2\x1d\xe2\xe2",
    b"\xe2\n",  # a mark followed by a line end: mark_without_base
]


class Pieces(io.RawIOBase):
    """A binary stream that never returns more than it is allowed to: each read stops at the
    next cut and returns at most the next size of ``sizes`` (cycled)."""

    def __init__(self, data: bytes, cuts: Iterable[int] = (), sizes: Iterable[int] = ()) -> None:
        self._data = data
        self._pos = 0
        self._cuts = sorted(set(cuts))
        self._sizes: Iterator[int] | None = itertools.cycle(sizes) if sizes else None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._data)
        if size is not None and size >= 0:
            end = min(end, self._pos + size)
        if self._sizes is not None:
            end = min(end, self._pos + next(self._sizes))
        for cut in self._cuts:
            if cut > self._pos:
                end = min(end, cut)
                break
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def seek(self, offset: int, whence: int = 0) -> int:
        assert whence == 0
        self._pos = offset
        return offset


def reader(stream: io.RawIOBase, errors: str = "strict") -> codecs.StreamReader:
    return codecs.getreader("marc8")(stream, errors)


TINY = [(1,), (2,), (3,), (1, 2, 3), (3, 1, 2, 2)]


@pytest.mark.parametrize("data", GOOD)
def test_read_with_a_cut_at_every_point(data: bytes) -> None:
    whole = m8.decode(data)
    for i in range(len(data) + 1):
        assert reader(Pieces(data, cuts=[i])).read() == whole, i
        for j in range(i, min(i + 4, len(data) + 1)):
            assert reader(Pieces(data, cuts=[i, j])).read() == whole, (i, j)


@pytest.mark.parametrize("sizes", TINY)
@pytest.mark.parametrize("data", GOOD)
def test_tiny_reads(data: bytes, sizes: tuple[int, ...]) -> None:
    whole = m8.decode(data)
    lines = whole.splitlines(keepends=True)
    assert reader(Pieces(data, sizes=sizes)).read() == whole
    assert reader(Pieces(data, sizes=sizes)).readlines() == lines
    assert list(reader(Pieces(data, sizes=sizes))) == lines
    rd = reader(Pieces(data, sizes=sizes))
    assert [rd.readline(keepends=False) for _ in lines] == whole.splitlines()
    assert rd.readline() == ""
    for n in (1, 2, 5):
        rd = reader(Pieces(data, sizes=sizes))
        got = []
        while piece := rd.read(n):
            got.append(piece)
        assert "".join(got) == whole
        assert all(len(p) <= n for p in got)


def test_readline_with_an_escape_across_its_first_read() -> None:
    # readline() reads 72 bytes first: the escape is cut after its ESC.
    data = GOOD[0]
    assert reader(io.BytesIO(data)).readline() == m8.decode(data)
    assert reader(io.BytesIO(data)).readline(size=73) == m8.decode(data)[:73]


@pytest.mark.parametrize("errors", ["replace", "ignore", "backslashreplace"])
@pytest.mark.parametrize("data", BAD)
def test_error_handlers_see_whole_units_wherever_the_input_is_cut(data: bytes, errors: str) -> None:
    whole = data.decode("marc8", errors)
    for i in range(len(data) + 1):
        assert reader(Pieces(data, cuts=[i]), errors).read() == whole, i
        # The incremental decoder under it, cut the same way.
        dec = codecs.getincrementaldecoder("marc8")(errors)
        assert dec.decode(data[:i]) + dec.decode(data[i:], final=True) == whole, i
    for sizes in TINY:
        assert reader(Pieces(data, sizes=sizes), errors).read() == whole, sizes


@pytest.mark.parametrize("data", BAD)
def test_strict_raises_wherever_the_input_is_cut(data: bytes) -> None:
    with pytest.raises(UnicodeDecodeError) as exc:
        data.decode("marc8")
    bad = exc.value.object[exc.value.start : exc.value.end]
    for sizes in TINY:
        with pytest.raises(UnicodeDecodeError) as exc:
            reader(Pieces(data, sizes=sizes)).read()
        # The whole unit is reported, even when it began in an earlier read.
        assert exc.value.object[exc.value.start : exc.value.end] == bad, sizes


def test_end_of_stream_finishes_the_decoding() -> None:
    # Held back until the stream ends, then reported: a mark with no base, a cut escape.
    assert reader(Pieces(b"abc\xe2", sizes=(1,)), "replace").read() == "abc\ufffd"
    assert reader(Pieces(b"abc\x1b(", sizes=(2,)), "replace").read() == "abc\ufffd"
    rd = reader(Pieces(b"ab\xe2", sizes=(1,)))
    assert rd.read(2) == "ab"
    with pytest.raises(UnicodeDecodeError):
        rd.read()


def test_readline_returns_the_lines_before_an_error_then_raises() -> None:
    data = BAD[1]  # b"one\ntwo\nth\xafree\nfour\n"
    rd = reader(io.BytesIO(data))
    assert rd.readline() == "one\n"
    assert rd.readline() == "two\n"
    with pytest.raises(UnicodeDecodeError) as exc:
        rd.readline()
    assert exc.value.object[exc.value.start : exc.value.end] == b"\xaf"
    # Nothing was consumed by the failure: it fails again, and with another handler the reader
    # goes on from the same place.
    with pytest.raises(UnicodeDecodeError):
        rd.readline()
    rd.errors = "replace"
    assert rd.readline() == "th\ufffdree\n"
    assert rd.readline() == "four\n"
    assert rd.readline() == ""


@pytest.mark.parametrize("sizes", [(), *TINY])
def test_readline_before_an_error_in_tiny_reads(sizes: tuple[int, ...]) -> None:
    data = b"\x1b(Nabc\ndef\ngh\x1b(Zij\nkl\n"
    rd = reader(Pieces(data, sizes=sizes))
    assert rd.readline() == "АБЦ\n"
    assert rd.readline() == "ДЕФ\n"
    with pytest.raises(UnicodeDecodeError) as exc:
        rd.readline()
    assert exc.value.object[exc.value.start : exc.value.end] == b"\x1b(Z"
    rd.errors = "replace"
    assert rd.readlines() == ["ГХ\ufffdИЙ\n", "КЛ\n"]  # (the bad escape changes nothing)
    assert data.decode("marc8", "replace").endswith("ГХ\ufffdИЙ\nКЛ\n")


def test_changing_errors_keeps_the_designations() -> None:
    data = b"\x1b(Nab\xe2\xaf"
    rd = reader(Pieces(data, sizes=(3,)))
    with pytest.raises(UnicodeDecodeError):
        rd.read()
    rd.errors = "replace"
    # (The text before the bad unit in the failed read is decoded again, not lost.)
    assert rd.read() == data.decode("marc8", "replace")


def test_reset_and_seek_forget_the_state() -> None:
    data = b"abc\x1b(Nabc"
    rd = reader(Pieces(data, cuts=[8]))
    assert rd.read(4) == "abcА"  # Cyrillic is designated into G0 now
    rd.seek(0)
    assert rd.read() == m8.decode(data)
    rd = reader(Pieces(data, cuts=[4]))
    assert rd.read(3) == "abc"  # ESC held back, waiting for the rest of the escape
    rd.reset()
    rd.stream.seek(0)
    assert rd.read() == m8.decode(data)


def test_codecs_open_reads_like_open(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    data = b"\n".join(d for d in GOOD if b"\x1d" not in d) * 50
    path.write_bytes(data)
    with open(path, encoding="marc8", newline="") as fh:
        expected = fh.readlines()
    with codecs.open(str(path), encoding="marc8") as f:
        assert f.readlines() == expected
    with codecs.open(str(path), encoding="marc8") as f:
        assert list(f) == expected
    with codecs.open(str(path), encoding="marc8") as f:
        got = []
        while chunk := f.read(7):
            got.append(chunk)
        assert "".join(got) == "".join(expected)


# The writer: every write() is a complete MARC-8 string that ends in the default sets, so that
# nothing is held back (unlike open(..., "w"), which loses the last character: see test_codec.py).

TEXTS = ["Caf", "e\u0301 Мос", "ква", " 人人 ", "t\u0361s αβ", "end"]


def test_writer_writes_each_piece_completely() -> None:
    out = io.BytesIO()
    wr = codecs.getwriter("marc8")(out)
    for t in TEXTS[:4]:
        wr.write(t)
    wr.writelines(TEXTS[4:])
    assert out.getvalue() == b"".join(m8.encode(t) for t in TEXTS[:4]) + m8.encode(
        "".join(TEXTS[4:])
    )
    assert m8.decode(out.getvalue()) == m8.decode(m8.encode("".join(TEXTS)))


def test_codecs_open_for_writing_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with codecs.open(str(path), "w", encoding="marc8") as f:
        for t in TEXTS:
            f.write(t)
    assert m8.decode(path.read_bytes()) == m8.decode(m8.encode("".join(TEXTS)))
    with codecs.open(str(path), encoding="marc8") as f:
        assert f.read() == m8.decode(m8.encode("".join(TEXTS)))


def test_writer_refuses_a_mark_cut_from_its_base() -> None:
    out = io.BytesIO()
    wr = codecs.getwriter("marc8")(out)
    wr.write("Cafe")
    with pytest.raises(UnicodeEncodeError):
        wr.write("\u0301")
    assert out.getvalue() == b"Cafe"
    lossless = codecs.getwriter("marc8")(out, "lossless")
    lossless.write("\u0301")
    assert m8.decode(out.getvalue(), expand_ncr=True) == "Cafe\u0301"
