use std::borrow::Cow;

use super::*;
use crate::record::{parse, transcode_record, write_record, MAX_FIELD};

fn record(utf8: bool, fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut leader = *b"00000nam a2200000   4500";
    leader[9] = if utf8 { b'a' } else { b' ' };
    let fields: Vec<([u8; 3], Cow<'_, [u8]>)> = fields
        .iter()
        .map(|(t, d)| {
            let t = t.as_bytes();
            ([t[0], t[1], t[2]], Cow::Borrowed(*d))
        })
        .collect();
    let mut out = Vec::new();
    write_record(&leader, &fields, &mut out).unwrap();
    out
}

fn read(raw: &[u8]) -> (Record, SourceEncoding, Vec<RecordProblem>) {
    let mut problems = Vec::new();
    let (r, s) = Record::from_iso2709(raw, &ReadOptions::default(), 1, 0, &mut problems).unwrap();
    (r, s, problems)
}

fn write(r: &Record, to: Target, errors: EncodeErrors) -> (Option<Vec<u8>>, Vec<RecordProblem>) {
    let mut out = b"before".to_vec();
    let mut problems = Vec::new();
    let ok = r.to_iso2709(to, errors, 1, 0, &mut out, &mut problems);
    if ok {
        assert_eq!(&out[..6], b"before");
        (Some(out[6..].to_vec()), problems)
    } else {
        assert_eq!(out, b"before", "nothing appended when rejected");
        (None, problems)
    }
}

fn sf(code: char, value: &str) -> Subfield {
    Subfield {
        code,
        value: value.to_owned(),
    }
}

fn marc8_sample() -> Vec<u8> {
    record(
        false,
        &[
            ("001", b" ocm123 "),
            ("066", b"  \x1fc(N"),
            ("245", b"10\x1faCaf\xe2e :\x1fb\x1b(N\x6d\x4f\x53\x1b(B."),
            ("880", b"  \x1fa\x1b$1\x21\x30\x64\x1b(B"),
        ],
    )
}

#[test]
fn marc8_is_read_into_unicode_text() {
    let (r, source, problems) = read(&marc8_sample());
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(source, SourceEncoding::Marc8);
    assert_eq!(r.fields.len(), 4, "066 kept in the model");
    assert_eq!(r.control_number().as_deref(), Some("ocm123"));
    assert_eq!(
        r.fields[2].data,
        FieldData::Data {
            ind1: '1',
            ind2: '0',
            subfields: vec![sf('a', "Cafe\u{301} :"), sf('b', "Мос.")],
        }
    );
}

#[test]
fn writing_matches_transcode_record_in_both_encodings() {
    let raw = marc8_sample();
    let (r, _, _) = read(&raw);
    let utf8 = transcode_record(&raw, &RecordOptions::new(Target::Utf8), 1, 0);
    let (got, problems) = write(&r, Target::Utf8, EncodeErrors::Lossless);
    assert_eq!(got, utf8.record);
    assert_eq!(problems, utf8.problems);
    let marc8 = transcode_record(
        utf8.record.as_ref().unwrap(),
        &RecordOptions::new(Target::Marc8),
        1,
        0,
    );
    let (got, problems) = write(&r, Target::Marc8, EncodeErrors::Lossless);
    assert_eq!(got, marc8.record);
    assert_eq!(problems, marc8.problems);
    // UTF-8: 066 dropped, lengths in bytes, leader/09 `a`.
    let (u, _) = write(&r, Target::Utf8, EncodeErrors::Lossless);
    let u = u.unwrap();
    assert_eq!(&u[..5], format!("{:05}", u.len()).as_bytes());
    let p = parse(&u).unwrap();
    assert_eq!(p.leader[9], b'a');
    assert!(p.fields.iter().all(|f| &f.tag != b"066"));
    // MARC-8: 066 rebuilt from the sets written (Cyrillic and EACC), in 066's order.
    let (m, _) = write(&r, Target::Marc8, EncodeErrors::Lossless);
    let p = parse(m.as_ref().unwrap()).unwrap();
    assert_eq!(p.leader[9], b' ');
    let f066 = p.fields.iter().find(|f| &f.tag == b"066").unwrap();
    assert_eq!(f066.data, b"  \x1fc$1\x1fc(N");
}

#[test]
fn reading_reports_what_transcode_record_reports() {
    let raw = record(
        false,
        &[
            ("001", b"x1"),
            ("245", b"10\x1faok\x1fbbad \x1b(Z here\x1fc\xfc."),
            ("500", b"  lead\x1faafter"),
        ],
    );
    let mut problems = Vec::new();
    let opts = ReadOptions::default();
    let (r, _) = Record::from_iso2709(&raw, &opts, 7, 1234, &mut problems).unwrap();
    let expected = transcode_record(&raw, &RecordOptions::new(Target::Utf8), 7, 1234).problems;
    let (same, extra): (Vec<_>, Vec<_>) = problems
        .into_iter()
        .partition(|p| p.kind.as_str() != "data_outside_subfield");
    assert_eq!(same, expected);
    assert_eq!(extra.len(), 1);
    assert_eq!(extra[0].tag.as_deref(), Some("500"));
    assert_eq!(extra[0].field_offset, Some(2));
    assert_eq!(extra[0].bytes, b"lead");
    assert_eq!(extra[0].action.as_str(), "dropped");
    assert_eq!(extra[0].control_number.as_deref(), Some("x1"));
    let FieldData::Data { subfields, .. } = &r.fields[1].data else {
        panic!()
    };
    assert_eq!(subfields.len(), 3);
    assert!(subfields[1].value.contains('\u{FFFD}'));
}

#[test]
fn mislabelled_and_trust() {
    let raw = record(false, &[("245", "10\x1faCafé".as_bytes())]);
    let (r, source, problems) = read(&raw);
    assert_eq!(source, SourceEncoding::Marc8);
    assert_eq!(problems[0].kind.as_str(), "mislabelled");
    assert_eq!(problems[0].action.as_str(), "trusted_leader");
    assert_ne!(
        r.fields[0],
        Field {
            tag: "245".into(),
            data: FieldData::Data {
                ind1: '1',
                ind2: '0',
                subfields: vec![sf('a', "Café")]
            }
        }
    );
    let mut problems = Vec::new();
    let opts = ReadOptions {
        trust: Trust::Data,
        ..ReadOptions::default()
    };
    let (r, source) = Record::from_iso2709(&raw, &opts, 1, 0, &mut problems).unwrap();
    assert_eq!(source, SourceEncoding::Utf8);
    assert_eq!(problems[0].action.as_str(), "trusted_data");
    let FieldData::Data { subfields, .. } = &r.fields[0].data else {
        panic!()
    };
    assert_eq!(subfields[0].value, "Café");
}

#[test]
fn unparseable_is_none_with_a_rejected_problem() {
    let mut problems = Vec::new();
    let r = Record::from_iso2709(b"0004", &ReadOptions::default(), 3, 9, &mut problems);
    assert!(r.is_none());
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].kind.as_str(), "bad_leader");
    assert_eq!(problems[0].action.as_str(), "rejected");
    assert_eq!((problems[0].record, problems[0].record_offset), (3, 9));
}

fn built(fields: Vec<Field>) -> Record {
    Record {
        leader: *b"00000nam a2200000   4500",
        fields,
    }
}

fn data_field(tag: &str, subfields: Vec<Subfield>) -> Field {
    Field {
        tag: tag.into(),
        data: FieldData::Data {
            ind1: ' ',
            ind2: ' ',
            subfields,
        },
    }
}

#[test]
fn lengths_are_counted_in_bytes() {
    let r = built(vec![data_field("245", vec![sf('a', "Ελληνικά 日本")])]);
    let (u, problems) = write(&r, Target::Utf8, EncodeErrors::Lossless);
    assert!(problems.is_empty());
    let u = u.unwrap();
    assert_eq!(&u[..5], format!("{:05}", u.len()).as_bytes());
    let p = parse(&u).unwrap();
    assert!(!p.recovered);
    assert_eq!(p.fields[0].data, "  \x1faΕλληνικά 日本".as_bytes());
    let (back, _, _) = read(&u);
    assert_eq!(back.fields, r.fields);
}

#[test]
fn too_long_is_rejected_never_written_corrupt() {
    let long = "é".repeat(MAX_FIELD / 2);
    let r = built(vec![data_field("500", vec![sf('a', &long)])]);
    let (out, problems) = write(&r, Target::Utf8, EncodeErrors::Lossless);
    assert!(out.is_none());
    assert_eq!(problems.last().unwrap().kind.as_str(), "field_too_long");
    assert_eq!(problems.last().unwrap().tag.as_deref(), Some("500"));
    // Fits in MARC-8 (one byte é + one byte mark... two bytes each) only if short enough.
    let many: Vec<Field> = (0..12)
        .map(|_| data_field("500", vec![sf('a', &"x".repeat(9000))]))
        .collect();
    let (out, problems) = write(&built(many), Target::Marc8, EncodeErrors::Lossless);
    assert!(out.is_none());
    assert_eq!(problems.last().unwrap().kind.as_str(), "record_too_long");
}

#[test]
fn structure_breaking_values_are_rejected() {
    for (f, kind) in [
        (data_field("24", vec![sf('a', "x")]), "bad_tag"),
        (
            data_field("245", vec![sf('a', "x\u{1e}y")]),
            "delimiter_in_data",
        ),
        (
            data_field("245", vec![sf('a', "x\u{1f}by")]),
            "delimiter_in_data",
        ),
        (data_field("245", vec![sf('é', "x")]), "bad_subfield_code"),
        (
            Field {
                tag: "245".into(),
                data: FieldData::Data {
                    ind1: 'é',
                    ind2: ' ',
                    subfields: vec![],
                },
            },
            "bad_indicator",
        ),
    ] {
        let (out, problems) = write(&built(vec![f]), Target::Utf8, EncodeErrors::Lossless);
        assert!(out.is_none(), "{kind}");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].kind.as_str(), kind);
        assert_eq!(problems[0].action.as_str(), "rejected");
    }
}

#[test]
fn encode_errors_strict_lossless_lossy() {
    let r = built(vec![
        Field {
            tag: "001".into(),
            data: FieldData::Control("n1".into()),
        },
        data_field("245", vec![sf('a', "a\u{263A}b")]),
    ]);
    let (out, problems) = write(&r, Target::Marc8, EncodeErrors::Strict);
    assert!(out.is_none());
    assert_eq!(problems[0].kind.as_str(), "unmappable");
    assert_eq!(problems[0].action.as_str(), "rejected");
    assert_eq!(problems[0].control_number.as_deref(), Some("n1"));
    assert_eq!(problems[0].offset, Some(1));
    let (out, problems) = write(&r, Target::Marc8, EncodeErrors::Lossless);
    assert!(out.unwrap().windows(8).any(|w| w == b"&#x263A;"));
    assert_eq!(problems[0].action.as_str(), "wrote_ncr");
    let (out, problems) = write(&r, Target::Marc8, EncodeErrors::Lossy);
    assert!(out.unwrap().windows(3).any(|w| w == b"a|b"));
    assert_eq!(problems[0].action.as_str(), "wrote_fill");
}

#[test]
fn a_stray_record_terminator_in_a_field_round_trips() {
    let raw = record(true, &[("245", b"10\x1faA\x1dB")]);
    let (r, _, problems) = read(&raw);
    assert!(problems.is_empty());
    let (out, _) = write(&r, Target::Utf8, EncodeErrors::Lossless);
    assert_eq!(out.unwrap(), raw);
}

#[test]
fn transcoding_marc8_to_marc8_keeps_066() {
    // Regression: records copied as they stand (MARC-8 to MARC-8) lost their 066.
    let raw = marc8_sample();
    let c = transcode_record(&raw, &RecordOptions::new(Target::Marc8), 1, 0);
    let out = c.record.unwrap();
    let p = parse(&out).unwrap();
    let f066 = p.fields.iter().find(|f| &f.tag == b"066").unwrap();
    assert_eq!(f066.data, b"  \x1fc$1\x1fc(N");
}

/// What converting a record with a tag filter gives: the record (outer `None`: unparseable,
/// inner `None`: rejected), the problems, the tags left out.
type Kept = (Option<Option<Vec<u8>>>, Vec<RecordProblem>, Vec<String>);

/// `convert_keeping` against what it stands for: reading into the model, removing the fields
/// `keep` refuses, writing.
fn keeping_both_ways(
    raw: &[u8],
    keep: &dyn Fn(&str) -> bool,
    errors: EncodeErrors,
) -> (Kept, Kept) {
    let opts = ReadOptions::default();
    let (mut out, mut problems, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
    let job = Keeping {
        read: &opts,
        keep,
        write: WriteOptions {
            to: Target::Marc8,
            errors,
        },
    };
    let ok = convert_keeping(
        raw,
        &job,
        Place::new(3, 40),
        &mut out,
        &mut problems,
        &mut dropped,
    );
    let fast = (ok.map(|ok| ok.then_some(out)), problems, dropped);
    let mut problems = Vec::new();
    let slow = match Record::from_iso2709(raw, &opts, 3, 40, &mut problems) {
        None => (None, problems, Vec::new()),
        Some((mut rec, _)) => {
            let dropped: Vec<String> = rec
                .fields
                .iter()
                .filter(|f| !keep(&f.tag))
                .map(|f| f.tag.clone())
                .collect();
            rec.fields.retain(|f| keep(&f.tag));
            let mut out = Vec::new();
            let ok = rec.to_iso2709(Target::Marc8, errors, 3, 40, &mut out, &mut problems);
            (Some(ok.then_some(out)), problems, dropped)
        }
    };
    (fast, slow)
}

#[test]
fn convert_keeping_gives_what_the_model_gives() {
    let numeric = |t: &str| t.len() == 3 && t.bytes().all(|b| b.is_ascii_digit());
    let no_500 = |t: &str| numeric(t) && t != "500";
    let no_001 = |t: &str| numeric(t) && t != "001";
    let utf8 = |fields: &[(&str, &[u8])]| record(true, fields);
    let cases: Vec<Vec<u8>> = vec![
        // clean UTF-8: ASCII, Latin with a combining mark, characters MARC-8 lacks, an `&`,
        // a stale 066, local fields, repeated tags, an empty subfield list
        utf8(&[
            ("001", b" n1 "),
            ("066", b"  \x1fc(3"),
            ("100", b"1 \x1faCafe\xcc\x81 & co"),
            ("245", "10\x1faΑθήνα \u{2603} नेपाल\x1fb😀".as_bytes()),
            ("H01", b"  \x1faLOCAL"),
            ("500", b"  \x1faNote &#x00E9;"),
            ("500", b"  "),
            ("CAT", b"  \x1facat"),
        ]),
        // data before the first subfield, a bare delimiter, a non-ASCII indicator or code
        utf8(&[("001", b"n2"), ("245", b"10lead\x1faText")]),
        utf8(&[("001", b"n3"), ("245", b"10\x1faText\x1f")]),
        utf8(&[("001", b"n4"), ("245", "1é\x1faText".as_bytes())]),
        utf8(&[("001", b"n5"), ("245", "10\x1féText".as_bytes())]),
        // invalid UTF-8, a control character, a short data field
        utf8(&[("001", b"n6"), ("245", b"10\x1faBA\xe0\xa4TF")]),
        utf8(&[("001", b"n7"), ("245", b"10\x1faA\x07B")]),
        utf8(&[("001", b"n8"), ("245", b"1")]),
        // MARC-8 (or mislabelled) source
        record(false, &[("001", b"n9"), ("245", b"10\x1faCaf\xe2e")]),
        record(false, &[("001", b"n10"), ("245", "10\x1faCafé".as_bytes())]),
        // unparseable
        b"00010nam a22".to_vec(),
    ];
    for raw in &cases {
        for keep in [&numeric as &dyn Fn(&str) -> bool, &no_500, &no_001] {
            for errors in [
                EncodeErrors::Lossless,
                EncodeErrors::Lossy,
                EncodeErrors::Strict,
            ] {
                let (fast, slow) = keeping_both_ways(raw, keep, errors);
                assert_eq!(fast, slow, "{:?}", String::from_utf8_lossy(raw));
            }
        }
    }
    // The clean record left out its local fields and 500s, and says which.
    let (fast, _) = keeping_both_ways(&cases[0], &no_500, EncodeErrors::Lossless);
    assert_eq!(fast.2, ["H01", "500", "500", "CAT"]);
    assert!(fast.0.unwrap().is_some());
}

#[test]
fn control_characters_in_utf8_data_are_replaced_and_reported_as_transcoding_does() {
    // DEL, a C0 control and a C1 control (C2 85) in UTF-8 data; © (C2 A9) is text.
    let raw = record(
        true,
        &[(
            "245",
            b"10\x1faBad \x7f, \x01 and \xc2\x85 but \xc2\xa9 fine",
        )],
    );
    let (rec, source, problems) = read(&raw);
    assert_eq!(source, SourceEncoding::Utf8);
    let FieldData::Data { subfields, .. } = &rec.fields[0].data else {
        panic!("a data field");
    };
    assert_eq!(
        subfields[0].value,
        "Bad \u{FFFD}, \u{FFFD} and \u{FFFD} but \u{A9} fine"
    );
    let kinds: Vec<_> = problems.iter().map(|p| (p.kind, p.offset)).collect();
    assert_eq!(
        kinds,
        [
            (RecordKind::ControlCharacter, Some(4)),
            (RecordKind::ControlCharacter, Some(7)),
            (RecordKind::ControlCharacter, Some(13)),
        ]
    );
    // The same as converting the record's bytes.
    let converted = transcode_record(&raw, &RecordOptions::new(Target::Utf8), 1, 0);
    assert_eq!(
        converted
            .problems
            .iter()
            .map(|p| (p.kind, p.offset))
            .collect::<Vec<_>>(),
        kinds
    );
}
