//! Reading a record's structure: the leader, the directory and the fields they describe
//! (ISO 2709 read once, as [`Layout`]), and [`parse`] built on it.

use super::*;

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

/// Why a record could not be parsed (or written: a field or the record too long for ISO 2709).
///
/// ```
/// use marc8::record::parse;
/// use marc8::RecordKind;
///
/// let err = parse(b"00012nam").unwrap_err();
/// assert_eq!(err.kind, RecordKind::BadLeader);
/// assert_eq!(err.to_string(), "bad_leader: only 8 bytes: no leader");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong.
    pub kind: RecordKind,
    /// What is wrong, in words.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(kind: RecordKind, message: impl Into<String>) -> ParseError {
        ParseError {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ParseError {}

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
        let dir_end =
            memchr::memchr(FT, &raw[24..])
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
pub(super) fn entry_field<'a>(
    body: &'a [u8],
    data_start: usize,
    e: &[u8],
) -> Result<&'a [u8], EntryFault> {
    if e.len() < 12 {
        return Err(EntryFault::Short);
    }
    let Some((len, start)) = entry_numbers(e) else {
        return Err(EntryFault::NotDigits);
    };
    field_at(body, data_start, len, start)
}

/// The field `len` bytes long (its terminator included) at `start` of the data.
#[inline]
fn field_at(body: &[u8], data_start: usize, len: usize, start: usize) -> Result<&[u8], EntryFault> {
    let from = data_start + start;
    match body.get(from..from + len) {
        Some(d) if len > 0 => match d[len - 1] {
            FT => Ok(&d[..len - 1]),
            last => Err(EntryFault::NoTerminator { len, last }),
        },
        _ => Err(EntryFault::OutOfRecord { len, start }),
    }
}

/// A directory entry's length (bytes 3-6) and start (7-11), if they are digits (`e` is at least
/// 12 bytes). Eight of the nine digits are checked and read as one word (issue 22).
#[inline]
pub(super) fn entry_numbers(e: &[u8]) -> Option<(usize, usize)> {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let e: &[u8; 12] = e.get(..12)?.try_into().ok()?;
    let w = u64::from_le_bytes([e[3], e[4], e[5], e[6], e[7], e[8], e[9], e[10]]);
    // Every byte 0x30-0x3F, and none above 0x39 (adding 6 then carries into the high nibble;
    // no byte carries into the next one, every byte being at most 0x3F).
    let digits = w & HIGH == ZEROS && (w + 0x0606_0606_0606_0606) & HIGH == ZEROS;
    let last = e[11].wrapping_sub(b'0');
    if !digits || last >= 10 {
        return None;
    }
    // The digits' values, the first in the low byte: pairs of digits, then fours (each step
    // stays inside its lane: 9 * 10 + 9 and 99 * 100 + 99 fit).
    let d = w - ZEROS;
    let pairs = (d * 10 + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let fours = (pairs * 100 + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    let len = (fours & 0xFFFF) as usize;
    let start = (fours >> 32) as usize * 10 + usize::from(last);
    Some((len, start))
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
        return Err(ParseError::new(
            RecordKind::BadLeader,
            format!("only {} bytes: no leader", body.len()),
        ));
    }
    let layout = layout.map_err(|_| {
        ParseError::new(
            RecordKind::BadDirectory,
            "no field terminator after the directory",
        )
    })?;
    let data_start = layout.data_start();
    // A base address that is not a number (or is off by the directory's terminator) is
    // recovered from that terminator.
    if layout.dir_len() % 12 == 0
        && (layout.base == Some(data_start) || layout.base == Some(layout.dir_end))
    {
        // The directory is a whole number of entries here: each one read once, in place.
        let mut fields = Vec::with_capacity(layout.dir_len() / 12);
        let all = layout.dir.chunks_exact(12).all(|e| {
            let found = entry_numbers(e)
                .and_then(|(len, start)| field_at(layout.body, data_start, len, start).ok());
            if let Some(data) = found {
                fields.push(RawField {
                    tag: [e[0], e[1], e[2]],
                    data,
                });
            }
            found.is_some()
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
        return Err(ParseError::new(
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
