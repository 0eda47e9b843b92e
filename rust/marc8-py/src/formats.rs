//! MARCXML and MARC-in-JSON: `convert_records` (bytes in, bytes out) and `convert_records_file`
//! (path to path, atomic) over the core's `convert` module; `parse_xml` / `read_json` (streams of
//! `Record`s); what `Record.as_marcxml()` / `Record.as_json()` and `MARCWriter(format=...)` use.

use std::fs::File;
use std::io::{BufReader, Cursor};
use std::path::PathBuf;
use std::sync::Mutex;

use marc8::convert::{convert_file, convert_stream, format_name, ConvertOptions, Format};
use marc8::marcxml::ReadRecord;
use marc8::model::{ReadOptions, SourceEncoding};
use marc8::record::{RecordProblem as CoreProblem, Target};
use marc8::{marcjson, marcxml};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::errors::bad_option;
use crate::model::Record;
use crate::options::{decode_options, encode_options, target, trust_option};
use crate::records::{RecordProblem, Report};

/// MARCXML and JSON are Unicode: only ISO 2709 can be written in MARC-8.
pub(crate) fn check_encoding(format: Format, to: Target) -> PyResult<()> {
    if to == Target::Marc8 && format != Format::Iso2709 {
        return Err(crate::errors::value_error(format!(
            "{} is always Unicode (UTF-8); encoding='marc8' needs format='iso2709'",
            format_name(format)
        )));
    }
    Ok(())
}

type Items = Box<dyn Iterator<Item = ReadRecord> + Send>;

/// The records of a MARCXML or MARC-in-JSON source, one at a time (`parse_xml`, `read_json`).
#[pyclass(module = "marc8fast", name = "RecordStream")]
pub struct RecordStream {
    items: Mutex<Option<Items>>,
    problems: Mutex<Vec<CoreProblem>>,
    records_read: Mutex<usize>,
}

fn open(source: &Bound<'_, PyAny>, format: Format) -> PyResult<Items> {
    fn make<R: std::io::BufRead + Send + 'static>(r: R, format: Format) -> Items {
        match format {
            Format::Json => Box::new(marcjson::JsonReader::new(r)),
            _ => Box::new(marcxml::XmlReader::new(r)),
        }
    }
    if let Ok(b) = source.cast::<PyBytes>() {
        return Ok(make(Cursor::new(b.as_bytes().to_vec()), format));
    }
    if let Ok(b) = source.cast::<PyByteArray>() {
        return Ok(make(Cursor::new(b.to_vec()), format));
    }
    if let Ok(s) = source.cast::<pyo3::types::PyString>() {
        // A path (as pymarc's readers take one); text documents go in as bytes.
        let path = PathBuf::from(s.to_str()?);
        let f = File::open(&path)
            .map_err(|e| crate::errors::os_error(format!("{}: {e}", path.display())))?;
        return Ok(make(BufReader::with_capacity(1 << 20, f), format));
    }
    if let Ok(path) = source.extract::<PathBuf>() {
        let f = File::open(&path)
            .map_err(|e| crate::errors::os_error(format!("{}: {e}", path.display())))?;
        return Ok(make(BufReader::with_capacity(1 << 20, f), format));
    }
    if source.hasattr("read")? {
        // A file object: read whole (bytes, or text encoded as UTF-8).
        let data = source.call_method0("read")?;
        let bytes: Vec<u8> = match data.extract::<String>() {
            Ok(text) => text.into_bytes(),
            Err(_) => data.extract::<Vec<u8>>()?,
        };
        return Ok(make(Cursor::new(bytes), format));
    }
    Err(PyTypeError::new_err(
        "source must be a path, bytes, bytearray or a file object",
    ))
}

#[pymethods]
impl RecordStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Record>> {
        let mut guard = self
            .items
            .lock()
            .map_err(|_| crate::errors::os_error("the reader failed"))?;
        let Some(items) = guard.as_mut() else {
            return Ok(None);
        };
        loop {
            let item = py.detach(|| items.next());
            let Some(item) = item else {
                *guard = None;
                return Ok(None);
            };
            if let Ok(mut all) = self.problems.lock() {
                all.extend(item.problems.iter().cloned());
            }
            if let Some(record) = item.record {
                if let Ok(mut n) = self.records_read.lock() {
                    *n += 1;
                }
                return Ok(Some(Record::from_read(marc8::reader::ReadRecord {
                    number: item.number,
                    offset: item.offset,
                    record,
                    source: SourceEncoding::Utf8,
                    problems: item.problems,
                    length_problem: None,
                })));
            }
        }
    }

    /// Every problem met so far, in input order (a record's own problems are also on it).
    #[getter]
    fn problems(&self) -> Vec<RecordProblem> {
        self.problems
            .lock()
            .map(|p| p.iter().cloned().map(RecordProblem::from).collect())
            .unwrap_or_default()
    }

    /// Records returned so far.
    #[getter]
    fn records_read(&self) -> usize {
        self.records_read.lock().map(|n| *n).unwrap_or(0)
    }
}

fn stream(source: &Bound<'_, PyAny>, format: Format) -> PyResult<RecordStream> {
    Ok(RecordStream {
        items: Mutex::new(Some(open(source, format)?)),
        problems: Mutex::new(Vec::new()),
        records_read: Mutex::new(0),
    })
}

/// The records of a MARCXML document (a path, bytes or a file object), one at a time.
#[pyfunction]
pub(crate) fn parse_xml(source: &Bound<'_, PyAny>) -> PyResult<RecordStream> {
    stream(source, Format::MarcXml)
}

/// The records of a MARC-in-JSON document (an array, one object, or JSON Lines), one at a time.
#[pyfunction]
pub(crate) fn read_json(source: &Bound<'_, PyAny>) -> PyResult<RecordStream> {
    stream(source, Format::Json)
}

fn format(name: &str, what: &str) -> PyResult<Format> {
    Format::from_name(name).ok_or_else(|| bad_option(what, name, "'iso2709', 'marcxml' or 'json'"))
}

/// The keywords `convert_records` and `convert_records_file` share, as they came from Python.
struct ConvertArgs<'a> {
    format: &'a str,
    from_format: Option<&'a str>,
    to: &'a str,
    errors: &'a str,
    normalize: Option<&'a str>,
    expand_ncr: bool,
    legacy_ligatures: bool,
    trust: &'a str,
}

impl ConvertArgs<'_> {
    /// The core's options, every keyword parsed by `options.rs`.
    fn options(&self) -> PyResult<ConvertOptions> {
        let to_format = format(self.format, "format")?;
        let from = self
            .from_format
            .map(|f| format(f, "from_format"))
            .transpose()?;
        let encoding = target("to", self.to)?;
        check_encoding(to_format, encoding)?;
        let trust = trust_option(self.trust)?;
        Ok(ConvertOptions {
            from,
            to: to_format,
            read: ReadOptions {
                decode: decode_options(
                    "replace",
                    self.normalize,
                    self.expand_ncr,
                    self.legacy_ligatures,
                )?,
                trust,
            },
            encoding,
            errors: encode_options(self.errors)?.errors,
        })
    }
}

/// Converts records held in memory from one format to another; returns (output bytes, the input
/// format (detected unless given), the report).
// The parameters are the Python keyword API (`#[pyo3(signature)]`); grouping them would change it.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (data, *, format, from_format = None, to = "utf8", errors = "lossless", normalize = None, expand_ncr = false, legacy_ligatures = false, trust = "leader"))]
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
    let opts = ConvertArgs {
        format,
        from_format,
        to,
        errors,
        normalize,
        expand_ncr,
        legacy_ligatures,
        trust,
    }
    .options()?;
    let result = py.detach(|| {
        convert_stream(Cursor::new(data), Vec::new(), &opts, &mut |_| true).map(
            |(f, mut report, out)| {
                report.bytes_in = data.len() as u64;
                report.bytes_out = out.len() as u64;
                (f, report, out)
            },
        )
    });
    let (from, report, out) = result.map_err(|e| crate::errors::os_error(e.to_string()))?;
    Ok((
        PyBytes::new(py, &out),
        format_name(from),
        Report::from(report),
    ))
}

/// Converts the file `src` into `dst` (atomically) from one format to another; returns (the input
/// format, the report).
// The parameters are the Python keyword API (`#[pyo3(signature)]`); grouping them would change it.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (src, dst, *, format, from_format = None, to = "utf8", errors = "lossless", normalize = None, expand_ncr = false, legacy_ligatures = false, trust = "leader"))]
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
    let opts = ConvertArgs {
        format,
        from_format,
        to,
        errors,
        normalize,
        expand_ncr,
        legacy_ligatures,
        trust,
    }
    .options()?;
    let (from, report) = py
        .detach(|| convert_file(&src, &dst, &opts, &mut |_| true))
        .map_err(|e| crate::errors::os_error(e.to_string()))?;
    Ok((format_name(from), Report::from(report)))
}

/// The format of an input from its first bytes (`Format::detect`, the one detection every reader
/// and command uses): `"marcxml"`, `"json"` or `"iso2709"`.
#[pyfunction]
pub(crate) fn detect_format(head: &[u8]) -> &'static str {
    format_name(Format::detect(head))
}
