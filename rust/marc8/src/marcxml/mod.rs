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
use crate::sink::RecordSink;

/// The MARCXML namespace.
pub const NAMESPACE: &str = "http://www.loc.gov/MARC21/slim";

/// What comes before the first record of a collection document.
pub const COLLECTION_START: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<collection xmlns=\"http://www.loc.gov/MARC21/slim\">\n";

/// What comes after the last record of a collection document.
pub const COLLECTION_END: &str = "</collection>\n";

/// What a reader or writer reports when it replaced an XML-invalid character.
const REPLACEMENT: char = '\u{FFFD}';

pub use crate::interchange::ReadRecord;
use crate::interchange::*;

mod direct;
mod read;
mod schema;
mod write;

#[cfg(test)]
use direct::write_raw_utf8;
pub use read::*;
pub use write::*;

#[cfg(test)]
pub(crate) mod tests;
