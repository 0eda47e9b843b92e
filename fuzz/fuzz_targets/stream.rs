//! The streaming file reader against the one-shot splitter: reading any bytes through a reader
//! that returns a few bytes at a time (sizes taken from the input) gives exactly the report and
//! output of splitting the whole input at once and converting each record; `validate_stream`
//! gives the same report whatever the read sizes, and finds as many records as the splitter.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use marc8::file::{transcode_stream, FileReport};
use marc8::record::{
    length_problem, next_record, skip_problem, transcode_record, Next, RecordOptions, Target, RT,
};
use marc8::validate::{validate_stream, ValidateOptions};

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

/// NEW FINDING of this fuzzing (issue 9, in `record::next_record`; remove once fixed): garbage
/// is skipped to just after the next terminator unless a leader is seen first, and a leader is
/// only seen once its 24 bytes are in the buffer. So when a terminator lies inside the first 24
/// bytes of a would-be record (a leader-like run: five digits, then `4500` at 20..24) that a read
/// boundary cuts, the stream skips past that record start and the one-shot split does not
/// (fuzz/regressions/stream/leader-with-terminator). Inputs with such a run are not compared.
fn has_terminator_inside_a_leader(input: &[u8]) -> bool {
    input.windows(24).any(|l| {
        l[..5].iter().all(u8::is_ascii_digit) && &l[20..] == b"4500" && l[5..20].contains(&RT)
    })
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
    if has_terminator_inside_a_leader(input) {
        return; // NEW FINDING (issue 9): see has_terminator_inside_a_leader.
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
    assert_eq!(
        got, want,
        "transcode_stream in small reads differs from one-shot"
    );
    assert_eq!(out, want_out);

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
    assert_eq!(v_whole.records_read, want.records_read);
    assert_eq!(v_whole.bytes_in, want.bytes_in);
});
