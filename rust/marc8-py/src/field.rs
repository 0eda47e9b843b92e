//! `marc8fast.Field`: one field of a record as a Python object (a control field, or indicators
//! and subfields), and the argument checks a field and a record share.

use marc8::model::{self, FieldData, Subfield};
use marc8::record::RecordProblem as CoreProblem;
use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use crate::records::RecordProblem;

/// A `RecordError` carrying its problems.
pub(crate) fn record_error(py: Python<'_>, message: &str, problems: &[CoreProblem]) -> PyErr {
    let err = crate::errors::Class::Record.err(message.to_owned());
    let list: Vec<RecordProblem> = problems.iter().cloned().map(RecordProblem::from).collect();
    let _ = err.value(py).setattr("problems", list);
    err
}

pub(crate) fn one_char(what: &str, s: &str) -> PyResult<char> {
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(crate::errors::value_error(format!(
            "{what} must be one character, not {s:?}"
        ))),
    }
}

pub(crate) fn indicators_from(obj: &Bound<'_, PyAny>) -> PyResult<(char, char)> {
    let chars: Vec<char> = if let Ok(s) = obj.cast::<PyString>() {
        s.to_str()?.chars().collect()
    } else {
        let mut v = Vec::new();
        for item in obj.try_iter()? {
            let item = item?;
            let s: String = item.extract()?;
            v.push(one_char("an indicator", &s)?);
        }
        v
    };
    match chars[..] {
        [a, b] => Ok((a, b)),
        _ => Err(crate::errors::value_error(
            "indicators must be two characters (a str of length 2 or two one-character strs)",
        )),
    }
}

pub(crate) fn subfields_from(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Subfield>> {
    let mut out = Vec::new();
    for item in obj.try_iter()? {
        let item = item?;
        let (code, value): (String, String) = item
            .extract()
            .map_err(|_| PyTypeError::new_err("subfields must be (code, value) pairs of str"))?;
        out.push(Subfield {
            code: one_char("a subfield code", &code)?,
            value,
        });
    }
    Ok(out)
}

pub(crate) fn check_tag(tag: &str) -> PyResult<()> {
    if tag.len() == 3 && tag.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(crate::errors::value_error(format!(
            "a tag is three ASCII characters, not {tag:?}"
        )))
    }
}

/// The mnemonic line of a field: `=245  10$aTitle$cAuthor` (blank indicators as `\`).
pub(crate) fn mnemonic(f: &model::Field) -> String {
    match &f.data {
        FieldData::Control(t) => format!("={}  {t}", f.tag),
        FieldData::Data {
            ind1,
            ind2,
            subfields,
        } => {
            let blank = |c: char| if c == ' ' { '\\' } else { c };
            let mut s = format!("={}  {}{}", f.tag, blank(*ind1), blank(*ind2));
            for sf in subfields {
                s.push('$');
                s.push(sf.code);
                s.push_str(&sf.value);
            }
            s
        }
    }
}

/// One field of a record: a control field (`data`) or indicators and subfields.
#[pyclass(module = "marc8fast", name = "Field")]
pub struct Field {
    pub(crate) inner: model::Field,
}

impl Field {
    fn subfields_mut(&mut self) -> PyResult<&mut Vec<Subfield>> {
        match &mut self.inner.data {
            FieldData::Data { subfields, .. } => Ok(subfields),
            FieldData::Control(_) => Err(crate::errors::value_error(format!(
                "field {} is a control field: it has no subfields",
                self.inner.tag
            ))),
        }
    }

    fn subfields_ref(&self) -> &[Subfield] {
        match &self.inner.data {
            FieldData::Data { subfields, .. } => subfields,
            FieldData::Control(_) => &[],
        }
    }

    fn inds_mut(&mut self) -> PyResult<(&mut char, &mut char)> {
        match &mut self.inner.data {
            FieldData::Data { ind1, ind2, .. } => Ok((ind1, ind2)),
            FieldData::Control(_) => Err(crate::errors::value_error(format!(
                "field {} is a control field: it has no indicators",
                self.inner.tag
            ))),
        }
    }

    fn inds(&self) -> Option<(char, char)> {
        match &self.inner.data {
            FieldData::Data { ind1, ind2, .. } => Some((*ind1, *ind2)),
            FieldData::Control(_) => None,
        }
    }
}

#[pymethods]
impl Field {
    #[new]
    #[pyo3(signature = (tag, indicators = None, subfields = None, data = None))]
    fn new(
        tag: String,
        indicators: Option<&Bound<'_, PyAny>>,
        subfields: Option<&Bound<'_, PyAny>>,
        data: Option<String>,
    ) -> PyResult<Self> {
        check_tag(&tag)?;
        let data = match data {
            Some(text) => {
                if subfields.is_some() || indicators.is_some() {
                    return Err(crate::errors::value_error(
                        "a control field (data=...) has no indicators or subfields",
                    ));
                }
                FieldData::Control(text)
            }
            None => {
                let (ind1, ind2) = match indicators {
                    Some(i) => indicators_from(i)?,
                    None => (' ', ' '),
                };
                let subfields = match subfields {
                    Some(s) => subfields_from(s)?,
                    None => Vec::new(),
                };
                FieldData::Data {
                    ind1,
                    ind2,
                    subfields,
                }
            }
        };
        Ok(Field {
            inner: model::Field { tag, data },
        })
    }

    /// The tag (three characters).
    #[getter]
    fn tag(&self) -> &str {
        &self.inner.tag
    }

    #[setter]
    fn set_tag(&mut self, value: String) -> PyResult<()> {
        check_tag(&value)?;
        self.inner.tag = value;
        Ok(())
    }

    /// A control field's text; None for a data field.
    #[getter]
    fn data(&self) -> Option<&str> {
        match &self.inner.data {
            FieldData::Control(t) => Some(t),
            FieldData::Data { .. } => None,
        }
    }

    #[setter]
    fn set_data(&mut self, value: String) -> PyResult<()> {
        match &mut self.inner.data {
            FieldData::Control(t) => {
                *t = value;
                Ok(())
            }
            FieldData::Data { .. } => Err(crate::errors::value_error(format!(
                "field {} is a data field: set its subfields, not data",
                self.inner.tag
            ))),
        }
    }

    /// The two indicators as a str (two spaces for a control field).
    #[getter]
    fn indicators(&self) -> String {
        let (a, b) = self.inds().unwrap_or((' ', ' '));
        [a, b].iter().collect()
    }

    #[setter]
    fn set_indicators(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (a, b) = indicators_from(value)?;
        let (i1, i2) = self.inds_mut()?;
        *i1 = a;
        *i2 = b;
        Ok(())
    }

    /// First indicator.
    #[getter]
    fn ind1(&self) -> char {
        self.inds().map_or(' ', |i| i.0)
    }

    #[setter]
    fn set_ind1(&mut self, value: &str) -> PyResult<()> {
        let c = one_char("an indicator", value)?;
        *self.inds_mut()?.0 = c;
        Ok(())
    }

    /// Second indicator.
    #[getter]
    fn ind2(&self) -> char {
        self.inds().map_or(' ', |i| i.1)
    }

    #[setter]
    fn set_ind2(&mut self, value: &str) -> PyResult<()> {
        let c = one_char("an indicator", value)?;
        *self.inds_mut()?.1 = c;
        Ok(())
    }

    /// The subfields as (code, value) pairs: a copy (set the attribute to replace them all).
    #[getter(subfields)]
    fn subfields_attr(&self) -> Vec<(char, String)> {
        self.subfields_ref()
            .iter()
            .map(|s| (s.code, s.value.clone()))
            .collect()
    }

    #[setter(subfields)]
    fn put_subfields(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let new = subfields_from(value)?;
        *self.subfields_mut()? = new;
        Ok(())
    }

    /// True for a control field (001-009).
    fn is_control_field(&self) -> bool {
        matches!(self.inner.data, FieldData::Control(_))
    }

    /// The values of the subfields with these codes, in field order.
    #[pyo3(name = "get_subfields", signature = (*codes))]
    fn subfield_values(&self, codes: Vec<String>) -> Vec<String> {
        self.subfields_ref()
            .iter()
            .filter(|s| codes.iter().any(|c| c.chars().eq(std::iter::once(s.code))))
            .map(|s| s.value.clone())
            .collect()
    }

    fn __getitem__(&self, code: &str) -> PyResult<String> {
        let mut it = code.chars();
        let first = match (it.next(), it.next()) {
            (Some(c), None) => self.subfields_ref().iter().find(|s| s.code == c),
            _ => None,
        };
        first
            .map(|s| s.value.clone())
            .ok_or_else(|| PyKeyError::new_err(code.to_owned()))
    }

    /// The first value of subfield `code`, else `default`.
    #[pyo3(signature = (code, default = None))]
    fn get(&self, py: Python<'_>, code: &str, default: Option<Py<PyAny>>) -> Py<PyAny> {
        match self.__getitem__(code) {
            Ok(v) => PyString::new(py, &v).into_any().unbind(),
            Err(_) => default.unwrap_or_else(|| py.None()),
        }
    }

    fn __contains__(&self, code: &str) -> bool {
        self.__getitem__(code).is_ok()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyList::new(py, self.subfields_attr())?
            .as_any()
            .try_iter()?
            .into_any())
    }

    /// Adds a subfield at the end, or before position `pos`.
    #[pyo3(signature = (code, value, pos = None))]
    fn add_subfield(&mut self, code: &str, value: String, pos: Option<usize>) -> PyResult<()> {
        let code = one_char("a subfield code", code)?;
        let subfields = self.subfields_mut()?;
        let at = pos.unwrap_or(subfields.len()).min(subfields.len());
        subfields.insert(at, Subfield { code, value });
        Ok(())
    }

    /// Removes the first subfield `code`; returns its value (None if there was none).
    fn delete_subfield(&mut self, code: &str) -> PyResult<Option<String>> {
        let subfields = self.subfields_mut()?;
        let mut it = code.chars();
        let at = match (it.next(), it.next()) {
            (Some(c), None) => subfields.iter().position(|s| s.code == c),
            _ => None,
        };
        Ok(at.map(|i| subfields.remove(i).value))
    }

    /// The text of the field: a control field's data, or the subfield values (stripped) joined
    /// by spaces, as pymarc's `value()`.
    fn value(&self) -> String {
        match &self.inner.data {
            FieldData::Control(t) => t.clone(),
            FieldData::Data { subfields, .. } => subfields
                .iter()
                .map(|s| s.value.trim())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// A copy, not attached to any record.
    fn copy(&self) -> Field {
        Field {
            inner: self.inner.clone(),
        }
    }

    fn __str__(&self) -> String {
        mnemonic(&self.inner)
    }

    fn __repr__(&self) -> String {
        format!("<Field {}>", mnemonic(&self.inner))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Field>()
            .is_ok_and(|o| o.borrow().inner == self.inner)
    }

    fn __ne__(&self, other: &Bound<'_, PyAny>) -> bool {
        !self.__eq__(other)
    }
}
