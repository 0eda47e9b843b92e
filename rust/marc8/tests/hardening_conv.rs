//! Issue 9 at the record level, without Python: references to controls cannot inject structure,
//! non-ASCII structural bytes never reach the output, control characters in field data are
//! reported in both directions, and a stray ESC in a UTF-8 record is not "mislabelled".

use marc8::record::{parse, transcode_record, write_record, RecordOptions, Target, Trust};
use marc8::validate::{validate_stream, ValidateOptions};

fn record(leader9: u8, fields: &[(&[u8; 3], &[u8])]) -> Vec<u8> {
    let mut leader = *b"00000nam  2200000   4500";
    leader[9] = leader9;
    let fields: Vec<([u8; 3], &[u8])> = fields.iter().map(|(t, d)| (**t, *d)).collect();
    let mut out = Vec::new();
    write_record(&leader, &fields, &mut out).unwrap();
    out
}

fn convert(raw: &[u8], to: Target, expand_ncr: bool) -> (Vec<u8>, Vec<(&'static str, String)>) {
    let mut opts = RecordOptions::new(to);
    opts.decode.expand_ncr = expand_ncr;
    let c = transcode_record(raw, &opts, 1, 0);
    let kinds = c
        .problems
        .iter()
        .map(|p| (p.kind.as_str(), p.action.as_str().to_owned()))
        .collect();
    (c.record.expect("record written"), kinds)
}

fn field<'a>(raw: &'a [u8], tag: &[u8; 3]) -> &'a [u8] {
    let p = parse(raw).unwrap();
    assert!(!p.recovered);
    p.fields.iter().find(|f| &f.tag == tag).unwrap().data
}

fn validate_kinds(raw: &[u8]) -> Vec<&'static str> {
    let r = validate_stream(raw, &ValidateOptions::default(), 1, &mut |_| true).unwrap();
    r.problems.iter().map(|p| p.kind.as_str()).collect()
}

#[test]
fn a_reference_to_a_control_stays_text_in_a_record() {
    for ncr in [&b"&#x001F;"[..], b"&#x001E;", b"&#x001D;", b"&#x001B;"] {
        for (leader9, title) in [(b' ', &b"Titl\xe2e"[..]), (b'a', "Titlé".as_bytes())] {
            let mut data = b"10\x1fa".to_vec();
            data.extend_from_slice(title);
            data.extend_from_slice(ncr);
            data.extend_from_slice(b"zinjected\x1fbxyz");
            let raw = record(leader9, &[(b"001", b"1"), (b"245", &data)]);
            let (out, kinds) = convert(&raw, Target::Utf8, true);
            assert_eq!(kinds, [("control_character", "kept_as_text".to_owned())]);
            let f = field(&out, b"245");
            assert_eq!(f.iter().filter(|&&b| b == 0x1F).count(), 2, "{f:02X?}");
            assert!(!f.iter().any(|&b| matches!(b, 0x1B | 0x1D | 0x1E)));
            assert!(f.windows(ncr.len()).any(|w| w == ncr));
        }
    }
}

#[test]
fn utf8_data_with_references_is_read_as_unicode() {
    let raw = record(b'a', &[(b"245", "10\x1faé&#x0041;ü".as_bytes())]);
    let (out, kinds) = convert(&raw, Target::Utf8, true);
    assert!(kinds.is_empty(), "{kinds:?}");
    assert_eq!(field(&out, b"245"), "10\x1faéAü".as_bytes());
}

#[test]
fn non_ascii_structural_bytes_are_replaced_and_reported() {
    let raw = record(b' ', &[(b"\xc945", b"1\xe2\x1f\xb9abc\x1fb\xe2e")]);
    for to in [Target::Utf8, Target::Marc8] {
        let (out, kinds) = convert(&raw, to, false);
        let kinds: Vec<_> = kinds.iter().map(|(k, a)| (*k, a.as_str())).collect();
        assert_eq!(
            kinds,
            [
                ("bad_tag", "replaced"),
                ("bad_indicator", "replaced"),
                ("bad_subfield_code", "replaced")
            ]
        );
        let f = field(&out, b"|45");
        assert_eq!(&f[..4], b"1|\x1f|");
        if to == Target::Utf8 {
            assert!(std::str::from_utf8(&out).is_ok());
        }
    }
    // A UTF-8 record copied to UTF-8 is checked too, even when its two indicator bytes happen to
    // be one valid UTF-8 character (é = C3 A9).
    let raw = record(b'a', &[(b"245", "é\x1faok".as_bytes())]);
    let (out, kinds) = convert(&raw, Target::Utf8, false);
    assert_eq!(kinds, vec![("bad_indicator", "replaced".to_owned()); 2]);
    assert_eq!(field(&out, b"245"), b"||\x1faok");
}

#[test]
fn control_characters_in_field_data_both_ways() {
    let marc8 = record(b' ', &[(b"245", b"10\x1faA\x01B\x1fbC\rD\tE")]);
    let (out, kinds) = convert(&marc8, Target::Utf8, false);
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(kinds
        .iter()
        .all(|(k, a)| *k == "control_character" && a == "replaced"));
    assert_eq!(
        field(&out, b"245"),
        "10\x1faA\u{FFFD}B\x1fbC\u{FFFD}D\u{FFFD}E".as_bytes()
    );
    let utf8 = record(b'a', &[(b"245", "10\x1faé\x01\u{85}\x1fbC\rD".as_bytes())]);
    let (out, kinds) = convert(&utf8, Target::Marc8, false);
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(kinds
        .iter()
        .all(|(k, a)| *k == "control_character" && a == "wrote_fill"));
    assert_eq!(field(&out, b"245"), b"10\x1fa\xe2e||\x1fbC|D");
    let (out, kinds) = convert(&utf8, Target::Utf8, false);
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert_eq!(
        field(&out, b"245"),
        "10\x1faé\u{FFFD}\u{FFFD}\x1fbC\u{FFFD}D".as_bytes()
    );
    assert_eq!(validate_kinds(&marc8), ["control_character"; 3]);
    assert_eq!(validate_kinds(&utf8), ["control_character"; 3]);
}

#[test]
fn a_stray_esc_in_utf8_is_a_control_character_not_mislabelling() {
    let raw = record(b'a', &[(b"245", "10\x1faé\x1bx".as_bytes())]);
    let (_, kinds) = convert(&raw, Target::Utf8, false);
    assert_eq!(kinds, [("control_character", "replaced".to_owned())]);
    // A real escape sequence is a sign of MARC-8.
    let raw = record(b'a', &[(b"245", b"10\x1fa\x1b(NABC\x1b(B")]);
    let mut opts = RecordOptions::new(Target::Utf8);
    opts.trust = Trust::Data;
    let c = transcode_record(&raw, &opts, 1, 0);
    let kinds: Vec<_> = c.problems.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(kinds, ["mislabelled"]);
    assert!(c.problems[0].message.contains("escape sequences"));
}
