//! PostgreSQL's binary `COPY` format, built by the core for the catalog's bulk writes (issue 20,
//! i20-pgcopy): the rows of the new records of a group (`records`, `oclc`, `search_index`,
//! `events`, `match_keys`) and of the load log, each table's whole payload in one buffer that
//! the PostgreSQL backend writes with one `COPY … FROM STDIN (FORMAT binary)`.
//!
//! The format (PostgreSQL's documentation, "COPY", "Binary Format"): the signature
//! `PGCOPY\n\xff\r\n\0`, a 32-bit flags word and a 32-bit header extension length (both 0);
//! each row a 16-bit field count, then each field as a 32-bit length (-1: NULL) and its bytes
//! in the type's binary form (network byte order); a 16-bit -1 at the end. The binary forms
//! used: `bigint` 8 bytes, `integer` 4, `boolean` 1, `text` and `bytea` the bytes as they are,
//! `tsvector` a 32-bit lexeme count, then each lexeme as its bytes, a 0 byte and a 16-bit
//! position count (0 here).
//!
//! What is stored is exactly what the text `COPY` of the same rows stored before (the catalog
//! tests compare every table): the search index's `tsvector` holds one lexeme `"<col>:<term>"`
//! for each term of the core's index row (split as Python's `str.split()` splits, each term cut
//! to its longest start of at most [`MAX_TERM`] bytes), sorted bytewise and each once, as
//! PostgreSQL's text input would sort and unify them; a record without terms has no row.

/// The longest term a lexeme keeps, in bytes of UTF-8 (the PostgreSQL backend's `MAX_TERM`: a
/// lexeme holds at most 2,046 bytes).
pub const MAX_TERM: usize = 2000;

/// A binary `COPY` payload being built.
#[derive(Debug)]
pub struct CopyBuf {
    buf: Vec<u8>,
    rows: usize,
}

impl Default for CopyBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl CopyBuf {
    /// An empty payload (its header written).
    #[must_use]
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes());
        buf.extend_from_slice(&0i32.to_be_bytes());
        CopyBuf { buf, rows: 0 }
    }

    /// The number of rows written.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Start a row of `fields` fields.
    pub fn row(&mut self, fields: i16) {
        self.rows += 1;
        self.buf.extend_from_slice(&fields.to_be_bytes());
    }

    fn len(&mut self, n: usize) {
        // A field of 1 GB or more is refused by PostgreSQL anyway; its length is written as it
        // is, and the server says why.
        let n = i32::try_from(n).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&n.to_be_bytes());
    }

    /// A NULL.
    pub fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    /// A `text` or `bytea` field.
    pub fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.buf.extend_from_slice(b);
    }

    /// A `text` field, or NULL.
    pub fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.bytes(s.as_bytes()),
            None => self.null(),
        }
    }

    /// A `bigint` field.
    pub fn int8(&mut self, v: i64) {
        self.len(8);
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A `bigint` field, or NULL.
    pub fn opt_int8(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.int8(v),
            None => self.null(),
        }
    }

    /// An `integer` field.
    pub fn int4(&mut self, v: i32) {
        self.len(4);
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A `boolean` field.
    pub fn boolean(&mut self, v: bool) {
        self.len(1);
        self.buf.push(u8::from(v));
    }

    /// A `tsvector` field of these lexemes (sorted bytewise, each once).
    fn tsvector(&mut self, lexemes: &[Vec<u8>]) {
        let size = 4 + lexemes.iter().map(|l| l.len() + 3).sum::<usize>();
        self.len(size);
        let n = i32::try_from(lexemes.len()).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&n.to_be_bytes());
        for l in lexemes {
            self.buf.extend_from_slice(l);
            self.buf.push(0);
            self.buf.extend_from_slice(&0u16.to_be_bytes());
        }
    }

    /// The payload, its trailer written.
    #[must_use]
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

/// Python's `str.split()` white space: Unicode white space and the information separators
/// U+001C–U+001F.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `term`, or its longest start of at most [`MAX_TERM`] bytes.
fn cut(term: &str) -> &str {
    if term.len() <= MAX_TERM {
        return term;
    }
    let mut end = MAX_TERM;
    while !term.is_char_boundary(end) {
        end -= 1;
    }
    &term[..end]
}

/// The lexemes of a record's search index row (each column's terms, space-separated):
/// `"<col>:<term>"`, sorted bytewise, each once; empty without terms.
#[must_use]
pub fn lexemes<S: AsRef<str>>(columns: &[S]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for (col, text) in columns.iter().enumerate() {
        let prefix = format!("{col}:");
        for term in text.as_ref().split(py_space).filter(|t| !t.is_empty()) {
            let term = cut(term);
            let mut l = Vec::with_capacity(prefix.len() + term.len());
            l.extend_from_slice(prefix.as_bytes());
            l.extend_from_slice(term.as_bytes());
            out.push(l);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// A new record of a group, as the catalog writes it.
#[derive(Clone, Debug)]
pub struct NewRow<'a> {
    /// Its system number (from the sequence).
    pub sysno: i64,
    /// The stored bytes.
    pub data: &'a [u8],
    /// The title/author key.
    pub title_key: Option<&'a str>,
    /// The OCLC numbers (each stored once, in their order).
    pub oclc: Vec<&'a str>,
    /// The search index row (title, author, subject, isbn, issn, oclc).
    pub terms: Vec<&'a str>,
    /// The other match keys, `(kind, value)` (each pair stored once, in their order).
    pub keys: Vec<(&'a str, &'a str)>,
    /// The `created` event's source.
    pub source: &'a str,
    /// The `created` event's detail (the history line).
    pub detail: &'a str,
}

/// The binary `COPY` payloads of a group's new records, in the order they are written (a
/// record before the rows that refer to it): `records (sysno, data, title_key, deleted,
/// created_at, updated_at)`, `oclc (number, sysno, live)`, `search_index (sysno, terms)`,
/// `events (sysno, time, action, batch_id, source, detail)`, `match_keys (kind, value,
/// sysno)`; each with its number of rows.
#[must_use]
pub fn new_records(
    rows: &[NewRow<'_>],
    time: &str,
    batch_id: Option<i64>,
) -> [(Vec<u8>, usize); 5] {
    let mut records = CopyBuf::new();
    let mut oclc = CopyBuf::new();
    let mut index = CopyBuf::new();
    let mut events = CopyBuf::new();
    let mut keys = CopyBuf::new();
    for r in rows {
        records.row(6);
        records.int8(r.sysno);
        records.bytes(r.data);
        records.opt_text(r.title_key);
        records.boolean(false);
        records.bytes(time.as_bytes());
        records.bytes(time.as_bytes());
        for (k, n) in r.oclc.iter().enumerate() {
            if r.oclc[..k].contains(n) {
                continue;
            }
            oclc.row(3);
            oclc.bytes(n.as_bytes());
            oclc.int8(r.sysno);
            oclc.boolean(true);
        }
        let lexemes = lexemes(&r.terms);
        if !lexemes.is_empty() {
            index.row(2);
            index.int8(r.sysno);
            index.tsvector(&lexemes);
        }
        events.row(6);
        events.int8(r.sysno);
        events.bytes(time.as_bytes());
        events.bytes(b"created");
        events.opt_int8(batch_id);
        events.bytes(r.source.as_bytes());
        events.bytes(r.detail.as_bytes());
        for (k, (kind, value)) in r.keys.iter().enumerate() {
            if r.keys[..k].contains(&(kind, value)) {
                continue;
            }
            keys.row(3);
            keys.bytes(kind.as_bytes());
            keys.bytes(value.as_bytes());
            keys.int8(r.sysno);
        }
    }
    [records, oclc, index, events, keys].map(|b| {
        let n = b.rows();
        (b.finish(), n)
    })
}

/// A load log row.
#[derive(Clone, Debug)]
pub struct LogRow<'a> {
    /// The batch.
    pub batch_id: Option<i64>,
    /// The input file as named.
    pub input_file: &'a str,
    /// The input record's key.
    pub input_hash: &'a str,
    /// The record's number in its input.
    pub record_index: i32,
    /// Its fate.
    pub fate: &'a str,
    /// Its record in the catalog.
    pub sysno: Option<i64>,
    /// The message.
    pub message: &'a str,
    /// When.
    pub time: &'a str,
}

/// The binary `COPY` payload of `load_log (batch_id, input_file, input_hash, record_index,
/// fate, sysno, message, time)`.
#[must_use]
pub fn load_log(rows: &[LogRow<'_>]) -> Vec<u8> {
    let mut b = CopyBuf::new();
    for r in rows {
        b.row(8);
        b.opt_int8(r.batch_id);
        b.bytes(r.input_file.as_bytes());
        b.bytes(r.input_hash.as_bytes());
        b.int4(r.record_index);
        b.bytes(r.fate.as_bytes());
        b.opt_int8(r.sysno);
        b.bytes(r.message.as_bytes());
        b.bytes(r.time.as_bytes());
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_rows_trailer() {
        let mut b = CopyBuf::new();
        b.row(2);
        b.int8(7);
        b.null();
        let out = b.finish();
        assert_eq!(&out[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(&out[11..19], &[0; 8]);
        assert_eq!(&out[19..21], &2i16.to_be_bytes());
        assert_eq!(&out[21..25], &8i32.to_be_bytes());
        assert_eq!(&out[25..33], &7i64.to_be_bytes());
        assert_eq!(&out[33..37], &(-1i32).to_be_bytes());
        assert_eq!(&out[37..], &(-1i16).to_be_bytes());
    }

    #[test]
    fn lexemes_sorted_unique_cut() {
        let long = "é".repeat(1200); // 2,400 bytes: cut to 1,000 characters
        let cols = ["b a b", "a\u{1c}c\u{a0}d", "", "", "", &long];
        let got = lexemes(&cols);
        let want: Vec<Vec<u8>> = vec![
            b"0:a".to_vec(),
            b"0:b".to_vec(),
            b"1:a".to_vec(),
            b"1:c".to_vec(),
            b"1:d".to_vec(),
            format!("5:{}", "é".repeat(1000)).into_bytes(),
        ];
        assert_eq!(got, want);
        assert!(lexemes(&["", " ", "", "", "", ""]).is_empty());
        // bytewise: a shorter lexeme that starts another sorts first; "Z" (0x5a) before "a"
        assert_eq!(
            lexemes(&["ab a Z", "", "", "", "", ""]),
            vec![b"0:Z".to_vec(), b"0:a".to_vec(), b"0:ab".to_vec()]
        );
    }

    #[test]
    fn new_records_each_table() {
        let row = NewRow {
            sysno: 5,
            data: b"xyz",
            title_key: None,
            oclc: vec!["1", "2", "1"],
            terms: vec!["", "", "", "", "", ""],
            keys: vec![("isbn", "9"), ("isbn", "9"), ("lccn", "9")],
            source: "f.mrc",
            detail: "record 1",
        };
        let [records, oclc, index, events, keys] = new_records(&[row], "T", None);
        assert_eq!(records.1, 1);
        assert_eq!(oclc.1, 2);
        assert_eq!(index.1, 0); // no terms: no row
        assert_eq!(events.1, 1);
        assert_eq!(keys.1, 2);
        // records: sysno, data, NULL title key, false, the time twice
        let r = &records.0[19..records.0.len() - 2];
        let mut want = 6i16.to_be_bytes().to_vec();
        want.extend_from_slice(&8i32.to_be_bytes());
        want.extend_from_slice(&5i64.to_be_bytes());
        want.extend_from_slice(&3i32.to_be_bytes());
        want.extend_from_slice(b"xyz");
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.push(0);
        for _ in 0..2 {
            want.extend_from_slice(&1i32.to_be_bytes());
            want.push(b'T');
        }
        assert_eq!(r, &want[..]);
    }
}
