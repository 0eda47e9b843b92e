//! Streaming gives exactly the one-shot result, wherever the reads fall; reports keep a bounded
//! number of problems and count all of them (issue 9).

use super::*;
use crate::record::{split_records, write_record, Target, MAX_REACH, MAX_RECORD};
use crate::validate::{validate_stream_with, ValidateOptions};
use proptest::prelude::*;
use std::borrow::Cow;

/// A MARC-8 record with `id` in its 001 and `text` in a 245 $a.
fn rec(id: &str, text: &[u8]) -> Vec<u8> {
    let leader = *b"00000nam  2200000   4500";
    let mut f245 = b"10\x1fa".to_vec();
    f245.extend_from_slice(text);
    let mut out = Vec::new();
    write_record(
        &leader,
        &[
            (*b"001", Cow::Borrowed(id.as_bytes())),
            (*b"245", Cow::Owned(f245)),
        ],
        &mut out,
    )
    .unwrap();
    out
}

/// The conversion and the validation of `data` read `read_size` bytes at a time.
fn stream(data: &[u8], read_size: usize, jobs: usize) -> (Vec<u8>, FileReport, FileReport) {
    let opts = StreamOptions {
        read_size,
        ..StreamOptions::default()
    };
    let mut out = Vec::new();
    let conv = transcode_stream_with(
        data,
        &mut out,
        &RecordOptions::new(Target::Utf8),
        jobs,
        &opts,
        &mut |_, _| true,
    )
    .unwrap();
    let check = validate_stream_with(
        data,
        &ValidateOptions::default(),
        jobs,
        &opts,
        &mut |_, _| true,
    )
    .unwrap();
    (out, conv, check)
}

/// The whole input in one read: the splitter sees all of it at once, as `split_records` does.
fn one_shot(data: &[u8]) -> (Vec<u8>, FileReport, FileReport) {
    stream(data, data.len() + 1, 1)
}

fn split_kinds(r: &FileReport) -> Vec<(&'static str, usize, u64, String)> {
    r.problems
        .iter()
        .filter(|p| {
            matches!(
                p.kind.as_str(),
                "garbage" | "truncated_record" | "length_mismatch"
            )
        })
        .map(|p| {
            (
                p.kind.as_str(),
                p.record,
                p.record_offset,
                p.message.clone(),
            )
        })
        .collect()
}

/// Issue 9's case: a record whose leader says 500 bytes and whose terminator is ~250 KB on,
/// across the first 1 MiB read boundary.
fn lying_across_a_read_boundary() -> (Vec<u8>, usize) {
    let good = rec("good", b"A title");
    let mut data = good.repeat(((1 << 20) - 150_000) / good.len());
    let at = data.len();
    let mut bad = rec("bad", &b"y".repeat(9000));
    bad.truncate(bad.len() - 1); // no terminator yet
    for _ in 0..27 {
        bad.extend_from_slice(&b"x".repeat(9000));
        bad.push(FT_BYTE);
    }
    bad.push(0x1D);
    bad[..5].copy_from_slice(b"00500");
    data.extend_from_slice(&bad);
    data.extend_from_slice(&good);
    (data, at)
}

const FT_BYTE: u8 = 0x1E;

#[test]
fn a_lying_length_across_a_read_boundary_splits_as_in_one_go() {
    let (data, at) = lying_across_a_read_boundary();
    let (records, problems) = split_records(&data);
    let whole: Vec<_> = problems
        .iter()
        .map(|p| {
            (
                p.kind.as_str(),
                p.record,
                p.record_offset,
                p.message.clone(),
            )
        })
        .collect();
    for jobs in [1, 2] {
        let (_, conv, check) = stream(&data, READ_CHUNK, jobs);
        assert_eq!(conv.records_read, records.len(), "jobs={jobs}");
        assert_eq!(check.records_read, records.len(), "jobs={jobs}");
        assert_eq!(split_kinds(&conv), whole, "jobs={jobs}");
        assert_eq!(split_kinds(&check), whole, "jobs={jobs}");
    }
    // The ~250 KB up to the terminator are a record (its length reported), and the record after
    // it is found.
    assert_eq!(whole.len(), 1, "{whole:?}");
    assert_eq!((whole[0].0, whole[0].2), ("length_mismatch", at as u64));
    assert_eq!(records[records.len() - 2].1, at);
    let last = data.len() - rec("good", b"A title").len();
    assert_eq!(records.last().unwrap().1, last);
}

#[test]
fn read_sizes_around_the_lookahead_change_nothing() {
    let (data, _) = lying_across_a_read_boundary();
    // Garbage without terminators longer than a record, a leader whose terminator is out of
    // reach, and a lying length right after it.
    let mut data = data[data.len() - 400_000..].to_vec();
    data.extend_from_slice(&b"z".repeat(MAX_RECORD + 50));
    data.extend_from_slice(b"00500nam  2200025   4500");
    data.extend_from_slice(&b"w".repeat(MAX_REACH));
    data.push(0x1D);
    let mut lying = rec("l", b"short");
    lying[..5].copy_from_slice(b"00999");
    data.extend_from_slice(&lying);
    data.extend_from_slice(&b"x\x1d".repeat(70_000));
    data.extend_from_slice(&rec("last", b"A title")[..40]);
    let expected = one_shot(&data);
    assert!(expected
        .1
        .problems
        .iter()
        .any(|p| p.kind.as_str() == "truncated_record"));
    assert!(expected.1.counts_by_kind.get("garbage") >= Some(&2));
    for read_size in [
        65_521,
        MAX_RECORD,
        MAX_RECORD + 24,
        MAX_REACH - 1,
        MAX_REACH,
        READ_CHUNK + 7,
    ] {
        for jobs in [1, 2] {
            let got = stream(&data, read_size, jobs);
            assert!(got == expected, "read_size={read_size} jobs={jobs}");
        }
    }
}

fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (0u8..50).prop_map(|i| rec(&format!("r{i}"), b"Caf\xe2e \xaf")),
        2 => (0u8..50, 0usize..99_999).prop_map(|(i, n)| {
            let mut r = rec(&format!("l{i}"), b"Lying");
            r[..5].copy_from_slice(format!("{n:05}").as_bytes());
            r
        }),
        1 => (1usize..60).prop_map(|n| rec("cut", b"Cut")[..n].to_vec()),
        2 => prop::collection::vec(
            prop::sample::select(&b"x0123456789\x1d\x1e\r\n 4500"[..]),
            1..40
        ),
        1 => Just(b"00030nam  2200025   4500".to_vec()),
        1 => Just(b"\r\n".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn any_read_size_gives_the_one_shot_result(
        pieces in prop::collection::vec(piece(), 0..16),
        read_size in prop_oneof![1usize..70, 70usize..2000],
        jobs in 1usize..3,
    ) {
        let data = pieces.concat();
        let expected = one_shot(&data);
        let got = stream(&data, read_size, jobs);
        prop_assert_eq!(&got.0, &expected.0);
        prop_assert_eq!(&got.1, &expected.1);
        prop_assert_eq!(&got.2, &expected.2);
        // and the one-shot split is split_records'
        let (records, _) = split_records(&data);
        prop_assert_eq!(expected.1.records_read, records.len());
    }
}

// ------------------------------------------------------------------------------------------------
// Bounded problem lists

/// `records` records, each with 9 fields of 9,000 bytes MARC-8 has no mapping for (0xAF):
/// 81,000 `unmapped_byte` problems a record.
fn many_problems(records: usize) -> Vec<u8> {
    let leader = *b"00000nam  2200000   4500";
    let mut data = Vec::new();
    let mut f = b"10\x1fa".to_vec();
    f.extend_from_slice(&[0xAF; 9000]);
    for i in 0..records {
        let mut fields = vec![(*b"001", Cow::Owned(format!("n{i}").into_bytes()))];
        fields.extend((0..9).map(|_| (*b"500", Cow::Borrowed(&f[..]))));
        write_record(&leader, &fields, &mut data).unwrap();
    }
    data
}

#[test]
fn reports_keep_at_most_max_problems_and_count_them_all() {
    let data = many_problems(3);
    let total = 3 * 81_000;
    for jobs in [1, 2] {
        let opts = StreamOptions {
            max_problems: Some(100),
            ..StreamOptions::default()
        };
        let mut handed = 0;
        let r = validate_stream_with(
            &data[..],
            &ValidateOptions::default(),
            jobs,
            &opts,
            &mut |_, ps| {
                handed += ps.len();
                true
            },
        )
        .unwrap();
        assert_eq!(r.problems.len(), 100);
        assert_eq!(r.counts_by_kind.get("unmapped_byte"), Some(&total));
        // (and a field_too_long a record: the U+FFFDs would not fit in a field)
        let found = r.counts_by_kind.values().sum::<usize>();
        assert!(found > total);
        assert_eq!(r.problem_count(), found);
        assert_eq!(r.problems_dropped, found - 100);
        assert_eq!(handed, 0, "problems go to the callback only when asked for");
        // the kept ones are the first ones
        assert!(r.problems.iter().all(|p| p.record == 1));
        let mut out = Vec::new();
        let c = transcode_stream_with(
            &data[..],
            &mut out,
            &RecordOptions::new(Target::Utf8),
            jobs,
            &StreamOptions {
                max_problems: Some(0),
                ..StreamOptions::default()
            },
            &mut |_, _| true,
        )
        .unwrap();
        assert!(c.problems.is_empty());
        assert_eq!(c.counts_by_kind.get("unmapped_byte"), Some(&total));
        assert_eq!(c.records_with_problems, 3);
        assert_eq!(c.records_read, 3);
    }
}

#[test]
fn every_problem_goes_to_the_callback_in_input_order() {
    let mut data = many_problems(2);
    data.extend_from_slice(&b"x\x1d".repeat(1000));
    let everything = validate_stream_with(
        &data[..],
        &ValidateOptions::default(),
        1,
        &StreamOptions::default(),
        &mut |_, _| true,
    )
    .unwrap();
    assert!(everything.problems.len() > 2 * 81_000);
    assert_eq!(everything.problems.last().unwrap().kind.as_str(), "garbage");
    for jobs in [1, 2] {
        let opts = StreamOptions {
            max_problems: Some(10),
            every_problem: true,
            ..StreamOptions::default()
        };
        let mut seen = Vec::new();
        let r = validate_stream_with(
            &data[..],
            &ValidateOptions::default(),
            jobs,
            &opts,
            &mut |_, ps| {
                seen.extend(
                    ps.iter()
                        .map(|p| (p.record, p.field_offset, p.kind.as_str())),
                );
                true
            },
        )
        .unwrap();
        let all: Vec<_> = everything
            .problems
            .iter()
            .map(|p| (p.record, p.field_offset, p.kind.as_str()))
            .collect();
        assert!(seen == all, "jobs={jobs}");
        assert_eq!(r.problems[..], everything.problems[..10]);
        assert_eq!(r.problem_count(), everything.problem_count());
        assert_eq!(r.counts_by_kind, everything.counts_by_kind);
    }
}

/// The fuzzer's finding (fuzz/regressions/stream/leader-with-terminator): a terminator inside
/// the 24 bytes of a would-be leader, cut by a read boundary, must split as in one go.
#[test]
fn a_terminator_inside_a_leader_cut_by_a_read_splits_as_in_one_go() {
    let data = b"x00024\x1daaaaaaaaaaaaaa4500";
    let expected = one_shot(data);
    for read_size in 1..=data.len() {
        for jobs in 1..=2 {
            let got = stream(data, read_size, jobs);
            assert_eq!(got.0, expected.0, "read size {read_size}");
            assert_eq!(got.1, expected.1, "read size {read_size}");
            assert_eq!(got.2, expected.2, "read size {read_size}");
        }
    }
    let (records, _) = split_records(data);
    assert_eq!(expected.1.records_read, records.len());
}
