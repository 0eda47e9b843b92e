//! LC's numeric character references, `&#xXXXX;`.
//!
//! LC's lossless method writes a character MARC-8 lacks as `&#x` + its code point in hex (upper
//! case, at least four digits) + `;`. Reading back, [`NcrFilter`] sits on the decoder's output
//! and turns such a reference into the character. It accepts either case of the hex digits and of
//! the `x`, 4 to 6 digits, and only Unicode scalar values. Anything that starts like one (`&#x`)
//! and is not valid is left as text and reported, and so is a valid reference to a control
//! character ([`crate::problem::is_forbidden_ncr_target`]): it would inject a subfield delimiter,
//! a terminator or an escape into the data.

use crate::charset::Charset;
use crate::problem::{is_forbidden_ncr_target, Action, Problem, ProblemKind};

/// The longest valid reference: `&#x10FFFF;`.
const MAX_NCR: usize = 10;

/// Recognises NCRs in a stream of decoded characters. Holds at most [`MAX_NCR`] characters.
#[derive(Clone, Debug, Default)]
pub(crate) struct NcrFilter {
    held: String,
    start: usize,
    end: usize,
}

impl NcrFilter {
    pub(crate) fn is_idle(&self) -> bool {
        self.held.is_empty()
    }

    /// Feeds one decoded character that came from input bytes `off..off + len`. Returns the
    /// problem if this character showed that held text was a malformed reference (at most one
    /// per call: after giving up, the filter is idle).
    #[must_use]
    pub(crate) fn push(
        &mut self,
        c: char,
        off: usize,
        len: usize,
        dst: &mut String,
    ) -> Option<Problem> {
        if self.held.is_empty() {
            if c == '&' {
                self.held.push('&');
                self.start = off;
                self.end = off + len;
            } else {
                dst.push(c);
            }
            return None;
        }
        let n = self.held.len();
        let digits = n.saturating_sub(3);
        let fits = match n {
            1 => c == '#',
            2 => c == 'x' || c == 'X',
            _ => c.is_ascii_hexdigit() && digits < 6 || c == ';' && digits >= 4,
        };
        if fits {
            self.held.push(c);
            self.end = off + len;
            if c == ';' {
                let hex = &self.held[3..self.held.len() - 1];
                match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                    // A reference to a control stays text: expanded, `&#x001F;` would be a
                    // subfield delimiter inside the data (and `&#x001D;`, `&#x001E;`, `&#x001B;`
                    // a record or field terminator or an escape).
                    Some(ch) if is_forbidden_ncr_target(ch) => {
                        return self.give_up_as(ProblemKind::ControlCharacter, dst);
                    }
                    Some(ch) => {
                        dst.push(ch);
                        self.held.clear();
                        return None;
                    }
                    None => return self.give_up(dst),
                }
            }
            return None;
        }
        if n >= 3 && c == ';' {
            // `&#x12;`, `&#xZ;`…: the `;` belongs to the malformed reference.
            self.held.push(c);
            self.end = off + len;
            return self.give_up(dst);
        }
        let problem = self.give_up(dst);
        let again = self.push(c, off, len, dst);
        debug_assert!(again.is_none(), "an idle filter reports nothing");
        problem
    }

    /// Writes out whatever is held (at the end of the input, or before another problem).
    #[must_use]
    pub(crate) fn flush(&mut self, dst: &mut String) -> Option<Problem> {
        if self.held.is_empty() {
            None
        } else {
            self.give_up(dst)
        }
    }

    /// The held text is not a valid reference: keep it as text; report it if it got as far as
    /// `&#x`, i.e. if it looks like one.
    /// The problem's designations are filled in by the decoder.
    fn give_up(&mut self, dst: &mut String) -> Option<Problem> {
        self.give_up_as(ProblemKind::MalformedNcr, dst)
    }

    fn give_up_as(&mut self, kind: ProblemKind, dst: &mut String) -> Option<Problem> {
        debug_assert!(self.held.len() <= MAX_NCR);
        let problem = (self.held.len() >= 3).then(|| Problem {
            kind,
            offset: self.start,
            len: self.end - self.start,
            bytes: self.held.as_bytes().to_vec(),
            g0: Charset::Ascii,
            g1: Charset::Ansel,
            ch: None,
            action: Action::KeptAsText,
        });
        dst.push_str(&self.held);
        self.held.clear();
        problem
    }
}
