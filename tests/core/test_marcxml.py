"""MARCXML (issue 10, item 4): schema validity, yaz, round trips, pymarc.

* Every document we write is checked with ``xmllint --noout --schema MARC21slim.xsd`` (the schema
  is in ``tests/data/marcxml/``, with its source). MARCXML cannot express everything real records
  hold (an indicator ``#``, a subfield code `` ``, a control field after a data field, a data
  field without subfields); such values are written as they are and reported as
  ``xml_schema_invalid``. The test checks that xmllint flags exactly the records we reported, and
  that a document without such a report validates.
* On every real-world file, our MARCXML and ``yaz-marcdump -i marc -o marcxml`` (``-f MARC-8 -t
  UTF-8`` when the file holds MARC-8 records) carry the same fields, indicators, subfields and
  text, compared parsed. Known differences: yaz keeps field 066 (the MARC-8 character sets
  present), which we drop in Unicode output as the UTF-8 ISO 2709 writer does; and, each allowed
  only where we reported a problem at that very place (record, tag, occurrence, subfield), yaz
  drops bytes it cannot convert (we write U+FFFD and report); yaz keeps the leader's lengths and
  the structural positions 10-11 and 20-23 as read, while we write the lengths of the UTF-8 form
  and repair 10-11 and 20-23 as the ISO 2709 writer does (reported as ``bad_leader``).
* MARCXML -> ISO 2709 -> MARCXML gives the same document.
* pymarc's ``parse_xml_to_array`` reads what we write and gets the same fields.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import marc8fast

DATA = Path(__file__).parent.parent / "data"
XSD = DATA / "marcxml" / "MARC21slim.xsd"
NS = "{http://www.loc.gov/MARC21/slim}"

# Real catalogue records (tests/data/realworld, provenance in its README) and the UTF-8 files of
# tests/data/encoder.
REALWORLD = sorted(
    p
    for p in [*(DATA / "realworld").rglob("*"), *(DATA / "encoder").rglob("*")]
    if p.suffix in (".mrc", ".marc")
    # The directory counts characters, not bytes: no record structure to compare
    # (test_corpus_realworld.BROKEN_FILES).
    and p.name != "lesabndioeinas00sche_meta.mrc"
)
# Every ISO 2709 file of the test data, edge cases and broken records included.
EVERY_FILE = sorted(p for p in DATA.rglob("*") if p.suffix in (".mrc", ".marc"))


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(DATA)) for p in paths]


def tool(name: str, package: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        msg = f"{name} not found (apt-get install -y {package})"
        if os.environ.get("CI"):
            pytest.fail(msg + ": required in CI")
        pytest.skip(msg)
    return exe


# ------------------------------------------------------------------------------------------------
# Helpers


@dataclass
class Rec:
    leader: str
    # (tag, indicators or None for a control field, text or [(code, text), ...])
    fields: list[tuple[str, str | None, object]]


def parse_marcxml(doc: bytes) -> list[Rec]:
    """An independent MARCXML reader (ElementTree)."""
    out = []
    for _, elem in ET.iterparse(io.BytesIO(doc)):
        if elem.tag != NS + "record":
            continue
        leader = ""
        fields: list[tuple[str, str | None, object]] = []
        for f in elem:
            if f.tag == NS + "leader":
                leader = f.text or ""
            elif f.tag == NS + "controlfield":
                fields.append((f.get("tag", ""), None, f.text or ""))
            elif f.tag == NS + "datafield":
                subs = [(s.get("code", ""), s.text or "") for s in f]
                fields.append((f.get("tag", ""), f.get("ind1", "") + f.get("ind2", ""), subs))
        out.append(Rec(leader, fields))
        elem.clear()
    return out


def to_xml(data: bytes, **kw: object) -> tuple[bytes, marc8fast.Report]:
    out, _, report = marc8fast.convert_records(data, format="marcxml", **kw)  # type: ignore[arg-type]
    return out, report


def xmllint_flagged(doc: bytes, tmp_path: Path) -> tuple[int, set[int]]:
    """xmllint's exit status and the records (0-based) it found invalid."""
    exe = tool("xmllint", "libxml2-utils")
    path = tmp_path / "doc.xml"
    path.write_bytes(doc)
    run = subprocess.run(
        [exe, "--noout", "--schema", str(XSD), str(path)], capture_output=True, text=True
    )
    starts = [i + 1 for i, line in enumerate(doc.split(b"\n")) if line.startswith(b"<record")]
    flagged = set()
    for m in re.finditer(r"^.*?:(\d+): .*validity error", run.stderr, re.M):
        line = int(m.group(1))
        flagged.add(sum(1 for s in starts if s <= line) - 1)
    assert "parser error" not in run.stderr, run.stderr[:2000]
    return run.returncode, flagged


def occurrences(fields: list[tuple[str, str | None, object]]) -> Iterator[tuple[int, int]]:
    """(field index, occurrence of its tag from 1)."""
    seen: dict[str, int] = {}
    for i, (tag, _, _) in enumerate(fields):
        seen[tag] = seen.get(tag, 0) + 1
        yield i, seen[tag]


# ------------------------------------------------------------------------------------------------
# Schema validity


@pytest.mark.parametrize("path", EVERY_FILE, ids=ids(EVERY_FILE))
def test_every_document_validates_or_says_why(path: Path, tmp_path: Path) -> None:
    xml, _ = to_xml(path.read_bytes())
    # Reading our document back and writing it again gives the same document, with the schema
    # problems numbered by the record's place in it.
    again, report = to_xml(xml, from_format="marcxml")
    assert again == xml
    reported = {p.record - 1 for p in report.problems if p.kind == "xml_schema_invalid"}
    assert {p.kind for p in report.problems} <= {"xml_schema_invalid"}, report.counts_by_kind()
    rc, flagged = xmllint_flagged(xml, tmp_path)
    assert flagged == reported
    assert (rc == 0) == (not reported)


def test_single_records_and_empty_collections_validate(tmp_path: Path) -> None:
    _, _, report = marc8fast.convert_records(b"", format="marcxml")
    empty, _, _ = marc8fast.convert_records(b"", format="marcxml")
    assert xmllint_flagged(empty, tmp_path) == (0, set())
    assert report.records_read == 0
    doc = (
        b'<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000   4500</leader>'
        b'<datafield tag="245" ind1="0" ind2="0"><subfield code="a">x</subfield></datafield>'
        b"</record>"
    )
    out, _ = to_xml(doc)
    assert xmllint_flagged(out, tmp_path) == (0, set())


def test_characters_xml_cannot_carry_are_replaced_and_reported(tmp_path: Path) -> None:
    # A UTF-8 record with ESC and U+0001 in a subfield (both legal in ISO 2709, not in XML 1.0).
    doc = (
        b'[{"leader": "00000nam a2200000   4500", "fields": [{"001": "c1"}, '
        b'{"245": {"ind1": "0", "ind2": "0", "subfields": [{"a": "a\\u001b(Bb\\u0001c"}]}}]}]'
    )
    xml, report = to_xml(doc)
    problems = report.problems
    assert [(p.kind, p.tag, p.occurrence, p.subfield, p.offset, p.action) for p in problems] == [
        ("xml_invalid_character", "245", 1, "a", 1, "replaced"),
        ("xml_invalid_character", "245", 1, "a", 5, "replaced"),
    ]
    assert problems[0].control_number == "c1"
    assert parse_marcxml(xml)[0].fields[1][2] == [("a", "a\ufffd(Bb\ufffdc")]
    assert xmllint_flagged(xml, tmp_path) == (0, set())


# ------------------------------------------------------------------------------------------------
# yaz


def yaz_marcxml(path: Path) -> bytes:
    exe = tool("yaz-marcdump", "yaz")
    marc8 = any(raw[9:10] == b" " for _, _, raw in marc8fast.read_records(path.read_bytes()))
    charset = ["-f", "MARC-8", "-t", "UTF-8"] if marc8 else []
    run = subprocess.run(
        [exe, "-i", "marc", "-o", "marcxml", *charset, str(path)], capture_output=True, check=True
    )
    return run.stdout


def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


@pytest.mark.parametrize("path", REALWORLD, ids=ids(REALWORLD))
def test_same_fields_as_yaz(path: Path) -> None:
    xml, report = to_xml(path.read_bytes())
    ours, theirs = parse_marcxml(xml), parse_marcxml(yaz_marcxml(path))
    # yaz keeps 066 (the MARC-8 character sets); we drop it in Unicode output, as UTF-8 ISO 2709.
    assert not any(t == "066" for r in ours for t, _, _ in r.fields)
    for r in theirs:
        r.fields = [f for f in r.fields if f[0] != "066"]
    assert len(ours) == len(theirs) == report.records_written
    # Where we reported a problem: (record index, tag, occurrence, subfield or None).
    at = {(p.record - 1, p.tag, p.occurrence, p.subfield) for p in report.problems}
    bad_leader = {p.record - 1 for p in report.problems if p.kind == "bad_leader"}
    # UTF-8 data under a MARC-8 leader/09, decoded as MARC-8 (trust="leader") by both: decoding
    # it is meaningless, so only the structure is compared (test_corpus_realworld.MISLABELLED).
    mislabelled = {p.record - 1 for p in report.problems if p.kind == "mislabelled"}
    explained = 0
    for n, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        # Lengths (00-04, 12-16) are those of the UTF-8 form; 09 is 'a' for both.
        keep = [*range(5, 12), *range(17, 24)]
        if n in bad_leader:
            keep = [*range(5, 10), *range(17, 20)]
        assert [a.leader[i] for i in keep] == [b.leader[i] for i in keep], (n, a.leader, b.leader)
        assert [(t, i) for t, i, _ in a.fields] == [(t, i) for t, i, _ in b.fields], n
        for (_, occ), fa, fb in zip(occurrences(a.fields), a.fields, b.fields, strict=True):
            tag = fa[0]
            if fa[1] is None:
                pairs = [(None, fa[2], fb[2])]
            else:
                sa, sb = fa[2], fb[2]
                assert isinstance(sa, list) and isinstance(sb, list)
                assert [c for c, _ in sa] == [c for c, _ in sb], (n, tag)
                pairs = [(c, x, y) for (c, x), (_, y) in zip(sa, sb, strict=True)]
            for code, x, y in pairs:
                assert isinstance(x, str) and isinstance(y, str)
                if nfd(x) == nfd(y) or n in mislabelled:
                    continue
                # yaz drops what it cannot convert; we wrote U+FFFD and reported it there.
                assert (n, tag, occ, code) in at, (n, tag, occ, code, x, y)
                assert "\ufffd" in x, (x, y)
                explained += 1
    # The differences are exactly those of test_corpus_realworld (yaz_dropped_bad_bytes).
    expected = {"hebrew.marc": 1, "u2103_raw.mrc": 2}
    assert explained == expected.get(path.name, 0)
    assert len(mislabelled) == (5 if path.name == "nonlatinscripts.mrc" else 0)


# ------------------------------------------------------------------------------------------------
# Round trips and pymarc


@pytest.mark.parametrize("path", REALWORLD, ids=ids(REALWORLD))
def test_marcxml_iso2709_marcxml_round_trip(path: Path) -> None:
    xml, _ = to_xml(path.read_bytes())
    iso, fmt, report = marc8fast.convert_records(xml, format="iso2709")
    assert fmt == "marcxml"
    assert report.records_rejected == 0
    assert report.records_written == report.records_read
    back, fmt2, _ = marc8fast.convert_records(iso, format="marcxml")
    assert fmt2 == "iso2709"
    assert back == xml


def pymarc_fields(rec: object) -> list[tuple[str, str | None, object]]:
    out: list[tuple[str, str | None, object]] = []
    for f in rec.fields:  # type: ignore[attr-defined]
        if f.is_control_field():
            out.append((f.tag, None, f.data))
        else:
            subs = [(s.code, s.value) for s in f.subfields]
            out.append((f.tag, f.indicator1 + f.indicator2, subs))
    return out


@pytest.mark.parametrize("path", REALWORLD, ids=ids(REALWORLD))
def test_pymarc_reads_our_marcxml(path: Path) -> None:
    pymarc = pytest.importorskip("pymarc")
    xml, _ = to_xml(path.read_bytes())
    ours = parse_marcxml(xml)
    theirs = pymarc.parse_xml_to_array(io.BytesIO(xml))
    assert len(theirs) == len(ours)
    for a, b in zip(ours, theirs, strict=True):
        assert str(b.leader) == a.leader
        assert pymarc_fields(b) == a.fields


def test_reads_pymarcs_marcxml() -> None:
    pymarc = pytest.importorskip("pymarc")
    path = DATA / "realworld" / "uva_001_2000.mrc"
    utf8, _, _ = marc8fast.convert_records(path.read_bytes(), format="iso2709")
    records = list(pymarc.MARCReader(utf8, to_unicode=True, force_utf8=True))
    buf = io.BytesIO()
    writer = pymarc.XMLWriter(buf)
    for r in records:
        writer.write(r)
    writer.close(close_fh=False)
    xml, fmt, report = marc8fast.convert_records(buf.getvalue(), format="marcxml")
    assert fmt == "marcxml"
    assert report.problem_count() == sum(
        1 for p in report.problems if p.kind == "xml_schema_invalid"
    )
    ours = parse_marcxml(xml)
    assert [r.fields for r in ours] == [pymarc_fields(r) for r in records]


# ------------------------------------------------------------------------------------------------
# Reading bad MARCXML


def test_bad_structure_is_reported_positioned() -> None:
    doc = (
        b"<marc:collection xmlns:marc='http://www.loc.gov/MARC21/slim'>"
        b"<marc:record><marc:leader>00000nam a2200000   4500</marc:leader>"
        b"<marc:controlfield tag='001'>id1</marc:controlfield>"
        b"<marc:datafield tag='245' ind1='1'><marc:subfield code='a'>T&amp;C</marc:subfield>"
        b"<marc:note>x</marc:note></marc:datafield></marc:record>"
        b"<marc:record><marc:leader>00000nam a2200000   4500</marc:leader>"
        b"<marc:datafield tag='245' ind1='0' ind2='0'><marc:subfield code='a'>cut"
    )
    iso, _, report = marc8fast.convert_records(doc, format="iso2709")
    got = [(p.record, p.kind, p.action, p.tag, p.occurrence) for p in report.problems]
    assert got == [
        (1, "xml_missing_attribute", "replaced", "245", 1),
        (1, "xml_unexpected_element", "skipped", "245", 1),
        (2, "xml_syntax", "rejected", None, None),
    ]
    assert report.problems[0].control_number == "id1"
    assert (report.records_read, report.records_written, report.records_rejected) == (2, 1, 1)
    rec = parse_marcxml(to_xml(iso)[0])[0]
    assert rec.fields == [("001", None, "id1"), ("245", "1 ", [("a", "T&C")])]
