//! Encoding detection: does a record's data look like MARC-8 or UTF-8?

use super::*;

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
    classify_esc(fields, &Scanned::default())
}

/// What the record layer's one scan over a record's data (the bytes from its first field's data
/// to its last one's) already found, so that [`classify_esc`] need not look again.
#[derive(Default)]
pub(crate) struct Scanned<'a> {
    /// Bytes that hold every byte above 0x7F of the fields, if the scan was made.
    pub(crate) span: Option<&'a [u8]>,
    /// How many of the first fields (in directory order) lie wholly in the plain prefix the scan
    /// found (graphic ASCII, no ESC): nothing in them can change the answer.
    pub(crate) plain_fields: usize,
    /// False if the scan found no ESC anywhere: no field is searched for escape sequences.
    pub(crate) no_esc: bool,
}

/// [`classify`], helped by what the record layer's scan found (nothing, by default).
pub(crate) fn classify_esc(fields: &[RawField<'_>], scanned: &Scanned<'_>) -> Looks {
    let may_have_esc = !scanned.no_esc;
    let mut multibyte = false;
    let start = scanned.plain_fields.min(fields.len());
    for (k, f) in fields.iter().enumerate().skip(start) {
        if may_have_esc && designates(f.data) {
            return Looks::NotUtf8;
        }
        if !f.data.is_ascii() {
            if std::str::from_utf8(f.data).is_err() {
                // Every high byte of the fields is in the span: its count bounds theirs.
                let bound = scanned.span.map(high_bytes);
                return weigh(fields, k, may_have_esc, bound);
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
pub(super) fn designates(data: &[u8]) -> bool {
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
/// characters, make it [`Looks::NotUtf8`]; else [`Looks::MostlyUtf8`]. `bound`, if given, is at
/// least the fields' count of high bytes: the count stops as soon as the invalid ones are more
/// than half of it, and the exact count is made only if they never are.
pub(super) fn weigh(
    fields: &[RawField<'_>],
    first_bad: usize,
    may_have_esc: bool,
    bound: Option<usize>,
) -> Looks {
    if may_have_esc && fields[first_bad + 1..].iter().any(|f| designates(f.data)) {
        return Looks::NotUtf8;
    }
    // Every byte of an invalid sequence is above 0x7F: the high bytes are the valid ones plus
    // the invalid ones, so the count stops as soon as the invalid ones are the majority.
    let total = || fields.iter().map(|f| high_bytes(f.data)).sum::<usize>();
    let exact = bound.is_none();
    let bound = bound.unwrap_or_else(total);
    let mut invalid = 0;
    for f in &fields[first_bad..] {
        if f.data.is_ascii() {
            continue;
        }
        invalid += invalid_utf8_bytes(f.data);
        if 2 * invalid > bound {
            return Looks::NotUtf8;
        }
    }
    if !exact && 2 * invalid > total() {
        return Looks::NotUtf8;
    }
    Looks::MostlyUtf8
}

/// How many bytes of `data` are in invalid UTF-8 sequences, counted as `utf8_chunks` counts
/// them (each maximal invalid prefix, an incomplete sequence at the end included), with the
/// validator's ASCII fast path between them (issue 22).
pub(super) fn invalid_utf8_bytes(data: &[u8]) -> usize {
    let mut rest = data;
    let mut n = 0;
    while let Err(e) = std::str::from_utf8(rest) {
        let valid = e.valid_up_to();
        let bad = e.error_len().unwrap_or(rest.len() - valid);
        n += bad;
        rest = &rest[valid + bad..];
    }
    n
}

/// How many bytes of `data` are above 0x7F, eight at a time.
pub(super) fn high_bytes(data: &[u8]) -> usize {
    let mut words = data.chunks_exact(8);
    let mut n = 0;
    for w in &mut words {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        n += (w & 0x8080_8080_8080_8080).count_ones() as usize;
    }
    n + words.remainder().iter().filter(|&&b| b >= 0x80).count()
}
