//! The end of writing a record, shared by the transcoder and the record model: the occurrence
//! count of a tag, the leader written, a record copied as it stands, and [`finish`] (066
//! rebuilt, strict mode, lengths checked, the record written). Kept apart from `transcode.rs`
//! (the 900-line limit); it uses nothing of it but the shared names of `record`.

use super::*;

/// Which occurrence of `tag` this is, counting in `counts` (kept sorted by tag: a record's tags
/// mostly come in order, so a new one goes at the end and a look-up is a binary search).
pub(crate) fn occurrence_of(counts: &mut Vec<([u8; 3], usize)>, tag: [u8; 3]) -> usize {
    let key = |t: &[u8; 3]| u32::from_be_bytes([0, t[0], t[1], t[2]]);
    let k = key(&tag);
    match counts.last_mut() {
        Some((t, n)) if key(t) == k => {
            *n += 1;
            return *n;
        }
        Some((t, _)) if key(t) > k => {}
        _ => {
            counts.push((tag, 1));
            return 1;
        }
    }
    match counts.binary_search_by_key(&k, |(t, _)| key(t)) {
        Ok(i) => {
            counts[i].1 += 1;
            counts[i].1
        }
        Err(i) => {
            counts.insert(i, (tag, 1));
            1
        }
    }
}

/// What [`finish`] needs to know of a record besides its converted fields: its leader, the
/// MARC-8 sets its conversion designated (for 066), the options, where it is, its 001, and the
/// first of its problems (those from there on are marked `rejected` if it is).
pub(crate) struct Ending<'e> {
    pub(crate) leader: [u8; 24],
    pub(crate) used: [bool; SETS_066.len()],
    pub(crate) opts: &'e RecordOptions,
    pub(crate) at: Place,
    pub(crate) control_number: &'e Option<String>,
    pub(crate) first_problem: usize,
    /// The record's bytes, of which the [`Piece::Source`] pieces are slices (empty if none).
    pub(crate) source: &'e [u8],
}

/// The leader written: leader/09 set for `to`, the fixed positions repaired (the repair
/// reported).
fn target_leader(
    mut leader: [u8; 24],
    to: Target,
    at: Place,
    control_number: &Option<String>,
    problems: &mut Vec<RecordProblem>,
) -> [u8; 24] {
    leader[9] = if to == Target::Utf8 { b'a' } else { b' ' };
    if let Some(p) = fix_leader(&mut leader) {
        let mut p = RecordProblem {
            record: at.number,
            record_offset: at.offset,
            ..p
        };
        p.control_number.clone_from(control_number);
        problems.push(p);
    }
    leader
}

/// A record whose every field converts as it is, written as it stands when its layout is the
/// one [`finish`] would write (issue 22): the directory's entries in order, each field right
/// after the one before, the base address and the record length right, a record terminator at
/// the end and nothing after it, every tag ASCII and no 066. Then only the leader changes (as
/// [`finish`] changes it) and the rest is copied in one piece; the bytes written are those of
/// the field-by-field path. Returns false (nothing written, nothing reported) otherwise.
pub(crate) fn copy_as_is(
    raw: &[u8],
    parsed: &Parsed<'_>,
    opts: &RecordOptions,
    at: Place,
    control_number: &Option<String>,
    out: &mut Vec<u8>,
    problems: &mut Vec<RecordProblem>,
) -> bool {
    let base = 24 + 12 * parsed.fields.len() + 1;
    if parsed.recovered
        || raw.len() > MAX_RECORD
        || parsed.leader[..5] != num::<5>(raw.len())
        || parsed.leader[12..17] != num::<5>(base)
    {
        return false;
    }
    let mut pos = base;
    for f in &parsed.fields {
        let here = raw.get(pos..).map(<[u8]>::as_ptr);
        if here != Some(f.data.as_ptr()) || !f.tag.is_ascii() || &f.tag == b"066" {
            return false;
        }
        pos += f.data.len() + 1;
    }
    if pos + 1 != raw.len() || raw[pos] != RT {
        return false;
    }
    let leader = target_leader(parsed.leader, opts.to, at, control_number, problems);
    out.extend_from_slice(&leader);
    out.extend_from_slice(&raw[24..]);
    true
}

/// The end of writing a record, shared by [`transcode_with`] and the record model
/// ([`crate::model::Record::to_iso2709`]): 066 rebuilt from the sets `used` (MARC-8), strict mode
/// applied, leader/09 set and the leader checked, every length checked, the record written to
/// `out`. Returns false (nothing appended to `out`, the problems since `first_problem` marked
/// `rejected`) if the record is rejected.
pub(crate) fn finish(
    end: &Ending<'_>,
    mut fields: Vec<([u8; 3], Piece<'_>)>,
    data: &mut Vec<u8>,
    out: &mut Vec<u8>,
    problems: &mut Vec<RecordProblem>,
) -> bool {
    let Ending {
        leader,
        ref used,
        opts,
        at,
        control_number,
        first_problem,
        source,
    } = *end;
    let reject = |problems: &mut Vec<RecordProblem>, from: usize| {
        for p in &mut problems[from..] {
            if !p.action.is_recovery() {
                p.action = RecordAction::Rejected;
            }
        }
        false
    };
    let with_context = |mut p: RecordProblem| {
        p.control_number.clone_from(control_number);
        p
    };
    if opts.to == Target::Marc8 && used.iter().any(|&u| u) {
        let start = data.len();
        data.extend_from_slice(b"  ");
        for (k, seq) in SETS_066.iter().enumerate() {
            if used[k] {
                data.push(SD);
                data.push(b'c');
                data.extend_from_slice(seq.as_bytes());
            }
        }
        let at = fields
            .iter()
            .position(|(t, _)| t.as_slice() > b"066".as_slice())
            .unwrap_or(fields.len());
        fields.insert(at, (*b"066", Piece::Scratch(start, data.len())));
    }
    let conversion_problems = problems[first_problem..]
        .iter()
        .any(|p| !p.action.is_recovery());
    if opts.strict() && conversion_problems {
        return reject(problems, first_problem);
    }
    let leader = target_leader(leader, opts.to, at, control_number, problems);
    // The pieces are read where they are (no vector of slices per record, issue 22).
    let data: &[u8] = data;
    let get = |(tag, piece): &([u8; 3], Piece<'_>)| -> ([u8; 3], usize) {
        let len = match *piece {
            Piece::Source(d) => d.len(),
            Piece::Scratch(a, b) => b - a,
        };
        (*tag, len)
    };
    for (i, (tag, len)) in fields.iter().map(get).enumerate() {
        if len + 1 > MAX_FIELD {
            let mut p = at.problem(RecordKind::FieldTooLong, RecordAction::Rejected);
            p.tag = Some(String::from_utf8_lossy(&tag).into_owned());
            p.occurrence = Some(fields[..=i].iter().filter(|(t, _)| *t == tag).count());
            p.message = format!(
                "field {} would be {} bytes; ISO 2709 allows {MAX_FIELD}",
                String::from_utf8_lossy(&tag),
                len + 1
            );
            problems.push(with_context(p));
            return reject(problems, first_problem);
        }
    }
    let before = out.len();
    let written = write_record_by(
        &leader,
        &fields,
        |(tag, piece)| {
            let d = match *piece {
                Piece::Source(d) => d,
                Piece::Scratch(a, b) => &data[a..b],
            };
            (tag, d)
        },
        source,
        out,
    );
    if let Err(ParseError { kind, message }) = written {
        out.truncate(before);
        let mut p = at.problem(kind, RecordAction::Rejected);
        p.message = message;
        problems.push(with_context(p));
        return reject(problems, first_problem);
    }
    true
}
