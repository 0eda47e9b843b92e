//! Validation: `validate_file` and `validate_bytes`, over `marc8::validate`.

use std::path::PathBuf;

use marc8::file::RecordRange;
use marc8::validate::{validate_file_with, validate_stream_with, ValidateOptions};
use pyo3::prelude::*;

use crate::records::{run_stream, Report, DEFAULT_MAX_PROBLEMS};

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

/// Checks every record of a file (structure, encoding, and with `for_export` every character
/// MARC-8 lacks); returns a Report whose problems are the findings.
// The parameters are the Python keyword API (`#[pyo3(signature)]`); grouping them would change it.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (path, *, for_export = false, jobs = None, progress = None, offset = 0, limit = None, max_problems = Some(DEFAULT_MAX_PROBLEMS), on_problem = None), text_signature = "(path, *, for_export=False, jobs=None, progress=None, offset=0, limit=None, max_problems=10000, on_problem=None)")]
pub(crate) fn validate_file(
    py: Python<'_>,
    path: PathBuf,
    for_export: bool,
    jobs: Option<usize>,
    progress: Option<Py<PyAny>>,
    offset: usize,
    limit: Option<usize>,
    max_problems: Option<usize>,
    on_problem: Option<Py<PyAny>>,
) -> PyResult<Report> {
    let opts = options(for_export, offset, limit);
    let jobs = jobs_or_all(jobs);
    run_stream(
        py,
        max_problems,
        progress,
        on_problem,
        true,
        |stream, cb| validate_file_with(&path, &opts, jobs, stream, cb),
    )?
    .map(Report::from)
    .map_err(|e| crate::errors::os_error(e.to_string()))
}

/// `validate_file` on bytes in memory (standard input, for one).
// The parameters are the Python keyword API (`#[pyo3(signature)]`); grouping them would change it.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (data, *, for_export = false, jobs = None, progress = None, offset = 0, limit = None, max_problems = Some(DEFAULT_MAX_PROBLEMS), on_problem = None), text_signature = "(data, *, for_export=False, jobs=None, progress=None, offset=0, limit=None, max_problems=10000, on_problem=None)")]
pub(crate) fn validate_bytes(
    py: Python<'_>,
    data: pyo3::pybacked::PyBackedBytes,
    for_export: bool,
    jobs: Option<usize>,
    progress: Option<Py<PyAny>>,
    offset: usize,
    limit: Option<usize>,
    max_problems: Option<usize>,
    on_problem: Option<Py<PyAny>>,
) -> PyResult<Report> {
    let opts = options(for_export, offset, limit);
    let jobs = jobs_or_all(jobs);
    let bytes: &[u8] = &data;
    run_stream(
        py,
        max_problems,
        progress,
        on_problem,
        true,
        |stream, cb| validate_stream_with(bytes, &opts, jobs, stream, cb),
    )?
    .map(Report::from)
    .map_err(|e| crate::errors::os_error(e.to_string()))
}
