//! The record splitter and converter, on any bytes: never panics; every record found is
//! converted to UTF-8 and to MARC-8; every record written parses again as exactly one record
//! whose directory is right (no recovery), whose leader length is its length, and which
//! `split_records` finds alone and without a problem; a record written as UTF-8 is valid UTF-8.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marc8::record::{parse, split_records, transcode_record, RecordOptions, Target, Trust};

fn check_written(out: &[u8], to: Target) {
    let parsed = parse(out).unwrap_or_else(|e| panic!("written record does not parse: {e:?}"));
    assert!(!parsed.recovered, "written record has a wrong directory");
    let declared: usize = std::str::from_utf8(&parsed.leader[..5])
        .ok()
        .and_then(|d| d.parse().ok())
        .expect("record length is not five digits");
    assert_eq!(declared, out.len());
    let (found, problems) = split_records(out);
    assert_eq!(found.len(), 1);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(found[0].2, out);
    match to {
        Target::Utf8 => assert_eq!(parsed.leader[9], b'a'),
        Target::Marc8 => assert_eq!(parsed.leader[9], b' '),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let (found, _problems) = split_records(input);
    // The records found lie in order, inside the input, each ending in a terminator.
    let mut after = 0;
    for (i, &(n, start, raw)) in found.iter().enumerate() {
        assert_eq!(n, i + 1);
        assert!(start >= after);
        assert_eq!(&input[start..start + raw.len()], raw);
        assert_eq!(raw.last(), Some(&marc8::record::RT));
        after = start + raw.len();
    }
    for &(n, start, raw) in &found {
        for to in [Target::Utf8, Target::Marc8] {
            let mut opts = RecordOptions::new(to);
            if flags & 1 != 0 {
                opts.trust = Trust::Data;
            }
            opts.decode.expand_ncr = flags & 2 != 0;
            let converted = transcode_record(raw, &opts, n, start as u64);
            for p in &converted.problems {
                assert_eq!(p.record, n);
            }
            let Some(out) = converted.record else {
                assert!(!converted.problems.is_empty(), "rejected without a problem");
                continue;
            };
            check_written(&out, to);
            if to == Target::Utf8 {
                if let Err(e) = std::str::from_utf8(&out) {
                    panic!("UTF-8 record is not UTF-8: {e} in {out:02X?}");
                }
            }
        }
    }
});
