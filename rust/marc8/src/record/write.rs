//! Writing a record: the leader's lengths, the directory and the fields in ISO 2709.

use super::*;

/// Appends `n` as `width` decimal digits (callers have checked that it fits).
pub(super) fn push_num(out: &mut Vec<u8>, mut n: usize, width: usize) {
    let mut digits = [b'0'; 5];
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[..width]);
}

/// The two digits of every number below 100, computed at compile time.
const PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// `n` as `W` decimal digits (callers have checked that it fits; `n` below 100,000 here). Two
/// digits a step: a directory entry's nine digits take five divisions, not nine (issue 22).
#[inline]
pub(super) fn num<const W: usize>(n: usize) -> [u8; W] {
    let mut n = n as u32;
    let mut digits = [b'0'; W];
    let mut i = W;
    while i >= 2 {
        let [hi, lo] = PAIRS[(n % 100) as usize];
        digits[i - 2] = hi;
        digits[i - 1] = lo;
        n /= 100;
        i -= 2;
    }
    if i == 1 {
        digits[0] = b'0' + (n % 10) as u8;
    }
    digits
}

/// Writes a record from its leader and fields: computes the record length, the base address and
/// the directory. Returns a [`ParseError`] if a field or the record is too long for
/// ISO 2709.
///
/// ```
/// use marc8::record::{parse, write_record};
///
/// let leader = *b"00000nam a2200000   4500";
/// let mut raw = Vec::new();
/// write_record(&leader, &[(*b"001", &b"ocm1"[..]), (*b"245", &b"10\x1FaTitle"[..])], &mut raw)
///     .unwrap();
/// assert_eq!(&raw[..5], format!("{:05}", raw.len()).as_bytes()); // the length, computed
/// let rec = parse(&raw).unwrap();
/// assert_eq!(rec.fields.len(), 2);
/// assert_eq!(rec.fields[1].data, b"10\x1FaTitle");
/// ```
pub fn write_record<D: AsRef<[u8]>>(
    leader: &[u8; 24],
    fields: &[([u8; 3], D)],
    out: &mut Vec<u8>,
) -> Result<(), ParseError> {
    write_record_by(leader, fields, |(tag, d)| (tag, d.as_ref()), &[], out)
}

/// [`write_record`] of fields held in any form, `get` giving each one's tag and data: the
/// record layer writes its pieces (source slices and converted bytes) without first collecting
/// them into a vector of slices (issue 22). Fields that lie one after the other in `source`,
/// each followed there by its terminator (fields a conversion left as they were), are copied
/// from it in one piece; `source` may be empty.
pub(crate) fn write_record_by<'f, T: 'f>(
    leader: &[u8; 24],
    fields: &'f [T],
    get: impl Fn(&'f T) -> (&'f [u8; 3], &'f [u8]),
    source: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ParseError> {
    let base = 24 + 12 * fields.len() + 1;
    let data_len: usize = fields.iter().map(|f| get(f).1.len() + 1).sum();
    let total = base + data_len + 1;
    for (tag, d) in fields.iter().map(&get) {
        if d.len() + 1 > MAX_FIELD {
            return Err(ParseError::new(
                RecordKind::FieldTooLong,
                format!(
                    "field {} would be {} bytes; ISO 2709 allows {MAX_FIELD}",
                    String::from_utf8_lossy(tag),
                    d.len() + 1
                ),
            ));
        }
    }
    if total > MAX_RECORD || base > MAX_RECORD {
        return Err(ParseError::new(
            RecordKind::RecordTooLong,
            format!("the record would be {total} bytes; ISO 2709 allows {MAX_RECORD}"),
        ));
    }
    out.reserve(total);
    push_num(out, total, 5);
    out.extend_from_slice(&leader[5..12]);
    push_num(out, base, 5);
    out.extend_from_slice(&leader[17..24]);
    // The directory sized once, then each 12-byte entry written in place (issue 22).
    let dir = out.len();
    out.resize(dir + 12 * fields.len(), 0);
    let mut start = 0;
    for ((tag, d), entry) in fields.iter().map(&get).zip(out[dir..].chunks_exact_mut(12)) {
        entry[..3].copy_from_slice(tag);
        entry[3..7].copy_from_slice(&num::<4>(d.len() + 1));
        entry[7..].copy_from_slice(&num::<5>(start));
        start += d.len() + 1;
    }
    out.push(FT);
    // The stretch of `source` still to be copied: fields and their terminators, in order.
    let mut run = 0..0;
    for (_, d) in fields.iter().map(&get) {
        let at = offset_in(source, d);
        if at <= source.len() && d.len() < source.len() - at && source[at + d.len()] == FT {
            if run.end != at {
                out.extend_from_slice(&source[run]);
                run = at..at;
            }
            run.end = at + d.len() + 1;
            continue;
        }
        out.extend_from_slice(&source[run]);
        run = 0..0;
        out.extend_from_slice(d);
        out.push(FT);
    }
    out.extend_from_slice(&source[run]);
    out.push(RT);
    Ok(())
}

/// Where `part` starts in `whole`, if it is a slice of it (else a number beyond its length,
/// or a slice that does not fit: callers check both).
pub(super) fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize)
}

/// Puts MARC 21's fixed leader values back (`22` at 10-11, `4500` at 20-23) and replaces bytes
/// that are not printable ASCII (elsewhere than the lengths, which are rewritten anyway) by a
/// space, so that the converted leader is valid in either encoding. Returns the problem (record
/// number and offset to be filled in) if anything changed.
pub(super) fn fix_leader(leader: &mut [u8; 24]) -> Option<RecordProblem> {
    // The common case in one test: every byte printable ASCII and the fixed values in place
    // (then `repair_leader` would change nothing).
    if leader.iter().all(|b| (0x20..0x7F).contains(b))
        && leader[10..12] == *b"22"
        && leader[20..24] == *b"4500"
    {
        return None;
    }
    let before = *leader;
    let changed = repair_leader(leader, true);
    if changed.is_empty() {
        return None;
    }
    let mut p = RecordProblem::new(0, 0, RecordKind::BadLeader, RecordAction::Recovered);
    p.message = bad_leader_message(&changed, &before, leader);
    p.bytes = before.to_vec();
    Some(p)
}

/// The one repair of a leader's fixed positions, for every writer: `22` at 10-11, `4500` at
/// 20-23, a space for any byte that is not printable ASCII. The lengths (0-4, 12-16) are left
/// alone when the writer rewrites them (`lengths_rewritten`), otherwise only while they are
/// digits. Returns the positions changed.
pub(crate) fn repair_leader(leader: &mut [u8; 24], lengths_rewritten: bool) -> Vec<usize> {
    let mut changed = Vec::new();
    for (i, b) in leader.iter_mut().enumerate() {
        let want = match i {
            0..=4 | 12..=16 if lengths_rewritten || b.is_ascii_digit() => continue,
            10 | 11 => b'2',
            20 => b'4',
            21 => b'5',
            22 | 23 => b'0',
            _ if (0x20..0x7F).contains(b) => continue,
            _ => b' ',
        };
        if *b != want {
            changed.push(i);
            *b = want;
        }
    }
    changed
}

/// The `bad_leader` message for the positions [`repair_leader`] changed: what they held, what
/// they hold now.
pub(crate) fn bad_leader_message(changed: &[usize], held: &[u8; 24], now: &[u8; 24]) -> String {
    let at = |leader: &[u8; 24]| {
        changed
            .iter()
            .map(|&i| char::from(leader[i]))
            .collect::<String>()
    };
    format!(
        "leader positions {changed:?} held {:?}; written as MARC 21 requires ({:?})",
        at(held),
        at(now)
    )
}
