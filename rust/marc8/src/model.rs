//! Records as values: a leader and fields of Unicode text, independent of any serialization.
//!
//! This is the one in-memory form of a MARC record that the rest of the project (the Python
//! `Record`, MARCXML, MARC-in-JSON, the flows) works on. ISO 2709 bytes in either encoding are
//! parsed into it by the record layer ([`crate::record`]), converting MARC-8 to Unicode with the
//! decoder; it is written back to ISO 2709 (UTF-8 or MARC-8, lengths recomputed in bytes, 066
//! rebuilt), to MARCXML or to MARC-in-JSON.
//!
//! Text is always Unicode here; the encoding of a record is chosen only when it is written.

/// One subfield: its code and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subfield {
    /// The subfield code (one character, normally `a`–`z` or `0`–`9`).
    pub code: char,
    /// The text.
    pub value: String,
}

/// What a field holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldData {
    /// A control field (tags `001`–`009`): text, no indicators, no subfields.
    Control(String),
    /// A data field: two indicators and subfields.
    Data {
        /// First indicator.
        ind1: char,
        /// Second indicator.
        ind2: char,
        /// The subfields, in order.
        subfields: Vec<Subfield>,
    },
}

/// One field: a three-character tag and its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The tag (three characters).
    pub tag: String,
    /// Control text or indicators and subfields.
    pub data: FieldData,
}

/// A MARC record: a 24-character leader and fields in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The leader, 24 ASCII bytes. Positions 0–4 and 12–16 (lengths) and 09 (encoding) are
    /// recomputed when the record is written.
    pub leader: [u8; 24],
    /// The fields, in order.
    pub fields: Vec<Field>,
}

/// Whether a tag names a control field (`00` followed by a digit).
#[must_use]
pub fn is_control_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    b.len() == 3 && b[0] == b'0' && b[1] == b'0' && b[2].is_ascii_digit()
}
