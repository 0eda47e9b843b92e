//! ISO 2709 records: robust splitting, parsing, writing, and transcoding between MARC-8 and
//! UTF-8.
//!
//! A record is converted field by field and subfield by subfield: every subfield (and every
//! control field) starts from the default sets, as every MARC-8 implementation does. The leader's
//! character coding scheme (position 09) is set (`' '` MARC-8, `'a'` UTF-8), the record length,
//! base address and every directory entry are recomputed in bytes, field 066 is dropped going to
//! UTF-8 and rebuilt from the escapes actually written going to MARC-8. Problems carry the record
//! number, its byte offset, its 001, the tag and occurrence, the subfield and the offset.
//!
//! A record that cannot be written correctly (a field over 9,999 bytes, a record over 99,999, a
//! directory that cannot be read, or any problem in strict mode) is rejected: it is never written
//! half-converted, and its problems say so.

use crate::kinds::{RecordAction, RecordKind};
use std::borrow::Cow;

use crate::decoder::{decode_field_append, normalize, DecodeOptions, ErrorMode, Normalization};
use crate::encoder::{encode_field_append, EncodeErrors, EncodeOptions};
use crate::ncr::NcrFilter;
use crate::problem::{is_forbidden_control, Action, Problem, ProblemKind};

/// Record terminator.
pub const RT: u8 = 0x1D;
/// Field terminator.
pub const FT: u8 = 0x1E;
/// Subfield delimiter.
pub const SD: u8 = 0x1F;
/// The largest field ISO 2709 can describe (4-digit length, terminator included).
pub const MAX_FIELD: usize = 9_999;
/// The largest record ISO 2709 can describe (5-digit length).
pub const MAX_RECORD: usize = 99_999;
/// How far the splitter looks for the terminator of a record whose declared length lies (1 MiB).
/// Records longer than ISO 2709 allows do occur (their lengths and offsets wrapped at 100,000):
/// they are found, to be rejected as too long, not mistaken for garbage. A leader with no
/// terminator this close starts no record.
pub const MAX_REACH: usize = 1 << 20;

/// The encoding a record is converted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// UTF-8, leader/09 `a`.
    Utf8,
    /// MARC-8, leader/09 blank.
    Marc8,
}

/// What decides a record's source encoding when leader/09 and the data disagree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Trust {
    /// Leader/09 (the mislabelling is reported).
    #[default]
    Leader,
    /// The data: bytes that are valid multibyte UTF-8 are read as UTF-8, bytes that are not are
    /// read as MARC-8 (the mislabelling is reported).
    Data,
}

/// Options of record conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordOptions {
    /// The target encoding.
    pub to: Target,
    /// Decoding options (MARC-8 → UTF-8): normalization, NCR expansion, ligature form. Decoding
    /// always replaces bad units and reports them; `errors: Strict` rejects a record with any
    /// problem instead of writing it.
    pub decode: DecodeOptions,
    /// Encoding options (UTF-8 → MARC-8). `Strict` rejects a record with an unmappable
    /// character (all of them are reported).
    pub encode: EncodeOptions,
    /// Leader or data, when they disagree.
    pub trust: Trust,
}

impl RecordOptions {
    /// Options converting to `to` with the defaults: replace bad MARC-8, lossless NCRs for
    /// characters MARC-8 lacks, trust the leader.
    #[must_use]
    pub fn new(to: Target) -> Self {
        RecordOptions {
            to,
            decode: DecodeOptions {
                errors: ErrorMode::Replace,
                ..DecodeOptions::default()
            },
            encode: EncodeOptions {
                errors: EncodeErrors::Lossless,
            },
            trust: Trust::Leader,
        }
    }

    fn strict(&self) -> bool {
        match self.to {
            Target::Utf8 => self.decode.errors == ErrorMode::Strict,
            Target::Marc8 => self.encode.errors == EncodeErrors::Strict,
        }
    }
}

/// Where a record is in its stream: its number (from 1) and the byte offset of its start. The
/// one builder of positioned problems: every finer "where" of the crate (a field's site in the
/// record layer, the interchange formats' tag / occurrence / subfield, validation's) starts from
/// a problem made here.
///
/// ```
/// use marc8::record::Place;
///
/// let at = Place::new(3, 1_024);
/// assert_eq!((at.number, at.offset), (3, 1_024));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// The record's number in its stream, from 1.
    pub number: usize,
    /// Byte offset of the record's start in its stream.
    pub offset: u64,
}

impl Place {
    /// The record numbered `number`, starting at byte `offset`.
    #[must_use]
    pub fn new(number: usize, offset: u64) -> Self {
        Place { number, offset }
    }

    /// A problem about the record here, no field named yet.
    pub(crate) fn problem(self, kind: RecordKind, action: RecordAction) -> RecordProblem {
        RecordProblem::new(self.number, self.offset, kind, action)
    }
}

/// A problem in a record or a file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordProblem {
    /// The record's number in the file, from 1.
    pub record: usize,
    /// Byte offset of the record (or of the skipped bytes) in the file.
    pub record_offset: u64,
    /// The record's 001 (trimmed of surrounding spaces), if it has one.
    pub control_number: Option<String>,
    /// The field's tag.
    pub tag: Option<String>,
    /// Which occurrence of that tag in the record, from 1.
    pub occurrence: Option<usize>,
    /// The subfield code.
    pub subfield: Option<char>,
    /// Offset inside the subfield's data (or the control field's data): bytes of the source for
    /// decoding problems, characters of the source for encoding problems.
    pub offset: Option<usize>,
    /// Byte offset inside the field's data (indicators at 0), for problems in MARC-8 or UTF-8
    /// bytes of the source.
    pub field_offset: Option<usize>,
    /// What went wrong (a stable identifier: `bad_leader`, `unmapped_byte`, …).
    pub kind: RecordKind,
    /// The offending bytes (or the UTF-8 of the offending character).
    pub bytes: Vec<u8>,
    /// What was done (`replaced`, `wrote_ncr`, `rejected`, `skipped`, `recovered`, …).
    pub action: RecordAction,
    /// A one-line explanation.
    pub message: String,
}

impl RecordProblem {
    pub(crate) fn new(
        record: usize,
        record_offset: u64,
        kind: RecordKind,
        action: RecordAction,
    ) -> Self {
        RecordProblem {
            record,
            record_offset,
            control_number: None,
            tag: None,
            occurrence: None,
            subfield: None,
            offset: None,
            field_offset: None,
            kind,
            bytes: Vec::new(),
            action,
            message: String::new(),
        }
    }
}

mod detect;
mod ending;
mod layout;
mod split;
mod transcode;
mod write;

pub use detect::*;
pub(crate) use ending::*;
pub use layout::*;
pub use split::*;
pub use transcode::*;
pub use write::*;

#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod tests;
