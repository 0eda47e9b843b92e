//! Issue 18, item 2: the mislabel rule is the same whatever leader/09 says. A record whose data
//! is UTF-8 text with a few invalid bytes is read as UTF-8 (trusting the data) under a blank
//! leader/09 as under `a`: each invalid byte becomes U+FFFD with an `invalid_utf8` problem and
//! everything else is kept. MARC-8 text (ANSEL diacritics before ASCII letters, specials among
//! ASCII) under a blank leader/09 is still MARC-8.

use marc8::record::{parse, transcode_record, write_record, RecordOptions, Target, Trust};
use proptest::prelude::*;

/// Text pieces: ASCII words and non-ASCII characters of several scripts (no C0/C1 controls, no
/// MARC delimiters).
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-zA-Z0-9 .,:;/()-]{1,8}",
        2 => "[éèüöäåñçøæßłđþ]{1,3}",
        1 => "[а-яА-ЯёЁ]{1,6}",
        1 => "[α-ωΑ-Ω]{1,4}",
        1 => "[一-龥ぁ-ゔァ-ヴ]{1,4}",
        1 => prop::sample::select(vec!["—", "€", "‘", "’", "…", "𝄞", "😀", "ǿ"]).prop_map(String::from),
    ];
    proptest::collection::vec(piece, 1..8).prop_map(|v| v.concat())
}

/// A subfield's text with a few bytes that can never start or continue valid UTF-8 after a
/// complete character: each is one invalid sequence on its own.
const BAD: [u8; 6] = [0xFF, 0xFE, 0xC0, 0xF8, 0x80, 0xBF];

#[derive(Clone, Debug)]
struct Case {
    /// (tag, [(code, text)]) of the data fields, UTF-8.
    fields: Vec<(String, Vec<(char, String)>)>,
    /// (field, subfield, char index, bad byte) insertions, at most one per place.
    bad: Vec<(usize, usize, usize, u8)>,
    blank: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let sub = (prop::sample::select(vec!['a', 'b', 'c']), text());
    let field = (
        prop::sample::select(vec!["100", "245", "260", "500", "650"]),
        proptest::collection::vec(sub, 1..4),
    );
    (
        proptest::collection::vec(field, 1..5),
        proptest::collection::vec(
            (any::<usize>(), any::<usize>(), any::<usize>(), 0..BAD.len()),
            1..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(fields, picks, blank)| {
            let fields: Vec<(String, Vec<(char, String)>)> = fields
                .into_iter()
                .map(|(t, subs)| (t.to_owned(), subs))
                .collect();
            let mut bad = Vec::new();
            for (f, s, c, b) in picks {
                let f = f % fields.len();
                let s = s % fields[f].1.len();
                let c = c % (fields[f].1[s].1.chars().count() + 1);
                if !bad.iter().any(|&(f2, s2, c2, _)| (f2, s2, c2) == (f, s, c)) {
                    bad.push((f, s, c, BAD[b]));
                }
            }
            Case { fields, bad, blank }
        })
}

/// The field data (indicators, subfields), with the bad bytes inserted or replaced by U+FFFD.
fn field_bytes(case: &Case, f: usize, replace: bool) -> Vec<u8> {
    let mut out = b"10".to_vec();
    for (s, (code, text)) in case.fields[f].1.iter().enumerate() {
        out.push(0x1F);
        out.push(*code as u8);
        let n = text.chars().count();
        for (i, ch) in text.chars().chain(std::iter::once('\0')).enumerate() {
            for &(f2, s2, c2, b) in &case.bad {
                if (f2, s2, c2) == (f, s, i) {
                    if replace {
                        out.extend_from_slice("\u{FFFD}".as_bytes());
                    } else {
                        out.push(b);
                    }
                }
            }
            if i < n {
                let mut buf = [0; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
}

fn record(leader09: u8, fields: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut leader = *b"00000nam a2200000   4500";
    leader[9] = leader09;
    let mut all: Vec<([u8; 3], Vec<u8>)> = vec![(*b"001", b"prop1".to_vec())];
    for (t, d) in fields {
        let t = t.as_bytes();
        all.push(([t[0], t[1], t[2]], d.clone()));
    }
    let mut out = Vec::new();
    write_record(&leader, &all, &mut out).unwrap();
    out
}

fn trusting_data() -> RecordOptions {
    RecordOptions {
        trust: Trust::Data,
        ..RecordOptions::new(Target::Utf8)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn utf8_with_a_few_bad_bytes_is_utf8_whatever_leader_09_says(case in case()) {
        let damaged: Vec<(String, Vec<u8>)> = (0..case.fields.len())
            .map(|f| (case.fields[f].0.clone(), field_bytes(&case, f, false)))
            .collect();
        let expected: Vec<(String, Vec<u8>)> = (0..case.fields.len())
            .map(|f| (case.fields[f].0.clone(), field_bytes(&case, f, true)))
            .collect();
        // "A few" invalid bytes among UTF-8 text: no more than its bytes in valid multibyte
        // characters (else it is not plausible UTF-8, and is read as MARC-8 by design).
        let valid_high: usize = case
            .fields
            .iter()
            .flat_map(|(_, subs)| subs.iter())
            .map(|(_, t)| t.bytes().filter(|&b| b >= 0x80).count())
            .sum();
        prop_assume!(valid_high >= case.bad.len());
        let raw = record(if case.blank { b' ' } else { b'a' }, &damaged);
        let c = transcode_record(&raw, &trusting_data(), 1, 0);
        let out = c.record.expect("the record is written");
        prop_assert_eq!(out[9], b'a');
        let got = parse(&out).unwrap();
        let got: Vec<(String, Vec<u8>)> = got
            .fields
            .iter()
            .skip(1)
            .map(|f| (String::from_utf8(f.tag.to_vec()).unwrap(), f.data.to_vec()))
            .collect();
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(parse(&out).unwrap().fields[0].data, b"prop1");
        let bad: Vec<_> = c.problems.iter().filter(|p| p.kind.as_str() == "invalid_utf8").collect();
        prop_assert_eq!(bad.len(), case.bad.len(), "{:?}", c.problems);
        for p in &bad {
            prop_assert_eq!(p.action.as_str(), "replaced");
            prop_assert_eq!(p.bytes.len(), 1);
            prop_assert!(BAD.contains(&p.bytes[0]));
        }
        let mislabelled: Vec<_> = c.problems.iter().filter(|p| p.kind.as_str() == "mislabelled").collect();
        if case.blank {
            prop_assert_eq!(mislabelled.len(), 1);
            prop_assert_eq!(mislabelled[0].action.as_str(), "trusted_data");
        } else {
            prop_assert!(mislabelled.is_empty());
        }
        prop_assert_eq!(c.problems.len(), bad.len() + mislabelled.len(), "{:?}", c.problems);
    }

    #[test]
    fn marc8_diacritics_under_a_blank_leader_stay_marc8(
        words in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    3 => "[a-z]{1,4}".prop_map(|s| s.into_bytes()),
                    // an ANSEL combining mark (E0-FE) before an ASCII letter
                    1 => (0xE1u8..0xFE, b'a'..=b'z').prop_map(|(m, l)| vec![m, l]),
                    // an ANSEL special (Ł Ø ø æ ß £ © ...) before an ASCII letter
                    1 => (prop::sample::select(vec![0xA1u8, 0xA2, 0xB2, 0xB5, 0xC7, 0xB9, 0xC3]), b'a'..=b'z')
                        .prop_map(|(s, l)| vec![s, l]),
                ],
                1..5,
            ).prop_map(|v| v.concat()),
            1..10,
        ),
    ) {
        let text = words.join(&b' ');
        prop_assume!(text.iter().any(|&b| b >= 0x80));
        let mut data = b"10\x1fa".to_vec();
        data.extend_from_slice(&text);
        let raw = record(b' ', &[("245".to_owned(), data)]);
        let c = transcode_record(&raw, &trusting_data(), 1, 0);
        prop_assert!(c.problems.iter().all(|p| p.kind.as_str() != "mislabelled"), "{:?}", c.problems);
        let as_leader = transcode_record(&raw, &RecordOptions::new(Target::Utf8), 1, 0);
        prop_assert_eq!(c.record, as_leader.record);
    }
}
