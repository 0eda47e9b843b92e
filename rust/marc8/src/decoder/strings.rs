//! The whole-string entry points of the decoder (a string at a time, from the initial state):
//! kept apart from `decoder.rs` (the 900-line limit).

use super::*;

/// True if `src` is certain to decode to itself with no problem: SPACE, graphic ASCII and the
/// controls 1D, 1E, 1F (no ESC, no other control, no DEL; and no `&` when NCRs are expanded).
/// Tab, line feed and carriage return are left to the decoder (they pass in text, and are
/// control characters in field data).
#[must_use]
pub fn is_verbatim(src: &[u8], expand_ncr: bool) -> bool {
    if expand_ncr {
        copyable_prefix::<true>(src) == src.len()
    } else {
        copyable_prefix::<false>(src) == src.len()
    }
}

/// Decodes a whole MARC-8 string, starting with G0 = ASCII and G1 = ANSEL.
///
/// Returns the input itself, borrowed, when it is plain ASCII with no escape. In strict mode the
/// first problem is the error; in replace mode problems are dropped (use [`decode_report`] to
/// see them).
///
/// Exposed to Python as `marc8fast.decode`.
///
/// ```
/// use marc8::{decode, DecodeOptions};
///
/// // ANSEL: a combining acute (0xE2) comes before its base letter in MARC-8, after it in Unicode.
/// let text = decode(b"Caf\xE2e", &DecodeOptions::default()).unwrap();
/// assert_eq!(text, "Cafe\u{301}");
/// ```
pub fn decode<'a>(src: &'a [u8], options: &DecodeOptions) -> Result<Cow<'a, str>, Problem> {
    let mut problems = Vec::new();
    decode_into_cow(src, options, &mut problems)
}

/// Decodes a whole MARC-8 string in replace mode and returns the text with every problem.
/// Never fails.
///
/// Exposed to Python as `marc8fast.decode_report`.
///
/// ```
/// use marc8::{decode_report, DecodeOptions, ProblemKind};
///
/// // 0xFF is no character of ANSEL: replaced, and reported at its offset.
/// let (text, problems) = decode_report(b"a\xFFb", &DecodeOptions::default());
/// assert_eq!(problems.len(), 1);
/// assert_eq!(problems[0].offset, 1);
/// assert!(text.starts_with('a') && text.ends_with('b'));
/// assert_eq!(problems[0].kind, ProblemKind::UnmappedByte);
/// ```
#[must_use]
pub fn decode_report<'a>(src: &'a [u8], options: &DecodeOptions) -> (Cow<'a, str>, Vec<Problem>) {
    let opts = DecodeOptions {
        errors: ErrorMode::Replace,
        ..*options
    };
    let mut problems = Vec::new();
    let text = decode_into_cow(src, &opts, &mut problems)
        .unwrap_or_else(|_| unreachable!("replace mode does not fail"));
    (text, problems)
}

/// Decodes a whole MARC-8 string (starting with G0 = ASCII, G1 = ANSEL), appending the text to
/// `dst` and the problems to `problems`: the allocation-free form of [`decode_report`] for callers
/// that convert many strings, such as a record's subfields, into one reused buffer. In strict mode
/// the first problem is returned as the error (and `dst` holds the text decoded before it).
pub fn decode_append(
    src: &[u8],
    options: &DecodeOptions,
    dst: &mut String,
    problems: &mut Vec<Problem>,
) -> Result<(), Problem> {
    append_decoded(src, Decoder::new(*options), dst, problems)
}

/// [`decode_append`] for MARC field data (a subfield or a control field): tab, line feed and
/// carriage return are control characters too.
pub(crate) fn decode_field_append(
    src: &[u8],
    options: &DecodeOptions,
    dst: &mut String,
    problems: &mut Vec<Problem>,
) -> Result<(), Problem> {
    append_decoded(src, Decoder::for_field_data(*options), dst, problems)
}

/// [`decode_append`] with a fresh decoder of either kind. The bytes that convert as they are
/// at the start are scanned once (issue 22): copied, then the decoder starts after them, where
/// it would have been after copying them itself (nothing pending, offsets counted from the
/// start of `src`).
fn append_decoded(
    src: &[u8],
    mut decoder: Decoder,
    dst: &mut String,
    problems: &mut Vec<Problem>,
) -> Result<(), Problem> {
    let n = if decoder.opts.expand_ncr {
        copyable_prefix::<true>(src)
    } else {
        copyable_prefix::<false>(src)
    };
    let start = dst.len();
    dst.push_str(ascii_str(&src[..n]));
    if n == src.len() {
        return Ok(());
    }
    decoder.pos = n;
    decoder.decode_to_string(&src[n..], dst, true, problems)?;
    let form = decoder.opts.normalize;
    if form != Normalization::None {
        let tail = dst.split_off(start);
        dst.push_str(&normalize(tail, form));
    }
    Ok(())
}

fn decode_into_cow<'a>(
    src: &'a [u8],
    opts: &DecodeOptions,
    problems: &mut Vec<Problem>,
) -> Result<Cow<'a, str>, Problem> {
    if is_verbatim(src, opts.expand_ncr) {
        return Ok(Cow::Borrowed(ascii_str(src)));
    }
    let mut out = String::with_capacity(src.len() + src.len() / 2);
    Decoder::new(*opts).decode_to_string(src, &mut out, true, problems)?;
    Ok(Cow::Owned(normalize(out, opts.normalize)))
}

/// Applies `form` to `s`, without copying when it is already in that form.
#[must_use]
pub fn normalize(s: String, form: Normalization) -> String {
    match form {
        Normalization::None => s,
        Normalization::Nfc if is_nfc_quick(s.chars()) == IsNormalized::Yes => s,
        Normalization::Nfd if is_nfd_quick(s.chars()) == IsNormalized::Yes => s,
        Normalization::Nfc => s.nfc().collect(),
        Normalization::Nfd => s.nfd().collect(),
    }
}
