//! Decoding never panics; streaming (cut at a point taken from the input) equals one-shot; strict
//! mode fails exactly at replace mode's first problem.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marc8::{decode, decode_report, DecodeOptions, Decoder, ErrorMode};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let opts = DecodeOptions {
        errors: ErrorMode::Replace,
        expand_ncr: flags & 1 != 0,
        legacy_ligatures: flags & 2 != 0,
        ..DecodeOptions::default()
    };
    let (text, problems) = decode_report(input, &opts);
    let cut = usize::from(flags >> 2) % (input.len() + 1);
    let mut d = Decoder::new(opts);
    let (mut out, mut p) = (String::new(), Vec::new());
    d.decode_to_string(&input[..cut], &mut out, false, &mut p)
        .unwrap();
    d.decode_to_string(&input[cut..], &mut out, true, &mut p)
        .unwrap();
    assert_eq!(text, out);
    assert_eq!(problems, p);
    let strict = DecodeOptions {
        errors: ErrorMode::Strict,
        ..opts
    };
    match decode(input, &strict) {
        Ok(_) => assert!(problems.is_empty()),
        Err(e) => assert_eq!(e.offset, problems[0].offset),
    }
});
