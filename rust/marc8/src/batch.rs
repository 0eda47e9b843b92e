//! The one reader of ISO 2709 streams: the input cut into records ([`crate::record::Splitter`])
//! and grouped into [`Batch`]es, with a stretch of garbage gathered into one problem
//! ([`crate::record::Garbage`]). Conversion and validation ([`crate::file`]), the parallel
//! [`crate::reader::RecordReader`] and the sequential [`IsoReader`] of [`crate::convert`] all
//! read through [`BatchReader`], so the same input gives the same records and the same problems
//! whichever way it is read.

use std::io::{self, Read};

use crate::record::{skip_problem, Garbage, Next, RecordProblem, Splitter};

/// Bytes read from the input at a time.
pub const READ_CHUNK: usize = 1 << 20;
/// Target size of a batch of records handed to a worker.
pub const BATCH_BYTES: usize = 256 << 10;

/// Batches in flight per worker (read, being worked on, or waiting to be taken in order), for
/// every pool that works on batches ([`crate::file`], [`crate::reader`]).
pub(crate) const IN_FLIGHT_PER_JOB: usize = 4;

/// One entry of a batch: a record (its bytes are `data[start..end]` of the batch) or bytes the
/// splitter skipped.
pub(crate) enum Item {
    Record {
        number: usize,
        offset: u64,
        start: usize,
        end: usize,
        length_mismatch: bool,
    },
    Skipped(RecordProblem),
}

/// Records read from the input, handed to a worker.
pub(crate) struct Batch {
    pub(crate) id: usize,
    pub(crate) data: Vec<u8>,
    pub(crate) items: Vec<Item>,
    pub(crate) bytes_in: u64,
    /// Problems the batch's report must keep (the others are only counted): `None`, all.
    pub(crate) keep: Option<usize>,
}

/// Which records of the input to handle: `offset` records are skipped (not counted, their
/// problems not reported), then at most `limit` are handled and the rest of the input is not read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordRange {
    /// Records to skip at the start.
    pub offset: usize,
    /// Records to handle after those (`None`: all).
    pub limit: Option<usize>,
}

impl RecordRange {
    pub(crate) fn wants(&self, number: usize) -> bool {
        number > self.offset
    }

    pub(crate) fn done(&self, number: usize) -> bool {
        self.limit
            .is_some_and(|l| number >= self.offset.saturating_add(l))
    }
}

/// Reads an input and cuts it into [`Batch`]es of about [`BATCH_BYTES`] of records, one batch
/// at a time ([`BatchReader::next_batch`]).
pub(crate) struct BatchReader<R: Read> {
    input: R,
    range: RecordRange,
    read_size: usize,
    keep: Option<usize>,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    base: u64,
    pos: usize,
    eof: bool,
    /// Records found so far.
    number: usize,
    id: usize,
    splitter: Splitter,
    garbage: Garbage,
    batch: Batch,
    finished: bool,
}

impl<R: Read> BatchReader<R> {
    /// A reader of `input` handling the records of `range`, asking `read_size` bytes of the input
    /// at a time; each batch keeps at most `keep` problems (`None`: all).
    pub(crate) fn new(input: R, range: RecordRange, read_size: usize, keep: Option<usize>) -> Self {
        let read_size = read_size.max(1);
        BatchReader {
            input,
            range,
            read_size,
            keep,
            buf: Vec::with_capacity(read_size.min(READ_CHUNK) * 2),
            base: 0,
            pos: 0,
            eof: false,
            number: 0,
            id: 0,
            splitter: Splitter::default(),
            garbage: Garbage::default(),
            batch: Batch::empty(0, 0, keep),
            finished: false,
        }
    }

    /// Records found so far.
    pub(crate) fn records(&self) -> usize {
        self.number
    }

    /// The input offset reached.
    pub(crate) fn position(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// What was gathered into the current batch before a read failed.
    pub(crate) fn take_pending(&mut self) -> Option<Batch> {
        let keep = self.keep;
        let b = std::mem::replace(&mut self.batch, Batch::empty(self.id, 0, keep));
        (!b.items.is_empty() || b.bytes_in > 0).then_some(b)
    }

    /// The next batch (`None` at the end of the input or of the range). A read error is
    /// returned as it comes; [`BatchReader::take_pending`] then gives what was read before it.
    pub(crate) fn next_batch(&mut self) -> io::Result<Option<Batch>> {
        loop {
            if self.finished {
                return Ok(self.take_pending());
            }
            let next = self.splitter.next(&self.buf, self.pos, self.eof);
            self.gather_garbage(&next);
            match next {
                Next::Record {
                    start,
                    end,
                    length_mismatch,
                } => {
                    self.number += 1;
                    if self.range.wants(self.number) {
                        let batch = &mut self.batch;
                        let s = batch.data.len();
                        batch.data.extend_from_slice(&self.buf[start..end]);
                        batch.items.push(Item::Record {
                            number: self.number,
                            offset: self.base + start as u64,
                            start: s,
                            end: batch.data.len(),
                            length_mismatch,
                        });
                        batch.bytes_in += (end - self.pos) as u64;
                    }
                    self.pos = end;
                    if self.range.done(self.number) {
                        self.finished = true;
                        continue;
                    }
                }
                Next::Skip {
                    start,
                    end,
                    truncated,
                } => {
                    if self.range.wants(self.number + 1) {
                        if truncated {
                            self.batch.items.push(Item::Skipped(skip_problem(
                                self.number + 1,
                                self.base + start as u64,
                                &self.buf[start..end],
                                true,
                            )));
                        }
                        self.batch.bytes_in += (end - self.pos) as u64;
                    }
                    self.pos = end;
                }
                Next::Blank { end } => {
                    if self.range.wants(self.number + 1) {
                        self.batch.bytes_in += (end - self.pos) as u64;
                    }
                    self.pos = end;
                }
                Next::End => {
                    self.finished = true;
                    continue;
                }
                Next::NeedMore => self.fill()?,
            }
            // A batch also goes out after a long stretch without records, so that progress (and
            // a stop) is not held up by garbage.
            let batch = &self.batch;
            if batch.data.len() >= BATCH_BYTES
                || batch.items.len() >= 4096
                || batch.bytes_in >= READ_CHUNK as u64
            {
                self.id += 1;
                let next = Batch::empty(self.id, BATCH_BYTES + BATCH_BYTES / 4, self.keep);
                return Ok(Some(std::mem::replace(&mut self.batch, next)));
            }
        }
    }

    /// Feeds garbage and line ends to [`Garbage`]; anything else closes the stretch.
    fn gather_garbage(&mut self, next: &Next) {
        match *next {
            Next::Skip {
                start,
                end,
                truncated: false,
            } => self.garbage.skipped(
                self.number + 1,
                self.base + start as u64,
                &self.buf[start..end],
            ),
            Next::Blank { end } => self.garbage.blank(&self.buf[self.pos..end]),
            Next::NeedMore => {}
            _ => {
                if let Some(p) = self.garbage.close() {
                    if self.range.wants(p.record) {
                        self.batch.items.push(Item::Skipped(p));
                    }
                }
            }
        }
    }

    /// Drops what was handled and fills a whole read (or reaches the end): the splitter then
    /// looks again at most once per `read_size` bytes, however little each read returns.
    fn fill(&mut self) -> io::Result<()> {
        self.buf.drain(..self.pos);
        self.splitter.consumed(self.pos);
        self.base += self.pos as u64;
        self.pos = 0;
        let have = self.buf.len();
        self.buf.resize(have + self.read_size, 0);
        let mut filled = have;
        while filled < self.buf.len() {
            match self.input.read(&mut self.buf[filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(filled);
                    return Err(e);
                }
            }
        }
        self.buf.truncate(filled);
        Ok(())
    }
}

impl Batch {
    fn empty(id: usize, capacity: usize, keep: Option<usize>) -> Batch {
        Batch {
            id,
            data: Vec::with_capacity(capacity),
            items: Vec::new(),
            bytes_in: 0,
            keep,
        }
    }
}

/// Reads `input` and cuts it into batches, handing each to `send` (which may block; false
/// stops the reading).
pub(crate) fn read_batches<R: Read>(
    input: R,
    range: RecordRange,
    read_size: usize,
    keep: Option<usize>,
    mut send: impl FnMut(Batch) -> bool,
) -> io::Result<()> {
    let mut reader = BatchReader::new(input, range, read_size, keep);
    while let Some(batch) = reader.next_batch()? {
        if !send(batch) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::convert::IsoReader;
    use crate::file::transcode_stream;
    use crate::model::ReadOptions;
    use crate::reader::{ReadItem, RecordReader};
    use crate::record::{write_record, RecordOptions, RecordProblem, Target};
    use crate::RecordKind;
    use std::borrow::Cow;

    fn record(id: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_record(
            b"00000nam a2200000   4500",
            &[
                (*b"001", Cow::Borrowed(id.as_bytes())),
                (*b"245", Cow::Borrowed(&b"10\x1faTitle"[..])),
            ],
            &mut out,
        )
        .unwrap();
        out
    }

    /// Records with garbage between them: a run of three pieces (one ending at a record
    /// terminator, then a line end, then more), a lone piece before the last record, and bytes
    /// after it too short to be a leader.
    fn input() -> Vec<u8> {
        let mut v = record("r1");
        v.extend_from_slice(b"junk one\x1d\r\nmore junk\x1dand more");
        v.extend_from_slice(&record("r2"));
        v.extend_from_slice(b"tail garbage");
        v.extend_from_slice(&record("r3"));
        v.extend_from_slice(b"0012");
        v
    }

    fn skipped(mut problems: Vec<RecordProblem>) -> Vec<RecordProblem> {
        problems.retain(|p| matches!(p.kind, RecordKind::Garbage | RecordKind::TruncatedRecord));
        problems
    }

    #[test]
    fn every_iso_2709_reader_gives_the_same_problems_for_garbage() {
        let data = input();
        let mut by_file = Vec::new();
        for jobs in [1, 2] {
            let opts = RecordOptions::new(Target::Utf8);
            let report =
                transcode_stream(&data[..], &mut Vec::new(), &opts, jobs, &mut |_| true).unwrap();
            assert_eq!(report.records_read, 3);
            by_file.push(skipped(report.problems));
        }
        assert_eq!(by_file[0], by_file[1]);
        let by_file = by_file.pop().unwrap();
        let kinds: Vec<_> = by_file.iter().map(|p| (p.kind, p.record)).collect();
        assert_eq!(
            kinds,
            [
                (RecordKind::Garbage, 2),
                (RecordKind::Garbage, 3),
                (RecordKind::Garbage, 4)
            ],
            "{by_file:#?}"
        );

        let mut by_reader = Vec::new();
        for batch in RecordReader::new(
            std::io::Cursor::new(data.clone()),
            ReadOptions::default(),
            2,
        ) {
            for item in batch.unwrap().items {
                match item {
                    ReadItem::Skipped(p) => by_reader.push(p),
                    ReadItem::Rejected(ps) => by_reader.extend(ps),
                    ReadItem::Record(r) => by_reader.extend(r.length_problem),
                }
            }
        }
        assert_eq!(skipped(by_reader), by_file);

        let mut by_convert = Vec::new();
        let mut records = 0;
        for read in IsoReader::new(&data[..], ReadOptions::default()) {
            records += usize::from(read.record.is_some());
            by_convert.extend(read.problems);
        }
        assert_eq!(records, 3);
        assert_eq!(skipped(by_convert), by_file);
    }
}
