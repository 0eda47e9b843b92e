//! Reading records into the model, streamed: the file layer's splitter
//! ([`crate::file`], [`crate::record::next_record`]) cuts the input into batches, worker threads
//! parse and convert each batch into [`Record`]s, and the batches come back in input order, one
//! at a time, to whoever pulls them (the Python `MARCReader`). At most a fixed number of batches
//! is in flight, so memory does not grow with the input; every byte the splitter skipped or
//! recovered is reported exactly as [`crate::file::transcode_file`] reports it.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use crate::file::{read_batches, Batch, Item, RecordRange, StreamOptions};
use crate::model::{ReadOptions, Record, SourceEncoding};
use crate::record::{length_problem, RecordProblem};

/// Batches in flight per worker (read, being parsed, or waiting to be taken in order).
const IN_FLIGHT_PER_JOB: usize = 4;

/// A record read from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadRecord {
    /// Its number in the input, from 1.
    pub number: usize,
    /// Its byte offset in the input.
    pub offset: u64,
    /// The record.
    pub record: Record,
    /// The encoding it was read from.
    pub source: SourceEncoding,
    /// The problems of reading it (see [`Record::from_iso2709`]).
    pub problems: Vec<RecordProblem>,
    /// The file-level problem of the record: its declared length did not match its terminator
    /// (`length_mismatch`, recovered).
    pub length_problem: Option<RecordProblem>,
}

/// One entry of the input, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadItem {
    /// A record.
    Record(Box<ReadRecord>),
    /// A record that could not be parsed: its problems (a `length_mismatch` first if its length
    /// lied; then why it could not be parsed, action `rejected`).
    Rejected(Vec<RecordProblem>),
    /// Bytes the splitter skipped (`garbage`, `truncated_record`).
    Skipped(RecordProblem),
}

/// The entries of one batch of the input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadBatch {
    /// The entries, in input order.
    pub items: Vec<ReadItem>,
    /// Input bytes the batch covers.
    pub bytes_in: u64,
}

/// Parses every record of a batch.
fn parse_batch(batch: Batch, opts: &ReadOptions) -> ReadBatch {
    let mut items = Vec::with_capacity(batch.items.len());
    for item in batch.items {
        match item {
            Item::Skipped(p) => items.push(ReadItem::Skipped(p)),
            Item::Record {
                number,
                offset,
                start,
                end,
                length_mismatch,
            } => {
                let raw = &batch.data[start..end];
                let mut problems = Vec::new();
                let parsed = Record::from_iso2709(raw, opts, number, offset, &mut problems);
                let mut lp = length_mismatch.then(|| length_problem(number, offset, raw));
                if let Some(p) = &mut lp {
                    p.control_number = problems.iter().find_map(|p| p.control_number.clone());
                }
                items.push(match parsed {
                    Some((record, source)) => ReadItem::Record(Box::new(ReadRecord {
                        number,
                        offset,
                        record,
                        source,
                        problems,
                        length_problem: lp,
                    })),
                    None => ReadItem::Rejected(lp.into_iter().chain(problems).collect()),
                });
            }
        }
    }
    ReadBatch {
        items,
        bytes_in: batch.bytes_in,
    }
}

type Message = io::Result<(usize, ReadBatch)>;

/// A streaming reader of records: see the module documentation.
pub struct RecordReader {
    done: Receiver<Message>,
    tokens: SyncSender<()>,
    waiting: BTreeMap<usize, ReadBatch>,
    next_id: usize,
    error: Option<io::Error>,
    finished: bool,
}

impl RecordReader {
    /// Starts reading `input` on a reader thread, parsing on `jobs` worker threads (at least
    /// one).
    pub fn new<R: Read + Send + 'static>(input: R, opts: ReadOptions, jobs: usize) -> Self {
        let jobs = jobs.max(1);
        let in_flight = jobs * IN_FLIGHT_PER_JOB;
        let (work_tx, work_rx) = sync_channel::<Batch>(jobs);
        let (done_tx, done_rx) = sync_channel::<Message>(in_flight);
        let (token_tx, token_rx) = sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            let _ = token_tx.send(());
        }
        let work_rx = Arc::new(Mutex::new(work_rx));
        for _ in 0..jobs {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            std::thread::spawn(move || loop {
                let next = match work_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(batch) = next else { return };
                let id = batch.id;
                if done_tx.send(Ok((id, parse_batch(batch, &opts)))).is_err() {
                    return;
                }
            });
        }
        // Only the workers hold the work queue's receiver: if they all stop, the reader's sends
        // fail instead of blocking forever.
        drop(work_rx);
        std::thread::spawn(move || {
            // Every problem of the split stays with its batch: the reader hands them all over.
            let stream = StreamOptions::default();
            let result = read_batches(input, RecordRange::default(), &stream, |batch| {
                token_rx.recv().is_ok() && work_tx.send(batch).is_ok()
            });
            drop(work_tx);
            if let Err(e) = result {
                let _ = done_tx.send(Err(e));
            }
        });
        RecordReader {
            done: done_rx,
            tokens: token_tx,
            waiting: BTreeMap::new(),
            next_id: 0,
            error: None,
            finished: false,
        }
    }

    /// The next batch of the input in order (blocking until it is parsed), `None` at the end.
    /// A read error is returned after every batch read before it.
    pub fn next_batch(&mut self) -> io::Result<Option<ReadBatch>> {
        loop {
            if let Some(b) = self.waiting.remove(&self.next_id) {
                self.next_id += 1;
                let _ = self.tokens.send(());
                return Ok(Some(b));
            }
            if self.finished {
                return Ok(None);
            }
            match self.done.recv() {
                Ok(Ok((id, b))) => {
                    self.waiting.insert(id, b);
                }
                Ok(Err(e)) => self.error = Some(e),
                Err(_) => {
                    self.finished = true;
                    if let Some(e) = self.error.take() {
                        return Err(e);
                    }
                    if !self.waiting.is_empty() {
                        return Err(io::Error::other("a record parsing thread failed"));
                    }
                }
            }
        }
    }
}

impl Iterator for RecordReader {
    type Item = io::Result<ReadBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{split_records, write_record};
    use crate::RecordKind;

    /// Returns at most `n` bytes per read: chunk boundaries anywhere.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn input() -> Vec<u8> {
        let mut one = Vec::new();
        write_record(
            b"00000nam  2200000   4500",
            &[
                (*b"001", &b"n1"[..]),
                (
                    *b"245",
                    &b"10\x1faCaf\xe2e \x1d \x1b$1\x21\x30\x64\x1b(B"[..],
                ),
            ],
            &mut one,
        )
        .unwrap();
        let mut v = Vec::new();
        for i in 0..3000 {
            v.extend_from_slice(&one);
            if i == 1000 {
                v.extend_from_slice(b"garbage");
            }
            if i == 2000 {
                let at = v.len() - one.len();
                v[at + 4] = b'9'; // the declared length lies
            }
        }
        v.extend_from_slice(&one[..50]);
        v
    }

    fn items(jobs: usize, data: Vec<u8>) -> Vec<ReadItem> {
        let reader = RecordReader::new(io::Cursor::new(data), ReadOptions::default(), jobs);
        reader.flat_map(|b| b.unwrap().items).collect()
    }

    #[test]
    fn the_same_records_and_problems_as_a_whole_split_for_any_jobs() {
        let data = input();
        let (found, split_problems) = split_records(&data);
        let whole = items(1, data.clone());
        let records: Vec<_> = whole
            .iter()
            .filter_map(|i| match i {
                ReadItem::Record(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(records.len(), found.len());
        for (r, (n, off, raw)) in records.iter().zip(&found) {
            assert_eq!((r.number, r.offset), (*n, *off as u64));
            let mut p = Vec::new();
            let (rec, _) =
                Record::from_iso2709(raw, &ReadOptions::default(), *n, *off as u64, &mut p)
                    .unwrap();
            assert_eq!(r.record, rec);
            assert_eq!(r.problems, p);
        }
        let file_problems: Vec<_> = whole
            .iter()
            .filter_map(|i| match i {
                ReadItem::Skipped(p) => Some(p.clone()),
                ReadItem::Record(r) => r.length_problem.clone().map(|mut p| {
                    p.control_number = None;
                    p
                }),
                ReadItem::Rejected(_) => None,
            })
            .collect();
        assert_eq!(file_problems, split_problems);
        let kinds: Vec<_> = file_problems.iter().map(|p| p.kind).collect();
        assert!(kinds.contains(&RecordKind::Garbage), "{kinds:?}");
        assert!(kinds.contains(&RecordKind::LengthMismatch), "{kinds:?}");
        assert_eq!(
            kinds.last(),
            Some(&RecordKind::TruncatedRecord),
            "{kinds:?}"
        );
        for jobs in [2, 3] {
            assert_eq!(items(jobs, data.clone()), whole, "jobs={jobs}");
        }
    }

    #[test]
    fn short_reads_do_not_change_anything() {
        let data = input();
        let whole = items(2, data.clone());
        for n in [4096usize, 70_000] {
            let reader = RecordReader::new(
                Trickle(Box::leak(data.clone().into_boxed_slice()), n),
                ReadOptions::default(),
                2,
            );
            let got: Vec<_> = reader.flat_map(|b| b.unwrap().items).collect();
            assert_eq!(got, whole, "reads of {n}");
        }
    }

    #[test]
    fn read_errors_come_after_the_records_before_them() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                self.0 -= 1;
                buf[0] = b'x';
                Ok(1)
            }
        }
        let mut reader = RecordReader::new(Failing(10), ReadOptions::default(), 2);
        let err = loop {
            match reader.next_batch() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("no error"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.to_string(), "disk on fire");
        assert!(reader.next_batch().unwrap().is_none());
    }

    #[test]
    fn dropping_the_reader_early_stops_its_threads() {
        let data: Vec<u8> = input().repeat(20);
        let mut reader = RecordReader::new(io::Cursor::new(data), ReadOptions::default(), 2);
        assert!(reader.next_batch().unwrap().is_some());
        drop(reader); // must not hang or panic
    }
}
