//! The catalog's search terms (`marc8::search`) for `marc8fast.flows.search`.

use marc8::search::{
    index_terms_of_utf8, isbn_problem, isbns, issn, match_keys, oclc_number, query_terms, words,
    IndexTerms,
};
use pyo3::prelude::*;

use crate::errors::bad_option;
use crate::model::Record;

/// The folded words of `text` (the search index's definition of a word).
#[pyfunction]
pub(crate) fn search_words(text: &str) -> Vec<String> {
    words(text)
}

/// The terms of a query: `(term, prefix)`, a `*` right after a word making its last term a
/// prefix.
#[pyfunction]
pub(crate) fn search_query_terms(text: &str) -> Vec<(String, bool)> {
    query_terms(text)
}

/// Why the ISBN at the start of `text` is invalid (check digit, length), or `None`.
#[pyfunction]
pub(crate) fn search_isbn_problem(text: &str) -> Option<String> {
    isbn_problem(text)
}

/// The duplicate check's keys of a record: (its OCLC numbers in order, its title/author key).
#[pyfunction]
pub(crate) fn search_match_keys(
    py: Python<'_>,
    record: PyRef<'_, Record>,
) -> (Vec<String>, Option<String>) {
    let keys = record.with_fields(py, |_, fields| match_keys(fields.iter().copied()));
    (keys.oclc, keys.title_key)
}

/// The normalised terms a number index (`isbn`, `issn`, `oclc`) holds for `text`.
#[pyfunction]
pub(crate) fn search_numbers(index: &str, text: &str) -> PyResult<Vec<String>> {
    Ok(match index {
        "isbn" => isbns(text),
        "issn" => issn(text).into_iter().collect(),
        "oclc" => oclc_number(text).into_iter().collect(),
        _ => return Err(bad_option("index", index, "isbn, issn or oclc")),
    })
}

/// The search-index columns (title, author, subject, isbn, issn, oclc: each its terms,
/// space-separated) of a stored UTF-8 ISO 2709 record; all empty when it cannot be parsed.
#[pyfunction]
pub(crate) fn search_index_row(data: &[u8]) -> Row {
    // A record is small: releasing the GIL would cost more than the work.
    let terms = index_terms_of_utf8(data).unwrap_or_default();
    let [a, b, c, d, e, f] = join(&terms);
    (a, b, c, d, e, f)
}

type Row = (String, String, String, String, String, String);

fn join(t: &IndexTerms) -> [String; 6] {
    marc8::pipeline::index_row(t)
}
