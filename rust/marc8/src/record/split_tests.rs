//! Splitting: linear work, one problem per stretch of garbage, and the same answers whatever
//! part of the input has arrived (issue 9).

use super::*;
use proptest::prelude::*;

/// A small well-formed record (MARC-8) with `id` in its 001.
fn good(id: &str) -> Vec<u8> {
    let leader = *b"00000nam  2200000   4500";
    let fields = [
        (*b"001", Cow::Borrowed(id.as_bytes())),
        (*b"245", Cow::Borrowed(&b"10\x1faA title"[..])),
    ];
    let mut out = Vec::new();
    write_record(&leader, &fields, &mut out).unwrap();
    out
}

/// Runs `f` and returns what it gave and the bytes the splitter examined meanwhile.
fn counting<T>(f: impl FnOnce() -> T) -> (T, usize) {
    EXAMINED.with(|c| c.set(0));
    let out = f();
    (out, EXAMINED.with(std::cell::Cell::get))
}

fn kinds(problems: &[RecordProblem]) -> Vec<(&'static str, u64, usize)> {
    problems
        .iter()
        .map(|p| (p.kind.as_str(), p.record_offset, p.record))
        .collect()
}

#[test]
fn a_stretch_of_garbage_with_many_terminators_is_one_problem_in_linear_work() {
    for unit in [
        &b"x\x1d"[..],
        b"\x1d",
        b"x\x1d\n",
        b"not a record\r\n\x1d",
        b"0001x\x1d",
    ] {
        let data = unit.repeat(300_000 / unit.len());
        let ((records, problems), work) = counting(|| split_records(&data));
        assert!(records.is_empty(), "{unit:?}");
        // Line ends after the last terminator are not garbage.
        let garbage = data.len()
            - data
                .iter()
                .rev()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
        assert_eq!(kinds(&problems), [("garbage", 0, 1)], "{unit:?}");
        assert_eq!(
            problems[0].message,
            format!("{garbage} bytes between records are not a record"),
            "{unit:?}"
        );
        assert_eq!(problems[0].bytes, data[..64], "{unit:?}");
        assert!(work <= 2 * data.len(), "{unit:?}: {work} bytes examined");
    }
}

#[test]
fn garbage_between_records_is_one_problem_per_stretch() {
    let (a, b) = (good("a"), good("b"));
    let junk = b"x\x1d".repeat(5000);
    let mut data = a.clone();
    data.extend_from_slice(&junk);
    data.extend_from_slice(b"\r\n");
    data.extend_from_slice(&b);
    data.extend_from_slice(b"\n");
    data.extend_from_slice(&junk);
    data.extend_from_slice(b"\n");
    data.extend_from_slice(&junk);
    data.extend_from_slice(&a);
    let (records, problems) = split_records(&data);
    let found: Vec<_> = records
        .iter()
        .map(|(n, off, raw)| (*n, *off, *raw))
        .collect();
    let second = a.len() + junk.len() + 2;
    let third = second + b.len() + 1 + 2 * junk.len() + 1;
    assert_eq!(
        found,
        [(1, 0, &a[..]), (2, second, &b[..]), (3, third, &a[..])]
    );
    assert_eq!(
        kinds(&problems),
        [
            ("garbage", a.len() as u64, 2),
            ("garbage", (second + b.len() + 1) as u64, 3)
        ]
    );
    assert_eq!(
        problems[1].message,
        format!(
            "{} bytes between records are not a record",
            2 * junk.len() + 1
        )
    );
}

#[test]
fn leaders_whose_lengths_lie_with_no_terminator_cost_linear_work() {
    // A leader-like 24 bytes over and over, declaring 30 bytes, and no record terminator at all:
    // each leader looks for a terminator; none is searched for twice.
    let unit = b"00030nam  2200025   4500";
    let data = unit.repeat(70_000);
    let ((records, problems), work) = counting(|| split_records(&data));
    assert!(records.is_empty());
    // Garbage while a terminator could be MAX_REACH bytes away, then (less than that from the
    // end) a record cut short by the end of the input.
    let cut = ((data.len() - MAX_REACH) / 24 + 1) * 24;
    assert_eq!(
        kinds(&problems),
        [("garbage", 0, 1), ("truncated_record", cut as u64, 1)]
    );
    assert!(work <= 3 * data.len(), "{work} bytes examined");
}

#[test]
fn a_terminator_out_of_reach_does_not_end_a_record() {
    let a = good("a");
    // A leader saying 500 bytes, then more than MAX_REACH bytes of data, then a terminator.
    let mut lump = b"00500nam  2200025   4500".to_vec();
    lump.extend_from_slice(&b"x".repeat(MAX_REACH));
    lump.push(RT);
    let mut data = a.clone();
    data.extend_from_slice(&lump);
    data.extend_from_slice(&a);
    let (records, problems) = split_records(&data);
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].1, a.len() + lump.len());
    assert_eq!(kinds(&problems), [("garbage", a.len() as u64, 2)]);
    assert_eq!(
        problems[0].message,
        format!("{} bytes between records are not a record", lump.len())
    );
    // Within reach, the terminator ends the record, even one longer than ISO 2709 allows (its
    // length is reported; converting it rejects it as too long).
    let mut near = b"00500nam  2200025   4500".to_vec();
    near.extend_from_slice(&b"x".repeat(MAX_REACH - 25));
    near.push(RT);
    assert_eq!(near.len(), MAX_REACH);
    let mut data = near.clone();
    data.extend_from_slice(&a);
    let (records, problems) = split_records(&data);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].2.len(), MAX_REACH);
    assert_eq!(kinds(&problems), [("length_mismatch", 0, 1)]);
}

/// Every answer `next_record` gives on a prefix of `data` (more to come) is `NeedMore` or the
/// answer on the whole of it (a run of line ends may be cut short).
fn check_prefixes(data: &[u8], step: usize) {
    let mut pos = 0;
    let mut splitter = Splitter::default();
    loop {
        let whole = splitter.next(data, pos, true);
        assert_eq!(
            whole,
            next_record(data, pos, true),
            "memory changed an answer"
        );
        // Every `step` bytes, and every byte around the limits of the look-ahead.
        let near = (pos + MAX_RECORD - 2..pos + MAX_RECORD + 30)
            .chain(pos + MAX_REACH - 2..pos + MAX_REACH + 30);
        let ks = (pos..data.len())
            .step_by(step)
            .chain(near.filter(|&k| k < data.len()));
        for k in ks {
            match next_record(&data[..k], pos, false) {
                Next::NeedMore => {}
                Next::Blank { end } => assert!(
                    matches!(whole, Next::Blank { end: e } if end <= e),
                    "{pos} {k}"
                ),
                got => assert_eq!(got, whole, "at {pos} with {k} bytes"),
            }
        }
        pos = match whole {
            Next::Record { end, .. } | Next::Skip { end, .. } | Next::Blank { end } => end,
            Next::NeedMore | Next::End => break,
        };
    }
}

#[test]
fn answers_do_not_depend_on_how_much_has_arrived_far_lookahead() {
    let a = good("a");
    let mut far = a.clone();
    let mut lump = b"00500nam  2200025   4500".to_vec();
    lump.extend_from_slice(&b"x".repeat(MAX_REACH + 10));
    lump.push(RT);
    far.extend_from_slice(&lump);
    far.extend_from_slice(&a);
    let mut found = b"00500nam  2200025   4500".to_vec();
    found.extend_from_slice(&b"w".repeat(MAX_RECORD + 10));
    found.push(RT);
    far.extend_from_slice(&found);
    far.extend_from_slice(&b"y".repeat(MAX_RECORD + 10));
    far.extend_from_slice(&a);
    check_prefixes(&far, 49_999);
}

fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (0u8..50).prop_map(|i| good(&format!("r{i}"))),
        // a record whose length lies
        2 => (0u8..50, 0usize..99_999).prop_map(|(i, n)| {
            let mut r = good(&format!("l{i}"));
            r[..5].copy_from_slice(format!("{n:05}").as_bytes());
            r
        }),
        // a record cut short
        1 => (1usize..60).prop_map(|n| good("cut")[..n].to_vec()),
        2 => prop::collection::vec(
            prop::sample::select(&b"x0123456789\x1d\x1e\r\n 4500"[..]),
            1..40
        ),
        1 => Just(b"00030nam  2200025   4500".to_vec()),
        1 => Just(b"\r\n".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn answers_do_not_depend_on_how_much_has_arrived(
        pieces in prop::collection::vec(piece(), 0..12),
        step in 1usize..13,
    ) {
        let data = pieces.concat();
        check_prefixes(&data, step);
    }

    #[test]
    fn every_byte_is_in_a_record_a_problem_or_line_ends(
        pieces in prop::collection::vec(piece(), 0..12),
    ) {
        let data = pieces.concat();
        let (records, problems) = split_records(&data);
        let mut covered = vec![false; data.len()];
        for (_, off, raw) in &records {
            covered[*off..*off + raw.len()].iter_mut().for_each(|c| *c = true);
        }
        for p in problems.iter().filter(|p| p.kind.as_str() != "length_mismatch") {
            let len: usize = p.message.split(' ').find_map(|w| w.parse().ok()).unwrap();
            let off = usize::try_from(p.record_offset).unwrap();
            prop_assert!(data[off..].starts_with(&p.bytes));
            covered[off..off + len].iter_mut().for_each(|c| *c = true);
        }
        for (i, c) in covered.iter().enumerate() {
            prop_assert!(*c || matches!(data[i], b'\r' | b'\n'), "byte {} lost", i);
        }
        // garbage stretches are never next to each other
        for w in problems.windows(2) {
            prop_assert!(!(w[0].kind == RecordKind::Garbage && w[1].kind == RecordKind::Garbage && w[0].record == w[1].record));
        }
    }
}
