//! Converting record files between ISO 2709, MARCXML and MARC-in-JSON, one record at a time.
//!
//! [`records`] reads any of the three formats as a stream of [`ReadRecord`]s (ISO 2709 through
//! the record layer's splitter and [`Record::from_iso2709`], MARCXML through
//! [`crate::marcxml::XmlReader`], JSON through [`crate::marcjson::JsonReader`]);
//! [`FormatWriter`] writes any of the three; [`convert_file`] joins them, writing atomically.
//! Memory holds one record (plus, for ISO 2709, one read chunk) whatever the file size.

use crate::kinds::{RecordAction, RecordKind};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use crate::atomic::{same_file, AtomicFile};
use crate::batch::{Batch, BatchReader, Item, RecordRange, READ_CHUNK};
use crate::encoder::EncodeErrors;
use crate::file::FileReport;
use crate::file::{run_stream, Done, StreamOptions};
use crate::marcjson::JsonReader;
use crate::marcxml::{ReadRecord, XmlReader};
use crate::model::{ReadOptions, Record};
use crate::record::{length_problem, RecordProblem, Target};
use std::collections::VecDeque;

use crate::sink::{Iso2709Sink, RecordSink};
pub use crate::writer::Format;

impl Format {
    /// The sink that writes this format.
    #[must_use]
    pub fn sink(self, to: Target, errors: EncodeErrors) -> Box<dyn RecordSink> {
        match self {
            Format::Iso2709 => Box::new(Iso2709Sink::new(to, errors)),
            Format::MarcXml => Box::<crate::marcxml::MarcXmlSink>::default(),
            Format::Json => Box::<crate::marcjson::JsonSink>::default(),
        }
    }
}

/// The stable name of a format: `iso2709`, `marcxml`, `json`.
#[must_use]
pub fn format_name(format: Format) -> &'static str {
    match format {
        Format::Iso2709 => "iso2709",
        Format::MarcXml => "marcxml",
        Format::Json => "json",
    }
}

/// The format of an input from its first bytes: [`Format::detect`].
#[must_use]
pub fn detect_format(head: &[u8]) -> Format {
    Format::detect(head)
}

// ------------------------------------------------------------------------------------------------
// Reading ISO 2709 as a stream of model records

/// ISO 2709 records from a reader, in bounded memory, one at a time: the records of the
/// `BatchReader` every ISO 2709 reader uses (so a stretch of garbage is one problem, as in
/// [`crate::file`] and [`crate::reader`]), converted to the model with the options given.
pub struct IsoReader<R: Read> {
    batches: BatchReader<R>,
    ready: VecDeque<ReadRecord>,
    opts: ReadOptions,
    done: bool,
}

impl<R: Read> IsoReader<R> {
    /// A reader of ISO 2709 records, converted to the model with `opts`.
    pub fn new(input: R, opts: ReadOptions) -> Self {
        IsoReader {
            batches: BatchReader::new(input, RecordRange::default(), READ_CHUNK, None),
            ready: VecDeque::new(),
            opts,
            done: false,
        }
    }

    /// Converts the records of a batch and queues them with the problems met.
    fn queue(&mut self, batch: Batch) {
        for item in batch.items {
            let read = match item {
                Item::Record {
                    number,
                    offset,
                    start,
                    end,
                    length_mismatch,
                } => {
                    let raw = &batch.data[start..end];
                    let mut problems = Vec::new();
                    if length_mismatch {
                        problems.push(length_problem(number, offset, raw));
                    }
                    let record =
                        Record::from_iso2709(raw, &self.opts, number, offset, &mut problems)
                            .map(|(r, _)| r);
                    ReadRecord {
                        number,
                        offset,
                        record,
                        problems,
                    }
                }
                Item::Skipped(p) => ReadRecord {
                    number: p.record,
                    offset: p.record_offset,
                    record: None,
                    problems: vec![p],
                },
            };
            self.ready.push_back(read);
        }
    }
}

impl<R: Read> Iterator for IsoReader<R> {
    type Item = ReadRecord;

    fn next(&mut self) -> Option<ReadRecord> {
        loop {
            if let Some(read) = self.ready.pop_front() {
                return Some(read);
            }
            if self.done {
                return None;
            }
            match self.batches.next_batch() {
                Ok(Some(batch)) => self.queue(batch),
                Ok(None) => {
                    self.done = true;
                }
                Err(e) => {
                    if let Some(batch) = self.batches.take_pending() {
                        self.queue(batch);
                    }
                    self.done = true;
                    let number = self.batches.records() + 1;
                    self.ready
                        .push_back(io_problem(number, self.batches.position(), &e));
                }
            }
        }
    }
}

fn io_problem(number: usize, offset: u64, e: &io::Error) -> ReadRecord {
    ReadRecord {
        number,
        offset,
        record: None,
        problems: vec![RecordProblem {
            record: number,
            record_offset: offset,
            control_number: None,
            tag: None,
            occurrence: None,
            subfield: None,
            offset: None,
            field_offset: None,
            kind: RecordKind::IoError,
            bytes: Vec::new(),
            action: RecordAction::Stopped,
            message: format!("reading the input done: {e}"),
        }],
    }
}

/// The records of an input in `format` (detected from its first bytes when `None`).
pub fn records<'a, R: BufRead + 'a>(
    mut input: R,
    format: Option<Format>,
    opts: ReadOptions,
) -> io::Result<(Format, Box<dyn Iterator<Item = ReadRecord> + 'a>)> {
    // What detection read is read again: a pipe is read once.
    let (format, head) = match format {
        Some(f) => (f, Vec::new()),
        None => Format::sniff(&mut input)?,
    };
    let input = io::Cursor::new(head).chain(input);
    let it: Box<dyn Iterator<Item = ReadRecord> + 'a> = match format {
        Format::Iso2709 => Box::new(IsoReader::new(input, opts)),
        Format::MarcXml => Box::new(XmlReader::new(input)),
        Format::Json => Box::new(JsonReader::new(input)),
    };
    Ok((format, it))
}

// ------------------------------------------------------------------------------------------------
// Writing

/// Writes records in one of the formats to any `Write`, with the format's
/// [`RecordSink`]: [`FormatWriter::write`] per record, then
/// [`FormatWriter::finish`].
pub struct FormatWriter<W: Write> {
    out: W,
    sink: Box<dyn crate::writer::RecordSink>,
    written: usize,
    started: bool,
    buf: Vec<u8>,
}

impl<W: Write> FormatWriter<W> {
    /// A writer of `format`; `to` and `errors` say how ISO 2709 is encoded (MARCXML and JSON are
    /// always UTF-8).
    pub fn new(out: W, format: Format, to: Target, errors: EncodeErrors) -> Self {
        FormatWriter {
            out,
            sink: format.sink(to, errors),
            written: 0,
            started: false,
            buf: Vec::new(),
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            self.buf.clear();
            self.sink.start(&mut self.buf);
            self.out.write_all(&self.buf)?;
        }
        Ok(())
    }

    /// Writes one record; `number` and `offset` position its problems. Returns whether it was
    /// written (ISO 2709 rejects what it cannot write correctly; the problems say why).
    pub fn write(
        &mut self,
        rec: &Record,
        number: usize,
        offset: u64,
        problems: &mut Vec<RecordProblem>,
    ) -> io::Result<bool> {
        self.start()?;
        let fields: Vec<&crate::model::Field> = rec.fields.iter().collect();
        self.buf.clear();
        let ok = self.sink.record(
            &rec.leader,
            &fields,
            number,
            offset,
            &mut self.buf,
            problems,
        );
        self.out.write_all(&self.buf)?;
        if ok {
            self.written += 1;
        }
        Ok(ok)
    }

    /// Writes what ends the document and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.start()?;
        self.buf.clear();
        self.sink.end(&mut self.buf);
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Records written so far.
    #[must_use]
    pub fn written(&self) -> usize {
        self.written
    }
}

/// What to convert from and to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvertOptions {
    /// The input format; `None`: detected from the first bytes.
    pub from: Option<Format>,
    /// The output format.
    pub to: Format,
    /// How ISO 2709 input is read into the model.
    pub read: ReadOptions,
    /// The encoding of ISO 2709 output.
    pub encoding: Target,
    /// What to do with characters MARC-8 lacks (ISO 2709 output in MARC-8).
    pub errors: EncodeErrors,
}

/// Converts every record of `input` to `output`; returns the counts and every problem, in input
/// order. `progress` is called after each record with the report so far; returning false stops.
pub fn convert_stream<R: BufRead, W: Write>(
    input: R,
    output: W,
    opts: &ConvertOptions,
    progress: &mut dyn FnMut(&FileReport) -> bool,
) -> io::Result<(Format, FileReport, W)> {
    let (format, items) = records(input, opts.from, opts.read)?;
    let mut writer = FormatWriter::new(output, opts.to, opts.encoding, opts.errors);
    let mut report = FileReport::default();
    for item in items {
        let mut problems = item.problems;
        if let Some(rec) = &item.record {
            report.records_read += 1;
            if !writer.write(rec, item.number, item.offset, &mut problems)? {
                report.records_rejected += 1;
            }
        } else if problems.iter().any(|p| p.action == RecordAction::Rejected) {
            report.records_read += 1;
            report.records_rejected += 1;
        }
        if item.record.is_some() && !problems.is_empty() {
            report.records_with_problems += 1;
        }
        for p in problems {
            report.add_problem(p);
        }
        if !progress(&report) {
            break;
        }
    }
    report.records_written = writer.written();
    let out = writer.finish()?;
    Ok((format, report, out))
}

/// Converts the file `src` into `dst` (atomically) from one format to another, on as many
/// threads as the machine has ([`convert_file_jobs`]).
pub fn convert_file(
    src: &Path,
    dst: &Path,
    opts: &ConvertOptions,
    progress: &mut dyn FnMut(&FileReport) -> bool,
) -> io::Result<(Format, FileReport)> {
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    convert_file_jobs(src, dst, opts, jobs, progress)
}

/// Converts the file `src` into `dst` from one format to another, atomically (a temporary file
/// beside `dst`, created with the umask's mode, renamed over `dst` once complete and synced);
/// returns the input format and the report. Refuses (`InvalidInput`) to write over `src`.
///
/// ISO 2709 read into ISO 2709 or MARCXML goes through the batch pipeline of
/// [`crate::file`] on `jobs` threads (issue 22): each batch of records is read into the model
/// and serialized by a worker, and the batches are written in input order, so the output and
/// the report are those of [`convert_stream`] (which the other pairs of formats still use, one
/// record at a time). `progress` is then called after each batch rather than each record.
pub fn convert_file_jobs(
    src: &Path,
    dst: &Path,
    opts: &ConvertOptions,
    jobs: usize,
    progress: &mut dyn FnMut(&FileReport) -> bool,
) -> io::Result<(Format, FileReport)> {
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
    let bytes_in = input.metadata().map(|m| m.len()).unwrap_or(0);
    let mut input = BufReader::with_capacity(1 << 20, input);
    let (format, head) = match opts.from {
        Some(f) => (f, Vec::new()),
        None => Format::sniff(&mut input)?,
    };
    let input = io::Cursor::new(head).chain(input);
    let mut out = AtomicFile::create(dst)?;
    let mut report =
        if format == Format::Iso2709 && matches!(opts.to, Format::Iso2709 | Format::MarcXml) {
            iso_in_batches(input, out.writer()?, opts, jobs.max(1), progress)?
        } else {
            let opts = ConvertOptions {
                from: Some(format),
                ..*opts
            };
            convert_stream(input, out.writer()?, &opts, progress)?.1
        };
    report.bytes_in = bytes_in;
    report.bytes_out = out.commit()?;
    Ok((format, report))
}

/// ISO 2709 into a format whose sink keeps nothing from one record to the next (ISO 2709,
/// MARCXML), on `jobs` threads through [`crate::file`]'s ordered pipeline. Each record is read
/// into the model and written by the format's sink exactly as [`convert_stream`] does, and
/// counted the same way.
fn iso_in_batches<R: Read + Send, W: Write>(
    input: R,
    output: &mut W,
    opts: &ConvertOptions,
    jobs: usize,
    progress: &mut dyn FnMut(&FileReport) -> bool,
) -> io::Result<FileReport> {
    let mut edge = Vec::new();
    opts.to.sink(opts.encoding, opts.errors).start(&mut edge);
    output.write_all(&edge)?;
    let work = |batch: Batch| -> Done {
        let mut sink = opts.to.sink(opts.encoding, opts.errors);
        let mut out = Vec::with_capacity(batch.span() * 3);
        let mut report = FileReport::default();
        for item in batch.items {
            let (number, offset, record, mut problems) = match item {
                Item::Record {
                    number,
                    offset,
                    start,
                    end,
                    length_mismatch,
                } => {
                    let raw = &batch.data[start..end];
                    // Straight from the bytes when the sink can and nothing is to be reported.
                    if !length_mismatch
                        && sink.raw_record(raw, &opts.read, number, offset, &mut out)
                    {
                        report.records_read += 1;
                        report.records_written += 1;
                        continue;
                    }
                    let mut problems = Vec::new();
                    if length_mismatch {
                        problems.push(length_problem(number, offset, raw));
                    }
                    let record =
                        Record::from_iso2709(raw, &opts.read, number, offset, &mut problems)
                            .map(|(r, _)| r);
                    (number, offset, record, problems)
                }
                Item::Skipped(p) => (p.record, p.record_offset, None, vec![p]),
            };
            if let Some(rec) = &record {
                report.records_read += 1;
                let fields: Vec<&crate::model::Field> = rec.fields.iter().collect();
                if sink.record(
                    &rec.leader,
                    &fields,
                    number,
                    offset,
                    &mut out,
                    &mut problems,
                ) {
                    report.records_written += 1;
                } else {
                    report.records_rejected += 1;
                }
            } else if problems.iter().any(|p| p.action == RecordAction::Rejected) {
                report.records_read += 1;
                report.records_rejected += 1;
            }
            if record.is_some() && !problems.is_empty() {
                report.records_with_problems += 1;
            }
            report.problems.append(&mut problems);
        }
        Done {
            id: batch.id,
            out,
            report,
        }
    };
    let report = run_stream(
        input,
        output,
        RecordRange::default(),
        jobs,
        &StreamOptions::default(),
        &work,
        &mut |r, _| progress(r),
    )?;
    edge.clear();
    opts.to.sink(opts.encoding, opts.errors).end(&mut edge);
    output.write_all(&edge)?;
    output.flush()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marcxml::{self, tests::sample as xml_sample};
    use crate::model::FieldData;

    /// The MARCXML tests' sample without its tab, CR and LF: ISO 2709 record data may not hold
    /// control characters (read back, they are replaced and reported), so they would not make
    /// the round trip these tests check.
    fn sample() -> Record {
        let mut rec = xml_sample();
        for f in &mut rec.fields {
            if let FieldData::Data { subfields, .. } = &mut f.data {
                for s in subfields {
                    s.value.retain(|c| !c.is_control());
                }
            }
        }
        rec
    }

    fn convert(input: &[u8], from: Option<Format>, to: Format) -> (Format, FileReport, Vec<u8>) {
        let opts = ConvertOptions {
            from,
            to,
            read: ReadOptions::default(),
            encoding: Target::Utf8,
            errors: EncodeErrors::default(),
        };
        convert_stream(input, Vec::new(), &opts, &mut |_| true).unwrap()
    }

    #[test]
    fn detects_formats() {
        assert_eq!(detect_format(b"  \n<?xml"), Format::MarcXml);
        assert_eq!(detect_format(b"\xEF\xBB\xBF["), Format::Json);
        assert_eq!(detect_format(b"{"), Format::Json);
        assert_eq!(detect_format(b"00123nam"), Format::Iso2709);
        assert_eq!(detect_format(b""), Format::Iso2709);
    }

    #[test]
    fn every_format_to_every_format_keeps_the_record() {
        let (xml, _) = marcxml::collection_document(&[sample(), sample()]);
        let (_, _, iso) = convert(xml.as_bytes(), None, Format::Iso2709);
        let (f, report, json) = convert(&iso, None, Format::Json);
        assert_eq!(f, Format::Iso2709);
        assert_eq!((report.records_read, report.records_written), (2, 2));
        let (f, _, xml2) = convert(&json, None, Format::MarcXml);
        assert_eq!(f, Format::Json);
        assert_eq!(String::from_utf8(xml2).unwrap(), xml_as_written(&xml));
        let (_, _, iso2) = convert(
            &xml_as_written(&xml).into_bytes(),
            Some(Format::MarcXml),
            Format::Iso2709,
        );
        assert_eq!(iso, iso2);
    }

    /// The sample's leader as the writers give it (lengths recomputed, 09 = 'a').
    fn xml_as_written(xml: &str) -> String {
        let items: Vec<_> = XmlReader::new(xml.as_bytes()).collect();
        let recs: Vec<_> = items.into_iter().map(|i| i.record.unwrap()).collect();
        marcxml::collection_document(&recs).0
    }

    #[test]
    fn iso2709_garbage_and_rejections_are_counted() {
        let (xml, _) = marcxml::collection_document(&[sample()]);
        let (_, _, iso) = convert(xml.as_bytes(), None, Format::Iso2709);
        let mut input = b"junk".to_vec();
        input.extend_from_slice(&iso);
        input.extend_from_slice(&iso[..30]);
        let (_, report, out) = convert(&input, Some(Format::Iso2709), Format::MarcXml);
        assert_eq!(report.records_written, 1);
        let kinds: Vec<_> = report.problems.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [RecordKind::Garbage, RecordKind::TruncatedRecord]);
        assert_eq!(XmlReader::new(&out[..]).count(), 1);
    }
}
