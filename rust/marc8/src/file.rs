//! Whole files: streaming, multi-threaded record conversion with bounded memory.
//!
//! The input is read in chunks and split into records ([`crate::record::next_record`]); records
//! are grouped into batches of about [`BATCH_BYTES`], converted by `jobs` threads (the calling
//! thread one of them, and the one that writes), and written in input order. At most a fixed number of batches is in flight, so memory does not grow
//! with the file. [`transcode_file`] writes to a temporary file beside the destination and renames
//! it into place only when everything went well: there is never a half-written output, and the
//! input is never overwritten.
//!
//! The input is split exactly as [`crate::record::split_records`] splits it whole, wherever the
//! reads fall: the splitter never looks more than [`crate::record::MAX_REACH`] bytes ahead, and
//! says when it needs more. A stretch of garbage is one problem however long it is.
//!
//! Problems are counted by kind always ([`FileReport::counts_by_kind`]); the report keeps the
//! first [`StreamOptions::max_problems`] of them, and [`StreamOptions::every_problem`] hands every
//! one to the caller as it comes, so that a report can be streamed instead of collected.

use crate::kinds::RecordAction;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

pub(crate) use crate::atomic::same_file;
use crate::atomic::AtomicFile;
pub(crate) use crate::batch::{read_batches, Batch, Item, Spare};
pub use crate::batch::{RecordRange, BATCH_BYTES, READ_CHUNK};
use crate::record::{length_problem, transcode_with, RecordOptions, RecordProblem, Scratch};

/// Counts and problems of a file conversion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// Records found in the input.
    pub records_read: usize,
    /// Records written to the output.
    pub records_written: usize,
    /// Records with at least one problem.
    pub records_with_problems: usize,
    /// Records not written (unreadable, too long, or strict mode).
    pub records_rejected: usize,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// The problems kept, in input order: every one, or the first
    /// [`StreamOptions::max_problems`].
    pub problems: Vec<RecordProblem>,
    /// Problems found but not kept: `problems.len() + problems_dropped` were found.
    pub problems_dropped: usize,
    /// Every problem found, kept or not, counted by kind.
    pub counts_by_kind: BTreeMap<&'static str, usize>,
}

impl FileReport {
    /// How many problems were found, kept or not.
    #[must_use]
    pub fn problem_count(&self) -> usize {
        self.problems.len() + self.problems_dropped
    }

    /// Counts `p` and keeps it.
    pub fn add_problem(&mut self, p: RecordProblem) {
        *self.counts_by_kind.entry(p.kind.as_str()).or_insert(0) += 1;
        self.problems.push(p);
    }

    /// Counts `p` as found but not kept.
    fn drop_problem(&mut self, p: &RecordProblem) {
        *self.counts_by_kind.entry(p.kind.as_str()).or_insert(0) += 1;
        self.problems_dropped += 1;
    }
}

/// How a stream is read and what its report keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamOptions {
    /// Problems the report keeps: the first ones in input order (`None`: all). The counts
    /// ([`FileReport::counts_by_kind`], [`FileReport::problem_count`]) are exact either way.
    pub max_problems: Option<usize>,
    /// Hand every problem, kept or not, to the stream's callback ([`OnBatch`]) as it comes.
    pub every_problem: bool,
    /// Bytes asked of the input at a time (at least 1). The result does not depend on it.
    pub read_size: usize,
}

impl StreamOptions {
    /// Problems a batch's report keeps: what the whole report may keep, unless every problem
    /// goes to the caller.
    pub(crate) fn batch_keep(&self) -> Option<usize> {
        if self.every_problem {
            None
        } else {
            self.max_problems
        }
    }
}

impl Default for StreamOptions {
    /// Every problem kept, none handed over, reads of [`READ_CHUNK`] bytes.
    fn default() -> Self {
        StreamOptions {
            max_problems: None,
            every_problem: false,
            read_size: READ_CHUNK,
        }
    }
}

/// Called in the calling thread after each batch, in input order: the report so far (counts
/// include the batch; its kept problems are added after the call) and, with
/// [`StreamOptions::every_problem`], every problem of the batch (else nothing). Returning false
/// stops the stream (error `Interrupted`).
pub type OnBatch<'a> = dyn FnMut(&FileReport, &[RecordProblem]) -> bool + 'a;

/// What a worker made of a batch: output bytes and the batch's report.
pub(crate) struct Done {
    pub(crate) id: usize,
    pub(crate) out: Vec<u8>,
    pub(crate) report: FileReport,
}

/// What became of one record of a batch.
pub(crate) enum Fate {
    /// Converted and written.
    Written,
    /// Not written (reported).
    Rejected,
    /// Only checked (validation writes nothing).
    Checked,
}

/// Runs `each` on every record of a batch, with the bookkeeping conversion and validation share:
/// bytes the splitter skipped are reported, a length that lied is reported before the record's
/// own problems (with the 001 found while handling it), and the records read, written, rejected
/// and with problems are counted. `action`, if given, replaces the action of every problem.
pub(crate) fn for_each_record(
    batch: Batch,
    action: Option<RecordAction>,
    mut each: impl FnMut(&[u8], usize, u64, &mut Vec<RecordProblem>) -> Fate,
) -> FileReport {
    let mut report = FileReport {
        bytes_in: batch.bytes_in,
        ..FileReport::default()
    };
    for item in batch.items {
        let before = report.problems.len();
        match item {
            Item::Skipped(p) => report.problems.push(p),
            Item::Record {
                number,
                offset,
                start,
                end,
                length_mismatch,
            } => {
                let raw = &batch.data[start..end];
                if length_mismatch {
                    report.problems.push(length_problem(number, offset, raw));
                }
                report.records_read += 1;
                match each(raw, number, offset, &mut report.problems) {
                    Fate::Written => report.records_written += 1,
                    Fate::Rejected => report.records_rejected += 1,
                    Fate::Checked => {}
                }
                if report.problems.len() > before {
                    report.records_with_problems += 1;
                    if length_mismatch {
                        let cn = report.problems[before + 1..]
                            .iter()
                            .find_map(|p| p.control_number.clone());
                        report.problems[before].control_number = cn;
                    }
                }
            }
        }
        if let Some(action) = action {
            for p in &mut report.problems[before..] {
                p.action = action;
            }
        }
        if let Some(keep) = batch.keep {
            if report.problems.len() > keep {
                let extra: Vec<RecordProblem> = report.problems.drain(keep..).collect();
                for p in &extra {
                    report.drop_problem(p);
                }
            }
        }
    }
    report
}

fn convert(batch: Batch, opts: &RecordOptions) -> Done {
    let id = batch.id;
    let len = batch.span();
    let mut out = batch.output(len + len / 4);
    let mut scratch = Scratch::default();
    let mut report = for_each_record(batch, None, |raw, number, offset, problems| {
        if transcode_with(raw, opts, number, offset, &mut scratch, &mut out, problems) {
            Fate::Written
        } else {
            Fate::Rejected
        }
    });
    report.bytes_out = out.len() as u64;
    Done { id, out, report }
}

pub(crate) fn stopped() -> io::Error {
    io::Error::new(
        io::ErrorKind::Interrupted,
        "stopped by the progress callback",
    )
}

/// Adds a batch's report to the total, keeping at most `max_problems`, and tells `on_batch`.
pub(crate) fn absorb(
    total: &mut FileReport,
    part: FileReport,
    stream: &StreamOptions,
    on_batch: &mut OnBatch<'_>,
) -> bool {
    total.records_read += part.records_read;
    total.records_written += part.records_written;
    total.records_with_problems += part.records_with_problems;
    total.records_rejected += part.records_rejected;
    total.bytes_in += part.bytes_in;
    total.bytes_out += part.bytes_out;
    total.problems_dropped += part.problems_dropped;
    for (kind, n) in part.counts_by_kind {
        *total.counts_by_kind.entry(kind).or_insert(0) += n;
    }
    let mut problems = part.problems;
    for p in &problems {
        *total.counts_by_kind.entry(p.kind.as_str()).or_insert(0) += 1;
    }
    let room = stream
        .max_problems
        .map_or(usize::MAX, |m| m.saturating_sub(total.problems.len()));
    let keep = room.min(problems.len());
    total.problems_dropped += problems.len() - keep;
    if stream.every_problem {
        let go_on = on_batch(total, &problems);
        problems.truncate(keep);
        total.problems.append(&mut problems);
        go_on
    } else {
        problems.truncate(keep);
        let go_on = on_batch(total, &[]);
        total.problems.append(&mut problems);
        go_on
    }
}

/// Converts every record of `input` to `output`, in order. `jobs` worker threads (1: all in the
/// calling thread); `progress` is called in the calling thread after each batch is written, with
/// the report so far, and stops the conversion (error `Interrupted`) by returning false.
pub fn transcode_stream<R: Read + Send, W: Write>(
    input: R,
    output: &mut W,
    opts: &RecordOptions,
    jobs: usize,
    progress: &mut dyn FnMut(&FileReport) -> bool,
) -> io::Result<FileReport> {
    transcode_stream_with(
        input,
        output,
        opts,
        jobs,
        &StreamOptions::default(),
        &mut |r, _| progress(r),
    )
}

/// [`transcode_stream`] with the report's limits and the reads set by `stream`, and `on_batch`
/// told of each batch (with every problem if `stream.every_problem`).
pub fn transcode_stream_with<R: Read + Send, W: Write>(
    input: R,
    output: &mut W,
    opts: &RecordOptions,
    jobs: usize,
    stream: &StreamOptions,
    on_batch: &mut OnBatch<'_>,
) -> io::Result<FileReport> {
    run_stream(
        input,
        output,
        RecordRange::default(),
        jobs,
        stream,
        &|batch| convert(batch, opts),
        on_batch,
    )
}

/// The pipeline of [`transcode_stream`] with the per-batch work as a parameter: reads `input`
/// (the records of `range`), runs `work` on each batch on `jobs` threads, writes the batches'
/// output to `output` in input order and merges their reports. One job: all in the calling
/// thread; more: `jobs` threads in all, the calling thread one of them ([`pool`]).
pub(crate) fn run_stream<R: Read + Send, W: Write>(
    input: R,
    output: &mut W,
    range: RecordRange,
    jobs: usize,
    stream: &StreamOptions,
    work: &(dyn Fn(Batch) -> Done + Sync),
    on_batch: &mut OnBatch<'_>,
) -> io::Result<FileReport> {
    if jobs <= 1 {
        let mut total = FileReport::default();
        let spare = Arc::new(Spare::default());
        let mut failed = None;
        read_batches(
            input,
            range,
            stream.read_size,
            BATCH_BYTES,
            stream.batch_keep(),
            Arc::clone(&spare),
            |batch| {
                let done = work(batch);
                let written = output.write_all(&done.out);
                spare.give_output(done.out);
                if let Err(e) = written {
                    failed = Some(e);
                    return false;
                }
                if !absorb(&mut total, done.report, stream, on_batch) {
                    failed = Some(stopped());
                    return false;
                }
                true
            },
        )?;
        return match failed {
            Some(e) => Err(e),
            None => Ok(total),
        };
    }
    pool::run_shared(input, output, range, jobs, stream, work, on_batch)
}

/// Converts the file `src` into `dst`, atomically: the output is written to a temporary file in
/// `dst`'s directory and renamed to `dst` only after everything was written and synced. Refuses
/// (`InvalidInput`) to write over `src`.
///
/// ```
/// use marc8::file::transcode_file;
/// use marc8::record::{parse, write_record, RecordOptions, Target};
///
/// let dir = std::env::temp_dir().join(format!("marc8-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let (src, dst) = (dir.join("in.mrc"), dir.join("out.mrc"));
/// let mut raw = Vec::new();
/// write_record(b"00000nam  2200000   4500", &[(*b"245", &b"10\x1FaCaf\xE2e"[..])], &mut raw)
///     .unwrap();
/// std::fs::write(&src, &raw).unwrap();
/// let opts = RecordOptions::new(Target::Utf8);
/// let report = transcode_file(&src, &dst, &opts, 1, &mut |_| true).unwrap();
/// assert_eq!((report.records_read, report.records_written), (1, 1));
/// let out = std::fs::read(&dst).unwrap();
/// assert_eq!(parse(&out).unwrap().leader[9], b'a');
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn transcode_file(
    src: &Path,
    dst: &Path,
    opts: &RecordOptions,
    jobs: usize,
    progress: &mut dyn FnMut(&FileReport) -> bool,
) -> io::Result<FileReport> {
    transcode_file_with(
        src,
        dst,
        opts,
        jobs,
        &StreamOptions::default(),
        &mut |r, _| progress(r),
    )
}

/// [`transcode_file`] with the report's limits and the reads set by `stream` (see
/// [`transcode_stream_with`]).
pub fn transcode_file_with(
    src: &Path,
    dst: &Path,
    opts: &RecordOptions,
    jobs: usize,
    stream: &StreamOptions,
    on_batch: &mut OnBatch<'_>,
) -> io::Result<FileReport> {
    if same_file(src, dst)? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "refusing to write the output over the input {}",
                src.display()
            ),
        ));
    }
    let input = File::open(src)?;
    let mut out = AtomicFile::create(dst)?;
    let report = transcode_stream_with(input, out.writer()?, opts, jobs, stream, on_batch)?;
    out.commit()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{split_records, transcode_record, Target};
    use crate::RecordKind;
    use std::fs;

    fn sample() -> Vec<u8> {
        let mut leader = *b"00000nam  2200000   4500";
        leader[9] = b' ';
        let mut one = Vec::new();
        crate::record::write_record(
            &leader,
            &[
                (*b"001", std::borrow::Cow::Borrowed(&b"n1"[..])),
                (
                    *b"245",
                    std::borrow::Cow::Borrowed(
                        &b"10\x1faCaf\xe2e \x1b$1\x21\x30\x64\x1b(B\xaf"[..],
                    ),
                ),
            ],
            &mut one,
        )
        .unwrap();
        let mut v = Vec::new();
        for i in 0..10_000 {
            v.extend_from_slice(&one);
            if i == 5000 {
                v.extend_from_slice(b"garbage");
            }
        }
        v
    }

    #[test]
    fn jobs_do_not_change_the_output_and_match_record_by_record() {
        let input = sample();
        let opts = RecordOptions::new(Target::Utf8);
        let mut expected = Vec::new();
        let (records, mut problems) = split_records(&input);
        for (n, off, raw) in &records {
            let c = transcode_record(raw, &opts, *n, *off as u64);
            expected.extend_from_slice(&c.record.unwrap());
            problems.extend(c.problems);
        }
        problems.sort_by_key(|p| (p.record_offset, p.kind == RecordKind::Garbage));
        for jobs in [1, 2, 3] {
            let mut out = Vec::new();
            let mut calls = 0;
            let report = transcode_stream(&input[..], &mut out, &opts, jobs, &mut |_| {
                calls += 1;
                true
            })
            .unwrap();
            assert_eq!(out, expected, "jobs={jobs}");
            assert_eq!(report.records_read, 10_000);
            assert_eq!(report.records_written, 10_000);
            assert_eq!(report.records_with_problems, 10_000);
            assert_eq!(report.bytes_in, input.len() as u64);
            assert_eq!(report.bytes_out, out.len() as u64);
            assert_eq!(report.problems.len(), problems.len());
            assert_eq!(
                report
                    .problems
                    .iter()
                    .filter(|p| p.kind == RecordKind::Garbage)
                    .count(),
                1
            );
            assert!(calls >= 2);
        }
    }

    #[test]
    fn refuses_to_overwrite_its_input_and_leaves_nothing_on_failure() {
        let dir = std::env::temp_dir().join(format!("marc8fast-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("in.mrc");
        fs::write(&src, sample()).unwrap();
        let opts = RecordOptions::new(Target::Utf8);
        let err = transcode_file(&src, &dir.join("./in.mrc"), &opts, 1, &mut |_| true).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(fs::read(&src).unwrap(), sample());
        let missing = transcode_file(
            &dir.join("nope.mrc"),
            &dir.join("out.mrc"),
            &opts,
            1,
            &mut |_| true,
        );
        assert!(missing.is_err());
        let dst = dir.join("out.mrc");
        let report = transcode_file(&src, &dst, &opts, 2, &mut |_| true).unwrap();
        assert_eq!(report.records_written, 10_000);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod stop_tests {
    use super::*;
    use crate::record::Target;

    #[test]
    fn a_progress_callback_can_stop_the_conversion() {
        let input = vec![b'x'; 3 * READ_CHUNK];
        let mut out = Vec::new();
        for jobs in [1, 2] {
            let err = transcode_stream(
                &input[..],
                &mut out,
                &RecordOptions::new(Target::Utf8),
                jobs,
                &mut |_| false,
            )
            .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        }
    }
}

mod pool;

#[cfg(test)]
mod stream_tests;

#[cfg(test)]
mod corpus_tests;
