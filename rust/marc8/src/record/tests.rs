use super::*;
use proptest::prelude::*;

/// Builds a record from (tag, data) pairs with a blank or `a` leader/09.
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

fn to_utf8() -> RecordOptions {
    RecordOptions::new(Target::Utf8)
}

#[test]
fn marc8_to_utf8_and_back() {
    let m8 = record(
        false,
        &[
            ("001", b"ocm123"),
            ("066", b"  \x1fc(N"),
            ("245", b"10\x1faCaf\xe2e :\x1fb\x1b(N\x6d\x4f\x53\x1b(B."),
        ],
    );
    let c = transcode_record(&m8, &to_utf8(), 1, 0);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    let u = c.record.unwrap();
    let parsed = parse(&u).unwrap();
    assert_eq!(parsed.leader[9], b'a');
    assert_eq!(parsed.fields.len(), 2, "066 dropped");
    assert_eq!(
        parsed.fields[1].data,
        "10\x1faCafe\u{301} :\x1fbМос.".as_bytes()
    );
    assert_eq!(&u[..5], format!("{:05}", u.len()).as_bytes());
    let back = transcode_record(&u, &RecordOptions::new(Target::Marc8), 1, 0);
    let b = back.record.unwrap();
    let parsed = parse(&b).unwrap();
    assert_eq!(parsed.leader[9], b' ');
    assert_eq!(parsed.fields[1].tag, *b"066");
    assert_eq!(parsed.fields[1].data, b"  \x1fc(N");
    // The same text (the encoder keeps "." in Cyrillic, where the input went back to ASCII).
    let again = transcode_record(&b, &to_utf8(), 1, 0).record.unwrap();
    assert_eq!(again, u);
}

#[test]
fn problems_are_positioned() {
    let m8 = record(
        false,
        &[
            ("001", b"x1"),
            ("500", b"  \x1faok\x1fbba\xafd"),
            ("500", b"  \x1fa\x1b(Zq"),
        ],
    );
    let c = transcode_record(&m8, &to_utf8(), 7, 1234);
    let got: Vec<_> = c
        .problems
        .iter()
        .map(|p| {
            (
                p.record,
                p.record_offset,
                p.control_number.as_deref(),
                p.tag.as_deref(),
                p.occurrence,
                p.subfield,
                p.offset,
                p.field_offset,
                p.kind.as_str(),
                p.action.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                7,
                1234,
                Some("x1"),
                Some("500"),
                Some(1),
                Some('b'),
                Some(2),
                Some(10),
                "unmapped_byte",
                "replaced"
            ),
            (
                7,
                1234,
                Some("x1"),
                Some("500"),
                Some(2),
                Some('a'),
                Some(0),
                Some(4),
                "unknown_escape",
                "replaced"
            ),
        ]
    );
    let strict = RecordOptions {
        decode: DecodeOptions::default(),
        ..to_utf8()
    };
    let c = transcode_record(&m8, &strict, 7, 1234);
    assert!(c.record.is_none());
    assert!(c.problems.iter().all(|p| p.action.as_str() == "rejected"));
}

#[test]
fn oversize_field_is_rejected_not_corrupted() {
    let big = [0xE2u8, b'a'].repeat(4000); // 8,000 bytes of MARC-8, 12,000 of UTF-8
    let mut data = b"  \x1fa".to_vec();
    data.extend_from_slice(&big);
    let m8 = record(false, &[("500", &data)]);
    let c = transcode_record(&m8, &to_utf8(), 1, 0);
    assert!(c.record.is_none());
    assert_eq!(c.problems.last().unwrap().kind.as_str(), "field_too_long");
}

#[test]
fn mislabelled_records() {
    let u = record(false, &[("245", "10\x1faМосква".as_bytes())]);
    let c = transcode_record(&u, &to_utf8(), 1, 0);
    assert_eq!(c.problems[0].kind.as_str(), "mislabelled");
    assert_eq!(c.problems[0].action.as_str(), "trusted_leader");
    let trusting = RecordOptions {
        trust: Trust::Data,
        ..to_utf8()
    };
    let c = transcode_record(&u, &trusting, 1, 0);
    assert_eq!(c.problems.len(), 1);
    assert_eq!(c.problems[0].action.as_str(), "trusted_data");
    assert_eq!(
        parse(&c.record.unwrap()).unwrap().fields[0].data,
        "10\x1faМосква".as_bytes()
    );
}

/// Issue 11 item 3: one invalid sequence in a UTF-8 record is damage, not MARC-8. Trusting the
/// data, the record stays UTF-8; the bad bytes become U+FFFD, reported with their place.
#[test]
fn one_bad_sequence_does_not_make_a_utf8_record_marc8() {
    let u = record(
        true,
        &[
            ("001", b"n1"),
            ("245", b"10\x1faCaf\xc3\xa9 ok and BA\xe0\xa4TF"),
        ],
    );
    for trust in [Trust::Data, Trust::Leader] {
        let opts = RecordOptions { trust, ..to_utf8() };
        let c = transcode_record(&u, &opts, 1, 0);
        let kinds: Vec<_> = c.problems.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["invalid_utf8"], "{trust:?}: {:?}", c.problems);
        let p = &c.problems[0];
        assert_eq!(p.tag.as_deref(), Some("245"));
        assert_eq!(p.subfield, Some('a'));
        assert_eq!(p.offset, Some(15), "byte offset in the subfield");
        assert_eq!(p.field_offset, Some(19), "byte offset in the field");
        assert_eq!(p.bytes, b"\xe0\xa4");
        assert_eq!(p.action.as_str(), "replaced");
        assert_eq!(
            parse(&c.record.unwrap()).unwrap().fields[1].data,
            "10\x1faCafé ok and BA\u{FFFD}TF".as_bytes()
        );
    }
}

#[test]
fn classify_weighs_invalid_against_valid_utf8() {
    let looks = |data: &[u8]| classify(&[RawField { tag: *b"245", data }]);
    assert_eq!(looks(b"10\x1faPlain"), Looks::Ascii);
    assert_eq!(looks("10\x1faCafé".as_bytes()), Looks::Utf8);
    // As many bytes in valid characters as in bad sequences: damaged UTF-8.
    assert_eq!(looks(b"10\x1faCaf\xc3\xa9 BA\xe0\xa4TF"), Looks::MostlyUtf8);
    assert_eq!(looks("10\x1faМосква \u{2014}".as_bytes()), Looks::Utf8);
    assert_eq!(
        looks(b"10\x1fa\xd0\x9c\xd0\xbe\xd1\x81 \xff"),
        Looks::MostlyUtf8
    );
    // MARC-8 diacritics and specials: invalid UTF-8 throughout.
    assert_eq!(looks(b"10\x1faCaf\xe2e"), Looks::NotUtf8);
    assert_eq!(
        looks(b"10\x1faCaf\xc3\xa9 \xe2e \xe2a \xb1"),
        Looks::NotUtf8
    );
    // A MARC-8 designation outweighs everything.
    assert_eq!(
        looks("10\x1faCafé \x1b(NmOS\x1b(B".as_bytes()),
        Looks::NotUtf8
    );
    // Counted over the whole record, not field by field.
    let fields = [
        RawField {
            tag: *b"100",
            data: "1 \x1faДостоевский".as_bytes(),
        },
        RawField {
            tag: *b"245",
            data: b"10\x1faBA\xe0\xa4TF",
        },
    ];
    assert_eq!(classify(&fields), Looks::MostlyUtf8);
}

#[test]
fn damaged_utf8_under_a_marc8_leader_is_read_as_utf8_when_trusting_the_data() {
    // Issue 18: leader/09 blank and UTF-8 text with one bad sequence is mislabelled damaged
    // UTF-8, as it is under leader/09 `a` (it was read as MARC-8 before).
    let m = record(false, &[("245", b"10\x1faCaf\xc3\xa9 BA\xe0\xa4TF")]);
    let trusting = RecordOptions {
        trust: Trust::Data,
        ..to_utf8()
    };
    let c = transcode_record(&m, &trusting, 1, 0);
    let kinds: Vec<_> = c
        .problems
        .iter()
        .map(|p| (p.kind.as_str(), p.action.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("mislabelled", "trusted_data"),
            ("invalid_utf8", "replaced")
        ]
    );
    let out = c.record.unwrap();
    assert_eq!(out[9], b'a');
    assert_eq!(
        parse(&out).unwrap().fields[0].data,
        "10\x1faCafé BA\u{FFFD}TF".as_bytes()
    );
    // Trusting the leader it is still read as MARC-8, and the mislabelling is reported.
    let c = transcode_record(&m, &to_utf8(), 1, 0);
    assert_eq!(c.problems[0].kind.as_str(), "mislabelled");
    assert_eq!(c.problems[0].action.as_str(), "trusted_leader");
    // MARC-8 under a blank leader/09 (diacritics before ASCII letters: no valid multibyte
    // character at all) is not touched.
    let m8 = record(false, &[("245", b"10\x1faCaf\xe2e \xe8A ngstro\xe8m \xb1")]);
    let c = transcode_record(&m8, &trusting, 1, 0);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
}

#[test]
fn splitting_recovers_and_reports() {
    let a = record(false, &[("001", b"a")]);
    let b = record(false, &[("001", b"b")]);
    let mut lying = b.clone();
    lying[..5].copy_from_slice(b"00999");
    let mut buf = a.clone();
    buf.extend_from_slice(b"\r\nJUNK!");
    buf.extend_from_slice(&lying);
    buf.extend_from_slice(&a[..30]);
    let (records, problems) = split_records(&buf);
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].1, a.len() + 2 + 5);
    let kinds: Vec<_> = problems
        .iter()
        .map(|p| (p.kind.as_str(), p.record, p.record_offset))
        .collect();
    assert_eq!(
        kinds,
        [
            ("garbage", 2, (a.len() + 2) as u64),
            ("length_mismatch", 2, (a.len() + 7) as u64),
            ("truncated_record", 3, (a.len() + 7 + b.len()) as u64),
        ]
    );
}

#[test]
fn directory_recovered_from_terminators() {
    let mut m8 = record(false, &[("001", b"a"), ("245", b"10\x1faT")]);
    // Break the second entry's length.
    m8[24 + 12 + 3..24 + 12 + 7].copy_from_slice(b"0099");
    let c = transcode_record(&m8, &to_utf8(), 1, 0);
    assert_eq!(c.problems[0].kind.as_str(), "bad_directory");
    assert_eq!(c.problems[0].action.as_str(), "recovered");
    assert_eq!(
        parse(&c.record.unwrap()).unwrap().fields[1].data,
        b"10\x1faT"
    );
}

#[test]
fn a_bad_base_address_is_recovered_from_the_terminators() {
    let mut m8 = record(false, &[("001", b"a"), ("245", b"10\x1faT")]);
    m8[12..17].copy_from_slice(b"f0037");
    let c = transcode_record(&m8, &to_utf8(), 1, 0);
    assert_eq!(c.problems[0].kind.as_str(), "bad_directory");
    assert_eq!(c.problems[0].action.as_str(), "recovered");
    assert_eq!(
        parse(&c.record.unwrap()).unwrap().fields[1].data,
        b"10\x1faT"
    );
}

#[test]
fn leader_fixed_values_and_bytes_are_repaired() {
    let mut m8 = record(false, &[("001", b"a")]);
    m8[10..12].copy_from_slice(b"  ");
    m8[20..24].copy_from_slice(b"  \x920");
    m8[6] = 0xE1;
    let c = transcode_record(&m8, &to_utf8(), 3, 9);
    let p = &c.problems[0];
    assert_eq!(
        (
            p.kind.as_str(),
            p.action.as_str(),
            p.record,
            p.record_offset
        ),
        ("bad_leader", "recovered", 3, 9)
    );
    let out = c.record.unwrap();
    assert_eq!(&out[10..12], b"22");
    assert_eq!(&out[20..24], b"4500");
    assert_eq!(out[6], b' ');
    assert!(out[..24].is_ascii());
}

#[test]
fn field_too_long_names_the_field() {
    let big = [0xE2u8, b'a'].repeat(4000);
    let mut data = b"  \x1fa".to_vec();
    data.extend_from_slice(&big);
    let m8 = record(false, &[("500", b"  \x1faok"), ("500", &data)]);
    let c = transcode_record(&m8, &to_utf8(), 1, 0);
    let p = c.problems.last().unwrap();
    assert_eq!(
        (p.kind.as_str(), p.tag.as_deref(), p.occurrence),
        ("field_too_long", Some("500"), Some(2))
    );
}

#[test]
fn invalid_utf8_is_reported_as_such() {
    let u = record(true, &[("245", b"10\x1faCaf\xe9 ok")]);
    let c = transcode_record(&u, &to_utf8(), 1, 0);
    let kinds: Vec<_> = c
        .problems
        .iter()
        .map(|p| (p.kind.as_str(), p.offset, p.subfield))
        .collect();
    assert!(
        kinds.contains(&("invalid_utf8", Some(3), Some('a'))),
        "{kinds:?}"
    );
    assert_eq!(
        parse(&c.record.unwrap()).unwrap().fields[0].data,
        "10\x1faCaf\u{fffd} ok".as_bytes()
    );
}

#[test]
fn layout_says_what_each_directory_entry_describes() {
    let good = record(true, &[("001", b"n1"), ("245", b"10\x1faText")]);
    let l = Layout::read(&good).unwrap();
    assert!(l.terminated);
    assert_eq!((l.length, l.base), (Some(good.len()), Some(l.data_start())));
    let fields: Vec<_> = l.entries().map(|e| (e.tag(), e.field)).collect();
    assert_eq!(
        fields,
        [
            (Some(*b"001"), Ok(&b"n1"[..])),
            (Some(*b"245"), Ok(&b"10\x1faText"[..]))
        ]
    );
    // Each fault of an entry, and a directory that is not a multiple of 12.
    let mut bad = good.clone();
    bad[24 + 3] = b'x'; // 001's length
    bad[24 + 12 + 5] = b'9'; // 245's length 0099: past the end of the data
    let l = Layout::read(&bad).unwrap();
    let faults: Vec<_> = l.entries().map(|e| e.field.err()).collect();
    assert_eq!(faults[0], Some(EntryFault::NotDigits));
    assert_eq!(
        faults[1],
        Some(EntryFault::OutOfRecord { len: 99, start: 3 })
    );
    let mut short = good.clone();
    short[24 + 12 + 6] = b'8'; // 245's length 0008: its last byte is not the terminator
    let l = Layout::read(&short).unwrap();
    assert_eq!(
        l.entries().nth(1).unwrap().field,
        Err(EntryFault::NoTerminator { len: 8, last: b't' })
    );
    assert!(!Layout::read(&good[..good.len() - 1]).unwrap().terminated);
    assert_eq!(Layout::read(&good[..20]), Err(LayoutError::NoLeader));
    assert!(matches!(
        Layout::read(&good[..30]),
        Err(LayoutError::NoDirectoryEnd { .. })
    ));
}

/// The record converted field by field (the path a record takes when only some of its fields
/// are kept: here all of them) and as a whole: bytes written, kept or not, and problems.
fn both_paths(raw: &[u8], opts: &RecordOptions) -> [(bool, Vec<u8>, Vec<RecordProblem>); 2] {
    let all = |_: &[u8; 3]| true;
    [None, Some(&all as &dyn Fn(&[u8; 3]) -> bool)].map(|keep| {
        let job = Job {
            opts,
            keep,
            at: Place::new(7, 700),
        };
        let (mut out, mut problems) = (Vec::new(), Vec::new());
        let ok = transcode_parsed(
            raw,
            parse(raw),
            &job,
            &mut Scratch::default(),
            &mut out,
            &mut problems,
        );
        (ok, out, problems)
    })
}

#[test]
fn a_plain_record_copied_as_it_stands_is_what_the_field_by_field_path_writes() {
    let plain = record(
        false,
        &[
            ("001", b" n 42 "),
            ("245", b"10\x1faPlain title /\x1fcby someone."),
            ("650", b" 0\x1faSubject."),
        ],
    );
    let mut cases: Vec<Vec<u8>> = vec![plain.clone()];
    // A record without fields.
    cases.push(record(true, &[]));
    // Leader lengths that lie, a base address off by one (the directory's terminator).
    for (at, by) in [(4, b'9'), (16, b'4'), (16, b'6')] {
        let mut r = plain.clone();
        r[at] = by;
        cases.push(r);
    }
    // Fixed leader positions to repair, a byte that is not printable ASCII in the leader.
    for (at, by) in [(10, b'3'), (21, b'4'), (7, 0x80), (6, 0x1B)] {
        let mut r = plain.clone();
        r[at] = by;
        cases.push(r);
    }
    // Bytes after the record terminator, no record terminator.
    let mut r = plain.clone();
    r.push(b'x');
    cases.push(r);
    cases.push(plain[..plain.len() - 1].to_vec());
    // The directory's entries not in data order (the first two swapped), a gap between fields.
    let mut r = plain.clone();
    let (a, b) = (r[24..36].to_vec(), r[36..48].to_vec());
    r[24..36].copy_from_slice(&b);
    r[36..48].copy_from_slice(&a);
    cases.push(r);
    let mut r = plain.clone();
    r[40..43].copy_from_slice(b"008"); // the 245 entry starts one byte later, its length one less
    cases.push(r);
    // A non-ASCII tag, a 066, a field with data to convert.
    cases.push(record(false, &[("2\u{e9}", b"10\x1faTitle")]).clone());
    let mut r = record(
        false,
        &[("001", b"x"), ("066", b"  \x1fc(N"), ("245", b"10\x1fat")],
    );
    cases.push(r.clone());
    r = record(false, &[("245", b"10\x1faCaf\xe2e")]);
    cases.push(r);
    for raw in &cases {
        for opts in [
            RecordOptions::new(Target::Utf8),
            RecordOptions::new(Target::Marc8),
        ] {
            let [whole, by_field] = both_paths(raw, &opts);
            assert_eq!(
                whole,
                by_field,
                "{:?} to {:?}",
                String::from_utf8_lossy(raw),
                opts.to
            );
        }
    }
    // The plain record is the one copied: the same bytes but leader/09.
    let [(ok, out, problems), _] = both_paths(&plain, &RecordOptions::new(Target::Utf8));
    assert!(ok && problems.is_empty());
    assert_eq!(out[9], b'a');
    assert_eq!(out[..9], plain[..9]);
    assert_eq!(out[10..], plain[10..]);
}

#[test]
fn high_bytes_are_counted_eight_at_a_time_as_one_by_one() {
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 37 % 256) as u8).collect();
    for len in [0, 1, 7, 8, 9, 15, 16, 17, 100, 999, 1000] {
        let d = &data[..len];
        assert_eq!(
            detect::high_bytes(d),
            d.iter().filter(|&&b| b >= 0x80).count(),
            "len {len}"
        );
    }
}

#[test]
fn directory_entry_numbers_read_as_the_general_reader_does() {
    let mut cases: Vec<[u8; 12]> = vec![
        *b"245001200034",
        *b"245999999999",
        *b"245000000000",
        *b"24500a200034",
        *b"2450012 0034",
        *b"24500120003/",
        *b"24500120003:",
        *b"245/01200034",
        *b"2450012\xb00034",
    ];
    // Every byte of the numbers replaced in turn by every byte value.
    for at in 3..12 {
        for b in 0..=255u8 {
            let mut e = *b"245123456789";
            e[at] = b;
            cases.push(e);
        }
    }
    for e in &cases {
        let general = split::digits(&e[3..7]).zip(split::digits(&e[7..12]));
        assert_eq!(layout::entry_numbers(e), general, "{e:?}");
    }
    assert_eq!(layout::entry_numbers(b"24500120003"), None);
}

proptest! {
    #[test]
    fn invalid_utf8_bytes_are_counted_as_utf8_chunks_counts_them(
        data in proptest::collection::vec(
            prop_oneof![any::<u8>(), 0x20u8..0x7F, 0x80u8..0xC0, 0xC2u8..0xF5],
            0..200,
        )
    ) {
        let chunks: usize = data.utf8_chunks().map(|c| c.invalid().len()).sum();
        prop_assert_eq!(detect::invalid_utf8_bytes(&data), chunks);
    }
}

/// The walk as first written (a byte-by-byte split), for the property below.
fn walk_reference(data: &[u8]) -> Vec<(char, u8, usize, Vec<u8>)> {
    let mut out = Vec::new();
    let ind = data.len().min(2);
    let mut pos = ind;
    let mut parts = data[ind..].split(|&b| b == SD);
    if let Some(lead) = parts.next() {
        if !lead.is_empty() {
            out.push(('L', 0, pos, lead.to_vec()));
        }
        pos += lead.len();
    }
    for part in parts {
        pos += 1;
        match part.split_first() {
            None => out.push(('B', 0, pos - 1, Vec::new())),
            Some((&code, bytes)) => out.push(('S', code, pos + 1, bytes.to_vec())),
        }
        pos += part.len();
    }
    out
}

proptest! {
    #[test]
    fn a_data_field_is_walked_as_a_byte_by_byte_split_walks_it(
        data in proptest::collection::vec(prop_oneof![Just(SD), Just(b'a'), any::<u8>()], 0..60)
    ) {
        let mut got = Vec::new();
        walk_data_field(&data, |part| match part {
            Part::Lead { pos, bytes } => got.push(('L', 0, pos, bytes.to_vec())),
            Part::Bare { pos } => got.push(('B', 0, pos, Vec::new())),
            Part::Subfield { code, field_offset, bytes } => {
                got.push(('S', code, field_offset, bytes.to_vec()))
            }
        });
        prop_assert_eq!(got, walk_reference(&data));
    }
}
