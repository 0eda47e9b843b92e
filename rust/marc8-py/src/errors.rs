//! Every mapping of a core error to a Python exception, in one place.

use marc8::Problem;
use pyo3::exceptions::{PyUnicodeDecodeError, PyUnicodeEncodeError, PyValueError};
use pyo3::prelude::*;

/// The codec name used in `UnicodeDecodeError` / `UnicodeEncodeError`.
pub(crate) const ENCODING: &std::ffi::CStr = c"marc-8";

/// A strict-mode decoding problem as the built-in `UnicodeDecodeError`, with the bad unit's real
/// byte span as `start`/`end`.
pub(crate) fn decode_error(py: Python<'_>, input: &[u8], p: &Problem) -> PyErr {
    let start = p.offset.min(input.len());
    let end = (p.offset + p.len).clamp(start, input.len());
    let reason = std::ffi::CString::new(p.message().replace('\0', " ")).unwrap_or_default();
    match PyUnicodeDecodeError::new(py, ENCODING, input, start..end, &reason) {
        Ok(e) => PyErr::from_value(e.into_any()),
        Err(e) => e,
    }
}

/// A bad keyword argument.
pub(crate) fn bad_option(what: &str, value: &str, allowed: &str) -> PyErr {
    PyValueError::new_err(format!("{what} must be {allowed}, not {value:?}"))
}

/// A strict-mode encoding problem as the built-in `UnicodeEncodeError`; `start`/`end` are the
/// character span in `text`.
pub(crate) fn encode_error(py: Python<'_>, text: &str, p: &Problem) -> PyErr {
    let chars = text.chars().count();
    let start = p.offset.min(chars);
    let end = (p.offset + p.len).clamp(start, chars);
    let args = (
        ENCODING.to_str().unwrap_or("marc-8"),
        text,
        start,
        end,
        p.message(),
    );
    match py.get_type::<PyUnicodeEncodeError>().call1(args) {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}
