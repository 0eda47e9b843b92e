//! The checks of one record: its structure (leader, directory, terminators, tags, indicators,
//! codes) and its encoding (leader/09 against the data, the decoder's problems, controls, NCRs,
//! field 066).

use super::*;
use crate::record::{Job, ParseError, Parsed, Place, RawField};

#[derive(Default)]
pub(super) struct Checker {
    scratch: Scratch,
    out: Vec<u8>,
    decoded: Vec<RecordProblem>,
}

pub(super) fn check_batch(batch: Batch, opts: &ValidateOptions) -> Done {
    let id = batch.id;
    let mut chk = Checker::default();
    let report = for_each_record(
        batch,
        Some(RecordAction::Reported),
        |raw, number, offset, problems| {
            validate_record(raw, opts, number, offset, &mut chk, problems);
            Fate::Checked
        },
    );
    Done {
        id,
        out: Vec::new(),
        report,
    }
}

/// Printable form of a byte for messages: `'c'` or `0xNN`.
pub(super) fn show(b: u8) -> String {
    if b.is_ascii_graphic() || b == b' ' {
        format!("'{}'", char::from(b))
    } else {
        format!("0x{b:02X}")
    }
}

pub(super) fn show_bytes(b: &[u8]) -> String {
    if b.iter().all(|&c| c.is_ascii_graphic() || c == b' ') {
        format!("'{}'", String::from_utf8_lossy(b))
    } else {
        crate::hex_bytes(b)
    }
}

/// Where in a record a problem is: the field (tag and occurrence), the subfield and the offsets.
pub(super) struct FieldPlace<'t> {
    tag: &'t [u8],
    occurrence: usize,
    subfield: Option<char>,
    offset: Option<usize>,
    field_offset: Option<usize>,
}

pub(super) struct At<'a> {
    number: usize,
    offset: u64,
    control_number: &'a Option<String>,
}

impl At<'_> {
    fn problem(&self, kind: RecordKind, message: String, bytes: &[u8]) -> RecordProblem {
        RecordProblem {
            record: self.number,
            record_offset: self.offset,
            control_number: self.control_number.clone(),
            tag: None,
            occurrence: None,
            subfield: None,
            offset: None,
            field_offset: None,
            kind,
            bytes: bytes.to_vec(),
            action: RecordAction::Reported,
            message,
        }
    }

    fn field_problem(
        &self,
        kind: RecordKind,
        message: String,
        bytes: &[u8],
        place: FieldPlace<'_>,
    ) -> RecordProblem {
        let mut p = self.problem(kind, message, bytes);
        p.tag = Some(String::from_utf8_lossy(place.tag).into_owned());
        p.occurrence = Some(place.occurrence);
        p.subfield = place.subfield;
        p.offset = place.offset;
        p.field_offset = place.field_offset;
        p
    }
}

/// Counts occurrences of tags as fields are walked.
#[derive(Default)]
pub(super) struct Occurrences(Vec<([u8; 3], usize)>);

impl Occurrences {
    fn next(&mut self, tag: [u8; 3]) -> usize {
        if let Some((_, n)) = self.0.iter_mut().find(|(t, _)| *t == tag) {
            *n += 1;
            *n
        } else {
            self.0.push((tag, 1));
            1
        }
    }
}

/// Leader, directory and terminators, as the record layer reads them ([`Layout`]): the parser
/// recovers what it can; this says what was wrong.
pub(super) fn check_structure(
    raw: &[u8],
    layout: &Result<Layout<'_>, LayoutError>,
    at: &At<'_>,
    problems: &mut Vec<RecordProblem>,
) {
    let layout = match layout {
        Ok(layout) => layout,
        Err(LayoutError::NoLeader) => {
            problems.push(at.problem(
                RecordKind::BadLeader,
                format!("only {} bytes: no leader", raw.len()),
                raw,
            ));
            return;
        }
        Err(LayoutError::NoDirectoryEnd { leader, length }) => {
            // The leader is there: report on it, then on the directory.
            check_leader(leader, *length, at, problems);
            problems.push(at.problem(
                RecordKind::BadDirectory,
                "no field terminator after the directory".to_owned(),
                &[],
            ));
            return;
        }
    };
    check_leader(&layout.leader, layout.length, at, problems);
    let l = &layout.leader;
    let (dir_end, data_start) = (layout.dir_end, layout.data_start());
    if layout.base != Some(data_start) {
        problems.push(at.problem(
            RecordKind::BadBaseAddress,
            format!(
                "leader/12-16 (base address of data) is {}; the directory ends at byte {dir_end}, \
                 so it should be {data_start:05}",
                show_bytes(&l[12..17])
            ),
            &l[12..17],
        ));
    }
    if layout.dir_len() % 12 != 0 {
        problems.push(at.problem(
            RecordKind::BadDirectory,
            format!(
                "the directory is {} bytes, not a multiple of 12 (entries of tag, length, start)",
                layout.dir_len()
            ),
            &[],
        ));
    }
    let mut occ = Occurrences::default();
    for (i, e) in layout.entries().enumerate() {
        if e.field == Err(EntryFault::Short) {
            continue; // the directory's length is reported above
        }
        let tag = e.tag().unwrap_or_default();
        let n = occ.next(tag);
        let entry = i + 1;
        let field_problem = |kind, message, bytes: &[u8], field_offset| {
            at.field_problem(
                kind,
                message,
                bytes,
                FieldPlace {
                    tag: &tag,
                    occurrence: n,
                    subfield: None,
                    offset: None,
                    field_offset,
                },
            )
        };
        if !tag.iter().all(u8::is_ascii_alphanumeric) {
            problems.push(field_problem(
                RecordKind::BadTag,
                format!(
                    "directory entry {entry}: tag {} is not three ASCII letters or digits",
                    show_bytes(&tag)
                ),
                &tag,
                None,
            ));
        }
        match e.field {
            Ok(_) | Err(EntryFault::Short) => {}
            Err(EntryFault::NotDigits) => problems.push(field_problem(
                RecordKind::BadDirectory,
                format!(
                    "directory entry {entry}: length {} and start {} must be digits",
                    show_bytes(&e.bytes[3..7]),
                    show_bytes(&e.bytes[7..12])
                ),
                &e.bytes[3..12],
                None,
            )),
            Err(EntryFault::OutOfRecord { len, start }) => problems.push(field_problem(
                RecordKind::BadDirectory,
                format!(
                    "directory entry {entry}: a field of {len} bytes at {start} does not fit in \
                     the record's {} bytes of data",
                    layout.data_len()
                ),
                &e.bytes[3..12],
                None,
            )),
            Err(EntryFault::NoTerminator { len, last }) => problems.push(field_problem(
                RecordKind::BadTerminator,
                format!(
                    "the field ends with byte {} instead of a field terminator (1E)",
                    show(last)
                ),
                &[last],
                Some(len - 1),
            )),
        }
    }
    if !layout.terminated {
        problems.push(at.problem(
            RecordKind::BadTerminator,
            "the record does not end with a record terminator (1D)".to_owned(),
            &raw[raw.len() - 1..],
        ));
    }
}

/// The leader's fixed values: the record length (`length`, as the record layer read it: `None`
/// if it is not five digits), the coding scheme, the indicator and subfield code counts, the
/// entry map.
pub(super) fn check_leader(
    l: &[u8; 24],
    length: Option<usize>,
    at: &At<'_>,
    problems: &mut Vec<RecordProblem>,
) {
    if length.is_none() {
        problems.push(at.problem(
            RecordKind::BadLeader,
            format!(
                "leader/00-04 (record length) is {}, not five digits",
                show_bytes(&l[..5])
            ),
            &l[..5],
        ));
    }
    if l[9] != b' ' && l[9] != b'a' {
        problems.push(at.problem(
            RecordKind::BadLeader,
            format!(
                "leader/09 (character coding scheme) is {}: neither blank (MARC-8) nor 'a' (UTF-8)",
                show(l[9])
            ),
            &l[9..10],
        ));
    }
    for (i, what) in [(10, "indicator count"), (11, "subfield code count")] {
        if l[i] != b'2' {
            problems.push(at.problem(
                RecordKind::BadLeader,
                format!(
                    "leader/{i} ({what}) is {}; MARC 21 requires '2'",
                    show(l[i])
                ),
                &l[i..=i],
            ));
        }
    }
    if &l[20..24] != b"4500" {
        problems.push(at.problem(
            RecordKind::BadLeader,
            format!(
                "leader/20-23 (entry map) is {}; MARC 21 requires '4500'",
                show_bytes(&l[20..24])
            ),
            &l[20..24],
        ));
    }
}

pub(super) fn good_indicator(b: u8) -> bool {
    b == b' ' || b.is_ascii_digit() || b.is_ascii_lowercase()
}

pub(super) fn good_code(b: u8) -> bool {
    b.is_ascii_digit() || b.is_ascii_lowercase()
}

/// `&#x` + 4-6 hex digits + `;` at `s[i..]`: its length.
pub(super) fn ncr_at(s: &[u8], i: usize) -> Option<usize> {
    let rest = &s[i..];
    if rest.len() < 8 || rest[0] != b'&' || rest[1] != b'#' || (rest[2] | 0x20) != b'x' {
        return None;
    }
    let hex = rest[3..]
        .iter()
        .take_while(|b| b.is_ascii_hexdigit())
        .count();
    ((4..=6).contains(&hex) && rest.get(3 + hex) == Some(&b';')).then_some(3 + hex + 1)
}

/// The non-default sets a string designates: final bytes of its escape sequences (ASCII, ANSEL
/// and the technique-1 sets left out, as 066 does).
pub(super) fn designations(s: &[u8], used: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(p) = s[i..].iter().position(|&b| b == 0x1B) {
        let mut j = i + p + 1;
        while j < s.len() && b"$(,)-!".contains(&s[j]) {
            j += 1;
        }
        if let Some(&f) = s.get(j) {
            if j > i + p + 1 && listed_set(f) && !used.contains(&f) {
                used.push(f);
            }
        }
        i = j.min(s.len());
    }
}

/// A set 066 has to list: one of MARC-8's sets other than ASCII, ANSEL and technique 1.
pub(super) fn listed_set(f: u8) -> bool {
    Charset::from_final(f)
        .is_some_and(|c| !c.is_technique1() && c != Charset::Ascii && c != Charset::Ansel)
}

pub(super) fn set_name(f: u8) -> String {
    match Charset::from_final(f) {
        Some(c) => format!("{} ({})", c.name(), char::from(f)),
        None => show(f),
    }
}

/// Checks one record, appending its problems: the phases of [`RecordCheck`] in order, then
/// the problems sorted (record-level first, then by field and position).
pub(super) fn validate_record(
    raw: &[u8],
    opts: &ValidateOptions,
    number: usize,
    offset: u64,
    chk: &mut Checker,
    problems: &mut Vec<RecordProblem>,
) {
    let first = problems.len();
    let Some((parsed, control_number)) = read_layout(raw, number, offset, problems) else {
        return;
    };
    let mut check = RecordCheck {
        at: At {
            number,
            offset,
            control_number: &control_number,
        },
        opts,
        marc8: parsed.leader[9] != b'a',
        sets: Sets::default(),
        problems,
    };
    let mut occ = Occurrences::default();
    for f in &parsed.fields {
        let n = occ.next(f.tag);
        let strings = check.field_structure(f, n);
        if &f.tag == b"066" {
            check.sets.list_066(&strings);
            continue;
        }
        for &(code, start, s) in &strings {
            let place = |offset: usize, field_offset: usize| FieldPlace {
                tag: &f.tag,
                occurrence: n,
                subfield: code,
                offset: Some(offset),
                field_offset: Some(start + field_offset),
            };
            check.ncrs(s, &place);
            check.encoding(f.tag, s, &place);
        }
    }
    check.field_066();
    check.decoding(raw, &parsed, chk);
    order_problems(&parsed, &mut problems[first..]);
}

/// The structure phase: leader, directory and terminators checked straight from the bytes,
/// then the record parsed. Returns it with its 001 (stamped on the problems found so far), or
/// `None` (with a problem saying why) when its fields cannot be read.
fn read_layout<'r>(
    raw: &'r [u8],
    number: usize,
    offset: u64,
    problems: &mut Vec<RecordProblem>,
) -> Option<(Parsed<'r>, Option<String>)> {
    let first = problems.len();
    let no_cn = None;
    let at = At {
        number,
        offset,
        control_number: &no_cn,
    };
    let layout = Layout::read(raw);
    check_structure(raw, &layout, &at, problems);
    let parsed = match parse_layout(raw, layout) {
        Ok(p) => p,
        Err(ParseError { kind, message }) => {
            // The structure problems above say what is wrong; this one says the record could not
            // be read further.
            problems.push(at.problem(
                kind,
                format!("{message}: the fields were not checked"),
                &raw[..raw.len().min(24)],
            ));
            return None;
        }
    };
    let control_number = parsed
        .fields
        .iter()
        .find(|f| &f.tag == b"001")
        .map(|f| String::from_utf8_lossy(f.data).trim().to_owned());
    for p in &mut problems[first..] {
        p.control_number.clone_from(&control_number);
    }
    Some((parsed, control_number))
}

/// The strings of a field: (subfield code, offset of its data in the field, its data).
type Strings<'f> = Vec<(Option<char>, usize, &'f [u8])>;

/// The MARC-8 sets a record designates and the sets its 066 lists, gathered field by field.
#[derive(Default)]
struct Sets {
    /// Final bytes of the sets designated, in order of first use.
    used: Vec<u8>,
    /// Each set designated with the tag of the field that first did.
    first_use: Vec<(u8, [u8; 3])>,
    /// 066's $a, $b and $c, if the record has a 066.
    listed: Option<Vec<(char, Vec<u8>)>>,
}

impl Sets {
    fn list_066(&mut self, strings: &Strings<'_>) {
        let values = self.listed.get_or_insert_with(Vec::new);
        for (code, _, s) in strings {
            if let Some(c @ ('a' | 'b' | 'c')) = code {
                values.push((*c, s.to_vec()));
            }
        }
    }
}

/// The checks of one parsed record, one method per phase after the structure
/// ([`read_layout`]): each field's indicators and subfields, its NCRs, its encoding (the sets
/// it designates, or for export what MARC-8 lacks), field 066, then the decoding.
struct RecordCheck<'a, 'p> {
    at: At<'a>,
    opts: &'a ValidateOptions,
    marc8: bool,
    sets: Sets,
    problems: &'p mut Vec<RecordProblem>,
}

impl RecordCheck<'_, '_> {
    fn report(&mut self, kind: RecordKind, message: String, bytes: &[u8], place: FieldPlace<'_>) {
        let p = self.at.field_problem(kind, message, bytes, place);
        self.problems.push(p);
    }

    /// Fields phase: a data field's indicators and subfield codes. Returns the field's strings
    /// (a control field's data is one).
    fn field_structure<'f>(&mut self, f: &RawField<'f>, n: usize) -> Strings<'f> {
        let mut strings: Strings<'f> = Vec::new();
        if f.is_control() {
            strings.push((None, 0, f.data));
            return strings;
        }
        let place = |subfield: Option<char>, field_offset: usize| FieldPlace {
            tag: &f.tag,
            occurrence: n,
            subfield,
            offset: None,
            field_offset: Some(field_offset),
        };
        if f.data.len() < 2 {
            self.report(
                RecordKind::BadIndicator,
                format!(
                    "a data field of {} bytes has no room for two indicators",
                    f.data.len()
                ),
                f.data,
                place(None, 0),
            );
        }
        for (k, &b) in f.data.iter().take(2).enumerate() {
            if !good_indicator(b) {
                self.report(
                    RecordKind::BadIndicator,
                    format!(
                        "indicator {} is {}: it must be a digit, a lowercase letter or a blank",
                        k + 1,
                        show(b)
                    ),
                    &[b],
                    place(None, k),
                );
            }
        }
        walk_data_field(f.data, |part| match part {
            Part::Lead { pos, bytes } => {
                self.report(
                    RecordKind::DataOutsideSubfield,
                    format!(
                        "{} bytes after the indicators come before the first subfield delimiter",
                        bytes.len()
                    ),
                    &bytes[..bytes.len().min(16)],
                    place(None, pos),
                );
                strings.push((None, pos, bytes));
            }
            Part::Bare { pos } => self.report(
                RecordKind::BadSubfieldCode,
                "a subfield delimiter (1F) with no code after it".to_owned(),
                &[SD],
                place(None, pos),
            ),
            Part::Subfield {
                code,
                field_offset,
                bytes,
            } => {
                if !good_code(code) {
                    self.report(
                        RecordKind::BadSubfieldCode,
                        format!(
                            "subfield code {}: it must be a lowercase letter or a digit",
                            show(code)
                        ),
                        &[code],
                        place(Some(char::from(code)), field_offset - 1),
                    );
                }
                strings.push((Some(char::from(code)), field_offset, bytes));
            }
        });
        strings
    }

    /// NCR phase: every numeric character reference in a string (informational), or a control
    /// character it refers to (an error). `place(offset in s, offset in s)` positions a problem.
    fn ncrs<'t>(&mut self, s: &[u8], place: &dyn Fn(usize, usize) -> FieldPlace<'t>) {
        let mut i = 0;
        while let Some(p) = s[i..].iter().position(|&b| b == b'&') {
            let k = i + p;
            let Some(len) = ncr_at(s, k) else {
                i = k + 1;
                continue;
            };
            i = k + len;
            let text = &s[k..k + len];
            let cp = std::str::from_utf8(&text[3..len - 1])
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32);
            if cp.is_some_and(crate::problem::is_forbidden_ncr_target) {
                // A reference to a control (`&#x001F;`): an error, not information. Loading
                // with NCR expansion keeps it as text.
                let cp = cp.map_or(0, u32::from);
                self.report(
                    RecordKind::ControlCharacter,
                    format!(
                        "{} refers to control character U+{cp:04X}, which MARC field data \
                         cannot hold (NCR expansion keeps it as text)",
                        String::from_utf8_lossy(text)
                    ),
                    text,
                    place(k, k),
                );
                continue;
            }
            let shown = match cp {
                Some(c) => crate::problem::char_shown(c),
                None => "not a Unicode character".to_owned(),
            };
            self.report(
                RecordKind::NcrPresent,
                format!(
                    "numeric character reference {} ({shown}): LC's lossless form of a \
                     character MARC-8 lacks",
                    String::from_utf8_lossy(text)
                ),
                text,
                place(k, k),
            );
        }
    }

    /// Encoding phase: in a MARC-8 record, the sets a string designates (for 066); in a UTF-8
    /// record checked for export, every character MARC-8 lacks.
    fn encoding<'t>(
        &mut self,
        tag: [u8; 3],
        s: &[u8],
        place: &dyn Fn(usize, usize) -> FieldPlace<'t>,
    ) {
        if self.marc8 {
            let before = self.sets.used.len();
            designations(s, &mut self.sets.used);
            for &u in &self.sets.used[before..] {
                self.sets.first_use.push((u, tag));
            }
            return;
        }
        if !self.opts.for_export || s.is_ascii() {
            return;
        }
        let Ok(text) = std::str::from_utf8(s) else {
            return; // invalid_utf8, reported by the decoding pass
        };
        let export = EncodeOptions {
            errors: EncodeErrors::Lossless,
        };
        let (_, found) = encode_report(text, &export);
        let mut chars = text.char_indices().enumerate();
        for q in found {
            if q.kind == ProblemKind::ControlCharacter {
                continue; // reported by the decoding pass, export or not
            }
            let byte = chars
                .find(|(ci, _)| *ci == q.offset)
                .map_or(0, |(_, (b, _))| b);
            // `unmappable`, or `mark_without_base` for a mark MARC-8 cannot place
            self.report(q.kind.into(), q.message(), &q.bytes, place(q.offset, byte));
        }
    }

    /// 066 phase (MARC-8 records): the sets listed against the sets designated.
    fn field_066(&mut self) {
        if self.marc8 {
            let Sets {
                used,
                first_use,
                listed,
            } = &self.sets;
            check_066(&self.at, used, first_use, listed.as_deref(), self.problems);
        }
    }

    /// Decoding phase: the record layer's conversion to UTF-8, into a scratch buffer; its
    /// problems of structure are left out (checked above, straight from the bytes).
    fn decoding(&mut self, raw: &[u8], parsed: &Parsed<'_>, chk: &mut Checker) {
        chk.out.clear();
        chk.decoded.clear();
        let job = Job {
            opts: &RecordOptions::new(Target::Utf8),
            keep: None,
            at: Place::new(self.at.number, self.at.offset),
        };
        transcode_parsed(
            raw,
            Ok(parsed.clone()),
            &job,
            &mut chk.scratch,
            &mut chk.out,
            &mut chk.decoded,
        );
        self.problems.extend(chk.decoded.drain(..).filter(|p| {
            !matches!(
                p.kind,
                RecordKind::BadLeader
                    | RecordKind::BadDirectory
                    | RecordKind::BadTag
                    | RecordKind::BadIndicator
                    | RecordKind::BadSubfieldCode
            )
        }));
    }
}

/// Record-level problems first, then by field and position.
fn order_problems(parsed: &Parsed<'_>, problems: &mut [RecordProblem]) {
    let order = |p: &RecordProblem| -> (usize, usize) {
        let Some(tag) = &p.tag else { return (0, 0) };
        let mut seen = 0;
        let idx = parsed
            .fields
            .iter()
            .position(|f| {
                if f.tag.as_slice() == tag.as_bytes() {
                    seen += 1;
                }
                Some(seen) == p.occurrence && f.tag.as_slice() == tag.as_bytes()
            })
            .map_or(usize::MAX, |i| i + 1);
        (idx, p.field_offset.unwrap_or(0))
    };
    if problems.len() > 1 {
        problems.sort_by_cached_key(order);
    }
}

pub(super) fn check_066(
    at: &At<'_>,
    used: &[u8],
    first_use: &[(u8, [u8; 3])],
    listed: Option<&[(char, Vec<u8>)]>,
    problems: &mut Vec<RecordProblem>,
) {
    let Some(listed) = listed else {
        if !used.is_empty() {
            let names: Vec<String> = first_use
                .iter()
                .map(|(f, tag)| format!("{} in {}", set_name(*f), String::from_utf8_lossy(tag)))
                .collect();
            problems.push(at.problem(
                RecordKind::Bad066,
                format!(
                    "no 066 field, but the record designates {}",
                    names.join(", ")
                ),
                used,
            ));
        }
        return;
    };
    let mut sets: Vec<u8> = Vec::new();
    for (code, value) in listed {
        let v = value.trim_ascii();
        let Some(&f) = v.last() else { continue };
        if listed_set(f) {
            sets.push(f);
        } else if !matches!(f, b'B' | b'E' | b'g' | b'b' | b'p' | b's') {
            problems.push(at.field_problem(
                RecordKind::Bad066,
                format!("066 ${code} {} names no MARC-8 set", show_bytes(value)),
                value,
                FieldPlace {
                    tag: b"066",
                    occurrence: 1,
                    subfield: Some(*code),
                    offset: None,
                    field_offset: None,
                },
            ));
        }
    }
    for (f, tag) in first_use {
        if !sets.contains(f) {
            problems.push(at.field_problem(
                RecordKind::Bad066,
                format!(
                    "066 does not list {}, which field {} designates",
                    set_name(*f),
                    String::from_utf8_lossy(tag)
                ),
                &[*f],
                FieldPlace {
                    tag: b"066",
                    occurrence: 1,
                    subfield: None,
                    offset: None,
                    field_offset: None,
                },
            ));
        }
    }
    for (code, value) in listed {
        let v = value.trim_ascii();
        if let Some(&f) = v.last() {
            if listed_set(f) && !used.contains(&f) {
                problems.push(at.field_problem(
                    RecordKind::Bad066,
                    format!(
                        "066 ${code} {} lists {}, which no field designates",
                        show_bytes(value),
                        set_name(f)
                    ),
                    value,
                    FieldPlace {
                        tag: b"066",
                        occurrence: 1,
                        subfield: Some(*code),
                        offset: None,
                        field_offset: None,
                    },
                ));
            }
        }
    }
}
