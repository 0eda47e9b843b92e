"""Typed problems and one exception family (issue 10 item 5).

Record problem kinds are a Rust enum exported with their severity as ``marc8fast.PROBLEM_KINDS``;
every exception the package raises about data, options or files is a ``marc8fast.Marc8Error``
and still the built-in it was before.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import pytest

import marc8fast as m8
from marc8fast.flows.importer import TargetError
from marc8fast.flows.store import CatalogError, NoCatalogError

ROOT = Path(__file__).resolve().parent.parent.parent

#: Every kind the core reported as a string before the kinds became an enum: the names must not
#: change (reports, JSON and callers compare them).
KNOWN_KINDS = {
    "unknown_escape", "truncated_escape", "unmapped_byte", "truncated_multibyte",
    "mark_without_base", "malformed_ncr", "unmappable", "invalid_utf8", "control_character",
    "bad_leader", "bad_directory", "bad_base_address", "bad_terminator", "length_mismatch",
    "truncated_record", "garbage", "bad_tag", "bad_indicator", "bad_subfield_code",
    "data_outside_subfield", "delimiter_in_data", "field_too_long", "record_too_long",
    "mislabelled", "bad_066", "ncr_present", "xml_syntax", "xml_encoding",
    "xml_invalid_character", "xml_unknown_entity", "xml_unexpected_element",
    "xml_unexpected_text", "xml_missing_attribute", "xml_bad_attribute", "xml_bad_leader",
    "xml_schema_invalid", "json_syntax", "json_not_a_record", "json_bad_structure",
    "json_bad_leader", "io_error",
}  # fmt: skip


def test_every_kind_has_a_severity() -> None:
    assert set(m8.PROBLEM_KINDS) == KNOWN_KINDS
    assert set(m8.PROBLEM_KINDS.values()) <= {"info", "warning", "error"}
    assert [k for k, s in m8.PROBLEM_KINDS.items() if s == "info"] == ["ncr_present"]
    # A problem that loses or replaces data is an error.
    for kind in ("unmapped_byte", "unmappable", "invalid_utf8", "garbage", "truncated_record"):
        assert m8.PROBLEM_KINDS[kind] == "error"
    assert m8.PROBLEM_KINDS["length_mismatch"] == "warning"


def test_every_kind_the_core_names_is_exported() -> None:
    """Each identifier in the core's kind enum is in PROBLEM_KINDS (source and export agree)."""
    src = (ROOT / "rust/marc8/src/kinds.rs").read_text(encoding="utf-8")
    kinds_part = src[src.index("RecordKind {") : src.index("RecordAction {")]
    named = set(re.findall(r'= "([a-z0-9_]+)"', kinds_part))
    assert named == set(m8.PROBLEM_KINDS)


def test_the_readme_table_lists_every_kind_with_its_severity() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z0-9_]+)` \| (info|warning|error) \|", readme, re.M))
    assert rows == m8.PROBLEM_KINDS


def _sample_problems() -> list[m8.RecordProblem]:
    """Problems of several kinds from our own broken inputs."""
    problems: list[m8.RecordProblem] = []
    # A MARC-8 record with an unmapped byte and an NCR, a bad indicator, and trailing garbage.
    data = b"\x1b(Zx&#x41;"
    field = b"1\xff\x1fa" + data + b"\x1e"
    directory = b"245" + b"%04d" % len(field) + b"00000" + b"\x1e"
    base = 24 + len(directory)
    length = base + len(field) + 1
    leader = b"%05d" % length + b"nam  22" + b"%05d" % base + b"   4500"
    raw = leader + directory + field + b"\x1d"
    for broken in (b"junk" + raw, raw[:-10]):
        problems.extend(m8.read_records_report(broken)[1])
        problems.extend(m8.validate_bytes(broken).problems)
    problems.extend(m8.validate_bytes(raw).problems)
    _out, ps = m8.transcode_record(raw, to="utf8")
    problems.extend(ps)
    xml = b"<collection xmlns='http://www.loc.gov/MARC21/slim'><record><leader>x</leader>"
    stream = m8.parse_xml(xml + b"<bogus/></record></collection>")
    list(stream)
    problems.extend(stream.problems)
    return problems


def test_problems_carry_their_kind_severity_and_action() -> None:
    problems = _sample_problems()
    kinds = {p.kind for p in problems}
    assert len(kinds) >= 4, kinds
    for p in problems:
        assert p.kind in m8.PROBLEM_KINDS
        assert p.severity == m8.PROBLEM_KINDS[p.kind]
        d = p.to_dict()
        assert (d["kind"], d["action"]) == (p.kind, p.action)
        assert isinstance(p.action, str) and p.action == p.action.lower()


EXCEPTIONS = [
    m8.Marc8Error,
    m8.DecodeError,
    m8.EncodeError,
    m8.RecordError,
    m8.ArgumentError,
    m8.FileError,
    TargetError,
    CatalogError,
    NoCatalogError,
]


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda c: c.__name__)
def test_every_exception_derives_from_marc8error(cls: type[Exception]) -> None:
    assert issubclass(cls, m8.Marc8Error)


def test_the_old_bases_are_kept() -> None:
    assert issubclass(m8.DecodeError, UnicodeDecodeError)
    assert issubclass(m8.EncodeError, UnicodeEncodeError)
    assert issubclass(m8.RecordError, ValueError)
    assert issubclass(m8.ArgumentError, ValueError)
    assert issubclass(m8.FileError, OSError)
    assert issubclass(TargetError, ValueError)
    assert issubclass(CatalogError, RuntimeError)


def _raises_both(old: type[BaseException], action: object) -> BaseException:
    assert callable(action)
    with pytest.raises(m8.Marc8Error) as caught:
        action()
    assert isinstance(caught.value, old)
    return caught.value


def test_strict_decode_error() -> None:
    e = _raises_both(UnicodeDecodeError, lambda: m8.decode(b"ab\x1b(Zcd"))
    assert isinstance(e, UnicodeDecodeError)
    assert (e.encoding, e.start, e.end, e.object) == ("marc-8", 2, 5, b"ab\x1b(Zcd")
    _raises_both(UnicodeDecodeError, lambda: b"ab\x1b(Zcd".decode("marc8"))
    _raises_both(
        UnicodeDecodeError, lambda: codecs.getincrementaldecoder("marc8")().decode(b"\x1b(Z", True)
    )


def test_strict_encode_error() -> None:
    e = _raises_both(UnicodeEncodeError, lambda: m8.encode("Москва 😀"))
    assert isinstance(e, UnicodeEncodeError)
    assert (e.encoding, e.start, e.end) == ("marc-8", 7, 8)
    _raises_both(UnicodeEncodeError, lambda: "a😀".encode("marc8"))


def test_record_error() -> None:
    r = m8.Record(fields=[m8.Field("001", data="n1"), m8.Field("245", "10", [("a", "a☺b")])])
    e = _raises_both(ValueError, lambda: r.to_bytes("marc8", errors="strict"))
    assert isinstance(e, m8.RecordError)
    assert [p.kind for p in e.problems] == ["unmappable"]
    _raises_both(ValueError, lambda: m8.Record.parse(b"not a record"))


def test_bad_options() -> None:
    _raises_both(ValueError, lambda: m8.decode(b"x", normalize="NFKC"))  # type: ignore[arg-type]
    _raises_both(ValueError, lambda: m8.decode(b"x", errors="ignore"))  # type: ignore[arg-type]
    _raises_both(ValueError, lambda: m8.encode("x", errors="replace"))  # type: ignore[arg-type]


def test_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.mrc"
    _raises_both(OSError, lambda: m8.validate_file(str(missing)))
