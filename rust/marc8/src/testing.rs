//! Test harness: every decoding is checked one-shot, split at every byte boundary (twice), with
//! empty chunks, and after 0–31 bytes of ASCII padding (to hit every alignment of the wide scan).

use crate::{DecodeOptions, Decoder, ErrorMode, Problem};

pub(crate) fn replace() -> DecodeOptions {
    DecodeOptions {
        errors: ErrorMode::Replace,
        ..DecodeOptions::default()
    }
}

pub(crate) fn strict() -> DecodeOptions {
    DecodeOptions::default()
}

fn stream(chunks: &[&[u8]], opts: &DecodeOptions) -> (String, Vec<Problem>) {
    let mut d = Decoder::new(*opts);
    let mut out = String::new();
    let mut problems = Vec::new();
    for c in chunks {
        d.decode_to_string(c, &mut out, false, &mut problems)
            .unwrap();
        d.decode_to_string(b"", &mut out, false, &mut problems)
            .unwrap();
    }
    d.decode_to_string(b"", &mut out, true, &mut problems)
        .unwrap();
    (out, problems)
}

/// Decodes `input` in replace mode every way and asserts all ways agree; returns the one-shot
/// result (before normalization, which only one-shot calls apply).
pub(crate) fn decode_all_ways(input: &[u8], opts: &DecodeOptions) -> (String, Vec<Problem>) {
    let (text, problems) = crate::decode_report(input, opts);
    let text = text.into_owned();
    let raw = DecodeOptions {
        normalize: crate::Normalization::None,
        ..*opts
    };
    let (whole, _) = stream(&[input], &raw);
    if opts.normalize == crate::Normalization::None {
        assert_eq!(whole, text);
    }
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(
            stream(&[a, b], &raw),
            (whole.clone(), problems.clone()),
            "split at {i}"
        );
        for j in i..=input.len() {
            let (b1, b2) = b.split_at(j - i);
            assert_eq!(stream(&[a, b1, b2], &raw).0, whole, "split at {i},{j}");
        }
    }
    for pad in 0..32 {
        let mut v = vec![b'.'; pad];
        v.extend_from_slice(input);
        let (t, p) = crate::decode_report(&v, &raw);
        assert_eq!(&t[pad..], whole, "padding {pad}");
        let shifted: Vec<_> = p.iter().map(|p| (p.kind, p.offset - pad)).collect();
        let expect: Vec<_> = problems.iter().map(|p| (p.kind, p.offset)).collect();
        assert_eq!(shifted, expect);
    }
    (text, problems)
}
