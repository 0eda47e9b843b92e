//! The pipeline of a whole-file conversion or validation with two jobs or more (issue 22, branch
//! i22-files2): `jobs` threads in all, the calling thread one of them, each taking the next
//! batch from the one reader (under a lock), working on it, and handing its output back; the
//! calling thread also writes the outputs in input order and tells `on_batch` of each.
//!
//! Before, two jobs were four threads (a reader, two workers, the calling thread writing) on
//! two cores, and every batch crossed threads twice: read on one core, converted on another,
//! written on a third. Now a batch is read and converted by the same thread (its input still in
//! that core's cache), there is no thread that only waits, and the work is shared out batch by
//! batch: the thread that also writes simply converts fewer batches.
//!
//! At most `jobs * IN_FLIGHT_PER_JOB` batches are between their read and their write, as
//! before, so memory does not grow with the file.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{absorb, stopped, Batch, Done, FileReport, OnBatch, StreamOptions};
use crate::batch::{BatchReader, RecordRange, Spare, BATCH_BYTES, IN_FLIGHT_PER_JOB};

/// What the threads share, under one lock (held only for bookkeeping, never for a read, a
/// conversion or a write).
#[derive(Default)]
struct State {
    /// Outputs done and not yet written, by batch id.
    waiting: BTreeMap<usize, Done>,
    /// Batches taken from the reader and not yet written.
    outstanding: usize,
    /// The reader has nothing more (or failed).
    read_all: bool,
    /// Stop taking batches: an error, a stop asked by `on_batch`, a thread that panicked.
    stop: bool,
    /// The first read error, or a panic.
    error: Option<io::Error>,
}

/// The one reader, and whether it has ended (nothing more, or an error): a thread that took a
/// slot before another thread's read failed must not read on past the failure (a reader may
/// give data again after an error; one job stops at the first).
struct Input<R: Read> {
    batches: BatchReader<R>,
    ended: bool,
}

struct Shared<R: Read> {
    reader: Mutex<Input<R>>,
    state: Mutex<State>,
    /// Told when a batch's output is handed back, when a batch is written, when reading ends.
    changed: Condvar,
    limit: usize,
}

impl<R: Read> Shared<R> {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the next batch if the bound allows one more now (`Ok(None)` if not, or if there
    /// is nothing more to read: `read_all` tells which). The slot is taken before the read.
    fn take(&self, mut s: MutexGuard<'_, State>) -> Option<Batch> {
        if s.stop || s.read_all || s.outstanding >= self.limit {
            return None;
        }
        s.outstanding += 1;
        drop(s);
        let read = {
            let mut input = self.reader.lock().unwrap_or_else(|e| e.into_inner());
            if input.ended {
                Ok(None)
            } else {
                let read = input.batches.next_batch();
                input.ended = !matches!(read, Ok(Some(_)));
                read
            }
        };
        let mut s = self.state();
        match read {
            Ok(Some(batch)) => return Some(batch),
            Ok(None) => s.read_all = true,
            // As with one job: what was read before the error is still written, then the
            // error is returned.
            Err(e) => {
                s.error.get_or_insert(e);
                s.read_all = true;
            }
        }
        s.outstanding -= 1;
        drop(s);
        self.changed.notify_all();
        None
    }

    /// Hands a batch's output back for writing.
    fn hand_back(&self, done: Done) {
        self.state().waiting.insert(done.id, done);
        self.changed.notify_all();
    }

    /// A helper thread: takes batches and works on them until there is nothing more to take.
    fn help(&self, work: &(dyn Fn(Batch) -> Done + Sync)) {
        let _panic = PanicGuard(self);
        loop {
            let mut s = self.state();
            let batch = loop {
                if s.stop || s.read_all {
                    return;
                }
                if s.outstanding < self.limit {
                    break self.take(s);
                }
                s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
            };
            match batch {
                Some(batch) => self.hand_back(work(batch)),
                None => continue,
            }
        }
    }
}

/// Stops the stream if a thread panics: a helper's batch would never come back, and helpers
/// would wait for a calling thread that is gone.
struct PanicGuard<'a, R: Read>(&'a Shared<R>);

impl<R: Read> Drop for PanicGuard<'_, R> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut s = self.0.state();
            s.error
                .get_or_insert_with(|| io::Error::other("a worker thread panicked"));
            s.stop = true;
            drop(s);
            self.0.changed.notify_all();
        }
    }
}

/// [`super::run_stream`] with `jobs` ≥ 2: see the module documentation.
pub(super) fn run_shared<R: Read + Send, W: Write>(
    input: R,
    output: &mut W,
    range: RecordRange,
    jobs: usize,
    stream: &StreamOptions,
    work: &(dyn Fn(Batch) -> Done + Sync),
    on_batch: &mut OnBatch<'_>,
) -> io::Result<FileReport> {
    let spare = Arc::new(Spare::default());
    let shared = Shared {
        reader: Mutex::new(Input {
            batches: BatchReader::with_spare(
                input,
                range,
                stream.read_size,
                BATCH_BYTES,
                stream.batch_keep(),
                Arc::clone(&spare),
            ),
            ended: false,
        }),
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
        limit: jobs * IN_FLIGHT_PER_JOB,
    };
    let mut total = FileReport::default();
    let mut failed: Option<io::Error> = None;
    std::thread::scope(|scope| {
        for _ in 1..jobs {
            scope.spawn(|| shared.help(work));
        }
        let _panic = PanicGuard(&shared);
        let mut next_id = 0;
        let mut s = shared.state();
        loop {
            // Write every output that is next in order.
            if let Some(done) = s.waiting.remove(&next_id) {
                drop(s);
                next_id += 1;
                if let Err(e) = output.write_all(&done.out) {
                    failed = Some(e);
                }
                spare.give_output(done.out);
                if failed.is_none() && !absorb(&mut total, done.report, stream, on_batch) {
                    failed = Some(stopped());
                }
                s = shared.state();
                s.outstanding -= 1;
                if failed.is_some() {
                    s.stop = true;
                }
                shared.changed.notify_all();
                if s.stop {
                    break;
                }
                continue;
            }
            if s.stop || (s.read_all && s.outstanding == 0) {
                break;
            }
            // Nothing to write yet: work on a batch too, if the bound allows one more.
            if !s.read_all && s.outstanding < shared.limit {
                if let Some(batch) = shared.take(s) {
                    shared.hand_back(work(batch));
                }
                s = shared.state();
                continue;
            }
            s = shared.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.stop = true;
        drop(s);
        shared.changed.notify_all();
    });
    let error = shared.state().error.take();
    match failed.or(error) {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{transcode_stream_with, RecordOptions};
    use super::*;
    use crate::record::{write_record, Target};
    use std::borrow::Cow;

    /// 3,000 MARC-8 records, each with a character to convert.
    fn input() -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..3000 {
            let id = format!("n{i}");
            write_record(
                b"00000nam  2200000   4500",
                &[
                    (*b"001", Cow::Borrowed(id.as_bytes())),
                    (
                        *b"245",
                        Cow::Borrowed(&b"10\x1faCaf\xe2e, a title long enough"[..]),
                    ),
                ],
                &mut v,
            )
            .unwrap();
        }
        v
    }

    /// Reads of 4 KB (so many small batches), the `fail_at`-th read failing.
    struct Failing<'a> {
        data: &'a [u8],
        reads: usize,
        fail_at: usize,
    }

    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            if self.reads == self.fail_at {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the input broke"));
            }
            let n = buf.len().min(self.data.len()).min(4096);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn convert(
        input: impl Read + Send,
        out: &mut impl Write,
        jobs: usize,
        on_batch: &mut OnBatch<'_>,
    ) -> io::Result<FileReport> {
        let stream = StreamOptions {
            read_size: 4096,
            ..StreamOptions::default()
        };
        let opts = RecordOptions::new(Target::Utf8);
        transcode_stream_with(input, out, &opts, jobs, &stream, on_batch)
    }

    #[test]
    fn any_number_of_threads_gives_the_one_thread_output_and_report() {
        let data = input();
        let mut one = Vec::new();
        let expected = convert(&data[..], &mut one, 1, &mut |_, _| true).unwrap();
        assert_eq!(expected.records_written, 3000);
        for jobs in [2, 3, 8] {
            let mut out = Vec::new();
            let mut calls = 0;
            let got = convert(&data[..], &mut out, jobs, &mut |_, _| {
                calls += 1;
                true
            })
            .unwrap();
            assert!(out == one, "jobs={jobs}");
            assert_eq!(got, expected, "jobs={jobs}");
            assert!(calls > 20, "jobs={jobs}: {calls} batches");
        }
    }

    #[test]
    fn a_read_error_writes_what_was_read_before_it_then_is_returned() {
        let data = input();
        let mut one = Vec::new();
        let err = convert(
            Failing {
                data: &data,
                reads: 0,
                fail_at: 40,
            },
            &mut one,
            1,
            &mut |_, _| true,
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(!one.is_empty());
        for jobs in [2, 3] {
            let mut out = Vec::new();
            let err = convert(
                Failing {
                    data: &data,
                    reads: 0,
                    fail_at: 40,
                },
                &mut out,
                jobs,
                &mut |_, _| true,
            )
            .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "jobs={jobs}");
            assert!(out == one, "jobs={jobs}");
        }
    }

    /// Accepts `room` bytes, then fails.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "full"));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_error_or_a_stop_ends_every_thread_and_is_returned() {
        let data = input();
        for jobs in [2, 3] {
            let err = convert(&data[..], &mut Full { room: 50_000 }, jobs, &mut |_, _| {
                true
            })
            .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::StorageFull, "jobs={jobs}");
            let mut calls = 0;
            let err = convert(&data[..], &mut Vec::new(), jobs, &mut |_, _| {
                calls += 1;
                calls < 5
            })
            .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Interrupted, "jobs={jobs}");
            assert_eq!(calls, 5, "jobs={jobs}: no batch is told of after the stop");
        }
    }
}
