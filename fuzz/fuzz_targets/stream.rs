//! The streaming file reader against the one-shot splitter: reading any bytes through a reader
//! that returns a few bytes at a time (sizes taken from the input) gives exactly the report and
//! output of splitting the whole input at once and converting each record; `validate_stream`
//! gives the same report whatever the read sizes, and finds as many records as the splitter.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use marc8::file::{transcode_stream, FileReport};
use marc8::record::{
    length_problem, next_record, skip_problem, transcode_record, Next, RecordOptions, Target,
};
use marc8::convert::detect_format;
use marc8::validate::{validate_stream, ValidateOptions};
use marc8::writer::Format;

/// A reader handing out its data in pieces whose sizes cycle through `sizes`: a size byte `s`
/// gives `s % 64 + 1` bytes, times 1, 2, 4 or 8 (`s >> 6`), so 1 to 512 bytes.
struct Dribble<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    turn: usize,
}

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = match self.sizes {
            [] => self.data.len(),
            s => {
                let s = s[self.turn % s.len()];
                (usize::from(s % 64) + 1) << (s >> 6)
            }
        };
        self.turn += 1;
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// What converting `input` should give: the whole input split at once, each record converted.
fn one_shot(input: &[u8], opts: &RecordOptions) -> (Vec<u8>, FileReport) {
    let mut out = Vec::new();
    let mut report = FileReport {
        bytes_in: input.len() as u64,
        ..FileReport::default()
    };
    let mut pos = 0;
    let mut number = 0;
    loop {
        match next_record(input, pos, true) {
            Next::Record {
                start,
                end,
                length_mismatch,
            } => {
                number += 1;
                let raw = &input[start..end];
                let before = report.problems.len();
                if length_mismatch {
                    report
                        .problems
                        .push(length_problem(number, start as u64, raw));
                }
                report.records_read += 1;
                let c = transcode_record(raw, opts, number, start as u64);
                match c.record {
                    Some(r) => {
                        report.records_written += 1;
                        out.extend_from_slice(&r);
                    }
                    None => report.records_rejected += 1,
                }
                if length_mismatch {
                    report.problems[before].control_number =
                        c.problems.iter().find_map(|p| p.control_number.clone());
                }
                report.problems.extend(c.problems);
                if report.problems.len() > before {
                    report.records_with_problems += 1;
                }
                pos = end;
            }
            Next::Skip {
                start,
                end,
                truncated,
            } => {
                report.problems.push(skip_problem(
                    number + 1,
                    start as u64,
                    &input[start..end],
                    truncated,
                ));
                pos = end;
            }
            Next::Blank { end } => pos = end,
            Next::End => break,
            Next::NeedMore => unreachable!("next_record asked for more at the end of the input"),
        }
    }
    report.bytes_out = out.len() as u64;
    for p in &report.problems {
        *report.counts_by_kind.entry(p.kind.as_str()).or_insert(0) += 1;
    }
    (out, report)
}

fuzz_target!(|data: &[u8]| {
    // Layout: flags, n, n read sizes, then the input.
    let [flags, n, rest @ ..] = data else {
        return;
    };
    let n = usize::from(*n % 8).min(rest.len());
    let (sizes, input) = rest.split_at(n);
    // The streaming reader zero-fills a 1 MiB read buffer for every read call, so each small read
    // costs ~1 MiB of memset: longer inputs in tiny reads make the target too slow to be useful.
    let input = &input[..input.len().min(8192)];
    if sizes.is_empty() {
        return;
    }
    let to = if flags & 1 != 0 {
        Target::Marc8
    } else {
        Target::Utf8
    };
    let opts = RecordOptions::new(to);

    let (want_out, want) = one_shot(input, &opts);
    let mut out = Vec::new();
    let reader = Dribble {
        data: input,
        sizes,
        turn: 0,
    };
    let got = transcode_stream(reader, &mut out, &opts, 1, &mut |_| true).unwrap();
    // The same stream given the whole input in one read: everything must be equal.
    let mut out_whole = Vec::new();
    let whole_reader = Dribble {
        data: input,
        sizes: &[],
        turn: 0,
    };
    let whole = transcode_stream(whole_reader, &mut out_whole, &opts, 1, &mut |_| true).unwrap();
    assert_eq!(
        got, whole,
        "transcode_stream in small reads differs from one read"
    );
    assert_eq!(out, out_whole);
    // Against the independent oracle (next_record + transcode_record): the same records, output
    // and problems, except that the file layer merges a stretch of garbage (line ends and
    // terminators included) into one problem where the oracle has one per skip.
    assert_eq!(out, want_out);
    assert_eq!(
        (got.records_read, got.records_written, got.records_rejected),
        (want.records_read, want.records_written, want.records_rejected)
    );
    let not_garbage = |r: &FileReport| {
        r.problems
            .iter()
            .filter(|p| p.kind.as_str() != "garbage")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(not_garbage(&got), not_garbage(&want));
    let skipped = |r: &FileReport| r.problems.iter().any(|p| p.kind.as_str() == "garbage");
    assert_eq!(skipped(&got), skipped(&want));

    let vopts = ValidateOptions::default();
    let whole = Dribble {
        data: input,
        sizes: &[],
        turn: 0,
    };
    let v_whole = validate_stream(whole, &vopts, 1, &mut |_| true).unwrap();
    let dribble = Dribble {
        data: input,
        sizes,
        turn: 0,
    };
    let v_small = validate_stream(dribble, &vopts, 1, &mut |_| true).unwrap();
    assert_eq!(
        v_small, v_whole,
        "validate_stream depends on the read sizes"
    );
    // validate detects the format (issue 18): an input that reads as MARCXML or MARC-in-JSON
    // (`[`, `{`, `<` first) is validated as that, so only ISO 2709 is held to the splitter.
    if detect_format(input) == Format::Iso2709 {
        assert_eq!(v_whole.records_read, want.records_read);
        assert_eq!(v_whole.bytes_in, want.bytes_in);
    }
});
