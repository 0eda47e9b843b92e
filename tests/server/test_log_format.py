"""The request log's text lines (issue 22 made them cheaper to write): a value with a space,
quote, ``=`` or backslash, or not printable, or empty, is written as its JSON string; any
other as it is; numbers and None as they were. The time stamp is the line's UTC time to the
millisecond, also when many lines share a second."""

from __future__ import annotations

import json
import random
import time

from marc8fast.server.log import EntryFormatter, RequestLog

VALUES = [
    "Record received: 000000001", "plain", "", "a=b", 'say "hi"', "back\\slash", "tab\there",
    "é ü ǂ", "\u2028line", "\x7f del", "\ud800 lone", "new\nline", "Login failed (x; y)",
]  # fmt: skip


def _expected(v: object) -> str:
    if v is None:
        return "-"
    text = str(v)
    if text == "" or any(c in text for c in ' "=\\') or not text.isprintable():
        return json.dumps(text, ensure_ascii=False)
    return text


def test_text_values_are_quoted_as_json_exactly_when_needed():
    f = EntryFormatter("text")
    for v in [*VALUES, 0, -12, 3.5, 1e-07, float("inf"), None, True]:
        line = f.line({"service": "connexion", "v": v}, 0.0)
        assert line == f"1970-01-01T00:00:00.000Z service=connexion v={_expected(v)}", v


def test_time_stamps_to_the_millisecond():
    f = EntryFormatter("text")
    rng = random.Random(22)
    times = sorted(rng.uniform(1.7e9, 1.7e9 + 5) for _ in range(2000))
    times += [rng.uniform(0, 4e9) for _ in range(2000)]
    for t in times:
        stamp = f.line({}, t)
        assert stamp == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + (
            f".{int(t % 1 * 1000):03d}Z"
        )


def test_lines_written_together_keep_their_order_and_skip_only_a_bad_one(tmp_path):
    class Bad:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    path = tmp_path / "r.log"
    log = RequestLog(str(path))
    log.write_many([{"n": 1, "o": "a b"}, {"n": 2, "o": Bad()}, {"n": 3, "o": "c"}])
    log.close()
    lines = path.read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ['n=1 o="a b"', "n=3 o=c"]
