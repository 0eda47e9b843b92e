//! Validation: every structural and encoding problem of every record of a file, positioned.
//!
//! [`validate_stream`] runs the same streaming, multi-threaded pipeline as
//! [`crate::file::transcode_stream`] (bounded memory, input order, every core), but instead of
//! writing records it checks them. Per record:
//!
//! * **structure** — the leader (record length digits, base address, indicator count `2` at 10,
//!   subfield code count `2` at 11, entry map `4500` at 20-23, coding scheme at 09), the directory
//!   (a multiple of 12 bytes, digits in every length and start, every field inside the record and
//!   ending with a field terminator), the record terminator, the tags (three ASCII letters or
//!   digits), the indicators (a digit, a lowercase letter or a blank) and the subfield codes (a
//!   lowercase letter or a digit) of the data fields;
//! * **encoding** — leader/09 against the data (`mislabelled`), every problem the MARC-8 decoder
//!   reports (each subfield decoded on its own, as the record layer converts it), invalid UTF-8
//!   in a record marked `a`, control characters MARC 21 forbids in either encoding
//!   (`control_character`: C0 controls other than 1D, 1E, 1F, a stray ESC in UTF-8, DEL, C1
//!   controls other than MARC-8's 88/89, and references to controls such as `&#x001F;`),
//!   numeric character references in the text (`ncr_present`,
//!   informational) and field 066 against the escape sequences the record's fields use
//!   (`bad_066`);
//! * **for export** ([`ValidateOptions::for_export`]) — every character of a UTF-8 record that
//!   has no MARC-8 equivalent (`unmappable`): what an export to MARC-8 would have to write as a
//!   numeric character reference.
//!
//! The decoding problems are the record layer's own ([`crate::record::transcode_with`] to UTF-8
//! into a scratch buffer), so validation and conversion can never disagree. Every problem carries
//! the record number, its byte offset, its 001, the tag and occurrence, the subfield and the
//! offset, like a conversion problem; its action is `reported`.

use crate::kinds::{RecordAction, RecordKind};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::convert::FormatWriter;
use crate::encoder::{encode_report, EncodeErrors, EncodeOptions};
use crate::file::{
    absorb, for_each_record, run_stream, stopped, Batch, Done, Fate, FileReport, OnBatch,
    RecordRange, StreamOptions,
};
use crate::record::{
    parse_layout, transcode_parsed, walk_data_field, EntryFault, Layout, LayoutError, Part,
    RecordOptions, RecordProblem, Scratch, Target, SD,
};
use crate::writer::Format;
use crate::{Charset, ProblemKind};

/// Options of validation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Also report every character of a UTF-8 record that MARC-8 cannot hold.
    pub for_export: bool,
    /// Which records to check.
    pub range: RecordRange,
}

/// Validates every record of `input`. `jobs` worker threads (1: all in the calling thread);
/// `progress` is called in the calling thread after each batch, with the report so far, and
/// stops the validation (error `Interrupted`) by returning false. The report's
/// `records_written` and `bytes_out` stay 0.
///
/// ```
/// use marc8::record::write_record;
/// use marc8::validate::{validate_stream, ValidateOptions};
///
/// let mut raw = Vec::new();
/// // Indicator 1 is '!', which MARC does not allow.
/// write_record(b"00000nam a2200000   4500", &[(*b"245", &b"!0\x1FaTitle"[..])], &mut raw)
///     .unwrap();
/// let report = validate_stream(&raw[..], &ValidateOptions::default(), 1, &mut |_| true).unwrap();
/// assert_eq!(report.records_read, 1);
/// assert_eq!(report.problems[0].kind.as_str(), "bad_indicator");
/// assert_eq!(report.problems[0].tag.as_deref(), Some("245"));
/// ```
pub fn validate_stream<R: Read + Send>(
    input: R,
    opts: &ValidateOptions,
    jobs: usize,
    progress: &mut dyn FnMut(&FileReport) -> bool,
) -> io::Result<FileReport> {
    validate_stream_with(input, opts, jobs, &StreamOptions::default(), &mut |r, _| {
        progress(r)
    })
}

/// [`validate_stream`] with the report's limits and the reads set by `stream`, and `on_batch`
/// told of each batch (with every problem if `stream.every_problem`): see
/// [`crate::file::transcode_stream_with`].
pub fn validate_stream_with<R: Read + Send>(
    input: R,
    opts: &ValidateOptions,
    jobs: usize,
    stream: &StreamOptions,
    on_batch: &mut OnBatch<'_>,
) -> io::Result<FileReport> {
    let mut input = input;
    // The one format detection (issue 18): MARCXML and MARC-in-JSON are validated too.
    let (format, head) = Format::sniff(&mut input)?;
    let input = io::Cursor::new(head).chain(input);
    if format != Format::Iso2709 {
        return validate_other(input, format, opts, stream, on_batch);
    }
    run_stream(
        input,
        &mut io::sink(),
        opts.range,
        jobs,
        stream,
        &|batch| check_batch(batch, opts),
        on_batch,
    )
}

/// [`validate_stream`] on a file.
pub fn validate_file(
    path: &Path,
    opts: &ValidateOptions,
    jobs: usize,
    progress: &mut dyn FnMut(&FileReport) -> bool,
) -> io::Result<FileReport> {
    validate_stream(File::open(path)?, opts, jobs, progress)
}

/// [`validate_stream_with`] on a file.
pub fn validate_file_with(
    path: &Path,
    opts: &ValidateOptions,
    jobs: usize,
    stream: &StreamOptions,
    on_batch: &mut OnBatch<'_>,
) -> io::Result<FileReport> {
    validate_stream_with(File::open(path)?, opts, jobs, stream, on_batch)
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Validates MARCXML or MARC-in-JSON: every record as its reader reads it (what the reader
/// reports, positioned by record number and byte offset), then as it would be written in ISO
/// 2709 (UTF-8; MARC-8 with [`ValidateOptions::for_export`], every character MARC-8 lacks
/// listed): a field or record too long for ISO 2709, a tag or code that cannot be written.
fn validate_other<R: Read>(
    input: R,
    format: Format,
    opts: &ValidateOptions,
    stream: &StreamOptions,
    on_batch: &mut OnBatch<'_>,
) -> io::Result<FileReport> {
    let mut counted = io::BufReader::new(Counted {
        inner: input,
        count: 0,
    });
    let mut total = FileReport::default();
    let encoding = if opts.for_export {
        Target::Marc8
    } else {
        Target::Utf8
    };
    let mut writer = FormatWriter::new(
        io::sink(),
        Format::Iso2709,
        encoding,
        EncodeErrors::default(),
    );
    let items: Box<dyn Iterator<Item = crate::marcxml::ReadRecord> + '_> = match format {
        Format::Json => Box::new(crate::marcjson::JsonReader::new(&mut counted)),
        _ => Box::new(crate::marcxml::XmlReader::new(&mut counted)),
    };
    let range = opts.range;
    let mut limited = false;
    for item in items {
        if item.number <= range.offset {
            continue;
        }
        if range
            .limit
            .is_some_and(|l| item.number > range.offset.saturating_add(l))
        {
            limited = true;
            break;
        }
        let mut part = FileReport::default();
        let mut problems = item.problems;
        if let Some(rec) = &item.record {
            part.records_read = 1;
            if !writer.write(rec, item.number, item.offset, &mut problems)? {
                part.records_rejected = 1;
            }
            if !problems.is_empty() {
                part.records_with_problems = 1;
            }
        } else if problems.iter().any(|p| p.action == RecordAction::Rejected) {
            part.records_read = 1;
            part.records_rejected = 1;
        }
        part.problems = problems;
        if !absorb(&mut total, part, stream, on_batch) {
            return Err(stopped());
        }
    }
    // A reader that stopped at a syntax error has read as far as its buffer happened to reach:
    // the rest is counted too, so `bytes_in` is the input's size whatever the read sizes (the
    // fuzz target `stream` holds it to that). A `--limit` stop reads no further.
    if !limited {
        io::copy(&mut counted, &mut io::sink())?;
    }
    total.bytes_in = counted.get_ref().count;
    if !absorb(&mut total, FileReport::default(), stream, on_batch) {
        return Err(stopped());
    }
    Ok(total)
}

/// Buffers reused from one record to the next.
mod check;

use check::*;

#[cfg(test)]
mod tests;
