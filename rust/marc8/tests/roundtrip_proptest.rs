//! Property tests of the encoder against the decoder (DESIGN.md, "Round trip").
//!
//! (a) `decode(encode(s)) == s` for representable `s` in the decoder's output form;
//! (b) `encode(decode(m)) == m` for every `m` the encoder wrote;
//! (c) `decode(encode(s, lossless), expand_ncr) == s` for any `s` without control characters
//!     MARC forbids (they are written as `|` and reported), modulo canonical equivalence; the
//!     legacy ligature halves U+FE20–U+FE23 included;
//! (d) streaming with any split gives the one-shot bytes and problems.
//!
//! Strings for (a) and (b) are built from LC's code table (`tests/data/codetables.tsv`).

use std::sync::OnceLock;

use marc8::{
    decode, decode_report, encode, encode_report, Action, DecodeOptions, EncodeErrors,
    EncodeOptions, Encoder, ErrorMode, Problem,
};
use proptest::prelude::*;
use proptest::sample::select;
use unicode_normalization::UnicodeNormalization;

const TSV: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/codetables.tsv"
));

struct Pools {
    /// Spacing characters of every set but EACC (controls left out).
    bases: Vec<char>,
    /// EACC characters.
    eacc: Vec<char>,
    /// Combining marks, including U+0361 / U+0360 and the right halves U+FE21 / U+FE23 (which
    /// the decoder outputs for a lone EC / FB), but not the legacy left halves U+FE20 / U+FE22,
    /// which the decoder never outputs.
    marks: Vec<char>,
}

fn pools() -> &'static Pools {
    static POOLS: OnceLock<Pools> = OnceLock::new();
    POOLS.get_or_init(|| {
        let mut p = Pools {
            bases: Vec::new(),
            eacc: Vec::new(),
            marks: Vec::new(),
        };
        for line in TSV.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 5 {
                continue;
            }
            let marc = u32::from_str_radix(f[1], 16).unwrap_or(0);
            for v in [f[2], f[3]] {
                let Some(c) = u32::from_str_radix(v, 16).ok().and_then(char::from_u32) else {
                    continue;
                };
                if matches!(c, '\u{FE20}' | '\u{FE22}') || (f[0] != "31" && marc & 0x7F < 0x21) {
                    continue;
                }
                if v == f[3] && f[0] == "31" {
                    continue; // U+3013, the PUA entries' alternative: it has a primary code.
                }
                if f[4] == "1" {
                    p.marks.push(c);
                } else if f[0] == "31" {
                    p.eacc.push(c);
                } else {
                    p.bases.push(c);
                }
            }
        }
        p
    })
}

fn strict() -> EncodeOptions {
    EncodeOptions {
        errors: EncodeErrors::Strict,
    }
}

fn lossless() -> EncodeOptions {
    EncodeOptions {
        errors: EncodeErrors::Lossless,
    }
}

fn lossy() -> EncodeOptions {
    EncodeOptions {
        errors: EncodeErrors::Lossy,
    }
}

fn dec(expand_ncr: bool) -> DecodeOptions {
    DecodeOptions {
        errors: ErrorMode::Replace,
        expand_ncr,
        ..DecodeOptions::default()
    }
}

/// One unit of text in the decoder's output form: a base (from any set, or a space) and its
/// marks, a run of EACC, ASCII, or a control / C1 special.
fn unit() -> impl Strategy<Value = String> {
    let p = pools();
    let base = prop_oneof![
        4 => select(p.bases.clone()),
        1 => Just(' '),
        2 => select(p.eacc.clone()),
    ];
    let marked = (base, prop::collection::vec(select(p.marks.clone()), 0..4))
        .prop_map(|(b, ms)| std::iter::once(b).chain(ms).collect::<String>());
    prop_oneof![
        6 => marked,
        2 => prop::collection::vec(select(p.eacc.clone()), 1..5)
            .prop_map(|v| v.into_iter().collect::<String>()),
        2 => "[a-zA-Z0-9 .,&#;]{1,6}",
        1 => select(vec!["\x1f", "\x1e", "\u{200D}", "\u{200C}", "\u{98}", "\u{9C}"])
            .prop_map(str::to_owned),
    ]
}

fn representable() -> impl Strategy<Value = String> {
    prop::collection::vec(unit(), 0..12).prop_map(|v| v.concat())
}

/// Anything: arbitrary strings mixed with marks, NCR-looking text, astral characters, ESC.
fn anything() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => any::<String>(),
        3 => unit(),
        1 => select(vec![
            "&#x0041;", "&#X1F600;", "&#x", "&#", "&", "\u{301}", "\u{361}", "\u{344}",
            "\u{1EDB}", "\u{1EAD}", "😀", "\x1b", "\x7f", "क\u{94d}", "\u{AC01}", "\u{FE21}",
            "\u{FE20}", "\u{FE22}", "\u{FE23}", "t\u{FE20}s\u{FE21}", "t\u{361}s\u{FE21}",
            "\x01", "\r\n", "\u{85}",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

/// The legacy left halves U+FE20 / U+FE22 are written as EB / FA, which LC (and the decoder)
/// read as U+0361 / U+0360 between the two bases: not a round trip by design, so (b) and (c)
/// leave them out.
fn without_legacy_halves(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '\u{FE20}' | '\u{FE22}'))
        .collect()
}

/// MARC forbids these controls; every encoder mode reports them and none writes them.
/// (Tab, line feed and carriage return pass in text; only the record layer refuses them.)
fn is_forbidden_control(c: char) -> bool {
    matches!(c, '\0'..='\u{1C}' | '\u{7F}'..='\u{9F}')
        && !matches!(c, '\u{98}' | '\u{9C}' | '\t' | '\n' | '\r')
}

fn without_controls(s: &str) -> String {
    s.chars().filter(|&c| !is_forbidden_control(c)).collect()
}

fn nfd(s: &str) -> String {
    s.nfd().collect()
}

/// Streams `chunks`; in strict mode the first problem ends the stream and is returned last.
fn stream(chunks: &[&str], o: EncodeOptions) -> (Vec<u8>, Vec<Problem>) {
    let mut e = Encoder::new(o);
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (k, c) in chunks.iter().enumerate() {
        let last = k + 1 == chunks.len();
        if let Err(p) = e.encode_from_str(c, &mut out, last, &mut problems) {
            problems.push(p);
            break;
        }
    }
    (out, problems)
}

fn char_boundary(s: &str, i: usize) -> usize {
    (0..=i.min(s.len()))
        .rev()
        .find(|&j| s.is_char_boundary(j))
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    /// (a) and (b) for representable text in the decoder's output form.
    #[test]
    fn representable_text_round_trips(s in representable()) {
        let m = encode(&s, &strict()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let (text, problems) = decode_report(&m, &dec(false));
        prop_assert!(problems.is_empty(), "{:?}", problems);
        prop_assert_eq!(&text, &s);
        let again = encode(&text, &strict()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&again[..], &m[..]);
    }

    /// (c): lossless encoding of anything decodes (with NCR expansion) to the same text, up to
    /// canonical equivalence. The encoder decomposes characters MARC-8 has no code for (ớ →
    /// ơ + U+0301), so both sides are compared after NFD; marks keep their input order.
    #[test]
    fn lossless_round_trips_anything(s in anything()) {
        let s = without_controls(&s);
        let (m, _) = encode_report(&s, &lossless());
        let (text, problems) = decode_report(&m, &dec(true));
        prop_assert!(problems.is_empty(), "{:?}", problems);
        prop_assert_eq!(nfd(&text), nfd(&s));
        // (b) for lossless output: re-encoding the decoded text gives the same bytes.
        let (again, _) = encode_report(&text, &lossless());
        prop_assert_eq!(&again[..], &m[..]);
    }

    /// (b) for lossy output: the fill character decodes to `|` and encodes back to it.
    #[test]
    fn lossy_output_is_stable(s in anything()) {
        let s = without_legacy_halves(&s);
        let (m, problems) = encode_report(&s, &lossy());
        prop_assert!(problems.iter().all(|p| p.action == Action::WroteFill));
        let text = decode(&m, &dec(false)).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let (again, p2) = encode_report(&text, &lossy());
        prop_assert!(p2.is_empty());
        prop_assert_eq!(&again[..], &m[..]);
    }

    /// Control characters: each one reported where it is, in every mode, and never written.
    #[test]
    fn control_characters_are_reported_and_never_written(s in anything()) {
        let want: Vec<usize> = s
            .chars()
            .enumerate()
            .filter(|&(_, c)| is_forbidden_control(c))
            .map(|(i, _)| i)
            .collect();
        for o in [lossless(), lossy()] {
            let (m, problems) = encode_report(&s, &o);
            let got: Vec<usize> = problems
                .iter()
                .filter(|p| p.kind == marc8::ProblemKind::ControlCharacter)
                .map(|p| p.offset)
                .collect();
            prop_assert_eq!(&got, &want);
            let allowed = |b: u8| match b {
                0x09 | 0x0A | 0x0D | 0x1B | 0x1D..=0x1F | 0x88 | 0x89 | 0x8D | 0x8E => true,
                0x00..=0x1C | 0x7F..=0x9F => false,
                _ => true,
            };
            prop_assert!(m.iter().all(|&b| allowed(b)), "{:02X?}", m);
            let (_, dp) = decode_report(&m, &dec(true));
            prop_assert!(
                dp.iter().all(|p| p.kind != marc8::ProblemKind::ControlCharacter),
                "{:?}",
                dp
            );
        }
        if let Some(&first) = want.first() {
            match encode(&s, &strict()) {
                Err(e) => prop_assert!(e.offset <= first),
                Ok(_) => prop_assert!(false, "strict mode wrote a control"),
            }
        }
    }

    /// (d): any split across calls gives the one-shot bytes and problems (all three modes).
    #[test]
    fn streaming_split_is_one_shot(s in anything(), i in 0usize..64, j in 0usize..64) {
        for o in [strict(), lossless(), lossy()] {
            let i = char_boundary(&s, i);
            let j = char_boundary(&s, j.max(i));
            let whole = stream(&[&s], o);
            let split = stream(&[&s[..i], "", &s[i..j], &s[j..]], o);
            prop_assert_eq!(&split.0, &whole.0);
            prop_assert_eq!(&split.1, &whole.1);
            if o.errors == EncodeErrors::Strict {
                match encode(&s, &o) {
                    Ok(b) => prop_assert_eq!(&b[..], &whole.0[..]),
                    Err(e) => prop_assert!(e.offset < s.chars().count()),
                }
            } else {
                let (b, p) = encode_report(&s, &o);
                prop_assert_eq!(&b[..], &whole.0[..]);
                prop_assert_eq!(&p, &whole.1);
            }
        }
    }
}

/// A control closes an open double diacritic in the decoder, and the encoder mirrors it: a right
/// half given as a mark after such a control round-trips.
#[test]
fn right_half_after_a_control_after_a_pair() {
    for s in [
        "!\u{360}\u{1f}!\u{fe23}",
        "t\u{361}\u{1f}\u{1e}s\u{301}\u{fe21}",
        "t\u{361}\u{1f}s",
    ] {
        let m = encode(s, &EncodeOptions::default()).unwrap();
        assert_eq!(
            decode(&m, &DecodeOptions::default()).unwrap(),
            s,
            "{m:02X?}"
        );
    }
}
