//! `marc8fast.MARCReader` and `marc8fast.MARCWriter`: thin wrappers of the core's streaming
//! record reader (`marc8::reader`) and atomic record writer (`marc8::writer`). The GIL is
//! released while the reader waits for the worker threads.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use marc8::file::FileReport;
use marc8::reader::{AnyReader, ReadItem};
use marc8::writer::{Format, RecordWriter};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::errors::bad_option;
use crate::model::Record;
use crate::options::{encoding_options, read_options};
use crate::records::{RecordProblem, Report};

/// Paths open as MARCReader sources (canonical), so that a MARCWriter refuses to replace them.
static OPEN_INPUTS: Mutex<Vec<(usize, PathBuf)>> = Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

fn register(path: &Path) -> Option<usize> {
    let canon = std::fs::canonicalize(path).ok()?;
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    OPEN_INPUTS.lock().ok()?.push((id, canon));
    Some(id)
}

fn unregister(id: usize) {
    if let Ok(mut v) = OPEN_INPUTS.lock() {
        v.retain(|(i, _)| *i != id);
    }
}

fn open_inputs() -> Vec<PathBuf> {
    OPEN_INPUTS
        .lock()
        .map(|v| v.iter().map(|(_, p)| p.clone()).collect())
        .unwrap_or_default()
}

/// A binary Python file object as `Read`: `read(n)` is called with the GIL.
pub(crate) struct PyReader {
    pub(crate) file: Py<PyAny>,
    pub(crate) pending: Vec<u8>,
}

impl Read for PyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            let got = Python::attach(|py| -> PyResult<Vec<u8>> {
                let data = self.file.call_method1(py, "read", (buf.len(),))?;
                let data = data.bind(py);
                if let Ok(b) = data.cast::<PyBytes>() {
                    Ok(b.as_bytes().to_vec())
                } else if let Ok(b) = data.cast::<PyByteArray>() {
                    Ok(b.to_vec())
                } else if data.is_none() {
                    Ok(Vec::new())
                } else {
                    Err(pyo3::exceptions::PyTypeError::new_err(
                        "the file object must be opened in binary mode (read() returned no bytes)",
                    ))
                }
            });
            self.pending = got.map_err(|e| io::Error::other(e.to_string()))?;
        }
        let n = self.pending.len().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

/// At most `limit` bytes per `read`: the reader's chunk boundaries, made small for tests.
struct Limited<R> {
    inner: R,
    limit: usize,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.limit);
        self.inner.read(&mut buf[..n])
    }
}

/// Starts reading `input` in whatever format it is in (`Format::detect` on its first bytes, read
/// without the GIL: a pipe may make them wait).
pub(crate) fn start<R: Read + Send + 'static>(
    py: Python<'_>,
    input: R,
    chunk_size: Option<usize>,
    opts: marc8::model::ReadOptions,
    jobs: usize,
) -> PyResult<AnyReader> {
    let started = py.detach(|| match chunk_size {
        Some(limit) => AnyReader::new(
            Limited {
                inner: input,
                limit: limit.max(1),
            },
            opts,
            jobs,
        ),
        None => AnyReader::new(input, opts, jobs),
    });
    started.map_err(|e| crate::errors::os_error(e.to_string()))
}

/// Reads records from a path, a binary file object or bytes, in order, parsing them on worker
/// threads.
#[pyclass(module = "marc8fast", name = "MARCReader")]
pub struct MARCReader {
    inner: Option<Mutex<AnyReader>>,
    current: VecDeque<ReadItem>,
    report: FileReport,
    registered: Option<usize>,
    format: Format,
}

impl MARCReader {
    fn finish(&mut self) {
        self.inner = None;
        self.current.clear();
        if let Some(id) = self.registered.take() {
            unregister(id);
        }
    }
}

impl Drop for MARCReader {
    fn drop(&mut self) {
        if let Some(id) = self.registered.take() {
            unregister(id);
        }
    }
}

#[pymethods]
impl MARCReader {
    #[new]
    #[pyo3(signature = (source, *, jobs = None, trust = "leader", normalize = None, expand_ncr = false, legacy_ligatures = false, chunk_size = None))]
    fn new(
        source: &Bound<'_, PyAny>,
        jobs: Option<usize>,
        trust: &str,
        normalize: Option<&str>,
        expand_ncr: bool,
        legacy_ligatures: bool,
        chunk_size: Option<usize>,
    ) -> PyResult<Self> {
        let opts = read_options(trust, normalize, expand_ncr, legacy_ligatures)?;
        let jobs = jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1);
        let mut reg_path: Option<PathBuf> = None;
        let py = source.py();
        let reader = if let Ok(b) = source.cast::<PyBytes>() {
            start(
                py,
                io::Cursor::new(b.as_bytes().to_vec()),
                chunk_size,
                opts,
                jobs,
            )?
        } else if let Ok(b) = source.cast::<PyByteArray>() {
            start(py, io::Cursor::new(b.to_vec()), chunk_size, opts, jobs)?
        } else if source.hasattr("read")? {
            if let Ok(name) = source.getattr("name").and_then(|n| n.extract::<PathBuf>()) {
                if name.is_file() {
                    reg_path = Some(name);
                }
            }
            let file = PyReader {
                file: source.clone().unbind(),
                pending: Vec::new(),
            };
            start(py, file, chunk_size, opts, jobs)?
        } else {
            let path: PathBuf = source.extract().map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(
                    "MARCReader reads a path, a binary file object, bytes or bytearray",
                )
            })?;
            let file = py
                .detach(|| std::fs::File::open(&path))
                .map_err(|e| crate::errors::os_error(e.to_string()))?;
            reg_path = Some(path);
            start(py, file, chunk_size, opts, jobs)?
        };
        let registered = reg_path.as_deref().and_then(register);
        Ok(MARCReader {
            format: reader.format(),
            inner: Some(Mutex::new(reader)),
            current: VecDeque::new(),
            report: FileReport::default(),
            registered,
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Record>> {
        loop {
            if let Some(item) = self.current.pop_front() {
                match item {
                    ReadItem::Skipped(p) => self.report.add_problem(p),
                    ReadItem::Rejected(ps) => {
                        self.report.records_read += 1;
                        self.report.records_rejected += 1;
                        self.report.records_with_problems += 1;
                        for p in ps {
                            self.report.add_problem(p);
                        }
                    }
                    ReadItem::Record(r) => {
                        self.report.records_read += 1;
                        self.report.records_written += 1;
                        if r.length_problem.is_some() || !r.problems.is_empty() {
                            self.report.records_with_problems += 1;
                        }
                        if let Some(p) = &r.length_problem {
                            self.report.add_problem(p.clone());
                        }
                        return Ok(Some(Record::from_read(*r)));
                    }
                }
                continue;
            }
            let Some(reader) = &self.inner else {
                return Ok(None);
            };
            let next = py.detach(|| match reader.lock() {
                Ok(mut r) => r.next_batch(),
                Err(_) => Err(io::Error::other("the reader failed")),
            });
            match next {
                Ok(Some(batch)) => {
                    self.report.bytes_in += batch.bytes_in;
                    self.current.extend(batch.items);
                }
                Ok(None) => {
                    self.finish();
                    return Ok(None);
                }
                Err(e) => {
                    self.finish();
                    return Err(crate::errors::os_error(e.to_string()));
                }
            }
        }
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

    /// Stops reading (the worker threads stop); the counts and problems so far stay.
    fn close(&mut self) {
        self.finish();
    }

    /// The file-level problems so far (bytes skipped, records cut short, lengths recovered,
    /// records that could not be parsed), as `read_records_report` / `transcode_file` report
    /// them.
    #[getter]
    fn problems(&self) -> Vec<RecordProblem> {
        self.report
            .problems
            .iter()
            .cloned()
            .map(RecordProblem::from)
            .collect()
    }

    /// How many file-level problems `problems` holds so far (the list is not copied).
    #[getter]
    fn problem_count(&self) -> usize {
        self.report.problems.len()
    }

    /// Records found so far (returned or rejected).
    #[getter]
    fn records_read(&self) -> usize {
        self.report.records_read
    }

    /// Records that could not be parsed (skipped; their problems are in `problems`).
    #[getter]
    fn records_rejected(&self) -> usize {
        self.report.records_rejected
    }

    /// Input bytes read so far.
    #[getter]
    fn bytes_read(&self) -> u64 {
        self.report.bytes_in
    }

    /// The input's format, detected from its first bytes: `iso2709`, `marcxml` or `json`.
    #[getter]
    fn format(&self) -> &'static str {
        marc8::convert::format_name(self.format)
    }

    /// The counts and file-level problems so far as a Report (`records_written`: records
    /// returned).
    #[getter]
    fn report(&self) -> Report {
        Report::from(self.report.clone())
    }
}

/// Writes records to a file atomically (temporary file, fsync, rename on close).
#[pyclass(module = "marc8fast", name = "MARCWriter")]
pub struct MARCWriter {
    inner: Mutex<RecordWriter>,
}

fn io_err(e: io::Error) -> PyErr {
    if e.kind() == io::ErrorKind::InvalidInput {
        crate::errors::value_error(e.to_string())
    } else {
        crate::errors::os_error(e.to_string())
    }
}

impl MARCWriter {
    fn with<T>(&self, f: impl FnOnce(&mut RecordWriter) -> T) -> PyResult<T> {
        let mut w = self
            .inner
            .lock()
            .map_err(|_| crate::errors::os_error("the writer failed"))?;
        Ok(f(&mut w))
    }
}

#[pymethods]
impl MARCWriter {
    #[new]
    #[pyo3(signature = (path, *, format = "iso2709", encoding = "utf8", errors = "lossless"))]
    fn new(path: PathBuf, format: &str, encoding: &str, errors: &str) -> PyResult<Self> {
        let fmt = Format::from_name(format)
            .ok_or_else(|| bad_option("format", format, "'iso2709', 'marcxml' or 'json'"))?;
        let (to, errors) = encoding_options(encoding, errors)?;
        crate::formats::check_encoding(fmt, to)?;
        let w =
            RecordWriter::create(&path, fmt.sink(to, errors), &open_inputs()).map_err(io_err)?;
        Ok(MARCWriter {
            inner: Mutex::new(w),
        })
    }

    /// Writes a record; returns False (and reports it in `problems`) if it cannot be written
    /// correctly (it is then left out).
    fn write(&self, py: Python<'_>, record: PyRef<'_, Record>) -> PyResult<bool> {
        let r = record.with_fields(py, |leader, fields| self.with(|w| w.write(leader, fields)))?;
        r.map_err(io_err)
    }

    /// Commits the file: everything is written, synced and renamed into place.
    fn close(&self) -> PyResult<()> {
        self.with(|w| if w.is_closed() { Ok(()) } else { w.commit() })?
            .map_err(io_err)
    }

    /// Drops everything written: the destination is left as it was.
    fn abort(&self) -> PyResult<()> {
        self.with(RecordWriter::abort)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Commits on a normal exit; on an exception nothing is written.
    #[pyo3(signature = (exc_type, exc_value, traceback))]
    fn __exit__(
        &self,
        exc_type: &Bound<'_, PyAny>,
        exc_value: &Bound<'_, PyAny>,
        traceback: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let _ = (exc_value, traceback);
        if exc_type.is_none() {
            self.close()
        } else {
            self.abort()
        }
    }

    /// Every problem of the records written or left out.
    #[getter]
    fn problems(&self) -> PyResult<Vec<RecordProblem>> {
        self.with(|w| {
            w.problems
                .iter()
                .cloned()
                .map(RecordProblem::from)
                .collect::<Vec<_>>()
        })
    }

    /// Records written.
    #[getter]
    fn records_written(&self) -> PyResult<usize> {
        self.with(|w| w.records_written)
    }

    /// Records left out.
    #[getter]
    fn records_rejected(&self) -> PyResult<usize> {
        self.with(|w| w.records_rejected)
    }

    /// True once committed or aborted.
    #[getter]
    fn closed(&self) -> PyResult<bool> {
        self.with(|w| w.is_closed())
    }
}
