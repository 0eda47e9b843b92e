"""Issue 18, item 2: one bad byte does not turn a mislabelled UTF-8 record into MARC-8 garbage.

A record whose data is UTF-8 text with a few invalid bytes is read as UTF-8 -- each invalid byte
a U+FFFD with an ``invalid_utf8`` problem, everything else intact -- whatever leader/09 says
(blank, as in many Alma and Evergreen exports, or ``a``), when the data is trusted (``load``).
MARC-8 (escapes, or a majority of invalid bytes: ANSEL diacritics before ASCII letters) is still
read as MARC-8. The Rust property test is ``rust/marc8/tests/mislabel_props.rs``.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from test_flows_import import catalog, run_cli

import marc8fast
from marc8fast import Field, Record

DATA = Path(__file__).parent.parent / "data"
FSL = DATA / "records" / "mislabelled" / "FSL.marc"

# Bytes that never start a valid sequence after a complete character, nor continue one: each is
# one invalid sequence on its own.
BAD = [0xFF, 0xFE, 0xC0, 0xC1, 0xF5, 0xF9, 0x80, 0x9F, 0xBF]

_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="\x1b"),
        st.sampled_from("éüñçøæßłđþ—€‘’…ЖжЯя漢字かなカナ😀ǿ"),
    ),
    min_size=1,
    max_size=30,
)


@st.composite
def damaged_records(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, str]], int]:
    """(ISO 2709 bytes with k bad bytes in its subfields, expected (tag, $a) pairs, k)."""
    n = draw(st.integers(1, 4))
    texts = [draw(_text) for _ in range(n)]
    tags = [draw(st.sampled_from(["100", "245", "500", "650"])) for _ in range(n)]
    k = draw(st.integers(1, 3))
    places = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, 30), st.sampled_from(BAD)),
            min_size=k,
            max_size=k,
            unique_by=lambda t: (t[0], t[1]),
        )
    )
    rec = Record(leader="00000nam a2200000   4500")
    rec.add_field(Field("001", data="hyp1"))
    marks = []
    for i in range(n):
        mark = f"@{i}@"
        marks.append(mark)
        rec.add_field(Field(tags[i], "10", [("a", mark)]))
    raw = rec.to_bytes(encoding="utf8")
    expected = []
    bad_count = 0
    for i, text in enumerate(texts):
        at = {min(c, len(text)): b for f, c, b in places if f == i}
        damaged, shown = b"", ""
        for j in range(len(text) + 1):
            if j in at:
                damaged += bytes([at[j]])
                shown += "\ufffd"
                bad_count += 1
            if j < len(text):
                damaged += text[j].encode()
                shown += text[j]
        expected.append((tags[i], shown))
        raw = raw.replace(marks[i].encode(), damaged)
    # The lengths changed: the directory is rebuilt from the field terminators.
    return _rewrite(raw), expected, bad_count


def _rewrite(raw: bytes) -> bytes:
    """``raw`` with its directory and lengths recomputed from the field terminators."""
    base = int(raw[12:17])
    tags = [raw[k : k + 3] for k in range(24, base - 1, 12)]
    bodies = raw[base:-1].split(b"\x1e")[:-1]
    assert len(bodies) == len(tags)
    directory, data, pos = b"", b"", 0
    for tag, body in zip(tags, bodies, strict=True):
        directory += tag + b"%04d%05d" % (len(body) + 1, pos)
        data += body + b"\x1e"
        pos += len(body) + 1
    base = 24 + len(directory) + 1
    total = base + len(data) + 1
    leader = b"%05d" % total + raw[5:12] + b"%05d" % base + raw[17:24]
    return leader + directory + b"\x1e" + data + b"\x1d"


@settings(max_examples=300, deadline=None)
@given(damaged_records(), st.sampled_from([b" ", b"a"]))
def test_utf8_with_k_bad_bytes_is_utf8_whatever_leader_09_says(case, leader09):
    raw, expected, k = case
    kept = [t.replace("\ufffd", "") for _, t in expected]
    valid_high = sum(len(t.encode()) - len(t) for t in kept)  # bytes of multibyte characters
    if valid_high < k:
        return  # not a few bad bytes among UTF-8 text: MARC-8 or garbage by design
    raw = raw[:9] + leader09 + raw[10:]
    rec = Record.parse(raw, trust="data")  # the model keeps leader/09 as read
    assert rec["001"].data == "hyp1"
    got = [(f.tag, f["a"]) for f in rec.fields if f.tag != "001"]
    assert got == expected
    kinds = [(p.kind, p.action) for p in rec.problems]
    assert kinds.count(("invalid_utf8", "replaced")) == k
    mis = [a for kind, a in kinds if kind == "mislabelled"]
    assert mis == (["trusted_data"] if leader09 == b" " else [])
    assert len(kinds) == k + len(mis), kinds
    # transcode_record agrees with the model
    out, problems = marc8fast.transcode_record(raw, to="utf8", trust="data")
    assert out is not None and out[9:10] == b"a"
    assert sorted(p.kind for p in problems) == sorted(kind for kind, _ in kinds)


def _one_bad_byte_per_245(raw: bytes) -> tuple[bytes, int]:
    """``raw`` with the first ASCII character of its 245 $a replaced by 0xFF (same length); the
    offset of that character in the 245 $a, in characters. The fields are found by their
    terminators (FSL.marc's directory counts characters, not bytes)."""
    base = int(raw[12:17])
    tags = [raw[k : k + 3] for k in range(24, base - 1, 12)]
    pos = base
    for tag, body in zip(tags, raw[base:-1].split(b"\x1e"), strict=False):
        if tag == b"245":
            a = raw.index(b"\x1fa", pos, pos + len(body)) + 2
            stop = raw.find(b"\x1f", a, pos + len(body))
            stop = pos + len(body) if stop < 0 else stop
            j = next(i for i in range(a, stop) if raw[i] < 0x80)  # FSL's are often Cyrillic
            return raw[:j] + b"\xff" + raw[j + 1 :], len(raw[a:j].decode("utf-8"))
        pos += len(body) + 1
    raise AssertionError("no 245")


def test_fsl_with_one_bad_byte_per_245_is_stored_as_utf8_text(tmp_path: Path) -> None:
    """The issue's case: Evergreen's FSL.marc (leader/09 blank, data UTF-8), one stray 0xFF per
    245, loaded with ``marc8fast load``: stored as UTF-8 text, not mojibake."""
    records = marc8fast.read_records(FSL.read_bytes())
    assert len(records) == 52
    damaged, where = [], []
    for _n, _o, raw in records:
        assert raw[9:10] == b" "
        bad, at = _one_bad_byte_per_245(raw)
        damaged.append(bad)
        where.append(at)
    src = tmp_path / "fsl-damaged.mrc"
    src.write_bytes(b"".join(damaged))
    clean = tmp_path / "fsl.mrc"
    clean.write_bytes(FSL.read_bytes())

    db, db_clean = tmp_path / "c.sqlite", tmp_path / "clean.sqlite"
    report = tmp_path / "r.jsonl"
    run_cli("load", src, "--db", db, "--report", report, "-q")
    run_cli("load", clean, "--db", db_clean, "-q")
    rows = [json.loads(x) for x in report.read_text().splitlines()]
    assert len(rows) == 52
    for row in rows:
        kinds = sorted((p["kind"], p.get("tag")) for p in row["problems"])
        assert kinds == [("invalid_utf8", "245"), ("mislabelled", None)], row["problems"]
    with catalog(db) as s:
        stored = [Record.parse(r.data) for r in sorted(s.iter_records(), key=lambda r: r.sysno)]
    with catalog(db_clean) as s:
        good = [Record.parse(r.data) for r in sorted(s.iter_records(), key=lambda r: r.sysno)]
    assert len(stored) == len(good) == 52
    for rec, ok, at in zip(stored, good, where, strict=True):
        assert rec.leader_at(9) == "a"
        assert not rec.problems
        t, t_ok = rec["245"]["a"], ok["245"]["a"]
        # the bad byte took the place of one letter; every other character is the clean load's
        assert t == t_ok[:at] + "\ufffd" + t_ok[at + 1 :], (t, t_ok)
        assert [f for f in rec.fields if f.tag != "245"] == [f for f in ok.fields if f.tag != "245"]
