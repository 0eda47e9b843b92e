//! Writing MARCXML: one record, a collection, and the sink the converter writes through.

use super::schema::*;
use super::*;

// ------------------------------------------------------------------------------------------------
// Writing

/// Whether XML 1.0 can carry the character at all.
#[must_use]
pub fn is_xml_char(c: char) -> bool {
    !matches!(c, '\0'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Bytes [`escape_into`] copies as they are whatever they stand in: everything but the controls,
/// `&`, `<`, `>`, `"` and 0xEF (which may start U+FFFE or U+FFFF). The table lets the common
/// byte go by with one load and one test.
const PLAIN: [bool; 256] = {
    let mut t = [true; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = false;
        b += 1;
    }
    t[b'&' as usize] = false;
    t[b'<' as usize] = false;
    t[b'>' as usize] = false;
    t[b'"' as usize] = false;
    t[0xEF] = false;
    t
};

/// Appends `s` escaped for element content (`attr = false`) or a double-quoted attribute
/// (`attr = true`). Characters XML cannot carry are written as U+FFFD and reported. Returns how
/// many bytes longer the text became in UTF-8 (a one-byte control replaced by U+FFFD: two).
pub(super) fn escape_into(
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
        if PLAIN[usize::from(b)] {
            i += 1;
            continue;
        }
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
    let leader_at = write_leader(out, given_leader, fields, &at, problems);
    // Bytes the text grows by when characters XML cannot carry are replaced: the leader's record
    // length describes the record as written here.
    let mut grew = 0;
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
                if !control_tag_in_schema(field.tag.as_bytes()) {
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
                grew += write_controlfield(out, text, &at, problems);
            }
            FieldData::Data {
                ind1,
                ind2,
                subfields,
            } => {
                seen_data = true;
                data_field_schema(&field.tag, [*ind1, *ind2], subfields, &mut schema);
                if !schema.is_empty()
                    || needs_position(&field.tag)
                    || subfields.iter().any(|s| needs_position(&s.value))
                {
                    at.occurrence = Some(occurrence(fields, index));
                }
                grew += write_datafield(out, [*ind1, *ind2], subfields, &mut at, problems);
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
        grow_record_length(out, leader_at, lengths(fields).0 + grew);
    }
    if problems.len() > first_problem {
        let cn = control_number(fields.iter().copied());
        for p in &mut problems[first_problem..] {
            p.control_number.clone_from(&cn);
        }
    }
}

/// Writes the `<leader>` (checked against MARC21slim's pattern); returns where its text starts
/// in `out`.
fn write_leader(
    out: &mut String,
    given: &[u8; 24],
    fields: &[&Field],
    at: &At<'_>,
    problems: &mut Vec<RecordProblem>,
) -> usize {
    let leader = output_leader(given, fields, at, problems);
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
    escape_into(out, &leader, false, at, problems);
    out.push_str("</leader>\n");
    leader_at
}

/// The leader's record length (at `leader_at` in `out`) set to `total`, when it was written as
/// five digits and `total` still fits.
fn grow_record_length(out: &mut String, leader_at: usize, total: usize) {
    let digits = format!("{total:05}");
    let old = out.get(leader_at..leader_at + 5);
    if total <= 99_999 && old.is_some_and(|o| o.bytes().all(|b| b.is_ascii_digit())) {
        out.replace_range(leader_at..leader_at + 5, &digits);
    }
}

/// Writes one `<controlfield>` (`at.tag` is its tag); returns how many bytes its text grew by.
fn write_controlfield(
    out: &mut String,
    text: &str,
    at: &At<'_>,
    problems: &mut Vec<RecordProblem>,
) -> usize {
    out.push_str("  <controlfield tag=\"");
    escape_into(out, at.tag.unwrap_or_default(), true, at, problems);
    out.push_str("\">");
    let grew = escape_into(out, text, false, at, problems);
    out.push_str("</controlfield>\n");
    grew
}

/// What MARC21slim's schema refuses in a data field (tag, indicators, no subfields, codes),
/// appended to `schema`.
fn data_field_schema(tag: &str, inds: [char; 2], subfields: &[Subfield], schema: &mut Vec<String>) {
    if !data_tag_in_schema(tag.as_bytes()) {
        schema.push(format!(
            "data field tag {tag:?} is outside MARC21slim's tag pattern"
        ));
    }
    for (name, ind) in [("ind1", inds[0]), ("ind2", inds[1])] {
        if !indicator_in_schema(ind) {
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
}

/// Writes one `<datafield>` (`at.tag` is its tag); returns how many bytes the text grew by
/// where characters XML cannot carry were replaced.
fn write_datafield(
    out: &mut String,
    inds: [char; 2],
    subfields: &[Subfield],
    at: &mut At<'_>,
    problems: &mut Vec<RecordProblem>,
) -> usize {
    let mut grew = 0;
    let mut ind = [0u8; 8];
    out.push_str("  <datafield tag=\"");
    escape_into(out, at.tag.unwrap_or_default(), true, at, problems);
    out.push_str("\" ind1=\"");
    escape_into(out, inds[0].encode_utf8(&mut ind), true, at, problems);
    out.push_str("\" ind2=\"");
    escape_into(out, inds[1].encode_utf8(&mut ind), true, at, problems);
    out.push_str("\">\n");
    for sf in subfields {
        at.subfield = Some(sf.code);
        let mut code = [0u8; 4];
        out.push_str("    <subfield code=\"");
        grew += escape_into(out, sf.code.encode_utf8(&mut code), true, at, problems);
        out.push_str("\">");
        grew += escape_into(out, &sf.value, false, at, problems);
        out.push_str("</subfield>\n");
    }
    at.subfield = None;
    out.push_str("  </datafield>\n");
    grew
}

/// Whether a text holds a character XML cannot carry (so a problem may need the occurrence).
pub(super) fn needs_position(s: &str) -> bool {
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

    fn raw_record(
        &mut self,
        raw: &[u8],
        opts: &crate::model::ReadOptions,
        number: usize,
        offset: u64,
        out: &mut Vec<u8>,
    ) -> bool {
        super::direct::write_raw_utf8(raw, opts, number, offset, out)
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
