//! Search terms of a record: the one definition of how the catalog's search index (and the
//! queries against it) fold words and normalise numbers.
//!
//! | index   | from                                                            | terms    |
//! |---------|-----------------------------------------------------------------|----------|
//! | title   | 245 $a $b $n $p, 246 $a $b, 130 $a, 240 $a, 740 $a              | words    |
//! | author  | 100, 110, 111, 700, 710, 711: $a $b $c $d $q                    | words    |
//! | subject | 600–699, every alphabetic subfield                              | words    |
//! | isbn    | 020 $a: as written (digits and X) and its other form (10 ↔ 13) | numbers  |
//! | issn    | 022 $a: eight characters, no hyphen                             | numbers  |
//! | oclc    | 001 (an OCLC number), 035 $a `(OCoLC)…` in any case, 019 $a     | numbers  |
//!
//! A word is a maximal run of alphanumeric characters of the folded text: compatibility
//! decomposition (NFKD), combining marks dropped, lower case, and the letters that do not
//! decompose mapped (`ø` → `o`, `ł` → `l`, `đ`/`ð` → `d`, `æ` → `ae`, `œ` → `oe`, `þ` → `th`,
//! `ß` → `ss`, `ı` → `i`).

use std::borrow::Cow;
use std::collections::BTreeSet;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::model::{FieldData, Record};

fn push_folded(c: char, out: &mut String) {
    match c {
        'ø' | 'Ø' => out.push('o'),
        'ł' | 'Ł' => out.push('l'),
        'đ' | 'Đ' | 'ð' | 'Ð' => out.push('d'),
        'æ' | 'Æ' => out.push_str("ae"),
        'œ' | 'Œ' => out.push_str("oe"),
        'þ' | 'Þ' => out.push_str("th"),
        'ß' | 'ẞ' => out.push_str("ss"),
        'ı' => out.push('i'),
        _ => out.extend(c.to_lowercase()),
    }
}

/// `text` folded for searching (see the module documentation).
#[must_use]
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    if text.is_ascii() {
        out.push_str(text);
        out.make_ascii_lowercase();
        return out;
    }
    for c in text.nfkd() {
        if !is_combining_mark(c) {
            push_folded(c, &mut out);
        }
    }
    out
}

/// Calls `each` with every folded word of `text`, in order.
pub fn for_each_word(text: &str, mut each: impl FnMut(&str)) {
    let folded = fold(text);
    for w in folded.split(|c: char| !c.is_alphanumeric()) {
        if !w.is_empty() {
            each(w);
        }
    }
}

/// The folded words of `text`, in order.
#[must_use]
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_word(text, |w| out.push(w.to_owned()));
    out
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `(OCoLC)ocm00012345`, `(ocolc)12345`, `ocn012345`, `012345` → `12345`; `None` when the text
/// is not an OCLC number (ASCII digits after the optional `(OCoLC)` and `ocm`/`ocn`/`on`).
#[must_use]
pub fn oclc_number(text: &str) -> Option<String> {
    let mut t = text.trim();
    if let Some(rest) = strip_prefix_ci(t, "(ocolc)") {
        t = rest.trim_start();
    }
    for p in ["ocm", "ocn", "on"] {
        if let Some(rest) = strip_prefix_ci(t, p) {
            t = rest.trim_start();
            break;
        }
    }
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = t.trim_start_matches('0');
    (!n.is_empty()).then(|| n.to_owned())
}

fn isbn10_check(nine: &[u8]) -> char {
    let s: u32 = nine
        .iter()
        .enumerate()
        .map(|(i, d)| (10 - i as u32) * u32::from(d - b'0'))
        .sum();
    match (11 - s % 11) % 11 {
        10 => 'X',
        d => char::from(b'0' + d as u8),
    }
}

fn isbn13_check(twelve: &[u8]) -> char {
    let s: u32 = twelve
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { 1 } else { 3 } * u32::from(d - b'0'))
        .sum();
    char::from(b'0' + ((10 - s % 10) % 10) as u8)
}

/// The ISBN at the start of `text` (`0-19-852663-6 (pbk.)`) as written, digits and `X` only,
/// and for a 978 number its other form: `["0198526636", "9780198526636"]`. Empty if there is
/// none. Check digits are not verified (a wrong one is still what the record says).
#[must_use]
pub fn isbns(text: &str) -> Vec<String> {
    let run: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | 'X' | 'x'))
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let b = run.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        10 if digits(&b[..9]) && (b[9].is_ascii_digit() || b[9] == b'X') => {
            let mut thirteen = String::from("978");
            thirteen.push_str(&run[..9]);
            let check = isbn13_check(thirteen.as_bytes());
            thirteen.push(check);
            vec![run, thirteen]
        }
        13 if digits(b) => {
            if run.starts_with("978") {
                let mut ten = run[3..12].to_owned();
                ten.push(isbn10_check(&b[3..12]));
                vec![run, ten]
            } else {
                vec![run]
            }
        }
        _ => Vec::new(),
    }
}

/// `0317-8471`, `1234-567X (print)` → `03178471`, `1234567X`.
#[must_use]
pub fn issn(text: &str) -> Option<String> {
    let t = text.trim_start().as_bytes();
    let (a, rest) = (t.get(..4)?, &t[4..]);
    let rest = rest.strip_prefix(b"-").unwrap_or(rest);
    let b = rest.get(..4)?;
    let ok = a.iter().all(u8::is_ascii_digit)
        && b[..3].iter().all(u8::is_ascii_digit)
        && (b[3].is_ascii_digit() || b[3] == b'X' || b[3] == b'x')
        && rest.get(4).is_none_or(|c| !c.is_ascii_alphanumeric());
    ok.then(|| {
        let mut s = String::from_utf8_lossy(a).into_owned();
        s.push_str(&String::from_utf8_lossy(b).to_ascii_uppercase());
        s
    })
}

/// The terms of one record, index by index (each a sorted set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexTerms {
    /// Title words.
    pub title: BTreeSet<String>,
    /// Author words.
    pub author: BTreeSet<String>,
    /// Subject words.
    pub subject: BTreeSet<String>,
    /// ISBNs (both forms).
    pub isbn: BTreeSet<String>,
    /// ISSNs.
    pub issn: BTreeSet<String>,
    /// OCLC numbers.
    pub oclc: BTreeSet<String>,
}

impl IndexTerms {
    /// The index names, in the order of [`IndexTerms::columns`].
    pub const NAMES: [&'static str; 6] = ["title", "author", "subject", "isbn", "issn", "oclc"];

    /// Each index's terms, in [`IndexTerms::NAMES`] order.
    #[must_use]
    pub fn columns(&self) -> [&BTreeSet<String>; 6] {
        [
            &self.title,
            &self.author,
            &self.subject,
            &self.isbn,
            &self.issn,
            &self.oclc,
        ]
    }
}

fn title_codes(tag: &str) -> Option<&'static str> {
    match tag {
        "245" => Some("abnp"),
        "246" => Some("ab"),
        "130" | "240" | "740" => Some("a"),
        _ => None,
    }
}

fn is_author_tag(tag: &str) -> bool {
    matches!(tag, "100" | "110" | "111" | "700" | "710" | "711")
}

fn looks_like_oclc_001(d: &str) -> bool {
    ["ocm", "ocn", "on"].iter().any(|p| {
        strip_prefix_ci(d, p)
            .is_some_and(|rest| rest.bytes().next().is_some_and(|b| b.is_ascii_digit()))
    })
}

/// Collects the terms field by field (from the model or straight from stored bytes).
#[derive(Default)]
struct Collector {
    terms: IndexTerms,
    oclc_003: bool,
    f001: Option<String>,
}

impl Collector {
    fn control(&mut self, tag: &str, text: &str) {
        match tag {
            "001" if self.f001.is_none() => self.f001 = Some(text.trim().to_owned()),
            "003" if text.trim() == "OCoLC" => self.oclc_003 = true,
            _ => {}
        }
    }

    fn data<'s>(&mut self, tag: &str, subfields: impl Iterator<Item = (char, &'s str)>) {
        let t = &mut self.terms;
        if let Some(codes) = title_codes(tag) {
            for (_, v) in subfields.filter(|(c, _)| codes.contains(*c)) {
                for_each_word(v, |w| {
                    t.title.insert(w.to_owned());
                });
            }
        } else if is_author_tag(tag) {
            for (_, v) in subfields.filter(|(c, _)| "abcdq".contains(*c)) {
                for_each_word(v, |w| {
                    t.author.insert(w.to_owned());
                });
            }
        } else if tag.starts_with('6') {
            for (_, v) in subfields.filter(|(c, _)| c.is_alphabetic()) {
                for_each_word(v, |w| {
                    t.subject.insert(w.to_owned());
                });
            }
        } else if matches!(tag, "020" | "022" | "035" | "019") {
            for (_, a) in subfields.filter(|(c, _)| *c == 'a') {
                match tag {
                    "020" => t.isbn.extend(isbns(a)),
                    "022" => t.issn.extend(issn(a)),
                    "035" if strip_prefix_ci(a.trim_start(), "(ocolc)").is_none() => {}
                    _ => t.oclc.extend(oclc_number(a)),
                }
            }
        }
    }

    fn finish(mut self) -> IndexTerms {
        if let Some(d) = self.f001 {
            if self.oclc_003 || looks_like_oclc_001(&d) {
                self.terms.oclc.extend(oclc_number(&d));
            }
        }
        self.terms
    }
}

/// Every search term of `rec` (see the module documentation).
#[must_use]
pub fn index_terms(rec: &Record) -> IndexTerms {
    let mut c = Collector::default();
    for f in &rec.fields {
        match &f.data {
            FieldData::Control(s) => c.control(&f.tag, s),
            FieldData::Data { subfields, .. } => {
                c.data(&f.tag, subfields.iter().map(|s| (s.code, s.value.as_str())))
            }
        }
    }
    c.finish()
}

/// [`index_terms`] of a stored UTF-8 ISO 2709 record, read in place (no model is built: only the
/// indexed fields are looked at). `None` when the record cannot be parsed.
#[must_use]
pub fn index_terms_of_utf8(raw: &[u8]) -> Option<IndexTerms> {
    let parsed = crate::record::parse(raw).ok()?;
    let mut c = Collector::default();
    let mut subs: Vec<(char, Cow<'_, str>)> = Vec::new();
    for f in &parsed.fields {
        let Ok(tag) = std::str::from_utf8(&f.tag) else {
            continue;
        };
        if f.is_control() {
            if matches!(tag, "001" | "003") {
                c.control(tag, &String::from_utf8_lossy(f.data));
            }
            continue;
        }
        let wanted = title_codes(tag).is_some()
            || is_author_tag(tag)
            || tag.starts_with('6')
            || matches!(tag, "020" | "022" | "035" | "019");
        if !wanted {
            continue;
        }
        subs.clear();
        crate::record::walk_data_field(f.data, |part| {
            if let crate::record::Part::Subfield { code, bytes, .. } = part {
                subs.push((char::from(code), String::from_utf8_lossy(bytes)));
            }
        });
        c.data(tag, subs.iter().map(|(code, v)| (*code, v.as_ref())));
    }
    Some(c.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Field, Subfield};

    fn data(tag: &str, subs: &[(char, &str)]) -> Field {
        Field {
            tag: tag.to_owned(),
            data: FieldData::Data {
                ind1: ' ',
                ind2: ' ',
                subfields: subs
                    .iter()
                    .map(|(c, v)| Subfield {
                        code: *c,
                        value: (*v).to_owned(),
                    })
                    .collect(),
            },
        }
    }

    fn control(tag: &str, s: &str) -> Field {
        Field {
            tag: tag.to_owned(),
            data: FieldData::Control(s.to_owned()),
        }
    }

    #[test]
    fn folding() {
        assert_eq!(
            words("Ça ira! Les Misérables, vol. 2"),
            ["ca", "ira", "les", "miserables", "vol", "2"]
        );
        assert_eq!(
            words("Łódź / Øresund Æsir STRASSE Straße"),
            ["lodz", "oresund", "aesir", "strasse", "strasse"]
        );
        assert_eq!(words("ﬁne-tuned"), ["fine", "tuned"]);
        assert!(words(" -- ").is_empty());
    }

    #[test]
    fn numbers() {
        assert_eq!(oclc_number("(OCoLC)ocm00012345 ").as_deref(), Some("12345"));
        assert_eq!(oclc_number("(ocolc)555").as_deref(), Some("555"));
        assert_eq!(oclc_number("on1234").as_deref(), Some("1234"));
        assert_eq!(oclc_number("000"), None);
        assert_eq!(oclc_number("12a"), None);
        assert_eq!(oclc_number("١٢"), None); // Arabic-Indic digits are not an OCLC number
        assert_eq!(
            isbns("0-19-852663-6 (pbk.)"),
            ["0198526636", "9780198526636"]
        );
        assert_eq!(isbns("9780198526636"), ["9780198526636", "0198526636"]);
        assert_eq!(isbns("080442957x"), ["080442957X", "9780804429573"]);
        assert_eq!(isbns("979-10-90636-07-1"), ["9791090636071"]);
        assert!(isbns("pbk.").is_empty());
        assert!(isbns("12345").is_empty());
        assert_eq!(issn("0317-8471").as_deref(), Some("03178471"));
        assert_eq!(issn("1234-567x (print)").as_deref(), Some("1234567X"));
        assert_eq!(issn("1234-56789"), None);
        assert_eq!(issn("12"), None);
    }

    #[test]
    fn terms_of_a_record() {
        let rec = Record {
            leader: *b"00000nam a2200000 a 4500",
            fields: vec![
                control("001", "ocm00012345"),
                data("100", &[('a', "Hugo, Victor,"), ('e', "author.")]),
                data("245", &[('a', "Les misérables /"), ('c', "Victor Hugo.")]),
                data("020", &[('a', "0-19-852663-6")]),
                data("019", &[('a', "999")]),
                data("035", &[('a', "(OCoLC)77"), ('a', "(DLC)88")]),
                data("650", &[('a', "Paris (France)"), ('2', "lcsh")]),
            ],
        };
        let t = index_terms(&rec);
        let set = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
        assert_eq!(t.title, set(&["les", "miserables"]));
        assert_eq!(t.author, set(&["hugo", "victor"]));
        assert_eq!(t.subject, set(&["france", "paris"]));
        assert_eq!(t.isbn, set(&["0198526636", "9780198526636"]));
        assert_eq!(t.oclc, set(&["12345", "77", "999"]));
        assert!(t.issn.is_empty());
        let (mut problems, mut raw) = (Vec::new(), Vec::new());
        assert!(rec.to_iso2709(
            crate::record::Target::Utf8,
            crate::EncodeErrors::Lossless,
            1,
            0,
            &mut raw,
            &mut problems
        ));
        assert_eq!(index_terms_of_utf8(&raw), Some(t));
        assert_eq!(index_terms_of_utf8(b"garbage"), None);
    }

    #[test]
    fn an_001_is_an_oclc_number_only_when_it_says_so() {
        let plain = Record {
            leader: *b"00000nam a2200000 a 4500",
            fields: vec![control("001", "12345")],
        };
        assert!(index_terms(&plain).oclc.is_empty());
        let mut with_003 = plain.clone();
        with_003.fields.push(control("003", "OCoLC"));
        assert_eq!(index_terms(&with_003).oclc.len(), 1);
    }
}
