//! The encoder, on any text, in every error mode: never panics; strict fails exactly where the
//! other modes report their first problem; lossy and lossless report the same characters;
//! streaming (cut at a point taken from the input) equals one-shot; lossy output is valid
//! MARC-8; and the lossless promise holds: `decode(encode(s, lossless), expand_ncr)` equals `s`
//! after NFD.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marc8::{
    decode, decode_report, encode, encode_report, normalize, DecodeOptions, EncodeErrors,
    EncodeOptions, Encoder, ErrorMode, Normalization,
};

fn opts(errors: EncodeErrors) -> EncodeOptions {
    EncodeOptions { errors }
}

/// Text with a control character MARC 21 does not allow is outside the lossless promise
/// (issue 9): the encoder writes the fill character for it and reports `control_character`, and
/// an NCR of a control stays text when decoded. Tab, LF and CR pass through as text.
fn has_forbidden_control(s: &str) -> bool {
    s.chars().any(|c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
            || c == '\u{7f}'
            || (('\u{80}'..='\u{9f}').contains(&c) && !matches!(c, '\u{98}' | '\u{9c}'))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut_seed, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let s: &str = &text;

    let (lossless, ll_problems) = encode_report(s, &opts(EncodeErrors::Lossless));
    let (lossy, ly_problems) = encode_report(s, &opts(EncodeErrors::Lossy));
    let (report_strict, rs_problems) = encode_report(s, &opts(EncodeErrors::Strict));
    // encode_report in strict mode writes as lossless mode does.
    assert_eq!(report_strict, lossless);
    assert_eq!(rs_problems.len(), ll_problems.len());
    // The same characters are unmappable whatever is written for them.
    let where_ll: Vec<_> = ll_problems.iter().map(|p| (p.offset, p.ch)).collect();
    let where_ly: Vec<_> = ly_problems.iter().map(|p| (p.offset, p.ch)).collect();
    assert_eq!(where_ll, where_ly);
    match encode(s, &opts(EncodeErrors::Strict)) {
        Ok(bytes) => {
            assert!(ly_problems.is_empty());
            assert_eq!(&bytes[..], &lossy[..]);
        }
        Err(p) => assert_eq!(p.offset, ly_problems[0].offset),
    }

    // Streaming, cut at a character boundary taken from the input, equals one-shot.
    let mut cut = usize::from(cut_seed) * s.len() / 255;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    for errors in [EncodeErrors::Lossless, EncodeErrors::Lossy] {
        let mut enc = Encoder::new(opts(errors));
        let (mut out, mut problems) = (Vec::new(), Vec::new());
        enc.encode_from_str(&s[..cut], &mut out, false, &mut problems)
            .unwrap();
        enc.encode_from_str(&s[cut..], &mut out, true, &mut problems)
            .unwrap();
        let (whole, whole_problems) = encode_report(s, &opts(errors));
        assert_eq!(out, &whole[..]);
        assert_eq!(problems, whole_problems);
    }

    // Lossy output is valid MARC-8: it decodes without a single problem.
    let strict_decode = DecodeOptions {
        errors: ErrorMode::Strict,
        ..DecodeOptions::default()
    };
    if let Err(p) = decode(&lossy, &strict_decode) {
        panic!("lossy output does not decode: {p:?} in {lossy:02X?}");
    }

    if has_forbidden_control(s) {
        return; // outside the promise: see has_forbidden_control.
    }
    // The lossless promise.
    let back_opts = DecodeOptions {
        errors: ErrorMode::Replace,
        expand_ncr: true,
        ..DecodeOptions::default()
    };
    let (back, problems) = decode_report(&lossless, &back_opts);
    assert!(problems.is_empty(), "{problems:?}");
    let want = normalize(s.to_owned(), Normalization::Nfd);
    let got = normalize(back.into_owned(), Normalization::Nfd);
    assert_eq!(got, want, "lossless round trip via {lossless:02X?}");
});
