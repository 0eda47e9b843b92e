//! The import pipeline's per-record work, done in the core for a whole batch (issue 21): the
//! local rules of the default profile, the stored bytes, the match keys of every kind, the
//! search terms and the holding symbols, computed away from Python.
//!
//! [`prepare`] takes a record read without problems and returns a [`Prepared`]: what the
//! importer needs to decide its fate against the catalog and to write it. A record the fast path
//! does not handle (problems, a targeting 035, an unusual 040 $b or leader/17 whose message
//! the Python rules word) comes back [`Status::Slow`], untouched: the importer runs its Python
//! rules on it, so every outcome stays byte for byte what the rules have always written.
//!
//! The rules, in the importer's order: the targeting 035 is looked for (any 035 $a that starts
//! with the target prefix in any case sends the record to the slow path); the OCLC numbers and
//! title/author key are read ([`crate::search::match_keys`], the search index's reading); the
//! 040 rule: if the first 040 has a $b and one of them is not `eng` (compared trimmed and, with
//! [`Settings::lang_fold`], without regard to case: `$bENG` is English), every 035 and 040 is
//! deleted and leader/17 set to `5`; the record is written as UTF-8 ISO 2709.
//!
//! Match keys besides the OCLC numbers and the title key ([`Prepared::keys`]): `lccn` (010 $a,
//! normalised as LC normalises an LCCN), `isbn` (020 $a, the 13-digit form of
//! [`crate::search::isbns`]), `issn` (022 $a, [`crate::search::issn`]), `sysid` (another
//! system's number: `(ORG)ID` from 001 + 003 when 001 is not an OCLC number, and from every
//! 035 $a `(ORG)ID` that is neither OCLC's nor a target; the organisation folded to lower
//! case) and `digest` ([`content_digest`]).

use crate::model::{write_iso2709, Field, FieldData, Record, WriteOptions};
use crate::record::{Place, Target};
use crate::search::{index_terms_of_utf8, isbns, issn, match_keys, IndexTerms};
use crate::EncodeErrors;

#[cfg(test)]
mod tests;

// i20-pgcopy (issue 20): the catalog's bulk writes in PostgreSQL's binary COPY format.
pub mod pgcopy;

/// What the pipeline is told (the profile's part that the core applies).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The targeting 035's prefix (`(LOCAL)`).
    pub target_prefix: String,
    /// 040 $b compared without regard to case (`ENG` is English).
    pub lang_fold: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            target_prefix: "(LOCAL)".to_owned(),
            lang_fold: true,
        }
    }
}

/// How a record came through the core's part of the pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Ready to be matched and written.
    Ready,
    /// Left to the importer's Python rules (see the module documentation).
    Slow,
    /// The record has no fields (rejected).
    NoFields,
}

/// One thing the rules changed: the short form for the record's line and the full one for the
/// report and the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// For the record's line.
    pub short: String,
    /// Every field in full.
    pub full: String,
}

/// The core's part of importing one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// See [`Status`].
    pub status: Status,
    /// The first 001's text.
    pub control_number: Option<String>,
    /// The 049 $a holding symbols, trimmed.
    pub symbols: Vec<String>,
    /// What the rules changed, in order.
    pub changes: Vec<Change>,
    /// The stored bytes (UTF-8 ISO 2709).
    pub data: Vec<u8>,
    /// The OCLC numbers (read before the 040 rule).
    pub oclc: Vec<String>,
    /// The title/author key.
    pub title_key: Option<String>,
    /// The other match keys, `(kind, value)`, each once.
    pub keys: Vec<(&'static str, String)>,
    /// The search index row of the stored bytes (title, author, subject, isbn, issn, oclc).
    pub terms: [String; 6],
}

impl Prepared {
    /// A record left to the slow path.
    #[must_use]
    pub fn slow() -> Self {
        Prepared {
            status: Status::Slow,
            control_number: None,
            symbols: Vec::new(),
            changes: Vec::new(),
            data: Vec::new(),
            oclc: Vec::new(),
            title_key: None,
            keys: Vec::new(),
            terms: Default::default(),
        }
    }
}

/// The search index's columns of a record's terms: each index's terms, lower case,
/// space-separated (the catalog's `search_index` row).
#[must_use]
pub fn index_row(t: &IndexTerms) -> [String; 6] {
    t.columns().map(|set| {
        let mut s = String::new();
        for term in set {
            if !s.is_empty() {
                s.push(' ');
            }
            s.extend(term.chars().flat_map(char::to_lowercase));
        }
        s
    })
}

/// Python's `str.strip()`: Unicode white space and the information separators U+001C–U+001F.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Python's `repr()` of a string of printable ASCII (`None` for anything else: the slow path
/// words it).
fn py_repr(s: &str) -> Option<String> {
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        if c == '\\' || c == quote {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(quote);
    Some(out)
}

/// A field as one line: `035 \\$a(OCoLC)123` (a backslash for a blank indicator), the Python
/// rules' `field_text`.
#[must_use]
pub fn field_text(f: &Field) -> String {
    match &f.data {
        FieldData::Control(t) => format!("{} {t}", f.tag),
        FieldData::Data {
            ind1,
            ind2,
            subfields,
        } => {
            let blank = |c: char| if c == ' ' { '\\' } else { c };
            let mut s = format!("{} {}{}", f.tag, blank(*ind1), blank(*ind2));
            for sf in subfields {
                s.push('$');
                s.push(sf.code);
                s.push_str(&sf.value);
            }
            s
        }
    }
}

fn subfields(f: &Field, code: char) -> impl Iterator<Item = &str> {
    let subs: &[crate::model::Subfield] = match &f.data {
        FieldData::Data { subfields, .. } => subfields,
        FieldData::Control(_) => &[],
    };
    subs.iter()
        .filter(move |s| s.code == code)
        .map(|s| s.value.as_str())
}

/// An LCCN as LC normalises it: blanks removed, anything from a `/` on dropped, and a hyphen
/// followed by digits replaced by zero-padding the serial to six digits (`85-2 ` → `85000002`);
/// lower case. `None` when nothing is left.
#[must_use]
pub fn lccn(text: &str) -> Option<String> {
    let mut t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(i) = t.find('/') {
        t.truncate(i);
    }
    if let Some(i) = t.find('-') {
        let serial = &t[i + 1..];
        if !serial.is_empty() && serial.len() <= 6 && serial.bytes().all(|b| b.is_ascii_digit()) {
            t = format!("{}{:0>6}", &t[..i], serial);
        } else {
            t.remove(i);
        }
    }
    let t = t.to_lowercase();
    (!t.is_empty()).then_some(t)
}

/// `(ORG)ID` with the organisation in lower case: another system's number.
fn sysid(org: &str, id: &str) -> Option<String> {
    let (org, id) = (org.trim(), id.trim());
    (!org.is_empty() && !id.is_empty()).then(|| format!("({}){id}", org.to_lowercase()))
}

/// A 128-bit digest (two 64-bit FNV-1a lanes with distinct seeds, each finished by a
/// SplitMix64 mix), as 32 hex digits. Not cryptographic: it tells records apart, as a hash table
/// does; the importer treats a match as "the same content".
struct Digest {
    a: u64,
    b: u64,
    n: u64,
}

impl Digest {
    fn new() -> Self {
        Digest {
            a: 0xcbf2_9ce4_8422_2325,
            b: 0x6c62_272e_07bb_0142,
            n: 0,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        for &x in bytes {
            self.a = (self.a ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
            self.b = (self.b ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
            self.b = self.b.rotate_left(5);
        }
        self.n += bytes.len() as u64;
    }

    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn hex(&self) -> String {
        let a = Self::mix(self.a ^ self.n);
        let b = Self::mix(self.b.wrapping_add(self.n.rotate_left(17)));
        format!("{a:016x}{b:016x}")
    }
}

/// The digest of a record's content, the last-resort match point: leader/05–08 and /17–19 and
/// every field but the volatile and local ones (001, 003, 005, 035s that are targets, tags that
/// are not three digits; 066, which says how the record was encoded), with its text in NFC; so the same record loaded twice, or exported
/// (MARC-8) and loaded again, has the same digest.
#[must_use]
pub fn content_digest<'f>(
    leader: &[u8; 24],
    fields: impl IntoIterator<Item = &'f Field>,
    target_prefix: &str,
) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut d = Digest::new();
    d.update(&leader[5..9]);
    d.update(&leader[17..20]);
    let text = |d: &mut Digest, s: &str| {
        if s.is_ascii() {
            d.update(s.as_bytes());
        } else {
            let n: String = s.nfc().collect();
            d.update(n.as_bytes());
        }
    };
    for f in fields {
        let tag = f.tag.as_str();
        if matches!(tag, "001" | "003" | "005" | "066") || !tag.bytes().all(|b| b.is_ascii_digit())
        {
            continue;
        }
        if tag == "035"
            && subfields(f, 'a').any(|a| {
                a.trim()
                    .get(..target_prefix.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(target_prefix))
            })
        {
            continue;
        }
        d.update(b"\x1e");
        d.update(tag.as_bytes());
        match &f.data {
            FieldData::Control(t) => text(&mut d, t),
            FieldData::Data {
                ind1,
                ind2,
                subfields,
            } => {
                let mut buf = [0u8; 4];
                d.update(ind1.encode_utf8(&mut buf).as_bytes());
                d.update(ind2.encode_utf8(&mut buf).as_bytes());
                for s in subfields {
                    d.update(b"\x1f");
                    d.update(s.code.encode_utf8(&mut buf).as_bytes());
                    text(&mut d, &s.value);
                }
            }
        }
    }
    d.hex()
}

/// The match keys of `fields` other than the OCLC numbers and the title key (see the module
/// documentation), each once, in field order, the digest last.
fn other_keys(
    leader: &[u8; 24],
    fields: &[Field],
    kept: &[bool],
    prefix: &str,
) -> Vec<(&'static str, String)> {
    let mut keys: Vec<(&'static str, String)> = Vec::new();
    let mut push = |kind: &'static str, v: Option<String>| {
        if let Some(v) = v {
            if !keys.iter().any(|(k, x)| *k == kind && *x == v) {
                keys.push((kind, v));
            }
        }
    };
    let mut f001: Option<&str> = None;
    let mut f003: Option<&str> = None;
    for (f, _) in fields.iter().zip(kept).filter(|(_, k)| **k) {
        match (f.tag.as_str(), &f.data) {
            ("001", FieldData::Control(t)) if f001.is_none() => f001 = Some(t),
            ("003", FieldData::Control(t)) if f003.is_none() => f003 = Some(t),
            ("010", _) => subfields(f, 'a').for_each(|a| push("lccn", lccn(a))),
            ("020", _) => subfields(f, 'a').for_each(|a| {
                push("isbn", isbns(a).into_iter().find(|i| i.len() == 13));
            }),
            ("022", _) => subfields(f, 'a').for_each(|a| push("issn", issn(a))),
            ("035", _) => subfields(f, 'a').for_each(|a| {
                let a = a.trim();
                let Some(rest) = a.strip_prefix('(') else {
                    return;
                };
                let Some((org, id)) = rest.split_once(')') else {
                    return;
                };
                let is_target = a
                    .get(..prefix.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(prefix));
                if !org.eq_ignore_ascii_case("ocolc") && !is_target {
                    push("sysid", sysid(org, id));
                }
            }),
            _ => {}
        }
    }
    if let (Some(id), Some(org)) = (f001, f003) {
        let oclc_001 = ["ocm", "ocn", "on"].iter().any(|p| {
            id.trim().get(p.len()..).is_some_and(|rest| {
                starts_with_ci(id.trim(), p) && rest.starts_with(|c: char| c.is_ascii_digit())
            })
        });
        if !oclc_001 && org.trim() != "OCoLC" {
            push("sysid", sysid(org, id));
        }
    }
    let digest = content_digest(
        leader,
        fields.iter().zip(kept).filter(|(_, k)| **k).map(|(f, _)| f),
        prefix,
    );
    keys.push(("digest", digest));
    keys
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

/// The core's part of importing a record read without problems (see the module
/// documentation).
#[must_use]
pub fn prepare(rec: &Record, number: usize, offset: u64, settings: &Settings) -> Prepared {
    if rec.fields.is_empty() {
        return Prepared {
            status: Status::NoFields,
            ..Prepared::slow()
        };
    }
    let prefix = settings.target_prefix.as_str();
    // The 001 the rules read (a data field tagged 001 is worded by the slow path).
    let control_number = match rec.fields.iter().find(|f| f.tag == "001") {
        None => None,
        Some(Field {
            data: FieldData::Control(t),
            ..
        }) => Some(t.clone()),
        Some(_) => return Prepared::slow(),
    };
    // A targeting 035 (or anything that looks like one) is the slow path's.
    let ascii_prefix = prefix.is_ascii();
    for f in rec.fields.iter().filter(|f| f.tag == "035") {
        for a in subfields(f, 'a') {
            let a = py_strip(a);
            let head: String = a.chars().take(prefix.chars().count() + 2).collect();
            if !ascii_prefix || !head.is_ascii() || starts_with_ci(a, prefix) {
                return Prepared::slow();
            }
        }
    }
    let symbols: Vec<String> = rec
        .fields
        .iter()
        .filter(|f| f.tag == "049")
        .flat_map(|f| subfields(f, 'a'))
        .map(|a| py_strip(a).to_owned())
        .collect();
    // The 040 rule's decision, before anything changes.
    let mut changes = Vec::new();
    let mut leader = rec.leader;
    let mut kept = vec![true; rec.fields.len()];
    if let Some(f040) = rec.fields.iter().find(|f| f.tag == "040") {
        let langs: Vec<&str> = subfields(f040, 'b').map(py_strip).collect();
        let english = |b: &str| {
            if settings.lang_fold {
                b.eq_ignore_ascii_case("eng")
            } else {
                b == "eng"
            }
        };
        if !langs.is_empty() && !langs.iter().all(|b| english(b)) {
            let lang = *langs.iter().find(|b| !english(b)).unwrap_or(&"");
            let before = char::from(leader[17]).to_string();
            let (Some(lang_repr), Some(before_repr)) = (py_repr(lang), py_repr(&before)) else {
                return Prepared::slow();
            };
            let mut gone = Vec::new();
            for (i, f) in rec.fields.iter().enumerate() {
                if f.tag == "035" || f.tag == "040" {
                    kept[i] = false;
                    gone.push(field_text(f));
                }
            }
            let n035 = rec.fields.iter().filter(|f| f.tag == "035").count();
            let deleted = match n035 {
                0 => String::new(),
                1 => "035, ".to_owned(),
                n => format!("035×{n}, "),
            } + "040";
            leader[17] = b'5';
            changes.push(Change {
                short: format!("040 $b {lang}: {deleted} deleted, leader/17 {before_repr}→'5'"),
                full: format!(
                    "040 $b is {lang_repr}, not 'eng': deleted {}; leader/17 {before_repr} → '5'",
                    gone.join("; ")
                ),
            });
        }
    }
    // The keys are read before the 040 rule deletes the 035s that carry OCLC numbers.
    let mk = match_keys(&rec.fields);
    let kept_fields = || {
        rec.fields
            .iter()
            .zip(&kept)
            .filter(|(_, k)| **k)
            .map(|(f, _)| f)
    };
    let mut data = Vec::with_capacity(2048);
    let mut problems = Vec::new();
    let ok = write_iso2709(
        &leader,
        kept_fields(),
        WriteOptions {
            to: Target::Utf8,
            errors: EncodeErrors::Lossless,
        },
        Place::new(number, offset),
        &mut data,
        &mut problems,
    );
    if !ok {
        // The slow path words why (with what the rules changed first).
        return Prepared::slow();
    }
    let terms = index_row(&index_terms_of_utf8(&data).unwrap_or_default());
    let keys = other_keys(&leader, &rec.fields, &kept, prefix);
    Prepared {
        status: Status::Ready,
        control_number,
        symbols,
        changes,
        data,
        oclc: mk.oclc,
        title_key: mk.title_key,
        keys,
        terms,
    }
}

/// The match keys of a stored record other than the OCLC numbers and the title key (see the
/// module documentation), each once, in field order, the digest last: what a load stores for
/// it (the catalog's migration fills the key table with them).
#[must_use]
pub fn stored_keys(rec: &Record, settings: &Settings) -> Vec<(&'static str, String)> {
    let kept = vec![true; rec.fields.len()];
    other_keys(&rec.leader, &rec.fields, &kept, &settings.target_prefix)
}
