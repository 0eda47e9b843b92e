//! The core's vocabularies as Python enums: `ProblemKind` (every `marc8::RecordKind`),
//! `ProblemAction` (every `marc8::RecordAction`) and `Severity`.
//!
//! The members are made here, at import, from the core's own lists, so Python can never name a
//! kind the core does not have, nor miss one it added (`_native.pyi` lists the members and
//! stubtest checks them against these). Each enum is a `str` enum whose members print, format
//! and hash as their word (`"garbage"`), so `problem.kind == ProblemKind.GARBAGE`, dict lookups
//! either way and JSON output behave as the plain strings did (`enum.StrEnum` is 3.11+; the
//! package supports 3.10).

use marc8::{RecordAction, RecordKind, Severity};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// Every severity, in rising order. The match keeps the list whole: a new severity in the core
/// does not compile here until it is listed.
fn severities() -> [Severity; 3] {
    const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Error];
    for s in ALL {
        match s {
            Severity::Info | Severity::Warning | Severity::Error => {}
        }
    }
    ALL
}

/// Adds a `str` enum named `name` with one member per word (`GARBAGE = "garbage"`) to `m`.
fn add_str_enum(
    m: &Bound<'_, PyModule>,
    name: &str,
    doc: &str,
    words: impl IntoIterator<Item = &'static str>,
) -> PyResult<()> {
    let py = m.py();
    let members: Vec<(String, &str)> = words
        .into_iter()
        .map(|w| (w.to_ascii_uppercase(), w))
        .collect();
    let kwargs = PyDict::new(py);
    kwargs.set_item("type", py.get_type::<PyString>())?;
    kwargs.set_item("module", "marc8fast._native")?;
    let class = py
        .import("enum")?
        .getattr("Enum")?
        .call((name, members), Some(&kwargs))?;
    let text = py.get_type::<PyString>();
    for dunder in ["__str__", "__format__", "__hash__"] {
        class.setattr(dunder, text.getattr(dunder)?)?;
    }
    class.setattr("__doc__", doc)?;
    m.add(name, class)
}

/// Adds `ProblemKind`, `ProblemAction` and `Severity` to the module.
pub(crate) fn add_enums(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_str_enum(
        m,
        "ProblemKind",
        "What went wrong: every problem kind the core reports (`Problem.kind`, `RecordProblem.kind`).",
        RecordKind::ALL.iter().map(|k| k.as_str()),
    )?;
    add_str_enum(
        m,
        "ProblemAction",
        "What was done about a problem (`Problem.action`, `RecordProblem.action`).",
        RecordAction::ALL.iter().map(|a| a.as_str()),
    )?;
    add_str_enum(
        m,
        "Severity",
        "How much a problem matters: info, warning or error (`RecordProblem.severity`).",
        severities().into_iter().map(Severity::as_str),
    )
}
