//! MARCXML and MARC-in-JSON: `convert_records` (bytes in, bytes out) and `convert_records_file`
//! (path to path, atomic), over the core's `convert` module.

use std::io::Cursor;
use std::path::PathBuf;

use marc8::convert::{convert_file, convert_stream, format_name, ConvertOptions, Format};
use marc8::model::ReadOptions;
use marc8::record::{Target, Trust};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::bad_option;
use crate::options::{decode_options, encode_options};
use crate::records::Report;

fn format(name: &str, what: &str) -> PyResult<Format> {
    Format::from_name(name).ok_or_else(|| bad_option(what, name, "'iso2709', 'marcxml' or 'json'"))
}

#[allow(clippy::too_many_arguments)]
fn options(
    format_: &str,
    from_format: Option<&str>,
    to: &str,
    errors: &str,
    normalize: Option<&str>,
    expand_ncr: bool,
    legacy_ligatures: bool,
    trust: &str,
) -> PyResult<ConvertOptions> {
    let to_format = format(format_, "format")?;
    let from = from_format.map(|f| format(f, "from_format")).transpose()?;
    let encoding = match to {
        "utf8" | "utf-8" | "UTF-8" => Target::Utf8,
        "marc8" | "marc-8" | "MARC-8" => Target::Marc8,
        other => return Err(bad_option("to", other, "'utf8' or 'marc8'")),
    };
    if encoding == Target::Marc8 && to_format != Format::Iso2709 {
        return Err(PyValueError::new_err(format!(
            "{} is always Unicode (UTF-8); to='marc8' needs format='iso2709'",
            format_name(to_format)
        )));
    }
    let trust = match trust {
        "leader" => Trust::Leader,
        "data" => Trust::Data,
        other => return Err(bad_option("trust", other, "'leader' or 'data'")),
    };
    Ok(ConvertOptions {
        from,
        to: to_format,
        read: ReadOptions {
            decode: decode_options("replace", normalize, expand_ncr, legacy_ligatures)?,
            trust,
        },
        encoding,
        errors: encode_options(errors)?.errors,
    })
}

/// Converts records held in memory from one format to another; returns (output bytes, the input
/// format (detected unless given), the report).
#[pyfunction]
#[pyo3(signature = (data, *, format, from_format = None, to = "utf8", errors = "lossless", normalize = None, expand_ncr = false, legacy_ligatures = false, trust = "leader"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn convert_records<'py>(
    py: Python<'py>,
    data: &[u8],
    format: &str,
    from_format: Option<&str>,
    to: &str,
    errors: &str,
    normalize: Option<&str>,
    expand_ncr: bool,
    legacy_ligatures: bool,
    trust: &str,
) -> PyResult<(Bound<'py, PyBytes>, &'static str, Report)> {
    let opts = options(
        format,
        from_format,
        to,
        errors,
        normalize,
        expand_ncr,
        legacy_ligatures,
        trust,
    )?;
    let result = py.detach(|| {
        convert_stream(Cursor::new(data), Vec::new(), &opts, &mut |_| true).map(
            |(f, mut report, out)| {
                report.bytes_in = data.len() as u64;
                report.bytes_out = out.len() as u64;
                (f, report, out)
            },
        )
    });
    let (from, report, out) = result.map_err(|e| PyOSError::new_err(e.to_string()))?;
    Ok((
        PyBytes::new(py, &out),
        format_name(from),
        Report::from(report),
    ))
}

/// Converts the file `src` into `dst` (atomically) from one format to another; returns (the input
/// format, the report).
#[pyfunction]
#[pyo3(signature = (src, dst, *, format, from_format = None, to = "utf8", errors = "lossless", normalize = None, expand_ncr = false, legacy_ligatures = false, trust = "leader"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn convert_records_file(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    format: &str,
    from_format: Option<&str>,
    to: &str,
    errors: &str,
    normalize: Option<&str>,
    expand_ncr: bool,
    legacy_ligatures: bool,
    trust: &str,
) -> PyResult<(&'static str, Report)> {
    let opts = options(
        format,
        from_format,
        to,
        errors,
        normalize,
        expand_ncr,
        legacy_ligatures,
        trust,
    )?;
    let (from, report) = py
        .detach(|| convert_file(&src, &dst, &opts, &mut |_| true))
        .map_err(|e| PyOSError::new_err(e.to_string()))?;
    Ok((format_name(from), Report::from(report)))
}
