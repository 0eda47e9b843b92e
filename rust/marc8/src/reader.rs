//! Reading records into the model, streamed: the file layer's splitter
//! ([`crate::file`], [`crate::record::next_record`]) cuts the input into batches, worker threads
//! parse and convert each batch into [`Record`]s, and the batches come back in input order, one
//! at a time, to whoever pulls them (the Python `MARCReader`). At most a fixed number of batches
//! is in flight, so memory does not grow with the input; every byte the splitter skipped or
//! recovered is reported exactly as [`crate::file::transcode_file`] reports it.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use crate::batch::{IN_FLIGHT_PER_JOB, READER_BATCH_BYTES};
use crate::file::{read_batches, Batch, Item, RecordRange, StreamOptions};
use crate::model::{ReadOptions, Record, SourceEncoding};
use crate::record::{length_problem, RecordProblem};
use crate::writer::Format;

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
            let result = read_batches(
                input,
                RecordRange::default(),
                stream.read_size,
                READER_BATCH_BYTES,
                stream.batch_keep(),
                std::sync::Arc::default(),
                |batch| token_rx.recv().is_ok() && work_tx.send(batch).is_ok(),
            );
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

// ------------------------------------------------------------------------------------------------
// Any format

/// Counts the bytes read through it (for progress).
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Records of MARCXML or MARC-in-JSON handed over per batch.
const OTHER_BATCH: usize = 64;

type OtherItems = Box<dyn Iterator<Item = crate::marcxml::ReadRecord> + Send>;

enum Inner {
    Iso(RecordReader),
    Other {
        items: OtherItems,
        count: Arc<AtomicU64>,
        reported: u64,
    },
}

/// Records of an input in any of the three formats, told apart by [`Format::detect`] from its
/// first bytes (read once: a pipe works): ISO 2709 through [`RecordReader`] (split, parsed and
/// converted on worker threads), MARCXML and MARC-in-JSON through their stream readers
/// ([`crate::marcxml::XmlReader`], [`crate::marcjson::JsonReader`]). Every format comes back as
/// the same [`ReadBatch`]es: what `MARCReader`, `dump` and `load` read.
pub struct AnyReader {
    format: Format,
    inner: Inner,
}

impl AnyReader {
    /// Reads the first bytes of `input` (blocking until they come) to detect its format, then
    /// starts reading it.
    pub fn new<R: Read + Send + 'static>(
        mut input: R,
        opts: ReadOptions,
        jobs: usize,
    ) -> io::Result<Self> {
        let (format, head) = Format::sniff(&mut input)?;
        let input = io::Cursor::new(head).chain(input);
        let inner = match format {
            Format::MarcXml | Format::Json => {
                let count = Arc::new(AtomicU64::new(0));
                let counted = io::BufReader::new(Counting {
                    inner: input,
                    count: Arc::clone(&count),
                });
                let items: OtherItems = if format == Format::MarcXml {
                    Box::new(crate::marcxml::XmlReader::new(counted))
                } else {
                    Box::new(crate::marcjson::JsonReader::new(counted))
                };
                Inner::Other {
                    items,
                    count,
                    reported: 0,
                }
            }
            _ => Inner::Iso(RecordReader::new(input, opts, jobs)),
        };
        Ok(AnyReader { format, inner })
    }

    /// The input's format.
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// The next batch of the input in order, `None` at the end (see
    /// [`RecordReader::next_batch`]). A MARCXML or JSON entry with no record is `Rejected` when a
    /// problem says the record was rejected, else each problem is `Skipped`.
    pub fn next_batch(&mut self) -> io::Result<Option<ReadBatch>> {
        match &mut self.inner {
            Inner::Iso(r) => r.next_batch(),
            Inner::Other {
                items,
                count,
                reported,
            } => {
                let mut out = Vec::new();
                for item in items.by_ref() {
                    match item.record {
                        Some(record) => out.push(ReadItem::Record(Box::new(ReadRecord {
                            number: item.number,
                            offset: item.offset,
                            record,
                            source: SourceEncoding::Utf8,
                            problems: item.problems,
                            length_problem: None,
                        }))),
                        None if item
                            .problems
                            .iter()
                            .any(|p| p.action == crate::kinds::RecordAction::Rejected) =>
                        {
                            out.push(ReadItem::Rejected(item.problems));
                        }
                        None => out.extend(item.problems.into_iter().map(ReadItem::Skipped)),
                    }
                    if out.len() >= OTHER_BATCH {
                        break;
                    }
                }
                let now = count.load(Ordering::Relaxed);
                let bytes_in = now - *reported;
                *reported = now;
                if out.is_empty() && bytes_in == 0 {
                    return Ok(None);
                }
                Ok(Some(ReadBatch {
                    items: out,
                    bytes_in,
                }))
            }
        }
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

    fn records_of(reader: &mut AnyReader) -> Vec<ReadItem> {
        let mut all = Vec::new();
        while let Some(b) = reader.next_batch().unwrap() {
            all.extend(b.items);
        }
        all
    }

    #[test]
    fn any_reader_reads_every_format_from_a_trickle() {
        let iso = input();
        let (whole, _) = split_records(&iso);
        let mut models: Vec<Record> = whole
            .iter()
            .take(100)
            .map(|(n, off, raw)| {
                Record::from_iso2709(
                    raw,
                    &ReadOptions::default(),
                    *n,
                    *off as u64,
                    &mut Vec::new(),
                )
                .unwrap()
                .0
            })
            .collect();
        // MARCXML cannot carry control characters: leave them out.
        for r in &mut models {
            for f in &mut r.fields {
                if let crate::model::FieldData::Data { subfields, .. } = &mut f.data {
                    for sf in subfields {
                        sf.value.retain(|c| !c.is_control());
                    }
                }
            }
        }
        let (xml, _) = crate::marcxml::collection_document(&models);
        let mut json = String::new();
        for (k, r) in models.iter().enumerate() {
            json.push_str(if k == 0 { "[" } else { "," });
            crate::marcjson::write_record(r, &mut json, k + 1, &mut Vec::new());
        }
        json.push(']');
        for (format, data) in [
            (Format::MarcXml, format!("\n\n  {xml}").into_bytes()),
            (
                Format::Json,
                [&b"\xEF\xBB\xBF \n"[..], json.as_bytes()].concat(),
            ),
        ] {
            for n in [1usize, 7, 4096] {
                let trickle = Trickle(Box::leak(data.clone().into_boxed_slice()), n);
                let mut reader = AnyReader::new(trickle, ReadOptions::default(), 2).unwrap();
                assert_eq!(reader.format(), format);
                let got: Vec<Record> = records_of(&mut reader)
                    .into_iter()
                    .map(|i| match i {
                        ReadItem::Record(r) => r.record,
                        other => panic!("{other:?}"),
                    })
                    .collect();
                assert_eq!(got.len(), models.len(), "{format:?} reads of {n}");
                for (g, m) in got.iter().zip(&models) {
                    assert_eq!(g.fields, m.fields);
                }
            }
        }
        // ISO 2709 through AnyReader is the RecordReader's output, item for item.
        let trickle = Trickle(Box::leak(iso.clone().into_boxed_slice()), 3);
        let mut reader = AnyReader::new(trickle, ReadOptions::default(), 2).unwrap();
        assert_eq!(reader.format(), Format::Iso2709);
        assert_eq!(records_of(&mut reader), items(2, iso));
        // Nothing at all is ISO 2709 with no record.
        let mut reader = AnyReader::new(io::empty(), ReadOptions::default(), 1).unwrap();
        assert_eq!(reader.format(), Format::Iso2709);
        assert!(records_of(&mut reader).is_empty());
    }

    #[test]
    fn sniff_reads_only_until_it_can_tell() {
        let mut input = Trickle(b"\xEF\xBB\xBF  \n<collection/>rest", 1);
        let (f, head) = Format::sniff(&mut input).unwrap();
        assert_eq!(f, Format::MarcXml);
        assert_eq!(head, b"\xEF\xBB\xBF  \n<");
        let mut input = Trickle(b"00012nam", 2);
        let (f, head) = Format::sniff(&mut input).unwrap();
        assert_eq!((f, &head[..]), (Format::Iso2709, &b"00"[..]));
    }

    #[test]
    fn dropping_the_reader_early_stops_its_threads() {
        let data: Vec<u8> = input().repeat(20);
        let mut reader = RecordReader::new(io::Cursor::new(data), ReadOptions::default(), 2);
        assert!(reader.next_batch().unwrap().is_some());
        drop(reader); // must not hang or panic
    }
}
