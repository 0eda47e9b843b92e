//! `marc8fast.Record` (with its fields, `marc8fast.Field` in field.rs): the core record model (`marc8::model`) as Python
//! objects, with pymarc's semantics: a `Field` taken from a `Record` is that record's field, so
//! changing it changes the record.
//!
//! A record holds its fields as core values and makes a Python `Field` for one only when Python
//! asks for it (then keeps that object), so reading a record costs one Python object, and reading
//! one field of it one more.

use marc8::model::{self, FieldData, SourceEncoding};
use marc8::record::{ParseError, RecordProblem as CoreProblem};
use marc8::{marcjson, marcxml};
use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

pub(crate) use crate::field::*;
use crate::options::{encoding_options, read_options};
use crate::records::RecordProblem;

/// A field of a record: a core value until Python asks for it, then the Python object.
pub(crate) enum Slot {
    Raw(model::Field),
    Obj(Py<Field>),
}

/// A MARC record: a leader and fields of Unicode text.
#[pyclass(module = "marc8fast", name = "Record")]
pub struct Record {
    leader: [u8; 24],
    slots: Vec<Slot>,
    problems: Vec<CoreProblem>,
    number: Option<usize>,
    offset: Option<u64>,
    source: SourceEncoding,
}

const DEFAULT_LEADER: &[u8; 24] = b"00000nam a2200000   4500";

/// A leader from its text: 24 characters, each one byte (U+0000-U+00FF, so that a leader
/// read with stray non-ASCII bytes can be set back as it was).
fn leader_from(s: &str) -> PyResult<[u8; 24]> {
    let bytes: Option<Vec<u8>> = s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
    match bytes.map(<[u8; 24]>::try_from) {
        Some(Ok(l)) => Ok(l),
        _ => Err(crate::errors::value_error(format!(
            "a leader is 24 one-byte characters, not {s:?}"
        ))),
    }
}

/// The leader's text: one character per byte (ASCII in any valid record).
fn leader_text(leader: &[u8; 24]) -> String {
    leader.iter().map(|&b| char::from(b)).collect()
}

fn field_objects(fields: &Bound<'_, PyAny>) -> PyResult<Vec<Slot>> {
    let mut out = Vec::new();
    for f in fields.try_iter()? {
        let f = f?;
        let f = f
            .cast::<Field>()
            .map_err(|_| PyTypeError::new_err("fields must be marc8fast.Field objects"))?;
        out.push(Slot::Obj(f.clone().unbind()));
    }
    Ok(out)
}

impl Record {
    /// `Record.as_marcxml_report()`: a document of one namespaced `<record>`, and its problems.
    pub(crate) fn marcxml_of(&self, py: Python<'_>) -> (String, Vec<CoreProblem>) {
        self.with_fields(py, |leader, fields| {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            let mut problems = Vec::new();
            marcxml::write_parts(leader, fields, &mut out, 1, true, &mut problems);
            (out, problems)
        })
    }

    /// `Record.as_json()`: one MARC-in-JSON object (JSON carries every character: no problem but a
    /// repaired leader, which the text shows).
    pub(crate) fn json_of(&self, py: Python<'_>) -> String {
        self.with_fields(py, |leader, fields| {
            let mut out = String::new();
            marcjson::write_parts(leader, fields, &mut out, 1, &mut Vec::new());
            out
        })
    }

    /// A Record holding a core record (as read from any format), its source encoding and the
    /// problems of reading it.
    pub(crate) fn from_model(
        rec: model::Record,
        source: SourceEncoding,
        problems: Vec<CoreProblem>,
    ) -> Record {
        Record {
            leader: rec.leader,
            slots: rec.fields.into_iter().map(Slot::Raw).collect(),
            problems,
            number: None,
            offset: None,
            source,
        }
    }

    /// A record read from a file.
    pub(crate) fn from_read(r: marc8::reader::ReadRecord) -> Record {
        Record {
            number: Some(r.number),
            offset: Some(r.offset),
            ..Record::from_model(r.record, r.source, r.problems)
        }
    }

    fn slot_tag_is(slot: &Slot, py: Python<'_>, tag: &str) -> bool {
        match slot {
            Slot::Raw(f) => f.tag == tag,
            Slot::Obj(o) => o.borrow(py).inner.tag == tag,
        }
    }

    fn slot_tag(slot: &Slot, py: Python<'_>) -> String {
        match slot {
            Slot::Raw(f) => f.tag.clone(),
            Slot::Obj(o) => o.borrow(py).inner.tag.clone(),
        }
    }

    /// The Python object of field `i`, made on first use.
    fn obj(&mut self, py: Python<'_>, i: usize) -> PyResult<Py<Field>> {
        let slot = &mut self.slots[i];
        if let Slot::Obj(o) = slot {
            return Ok(o.clone_ref(py));
        }
        let Slot::Raw(f) = std::mem::replace(slot, Slot::Raw(placeholder())) else {
            return Err(crate::errors::value_error("internal: field slot"));
        };
        let o = Py::new(py, Field { inner: f })?;
        *slot = Slot::Obj(o.clone_ref(py));
        Ok(o)
    }

    /// Runs `f` on the record's fields as core values.
    pub(crate) fn with_fields<T>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&[u8; 24], &[&model::Field]) -> T,
    ) -> T {
        let refs: Vec<Option<PyRef<'_, Field>>> = self
            .slots
            .iter()
            .map(|s| match s {
                Slot::Raw(_) => None,
                Slot::Obj(o) => Some(o.borrow(py)),
            })
            .collect();
        let fields: Vec<&model::Field> = self
            .slots
            .iter()
            .zip(&refs)
            .filter_map(|(s, r)| match (s, r) {
                (Slot::Raw(f), _) => Some(f),
                (Slot::Obj(_), Some(r)) => Some(&r.inner),
                (Slot::Obj(_), None) => None,
            })
            .collect();
        f(&self.leader, &fields)
    }

    fn model(&self, py: Python<'_>) -> model::Record {
        self.with_fields(py, |leader, fields| model::Record {
            leader: *leader,
            fields: fields.iter().map(|f| (*f).clone()).collect(),
        })
    }

    fn encode(
        &self,
        py: Python<'_>,
        encoding: &str,
        errors: &str,
    ) -> PyResult<(Option<Vec<u8>>, Vec<CoreProblem>)> {
        let (to, errors) = encoding_options(encoding, errors)?;
        let number = self.number.unwrap_or(1);
        let offset = self.offset.unwrap_or(0);
        Ok(self.with_fields(py, |leader, fields| {
            let mut out = Vec::new();
            let mut problems = Vec::new();
            let ok = model::write_iso2709(
                leader,
                fields.iter().copied(),
                model::WriteOptions { to, errors },
                marc8::record::Place::new(number, offset),
                &mut out,
                &mut problems,
            );
            (ok.then_some(out), problems)
        }))
    }

    fn position_of(&self, py: Python<'_>, field: &Bound<'_, Field>) -> Option<usize> {
        let _ = py;
        self.slots
            .iter()
            .position(|s| matches!(s, Slot::Obj(o) if o.as_ptr() == field.as_ptr()))
    }
}

fn placeholder() -> model::Field {
    model::Field {
        tag: String::new(),
        data: FieldData::Control(String::new()),
    }
}

#[pymethods]
impl Record {
    #[new]
    #[pyo3(signature = (leader = None, fields = None))]
    fn new(leader: Option<&str>, fields: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        Ok(Record {
            leader: match leader {
                Some(l) => leader_from(l)?,
                None => *DEFAULT_LEADER,
            },
            slots: match fields {
                Some(f) => field_objects(f)?,
                None => Vec::new(),
            },
            problems: Vec::new(),
            number: None,
            offset: None,
            source: SourceEncoding::Utf8,
        })
    }

    /// Parses one ISO 2709 record (MARC-8 or UTF-8); problems are in `.problems`. Raises
    /// RecordError when it cannot be parsed at all.
    #[staticmethod]
    #[pyo3(signature = (raw, *, trust = "leader", normalize = None, expand_ncr = false, legacy_ligatures = false))]
    fn parse(
        py: Python<'_>,
        raw: &[u8],
        trust: &str,
        normalize: Option<&str>,
        expand_ncr: bool,
        legacy_ligatures: bool,
    ) -> PyResult<Record> {
        let opts = read_options(trust, normalize, expand_ncr, legacy_ligatures)?;
        let mut problems = Vec::new();
        match model::Record::from_iso2709(raw, &opts, 1, 0, &mut problems) {
            Some((rec, source)) => Ok(Record::from_model(rec, source, problems)),
            None => {
                let msg = problems
                    .last()
                    .map_or_else(|| "unreadable record".to_owned(), |p| p.message.clone());
                Err(record_error(py, &msg, &problems))
            }
        }
    }

    /// The leader (24 characters).
    #[getter]
    fn leader(&self) -> String {
        leader_text(&self.leader)
    }

    #[setter]
    fn set_leader(&mut self, value: &str) -> PyResult<()> {
        self.leader = leader_from(value)?;
        Ok(())
    }

    /// The leader at a position or slice, as `record.leader[i]` would give it.
    fn leader_at<'py>(
        &self,
        py: Python<'py>,
        i: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        PyString::new(py, &self.leader()).get_item(i)
    }

    /// Sets leader positions `i`, `i+1`, ... to the characters of `value`.
    #[pyo3(name = "set_leader")]
    fn set_leader_at(&mut self, i: usize, value: &str) -> PyResult<()> {
        let bytes: Option<Vec<u8>> = value
            .chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect();
        match bytes {
            Some(b) if i + b.len() <= 24 => self.leader[i..i + b.len()].copy_from_slice(&b),
            _ => {
                return Err(crate::errors::value_error(format!(
                    "{value:?} at leader position {i} is not one-byte characters inside the 24 positions"
                )))
            }
        }
        Ok(())
    }

    /// The problems of parsing the record.
    #[getter]
    fn problems(&self) -> Vec<RecordProblem> {
        self.problems
            .iter()
            .cloned()
            .map(RecordProblem::from)
            .collect()
    }

    /// The record's number in its file (from 1), when read by MARCReader.
    #[getter]
    fn number(&self) -> Option<usize> {
        self.number
    }

    /// The record's byte offset in its file, when read by MARCReader.
    #[getter]
    fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// "marc8" or "utf8": the encoding the record was read from ("utf8" for a new record).
    #[getter]
    fn source_encoding(&self) -> &'static str {
        self.source.as_str()
    }

    /// The fields' tags, in order (no Field object is made).
    #[getter]
    fn tags<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for s in &self.slots {
            match s {
                Slot::Raw(f) => list.append(PyString::new(py, &f.tag))?,
                Slot::Obj(o) => list.append(PyString::new(py, &o.borrow(py).inner.tag))?,
            }
        }
        Ok(list)
    }

    /// The fields, in order (a new list of the record's own Field objects).
    #[getter(fields)]
    fn fields_attr(&mut self, py: Python<'_>) -> PyResult<Vec<Py<Field>>> {
        (0..self.slots.len()).map(|i| self.obj(py, i)).collect()
    }

    #[setter(fields)]
    fn put_fields(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.slots = field_objects(value)?;
        Ok(())
    }

    fn __getitem__(&mut self, py: Python<'_>, tag: &str) -> PyResult<Py<Field>> {
        match self
            .slots
            .iter()
            .position(|s| Self::slot_tag_is(s, py, tag))
        {
            Some(i) => self.obj(py, i),
            None => Err(PyKeyError::new_err(tag.to_owned())),
        }
    }

    /// The first field with this tag, or None.
    fn get(&mut self, py: Python<'_>, tag: &str) -> PyResult<Option<Py<Field>>> {
        match self
            .slots
            .iter()
            .position(|s| Self::slot_tag_is(s, py, tag))
        {
            Some(i) => self.obj(py, i).map(Some),
            None => Ok(None),
        }
    }

    /// The fields with these tags (all fields if none is given), in order.
    #[pyo3(name = "get_fields", signature = (*tags))]
    fn fields_with_tags(&mut self, py: Python<'_>, tags: Vec<String>) -> PyResult<Vec<Py<Field>>> {
        let wanted: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                tags.is_empty()
                    || tags
                        .iter()
                        .any(|t| Self::slot_tag_is(&self.slots[i], py, t))
            })
            .collect();
        wanted.into_iter().map(|i| self.obj(py, i)).collect()
    }

    /// Appends fields.
    #[pyo3(signature = (*fields))]
    fn add_field(&mut self, fields: Vec<Py<Field>>) {
        self.slots.extend(fields.into_iter().map(Slot::Obj));
    }

    /// Inserts each field before the first field with a greater tag.
    #[pyo3(signature = (*fields))]
    fn add_ordered_field(&mut self, py: Python<'_>, fields: Vec<Py<Field>>) {
        for f in fields {
            let tag = f.borrow(py).inner.tag.clone();
            let at = self
                .slots
                .iter()
                .position(|s| Self::slot_tag(s, py) > tag)
                .unwrap_or(self.slots.len());
            self.slots.insert(at, Slot::Obj(f));
        }
    }

    /// Removes these Field objects (by identity); ValueError if one is not in the record.
    #[pyo3(signature = (*fields))]
    fn remove_field(&mut self, py: Python<'_>, fields: Vec<Bound<'_, Field>>) -> PyResult<()> {
        for f in &fields {
            match self.position_of(py, f) {
                Some(i) => {
                    self.slots.remove(i);
                }
                None => {
                    return Err(crate::errors::value_error(format!(
                        "field {} is not in the record",
                        f.borrow().inner.tag
                    )))
                }
            }
        }
        Ok(())
    }

    /// Removes every field with these tags; returns how many were removed.
    #[pyo3(signature = (*tags))]
    fn remove_fields(&mut self, py: Python<'_>, tags: Vec<String>) -> usize {
        let before = self.slots.len();
        self.slots
            .retain(|s| !tags.iter().any(|t| Self::slot_tag_is(s, py, t)));
        before - self.slots.len()
    }

    /// Puts `new` in the place of the Field object `old` (by identity).
    fn replace_field(
        &mut self,
        py: Python<'_>,
        old: &Bound<'_, Field>,
        new: Py<Field>,
    ) -> PyResult<()> {
        match self.position_of(py, old) {
            Some(i) => {
                self.slots[i] = Slot::Obj(new);
                Ok(())
            }
            None => Err(crate::errors::value_error(format!(
                "field {} is not in the record",
                old.borrow().inner.tag
            ))),
        }
    }

    /// The 001, trimmed of surrounding spaces, or None.
    fn control_number(&self, py: Python<'_>) -> Option<String> {
        self.with_fields(py, |_, fields| {
            fields
                .iter()
                .find(|f| f.tag == "001")
                .and_then(|f| match &f.data {
                    FieldData::Control(t) => Some(t.trim().to_owned()),
                    FieldData::Data { .. } => None,
                })
        })
    }

    /// The record as ISO 2709 bytes in `encoding`; raises RecordError if it cannot be written
    /// (too long, a structure-breaking value, or errors="strict" and a character MARC-8 lacks).
    #[pyo3(signature = (encoding = "utf8", errors = "lossless"))]
    fn to_bytes<'py>(
        &self,
        py: Python<'py>,
        encoding: &str,
        errors: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        match self.encode(py, encoding, errors)? {
            (Some(b), _) => Ok(PyBytes::new(py, &b)),
            (None, problems) => {
                let msg = problems
                    .iter()
                    .find(|p| p.action == marc8::RecordAction::Rejected)
                    .map_or_else(
                        || "the record cannot be written".to_owned(),
                        |p| p.message.clone(),
                    );
                Err(record_error(py, &msg, &problems))
            }
        }
    }

    /// (bytes or None if the record cannot be written, problems).
    #[pyo3(signature = (encoding = "utf8", errors = "lossless"))]
    fn to_bytes_report<'py>(
        &self,
        py: Python<'py>,
        encoding: &str,
        errors: &str,
    ) -> PyResult<(Option<Bound<'py, PyBytes>>, Vec<RecordProblem>)> {
        let (bytes, problems) = self.encode(py, encoding, errors)?;
        Ok((
            bytes.map(|b| PyBytes::new(py, &b)),
            problems.into_iter().map(RecordProblem::from).collect(),
        ))
    }

    /// The record as a `pymarc.Record` (needs pymarc).
    fn as_pymarc<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pm = py.import("pymarc")?;
        let field_cls = pm.getattr("Field")?;
        let sub_cls = pm.getattr("Subfield")?;
        let ind_cls = pm.getattr("Indicators")?;
        let rec = pm.getattr("Record")?.call0()?;
        rec.setattr("leader", pm.getattr("Leader")?.call1((self.leader(),))?)?;
        let fields = self.with_fields(py, |_, fields| -> PyResult<Vec<Bound<'py, PyAny>>> {
            fields
                .iter()
                .map(|f| {
                    let kw = PyDict::new(py);
                    kw.set_item("tag", &f.tag)?;
                    match &f.data {
                        FieldData::Control(t) => kw.set_item("data", t)?,
                        FieldData::Data {
                            ind1,
                            ind2,
                            subfields,
                        } => {
                            kw.set_item("indicators", ind_cls.call1((*ind1, *ind2))?)?;
                            let subs = subfields
                                .iter()
                                .map(|s| sub_cls.call1((s.code, &s.value)))
                                .collect::<PyResult<Vec<_>>>()?;
                            kw.set_item("subfields", subs)?;
                        }
                    }
                    field_cls.call((), Some(&kw))
                })
                .collect()
        })?;
        rec.setattr("fields", fields)?;
        Ok(rec)
    }

    /// A Record from a `pymarc.Record`.
    #[staticmethod]
    fn from_pymarc(record: &Bound<'_, PyAny>) -> PyResult<Record> {
        let leader = leader_from(&record.getattr("leader")?.str()?.to_string())?;
        let mut slots = Vec::new();
        for f in record.getattr("fields")?.try_iter()? {
            let f = f?;
            let tag: String = f.getattr("tag")?.extract()?;
            let data = if f.call_method0("is_control_field")?.is_truthy()? {
                let d = f.getattr("data")?;
                FieldData::Control(if d.is_none() {
                    String::new()
                } else {
                    d.extract()?
                })
            } else {
                let ind = f.getattr("indicators")?;
                let (ind1, ind2) = if ind.is_none() {
                    (' ', ' ')
                } else {
                    let t = ind.cast::<PyTuple>().ok();
                    let get = |i: usize| -> PyResult<char> {
                        let s: String = match &t {
                            Some(t) => t.get_item(i)?.extract()?,
                            None => ind.get_item(i)?.extract()?,
                        };
                        Ok(s.chars().next().unwrap_or(' '))
                    };
                    (get(0)?, get(1)?)
                };
                FieldData::Data {
                    ind1,
                    ind2,
                    subfields: subfields_from(&f.getattr("subfields")?)?,
                }
            };
            slots.push(Slot::Raw(model::Field { tag, data }));
        }
        Ok(Record {
            leader,
            slots,
            problems: Vec::new(),
            number: None,
            offset: None,
            source: SourceEncoding::Utf8,
        })
    }

    /// The record as a MARCXML document of one namespaced `<record>` (see README, "MARCXML and
    /// MARC-in-JSON"); characters XML cannot carry are written as U+FFFD.
    fn as_marcxml(&self, py: Python<'_>) -> String {
        self.marcxml_of(py).0
    }

    /// (MARCXML document, problems: characters replaced, values outside the schema).
    fn as_marcxml_report(&self, py: Python<'_>) -> (String, Vec<RecordProblem>) {
        let (xml, problems) = self.marcxml_of(py);
        (xml, problems.into_iter().map(RecordProblem::from).collect())
    }

    /// The record as MARC-in-JSON, as pymarc's `Record.as_json()` gives it.
    fn as_json(&self, py: Python<'_>) -> String {
        self.json_of(py)
    }

    /// A deep copy (new Field objects).
    fn copy(&self, py: Python<'_>) -> Record {
        let m = self.model(py);
        Record {
            leader: m.leader,
            slots: m.fields.into_iter().map(Slot::Raw).collect(),
            problems: self.problems.clone(),
            number: self.number,
            offset: self.offset,
            source: self.source,
        }
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<Record>() {
            Ok(o) => o.try_borrow().is_ok_and(|o| o.model(py) == self.model(py)),
            Err(_) => false,
        }
    }

    fn __ne__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        !self.__eq__(py, other)
    }

    fn __iter__<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let fields = self.fields_attr(py)?;
        Ok(PyList::new(py, fields)?.as_any().try_iter()?.into_any())
    }

    fn __len__(&self) -> usize {
        self.slots.len()
    }

    fn __contains__(&self, py: Python<'_>, tag: &str) -> bool {
        self.slots.iter().any(|s| Self::slot_tag_is(s, py, tag))
    }

    fn __str__(&self, py: Python<'_>) -> String {
        self.with_fields(py, |leader, fields| {
            let mut s = format!("=LDR  {}\n", leader_text(leader));
            for f in fields {
                s.push_str(&mnemonic(f));
                s.push('\n');
            }
            s
        })
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<Record {:?}: {} fields>",
            self.control_number(py).unwrap_or_default(),
            self.slots.len()
        )
    }
}

/// What `export_record` returns: the record's bytes (or `None`), its problems, the tags left out.
type Exported<'py> = (Option<Bound<'py, PyBytes>>, Vec<RecordProblem>, Vec<String>);

/// What `raw_fields` returns: the leader and each field's tag and bytes.
type RawFields<'py> = (Bound<'py, PyBytes>, Vec<(String, Bound<'py, PyBytes>)>);

/// The export's conversion of one stored record: `(bytes or None if it cannot be written,
/// problems, tags left out)`, as `Record.parse(raw)`, removing every field whose tag is not
/// three ASCII digits or is in `drop`, then `to_bytes_report(encoding, errors)` give, in one
/// call. Raises RecordError (with `.problems`) when the record cannot be parsed at all.
#[pyfunction]
#[pyo3(signature = (raw, *, drop = Vec::new(), encoding = "marc8", errors = "lossless"))]
pub(crate) fn export_record<'py>(
    py: Python<'py>,
    raw: &[u8],
    drop: Vec<String>,
    encoding: &str,
    errors: &str,
) -> PyResult<Exported<'py>> {
    let (to, errors) = encoding_options(encoding, errors)?;
    let opts = read_options("leader", None, false, false)?;
    let keep = |tag: &str| {
        tag.len() == 3 && tag.bytes().all(|b| b.is_ascii_digit()) && !drop.iter().any(|d| d == tag)
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut dropped = Vec::new();
    let job = model::Keeping {
        read: &opts,
        keep: &keep,
        write: model::WriteOptions { to, errors },
    };
    let Some(ok) = model::convert_keeping(
        raw,
        &job,
        marc8::record::Place::new(1, 0),
        &mut out,
        &mut problems,
        &mut dropped,
    ) else {
        let msg = problems
            .last()
            .map_or_else(|| "unreadable record".to_owned(), |p| p.message.clone());
        return Err(record_error(py, &msg, &problems));
    };
    Ok((
        ok.then(|| PyBytes::new(py, &out)),
        problems.into_iter().map(RecordProblem::from).collect(),
        dropped,
    ))
}

/// A record's leader and its fields as they stand in its bytes, `(leader, [(tag, data)])`
/// (data without its terminator, not converted), read by the record layer's parser (a
/// directory that lies is recovered from the terminators). Raises RecordError (with
/// `.problems`) when the record cannot be parsed at all.
#[pyfunction]
pub(crate) fn raw_fields<'py>(py: Python<'py>, raw: &[u8]) -> PyResult<RawFields<'py>> {
    match marc8::record::parse(raw) {
        Ok(p) => Ok((
            PyBytes::new(py, &p.leader),
            p.fields
                .iter()
                .map(|f| (f.tag_str(), PyBytes::new(py, f.data)))
                .collect(),
        )),
        Err(ParseError { kind, message }) => {
            let problem = CoreProblem {
                record: 1,
                record_offset: 0,
                control_number: None,
                tag: None,
                occurrence: None,
                subfield: None,
                offset: None,
                field_offset: None,
                kind,
                bytes: raw[..raw.len().min(24)].to_vec(),
                action: marc8::RecordAction::Rejected,
                message: message.clone(),
            };
            Err(record_error(py, &message, &[problem]))
        }
    }
}
