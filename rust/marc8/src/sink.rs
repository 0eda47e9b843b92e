//! How a record is serialized in one format: [`RecordSink`], and the ISO 2709 sink. A leaf of
//! the writing side: MARCXML and MARC-in-JSON implement the trait in their own modules, and
//! [`Format::sink`](crate::convert::Format::sink) (in `convert`) picks one for a format.

use crate::encoder::EncodeErrors;
use crate::model::{write_iso2709, Field, ReadOptions, WriteOptions};
use crate::record::{Place, RecordProblem, Target};

/// Serializes records of one format: what comes before the first record, each record, and what
/// comes after the last.
pub trait RecordSink: Send {
    /// Bytes before the first record (a document's opening).
    fn start(&mut self, _out: &mut Vec<u8>) {}

    /// Appends one record to `out`; returns false (appending nothing) if it cannot be written,
    /// with the problems saying why. `number` and `offset` position the problems.
    fn record(
        &mut self,
        leader: &[u8; 24],
        fields: &[&Field],
        number: usize,
        offset: u64,
        out: &mut Vec<u8>,
        problems: &mut Vec<RecordProblem>,
    ) -> bool;

    /// Bytes after the last record (a document's closing).
    fn end(&mut self, _out: &mut Vec<u8>) {}

    /// Appends one ISO 2709 record `raw` straight from its bytes, without the model, when the
    /// sink can and the model path ([`crate::model::Record::from_iso2709`], then
    /// [`RecordSink::record`]) would write the same bytes and report nothing; returns false
    /// (appending nothing) otherwise, and the caller takes the model path (issue 22).
    fn raw_record(
        &mut self,
        _raw: &[u8],
        _opts: &ReadOptions,
        _number: usize,
        _offset: u64,
        _out: &mut Vec<u8>,
    ) -> bool {
        false
    }
}

/// ISO 2709 in UTF-8 or MARC-8 ([`write_iso2709`]).
pub struct Iso2709Sink {
    to: Target,
    errors: EncodeErrors,
}

impl Iso2709Sink {
    /// A sink writing ISO 2709 in `to`, encoding with `errors`.
    #[must_use]
    pub fn new(to: Target, errors: EncodeErrors) -> Iso2709Sink {
        Iso2709Sink { to, errors }
    }
}

impl RecordSink for Iso2709Sink {
    fn record(
        &mut self,
        leader: &[u8; 24],
        fields: &[&Field],
        number: usize,
        offset: u64,
        out: &mut Vec<u8>,
        problems: &mut Vec<RecordProblem>,
    ) -> bool {
        write_iso2709(
            leader,
            fields.iter().copied(),
            WriteOptions {
                to: self.to,
                errors: self.errors,
            },
            Place::new(number, offset),
            out,
            problems,
        )
    }
}
