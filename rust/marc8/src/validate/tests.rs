use super::*;
use crate::record::write_record;
use std::borrow::Cow;

fn record(leader9: u8, fields: &[(&[u8; 3], &[u8])]) -> Vec<u8> {
    let mut leader = *b"00000nam  2200000   4500";
    leader[9] = leader9;
    let fields: Vec<([u8; 3], Cow<'_, [u8]>)> = fields
        .iter()
        .map(|(t, d)| (**t, Cow::Borrowed(*d)))
        .collect();
    let mut out = Vec::new();
    write_record(&leader, &fields, &mut out).unwrap();
    out
}

fn check(data: &[u8], for_export: bool) -> FileReport {
    let opts = ValidateOptions {
        for_export,
        ..ValidateOptions::default()
    };
    let a = validate_stream(data, &opts, 1, &mut |_| true).unwrap();
    let b = validate_stream(data, &opts, 2, &mut |_| true).unwrap();
    assert_eq!(a, b);
    a
}

fn kinds(r: &FileReport) -> Vec<RecordKind> {
    r.problems.iter().map(|p| p.kind).collect()
}

#[test]
fn a_clean_record_has_no_problem() {
    let rec = record(
        b' ',
        &[
            (b"001", b"n1"),
            (b"066", b"  \x1fc$1"),
            (b"245", b"10\x1faCaf\xe2e \x1b$1\x21\x30\x64\x1b(B"),
        ],
    );
    let r = check(&rec, true);
    assert_eq!(r.records_read, 1);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}

#[test]
fn a_bad_byte_is_positioned() {
    let rec = record(
        b' ',
        &[
            (b"001", b"n1"),
            (b"245", b"10\x1faAb\x1fbCaf\xafe"),
            (b"245", b"10\x1faOK"),
        ],
    );
    let r = check(&rec, false);
    assert_eq!(kinds(&r), [RecordKind::UnmappedByte]);
    let p = &r.problems[0];
    assert_eq!(p.tag.as_deref(), Some("245"));
    assert_eq!(p.occurrence, Some(1));
    assert_eq!(p.subfield, Some('b'));
    assert_eq!(p.offset, Some(3));
    assert_eq!(p.field_offset, Some(2 + 4 + 2 + 3));
    assert_eq!(p.control_number.as_deref(), Some("n1"));
    assert_eq!(p.action, RecordAction::Reported);
}

#[test]
fn structure_problems() {
    let mut rec = record(
        b' ',
        &[
            (b"001", b"n1"),
            (b"2A5", b"1\x01\x1faText\x1fBMore"),
            (b"500", b"  \x1fa&#x00E9;"),
        ],
    );
    rec[10] = b'3';
    rec[20] = b'5';
    let r = check(&rec, false);
    assert_eq!(
        kinds(&r),
        [
            RecordKind::BadLeader,
            RecordKind::BadLeader,
            RecordKind::BadIndicator,
            RecordKind::BadSubfieldCode,
            RecordKind::NcrPresent
        ]
    );
    // a tag with a non-alphanumeric byte
    let rec = record(b' ', &[(b"2-5", b"10\x1faText")]);
    assert_eq!(kinds(&check(&rec, false)), [RecordKind::BadTag]);
    // a wrong base address: reported, the record still read
    let mut rec = record(b' ', &[(b"245", b"10\x1faCaf\xafe")]);
    rec[16] = b'9';
    assert_eq!(
        kinds(&check(&rec, false)),
        [RecordKind::BadBaseAddress, RecordKind::UnmappedByte]
    );
}

#[test]
fn field_066_against_the_escapes() {
    let cyr = b"10\x1fa\x1b)N\xed\xcf\x1b)E";
    let missing = record(b' ', &[(b"245", cyr)]);
    assert_eq!(kinds(&check(&missing, false)), [RecordKind::Bad066]);
    let wrong = record(b' ', &[(b"066", b"  \x1fc$1"), (b"245", cyr)]);
    let r = check(&wrong, false);
    assert_eq!(
        kinds(&r),
        [RecordKind::Bad066, RecordKind::Bad066],
        "{:?}",
        r.problems
    );
    let right = record(b' ', &[(b"066", b"  \x1fc(N"), (b"245", cyr)]);
    assert!(check(&right, false).problems.is_empty());
}

#[test]
fn for_export_lists_unmappable_characters() {
    let rec = record(b'a', &[(b"245", "10\x1faé नेपाल x\x1fb😀".as_bytes())]);
    assert!(check(&rec, false).problems.is_empty());
    let r = check(&rec, true);
    let got: Vec<_> = r
        .problems
        .iter()
        .map(|p| (p.kind, p.subfield, p.offset, p.field_offset))
        .collect();
    assert_eq!(got.len(), 6, "{got:?}");
    assert_eq!(
        got[0],
        (RecordKind::Unmappable, Some('a'), Some(2), Some(7))
    );
    assert_eq!(
        got[5],
        (RecordKind::Unmappable, Some('b'), Some(0), Some(26))
    );
}

#[test]
fn offset_and_limit_count_records() {
    let one = record(b' ', &[(b"245", b"10\x1faCaf\xafe")]);
    let data: Vec<u8> = std::iter::repeat_n(one.as_slice(), 10)
        .flatten()
        .copied()
        .collect();
    let opts = ValidateOptions {
        for_export: false,
        range: RecordRange {
            offset: 3,
            limit: Some(4),
        },
    };
    for jobs in [1, 2] {
        let r = validate_stream(&data[..], &opts, jobs, &mut |_| true).unwrap();
        assert_eq!(r.records_read, 4);
        let nums: Vec<usize> = r.problems.iter().map(|p| p.record).collect();
        assert_eq!(nums, [4, 5, 6, 7]);
        assert_eq!(r.problems[0].record_offset, 3 * one.len() as u64);
    }
}

/// Hands out its data a few bytes at a time.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn a_stopped_json_read_counts_the_whole_input_whatever_the_read_sizes() {
    // A JSON reader stops at a syntax error; the bytes it never parsed are still the input's
    // (found by the fuzz target `stream`: 47 bytes in small reads, 965 in one).
    let mut data = b"[{\"leader\": 5} 2 ".to_vec();
    data.extend(std::iter::repeat_n(b'x', 5000));
    let opts = ValidateOptions::default();
    let whole = validate_stream(&data[..], &opts, 1, &mut |_| true).unwrap();
    let small = validate_stream(
        Trickle {
            data: &data,
            step: 3,
        },
        &opts,
        1,
        &mut |_| true,
    )
    .unwrap();
    assert_eq!(whole.bytes_in, data.len() as u64);
    assert_eq!(small, whole);
    assert!(kinds(&whole).contains(&RecordKind::JsonSyntax));
}
