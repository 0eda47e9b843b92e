use super::*;
use crate::marcxml::tests::{record, sample};
use proptest::prelude::*;

fn read_all(doc: &str) -> Vec<ReadRecord> {
    JsonReader::new(doc.as_bytes()).collect()
}

fn kinds(problems: &[RecordProblem]) -> Vec<&'static str> {
    problems.iter().map(|p| p.kind.as_str()).collect()
}

fn as_written(rec: &Record) -> Record {
    let (json, _) = record_json(rec);
    let item = parse_record(json.as_bytes());
    assert!(item.problems.is_empty(), "{:?}", item.problems);
    let mut expected = rec.clone();
    expected.leader = item.record.unwrap().leader;
    expected.fields.retain(crate::interchange::written);
    expected
}

#[test]
fn writes_pymarcs_layout() {
    let (json, problems) = record_json(&sample());
    assert!(problems.is_empty());
    let (total, base) = crate::interchange::utf8_lengths(&sample());
    assert_eq!(
        json,
        format!(
            "{{\"leader\": \"{total:05}nam a22{base:05} a 4500\", \"fields\": [{{\"001\": \"ocm 123 \"}}, \
             {{\"245\": {{\"ind1\": \"1\", \"ind2\": \"0\", \"subfields\": [\
             {{\"a\": \"Tom & Jerry <\\\"cats\\\"> 'n' mice :\"}}, \
             {{\"c\": \"Café, Москва, 東京\\t\\r\\nend\"}}]}}}}]}}"
        )
    );
    let back = parse_record(json.as_bytes());
    assert!(back.problems.is_empty());
    assert_eq!(back.record.unwrap().fields, sample().fields);
}

#[test]
fn controls_are_escaped() {
    let mut rec = sample();
    rec.fields[0].data = FieldData::Control("a\u{1}b\u{1F}".into());
    let (json, _) = record_json(&rec);
    assert!(json.contains("\"a\\u0001b\\u001f\""));
    assert_eq!(
        parse_record(json.as_bytes()).record.unwrap().fields,
        rec.fields
    );
}

#[test]
fn arrays_single_objects_and_json_lines() {
    let (one, _) = record_json(&sample());
    let (array, _) = array_document(&[sample(), sample(), sample()]);
    for (doc, n) in [
        (one.clone(), 1),
        (array, 3),
        (format!("{one}\n{one}\n"), 2),
        ("[]".to_owned(), 0),
        ("  [ ]  ".to_owned(), 0),
        (String::new(), 0),
        (format!("\u{FEFF}[{one}, {one},]"), 2),
    ] {
        let items = read_all(&doc);
        assert_eq!(items.len(), n, "{doc}");
        for (i, item) in items.iter().enumerate() {
            assert!(item.problems.is_empty(), "{:?}", item.problems);
            assert_eq!(item.number, i + 1);
            assert_eq!(item.record.as_ref().unwrap().fields, sample().fields);
        }
    }
}

#[test]
fn raw_control_characters_in_strings_are_taken() {
    let doc = "{\"leader\": \"00000nam a2200000   4500\", \"fields\": [{\"001\": \"a\tb\u{1}\"}]}";
    let items = read_all(doc);
    assert!(items[0].problems.is_empty());
    assert_eq!(
        items[0].record.as_ref().unwrap().fields[0].data,
        FieldData::Control("a\tb\u{1}".into())
    );
}

#[test]
fn bad_structure_is_reported_positioned() {
    let doc = r#"[{"leader": "short", "fields": [
        {"001": "id9"},
        {"245": {"ind1": "10", "subfields": [{"a": "x", "b": "y"}, {"": "lost"}, {"cd": 7}, "junk", {"e": null}]}},
        {},
        {"500": 5},
        {"5000": {"ind1": " ", "ind2": " ", "subfields": []}},
        {"650": {"ind1": " ", "ind2": " "}}
    ]}, 42, {"fields": "no"}, {"leader": "00000nam a2200000   4500", "fields": [{"001": "bad"}, ]}]"#;
    let items = read_all(doc);
    assert_eq!(items.len(), 4, "{items:#?}");
    let first = &items[0];
    let got: Vec<_> = first
        .problems
        .iter()
        .map(|p| {
            (
                p.kind.as_str(),
                p.action.as_str(),
                p.tag.as_deref(),
                p.occurrence,
                p.subfield,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("json_bad_leader", "replaced", None, None, None),
            ("json_bad_structure", "replaced", Some("245"), Some(1), None),
            ("json_bad_structure", "replaced", Some("245"), Some(1), None),
            (
                "json_bad_structure",
                "recovered",
                Some("245"),
                Some(1),
                None
            ),
            ("json_bad_structure", "skipped", Some("245"), Some(1), None),
            (
                "json_bad_structure",
                "replaced",
                Some("245"),
                Some(1),
                Some('c')
            ),
            (
                "json_bad_structure",
                "recovered",
                Some("245"),
                Some(1),
                Some('c')
            ),
            ("json_bad_structure", "skipped", Some("245"), Some(1), None),
            (
                "json_bad_structure",
                "skipped",
                Some("245"),
                Some(1),
                Some('e')
            ),
            ("json_bad_structure", "skipped", None, None, None),
            ("json_bad_structure", "skipped", Some("500"), Some(1), None),
            ("json_bad_structure", "kept", Some("5000"), Some(1), None),
            ("json_bad_structure", "replaced", Some("650"), Some(1), None),
        ],
        "{:#?}",
        first.problems
    );
    assert!(first
        .problems
        .iter()
        .all(|p| p.control_number.as_deref() == Some("id9")));
    let rec = first.record.as_ref().unwrap();
    assert_eq!(rec.fields.len(), 4);
    assert_eq!(
        rec.fields[1].data,
        FieldData::Data {
            ind1: '1',
            ind2: ' ',
            subfields: vec![
                Subfield {
                    code: 'a',
                    value: "x".into()
                },
                Subfield {
                    code: 'b',
                    value: "y".into()
                },
                Subfield {
                    code: 'c',
                    value: "7".into()
                },
            ]
        }
    );
    assert_eq!(kinds(&items[1].problems), ["json_not_a_record"]);
    assert_eq!(items[1].number, 2);
    assert_eq!(
        kinds(&items[2].problems),
        ["json_bad_leader", "json_bad_structure"]
    );
    assert_eq!(
        items[2].record.as_ref().unwrap().leader,
        crate::interchange::DEFAULT_LEADER
    );
    // A trailing comma inside a record: not JSON (nor for Python's json): rejected.
    assert_eq!(kinds(&items[3].problems), ["json_syntax"]);
    assert_eq!(items[3].problems[0].action.as_str(), "rejected");
}

#[test]
fn broken_json_rejects_the_record_or_stops() {
    // A bad record inside a sound array: that record is rejected, the next one is read.
    let (one, _) = record_json(&sample());
    let doc = format!("[{one}, {{\"leader\": tru}}, {one}]");
    let items = read_all(&doc);
    assert_eq!(items.len(), 3);
    assert_eq!(kinds(&items[1].problems), ["json_syntax"]);
    assert_eq!(items[1].problems[0].action.as_str(), "rejected");
    assert!(items[2].record.is_some());
    // The input ends inside a record.
    let doc = format!("[{one}, {}", &one[..one.len() / 2]);
    let items = read_all(&doc);
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].problems[0].action.as_str(), "rejected");
    // Not JSON at all.
    let items = read_all("<collection/>");
    assert_eq!(kinds(&items[0].problems), ["json_syntax"]);
    assert_eq!(items.len(), 1);
    // A missing comma between records.
    let items = read_all(&format!("[{one} {one}]"));
    assert_eq!(items.len(), 2);
    assert_eq!(kinds(&items[1].problems), ["json_syntax"]);
}

#[test]
fn positions_are_byte_offsets_of_records() {
    let (one, _) = record_json(&sample());
    let doc = format!("[\n{one},\n  {one}]");
    let items = read_all(&doc);
    assert_eq!(items[0].offset, 2);
    assert_eq!(items[1].offset as usize, 2 + one.len() + 4);
}

fn any_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![3 => proptest::char::range(' ', '~'), 1 => any::<char>()],
        0..12,
    )
    .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #[test]
    fn model_to_json_to_model(recs in proptest::collection::vec(record(any_text().boxed(), any::<char>().boxed()), 0..4)) {
        let (doc, problems) = array_document(&recs);
        // Random leaders lack MARC 21's fixed values: only that is reported.
        prop_assert!(problems.iter().all(|p| p.kind.as_str() == "bad_leader"));
        let items: Vec<_> = JsonReader::new(std::io::BufReader::with_capacity(16, doc.as_bytes())).collect();
        prop_assert_eq!(items.len(), recs.len());
        for (item, rec) in items.into_iter().zip(&recs) {
            prop_assert!(item.problems.is_empty(), "{:?}", item.problems);
            prop_assert_eq!(item.record.unwrap(), as_written(rec));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for _ in JsonReader::new(&bytes[..]) {}
    }

    #[test]
    fn mangled_documents_never_panic(cut in 0usize..600, junk in proptest::collection::vec(any::<u8>(), 0..6)) {
        let (doc, _) = array_document(&[sample(), sample()]);
        let mut bytes = doc.into_bytes();
        let cut = cut.min(bytes.len());
        bytes.splice(cut..cut, junk);
        for _ in JsonReader::new(&bytes[..]) {}
        bytes.truncate(cut);
        for _ in JsonReader::new(&bytes[..]) {}
    }
}
