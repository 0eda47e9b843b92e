//! Property tests of the decoder: arbitrary bytes never panic and lose nothing silently; streaming
//! equals one-shot wherever the input is cut; strict mode fails exactly where replace mode first
//! reports a problem.

use marc8::{decode, decode_report, DecodeOptions, Decoder, ErrorMode, Normalization};
use proptest::prelude::*;

fn replace() -> DecodeOptions {
    DecodeOptions {
        errors: ErrorMode::Replace,
        ..DecodeOptions::default()
    }
}

/// Bytes biased towards what MARC-8 data is made of: ASCII, ANSEL marks and specials, escapes,
/// EACC bytes, controls.
fn marc8ish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => proptest::collection::vec(0x20u8..0x7F, 0..8),
        2 => proptest::collection::vec(0xA1u8..0xFF, 1..3),
        1 => prop::sample::select(vec![
            b"\x1b(B".to_vec(), b"\x1b(N".to_vec(), b"\x1b)Q".to_vec(), b"\x1b$1".to_vec(),
            b"\x1b$)1".to_vec(), b"\x1b)!E".to_vec(), b"\x1bg".to_vec(), b"\x1bs".to_vec(),
            b"\x1b(S".to_vec(), b"\x1b(2".to_vec(), b"\x1b(3".to_vec(), b"\x1b)4".to_vec(),
            b"\x1b(Z".to_vec(), b"\x1b".to_vec(), b"\x1f".to_vec(), b"\x1e".to_vec(),
            b"&#x00E9;".to_vec(), b"&#x12".to_vec(), b"\xeb".to_vec(), b"\xec".to_vec(),
        ]),
        1 => proptest::collection::vec(any::<u8>(), 0..6),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

fn stream(input: &[u8], cuts: &[usize], opts: DecodeOptions) -> (String, Vec<marc8::Problem>) {
    let mut d = Decoder::new(opts);
    let (mut out, mut problems) = (String::new(), Vec::new());
    let mut prev = 0;
    for &c in cuts {
        d.decode_to_string(&input[prev..c], &mut out, false, &mut problems)
            .unwrap();
        prev = c;
    }
    d.decode_to_string(&input[prev..], &mut out, true, &mut problems)
        .unwrap();
    (out, problems)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn replace_mode_never_fails(input in marc8ish(), ncr in any::<bool>(), legacy in any::<bool>()) {
        let opts = DecodeOptions { expand_ncr: ncr, legacy_ligatures: legacy, ..replace() };
        let (text, problems) = decode_report(&input, &opts);
        // Every problem lies inside the input, in order.
        let mut last = 0;
        for p in &problems {
            prop_assert!(p.offset + p.len <= input.len());
            prop_assert!(p.offset >= last, "problems out of order: {:?}", problems);
            last = p.offset;
        }
        // One U+FFFD per replaced unit (MARC-8 has no code for U+FFFD itself).
        let replaced = problems.iter().filter(|p| p.action == marc8::Action::Replaced).count();
        prop_assert_eq!(text.matches('\u{FFFD}').count(), replaced);
    }

    #[test]
    fn streaming_equals_one_shot(input in marc8ish(), mut cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..5), ncr in any::<bool>()) {
        let opts = DecodeOptions { expand_ncr: ncr, ..replace() };
        let mut cuts: Vec<usize> = cuts.drain(..).map(|i| i.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        let (text, problems) = decode_report(&input, &opts);
        let (s_text, s_problems) = stream(&input, &cuts, opts);
        prop_assert_eq!(text, s_text);
        prop_assert_eq!(problems, s_problems);
    }

    #[test]
    fn strict_stops_at_the_first_problem(input in marc8ish()) {
        let (_, problems) = decode_report(&input, &DecodeOptions::default());
        match decode(&input, &DecodeOptions::default()) {
            Ok(_) => prop_assert!(problems.is_empty()),
            Err(p) => {
                prop_assert_eq!(p.kind, problems[0].kind);
                prop_assert_eq!(p.offset, problems[0].offset);
            }
        }
    }

    #[test]
    fn normalization_is_applied_to_the_stored_form(input in marc8ish()) {
        use unicode_normalization::UnicodeNormalization;
        let raw = decode_report(&input, &replace()).0.into_owned();
        let nfc = decode_report(&input, &DecodeOptions { normalize: Normalization::Nfc, ..replace() }).0;
        let nfd = decode_report(&input, &DecodeOptions { normalize: Normalization::Nfd, ..replace() }).0;
        prop_assert_eq!(nfc, raw.nfc().collect::<String>());
        prop_assert_eq!(nfd, raw.nfd().collect::<String>());
    }
}
