//! Writing records from the model to a file, atomically.
//!
//! A [`RecordWriter`] serializes each record with a [`RecordSink`] for its [`Format`] (ISO 2709
//! here; MARCXML and MARC-in-JSON plug in as further sinks) into a temporary file beside the
//! destination. [`RecordWriter::commit`] flushes, syncs and renames it into place; dropping the
//! writer (or [`RecordWriter::abort`]) removes the temporary file, so there is never a half-written
//! output. The file is created with the mode the umask gives, like every output of the project.
//! A record that cannot be written correctly is reported and left out, never written corrupt.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::atomic::{same_file, AtomicFile};
use crate::model::Field;
use crate::record::RecordProblem;
pub use crate::sink::RecordSink;

/// How many bytes of leading whitespace [`Format::sniff`] reads at most before deciding (ISO 2709).
pub const SNIFF_LIMIT: usize = 64 << 10;

/// A record format: what [`RecordWriter`] writes, what [`Format::detect`] recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// ISO 2709 (MARC 21 transmission format).
    Iso2709,
    /// MARCXML (`MARC21slim.xsd`), a `<collection>` ([`crate::marcxml`]).
    MarcXml,
    /// MARC-in-JSON, an array of records ([`crate::marcjson`]).
    Json,
}

impl Format {
    /// The format named `name` (`iso2709`), if it is one.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "iso2709" | "marc" | "mrc" => Some(Format::Iso2709),
            "marcxml" | "xml" => Some(Format::MarcXml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The format of an input, from its first bytes: the first byte that is not whitespace (after
    /// a UTF-8 byte order mark) is `<` for MARCXML, `[` or `{` for MARC-in-JSON; anything else is
    /// ISO 2709 (whose records start with five digits), empty input included. The one format
    /// detection every reader and command uses.
    ///
    /// ```
    /// use marc8::writer::Format;
    ///
    /// assert_eq!(Format::detect(b"\xEF\xBB\xBF  <collection>"), Format::MarcXml);
    /// assert_eq!(Format::detect(b"[{\"leader\": "), Format::Json);
    /// assert_eq!(Format::detect(b"00042nam a2200037   4500"), Format::Iso2709);
    /// ```
    #[must_use]
    pub fn detect(head: &[u8]) -> Format {
        let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
        match head.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'<') => Format::MarcXml,
            Some(b'[' | b'{') => Format::Json,
            _ => Format::Iso2709,
        }
    }

    /// Reads the start of a stream until [`Format::detect`] can tell (the first byte that is not
    /// whitespace, or the end, or [`SNIFF_LIMIT`] bytes of whitespace): the format and the bytes
    /// read, to be read again before the rest of the stream (`head.chain(input)`). Reads only
    /// what it needs: a pipe is read once.
    pub fn sniff<R: std::io::Read>(input: &mut R) -> std::io::Result<(Format, Vec<u8>)> {
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            let partial_bom = !head.is_empty() && head.len() < BOM.len() && BOM.starts_with(&head);
            let seen = head.strip_prefix(BOM).unwrap_or(&head[..]);
            let decided = !partial_bom && seen.iter().any(|b| !b.is_ascii_whitespace());
            if decided || head.len() >= SNIFF_LIMIT {
                return Ok((Format::detect(&head), head));
            }
            let n = match input.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok((Format::detect(&head), head));
            }
            head.extend_from_slice(&buf[..n]);
        }
    }
}
/// Records to a file, atomically: see the module documentation.
pub struct RecordWriter {
    sink: Box<dyn RecordSink>,
    out: AtomicFile,
    buf: Vec<u8>,
    started: bool,
    /// Records written.
    pub records_written: usize,
    /// Records left out (reported in `problems`).
    pub records_rejected: usize,
    /// Bytes written.
    pub bytes_out: u64,
    /// Every problem of the records handed to the writer, in order.
    pub problems: Vec<RecordProblem>,
}

impl RecordWriter {
    /// Opens a temporary file beside `dst`. Refuses (`InvalidInput`) if `dst` is one of
    /// `inputs` (files being read).
    pub fn create(
        dst: &Path,
        sink: Box<dyn RecordSink>,
        inputs: &[PathBuf],
    ) -> io::Result<RecordWriter> {
        for src in inputs {
            if same_file(src, dst).unwrap_or(false) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "refusing to write the output over the input {}",
                        src.display()
                    ),
                ));
            }
        }
        if dst.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is a directory", dst.display()),
            ));
        }
        Ok(RecordWriter {
            sink,
            out: AtomicFile::create(dst)?,
            buf: Vec::new(),
            started: false,
            records_written: 0,
            records_rejected: 0,
            bytes_out: 0,
            problems: Vec::new(),
        })
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.out.writer()?.write_all(&self.buf)?;
        self.bytes_out += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn ensure_started(&mut self) {
        if !self.started {
            self.started = true;
            self.sink.start(&mut self.buf);
        }
    }

    /// Writes one record; returns Ok(false) if it was left out (its problems say why).
    pub fn write(&mut self, leader: &[u8; 24], fields: &[&Field]) -> io::Result<bool> {
        if self.out.is_closed() {
            return Err(io::Error::other("the writer is closed"));
        }
        self.ensure_started();
        let number = self.records_written + self.records_rejected + 1;
        let offset = self.bytes_out + self.buf.len() as u64;
        let ok = self.sink.record(
            leader,
            fields,
            number,
            offset,
            &mut self.buf,
            &mut self.problems,
        );
        if ok {
            self.records_written += 1;
        } else {
            self.records_rejected += 1;
        }
        if self.buf.len() >= 1 << 16 {
            self.flush_buf()?;
        }
        Ok(ok)
    }

    /// Finishes the document, syncs the file and renames it into place.
    pub fn commit(&mut self) -> io::Result<()> {
        let result = (|| {
            self.ensure_started();
            self.sink.end(&mut self.buf);
            self.flush_buf()?;
            self.out.commit().map(drop)
        })();
        if result.is_err() {
            self.abort();
        }
        result
    }

    /// Drops everything written: the temporary file is removed, the destination untouched.
    pub fn abort(&mut self) {
        self.out.abort();
    }

    /// True once committed or aborted.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.out.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::EncodeErrors;
    use crate::model::{FieldData, Subfield};
    use crate::record::Target;
    use crate::RecordKind;
    use std::fs;

    fn field(tag: &str, value: &str) -> Field {
        Field {
            tag: tag.into(),
            data: FieldData::Data {
                ind1: ' ',
                ind2: ' ',
                subfields: vec![Subfield {
                    code: 'a',
                    value: value.into(),
                }],
            },
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("marc8fast-writer-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn commits_atomically_and_reports_rejected_records() {
        let d = dir("commit");
        let dst = d.join("out.mrc");
        let sink = Format::Iso2709.sink(Target::Utf8, EncodeErrors::Lossless);
        let mut w = RecordWriter::create(&dst, sink, &[]).unwrap();
        let leader = *b"00000nam a2200000   4500";
        let good = field("245", "Café");
        let bad = field("500", &"x".repeat(10_000));
        assert!(w.write(&leader, &[&good]).unwrap());
        assert!(!w.write(&leader, &[&bad]).unwrap());
        assert!(w.write(&leader, &[&good]).unwrap());
        assert!(!dst.exists(), "nothing at the destination before commit");
        w.commit().unwrap();
        assert_eq!((w.records_written, w.records_rejected), (2, 1));
        assert_eq!(w.problems.len(), 1);
        assert_eq!(w.problems[0].kind, RecordKind::FieldTooLong);
        assert_eq!(w.problems[0].record, 2);
        let out = fs::read(&dst).unwrap();
        assert_eq!(out.len() as u64, w.bytes_out);
        let (records, problems) = crate::record::split_records(&out);
        assert_eq!(records.len(), 2);
        assert!(problems.is_empty());
        assert_eq!(
            fs::read_dir(&d).unwrap().count(),
            1,
            "no temporary file left"
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn dropped_or_aborted_leaves_nothing_and_inputs_are_refused() {
        let d = dir("abort");
        let dst = d.join("out.mrc");
        fs::write(&dst, b"old").unwrap();
        {
            let sink = Format::Iso2709.sink(Target::Marc8, EncodeErrors::Lossless);
            let mut w = RecordWriter::create(&dst, sink, &[]).unwrap();
            w.write(b"00000nam a2200000   4500", &[&field("245", "x")])
                .unwrap();
        }
        assert_eq!(fs::read(&dst).unwrap(), b"old");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        let sink = Format::Iso2709.sink(Target::Utf8, EncodeErrors::Lossless);
        let err =
            RecordWriter::create(&d.join("./out.mrc"), sink, std::slice::from_ref(&dst)).err();
        assert_eq!(err.unwrap().kind(), io::ErrorKind::InvalidInput);
        fs::remove_dir_all(&d).unwrap();
    }
}
