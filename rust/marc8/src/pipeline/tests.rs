use proptest::prelude::*;

use super::*;
use crate::model::Subfield;

fn control(tag: &str, text: &str) -> Field {
    Field {
        tag: tag.to_owned(),
        data: FieldData::Control(text.to_owned()),
    }
}

fn data(tag: &str, subs: &[(char, &str)]) -> Field {
    Field {
        tag: tag.to_owned(),
        data: FieldData::Data {
            ind1: ' ',
            ind2: ' ',
            subfields: subs
                .iter()
                .map(|(c, v)| Subfield {
                    code: *c,
                    value: (*v).to_owned(),
                })
                .collect(),
        },
    }
}

fn record(fields: Vec<Field>) -> Record {
    let mut leader = *b"00000nam a2200000 a 4500";
    leader[17] = b' ';
    Record { leader, fields }
}

fn key<'p>(p: &'p Prepared, kind: &str) -> Vec<&'p str> {
    p.keys
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn eng_in_any_case_is_english() {
    let rec = record(vec![
        control("001", "x1"),
        data("035", &[('a', "(OCoLC)12")]),
        data("040", &[('a', "DLC"), ('b', " ENG ")]),
        data("245", &[('a', "A title")]),
    ]);
    let p = prepare(&rec, 1, 0, &Settings::default());
    assert_eq!(p.status, Status::Ready);
    assert!(p.changes.is_empty());
    let strict = Settings {
        lang_fold: false,
        ..Settings::default()
    };
    let p = prepare(&rec, 1, 0, &strict);
    assert_eq!(p.changes.len(), 1);
    assert_eq!(
        p.changes[0].short,
        "040 $b ENG: 035, 040 deleted, leader/17 ' '→'5'"
    );
    assert_eq!(
        p.changes[0].full,
        "040 $b is 'ENG', not 'eng': deleted 035 \\\\$a(OCoLC)12; 040 \\\\$aDLC$b ENG ; \
         leader/17 ' ' → '5'"
    );
    // The OCLC number is read before the 035 goes.
    assert_eq!(p.oclc, vec!["12"]);
    let parsed = crate::record::parse(&p.data).unwrap();
    assert_eq!(parsed.fields.len(), 2);
    assert_eq!(p.data[17], b'5');
}

#[test]
fn a_target_is_left_to_the_rules() {
    for a in ["(LOCAL)000000001", "(local)1", "  (LoCaL)x"] {
        let rec = record(vec![data("035", &[('a', a)]), data("245", &[('a', "T")])]);
        assert_eq!(
            prepare(&rec, 1, 0, &Settings::default()).status,
            Status::Slow
        );
    }
    let rec = record(vec![]);
    assert_eq!(
        prepare(&rec, 1, 0, &Settings::default()).status,
        Status::NoFields
    );
}

#[test]
fn keys_of_every_kind() {
    let rec = record(vec![
        control("001", "a123"),
        control("003", "DLC"),
        data("010", &[('a', "  85-2 /AC")]),
        data("020", &[('a', "0-19-852663-6 (pbk.)")]),
        data("022", &[('a', "0317-8471")]),
        data("035", &[('a', "(Sirsi) a99")]),
        data("049", &[('a', " ABCD ")]),
        data("245", &[('a', "Hobbit")]),
    ]);
    let p = prepare(&rec, 1, 0, &Settings::default());
    assert_eq!(p.control_number.as_deref(), Some("a123"));
    assert_eq!(p.symbols, vec!["ABCD"]);
    assert_eq!(key(&p, "lccn"), vec!["85000002"]);
    assert_eq!(key(&p, "isbn"), vec!["9780198526636"]);
    assert_eq!(key(&p, "issn"), vec!["03178471"]);
    assert_eq!(key(&p, "sysid"), vec!["(sirsi)a99", "(dlc)a123"]);
    assert_eq!(key(&p, "digest").len(), 1);
    assert_eq!(p.terms[0], "hobbit");
    assert_eq!(p.terms[3], "0198526636 9780198526636");
}

#[test]
fn the_digest_ignores_volatile_and_local_fields_and_the_normal_form() {
    let a = record(vec![
        control("001", "1"),
        control("005", "20200101"),
        data("245", &[('a', "Cafe\u{301}")]),
        data("900", &[('a', "local")]),
    ]);
    let b = record(vec![
        control("001", "2"),
        data("245", &[('a', "Caf\u{e9}")]),
        data("900", &[('a', "local")]),
        data("CAT", &[('a', "x")]),
    ]);
    let c = record(vec![
        data("245", &[('a', "Cafe")]),
        data("900", &[('a', "local")]),
    ]);
    let s = Settings::default();
    let (pa, pb, pc) = (
        prepare(&a, 1, 0, &s),
        prepare(&b, 1, 0, &s),
        prepare(&c, 1, 0, &s),
    );
    assert_eq!(key(&pa, "digest"), key(&pb, "digest"));
    assert_ne!(key(&pa, "digest"), key(&pc, "digest"));
    assert_eq!(
        key(&pa, "digest"),
        stored_keys(&a, &s)
            .iter()
            .filter(|(k, _)| *k == "digest")
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    );
}

#[test]
fn lccns() {
    assert_eq!(lccn("n 78-890351 ").as_deref(), Some("n78890351"));
    assert_eq!(lccn("   75840215 /ACN/r86").as_deref(), Some("75840215"));
    assert_eq!(lccn(" / "), None);
}

proptest! {
    #[test]
    fn prepare_never_panics_and_writes_what_it_reads(
        title in "\\PC{0,40}", lang in "[a-zA-Z ]{0,5}", n in 0u32..1000,
    ) {
        let rec = record(vec![
            control("001", &format!("ocm{n}")),
            data("040", &[('b', &lang)]),
            data("245", &[('a', &title)]),
        ]);
        let p = prepare(&rec, 1, 0, &Settings::default());
        if p.status == Status::Ready {
            prop_assert!(crate::record::parse(&p.data).is_ok());
            prop_assert_eq!(p.oclc.first().cloned(), (n > 0).then(|| n.to_string()));
            let digests = key(&p, "digest");
            prop_assert_eq!(digests.len(), 1);
            prop_assert_eq!(digests[0].len(), 32);
        }
    }
}
