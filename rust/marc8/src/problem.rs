//! Problems: everything the converters could not convert, as data.

use crate::charset::Charset;
use std::fmt;

/// What kind of thing went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// An escape sequence that is well formed but designates no MARC-8 set (`ESC ( Z`, `ESC t`).
    UnknownEscape,
    /// An ESC that does not start a complete escape sequence: at the end of the input, or followed
    /// by a byte that cannot continue one.
    TruncatedEscape,
    /// A byte (or, in EACC, a complete three-byte code) with no mapping in the designated set.
    UnmappedByte,
    /// An EACC character cut short by the end of the input, a control, an ESC or a byte from the
    /// other half of the code table.
    TruncatedMultibyte,
    /// A combining mark with no base character after it (at the end of the input or before a
    /// control character).
    MarkWithoutBase,
    /// Text that looks like a numeric character reference (`&#x…`) but is not a valid one; it is
    /// kept as text. Only reported when NCR expansion was asked for.
    MalformedNcr,
    /// A character MARC-8 cannot represent (encoder).
    Unmappable,
    /// Bytes of a UTF-8 source that are not valid UTF-8.
    InvalidUtf8,
}

impl ProblemKind {
    /// A stable identifier, used in JSON reports and by the Python layer.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::UnknownEscape => "unknown_escape",
            ProblemKind::TruncatedEscape => "truncated_escape",
            ProblemKind::UnmappedByte => "unmapped_byte",
            ProblemKind::TruncatedMultibyte => "truncated_multibyte",
            ProblemKind::MarkWithoutBase => "mark_without_base",
            ProblemKind::MalformedNcr => "malformed_ncr",
            ProblemKind::Unmappable => "unmappable",
            ProblemKind::InvalidUtf8 => "invalid_utf8",
        }
    }
}

/// What the converter did about a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The bad unit was replaced by one U+FFFD; conversion went on with the next byte.
    Replaced,
    /// Conversion stopped here (strict mode).
    Stopped,
    /// The text was kept as it was (malformed NCR).
    KeptAsText,
    /// The character was written as LC's lossless numeric character reference `&#xXXXX;`.
    WroteNcr,
    /// The character was written as the fill character `|` (LC's lossy method).
    WroteFill,
}

impl Action {
    /// A stable identifier, used in JSON reports and by the Python layer.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replaced => "replaced",
            Action::Stopped => "stopped",
            Action::KeptAsText => "kept_as_text",
            Action::WroteNcr => "wrote_ncr",
            Action::WroteFill => "wrote_fill",
        }
    }
}

/// One thing a converter could not convert, with its exact position.
///
/// For the decoder, `offset` and `len` are in bytes of the MARC-8 input (counted from the start of
/// the stream for a streaming [`crate::Decoder`]), `bytes` are the offending bytes and `g0`/`g1`
/// the sets designated when the problem was met. For the encoder, `offset` and `len` count Unicode
/// scalar values of the input and `ch` is the character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What went wrong.
    pub kind: ProblemKind,
    /// Where the bad unit starts.
    pub offset: usize,
    /// How long the bad unit is.
    pub len: usize,
    /// The offending bytes (decoder) or the UTF-8 of the offending character (encoder).
    pub bytes: Vec<u8>,
    /// The set designated as G0 at that point.
    pub g0: Charset,
    /// The set designated as G1 at that point.
    pub g1: Charset,
    /// The unmappable character (encoder problems only).
    pub ch: Option<char>,
    /// What was done about it.
    pub action: Action,
}

impl Problem {
    /// A one-line explanation a cataloger can act on.
    #[must_use]
    pub fn message(&self) -> String {
        let hex = hex_bytes(&self.bytes);
        match self.kind {
            ProblemKind::UnknownEscape => {
                format!("escape sequence {hex} designates no MARC-8 character set")
            }
            ProblemKind::TruncatedEscape => format!("incomplete escape sequence {hex}"),
            ProblemKind::UnmappedByte => format!(
                "{} {hex} has no mapping in {} (G0 {}, G1 {})",
                if self.bytes.len() > 1 { "code" } else { "byte" },
                self.set_for_bytes().name(),
                self.g0.short_name(),
                self.g1.short_name()
            ),
            ProblemKind::TruncatedMultibyte => {
                format!("EACC character cut short after {hex}")
            }
            ProblemKind::MarkWithoutBase => {
                format!("combining mark {hex} has no base character after it")
            }
            ProblemKind::MalformedNcr => format!(
                "{:?} looks like a character reference but is not a valid &#xXXXX; one",
                String::from_utf8_lossy(&self.bytes)
            ),
            ProblemKind::InvalidUtf8 => format!("bytes {hex} are not valid UTF-8"),
            ProblemKind::Unmappable => match self.ch {
                Some(c) => format!("U+{:04X} {c:?} has no MARC-8 equivalent", u32::from(c)),
                None => "character has no MARC-8 equivalent".to_owned(),
            },
        }
    }

    /// The set a byte-level problem's first byte was read in (G1 for a high byte, G0 otherwise).
    #[must_use]
    pub fn set_for_bytes(&self) -> Charset {
        match self.bytes.first() {
            Some(&b) if b >= 0x80 => self.g1,
            _ => self.g0,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at offset {}: {}",
            self.kind.as_str(),
            self.offset,
            self.message()
        )
    }
}

impl std::error::Error for Problem {}

/// `1B 28 5A` style hex.
#[must_use]
pub fn hex_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}
