//! Writing MARC-in-JSON: one record, an array, and the sink the converter writes through.

use super::*;

pub(super) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1F => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        if esc.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(esc);
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Appends one record as a JSON object (no separator, no newline). `number` is the record's
/// number in the output, used in problems.
pub fn write_record(
    rec: &Record,
    out: &mut String,
    number: usize,
    problems: &mut Vec<RecordProblem>,
) {
    let fields: Vec<&Field> = rec.fields.iter().collect();
    write_parts(&rec.leader, &fields, out, number, problems);
}

/// [`write_record`] of a leader and fields.
pub fn write_parts(
    given_leader: &[u8; 24],
    fields: &[&Field],
    out: &mut String,
    number: usize,
    problems: &mut Vec<RecordProblem>,
) {
    let at = At {
        number,
        offset: 0,
        control_number: None,
        tag: None,
        occurrence: None,
        subfield: None,
    };
    let first = problems.len();
    let leader = output_leader(given_leader, fields, &at, problems);
    if problems.len() > first {
        let cn = control_number(fields.iter().copied());
        for p in &mut problems[first..] {
            p.control_number.clone_from(&cn);
        }
    }
    out.push_str("{\"leader\": ");
    push_json_str(out, &leader);
    out.push_str(", \"fields\": [");
    for (i, field) in fields.iter().copied().filter(|f| written(f)).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('{');
        push_json_str(out, &field.tag);
        out.push_str(": ");
        match &field.data {
            FieldData::Control(text) => push_json_str(out, text),
            FieldData::Data {
                ind1,
                ind2,
                subfields,
            } => {
                let mut b = [0u8; 4];
                out.push_str("{\"ind1\": ");
                push_json_str(out, ind1.encode_utf8(&mut b));
                out.push_str(", \"ind2\": ");
                push_json_str(out, ind2.encode_utf8(&mut b));
                out.push_str(", \"subfields\": [");
                for (j, sf) in subfields.iter().enumerate() {
                    if j > 0 {
                        out.push_str(", ");
                    }
                    out.push('{');
                    push_json_str(out, sf.code.encode_utf8(&mut b));
                    out.push_str(": ");
                    push_json_str(out, &sf.value);
                    out.push('}');
                }
                out.push_str("]}");
            }
        }
        out.push('}');
    }
    out.push_str("]}");
}

/// MARC-in-JSON as a [`RecordSink`] of [`crate::writer::RecordWriter`]: an array of records.
#[derive(Default)]
pub struct JsonSink {
    text: String,
    records: usize,
}

impl RecordSink for JsonSink {
    fn start(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(ARRAY_START.as_bytes());
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
        if self.records > 0 {
            self.text.push_str(SEPARATOR);
        }
        self.records += 1;
        write_parts(leader, fields, &mut self.text, number, problems);
        out.extend_from_slice(self.text.as_bytes());
        for p in &mut problems[first..] {
            p.record_offset = offset;
        }
        true
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(ARRAY_END.as_bytes());
    }
}

/// One record as a JSON object (what pymarc's `Record.as_json()` gives).
#[must_use]
pub fn record_json(rec: &Record) -> (String, Vec<RecordProblem>) {
    let mut out = String::with_capacity(256);
    let mut problems = Vec::new();
    write_record(rec, &mut out, 1, &mut problems);
    (out, problems)
}

/// A JSON array of all the records (what pymarc's `JSONWriter` writes).
#[must_use]
pub fn array_document(records: &[Record]) -> (String, Vec<RecordProblem>) {
    let mut out = String::from(ARRAY_START);
    let mut problems = Vec::new();
    for (i, rec) in records.iter().enumerate() {
        if i > 0 {
            out.push_str(SEPARATOR);
        }
        write_record(rec, &mut out, i + 1, &mut problems);
    }
    out.push_str(ARRAY_END);
    (out, problems)
}
