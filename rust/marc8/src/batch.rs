//! The one reader of ISO 2709 streams: the input cut into records ([`crate::record::Splitter`])
//! and grouped into [`Batch`]es, with a stretch of garbage gathered into one problem
//! ([`crate::record::Garbage`]). Conversion and validation ([`crate::file`]), the parallel
//! [`crate::reader::RecordReader`] and the sequential [`IsoReader`] of [`crate::convert`] all
//! read through [`BatchReader`], so the same input gives the same records and the same problems
//! whichever way it is read.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use crate::record::{skip_problem, Garbage, Next, RecordProblem, Splitter};

/// Bytes read from the input at a time.
pub const READ_CHUNK: usize = 1 << 20;
/// Target size of a batch of records handed to a worker of a whole-file conversion.
pub const BATCH_BYTES: usize = 1 << 20;
/// Target size of a batch of the streaming reader ([`crate::reader::RecordReader`], under the
/// import pipeline and `MARCReader`). Its batches come back as parsed records and columns,
/// several times their input's size, `IN_FLIGHT_PER_JOB` of them per worker at once: they stay
/// at the size they had before whole files took 1 MB batches (with 1 MB here a load of the
/// 250,000 LC records peaked at 280 MB of RSS instead of 189; issue 21 asks for < 200 MB).
pub const READER_BATCH_BYTES: usize = 256 << 10;

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
///
/// The records are not copied out of the buffer the input was read into (issue 22): `data` is
/// that buffer, shared by every batch cut from it, and an item's `start..end` are offsets in it.
pub(crate) struct Batch {
    pub(crate) id: usize,
    pub(crate) data: Arc<Chunk>,
    /// Where the batch's output buffer comes from ([`Batch::output`]) and goes back to.
    pub(crate) spare: Arc<Spare>,
    pub(crate) items: Vec<Item>,
    pub(crate) bytes_in: u64,
    /// Problems the batch's report must keep (the others are only counted): `None`, all.
    pub(crate) keep: Option<usize>,
}

/// Buffers given back after use, kept for the next batches: a long conversion then reuses the
/// same few buffers instead of faulting in fresh memory for every batch (issue 22: with two
/// jobs, 13,000 to 28,000 page faults a run of the LC file, against 600 with one).
#[derive(Debug, Default)]
pub(crate) struct Spare {
    chunks: Mutex<Vec<Vec<u8>>>,
    outputs: Mutex<Vec<Vec<u8>>>,
}

/// Buffers of each kind a [`Spare`] keeps at most.
const SPARE_KEPT: usize = 16;

impl Spare {
    fn take(list: &Mutex<Vec<Vec<u8>>>, capacity: usize) -> Vec<u8> {
        let mut v = list
            .lock()
            .ok()
            .and_then(|mut l| l.pop())
            .unwrap_or_default();
        v.clear();
        // Rounded up, so that a buffer given back serves the next batch as it is (a batch a
        // little larger than the last would otherwise reallocate, into fresh memory). The part
        // never written is never touched, so it costs address space, not memory.
        v.reserve(capacity.next_power_of_two());
        v
    }

    fn give(list: &Mutex<Vec<Vec<u8>>>, v: Vec<u8>) {
        if v.capacity() == 0 {
            return;
        }
        if let Ok(mut l) = list.lock() {
            if l.len() < SPARE_KEPT {
                l.push(v);
            }
        }
    }

    /// An empty output buffer of at least `capacity` bytes.
    pub(crate) fn output(&self, capacity: usize) -> Vec<u8> {
        Spare::take(&self.outputs, capacity)
    }

    /// Gives an output buffer back once written.
    pub(crate) fn give_output(&self, v: Vec<u8>) {
        Spare::give(&self.outputs, v);
    }
}

/// A buffer the input was read into, shared by the batches cut from it; given back to its
/// [`Spare`] when the last of them is done.
#[derive(Debug)]
pub(crate) struct Chunk {
    bytes: Vec<u8>,
    home: Arc<Spare>,
}

impl std::ops::Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        Spare::give(&self.home.chunks, std::mem::take(&mut self.bytes));
    }
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
///
/// The input is read into a buffer that the batches cut from it share (no copy of a record);
/// when more is needed, what is left of a record goes to the front of the next buffer (or the
/// buffer is refilled in place when no batch holds it any more).
pub(crate) struct BatchReader<R: Read> {
    input: R,
    range: RecordRange,
    read_size: usize,
    /// A batch goes out once its records reach this many bytes.
    batch_bytes: usize,
    keep: Option<usize>,
    buf: Arc<Chunk>,
    spare: Arc<Spare>,
    /// File offset of `buf[0]`.
    base: u64,
    pos: usize,
    eof: bool,
    /// The splitter asked for more: read before looking again (the batch holding the buffer
    /// went out first).
    must_fill: bool,
    /// Records found so far.
    number: usize,
    id: usize,
    splitter: Splitter,
    garbage: Garbage,
    /// The batch being gathered: its items index `buf`.
    items: Vec<Item>,
    bytes_in: u64,
    /// Where the first record of the batch being gathered starts in `buf` (`None`: no record).
    first: Option<usize>,
    finished: bool,
}

impl<R: Read> BatchReader<R> {
    /// A reader of `input` handling the records of `range`, asking `read_size` bytes of the input
    /// at a time; each batch keeps at most `keep` problems (`None`: all).
    pub(crate) fn new(input: R, range: RecordRange, read_size: usize, keep: Option<usize>) -> Self {
        Self::with_spare(input, range, read_size, BATCH_BYTES, keep, Arc::default())
    }

    /// [`BatchReader::new`] cutting batches of `batch_bytes`, taking its buffers from `spare`
    /// (and giving them back there).
    pub(crate) fn with_spare(
        input: R,
        range: RecordRange,
        read_size: usize,
        batch_bytes: usize,
        keep: Option<usize>,
        spare: Arc<Spare>,
    ) -> Self {
        let read_size = read_size.max(1);
        BatchReader {
            input,
            range,
            read_size,
            batch_bytes: batch_bytes.max(1),
            keep,
            buf: Arc::new(Chunk {
                bytes: Vec::new(),
                home: Arc::clone(&spare),
            }),
            spare,
            base: 0,
            pos: 0,
            eof: false,
            must_fill: false,
            number: 0,
            id: 0,
            splitter: Splitter::default(),
            garbage: Garbage::default(),
            items: Vec::new(),
            bytes_in: 0,
            first: None,
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
        (!self.items.is_empty() || self.bytes_in > 0).then(|| self.cut())
    }

    /// The batch gathered so far, with the buffer its records are in.
    fn cut(&mut self) -> Batch {
        let batch = Batch {
            id: self.id,
            data: Arc::clone(&self.buf),
            spare: Arc::clone(&self.spare),
            items: std::mem::take(&mut self.items),
            bytes_in: self.bytes_in,
            keep: self.keep,
        };
        self.id += 1;
        self.bytes_in = 0;
        self.first = None;
        batch
    }

    /// The next batch (`None` at the end of the input or of the range). A read error is
    /// returned as it comes; [`BatchReader::take_pending`] then gives what was read before it.
    pub(crate) fn next_batch(&mut self) -> io::Result<Option<Batch>> {
        loop {
            if self.finished {
                return Ok(self.take_pending());
            }
            if self.must_fill {
                self.must_fill = false;
                self.fill()?;
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
                        self.first.get_or_insert(start);
                        self.items.push(Item::Record {
                            number: self.number,
                            offset: self.base + start as u64,
                            start,
                            end,
                            length_mismatch,
                        });
                        self.bytes_in += (end - self.pos) as u64;
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
                            self.items.push(Item::Skipped(skip_problem(
                                self.number + 1,
                                self.base + start as u64,
                                &self.buf[start..end],
                                true,
                            )));
                        }
                        self.bytes_in += (end - self.pos) as u64;
                    }
                    self.pos = end;
                }
                Next::Blank { end } => {
                    if self.range.wants(self.number + 1) {
                        self.bytes_in += (end - self.pos) as u64;
                    }
                    self.pos = end;
                }
                Next::End => {
                    self.finished = true;
                    continue;
                }
                Next::NeedMore => {
                    self.must_fill = true;
                    if self.first.is_some() {
                        // The batch's records are in this buffer: it goes out before the read.
                        return Ok(Some(self.cut()));
                    }
                    continue;
                }
            }
            // A batch also goes out after a long stretch without records, so that progress (and
            // a stop) is not held up by garbage.
            let gathered = self.first.map_or(0, |f| self.pos - f);
            if gathered >= self.batch_bytes
                || self.items.len() >= 4096
                || self.bytes_in >= READ_CHUNK as u64
            {
                return Ok(Some(self.cut()));
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
                        self.items.push(Item::Skipped(p));
                    }
                }
            }
        }
    }

    /// Drops what was handled and reads a whole `read_size` more (or reaches the end): the
    /// splitter then looks again at most once per `read_size` bytes, however little each read
    /// returns. The bytes not handled yet move to the front of the buffer, in place if no batch
    /// holds it any more, else into a new one.
    fn fill(&mut self) -> io::Result<()> {
        let pos = std::mem::take(&mut self.pos);
        self.splitter.consumed(pos);
        self.base += pos as u64;
        if let Some(chunk) = Arc::get_mut(&mut self.buf) {
            chunk.bytes.drain(..pos);
            chunk.bytes.reserve(self.read_size);
        } else {
            let mut bytes = Spare::take(&self.spare.chunks, self.buf.len() - pos + self.read_size);
            bytes.extend_from_slice(&self.buf[pos..]);
            self.buf = Arc::new(Chunk {
                bytes,
                home: Arc::clone(&self.spare),
            });
        }
        let Some(buf) = Arc::get_mut(&mut self.buf).map(|c| &mut c.bytes) else {
            return Err(io::Error::other("the read buffer is shared")); // cannot happen
        };
        // `read_to_end` of at most `read_size`: retries an interrupted read, keeps what was read
        // before an error, and does not zero the buffer first.
        let want = self.read_size as u64;
        let got = (&mut self.input).take(want).read_to_end(buf)?;
        if (got as u64) < want {
            self.eof = true;
        }
        Ok(())
    }
}

impl Batch {
    /// An empty buffer for the batch's output, of at least `capacity` bytes (give it back with
    /// [`Spare::give_output`] once written).
    pub(crate) fn output(&self, capacity: usize) -> Vec<u8> {
        self.spare.output(capacity)
    }

    /// The bytes of the batch's records (from its first record's start to its last one's end).
    pub(crate) fn span(&self) -> usize {
        let mut records = self.items.iter().filter_map(|i| match i {
            Item::Record { start, end, .. } => Some((*start, *end)),
            Item::Skipped(_) => None,
        });
        match (records.next(), records.next_back()) {
            (Some((s, e)), None) => e - s,
            (Some((s, _)), Some((_, e))) => e - s,
            _ => 0,
        }
    }
}

/// Reads `input` and cuts it into batches, handing each to `send` (which may block; false
/// stops the reading).
pub(crate) fn read_batches<R: Read>(
    input: R,
    range: RecordRange,
    read_size: usize,
    batch_bytes: usize,
    keep: Option<usize>,
    spare: Arc<Spare>,
    mut send: impl FnMut(Batch) -> bool,
) -> io::Result<()> {
    let mut reader = BatchReader::with_spare(input, range, read_size, batch_bytes, keep, spare);
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
