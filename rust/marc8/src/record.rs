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
use crate::encoder::{encode_field_report, EncodeErrors, EncodeOptions};
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

// ------------------------------------------------------------------------------------------------
// Splitting a byte stream into records

/// What [`next_record`] found at a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// A record occupies `start..end` (its terminator included).
    Record {
        /// First byte.
        start: usize,
        /// One past the record terminator.
        end: usize,
        /// The declared length did not match; the record was delimited by its terminator.
        length_mismatch: bool,
    },
    /// Bytes `start..end` are not a record (garbage, or a record cut short at the end of the
    /// input when `truncated`).
    Skip {
        /// First byte.
        start: usize,
        /// One past the last byte.
        end: usize,
        /// The bytes are the start of a record cut off by the end of the input.
        truncated: bool,
    },
    /// Line ends between records (ignored, not reported).
    Blank {
        /// One past the last line-end byte.
        end: usize,
    },
    /// More input is needed to decide.
    NeedMore,
    /// Nothing left.
    End,
}

fn digits(b: &[u8]) -> Option<usize> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0usize, |n, &d| {
        n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
    })
}

/// True if a record could start at `buf[i..]`: five digits of length and `4500` at 20..24 (the
/// entry map every MARC 21 record has).
fn looks_like_leader(buf: &[u8], i: usize) -> bool {
    buf.get(i..i + 24)
        .is_some_and(|l| digits(&l[..5]).is_some() && &l[20..24] == b"4500")
}

/// Finds the next record in `buf[pos..]`. `eof` says no more bytes will be appended.
///
/// The declared length is trusted when the byte before it is a record terminator; otherwise the
/// record ends at the first terminator within [`MAX_REACH`] bytes (and the mismatch is
/// reported). A leader with no terminator that close starts no record: its bytes are garbage.
/// Garbage is skipped up to the next place a record could start: after a record terminator, or
/// where a leader could be, and at most [`MAX_RECORD`] bytes at a time ([`Garbage`] gathers the
/// pieces of a stretch into one problem). CR and LF between records are ignored.
///
/// What is found at `pos` depends only on the [`MAX_REACH`] bytes after it (or the end of the
/// input): when `eof` is false and those are not all in `buf`, the answer is
/// [`Next::NeedMore`], never a guess. So a stream read in pieces of any size is split exactly
/// as the whole input at once, and a reader never needs to hold more than that many bytes
/// ahead of its position.
///
/// A loop over one buffer should call [`Splitter::next`] instead: it gives the same answers and
/// remembers where it found no terminator, so that no byte is searched twice.
#[must_use]
pub fn next_record(buf: &[u8], pos: usize, eof: bool) -> Next {
    Splitter::default().next(buf, pos, eof)
}

/// [`next_record`] with a memory of the stretch it last searched for a terminator. Without it,
/// garbage full of leaders whose lengths lie (`00030` … `4500`, a few bytes apart, and no
/// terminator) would have each of them search the same [`MAX_REACH`] bytes again; with it, the
/// work of a split is linear in its input.
///
/// Use one `Splitter` for one buffer; when bytes are removed from the front of the buffer, say
/// so with [`Splitter::consumed`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Splitter {
    /// There is no record terminator in `buf[clear.0..clear.1]`.
    clear: (usize, usize),
}

impl Splitter {
    /// The first `n` bytes of the buffer were removed (what was after them moved to the front).
    pub fn consumed(&mut self, n: usize) {
        self.clear = (
            self.clear.0.saturating_sub(n),
            self.clear.1.saturating_sub(n),
        );
    }

    /// The first record terminator in `buf[pos..end]`, searching only what is not known to have
    /// none.
    fn find_rt(&mut self, buf: &[u8], pos: usize, end: usize) -> Option<usize> {
        let (a, b) = self.clear;
        let from = if a <= pos && pos <= b {
            b.min(end)
        } else {
            pos
        };
        let found = buf[from..end]
            .iter()
            .position(|&x| x == RT)
            .map(|i| from + i);
        examined(found.map_or(end, |i| i + 1) - from);
        self.clear = (pos, found.unwrap_or(end));
        found
    }

    /// What is at `buf[pos..]`: see [`next_record`].
    #[must_use]
    pub fn next(&mut self, buf: &[u8], pos: usize, eof: bool) -> Next {
        let rest = &buf[pos.min(buf.len())..];
        if rest.is_empty() {
            return if eof { Next::End } else { Next::NeedMore };
        }
        let blank = rest
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if blank > 0 {
            return Next::Blank { end: pos + blank };
        }
        if rest.len() < 5 && !eof {
            return Next::NeedMore;
        }
        let declared = rest.get(..5).and_then(digits);
        if declared.is_some_and(|l| l < 24) && rest.len() < 24 && !eof {
            return Next::NeedMore; // whether it is a leader shows only at byte 24
        }
        // A length below 24 (`00000`: what a writer puts in the leader of a record longer than
        // five digits can say) in front of what is otherwise a leader still starts a record: its
        // terminator says where it ends, and the reader reports it too long (issue 18, item 8).
        if let Some(len) = declared.filter(|&l| l >= 24 || looks_like_leader(rest, 0)) {
            if len >= 24 && rest.len() >= len && rest[len - 1] == RT {
                return Next::Record {
                    start: pos,
                    end: pos + len,
                    length_mismatch: false,
                };
            }
            if len >= 24 && rest.len() < len && !eof {
                return Next::NeedMore;
            }
            // The length lies: the record ends at its terminator, if that is in reach.
            let end = pos + rest.len().min(MAX_REACH);
            match self.find_rt(buf, pos, end) {
                Some(i) => {
                    return Next::Record {
                        start: pos,
                        end: i + 1,
                        length_mismatch: true,
                    }
                }
                // No terminator in reach: not a record; skipped as garbage below.
                None if rest.len() >= MAX_REACH => {}
                None if eof => {
                    return Next::Skip {
                        start: pos,
                        end: buf.len(),
                        truncated: true,
                    }
                }
                None => return Next::NeedMore,
            }
        }
        skip_garbage(rest, pos, eof)
    }
}

/// `rest` does not start a record: the bytes up to the first place one could start (after a
/// record terminator, or where a leader could be), at most [`MAX_RECORD`] of them.
fn skip_garbage(rest: &[u8], pos: usize, eof: bool) -> Next {
    let mut i = 1;
    loop {
        if rest[i - 1] == RT || i >= MAX_RECORD {
            break;
        }
        if i + 24 > rest.len() {
            // A leader at `i` would run past the bytes there are.
            if !eof {
                examined(i);
                return Next::NeedMore;
            }
            if i == rest.len() {
                break;
            }
        } else if looks_like_leader(rest, i) {
            break;
        }
        i += 1;
    }
    examined(i);
    Next::Skip {
        start: pos,
        end: pos + i,
        truncated: false,
    }
}

// Bytes the splitter has examined in this thread: the tests hold splitting to linear work.
#[cfg(test)]
thread_local! {
    pub(crate) static EXAMINED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[inline]
#[cfg_attr(not(test), allow(unused_variables))]
fn examined(bytes: usize) {
    #[cfg(test)]
    EXAMINED.with(|c| c.set(c.get() + bytes));
}

/// How many bytes of a skipped stretch a problem keeps.
const SHOWN: usize = 64;

/// The problem for bytes [`next_record`] skipped.
#[must_use]
pub fn skip_problem(record: usize, offset: u64, bytes: &[u8], truncated: bool) -> RecordProblem {
    stretch_problem(record, offset, bytes.len() as u64, bytes, truncated)
}

/// The problem for `len` skipped bytes at `offset`, of which `head` are the first.
fn stretch_problem(
    record: usize,
    offset: u64,
    len: u64,
    head: &[u8],
    truncated: bool,
) -> RecordProblem {
    let mut p = RecordProblem::new(
        record,
        offset,
        if truncated {
            RecordKind::TruncatedRecord
        } else {
            RecordKind::Garbage
        },
        RecordAction::Skipped,
    );
    p.message = if truncated {
        format!("the input ends inside a record: {len} bytes with no record terminator")
    } else {
        format!("{len} bytes between records are not a record")
    };
    p.bytes = head[..head.len().min(SHOWN)].to_vec();
    p
}

/// Gathers consecutive garbage into one problem: the pieces [`next_record`] skips (each at most
/// [`MAX_RECORD`] bytes, or ending at a terminator) and the line ends between them make one
/// stretch, reported once with its offset, its length and its first 64 bytes, however long it
/// is. So a split has at most two problems per record found, plus two, and a stretch of garbage
/// costs the same few bytes of memory whatever its size.
///
/// Feed it every [`Next::Skip`] that is not truncated ([`Garbage::skipped`]) and every
/// [`Next::Blank`] ([`Garbage::blank`]); anything else ends the stretch: take its problem with
/// [`Garbage::close`] first.
#[derive(Clone, Debug, Default)]
pub struct Garbage {
    /// The open stretch: record number, offset, end offset, first bytes.
    open: Option<(usize, u64, u64, Vec<u8>)>,
}

impl Garbage {
    /// Skipped bytes at `offset`, before record number `record`.
    pub fn skipped(&mut self, record: usize, offset: u64, bytes: &[u8]) {
        let (_, _, end, head) = self
            .open
            .get_or_insert_with(|| (record, offset, offset, Vec::new()));
        let room = SHOWN.saturating_sub(head.len());
        head.extend_from_slice(&bytes[..bytes.len().min(room)]);
        *end = offset + bytes.len() as u64;
    }

    /// Line ends: inside the stretch if more garbage follows them.
    pub fn blank(&mut self, bytes: &[u8]) {
        if let Some((_, _, _, head)) = &mut self.open {
            let room = SHOWN.saturating_sub(head.len());
            head.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    /// Ends the stretch: its problem, if there was one.
    pub fn close(&mut self) -> Option<RecordProblem> {
        let (record, start, end, mut head) = self.open.take()?;
        let len = end - start;
        // Line ends after the last garbage are not part of it.
        head.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Some(stretch_problem(record, start, len, &head, false))
    }
}

/// A record found in a buffer: its number (from 1), its byte offset and its bytes.
pub type Found<'a> = (usize, usize, &'a [u8]);

/// Splits a whole buffer into records, with the problems of the split (garbage, truncated
/// records, lengths recovered by terminators). Linear in the buffer; a stretch of garbage is one
/// problem.
#[must_use]
pub fn split_records(buf: &[u8]) -> (Vec<Found<'_>>, Vec<RecordProblem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut garbage = Garbage::default();
    let mut splitter = Splitter::default();
    let mut pos = 0;
    loop {
        let next = splitter.next(buf, pos, true);
        match next {
            Next::Skip {
                start,
                end,
                truncated: false,
            } => {
                garbage.skipped(out.len() + 1, start as u64, &buf[start..end]);
                pos = end;
                continue;
            }
            Next::Blank { end } => {
                garbage.blank(&buf[pos..end]);
                pos = end;
                continue;
            }
            _ => problems.extend(garbage.close()),
        }
        match next {
            Next::Record {
                start,
                end,
                length_mismatch,
            } => {
                let n = out.len() + 1;
                if length_mismatch {
                    problems.push(length_problem(n, start as u64, &buf[start..end]));
                }
                out.push((n, start, &buf[start..end]));
                pos = end;
            }
            Next::Skip { start, end, .. } => {
                problems.push(skip_problem(
                    out.len() + 1,
                    start as u64,
                    &buf[start..end],
                    true,
                ));
                pos = end;
            }
            _ => break,
        }
    }
    (out, problems)
}

/// The problem for a record whose declared length did not match its terminator.
#[must_use]
pub fn length_problem(record: usize, offset: u64, raw: &[u8]) -> RecordProblem {
    let mut p = RecordProblem::new(
        record,
        offset,
        RecordKind::LengthMismatch,
        RecordAction::Recovered,
    );
    let declared = String::from_utf8_lossy(&raw[..5.min(raw.len())]).into_owned();
    p.message = format!(
        "leader says the record is {declared} bytes, its terminator says {}",
        raw.len()
    );
    p.bytes = raw[..5.min(raw.len())].to_vec();
    p
}

// ------------------------------------------------------------------------------------------------
// Parsing and writing

/// One field of a parsed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawField<'a> {
    /// The tag (three bytes as they stand in the directory).
    pub tag: [u8; 3],
    /// The field's data without its terminator.
    pub data: &'a [u8],
}

impl RawField<'_> {
    /// Control fields (00X) have no indicators or subfields.
    #[must_use]
    pub fn is_control(&self) -> bool {
        self.tag[0] == b'0' && self.tag[1] == b'0' && self.tag[2].is_ascii_digit()
    }

    /// The tag as text.
    #[must_use]
    pub fn tag_str(&self) -> String {
        String::from_utf8_lossy(&self.tag).into_owned()
    }
}

/// A parsed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The 24-byte leader.
    pub leader: [u8; 24],
    /// The fields, in directory order.
    pub fields: Vec<RawField<'a>>,
    /// The directory did not describe the fields; they were recovered from their terminators.
    pub recovered: bool,
}

/// Why a record could not be parsed: (kind, message).
pub type ParseError = (RecordKind, String);

/// A record's leader and directory as they stand in its bytes, before any recovery: the one
/// reading of ISO 2709's structure. [`parse`] takes the fields from it (or recovers them from
/// their terminators when it lies), and validation reports what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout<'a> {
    /// The record without its record terminator.
    pub(crate) body: &'a [u8],
    /// The record ended with a record terminator.
    pub(crate) terminated: bool,
    /// The 24-byte leader.
    pub(crate) leader: [u8; 24],
    /// Leader/00-04 (record length) as a number, if it is five digits.
    pub(crate) length: Option<usize>,
    /// Leader/12-16 (base address of data) as a number, if it is digits.
    pub(crate) base: Option<usize>,
    /// The position of the field terminator that ends the directory.
    pub(crate) dir_end: usize,
    /// The directory (without its terminator).
    dir: &'a [u8],
}

/// One directory entry and the field it describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    /// The entry's bytes: tag (3), length (4), start (5).
    pub(crate) bytes: &'a [u8],
    /// The field's data without its terminator, or why the entry does not describe one.
    pub(crate) field: Result<&'a [u8], EntryFault>,
}

/// Why a directory entry does not describe a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryFault {
    /// Fewer than 12 bytes (the directory is not a multiple of 12).
    Short,
    /// The length or the start is not digits.
    NotDigits,
    /// A length of 0, or a field that runs past the record's data.
    OutOfRecord {
        /// The declared length.
        len: usize,
        /// The declared start, relative to the base address.
        start: usize,
    },
    /// The field does not end with a field terminator.
    NoTerminator {
        /// The declared length (the last byte is at `len - 1` in the field).
        len: usize,
        /// The byte where the terminator should be.
        last: u8,
    },
}

impl Entry<'_> {
    /// The tag as it stands (the entry's first three bytes), if the entry has them.
    pub(crate) fn tag(&self) -> Option<[u8; 3]> {
        self.bytes.get(..3).map(|t| [t[0], t[1], t[2]])
    }
}

/// Why a record has no [`Layout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LayoutError {
    /// Fewer than 24 bytes: no leader.
    NoLeader,
    /// No field terminator after the leader: the directory has no end.
    NoDirectoryEnd {
        /// The leader.
        leader: [u8; 24],
        /// Leader/00-04 as a number, if it is five digits.
        length: Option<usize>,
    },
}

impl<'a> Layout<'a> {
    /// Reads the leader and the directory of one record (its terminator may be present or not).
    pub(crate) fn read(raw: &'a [u8]) -> Result<Self, LayoutError> {
        let leader: [u8; 24] = raw
            .get(..24)
            .and_then(|l| l.try_into().ok())
            .ok_or(LayoutError::NoLeader)?;
        let terminated = raw.last() == Some(&RT);
        let body = &raw[..raw.len() - usize::from(terminated)];
        let dir_end = raw[24..]
            .iter()
            .position(|&b| b == FT)
            .map(|i| 24 + i)
            .ok_or(LayoutError::NoDirectoryEnd {
                leader,
                length: digits(&leader[..5]),
            })?;
        Ok(Layout {
            body,
            terminated,
            leader,
            length: digits(&leader[..5]),
            base: digits(&leader[12..17]),
            dir_end,
            dir: &raw[24..dir_end],
        })
    }

    /// The directory's entries in order: 12 bytes each (the last one shorter when the directory
    /// is not a multiple of 12 bytes), with the field each one describes.
    pub(crate) fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        let (body, data_start) = (self.body, self.data_start());
        self.dir.chunks(12).map(move |e| Entry {
            bytes: e,
            field: entry_field(body, data_start, e),
        })
    }

    /// Where the field data starts: just after the directory's terminator.
    pub(crate) fn data_start(&self) -> usize {
        self.dir_end + 1
    }

    /// The directory's length in bytes.
    pub(crate) fn dir_len(&self) -> usize {
        self.dir_end - 24
    }

    /// The field data's length (from the base address to the record terminator).
    pub(crate) fn data_len(&self) -> usize {
        self.body.len().saturating_sub(self.data_start())
    }
}

/// The field a directory entry describes in `body` (the record without its terminator).
#[inline]
fn entry_field<'a>(body: &'a [u8], data_start: usize, e: &[u8]) -> Result<&'a [u8], EntryFault> {
    if e.len() < 12 {
        return Err(EntryFault::Short);
    }
    let (Some(len), Some(start)) = (digits(&e[3..7]), digits(&e[7..12])) else {
        return Err(EntryFault::NotDigits);
    };
    let from = data_start + start;
    match body.get(from..from + len) {
        Some(d) if len > 0 => match d[len - 1] {
            FT => Ok(&d[..len - 1]),
            last => Err(EntryFault::NoTerminator { len, last }),
        },
        _ => Err(EntryFault::OutOfRecord { len, start }),
    }
}

/// Parses one record (its terminator may be present or not).
pub fn parse(raw: &[u8]) -> Result<Parsed<'_>, ParseError> {
    parse_layout(raw, Layout::read(raw))
}

/// [`parse`] from the record's [`Layout`] (read once by a caller that also reports on it).
pub(crate) fn parse_layout<'a>(
    raw: &'a [u8],
    layout: Result<Layout<'a>, LayoutError>,
) -> Result<Parsed<'a>, ParseError> {
    let body = raw.strip_suffix(&[RT]).unwrap_or(raw);
    if body.len() < 24 {
        return Err((
            RecordKind::BadLeader,
            format!("only {} bytes: no leader", body.len()),
        ));
    }
    let layout = layout.map_err(|_| {
        (
            RecordKind::BadDirectory,
            "no field terminator after the directory".to_owned(),
        )
    })?;
    let data_start = layout.data_start();
    // A base address that is not a number (or is off by the directory's terminator) is
    // recovered from that terminator.
    if layout.dir_len() % 12 == 0
        && (layout.base == Some(data_start) || layout.base == Some(layout.dir_end))
    {
        let mut fields = Vec::with_capacity(layout.dir_len() / 12);
        let all = layout.entries().all(|e| match (e.tag(), e.field) {
            (Some(tag), Ok(data)) => {
                fields.push(RawField { tag, data });
                true
            }
            _ => false,
        });
        if all {
            return Ok(Parsed {
                leader: layout.leader,
                fields,
                recovered: false,
            });
        }
    }
    // The directory lies: take the fields from their terminators, with the directory's tags if
    // there are as many entries as fields.
    let data = &body[data_start.min(body.len())..];
    let mut pieces: Vec<&[u8]> = data.split(|&b| b == FT).collect();
    if pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    let tags: Vec<[u8; 3]> = layout.entries().filter_map(|e| e.tag()).collect();
    if tags.len() != pieces.len() || tags.is_empty() {
        return Err((
            RecordKind::BadDirectory,
            format!(
                "the directory lists {} fields and the data holds {}; the fields cannot be told apart",
                tags.len(),
                pieces.len()
            ),
        ));
    }
    Ok(Parsed {
        leader: layout.leader,
        fields: tags
            .into_iter()
            .zip(pieces)
            .map(|(tag, data)| RawField { tag, data })
            .collect(),
        recovered: true,
    })
}

/// Appends `n` as `width` decimal digits (callers have checked that it fits).
fn push_num(out: &mut Vec<u8>, mut n: usize, width: usize) {
    let mut digits = [b'0'; 5];
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[..width]);
}

/// Writes a record from its leader and fields: computes the record length, the base address and
/// the directory. Returns `Err((kind, message))` if a field or the record is too long for
/// ISO 2709.
pub fn write_record<D: AsRef<[u8]>>(
    leader: &[u8; 24],
    fields: &[([u8; 3], D)],
    out: &mut Vec<u8>,
) -> Result<(), ParseError> {
    let base = 24 + 12 * fields.len() + 1;
    let data_len: usize = fields.iter().map(|(_, d)| d.as_ref().len() + 1).sum();
    let total = base + data_len + 1;
    for (tag, d) in fields {
        let d = d.as_ref();
        if d.len() + 1 > MAX_FIELD {
            return Err((
                RecordKind::FieldTooLong,
                format!(
                    "field {} would be {} bytes; ISO 2709 allows {MAX_FIELD}",
                    String::from_utf8_lossy(tag),
                    d.len() + 1
                ),
            ));
        }
    }
    if total > MAX_RECORD || base > MAX_RECORD {
        return Err((
            RecordKind::RecordTooLong,
            format!("the record would be {total} bytes; ISO 2709 allows {MAX_RECORD}"),
        ));
    }
    out.reserve(total);
    push_num(out, total, 5);
    out.extend_from_slice(&leader[5..12]);
    push_num(out, base, 5);
    out.extend_from_slice(&leader[17..24]);
    let mut start = 0;
    for (tag, d) in fields {
        let d = d.as_ref();
        out.extend_from_slice(tag);
        push_num(out, d.len() + 1, 4);
        push_num(out, start, 5);
        start += d.len() + 1;
    }
    out.push(FT);
    for (_, d) in fields {
        out.extend_from_slice(d.as_ref());
        out.push(FT);
    }
    out.push(RT);
    Ok(())
}

/// Puts MARC 21's fixed leader values back (`22` at 10-11, `4500` at 20-23) and replaces bytes
/// that are not printable ASCII (elsewhere than the lengths, which are rewritten anyway) by a
/// space, so that the converted leader is valid in either encoding. Returns the problem (record
/// number and offset to be filled in) if anything changed.
fn fix_leader(leader: &mut [u8; 24]) -> Option<RecordProblem> {
    let before = *leader;
    let mut changed = Vec::new();
    for (i, b) in leader.iter_mut().enumerate() {
        let want = match i {
            0..=4 | 12..=16 => continue, // recomputed when the record is written
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
    if changed.is_empty() {
        return None;
    }
    let mut p = RecordProblem::new(0, 0, RecordKind::BadLeader, RecordAction::Recovered);
    p.message = format!(
        "leader positions {changed:?} held {:?}; written as MARC 21 requires ({:?})",
        changed
            .iter()
            .map(|&i| char::from(before[i]))
            .collect::<String>(),
        changed
            .iter()
            .map(|&i| char::from(leader[i]))
            .collect::<String>(),
    );
    p.bytes = before.to_vec();
    Some(p)
}

// ------------------------------------------------------------------------------------------------
// Encoding detection

/// What a record's field data looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Looks {
    /// Only bytes below 0x80 and no ESC: the same in both encodings.
    Ascii,
    /// Valid UTF-8 with at least one multibyte character.
    Utf8,
    /// UTF-8 with some invalid sequences, but at least as many bytes in valid multibyte
    /// characters as in invalid sequences: damaged UTF-8, not another encoding. Whatever
    /// leader/09 says, it is UTF-8 (each bad sequence replaced and reported): a record that says
    /// MARC-8 is `mislabelled`, like one whose data is valid UTF-8 throughout.
    MostlyUtf8,
    /// MARC-8 escape sequences, or more bytes in invalid UTF-8 sequences than in valid
    /// multibyte characters: MARC-8 or something else.
    NotUtf8,
}

/// Classifies the data of a record's fields. An ESC counts as a sign of MARC-8 only when it
/// starts an escape sequence that designates a MARC-8 set; a stray one is a control character,
/// reported as such by the conversion. Invalid UTF-8 is weighed against valid UTF-8, byte for
/// byte (above 0x7F): one bad sequence among valid characters is damage, not MARC-8, while
/// MARC-8 text (whose diacritics and special characters almost never form valid UTF-8) is
/// nearly all invalid.
#[must_use]
pub fn classify(fields: &[RawField<'_>]) -> Looks {
    let mut multibyte = false;
    for (k, f) in fields.iter().enumerate() {
        if designates(f.data) {
            return Looks::NotUtf8;
        }
        if !f.data.is_ascii() {
            if std::str::from_utf8(f.data).is_err() {
                return weigh(fields, k);
            }
            multibyte = true;
        }
    }
    if multibyte {
        Looks::Utf8
    } else {
        Looks::Ascii
    }
}

/// True if `data` holds an ESC that starts an escape sequence designating a MARC-8 set.
fn designates(data: &[u8]) -> bool {
    // `contains` on bytes is a memchr: most fields have no ESC and pay only that scan.
    let mut rest = if data.contains(&0x1B) { data } else { &[][..] };
    while let Some(i) = rest.iter().position(|&b| b == 0x1B) {
        if crate::decoder::starts_designation(&rest[i..]) {
            return true;
        }
        rest = &rest[i + 1..];
    }
    false
}

/// [`classify`] of a record whose field `first_bad` is the first with invalid UTF-8: MARC-8
/// escapes in any later field, or more bytes above 0x7F in invalid sequences than in valid
/// characters, make it [`Looks::NotUtf8`]; else [`Looks::MostlyUtf8`].
fn weigh(fields: &[RawField<'_>], first_bad: usize) -> Looks {
    if fields[first_bad + 1..].iter().any(|f| designates(f.data)) {
        return Looks::NotUtf8;
    }
    // Every byte of an invalid sequence is above 0x7F: the high bytes are the valid ones plus
    // the invalid ones, so the count stops as soon as the invalid ones are the majority.
    let total: usize = fields
        .iter()
        .map(|f| f.data.iter().filter(|&&b| b >= 0x80).count())
        .sum();
    let mut invalid = 0;
    for f in &fields[first_bad..] {
        if f.data.is_ascii() {
            continue;
        }
        for chunk in f.data.utf8_chunks() {
            invalid += chunk.invalid().len();
        }
        if 2 * invalid > total {
            return Looks::NotUtf8;
        }
    }
    Looks::MostlyUtf8
}

// ------------------------------------------------------------------------------------------------
// Transcoding

/// The escape sequences of non-default sets a MARC-8 string designates, as 066 `$c` values
/// (`$1`, `(N`, `)Q`, …), in the fixed order of [`SETS_066`].
fn sets_used(marc8: &[u8], used: &mut [bool; SETS_066.len()]) {
    if !marc8.contains(&0x1B) {
        return; // a memchr: the common case costs one fast scan
    }
    let mut i = 0;
    while let Some(p) = marc8[i..].iter().position(|&b| b == 0x1B) {
        let esc = &marc8[i + p + 1..];
        for (k, seq) in SETS_066.iter().enumerate() {
            if esc.starts_with(seq.as_bytes()) {
                used[k] = true;
            }
        }
        i += p + 1;
    }
}

/// 066 `$c` values for the sets the encoder designates, in the order they are listed.
pub(crate) const SETS_066: [&str; 7] = ["$1", "(N", ")Q", "(2", "(3", ")4", "(S"];

/// Where a string of a record came from, to position its problems.
pub(crate) struct Site<'a> {
    pub(crate) record: usize,
    pub(crate) offset: u64,
    pub(crate) control_number: &'a Option<String>,
    pub(crate) tag: &'a [u8; 3],
    pub(crate) occurrence: usize,
    pub(crate) subfield: Option<char>,
    /// Offset of the string's first byte inside the field data.
    pub(crate) field_offset: usize,
}

impl Site<'_> {
    fn problem(&self, p: Problem, bytes_offsets: bool) -> RecordProblem {
        let mut r = RecordProblem::new(self.record, self.offset, p.kind.into(), p.action.into());
        r.control_number.clone_from(self.control_number);
        r.tag = Some(String::from_utf8_lossy(self.tag).into_owned());
        r.occurrence = Some(self.occurrence);
        r.subfield = self.subfield;
        r.offset = Some(p.offset);
        r.field_offset = bytes_offsets.then_some(self.field_offset + p.offset);
        r.message = p.message();
        r.bytes = p.bytes;
        r
    }
}

/// Converts one string of a record (a subfield's data or a control field's data).
struct Converter<'o> {
    opts: &'o RecordOptions,
    /// The source is MARC-8 (else UTF-8).
    from_marc8: bool,
    text: String,
    raw_problems: Vec<Problem>,
    used: [bool; SETS_066.len()],
}

impl Converter<'_> {
    fn convert(
        &mut self,
        src: &[u8],
        site: &Site<'_>,
        out: &mut Vec<u8>,
        problems: &mut Vec<RecordProblem>,
    ) {
        self.text.clear();
        self.raw_problems.clear();
        // Source → text.
        let text: Cow<'_, str> = if self.from_marc8 {
            let opts = DecodeOptions {
                errors: ErrorMode::Replace,
                ..self.opts.decode
            };
            // Cannot fail in replace mode.
            let _ = decode_field_append(src, &opts, &mut self.text, &mut self.raw_problems);
            Cow::Borrowed(self.text.as_str())
        } else {
            match std::str::from_utf8(src) {
                Ok(s) if self.opts.to == Target::Marc8 => Cow::Borrowed(s),
                Ok(s) => {
                    // Going to UTF-8 nothing else would see a control character (going to
                    // MARC-8 the encoder reports it).
                    let controls = has_forbidden_controls(src);
                    let expand = self.opts.decode.expand_ncr && s.contains("&#");
                    let t = if controls || expand {
                        self.utf8_text(s, expand);
                        Cow::Owned(std::mem::take(&mut self.text))
                    } else {
                        Cow::Borrowed(s)
                    };
                    match self.opts.decode.normalize {
                        Normalization::None => t,
                        form => Cow::Owned(normalize(t.into_owned(), form)),
                    }
                }
                Err(_) => Cow::Owned(self.invalid_utf8(src)),
            }
        };
        for p in self.raw_problems.drain(..) {
            problems.push(site.problem(p, true));
        }
        // Text → target.
        match self.opts.to {
            Target::Utf8 => out.extend_from_slice(text.as_bytes()),
            Target::Marc8 => {
                let opts = EncodeOptions {
                    errors: match self.opts.encode.errors {
                        EncodeErrors::Strict => EncodeErrors::Lossless,
                        e => e,
                    },
                };
                let (bytes, ps) = encode_field_report(&text, &opts);
                sets_used(&bytes, &mut self.used);
                out.extend_from_slice(&bytes);
                for p in ps {
                    problems.push(site.problem(p, false));
                }
            }
        }
    }

    /// Valid UTF-8 text into `self.text`: each control character MARC forbids becomes U+FFFD
    /// (reported with its byte offset), and with `expand` LC's references are expanded (those
    /// to controls kept as text and reported, like every malformed one). The text is read as
    /// Unicode: its bytes are never decoded as MARC-8.
    fn utf8_text(&mut self, s: &str, expand: bool) {
        let mut ncr = NcrFilter::default();
        let dst = &mut self.text;
        for (i, c) in s.char_indices() {
            let c = if is_forbidden_control(c) {
                let mut utf8 = [0u8; 4];
                self.raw_problems.push(Problem {
                    kind: ProblemKind::ControlCharacter,
                    offset: i,
                    len: c.len_utf8(),
                    bytes: c.encode_utf8(&mut utf8).as_bytes().to_vec(),
                    g0: crate::Charset::Ascii,
                    g1: crate::Charset::Ansel,
                    ch: None,
                    action: Action::Replaced,
                });
                '\u{FFFD}'
            } else {
                c
            };
            if expand {
                if let Some(p) = ncr.push(c, i, c.len_utf8(), dst) {
                    self.raw_problems.push(p);
                }
            } else {
                dst.push(c);
            }
        }
        if let Some(p) = ncr.flush(dst) {
            self.raw_problems.push(p);
        }
        // Problems in input order (a partial reference is reported where it ends).
        self.raw_problems.sort_by_key(|p| p.offset);
    }

    /// Invalid UTF-8: each bad sequence becomes U+FFFD and a problem with its byte offset.
    fn invalid_utf8(&mut self, src: &[u8]) -> String {
        let mut text = String::with_capacity(src.len());
        let mut pos = 0;
        for chunk in src.utf8_chunks() {
            text.push_str(chunk.valid());
            pos += chunk.valid().len();
            let bad = chunk.invalid();
            if !bad.is_empty() {
                text.push('\u{FFFD}');
                self.raw_problems.push(Problem {
                    kind: ProblemKind::InvalidUtf8,
                    offset: pos,
                    len: bad.len(),
                    bytes: bad.to_vec(),
                    g0: crate::Charset::Ascii,
                    g1: crate::Charset::Ansel,
                    ch: None,
                    action: Action::Replaced,
                });
                pos += bad.len();
            }
        }
        text
    }
}

/// True if valid UTF-8 `b` holds a control character MARC forbids
/// ([`crate::problem::is_forbidden_control`]): a byte below 0x1D (ESC included), DEL, or a C1
/// control U+0080–U+009F other than U+0098/U+009C (`C2 80`–`C2 9F`).
pub(crate) fn has_forbidden_controls(b: &[u8]) -> bool {
    // A branch-free pass first (most data has none of these bytes), then the exact check.
    let suspect = b.chunks(32).any(|c| {
        c.iter()
            .fold(false, |a, &x| a | (x < 0x1D) | (x == 0x7F) | (x == 0xC2))
    });
    suspect
        && b.iter().enumerate().any(|(i, &x)| {
            x < 0x1D
                || x == 0x7F
                || (x == 0xC2
                    && b.get(i + 1)
                        .is_some_and(|&n| (0x80..=0x9F).contains(&n) && n != 0x98 && n != 0x9C))
        })
}

/// The substitute written for a tag, indicator or subfield-code byte that is not ASCII: the fill
/// character, valid in both encodings and read by catalogers as "not coded".
const STRUCTURAL_FILL: u8 = b'|';

/// True if the indicators and subfield codes of a data field are ASCII (copying the field as it
/// is then writes no non-ASCII structural byte).
fn structural_bytes_ascii(f: &RawField<'_>) -> bool {
    f.is_control()
        || (f.data[..f.data.len().min(2)].is_ascii()
            && !f.data.windows(2).any(|w| w[0] == SD && w[1] >= 0x80))
}

/// A non-ASCII structural byte: the problem (kind `bad_tag`, `bad_indicator` or
/// `bad_subfield_code`, action `replaced`).
fn structural_problem(
    site: &Site<'_>,
    kind: RecordKind,
    what: &str,
    bytes: &[u8],
) -> RecordProblem {
    let mut p = RecordProblem::new(site.record, site.offset, kind, RecordAction::Replaced);
    p.control_number.clone_from(site.control_number);
    p.tag = Some(String::from_utf8_lossy(site.tag).into_owned());
    p.occurrence = Some(site.occurrence);
    p.message = format!(
        "{what} {} is not ASCII: written as '{}' (the fill character) so that the record stays \
         valid in its encoding",
        crate::hex_bytes(bytes),
        char::from(STRUCTURAL_FILL)
    );
    p.bytes = bytes.to_vec();
    p
}

/// The result of converting one record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Converted {
    /// The converted record, or `None` if it was rejected.
    pub record: Option<Vec<u8>>,
    /// Its problems.
    pub problems: Vec<RecordProblem>,
}

/// Converts one ISO 2709 record. `number` (from 1) and `offset` locate it in its file for the
/// problems.
#[must_use]
pub fn transcode_record(raw: &[u8], opts: &RecordOptions, number: usize, offset: u64) -> Converted {
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 4);
    let ok = transcode_into(raw, opts, number, offset, &mut out, &mut problems);
    Converted {
        record: ok.then_some(out),
        problems,
    }
}

/// Converts one record, appending it to `out`; returns false (and appends nothing) if the
/// record is rejected. Problems are appended to `problems`.
pub fn transcode_into(
    raw: &[u8],
    opts: &RecordOptions,
    number: usize,
    offset: u64,
    out: &mut Vec<u8>,
    problems: &mut Vec<RecordProblem>,
) -> bool {
    transcode_with(
        raw,
        opts,
        number,
        offset,
        &mut Scratch::default(),
        out,
        problems,
    )
}

/// Buffers reused from one record to the next, so that converting a record allocates little.
#[derive(Debug, Default)]
pub struct Scratch {
    data: Vec<u8>,
    text: String,
    raw_problems: Vec<Problem>,
    counts: Vec<([u8; 3], usize)>,
}

/// Where a converted field's data is.
#[derive(Clone, Copy)]
pub(crate) enum Piece<'a> {
    Source(&'a [u8]),
    Scratch(usize, usize),
}

/// What [`begin`] learnt of a record before its fields are converted: its fields, its 001 and
/// its source encoding. Shared by [`transcode_with`] and the record model
/// ([`crate::model::Record::from_iso2709`]), so both report the same problems.
pub(crate) struct Begun<'a> {
    pub(crate) parsed: Parsed<'a>,
    pub(crate) control_number: Option<String>,
    /// The source is read as MARC-8 (else UTF-8).
    pub(crate) from_marc8: bool,
}

/// Parses a record and decides its source encoding (leader/09 checked against the data, `trust`
/// deciding when they disagree). Problems (a directory recovered, a mislabelling, or why the
/// record cannot be parsed, then `None`) are appended to `problems`.
pub(crate) fn begin<'a>(
    raw: &'a [u8],
    trust: Trust,
    number: usize,
    offset: u64,
    problems: &mut Vec<RecordProblem>,
) -> Option<Begun<'a>> {
    begin_parsed(raw, parse(raw), trust, number, offset, problems)
}

/// [`begin`] with the record already parsed.
fn begin_parsed<'a>(
    raw: &'a [u8],
    parsed: Result<Parsed<'a>, ParseError>,
    trust: Trust,
    number: usize,
    offset: u64,
    problems: &mut Vec<RecordProblem>,
) -> Option<Begun<'a>> {
    let parsed = match parsed {
        Ok(p) => p,
        Err((kind, message)) => {
            let mut p = RecordProblem::new(number, offset, kind, RecordAction::Rejected);
            p.message = message;
            p.bytes = raw[..raw.len().min(24)].to_vec();
            problems.push(p);
            return None;
        }
    };
    let control_number = parsed
        .fields
        .iter()
        .find(|f| &f.tag == b"001")
        .map(|f| String::from_utf8_lossy(f.data).trim().to_owned());
    let with_context = |mut p: RecordProblem| {
        p.control_number.clone_from(&control_number);
        p
    };
    if parsed.recovered {
        let mut p = RecordProblem::new(
            number,
            offset,
            RecordKind::BadDirectory,
            RecordAction::Recovered,
        );
        p.message = format!(
            "the directory (base address {:?}) does not match the fields; they were taken from \
             their terminators",
            String::from_utf8_lossy(&parsed.leader[12..17])
        );
        problems.push(with_context(p));
    }

    // The source encoding: leader/09, checked against the data.
    let says_utf8 = parsed.leader[9] == b'a';
    let looks = classify(&parsed.fields);
    // The same weighing whatever leader/09 says (issue 18): damaged UTF-8 under a blank
    // leader/09 is UTF-8 as much as under `a`.
    let mislabelled = matches!(
        (says_utf8, looks),
        (false, Looks::Utf8 | Looks::MostlyUtf8) | (true, Looks::NotUtf8)
    );
    // Trusting the data, a record that looks UTF-8 is read as UTF-8 and vice versa.
    let from_marc8 = if mislabelled && trust == Trust::Data {
        looks == Looks::NotUtf8
    } else {
        !says_utf8
    };
    if mislabelled {
        let mut p = RecordProblem::new(
            number,
            offset,
            RecordKind::Mislabelled,
            if trust == Trust::Data {
                RecordAction::TrustedData
            } else {
                RecordAction::TrustedLeader
            },
        );
        p.message = if says_utf8
            && parsed
                .fields
                .iter()
                .all(|f| std::str::from_utf8(f.data).is_ok())
        {
            "leader/09 says UTF-8 but the data has MARC-8 escape sequences".to_owned()
        } else if says_utf8 {
            "leader/09 says UTF-8 but the data is mostly not valid UTF-8 (MARC-8?)".to_owned()
        } else if looks == Looks::MostlyUtf8 {
            "leader/09 says MARC-8 but the data is UTF-8 (with invalid sequences, no MARC-8 \
             escapes)"
                .to_owned()
        } else {
            "leader/09 says MARC-8 but the data is valid UTF-8".to_owned()
        };
        p.bytes = vec![parsed.leader[9]];
        problems.push(with_context(p));
    }
    Some(Begun {
        parsed,
        control_number,
        from_marc8,
    })
}

/// One piece of a data field's bytes (after its indicators), as the record layer walks it.
pub(crate) enum Part<'a> {
    /// Bytes before the first subfield delimiter (none in a valid record), at `pos` in the field.
    Lead { pos: usize, bytes: &'a [u8] },
    /// A delimiter with nothing after it, at `pos` in the field.
    Bare { pos: usize },
    /// A subfield: its code, the offset of its data in the field, its data.
    Subfield {
        code: u8,
        field_offset: usize,
        bytes: &'a [u8],
    },
}

/// A data field's indicators: its first two bytes (fewer if the field is shorter).
pub(crate) fn indicators(data: &[u8]) -> &[u8] {
    &data[..data.len().min(2)]
}

/// Walks a data field's bytes after its [`indicators`], calling `each` on every piece in order.
pub(crate) fn walk_data_field<'a>(data: &'a [u8], mut each: impl FnMut(Part<'a>)) {
    let ind = data.len().min(2);
    let mut pos = ind;
    let mut parts = data[ind..].split(|&b| b == SD);
    if let Some(lead) = parts.next() {
        if !lead.is_empty() {
            each(Part::Lead { pos, bytes: lead });
        }
        pos += lead.len();
    }
    for part in parts {
        pos += 1;
        match part.split_first() {
            None => each(Part::Bare { pos: pos - 1 }),
            Some((&code, bytes)) => each(Part::Subfield {
                code,
                field_offset: pos + 1,
                bytes,
            }),
        }
        pos += part.len();
    }
}

/// [`transcode_into`] with buffers kept across calls.
pub fn transcode_with(
    raw: &[u8],
    opts: &RecordOptions,
    number: usize,
    offset: u64,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
    problems: &mut Vec<RecordProblem>,
) -> bool {
    transcode_parsed(
        raw,
        parse(raw),
        opts,
        None,
        number,
        offset,
        scratch,
        out,
        problems,
    )
}

/// Which fields of a record are converted: those whose tag it accepts (the others are left out,
/// as if the record did not have them).
pub(crate) type Keep<'k> = Option<&'k dyn Fn(&[u8; 3]) -> bool>;

/// [`transcode_with`] with the record already parsed (validation reads its layout once for
/// its own checks and for the conversion), converting only the fields `keep` accepts (all if
/// `None`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn transcode_parsed<'a>(
    raw: &'a [u8],
    parsed: Result<Parsed<'a>, ParseError>,
    opts: &RecordOptions,
    keep: Keep<'_>,
    number: usize,
    offset: u64,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
    problems: &mut Vec<RecordProblem>,
) -> bool {
    let first_problem = problems.len();
    let Some(Begun {
        parsed,
        control_number,
        from_marc8,
    }) = begin_parsed(raw, parsed, opts.trust, number, offset, problems)
    else {
        return false;
    };

    let mut conv = Converter {
        opts,
        from_marc8,
        text: std::mem::take(&mut scratch.text),
        raw_problems: std::mem::take(&mut scratch.raw_problems),
        used: [false; SETS_066.len()],
    };
    let mut fields: Vec<([u8; 3], Piece<'_>)> = Vec::with_capacity(parsed.fields.len() + 1);
    let counts = &mut scratch.counts;
    counts.clear();
    let data = &mut scratch.data;
    data.clear();
    let same = from_marc8 == (opts.to == Target::Marc8);
    for f in &parsed.fields {
        if keep.is_some_and(|k| !k(&f.tag)) {
            continue;
        }
        let occurrence = occurrence_of(counts, f.tag);
        if &f.tag == b"066" {
            continue; // dropped; rebuilt below for MARC-8
        }
        let mut site = Site {
            record: number,
            offset,
            control_number: &control_number,
            tag: &f.tag,
            occurrence,
            subfield: None,
            field_offset: 0,
        };
        // A tag byte that is not ASCII would be invalid UTF-8 (and no tag in MARC-8).
        let mut tag = f.tag;
        if !tag.is_ascii() {
            problems.push(structural_problem(&site, RecordKind::BadTag, "tag", &f.tag));
            for b in &mut tag {
                if *b >= 0x80 {
                    *b = STRUCTURAL_FILL;
                }
            }
        }
        // Nothing to change: plain ASCII (no ESC or other control, no `&` that could start an
        // NCR) is the same in both encodings; MARC-8 to MARC-8 is copied; valid UTF-8 to UTF-8
        // too unless it is to be normalized or have its NCRs expanded or holds a control
        // character. Never a non-ASCII indicator or subfield code.
        let keep = crate::is_verbatim(f.data, true)
            || (same && structural_bytes_ascii(f) && from_marc8)
            || (same
                && opts.decode.normalize == Normalization::None
                && !opts.decode.expand_ncr
                && std::str::from_utf8(f.data).is_ok()
                && !has_forbidden_controls(f.data)
                && structural_bytes_ascii(f));
        if keep {
            if opts.to == Target::Marc8 && from_marc8 {
                // Copied MARC-8 still counts for the 066 rebuilt below (text copied from UTF-8
                // has no escapes).
                sets_used(f.data, &mut conv.used);
            }
            fields.push((tag, Piece::Source(f.data)));
            continue;
        }
        let field_start = data.len();
        if f.is_control() {
            conv.convert(f.data, &site, data, problems);
        } else {
            for (k, &b) in indicators(f.data).iter().enumerate() {
                if b >= 0x80 {
                    let mut p =
                        structural_problem(&site, RecordKind::BadIndicator, "indicator", &[b]);
                    p.field_offset = Some(k);
                    problems.push(p);
                    data.push(STRUCTURAL_FILL);
                } else {
                    data.push(b);
                }
            }
            walk_data_field(f.data, |part| match part {
                Part::Lead { pos, bytes } => {
                    // Data before the first delimiter (none in valid records): converted as is.
                    site.subfield = None;
                    site.field_offset = pos;
                    conv.convert(bytes, &site, data, problems);
                }
                Part::Bare { .. } => data.push(SD),
                Part::Subfield {
                    code,
                    field_offset,
                    bytes,
                } => {
                    data.push(SD);
                    let code = if code >= 0x80 {
                        site.subfield = None;
                        let mut p = structural_problem(
                            &site,
                            RecordKind::BadSubfieldCode,
                            "subfield code",
                            &[code],
                        );
                        p.field_offset = Some(field_offset - 1);
                        problems.push(p);
                        STRUCTURAL_FILL
                    } else {
                        code
                    };
                    data.push(code);
                    site.subfield = Some(char::from(code));
                    site.field_offset = field_offset;
                    conv.convert(bytes, &site, data, problems);
                }
            });
        }
        fields.push((tag, Piece::Scratch(field_start, data.len())));
    }
    scratch.text = std::mem::take(&mut conv.text);
    scratch.raw_problems = std::mem::take(&mut conv.raw_problems);
    let used = conv.used;
    finish(
        parsed.leader,
        fields,
        data,
        &used,
        opts,
        (number, offset, &control_number),
        first_problem,
        out,
        problems,
    )
}

/// The string converter of the record layer, for the record model: converts subfields and
/// control fields between the source and `opts.to` exactly as [`transcode_with`] does (same
/// problems, same positions) and remembers the MARC-8 sets it designated, for 066.
pub(crate) struct Strings<'o>(Converter<'o>);

impl<'o> Strings<'o> {
    pub(crate) fn new(opts: &'o RecordOptions, from_marc8: bool) -> Self {
        Strings(Converter {
            opts,
            from_marc8,
            text: String::new(),
            raw_problems: Vec::new(),
            used: [false; SETS_066.len()],
        })
    }

    /// Converts one string, appending the result to `out` and its problems to `problems`.
    pub(crate) fn convert(
        &mut self,
        src: &[u8],
        site: &Site<'_>,
        out: &mut Vec<u8>,
        problems: &mut Vec<RecordProblem>,
    ) {
        self.0.convert(src, site, out, problems);
    }

    /// The MARC-8 sets designated so far, in the order of 066.
    pub(crate) fn used(&self) -> [bool; SETS_066.len()] {
        self.0.used
    }
}

/// Which occurrence of `tag` this is, counting in `counts`.
pub(crate) fn occurrence_of(counts: &mut Vec<([u8; 3], usize)>, tag: [u8; 3]) -> usize {
    match counts.iter_mut().find(|(t, _)| *t == tag) {
        Some((_, n)) => {
            *n += 1;
            *n
        }
        None => {
            counts.push((tag, 1));
            1
        }
    }
}

/// The end of writing a record, shared by [`transcode_with`] and the record model
/// ([`crate::model::Record::to_iso2709`]): 066 rebuilt from the sets `used` (MARC-8), strict mode
/// applied, leader/09 set and the leader checked, every length checked, the record written to
/// `out`. Returns false (nothing appended to `out`, the problems since `first_problem` marked
/// `rejected`) if the record is rejected.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish(
    leader: [u8; 24],
    mut fields: Vec<([u8; 3], Piece<'_>)>,
    data: &mut Vec<u8>,
    used: &[bool; SETS_066.len()],
    opts: &RecordOptions,
    (number, offset, control_number): (usize, u64, &Option<String>),
    first_problem: usize,
    out: &mut Vec<u8>,
    problems: &mut Vec<RecordProblem>,
) -> bool {
    let reject = |problems: &mut Vec<RecordProblem>, from: usize| {
        for p in &mut problems[from..] {
            if !p.action.is_recovery() {
                p.action = RecordAction::Rejected;
            }
        }
        false
    };
    let with_context = |mut p: RecordProblem| {
        p.control_number.clone_from(control_number);
        p
    };
    if opts.to == Target::Marc8 && used.iter().any(|&u| u) {
        let start = data.len();
        data.extend_from_slice(b"  ");
        for (k, seq) in SETS_066.iter().enumerate() {
            if used[k] {
                data.push(SD);
                data.push(b'c');
                data.extend_from_slice(seq.as_bytes());
            }
        }
        let at = fields
            .iter()
            .position(|(t, _)| t.as_slice() > b"066".as_slice())
            .unwrap_or(fields.len());
        fields.insert(at, (*b"066", Piece::Scratch(start, data.len())));
    }
    let conversion_problems = problems[first_problem..]
        .iter()
        .any(|p| !p.action.is_recovery());
    if opts.strict() && conversion_problems {
        return reject(problems, first_problem);
    }
    let mut leader = leader;
    leader[9] = if opts.to == Target::Utf8 { b'a' } else { b' ' };
    if let Some(p) = fix_leader(&mut leader) {
        let p = RecordProblem {
            record: number,
            record_offset: offset,
            ..p
        };
        problems.push(with_context(p));
    }
    let fields: Vec<([u8; 3], &[u8])> = fields
        .into_iter()
        .map(|(tag, piece)| {
            let d = match piece {
                Piece::Source(d) => d,
                Piece::Scratch(a, b) => &data[a..b],
            };
            (tag, d)
        })
        .collect();
    for (i, (tag, d)) in fields.iter().enumerate() {
        if d.len() + 1 > MAX_FIELD {
            let mut p = RecordProblem::new(
                number,
                offset,
                RecordKind::FieldTooLong,
                RecordAction::Rejected,
            );
            p.tag = Some(String::from_utf8_lossy(tag).into_owned());
            p.occurrence = Some(fields[..=i].iter().filter(|(t, _)| t == tag).count());
            p.message = format!(
                "field {} would be {} bytes; ISO 2709 allows {MAX_FIELD}",
                String::from_utf8_lossy(tag),
                d.len() + 1
            );
            problems.push(with_context(p));
            return reject(problems, first_problem);
        }
    }
    let before = out.len();
    if let Err((kind, message)) = write_record(&leader, &fields, out) {
        out.truncate(before);
        let mut p = RecordProblem::new(number, offset, kind, RecordAction::Rejected);
        p.message = message;
        problems.push(with_context(p));
        return reject(problems, first_problem);
    }
    true
}

#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod tests;
