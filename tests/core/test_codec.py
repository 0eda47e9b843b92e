"""The marc8 codec: names, stateless and incremental decoding, open(), error handlers."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

import marc8fast as m8
from marc8fast import codec

SAMPLES = [
    b"Caf\xe2e \x1b)N\xed\xcf\xd3\x1b)E fin",
    b"\x1b$1\x21\x30\x34 \x21\x42\x58\x1b(B abc \xe3\xf2a",
    b"\x1bgabc\x1bs \x1bb12\x1bs \xebt\xecs \x88The\x89 end",
    b"\x1b(2\x40\x60\x1b(B x\x1b$)1\xa1\xb0\xe4\x1b)E\xe2e",
]


@pytest.mark.parametrize("name", ["marc8", "MARC-8", "marc_8", "Marc8", "marc-8"])
def test_names(name: str) -> None:
    info = codecs.lookup(name)
    assert info.name == "marc-8"
    assert b"\xe2e".decode(name) == "e\u0301"


def test_register_is_idempotent() -> None:
    codec.register()
    codec.register()
    assert codecs.lookup("marc8").name == "marc-8"
    assert codec.search("utf-8") is None


@pytest.mark.parametrize("data", SAMPLES)
def test_incremental_split_everywhere(data: bytes) -> None:
    whole = m8.decode(data)
    for i in range(len(data) + 1):
        for j in range(i, len(data) + 1):
            dec = codecs.getincrementaldecoder("marc8")()
            got = dec.decode(data[:i]) + dec.decode(data[i:j]) + dec.decode(data[j:], final=True)
            assert got == whole, (i, j)


def test_iterdecode_byte_by_byte() -> None:
    data = b"".join(SAMPLES)
    assert "".join(codecs.iterdecode((bytes([b]) for b in data), "marc8")) == m8.decode(data)


def test_open_and_tell_seek(tmp_path: Path) -> None:
    data = b"\n".join(SAMPLES * 200) + b"\n"
    path = tmp_path / "lines.mrc"
    path.write_bytes(data)
    expected = m8.decode(data)
    with open(path, encoding="marc8") as fh:
        assert fh.read() == expected
    # TextIOWrapper uses getstate/setstate for tell()/seek(): state must survive round trips,
    # even with designations and marks pending at the cut.
    with open(path, encoding="marc8", newline="") as fh:
        first = fh.readline()
        pos = fh.tell()
        rest = fh.read()
        fh.seek(pos)
        assert fh.read() == rest
        assert first + rest == expected


def test_getstate_setstate_carries_designations() -> None:
    dec = codec.IncrementalDecoder()
    assert dec.getstate() == (b"", 0)
    dec.decode(b"\x1b)N\xe2\x1b$")
    state = dec.getstate()
    assert state[0] == b"\x1b$" and state[1] != 0
    other = codec.IncrementalDecoder()
    other.setstate(state)
    assert other.decode(b"1\x21\x30\x64", final=True) == dec.decode(b"1\x21\x30\x64", final=True)


def test_error_handlers() -> None:
    bad = b"a\xafb\x1b(Zc"
    with pytest.raises(UnicodeDecodeError) as exc:
        bad.decode("marc8")
    assert (exc.value.start, exc.value.end) == (1, 2)
    assert bad.decode("marc8", "replace") == "a\ufffdb\ufffdc"
    assert bad.decode("marc8", "ignore") == "abc"
    assert bad.decode("marc8", "backslashreplace") == "a\\xafb\\x1b\\x28\\x5ac"

    seen: list[tuple[int, int, bytes]] = []

    def record(e: UnicodeError) -> tuple[str, int]:
        assert isinstance(e, UnicodeDecodeError)
        seen.append((e.start, e.end, e.object[e.start : e.end]))
        return ("<?>", e.end)

    codecs.register_error("marc8fast-test-record", record)
    assert bad.decode("marc8", "marc8fast-test-record") == "a<?>b<?>c"
    assert seen == [(1, 2, b"\xaf"), (3, 6, b"\x1b(Z")]


def test_incremental_handler_positions_are_chunk_relative() -> None:
    dec = codecs.getincrementaldecoder("marc8")("backslashreplace")
    assert dec.decode(b"abc") == "abc"
    assert dec.decode(b"d\xafe", final=True) == "d\\xafe"


def test_encode_side() -> None:
    assert "Łódź".encode("marc8") == b"\xa1\xe2od\xe2z"
    assert "a😀b".encode("marc-8", "lossless") == b"a&#x1F600;b"
    assert "a😀b".encode("marc8", "lossy") == b"a|b"
    assert "a😀b".encode("marc8", "replace") == b"a|b"
    assert "a😀b".encode("marc8", "ignore") == b"ab"
    assert "a😀b".encode("marc8", "xmlcharrefreplace") == b"a&#128512;b"
    with pytest.raises(UnicodeEncodeError) as exc:
        "Москва 😀".encode("marc8")
    assert (exc.value.encoding, exc.value.start, exc.value.end) == ("marc-8", 7, 8)


def test_incremental_encoder_holds_the_base_for_its_marks() -> None:
    enc = codecs.getincrementalencoder("marc8")()
    out = (
        enc.encode("Cafe") + enc.encode("\u0301 ") + enc.encode("Мос") + enc.encode("", final=True)
    )
    assert out == m8.encode("Cafe\u0301 Мос")
    assert out.endswith(b"\x1b(B")
    parts = ["Caf", "e\u0301", "\u0301", " 人", "人 x"]
    assert b"".join(codecs.iterencode(parts, "marc8")) == m8.encode("".join(parts))


def test_open_for_writing_warns_that_the_last_character_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with pytest.warns(RuntimeWarning, match="gh-79792"):
        with open(path, "w", encoding="marc8") as fh:
            fh.write("Москва é")
        del fh
        import gc

        gc.collect()
    # What TextIOWrapper wrote lacks the held-back "e" and the escape back to ASCII.
    assert m8.encode("Москва é").startswith(path.read_bytes())
