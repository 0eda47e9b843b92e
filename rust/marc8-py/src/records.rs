//! Records and files: `transcode_record`, `read_records`, `transcode_file`, and the
//! `RecordProblem` / `Report` objects.

use std::path::PathBuf;

use marc8::file::{FileReport, StreamOptions};
use marc8::record::RecordProblem as CoreProblem;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::options::record_options;

/// Problems a Report keeps unless told otherwise (`max_problems`); all of them are counted.
pub(crate) const DEFAULT_MAX_PROBLEMS: usize = 10_000;

/// Runs a stream with the GIL released. After each batch, with the GIL (only if there is a
/// callback, or `always`: a signal such as Ctrl-C is then noticed), `on_problem` is called on
/// each of the batch's problems in input order and `progress(records_read, bytes_in)` once. An
/// exception in either, or a signal, stops the stream and is raised.
pub(crate) fn run_stream(
    py: Python<'_>,
    max_problems: Option<usize>,
    progress: Option<Py<PyAny>>,
    on_problem: Option<Py<PyAny>>,
    always: bool,
    work: impl FnOnce(
            &StreamOptions,
            &mut dyn FnMut(&FileReport, &[CoreProblem]) -> bool,
        ) -> std::io::Result<FileReport>
        + Send,
) -> PyResult<Result<FileReport, std::io::Error>> {
    let stream = StreamOptions {
        max_problems,
        every_problem: on_problem.is_some(),
        ..StreamOptions::default()
    };
    let attach = always || progress.is_some() || on_problem.is_some();
    let mut callback_error: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut on_batch = |r: &FileReport, problems: &[CoreProblem]| {
            if !attach {
                return true;
            }
            Python::attach(|py| {
                let called = (|| {
                    if let Some(cb) = &on_problem {
                        for p in problems {
                            let p = Py::new(py, RecordProblem::from(p.clone()))?;
                            cb.call1(py, (p,))?;
                        }
                    }
                    if let Some(cb) = &progress {
                        cb.call1(py, (r.records_read, r.bytes_in))?;
                    }
                    py.check_signals()
                })();
                match called {
                    Ok(()) => true,
                    Err(e) => {
                        callback_error = Some(e);
                        false
                    }
                }
            })
        };
        work(&stream, &mut on_batch)
    });
    match callback_error {
        Some(e) => Err(e),
        None => Ok(result),
    }
}

/// A problem in a record or a file: where it is, what it is, what was done.
#[pyclass(frozen, module = "marc8fast", name = "RecordProblem")]
#[derive(Clone)]
pub struct RecordProblem {
    inner: CoreProblem,
}

impl From<CoreProblem> for RecordProblem {
    fn from(inner: CoreProblem) -> Self {
        RecordProblem { inner }
    }
}

#[pymethods]
impl RecordProblem {
    /// The record's number in the file, from 1.
    #[getter]
    fn record(&self) -> usize {
        self.inner.record
    }
    /// Byte offset of the record (or of the skipped bytes) in the file.
    #[getter]
    fn record_offset(&self) -> u64 {
        self.inner.record_offset
    }
    /// The record's 001, or None.
    #[getter]
    fn control_number(&self) -> Option<&str> {
        self.inner.control_number.as_deref()
    }
    /// The field's tag, or None for a record-level problem.
    #[getter]
    fn tag(&self) -> Option<&str> {
        self.inner.tag.as_deref()
    }
    /// Which occurrence of the tag in the record, from 1.
    #[getter]
    fn occurrence(&self) -> Option<usize> {
        self.inner.occurrence
    }
    /// The subfield code, or None.
    #[getter]
    fn subfield(&self) -> Option<char> {
        self.inner.subfield
    }
    /// Offset inside the subfield's (or control field's) data: bytes of the source when
    /// decoding, characters when encoding.
    #[getter]
    fn offset(&self) -> Option<usize> {
        self.inner.offset
    }
    /// Byte offset inside the field's data (indicators at 0), for problems in source bytes.
    #[getter]
    fn field_offset(&self) -> Option<usize> {
        self.inner.field_offset
    }
    /// What went wrong.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind.as_str()
    }
    /// How much it matters: `info`, `warning` or `error` (see `PROBLEM_KINDS`).
    #[getter]
    fn severity(&self) -> &'static str {
        self.inner.kind.severity().as_str()
    }
    /// The offending bytes.
    #[getter]
    fn bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.bytes)
    }
    /// What was done.
    #[getter]
    fn action(&self) -> &'static str {
        self.inner.action.as_str()
    }
    /// A one-line explanation.
    #[getter]
    fn message(&self) -> &str {
        &self.inner.message
    }

    /// The problem as a dict of plain values (bytes as upper-case hex), for JSON.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let p = &self.inner;
        let d = PyDict::new(py);
        d.set_item("record", p.record)?;
        d.set_item("record_offset", p.record_offset)?;
        d.set_item("control_number", p.control_number.as_deref())?;
        d.set_item("tag", p.tag.as_deref())?;
        d.set_item("occurrence", p.occurrence)?;
        d.set_item("subfield", p.subfield)?;
        d.set_item("offset", p.offset)?;
        d.set_item("field_offset", p.field_offset)?;
        d.set_item("kind", p.kind.as_str())?;
        d.set_item("bytes", marc8::hex_bytes(&p.bytes))?;
        d.set_item("action", p.action.as_str())?;
        d.set_item("message", &p.message)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        format!(
            "RecordProblem(record={}, tag={:?}, subfield={:?}, offset={:?}, kind={:?}, action={:?})",
            p.record,
            p.tag,
            p.subfield,
            p.offset,
            p.kind.as_str(),
            p.action.as_str()
        )
    }
}

/// The outcome of converting a file: counts and every problem. The counts and the problems are
/// plain attributes (`#[pyo3(get)]`); `counts_by_kind` stays a method, as it always was.
#[pyclass(frozen, module = "marc8fast", name = "Report")]
pub struct Report {
    /// Records found in the input.
    #[pyo3(get)]
    records_read: usize,
    /// Records written to the output.
    #[pyo3(get)]
    records_written: usize,
    /// Records with at least one problem.
    #[pyo3(get)]
    records_with_problems: usize,
    /// Records not written (unreadable, too long, or strict mode).
    #[pyo3(get)]
    records_rejected: usize,
    /// Bytes read.
    #[pyo3(get)]
    bytes_in: u64,
    /// Bytes written.
    #[pyo3(get)]
    bytes_out: u64,
    /// The problems kept, in input order: the first `max_problems` of them (all if it was None).
    #[pyo3(get)]
    problems: Vec<RecordProblem>,
    /// Problems found but not kept (beyond `max_problems`).
    #[pyo3(get)]
    problems_dropped: usize,
    counts_by_kind: std::collections::BTreeMap<&'static str, usize>,
}

impl From<FileReport> for Report {
    fn from(r: FileReport) -> Self {
        Report {
            records_read: r.records_read,
            records_written: r.records_written,
            records_with_problems: r.records_with_problems,
            records_rejected: r.records_rejected,
            bytes_in: r.bytes_in,
            bytes_out: r.bytes_out,
            problems: r.problems.into_iter().map(RecordProblem::from).collect(),
            problems_dropped: r.problems_dropped,
            counts_by_kind: r.counts_by_kind,
        }
    }
}

#[pymethods]
impl Report {
    /// Number of problems found, kept or not.
    fn problem_count(&self) -> usize {
        self.problems.len() + self.problems_dropped
    }
    /// Every problem found, kept or not, counted by kind.
    fn counts_by_kind(&self) -> std::collections::BTreeMap<&'static str, usize> {
        self.counts_by_kind.clone()
    }
    /// The report as JSON: the counts, `counts_by_kind`, `problems_dropped` and the problems
    /// kept as `to_dict()` gives them.
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        let r = self;
        let d = PyDict::new(py);
        d.set_item("records_read", r.records_read)?;
        d.set_item("records_written", r.records_written)?;
        d.set_item("records_with_problems", r.records_with_problems)?;
        d.set_item("records_rejected", r.records_rejected)?;
        d.set_item("bytes_in", r.bytes_in)?;
        d.set_item("bytes_out", r.bytes_out)?;
        d.set_item("counts_by_kind", self.counts_by_kind())?;
        let problems = r
            .problems
            .iter()
            .map(|p| p.to_dict(py))
            .collect::<PyResult<Vec<_>>>()?;
        d.set_item("problems", problems)?;
        d.set_item("problems_dropped", r.problems_dropped)?;
        py.import("json")?
            .call_method1("dumps", (d,))?
            .extract::<String>()
    }

    fn __repr__(&self) -> String {
        let r = self;
        format!(
            "Report(records_read={}, records_written={}, records_with_problems={}, records_rejected={}, bytes_in={}, bytes_out={}, problems={})",
            r.records_read, r.records_written, r.records_with_problems, r.records_rejected, r.bytes_in, r.bytes_out, self.problem_count()
        )
    }
}

type Found<'py> = Vec<(usize, usize, Bound<'py, PyBytes>)>;

/// Splits ISO 2709 data into records; also returns the problems of the split.
#[pyfunction]
pub(crate) fn read_records_report<'py>(
    py: Python<'py>,
    data: &[u8],
) -> (Found<'py>, Vec<RecordProblem>) {
    let (records, problems) = marc8::record::split_records(data);
    (
        records
            .into_iter()
            .map(|(n, off, raw)| (n, off, PyBytes::new(py, raw)))
            .collect(),
        problems.into_iter().map(RecordProblem::from).collect(),
    )
}

/// Splits ISO 2709 data into records: [(record number from 1, byte offset, bytes), ...].
#[pyfunction]
pub(crate) fn read_records<'py>(py: Python<'py>, data: &[u8]) -> Found<'py> {
    read_records_report(py, data).0
}

/// What the splitter found at a position (`marc8::record::Next`), as `next_record` returns it:
/// `kind` is `"record"`, `"skip"`, `"blank"`, `"need_more"` or `"end"`; the bytes are
/// `data[start:end]`; `length_mismatch` is set for a record whose declared length did not match
/// (it was delimited by its terminator), `truncated` for skipped bytes that are a record cut off by
/// the end of the input.
#[pyclass(frozen, eq, get_all, module = "marc8fast._native")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Next {
    kind: &'static str,
    start: usize,
    end: usize,
    length_mismatch: bool,
    truncated: bool,
}

impl Next {
    fn at(kind: &'static str, start: usize, end: usize) -> Self {
        Next {
            kind,
            start,
            end,
            length_mismatch: false,
            truncated: false,
        }
    }
}

#[pymethods]
impl Next {
    fn __repr__(&self) -> String {
        format!(
            "Next(kind='{}', start={}, end={}, length_mismatch={}, truncated={})",
            self.kind,
            self.start,
            self.end,
            if self.length_mismatch {
                "True"
            } else {
                "False"
            },
            if self.truncated { "True" } else { "False" },
        )
    }
}

/// What the splitter finds at `data[pos:]` (`marc8::record::next_record`), as a [`Next`]. For a
/// reader of a byte stream (the Connexion receiver) that must know when a record has fully
/// arrived.
#[pyfunction]
#[pyo3(signature = (data, pos = 0, *, eof = false))]
pub(crate) fn next_record(data: &[u8], pos: usize, eof: bool) -> Next {
    match marc8::record::next_record(data, pos, eof) {
        marc8::record::Next::Record {
            start,
            end,
            length_mismatch,
        } => Next {
            length_mismatch,
            ..Next::at("record", start, end)
        },
        marc8::record::Next::Skip {
            start,
            end,
            truncated,
        } => Next {
            truncated,
            ..Next::at("skip", start, end)
        },
        marc8::record::Next::Blank { end } => Next::at("blank", pos, end),
        marc8::record::Next::NeedMore => Next::at("need_more", pos, pos),
        marc8::record::Next::End => Next::at("end", pos, pos),
    }
}

/// Converts one ISO 2709 record; returns (record or None if rejected, problems).
// The parameters are the Python keyword API (`#[pyo3(signature)]`); grouping them would change it.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (data, *, to, errors = None, normalize = None, expand_ncr = false, legacy_ligatures = false, trust = "leader"))]
pub(crate) fn transcode_record<'py>(
    py: Python<'py>,
    data: &[u8],
    to: &str,
    errors: Option<&str>,
    normalize: Option<&str>,
    expand_ncr: bool,
    legacy_ligatures: bool,
    trust: &str,
) -> PyResult<(Option<Bound<'py, PyBytes>>, Vec<RecordProblem>)> {
    let opts = record_options(to, errors, normalize, expand_ncr, legacy_ligatures, trust)?;
    let c = marc8::record::transcode_record(data, &opts, 1, 0);
    Ok((
        c.record.map(|r| PyBytes::new(py, &r)),
        c.problems.into_iter().map(RecordProblem::from).collect(),
    ))
}

/// Converts a file of records; the GIL is released while Rust works.
// The parameters are the Python keyword API (`#[pyo3(signature)]`); grouping them would change it.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (src, dst, *, to, errors = None, normalize = None, expand_ncr = false, legacy_ligatures = false, trust = "leader", jobs = None, progress = None, max_problems = Some(DEFAULT_MAX_PROBLEMS), on_problem = None), text_signature = "(src, dst, *, to, errors=None, normalize=None, expand_ncr=False, legacy_ligatures=False, trust='leader', jobs=None, progress=None, max_problems=10000, on_problem=None)")]
pub(crate) fn transcode_file(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    to: &str,
    errors: Option<&str>,
    normalize: Option<&str>,
    expand_ncr: bool,
    legacy_ligatures: bool,
    trust: &str,
    jobs: Option<usize>,
    progress: Option<Py<PyAny>>,
    max_problems: Option<usize>,
    on_problem: Option<Py<PyAny>>,
) -> PyResult<Report> {
    let opts = record_options(to, errors, normalize, expand_ncr, legacy_ligatures, trust)?;
    let jobs = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let result = run_stream(
        py,
        max_problems,
        progress,
        on_problem,
        false,
        |stream, on_batch| {
            marc8::file::transcode_file_with(&src, &dst, &opts, jobs, stream, on_batch)
        },
    )?;
    match result {
        Ok(report) => Ok(Report::from(report)),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            Err(crate::errors::value_error(e.to_string()))
        }
        Err(e) => Err(crate::errors::os_error(e.to_string())),
    }
}

/// Every record problem kind the core can report, with its severity (`marc8fast.PROBLEM_KINDS`).
pub(crate) fn problem_kinds() -> std::collections::BTreeMap<&'static str, &'static str> {
    marc8::RecordKind::ALL
        .iter()
        .map(|k| (k.as_str(), k.severity().as_str()))
        .collect()
}
