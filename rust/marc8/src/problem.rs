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
    /// A control character MARC 21 does not allow in field data: a C0 control other than ESC,
    /// 1D, 1E and 1F (in MARC-8, ESC only as the start of an escape sequence), DEL, or a C1
    /// control other than MARC-8's 88/89 (U+0098/U+009C). Tab, line feed and carriage return
    /// are reported in field data (the record layer, validation) but pass in the string calls
    /// and the codec, which read text with lines. Also a numeric character reference
    /// to any C0 control (the four MARC uses included), DEL or such a C1 control, which
    /// [`crate::DecodeOptions::expand_ncr`] keeps as text: expanding it would inject a subfield
    /// delimiter, a field or record terminator or an escape into the data.
    ControlCharacter,
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
            ProblemKind::ControlCharacter => "control_character",
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
            ProblemKind::MarkWithoutBase => match self.ch {
                // Encoder: the mark follows no base it can be written in front of.
                Some(c) => format!(
                    "combining mark {} has no base character before it (it comes at the start, \
                     after a control or U+0098/U+009C/U+200C/U+200D, or after a character \
                     written as a reference or fill character); MARC-8 can only write a mark in \
                     front of its base",
                    char_shown(c)
                ),
                None => format!("combining mark {hex} has no base character after it"),
            },
            ProblemKind::MalformedNcr => format!(
                "{:?} looks like a character reference but is not a valid &#xXXXX; one",
                String::from_utf8_lossy(&self.bytes)
            ),
            ProblemKind::InvalidUtf8 => format!("bytes {hex} are not valid UTF-8"),
            ProblemKind::ControlCharacter => self.control_message(),
            ProblemKind::Unmappable => match self.ch {
                Some(c @ '\u{FE20}'..='\u{FE23}') => format!(
                    "{}, a pre-2004 half of a double diacritic, would be read back as part of \
                     LC's U+0361/U+0360 pair: written as a reference to keep it exact",
                    char_shown(c)
                ),
                Some(c) => format!("{} has no MARC-8 equivalent", char_shown(c)),
                None => "character has no MARC-8 equivalent".to_owned(),
            },
        }
    }

    fn control_message(&self) -> String {
        if self.bytes.starts_with(b"&#") {
            let text = String::from_utf8_lossy(&self.bytes);
            let cp = u32::from_str_radix(&text[3..text.len().saturating_sub(1)], 16).unwrap_or(0);
            return format!(
                "{text} refers to control character U+{cp:04X}{}, which MARC field data cannot \
                 hold: kept as text",
                control_name(cp)
            );
        }
        match self.ch {
            Some(c) => format!(
                "control character U+{:04X}{} is not allowed in MARC 21 data (only 1D, 1E and 1F \
                 are)",
                u32::from(c),
                control_name(u32::from(c))
            ),
            None => {
                let cp = self.bytes.first().copied().map_or(0, u32::from);
                format!(
                    "control byte {}{} is not allowed in MARC 21 data (only ESC, 1D, 1E, 1F and \
                     88/89/8D/8E are)",
                    hex_bytes(&self.bytes),
                    control_name(cp)
                )
            }
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

/// A short name for the controls people meet in records, with a leading space; else empty.
fn control_name(cp: u32) -> &'static str {
    match cp {
        0x00 => " (NUL)",
        0x09 => " (tab)",
        0x0A => " (line feed)",
        0x0D => " (carriage return)",
        0x1B => " (ESC)",
        0x1D => " (record terminator)",
        0x1E => " (field terminator)",
        0x1F => " (subfield delimiter)",
        0x7F => " (DEL)",
        _ => "",
    }
}

/// True for a character MARC 21 field data may not contain as text: a C0 control other than
/// 1D, 1E and 1F (ESC included: in MARC-8 it only starts escape sequences), DEL, and a C1
/// control other than U+0098/U+009C (MARC-8's NSB/NSE, bytes 88/89).
#[inline]
#[must_use]
pub fn is_forbidden_control(c: char) -> bool {
    matches!(c, '\0'..='\u{1C}' | '\u{7F}'..='\u{97}' | '\u{99}'..='\u{9B}' | '\u{9D}'..='\u{9F}')
}

/// True for a character a numeric character reference must not expand to: every C0 control
/// (the structural 1D, 1E, 1F and ESC above all), DEL and the C1 controls other than
/// U+0098/U+009C.
#[inline]
#[must_use]
pub fn is_forbidden_ncr_target(c: char) -> bool {
    c < ' ' || is_forbidden_control(c)
}

/// A character as messages show it to a person: `U+0930 'र'` -- the code point and the
/// character itself between quotes (never an escape such as `'\u{941}'`); a combining mark on a
/// dotted circle (`U+0941 '◌ु'`); a control, a format character or a separator that shows
/// nothing (U+00AD, U+200D, U+2028 ...) by its code point alone.
#[must_use]
pub fn char_shown(c: char) -> String {
    let cp = u32::from(c);
    let invisible = c.is_control()
        || matches!(
            cp,
            0xAD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x180E | 0x3164 | 0xFEFF
        )
        || (0x200B..=0x200F).contains(&cp)
        || (0x2028..=0x202E).contains(&cp)
        || (0x2060..=0x206F).contains(&cp)
        || (0xFFF0..=0xFFF8).contains(&cp)
        || (0xE0000..=0xE007F).contains(&cp)
        || (c.is_whitespace() && c != ' ');
    let mut s = String::with_capacity(16);
    push_code_point(cp, &mut s);
    if invisible {
        return s;
    }
    s.push_str(" '");
    // A mark that would sit on the opening quote is shown on a dotted circle (U+25CC): the
    // characters `{c:?}` escapes as `\u{..}` (marks, unassigned and unprintable ones).
    let mut escaped = c.escape_debug();
    if escaped.next() == Some('\\') && escaped.next() == Some('u') {
        s.push('\u{25CC}');
    }
    s.push(c);
    s.push('\'');
    s
}

/// `U+` and the code point in upper-case hex, at least four digits.
fn push_code_point(cp: u32, s: &mut String) {
    s.push_str("U+");
    let digits = (32 - cp.leading_zeros()).div_ceil(4).max(4);
    for k in (0..digits).rev() {
        s.push(char::from(HEX[((cp >> (4 * k)) & 0xF) as usize]));
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `1B 28 5A` style hex.
#[must_use]
pub fn hex_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xF)]));
    }
    s
}

#[cfg(test)]
mod char_shown_tests {
    use super::char_shown;

    #[test]
    fn characters_are_shown_as_themselves_never_as_escapes() {
        assert_eq!(char_shown('र'), "U+0930 'र'");
        assert_eq!(char_shown('\u{941}'), "U+0941 '\u{25CC}\u{941}'");
        assert_eq!(char_shown('\u{301}'), "U+0301 '\u{25CC}\u{301}'");
        assert_eq!(char_shown('\u{200D}'), "U+200D");
        assert_eq!(char_shown('\u{1F}'), "U+001F");
        for c in ['\u{941}', '\u{FE20}', '\u{200D}', 'é', '中'] {
            assert!(!char_shown(c).contains("\\u{"), "{}", char_shown(c));
        }
    }

    /// Written by hand, without `format!` (a message per problem, and records with thousands
    /// of problems): the same text as the formatting it replaced, for every code point.
    #[test]
    fn written_as_format_would() {
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            let cp = u32::from(c);
            let shown = char_shown(c);
            let head = format!("U+{cp:04X}");
            if shown.len() == head.len() {
                assert_eq!(shown, head);
            } else if format!("{c:?}").starts_with("'\\u{") {
                assert_eq!(shown, format!("{head} '\u{25CC}{c}'"));
            } else {
                assert_eq!(shown, format!("{head} '{c}'"));
            }
        }
        let all: Vec<u8> = (0..=255).collect();
        let expected: Vec<String> = all.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(super::hex_bytes(&all), expected.join(" "));
        assert_eq!(super::hex_bytes(&[]), "");
    }
}
