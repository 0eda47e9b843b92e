//! Validation: `validate_file` and `validate_bytes`, over `marc8::validate`.

use std::path::PathBuf;

use marc8::file::{FileReport, RecordRange};
use marc8::validate::{validate_file as core_validate_file, validate_stream, ValidateOptions};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

use crate::records::Report;

fn options(for_export: bool, offset: usize, limit: Option<usize>) -> ValidateOptions {
    ValidateOptions {
        for_export,
        range: RecordRange { offset, limit },
    }
}

fn jobs_or_all(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1)
}

/// Runs `work` with the GIL released, calling `progress(records_read, bytes_in)` (with the GIL)
/// after each batch; an exception in the callback, or a signal (Ctrl-C), stops the work.
fn with_progress(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    work: impl FnOnce(&mut dyn FnMut(&FileReport) -> bool) -> std::io::Result<FileReport> + Send,
) -> PyResult<Report> {
    let mut callback_error: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut on_progress = |r: &FileReport| {
            Python::attach(|py| {
                let called = match &progress {
                    None => Ok(()),
                    Some(cb) => cb.call1(py, (r.records_read, r.bytes_in)).map(drop),
                };
                match called.and_then(|()| py.check_signals()) {
                    Ok(()) => true,
                    Err(e) => {
                        callback_error = Some(e);
                        false
                    }
                }
            })
        };
        work(&mut on_progress)
    });
    if let Some(e) = callback_error {
        return Err(e);
    }
    result
        .map(Report::from)
        .map_err(|e| PyOSError::new_err(e.to_string()))
}

/// Checks every record of a file (structure, encoding, and with `for_export` every character
/// MARC-8 lacks); returns a Report whose problems are the findings.
#[pyfunction]
#[pyo3(signature = (path, *, for_export = false, jobs = None, progress = None, offset = 0, limit = None))]
pub(crate) fn validate_file(
    py: Python<'_>,
    path: PathBuf,
    for_export: bool,
    jobs: Option<usize>,
    progress: Option<Py<PyAny>>,
    offset: usize,
    limit: Option<usize>,
) -> PyResult<Report> {
    let opts = options(for_export, offset, limit);
    let jobs = jobs_or_all(jobs);
    with_progress(py, progress, |cb| {
        core_validate_file(&path, &opts, jobs, cb)
    })
}

/// `validate_file` on bytes in memory (standard input, for one).
#[pyfunction]
#[pyo3(signature = (data, *, for_export = false, jobs = None, progress = None, offset = 0, limit = None))]
pub(crate) fn validate_bytes(
    py: Python<'_>,
    data: pyo3::pybacked::PyBackedBytes,
    for_export: bool,
    jobs: Option<usize>,
    progress: Option<Py<PyAny>>,
    offset: usize,
    limit: Option<usize>,
) -> PyResult<Report> {
    let opts = options(for_export, offset, limit);
    let jobs = jobs_or_all(jobs);
    let bytes: &[u8] = &data;
    with_progress(py, progress, |cb| validate_stream(bytes, &opts, jobs, cb))
}
