//! MARCXML straight from the bytes of an ISO 2709 record, without the model (issue 22).
//!
//! [`write_raw_utf8`] writes exactly what [`crate::model::Record::from_iso2709`] and then
//! [`super::write_parts`] would write, for a record about which that path would report nothing,
//! and declines every other record (the caller then takes the model path, which reports what it
//! always did). The work per record: the record layer's [`crate::record::parse`], one pass over
//! the directory for the leader's lengths, and one pass over each field's bytes that at once
//! copies them, escapes `&`, `<` and `>`, validates UTF-8 and finds the subfield delimiters — a
//! 64-bit word at a time while no byte needs a look (SWAR, as in [`crate::ascii`]).
//!
//! Why each accepted record gives the model path's bytes and no problem:
//!
//! * Leader/09 `a`: the record is read as UTF-8. The record layer's `begin` reports only a
//!   directory it had to recover (declined here) and a mislabelling, which for a record saying
//!   UTF-8 needs a field that is not valid UTF-8 or holds a MARC-8 escape sequence: every field
//!   of an accepted record is checked to be valid UTF-8 without any control but the subfield
//!   delimiter, so without ESC. Any other leader/09: `begin` itself is asked, and only a record
//!   it reads as MARC-8 whose every byte converts as it is (plain ASCII) is accepted.
//! * The model takes a UTF-8 field as it is when it holds no byte below 0x1D, no DEL and no 0xC2;
//!   else each subfield goes through the record layer's converter, which changes (and reports)
//!   only the controls MARC forbids: below 0x1D, DEL and the C1 controls U+0080–U+009F but
//!   U+0098 and U+009C (with NCR expansion, also `&#` references: then a field with `&` is
//!   declined). A field with 0xC2 leading U+00A0–U+00BF, U+0098 or U+009C therefore reads as its
//!   bytes, with nothing reported, and is written here; one with any other C1 control is
//!   declined.
//! * The writer reports characters XML 1.0 cannot carry (every control below 0x20, U+FFFE,
//!   U+FFFF: declined here) and anything outside MARC21slim's schema (tags, indicators, codes, a
//!   control field after a data field, a data field without subfields, the leader: all declined
//!   here). Bytes before the first delimiter, an empty delimiter and a field too short for its
//!   indicators are declined too.
//! * Field 066 is not written (it describes MARC-8 only) and is left out of the leader's
//!   lengths, as [`super::write_parts`] does; it is still read by the model, so it is checked as
//!   any data field is (its output then dropped).

use super::schema::{
    control_tag_in_schema, data_tag_in_schema, indicator_in_schema, leader_in_schema,
};
use crate::ascii::{zero_bytes, HI, LO};
use crate::decoder::Normalization;
use crate::interchange::put_num;
use crate::model::ReadOptions;
use crate::record::{repair_leader, Parsed, FT, SD};

/// High bit set in the lowest byte of `w` that the copy must look at: a control (below 0x20:
/// the delimiter, the terminator, anything to decline), DEL or above (UTF-8 to validate, DEL to
/// decline), `&`, `<`, `>`. Each part's false flags lie above one of its true flags, so the
/// lowest flag of the union is exact.
#[inline(always)]
fn stops(w: u64) -> u64 {
    // `b >= 0x7F` ⇔ the high bit of b or of b + 1 is set; a carry only leaves a 0xFF byte,
    // itself a stop.
    let high = (w | w.wrapping_add(LO)) & HI;
    let control = w.wrapping_sub(0x20 * LO) & !w & HI;
    let amp = zero_bytes(w ^ (u64::from(b'&') * LO));
    // `<` (0x3C) and `>` (0x3E) differ in one bit.
    let angle = zero_bytes((w ^ (u64::from(b'<') * LO)) & !(0x02 * LO));
    high | control | amp | angle
}

/// The 8 bytes of `raw` from `i` (little-endian), field terminators standing in past its end.
#[inline(always)]
fn word_at(raw: &[u8], i: usize) -> u64 {
    match raw.get(i..i + 8) {
        Some(w) => u64::from_le_bytes(w.try_into().unwrap_or([FT; 8])),
        None => {
            let mut w = [FT; 8];
            for (d, &s) in w.iter_mut().zip(raw.get(i..).unwrap_or_default()) {
                *d = s;
            }
            u64::from_le_bytes(w)
        }
    }
}

/// The length of the UTF-8 character at `i` (before `end`) when it is valid and one that
/// neither the record layer nor XML 1.0 would report: not a C1 control the record layer
/// refuses (U+0080–U+009F but U+0098, U+009C), not U+FFFE or U+FFFF.
#[inline(always)]
fn char_len(raw: &[u8], i: usize, end: usize) -> Option<usize> {
    let at = |k: usize| if i + k < end { raw[i + k] } else { 0 };
    let cont = |b: u8| b & 0xC0 == 0x80;
    let (b1, n) = (
        at(1),
        match raw[i] {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return None,
        },
    );
    let first_ok = match raw[i] {
        0xC2 => matches!(b1, 0xA0..=0xBF | 0x98 | 0x9C),
        0xE0 => matches!(b1, 0xA0..=0xBF),
        0xED => matches!(b1, 0x80..=0x9F),
        0xEF => cont(b1) && !(b1 == 0xBF && at(2) >= 0xBE),
        0xF0 => matches!(b1, 0x90..=0xBF),
        0xF4 => matches!(b1, 0x80..=0x8F),
        _ => cont(b1),
    };
    (first_ok && (2..n).all(|k| cont(at(k)))).then_some(n)
}

/// What each byte needs as a subfield code (an attribute value): 0 outside MARC21slim's code
/// pattern ([`super::schema::code_in_schema`]; the record is declined), 1 written as it is,
/// 2 escaped (`"`, `&`, `<`, `>`). A test checks it against that function.
pub(super) const CODE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 128 {
        if (c as u8).is_ascii_alphanumeric() {
            t[c] = 1;
        }
        c += 1;
    }
    let punctuation = b"!#$%'()*+,-./:;=?{}_^`~[]\\";
    let mut i = 0;
    while i < punctuation.len() {
        t[punctuation[i] as usize] = 1;
        i += 1;
    }
    t[b'"' as usize] = 2;
    t[b'&' as usize] = 2;
    t[b'<' as usize] = 2;
    t[b'>' as usize] = 2;
    t
};

/// `    <subfield code="`, the code, `">` after `</subfield>\n`: what a delimiter becomes.
const NEXT_SUBFIELD: [u8; 35] = *b"</subfield>\n    <subfield code=\"C\">";

/// Writes a subfield's code as an attribute value and `">` (with `out` ending in
/// `<subfield code="`); false for a code outside the schema.
#[cold]
fn put_odd_code(code: u8, out: &mut Vec<u8>) -> bool {
    let esc: &[u8] = match code {
        b'"' => b"&quot;\">",
        b'&' => b"&amp;\">",
        b'<' => b"&lt;\">",
        b'>' => b"&gt;\">",
        _ => return false,
    };
    out.extend_from_slice(esc);
    true
}

/// Copies a field's bytes `raw[i..end]` (its terminator at `end`) into `out`, escaped for
/// element content; with `subfields`, each delimiter and the code after it become the end of
/// one `<subfield>` and the start of the next. False (with `out` partly written) at anything
/// the model path would report or change: another control (a delimiter in a control field, a
/// terminator before `end`), DEL, invalid UTF-8, a refused C1 control, U+FFFE, U+FFFF, a code
/// outside the schema, `&` when `amp` is set (NCR expansion).
fn copy_field(
    raw: &[u8],
    mut i: usize,
    end: usize,
    amp: bool,
    subfields: bool,
    out: &mut Vec<u8>,
) -> bool {
    loop {
        let w = word_at(raw, i);
        let m = stops(w);
        // The whole word is copied (a fixed-size copy, no `memcpy` call) and cut back to the
        // first stop.
        out.extend_from_slice(&w.to_le_bytes());
        if m == 0 {
            i += 8;
            continue;
        }
        let k = (m.trailing_zeros() / 8) as usize;
        out.truncate(out.len() - 8 + k);
        i += k;
        let b = (w >> (8 * k)) as u8;
        if b == SD && subfields && i + 1 < end {
            let code = raw[i + 1];
            match CODE_CLASS[usize::from(code)] {
                1 => {
                    out.extend_from_slice(&NEXT_SUBFIELD);
                    let n = out.len();
                    out[n - 3] = code;
                }
                2 => {
                    out.extend_from_slice(&NEXT_SUBFIELD[..32]);
                    put_odd_code(code, out);
                }
                _ => return false,
            }
            i += 2;
        } else if b == FT {
            return i == end;
        } else if b >= 0x80 && i < end {
            let Some(n) = char_len(raw, i, end) else {
                return false;
            };
            // Four bytes copied (fixed size), cut to the character's.
            out.extend_from_slice(&word_at(raw, i).to_le_bytes()[..4]);
            out.truncate(out.len() - 4 + n);
            i += n;
        } else {
            out.extend_from_slice(match b {
                b'&' if !amp => b"&amp;",
                b'<' => b"&lt;",
                b'>' => b"&gt;",
                _ => return false,
            });
            i += 1;
        }
    }
}

/// Writes one data field whose data is `raw[start..end]` (terminator at `end`); false when the
/// model path would report something about it.
fn data_field(
    raw: &[u8],
    tag: [u8; 3],
    start: usize,
    end: usize,
    amp: bool,
    out: &mut Vec<u8>,
) -> bool {
    let data = &raw[start..end];
    if data.len() < 4
        || data[2] != SD
        || !data[..2]
            .iter()
            .all(|&b| indicator_in_schema(char::from(b)))
        || !data_tag_in_schema(&tag)
    {
        return false;
    }
    let at = out.len();
    out.extend_from_slice(
        b"  <datafield tag=\"TAG\" ind1=\"1\" ind2=\"2\">\n    <subfield code=\"C\">",
    );
    let head = &mut out[at..];
    head[18..21].copy_from_slice(&tag);
    head[29] = data[0];
    head[38] = data[1];
    let code = data[3];
    match CODE_CLASS[usize::from(code)] {
        1 => head[62] = code,
        2 => {
            out.truncate(at + 62);
            put_odd_code(code, out);
        }
        _ => return false,
    }
    if !copy_field(raw, start + 4, end, amp, true, out) {
        return false;
    }
    out.extend_from_slice(b"</subfield>\n  </datafield>\n");
    true
}

/// One `<record>` straight from the bytes of an ISO 2709 record, without the model: appends
/// what [`crate::model::Record::from_iso2709`] and then [`super::write_parts`] would write, and
/// returns true, only when that path would report no problem at all (see the module's
/// documentation). Any other record makes it return false with `out` as it was, and the caller
/// takes the model path, which reports exactly what it always did.
pub(crate) fn write_raw_utf8(
    raw: &[u8],
    opts: &ReadOptions,
    number: usize,
    offset: u64,
    out: &mut Vec<u8>,
) -> bool {
    let mark = out.len();
    if write_raw_inner(raw, opts, number, offset, out) {
        true
    } else {
        out.truncate(mark);
        false
    }
}

/// The fields the direct path may take: those of a record read as UTF-8 (leader/09 `a`) or as
/// MARC-8 that is plain ASCII, its directory as it stands (not recovered).
fn readable<'a>(
    raw: &'a [u8],
    opts: &ReadOptions,
    number: usize,
    offset: u64,
) -> Option<Parsed<'a>> {
    if raw.get(9) == Some(&b'a') {
        // Whether `begin` would report a mislabelling depends only on fields checked below.
        crate::record::parse(raw).ok().filter(|p| !p.recovered)
    } else {
        let mut problems = Vec::new();
        let begun = crate::record::begin(raw, opts.trust, number, offset, &mut problems)?;
        (begun.from_marc8 && begun.verbatim && !begun.parsed.recovered && problems.is_empty())
            .then_some(begun.parsed)
    }
}

fn write_raw_inner(
    raw: &[u8],
    opts: &ReadOptions,
    number: usize,
    offset: u64,
    out: &mut Vec<u8>,
) -> bool {
    if opts.decode.normalize != Normalization::None {
        return false;
    }
    let Some(parsed) = readable(raw, opts, number, offset) else {
        return false;
    };
    let fields = &parsed.fields;
    // The lengths of the UTF-8 ISO 2709 form without 066 (`interchange::lengths`): with every
    // field checked below to be indicators and whole subfields, each field's data is as long as
    // it stands.
    let (mut count, mut data) = (0, 0);
    for f in fields.iter().filter(|f| &f.tag != b"066") {
        count += 1;
        data += f.data.len() + 1;
    }
    let base = 24 + 12 * count + 1;
    let mut leader = parsed.leader;
    put_num(&mut leader, 0, base + data + 1);
    put_num(&mut leader, 12, base);
    leader[9] = b'a';
    if !repair_leader(&mut leader, false).is_empty() || !leader_in_schema(&leader) {
        return false;
    }
    let at = out.len();
    out.extend_from_slice(b"<record>\n  <leader>LEADER-LEADER-LEADER-LEA</leader>\n");
    out[at + 19..at + 43].copy_from_slice(&leader);
    let amp = opts.decode.expand_ncr;
    let raw_at = raw.as_ptr() as usize;
    let mut seen_data = false;
    for f in fields {
        // Every field's data is a slice of `raw`, followed by its terminator.
        let start = (f.data.as_ptr() as usize).wrapping_sub(raw_at);
        let end = start.wrapping_add(f.data.len());
        if raw.get(end) != Some(&FT) || start > end {
            return false;
        }
        if f.is_control() {
            if seen_data || !control_tag_in_schema(&f.tag) {
                return false;
            }
            let at = out.len();
            out.extend_from_slice(b"  <controlfield tag=\"TAG\">");
            out[at + 21..at + 24].copy_from_slice(&f.tag);
            if !copy_field(raw, start, end, amp, false, out) {
                return false;
            }
            out.extend_from_slice(b"</controlfield>\n");
        } else if &f.tag == b"066" {
            // Read by the model (so checked), not written.
            let at = out.len();
            if !data_field(raw, f.tag, start, end, amp, out) {
                return false;
            }
            out.truncate(at);
        } else {
            seen_data = true;
            if !data_field(raw, f.tag, start, end, amp, out) {
                return false;
            }
        }
    }
    out.extend_from_slice(b"</record>\n");
    true
}
