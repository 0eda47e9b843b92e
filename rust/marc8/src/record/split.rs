//! Splitting a byte stream into records: where each record starts and ends, garbage between
//! them gathered into one problem per stretch.

use super::*;

/// What [`next_record`] found at a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// A record occupies `start..end` (its terminator included).
    Record {
        /// First byte.
        start: usize,
        /// One past the record terminator.
        end: usize,
        /// The declared length did not match; the record was delimited by its terminator.
        length_mismatch: bool,
    },
    /// Bytes `start..end` are not a record (garbage, or a record cut short at the end of the
    /// input when `truncated`).
    Skip {
        /// First byte.
        start: usize,
        /// One past the last byte.
        end: usize,
        /// The bytes are the start of a record cut off by the end of the input.
        truncated: bool,
    },
    /// Line ends between records (ignored, not reported).
    Blank {
        /// One past the last line-end byte.
        end: usize,
    },
    /// More input is needed to decide.
    NeedMore,
    /// Nothing left.
    End,
}

pub(super) fn digits(b: &[u8]) -> Option<usize> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0usize, |n, &d| {
        n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
    })
}

/// True if a record could start at `buf[i..]`: five digits of length and `4500` at 20..24 (the
/// entry map every MARC 21 record has).
pub(super) fn looks_like_leader(buf: &[u8], i: usize) -> bool {
    buf.get(i..i + 24)
        .is_some_and(|l| digits(&l[..5]).is_some() && &l[20..24] == b"4500")
}

/// Finds the next record in `buf[pos..]`. `eof` says no more bytes will be appended.
///
/// The declared length is trusted when the byte before it is a record terminator; otherwise the
/// record ends at the first terminator within [`MAX_REACH`] bytes (and the mismatch is
/// reported). A leader with no terminator that close starts no record: its bytes are garbage.
/// Garbage is skipped up to the next place a record could start: after a record terminator, or
/// where a leader could be, and at most [`MAX_RECORD`] bytes at a time ([`Garbage`] gathers the
/// pieces of a stretch into one problem). CR and LF between records are ignored.
///
/// What is found at `pos` depends only on the [`MAX_REACH`] bytes after it (or the end of the
/// input): when `eof` is false and those are not all in `buf`, the answer is
/// [`Next::NeedMore`], never a guess. So a stream read in pieces of any size is split exactly
/// as the whole input at once, and a reader never needs to hold more than that many bytes
/// ahead of its position.
///
/// A loop over one buffer should call [`Splitter::next`] instead: it gives the same answers and
/// remembers where it found no terminator, so that no byte is searched twice.
#[must_use]
pub fn next_record(buf: &[u8], pos: usize, eof: bool) -> Next {
    Splitter::default().next(buf, pos, eof)
}

/// [`next_record`] with a memory of the stretch it last searched for a terminator. Without it,
/// garbage full of leaders whose lengths lie (`00030` … `4500`, a few bytes apart, and no
/// terminator) would have each of them search the same [`MAX_REACH`] bytes again; with it, the
/// work of a split is linear in its input.
///
/// Use one `Splitter` for one buffer; when bytes are removed from the front of the buffer, say
/// so with [`Splitter::consumed`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Splitter {
    /// There is no record terminator in `buf[clear.0..clear.1]`.
    clear: (usize, usize),
}

impl Splitter {
    /// The first `n` bytes of the buffer were removed (what was after them moved to the front).
    pub fn consumed(&mut self, n: usize) {
        self.clear = (
            self.clear.0.saturating_sub(n),
            self.clear.1.saturating_sub(n),
        );
    }

    /// The first record terminator in `buf[pos..end]`, searching only what is not known to have
    /// none.
    fn find_rt(&mut self, buf: &[u8], pos: usize, end: usize) -> Option<usize> {
        let (a, b) = self.clear;
        let from = if a <= pos && pos <= b {
            b.min(end)
        } else {
            pos
        };
        let found = buf[from..end]
            .iter()
            .position(|&x| x == RT)
            .map(|i| from + i);
        examined(found.map_or(end, |i| i + 1) - from);
        self.clear = (pos, found.unwrap_or(end));
        found
    }

    /// What is at `buf[pos..]`: see [`next_record`].
    #[must_use]
    pub fn next(&mut self, buf: &[u8], pos: usize, eof: bool) -> Next {
        let rest = &buf[pos.min(buf.len())..];
        if rest.is_empty() {
            return if eof { Next::End } else { Next::NeedMore };
        }
        let blank = rest
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if blank > 0 {
            return Next::Blank { end: pos + blank };
        }
        if rest.len() < 5 && !eof {
            return Next::NeedMore;
        }
        let declared = rest.get(..5).and_then(digits);
        if declared.is_some_and(|l| l < 24) && rest.len() < 24 && !eof {
            return Next::NeedMore; // whether it is a leader shows only at byte 24
        }
        // A length below 24 (`00000`: what a writer puts in the leader of a record longer than
        // five digits can say) in front of what is otherwise a leader still starts a record: its
        // terminator says where it ends, and the reader reports it too long (issue 18, item 8).
        if let Some(len) = declared.filter(|&l| l >= 24 || looks_like_leader(rest, 0)) {
            if len >= 24 && rest.len() >= len && rest[len - 1] == RT {
                return Next::Record {
                    start: pos,
                    end: pos + len,
                    length_mismatch: false,
                };
            }
            if len >= 24 && rest.len() < len && !eof {
                return Next::NeedMore;
            }
            // The length lies: the record ends at its terminator, if that is in reach.
            let end = pos + rest.len().min(MAX_REACH);
            match self.find_rt(buf, pos, end) {
                Some(i) => {
                    return Next::Record {
                        start: pos,
                        end: i + 1,
                        length_mismatch: true,
                    }
                }
                // No terminator in reach: not a record; skipped as garbage below.
                None if rest.len() >= MAX_REACH => {}
                None if eof => {
                    return Next::Skip {
                        start: pos,
                        end: buf.len(),
                        truncated: true,
                    }
                }
                None => return Next::NeedMore,
            }
        }
        skip_garbage(rest, pos, eof)
    }
}

/// `rest` does not start a record: the bytes up to the first place one could start (after a
/// record terminator, or where a leader could be), at most [`MAX_RECORD`] of them.
pub(super) fn skip_garbage(rest: &[u8], pos: usize, eof: bool) -> Next {
    let mut i = 1;
    loop {
        if rest[i - 1] == RT || i >= MAX_RECORD {
            break;
        }
        if i + 24 > rest.len() {
            // A leader at `i` would run past the bytes there are.
            if !eof {
                examined(i);
                return Next::NeedMore;
            }
            if i == rest.len() {
                break;
            }
        } else if looks_like_leader(rest, i) {
            break;
        }
        i += 1;
    }
    examined(i);
    Next::Skip {
        start: pos,
        end: pos + i,
        truncated: false,
    }
}

// Bytes the splitter has examined in this thread: the tests hold splitting to linear work.
#[cfg(test)]
thread_local! {
    pub(crate) static EXAMINED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[inline]
#[cfg_attr(not(test), allow(unused_variables))]
pub(super) fn examined(bytes: usize) {
    #[cfg(test)]
    EXAMINED.with(|c| c.set(c.get() + bytes));
}

/// How many bytes of a skipped stretch a problem keeps.
pub(super) const SHOWN: usize = 64;

/// The problem for bytes [`next_record`] skipped.
#[must_use]
pub fn skip_problem(record: usize, offset: u64, bytes: &[u8], truncated: bool) -> RecordProblem {
    stretch_problem(record, offset, bytes.len() as u64, bytes, truncated)
}

/// The problem for `len` skipped bytes at `offset`, of which `head` are the first.
pub(super) fn stretch_problem(
    record: usize,
    offset: u64,
    len: u64,
    head: &[u8],
    truncated: bool,
) -> RecordProblem {
    let mut p = RecordProblem::new(
        record,
        offset,
        if truncated {
            RecordKind::TruncatedRecord
        } else {
            RecordKind::Garbage
        },
        RecordAction::Skipped,
    );
    p.message = if truncated {
        format!("the input ends inside a record: {len} bytes with no record terminator")
    } else {
        format!("{len} bytes between records are not a record")
    };
    p.bytes = head[..head.len().min(SHOWN)].to_vec();
    p
}

/// Gathers consecutive garbage into one problem: the pieces [`next_record`] skips (each at most
/// [`MAX_RECORD`] bytes, or ending at a terminator) and the line ends between them make one
/// stretch, reported once with its offset, its length and its first 64 bytes, however long it
/// is. So a split has at most two problems per record found, plus two, and a stretch of garbage
/// costs the same few bytes of memory whatever its size.
///
/// Feed it every [`Next::Skip`] that is not truncated ([`Garbage::skipped`]) and every
/// [`Next::Blank`] ([`Garbage::blank`]); anything else ends the stretch: take its problem with
/// [`Garbage::close`] first.
#[derive(Clone, Debug, Default)]
pub struct Garbage {
    /// The open stretch: record number, offset, end offset, first bytes.
    open: Option<(usize, u64, u64, Vec<u8>)>,
}

impl Garbage {
    /// Skipped bytes at `offset`, before record number `record`.
    pub fn skipped(&mut self, record: usize, offset: u64, bytes: &[u8]) {
        let (_, _, end, head) = self
            .open
            .get_or_insert_with(|| (record, offset, offset, Vec::new()));
        let room = SHOWN.saturating_sub(head.len());
        head.extend_from_slice(&bytes[..bytes.len().min(room)]);
        *end = offset + bytes.len() as u64;
    }

    /// Line ends: inside the stretch if more garbage follows them.
    pub fn blank(&mut self, bytes: &[u8]) {
        if let Some((_, _, _, head)) = &mut self.open {
            let room = SHOWN.saturating_sub(head.len());
            head.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    /// Ends the stretch: its problem, if there was one.
    pub fn close(&mut self) -> Option<RecordProblem> {
        let (record, start, end, mut head) = self.open.take()?;
        let len = end - start;
        // Line ends after the last garbage are not part of it.
        head.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Some(stretch_problem(record, start, len, &head, false))
    }
}

/// A record found in a buffer: its number (from 1), its byte offset and its bytes.
pub type Found<'a> = (usize, usize, &'a [u8]);

/// Splits a whole buffer into records, with the problems of the split (garbage, truncated
/// records, lengths recovered by terminators). Linear in the buffer; a stretch of garbage is one
/// problem.
#[must_use]
pub fn split_records(buf: &[u8]) -> (Vec<Found<'_>>, Vec<RecordProblem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut garbage = Garbage::default();
    let mut splitter = Splitter::default();
    let mut pos = 0;
    loop {
        let next = splitter.next(buf, pos, true);
        match next {
            Next::Skip {
                start,
                end,
                truncated: false,
            } => {
                garbage.skipped(out.len() + 1, start as u64, &buf[start..end]);
                pos = end;
                continue;
            }
            Next::Blank { end } => {
                garbage.blank(&buf[pos..end]);
                pos = end;
                continue;
            }
            _ => problems.extend(garbage.close()),
        }
        match next {
            Next::Record {
                start,
                end,
                length_mismatch,
            } => {
                let n = out.len() + 1;
                if length_mismatch {
                    problems.push(length_problem(n, start as u64, &buf[start..end]));
                }
                out.push((n, start, &buf[start..end]));
                pos = end;
            }
            Next::Skip { start, end, .. } => {
                problems.push(skip_problem(
                    out.len() + 1,
                    start as u64,
                    &buf[start..end],
                    true,
                ));
                pos = end;
            }
            _ => break,
        }
    }
    (out, problems)
}

/// The problem for a record whose declared length did not match its terminator.
#[must_use]
pub fn length_problem(record: usize, offset: u64, raw: &[u8]) -> RecordProblem {
    let mut p = RecordProblem::new(
        record,
        offset,
        RecordKind::LengthMismatch,
        RecordAction::Recovered,
    );
    let declared = String::from_utf8_lossy(&raw[..5.min(raw.len())]).into_owned();
    p.message = format!(
        "leader says the record is {declared} bytes, its terminator says {}",
        raw.len()
    );
    p.bytes = raw[..5.min(raw.len())].to_vec();
    p
}
