//! MARCXML (LC's MARC 21 XML schema, `MARC21slim.xsd`): writing and streaming reading of
//! [`Record`]s.
//!
//! # Writing
//!
//! [`COLLECTION_START`], then [`write_record`] once per record, then [`COLLECTION_END`] make a
//! `<collection xmlns="http://www.loc.gov/MARC21/slim">` document one record at a time;
//! [`record_document`] makes a document of one namespaced `<record>`. The leader is written with
//! position 09 set to `a` (the text is Unicode) and its lengths (00–04, 12–16) recomputed as the
//! UTF-8 ISO 2709 form of the record would have them (yaz keeps the lengths of the record it
//! read; a document whose leader describes another encoding's bytes helps nobody). A length over
//! 99,999 cannot be written in five digits: those positions are left as the model has them.
//!
//! The output is always well-formed XML 1.0. Characters XML 1.0 cannot carry (C0 controls other
//! than TAB, LF and CR; U+FFFE; U+FFFF) are written as U+FFFD and reported as
//! `xml_invalid_character` (action `replaced`), with the tag, occurrence, subfield code and
//! character offset. CR is written as `&#13;` and, in attributes, TAB and LF as `&#9;` / `&#10;`,
//! so that a parser's end-of-line and attribute normalization gives back exactly the text
//! written. Leader bytes that are not printable ASCII are written as a space (`bad_leader`,
//! `replaced`).
//!
//! Values the schema does not allow but XML can carry (an indicator `#` or `L`, a subfield code
//! ` `, a data field without subfields, a control field after a data field, a leader outside the
//! schema's pattern) are written as they are — nothing is changed to please the schema — and
//! reported as `xml_schema_invalid` (action `kept`): a document validates against
//! `MARC21slim.xsd` exactly when no such problem was reported.
//!
//! # Reading
//!
//! [`XmlReader`] streams over a document and yields one [`ReadRecord`] per `<record>`, holding
//! only that record in memory. It accepts a `<collection>` or a lone `<record>`, with the MARC
//! namespace as default, with a prefix (`marc:record`), or with no namespace at all; elements of
//! other namespaces around records (an OAI-PMH envelope, say) are looked through. Entities and
//! numeric character references are decoded; end-of-line and attribute-value normalization follow
//! XML 1.0. Only UTF-8 documents are read.
//!
//! Bad structure is reported positioned (record number and byte offset of its `<record>`, tag,
//! occurrence, subfield, and the byte offset of the element in the message), never by a panic:
//! `xml_unexpected_element` / `xml_unexpected_text` (skipped), `xml_missing_attribute` (a field
//! without `tag` or a subfield without `code` is skipped; a missing indicator becomes a space),
//! `xml_bad_attribute` (an indicator or code of the wrong length: its first character is kept or
//! a space used), `xml_bad_leader` (padded, cut or replaced to 24 ASCII characters),
//! `xml_unknown_entity` (kept as text), `invalid_utf8` (replaced). A document that is not
//! well-formed XML ends the stream with `xml_syntax` (action `stopped`); a record it cut short is
//! not returned (action `rejected`).

use crate::kinds::{RecordAction, RecordKind};
use std::borrow::Cow;
use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use crate::model::{Field, FieldData, Record, Subfield};
use crate::record::RecordProblem;
use crate::writer::RecordSink;

/// The MARCXML namespace.
pub const NAMESPACE: &str = "http://www.loc.gov/MARC21/slim";

/// What comes before the first record of a collection document.
pub const COLLECTION_START: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<collection xmlns=\"http://www.loc.gov/MARC21/slim\">\n";

/// What comes after the last record of a collection document.
pub const COLLECTION_END: &str = "</collection>\n";

/// What a reader or writer reports when it replaced an XML-invalid character.
const REPLACEMENT: char = '\u{FFFD}';

// ------------------------------------------------------------------------------------------------
// Problems

/// A problem about a record, positioned by tag / occurrence / subfield.
pub(crate) struct At<'a> {
    pub number: usize,
    pub offset: u64,
    pub control_number: Option<String>,
    pub tag: Option<&'a str>,
    pub occurrence: Option<usize>,
    pub subfield: Option<char>,
}

impl At<'_> {
    pub(crate) fn problem(
        &self,
        kind: RecordKind,
        action: RecordAction,
        message: String,
        bytes: &[u8],
    ) -> RecordProblem {
        RecordProblem {
            record: self.number,
            record_offset: self.offset,
            control_number: self.control_number.clone(),
            tag: self.tag.map(str::to_owned),
            occurrence: self.occurrence,
            subfield: self.subfield,
            offset: None,
            field_offset: None,
            kind,
            bytes: bytes[..bytes.len().min(64)].to_vec(),
            action,
            message,
        }
    }
}

/// The record's 001, trimmed, if it has one.
pub(crate) fn control_number<'a>(fields: impl IntoIterator<Item = &'a Field>) -> Option<String> {
    fields.into_iter().find_map(|f| match &f.data {
        FieldData::Control(s) if f.tag == "001" => Some(s.trim().to_owned()),
        _ => None,
    })
}

/// Which occurrence of its tag the field at `index` is (from 1).
pub(crate) fn occurrence(fields: &[&Field], index: usize) -> usize {
    let tag = &fields[index].tag;
    fields[..index].iter().filter(|f| &f.tag == tag).count() + 1
}

// ------------------------------------------------------------------------------------------------
// The leader

/// Whether a field is written in a Unicode serialization: all but 066 (character sets present),
/// which only describes MARC-8 and is dropped going to UTF-8, as the ISO 2709 writer does.
pub(crate) fn written(f: &Field) -> bool {
    f.tag != "066"
}

/// The lengths the record would have as UTF-8 ISO 2709: (record length, base address).
#[cfg(test)]
pub(crate) fn utf8_lengths(rec: &Record) -> (usize, usize) {
    lengths(&rec.fields.iter().collect::<Vec<_>>())
}

/// [`utf8_lengths`] of a leader's fields.
pub(crate) fn lengths(fields: &[&Field]) -> (usize, usize) {
    let written = || fields.iter().copied().filter(|f| written(f));
    let base = 24 + 12 * written().count() + 1;
    let data: usize = written()
        .map(|f| match &f.data {
            FieldData::Control(s) => s.len() + 1,
            FieldData::Data { subfields, .. } => {
                2 + subfields
                    .iter()
                    .map(|s| 1 + s.code.len_utf8() + s.value.len())
                    .sum::<usize>()
                    + 1
            }
        })
        .sum();
    (base + data + 1, base)
}

fn put_num(leader: &mut [u8; 24], at: usize, n: usize) {
    if n > 99_999 {
        return;
    }
    let mut n = n;
    for i in (at..at + 5).rev() {
        leader[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The leader as MARCXML and MARC-in-JSON write it: lengths of the UTF-8 form, 09 = `a`, and,
/// as the ISO 2709 writer does, MARC 21's fixed values at 10-11 (`22`) and 20-23 (`4500`) and a
/// space for any byte that is not printable ASCII (reported as `bad_leader`, `recovered`).
pub(crate) fn output_leader(
    given: &[u8; 24],
    fields: &[&Field],
    at: &At<'_>,
    problems: &mut Vec<RecordProblem>,
) -> String {
    let mut leader = *given;
    let (total, base) = lengths(fields);
    put_num(&mut leader, 0, total);
    put_num(&mut leader, 12, base);
    leader[9] = b'a';
    let mut changed = Vec::new();
    for (i, b) in leader.iter_mut().enumerate() {
        let want = match i {
            0..=4 | 12..=16 if b.is_ascii_digit() => continue,
            10 | 11 => b'2',
            20 => b'4',
            21 => b'5',
            22 | 23 => b'0',
            _ if (0x20..0x7F).contains(b) => continue,
            _ => b' ',
        };
        if *b != want {
            changed.push(i);
            *b = want;
        }
    }
    if !changed.is_empty() {
        problems.push(at.problem(
            RecordKind::BadLeader,
            RecordAction::Recovered,
            format!(
                "leader positions {changed:?} held {:?}; written as MARC 21 requires ({:?})",
                changed
                    .iter()
                    .map(|&i| char::from(given[i]))
                    .collect::<String>(),
                changed
                    .iter()
                    .map(|&i| char::from(leader[i]))
                    .collect::<String>(),
            ),
            given,
        ));
    }
    leader.iter().map(|&b| char::from(b)).collect()
}

/// Whether a leader matches the schema's pattern
/// `[\d ]{5}[\dA-Za-z ]{1}[\dA-Za-z]{1}[\dA-Za-z ]{3}(2| )(2| )[\d ]{5}[\dA-Za-z ]{3}(4500|    )`.
fn leader_in_schema(l: &[u8]) -> bool {
    let digit_or_space = |b: u8| b.is_ascii_digit() || b == b' ';
    let alnum_or_space = |b: u8| b.is_ascii_alphanumeric() || b == b' ';
    l.len() == 24
        && l[0..5].iter().all(|&b| digit_or_space(b))
        && alnum_or_space(l[5])
        && l[6].is_ascii_alphanumeric()
        && l[7..10].iter().all(|&b| alnum_or_space(b))
        && matches!(l[10], b'2' | b' ')
        && matches!(l[11], b'2' | b' ')
        && l[12..17].iter().all(|&b| digit_or_space(b))
        && l[17..20].iter().all(|&b| alnum_or_space(b))
        && (&l[20..24] == b"4500" || &l[20..24] == b"    ")
}

fn control_tag_in_schema(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 3 && b[0] == b'0' && b[1] == b'0' && b[2].is_ascii_alphanumeric() && b[2] != b'0'
}

fn data_tag_in_schema(t: &str) -> bool {
    let b = t.as_bytes();
    if b.len() != 3 {
        return false;
    }
    let upper = |c: u8| c.is_ascii_digit() || c.is_ascii_uppercase();
    let lower = |c: u8| c.is_ascii_digit() || c.is_ascii_lowercase();
    let lead = |c: u8| c != b'0' && (c.is_ascii_alphanumeric());
    if b[0] == b'0' {
        lead(b[1]) && ((upper(b[1]) && upper(b[2])) || (lower(b[1]) && lower(b[2])))
    } else {
        lead(b[0])
            && ((upper(b[0]) && upper(b[1]) && upper(b[2]))
                || (lower(b[0]) && lower(b[1]) && lower(b[2])))
    }
}

fn indicator_in_schema(c: char) -> bool {
    c.is_ascii_digit() || c.is_ascii_lowercase() || c == ' '
}

fn code_in_schema(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!\"#$%&'()*+,-./:;<=>?{}_^`~[]\\".contains(c)
}

// ------------------------------------------------------------------------------------------------
// Writing

/// Whether XML 1.0 can carry the character at all.
#[must_use]
pub fn is_xml_char(c: char) -> bool {
    !matches!(c, '\0'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Appends `s` escaped for element content (`attr = false`) or a double-quoted attribute
/// (`attr = true`). Characters XML cannot carry are written as U+FFFD and reported. Returns how
/// many bytes longer the text became in UTF-8 (a one-byte control replaced by U+FFFD: two).
fn escape_into(
    out: &mut String,
    s: &str,
    attr: bool,
    at: &At<'_>,
    problems: &mut Vec<RecordProblem>,
) -> usize {
    let mut grew = 0;
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let esc: Option<&str> = match b {
            b'&' => Some("&amp;"),
            b'<' => Some("&lt;"),
            b'>' => Some("&gt;"),
            b'"' if attr => Some("&quot;"),
            b'\r' => Some("&#13;"),
            b'\n' if attr => Some("&#10;"),
            b'\t' if attr => Some("&#9;"),
            b'\t' | b'\n' => None,
            0..=0x1F => Some(""),
            0xEF if bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) =>
            {
                Some("")
            }
            _ => None,
        };
        let Some(esc) = esc else {
            i += 1;
            continue;
        };
        out.push_str(&s[run..i]);
        if esc.is_empty() {
            // A character XML 1.0 cannot carry.
            let c = s[i..].chars().next().unwrap_or(REPLACEMENT);
            let mut p = at.problem(
                RecordKind::XmlInvalidCharacter,
                RecordAction::Replaced,
                format!(
                    "U+{:04X} cannot be written in XML 1.0; written as U+FFFD",
                    u32::from(c)
                ),
                c.encode_utf8(&mut [0; 4]).as_bytes(),
            );
            p.offset = Some(s[..i].chars().count());
            problems.push(p);
            out.push(REPLACEMENT);
            grew += REPLACEMENT.len_utf8() - c.len_utf8();
            i += c.len_utf8();
        } else {
            out.push_str(esc);
            i += 1;
        }
        run = i;
    }
    out.push_str(&s[run..]);
    grew
}

/// Appends one `<record>` element (and a newline) to `out`. `number` is the record's number in
/// the output (from 1), used in problems; `xmlns` puts the namespace on the element (for a
/// document of one record). Problems are appended to `problems`.
pub fn write_record(
    rec: &Record,
    out: &mut String,
    number: usize,
    xmlns: bool,
    problems: &mut Vec<RecordProblem>,
) {
    let fields: Vec<&Field> = rec.fields.iter().collect();
    write_parts(&rec.leader, &fields, out, number, xmlns, problems);
}

/// [`write_record`] of a leader and fields.
pub fn write_parts(
    leader: &[u8; 24],
    fields: &[&Field],
    out: &mut String,
    number: usize,
    xmlns: bool,
    problems: &mut Vec<RecordProblem>,
) {
    let given_leader = leader;
    let first_problem = problems.len();
    let mut at = At {
        number,
        offset: 0,
        control_number: None,
        tag: None,
        occurrence: None,
        subfield: None,
    };
    out.push_str(if xmlns {
        "<record xmlns=\"http://www.loc.gov/MARC21/slim\">\n"
    } else {
        "<record>\n"
    });
    let leader = output_leader(given_leader, fields, &at, problems);
    if !leader_in_schema(leader.as_bytes()) {
        problems.push(at.problem(
            RecordKind::XmlSchemaInvalid,
            RecordAction::Kept,
            format!("leader {leader:?} does not match MARC21slim's leader pattern"),
            leader.as_bytes(),
        ));
    }
    out.push_str("  <leader>");
    let leader_at = out.len();
    // Bytes the text grows by when characters XML cannot carry are replaced: the leader's record
    // length describes the record as written here.
    let mut grew = 0;
    escape_into(out, &leader, false, &at, problems);
    out.push_str("</leader>\n");
    let mut seen_data = false;
    for (index, &field) in fields.iter().enumerate() {
        if !written(field) {
            continue;
        }
        at.tag = Some(&field.tag);
        at.occurrence = None;
        at.subfield = None;
        let mut schema = Vec::new();
        match &field.data {
            FieldData::Control(text) => {
                if !control_tag_in_schema(&field.tag) {
                    schema.push(format!(
                        "control field tag {:?} is not 001-009 or 00A-00z",
                        field.tag
                    ));
                }
                if seen_data {
                    schema.push("a control field after a data field".to_owned());
                }
                // The occurrence is only computed when something is reported.
                if needs_position(text) || !schema.is_empty() {
                    at.occurrence = Some(occurrence(fields, index));
                }
                out.push_str("  <controlfield tag=\"");
                escape_into(out, &field.tag, true, &at, problems);
                out.push_str("\">");
                grew += escape_into(out, text, false, &at, problems);
                out.push_str("</controlfield>\n");
            }
            FieldData::Data {
                ind1,
                ind2,
                subfields,
            } => {
                seen_data = true;
                if !data_tag_in_schema(&field.tag) {
                    schema.push(format!(
                        "data field tag {:?} is outside MARC21slim's tag pattern",
                        field.tag
                    ));
                }
                for (name, ind) in [("ind1", ind1), ("ind2", ind2)] {
                    if !indicator_in_schema(*ind) {
                        schema.push(format!(
                            "{name} {ind:?} is not a digit, a lowercase letter or a space"
                        ));
                    }
                }
                if subfields.is_empty() {
                    schema.push("a data field without subfields".to_owned());
                }
                let bad_codes: Vec<char> = subfields
                    .iter()
                    .map(|s| s.code)
                    .filter(|&c| !code_in_schema(c))
                    .collect();
                if !bad_codes.is_empty() {
                    schema.push(format!(
                        "subfield codes {bad_codes:?} are outside MARC21slim's code pattern"
                    ));
                }
                if !schema.is_empty()
                    || needs_position(&field.tag)
                    || subfields.iter().any(|s| needs_position(&s.value))
                {
                    at.occurrence = Some(occurrence(fields, index));
                }
                let mut ind = [0u8; 8];
                out.push_str("  <datafield tag=\"");
                escape_into(out, &field.tag, true, &at, problems);
                out.push_str("\" ind1=\"");
                escape_into(out, ind1.encode_utf8(&mut ind), true, &at, problems);
                out.push_str("\" ind2=\"");
                escape_into(out, ind2.encode_utf8(&mut ind), true, &at, problems);
                out.push_str("\">\n");
                for sf in subfields {
                    at.subfield = Some(sf.code);
                    let mut code = [0u8; 4];
                    out.push_str("    <subfield code=\"");
                    grew += escape_into(out, sf.code.encode_utf8(&mut code), true, &at, problems);
                    out.push_str("\">");
                    grew += escape_into(out, &sf.value, false, &at, problems);
                    out.push_str("</subfield>\n");
                }
                at.subfield = None;
                out.push_str("  </datafield>\n");
            }
        }
        for message in schema {
            problems.push(at.problem(
                RecordKind::XmlSchemaInvalid,
                RecordAction::Kept,
                message,
                field.tag.as_bytes(),
            ));
        }
    }
    out.push_str("</record>\n");
    if grew > 0 {
        let (total, _) = lengths(fields);
        let digits = format!("{:05}", total + grew);
        let old = out.get(leader_at..leader_at + 5);
        if total + grew <= 99_999 && old.is_some_and(|o| o.bytes().all(|b| b.is_ascii_digit())) {
            out.replace_range(leader_at..leader_at + 5, &digits);
        }
    }
    if problems.len() > first_problem {
        let cn = control_number(fields.iter().copied());
        for p in &mut problems[first_problem..] {
            p.control_number.clone_from(&cn);
        }
    }
}

/// Whether a text holds a character XML cannot carry (so a problem may need the occurrence).
fn needs_position(s: &str) -> bool {
    s.bytes()
        .any(|b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
        || s.contains(['\u{FFFE}', '\u{FFFF}'])
}

/// MARCXML as a [`RecordSink`] of [`crate::writer::RecordWriter`]: a `<collection>` document.
#[derive(Default)]
pub struct MarcXmlSink {
    text: String,
}

impl RecordSink for MarcXmlSink {
    fn start(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(COLLECTION_START.as_bytes());
    }

    fn record(
        &mut self,
        leader: &[u8; 24],
        fields: &[&Field],
        number: usize,
        offset: u64,
        out: &mut Vec<u8>,
        problems: &mut Vec<RecordProblem>,
    ) -> bool {
        let first = problems.len();
        self.text.clear();
        write_parts(leader, fields, &mut self.text, number, false, problems);
        out.extend_from_slice(self.text.as_bytes());
        for p in &mut problems[first..] {
            p.record_offset = offset;
        }
        true
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(COLLECTION_END.as_bytes());
    }
}

/// A document of one record: the XML declaration and a `<record>` carrying the namespace.
#[must_use]
pub fn record_document(rec: &Record) -> (String, Vec<RecordProblem>) {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut problems = Vec::new();
    write_record(rec, &mut out, 1, true, &mut problems);
    (out, problems)
}

/// A collection document of all the records.
#[must_use]
pub fn collection_document(records: &[Record]) -> (String, Vec<RecordProblem>) {
    let mut out = String::from(COLLECTION_START);
    let mut problems = Vec::new();
    for (i, rec) in records.iter().enumerate() {
        write_record(rec, &mut out, i + 1, false, &mut problems);
    }
    out.push_str(COLLECTION_END);
    (out, problems)
}

// ------------------------------------------------------------------------------------------------
// Reading

/// One item of a MARCXML or MARC-in-JSON stream: a record (or, for problems found outside any
/// record or a record that had to be rejected, none) and the problems met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadRecord {
    /// The record's number in the input, from 1 (for problems outside records: the number the
    /// next record would have).
    pub number: usize,
    /// Byte offset of the record (its `<record` or `{`) in the input.
    pub offset: u64,
    /// The record, unless it could not be read.
    pub record: Option<Record>,
    /// What was found wrong, positioned.
    pub problems: Vec<RecordProblem>,
}

/// The default leader of a record that has none (09 `a`: the text is Unicode).
pub(crate) const DEFAULT_LEADER: [u8; 24] = *b"00000    a2200000   4500";

/// Makes a leader of 24 ASCII characters from the text given, reporting what was changed.
pub(crate) fn leader_from_text(
    text: &str,
    at: &At<'_>,
    kind: RecordKind,
) -> ([u8; 24], Option<RecordProblem>) {
    let mut leader = [b' '; 24];
    let mut changed = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, slot) in leader.iter_mut().enumerate() {
        match chars.get(i) {
            Some(&c) if (' '..='~').contains(&c) => *slot = c as u8,
            Some(_) => changed.push(format!(
                "position {i} is not printable ASCII (written as a space)"
            )),
            None => {}
        }
    }
    if chars.len() != 24 {
        changed.push(format!(
            "{} characters instead of 24 ({})",
            chars.len(),
            if chars.len() < 24 {
                "padded with spaces"
            } else {
                "cut"
            }
        ));
    }
    let problem = (!changed.is_empty()).then(|| {
        at.problem(
            kind,
            RecordAction::Replaced,
            format!("leader {text:?}: {}", changed.join("; ")),
            text.as_bytes(),
        )
    });
    (leader, problem)
}

/// What an element is, as far as MARCXML goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Name {
    Collection,
    Record,
    Leader,
    ControlField,
    DataField,
    Subfield,
    /// Another name in the MARC namespace (or in none).
    OtherMarc,
    /// An element of another namespace.
    Foreign,
}

fn classify(ns: &ResolveResult<'_>, e: &BytesStart<'_>) -> Name {
    let marc = match ns {
        ResolveResult::Bound(n) => n.as_ref() == NAMESPACE.as_bytes(),
        // No namespace at all, or an undeclared prefix (`marc:record` with no xmlns:marc):
        // taken as MARC, leniently.
        ResolveResult::Unbound | ResolveResult::Unknown(_) => true,
    };
    if !marc {
        return Name::Foreign;
    }
    match e.local_name().as_ref() {
        b"collection" => Name::Collection,
        b"record" => Name::Record,
        b"leader" => Name::Leader,
        b"controlfield" => Name::ControlField,
        b"datafield" => Name::DataField,
        b"subfield" => Name::Subfield,
        _ => Name::OtherMarc,
    }
}

/// Replaces CR LF and lone CR by LF (XML 1.0 end-of-line handling).
fn normalize_eol(s: Cow<'_, str>) -> Cow<'_, str> {
    if !s.contains('\r') {
        return s;
    }
    Cow::Owned(s.replace("\r\n", "\n").replace('\r', "\n"))
}

/// Resolves an entity or character reference (`name` is what is between `&` and `;`).
fn resolve_ref(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let num = name.strip_prefix('#')?;
            let n = match num.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse::<u32>().ok()?,
            };
            if !num.is_empty() && num.bytes().all(|b| b.is_ascii_alphanumeric()) && n != 0 {
                char::from_u32(n)
            } else {
                None
            }
        }
    }
}

/// Where the reader is, for positioning problems.
struct Place<'a> {
    number: usize,
    offset: u64,
    tag: Option<&'a str>,
    occurrence: Option<usize>,
    subfield: Option<char>,
}

impl Place<'_> {
    /// Text, CDATA or a reference where only elements belong: reported and skipped.
    fn stray(
        &self,
        problems: &mut Vec<RecordProblem>,
        what: &str,
        pos: impl std::fmt::Display,
        inside: &str,
        bytes: &[u8],
    ) {
        problems.push(self.at().problem(
            RecordKind::XmlUnexpectedText,
            RecordAction::Skipped,
            format!("{what} at byte {pos} directly inside <{inside}>; skipped"),
            bytes,
        ));
    }

    fn at(&self) -> At<'_> {
        At {
            number: self.number,
            offset: self.offset,
            control_number: None,
            tag: self.tag,
            occurrence: self.occurrence,
            subfield: self.subfield,
        }
    }
}

/// Decodes an attribute value: references resolved, TAB/LF/CR normalized to spaces (XML 1.0
/// attribute-value normalization for CDATA attributes).
fn attribute_value(raw: &[u8], place: &Place<'_>, problems: &mut Vec<RecordProblem>) -> String {
    let text = match std::str::from_utf8(raw) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            problems.push(place.at().problem(
                RecordKind::InvalidUtf8,
                RecordAction::Replaced,
                "an attribute value is not valid UTF-8; bad bytes read as U+FFFD".to_owned(),
                raw,
            ));
            String::from_utf8_lossy(raw)
        }
    };
    let text = normalize_eol(text);
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    while let Some(i) = rest.find(['&', '\t', '\n']) {
        out.push_str(&rest[..i]);
        if rest.as_bytes()[i] == b'&' {
            let tail = &rest[i + 1..];
            match tail.find(';') {
                Some(end) if end > 0 => {
                    let name = &tail[..end];
                    if let Some(c) = resolve_ref(name) {
                        out.push(c);
                    } else {
                        problems.push(place.at().problem(
                            RecordKind::XmlUnknownEntity,
                            RecordAction::KeptAsText,
                            format!(
                                "&{name}; in an attribute is not a known reference; kept as text"
                            ),
                            name.as_bytes(),
                        ));
                        out.push('&');
                        out.push_str(name);
                        out.push(';');
                    }
                    rest = &tail[end + 1..];
                }
                _ => {
                    out.push('&');
                    rest = tail;
                }
            }
        } else {
            out.push(' ');
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// The attributes of a MARCXML element we care about.
#[derive(Default)]
struct Attrs {
    tag: Option<String>,
    ind1: Option<String>,
    ind2: Option<String>,
    code: Option<String>,
}

fn attributes(e: &BytesStart<'_>, place: &Place<'_>, problems: &mut Vec<RecordProblem>) -> Attrs {
    let mut attrs = Attrs::default();
    for a in e.attributes().with_checks(false).flatten() {
        let slot = match a.key.as_ref() {
            b"tag" => &mut attrs.tag,
            b"ind1" => &mut attrs.ind1,
            b"ind2" => &mut attrs.ind2,
            b"code" => &mut attrs.code,
            _ => continue,
        };
        *slot = Some(attribute_value(&a.value, place, problems));
    }
    attrs
}

/// A streaming MARCXML reader: an iterator of [`ReadRecord`]s over a `BufRead`.
pub struct XmlReader<R: BufRead> {
    xml: NsReader<R>,
    buf: Vec<u8>,
    skip_buf: Vec<u8>,
    records: usize,
    done: bool,
}

/// The result of reading inside an element: go on, or the document is broken.
type Step<T> = Result<T, quick_xml::Error>;

impl<R: BufRead> XmlReader<R> {
    /// A reader over a UTF-8 XML document.
    pub fn new(input: R) -> Self {
        let mut xml = NsReader::from_reader(input);
        let config = xml.config_mut();
        config.trim_text(false);
        config.expand_empty_elements = false;
        config.check_end_names = true;
        XmlReader {
            xml,
            buf: Vec::with_capacity(1024),
            skip_buf: Vec::new(),
            records: 0,
            done: false,
        }
    }

    /// A problem outside any record.
    fn outside(
        &self,
        offset: u64,
        kind: RecordKind,
        action: RecordAction,
        message: String,
    ) -> ReadRecord {
        let place = Place {
            number: self.records + 1,
            offset,
            tag: None,
            occurrence: None,
            subfield: None,
        };
        ReadRecord {
            number: self.records + 1,
            offset,
            record: None,
            problems: vec![place.at().problem(kind, action, message, &[])],
        }
    }

    fn syntax_problem(
        &mut self,
        err: &quick_xml::Error,
        number: usize,
        offset: u64,
    ) -> RecordProblem {
        self.done = true;
        let at = self.xml.error_position();
        Place {
            number,
            offset,
            tag: None,
            occurrence: None,
            subfield: None,
        }
        .at()
        .problem(
            RecordKind::XmlSyntax,
            RecordAction::Stopped,
            format!("the document is not well-formed XML at byte {at}: {err}; reading stopped"),
            &[],
        )
    }

    /// Skips the rest of an element whose start tag was just read.
    fn skip(&mut self, name: &[u8]) -> Step<()> {
        let name = name.to_vec();
        self.skip_buf.clear();
        self.xml
            .read_to_end_into(quick_xml::name::QName(&name), &mut self.skip_buf)?;
        Ok(())
    }

    /// Reads the text content of an element up to its end tag; nested elements are skipped and
    /// reported.
    fn read_text(&mut self, place: &Place<'_>, problems: &mut Vec<RecordProblem>) -> Step<String> {
        let mut text = String::new();
        loop {
            self.buf.clear();
            let pos = self.xml.buffer_position();
            let event = self.xml.read_event_into(&mut self.buf)?;
            match event {
                Event::Text(t) => push_text(&mut text, &t, place, problems),
                Event::CData(t) => push_text(&mut text, &t, place, problems),
                Event::GeneralRef(r) => {
                    let name = String::from_utf8_lossy(&r).into_owned();
                    match resolve_ref(&name) {
                        Some(c) => text.push(c),
                        None => {
                            problems.push(place.at().problem(
                                RecordKind::XmlUnknownEntity,
                                RecordAction::KeptAsText,
                                format!(
                                    "&{name}; at byte {pos} is not a known reference; kept as text"
                                ),
                                name.as_bytes(),
                            ));
                            text.push('&');
                            text.push_str(&name);
                            text.push(';');
                        }
                    }
                }
                Event::Start(e) => {
                    let name = e.name().as_ref().to_vec();
                    problems.push(place.at().problem(
                        RecordKind::XmlUnexpectedElement,
                        RecordAction::Skipped,
                        format!(
                            "element <{}> at byte {pos} inside a text element; skipped with its content",
                            String::from_utf8_lossy(&name)
                        ),
                        &name,
                    ));
                    self.skip(&name)?;
                }
                Event::Empty(e) => {
                    problems.push(place.at().problem(
                        RecordKind::XmlUnexpectedElement,
                        RecordAction::Skipped,
                        format!(
                            "element <{}/> at byte {pos} inside a text element; skipped",
                            String::from_utf8_lossy(e.name().as_ref())
                        ),
                        e.name().as_ref(),
                    ));
                }
                Event::End(_) => return Ok(text),
                Event::Eof => {
                    return Err(quick_xml::Error::IllFormed(
                        quick_xml::errors::IllFormedError::MissingEndTag(String::new()),
                    ))
                }
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {}
            }
        }
    }

    /// Reads a record whose start tag was just read (`empty`: it was `<record/>`).
    fn read_record(&mut self, offset: u64, empty: bool) -> ReadRecord {
        self.records += 1;
        let number = self.records;
        let mut problems = Vec::new();
        let result = if empty {
            Ok((None, Vec::new()))
        } else {
            self.read_record_body(number, offset, &mut problems)
        };
        match result {
            Ok((leader, fields)) => {
                let leader = match leader {
                    Some(l) => l,
                    None => {
                        let place = Place {
                            number,
                            offset,
                            tag: None,
                            occurrence: None,
                            subfield: None,
                        };
                        problems.push(place.at().problem(
                            RecordKind::XmlBadLeader,
                            RecordAction::Replaced,
                            format!(
                                "the record has no <leader>; {:?} used",
                                String::from_utf8_lossy(&DEFAULT_LEADER)
                            ),
                            &[],
                        ));
                        DEFAULT_LEADER
                    }
                };
                if !problems.is_empty() {
                    let cn = control_number(&fields);
                    for p in &mut problems {
                        p.control_number.clone_from(&cn);
                    }
                }
                ReadRecord {
                    number,
                    offset,
                    record: Some(Record { leader, fields }),
                    problems,
                }
            }
            Err(e) => {
                let mut p = self.syntax_problem(&e, number, offset);
                p.message
                    .push_str("; the record it cut short is not returned");
                p.action = RecordAction::Rejected;
                problems.push(p);
                ReadRecord {
                    number,
                    offset,
                    record: None,
                    problems,
                }
            }
        }
    }

    fn read_record_body(
        &mut self,
        number: usize,
        offset: u64,
        problems: &mut Vec<RecordProblem>,
    ) -> Step<(Option<[u8; 24]>, Vec<Field>)> {
        let mut leader: Option<[u8; 24]> = None;
        let mut fields: Vec<Field> = Vec::new();
        loop {
            self.buf.clear();
            let pos = self.xml.buffer_position();
            let place = Place {
                number,
                offset,
                tag: None,
                occurrence: None,
                subfield: None,
            };
            let (ns, event) = self.xml.read_resolved_event_into(&mut self.buf)?;
            let (kind, name, attrs, empty) = match event {
                Event::End(_) => return Ok((leader, fields)),
                Event::Start(e) => (
                    classify(&ns, &e),
                    e.name().as_ref().to_vec(),
                    attributes(&e, &place, problems),
                    false,
                ),
                Event::Empty(e) => (
                    classify(&ns, &e),
                    e.name().as_ref().to_vec(),
                    attributes(&e, &place, problems),
                    true,
                ),
                Event::Text(t) => {
                    if !t.iter().all(u8::is_ascii_whitespace) {
                        place.stray(problems, "text", pos, "record", &t);
                    }
                    continue;
                }
                Event::CData(t) => {
                    place.stray(problems, "CDATA", pos, "record", &t);
                    continue;
                }
                Event::GeneralRef(r) => {
                    place.stray(problems, "a reference", pos, "record", &r);
                    continue;
                }
                Event::Eof => return Err(missing_end("record")),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => continue,
            };
            let first_new = problems.len();
            match kind {
                Name::Leader => {
                    let text = if empty {
                        String::new()
                    } else {
                        self.read_text(&place, problems)?
                    };
                    if leader.is_some() {
                        problems.push(place.at().problem(
                            RecordKind::XmlUnexpectedElement,
                            RecordAction::Skipped,
                            format!("a second <leader> at byte {pos}; skipped"),
                            text.as_bytes(),
                        ));
                    } else {
                        let (l, p) = leader_from_text(&text, &place.at(), RecordKind::XmlBadLeader);
                        problems.extend(p);
                        leader = Some(l);
                    }
                }
                Name::ControlField | Name::DataField => {
                    let Some(tag) = attrs.tag else {
                        problems.push(place.at().problem(
                            RecordKind::XmlMissingAttribute,
                            RecordAction::Skipped,
                            format!(
                                "<{}> at byte {pos} has no tag attribute; skipped with its content",
                                String::from_utf8_lossy(&name)
                            ),
                            &name,
                        ));
                        if !empty {
                            self.skip(&name)?;
                        }
                        continue;
                    };
                    let place = Place {
                        tag: Some(&tag),
                        ..place
                    };
                    if tag.chars().count() != 3 {
                        problems.push(place.at().problem(
                            RecordKind::XmlBadAttribute,
                            RecordAction::Kept,
                            format!("tag {tag:?} at byte {pos} is not three characters; kept"),
                            tag.as_bytes(),
                        ));
                    }
                    let data = if kind == Name::ControlField {
                        FieldData::Control(if empty {
                            String::new()
                        } else {
                            self.read_text(&place, problems)?
                        })
                    } else {
                        let ind1 = indicator(attrs.ind1.as_deref(), "ind1", pos, &place, problems);
                        let ind2 = indicator(attrs.ind2.as_deref(), "ind2", pos, &place, problems);
                        let subfields = if empty {
                            Vec::new()
                        } else {
                            self.read_subfields(&place, problems)?
                        };
                        FieldData::Data {
                            ind1,
                            ind2,
                            subfields,
                        }
                    };
                    if problems.len() > first_new {
                        let occ = fields.iter().filter(|f| f.tag == tag).count() + 1;
                        for p in &mut problems[first_new..] {
                            p.occurrence = Some(occ);
                        }
                    }
                    fields.push(Field { tag, data });
                }
                _ => {
                    problems.push(place.at().problem(
                        RecordKind::XmlUnexpectedElement,
                        RecordAction::Skipped,
                        format!(
                            "element <{}> at byte {pos} is not a MARCXML record element; skipped with its content",
                            String::from_utf8_lossy(&name)
                        ),
                        &name,
                    ));
                    if !empty {
                        self.skip(&name)?;
                    }
                }
            }
        }
    }

    /// Reads the subfields of a data field whose start tag was just read.
    fn read_subfields(
        &mut self,
        place: &Place<'_>,
        problems: &mut Vec<RecordProblem>,
    ) -> Step<Vec<Subfield>> {
        let mut subfields = Vec::new();
        loop {
            self.buf.clear();
            let pos = self.xml.buffer_position();
            let (ns, event) = self.xml.read_resolved_event_into(&mut self.buf)?;
            let (kind, name, attrs, empty) = match event {
                Event::End(_) => return Ok(subfields),
                Event::Start(e) => (
                    classify(&ns, &e),
                    e.name().as_ref().to_vec(),
                    attributes(&e, place, problems),
                    false,
                ),
                Event::Empty(e) => (
                    classify(&ns, &e),
                    e.name().as_ref().to_vec(),
                    attributes(&e, place, problems),
                    true,
                ),
                Event::Text(t) => {
                    if !t.iter().all(u8::is_ascii_whitespace) {
                        place.stray(problems, "text", pos, "datafield", &t);
                    }
                    continue;
                }
                Event::CData(t) => {
                    place.stray(problems, "CDATA", pos, "datafield", &t);
                    continue;
                }
                Event::GeneralRef(r) => {
                    place.stray(problems, "a reference", pos, "datafield", &r);
                    continue;
                }
                Event::Eof => return Err(missing_end("datafield")),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => continue,
            };
            if kind != Name::Subfield {
                problems.push(place.at().problem(
                    RecordKind::XmlUnexpectedElement,
                    RecordAction::Skipped,
                    format!(
                        "element <{}> at byte {pos} inside <datafield>; skipped with its content",
                        String::from_utf8_lossy(&name)
                    ),
                    &name,
                ));
                if !empty {
                    self.skip(&name)?;
                }
                continue;
            }
            let mut chars = attrs.code.as_deref().unwrap_or("").chars();
            let Some(code) = chars.next() else {
                let value = if empty {
                    String::new()
                } else {
                    self.read_text(place, problems)?
                };
                problems.push(place.at().problem(
                    RecordKind::XmlMissingAttribute,
                    RecordAction::Skipped,
                    format!(
                        "<subfield> at byte {pos} has {}; skipped (its text: {value:?})",
                        if attrs.code.is_some() {
                            "an empty code"
                        } else {
                            "no code attribute"
                        }
                    ),
                    value.as_bytes(),
                ));
                continue;
            };
            let place = Place {
                subfield: Some(code),
                tag: place.tag,
                ..*place
            };
            if chars.next().is_some() {
                let given = attrs.code.as_deref().unwrap_or("");
                problems.push(place.at().problem(
                    RecordKind::XmlBadAttribute,
                    RecordAction::Replaced,
                    format!(
                        "subfield code {given:?} at byte {pos} is not one character; {code:?} kept"
                    ),
                    given.as_bytes(),
                ));
            }
            let value = if empty {
                String::new()
            } else {
                self.read_text(&place, problems)?
            };
            subfields.push(Subfield { code, value });
        }
    }
}

impl<R: BufRead> Iterator for XmlReader<R> {
    type Item = ReadRecord;

    fn next(&mut self) -> Option<ReadRecord> {
        if self.done {
            return None;
        }
        loop {
            self.buf.clear();
            let pos = self.xml.buffer_position();
            let (kind, name, empty) = match self.xml.read_resolved_event_into(&mut self.buf) {
                Err(e) => {
                    let number = self.records + 1;
                    let p = self.syntax_problem(&e, number, pos);
                    return Some(ReadRecord {
                        number,
                        offset: pos,
                        record: None,
                        problems: vec![p],
                    });
                }
                Ok((_, Event::Eof)) => {
                    self.done = true;
                    return None;
                }
                Ok((ns, Event::Start(e))) => (classify(&ns, &e), e.name().as_ref().to_vec(), false),
                Ok((ns, Event::Empty(e))) => (classify(&ns, &e), e.name().as_ref().to_vec(), true),
                Ok((_, Event::Decl(d))) => {
                    let enc = d
                        .encoding()
                        .and_then(Result::ok)
                        .map(|e| e.to_ascii_lowercase());
                    match enc.as_deref() {
                        None | Some(b"utf-8" | b"utf8") => continue,
                        Some(other) => {
                            self.done = true;
                            return Some(self.outside(
                                pos,
                                RecordKind::XmlEncoding,
                                RecordAction::Stopped,
                                format!(
                                    "the document is declared as {:?}; only UTF-8 MARCXML is read",
                                    String::from_utf8_lossy(other)
                                ),
                            ));
                        }
                    }
                }
                Ok(_) => continue,
            };
            match kind {
                Name::Record => return Some(self.read_record(pos, empty)),
                Name::Leader | Name::ControlField | Name::DataField | Name::Subfield => {
                    let item = self.outside(
                        pos,
                        RecordKind::XmlUnexpectedElement,
                        RecordAction::Skipped,
                        format!(
                            "<{}> at byte {pos} is outside any <record>; skipped with its content",
                            String::from_utf8_lossy(&name)
                        ),
                    );
                    if !empty {
                        if let Err(e) = self.skip(&name) {
                            let number = self.records + 1;
                            let p = self.syntax_problem(&e, number, pos);
                            let mut item = item;
                            item.problems.push(p);
                            return Some(item);
                        }
                    }
                    return Some(item);
                }
                // A collection, or an envelope around records: look inside.
                Name::Collection | Name::OtherMarc | Name::Foreign => {}
            }
        }
    }
}

fn missing_end(name: &str) -> quick_xml::Error {
    quick_xml::Error::IllFormed(quick_xml::errors::IllFormedError::MissingEndTag(
        name.to_owned(),
    ))
}

/// An indicator from its attribute: one character; a missing or empty one becomes a space, a
/// longer one keeps its first character (reported).
fn indicator(
    value: Option<&str>,
    name: &str,
    pos: u64,
    place: &Place<'_>,
    problems: &mut Vec<RecordProblem>,
) -> char {
    let Some(value) = value else {
        problems.push(place.at().problem(
            RecordKind::XmlMissingAttribute,
            RecordAction::Replaced,
            format!("<datafield> at byte {pos} has no {name}; a space used"),
            &[],
        ));
        return ' ';
    };
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => c,
        (first, _) => {
            let c = first.unwrap_or(' ');
            problems.push(place.at().problem(
                RecordKind::XmlBadAttribute,
                RecordAction::Replaced,
                format!("{name} {value:?} at byte {pos} is not one character; {c:?} used"),
                value.as_bytes(),
            ));
            c
        }
    }
}

fn push_text(text: &mut String, raw: &[u8], place: &Place<'_>, problems: &mut Vec<RecordProblem>) {
    match std::str::from_utf8(raw) {
        Ok(s) => text.push_str(&normalize_eol(Cow::Borrowed(s))),
        Err(_) => {
            problems.push(place.at().problem(
                RecordKind::InvalidUtf8,
                RecordAction::Replaced,
                "text that is not valid UTF-8; bad bytes read as U+FFFD".to_owned(),
                raw,
            ));
            text.push_str(&normalize_eol(String::from_utf8_lossy(raw)));
        }
    }
}

#[cfg(test)]
#[path = "marcxml/tests.rs"]
pub(crate) mod tests;
