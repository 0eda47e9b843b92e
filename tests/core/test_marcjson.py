"""MARC-in-JSON (issue 10, item 4) and ``marc8fast convert --format / --from-format``.

pymarc's ``JSONReader`` reads what we write (an array of records, and a single object) and gets
the same fields as our MARCXML of the same records; we read what pymarc's ``JSONWriter`` and
``Record.as_json()`` write. The command line converts between the three formats, detecting the
input format, atomically.
"""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from test_marcxml import REALWORLD, ids, parse_marcxml, pymarc_fields

import marc8fast
from marc8fast.cli import main

DATA = Path(__file__).parent.parent / "data"
UVA = DATA / "realworld" / "uva_001_2000.mrc"


def convert(data: bytes, fmt: str, **kw: object) -> tuple[bytes, str, marc8fast.Report]:
    return marc8fast.convert_records(data, format=fmt, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", REALWORLD, ids=ids(REALWORLD))
def test_pymarc_json_reader_reads_our_json(path: Path) -> None:
    pymarc = pytest.importorskip("pymarc")
    raw = path.read_bytes()
    js, _, report = convert(raw, "json")
    xml, _, _ = convert(raw, "marcxml")
    assert {p.kind for p in report.problems} <= {
        "unmapped_byte",
        "truncated_multibyte",
        "mislabelled",
        "bad_leader",
        "length_mismatch",
        "data_outside_subfield",
        "control_character",
    }, report.counts_by_kind()
    theirs = list(pymarc.JSONReader(js.decode("utf-8")))
    ours = parse_marcxml(xml)
    assert len(theirs) == len(ours) == report.records_written
    for a, b in zip(ours, theirs, strict=True):
        assert str(b.leader) == a.leader
        assert pymarc_fields(b) == a.fields
    # Our JSON reads back to the same MARCXML.
    again, fmt, _ = convert(js, "marcxml")
    assert fmt == "json"
    assert again == xml


def test_the_layout_is_pymarcs() -> None:
    pymarc = pytest.importorskip("pymarc")
    js, _, _ = convert(UVA.read_bytes(), "json")
    doc = json.loads(js)
    assert isinstance(doc, list)
    first = doc[0]
    assert set(first) == {"leader", "fields"}
    assert first["fields"][0] == {"001": "u1"}
    # pymarc's own as_dict() of the same record, read from our UTF-8 ISO 2709.
    iso, _, _ = convert(UVA.read_bytes(), "iso2709")
    rec = next(iter(pymarc.MARCReader(iso, to_unicode=True, force_utf8=True)))
    assert json.loads(rec.as_json()) == first


def test_a_single_object_reads_in_both() -> None:
    pymarc = pytest.importorskip("pymarc")
    js, _, _ = convert(UVA.read_bytes(), "json")
    one = json.dumps(json.loads(js)[5]).encode()
    xml, fmt, report = convert(one, "marcxml")
    assert (fmt, report.records_written, report.problem_count()) == ("json", 1, 0)
    (theirs,) = list(pymarc.JSONReader(one.decode()))
    assert pymarc_fields(theirs) == parse_marcxml(xml)[0].fields


def test_reads_pymarcs_json_writer_and_as_json() -> None:
    pymarc = pytest.importorskip("pymarc")
    iso, _, _ = convert(UVA.read_bytes(), "iso2709")
    records = list(pymarc.MARCReader(iso, to_unicode=True, force_utf8=True))[:300]
    buf = io.StringIO()
    writer = pymarc.JSONWriter(buf)
    for r in records:
        writer.write(r)
    writer.close(close_fh=False)
    for doc in (buf.getvalue(), "\n".join(r.as_json() for r in records)):
        xml, fmt, report = convert(doc.encode(), "marcxml")
        assert fmt == "json"
        # Two indicators 'L' (record 192, 949): outside MARC21slim, kept and said.
        assert report.counts_by_kind() == {"xml_schema_invalid": 2}
        assert [r.fields for r in parse_marcxml(xml)] == [pymarc_fields(r) for r in records]


def test_bad_json_is_reported_positioned() -> None:
    doc = (
        b'[{"leader": "00000nam a2200000   4500", "fields": [{"001": "j1"}, '
        b'{"245": {"ind1": "1", "subfields": [{"a": "x"}, {"b": 7}]}}]}, 12, {"leader": '
    )
    iso, _, report = convert(doc, "iso2709")
    got = [(p.record, p.kind, p.action, p.tag, p.subfield) for p in report.problems]
    assert got == [
        (1, "json_bad_structure", "replaced", "245", None),
        (1, "json_bad_structure", "recovered", "245", "b"),
        (2, "json_not_a_record", "skipped", None, None),
        (3, "json_syntax", "rejected", None, None),
    ]
    assert report.problems[0].control_number == "j1"
    assert report.records_written == 1
    xml, _, _ = convert(iso, "marcxml")
    assert parse_marcxml(xml)[0].fields[1] == ("245", "1 ", [("a", "x"), ("b", "7")])


# ------------------------------------------------------------------------------------------------
# The command line


def test_cli_converts_between_the_formats(tmp_path: Path) -> None:
    src = DATA / "realworld" / "hebrew.marc"
    xml, js, iso = tmp_path / "h.xml", tmp_path / "h.json", tmp_path / "h.mrc"
    # 1: hebrew.marc has one unmapped byte (reported, the output still written).
    assert main(["convert", str(src), str(xml), "--to", "utf8", "--format", "marcxml", "-q"]) == 1
    assert main(["convert", str(xml), str(js), "--to", "utf8", "--format", "json", "-q"]) == 0
    assert main(["convert", str(js), str(iso), "--to", "utf8", "-q"]) == 0
    back = tmp_path / "back.xml"
    assert main(["convert", str(iso), str(back), "--to", "utf8", "--format", "marcxml", "-q"]) == 0
    assert back.read_bytes() == xml.read_bytes()
    assert len(parse_marcxml(xml.read_bytes())) == 20
    # Output mode follows the umask, like every other output (not mkstemp's 0600).
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(xml.stat().st_mode) == 0o666 & ~umask
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_from_format_and_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xml = tmp_path / "in.xml"
    xml.write_bytes(convert(UVA.read_bytes()[:5000], "marcxml")[0])
    out = tmp_path / "out.json"
    # Told it is ISO 2709, the XML is garbage to the splitter: reported, exit 1.
    rc = main(["convert", str(xml), str(out), "--to", "utf8", "--format", "json"])
    rc2 = main(
        [
            "convert",
            str(xml),
            str(out),
            "--to",
            "utf8",
            "--format",
            "json",
            "--from-format",
            "iso2709",
        ]
    )
    assert (rc, rc2) == (0, 1)
    assert "garbage" in capsys.readouterr().err
    assert main(["convert", str(xml), str(out), "--to", "marc8", "--format", "marcxml"]) == 2
    assert "always UTF-8" in capsys.readouterr().err
    assert main(["convert", str(xml), str(xml), "--to", "utf8", "--format", "json"]) == 2
    # A broken document: what could be read is written, the rest reported, exit 1.
    bad = tmp_path / "bad.xml"
    bad.write_bytes(xml.read_bytes()[:-200])
    assert main(["convert", str(bad), str(out), "--to", "utf8", "--format", "json", "-q"]) == 1
    assert json.loads(out.read_text())[0]["fields"][0] == {"001": "u1"}


# ------------------------------------------------------------------------------------------------
# Record.as_marcxml / as_json, parse_xml / read_json, MARCWriter(format=...)


def test_record_methods_and_readers_round_trip(tmp_path: Path) -> None:
    pymarc = pytest.importorskip("pymarc")
    records = list(marc8fast.MARCReader(str(DATA / "realworld" / "hebrew.marc")))
    assert len(records) == 20
    xml_path, json_path = tmp_path / "h.xml", tmp_path / "h.json"
    for path, fmt in ((xml_path, "marcxml"), (json_path, "json")):
        with marc8fast.MARCWriter(path, format=fmt) as w:
            for r in records:
                assert w.write(r)
    # What the writer wrote is what convert writes.
    iso = (DATA / "realworld" / "hebrew.marc").read_bytes()
    assert xml_path.read_bytes() == convert(iso, "marcxml")[0]
    assert json_path.read_bytes() == convert(iso, "json")[0]
    from_xml = list(marc8fast.parse_xml(str(xml_path)))
    from_json = list(marc8fast.read_json(json_path.read_bytes()))
    with open(json_path, "rb") as fh:
        from_file = list(marc8fast.read_json(fh))
    expected = [r.to_bytes() for r in records]
    assert [r.to_bytes() for r in from_xml] == expected
    assert [r.to_bytes() for r in from_json] == expected
    assert [r.to_bytes() for r in from_file] == expected
    for r in records[:5]:
        (one,) = list(marc8fast.parse_xml(r.as_marcxml().encode()))
        assert one.to_bytes() == r.to_bytes()
        (pm,) = pymarc.parse_xml_to_array(io.BytesIO(r.as_marcxml().encode()))
        assert pm.as_dict() == json.loads(r.as_json())
        (pj,) = list(pymarc.JSONReader(r.as_json()))
        assert pj.as_dict() == json.loads(r.as_json())
    with pytest.raises(ValueError, match="always Unicode"):
        marc8fast.MARCWriter(tmp_path / "x.xml", format="marcxml", encoding="marc8")


def test_as_marcxml_report_and_stream_problems() -> None:
    rec = marc8fast.Record(
        "00000nam a2200000   4500",
        [marc8fast.Field("245", "10", [("a", "bell \x07 here")])],
    )
    xml, problems = rec.as_marcxml_report()
    assert [(p.kind, p.tag, p.subfield, p.offset) for p in problems] == [
        ("xml_invalid_character", "245", "a", 5)
    ]
    assert rec.as_marcxml() == xml
    assert "bell \ufffd here" in xml
    stream = marc8fast.parse_xml(xml.encode() + b"<junk")
    got = list(stream)
    assert len(got) == 1 and stream.records_read == 1
    assert [p.kind for p in stream.problems] == ["xml_syntax"]
    assert json.loads(rec.as_json())["fields"][0]["245"]["subfields"] == [{"a": "bell \x07 here"}]
