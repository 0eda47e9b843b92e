//! Every mapping of a core error to a Python exception, in one place.

//!
//! Every exception the package raises about data, options or files derives from one
//! `marc8fast.Marc8Error`; each also keeps the built-in base callers caught before (multiple
//! inheritance): `DecodeError` is a `UnicodeDecodeError`, `EncodeError` a `UnicodeEncodeError`,
//! `RecordError` and `ArgumentError` are `ValueError`s, `FileError` is an `OSError`. Wrong argument
//! *types* (`TypeError`) and missing keys (`KeyError`) stay built-in, as Python's protocols expect.

use marc8::Problem;
use pyo3::exceptions::{
    PyException, PyOSError, PyUnicodeDecodeError, PyUnicodeEncodeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

pyo3::create_exception!(
    marc8fast,
    Marc8Error,
    PyException,
    "The base of every exception marc8fast raises about data, options or files."
);

/// The exception classes with two bases (`Marc8Error` and a built-in one).
#[derive(Clone, Copy)]
pub(crate) enum Class {
    Decode,
    Encode,
    Record,
    Argument,
    File,
}

impl Class {
    pub(crate) const ALL: [Class; 5] = [
        Class::Decode,
        Class::Encode,
        Class::Record,
        Class::Argument,
        Class::File,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Class::Decode => "DecodeError",
            Class::Encode => "EncodeError",
            Class::Record => "RecordError",
            Class::Argument => "ArgumentError",
            Class::File => "FileError",
        }
    }

    fn doc(self) -> &'static str {
        match self {
            Class::Decode => {
                "MARC-8 (or UTF-8) that cannot be decoded strictly; a UnicodeDecodeError."
            }
            Class::Encode => "Text MARC-8 cannot hold, encoded strictly; a UnicodeEncodeError.",
            Class::Record => "A record that cannot be parsed or written; `problems` says why.",
            Class::Argument => "A bad option or argument value; a ValueError.",
            Class::File => "A file that cannot be read or written; an OSError.",
        }
    }

    fn cell(self) -> &'static PyOnceLock<Py<PyType>> {
        static CELLS: [PyOnceLock<Py<PyType>>; 5] = [
            PyOnceLock::new(),
            PyOnceLock::new(),
            PyOnceLock::new(),
            PyOnceLock::new(),
            PyOnceLock::new(),
        ];
        &CELLS[self as usize]
    }

    /// The class, made once: `type(name, (Marc8Error, builtin), {...})`.
    pub(crate) fn get(self, py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
        let ty = self
            .cell()
            .get_or_try_init(py, || -> PyResult<Py<PyType>> {
                let builtin = match self {
                    Class::Decode => py.get_type::<PyUnicodeDecodeError>(),
                    Class::Encode => py.get_type::<PyUnicodeEncodeError>(),
                    Class::Record | Class::Argument => py.get_type::<PyValueError>(),
                    Class::File => py.get_type::<PyOSError>(),
                };
                let bases = PyTuple::new(py, [py.get_type::<Marc8Error>(), builtin])?;
                let ns = PyDict::new(py);
                ns.set_item("__module__", "marc8fast")?;
                ns.set_item("__doc__", self.doc())?;
                let made = py
                    .get_type::<PyType>()
                    .call1((self.name(), bases, ns))?
                    .cast_into::<PyType>()?;
                Ok(made.unbind())
            })?;
        Ok(ty.bind(py))
    }

    /// An error of this class with `message` (falls back to the error making it).
    pub(crate) fn err(self, message: String) -> PyErr {
        Python::attach(|py| match self.get(py) {
            Ok(ty) => match ty.call1((message,)) {
                Ok(v) => PyErr::from_value(v),
                Err(e) => e,
            },
            Err(e) => e,
        })
    }
}

/// A bad argument value: `ArgumentError` (a `ValueError`).
pub(crate) fn value_error(message: impl Into<String>) -> PyErr {
    Class::Argument.err(message.into())
}

/// A file that cannot be read or written: `FileError` (an `OSError`).
pub(crate) fn os_error(message: impl Into<String>) -> PyErr {
    Class::File.err(message.into())
}

/// The codec name used in `UnicodeDecodeError` / `UnicodeEncodeError`.
pub(crate) const ENCODING: &std::ffi::CStr = c"marc-8";

/// A strict-mode decoding problem as the built-in `UnicodeDecodeError`, with the bad unit's real
/// byte span as `start`/`end`.
pub(crate) fn decode_error(py: Python<'_>, input: &[u8], p: &Problem) -> PyErr {
    let start = p.offset.min(input.len());
    let end = (p.offset + p.len).clamp(start, input.len());
    let reason = std::ffi::CString::new(p.message().replace('\0', " ")).unwrap_or_default();
    let args = (
        ENCODING.to_str().unwrap_or("marc-8"),
        pyo3::types::PyBytes::new(py, input),
        start,
        end,
        reason.to_string_lossy().into_owned(),
    );
    match Class::Decode.get(py).and_then(|ty| ty.call1(args)) {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// A bad keyword argument.
pub(crate) fn bad_option(what: &str, value: &str, allowed: &str) -> PyErr {
    value_error(format!("{what} must be {allowed}, not {value:?}"))
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
    match Class::Encode.get(py).and_then(|ty| ty.call1(args)) {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}
