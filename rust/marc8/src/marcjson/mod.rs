//! MARC-in-JSON (Ross Singer's format, as pymarc's `Record.as_json()` writes it): writing and
//! streaming reading of [`Record`]s.
//!
//! A record is `{"leader": "...", "fields": [{"001": "..."}, {"245": {"ind1": "1", "ind2": "0",
//! "subfields": [{"a": "..."}, ...]}}, ...]}`. A file of several records is a JSON array of them,
//! which is what pymarc's `JSONWriter` writes; pymarc's `JSONReader` reads an array or a single
//! object. The writer writes an array ([`ARRAY_START`], records separated by [`SEPARATOR`],
//! [`ARRAY_END`]) or a single object ([`write_record`]); the leader is written as for MARCXML
//! (lengths of the UTF-8 ISO 2709 form, 09 = `a`). JSON can carry every character, so the text
//! is written as it is (UTF-8, not `\u` escapes, but for `"`, `\` and the controls).
//!
//! [`JsonReader`] streams: it accepts one object, an array of objects, or objects one after the
//! other (JSON Lines), and holds one record at a time in memory. Like Python's
//! `json.load(strict=False)` (which pymarc uses) it takes raw control characters inside strings.
//! Problems are positioned by record number, byte offset of the record's `{`, tag and
//! occurrence: `json_bad_leader` (padded, cut or replaced to 24 ASCII characters, or a default
//! leader when there is none), `json_bad_structure` (a field, indicator or subfield not as the
//! format has it: what can be kept is kept, the rest skipped, each said), `json_not_a_record` (an
//! array element that is not an object: skipped), `json_syntax` (a record that is not valid JSON:
//! rejected; when the array itself is broken, reading stops).

use crate::kinds::{RecordAction, RecordKind};
use std::fmt;
use std::io::{self, BufRead};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::interchange::{control_number, output_leader, written, At, ReadRecord, DEFAULT_LEADER};
use crate::model::{Field, FieldData, Record, Subfield};
use crate::record::RecordProblem;
use crate::sink::RecordSink;

/// What comes before the first record of an array document.
pub const ARRAY_START: &str = "[\n";
/// What comes between two records of an array document.
pub const SEPARATOR: &str = ",\n";
/// What comes after the last record of an array document.
pub const ARRAY_END: &str = "\n]\n";

mod read;
mod write;

pub use read::*;
pub use write::*;

#[cfg(test)]
mod tests;
