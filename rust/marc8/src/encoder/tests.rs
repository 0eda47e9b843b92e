use super::*;
use crate::charset::codes_for;
use crate::{decode, decode_report, DecodeOptions, ErrorMode};
use unicode_normalization::UnicodeNormalization;

const TSV: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/codetables.tsv"
));

fn opts(errors: EncodeErrors) -> EncodeOptions {
    EncodeOptions { errors }
}

const STRICT: EncodeOptions = EncodeOptions {
    errors: EncodeErrors::Strict,
};
const LOSSLESS: EncodeOptions = EncodeOptions {
    errors: EncodeErrors::Lossless,
};
const LOSSY: EncodeOptions = EncodeOptions {
    errors: EncodeErrors::Lossy,
};

fn dec_opts() -> DecodeOptions {
    DecodeOptions {
        errors: ErrorMode::Replace,
        expand_ncr: true,
        ..DecodeOptions::default()
    }
}

type Summary = Vec<(ProblemKind, usize, Option<char>, Action)>;

fn summary(p: &[Problem]) -> Summary {
    p.iter()
        .map(|p| (p.kind, p.offset, p.ch, p.action))
        .collect()
}

/// Encodes `chunks` with one streaming encoder (and empty chunks in between).
fn stream(chunks: &[&str], o: EncodeOptions) -> Result<(Vec<u8>, Vec<Problem>), Problem> {
    let mut e = Encoder::new(o);
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for c in chunks {
        e.encode_from_str(c, &mut out, false, &mut problems)?;
        e.encode_from_str("", &mut out, false, &mut problems)?;
    }
    e.encode_from_str("", &mut out, true, &mut problems)?;
    assert!(!e.has_pending_state());
    Ok((out, problems))
}

/// Encodes `s` every way (one shot, streamed whole, split at every char boundary into two and,
/// for short inputs, three chunks, after ASCII padding) and asserts they agree. Returns the bytes
/// and problems (lossless/lossy) of the one-shot call.
fn encode_all_ways(s: &str, o: EncodeOptions) -> Result<(Vec<u8>, Vec<Problem>), Problem> {
    let (one, problems) = if o.errors == EncodeErrors::Strict {
        (encode(s, &o)?.into_owned(), Vec::new())
    } else {
        let (b, p) = encode_report(s, &o);
        (b.into_owned(), p)
    };
    let whole = stream(&[s], o)?;
    assert_eq!(whole.0, one, "stream vs one-shot for {s:?}");
    assert_eq!(summary(&whole.1), summary(&problems));
    let bounds: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect();
    for &i in &bounds {
        let (a, b) = s.split_at(i);
        let got = stream(&[a, b], o).unwrap_or_else(|e| panic!("split {i} of {s:?}: {e}"));
        assert_eq!(got.0, one, "split at {i} of {s:?}");
        assert_eq!(summary(&got.1), summary(&problems), "split at {i}");
        if bounds.len() <= 16 {
            for &j in bounds.iter().filter(|&&j| j >= i) {
                let (b1, b2) = b.split_at(j - i);
                let got = stream(&[a, b1, b2], o).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(got.0, one, "split at {i},{j} of {s:?}");
            }
        }
    }
    // After ASCII padding and a control (which, like the start, leaves no base for marks), the
    // output is the padding followed by the same bytes; problem offsets shift.
    for pad in [1usize, 7, 16, 33] {
        let mut padded = ".".repeat(pad);
        padded.push('\x1f');
        padded.push_str(s);
        let (b, p) = stream(&[&padded], o)?;
        assert_eq!(&b[..=pad], &padded.as_bytes()[..=pad]);
        assert_eq!(&b[pad + 1..], &one[..], "padding {pad} of {s:?}");
        let shifted: Summary = summary(&p)
            .into_iter()
            .map(|(k, off, c, a)| (k, off - pad - 1, c, a))
            .collect();
        assert_eq!(shifted, summary(&problems));
    }
    Ok((one, problems))
}

/// `s` encodes (strictly) to exactly `expected`, and decodes back to `s`.
fn exact(s: &str, expected: &[u8]) {
    let (b, _) = encode_all_ways(s, STRICT).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    assert_eq!(b, expected, "{s:?}: got {}", hex_bytes(&b));
    let plain = DecodeOptions {
        expand_ncr: false,
        ..dec_opts()
    };
    assert_eq!(decode(&b, &plain).unwrap(), s, "decode back");
}

/// Like [`exact`] but the decoded text is only canonically equivalent to `s`.
fn exact_nfd(s: &str, expected: &[u8]) {
    let (b, _) = encode_all_ways(s, STRICT).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    assert_eq!(b, expected, "{s:?}: got {}", hex_bytes(&b));
    let back = decode(&b, &dec_opts()).unwrap();
    assert_eq!(
        back.nfd().collect::<String>(),
        s.nfd().collect::<String>(),
        "decode back"
    );
}

fn hex_bytes(b: &[u8]) -> String {
    crate::hex_bytes(b)
}

/// Encodes `s` in `o`, expecting `expected` and unmappable characters at `at` (offset, char).
fn with_problems(s: &str, o: EncodeOptions, expected: &[u8], at: &[(usize, char)]) {
    let (b, p) = encode_all_ways(s, o).unwrap();
    assert_eq!(b, expected, "{s:?}: got {}", hex_bytes(&b));
    let action = if o.errors == EncodeErrors::Lossy {
        Action::WroteFill
    } else {
        Action::WroteNcr
    };
    let expect: Summary = at
        .iter()
        .map(|&(off, c)| (ProblemKind::Unmappable, off, Some(c), action))
        .collect();
    assert_eq!(summary(&p), expect, "{s:?}");
    for q in &p {
        assert_eq!(q.len, 1);
        assert_eq!(q.bytes, q.ch.unwrap().to_string().into_bytes());
    }
    if let Some(&(off, c)) = at.first() {
        let e = encode(s, &STRICT).unwrap_err();
        assert_eq!(
            (e.kind, e.offset, e.ch, e.action),
            (ProblemKind::Unmappable, off, Some(c), Action::Stopped)
        );
    }
    if o.errors == EncodeErrors::Lossless {
        let (back, dp) = decode_report(&b, &dec_opts());
        assert!(dp.is_empty(), "{dp:?}");
        assert_eq!(back.nfd().collect::<String>(), s.nfd().collect::<String>());
    }
}

/// Like [`with_problems`] with the kind of each problem given: (kind, offset, char). A control
/// character is written as `|` in lossless mode too.
fn refused(s: &str, o: EncodeOptions, expected: &[u8], at: &[(ProblemKind, usize, char)]) {
    let (b, p) = encode_all_ways(s, o).unwrap();
    assert_eq!(b, expected, "{s:?}: got {}", hex_bytes(&b));
    let expect: Summary = at
        .iter()
        .map(|&(kind, off, c)| {
            let fill = o.errors == EncodeErrors::Lossy || kind == ProblemKind::ControlCharacter;
            let action = if fill {
                Action::WroteFill
            } else {
                Action::WroteNcr
            };
            (kind, off, Some(c), action)
        })
        .collect();
    assert_eq!(summary(&p), expect, "{s:?}");
    for q in &p {
        assert!(!q.message().contains("no MARC-8 equivalent") || q.kind == ProblemKind::Unmappable);
    }
    if let Some(&(kind, off, c)) = at.first() {
        let e = encode(s, &STRICT).unwrap_err();
        assert_eq!(
            (e.kind, e.offset, e.ch, e.action),
            (kind, off, Some(c), Action::Stopped)
        );
    }
}

#[test]
fn control_characters() {
    use ProblemKind::ControlCharacter;
    for c in ('\0'..='\u{1C}')
        .chain(['\u{7F}'])
        .chain('\u{80}'..='\u{9F}')
        .filter(|&c| !matches!(c, '\u{98}' | '\u{9C}' | '\t' | '\n' | '\r'))
    {
        for o in [LOSSLESS, LOSSY] {
            refused(
                &format!("ab{c}cd"),
                o,
                b"ab|cd",
                &[(ControlCharacter, 2, c)],
            );
            // In a long ASCII run (the wide scan), and in a Cyrillic run.
            let long = format!("abcdefghijklmnopq{c}rstuvwxyz");
            let (b, p) = encode_report(&long, &o);
            assert_eq!(&b[..], b"abcdefghijklmnopq|rstuvwxyz");
            assert_eq!(summary(&p)[0].0, ControlCharacter);
            let cyr = format!("ж{c}ж");
            let (b, p) = encode_report(&cyr, &o);
            assert_eq!(&b[..], b"\x1b(NV\x1b(B|\x1b(NV\x1b(B");
            assert_eq!(summary(&p)[0].0, ControlCharacter);
        }
    }
    // The controls MARC uses pass, and so do NSB/NSE.
    exact("a\x1fb\x1e\x1d", b"a\x1fb\x1e\x1d");
    exact("\u{98}The \u{9C}x", b"\x88The \x89x");
    // A mark after the fill character written for a control has no base.
    refused(
        "a\x0b\u{301}",
        LOSSLESS,
        b"a|&#x0301;",
        &[
            (ControlCharacter, 1, '\x0b'),
            (ProblemKind::MarkWithoutBase, 2, '\u{301}'),
        ],
    );
    // Tab, line feed, carriage return: line structure in text, control characters in fields.
    exact("a\tb\r\nc", b"a\tb\r\nc");
    let (mut b, mut p) = (b"kept".to_vec(), Vec::new());
    encode_field_append("x\ry\u{301}\t", &LOSSLESS, &mut b, &mut p);
    assert_eq!(&b[..], b"keptx|\xe2y|");
    assert_eq!(
        summary(&p),
        [
            (ControlCharacter, 1, Some('\r'), Action::WroteFill),
            (ControlCharacter, 4, Some('\t'), Action::WroteFill)
        ]
    );
    assert!(
        p[0].message().contains("carriage return"),
        "{}",
        p[0].message()
    );
}

#[test]
fn legacy_halves_in_lossless_mode_are_references() {
    let dec = dec_opts();
    for s in [
        "?\u{FE22}",
        "\u{FC}\u{FE20}",
        "t\u{FE20}s\u{FE21}",
        "\u{404}\u{FE20}",
        "t\u{FE22}s\u{FE23}x",
        "x\u{FE21}y",
    ] {
        let (b, p) = encode_all_ways(s, LOSSLESS).unwrap();
        let back = decode(&b, &dec).unwrap();
        assert_eq!(
            back.nfd().collect::<String>(),
            s.nfd().collect::<String>(),
            "{s:?} -> {}",
            hex_bytes(&b)
        );
        for q in &p {
            assert_eq!(q.kind, ProblemKind::Unmappable);
            assert!(q.message().contains("double diacritic"), "{}", q.message());
        }
    }
    let (b, p) = encode_all_ways("t\u{FE20}s\u{FE21}", LOSSLESS).unwrap();
    assert_eq!(b, b"t&#xFE20;\xecs");
    assert_eq!(
        summary(&p),
        [(
            ProblemKind::Unmappable,
            1,
            Some('\u{FE20}'),
            Action::WroteNcr
        )]
    );
    // Strict and lossy modes keep the codes (their meaning in MARC-8).
    assert_eq!(
        encode_all_ways("t\u{FE20}s\u{FE21}", LOSSY).unwrap().0,
        b"\xebt\xecs"
    );
}

#[test]
fn plain_ascii_is_borrowed() {
    for o in [STRICT, LOSSLESS, LOSSY] {
        for s in [
            "",
            "Hello, world",
            "a\x1fb\x1e\x1d~^_`",
            "&#",
            "a&b#x",
            "&#y",
        ] {
            assert!(matches!(encode(s, &o).unwrap(), Cow::Borrowed(_)), "{s:?}");
            assert_eq!(encode_all_ways(s, o).unwrap().0, s.as_bytes());
        }
        assert!(matches!(encode("é", &o).unwrap(), Cow::Owned(_)));
        assert!(matches!(encode_report("\x7f", &o).0, Cow::Owned(_)));
    }
    assert!(matches!(
        encode("&#x41;", &STRICT).unwrap(),
        Cow::Borrowed(_)
    ));
    assert!(matches!(
        encode("&#x41;", &LOSSY).unwrap(),
        Cow::Borrowed(_)
    ));
    assert!(matches!(
        encode("&#x41;", &LOSSLESS).unwrap(),
        Cow::Owned(_)
    ));
}

#[test]
fn peers_edge_cases() {
    exact_nfd("Łódź", b"\xa1\xe2od\xe2z");
    // U+1EAD decomposes to a U+0323 U+0302 (canonical order); marks are written in that order.
    exact_nfd("\u{1EAD}n", b"\xf2\xe3an");
    exact("a\u{323}\u{302}n", b"\xf2\xe3an");
    // Stored order is kept, canonical or not.
    exact("a\u{302}\u{323}", b"\xe3\xf2a");
    exact("αβγ", b"\x1b(Sabd\x1b(B");
    // Ἀ = Α + U+0313, ῆ = η + U+0342: Greek marks stay in Basic Greek with their letters.
    exact_nfd("Ἀθῆναι", b"\x1b(S\x25\x41\x6b\x24\x6a\x70\x61\x6c\x1b(B");
    exact("\u{3000}", b"\x1b$1\x21\x23\x21\x1b(B");
    exact("윳", b"\x1b$1\x6f\x77\x3d\x1b(B");
    exact("が", b"\x1b$1\x69\x24\x2c\x1b(B");
    exact("й", b"\x1b(NJ\x1b(B");
    // ớ → ơ + U+0301: partial decomposition keeps the o-horn.
    exact_nfd("\u{1EDB}", b"\xe2\xbc");
    exact("\u{1A1}\u{301}", b"\xe2\xbc");
    with_problems("a😀b", LOSSLESS, b"a&#x1F600;b", &[(1, '😀')]);
    with_problems("a😀b", LOSSY, b"a|b", &[(1, '😀')]);
    with_problems("\u{10FFFD}", LOSSLESS, b"&#x10FFFD;", &[(0, '\u{10FFFD}')]);
}

#[test]
fn double_diacritics() {
    exact("t\u{361}s", b"\xebt\xecs");
    exact("t\u{360}s", b"\xfat\xfbs");
    exact("t\u{361}s\u{301}", b"\xebt\xec\xe2s");
    exact("t\u{301}\u{361}s", b"\xe2\xebt\xecs");
    // No second base: no closing half (it would need a base after it).
    exact("t\u{361}", b"\xebt");
    exact("t\u{361}\x1fs", b"\xebt\x1fs");
    exact("t\u{361}\u{200D}s", b"\xebt\x8d\xecs");
    with_problems("t\u{361}😀s", LOSSY, b"\xebt\xec|s", &[(2, '😀')]);
    with_problems(
        "t\u{361}\u{951}",
        LOSSLESS,
        b"\xebt\xec&#x0951;",
        &[(2, '\u{951}')],
    );
    // A control closes an open pair (as in the decoder): a right half after it is a mark.
    exact("t\u{361}\x1fs\u{FE21}", b"\xebt\x1f\xecs");
    exact("t\u{361}\x1fs\u{FE23}x", b"\xebt\x1f\xfbsx");
    exact("t\u{361}\u{361}s", b"\xeb\xebt\xecs");
    // A right half read as a mark: after an open U+0361 of the same base, close first.
    exact("t\u{361}\u{FE21}s", b"\xeb\xect\xecs");
    exact("t\u{361}s\u{361}u", b"\xebt\xec\xebs\xecu");
    exact("a\u{FE21}", b"\xeca");
    exact("a\u{FE23}b", b"\xfbab");
    exact("t\u{361}s\u{FE21}", b"\xebt\xec\xecs");
    // Legacy halves are written with their own codes; LC reads the pair as U+0361.
    let (b, _) = encode_all_ways("t\u{FE20}s\u{FE21}", STRICT).unwrap();
    assert_eq!(b, b"\xebt\xecs");
    assert_eq!(decode(&b, &dec_opts()).unwrap(), "t\u{361}s");
    let legacy = DecodeOptions {
        legacy_ligatures: true,
        ..dec_opts()
    };
    assert_eq!(decode(&b, &legacy).unwrap(), "t\u{FE20}s\u{FE21}");
    let (b, _) = encode_all_ways("t\u{FE22}s\u{FE23}", STRICT).unwrap();
    assert_eq!(b, b"\xfat\xfbs");
    // No base for the double diacritic.
    refused(
        "\u{361}s",
        LOSSLESS,
        b"&#x0361;s",
        &[(ProblemKind::MarkWithoutBase, 0, '\u{361}')],
    );
}

#[test]
fn registers_and_escapes() {
    exact("Москва 1990", b"\x1b(N\x6d\x4f\x53\x4b\x57\x41 1990\x1b(B");
    exact(
        "Москва, 1990.",
        b"\x1b(N\x6d\x4f\x53\x4b\x57\x41, 1990.\x1b(B",
    );
    exact("ґ", b"\x1b)Q\xc0\x1b)E");
    exact("ґa", b"\x1b)Q\xc0a\x1b)E");
    exact_nfd("ґé", b"\x1b)Q\xc0\x1b)E\xe2e");
    // The mark is written before its base's escape; it is read as a mark all the same.
    exact("ґ\u{301}", b"\xe2\x1b)Q\xc0\x1b)E");
    exact("x²", b"x\x1bp2\x1bs");
    exact("H₂O", b"H\x1bb2\x1bsO");
    exact("₂²", b"\x1bb2\x1bp2\x1bs");
    exact("₂й", b"\x1bb2\x1b(NJ\x1b(B");
    exact("人 人", b"\x1b$1\x21\x30\x64 \x21\x30\x64\x1b(B");
    exact("人\x1f人", b"\x1b$1\x21\x30\x64\x1f\x21\x30\x64\x1b(B");
    // An ANSEL mark inside an EACC run: back to ASCII first.
    exact(
        "人人\u{304}",
        b"\x1b$1\x21\x30\x64\x1b(B\xe5\x1b$1\x21\x30\x64\x1b(B",
    );
    exact("人\u{304}", b"\xe5\x1b$1\x21\x30\x64\x1b(B");
    // C1 specials, whatever G1 is; marks after them have no base.
    exact("a\u{200D}b\u{200C}\u{98}\u{9C}", b"a\x8db\x8e\x88\x89");
    // C1 specials go out with ANSEL in G1 (yaz drops them under any other G1 set).
    exact("ґ\u{200D}", b"\x1b)Q\xc0\x1b)E\x8d");
    exact("پ\u{200C}پ", b"\x1b)4\xa9\x1b)E\x8e\x1b)4\xa9\x1b)E");
    // A space that ends an EACC run is written after the switch back to ASCII.
    exact("人 a", b"\x1b$1\x21\x30\x64\x1b(B a");
    exact("人 人", b"\x1b$1\x21\x30\x64 \x21\x30\x64\x1b(B");
    exact("人 e\u{301}", b"\x1b$1\x21\x30\x64\x1b(B \xe2e");
    // SPACE is a base: a mark may sit on it.
    exact(" \u{301}x", b"\xe2 x");
    // Hebrew and Arabic marks go with their letters.
    exact("\u{5D0}\u{5B7}", b"\x1b(2\x40\x60\x1b(B");
    exact("\u{628}\u{64E}", b"\x1b(3\x6e\x48\x1b(B");
    // U+0306 on an Extended Arabic letter stays in Extended Arabic.
    let (b, _) = encode_all_ways("\u{6A0}\u{306}", STRICT).unwrap();
    assert!(b.contains(&0xFD) && !b.contains(&0xE6), "{}", hex_bytes(&b));
    exact("a\u{306}", b"\xe6a");
}

#[test]
fn unmappable_characters() {
    with_problems("क", LOSSLESS, b"&#x0915;", &[(0, 'क')]);
    use ProblemKind::{ControlCharacter, MarkWithoutBase, Unmappable};
    refused("a\x1bb", LOSSLESS, b"a|b", &[(ControlCharacter, 1, '\x1b')]);
    refused("a\x7fb", LOSSY, b"a|b", &[(ControlCharacter, 1, '\x7f')]);
    // A mark with no base: at the start, after a control, after a C1 special, after an
    // unmappable character.
    refused(
        "\u{301}a",
        LOSSLESS,
        b"&#x0301;a",
        &[(MarkWithoutBase, 0, '\u{301}')],
    );
    refused(
        "a\x1f\u{301}",
        LOSSLESS,
        b"a\x1f&#x0301;",
        &[(MarkWithoutBase, 2, '\u{301}')],
    );
    refused(
        "a\u{200D}\u{301}",
        LOSSY,
        b"a\x8d|",
        &[(MarkWithoutBase, 2, '\u{301}')],
    );
    refused(
        "a\u{98}\u{301}",
        LOSSLESS,
        b"a\x88&#x0301;",
        &[(MarkWithoutBase, 2, '\u{301}')],
    );
    refused(
        "क\u{301}",
        LOSSLESS,
        b"&#x0915;&#x0301;",
        &[(Unmappable, 0, 'क'), (MarkWithoutBase, 1, '\u{301}')],
    );
    // An unmappable mark ends the base: later marks have none.
    refused(
        "a\u{951}\u{301}b",
        LOSSLESS,
        b"a&#x0951;&#x0301;b",
        &[(Unmappable, 1, '\u{951}'), (MarkWithoutBase, 2, '\u{301}')],
    );
    with_problems(
        "a\u{301}\u{951}",
        LOSSLESS,
        b"\xe2a&#x0951;",
        &[(2, '\u{951}')],
    );
    // NCRs are written in ASCII.
    with_problems(
        "ж😀ж",
        LOSSLESS,
        b"\x1b(NV\x1b(B&#x1F600;\x1b(NV\x1b(B",
        &[(1, '😀')],
    );
    with_problems("人😀", LOSSY, b"\x1b$1\x21\x30\x64\x1b(B|", &[(1, '😀')]);
    with_problems("₂😀", LOSSY, b"\x1bb2\x1bs|", &[(1, '😀')]);
    // A decomposition with an unmappable piece: the whole character, once.
    with_problems("\u{958}", LOSSLESS, b"&#x0958;", &[(0, '\u{958}')]);
    // A decomposition into marks only, with no base.
    refused(
        "\u{344}",
        LOSSLESS,
        b"&#x0344;",
        &[(MarkWithoutBase, 0, '\u{344}')],
    );
    exact_nfd("a\u{344}", b"\xe8\xe2a");
    // Hangul with no EACC code is not split into jamo (they have no code either).
    with_problems("\u{AC03}", LOSSY, b"|", &[(0, '\u{AC03}')]);
    // Strict: the problem names the position in chars and the designations in force.
    let e = encode("жé😀", &STRICT).unwrap_err();
    assert_eq!((e.offset, e.len, e.ch), (2, 1, Some('😀')));
    assert_eq!((e.g0, e.g1), (Charset::Ascii, Charset::Ansel));
    assert_eq!(e.bytes, "😀".as_bytes());
    let e = encode("ж😀", &STRICT).unwrap_err();
    assert_eq!((e.offset, e.g0), (1, Charset::Cyrillic));
    assert!(e.message().contains("U+1F600"));
}

#[test]
fn ncr_protection() {
    let (b, p) = encode_all_ways("&#x0041;", LOSSLESS).unwrap();
    assert_eq!(b, b"&#x0026;#x0041;");
    assert!(p.is_empty());
    assert_eq!(decode(&b, &dec_opts()).unwrap(), "&#x0041;");
    for s in [
        "&#X41;",
        "&&#x",
        "&#&#x",
        "a&#xZZ",
        "&#x",
        "&#",
        "&",
        "&\u{301}#x",
        "&#\u{301}x",
        "ж&#x1;",
        "&#x0915;क",
        "&&",
        "&#&",
        "&#xx",
    ] {
        let (b, p) = encode_all_ways(s, LOSSLESS).unwrap();
        let (back, dp) = decode_report(&b, &dec_opts());
        assert_eq!(back, s, "{s:?} -> {}", hex_bytes(&b));
        assert!(dp.is_empty(), "{s:?}: {dp:?}");
        assert_eq!(p.iter().filter(|p| p.ch != Some('क')).count(), 0);
    }
    exact("&#x0041;", b"&#x0041;");
    let (b, _) = encode_all_ways("&#x0041;", LOSSY).unwrap();
    assert_eq!(b, b"&#x0041;");
}

#[test]
fn report_and_streaming_state() {
    let (b, p) = encode_report("a😀é", &STRICT);
    assert_eq!(&b[..], b"a&#x1F600;\xe2e");
    assert_eq!(
        summary(&p),
        vec![(ProblemKind::Unmappable, 1, Some('😀'), Action::WroteNcr)]
    );

    let mut e = Encoder::new(LOSSY);
    assert!(!e.has_pending_state());
    let mut out = Vec::new();
    let mut problems = Vec::new();
    e.encode_from_str("ab", &mut out, false, &mut problems)
        .unwrap();
    assert_eq!(out, b"a");
    assert!(e.has_pending_state());
    e.encode_from_str("\u{301}😀", &mut out, false, &mut problems)
        .unwrap();
    assert_eq!(out, b"a\xe2b|");
    assert_eq!(e.position(), 4);
    e.encode_from_str("ж", &mut out, false, &mut problems)
        .unwrap();
    assert_eq!(e.designations(), (Charset::Ascii, Charset::Ansel));
    e.encode_from_str("", &mut out, true, &mut problems)
        .unwrap();
    assert_eq!(out, b"a\xe2b|\x1b(NV\x1b(B");
    assert_eq!(
        summary(&problems),
        vec![(ProblemKind::Unmappable, 3, Some('😀'), Action::WroteFill)]
    );
    assert!(!e.has_pending_state());
    assert_eq!(e.position(), 0);
    // Offsets are absolute across chunks.
    e.encode_from_str("abc", &mut out, false, &mut problems)
        .unwrap();
    e.encode_from_str("d\u{301}😀", &mut out, true, &mut problems)
        .unwrap();
    assert_eq!(problems[1].offset, 5);
    assert_eq!(*e.options(), LOSSY);
    assert_eq!(opts(EncodeErrors::default()), EncodeOptions::default());
    assert_eq!(EncodeOptions::default(), STRICT);
}

#[test]
fn greek_symbols_set_is_never_written() {
    for c in ['α', 'β', 'γ'] {
        let (b, _) = encode_all_ways(&c.to_string(), STRICT).unwrap();
        assert!(b.starts_with(b"\x1b(S"), "{}", hex_bytes(&b));
    }
}

struct Row {
    set: Charset,
    marc: u32,
    ucs: Option<char>,
    alt: Option<char>,
    combining: bool,
}

fn rows() -> Vec<Row> {
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    TSV.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let fin = hex(f[0]).and_then(|b| u8::try_from(b).ok()).unwrap();
            Row {
                set: Charset::from_final(fin).unwrap(),
                marc: hex(f[1]).unwrap(),
                ucs: hex(f[2]).and_then(char::from_u32),
                alt: hex(f[3]).and_then(char::from_u32),
                combining: f[4] == "1",
            }
        })
        .collect()
}

/// The bytes `row`'s code is written as, and the text to put a mark on.
fn code_bytes(row: &Row) -> Vec<u8> {
    match row.set {
        Charset::Eacc => vec![
            (row.marc >> 16) as u8,
            (row.marc >> 8) as u8,
            row.marc as u8,
        ],
        s if is_gr(s) => vec![row.marc as u8 | 0x80],
        _ => vec![row.marc as u8 & 0x7F],
    }
}

fn sample_for(row: &Row, c: char) -> String {
    if !row.combining {
        return c.to_string();
    }
    let base = match row.set {
        Charset::Hebrew => '\u{5D0}',
        Charset::Arabic => '\u{628}',
        Charset::ExtArabic => '\u{6A0}',
        Charset::Greek => 'α',
        _ => 'a',
    };
    format!("{base}{c}")
}

#[test]
fn every_table_entry() {
    let rows = rows();
    assert_eq!(rows.len(), 16400);
    let mut checked = 0;
    let mut own_code = 0;
    for row in &rows {
        if row.set != Charset::Eacc && row.marc & 0x7F < 0x20 {
            continue;
        }
        let Some(c) = row.ucs else { continue };
        let text = sample_for(row, c);
        let bytes = match encode(&text, &STRICT) {
            Ok(b) => b.into_owned(),
            Err(e) => panic!("{text:?}: {e}"),
        };
        let back = decode(&bytes, &dec_opts()).unwrap();
        assert_eq!(back, text, "{text:?} -> {}", hex_bytes(&bytes));
        // A character with one code (not counting the decode-only Greek symbols) gets it.
        let n = codes_for(c)
            .filter(|k| k.set != Charset::GreekSymbols && !k.is_alt)
            .count();
        if n == 1 && row.set != Charset::GreekSymbols {
            let code = code_bytes(row);
            assert!(
                bytes.windows(code.len()).any(|w| w == code),
                "{text:?} -> {} lacks {}",
                hex_bytes(&bytes),
                hex_bytes(&code)
            );
            own_code += 1;
        }
        checked += 1;
    }
    assert!(checked > 16_000, "{checked}");
    assert!(own_code > 15_000, "{own_code}");
    // Alternative mappings: a character that has only alternatives gets its own code; one that
    // also has a primary code gets that and decodes back to itself.
    let mut alts = 0;
    for row in &rows {
        let Some(c) = row.alt else { continue };
        let text = sample_for(row, c);
        let bytes = encode(&text, &STRICT).unwrap().into_owned();
        if codes_for(c).all(|k| k.is_alt) {
            let mut expect = code_bytes(row);
            expect.push(b'a');
            assert_eq!(bytes, expect, "{text:?}");
        } else {
            assert_eq!(decode(&bytes, &dec_opts()).unwrap(), text);
        }
        alts += 1;
    }
    assert_eq!(alts, 65);
    // The four C1 specials.
    exact("\u{98}\u{9C}\u{200D}\u{200C}", b"\x88\x89\x8d\x8e");
}

#[test]
fn ncr_format() {
    let mut v = Vec::new();
    for c in [
        '\0',
        'ÿ',
        '\u{FFFF}',
        '\u{10000}',
        '\u{FFFFF}',
        '\u{100000}',
        '\u{10FFFF}',
    ] {
        v.clear();
        write_ncr(c, &mut v);
        let s = String::from_utf8(v.clone()).unwrap();
        assert_eq!(s, format!("&#x{:04X};", u32::from(c)));
    }
}

/// Characters every rule of the encoder cares about: ASCII (with `&#x`, SPACE and controls),
/// marks and the double-diacritic halves, the C1 specials, letters of every script with codes
/// in one set or in several, characters with no code (decomposable or not), EACC and above.
fn rule_chars() -> Vec<char> {
    let mut pool: Vec<char> = "aZ09.,;-()&#xX ".chars().collect();
    pool.extend([
        '\t', '\n', '\r', '\u{1B}', '\u{1D}', '\u{1F}', '\u{7F}', '\u{85}',
    ]);
    pool.extend(['\u{98}', '\u{9C}', '\u{200C}', '\u{200D}', '\u{200F}']);
    pool.extend(('\u{300}'..='\u{363}').step_by(3));
    pool.extend([
        '\u{360}', '\u{361}', '\u{FE20}', '\u{FE21}', '\u{FE22}', '\u{FE23}',
    ]);
    pool.extend("éÆøơớậÅŁʻʼ£©®±ǂ".chars());
    pool.extend("αβγΆΩάω".chars());
    pool.extend("АБЖЯабжяЁђѣ".chars());
    pool.extend("אבגשת".chars());
    pool.extend("ابتثجحخ،؛؟ٱپچ".chars());
    pool.extend("中文字書\u{3000}、。ぁアカ가".chars());
    pool.extend([
        '₀',
        '₉',
        '⁰',
        '⁹',
        '₊',
        '⁽',
        '\u{2603}',
        '\u{FFFD}',
        '\u{20000}',
        '\u{2A6D6}',
    ]);
    pool
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// The shortcut for a base or a mark with one code (`Encoder::shortcut`) writes exactly
    /// what the full dispatch writes, with the same problems, in every mode, whole or cut in two.
    #[test]
    fn the_base_shortcut_is_the_full_dispatch(
        picks in proptest::collection::vec(0usize..1000, 0..40),
        cut in 0usize..40,
        mode in 0usize..3,
        field_data: bool,
    ) {
        let pool = rule_chars();
        let text: String = picks.iter().map(|&k| pool[k % pool.len()]).collect();
        let cut = text.char_indices().nth(cut).map_or(text.len(), |(i, _)| i);
        let errors = [EncodeErrors::Strict, EncodeErrors::Lossless, EncodeErrors::Lossy][mode];
        let run = |shortcut: bool| {
            let opts = EncodeOptions { errors };
            let mut enc = if field_data { Encoder::for_field_data(opts) } else { Encoder::new(opts) };
            let (mut out, mut problems) = (Vec::new(), Vec::new());
            let mut go = |enc: &mut Encoder, s: &str, last: bool| {
                if shortcut {
                    enc.encode_str::<true>(s, &mut out, last, &mut problems)
                } else {
                    enc.encode_str::<false>(s, &mut out, last, &mut problems)
                }
            };
            let result = go(&mut enc, &text[..cut], false)
                .and_then(|()| go(&mut enc, &text[cut..], true));
            (out, problems, result)
        };
        proptest::prop_assert_eq!(run(true), run(false), "{:?}", text);
    }
}
