"""marc8fast.decode / decode_report: options, problems as data, strict errors."""

from __future__ import annotations

import threading

import pytest

import marc8fast as m8


def test_decode_basic_sets() -> None:
    assert m8.decode(b"Caf\xe2e") == "Cafe\u0301"
    assert m8.decode(b"Caf\xe2e", normalize="NFC") == "Café"
    assert m8.decode(b"Caf\xe2e", normalize="nfd") == "Cafe\u0301"
    assert m8.decode(b"\x1b(N\x6d\x4f\x53\x1b(B!") == "\u041c\u043e\u0441!"
    assert m8.decode(b"\x1b$1\x21\x30\x64\x1b(B") == "人"
    assert m8.decode(bytearray(b"abc")) == "abc"


def test_strict_error_names_the_real_byte_span() -> None:
    with pytest.raises(UnicodeDecodeError) as exc:
        m8.decode(b"ab\x1b(Zcd")
    e = exc.value
    assert (e.encoding, e.start, e.end, e.object) == ("marc-8", 2, 5, b"ab\x1b(Zcd")
    assert "designates no MARC-8 character set" in e.reason


def test_replace_and_report() -> None:
    text, problems = m8.decode_report(b"a\xafb\x1b(Zc\xe2")
    assert text == "a\ufffdb\ufffdc\ufffd"
    assert [(p.kind, p.offset, p.length, p.bytes) for p in problems] == [
        ("unmapped_byte", 1, 1, b"\xaf"),
        ("unknown_escape", 3, 3, b"\x1b(Z"),
        ("mark_without_base", 7, 1, b"\xe2"),
    ]
    assert all(p.action == "replaced" for p in problems)
    assert problems[0].g0 == "ascii" and problems[0].g1 == "ansel"
    d = problems[1].to_dict()
    assert d["bytes"] == "1B 28 5A" and d["kind"] == "unknown_escape"
    assert m8.decode(b"a\xafb", errors="replace") == "a\ufffdb"
    assert problems[0] == m8.decode_report(b"a\xafb")[1][0]
    assert "Problem(kind=" in repr(problems[0])


def test_report_never_raises_on_bad_data() -> None:
    text, problems = m8.decode_report(bytes(range(256)))
    assert len(problems) > 0
    assert text.count("\ufffd") == sum(p.action == "replaced" for p in problems)


def test_options() -> None:
    assert m8.decode(b"\xebt\xecs") == "t\u0361s"
    assert m8.decode(b"\xebt\xecs", legacy_ligatures=True) == "t\ufe20s\ufe21"
    assert m8.decode(b"&#x017A;") == "&#x017A;"
    assert m8.decode(b"&#x017A;", expand_ncr=True) == "ź"
    text, problems = m8.decode_report(b"&#x41;", expand_ncr=True)
    assert text == "&#x41;" and problems[0].kind == "malformed_ncr"
    assert problems[0].action == "kept_as_text"
    with pytest.raises(ValueError, match="NFKC"):
        m8.decode(b"x", normalize="NFKC")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="errors"):
        m8.decode(b"x", errors="ignore")  # type: ignore[arg-type]


def test_large_input_releases_the_gil() -> None:
    """Two threads decoding a large input both finish with the same result (GIL released)."""
    data = (b"Caf\xe2e \x1b$1\x21\x30\x64\x1b(B " * 20000) + b"end"
    results: list[str] = []

    def work() -> None:
        results.append(m8.decode(data))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1]
    assert results[0].endswith("end") and results[0].count("人") == 20000


def test_version_and_table_size() -> None:
    assert m8.__version__
    assert m8.EACC_CODE_COUNT == 15739
