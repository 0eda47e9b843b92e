use super::*;
use proptest::prelude::*;

pub(crate) fn sample() -> Record {
    Record {
        leader: *b"01234nam  2200301 a 4500",
        fields: vec![
            Field {
                tag: "001".into(),
                data: FieldData::Control("ocm 123 ".into()),
            },
            Field {
                tag: "245".into(),
                data: FieldData::Data {
                    ind1: '1',
                    ind2: '0',
                    subfields: vec![
                        Subfield {
                            code: 'a',
                            value: "Tom & Jerry <\"cats\"> 'n' mice :".into(),
                        },
                        Subfield {
                            code: 'c',
                            value: "Café, Москва, 東京\t\r\nend".into(),
                        },
                    ],
                },
            },
        ],
    }
}

fn read_all(doc: &str) -> Vec<ReadRecord> {
    XmlReader::new(doc.as_bytes()).collect()
}

fn only_record(doc: &str) -> (Record, Vec<RecordProblem>) {
    let mut items = read_all(doc);
    assert_eq!(items.len(), 1, "{items:?}");
    let item = items.remove(0);
    (item.record.expect("a record"), item.problems)
}

fn kinds(problems: &[RecordProblem]) -> Vec<&'static str> {
    problems.iter().map(|p| p.kind.as_str()).collect()
}

/// What reading back a written record must give: the leader as written.
fn as_written(rec: &Record) -> Record {
    let mut expected = rec.clone();
    let leader = output_leader(
        &rec.leader,
        &rec.fields.iter().collect::<Vec<_>>(),
        &At {
            number: 1,
            offset: 0,
            control_number: None,
            tag: None,
            occurrence: None,
            subfield: None,
        },
        &mut Vec::new(),
    );
    expected.leader.copy_from_slice(leader.as_bytes());
    expected.fields.retain(written);
    expected
}

#[test]
fn writes_the_slim_layout() {
    let (doc, problems) = collection_document(&[sample()]);
    assert!(problems.is_empty(), "{problems:?}");
    let (total, base) = utf8_lengths(&sample());
    assert!(doc.starts_with(COLLECTION_START));
    assert!(doc.ends_with(COLLECTION_END));
    assert!(doc.contains(&format!(
        "  <leader>{total:05}nam a22{base:05} a 4500</leader>\n"
    )));
    assert!(doc.contains("  <controlfield tag=\"001\">ocm 123 </controlfield>\n"));
    assert!(doc.contains("  <datafield tag=\"245\" ind1=\"1\" ind2=\"0\">\n"));
    assert!(doc.contains(
        "    <subfield code=\"a\">Tom &amp; Jerry &lt;\"cats\"&gt; 'n' mice :</subfield>\n"
    ));
    assert!(doc.contains("    <subfield code=\"c\">Café, Москва, 東京\t&#13;\nend</subfield>\n"));
}

#[test]
fn leader_lengths_are_those_of_utf8_iso2709() {
    // 24 + 2*12 + 1 = 49 base; 001: 8+1; 245: 2 + (2+32) + (2+25 bytes) + 1.
    let rec = sample();
    let (total, base) = utf8_lengths(&rec);
    assert_eq!(base, 49);
    let f245: usize = 2
        + 2
        + "Tom & Jerry <\"cats\"> 'n' mice :".len()
        + 2
        + "Café, Москва, 東京\t\r\nend".len()
        + 1;
    assert_eq!(total, 49 + 9 + f245 + 1);
}

#[test]
fn field_066_is_dropped_and_the_leader_made_marc21() {
    let mut rec = sample();
    rec.leader = *b"00000nam  2\x01000000  45 0";
    rec.fields.push(Field {
        tag: "066".into(),
        data: FieldData::Data {
            ind1: ' ',
            ind2: ' ',
            subfields: vec![Subfield {
                code: 'c',
                value: "$1".into(),
            }],
        },
    });
    let (doc, problems) = record_document(&rec);
    assert!(!doc.contains("066"));
    assert_eq!(kinds(&problems), ["bad_leader"]);
    assert!(
        problems[0].message.contains("[11, 22]"),
        "{}",
        problems[0].message
    );
    let (back, _) = only_record(&doc);
    assert_eq!(back.fields, sample().fields);
    assert_eq!(&back.leader[5..], b"nam a22000490  4500");
    assert_eq!(utf8_lengths(&rec), utf8_lengths(&sample()));
}

#[test]
fn the_record_length_counts_replaced_characters() {
    let mut rec = sample();
    rec.fields[0].data = FieldData::Control("a\u{1}\u{2}".into());
    let (doc, _) = record_document(&rec);
    let (back, _) = only_record(&doc);
    // Each one-byte control became the three bytes of U+FFFD.
    let (total, _) = utf8_lengths(&back);
    assert_eq!(&back.leader[..5], format!("{total:05}").as_bytes());
    assert_eq!(total, utf8_lengths(&rec).0 + 4);
}

#[test]
fn single_record_document_carries_the_namespace() {
    let (doc, _) = record_document(&sample());
    assert!(doc.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<record xmlns=\"http://www.loc.gov/MARC21/slim\">\n"
    ));
    let (rec, problems) = only_record(&doc);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(rec, as_written(&sample()));
}

#[test]
fn invalid_xml_characters_are_replaced_and_reported() {
    let mut rec = sample();
    rec.fields.push(Field {
        tag: "500".into(),
        data: FieldData::Data {
            ind1: ' ',
            ind2: '\u{1}',
            subfields: vec![Subfield {
                code: 'a',
                value: "ab\u{1B}(Bc\u{FFFF}".into(),
            }],
        },
    });
    rec.fields.push(Field {
        tag: "500".into(),
        data: FieldData::Data {
            ind1: ' ',
            ind2: ' ',
            subfields: vec![Subfield {
                code: 'b',
                value: "x\u{0}".into(),
            }],
        },
    });
    let (doc, problems) = collection_document(&[rec]);
    assert_eq!(
        kinds(&problems),
        [
            "xml_invalid_character",
            "xml_invalid_character",
            "xml_invalid_character",
            "xml_schema_invalid", // ind2 U+0001, after the field's own problems
            "xml_invalid_character",
        ],
        "{problems:?}"
    );
    let p = &problems[1];
    assert_eq!(
        (p.tag.as_deref(), p.occurrence, p.subfield, p.offset),
        (Some("500"), Some(1), Some('a'), Some(2))
    );
    assert_eq!(p.bytes, b"\x1B");
    assert_eq!(p.control_number.as_deref(), Some("ocm 123"));
    assert_eq!(problems[2].offset, Some(6));
    assert_eq!(problems[2].bytes, "\u{FFFF}".as_bytes());
    let p = &problems[4];
    assert_eq!(
        (p.occurrence, p.subfield, p.offset),
        (Some(2), Some('b'), Some(1))
    );
    assert!(doc.contains("ind2=\"\u{FFFD}\""));
    assert!(doc.contains(">ab\u{FFFD}(Bc\u{FFFD}</subfield>"));
    // What was written reads back.
    let items = read_all(&doc);
    assert!(items[0].problems.is_empty(), "{:?}", items[0].problems);
}

#[test]
fn schema_invalid_values_are_kept_and_reported() {
    let rec = Record {
        leader: *b"00000n m  2200000   4500",
        fields: vec![
            Field {
                tag: "245".into(),
                data: FieldData::Data {
                    ind1: '#',
                    ind2: 'L',
                    subfields: vec![Subfield {
                        code: ' ',
                        value: "x".into(),
                    }],
                },
            },
            Field {
                tag: "005".into(),
                data: FieldData::Control("1999".into()),
            },
            Field {
                tag: "650".into(),
                data: FieldData::Data {
                    ind1: ' ',
                    ind2: '0',
                    subfields: vec![],
                },
            },
        ],
    };
    let (doc, problems) = collection_document(std::slice::from_ref(&rec));
    assert!(problems
        .iter()
        .all(|p| p.kind.as_str() == "xml_schema_invalid" && p.action.as_str() == "kept"));
    let where_: Vec<_> = problems
        .iter()
        .map(|p| (p.tag.clone(), p.message.clone()))
        .collect();
    assert_eq!(problems.len(), 6, "{where_:?}");
    assert!(problems[0].tag.is_none()); // the leader (position 6 is blank)
    let (back, read_problems) = only_record(&doc);
    assert!(read_problems.is_empty());
    assert_eq!(back, as_written(&rec));
}

#[test]
fn reads_prefixed_unprefixed_and_unqualified_documents() {
    let body = |p: &str| {
        format!(
            "<{p}record><{p}leader>00000nam a2200000   4500</{p}leader>\
             <{p}controlfield tag=\"001\">x1</{p}controlfield>\
             <{p}datafield tag=\"245\" ind1=\"0\" ind2=\"0\"><{p}subfield code=\"a\">T&#xE9;st &amp; &#233;&lt;&gt;&quot;&apos;</{p}subfield></{p}datafield>\
             </{p}record>"
        )
    };
    let docs = [
        format!("<collection xmlns=\"{NAMESPACE}\">{}</collection>", body("")),
        format!(
            "<?xml version='1.0'?><marc:collection xmlns:marc=\"{NAMESPACE}\">{}{}</marc:collection>",
            body("marc:"),
            body("marc:")
        ),
        body(""),
        // An undeclared prefix is taken as MARC.
        body("marc:"),
        // An envelope in another namespace around a namespaced record.
        format!(
            "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><record><metadata>\
             <record xmlns=\"{NAMESPACE}\">{}</record></metadata></record></OAI-PMH>",
            &body("")["<record>".len()..body("").len() - "</record>".len()]
        ),
    ];
    for doc in &docs {
        let items = read_all(doc);
        assert!(!items.is_empty(), "{doc}");
        for item in items {
            assert!(item.problems.is_empty(), "{doc}: {:?}", item.problems);
            let rec = item.record.unwrap();
            assert_eq!(rec.fields.len(), 2);
            assert_eq!(
                rec.fields[1].data,
                FieldData::Data {
                    ind1: '0',
                    ind2: '0',
                    subfields: vec![Subfield {
                        code: 'a',
                        value: "Tést & é<>\"'".into()
                    }]
                }
            );
        }
    }
}

#[test]
fn end_of_line_and_attribute_normalization_follow_xml() {
    let doc = "<record><leader>00000nam a2200000   4500</leader>\
               <datafield tag=\"500\" ind1=\"&#32;\" ind2=\"\t\"><subfield code=\"a\">a\r\nb\rc&#13;d<![CDATA[<&>]]></subfield></datafield></record>";
    let (rec, problems) = only_record(doc);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        rec.fields[0].data,
        FieldData::Data {
            ind1: ' ',
            ind2: ' ',
            subfields: vec![Subfield {
                code: 'a',
                value: "a\nb\nc\rd<&>".into()
            }]
        }
    );
}

#[test]
fn bad_structure_is_reported_positioned() {
    let doc = "<collection>\n<record>\n<leader>short</leader>\
        <controlfield>no tag</controlfield>\
        <controlfield tag=\"001\">id7</controlfield>\
        <datafield tag=\"245\" ind1=\"10\"><subfield code=\"a\">x</subfield><subfield>lost</subfield>\
        <subfield code=\"bc\">y</subfield><foo>z</foo>stray</datafield>\
        <datafield tag=\"245\" ind1=\" \" ind2=\" \"><subfield code=\"a\">&nbsp;</subfield></datafield>\
        <bogus/>\n</record>\n<leader>outside</leader></collection>";
    let items = read_all(doc);
    assert_eq!(items.len(), 2, "{items:?}");
    let item = &items[0];
    assert_eq!(item.number, 1);
    assert_eq!(item.offset, 13);
    let rec = item.record.as_ref().unwrap();
    assert_eq!(&rec.leader, b"short                   ");
    assert_eq!(rec.fields.len(), 3);
    let got: Vec<_> = item
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
            ("xml_bad_leader", "replaced", None, None, None),
            ("xml_missing_attribute", "skipped", None, None, None),
            ("xml_bad_attribute", "replaced", Some("245"), Some(1), None),
            (
                "xml_missing_attribute",
                "replaced",
                Some("245"),
                Some(1),
                None
            ),
            (
                "xml_missing_attribute",
                "skipped",
                Some("245"),
                Some(1),
                None
            ),
            (
                "xml_bad_attribute",
                "replaced",
                Some("245"),
                Some(1),
                Some('b')
            ),
            (
                "xml_unexpected_element",
                "skipped",
                Some("245"),
                Some(1),
                None
            ),
            ("xml_unexpected_text", "skipped", Some("245"), Some(1), None),
            (
                "xml_unknown_entity",
                "kept_as_text",
                Some("245"),
                Some(2),
                Some('a')
            ),
            ("xml_unexpected_element", "skipped", None, None, None),
        ],
        "{:#?}",
        item.problems
    );
    assert!(item
        .problems
        .iter()
        .all(|p| p.control_number.as_deref() == Some("id7")));
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
            ]
        }
    );
    let outside = &items[1];
    assert!(outside.record.is_none());
    assert_eq!(kinds(&outside.problems), ["xml_unexpected_element"]);
}

#[test]
fn a_record_cut_short_is_rejected_and_reading_stops() {
    let good = "<record><leader>00000nam a2200000   4500</leader></record>";
    let doc = format!("<collection>{good}{good}<record><leader>00000nam a2200000   4500</leader><datafield tag=\"245\"");
    let items = read_all(&doc);
    assert_eq!(items.len(), 3);
    assert!(items[0].record.is_some() && items[1].record.is_some());
    assert!(items[2].record.is_none());
    assert_eq!(items[2].number, 3);
    assert_eq!(kinds(&items[2].problems), ["xml_syntax"]);
    assert_eq!(items[2].problems[0].action.as_str(), "rejected");
    // Mismatched end tags too.
    let items = read_all(
        "<collection><record><leader>00000nam a2200000   4500</leader></datafield></record></collection>",
    );
    assert_eq!(kinds(&items.last().unwrap().problems), ["xml_syntax"]);
}

#[test]
fn a_record_without_leader_gets_a_default_one() {
    let (rec, problems) = only_record("<record/>");
    assert_eq!(rec.leader, DEFAULT_LEADER);
    assert_eq!(kinds(&problems), ["xml_bad_leader"]);
    assert!(rec.fields.is_empty());
}

#[test]
fn other_encodings_are_refused() {
    let items = read_all("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><collection/>");
    assert_eq!(kinds(&items[0].problems), ["xml_encoding"]);
    assert_eq!(items.len(), 1);
}

#[test]
fn invalid_utf8_is_replaced_and_reported() {
    let doc = b"<record><leader>00000nam a2200000   4500</leader><controlfield tag=\"001\">a\xFFb</controlfield></record>";
    let items: Vec<_> = XmlReader::new(&doc[..]).collect();
    let rec = items[0].record.as_ref().unwrap();
    assert_eq!(rec.fields[0].data, FieldData::Control("a\u{FFFD}b".into()));
    assert_eq!(kinds(&items[0].problems), ["invalid_utf8"]);
    assert_eq!(items[0].problems[0].tag.as_deref(), Some("001"));
}

#[test]
fn streams_a_large_collection_one_record_at_a_time() {
    let mut doc = String::from(COLLECTION_START);
    let rec = sample();
    let n = 2000;
    let mut problems = Vec::new();
    for i in 0..n {
        write_record(&rec, &mut doc, i + 1, false, &mut problems);
    }
    doc.push_str(COLLECTION_END);
    let mut count = 0;
    for item in XmlReader::new(std::io::BufReader::with_capacity(64, doc.as_bytes())) {
        assert!(item.problems.is_empty());
        assert_eq!(item.record.unwrap(), as_written(&rec));
        count += 1;
    }
    assert_eq!(count, n);
}

// ------------------------------------------------------------------------------------------------
// Properties

fn xml_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::char::range(' ', '~'),
            1 => prop::sample::select(vec!['\t', '\n', '\r', '&', '<', '>', '"', '\'', ']']),
            2 => any::<char>().prop_filter("XML char", |c| is_xml_char(*c)),
        ],
        0..12,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn xml_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => any::<char>().prop_filter("XML char", |c| is_xml_char(*c)),
    ]
}

pub(crate) fn field(
    text: BoxedStrategy<String>,
    ch: BoxedStrategy<char>,
) -> impl Strategy<Value = Field> {
    let tag =
        proptest::collection::vec(ch.clone(), 3).prop_map(|v| v.into_iter().collect::<String>());
    let control = text.clone().prop_map(FieldData::Control);
    let sub = (ch.clone(), text).prop_map(|(code, value)| Subfield { code, value });
    let data = (ch.clone(), ch, proptest::collection::vec(sub, 0..5)).prop_map(
        |(ind1, ind2, subfields)| FieldData::Data {
            ind1,
            ind2,
            subfields,
        },
    );
    (tag, prop_oneof![control, data]).prop_map(|(tag, data)| Field { tag, data })
}

pub(crate) fn record(
    text: BoxedStrategy<String>,
    ch: BoxedStrategy<char>,
) -> impl Strategy<Value = Record> {
    (
        proptest::collection::vec(0x20u8..0x7F, 24),
        proptest::collection::vec(field(text, ch), 0..8),
    )
        .prop_map(|(l, fields)| {
            let mut leader = [0u8; 24];
            leader.copy_from_slice(&l);
            Record { leader, fields }
        })
}

proptest! {
    #[test]
    fn model_to_xml_to_model(recs in proptest::collection::vec(record(xml_text().boxed(), xml_char().boxed()), 0..4)) {
        let (doc, problems) = collection_document(&recs);
        prop_assert!(problems.iter().all(|p| matches!(p.kind.as_str(), "xml_schema_invalid" | "bad_leader")), "{:?}", problems);
        let items: Vec<_> = XmlReader::new(doc.as_bytes()).collect();
        prop_assert_eq!(items.len(), recs.len());
        for (item, rec) in items.into_iter().zip(&recs) {
            prop_assert!(item.problems.is_empty(), "{:?}\n{}", item.problems, doc);
            prop_assert_eq!(item.record.unwrap(), as_written(rec));
        }
        // The single-record form too.
        if let Some(rec) = recs.first() {
            let (doc, _) = record_document(rec);
            let items: Vec<_> = XmlReader::new(doc.as_bytes()).collect();
            prop_assert_eq!(items[0].record.as_ref(), Some(&as_written(rec)));
        }
    }

    #[test]
    fn any_text_gives_well_formed_xml(rec in record(
        proptest::collection::vec(any::<char>(), 0..12).prop_map(|v| v.into_iter().collect()).boxed(),
        any::<char>().boxed())) {
        let (doc, problems) = record_document(&rec);
        // Whatever the text, the document reads back, and every replaced character was reported.
        let items: Vec<_> = XmlReader::new(doc.as_bytes()).collect();
        prop_assert_eq!(items.len(), 1);
        prop_assert!(items[0].problems.is_empty(), "{:?}", items[0].problems);
        let replaced = problems.iter().filter(|p| p.kind.as_str() == "xml_invalid_character").count();
        let bad = rec.fields.iter().map(|f| {
            let count = |s: &str| s.chars().filter(|c| !is_xml_char(*c)).count();
            count(&f.tag) + match &f.data {
                FieldData::Control(s) => count(s),
                FieldData::Data { ind1, ind2, subfields } => usize::from(!is_xml_char(*ind1))
                    + usize::from(!is_xml_char(*ind2))
                    + subfields.iter().map(|s| usize::from(!is_xml_char(s.code)) + count(&s.value)).sum::<usize>(),
            }
        }).sum::<usize>();
        prop_assert_eq!(replaced, bad);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for _ in XmlReader::new(&bytes[..]) {}
    }

    #[test]
    fn mangled_documents_never_panic(cut in 0usize..400, junk in proptest::collection::vec(any::<u8>(), 0..6)) {
        let (doc, _) = collection_document(&[sample(), sample()]);
        let mut bytes = doc.into_bytes();
        let cut = cut.min(bytes.len());
        bytes.splice(cut..cut, junk);
        for _ in XmlReader::new(&bytes[..]) {}
        bytes.truncate(cut);
        for _ in XmlReader::new(&bytes[..]) {}
    }
}

// ------------------------------------------------------------------------------------------------
// Writing straight from ISO 2709 bytes (issue 22)

/// An ISO 2709 record of `fields` (tag, data without terminator) with leader/09 `enc`.
fn iso(enc: u8, fields: &[(&[u8; 3], Vec<u8>)]) -> Vec<u8> {
    let base = 24 + 12 * fields.len() + 1;
    let (mut dir, mut data) = (Vec::new(), Vec::new());
    for (tag, d) in fields {
        dir.extend_from_slice(*tag);
        dir.extend_from_slice(format!("{:04}{:05}", d.len() + 1, data.len()).as_bytes());
        data.extend_from_slice(d);
        data.push(0x1E);
    }
    let total = base + data.len() + 1;
    let mut out = format!("{total:05}nam {}22{base:05} a 4500", char::from(enc)).into_bytes();
    out.extend_from_slice(&dir);
    out.push(0x1E);
    out.extend_from_slice(&data);
    out.push(0x1D);
    out
}

/// What the model path writes for `raw` (record number 7 at offset 99), and its problems.
fn through_model(raw: &[u8], opts: &crate::model::ReadOptions) -> (Vec<u8>, Vec<RecordProblem>) {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    if let Some((rec, _)) = Record::from_iso2709(raw, opts, 7, 99, &mut problems) {
        let fields: Vec<&Field> = rec.fields.iter().collect();
        MarcXmlSink::default().record(&rec.leader, &fields, 7, 99, &mut out, &mut problems);
    }
    (out, problems)
}

/// `write_raw_utf8` either declines (appending nothing) or writes exactly what the model path
/// writes, and only for a record the model path reports nothing about. Returns whether it wrote.
fn raw_agrees(raw: &[u8], opts: &crate::model::ReadOptions) -> bool {
    let mut out = b"before".to_vec();
    let wrote = write_raw_utf8(raw, opts, 7, 99, &mut out);
    let (model, problems) = through_model(raw, opts);
    if wrote {
        assert!(
            problems.is_empty(),
            "written straight although the model reports {problems:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&out[6..]),
            String::from_utf8_lossy(&model)
        );
    } else {
        assert_eq!(out, b"before");
    }
    wrote
}

#[test]
fn plain_records_are_written_straight_from_their_bytes_as_the_model_writes_them() {
    let opts = crate::model::ReadOptions::default();
    let plain: Vec<(&[u8; 3], Vec<u8>)> = vec![
        (b"001", b"  123 ".to_vec()),
        (b"008", b"900101s1990    xx a&b<c>\"d".to_vec()),
        (
            b"245",
            "10\x1faT\u{e9}st & <x> \"q\"\x1fc\x1f\""
                .as_bytes()
                .to_vec(),
        ),
        (b"880", "00\x1fa\u{4e2d}\u{6587}\x1fb".as_bytes().to_vec()),
    ];
    assert!(raw_agrees(&iso(b'a', &plain), &opts));
    // Plain ASCII read as MARC-8.
    let ascii: Vec<(&[u8; 3], Vec<u8>)> =
        vec![(b"001", b"9".to_vec()), (b"245", b"00\x1faA b".to_vec())];
    assert!(raw_agrees(&iso(b' ', &ascii), &opts));
    // Written straight since i22-xml2: U+00A0-U+00BF, U+0098 and U+009C (0xC2 leads them; the
    // model reads them through the record layer's converter, which leaves them and reports
    // nothing), and field 066 (read, not written, left out of the leader's lengths), wherever
    // it stands.
    let also: Vec<Vec<(&[u8; 3], Vec<u8>)>> = vec![
        vec![(
            b"245",
            "10\x1fa\u{a0}\u{bf}x\x1fb\u{98}\u{9c}".as_bytes().to_vec(),
        )],
        vec![(b"008", "\u{b0}\u{a9}".as_bytes().to_vec())],
        vec![(b"066", b"  \x1fa(3".to_vec())],
        vec![
            (b"001", b"1".to_vec()),
            (b"066", b"  \x1fc$1\x1fa(N".to_vec()),
            (b"245", b"10\x1faA".to_vec()),
            (b"066", b"  \x1fb)3".to_vec()),
            (b"880", "10\x1fa\u{4e2d}".as_bytes().to_vec()),
        ],
        // A control field after 066 only: the model skips 066 before it looks for a control
        // field after a data field.
        vec![(b"066", b"  \x1fa(3".to_vec()), (b"005", b"1".to_vec())],
    ];
    for fields in &also {
        assert!(raw_agrees(&iso(b'a', fields), &opts), "{fields:?}");
    }
    // Each of these is left to the model path.
    let declined: Vec<Vec<(&[u8; 3], Vec<u8>)>> = vec![
        vec![(b"001", b"1\x1f2".to_vec())],
        vec![(b"245", b"10\x1fa\x1e".to_vec())],
        vec![(b"245", b"10\x1fa\r".to_vec())],
        vec![(b"245", "10\x1fa\u{fffe}".as_bytes().to_vec())],
        vec![(b"245", "10\x1fa\u{85}".as_bytes().to_vec())],
        vec![(b"008", "\u{9f}".as_bytes().to_vec())],
        vec![(b"245", "10\x1fa\u{80}".as_bytes().to_vec())],
        vec![(b"245", b"10\x1fa\xc2".to_vec())],
        vec![(b"245", b"10\x1fa\xc2\x1fb".to_vec())],
        vec![(b"245", b"10\x1fa\x7f".to_vec())],
        vec![(b"245", b"10\x1fa\xed\xa0\x80".to_vec())],
        vec![(b"245", b"10\x1fa\xe0\x80\xaf".to_vec())],
        vec![(b"245", b"10\x1fa\xf4\x90\x80\x80".to_vec())],
        vec![(b"245", b"10\x1fa\xc1\xbf".to_vec())],
        vec![(b"245", "10\x1faabcdefgh\u{ffff}".as_bytes().to_vec())],
        vec![(b"066", b"  \x1fa\r".to_vec())],
        vec![(b"066", b"  x\x1fa(3".to_vec())],
        vec![(b"066", b"  \x1fa\x1b(3".to_vec())],
        vec![(b"066", b"  \x1fa\xff".to_vec())],
        vec![(b"245", b"10\x1fa\xff".to_vec())],
        vec![(b"245", b"10x\x1faA".to_vec())],
        vec![(b"245", b"10\x1faA\x1f".to_vec())],
        vec![(b"245", b"10".to_vec())],
        vec![(b"245", b"1A\x1faA".to_vec())],
        vec![(b"245", b"10\x1f aA".to_vec())],
        vec![(b"245", b"10\x1faA".to_vec()), (b"005", b"1".to_vec())],
        vec![(b"0aB", b"10\x1faA".to_vec())],
    ];
    for fields in &declined {
        assert!(!raw_agrees(&iso(b'a', fields), &opts), "{fields:?}");
    }
    // MARC-8 that is not plain ASCII.
    let marc8: Vec<(&[u8; 3], Vec<u8>)> = vec![(b"245", b"10\x1faT\xe2est".to_vec())];
    assert!(!raw_agrees(&iso(b' ', &marc8), &opts));
    // A damaged directory, a bad leader.
    let mut raw = iso(b'a', &plain);
    raw[30] = b'x';
    raw_agrees(&raw, &opts);
    let mut raw = iso(b'a', &plain);
    raw[20] = b'9';
    assert!(!raw_agrees(&raw, &opts));
}

proptest! {
    #[test]
    fn raw_writing_agrees_with_the_model(
        enc in prop_oneof![Just(b'a'), Just(b' ')],
        fields in proptest::collection::vec((
            prop_oneof![Just(*b"001"), Just(*b"008"), Just(*b"066"), Just(*b"245"), Just(*b"880"), Just(*b"A10")],
            proptest::collection::vec(prop_oneof![
                Just(b'a'), Just(b'1'), Just(b' '), Just(0x1F), Just(0x1E), Just(b'&'), Just(b'<'),
                Just(b'"'), Just(b'\r'), Just(0x1B), Just(0xC3), Just(0xA9), Just(0xEF), Just(0xBF),
                Just(0xBE), Just(0xE2), Just(0xC2), Just(0xA0), Just(0x98), Just(0x9C), Just(0x85),
                Just(0x7F), Just(b'>'), Just(0xE4), Just(0xB8), Just(0xAD), Just(0x1D),
            ], 0..40),
        ), 0..5),
    ) {
        let fields: Vec<(&[u8; 3], Vec<u8>)> = fields.iter().map(|(t, d)| (t, d.clone())).collect();
        for opts in [
            crate::model::ReadOptions::default(),
            crate::model::ReadOptions {
                decode: crate::decoder::DecodeOptions { expand_ncr: true, ..Default::default() },
                ..Default::default()
            },
        ] {
            raw_agrees(&iso(enc, &fields), &opts);
        }
    }
}

#[test]
fn the_direct_writers_code_table_is_the_schemas_code_pattern() {
    for b in 0..=255u8 {
        let in_schema = b.is_ascii() && super::schema::code_in_schema(char::from(b));
        assert_eq!(
            super::direct::CODE_CLASS[usize::from(b)] != 0,
            in_schema,
            "{b:#04x}"
        );
        assert_eq!(
            super::direct::CODE_CLASS[usize::from(b)] == 2,
            matches!(b, b'"' | b'&' | b'<' | b'>'),
            "{b:#04x}"
        );
    }
}

/// A field for [`raw_writing_agrees_with_the_model_on_text`]: a tag, then either a control
/// field's text or indicators and subfields (code, text), from characters that exercise every
/// case of the direct writer's scan.
fn text_field() -> impl Strategy<Value = ([u8; 3], Vec<u8>)> {
    let text = proptest::collection::vec(
        prop_oneof![
            16 => proptest::char::range('a', 'z'),
            1 => proptest::sample::select(vec![
                ' ', '&', '<', '>', '"', '\'', '\t', '\r', '\n', '\u{1b}', '\u{7f}', '\u{1e}',
                '\u{1d}', 'é', '\u{a0}', '\u{bf}', '\u{98}', '\u{9c}', '\u{85}', '\u{9f}',
                '\u{80}', '中', 'Ж', '\u{fffd}', '\u{fffe}', '\u{ffff}', '\u{feff}', '😀',
                '\u{10ffff}', '\u{300}',
            ]),
        ],
        0..30,
    )
    .prop_map(|cs| cs.into_iter().collect::<String>().into_bytes());
    let tag = proptest::sample::select(vec![
        *b"001", *b"005", *b"008", *b"066", *b"100", *b"245", *b"880", *b"0AB", *b"000",
    ]);
    let code = proptest::sample::select(vec![b'a', b'b', b'6', b'&', b'"', b'<', b'>', b' ', b'|']);
    let ind = proptest::sample::select(vec![b' ', b'0', b'1', b'a', b'A', b'#']);
    (
        tag,
        ind.clone(),
        ind,
        proptest::collection::vec((code, text.clone()), 0..4),
        text,
    )
        .prop_map(|(tag, i1, i2, subfields, text)| {
            if tag.starts_with(b"00") {
                (tag, text)
            } else {
                let mut data = vec![i1, i2];
                for (code, value) in subfields {
                    data.push(0x1F);
                    data.push(code);
                    data.extend_from_slice(&value);
                }
                (tag, data)
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]
    /// Records of mostly valid text (where the direct writer takes most of them) agree with the
    /// model path byte for byte, or are declined.
    #[test]
    fn raw_writing_agrees_with_the_model_on_text(
        enc in prop_oneof![4 => Just(b'a'), 1 => Just(b' ')],
        fields in proptest::collection::vec(text_field(), 0..8),
        expand_ncr in any::<bool>(),
    ) {
        let fields: Vec<(&[u8; 3], Vec<u8>)> = fields.iter().map(|(t, d)| (t, d.clone())).collect();
        let opts = crate::model::ReadOptions {
            decode: crate::decoder::DecodeOptions { expand_ncr, ..Default::default() },
            ..Default::default()
        };
        raw_agrees(&iso(enc, &fields), &opts);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]
    /// Records damaged anywhere (leader, directory, terminators, data) never make the direct
    /// writer panic or write what the model path would not.
    #[test]
    fn raw_writing_agrees_with_the_model_on_damaged_records(
        fields in proptest::collection::vec(text_field(), 1..6),
        damage in proptest::collection::vec((any::<proptest::sample::Index>(), prop_oneof![
            Just(0x1D), Just(0x1E), Just(0x1F), Just(b'0'), Just(b'9'), Just(b'a'), Just(b' '),
            Just(0xC3), Just(0x80), any::<u8>(),
        ]), 0..3),
        cut in proptest::option::of(any::<proptest::sample::Index>()),
    ) {
        let fields: Vec<(&[u8; 3], Vec<u8>)> = fields.iter().map(|(t, d)| (t, d.clone())).collect();
        let mut raw = iso(b'a', &fields);
        for (at, b) in damage {
            let i = at.index(raw.len());
            raw[i] = b;
        }
        if let Some(cut) = cut {
            raw.truncate(cut.index(raw.len()));
        }
        raw_agrees(&raw, &crate::model::ReadOptions::default());
    }
}
