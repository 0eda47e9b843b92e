//! Search terms of a record, and the duplicate check's keys: the one definition of how the
//! catalog's search index, the queries against it and the importer's matching fold words and
//! normalise numbers.
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
//! An 880 (vernacular) field is indexed as the field its `$6` names (`880 $6 245-01` is a title).
//!
//! Folding: compatibility decomposition (NFKD; Hangul syllables kept whole), combining marks
//! dropped, lower case, and the letters that do not decompose mapped (`ø` → `o`, `ł` → `l`,
//! `đ`/`ð` → `d`, `æ` → `ae`, `œ` → `oe`, `þ` → `th`, `ß` → `ss`, `ı` → `i`, `ς` → `σ`).
//!
//! A word is a maximal run of letters and digits of the folded text, where a hyphen or an
//! apostrophe between two letters or digits (and the romanization primes `ʹ ʺ ʻ ʼ`) joins: the
//! index holds each part and the joined form (`co-operation` → `co`, `operation`,
//! `cooperation`), a query looks up the joined form only, so `co-operation`, `cooperation`,
//! `o'brien` and `obrien` find the same records. A run of CJK characters (Han, kana, Hangul:
//! [`is_cjk`]) is written without spaces: it is indexed and looked up by its bigrams (every two
//! adjacent characters; one character alone is its own term), so any contiguous run of two or
//! more characters of a title finds it. In a query a `*` right after a word makes (its last
//! term) a prefix: `hobb*`.

use std::borrow::Cow;
use std::collections::BTreeSet;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::model::{Field, FieldData, Record, Subfield};

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
        // Greek final and lunate sigma are the letter sigma.
        'ς' | 'ϲ' | 'Ϲ' => out.push('σ'),
        _ => out.extend(c.to_lowercase()),
    }
}

/// A precomposed Hangul syllable: kept whole (NFKD would split it into jamo, and a CJK bigram
/// is two syllables, not two jamo).
fn is_hangul_syllable(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
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
    // Hangul written as conjoining jamo is composed first: a syllable is one character.
    let composed: String;
    let text = if text.chars().any(|c| ('\u{1100}'..='\u{11FF}').contains(&c)) {
        composed = text.nfc().collect();
        composed.as_str()
    } else {
        text
    };
    for c in text.chars() {
        if is_hangul_syllable(c) {
            out.push(c);
            continue;
        }
        unicode_normalization::char::decompose_compatible(c, |d| {
            if !is_combining_mark(d) {
                push_folded(d, &mut out);
            } else if matches!(d, '\u{3099}' | '\u{309A}') {
                // Kana voicing marks are part of the letter (か and が are different words).
                let voiced = out
                    .chars()
                    .next_back()
                    .and_then(|last| unicode_normalization::char::compose(last, d));
                if let Some(v) = voiced {
                    out.pop();
                    out.push(v);
                }
            }
        });
    }
    out
}

/// A character written without spaces between words: Han ideographs, Japanese kana, Hangul
/// syllables (and the marks that go with them). A run of them is indexed by its bigrams.
#[must_use]
pub fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x2E80..=0x2FDF        // CJK radicals, Kangxi radicals
        | 0x3005..=0x3007      // 々 〆 〇
        | 0x3021..=0x3029      // Hangzhou numerals
        | 0x3031..=0x3035      // kana repeat marks
        | 0x303B..=0x303C
        | 0x3040..=0x30FF      // Hiragana, Katakana (with ー and the iteration marks)
        | 0x3100..=0x312F      // Bopomofo
        | 0x31A0..=0x31BF
        | 0x31F0..=0x31FF      // Katakana phonetic extensions
        | 0x3400..=0x4DBF      // CJK extension A
        | 0x4E00..=0x9FFF      // CJK unified ideographs
        | 0xAC00..=0xD7A3      // Hangul syllables
        | 0xF900..=0xFAFF      // CJK compatibility ideographs
        | 0x20000..=0x3FFFF) // CJK extensions B and later
}

/// Joins the parts of one word: hyphens (`co-operation`) and apostrophes (`o'brien`), and the
/// modifier letters ALA-LC romanization writes for soft and hard signs, ayn and alif
/// (`Gorʹkiĭ`, `Qurʼān`).
fn is_joiner(c: char) -> bool {
    matches!(
        c,
        '-' | '\''
            | '\u{2010}'
            | '\u{2011}'
            | '\u{2019}'
            | '\u{02B9}'
            | '\u{02BA}'
            | '\u{02BB}'
            | '\u{02BC}'
    )
}

/// What a text's terms are for: the index (a word joined by hyphens or apostrophes gives its
/// parts and the joined form) or a query (the joined form only, so that `co-operation` and
/// `cooperation` find the same records).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermsFor {
    /// Terms stored in the index.
    Index,
    /// Terms looked up by a query.
    Query,
}

/// Calls `each` with the terms of one word (letters and digits only): itself, or for a run of
/// CJK characters its bigrams (a lone CJK character is a term by itself).
fn word_terms<'a>(word: &'a str, each: &mut impl FnMut(&'a str)) {
    if word.is_ascii() {
        each(word);
        return;
    }
    let mut rest = word;
    while let Some(first) = rest.chars().next() {
        let cjk = is_cjk(first);
        let end = rest
            .char_indices()
            .find(|&(_, c)| is_cjk(c) != cjk)
            .map_or(rest.len(), |(i, _)| i);
        let (run, tail) = rest.split_at(end);
        rest = tail;
        if !cjk || run.chars().nth(1).is_none() {
            each(run);
            continue;
        }
        // Bigrams: every two adjacent characters.
        let mut starts = run.char_indices().map(|(i, _)| i).skip(1).peekable();
        let mut prev = 0;
        while let Some(i) = starts.next() {
            let j = starts.peek().copied().unwrap_or(run.len());
            each(&run[prev..j]);
            prev = i;
        }
    }
}

/// Calls `each(term, prefix)` with the terms of `folded` (folded text), in order: `prefix` is
/// true for the last term of a word written with a `*` right after it (`hobb*`).
fn terms_of_folded(folded: &str, mode: TermsFor, each: &mut impl FnMut(&str, bool)) {
    let mut joined = String::new();
    let mut rest = folded;
    while !rest.is_empty() {
        // Skip to the next word: a run of letters, digits and joiners.
        let start = rest
            .char_indices()
            .find(|&(_, c)| c.is_alphanumeric())
            .map_or(rest.len(), |(i, _)| i);
        rest = &rest[start..];
        let end = rest
            .char_indices()
            .find(|&(_, c)| !(c.is_alphanumeric() || is_joiner(c)))
            .map_or(rest.len(), |(i, _)| i);
        let (token, tail) = rest.split_at(end);
        rest = tail;
        if token.is_empty() {
            continue;
        }
        let prefix = tail.starts_with('*');
        let mut parts = token.split(is_joiner).filter(|p| !p.is_empty()).peekable();
        let Some(first) = parts.next() else { continue };
        if parts.peek().is_none() {
            emit_word(first, prefix, each);
            continue;
        }
        joined.clear();
        joined.push_str(first);
        if mode == TermsFor::Index {
            word_terms(first, &mut |t| each(t, false));
        }
        for part in parts {
            joined.push_str(part);
            if mode == TermsFor::Index {
                word_terms(part, &mut |t| each(t, false));
            }
        }
        emit_word(&joined, prefix, each);
    }
}

/// The terms of one word, the last one a prefix when `prefix`.
fn emit_word(word: &str, prefix: bool, each: &mut impl FnMut(&str, bool)) {
    if !prefix {
        word_terms(word, &mut |t| each(t, false));
        return;
    }
    let mut pending: Option<&str> = None;
    word_terms(word, &mut |t| {
        if let Some(p) = pending.replace(t) {
            each(p, false);
        }
    });
    if let Some(p) = pending {
        each(p, true);
    }
}

/// Calls `each` with every term of `text` (see [`TermsFor`]), in order.
pub fn for_each_term(text: &str, mode: TermsFor, mut each: impl FnMut(&str)) {
    terms_of_folded(&fold(text), mode, &mut |t, _| each(t));
}

/// Calls `each` with every folded word of `text` as the index holds it, in order.
pub fn for_each_word(text: &str, each: impl FnMut(&str)) {
    for_each_term(text, TermsFor::Index, each);
}

/// The folded terms of `text` as a query looks them up, in order.
#[must_use]
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_term(text, TermsFor::Query, |w| out.push(w.to_owned()));
    out
}

/// The terms of a query `text`, each with whether it is a prefix: `hobb*` → `[("hobb", true)]`
/// (a `*` right after a word makes its last term a prefix; elsewhere it separates words).
#[must_use]
pub fn query_terms(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    terms_of_folded(&fold(text), TermsFor::Query, &mut |t, p| {
        out.push((t.to_owned(), p));
    });
    out
}

/// The letters and digits of `text`, folded, with nothing between them: the duplicate check's
/// comparison form (`The Hobbit, or, There and back again` → `thehobbitortherea…`).
#[must_use]
pub fn key_text(text: &str) -> String {
    let mut out = fold(text);
    // The romanization primes are letters to Unicode, joiners here (as in words).
    out.retain(|c| c.is_alphanumeric() && !is_joiner(c));
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

/// `text` without a leading `ISBN`, `ISBN:`, `ISBN-13:` label (any case).
fn without_isbn_label(text: &str) -> &str {
    let t = text.trim_start();
    let Some(mut rest) = strip_prefix_ci(t, "isbn") else {
        return t;
    };
    for form in ["-10", "-13"] {
        if let Some(r) = rest.strip_prefix(form) {
            rest = r;
            break;
        }
    }
    rest.trim_start_matches(|c: char| c == ':' || c.is_whitespace())
}

/// The digits (and `X`) of the ISBN at the start of `text`, hyphens and spaces dropped.
fn isbn_digits(text: &str) -> String {
    without_isbn_label(text)
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | 'X' | 'x'))
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Why the ISBN at the start of `text` is not a valid one (a wrong check digit, the wrong
/// number of digits), or `None` when it is valid — or when `text` does not start with a digit
/// at all (`pbk.` is no attempt at an ISBN).
#[must_use]
pub fn isbn_problem(text: &str) -> Option<String> {
    let run = isbn_digits(text);
    let b = run.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let expected = match b.len() {
        10 if digits(&b[..9]) => isbn10_check(&b[..9]),
        13 if digits(&b[..12]) => isbn13_check(&b[..12]),
        0 => return None,
        n => return Some(format!("{run} is not an ISBN ({n} digits, not 10 or 13)")),
    };
    let got = char::from(b[b.len() - 1]);
    (got != expected).then(|| {
        format!("ISBN {run} is invalid: its check digit is {got}, it should be {expected}")
    })
}

/// The ISBN at the start of `text` (`0-19-852663-6 (pbk.)`, `ISBN 0-19-852663-6`) as written,
/// digits and `X` only,
/// and for a 978 number its other form: `["0198526636", "9780198526636"]`. Empty if there is
/// none. Check digits are not verified (a wrong one is still what the record says).
#[must_use]
pub fn isbns(text: &str) -> Vec<String> {
    let run = isbn_digits(text);
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

/// The tag an 880 stands for: the first three characters of its `$6` (`245-01/$1` → `245`).
fn linked_tag<'s>(subfields: &[(char, &'s str)]) -> Option<&'s str> {
    let six = subfields.iter().find(|(c, _)| *c == '6')?.1.trim_start();
    let tag = six.get(..3)?;
    (tag.bytes().all(|b| b.is_ascii_digit()) && tag != "880").then_some(tag)
}

/// Collects the terms field by field (from the model or straight from stored bytes). With
/// `words` false only the OCLC numbers are collected (the duplicate check's part).
struct Collector {
    words: bool,
    terms: IndexTerms,
    /// The OCLC numbers in the order found (001 first), each once.
    oclc: Vec<String>,
    oclc_003: bool,
    f001: Option<String>,
}

impl Collector {
    fn new(words: bool) -> Self {
        Collector {
            words,
            terms: IndexTerms::default(),
            oclc: Vec::new(),
            oclc_003: false,
            f001: None,
        }
    }

    fn control(&mut self, tag: &str, text: &str) {
        match tag {
            "001" if self.f001.is_none() => self.f001 = Some(text.trim().to_owned()),
            "003" if text.trim() == "OCoLC" => self.oclc_003 = true,
            _ => {}
        }
    }

    fn add_oclc(&mut self, n: Option<String>) {
        if let Some(n) = n {
            if !self.oclc.contains(&n) {
                self.oclc.push(n);
            }
        }
    }

    fn data<'s>(&mut self, tag: &str, subfields: impl Iterator<Item = (char, &'s str)>) {
        if matches!(tag, "035" | "019") {
            for (_, a) in subfields.filter(|(c, _)| *c == 'a') {
                if tag == "035" && strip_prefix_ci(a.trim_start(), "(ocolc)").is_none() {
                    continue;
                }
                self.add_oclc(oclc_number(a));
            }
            return;
        }
        if !self.words {
            return;
        }
        if tag == "880" {
            let subs: Vec<(char, &str)> = subfields.collect();
            if let Some(linked) = linked_tag(&subs) {
                if is_word_tag(linked) {
                    self.data(linked, subs.into_iter());
                }
            }
            return;
        }
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
        } else if matches!(tag, "020" | "022") {
            for (_, a) in subfields.filter(|(c, _)| *c == 'a') {
                match tag {
                    "020" => t.isbn.extend(isbns(a)),
                    _ => t.issn.extend(issn(a)),
                }
            }
        }
    }

    /// The OCLC numbers in order (001 first).
    fn finish_oclc(&mut self) -> Vec<String> {
        if let Some(d) = self.f001.take() {
            if self.oclc_003 || looks_like_oclc_001(&d) {
                if let Some(n) = oclc_number(&d) {
                    self.oclc.retain(|o| *o != n);
                    self.oclc.insert(0, n);
                }
            }
        }
        std::mem::take(&mut self.oclc)
    }

    fn finish(mut self) -> IndexTerms {
        let oclc = self.finish_oclc();
        self.terms.oclc.extend(oclc);
        self.terms
    }
}

fn is_word_tag(tag: &str) -> bool {
    title_codes(tag).is_some() || is_author_tag(tag) || tag.starts_with('6')
}

/// What the importer matches a record by (the duplicate check): its OCLC numbers and its
/// title/author key. Made from the same folding and number reading as the search index, so
/// every OCLC number here is one of the record's `oclc` terms and the key's words are among its
/// title and author terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchKeys {
    /// The OCLC numbers, normalised, in the order found: 001 (when 003 is `OCoLC` or 001 starts
    /// ocm/ocn/on), then every 035 $a `(OCoLC)…` (any case) and 019 $a in field order.
    pub oclc: Vec<String>,
    /// `title/author`: 245 $a $b without the nonfiling characters its second indicator counts,
    /// and the first 1XX $a, each as [`key_text`]; `None` without a 245 or with an empty title.
    pub title_key: Option<String>,
}

/// The text of the 245 $a $b the title key is made of: the nonfiling characters (second
/// indicator `1`–`9`) skipped at the start of the first $a.
fn filing_title(ind2: char, subfields: &[Subfield]) -> String {
    let skip = ind2.to_digit(10).unwrap_or(0) as usize;
    let mut out = String::new();
    for (i, s) in subfields.iter().enumerate() {
        match s.code {
            'a' if i == 0 && skip > 0 => {
                let kept: String = s.value.chars().skip(skip).collect();
                // A count longer than the title is wrong: the title is kept whole.
                out.push_str(if kept.is_empty() { &s.value } else { &kept });
            }
            'a' | 'b' => out.push_str(&s.value),
            _ => continue,
        }
        out.push(' ');
    }
    out
}

/// The [`MatchKeys`] of a record's fields.
#[must_use]
pub fn match_keys<'f>(fields: impl IntoIterator<Item = &'f Field>) -> MatchKeys {
    let mut c = Collector::new(false);
    let mut title: Option<String> = None;
    let mut main_entry: Option<String> = None;
    for f in fields {
        match &f.data {
            FieldData::Control(s) => c.control(&f.tag, s),
            FieldData::Data {
                ind2, subfields, ..
            } => {
                c.data(&f.tag, subfields.iter().map(|s| (s.code, s.value.as_str())));
                if f.tag == "245" && title.is_none() {
                    title = Some(filing_title(*ind2, subfields));
                } else if main_entry.is_none()
                    && f.tag.starts_with('1')
                    && f.tag.bytes().all(|b| b.is_ascii_digit())
                {
                    let a: Vec<&str> = subfields
                        .iter()
                        .filter(|s| s.code == 'a')
                        .map(|s| s.value.as_str())
                        .collect();
                    main_entry = Some(a.join(" "));
                }
            }
        }
    }
    let title_key = title
        .map(|t| key_text(&t))
        .filter(|t| !t.is_empty())
        .map(|t| {
            let author = main_entry.as_deref().map(key_text).unwrap_or_default();
            format!("{t}/{author}")
        });
    MatchKeys {
        oclc: c.finish_oclc(),
        title_key,
    }
}

/// Every search term of `rec` (see the module documentation).
#[must_use]
pub fn index_terms(rec: &Record) -> IndexTerms {
    let mut c = Collector::new(true);
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
    let mut c = Collector::new(true);
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
        let wanted = is_word_tag(tag) || matches!(tag, "020" | "022" | "035" | "019" | "880");
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
        assert_eq!(words("ﬁne-tuned"), ["finetuned"]);
        assert_eq!(
            index_words("ﬁne-tuned"),
            set(&["fine", "tuned", "finetuned"])
        );
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

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn index_words(text: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for_each_word(text, |w| {
            out.insert(w.to_owned());
        });
        out
    }

    #[test]
    fn truncation_marks_the_last_term_of_a_word() {
        assert_eq!(query_terms("hobb*"), [("hobb".to_owned(), true)]);
        assert_eq!(
            query_terms("The HOBB* x"),
            [
                ("the".to_owned(), false),
                ("hobb".to_owned(), true),
                ("x".to_owned(), false)
            ]
        );
        assert_eq!(query_terms("Москв*"), [("москв".to_owned(), true)]);
        assert_eq!(query_terms("Dvoř*"), [("dvor".to_owned(), true)]);
        assert_eq!(query_terms("co-op*"), [("coop".to_owned(), true)]);
        // A * elsewhere separates words; a lone * is no term.
        assert_eq!(query_terms("*bit"), [("bit".to_owned(), false)]);
        assert!(query_terms(" * ").is_empty());
        // The last bigram of a CJK run is the prefix.
        assert_eq!(
            query_terms("浙东文*"),
            [("浙东".to_owned(), false), ("东文".to_owned(), true)]
        );
    }

    #[test]
    fn hyphens_and_apostrophes_join() {
        assert_eq!(
            index_words("Co-operation"),
            set(&["co", "operation", "cooperation"])
        );
        assert_eq!(index_words("O’Brien"), set(&["o", "brien", "obrien"]));
        assert_eq!(words("co-operation"), ["cooperation"]);
        assert_eq!(words("e-mail"), words("email"));
        assert_eq!(words("o'brien"), words("OBrien"));
        assert_eq!(words("Gorʹkiĭ"), ["gorkii"]);
        assert_eq!(words("Qurʼān"), ["quran"]);
        // A hyphen or apostrophe not between letters separates nothing and joins nothing.
        assert_eq!(words("- x - 'y' z-"), ["x", "y", "z"]);
        // Every query term of a text is among its index terms.
        for text in ["co-operation", "O'Brien's e-mail", "浙东-文化", "a--b"] {
            let index = index_words(text);
            for w in words(text) {
                assert!(index.contains(&w), "{text}: {w} not in {index:?}");
            }
        }
    }

    #[test]
    fn greek_final_sigma() {
        assert_eq!(words("ΟΔΥΣΣΕΥΣ"), words("Οδυσσεύς"));
        assert_eq!(words("Οδυσσεύς"), ["οδυσσευσ"]);
    }

    #[test]
    fn cjk_runs_are_bigrams() {
        assert_eq!(
            index_words("浙东文化研究"),
            set(&["浙东", "东文", "文化", "化研", "研究"])
        );
        assert_eq!(words("浙东"), ["浙东"]);
        assert_eq!(words("文"), ["文"]);
        // Kana and mixed scripts: the Latin part stays a word.
        assert_eq!(
            index_words("ひらがなカタカナ漢字abc"),
            set(&[
                "ひら", "らが", "がな", "なカ", "カタ", "タカ", "カナ", "ナ漢", "漢字", "abc"
            ])
        );
        // Hangul: syllables, not jamo; decomposed jamo compose first.
        assert_eq!(words("한국어"), ["한국", "국어"]);
        assert_eq!(
            words("\u{1112}\u{1161}\u{11AB}\u{1100}\u{116E}\u{11A8}"),
            ["한국"]
        );
        // Half-width katakana folds to full width.
        assert_eq!(words("ｶﾀｶﾅ"), words("カタカナ"));
    }

    #[test]
    fn isbn_labels_and_check_digits() {
        assert_eq!(isbns("ISBN 0-12-601720-4"), ["0126017204", "9780126017205"]);
        assert_eq!(isbns("isbn-13: 978-0-12-601720-5")[0], "9780126017205");
        assert_eq!(isbn_problem("ISBN 0-12-601720-4"), None);
        assert_eq!(isbn_problem("080442957x"), None);
        assert_eq!(isbn_problem("9780126017205"), None);
        let bad = isbn_problem("0-12-601720-5").unwrap();
        assert!(bad.contains("should be 4"), "{bad}");
        assert!(isbn_problem("978-0-12-601720-6")
            .unwrap()
            .contains("should be 5"));
        assert!(isbn_problem("12345").unwrap().contains("5 digits"));
        assert_eq!(isbn_problem("pbk."), None);
    }

    #[test]
    fn an_880_is_indexed_as_its_linked_field() {
        let rec = Record {
            leader: *b"00000nam a2200000 a 4500",
            fields: vec![
                data("245", &[('6', "880-01"), ('a', "Zhedong wen hua")]),
                data("880", &[('6', "245-01/$1"), ('a', "浙东文化 /")]),
                data("880", &[('6', "100-02/$1"), ('a', "王明")]),
                data("880", &[('6', "650-03/$1"), ('a', "历史")]),
                data("880", &[('6', "020-04"), ('a', "0-19-852663-6")]),
                data("880", &[('a', "没有")]),
            ],
        };
        let t = index_terms(&rec);
        assert!(t.title.contains("浙东") && t.title.contains("zhedong"));
        assert!(t.author.contains("王明"));
        assert!(t.subject.contains("历史"));
        assert!(t.isbn.is_empty(), "an 880 is not a number");
        assert!(!t.title.contains("没有"));
    }

    fn with_ind2(tag: &str, ind2: char, subs: &[(char, &str)]) -> Field {
        let mut f = data(tag, subs);
        if let FieldData::Data { ind2: i, .. } = &mut f.data {
            *i = ind2;
        }
        f
    }

    #[test]
    fn title_keys_fold_like_search() {
        let key = |fields: Vec<Field>| match_keys(&fields).title_key;
        let hobbit = key(vec![
            data("100", &[('a', "Tolkien, J. R. R.")]),
            with_ind2("245", '4', &[('a', "The hobbit /"), ('c', "Tolkien")]),
        ]);
        let plain = key(vec![
            data("100", &[('a', "TOLKIEN, J.R.R.")]),
            with_ind2("245", '0', &[('a', "Hobbit")]),
        ]);
        assert_eq!(hobbit.as_deref(), Some("hobbit/tolkienjrr"));
        assert_eq!(hobbit, plain);
        assert_eq!(
            key(vec![data("245", &[('a', "Łódź"), ('b', "Straße")])]),
            key(vec![data("245", &[('a', "Lodz"), ('b', "Strasse")])])
        );
        assert_eq!(
            key(vec![data("245", &[('a', "Gorʹkiĭ, Qurʼān")])]),
            key(vec![data("245", &[('a', "Gorkii Quran")])])
        );
        assert_eq!(
            key(vec![data("245", &[('a', "Œuvres")])]),
            key(vec![data("245", &[('a', "Oeuvres")])])
        );
        // A nonfiling count longer than the title keeps the title whole.
        assert_eq!(
            key(vec![with_ind2("245", '9', &[('a', "Ab")])]).as_deref(),
            Some("ab/")
        );
        assert_eq!(key(vec![data("245", &[('a', " / ")])]), None);
        assert_eq!(key(vec![data("100", &[('a', "X")])]), None);
    }

    #[test]
    fn oclc_numbers_of_the_duplicate_check() {
        let fields = vec![
            control("001", "ocm777"),
            data("019", &[('a', "12"), ('a', "777")]),
            data("035", &[('a', "(ocolc)0013"), ('a', "(DLC)99")]),
            data("035", &[('a', "(OCoLC)12")]),
        ];
        assert_eq!(match_keys(&fields).oclc, ["777", "12", "13"]);
    }

    fn arb_text() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex(
            "[ a-zA-Z0-9'*-]{0,6}|[ ŁłØøßẞŒœÆæςΣσ’ʹ -]{0,6}|[浙东文化ひらカタ한국 ]{0,6}|\\PC{0,6}",
        )
        .unwrap()
    }

    proptest::proptest! {
        /// The key's folding is search's: outside CJK (looked up by bigrams), a text's key text
        /// is its query words run together.
        #[test]
        fn key_text_is_the_query_words_run_together(text in arb_text()) {
            if !text.chars().any(is_cjk) && !fold(&text).chars().any(is_cjk) {
                proptest::prop_assert_eq!(key_text(&text), words(&text).concat());
            }
        }

        /// For any record, the importer's match keys are among the search index terms, and
        /// searching the key's title and author text (as a query folds it) finds the record.
        #[test]
        fn match_keys_agree_with_the_index(
            parts in proptest::collection::vec(
                (0usize..8, arb_text(), arb_text(), proptest::char::range('0', '9')),
                0..8,
            )
        ) {
            let tags = ["001", "003", "019", "035", "100", "110", "130", "245"];
            let fields: Vec<Field> = parts
                .iter()
                .map(|(t, a, b, ind2)| match tags[*t] {
                    "001" => control("001", &format!("ocm{}", a.len())),
                    "003" => control("003", "OCoLC"),
                    "035" => data("035", &[('a', &format!("(oCoLc){}", b.len() + 1))]),
                    "019" => data("019", &[('a', &format!("{}", a.len() + 7))]),
                    tag => with_ind2(tag, *ind2, &[('a', a), ('b', b), ('c', "x")]),
                })
                .collect();
            let rec = Record { leader: *b"00000nam a2200000 a 4500", fields };
            let keys = match_keys(&rec.fields);
            let terms = index_terms(&rec);
            for n in &keys.oclc {
                proptest::prop_assert!(terms.oclc.contains(n));
            }
            proptest::prop_assert_eq!(keys.oclc.len(), terms.oclc.len());
            if let Some(key) = &keys.title_key {
                let f245 = rec.fields.iter().find(|f| f.tag == "245").unwrap();
                let FieldData::Data { ind2, subfields, .. } = &f245.data else { unreachable!() };
                let title = filing_title(*ind2, subfields);
                let head = format!("{}/", key_text(&title));
                proptest::prop_assert!(key.starts_with(&head), "{} {}", key, head);
                for (i, w) in words(&title).into_iter().enumerate() {
                    // A nonfiling count that ends inside a word leaves the word's tail.
                    let tail = i == 0 && *ind2 != '0' && terms.title.iter().any(|t| t.ends_with(&w));
                    proptest::prop_assert!(
                        terms.title.contains(&w) || tail, "{} not in {:?}", w, terms.title
                    );
                }
                let main = rec.fields.iter().find(|f| f.tag.starts_with('1'));
                if let Some(FieldData::Data { subfields, .. }) = main.map(|f| &f.data) {
                    for w in words(&subfields[0].value) {
                        proptest::prop_assert!(
                            terms.author.contains(&w) || terms.title.contains(&w),
                            "{} not in the author or title terms", w
                        );
                    }
                }
            }
        }
    }
}
