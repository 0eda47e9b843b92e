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
mod tests;
