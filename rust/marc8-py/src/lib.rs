//! `marc8fast._native`: the thin PyO3 layer over the `marc8` core crate.
//!
//! Only argument conversion, error mapping (see `errors.rs`) and GIL release live here; all
//! behaviour is in the core crate.

use pyo3::prelude::*;

mod errors;
mod field;
mod formats;
mod gfs;
mod kinds;
mod model;
mod options;
mod pipeline;
mod problem;
mod reader;
mod records;
mod search;
mod validate;

/// Inputs at least this long are converted with the GIL released.
const DETACH_THRESHOLD: usize = 16 * 1024;

#[pymodule(gil_used = false)]
mod _native {
    use pyo3::prelude::*;
    use pyo3::pybacked::PyBackedBytes;
    use pyo3::types::{PyBytes, PyString};

    use super::DETACH_THRESHOLD;
    use crate::errors::{decode_error, encode_error};
    use crate::options::{decode_options, encode_options};

    #[pymodule_export]
    use crate::formats::{
        convert_records, convert_records_file, detect_format, parse_xml, read_json, RecordStream,
    };
    #[pymodule_export]
    use crate::gfs::{EventQueue, Z3950Hot};
    #[pymodule_export]
    use crate::model::{export_record, raw_fields, Field, Record};
    #[pymodule_export]
    use crate::pipeline::{
        pgcopy_load_log, pgcopy_new_records, pipeline_stored_keys, ImportReader, PreparedBatch,
    };
    #[pymodule_export]
    use crate::problem::Problem;
    #[pymodule_export]
    use crate::reader::{MARCReader, MARCWriter};
    #[pymodule_export]
    use crate::records::{
        next_record, read_records, read_records_report, transcode_file, transcode_record, Next,
        RecordProblem, Report,
    };
    #[pymodule_export]
    use crate::search::{
        search_index_row, search_isbn_problem, search_match_keys, search_numbers,
        search_query_terms, search_words,
    };
    #[pymodule_export]
    use crate::validate::{validate_bytes, validate_file};

    /// `__all__`, the one list of the public names: `marc8fast/__init__.py` re-exports it and
    /// `_native.pyi` repeats it (stubtest checks the two agree). Helpers the package uses itself
    /// (`next_record`, `raw_fields`, `search_*` ...) are module attributes outside it.
    const PUBLIC: &[&str] = &[
        "EACC_CODE_COUNT",
        "PROBLEM_KINDS",
        "ArgumentError",
        "DecodeError",
        "Decoder",
        "EncodeError",
        "Encoder",
        "Field",
        "FileError",
        "MARCReader",
        "MARCWriter",
        "Marc8Error",
        "Problem",
        "ProblemAction",
        "ProblemKind",
        "Record",
        "RecordError",
        "RecordProblem",
        "RecordStream",
        "Report",
        "Severity",
        "__version__",
        "convert_records",
        "convert_records_file",
        "decode",
        "decode_report",
        "detect_format",
        "encode",
        "encode_report",
        "parse_xml",
        "read_json",
        "read_records",
        "read_records_report",
        "transcode_file",
        "transcode_record",
        "validate_bytes",
        "validate_file",
    ];

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("Marc8Error", m.py().get_type::<crate::errors::Marc8Error>())?;
        for class in crate::errors::Class::ALL {
            m.add(class.name(), class.get(m.py())?)?;
        }
        m.add("PROBLEM_KINDS", crate::records::problem_kinds())?;
        crate::kinds::add_enums(m)?;
        m.add("EACC_CODE_COUNT", marc8::EACC_CODE_COUNT)?;
        // Last: every `add` above (and each `#[pymodule_export]`) appends its name to `__all__`.
        m.setattr("__all__", PUBLIC)?;
        Ok(())
    }

    fn run<T: Send>(py: Python<'_>, len: usize, f: impl FnOnce() -> T + Send) -> T {
        if len >= DETACH_THRESHOLD {
            py.detach(f)
        } else {
            f()
        }
    }

    /// Decodes MARC-8 bytes to a str. See `marc8fast.decode`.
    #[pyfunction]
    #[pyo3(signature = (data, *, errors = "strict", normalize = None, expand_ncr = false, legacy_ligatures = false))]
    fn decode<'py>(
        py: Python<'py>,
        data: PyBackedBytes,
        errors: &str,
        normalize: Option<&str>,
        expand_ncr: bool,
        legacy_ligatures: bool,
    ) -> PyResult<Bound<'py, PyString>> {
        let opts = decode_options(errors, normalize, expand_ncr, legacy_ligatures)?;
        let bytes: &[u8] = &data;
        match run(py, bytes.len(), || marc8::decode(bytes, &opts)) {
            Ok(text) => Ok(PyString::new(py, &text)),
            Err(p) => Err(decode_error(py, bytes, &p)),
        }
    }

    /// Decodes MARC-8 bytes in replace mode; returns (text, [Problem, ...]).
    #[pyfunction]
    #[pyo3(signature = (data, *, normalize = None, expand_ncr = false, legacy_ligatures = false))]
    fn decode_report<'py>(
        py: Python<'py>,
        data: PyBackedBytes,
        normalize: Option<&str>,
        expand_ncr: bool,
        legacy_ligatures: bool,
    ) -> PyResult<(Bound<'py, PyString>, Vec<Problem>)> {
        let opts = decode_options("replace", normalize, expand_ncr, legacy_ligatures)?;
        let bytes: &[u8] = &data;
        let (text, problems) = run(py, bytes.len(), || {
            let (t, p) = marc8::decode_report(bytes, &opts);
            (t, p)
        });
        Ok((
            PyString::new(py, &text),
            problems.into_iter().map(Problem::from).collect(),
        ))
    }

    /// A streaming MARC-8 decoder (the engine of the incremental codec).
    #[pyclass(module = "marc8fast._native")]
    struct Decoder {
        inner: marc8::Decoder,
    }

    #[pymethods]
    impl Decoder {
        #[new]
        #[pyo3(signature = (*, errors = "strict", expand_ncr = false, legacy_ligatures = false))]
        fn new(errors: &str, expand_ncr: bool, legacy_ligatures: bool) -> PyResult<Self> {
            let opts = decode_options(errors, None, expand_ncr, legacy_ligatures)?;
            Ok(Decoder {
                inner: marc8::Decoder::new(opts),
            })
        }

        /// Decodes the next chunk; returns (text, problems). In strict mode raises
        /// UnicodeDecodeError whose `object` is this chunk; offsets in problems count from the
        /// start of the stream.
        #[pyo3(signature = (data, r#final = false), text_signature = "(self, data, final=False)")]
        fn decode<'py>(
            &mut self,
            py: Python<'py>,
            data: PyBackedBytes,
            r#final: bool,
        ) -> PyResult<(Bound<'py, PyString>, Vec<Problem>)> {
            let bytes: &[u8] = &data;
            let start = self.inner.position();
            let mut out = String::with_capacity(bytes.len());
            let mut problems = Vec::new();
            let inner = &mut self.inner;
            let result = run(py, bytes.len(), || {
                inner.decode_to_string(bytes, &mut out, r#final, &mut problems)
            });
            if let Err(mut p) = result {
                // Positions relative to this chunk for UnicodeDecodeError.
                p.offset = p.offset.saturating_sub(start);
                let err = decode_error(py, bytes, &p);
                self.inner = marc8::Decoder::new(*self.inner.options());
                return Err(err);
            }
            Ok((
                PyString::new(py, &out),
                problems.into_iter().map(Problem::from).collect(),
            ))
        }

        /// Back to the initial state.
        fn reset(&mut self) {
            self.inner = marc8::Decoder::new(*self.inner.options());
        }

        /// (held-back bytes, packed state as bytes; empty in the initial state).
        fn getstate<'py>(&self, py: Python<'py>) -> (Bound<'py, PyBytes>, Bound<'py, PyBytes>) {
            let (pending, packed) = self.inner.state();
            (PyBytes::new(py, &pending), PyBytes::new(py, &packed))
        }

        /// Restores a state from `getstate`. Problem offsets go on counting from this decoder's
        /// position in its stream (they do not restart).
        fn setstate(&mut self, pending: &[u8], packed: &[u8]) -> PyResult<()> {
            if self.inner.set_state(pending, packed) {
                Ok(())
            } else {
                Err(crate::errors::value_error("not a MARC-8 decoder state"))
            }
        }

        /// True if input is held back waiting for more.
        #[getter]
        fn has_pending_state(&self) -> bool {
            self.inner.has_pending_state()
        }
    }

    /// Encodes a str to MARC-8. See `marc8fast.encode`.
    #[pyfunction]
    #[pyo3(signature = (text, *, errors = "strict"))]
    fn encode<'py>(py: Python<'py>, text: &str, errors: &str) -> PyResult<Bound<'py, PyBytes>> {
        let opts = encode_options(errors)?;
        match run(py, text.len(), || marc8::encode(text, &opts)) {
            Ok(bytes) => Ok(PyBytes::new(py, &bytes)),
            Err(p) => Err(encode_error(py, text, &p)),
        }
    }

    /// Encodes a str to MARC-8 and reports every unmappable character; never raises for one.
    /// With errors="strict" the output is written as in "lossless" mode.
    #[pyfunction]
    #[pyo3(signature = (text, *, errors = "lossless"))]
    fn encode_report<'py>(
        py: Python<'py>,
        text: &str,
        errors: &str,
    ) -> PyResult<(Bound<'py, PyBytes>, Vec<Problem>)> {
        let opts = encode_options(errors)?;
        let (bytes, problems) = run(py, text.len(), || {
            let (b, p) = marc8::encode_report(text, &opts);
            (b, p)
        });
        Ok((
            PyBytes::new(py, &bytes),
            problems.into_iter().map(Problem::from).collect(),
        ))
    }

    /// A streaming MARC-8 encoder (the engine of the incremental codec). It holds the last base
    /// character back until it knows no combining mark follows; `final=True` writes it and
    /// returns to the default sets.
    #[pyclass(module = "marc8fast._native")]
    struct Encoder {
        inner: marc8::Encoder,
    }

    #[pymethods]
    impl Encoder {
        #[new]
        #[pyo3(signature = (*, errors = "strict"))]
        fn new(errors: &str) -> PyResult<Self> {
            Ok(Encoder {
                inner: marc8::Encoder::new(encode_options(errors)?),
            })
        }

        /// Encodes the next chunk; returns (bytes, problems). Problem offsets count characters
        /// from the start of the stream. In strict mode raises UnicodeEncodeError whose `object`
        /// is this chunk.
        #[pyo3(signature = (text, r#final = false), text_signature = "(self, text, final=False)")]
        fn encode<'py>(
            &mut self,
            py: Python<'py>,
            text: &str,
            r#final: bool,
        ) -> PyResult<(Bound<'py, PyBytes>, Vec<Problem>)> {
            let start = self.inner.position();
            let mut out = Vec::with_capacity(text.len() + 8);
            let mut problems = Vec::new();
            let inner = &mut self.inner;
            let result = run(py, text.len(), || {
                inner.encode_from_str(text, &mut out, r#final, &mut problems)
            });
            if let Err(mut p) = result {
                p.offset = p.offset.saturating_sub(start);
                let err = encode_error(py, text, &p);
                self.inner = marc8::Encoder::new(*self.inner.options());
                return Err(err);
            }
            Ok((
                PyBytes::new(py, &out),
                problems.into_iter().map(Problem::from).collect(),
            ))
        }

        /// Back to the initial state, dropping anything held back.
        fn reset(&mut self) {
            self.inner = marc8::Encoder::new(*self.inner.options());
        }

        /// True if a held-back character or a non-default designation means `final=True` would
        /// still write something.
        #[getter]
        fn has_pending_state(&self) -> bool {
            self.inner.has_pending_state()
        }
    }

    /// True if the bytes surely decode to themselves (SPACE, graphic ASCII, 1D/1E/1F; no ESC or
    /// other control).
    #[pyfunction]
    #[pyo3(signature = (data, *, expand_ncr = false))]
    fn is_verbatim(data: &[u8], expand_ncr: bool) -> bool {
        marc8::is_verbatim(data, expand_ncr)
    }
}
