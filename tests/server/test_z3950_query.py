"""The PQF reading and Bib-1 checks of the Z39.50 server (marc8fast.server.query), without a
network: the text is what YAZ's yaz_rpnquery_to_wrbuf writes."""

from __future__ import annotations

import pytest

from marc8fast.server import query as q


def test_tokens_quotes_and_escapes() -> None:
    assert q._tokens(r'@attr 1=4 "war \"and\" peace" x\\y ""') == [
        (False, "@attr"),
        (False, "1=4"),
        (True, 'war "and" peace'),
        (True, "x\\y"),
        (True, ""),
    ]
    assert q._tokens('@attr 1="a string" x') == [
        (False, "@attr"),
        (True, "1=a string"),
        (False, "x"),
    ]


def test_escaped_or_quoted_operator_is_a_term() -> None:
    # yaz-client's `find \@and` reaches the server as the term "@and", rendered \@and
    for pqf in (r"@attrset Bib-1 \@and", '@attrset Bib-1 "@and"', r"@attr 1=4 \@or"):
        tree = q.parse(pqf)
        assert isinstance(tree, q.Term) and tree.text in ("@and", "@or"), pqf
    assert isinstance(q.parse("@and a b"), q.Op)


def test_parse_tree_and_attributes() -> None:
    tree = q.parse('@attrset Bib-1 @and @attr 5=1 @attr 1=4 "war and" @not foo @set r1')
    assert isinstance(tree, q.Op) and tree.op == "and"
    assert isinstance(tree.left, q.Term)
    assert tree.left.attrs == {5: 1, 1: 4} and tree.left.text == "war and"
    assert isinstance(tree.right, q.Op) and tree.right.op == "not"
    assert tree.right.right == q.SetRef("r1")
    assert q.index_of(tree.left) == ("title", True)


def test_evaluate_set_operations() -> None:
    data = {"title": {"a": {1, 2, 3}, "b": {3, 4}}, "sysno": {"7": {7}}}

    def find(index: str, text: str, truncated: bool) -> set[int]:
        return set(data.get(index, {}).get(text, set()))

    sets = {"s1": [3, 9]}
    ev = lambda pqf: q.evaluate(q.parse(pqf), find, sets)  # noqa: E731
    assert ev("@attr 1=4 a") == {1, 2, 3}
    assert ev("@and @attr 1=4 a @attr 1=4 b") == {3}
    assert ev("@or @attr 1=4 a @attr 1=4 b") == {1, 2, 3, 4}
    assert ev("@not @attr 1=4 a @attr 1=4 b") == {1, 2}
    assert ev("@or @set s1 @attr 1=12 7") == {3, 7, 9}


@pytest.mark.parametrize(
    ("pqf", "code"),
    [
        ("@attr 1=9999 x", 114),
        ('@attr 1="title" x', 114),
        ("@attr 2=5 x", 117),
        ("@attr 3=4 x", 119),
        ("@attr 4=109 x", 118),
        ("@attr 1=12 @attr 5=1 x", 120),
        ("@attr 1=4 @attr 5=2 x", 120),
        ("@attr 6=9 x", 122),
        ("@attr 9=1 x", 113),
        ("@attrset gils @attr 1=4 x", 121),
        ("@attr gils 1=4 x", 121),
        ("@prox 0 1 0 2 k 2 a b", 110),
        ("@term numeric 5", 124),
        ("@and x", 108),
        ("x y", 108),
    ],
)
def test_diagnostics(pqf: str, code: int) -> None:
    with pytest.raises(q.Diagnostic) as e:
        q.check(q.parse(pqf))
    assert e.value.code == code


def test_unknown_set_and_empty_term() -> None:
    with pytest.raises(q.Diagnostic) as e:
        q.evaluate(q.parse("@set nosuch"), lambda *_: set(), {})
    assert (e.value.code, e.value.addinfo) == (30, "nosuch")
    with pytest.raises(q.Diagnostic) as e:
        q.evaluate(q.parse('@attr 1=4 ""'), lambda *_: set(), {})
    assert e.value.code == 125


@pytest.mark.parametrize(
    ("pqf", "code"),
    [
        ("@or " * 64 + " ".join(f"t{i}" for i in range(65)), 5),  # 65 terms
        ("@or " * 70 + " ".join(f"t{i}" for i in range(71)), 6),  # counted before parsing
        ("@or " * 8 + " ".join(f"@attr 5=1 @attr 1=4 ab{i}" for i in range(9)), 7),
        ("@attr 5=1 @attr 1=4 a", 9),
        ("@attr 1=4 " + "x" * 9000, 11),
    ],
)
def test_cost_limits(pqf: str, code: int) -> None:
    limits = q.Limits()
    with pytest.raises(q.Diagnostic) as e:
        q.check(q.parse(pqf, limits), limits)
    assert e.value.code == code


def test_cost_limits_allow_what_catalogers_send() -> None:
    limits = q.Limits()
    for pqf in (
        "@attr 1=12 43",
        "@and @attr 1=4 @attr 5=1 music @attr 1=1003 ellington",
        "@or " * 7 + " ".join(f"@attr 5=1 @attr 1=4 ab{i}" for i in range(8)),
        "@or " * 63 + " ".join(f"t{i}" for i in range(64)),
    ):
        q.check(q.parse(pqf, limits), limits)


def test_event_pipe_is_ascii_and_bounded() -> None:
    """Five events into a pipe that keeps three: the two oldest are dropped and counted.

    (The pipe's own thread writes what is waiting every 0.1 s: were it to write between two of
    the five, fewer would be dropped; forced by a 0.15 s pause after the first, the first came
    out written and one dropped. The test holds the pipe's write lock while it emits, so the
    five wait as one batch whatever the scheduling.)"""
    import io
    import json

    from marc8fast.server.z3950 import EventPipe, printable

    out = io.BytesIO()
    pipe = EventPipe(out, limit=3)
    term = b"caf\xe5\xff\x80".decode("utf-8", "surrogateescape")
    with pipe.write_lock:  # the pipe's thread cannot write meanwhile
        for i in range(5):
            pipe.emit({"event": "z3950_search", "query": term, "n": i})
    pipe.flush()
    lines = out.getvalue().decode("ascii").splitlines()  # ASCII whatever the client sent
    events = [json.loads(line) for line in lines]
    assert events[0] == {"service": "z3950", "event": "z3950_events_dropped", "count": 2}
    assert [e["n"] for e in events[1:]] == [2, 3, 4]
    assert printable(events[1]["query"]) == "caf\\xE5\\xFF\\x80"


def test_peer_address() -> None:
    from marc8fast.server.z3950 import peer_address

    assert peer_address("tcp:127.0.0.2") == "127.0.0.2"
    assert peer_address("tcp:127.0.0.2:4000") == "127.0.0.2"
    assert peer_address("tcp:[::1]:4000") == "::1"


def test_event_reader_survives_unreadable_lines(tmp_path) -> None:
    import threading

    from marc8fast.server.z3950 import Handle

    logged: list[dict[str, object]] = []
    h = Handle({}, str(tmp_path), logged.append)
    ready = threading.Event()
    h._event(b"\xff\xfe not json \xe5\n", ready)
    h._event(b'["a list"]\n', ready)
    h._event(b'{"service": "z3950", "event": "z3950_search", "query": "caf\\udce5"}\n', ready)
    h._event(b'{"event": "ready", "ports": {"z3950": 2100}}\n', ready)
    assert ready.is_set() and h.ports == {"z3950": 2100}
    assert logged[0]["event"] == "output" and "not json" in str(logged[0]["text"])
    assert logged[1]["event"] == "output"
    assert logged[2]["query"] == "caf\\xE5"
