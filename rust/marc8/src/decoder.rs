//! MARC-8 → Unicode.
//!
//! [`Decoder`] is a streaming decoder: feed it chunks split anywhere (inside an escape sequence,
//! inside an EACC triple, between a combining mark and its base) and it gives exactly the output
//! of decoding the whole input at once. [`decode`] and [`decode_report`] are the one-shot calls
//! built on it.

use std::borrow::Cow;

use unicode_normalization::{is_nfc_quick, is_nfd_quick, IsNormalized, UnicodeNormalization};

use crate::ascii::{ascii_str, copyable_prefix};
use crate::charset::{Charset, Mapping};
use crate::ncr::NcrFilter;
use crate::problem::{Action, Problem, ProblemKind};

/// What to do with input that cannot be decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorMode {
    /// Stop at the first problem and return it as an error.
    #[default]
    Strict,
    /// Write U+FFFD for each bad unit, report it, and go on with the next byte.
    Replace,
}

/// Unicode normalization applied to the one-shot decoder's output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Normalization {
    /// The characters as stored (marks after their base, in stored order).
    #[default]
    None,
    /// Canonical composition.
    Nfc,
    /// Canonical decomposition.
    Nfd,
}

/// Options of the decoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Strict (error at the first problem) or replace (U+FFFD and go on).
    pub errors: ErrorMode,
    /// Normalization of the result (one-shot calls only; the streaming decoder never normalizes,
    /// because normalization cannot be done chunk by chunk).
    pub normalize: Normalization,
    /// Turn LC's numeric character references `&#xXXXX;` (4–6 hex digits, either case, a Unicode
    /// scalar value) back into the character. Anything else that starts like one (`&#x`) is kept
    /// as text and reported as [`ProblemKind::MalformedNcr`]; a reference to a control character
    /// (any C0 control, DEL, a C1 control but U+0098/U+009C) is kept as text and reported as
    /// [`ProblemKind::ControlCharacter`], so that `&#x001F;` can never become a subfield
    /// delimiter.
    pub expand_ncr: bool,
    /// Decode the double diacritics to the pre-2004 half marks U+FE20–U+FE23 (pymarc's output)
    /// instead of LC's U+0361 / U+0360 between the two base characters.
    pub legacy_ligatures: bool,
}

/// Marks waiting for their base: up to eight inline (real data never has more on one base, so
/// decoding a field allocates nothing for them), any more in a spill vector.
#[derive(Clone, Debug, Default)]
struct MarkBuf {
    inline: [PendingMark; 8],
    len: usize,
    spill: Vec<PendingMark>,
}

impl MarkBuf {
    fn push(&mut self, m: PendingMark) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = m,
            None => self.spill.push(m),
        }
        self.len += 1;
    }

    fn get(&self, k: usize) -> PendingMark {
        match self.inline.get(k) {
            Some(&m) => m,
            None => self
                .spill
                .get(k - self.inline.len())
                .copied()
                .unwrap_or_default(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = PendingMark> + '_ {
        (0..self.len).map(|k| self.get(k))
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.len = 0;
        self.spill.clear();
    }
}

/// How [`Decoder::state`] packs a consumed right half (not a scalar value).
const CONSUMED_HALF: u32 = 0x11_0000;

/// Longest unit the decoder may have to hold between chunks: ESC, three intermediates, final.
const MAX_UNIT: usize = 5;

#[derive(Clone, Copy, Debug, Default)]
struct PendingMark {
    /// `None` for the right half of a double diacritic, whose U+0361/U+0360 was already written
    /// after the first base: it writes nothing, but still needs a base after it.
    ch: Option<char>,
    offset: usize,
    byte: u8,
}

/// Where the decoder is in a double diacritic `EB x EC y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Double {
    None = 0,
    /// The left half is stored, waiting for its first base `x`.
    LeftPending = 1,
    /// `x` has been written: a right half before the next base closes the pair.
    Open = 2,
}

enum Escape {
    NeedMore,
    Designate { g1: bool, set: Charset, len: usize },
    Unknown(usize),
    Truncated(usize),
}

/// A streaming MARC-8 decoder.
///
/// State: the sets designated as G0 and G1 (initially ASCII and ANSEL), an incomplete escape
/// sequence or EACC character at the end of the last chunk, combining marks waiting for their
/// base, an open double diacritic, and (with NCR expansion) a partial `&#x…;`.
///
/// Problem offsets are counted from the start of the stream. After a call with `last = true` the
/// decoder is back in its initial state and can start a new stream.
///
/// Controls: 1D, 1E and 1F pass (and end a double diacritic, and leave pending marks without a
/// base), as do tab, line feed and carriage return (text lines); every other C0 control, DEL and
/// the C1 bytes but 88, 89, 8D, 8E are [`ProblemKind::ControlCharacter`].
///
/// Exposed to Python as `marc8fast._native.Decoder` (used by the incremental codec).
#[derive(Clone, Debug)]
pub struct Decoder {
    opts: DecodeOptions,
    g0: Charset,
    g1: Charset,
    pending: [u8; MAX_UNIT],
    pending_len: usize,
    marks: MarkBuf,
    double: Double,
    ncr: NcrFilter,
    pos: usize,
    /// Field data (the record layer): tab, line feed and carriage return are control characters
    /// too. Otherwise (text: the string calls and the codec) they pass, as the line structure of
    /// a text file.
    field_data: bool,
}

impl Decoder {
    /// A decoder in the initial state (G0 = ASCII, G1 = ANSEL).
    #[must_use]
    pub fn new(options: DecodeOptions) -> Self {
        Decoder {
            opts: options,
            g0: Charset::Ascii,
            g1: Charset::Ansel,
            pending: [0; MAX_UNIT],
            pending_len: 0,
            marks: MarkBuf::default(),
            double: Double::None,
            ncr: NcrFilter::default(),
            pos: 0,
            field_data: false,
        }
    }

    /// A decoder for MARC field data: like [`Self::new`], but tab, line feed and carriage
    /// return are reported as control characters too (MARC 21 data holds no control but ESC,
    /// 1D, 1E and 1F).
    #[must_use]
    pub(crate) fn for_field_data(options: DecodeOptions) -> Self {
        Decoder {
            field_data: true,
            ..Decoder::new(options)
        }
    }

    /// This decoder in its initial state (same options and kind).
    fn fresh(&self) -> Self {
        Decoder {
            field_data: self.field_data,
            ..Decoder::new(self.opts)
        }
    }

    /// The options this decoder was made with.
    #[must_use]
    pub fn options(&self) -> &DecodeOptions {
        &self.opts
    }

    /// The sets currently designated as (G0, G1).
    #[must_use]
    pub fn designations(&self) -> (Charset, Charset) {
        (self.g0, self.g1)
    }

    /// True if input has been held back (a partial unit, marks without their base yet, a partial
    /// NCR): output for it will come with later input or with `last = true`.
    #[must_use]
    pub fn has_pending_state(&self) -> bool {
        self.pending_len > 0 || !self.marks.is_empty() || !self.ncr.is_idle()
    }

    /// Number of bytes received so far in this stream.
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The decoder's state as (held-back input bytes, everything else packed into bytes). The
    /// packed part is empty when the decoder is in its initial state. With [`Self::set_state`] this
    /// serves Python's `IncrementalDecoder.getstate`/`setstate`. A partial NCR is not part of the
    /// state (the codec does not expand NCRs). The stream position is not part of it either (so
    /// that a state is "initial" whatever the position); a pending mark's offset is, as its
    /// distance back from the position.
    #[must_use]
    pub fn state(&self) -> (Vec<u8>, Vec<u8>) {
        let pending = self.pending[..self.pending_len].to_vec();
        if self.g0 == Charset::Ascii
            && self.g1 == Charset::Ansel
            && self.double == Double::None
            && self.marks.is_empty()
        {
            return (pending, Vec::new());
        }
        let mut packed = vec![self.g0 as u8, self.g1 as u8, self.double as u8];
        for m in self.marks.iter() {
            let cp = m.ch.map_or(CONSUMED_HALF, u32::from);
            packed.extend_from_slice(&cp.to_be_bytes()[1..]);
            packed.push(m.byte);
            let back = u32::try_from(self.pos.saturating_sub(m.offset)).unwrap_or(u32::MAX);
            packed.extend_from_slice(&back.to_be_bytes());
        }
        (pending, packed)
    }

    /// Restores a state made by [`Self::state`]. Returns false (and leaves the decoder in its
    /// initial state, at the same position) if the state is not one `state` can produce.
    ///
    /// The stream position is kept: problem offsets go on counting from where this decoder is
    /// (the held-back bytes are taken as the last ones received), and a restored pending mark
    /// gets back the offset it had when the state was taken at this position.
    pub fn set_state(&mut self, pending: &[u8], packed: &[u8]) -> bool {
        let pos = self.pos.max(pending.len());
        *self = self.fresh();
        self.pos = pos;
        if pending.len() >= MAX_UNIT {
            return false;
        }
        self.pending[..pending.len()].copy_from_slice(pending);
        self.pending_len = pending.len();
        if packed.is_empty() {
            return true;
        }
        let ok = (|| {
            let (head, marks) = packed.split_at_checked(3)?;
            self.g0 = *crate::charset::ALL_CHARSETS.get(usize::from(head[0]))?;
            self.g1 = *crate::charset::ALL_CHARSETS.get(usize::from(head[1]))?;
            self.double = match head[2] {
                0 => Double::None,
                1 => Double::LeftPending,
                2 => Double::Open,
                _ => return None,
            };
            if marks.len() % 8 != 0 {
                return None;
            }
            for m in marks.chunks_exact(8) {
                let cp = u32::from_be_bytes([0, m[0], m[1], m[2]]);
                let ch = if cp == CONSUMED_HALF {
                    None
                } else {
                    Some(char::from_u32(cp)?)
                };
                let back = u32::from_be_bytes([m[4], m[5], m[6], m[7]]);
                self.marks.push(PendingMark {
                    ch,
                    offset: pos.saturating_sub(usize::try_from(back).unwrap_or(usize::MAX)),
                    byte: m[3],
                });
            }
            Some(())
        })();
        if ok.is_none() {
            *self = self.fresh();
            self.pos = pos;
        }
        ok.is_some()
    }

    /// Decodes `src`, appending to `dst`. Set `last` on the final chunk of the stream: held-back
    /// input is then flushed (and reported if incomplete) and the decoder reset.
    ///
    /// In [`ErrorMode::Replace`] every problem is pushed to `problems` and the call always
    /// succeeds. In [`ErrorMode::Strict`] the call returns the first problem as `Err`; `dst` then
    /// holds the output decoded before it and the decoder should be discarded.
    pub fn decode_to_string(
        &mut self,
        src: &[u8],
        dst: &mut String,
        last: bool,
        problems: &mut Vec<Problem>,
    ) -> Result<(), Problem> {
        let result = if self.opts.expand_ncr {
            self.run::<true>(src, dst, last, problems)
        } else {
            self.run::<false>(src, dst, last, problems)
        };
        // In strict mode the problem that stopped decoding is the last one pushed.
        result.map_err(|Stop| {
            problems
                .pop()
                .unwrap_or_else(|| self.problem(ProblemKind::UnmappedByte, self.pos, &[]))
        })
    }

    fn run<const NCR: bool>(
        &mut self,
        src: &[u8],
        dst: &mut String,
        last: bool,
        problems: &mut Vec<Problem>,
    ) -> R<()> {
        let mut i = 0;
        if self.pending_len > 0 {
            let held = self.pending_len;
            let take = (MAX_UNIT - held).min(src.len());
            let mut buf = [0u8; MAX_UNIT];
            buf[..held].copy_from_slice(&self.pending[..held]);
            buf[held..held + take].copy_from_slice(&src[..take]);
            let unit_last = last && take == src.len();
            let base = self.pos - held;
            match self.unit::<NCR>(&buf[..held + take], base, unit_last, dst, problems)? {
                None => {
                    self.pending[held..held + take].copy_from_slice(&src[..take]);
                    self.pending_len += take;
                    self.pos += src.len();
                    return Ok(());
                }
                Some(n) => {
                    self.pending_len = 0;
                    i = n - held;
                }
            }
        }
        while i < src.len() {
            if self.g0 == Charset::Ascii && self.marks.is_empty() && self.ncr.is_idle() {
                let n = copyable_prefix::<NCR>(&src[i..]);
                if n > 0 {
                    // Copied characters (bases and controls) close any double diacritic.
                    self.double = Double::None;
                    dst.push_str(ascii_str(&src[i..i + n]));
                    i += n;
                    continue;
                }
            }
            match self.unit::<NCR>(&src[i..], self.pos + i, last, dst, problems)? {
                Some(n) => i += n,
                None => {
                    let rest = &src[i..];
                    self.pending[..rest.len()].copy_from_slice(rest);
                    self.pending_len = rest.len();
                    break;
                }
            }
        }
        self.pos += src.len();
        if last {
            self.finish::<NCR>(dst, problems)?;
        }
        Ok(())
    }

    /// Decodes one unit at the start of `s` (never empty). `Ok(None)`: `s` ends inside the unit
    /// and more input may come. `Ok(Some(n))`: `n` bytes consumed.
    #[inline(always)]
    fn unit<const NCR: bool>(
        &mut self,
        s: &[u8],
        off: usize,
        last: bool,
        dst: &mut String,
        problems: &mut Vec<Problem>,
    ) -> R<Option<usize>> {
        let b = s[0];
        match b {
            0x1B => self.escape::<NCR>(s, off, last, dst, problems),
            0x09 | 0x0A | 0x0D if !self.field_data => {
                self.double = Double::None;
                self.dangling_marks::<NCR>(dst, problems)?;
                self.emit::<NCR>(char::from(b), off, 1, dst, problems)?;
                Ok(Some(1))
            }
            0x1D..=0x1F => {
                // A control ends a double diacritic, as on the ASCII fast path.
                self.double = Double::None;
                self.dangling_marks::<NCR>(dst, problems)?;
                self.emit::<NCR>(char::from(b), off, 1, dst, problems)?;
                Ok(Some(1))
            }
            // Every other control (C0, DEL, C1 below) is one MARC 21 does not allow.
            0x00..=0x1C | 0x7F => {
                self.bad::<NCR>(ProblemKind::ControlCharacter, off, &s[..1], dst, problems)?;
                Ok(Some(1))
            }
            0x20 => {
                self.base::<NCR>(' ', off, 1, dst, problems)?;
                Ok(Some(1))
            }
            // Basic Latin as G0 maps every graphic byte to itself (a test holds the generated
            // table to that): the base is written without the table look-up (issue 22).
            0x21..=0x7E if self.g0 == Charset::Ascii => {
                self.base::<NCR>(char::from(b), off, 1, dst, problems)?;
                Ok(Some(1))
            }
            0x21..=0x7E => self.graphic::<NCR>(s, off, last, false, dst, problems),
            0xA1..=0xFE => self.graphic::<NCR>(s, off, last, true, dst, problems),
            // The four C1 codes MARC-8 defines, independent of the designated sets. They are not
            // base characters: pending marks stay pending for the next base.
            0x88 => self.emit_ok::<NCR>('\u{98}', off, dst, problems),
            0x89 => self.emit_ok::<NCR>('\u{9C}', off, dst, problems),
            0x8D => self.emit_ok::<NCR>('\u{200D}', off, dst, problems),
            0x8E => self.emit_ok::<NCR>('\u{200C}', off, dst, problems),
            0x80..=0x9F => {
                self.bad::<NCR>(ProblemKind::ControlCharacter, off, &s[..1], dst, problems)?;
                Ok(Some(1))
            }
            // A0 and FF mean nothing in MARC-8.
            _ => {
                self.bad::<NCR>(ProblemKind::UnmappedByte, off, &s[..1], dst, problems)?;
                Ok(Some(1))
            }
        }
    }

    fn emit_ok<const NCR: bool>(
        &mut self,
        c: char,
        off: usize,
        dst: &mut String,
        problems: &mut Vec<Problem>,
    ) -> R<Option<usize>> {
        self.emit::<NCR>(c, off, 1, dst, problems)?;
        Ok(Some(1))
    }

    #[inline]
    fn graphic<const NCR: bool>(
        &mut self,
        s: &[u8],
        off: usize,
        last: bool,
        gr: bool,
        dst: &mut String,
        problems: &mut Vec<Problem>,
    ) -> R<Option<usize>> {
        let set = if gr { self.g1 } else { self.g0 };
        if set == Charset::Eacc {
            // The second byte is 0x21..0x7E, the third 0x20..0x7E (LC's U+3000 is 21 23 20),
            // all in the same half of the code table as the first.
            let high = if gr { 0x80 } else { 0 };
            let in_range = |x: u8, lo: u8| (lo | high..=0x7E | high).contains(&x);
            let cut = if s.len() < 2 || !in_range(s[1], 0x21) {
                Some(1)
            } else if s.len() < 3 || !in_range(s[2], 0x20) {
                Some(2)
            } else {
                None
            };
            if let Some(n) = cut {
                if n == s.len() && !last {
                    return Ok(None);
                }
                self.bad::<NCR>(ProblemKind::TruncatedMultibyte, off, &s[..n], dst, problems)?;
                return Ok(Some(n));
            }
            match Charset::lookup_eacc(s[0], s[1], s[2]) {
                Some(c) => self.base::<NCR>(c, off, 3, dst, problems)?,
                None => self.bad::<NCR>(ProblemKind::UnmappedByte, off, &s[..3], dst, problems)?,
            }
            return Ok(Some(3));
        }
        match set.lookup(s[0]) {
            Some(Mapping::Base(c)) => self.base::<NCR>(c, off, 1, dst, problems)?,
            Some(Mapping::Mark(c)) => self.mark(c, off, s[0]),
            Some(Mapping::LeftHalf(c, legacy)) => {
                if self.opts.legacy_ligatures {
                    self.mark(legacy, off, s[0]);
                } else {
                    self.double = Double::LeftPending;
                    self.mark(c, off, s[0]);
                }
            }
            Some(Mapping::RightHalf(alt)) => {
                if !self.opts.legacy_ligatures && self.double == Double::Open {
                    // The closing half of `EB x EC y`: U+0361 already sits between x and y.
                    self.double = Double::None;
                    self.marks.push(PendingMark {
                        ch: None,
                        offset: off,
                        byte: s[0],
                    });
                } else {
                    self.mark(alt, off, s[0]);
                }
            }
            None => self.bad::<NCR>(ProblemKind::UnmappedByte, off, &s[..1], dst, problems)?,
        }
        Ok(Some(1))
    }

    fn escape<const NCR: bool>(
        &mut self,
        s: &[u8],
        off: usize,
        last: bool,
        dst: &mut String,
        problems: &mut Vec<Problem>,
    ) -> R<Option<usize>> {
        let (kind, len) = match parse_escape(s) {
            Escape::Designate { g1, set, len } => {
                if g1 {
                    self.g1 = set;
                } else {
                    self.g0 = set;
                }
                return Ok(Some(len));
            }
            Escape::NeedMore if !last => return Ok(None),
            Escape::NeedMore => (ProblemKind::TruncatedEscape, s.len()),
            Escape::Unknown(len) => (ProblemKind::UnknownEscape, len),
            Escape::Truncated(len) => (ProblemKind::TruncatedEscape, len),
        };
        self.bad::<NCR>(kind, off, &s[..len], dst, problems)?;
        Ok(Some(len))
    }

    fn mark(&mut self, ch: char, offset: usize, byte: u8) {
        self.marks.push(PendingMark {
            ch: Some(ch),
            offset,
            byte,
        });
    }

    /// A base character: it, then the marks stored before it, in stored order.
    #[inline]
    fn base<const NCR: bool>(
        &mut self,
        c: char,
        off: usize,
        len: usize,
        dst: &mut String,
        problems: &mut Vec<Problem>,
    ) -> R<()> {
        self.emit::<NCR>(c, off, len, dst, problems)?;
        // A left half's base opens the pair; the next base closes it, right half or not.
        self.double = if self.double == Double::LeftPending {
            Double::Open
        } else {
            Double::None
        };
        for k in 0..self.marks.len {
            let m = self.marks.get(k);
            if let Some(ch) = m.ch {
                self.emit::<NCR>(ch, m.offset, 1, dst, problems)?;
            }
        }
        self.marks.clear();
        Ok(())
    }

    #[inline]
    fn emit<const NCR: bool>(
        &mut self,
        c: char,
        off: usize,
        len: usize,
        dst: &mut String,
        problems: &mut Vec<Problem>,
    ) -> R<()> {
        if NCR {
            match self.ncr.push(c, off, len, dst) {
                Some(p) => self.report_ncr(p, problems),
                None => Ok(()),
            }
        } else {
            dst.push(c);
            Ok(())
        }
    }

    fn strict(&self) -> bool {
        self.opts.errors == ErrorMode::Strict
    }

    fn problem(&self, kind: ProblemKind, offset: usize, bytes: &[u8]) -> Problem {
        Problem {
            kind,
            offset,
            len: bytes.len(),
            bytes: bytes.to_vec(),
            g0: self.g0,
            g1: self.g1,
            ch: None,
            action: if self.strict() {
                Action::Stopped
            } else {
                Action::Replaced
            },
        }
    }

    /// A bad unit: reported, then one U+FFFD in its place. The U+FFFD is a base character, so
    /// marks stored before the bad unit stay with it instead of being lost.
    fn bad<const NCR: bool>(
        &mut self,
        kind: ProblemKind,
        off: usize,
        bytes: &[u8],
        dst: &mut String,
        problems: &mut Vec<Problem>,
    ) -> R<()> {
        self.break_ncr::<NCR>(dst, problems)?;
        report(self.problem(kind, off, bytes), self.strict(), problems)?;
        self.base::<NCR>('\u{FFFD}', off, bytes.len(), dst, problems)
    }

    fn dangling_marks<const NCR: bool>(
        &mut self,
        dst: &mut String,
        problems: &mut Vec<Problem>,
    ) -> R<()> {
        if self.marks.is_empty() {
            return Ok(());
        }
        self.break_ncr::<NCR>(dst, problems)?;
        for k in 0..self.marks.len {
            let m = self.marks.get(k);
            let p = self.problem(ProblemKind::MarkWithoutBase, m.offset, &[m.byte]);
            report(p, self.strict(), problems)?;
            self.emit::<NCR>('\u{FFFD}', m.offset, 1, dst, problems)?;
        }
        self.marks.clear();
        Ok(())
    }

    /// Gives up a partial NCR before a problem is reported, so problems come in input order.
    fn break_ncr<const NCR: bool>(
        &mut self,
        dst: &mut String,
        problems: &mut Vec<Problem>,
    ) -> R<()> {
        match self.ncr.flush(dst) {
            Some(p) if NCR => self.report_ncr(p, problems),
            _ => Ok(()),
        }
    }

    fn report_ncr(&self, mut p: Problem, problems: &mut Vec<Problem>) -> R<()> {
        p.g0 = self.g0;
        p.g1 = self.g1;
        report(p, self.strict(), problems)
    }

    fn finish<const NCR: bool>(&mut self, dst: &mut String, problems: &mut Vec<Problem>) -> R<()> {
        self.dangling_marks::<NCR>(dst, problems)?;
        self.break_ncr::<NCR>(dst, problems)?;
        *self = self.fresh();
        Ok(())
    }
}

/// Decoding stopped at a problem (strict mode); the problem is the last one in the list.
#[derive(Debug)]
struct Stop;

type R<T> = Result<T, Stop>;

/// Records a problem; in strict mode it also stops decoding.
fn report(mut p: Problem, strict: bool, problems: &mut Vec<Problem>) -> R<()> {
    if strict {
        p.action = Action::Stopped;
    }
    problems.push(p);
    if strict {
        Err(Stop)
    } else {
        Ok(())
    }
}

fn parse_escape(s: &[u8]) -> Escape {
    let Some(&b1) = s.get(1) else {
        return Escape::NeedMore;
    };
    match b1 {
        // Technique 1: two-byte locking escapes into G0.
        b'g' | b'b' | b'p' => Escape::Designate {
            g1: false,
            set: Charset::from_final(b1).unwrap_or(Charset::Ascii),
            len: 2,
        },
        b's' => Escape::Designate {
            g1: false,
            set: Charset::Ascii,
            len: 2,
        },
        0x21..=0x2F => {
            let mut i = 1;
            while i < s.len() && (0x21..=0x2F).contains(&s[i]) {
                if i == 4 {
                    // Three intermediates and no final: not a sequence MARC-8 can mean.
                    return Escape::Truncated(4);
                }
                i += 1;
            }
            let Some(&f) = s.get(i) else {
                return Escape::NeedMore;
            };
            if !(0x30..=0x7E).contains(&f) {
                return Escape::Truncated(i);
            }
            designation(&s[1..i], f, i + 1)
        }
        0x30..=0x7E => Escape::Unknown(2),
        _ => Escape::Truncated(1),
    }
}

fn designation(inter: &[u8], f: u8, len: usize) -> Escape {
    let set = Charset::from_final(f);
    let (g1, set) = match (inter, set) {
        // ANSEL's registered final is the two bytes `! E`.
        ([b'(' | b','], Some(s)) if !s.is_multibyte() => (false, s),
        ([b'(' | b',', b'!'], Some(Charset::Ansel)) => (false, Charset::Ansel),
        ([b')' | b'-'], Some(s)) if !s.is_multibyte() => (true, s),
        ([b')' | b'-', b'!'], Some(Charset::Ansel)) => (true, Charset::Ansel),
        ([b'$'] | [b'$', b'(' | b','], Some(Charset::Eacc)) => (false, Charset::Eacc),
        ([b'$', b')' | b'-'], Some(Charset::Eacc)) => (true, Charset::Eacc),
        _ => return Escape::Unknown(len),
    };
    Escape::Designate { g1, set, len }
}

/// True if `s` starts with a complete escape sequence that designates a MARC-8 set (a sign of
/// MARC-8 data, where a lone or unknown ESC is only a stray control).
#[must_use]
pub(crate) fn starts_designation(s: &[u8]) -> bool {
    matches!(parse_escape(s), Escape::Designate { .. })
}

mod strings;
pub use strings::*;

#[cfg(test)]
mod tests;
