use super::*;
use crate::testing::{decode_all_ways, replace, strict};

fn ok(input: &[u8], expected: &str) {
    let (text, problems) = decode_all_ways(input, &replace());
    assert_eq!(text, expected, "input {input:02X?}");
    assert!(problems.is_empty(), "unexpected problems {problems:?}");
}

fn bad(input: &[u8], expected: &str, kinds: &[(ProblemKind, usize, usize)]) {
    let (text, problems) = decode_all_ways(input, &replace());
    assert_eq!(text, expected, "input {input:02X?}");
    let got: Vec<_> = problems.iter().map(|p| (p.kind, p.offset, p.len)).collect();
    assert_eq!(got, kinds, "input {input:02X?}");
    let first = decode(input, &strict()).unwrap_err();
    assert_eq!((first.kind, first.offset, first.len), kinds[0]);
    assert_eq!(first.action, Action::Stopped);
}

#[test]
fn ascii_is_borrowed() {
    let s = b"Hello, world\x1f";
    assert!(matches!(decode(s, &strict()).unwrap(), Cow::Borrowed(_)));
    assert!(matches!(
        decode(b"a\xe2e", &strict()).unwrap(),
        Cow::Owned(_)
    ));
}

#[test]
fn marks_follow_their_base_in_stored_order() {
    ok(b"Caf\xe2e", "Cafe\u{301}");
    ok(b"\xe3\xf2a", "a\u{302}\u{323}");
    ok(b"\xe2\x1b(S\x41", "\u{391}\u{301}"); // marks wait across escapes
    ok(b"\xe2 x", " \u{301}x"); // a mark on a space
}

#[test]
fn every_designation_form() {
    for esc in [&b"\x1b(N"[..], b"\x1b,N"] {
        let mut v = esc.to_vec();
        v.extend_from_slice(b"\x6d\x1b(B!");
        ok(&v, "\u{41c}!");
    }
    for esc in [&b"\x1b)N"[..], b"\x1b-N"] {
        let mut v = esc.to_vec();
        v.extend_from_slice(b"\xed\xcf\xd3\x1b)E");
        ok(&v, "Мос");
    }
    ok(b"\x1b)!E\xa5", "Æ");
    ok(b"\x1b(!E\x25", "Æ");
    ok(b"\x1b$1\x21\x30\x64\x1b(B", "人");
    ok(b"\x1b$(1\x21\x30\x64", "人");
    ok(b"\x1b$,1\x21\x30\x64", "人");
    ok(b"\x1b$)1\xa1\xb0\xe4\x1b)E", "人");
    ok(b"\x1b$-1\xa1\xb0\xe4", "人");
    ok(b"\x1bgabc\x1bs", "αβγ");
    ok(b"\x1bb12\x1bs", "₁₂");
    ok(b"\x1bp12\x1bs", "¹²");
    ok(b"\x1b(Q\x40", "ґ");
}

#[test]
fn space_is_space_everywhere() {
    ok(b"\x1b$1\x21\x30\x34 \x21\x42\x58\x1b(B abc", "中 文 abc");
    ok(b"\x1b(N\x6d \x4d", "М м");
    ok(b"\x1b$1\x21\x23\x20", "\u{3000}");
}

#[test]
fn c1_specials_are_kept() {
    ok(
        b"a\x8db\x8ec\x88The\x89",
        "a\u{200d}b\u{200c}c\u{98}The\u{9c}",
    );
}

#[test]
fn double_diacritics() {
    ok(b"\xebt\xecs", "t\u{361}s");
    ok(b"\xfan\xfbg", "n\u{360}g");
    let legacy = DecodeOptions {
        legacy_ligatures: true,
        ..replace()
    };
    assert_eq!(
        decode(b"\xebt\xecs", &legacy).unwrap(),
        "t\u{fe20}s\u{fe21}"
    );
    // A right half with no left half keeps LC's alternative mapping rather than vanishing.
    ok(b"t\xecs", "ts\u{fe21}");
    // An unclosed left half does not swallow a later, unrelated right half.
    ok(b"\xfao) (\xfbo)", "o\u{360}) (o\u{fe23})");
    ok(b"\xebo\xeco \xebt\xecs", "o\u{361}o t\u{361}s");
    // A control closes the pair, whatever G0 holds (fast and slow paths agree).
    ok(b"\xebt\x1f\xecs", "t\u{361}\x1fs\u{fe21}");
    ok(b"\x1b(N\xebt\x1f\xecs", "\u{422}\u{361}\x1f\u{421}\u{fe21}");
    // The consumed right half still needs its base.
    use ProblemKind::MarkWithoutBase;
    bad(b"\xebt\xec", "t\u{361}\u{fffd}", &[(MarkWithoutBase, 2, 1)]);
    bad(
        b"\xfat\xfb\x1fs",
        "t\u{360}\u{fffd}\x1fs",
        &[(MarkWithoutBase, 2, 1)],
    );
}

#[test]
fn bad_input_is_replaced_and_decoding_goes_on() {
    use ProblemKind::*;
    bad(b"a\xafb", "a\u{fffd}b", &[(UnmappedByte, 1, 1)]);
    bad(b"ab\x1b(Zcd", "ab\u{fffd}cd", &[(UnknownEscape, 2, 3)]);
    bad(b"ab\x1btcd", "ab\u{fffd}cd", &[(UnknownEscape, 2, 2)]);
    bad(b"abc\x1b", "abc\u{fffd}", &[(TruncatedEscape, 3, 1)]);
    bad(b"abc\x1b(", "abc\u{fffd}", &[(TruncatedEscape, 3, 2)]);
    bad(b"a\x1b\x1fb", "a\u{fffd}\x1fb", &[(TruncatedEscape, 1, 1)]);
    bad(b"abc\xe2", "abc\u{fffd}", &[(MarkWithoutBase, 3, 1)]);
    bad(b"a\xe2\x1fb", "a\u{fffd}\x1fb", &[(MarkWithoutBase, 1, 1)]);
    bad(
        b"\x1b$1\x21\x30\x1b(Bx",
        "\u{fffd}x",
        &[(TruncatedMultibyte, 3, 2)],
    );
    bad(b"\x1b$1\x21", "\u{fffd}", &[(TruncatedMultibyte, 3, 1)]);
    bad(
        b"\x1b$1\x7e\x7e\x7e\x21\x30\x64",
        "\u{fffd}人",
        &[(UnmappedByte, 3, 3)],
    );
    bad(b"\x1b(N\x7f", "\u{fffd}", &[(ControlCharacter, 3, 1)]);
    bad(
        b"x\xa0y\xffz",
        "x\u{fffd}y\u{fffd}z",
        &[(UnmappedByte, 1, 1), (UnmappedByte, 3, 1)],
    );
    // A mark before a bad byte stays with the replacement character.
    bad(b"\xe2\xafa", "\u{fffd}\u{301}a", &[(UnmappedByte, 1, 1)]);
}

#[test]
fn unmapped_byte_names_the_designations() {
    let (_, problems) = decode_report(b"\x1b(N\x1b)Q\xa1", &replace());
    assert_eq!(problems[0].g0, Charset::Cyrillic);
    assert_eq!(problems[0].g1, Charset::ExtCyrillic);
    assert!(
        problems[0].message().contains("Extended Cyrillic"),
        "{}",
        problems[0].message()
    );
}

#[test]
fn ncr_expansion() {
    let o = DecodeOptions {
        expand_ncr: true,
        ..replace()
    };
    let d = |b: &[u8]| decode_all_ways(b, &o);
    assert_eq!(d(b"a&#x1F600;b").0, "a😀b");
    assert_eq!(d(b"&#x017a;&#X00E9;").0, "źé");
    assert_eq!(d(b"&#x0026;#x0041;").0, "&#x0041;");
    assert_eq!(d(b"AT&T &amp; &#65;").0, "AT&T &amp; &#65;");
    assert!(d(b"AT&T &amp; &#65;").1.is_empty());
    let (t, p) = d(b"x&#xD800;y&#x41;z&#x1f600");
    assert_eq!(t, "x&#xD800;y&#x41;z&#x1f600");
    let got: Vec<_> = p.iter().map(|p| (p.kind, p.offset, p.len)).collect();
    assert_eq!(
        got,
        [
            (ProblemKind::MalformedNcr, 1, 8),
            (ProblemKind::MalformedNcr, 10, 6),
            (ProblemKind::MalformedNcr, 17, 8)
        ]
    );
    assert_eq!(p[2].action, Action::KeptAsText);
    // Off by default.
    assert_eq!(decode(b"&#x00E9;", &replace()).unwrap(), "&#x00E9;");
}

#[test]
fn normalization_options() {
    let nfc = DecodeOptions {
        normalize: Normalization::Nfc,
        ..replace()
    };
    let nfd = DecodeOptions {
        normalize: Normalization::Nfd,
        ..replace()
    };
    assert_eq!(decode(b"Caf\xe2e", &nfc).unwrap(), "Café");
    assert_eq!(decode(b"\xe3\xf2a", &nfc).unwrap(), "\u{1ead}");
    assert_eq!(decode(b"\xf2\xe3a", &nfd).unwrap(), "a\u{323}\u{302}");
}

#[test]
fn streaming_reports_absolute_offsets() {
    let mut d = Decoder::new(replace());
    let mut out = String::new();
    let mut problems = Vec::new();
    d.decode_to_string(b"abc", &mut out, false, &mut problems)
        .unwrap();
    d.decode_to_string(b"d\x1b(", &mut out, false, &mut problems)
        .unwrap();
    assert!(d.has_pending_state());
    d.decode_to_string(b"Zq", &mut out, true, &mut problems)
        .unwrap();
    assert_eq!(out, "abcd\u{fffd}q");
    assert_eq!((problems[0].offset, problems[0].len), (4, 3));
    assert_eq!(problems[0].bytes, b"\x1b(Z");
    assert!(!d.has_pending_state());
    assert_eq!(d.designations(), (Charset::Ascii, Charset::Ansel));
}

#[test]
fn state_round_trips() {
    let mut d = Decoder::new(replace());
    let mut out = String::new();
    let mut problems = Vec::new();
    assert_eq!(d.state(), (vec![], vec![]));
    d.decode_to_string(
        b"\x1b)E\xebt\xec\x1b(N\x1b$",
        &mut out,
        false,
        &mut problems,
    )
    .unwrap();
    let (pending, packed) = d.state();
    assert_eq!(pending, b"\x1b$");
    assert_eq!(
        packed.len(),
        3 + 8,
        "designations, pair state and the consumed right half"
    );
    let mut e = Decoder::new(replace());
    assert!(e.set_state(&pending, &packed));
    let (mut a, mut b) = (String::new(), String::new());
    d.decode_to_string(b"1\x21\x30\x64", &mut a, true, &mut problems)
        .unwrap();
    e.decode_to_string(b"1\x21\x30\x64", &mut b, true, &mut problems)
        .unwrap();
    assert_eq!(a, b);
    assert!(problems.is_empty());
    assert!(!e.set_state(b"", &[99, 1, 0]));
}

#[test]
fn decode_append_matches_decode_report() {
    let inputs: [&[u8]; 4] = [
        b"plain",
        b"Caf\xe2e",
        b"\x1b$1\x21\x30\x64\x1b(B",
        b"a\xafb",
    ];
    let nfc = DecodeOptions {
        normalize: Normalization::Nfc,
        ..replace()
    };
    for opts in [replace(), nfc] {
        let mut buf = String::from(">");
        let mut problems = Vec::new();
        let mut want = String::from(">");
        let mut want_problems = Vec::new();
        for input in inputs {
            decode_append(input, &opts, &mut buf, &mut problems).unwrap();
            let (t, p) = decode_report(input, &opts);
            want.push_str(&t);
            want_problems.extend(p);
        }
        assert_eq!(buf, want);
        assert_eq!(problems, want_problems);
    }
    let mut buf = String::new();
    let err = decode_append(b"ab\xaf", &strict(), &mut buf, &mut Vec::new()).unwrap_err();
    assert_eq!((err.offset, buf.as_str()), (2, "ab"));
}

#[test]
fn control_characters_are_reported() {
    use ProblemKind::*;
    for b in (0x00..=0x1Cu8)
        .filter(|&b| b != 0x1B)
        .chain([0x7F])
        .chain(0x80..=0x9F)
    {
        if matches!(b, 0x88 | 0x89 | 0x8D | 0x8E | 0x09 | 0x0A | 0x0D) {
            continue;
        }
        let input = [b'a', b, b'b'];
        bad(&input, "a\u{fffd}b", &[(ControlCharacter, 1, 1)]);
        assert!(!is_verbatim(&input, false));
        // Inside a longer ASCII run (the wide scan) and in a Cyrillic run.
        let mut long = b"abcdefghijklmnopqrstuvwxyz".to_vec();
        long.insert(17, b);
        let (_, p) = decode_report(&long, &replace());
        assert_eq!(
            p.iter().map(|p| (p.kind, p.offset)).collect::<Vec<_>>(),
            [(ControlCharacter, 17)]
        );
        let (_, p) = decode_report(&[0x1B, b'(', b'N', b'A', b], &replace());
        assert_eq!(
            p.iter().map(|p| p.kind).collect::<Vec<_>>(),
            [ControlCharacter]
        );
    }
    // The controls MARC uses pass, and keep closing a pending mark.
    ok(b"a\x1fb\x1ec\x1d", "a\x1fb\x1ec\x1d");
    ok(b"\x88a\x89\x8d\x8e", "\u{98}a\u{9c}\u{200d}\u{200c}");
    // A mark before a bad control stays with the replacement character.
    bad(
        b"\xe2\x01a",
        "\u{fffd}\u{301}a",
        &[(ControlCharacter, 1, 1)],
    );
    // Tab, line feed and carriage return: the line structure of text, but control characters
    // in field data.
    ok(b"a\tb\r\nc", "a\tb\r\nc");
    bad(b"\xe2\ta", "\u{fffd}\ta", &[(MarkWithoutBase, 0, 1)]);
    let mut out = String::new();
    let mut p = Vec::new();
    decode_field_append(b"x\x0dy\t\xe2e", &replace(), &mut out, &mut p).unwrap();
    assert_eq!(out, "x\u{fffd}y\u{fffd}e\u{301}");
    let got: Vec<_> = p.iter().map(|p| (p.kind, p.offset)).collect();
    assert_eq!(got, [(ControlCharacter, 1), (ControlCharacter, 3)]);
    assert!(
        p[0].message().contains("carriage return"),
        "{}",
        p[0].message()
    );
}

#[test]
fn ncr_of_a_control_stays_text() {
    let o = DecodeOptions {
        expand_ncr: true,
        ..replace()
    };
    for ncr in [
        &b"&#x001F;"[..],
        b"&#x001E;",
        b"&#x001D;",
        b"&#x001B;",
        b"&#x0001;",
        b"&#x000a;",
        b"&#X007F;",
        b"&#x0085;",
        b"&#x00001F;",
    ] {
        let mut input = b"T\xe2e".to_vec();
        input.extend_from_slice(ncr);
        input.extend_from_slice(b"x&#x00E9;");
        let (t, p) = decode_all_ways(&input, &o);
        let want = format!("Te\u{301}{}x\u{e9}", std::str::from_utf8(ncr).unwrap());
        assert_eq!(t, want);
        let got: Vec<_> = p
            .iter()
            .map(|p| (p.kind, p.offset, p.len, p.action))
            .collect();
        assert_eq!(
            got,
            [(
                ProblemKind::ControlCharacter,
                3,
                ncr.len(),
                Action::KeptAsText
            )]
        );
        assert!(
            p[0].message().contains("kept as text"),
            "{}",
            p[0].message()
        );
        let err = decode(
            &input,
            &DecodeOptions {
                expand_ncr: true,
                ..strict()
            },
        )
        .unwrap_err();
        assert_eq!((err.kind, err.offset), (ProblemKind::ControlCharacter, 3));
    }
    // NSB / NSE are MARC-8 characters: their references expand.
    assert_eq!(decode_all_ways(b"&#x0098;a&#x009C;", &o).0, "\u{98}a\u{9c}");
}

#[test]
fn offsets_continue_after_set_state() {
    let mut d = Decoder::new(replace());
    let mut out = String::new();
    let mut problems = Vec::new();
    d.decode_to_string(b"abc\xe2", &mut out, false, &mut problems)
        .unwrap();
    let (pending, packed) = d.state();
    assert!(d.set_state(&pending, &packed));
    assert_eq!(d.position(), 4);
    d.decode_to_string(b"x\x01", &mut out, false, &mut problems)
        .unwrap();
    d.decode_to_string(b"\xe3\x1b(", &mut out, false, &mut problems)
        .unwrap();
    let (pending, packed) = d.state();
    assert_eq!(pending, b"\x1b(");
    assert!(d.set_state(&pending, &packed));
    d.decode_to_string(b"B", &mut out, true, &mut problems)
        .unwrap();
    let got: Vec<_> = problems.iter().map(|p| (p.kind, p.offset)).collect();
    assert_eq!(
        got,
        [
            (ProblemKind::ControlCharacter, 5),
            (ProblemKind::MarkWithoutBase, 6),
        ]
    );
}

#[test]
fn basic_latin_maps_every_graphic_byte_to_itself() {
    // The decoder writes G0 = ASCII's graphic bytes without looking them up: the generated table
    // must agree, byte for byte.
    for b in 0x21u8..=0x7E {
        assert_eq!(
            Charset::Ascii.lookup(b),
            Some(crate::charset::Mapping::Base(char::from(b))),
            "byte {b:#04x}"
        );
    }
}
