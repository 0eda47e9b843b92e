//! `ImportReader`: the import pipeline's reader (issue 21). The core's reader splits, parses and
//! converts the input on worker threads; a preparing thread runs the core's per-record pipeline
//! (`marc8::pipeline::prepare`) on each batch; Python takes each batch, prepared, in columns
//! (`PreparedBatch`), with the GIL released while it waits.

use std::io;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Mutex;
use std::thread::JoinHandle;

use marc8::file::FileReport;
use marc8::pipeline::{pgcopy, prepare, Prepared, Settings, Status};
use marc8::reader::{AnyReader, ReadItem, ReadRecord};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::model::Record;
use crate::options::read_options;
use crate::reader::{start, PyReader};
use crate::records::RecordProblem;

/// One entry of a prepared batch.
enum Entry {
    /// A record and what the pipeline made of it (the record kept only for the slow path).
    Record {
        number: usize,
        offset: u64,
        prepared: Box<Prepared>,
        slow: Option<Box<ReadRecord>>,
    },
    Other(ReadItem),
}

struct Done {
    entries: Vec<Entry>,
    bytes_in: u64,
}

/// Prepares a batch's records on `threads` threads (the batch cut into that many runs).
fn prepare_batch(items: Vec<ReadItem>, settings: &Settings, threads: usize) -> Vec<Entry> {
    let threads = threads.clamp(1, 8);
    if threads == 1 || items.len() < 16 {
        return prepare_run(items, settings);
    }
    let per = items.len().div_ceil(threads);
    let mut runs: Vec<Vec<ReadItem>> = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let run: Vec<ReadItem> = items.by_ref().take(per).collect();
        if run.is_empty() {
            break;
        }
        runs.push(run);
    }
    let mut first = runs.remove(0);
    std::thread::scope(|scope| {
        let others: Vec<_> = runs
            .into_iter()
            .map(|run| scope.spawn(move || prepare_run(run, settings)))
            .collect();
        let mut out = prepare_run(std::mem::take(&mut first), settings);
        for h in others {
            match h.join() {
                Ok(entries) => out.extend(entries),
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        out
    })
}

fn prepare_run(items: Vec<ReadItem>, settings: &Settings) -> Vec<Entry> {
    items
        .into_iter()
        .map(|item| match item {
            ReadItem::Record(r) => {
                let clean = r.problems.is_empty() && r.length_problem.is_none();
                let (number, offset) = (r.number, r.offset);
                let prepared = if clean {
                    prepare(&r.record, number, offset, settings)
                } else {
                    Prepared::slow()
                };
                let slow = (prepared.status == Status::Slow).then_some(r);
                Entry::Record {
                    number,
                    offset,
                    prepared: Box::new(prepared),
                    slow,
                }
            }
            other => Entry::Other(other),
        })
        .collect()
}

/// Reads an input (a binary file object or bytes) for the importer: each batch comes prepared.
#[pyclass(module = "marc8fast._native", name = "ImportReader")]
pub struct ImportReader {
    rx: Option<Mutex<Receiver<io::Result<Done>>>>,
    thread: Option<JoinHandle<()>>,
    report: FileReport,
    format: marc8::writer::Format,
}

impl ImportReader {
    fn finish(&mut self) {
        self.rx = None;
        if let Some(t) = self.thread.take() {
            // The thread stops at its next send (the receiver is gone).
            drop(t);
        }
    }
}

#[pymethods]
impl ImportReader {
    #[new]
    #[pyo3(signature = (source, *, target_prefix = "(LOCAL)", lang_fold = true, jobs = None))]
    fn new(
        source: &Bound<'_, PyAny>,
        target_prefix: &str,
        lang_fold: bool,
        jobs: Option<usize>,
    ) -> PyResult<Self> {
        let opts = read_options("data", None, true, false)?;
        let jobs = jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1);
        let py = source.py();
        let reader: AnyReader = if let Ok(b) = source.cast::<PyBytes>() {
            start(py, io::Cursor::new(b.as_bytes().to_vec()), None, opts, jobs)?
        } else {
            let file = PyReader {
                file: source.clone().unbind(),
                pending: Vec::new(),
            };
            start(py, file, None, opts, jobs)?
        };
        let format = reader.format();
        let settings = Settings {
            target_prefix: target_prefix.to_owned(),
            lang_fold,
        };
        let (tx, rx) = sync_channel::<io::Result<Done>>(2);
        let thread = std::thread::spawn(move || {
            let mut reader = reader;
            loop {
                let msg = match reader.next_batch() {
                    Ok(Some(batch)) => Ok(Done {
                        bytes_in: batch.bytes_in,
                        entries: prepare_batch(batch.items, &settings, jobs),
                    }),
                    Ok(None) => return,
                    Err(e) => Err(e),
                };
                let stop = msg.is_err();
                if tx.send(msg).is_err() || stop {
                    return;
                }
            }
        });
        Ok(ImportReader {
            rx: Some(Mutex::new(rx)),
            thread: Some(thread),
            report: FileReport::default(),
            format,
        })
    }

    /// The next batch, prepared (None at the end of the input).
    fn next_batch(&mut self, py: Python<'_>) -> PyResult<Option<PreparedBatch>> {
        let Some(rx) = &self.rx else {
            return Ok(None);
        };
        let got = py.detach(|| match rx.lock() {
            Ok(rx) => rx.recv().map_err(|_| ()),
            Err(_) => Err(()),
        });
        let done = match got {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                self.finish();
                return Err(crate::errors::os_error(e.to_string()));
            }
            Err(_) => {
                self.finish();
                return Ok(None);
            }
        };
        self.report.bytes_in += done.bytes_in;
        let mut batch = PreparedBatch::default();
        for entry in done.entries {
            match entry {
                Entry::Other(ReadItem::Skipped(p)) => self.report.add_problem(p),
                Entry::Other(ReadItem::Rejected(ps)) => {
                    self.report.records_read += 1;
                    self.report.records_rejected += 1;
                    self.report.records_with_problems += 1;
                    for p in ps {
                        self.report.add_problem(p);
                    }
                }
                Entry::Other(ReadItem::Record(_)) => {}
                Entry::Record {
                    number,
                    offset,
                    prepared,
                    slow,
                } => {
                    self.report.records_read += 1;
                    self.report.records_written += 1;
                    if let Some(r) = &slow {
                        if r.length_problem.is_some() || !r.problems.is_empty() {
                            self.report.records_with_problems += 1;
                        }
                        if let Some(p) = &r.length_problem {
                            self.report.add_problem(p.clone());
                        }
                    }
                    batch.numbers.push(number);
                    batch.offsets.push(offset);
                    batch.prepared.push(*prepared);
                    batch.slow.push(slow);
                }
            }
        }
        Ok(Some(batch))
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (exc_type, exc_value, traceback))]
    fn __exit__(
        &mut self,
        exc_type: &Bound<'_, PyAny>,
        exc_value: &Bound<'_, PyAny>,
        traceback: &Bound<'_, PyAny>,
    ) {
        let _ = (exc_type, exc_value, traceback);
        self.finish();
    }

    /// The file-level problems so far (as `MARCReader.problems`).
    #[getter]
    fn problems(&self) -> Vec<RecordProblem> {
        self.report
            .problems
            .iter()
            .cloned()
            .map(RecordProblem::from)
            .collect()
    }

    /// Records found so far.
    #[getter]
    fn records_read(&self) -> usize {
        self.report.records_read
    }

    /// Input bytes read so far.
    #[getter]
    fn bytes_read(&self) -> u64 {
        self.report.bytes_in
    }

    /// The input's format.
    #[getter]
    fn format(&self) -> &'static str {
        marc8::convert::format_name(self.format)
    }
}

/// A batch of records, prepared by the core, in columns (entry `i` of each column is the
/// batch's record `i`).
#[pyclass(module = "marc8fast._native", name = "PreparedBatch")]
#[derive(Default)]
pub struct PreparedBatch {
    numbers: Vec<usize>,
    offsets: Vec<u64>,
    prepared: Vec<Prepared>,
    slow: Vec<Option<Box<ReadRecord>>>,
}

fn status_code(s: &Status) -> u8 {
    match s {
        Status::Ready => 0,
        Status::Slow => 1,
        Status::NoFields => 2,
    }
}

#[pymethods]
impl PreparedBatch {
    fn __len__(&self) -> usize {
        self.prepared.len()
    }

    /// Each record's number in the input (from 1).
    #[getter]
    fn numbers(&self) -> Vec<usize> {
        self.numbers.clone()
    }

    /// Each record's byte offset in the input.
    #[getter]
    fn offsets(&self) -> Vec<u64> {
        self.offsets.clone()
    }

    /// Each record's status: 0 ready, 1 slow (`record(i)`), 2 no fields.
    #[getter]
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let codes: Vec<u8> = self
            .prepared
            .iter()
            .map(|p| status_code(&p.status))
            .collect();
        Ok(PyBytes::new(py, &codes))
    }

    /// The record the slow path takes (once; None after).
    fn record(&mut self, i: usize) -> Option<Record> {
        self.slow
            .get_mut(i)
            .and_then(Option::take)
            .map(|r| Record::from_read(*r))
    }

    /// Each record's first 001.
    #[getter]
    fn control_numbers(&self) -> Vec<Option<String>> {
        self.prepared
            .iter()
            .map(|p| p.control_number.clone())
            .collect()
    }

    /// Each record's 049 $a holding symbols.
    #[getter]
    fn symbols(&self) -> Vec<Vec<String>> {
        self.prepared.iter().map(|p| p.symbols.clone()).collect()
    }

    /// `{i: [(short, full), ...]}` for the records the rules changed.
    #[getter]
    fn changes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (i, p) in self.prepared.iter().enumerate() {
            if !p.changes.is_empty() {
                let list: Vec<(String, String)> = p
                    .changes
                    .iter()
                    .map(|c| (c.short.clone(), c.full.clone()))
                    .collect();
                d.set_item(i, list)?;
            }
        }
        Ok(d)
    }

    /// Each record's stored bytes (empty unless ready).
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.prepared.iter().map(|p| PyBytes::new(py, &p.data)))
    }

    /// Each record's OCLC numbers.
    #[getter]
    fn oclc(&self) -> Vec<Vec<String>> {
        self.prepared.iter().map(|p| p.oclc.clone()).collect()
    }

    /// Each record's title/author key.
    #[getter]
    fn title_keys(&self) -> Vec<Option<String>> {
        self.prepared.iter().map(|p| p.title_key.clone()).collect()
    }

    /// Each record's other match keys: `[(kind, value), ...]`.
    #[getter]
    fn keys(&self) -> Vec<Vec<(&'static str, String)>> {
        self.prepared.iter().map(|p| p.keys.clone()).collect()
    }

    /// Each record's search index row (title, author, subject, isbn, issn, oclc).
    #[getter]
    fn terms<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows: PyResult<Vec<Bound<'py, PyTuple>>> = self
            .prepared
            .iter()
            .map(|p| PyTuple::new(py, p.terms.iter()))
            .collect();
        PyList::new(py, rows?)
    }
}

/// The match keys other than OCLC numbers and the title key (`[(kind, value), ...]`: lccn,
/// isbn, issn, sysid, digest) of a stored UTF-8 ISO 2709 record, as the pipeline makes them for
/// an incoming one; empty if the record cannot be read.
#[pyfunction]
#[pyo3(signature = (data, *, target_prefix = "(LOCAL)"))]
pub(crate) fn pipeline_stored_keys(
    data: &[u8],
    target_prefix: &str,
) -> PyResult<Vec<(&'static str, String)>> {
    let opts = read_options("data", None, true, false)?;
    let mut problems = Vec::new();
    let Some((rec, _)) = marc8::model::Record::from_iso2709(data, &opts, 1, 0, &mut problems)
    else {
        return Ok(Vec::new());
    };
    let settings = Settings {
        target_prefix: target_prefix.to_owned(),
        lang_fold: true,
    };
    Ok(marc8::pipeline::stored_keys(&rec, &settings))
}

// --- i20-pgcopy (issue 20): the PostgreSQL catalog's bulk writes, built by the core ---

/// A new record as the PostgreSQL catalog hands it over: `(sysno, data, title_key, oclc,
/// terms, keys, source, detail)`.
type NewRowIn<'py> = (
    i64,
    Bound<'py, PyBytes>,
    Option<String>,
    Vec<String>,
    Vec<String>,
    Vec<(String, String)>,
    String,
    String,
);

/// The binary `COPY` payloads of a group's new records (`marc8::pipeline::pgcopy::new_records`,
/// built with the GIL released): `[(payload, rows), ...]` for records, oclc, search_index,
/// events and match_keys, in that order.
#[pyfunction]
#[pyo3(signature = (rows, time, batch_id))]
pub(crate) fn pgcopy_new_records<'py>(
    py: Python<'py>,
    rows: Vec<NewRowIn<'py>>,
    time: String,
    batch_id: Option<i64>,
) -> PyResult<Vec<(Bound<'py, PyBytes>, usize)>> {
    let owned: Vec<_> = rows
        .into_iter()
        .map(|(sysno, data, key, oclc, terms, keys, source, detail)| {
            (
                sysno,
                data.as_bytes().to_vec(),
                key,
                oclc,
                terms,
                keys,
                source,
                detail,
            )
        })
        .collect();
    let out = py.detach(|| {
        let view: Vec<pgcopy::NewRow<'_>> = owned
            .iter()
            .map(
                |(sysno, data, key, oclc, terms, keys, source, detail)| pgcopy::NewRow {
                    sysno: *sysno,
                    data,
                    title_key: key.as_deref(),
                    oclc: oclc.iter().map(String::as_str).collect(),
                    terms: terms.iter().map(String::as_str).collect(),
                    keys: keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
                    source,
                    detail,
                },
            )
            .collect();
        pgcopy::new_records(&view, &time, batch_id)
    });
    Ok(out
        .iter()
        .map(|(buf, n)| (PyBytes::new(py, buf), *n))
        .collect())
}

/// A load log row as the PostgreSQL catalog holds it: `(batch_id, input_file, input_hash,
/// record_index, fate, sysno, message, time)`.
type LogRowIn = (
    Option<i64>,
    String,
    String,
    i32,
    String,
    Option<i64>,
    String,
    String,
);

/// The binary `COPY` payload of load log rows (`marc8::pipeline::pgcopy::load_log`).
#[pyfunction]
pub(crate) fn pgcopy_load_log<'py>(
    py: Python<'py>,
    rows: Vec<LogRowIn>,
) -> PyResult<Bound<'py, PyBytes>> {
    let out = py.detach(|| {
        let view: Vec<pgcopy::LogRow<'_>> = rows
            .iter()
            .map(
                |(b, file, hash, index, fate, sysno, message, time)| pgcopy::LogRow {
                    batch_id: *b,
                    input_file: file,
                    input_hash: hash,
                    record_index: *index,
                    fate,
                    sysno: *sysno,
                    message,
                    time,
                },
            )
            .collect();
        pgcopy::load_log(&view)
    });
    Ok(PyBytes::new(py, &out))
}
