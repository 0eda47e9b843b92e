//! Unicode → MARC-8.
//!
//! [`Encoder`] is a streaming encoder; [`encode`] and [`encode_report`] are the one-shot calls
//! built on it.
//!
//! # The model
//!
//! * **Held-back base.** In MARC-8 a combining mark comes *before* its base character, in
//!   Unicode after it. The encoder therefore holds the current base character back until it knows
//!   that no more marks follow: when the next base character, a control, an unmappable character
//!   or the end of the stream (`last = true`) arrives. The marks themselves are written as soon as
//!   they arrive, so they end up in front of the held base, in the order they appear in the input.
//!   This is exactly the inverse of the decoder, which emits `base, mark1, mark2` for MARC-8
//!   `mark1 mark2 base`: `decode(encode(s)) == s` for text in the decoder's output form, and
//!   `encode(decode(m)) == m` for MARC-8 `m` this encoder wrote.
//! * **Direct mapping first, then selective decomposition.** A character with a code in LC's
//!   tables is written with that code, even if Unicode could decompose it (ơ, й, kana with
//!   dakuten, Hangul syllables). Only a character with no code is decomposed canonically, and the
//!   pieces are recomposed greedily from the left as far as a recomposed piece has a code of its
//!   own: U+1EDB ớ → U+01A1 ơ + U+0301 → `E2 BC`. The marks of a decomposition are written in the
//!   canonical order of its full decomposition, so U+1EAD ậ = a U+0323 U+0302 → `F2 E3 61` (what
//!   every other encoder writes; LC's top-to-bottom rule would give `E3 F2 61`). If a piece still
//!   has no code, the whole character is unmappable and is reported once, as itself.
//! * **Double diacritics.** `t U+0361 s` → `EB t EC s` (and U+0360 → `FA … FB`): the left half is
//!   a mark of `t`; the closing half is written when the next base `s` arrives, in front of the
//!   marks of `s` (an NCR or `|` written for an unmappable character counts as a base). With no
//!   next base (end of the stream, a control) no closing half is written: `t U+0361` → `EB t`, which decodes to
//!   `t U+0361` (a right half must have a base after it). The encoder mirrors the decoder's state
//!   (left half stored → its base written → closed by a right half or by the next base) so that
//!   what it writes is read back exactly: a right half U+FE21/U+FE23 given as a mark is written
//!   as EC/FB where the decoder reads it as that mark. The pre-2004 halves U+FE20–U+FE23 are
//!   written as ordinary marks with their own codes (EB, EC, FA, FB) in strict and lossy mode;
//!   an LC-conformant decoder reads `t U+FE20 s U+FE21` back as `t U+0361 s` (see
//!   [`crate::DecodeOptions::legacy_ligatures`]). In lossless mode, whose promise is an exact
//!   round trip, a left half U+FE20/U+FE22 is always written as a reference, and a right half
//!   U+FE21/U+FE23 too where the decoder would read its code as closing a pair (elsewhere EC/FB
//!   is read back as that very half); each is reported as unmappable. A control closes an open
//!   pair, as in the decoder.
//! * **Marks need a base.** A mark at the start of the stream, after a control character, after
//!   one of the C1 specials (U+0098, U+009C, U+200D, U+200C) or after an unmappable character has
//!   nothing to go in front of: it is reported as [`ProblemKind::MarkWithoutBase`] and treated
//!   like an unmappable character (a reference in lossless mode, `|` in lossy mode). MARC-8
//!   cannot say "this mark belongs to the base before the special": the decoder puts a special
//!   out at once and holds marks for the next base, so no byte order reads back as
//!   `a U+0098 U+0301`.
//! * **Control characters.** MARC 21 data may hold only 1D, 1E and 1F (and, in MARC-8, ESC as
//!   the start of an escape). Any other C0 control, ESC itself, DEL and the C1 controls other than
//!   U+0098/U+009C are reported as [`ProblemKind::ControlCharacter`]; strict mode stops, lossless
//!   and lossy modes write the fill character `|` (a reference would not help: the decoder keeps
//!   references to controls as text).
//! * **Set choice.** A base character takes, among its codes, one in the set designated as G0 (for
//!   the GL sets) or G1 (for ANSEL, Extended Cyrillic and Extended Arabic), so that digits and
//!   punctuation in a Cyrillic, Hebrew or Arabic run stay in that set; otherwise the first code in
//!   LC's order. A mark prefers the set its base is written in (Greek, Hebrew and Arabic marks go
//!   with their letters; U+0306/U+030C on an Extended Arabic letter stay in Extended Arabic), then
//!   G1, then G0, then LC's order. Primary codes are preferred to LC's `alt` codes. Exceptions:
//!   U+3000 is always EACC `21 23 21` (ANSI Z39.64, as yaz and marc4j), and the Greek-symbols set
//!   (`ESC g`) is decode-only: α β γ go to Basic Greek (`ESC ( S`).
//! * **Registers.** ANSEL, Extended Cyrillic and Extended Arabic are designated into G1
//!   (`ESC ) E`, `ESC ) Q`, `ESC ) 4`) and written as GR bytes; the other single-byte sets into G0
//!   (`ESC ( F`, or `ESC b` / `ESC p` for the technique-1 sub- and superscripts, left with
//!   `ESC s`), EACC with `ESC $ 1`. Before any GR byte inside an EACC run the encoder goes back to
//!   `ESC ( B` (as yaz does: pymarc reads a GR byte in EACC mode as a 3-byte character). Space and
//!   the controls 1D, 1E, 1F are written as they are in any set; U+0098,
//!   U+009C, U+200D and U+200C are written as the bytes 88, 89, 8D, 8E whatever G1 is. Every
//!   stream ends (with `last = true`) back in G0 = ASCII, G1 = ANSEL, with no escape if it already
//!   is.
//! * **Unmappable characters.** [`EncodeErrors::Strict`] stops at the first one;
//!   [`EncodeErrors::Lossless`] writes LC's numeric character reference `&#xXXXX;` (code point,
//!   upper-case hex, at least 4 digits, always the `;`) and [`EncodeErrors::Lossy`] the fill
//!   character `|`, both in ASCII. Every unmappable character is reported, whatever the mode.
//! * **NCR protection.** In lossless mode an `&` followed by `#x` or `#X` in the text is written as
//!   `&#x0026;`, so that decoding with NCR expansion gives back the text exactly (`&#x0041;` stays
//!   `&#x0041;`). The encoder looks two characters ahead to decide; this is not reported.
//!
//! Encoding is chunk-split invariant: any split of the input at character boundaries across calls
//! gives the same bytes and the same problems as one call.

use std::borrow::Cow;

use crate::ascii::copyable_prefix;
use crate::charset::{Charset, Code};
use crate::problem::{is_forbidden_control, Action, Problem, ProblemKind};
use choice::{choose, decompose, kind};

mod choice;

/// What to do with a character MARC-8 cannot represent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncodeErrors {
    /// Stop at the first unmappable character and return it as an error.
    #[default]
    Strict,
    /// Write LC's lossless numeric character reference `&#xXXXX;` and go on. A literal `&#x` in
    /// the text is protected (its `&` written as `&#x0026;`).
    Lossless,
    /// Write the fill character `|` (LC's lossy method) and go on.
    Lossy,
}

/// Options of the encoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// What to do with unmappable characters.
    pub errors: EncodeErrors,
}

const ESC: u8 = 0x1B;

/// The base character waiting for its marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    /// Nothing: a mark arriving now has no base.
    None,
    /// A character with a code; `set` is the set it would be written in when it arrived (marks
    /// prefer it).
    Char { ch: char, set: Charset },
    /// SPACE, 0x20 in every set.
    Space,
    /// An `&` that starts a literal `&#x` in lossless mode, written `&#x0026;`.
    ProtectedAmp,
}

/// Lossless mode's look-ahead for a literal `&#x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lookahead {
    Idle,
    /// An `&` has been read and not yet processed.
    Amp,
    /// `&#` has been read and not yet processed.
    AmpHash,
}

/// The decoder's double-diacritic state after the bytes written so far (mirrored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Double {
    /// No pair open: a right half is read as the mark U+FE21 / U+FE23.
    None,
    /// A left half (EB / FA) is stored, its base not yet written.
    LeftPending,
    /// The left half's base is written: a right half before the next base closes the pair (and
    /// is read as nothing).
    Open,
}

/// How a character with a code behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Base,
    Mark,
    /// U+0361 / U+0360: the first half of a double diacritic, LC's mapping; the byte is the
    /// closing half to write after the base.
    ModernOpen(u8),
    /// U+FE20 / U+FE22, the pre-2004 first half.
    LegacyOpen,
    /// U+FE21 / U+FE23, the second half.
    Close,
}

/// A streaming Unicode → MARC-8 encoder.
///
/// The model, in short (the full account is at the top of `encoder.rs`):
///
/// * a character with a code in LC's tables is written with it; only one without is decomposed
///   canonically, keeping the largest recomposed pieces that have codes (ớ → ơ + U+0301);
/// * combining marks are written before their base, in input order, so the encoder holds the
///   last base character back until the next base, a control or the end arrives;
///   `t U+0361 s` → `EB t EC s`; a mark with no base before it is unmappable;
/// * each character goes to the set already designated if it is there, else to the first of
///   LC's codes (U+3000 → EACC `21 23 21`; α β γ → Basic Greek, never `ESC g`); ANSEL, Extended
///   Cyrillic and Extended Arabic live in G1, the rest in G0; the stream ends in ASCII / ANSEL;
/// * unmappable characters stop (strict), become `&#xXXXX;` (lossless, which also protects a
///   literal `&#x` as `&#x0026;#x`) or `|` (lossy), and are always reported; so are marks with no
///   base; control characters MARC forbids stop (strict) or become `|`.
///
/// State: the sets designated as G0 and G1 (initially ASCII and ANSEL), the held-back base
/// character, the closing half of a double diacritic still to be written, a mirror of the
/// decoder's double-diacritic state, and (lossless mode) up to two characters of look-ahead for
/// a literal `&#x`.
///
/// Problem offsets count Unicode scalar values from the start of the stream. After a call with
/// `last = true` the encoder is back in its initial state and can start a new stream.
///
/// Exposed to Python as `marc8fast._native.Encoder` (used by the incremental codec).
#[derive(Clone, Debug)]
pub struct Encoder {
    opts: EncodeOptions,
    g0: Charset,
    g1: Charset,
    held: Held,
    amp: Lookahead,
    /// The closing half (EC / FB) owed by the held base (a U+0361 / U+0360 among its marks).
    need_close: Option<u8>,
    /// The closing half owed to the next base: written in front of it (and its marks).
    owed_close: Option<u8>,
    /// Where a decoder of the bytes written so far is in a double diacritic.
    double: Double,
    pos: usize,
    /// Field data: tab, line feed and carriage return are control characters too.
    field_data: bool,
}

impl Encoder {
    /// An encoder in the initial state (G0 = ASCII, G1 = ANSEL).
    #[must_use]
    pub fn new(options: EncodeOptions) -> Self {
        Encoder {
            opts: options,
            g0: Charset::Ascii,
            g1: Charset::Ansel,
            held: Held::None,
            amp: Lookahead::Idle,
            need_close: None,
            owed_close: None,
            double: Double::None,
            pos: 0,
            field_data: false,
        }
    }

    /// An encoder for MARC field data: like [`Self::new`], but tab, line feed and carriage
    /// return are reported as control characters too.
    #[must_use]
    pub(crate) fn for_field_data(options: EncodeOptions) -> Self {
        Encoder {
            field_data: true,
            ..Encoder::new(options)
        }
    }

    /// The options this encoder was made with.
    #[must_use]
    pub fn options(&self) -> &EncodeOptions {
        &self.opts
    }

    /// The sets currently designated as (G0, G1) in the bytes written so far.
    #[must_use]
    pub fn designations(&self) -> (Charset, Charset) {
        (self.g0, self.g1)
    }

    /// Number of characters (Unicode scalar values) received so far in this stream.
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True if a call with empty input and `last = true` would write anything: a held-back base
    /// character (with its closing half), look-ahead characters, or escapes back to
    /// G0 = ASCII, G1 = ANSEL.
    #[must_use]
    pub fn has_pending_state(&self) -> bool {
        self.held != Held::None
            || self.amp != Lookahead::Idle
            || self.g0 != Charset::Ascii
            || self.g1 != Charset::Ansel
    }

    /// Encodes `src`, appending MARC-8 to `dst`. The last base character (and the marks after
    /// it) is held back until the encoder knows no more marks follow; set `last` on the final
    /// chunk to flush it, return to G0 = ASCII and G1 = ANSEL (writing `ESC ( B` / `ESC s` and
    /// `ESC ) E` only if needed) and reset the encoder.
    ///
    /// In [`EncodeErrors::Lossless`] and [`EncodeErrors::Lossy`] every unmappable character is
    /// pushed to `problems` and the call always succeeds. In [`EncodeErrors::Strict`] the call
    /// returns the first unmappable character as `Err` (action [`Action::Stopped`]); `dst` then
    /// holds the output for the text before it and the encoder should be discarded.
    pub fn encode_from_str(
        &mut self,
        src: &str,
        dst: &mut Vec<u8>,
        last: bool,
        problems: &mut Vec<Problem>,
    ) -> Result<(), Problem> {
        self.encode_str::<true>(src, dst, last, problems)
    }

    /// [`Encoder::encode_from_str`]; `SHORTCUT` lets a base or a mark with one code through
    /// [`Encoder::shortcut`] (false only in the test that holds the two ways to each other).
    fn encode_str<const SHORTCUT: bool>(
        &mut self,
        src: &str,
        dst: &mut Vec<u8>,
        last: bool,
        problems: &mut Vec<Problem>,
    ) -> Result<(), Problem> {
        let bytes = src.as_bytes();
        let lossless = self.opts.errors == EncodeErrors::Lossless;
        let mut i = 0;
        while i < bytes.len() {
            // (A byte above 0x7F starts no run: the scan is not called for it.)
            if self.amp == Lookahead::Idle && bytes[i] < 0x80 {
                let rest = &bytes[i..];
                let n = if lossless {
                    copyable_prefix::<true>(rest)
                } else {
                    copyable_prefix::<false>(rest)
                };
                if n > 1 {
                    // A run of ASCII and controls. The held base goes out now (the next
                    // character would send it anyway); then, if that leaves G0 = ASCII and no
                    // pair open, every byte of the run but the last is written as it is: each
                    // is followed by a base character, so none needs holding back. The last
                    // one goes the normal way.
                    if (0x21..0x7F).contains(&rest[0]) {
                        let set = self.base_set(char::from(rest[0]));
                        self.leave_eacc_before_space(set, dst);
                    }
                    self.flush(dst);
                    if self.g0 == Charset::Ascii && self.double == Double::None {
                        dst.extend_from_slice(&rest[..n - 1]);
                        self.pos += n - 1;
                        i += n - 1;
                    }
                }
            }
            let c = match bytes[i] {
                b @ 0..0x80 => char::from(b),
                _ => match src.get(i..).and_then(|s| s.chars().next()) {
                    Some(c) => c,
                    None => break,
                },
            };
            i += c.len_utf8();
            let off = self.pos;
            self.pos += 1;
            if !(SHORTCUT && self.shortcut(c, dst)) {
                self.push_char(c, off, dst, problems)?;
            }
        }
        if last {
            self.finish(dst);
        }
        Ok(())
    }

    /// The common cases of [`Encoder::push_char`], without its dispatch, for a character that
    /// no rule singles out and that has one code (so the sets designated now cannot change it),
    /// arriving with no look-ahead: a base, when no double diacritic is under way and a
    /// character, a space outside EACC or nothing is held (the held base goes out, this one is
    /// held); a mark, when something is held (its code is written). It does what `push_char`
    /// would do then. False, with nothing done, for anything else.
    #[inline]
    fn shortcut(&mut self, c: char, dst: &mut Vec<u8>) -> bool {
        // Not `&` (lossless look-ahead), a control, SPACE, a C1 special or a ligature half.
        let plain = matches!(c, '!'..='%' | '\''..='~')
            || (c >= '\u{A0}' && !matches!(c, '\u{200C}' | '\u{200D}' | '\u{FE20}'..='\u{FE23}'));
        if !plain || self.amp != Lookahead::Idle {
            return false;
        }
        match choice::only_code(c) {
            Some((code, Kind::Base))
                if self.double == Double::None
                    && self.need_close.is_none()
                    && self.owed_close.is_none()
                    && match self.held {
                        Held::None | Held::Char { .. } => true,
                        Held::Space => self.g0 != Charset::Eacc,
                        Held::ProtectedAmp => false,
                    } =>
            {
                self.flush(dst);
                self.held = Held::Char {
                    ch: c,
                    set: code.set,
                };
                true
            }
            Some((code, Kind::Mark)) if self.held != Held::None => {
                self.write_code(code, dst);
                true
            }
            _ => false,
        }
    }

    fn push_char(
        &mut self,
        c: char,
        off: usize,
        dst: &mut Vec<u8>,
        problems: &mut Vec<Problem>,
    ) -> Result<(), Problem> {
        if self.opts.errors == EncodeErrors::Lossless {
            match self.amp {
                Lookahead::Idle => {}
                Lookahead::Amp => {
                    if c == '#' {
                        self.amp = Lookahead::AmpHash;
                        return Ok(());
                    }
                    self.amp = Lookahead::Idle;
                    self.new_char_base('&', dst);
                }
                Lookahead::AmpHash => {
                    self.amp = Lookahead::Idle;
                    if c == 'x' || c == 'X' {
                        self.new_base(Held::ProtectedAmp, dst);
                    } else {
                        self.new_char_base('&', dst);
                    }
                    self.new_char_base('#', dst);
                }
            }
            if c == '&' {
                self.amp = Lookahead::Amp;
                return Ok(());
            }
        }
        self.process(c, off, dst, problems)
    }

    fn process(
        &mut self,
        c: char,
        off: usize,
        dst: &mut Vec<u8>,
        problems: &mut Vec<Problem>,
    ) -> Result<(), Problem> {
        match c {
            '\u{1D}'..='\u{1F}' => {
                self.flush_before(true, dst);
                dst.push(c as u8);
                Ok(())
            }
            '\t' | '\n' | '\r' if !self.field_data => {
                self.flush_before(true, dst);
                dst.push(c as u8);
                Ok(())
            }
            // ESC, the other C0 controls, DEL and the C1 controls but U+0098/U+009C.
            c if is_forbidden_control(c) => {
                self.refuse(ProblemKind::ControlCharacter, c, off, dst, problems)
            }
            // The pre-2004 halves: MARC-8 reads EB/FA (and EC/FB right after the first base of a
            // pair) as LC's U+0361/U+0360 pair, so lossless mode writes them as references.
            '\u{FE20}' | '\u{FE22}' if self.opts.errors == EncodeErrors::Lossless => {
                self.unmappable(c, off, dst, problems)
            }
            '\u{FE21}' | '\u{FE23}'
                if self.opts.errors == EncodeErrors::Lossless && self.double == Double::Open =>
            {
                self.unmappable(c, off, dst, problems)
            }
            ' ' => {
                self.new_base(Held::Space, dst);
                Ok(())
            }
            '\u{98}' | '\u{9C}' | '\u{200D}' | '\u{200C}' => {
                self.flush_before(false, dst);
                // LC makes the C1 codes independent of the designations, but yaz drops them
                // unless G1 holds ANSEL (the table that lists them): never write them otherwise.
                self.designate_g1(Charset::Ansel, dst);
                dst.push(match c {
                    '\u{98}' => 0x88,
                    '\u{9C}' => 0x89,
                    '\u{200D}' => 0x8D,
                    _ => 0x8E,
                });
                Ok(())
            }
            _ => match kind(c) {
                Some(k) => self.mapped(c, k, off, dst, problems),
                None => match decompose(c) {
                    Some(pieces) if self.can_take(&pieces) => {
                        for (p, k) in pieces {
                            self.mapped(p, k, off, dst, problems)?;
                        }
                        Ok(())
                    }
                    // Marks only (U+0344 = U+0308 U+0301), and nothing to put them on.
                    Some(_) => self.refuse(ProblemKind::MarkWithoutBase, c, off, dst, problems),
                    None => self.unmappable(c, off, dst, problems),
                },
            },
        }
    }

    /// False if a decomposition starts with a mark and there is no base to put it on.
    fn can_take(&self, pieces: &[(char, Kind)]) -> bool {
        self.held != Held::None || pieces.first().is_some_and(|&(_, k)| k == Kind::Base)
    }

    /// A character with a code.
    fn mapped(
        &mut self,
        c: char,
        k: Kind,
        off: usize,
        dst: &mut Vec<u8>,
        problems: &mut Vec<Problem>,
    ) -> Result<(), Problem> {
        if k == Kind::Base {
            self.new_char_base(c, dst);
            return Ok(());
        }
        let base_set = match self.held {
            Held::None => {
                return self.refuse(ProblemKind::MarkWithoutBase, c, off, dst, problems);
            }
            Held::Char { set, .. } => Some(set),
            Held::ProtectedAmp => Some(Charset::Ascii),
            Held::Space => None,
        };
        let Some(code) = choose(c, [base_set, Some(self.g1), Some(self.g0)]) else {
            return self.unmappable(c, off, dst, problems);
        };
        self.write_code(code, dst);
        match k {
            Kind::ModernOpen(close) => {
                self.double = Double::LeftPending;
                self.need_close.get_or_insert(close);
            }
            Kind::LegacyOpen => self.double = Double::LeftPending,
            // Read as the mark U+FE21 / U+FE23, except right after the base of a legacy left
            // half, where it closes the pair (LC reads the legacy pair as U+0361 / U+0360).
            Kind::Close if self.double == Double::Open => self.double = Double::None,
            Kind::Close | Kind::Mark | Kind::Base => {}
        }
        Ok(())
    }

    fn new_char_base(&mut self, c: char, dst: &mut Vec<u8>) {
        if self.held == Held::Space {
            self.leave_eacc_before_space(self.base_set(c), dst);
        }
        self.flush(dst);
        self.pay_close(dst);
        // Chosen after the held base is written, so that its set counts as designated.
        let set = self.base_set(c);
        self.held = Held::Char { ch: c, set };
    }

    /// The set a base character would be written in now.
    fn base_set(&self, c: char) -> Charset {
        choose(c, [Some(self.g0), Some(self.g1), None]).map_or(Charset::Ascii, |k| k.set)
    }

    /// Leaves EACC before a held space that ends an EACC run rather than after it, when the next
    /// character goes to `next`: the same bytes, and readers that lose their alignment on a space
    /// inside EACC (pymarc) then read the text right.
    fn leave_eacc_before_space(&mut self, next: Charset, dst: &mut Vec<u8>) {
        if self.held == Held::Space && self.g0 == Charset::Eacc && next != Charset::Eacc {
            self.designate_g0(if is_gr(next) { Charset::Ascii } else { next }, dst);
        }
    }

    fn new_base(&mut self, held: Held, dst: &mut Vec<u8>) {
        self.flush(dst);
        self.pay_close(dst);
        self.held = held;
    }

    /// A new base is coming: write the closing half owed by the previous one in front of it.
    fn pay_close(&mut self, dst: &mut Vec<u8>) {
        if let Some(close) = self.owed_close.take() {
            if self.double == Double::Open {
                self.write_code(ansel(close), dst);
                self.double = Double::None;
            }
        }
    }

    /// Something that is not a base comes after the held base: a control (`control = true`),
    /// one of the C1 specials, or an NCR / fill character.
    fn flush_before(&mut self, control: bool, dst: &mut Vec<u8>) {
        self.flush(dst);
        if control {
            // The decoder closes an open pair at a control.
            self.owed_close = None;
            self.double = Double::None;
        }
    }

    /// Writes the held base character; the closing half it owes is now owed to the next base.
    fn flush(&mut self, dst: &mut Vec<u8>) {
        match std::mem::replace(&mut self.held, Held::None) {
            Held::None => return,
            Held::Space => dst.push(b' '),
            Held::ProtectedAmp => {
                self.designate_g0(Charset::Ascii, dst);
                dst.extend_from_slice(b"&#x0026;");
            }
            Held::Char { ch, .. } => {
                if let Some(code) = choose(ch, [Some(self.g0), Some(self.g1), None]) {
                    self.write_code(code, dst);
                }
            }
        }
        self.wrote_base();
        self.owed_close = self.need_close.take();
    }

    /// A base character has been written: it opens a pair whose left half is pending, and closes
    /// any other.
    fn wrote_base(&mut self) {
        self.double = if self.double == Double::LeftPending {
            Double::Open
        } else {
            Double::None
        };
    }

    fn unmappable(
        &mut self,
        c: char,
        off: usize,
        dst: &mut Vec<u8>,
        problems: &mut Vec<Problem>,
    ) -> Result<(), Problem> {
        self.refuse(ProblemKind::Unmappable, c, off, dst, problems)
    }

    /// A character that cannot be written as itself: an unmappable character, a mark with no
    /// base, a control character. Strict mode stops; lossless writes the reference (the fill
    /// character for a control, whose reference would not expand), lossy the fill character.
    fn refuse(
        &mut self,
        kind: ProblemKind,
        c: char,
        off: usize,
        dst: &mut Vec<u8>,
        problems: &mut Vec<Problem>,
    ) -> Result<(), Problem> {
        if self.opts.errors != EncodeErrors::Strict {
            self.leave_eacc_before_space(Charset::Ascii, dst);
        }
        self.flush(dst);
        let mut utf8 = [0u8; 4];
        let mut problem = Problem {
            kind,
            offset: off,
            len: 1,
            bytes: c.encode_utf8(&mut utf8).as_bytes().to_vec(),
            g0: self.g0,
            g1: self.g1,
            ch: Some(c),
            action: Action::Stopped,
        };
        match self.opts.errors {
            EncodeErrors::Strict => return Err(problem),
            // The NCR or the fill character is a base: the closing half owed goes before it,
            // as before any other base.
            EncodeErrors::Lossless if kind != ProblemKind::ControlCharacter => {
                self.pay_close(dst);
                self.designate_g0(Charset::Ascii, dst);
                write_ncr(c, dst);
                self.wrote_base();
                problem.action = Action::WroteNcr;
            }
            EncodeErrors::Lossy | EncodeErrors::Lossless => {
                self.pay_close(dst);
                self.designate_g0(Charset::Ascii, dst);
                dst.push(b'|');
                self.wrote_base();
                problem.action = Action::WroteFill;
            }
        }
        problems.push(problem);
        Ok(())
    }

    /// End of the stream: look-ahead and held base out, back to the default sets, reset.
    fn finish(&mut self, dst: &mut Vec<u8>) {
        match self.amp {
            Lookahead::Idle => {}
            Lookahead::Amp => self.new_char_base('&', dst),
            Lookahead::AmpHash => {
                self.new_char_base('&', dst);
                self.new_char_base('#', dst);
            }
        }
        self.flush(dst);
        self.designate_g0(Charset::Ascii, dst);
        self.designate_g1(Charset::Ansel, dst);
        *self = Encoder {
            field_data: self.field_data,
            ..Encoder::new(self.opts)
        };
    }

    fn write_code(&mut self, code: Code, dst: &mut Vec<u8>) {
        match code.set {
            Charset::Eacc => {
                self.designate_g0(Charset::Eacc, dst);
                dst.extend_from_slice(&[
                    (code.code >> 16) as u8 & 0x7F,
                    (code.code >> 8) as u8 & 0x7F,
                    code.code as u8 & 0x7F,
                ]);
            }
            set if is_gr(set) => {
                if self.g0 == Charset::Eacc {
                    self.designate_g0(Charset::Ascii, dst);
                }
                self.designate_g1(set, dst);
                dst.push(code.code as u8 | 0x80);
            }
            set => {
                self.designate_g0(set, dst);
                dst.push(code.code as u8 & 0x7F);
            }
        }
    }

    fn designate_g0(&mut self, set: Charset, dst: &mut Vec<u8>) {
        if self.g0 == set {
            return;
        }
        if set.is_technique1() {
            dst.extend_from_slice(&[ESC, set.final_byte()]);
        } else if set == Charset::Ascii && self.g0.is_technique1() {
            dst.extend_from_slice(&[ESC, b's']);
        } else if set.is_multibyte() {
            dst.extend_from_slice(&[ESC, b'$', set.final_byte()]);
        } else {
            dst.extend_from_slice(&[ESC, b'(', set.final_byte()]);
        }
        self.g0 = set;
    }

    fn designate_g1(&mut self, set: Charset, dst: &mut Vec<u8>) {
        if self.g1 != set {
            dst.extend_from_slice(&[ESC, b')', set.final_byte()]);
            self.g1 = set;
        }
    }
}

/// The sets this encoder designates into G1 (and LC lists by their GR codes).
fn is_gr(set: Charset) -> bool {
    matches!(
        set,
        Charset::Ansel | Charset::ExtCyrillic | Charset::ExtArabic
    )
}

fn ansel(code: u8) -> Code {
    Code {
        set: Charset::Ansel,
        code: u32::from(code),
        is_alt: false,
    }
}

/// `&#x` + upper-case hex of the code point, at least 4 digits, + `;`.
fn write_ncr(c: char, dst: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let cp = u32::from(c);
    dst.extend_from_slice(b"&#x");
    let digits = if cp > 0xF_FFFF {
        6
    } else if cp > 0xFFFF {
        5
    } else {
        4
    };
    for i in (0..digits).rev() {
        dst.push(HEX[((cp >> (4 * i)) & 0xF) as usize]);
    }
    dst.push(b';');
}

fn is_plain(src: &str, errors: EncodeErrors) -> bool {
    let b = src.as_bytes();
    if errors != EncodeErrors::Lossless {
        return copyable_prefix::<false>(b) == b.len();
    }
    // Lossless: the word-at-a-time scan also stops at each `&`; only there look for `#x`.
    let mut i = 0;
    loop {
        i += copyable_prefix::<true>(&b[i..]);
        match b.get(i) {
            None => return true,
            Some(b'&') if !matches!(b.get(i + 1..i + 3), Some([b'#', x]) if *x | 0x20 == b'x') => {
                i += 1;
            }
            Some(_) => return false,
        }
    }
}

/// Encodes a whole string to MARC-8, ending in G0 = ASCII, G1 = ANSEL.
///
/// Returns the input itself, borrowed, when it is plain ASCII (SPACE, graphic, 1D/1E/1F) (and, in
/// lossless mode, no literal `&#x` that needs protecting), since it is then its own MARC-8. In
/// strict mode the first unmappable character is the error; in lossless and lossy modes problems
/// are dropped (use [`encode_report`] to see them).
///
/// Exposed to Python as `marc8fast.encode`.
///
/// ```
/// use marc8::{encode, EncodeOptions};
///
/// // The combining acute goes before its base letter again.
/// let bytes = encode("Cafe\u{301}", &EncodeOptions::default()).unwrap();
/// assert_eq!(&bytes[..], b"Caf\xE2e");
/// ```
pub fn encode<'a>(src: &'a str, options: &EncodeOptions) -> Result<Cow<'a, [u8]>, Problem> {
    let mut problems = Vec::new();
    encode_into_cow(src, options, &mut problems)
}

/// Encodes a whole string and returns the bytes with every unmappable character reported.
/// Never fails: with [`EncodeErrors::Strict`] the output is written as in lossless mode (each
/// unmappable character as `&#xXXXX;`, problems with action [`Action::WroteNcr`]), so that the
/// caller sees every problem at once instead of only the first.
///
/// Exposed to Python as `marc8fast.encode_report`.
///
/// ```
/// use marc8::{encode_report, EncodeOptions};
/// // MARC-8 has no snowman: LC's lossless form, a numeric character reference, reported.
/// let (bytes, problems) = encode_report("5 \u{2603}", &EncodeOptions::default());
/// assert_eq!(&bytes[..], b"5 &#x2603;");
/// assert_eq!(problems.len(), 1);
/// ```
#[must_use]
pub fn encode_report<'a>(src: &'a str, options: &EncodeOptions) -> (Cow<'a, [u8]>, Vec<Problem>) {
    let opts = reporting(options);
    let mut problems = Vec::new();
    match encode_into_cow(src, &opts, &mut problems) {
        Ok(bytes) => (bytes, problems),
        // Not reachable: only strict mode fails.
        Err(p) => {
            problems.push(p);
            (Cow::Owned(Vec::new()), problems)
        }
    }
}

/// [`encode_report`] for MARC field data, appended to `dst` with its problems to `problems`
/// (the record layer encodes into the record's own buffer): tab, line feed and carriage return
/// are control characters too.
pub(crate) fn encode_field_append(
    src: &str,
    options: &EncodeOptions,
    dst: &mut Vec<u8>,
    problems: &mut Vec<Problem>,
) {
    let opts = reporting(options);
    if is_plain(src, opts.errors) {
        dst.extend_from_slice(src.as_bytes());
        return;
    }
    dst.reserve(src.len() + src.len() / 4 + 8);
    // Not strict: cannot fail.
    let _ = Encoder::for_field_data(opts).encode_from_str(src, dst, true, problems);
}

/// The options a reporting call encodes with: strict mode, which would stop at the first
/// problem, writes what lossless mode writes so that every problem is seen.
fn reporting(options: &EncodeOptions) -> EncodeOptions {
    EncodeOptions {
        errors: match options.errors {
            EncodeErrors::Strict => EncodeErrors::Lossless,
            other => other,
        },
    }
}

fn encode_into_cow<'a>(
    src: &'a str,
    opts: &EncodeOptions,
    problems: &mut Vec<Problem>,
) -> Result<Cow<'a, [u8]>, Problem> {
    if is_plain(src, opts.errors) {
        return Ok(Cow::Borrowed(src.as_bytes()));
    }
    let mut out = Vec::with_capacity(src.len() + src.len() / 4 + 8);
    Encoder::new(*opts).encode_from_str(src, &mut out, true, problems)?;
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests;
