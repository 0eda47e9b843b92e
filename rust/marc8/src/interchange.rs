//! What the two interchange formats (MARCXML and MARC-in-JSON) share on both sides: a problem
//! positioned by tag / occurrence / subfield ([`At`]), the item a reader yields
//! ([`ReadRecord`]), the leader as read from text and as written, and the record's 001.

use crate::kinds::{RecordAction, RecordKind};
use crate::model::{Field, FieldData, Record};
use crate::record::{bad_leader_message, repair_leader, RecordProblem};

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

pub(crate) fn put_num(leader: &mut [u8; 24], at: usize, n: usize) {
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
    let changed = repair_leader(&mut leader, false);
    if !changed.is_empty() {
        problems.push(at.problem(
            RecordKind::BadLeader,
            RecordAction::Recovered,
            bad_leader_message(&changed, given, &leader),
            given,
        ));
    }
    leader.iter().map(|&b| char::from(b)).collect()
}

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
