//! Transcoding a parsed record between MARC-8 and UTF-8, field by field, with field 066
//! rebuilt and every problem placed.

use super::*;

/// The escape sequences of non-default sets a MARC-8 string designates, as 066 `$c` values
/// (`$1`, `(N`, `)Q`, …), in the fixed order of [`SETS_066`].
pub(super) fn sets_used(marc8: &[u8], used: &mut [bool; SETS_066.len()]) {
    if !marc8.contains(&0x1B) {
        return; // a memchr: the common case costs one fast scan
    }
    let mut i = 0;
    while let Some(p) = marc8[i..].iter().position(|&b| b == 0x1B) {
        let esc = &marc8[i + p + 1..];
        for (k, seq) in SETS_066.iter().enumerate() {
            if esc.starts_with(seq.as_bytes()) {
                used[k] = true;
            }
        }
        i += p + 1;
    }
}

/// 066 `$c` values for the sets the encoder designates, in the order they are listed.
pub(crate) const SETS_066: [&str; 7] = ["$1", "(N", ")Q", "(2", "(3", ")4", "(S"];

/// Where a string of a record came from, to position its problems.
pub(crate) struct Site<'a> {
    pub(crate) record: usize,
    pub(crate) offset: u64,
    pub(crate) control_number: &'a Option<String>,
    pub(crate) tag: &'a [u8; 3],
    pub(crate) occurrence: Occurrence<'a>,
    pub(crate) subfield: Option<char>,
    /// Offset of the string's first byte inside the field data.
    pub(crate) field_offset: usize,
}

/// Which occurrence of its tag a field is: known, or counted only when a problem needs it
/// (issue 22: counting for every field converted was a fortieth of converting a record).
#[derive(Clone, Copy)]
pub(crate) enum Occurrence<'a> {
    Known(usize),
    /// The field at `index` of `fields` (every earlier field of its tag counts).
    Among(&'a [RawField<'a>], usize),
}

impl Occurrence<'_> {
    pub(crate) fn get(self) -> usize {
        match self {
            Occurrence::Known(n) => n,
            Occurrence::Among(fields, i) => {
                let tag = fields[i].tag;
                fields[..=i].iter().filter(|g| g.tag == tag).count()
            }
        }
    }
}

impl Site<'_> {
    fn problem(&self, p: Problem, bytes_offsets: bool) -> RecordProblem {
        let mut r = RecordProblem::new(self.record, self.offset, p.kind.into(), p.action.into());
        r.control_number.clone_from(self.control_number);
        r.tag = Some(String::from_utf8_lossy(self.tag).into_owned());
        r.occurrence = Some(self.occurrence.get());
        r.subfield = self.subfield;
        r.offset = Some(p.offset);
        r.field_offset = bytes_offsets.then_some(self.field_offset + p.offset);
        r.message = p.message();
        r.bytes = p.bytes;
        r
    }
}

/// Converts one string of a record (a subfield's data or a control field's data).
pub(super) struct Converter<'o> {
    opts: &'o RecordOptions,
    /// The source is MARC-8 (else UTF-8).
    from_marc8: bool,
    text: String,
    raw_problems: Vec<Problem>,
    used: [bool; SETS_066.len()],
}

impl Converter<'_> {
    fn convert(
        &mut self,
        src: &[u8],
        site: &Site<'_>,
        out: &mut Vec<u8>,
        problems: &mut Vec<RecordProblem>,
    ) {
        self.text.clear();
        self.raw_problems.clear();
        // Source → text.
        let text: Cow<'_, str> = if self.from_marc8 {
            let opts = DecodeOptions {
                errors: ErrorMode::Replace,
                ..self.opts.decode
            };
            // Cannot fail in replace mode.
            let _ = decode_field_append(src, &opts, &mut self.text, &mut self.raw_problems);
            Cow::Borrowed(self.text.as_str())
        } else {
            match std::str::from_utf8(src) {
                Ok(s) if self.opts.to == Target::Marc8 => Cow::Borrowed(s),
                Ok(s) => {
                    // Going to UTF-8 nothing else would see a control character (going to
                    // MARC-8 the encoder reports it).
                    let controls = has_forbidden_controls(src);
                    let expand = self.opts.decode.expand_ncr && s.contains("&#");
                    let t = if controls || expand {
                        self.utf8_text(s, expand);
                        Cow::Owned(std::mem::take(&mut self.text))
                    } else {
                        Cow::Borrowed(s)
                    };
                    match self.opts.decode.normalize {
                        Normalization::None => t,
                        form => Cow::Owned(normalize(t.into_owned(), form)),
                    }
                }
                Err(_) => Cow::Owned(self.invalid_utf8(src)),
            }
        };
        for p in self.raw_problems.drain(..) {
            problems.push(site.problem(p, true));
        }
        // Text → target.
        match self.opts.to {
            Target::Utf8 => out.extend_from_slice(text.as_bytes()),
            Target::Marc8 => {
                // (Strict reports every character as lossless mode does: the field goes on.)
                let start = out.len();
                encode_field_append(&text, &self.opts.encode, out, &mut self.raw_problems);
                sets_used(&out[start..], &mut self.used);
                for p in self.raw_problems.drain(..) {
                    problems.push(site.problem(p, false));
                }
            }
        }
    }

    /// Valid UTF-8 text into `self.text`: each control character MARC forbids becomes U+FFFD
    /// (reported with its byte offset), and with `expand` LC's references are expanded (those
    /// to controls kept as text and reported, like every malformed one). The text is read as
    /// Unicode: its bytes are never decoded as MARC-8.
    fn utf8_text(&mut self, s: &str, expand: bool) {
        let mut ncr = NcrFilter::default();
        let dst = &mut self.text;
        for (i, c) in s.char_indices() {
            let c = if is_forbidden_control(c) {
                let mut utf8 = [0u8; 4];
                self.raw_problems.push(Problem {
                    kind: ProblemKind::ControlCharacter,
                    offset: i,
                    len: c.len_utf8(),
                    bytes: c.encode_utf8(&mut utf8).as_bytes().to_vec(),
                    g0: crate::Charset::Ascii,
                    g1: crate::Charset::Ansel,
                    ch: None,
                    action: Action::Replaced,
                });
                '\u{FFFD}'
            } else {
                c
            };
            if expand {
                if let Some(p) = ncr.push(c, i, c.len_utf8(), dst) {
                    self.raw_problems.push(p);
                }
            } else {
                dst.push(c);
            }
        }
        if let Some(p) = ncr.flush(dst) {
            self.raw_problems.push(p);
        }
        // Problems in input order (a partial reference is reported where it ends).
        self.raw_problems.sort_by_key(|p| p.offset);
    }

    /// Invalid UTF-8: each bad sequence becomes U+FFFD and a problem with its byte offset.
    fn invalid_utf8(&mut self, src: &[u8]) -> String {
        let mut text = String::with_capacity(src.len());
        let mut pos = 0;
        for chunk in src.utf8_chunks() {
            text.push_str(chunk.valid());
            pos += chunk.valid().len();
            let bad = chunk.invalid();
            if !bad.is_empty() {
                text.push('\u{FFFD}');
                self.raw_problems.push(Problem {
                    kind: ProblemKind::InvalidUtf8,
                    offset: pos,
                    len: bad.len(),
                    bytes: bad.to_vec(),
                    g0: crate::Charset::Ascii,
                    g1: crate::Charset::Ansel,
                    ch: None,
                    action: Action::Replaced,
                });
                pos += bad.len();
            }
        }
        text
    }
}

/// True if valid UTF-8 `b` holds a control character MARC forbids
/// ([`crate::problem::is_forbidden_control`]): a byte below 0x1D (ESC included), DEL, or a C1
/// control U+0080–U+009F other than U+0098/U+009C (`C2 80`–`C2 9F`).
pub(crate) fn has_forbidden_controls(b: &[u8]) -> bool {
    // A branch-free pass first (most data has none of these bytes), then the exact check.
    let suspect = b.chunks(32).any(|c| {
        c.iter()
            .fold(false, |a, &x| a | (x < 0x1D) | (x == 0x7F) | (x == 0xC2))
    });
    suspect
        && b.iter().enumerate().any(|(i, &x)| {
            x < 0x1D
                || x == 0x7F
                || (x == 0xC2
                    && b.get(i + 1)
                        .is_some_and(|&n| (0x80..=0x9F).contains(&n) && n != 0x98 && n != 0x9C))
        })
}

/// The substitute written for a tag, indicator or subfield-code byte that is not ASCII: the fill
/// character, valid in both encodings and read by catalogers as "not coded".
pub(super) const STRUCTURAL_FILL: u8 = b'|';

/// True if the indicators and subfield codes of a data field are ASCII (copying the field as it
/// is then writes no non-ASCII structural byte).
pub(super) fn structural_bytes_ascii(f: &RawField<'_>) -> bool {
    f.is_control()
        || (f.data[..f.data.len().min(2)].is_ascii()
            && !f.data.windows(2).any(|w| w[0] == SD && w[1] >= 0x80))
}

/// A non-ASCII structural byte: the problem (kind `bad_tag`, `bad_indicator` or
/// `bad_subfield_code`, action `replaced`).
pub(super) fn structural_problem(
    site: &Site<'_>,
    kind: RecordKind,
    what: &str,
    bytes: &[u8],
) -> RecordProblem {
    let mut p = RecordProblem::new(site.record, site.offset, kind, RecordAction::Replaced);
    p.control_number.clone_from(site.control_number);
    p.tag = Some(String::from_utf8_lossy(site.tag).into_owned());
    p.occurrence = Some(site.occurrence.get());
    p.message = format!(
        "{what} {} is not ASCII: written as '{}' (the fill character) so that the record stays \
         valid in its encoding",
        crate::hex_bytes(bytes),
        char::from(STRUCTURAL_FILL)
    );
    p.bytes = bytes.to_vec();
    p
}

/// The result of converting one record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Converted {
    /// The converted record, or `None` if it was rejected.
    pub record: Option<Vec<u8>>,
    /// Its problems.
    pub problems: Vec<RecordProblem>,
}

/// Converts one ISO 2709 record. `number` (from 1) and `offset` locate it in its file for the
/// problems.
///
/// ```
/// use marc8::record::{parse, transcode_record, write_record, RecordOptions, Target};
///
/// let mut raw = Vec::new();
/// write_record(b"00000nam  2200000   4500", &[(*b"245", &b"10\x1FaCaf\xE2e"[..])], &mut raw)
///     .unwrap();
/// let done = transcode_record(&raw, &RecordOptions::new(Target::Utf8), 1, 0);
/// let utf8 = done.record.unwrap();
/// let rec = parse(&utf8).unwrap();
/// assert_eq!(rec.leader[9], b'a'); // leader/09 says UTF-8 now
/// assert_eq!(rec.fields[0].data, "10\u{1F}aCafe\u{301}".as_bytes());
/// assert!(done.problems.is_empty());
/// ```
#[must_use]
pub fn transcode_record(raw: &[u8], opts: &RecordOptions, number: usize, offset: u64) -> Converted {
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 4);
    let ok = transcode_into(raw, opts, number, offset, &mut out, &mut problems);
    Converted {
        record: ok.then_some(out),
        problems,
    }
}

/// Converts one record, appending it to `out`; returns false (and appends nothing) if the
/// record is rejected. Problems are appended to `problems`.
pub fn transcode_into(
    raw: &[u8],
    opts: &RecordOptions,
    number: usize,
    offset: u64,
    out: &mut Vec<u8>,
    problems: &mut Vec<RecordProblem>,
) -> bool {
    transcode_with(
        raw,
        opts,
        number,
        offset,
        &mut Scratch::default(),
        out,
        problems,
    )
}

/// Buffers reused from one record to the next, so that converting a record allocates little.
#[derive(Debug, Default)]
pub struct Scratch {
    data: Vec<u8>,
    text: String,
    raw_problems: Vec<Problem>,
}

/// Where a converted field's data is.
#[derive(Clone, Copy)]
pub(crate) enum Piece<'a> {
    Source(&'a [u8]),
    Scratch(usize, usize),
}

/// What [`begin`] learnt of a record before its fields are converted: its fields, its 001 and
/// its source encoding. Shared by [`transcode_with`] and the record model
/// ([`crate::model::Record::from_iso2709`]), so both report the same problems.
pub(crate) struct Begun<'a> {
    pub(crate) parsed: Parsed<'a>,
    pub(crate) control_number: Option<String>,
    /// The source is read as MARC-8 (else UTF-8).
    pub(crate) from_marc8: bool,
    /// Every field's data is bytes that convert as they are ([`crate::is_verbatim`] with NCRs
    /// in mind: graphic ASCII, SPACE, 1D-1F, no `&`): the same in both encodings, nothing to
    /// report. Found by one scan over the record's data (issue 22).
    pub(crate) verbatim: bool,
    /// Where in `raw` that scan stopped: every field whose data ends there or before converts
    /// as it is (the whole record's length when `verbatim`).
    pub(crate) clean: usize,
}

/// The bytes from the first field's data to the last one's (the field terminators between
/// them included): every field's data is a slice of `raw`, and of this span.
fn fields_span<'a>(raw: &'a [u8], fields: &[RawField<'_>]) -> &'a [u8] {
    let base = raw.as_ptr() as usize;
    let (mut from, mut to) = (raw.len(), 0);
    for f in fields {
        let start = (f.data.as_ptr() as usize).wrapping_sub(base);
        if start > raw.len() || f.data.len() > raw.len() - start {
            return raw; // not a slice of raw (cannot happen): the whole record, still a cover
        }
        from = from.min(start);
        to = to.max(start + f.data.len());
    }
    raw.get(from..to).unwrap_or_default()
}

/// A 001's data as the text problems carry: read as UTF-8 (a bad sequence replaced), white
/// space trimmed. Valid data, nearly every 001, skips the lossy reader's chunking (issue 22).
fn control_number_text(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(s) => s.trim().to_owned(),
        Err(_) => String::from_utf8_lossy(data).trim().to_owned(),
    }
}

/// Parses a record and decides its source encoding (leader/09 checked against the data, `trust`
/// deciding when they disagree). Problems (a directory recovered, a mislabelling, or why the
/// record cannot be parsed, then `None`) are appended to `problems`.
pub(crate) fn begin<'a>(
    raw: &'a [u8],
    trust: Trust,
    number: usize,
    offset: u64,
    problems: &mut Vec<RecordProblem>,
) -> Option<Begun<'a>> {
    begin_parsed(raw, parse(raw), trust, number, offset, problems)
}

/// [`begin`] with the record already parsed.
pub(super) fn begin_parsed<'a>(
    raw: &'a [u8],
    parsed: Result<Parsed<'a>, ParseError>,
    trust: Trust,
    number: usize,
    offset: u64,
    problems: &mut Vec<RecordProblem>,
) -> Option<Begun<'a>> {
    let parsed = match parsed {
        Ok(p) => p,
        Err(ParseError { kind, message }) => {
            let mut p = RecordProblem::new(number, offset, kind, RecordAction::Rejected);
            p.message = message;
            p.bytes = raw[..raw.len().min(24)].to_vec();
            problems.push(p);
            return None;
        }
    };
    let control_number = parsed
        .fields
        .iter()
        .find(|f| &f.tag == b"001")
        .map(|f| control_number_text(f.data));
    let with_context = |mut p: RecordProblem| {
        p.control_number.clone_from(&control_number);
        p
    };
    if parsed.recovered {
        let mut p = RecordProblem::new(
            number,
            offset,
            RecordKind::BadDirectory,
            RecordAction::Recovered,
        );
        p.message = format!(
            "the directory (base address {:?}) does not match the fields; they were taken from \
             their terminators",
            String::from_utf8_lossy(&parsed.leader[12..17])
        );
        problems.push(with_context(p));
    }

    // The source encoding: leader/09, checked against the data.
    let says_utf8 = parsed.leader[9] == b'a';
    // One scan over the record's data decides the common case (no byte above 0x7E, no
    // control but 1D-1F, no `&`): then every field is plain ASCII without ESC, which is what
    // `classify` calls ASCII, and the conversion copies every field as it is.
    let span = fields_span(raw, &parsed.fields);
    let prefix = crate::ascii::copyable_prefix::<true>(span);
    let verbatim = prefix == span.len();
    let clean = if verbatim {
        raw.len()
    } else {
        offset_in(raw, span) + prefix
    };
    let looks = if verbatim {
        Looks::Ascii
    } else {
        let plain_fields = parsed
            .fields
            .iter()
            .take_while(|f| offset_in(raw, f.data) + f.data.len() <= clean)
            .count();
        let scanned = Scanned {
            // The span's plain prefix has no high byte: the rest holds all of them.
            span: Some(&span[prefix..]),
            plain_fields,
            no_esc: memchr::memchr(0x1B, span).is_none(),
        };
        classify_esc(&parsed.fields, &scanned)
    };
    // The same weighing whatever leader/09 says (issue 18): damaged UTF-8 under a blank
    // leader/09 is UTF-8 as much as under `a`.
    let mislabelled = matches!(
        (says_utf8, looks),
        (false, Looks::Utf8 | Looks::MostlyUtf8) | (true, Looks::NotUtf8)
    );
    // Trusting the data, a record that looks UTF-8 is read as UTF-8 and vice versa.
    let from_marc8 = if mislabelled && trust == Trust::Data {
        looks == Looks::NotUtf8
    } else {
        !says_utf8
    };
    if mislabelled {
        let mut p = RecordProblem::new(
            number,
            offset,
            RecordKind::Mislabelled,
            if trust == Trust::Data {
                RecordAction::TrustedData
            } else {
                RecordAction::TrustedLeader
            },
        );
        p.message = if says_utf8
            && parsed
                .fields
                .iter()
                .all(|f| std::str::from_utf8(f.data).is_ok())
        {
            "leader/09 says UTF-8 but the data has MARC-8 escape sequences".to_owned()
        } else if says_utf8 {
            "leader/09 says UTF-8 but the data is mostly not valid UTF-8 (MARC-8?)".to_owned()
        } else if looks == Looks::MostlyUtf8 {
            "leader/09 says MARC-8 but the data is UTF-8 (with invalid sequences, no MARC-8 \
             escapes)"
                .to_owned()
        } else {
            "leader/09 says MARC-8 but the data is valid UTF-8".to_owned()
        };
        p.bytes = vec![parsed.leader[9]];
        problems.push(with_context(p));
    }
    Some(Begun {
        parsed,
        control_number,
        from_marc8,
        verbatim,
        clean,
    })
}

/// One piece of a data field's bytes (after its indicators), as the record layer walks it.
pub(crate) enum Part<'a> {
    /// Bytes before the first subfield delimiter (none in a valid record), at `pos` in the field.
    Lead { pos: usize, bytes: &'a [u8] },
    /// A delimiter with nothing after it, at `pos` in the field.
    Bare { pos: usize },
    /// A subfield: its code, the offset of its data in the field, its data.
    Subfield {
        code: u8,
        field_offset: usize,
        bytes: &'a [u8],
    },
}

/// A data field's indicators: its first two bytes (fewer if the field is shorter).
pub(crate) fn indicators(data: &[u8]) -> &[u8] {
    &data[..data.len().min(2)]
}

/// Walks a data field's bytes after its [`indicators`], calling `each` on every piece in order.
/// The delimiters are found with `memchr` (issue 22: a byte-by-byte split was a fifteenth of
/// converting LC's non-ASCII records).
pub(crate) fn walk_data_field<'a>(data: &'a [u8], mut each: impl FnMut(Part<'a>)) {
    let ind = data.len().min(2);
    let body = &data[ind..];
    let mut delims = memchr::memchr_iter(SD, body);
    let first = delims.next();
    let lead = &body[..first.unwrap_or(body.len())];
    if !lead.is_empty() {
        each(Part::Lead {
            pos: ind,
            bytes: lead,
        });
    }
    let mut at = first;
    while let Some(d) = at {
        let next = delims.next();
        let part = &body[d + 1..next.unwrap_or(body.len())];
        match part.split_first() {
            None => each(Part::Bare { pos: ind + d }),
            Some((&code, bytes)) => each(Part::Subfield {
                code,
                field_offset: ind + d + 2,
                bytes,
            }),
        }
        at = next;
    }
}

/// [`transcode_into`] with buffers kept across calls.
pub fn transcode_with(
    raw: &[u8],
    opts: &RecordOptions,
    number: usize,
    offset: u64,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
    problems: &mut Vec<RecordProblem>,
) -> bool {
    let job = Job {
        opts,
        keep: None,
        at: Place::new(number, offset),
    };
    transcode_parsed(raw, parse(raw), &job, scratch, out, problems)
}

/// Which fields of a record are converted: those whose tag it accepts (the others are left out,
/// as if the record did not have them).
pub(crate) type Keep<'k> = Option<&'k dyn Fn(&[u8; 3]) -> bool>;

/// What converting one record needs besides its bytes and the buffers: the options, which
/// fields are kept, and where the record is.
pub(crate) struct Job<'j> {
    pub(crate) opts: &'j RecordOptions,
    pub(crate) keep: Keep<'j>,
    pub(crate) at: Place,
}

/// [`transcode_with`] with the record already parsed (validation reads its layout once for
/// its own checks and for the conversion), converting only the fields `job.keep` accepts (all
/// if `None`).
pub(crate) fn transcode_parsed<'a>(
    raw: &'a [u8],
    parsed: Result<Parsed<'a>, ParseError>,
    job: &Job<'_>,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
    problems: &mut Vec<RecordProblem>,
) -> bool {
    let Job { opts, keep, at } = *job;
    let Place { number, offset } = at;
    let first_problem = problems.len();
    let Some(Begun {
        parsed,
        control_number,
        from_marc8,
        verbatim,
        clean,
    }) = begin_parsed(raw, parsed, opts.trust, number, offset, problems)
    else {
        return false;
    };
    if verbatim
        && keep.is_none()
        && copy_as_is(raw, &parsed, opts, at, &control_number, out, problems)
    {
        return true;
    }

    let mut conv = Converter {
        opts,
        from_marc8,
        text: std::mem::take(&mut scratch.text),
        raw_problems: std::mem::take(&mut scratch.raw_problems),
        used: [false; SETS_066.len()],
    };
    let mut fields: Vec<([u8; 3], Piece<'_>)> = Vec::with_capacity(parsed.fields.len() + 1);
    let data = &mut scratch.data;
    data.clear();
    for (i, f) in parsed.fields.iter().enumerate() {
        if keep.is_some_and(|k| !k(&f.tag)) || &f.tag == b"066" {
            continue; // 066 dropped; rebuilt below for MARC-8
        }
        // A field before the first byte the record's scan stopped at is known to be plain.
        let copied = verbatim
            || offset_in(raw, f.data) + f.data.len() <= clean
            || unchanged(f, opts, from_marc8);
        if copied && f.tag.is_ascii() {
            // Nothing to report of it: no site needed (issue 22).
            copy_source(f, f.tag, opts, from_marc8, &mut conv.used, &mut fields);
            continue;
        }
        let mut site = Site {
            record: number,
            offset,
            control_number: &control_number,
            tag: &f.tag,
            // Every earlier field of the same tag was kept too (`keep` judges by the tag alone).
            occurrence: Occurrence::Among(&parsed.fields, i),
            subfield: None,
            field_offset: 0,
        };
        let tag = ascii_tag(f, &site, problems);
        if copied {
            copy_source(f, tag, opts, from_marc8, &mut conv.used, &mut fields);
            continue;
        }
        let field_start = data.len();
        if f.is_control() {
            conv.convert(f.data, &site, data, problems);
        } else {
            conv.data_field(f.data, &mut site, data, problems);
        }
        fields.push((tag, Piece::Scratch(field_start, data.len())));
    }
    scratch.text = std::mem::take(&mut conv.text);
    scratch.raw_problems = std::mem::take(&mut conv.raw_problems);
    let end = Ending {
        leader: parsed.leader,
        used: conv.used,
        opts,
        at,
        control_number: &control_number,
        first_problem,
        source: raw,
    };
    finish(&end, fields, data, out, problems)
}

/// A field's data copied as it stands, under `tag` (its own, or with a non-ASCII byte replaced).
fn copy_source<'a>(
    f: &RawField<'a>,
    tag: [u8; 3],
    opts: &RecordOptions,
    from_marc8: bool,
    used: &mut [bool; SETS_066.len()],
    fields: &mut Vec<([u8; 3], Piece<'a>)>,
) {
    if opts.to == Target::Marc8 && from_marc8 {
        // Copied MARC-8 still counts for the 066 rebuilt below (text copied from UTF-8 has no
        // escapes).
        sets_used(f.data, used);
    }
    fields.push((tag, Piece::Source(f.data)));
}

/// The tag of a field, a byte that is not ASCII (invalid UTF-8, and no tag in MARC-8) replaced
/// and reported.
fn ascii_tag(f: &RawField<'_>, site: &Site<'_>, problems: &mut Vec<RecordProblem>) -> [u8; 3] {
    let mut tag = f.tag;
    if !tag.is_ascii() {
        problems.push(structural_problem(site, RecordKind::BadTag, "tag", &f.tag));
        for b in &mut tag {
            if *b >= 0x80 {
                *b = STRUCTURAL_FILL;
            }
        }
    }
    tag
}

/// Nothing to change in a field: plain ASCII (no ESC or other control, no `&` that could start
/// an NCR) is the same in both encodings; MARC-8 to MARC-8 is copied; valid UTF-8 to UTF-8 too
/// unless it is to be normalized or have its NCRs expanded or holds a control character. Never
/// a non-ASCII indicator or subfield code.
fn unchanged(f: &RawField<'_>, opts: &RecordOptions, from_marc8: bool) -> bool {
    let same = from_marc8 == (opts.to == Target::Marc8);
    crate::is_verbatim(f.data, true)
        || (same && structural_bytes_ascii(f) && from_marc8)
        || (same
            && opts.decode.normalize == Normalization::None
            && !opts.decode.expand_ncr
            && std::str::from_utf8(f.data).is_ok()
            && !has_forbidden_controls(f.data)
            && structural_bytes_ascii(f))
}

impl Converter<'_> {
    /// Converts a data field's bytes into `data`: indicators (a non-ASCII one replaced and
    /// reported), then every subfield from the default sets.
    fn data_field(
        &mut self,
        field: &[u8],
        site: &mut Site<'_>,
        data: &mut Vec<u8>,
        problems: &mut Vec<RecordProblem>,
    ) {
        for (k, &b) in indicators(field).iter().enumerate() {
            if b >= 0x80 {
                let mut p = structural_problem(site, RecordKind::BadIndicator, "indicator", &[b]);
                p.field_offset = Some(k);
                problems.push(p);
                data.push(STRUCTURAL_FILL);
            } else {
                data.push(b);
            }
        }
        walk_data_field(field, |part| match part {
            Part::Lead { pos, bytes } => {
                // Data before the first delimiter (none in valid records): converted as is.
                site.subfield = None;
                site.field_offset = pos;
                self.convert(bytes, site, data, problems);
            }
            Part::Bare { .. } => data.push(SD),
            Part::Subfield {
                code,
                field_offset,
                bytes,
            } => {
                data.push(SD);
                let code = if code >= 0x80 {
                    site.subfield = None;
                    let mut p = structural_problem(
                        site,
                        RecordKind::BadSubfieldCode,
                        "subfield code",
                        &[code],
                    );
                    p.field_offset = Some(field_offset - 1);
                    problems.push(p);
                    STRUCTURAL_FILL
                } else {
                    code
                };
                data.push(code);
                // Bytes that are the same in both encodings (graphic ASCII, no ESC or other
                // control, no `&`) convert to themselves with nothing to report, whatever the
                // direction and options: copied, as whole fields are (issue 22).
                if crate::is_verbatim(bytes, true) {
                    data.extend_from_slice(bytes);
                    return;
                }
                site.subfield = Some(char::from(code));
                site.field_offset = field_offset;
                self.convert(bytes, site, data, problems);
            }
        });
    }
}

/// The string converter of the record layer, for the record model: converts subfields and
/// control fields between the source and `opts.to` exactly as [`transcode_with`] does (same
/// problems, same positions) and remembers the MARC-8 sets it designated, for 066.
pub(crate) struct Strings<'o>(Converter<'o>);

impl<'o> Strings<'o> {
    pub(crate) fn new(opts: &'o RecordOptions, from_marc8: bool) -> Self {
        Strings(Converter {
            opts,
            from_marc8,
            text: String::new(),
            raw_problems: Vec::new(),
            used: [false; SETS_066.len()],
        })
    }

    /// Converts one string, appending the result to `out` and its problems to `problems`.
    pub(crate) fn convert(
        &mut self,
        src: &[u8],
        site: &Site<'_>,
        out: &mut Vec<u8>,
        problems: &mut Vec<RecordProblem>,
    ) {
        self.0.convert(src, site, out, problems);
    }

    /// The MARC-8 sets designated so far, in the order of 066.
    pub(crate) fn used(&self) -> [bool; SETS_066.len()] {
        self.0.used
    }
}
