"""marc8fast.Record / Field: the API, ISO 2709 writing, and the parse/write round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import marc8fast as m

DATA = Path(__file__).parent.parent / "data"

FT, SD, RT = b"\x1e", b"\x1f", b"\x1d"


def iso2709(leader: str, fields: list[tuple[str, bytes]]) -> bytes:
    """A test-side ISO 2709 writer, independent of the package."""
    directory = b""
    data = b""
    for tag, body in fields:
        directory += tag.encode() + b"%04d%05d" % (len(body) + 1, len(data))
        data += body + FT
    base = 24 + len(directory) + 1
    total = base + len(data) + 1
    lead = leader.encode("ascii")
    return b"%05d" % total + lead[5:12] + b"%05d" % base + lead[17:] + directory + FT + data + RT


def title() -> m.Field:
    return m.Field("245", "10", [("a", "Title /"), ("c", "Author.")])


# ------------------------------------------------------------------------------------------------
# Field


def test_field_data_field_api() -> None:
    f = title()
    assert f.tag == "245"
    assert f.indicators == "10" and f.ind1 == "1" and f.ind2 == "0"
    assert f.data is None and not f.is_control_field()
    assert f.subfields == [("a", "Title /"), ("c", "Author.")]
    assert f["a"] == "Title /"
    assert f.get("z") is None and f.get("z", "dflt") == "dflt"
    with pytest.raises(KeyError):
        f["z"]
    assert f.get_subfields("c", "a") == ["Title /", "Author."]
    assert f.get_subfields() == []
    assert "a" in f and "b" not in f
    assert list(f) == [("a", "Title /"), ("c", "Author.")]
    assert f.value() == "Title / Author."
    assert str(f) == "=245  10$aTitle /$cAuthor."
    f.add_subfield("b", "sub", pos=1)
    f.add_subfield("z", "end")
    assert [c for c, _ in f.subfields] == ["a", "b", "c", "z"]
    assert f.delete_subfield("b") == "sub"
    assert f.delete_subfield("q") is None
    f.indicators = ("0", " ")
    f.ind2 = "4"
    assert str(f).startswith("=245  04$a")
    f.indicators = "  "
    assert str(f).startswith("=245  \\\\$a")
    copy = f.subfields
    copy.append(("x", "y"))
    assert ("x", "y") not in f.subfields, "subfields returns a copy"
    f.subfields = [("a", "new")]
    assert f.subfields == [("a", "new")]
    assert f == m.Field("245", "  ", [("a", "new")])
    assert f != m.Field("245", "  ", [("a", "other")])
    assert f.copy() == f and f.copy() is not f


def test_field_control_field_api() -> None:
    f = m.Field("001", data=" ocm1 ")
    assert f.is_control_field() and f.data == " ocm1 " and f.value() == " ocm1 "
    assert f.subfields == [] and f.indicators == "  "
    assert str(f) == "=001   ocm1 "
    f.data = "x"
    assert f.data == "x"
    with pytest.raises(ValueError):
        f.add_subfield("a", "b")
    with pytest.raises(ValueError):
        f.indicators = "12"


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("24",), {}),
        (("245", "1"), {}),
        (("245", "123"), {}),
        (("245", "10", [("ab", "x")]), {}),
        (("001",), {"data": "x", "subfields": [("a", "b")]}),
    ],
)
def test_field_rejects_bad_arguments(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        m.Field(*args, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# Record


def sample() -> m.Record:
    return m.Record(
        fields=[
            m.Field("001", data=" ocm42 "),
            m.Field("100", "1 ", [("a", "Dvořák, Antonín.")]),
            title(),
            m.Field("650", " 0", [("a", "Music.")]),
            m.Field("650", " 0", [("a", "Symphonies.")]),
        ]
    )


def test_record_access() -> None:
    r = sample()
    assert len(r) == 5 and "245" in r and "999" not in r
    assert r.control_number() == "ocm42"
    assert r["245"]["a"] == "Title /"
    assert r.get("999") is None
    with pytest.raises(KeyError):
        r["999"]
    assert [f["a"] for f in r.get_fields("650")] == ["Music.", "Symphonies."]
    assert [f.tag for f in r.get_fields()] == ["001", "100", "245", "650", "650"]
    assert [f.tag for f in r] == [f.tag for f in r.fields]
    assert r.number is None and r.offset is None and r.problems == []
    assert r.source_encoding == "utf8"
    assert str(r).splitlines()[:2] == ["=LDR  00000nam a2200000   4500", "=001   ocm42 "]
    assert str(r).endswith("=650  \\0$aSymphonies.\n")


def test_tags_follow_every_change_of_the_fields() -> None:
    r = sample()
    assert r.tags == ["001", "100", "245", "650", "650"]
    r["245"].tag = "246"  # a Field object already made: its tag as it is now
    r.add_ordered_field(m.Field("020", "  ", [("a", "isbn")]))
    r.add_field(m.Field("STA", "  ", [("a", "local")]))
    assert r.tags == ["001", "020", "100", "246", "650", "650", "STA"]
    assert r.tags == [f.tag for f in r.fields]
    r.remove_fields("650")
    assert r.tags == ["001", "020", "100", "246", "STA"]
    lst = r.tags
    lst.clear()
    assert len(r.tags) == 5, "tags returns a new list"
    assert m.Record().tags == []
    raw = iso2709("00000nam a2200000   4500", [("001", b"x"), ("H01", SD + b"ay"), ("245", b"10")])
    assert m.Record.parse(raw).tags == ["001", "H01", "245"]


def test_fields_taken_from_a_record_are_the_records_own() -> None:
    r = sample()
    f = r["245"]
    assert r["245"] is f, "the same object each time"
    f.add_subfield("b", "added")
    f.indicators = "00"
    assert r["245"].get_subfields("b") == ["added"]
    assert b"00\x1faTitle /\x1fcAuthor.\x1fbadded" in r.to_bytes()
    for g in r.get_fields("650"):
        g["a"]
        g.subfields = [("a", "changed")]
    assert r.to_bytes().count(b"changed") == 2
    lst = r.fields
    lst.clear()
    assert len(r) == 5, "fields returns a new list"


def test_add_remove_replace() -> None:
    r = sample()
    r.add_field(m.Field("999", "  ", [("a", "last")]))
    assert r.fields[-1].tag == "999"
    r.add_ordered_field(m.Field("020", "  ", [("a", "isbn")]), m.Field("700", "1 ", [("a", "x")]))
    assert [f.tag for f in r] == ["001", "020", "100", "245", "650", "650", "700", "999"]
    second = r.get_fields("650")[1]
    r.remove_field(second)
    assert [f["a"] for f in r.get_fields("650")] == ["Music."]
    with pytest.raises(ValueError):
        r.remove_field(second)
    with pytest.raises(ValueError):
        r.remove_field(m.Field("650", " 0", [("a", "Music.")])), "by identity, not equality"
    new = m.Field("245", "00", [("a", "Other")])
    r.replace_field(r["245"], new)
    assert r["245"] is new
    assert r.remove_fields("650", "700", "nope") == 2
    assert "650" not in r
    r.fields = [m.Field("001", data="only")]
    assert len(r) == 1


def test_leader() -> None:
    r = m.Record()
    assert r.leader == "00000nam a2200000   4500"
    r.leader = "00000cam  2200000 i 4500"
    assert r.leader_at(5) == "c" and r.leader_at(slice(6, 8)) == "am"
    r.set_leader(17, "7a")
    assert r.leader[17:19] == "7a"
    r.leader = "é" * 24  # one byte each (Latin-1), as a leader read with stray bytes shows
    data, problems = r.to_bytes_report()
    assert [(p.kind, p.action) for p in problems] == [("bad_leader", "recovered")]
    assert data is not None and data[:24].isascii() and data[20:24] == b"4500"
    for bad in ("short", "ő" * 24):
        with pytest.raises(ValueError):
            r.leader = bad
    with pytest.raises(ValueError):
        r.set_leader(23, "xx")


# ------------------------------------------------------------------------------------------------
# Writing


def test_to_bytes_counts_lengths_in_bytes_and_sets_leader_09() -> None:
    r = sample()
    r.leader = "99999nam  2299999   4500"
    u = r.to_bytes()
    assert int(u[:5]) == len(u)
    assert u[9:10] == b"a"
    base = int(u[12:17])
    assert u[base - 1 : base] == FT
    # directory entries: lengths in bytes of the UTF-8 text
    entry = u[24 + 12 : 24 + 24]
    assert entry[:3] == b"100"
    assert int(entry[3:7]) == len("1 \x1faDvořák, Antonín.".encode()) + 1
    back = m.Record.parse(u)
    assert back.problems == [] and back.source_encoding == "utf8"
    assert back.fields == r.fields
    m8 = r.to_bytes("marc8")
    assert m8[9:10] == b" " and int(m8[:5]) == len(m8)
    assert b"Dvo\xe9r\xe2ak" in m8  # marks before their base
    # MARC-8 has no precomposed letters: read back decomposed, equal once composed again.
    assert m.Record.parse(m8).fields != r.fields
    assert m.Record.parse(m8, normalize="NFC").fields == r.fields


def test_066_dropped_for_utf8_rebuilt_for_marc8() -> None:
    r = m.Record(
        fields=[
            m.Field("001", data="x"),
            m.Field("066", "  ", [("c", "stale")]),
            m.Field("245", "10", [("a", "Москва 中文")]),
        ]
    )
    u = m.Record.parse(r.to_bytes())
    assert "066" not in u
    m8 = r.to_bytes("marc8")
    back = m.Record.parse(m8)
    assert back["066"].subfields == [("c", "$1"), ("c", "(N")]
    assert [f.tag for f in back] == ["001", "066", "245"]
    assert back["245"]["a"] == "Москва 中文"
    ascii_only = m.Record(fields=[m.Field("066", "  ", [("c", "(N")]), title()])
    assert "066" not in m.Record.parse(ascii_only.to_bytes("marc8"))


def test_to_bytes_errors_modes() -> None:
    r = m.Record(fields=[m.Field("001", data="n1"), m.Field("245", "10", [("a", "a☺b")])])
    with pytest.raises(m.RecordError) as e:
        r.to_bytes("marc8", errors="strict")
    assert isinstance(e.value, ValueError)
    assert [p.kind for p in e.value.problems] == ["unmappable"]
    assert e.value.problems[0].action == "rejected"
    assert e.value.problems[0].control_number == "n1"
    assert b"a&#x263A;b" in r.to_bytes("marc8")
    assert b"a|b" in r.to_bytes("marc8", errors="lossy")
    data, problems = r.to_bytes_report("marc8")
    assert data is not None and [(p.kind, p.action) for p in problems] == [
        ("unmappable", "wrote_ncr")
    ]
    data, problems = r.to_bytes_report("marc8", "strict")
    assert data is None and problems[0].action == "rejected"
    assert r.to_bytes("utf8", errors="strict")  # UTF-8 represents everything
    with pytest.raises(ValueError):
        r.to_bytes("latin1")  # type: ignore[arg-type]


def test_too_long_or_structure_breaking_is_an_error_never_corrupt() -> None:
    r = m.Record(fields=[m.Field("500", "  ", [("a", "é" * 5000)])])
    with pytest.raises(m.RecordError) as e:
        r.to_bytes()
    assert e.value.problems[-1].kind == "field_too_long"
    big = m.Record(fields=[m.Field("500", "  ", [("a", "x" * 9000)]) for _ in range(12)])
    data, problems = big.to_bytes_report()
    assert data is None and problems[-1].kind == "record_too_long"
    for f in (
        m.Field("245", "10", [("a", "x\x1fby")]),
        m.Field("245", "10", [("a", "x\x1ey")]),
        m.Field("245", "é0", []),
    ):
        data, problems = m.Record(fields=[f]).to_bytes_report()
        assert data is None and problems[0].action == "rejected"


# ------------------------------------------------------------------------------------------------
# Parsing


def test_parse_problems_are_transcode_records() -> None:
    raw = iso2709(
        "00000nam  2200000   4500",
        [("001", b"x1"), ("245", b"10\x1faok\x1fbbad \x1b(Z here\x1fc\xfc.")],
    )
    r = m.Record.parse(raw)
    _, expected = m.transcode_record(raw, to="utf8")
    assert [p.to_dict() for p in r.problems] == [p.to_dict() for p in expected]
    assert r.source_encoding == "marc8"
    assert "\ufffd" in r["245"]["b"]


def test_parse_options_and_unparseable() -> None:
    raw = iso2709("00000nam  2200000   4500", [("245", "10\x1faCafé".encode())])
    r = m.Record.parse(raw)
    assert r.problems[0].kind == "mislabelled" and r.source_encoding == "marc8"
    r = m.Record.parse(raw, trust="data")
    assert r.source_encoding == "utf8" and r["245"]["a"] == "Café"
    nfd = iso2709("00000nam a2200000   4500", [("245", "10\x1faCafé".encode())])
    assert m.Record.parse(nfd, normalize="NFD")["245"]["a"] == "Cafe\u0301"
    ncr = iso2709("00000nam  2200000   4500", [("245", b"10\x1fa&#x263A;")])
    assert m.Record.parse(ncr, expand_ncr=True)["245"]["a"] == "☺"
    assert m.Record.parse(ncr)["245"]["a"] == "&#x263A;"
    with pytest.raises(m.RecordError) as e:
        m.Record.parse(b"00026nam  22000")
    assert e.value.problems[0].kind == "bad_leader"
    with pytest.raises(ValueError):
        m.Record.parse(raw, trust="nobody")  # type: ignore[arg-type]


def test_data_outside_subfields_is_reported_not_silently_lost() -> None:
    raw = iso2709("00000nam a2200000   4500", [("500", b"  lost\x1faafter")])
    r = m.Record.parse(raw)
    assert r["500"].subfields == [("a", "after")]
    assert [(p.kind, p.action, p.bytes) for p in r.problems] == [
        ("data_outside_subfield", "dropped", b"lost")
    ]


# ------------------------------------------------------------------------------------------------
# pymarc


def corpus_files() -> list[Path]:
    files = [
        *sorted((DATA / "realworld").glob("*.mrc")),
        *sorted((DATA / "realworld").glob("*.marc")),
        *sorted((DATA / "records").rglob("*.mrc")),
        *sorted((DATA / "records").rglob("*.marc")),
        *sorted((DATA / "marc4j").glob("*.mrc")),
    ]
    assert len(files) > 20
    return files


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_pymarc_round_trip_on_the_corpus(path: Path) -> None:
    pytest.importorskip("pymarc")
    n = 0
    for rec in m.MARCReader(path, jobs=1):
        pm = rec.as_pymarc()
        assert str(pm.leader) == rec.leader
        assert [f.tag for f in pm.fields] == [f.tag for f in rec]
        back = m.Record.from_pymarc(pm)
        assert back == rec
        assert back.to_bytes_report()[0] == rec.to_bytes_report()[0]
        n += 1
        if n >= 200:
            break


def test_from_pymarc_builds_what_pymarc_holds() -> None:
    pymarc = pytest.importorskip("pymarc")
    pm = pymarc.Record()
    pm.add_field(
        pymarc.Field(tag="001", data="c1"),
        pymarc.Field(
            tag="245",
            indicators=pymarc.Indicators("1", "0"),
            subfields=[pymarc.Subfield("a", "Tïtle")],
        ),
    )
    r = m.Record.from_pymarc(pm)
    assert r.control_number() == "c1" and r["245"].indicators == "10"
    assert r["245"]["a"] == "Tïtle"
    assert r.as_pymarc().as_marc() == pm.as_marc()


# ------------------------------------------------------------------------------------------------
# The property: parse then write gives back every well-formed record, in both encodings

_TAGS = ["100", "245", "260", "300", "500", "505", "650", "700", "880"]
_MARC8_TEXT = (
    "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 .,;:/-()[]'\"!?$%*+=<>@_"
    "éèüñçøßłđæœÆ"  # ANSEL
    "αβγΩ"  # Greek
    "ДЖЯжщ"  # Cyrillic
    "中文字日本"  # EACC
    "שלום"  # Hebrew
    "سلام"  # Arabic
    "₁²"  # sub/superscripts
)


def _leader(draw: st.DrawFn, utf8: bool) -> str:
    status = draw(st.sampled_from("acdnp"))
    kind = draw(st.sampled_from("acdefgijkmoprt"))
    level = draw(st.sampled_from("abcims"))
    elvl = draw(st.sampled_from(" 12345784uz"))
    desc = draw(st.sampled_from(" aciu"))
    return f"00000{status}{kind}{level} {'a' if utf8 else ' '}2200000{elvl}{desc} 4500"


@st.composite
def records(draw: st.DrawFn, utf8: bool) -> bytes:
    if utf8:
        text = st.text(
            st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x1d\x1e\x1f"),
            max_size=30,
        )
    else:
        text = st.text(st.sampled_from(_MARC8_TEXT), max_size=30)
    leader = _leader(draw, utf8)
    fields: list[tuple[str, bytes]] = [
        ("001", draw(st.text(st.sampled_from("abc0123 "), min_size=1, max_size=12)).encode())
    ]
    if draw(st.booleans()):
        fields.append(("008", b"850101s1985    nyu           000 0 eng d"))
    for _ in range(draw(st.integers(0, 6))):
        tag = draw(st.sampled_from(_TAGS))
        ind = draw(st.sampled_from([" ", "0", "1", "4"])) + draw(st.sampled_from([" ", "0", "9"]))
        body = ind.encode()
        for _ in range(draw(st.integers(0, 4))):
            code = draw(st.sampled_from("abcdefz0689"))
            value = draw(text)
            body += SD + code.encode() + (value.encode() if utf8 else m.encode(value))
        fields.append((tag, body))
    if not utf8:
        sets = [
            s
            for s in ("$1", "(N", ")Q", "(2", "(3", ")4", "(S")
            if any(b"\x1b" + s.encode() in body for _, body in fields)
        ]
        if sets:
            f066 = b"  " + b"".join(SD + b"c" + s.encode() for s in sets)
            at = next((i for i, (t, _) in enumerate(fields) if t > "066"), len(fields))
            fields.insert(at, ("066", f066))
    return iso2709(leader, fields)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(utf8=True))
def test_parse_then_write_is_the_identity_utf8(raw: bytes) -> None:
    r = m.Record.parse(raw)
    assert r.problems == []
    assert r.to_bytes("utf8") == raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(utf8=False))
def test_parse_then_write_is_the_identity_marc8(raw: bytes) -> None:
    r = m.Record.parse(raw)
    # MARC-8 bytes can happen to read as UTF-8 (ANSEL C7 B2 is "ǲ" in UTF-8): the record layer
    # then says the leader may lie, and trusts it. That is the only problem allowed.
    for p in r.problems:
        assert (p.kind, p.action) == ("mislabelled", "trusted_leader"), p
        assert _has_utf8_multibyte(raw[24:])
    assert r.to_bytes("marc8", errors="strict") == raw


def _has_utf8_multibyte(data: bytes) -> bool:
    return any(
        len(ch.encode()) > 1
        for piece in data.split(b"\x1e")
        for ch in piece.decode("utf-8", "ignore")
    )


def test_marc8_bytes_that_read_as_utf8_are_kept_as_marc8() -> None:
    """The example hypothesis found: a blank leader/09 and data that is also valid UTF-8."""
    raw = b"00059aaa  2200049   4500001000200000100000700002\x1e0\x1e  \x1fa\xc7\xb2\x1e\x1d"
    r = m.Record.parse(raw)
    assert [(p.kind, p.action) for p in r.problems] == [("mislabelled", "trusted_leader")]
    assert r.to_bytes("marc8", errors="strict") == raw
