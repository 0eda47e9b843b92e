//! Records as values: a leader and fields of Unicode text, independent of any serialization.
//!
//! This is the one in-memory form of a MARC record that the rest of the project (the Python
//! `Record`, MARCXML, MARC-in-JSON, the flows) works on. ISO 2709 bytes in either encoding are
//! parsed into it by the record layer ([`crate::record`]), converting MARC-8 to Unicode with the
//! decoder; it is written back to ISO 2709 (UTF-8 or MARC-8, lengths recomputed in bytes, 066
//! rebuilt), to MARCXML or to MARC-in-JSON.
//!
//! Text is always Unicode here; the encoding of a record is chosen only when it is written.

/// One subfield: its code and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subfield {
    /// The subfield code (one character, normally `a`–`z` or `0`–`9`).
    pub code: char,
    /// The text.
    pub value: String,
}

/// What a field holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldData {
    /// A control field (tags `001`–`009`): text, no indicators, no subfields.
    Control(String),
    /// A data field: two indicators and subfields.
    Data {
        /// First indicator.
        ind1: char,
        /// Second indicator.
        ind2: char,
        /// The subfields, in order.
        subfields: Vec<Subfield>,
    },
}

/// One field: a three-character tag and its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The tag (three characters).
    pub tag: String,
    /// Control text or indicators and subfields.
    pub data: FieldData,
}

/// A MARC record: a 24-character leader and fields in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The leader, 24 ASCII bytes. Positions 0–4 and 12–16 (lengths) and 09 (encoding) are
    /// recomputed when the record is written.
    pub leader: [u8; 24],
    /// The fields, in order.
    pub fields: Vec<Field>,
}

/// Whether UTF-8 field bytes may hold a control character MARC forbids in data (a C0 control
/// other than the three terminators, DEL, or a C1 control, which UTF-8 writes as C2 80–9F): such
/// a field takes the converting path, which replaces and reports each one. A cheap byte test:
/// other characters written with a C2 lead byte (U+00A0–U+00BF) take that path too.
fn may_hold_forbidden_control(data: &[u8]) -> bool {
    data.iter().any(|&b| b < 0x1D || b == 0x7F || b == 0xC2)
}

/// Whether a tag names a control field (`00` followed by a digit).
#[must_use]
pub fn is_control_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    b.len() == 3 && b[0] == b'0' && b[1] == b'0' && b[2].is_ascii_digit()
}

// ------------------------------------------------------------------------------------------------
// ISO 2709: reading into the model and writing from it, through the record layer

use crate::decoder::{DecodeOptions, ErrorMode, Normalization};
use crate::encoder::{EncodeErrors, EncodeOptions};
use crate::kinds::{RecordAction, RecordKind};
use crate::record::{
    begin, finish, has_forbidden_controls, indicators, occurrence_of, parse, transcode_parsed,
    walk_data_field, Ending, Job, Occurrence, Parsed, Part, Piece, Place, RawField, RecordOptions,
    RecordProblem, Scratch, Site, Strings, Target, Trust, FT, SD,
};

/// Options of reading ISO 2709 into the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Decoding options (MARC-8 → Unicode, and NFC/NFD or NCR expansion of UTF-8). Bad MARC-8 is
    /// always replaced by U+FFFD and reported; `errors` is ignored.
    pub decode: DecodeOptions,
    /// Leader or data, when they disagree about the encoding.
    pub trust: Trust,
}

/// The encoding a record was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceEncoding {
    /// MARC-8.
    Marc8,
    /// UTF-8.
    Utf8,
}

impl SourceEncoding {
    /// `"marc8"` or `"utf8"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SourceEncoding::Marc8 => "marc8",
            SourceEncoding::Utf8 => "utf8",
        }
    }
}

fn to_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

impl Record {
    /// Reads one ISO 2709 record (MARC-8 or UTF-8) into the model, converting every control field
    /// and subfield to Unicode with the record layer: the problems are those
    /// [`crate::record::transcode_record`] reports converting the record to UTF-8 (bad bytes
    /// replaced by U+FFFD, a mislabelled leader/09, a directory recovered from the terminators),
    /// positioned with `number` and `offset`, plus `data_outside_subfield` (action `dropped`) for
    /// bytes of a data field before its first subfield, which the model has no place for.
    ///
    /// Returns `None` (and the problem saying why, action `rejected`) when the record cannot be
    /// parsed at all. Field 066 is kept as it stands; it is dropped or rebuilt when the record is
    /// written.
    pub fn from_iso2709(
        raw: &[u8],
        opts: &ReadOptions,
        number: usize,
        offset: u64,
        problems: &mut Vec<RecordProblem>,
    ) -> Option<(Record, SourceEncoding)> {
        let begun = begin(raw, opts.trust, number, offset, problems)?;
        let rec_opts = RecordOptions {
            to: Target::Utf8,
            decode: DecodeOptions {
                errors: ErrorMode::Replace,
                ..opts.decode
            },
            encode: EncodeOptions::default(),
            trust: opts.trust,
        };
        let mut strings = Strings::new(&rec_opts, begun.from_marc8);
        let mut counts = Vec::new();
        let mut fields = Vec::with_capacity(begun.parsed.fields.len());
        for f in &begun.parsed.fields {
            let occurrence = occurrence_of(&mut counts, f.tag);
            // Plain ASCII (MARC-8) or valid UTF-8 needing no normalization: taken as is.
            let plain = if begun.from_marc8 {
                crate::is_verbatim(f.data, opts.decode.expand_ncr)
            } else {
                opts.decode.normalize == Normalization::None
                    && !(opts.decode.expand_ncr && f.data.contains(&b'&'))
                    && !may_hold_forbidden_control(f.data)
                    && std::str::from_utf8(f.data).is_ok()
            };
            let mut site = Site {
                record: number,
                offset,
                control_number: &begun.control_number,
                tag: &f.tag,
                occurrence: Occurrence::Known(occurrence),
                subfield: None,
                field_offset: 0,
            };
            let mut text = |src: &[u8], site: &Site<'_>, problems: &mut Vec<RecordProblem>| {
                if plain {
                    to_string(src.to_vec())
                } else {
                    let mut out = Vec::with_capacity(src.len() + src.len() / 4);
                    strings.convert(src, site, &mut out, problems);
                    to_string(out)
                }
            };
            let data = if f.is_control() {
                FieldData::Control(text(f.data, &site, problems))
            } else {
                let ind = indicators(f.data);
                let ind1 = ind.first().map_or(' ', |&b| char::from(b));
                let ind2 = ind.get(1).map_or(' ', |&b| char::from(b));
                let mut subfields = Vec::new();
                walk_data_field(f.data, |part| match part {
                    Part::Lead { pos, bytes } => {
                        let mut p = RecordProblem::new(
                            number,
                            offset,
                            RecordKind::DataOutsideSubfield,
                            RecordAction::Dropped,
                        );
                        p.control_number.clone_from(&begun.control_number);
                        p.tag = Some(f.tag_str());
                        p.occurrence = Some(occurrence);
                        p.field_offset = Some(pos);
                        p.bytes = bytes[..bytes.len().min(64)].to_vec();
                        p.message = format!(
                            "{} bytes before the first subfield delimiter belong to no subfield",
                            bytes.len()
                        );
                        problems.push(p);
                    }
                    Part::Bare { .. } => {}
                    Part::Subfield {
                        code,
                        field_offset,
                        bytes,
                    } => {
                        site.subfield = Some(char::from(code));
                        site.field_offset = field_offset;
                        let value = text(bytes, &site, problems);
                        subfields.push(Subfield {
                            code: char::from(code),
                            value,
                        });
                    }
                });
                FieldData::Data {
                    ind1,
                    ind2,
                    subfields,
                }
            };
            fields.push(Field {
                tag: f.tag_str(),
                data,
            });
        }
        let source = if begun.from_marc8 {
            SourceEncoding::Marc8
        } else {
            SourceEncoding::Utf8
        };
        Some((
            Record {
                leader: begun.parsed.leader,
                fields,
            },
            source,
        ))
    }

    /// The record's 001, trimmed of surrounding spaces.
    #[must_use]
    pub fn control_number(&self) -> Option<String> {
        control_number(&self.fields)
    }

    /// Writes the record as ISO 2709 in `to`, appending it to `out`; see [`write_iso2709`].
    pub fn to_iso2709(
        &self,
        to: Target,
        errors: EncodeErrors,
        number: usize,
        offset: u64,
        out: &mut Vec<u8>,
        problems: &mut Vec<RecordProblem>,
    ) -> bool {
        write_iso2709(
            &self.leader,
            &self.fields,
            WriteOptions { to, errors },
            Place::new(number, offset),
            out,
            problems,
        )
    }
}

/// How a record is written: the target encoding and, going to MARC-8, what happens to a
/// character MARC-8 lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// The target encoding.
    pub to: Target,
    /// What happens to a character MARC-8 lacks (going to MARC-8).
    pub errors: EncodeErrors,
}

/// What [`convert_keeping`] does to a record: how it is read, which fields it keeps (by tag),
/// how it is written.
pub struct Keeping<'k> {
    /// How the record is read.
    pub read: &'k ReadOptions,
    /// Whether the field with this tag is kept.
    pub keep: &'k dyn Fn(&str) -> bool,
    /// How the record is written.
    pub write: WriteOptions,
}

/// Converts one ISO 2709 record as `job.write` says, leaving out every field whose tag
/// `job.keep` refuses, all in the record layer: exactly what [`Record::from_iso2709`] with
/// `job.read`, removing those fields, then [`Record::to_iso2709`] give, with no model kept. The
/// export to MARC-8 uses it so that a record costs one call, not a parse, a walk of its tags
/// and a write.
///
/// The tags left out are appended to `dropped` in record order (one per field). The problems of
/// reading (every field's, those left out included) then of writing are appended to
/// `problems`, positioned at `at`. Returns `None` when the record cannot be parsed at all (the
/// last problem says why), else whether it was written to `out`.
pub fn convert_keeping(
    raw: &[u8],
    job: &Keeping<'_>,
    at: Place,
    out: &mut Vec<u8>,
    problems: &mut Vec<RecordProblem>,
    dropped: &mut Vec<String>,
) -> Option<bool> {
    let Keeping {
        read: opts,
        keep,
        write: WriteOptions { to, errors },
    } = *job;
    let Place { number, offset } = at;
    let parsed = parse(raw);
    if let Ok(p) = &parsed {
        if reads_as_written(p, opts) && keep("001") {
            // Nothing the model would change or report on reading: the record layer converts
            // the kept fields straight from the bytes, with the same results.
            let keep_tag = |tag: &[u8; 3]| keep(std::str::from_utf8(tag).unwrap_or_default());
            dropped.extend(
                p.fields
                    .iter()
                    .filter(|f| !keep_tag(&f.tag))
                    .map(RawField::tag_str),
            );
            let rec_opts = RecordOptions {
                to,
                decode: DecodeOptions {
                    errors: ErrorMode::Replace,
                    ..opts.decode
                },
                encode: EncodeOptions { errors },
                trust: Trust::Leader,
            };
            let job = Job {
                opts: &rec_opts,
                keep: Some(&keep_tag),
                at,
            };
            return Some(transcode_parsed(
                raw,
                parsed,
                &job,
                &mut Scratch::default(),
                out,
                problems,
            ));
        }
    }
    let (rec, _) = Record::from_iso2709(raw, opts, number, offset, problems)?;
    let kept = |f: &&Field| keep(&f.tag);
    dropped.extend(
        rec.fields
            .iter()
            .filter(|f| !kept(f))
            .map(|f| f.tag.clone()),
    );
    Some(write_iso2709(
        &rec.leader,
        rec.fields.iter().filter(kept),
        job.write,
        at,
        out,
        problems,
    ))
}

/// True if reading `p` into the model and writing it back gives what converting its bytes
/// directly gives: a UTF-8 record (leader/09 `a`, trusted, the data not MARC-8) read without
/// normalization or NCR expansion, every field valid UTF-8 with no control character MARC
/// forbids, every tag printable ASCII, every data field two printable ASCII indicators then
/// subfields only (no bytes before the first delimiter, no delimiter without a code), every
/// subfield code printable ASCII. Such a record has no problem on reading and nothing the
/// model drops or the writer refuses.
fn reads_as_written(p: &Parsed<'_>, opts: &ReadOptions) -> bool {
    let printable = |b: u8| (0x20..0x7F).contains(&b);
    p.leader[9] == b'a'
        && opts.trust == Trust::Leader
        && opts.decode.normalize == Normalization::None
        && !opts.decode.expand_ncr
        && p.fields.iter().all(|f| {
            f.tag.iter().all(u8::is_ascii_graphic)
                // plain ASCII (the common case, one fast scan), or UTF-8 without controls
                && (crate::is_verbatim(f.data, false)
                    || (std::str::from_utf8(f.data).is_ok() && !has_forbidden_controls(f.data)))
                && (f.is_control()
                    || (f.data.len() >= 2
                        && f.data[..2].iter().all(|&b| printable(b))
                        && f.data.get(2).is_none_or(|&b| b == SD)
                        && f.data[2..]
                            .split(|&b| b == SD)
                            .skip(1)
                            .all(|sub| sub.first().is_some_and(|&c| printable(c)))))
        })
}

fn control_number<'a>(fields: impl IntoIterator<Item = &'a Field>) -> Option<String> {
    fields
        .into_iter()
        .find(|f| f.tag == "001")
        .and_then(|f| match &f.data {
            FieldData::Control(t) => Some(t.trim().to_owned()),
            FieldData::Data { .. } => None,
        })
}

/// A character that can stand as one byte in the structure of a record (tag, indicator,
/// subfield code): printable ASCII.
fn structural(c: char) -> bool {
    (' '..='~').contains(&c)
}

/// Writes a record given as a leader and fields as ISO 2709 in `to`, appending it to `out`, with
/// the record layer's writer: every string is encoded as [`crate::record::transcode_record`]
/// does (MARC-8: `errors` decides what happens to a character MARC-8 lacks, each one reported),
/// field 066 is dropped (UTF-8) or rebuilt from the sets actually designated (MARC-8), leader/09
/// is set and the record length, base address and every directory entry are computed in bytes.
///
/// Returns false and appends nothing when the record cannot be written correctly: a field or
/// the record too long for ISO 2709, a tag that is not three ASCII characters, an indicator or
/// subfield code that is not printable ASCII, a field terminator in any text or a subfield
/// delimiter in a subfield's value (they would change the record's structure), or, with
/// `EncodeErrors::Strict`, a character MARC-8 lacks. The problems (positioned at `at`) say
/// why, action `rejected`.
pub fn write_iso2709<'a>(
    leader: &[u8; 24],
    fields: impl IntoIterator<Item = &'a Field> + Clone,
    how: WriteOptions,
    at: Place,
    out: &mut Vec<u8>,
    problems: &mut Vec<RecordProblem>,
) -> bool {
    let first_problem = problems.len();
    let opts = RecordOptions {
        to: how.to,
        decode: DecodeOptions {
            errors: ErrorMode::Replace,
            normalize: Normalization::None,
            expand_ncr: false,
            legacy_ligatures: false,
        },
        encode: EncodeOptions { errors: how.errors },
        trust: Trust::Leader,
    };
    let cn = control_number(fields.clone());
    let mut w = Writing {
        to: how.to,
        at,
        strings: Strings::new(&opts, false),
        data: Vec::new(),
        bad: None,
    };
    let mut counts = Vec::new();
    let mut pieces: Vec<([u8; 3], Piece<'_>)> = Vec::new();
    for f in fields {
        let Some(tag) = w.tag(f) else { continue };
        let occurrence = occurrence_of(&mut counts, tag);
        if &tag == b"066" {
            continue; // dropped; rebuilt for MARC-8
        }
        let mut site = Site {
            record: at.number,
            offset: at.offset,
            control_number: &cn,
            tag: &tag,
            occurrence: Occurrence::Known(occurrence),
            subfield: None,
            field_offset: 0,
        };
        let start = w.data.len();
        w.field(f, &mut site, problems);
        pieces.push((tag, Piece::Scratch(start, w.data.len())));
    }
    if let Some(mut p) = w.bad {
        p.control_number.clone_from(&cn);
        problems.push(p);
        for p in &mut problems[first_problem..] {
            p.action = RecordAction::Rejected;
        }
        return false;
    }
    let end = Ending {
        leader: *leader,
        used: w.strings.used(),
        opts: &opts,
        at,
        control_number: &cn,
        first_problem,
        source: &[],
    };
    finish(&end, pieces, &mut w.data, out, problems)
}

/// One record being written by [`write_iso2709`]: its fields' converted bytes so far and the
/// first reason to reject it.
struct Writing<'o> {
    to: Target,
    at: Place,
    strings: Strings<'o>,
    data: Vec<u8>,
    bad: Option<RecordProblem>,
}

impl Writing<'_> {
    /// The field's tag as three bytes, or `None` (the record rejected) if it is not three
    /// printable ASCII characters.
    fn tag(&mut self, f: &Field) -> Option<[u8; 3]> {
        match f.tag.as_bytes().try_into() {
            Ok(t) if f.tag.bytes().all(|b| b.is_ascii_graphic()) => Some(t),
            _ => {
                let mut p = self.at.problem(RecordKind::BadTag, RecordAction::Rejected);
                p.tag = Some(f.tag.clone());
                p.bytes = f.tag.as_bytes().to_vec();
                p.message = format!("tag {:?} is not three ASCII characters", f.tag);
                self.bad.get_or_insert(p);
                None
            }
        }
    }

    /// Remembers the first reason the record cannot be written (the field's structure).
    fn flaw(&mut self, f: &Field, site: &Site<'_>, bytes: &[u8], kind: RecordKind, what: &str) {
        let mut p = self.at.problem(kind, RecordAction::Rejected);
        p.tag = Some(f.tag.clone());
        p.occurrence = Some(site.occurrence.get());
        p.subfield = site.subfield;
        p.bytes = bytes.to_vec();
        p.message = format!("field {} {what}", f.tag);
        self.bad.get_or_insert(p);
    }

    /// Appends a string converted to the target.
    fn put(&mut self, text: &str, site: &Site<'_>, problems: &mut Vec<RecordProblem>) {
        // Plain ASCII with no `&` is the same in both encodings.
        if self.to == Target::Utf8 || crate::is_verbatim(text.as_bytes(), true) {
            self.data.extend_from_slice(text.as_bytes());
        } else {
            self.strings
                .convert(text.as_bytes(), site, &mut self.data, problems);
        }
    }

    /// Appends one field's data: a control field's text, or indicators and subfields.
    fn field(&mut self, f: &Field, site: &mut Site<'_>, problems: &mut Vec<RecordProblem>) {
        match &f.data {
            FieldData::Control(text) => {
                if text.as_bytes().contains(&FT) {
                    let what = "holds a field terminator";
                    self.flaw(f, site, &[FT], RecordKind::DelimiterInData, what);
                }
                self.put(text, site, problems);
            }
            FieldData::Data {
                ind1,
                ind2,
                subfields,
            } => {
                for ind in [*ind1, *ind2] {
                    if structural(ind) {
                        self.data.push(ind as u8);
                    } else {
                        let what = format!("has indicator {ind:?}, not printable ASCII");
                        let bytes = ind.to_string();
                        self.flaw(f, site, bytes.as_bytes(), RecordKind::BadIndicator, &what);
                    }
                }
                for sf in subfields {
                    site.subfield = Some(sf.code);
                    self.subfield(f, sf, site, problems);
                }
            }
        }
    }

    /// Appends one subfield (delimiter, code, converted value); `site.subfield` is its code.
    fn subfield(
        &mut self,
        f: &Field,
        sf: &Subfield,
        site: &Site<'_>,
        problems: &mut Vec<RecordProblem>,
    ) {
        if !structural(sf.code) {
            let what = format!("has subfield code {:?}, not printable ASCII", sf.code);
            let bytes = sf.code.to_string();
            self.flaw(
                f,
                site,
                bytes.as_bytes(),
                RecordKind::BadSubfieldCode,
                &what,
            );
            return;
        }
        if let Some(&b) = sf.value.as_bytes().iter().find(|&&b| b == FT || b == SD) {
            let what = format!(
                "${} holds a field terminator or subfield delimiter",
                sf.code
            );
            self.flaw(f, site, &[b], RecordKind::DelimiterInData, &what);
        }
        self.data.push(SD);
        self.data.push(sf.code as u8);
        self.put(&sf.value, site, problems);
    }
}

#[cfg(test)]
mod tests;
