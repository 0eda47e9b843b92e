"""marc8fast.decode / decode_report: options, problems as data, strict errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

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


def _progress_during(call: Callable[[int], object], size: int) -> tuple[float, int, object]:
    """Runs ``call(n)`` in this thread, ``n`` doubled from ``size`` until the call takes 0.15 s
    of this thread's CPU time (wall time would stop early on a busy machine, where the call
    mostly waits for a core; at most 128 times ``size``), while another Python thread records a
    tick every millisecond.
    Returns the last call's duration, the ticks that fall in its middle half (at least 11 ms
    from either end: two of the interpreter's 5 ms switch intervals, when a call that holds the
    GIL throughout still lets a waiting thread run just before it starts or after it returns)
    and the call's result."""
    ticks: list[float] = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)  # needs the GIL back to go on

    counter = threading.Thread(target=count, daemon=True)
    counter.start()
    try:
        n = size
        while True:
            c0, t0 = time.thread_time(), time.perf_counter()
            result = call(n)
            t1, c1 = time.perf_counter(), time.thread_time()
            if c1 - c0 >= 0.15 or n >= 128 * size:
                break
            n *= 2
    finally:
        stop.set()
        counter.join()
    margin = max((t1 - t0) / 4, 0.011)
    middle = sum(1 for x in ticks if t0 + margin < x < t1 - margin)
    return t1 - t0, middle, result


def test_large_input_releases_the_gil() -> None:
    """A Python thread makes progress while this one decodes a large input (the GIL is let go
    during the native call), and the result is whole."""
    unit = b"Caf\xe2e \x1b$1\x21\x30\x64\x1b(B "
    reps: list[int] = []

    def decode(n: int) -> str:
        reps.append(n)
        return m8.decode(unit * n + b"end")

    seconds, middle, out = _progress_during(decode, 20000)
    print(f"\ndecode of {len(unit) * reps[-1]:,} bytes: {seconds:.3f} s, {middle} ticks inside")
    assert isinstance(out, str) and out.endswith("end") and out.count("人") == reps[-1]
    assert middle > 0, f"no Python thread ran during {seconds:.3f} s of decoding: GIL held"


def test_the_gil_check_fails_on_a_call_that_holds_the_gil() -> None:
    """The control: ``sum(range(n))`` runs in C without letting the GIL go; the measure above
    must see no tick inside it (else it could not fail for decode either)."""
    seconds, middle, _ = _progress_during(lambda n: sum(range(n)), 2_000_000)
    print(f"\nsum(range(...)): {seconds:.3f} s, {middle} ticks inside")
    assert middle == 0


def test_version_and_table_size() -> None:
    assert m8.__version__
    assert m8.EACC_CODE_COUNT == 15739
