//! `marc8fast.Problem`: a core problem as an immutable Python object.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// One thing that could not be converted, with its exact position.
#[pyclass(frozen, module = "marc8fast", name = "Problem")]
pub struct Problem {
    inner: marc8::Problem,
}

impl From<marc8::Problem> for Problem {
    fn from(inner: marc8::Problem) -> Self {
        Problem { inner }
    }
}

#[pymethods]
impl Problem {
    /// What went wrong: "unknown_escape", "truncated_escape", "unmapped_byte",
    /// "truncated_multibyte", "mark_without_base", "malformed_ncr", "control_character",
    /// "invalid_utf8" or "unmappable".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind.as_str()
    }

    /// Start of the bad unit: a byte offset (decoding) or a character index (encoding).
    #[getter]
    fn offset(&self) -> usize {
        self.inner.offset
    }

    /// Length of the bad unit, in the same unit as `offset`.
    #[getter]
    fn length(&self) -> usize {
        self.inner.len
    }

    /// The offending bytes (decoding) or the UTF-8 of the offending character (encoding).
    #[getter]
    fn bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.bytes)
    }

    /// The set designated as G0 when the problem was met ("ascii", "cyrillic", "eacc", ...).
    #[getter]
    fn g0(&self) -> &'static str {
        self.inner.g0.short_name()
    }

    /// The set designated as G1 when the problem was met.
    #[getter]
    fn g1(&self) -> &'static str {
        self.inner.g1.short_name()
    }

    /// The unmappable character (encoding problems), else None.
    #[getter]
    fn char(&self) -> Option<char> {
        self.inner.ch
    }

    /// What was done: "replaced", "stopped", "kept_as_text", "wrote_ncr" or "wrote_fill".
    #[getter]
    fn action(&self) -> &'static str {
        self.inner.action.as_str()
    }

    /// A one-line explanation.
    #[getter]
    fn message(&self) -> String {
        self.inner.message()
    }

    /// The problem as a dict of plain values (bytes as upper-case hex), for JSON.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("kind", self.kind())?;
        d.set_item("offset", self.inner.offset)?;
        d.set_item("length", self.inner.len)?;
        d.set_item("bytes", marc8::hex_bytes(&self.inner.bytes))?;
        d.set_item("g0", self.g0())?;
        d.set_item("g1", self.g1())?;
        d.set_item("char", self.inner.ch)?;
        d.set_item("action", self.action())?;
        d.set_item("message", self.message())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Problem(kind={:?}, offset={}, length={}, bytes={:?}, action={:?})",
            self.kind(),
            self.inner.offset,
            self.inner.len,
            marc8::hex_bytes(&self.inner.bytes),
            self.action()
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Problem>()
            .map(|o| o.get().inner == self.inner)
            .unwrap_or(false)
    }
}
