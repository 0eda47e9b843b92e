//! Reading MARCXML: [`XmlReader`] streams over a document, one record at a time.

use super::*;
use crate::interchange::*;

/// What an element is, as far as MARCXML goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Name {
    Collection,
    Record,
    Leader,
    ControlField,
    DataField,
    Subfield,
    /// Another name in the MARC namespace (or in none).
    OtherMarc,
    /// An element of another namespace.
    Foreign,
}

pub(super) fn classify(ns: &ResolveResult<'_>, e: &BytesStart<'_>) -> Name {
    let marc = match ns {
        ResolveResult::Bound(n) => n.as_ref() == NAMESPACE.as_bytes(),
        // No namespace at all, or an undeclared prefix (`marc:record` with no xmlns:marc):
        // taken as MARC, leniently.
        ResolveResult::Unbound | ResolveResult::Unknown(_) => true,
    };
    if !marc {
        return Name::Foreign;
    }
    match e.local_name().as_ref() {
        b"collection" => Name::Collection,
        b"record" => Name::Record,
        b"leader" => Name::Leader,
        b"controlfield" => Name::ControlField,
        b"datafield" => Name::DataField,
        b"subfield" => Name::Subfield,
        _ => Name::OtherMarc,
    }
}

/// Replaces CR LF and lone CR by LF (XML 1.0 end-of-line handling).
pub(super) fn normalize_eol(s: Cow<'_, str>) -> Cow<'_, str> {
    if !s.contains('\r') {
        return s;
    }
    Cow::Owned(s.replace("\r\n", "\n").replace('\r', "\n"))
}

/// Resolves an entity or character reference (`name` is what is between `&` and `;`).
pub(super) fn resolve_ref(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let num = name.strip_prefix('#')?;
            let n = match num.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse::<u32>().ok()?,
            };
            if !num.is_empty() && num.bytes().all(|b| b.is_ascii_alphanumeric()) && n != 0 {
                char::from_u32(n)
            } else {
                None
            }
        }
    }
}

/// Where the reader is, for positioning problems.
pub(super) struct Place<'a> {
    number: usize,
    offset: u64,
    tag: Option<&'a str>,
    occurrence: Option<usize>,
    subfield: Option<char>,
}

impl Place<'_> {
    /// Text, CDATA or a reference where only elements belong: reported and skipped.
    fn stray(
        &self,
        problems: &mut Vec<RecordProblem>,
        what: &str,
        pos: impl std::fmt::Display,
        inside: &str,
        bytes: &[u8],
    ) {
        problems.push(self.at().problem(
            RecordKind::XmlUnexpectedText,
            RecordAction::Skipped,
            format!("{what} at byte {pos} directly inside <{inside}>; skipped"),
            bytes,
        ));
    }

    fn at(&self) -> At<'_> {
        At {
            number: self.number,
            offset: self.offset,
            control_number: None,
            tag: self.tag,
            occurrence: self.occurrence,
            subfield: self.subfield,
        }
    }
}

/// Decodes an attribute value: references resolved, TAB/LF/CR normalized to spaces (XML 1.0
/// attribute-value normalization for CDATA attributes).
pub(super) fn attribute_value(
    raw: &[u8],
    place: &Place<'_>,
    problems: &mut Vec<RecordProblem>,
) -> String {
    let text = match std::str::from_utf8(raw) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            problems.push(place.at().problem(
                RecordKind::InvalidUtf8,
                RecordAction::Replaced,
                "an attribute value is not valid UTF-8; bad bytes read as U+FFFD".to_owned(),
                raw,
            ));
            String::from_utf8_lossy(raw)
        }
    };
    let text = normalize_eol(text);
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    while let Some(i) = rest.find(['&', '\t', '\n']) {
        out.push_str(&rest[..i]);
        if rest.as_bytes()[i] == b'&' {
            let tail = &rest[i + 1..];
            match tail.find(';') {
                Some(end) if end > 0 => {
                    let name = &tail[..end];
                    if let Some(c) = resolve_ref(name) {
                        out.push(c);
                    } else {
                        problems.push(place.at().problem(
                            RecordKind::XmlUnknownEntity,
                            RecordAction::KeptAsText,
                            format!(
                                "&{name}; in an attribute is not a known reference; kept as text"
                            ),
                            name.as_bytes(),
                        ));
                        out.push('&');
                        out.push_str(name);
                        out.push(';');
                    }
                    rest = &tail[end + 1..];
                }
                _ => {
                    out.push('&');
                    rest = tail;
                }
            }
        } else {
            out.push(' ');
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// The attributes of a MARCXML element we care about.
#[derive(Default)]
pub(super) struct Attrs {
    tag: Option<String>,
    ind1: Option<String>,
    ind2: Option<String>,
    code: Option<String>,
}

pub(super) fn attributes(
    e: &BytesStart<'_>,
    place: &Place<'_>,
    problems: &mut Vec<RecordProblem>,
) -> Attrs {
    let mut attrs = Attrs::default();
    for a in e.attributes().with_checks(false).flatten() {
        let slot = match a.key.as_ref() {
            b"tag" => &mut attrs.tag,
            b"ind1" => &mut attrs.ind1,
            b"ind2" => &mut attrs.ind2,
            b"code" => &mut attrs.code,
            _ => continue,
        };
        *slot = Some(attribute_value(&a.value, place, problems));
    }
    attrs
}

/// A streaming MARCXML reader: an iterator of [`ReadRecord`]s over a `BufRead`.
pub struct XmlReader<R: BufRead> {
    xml: NsReader<R>,
    buf: Vec<u8>,
    skip_buf: Vec<u8>,
    records: usize,
    done: bool,
}

/// The result of reading inside an element: go on, or the document is broken.
pub(super) type Step<T> = Result<T, quick_xml::Error>;

impl<R: BufRead> XmlReader<R> {
    /// A reader over a UTF-8 XML document.
    pub fn new(input: R) -> Self {
        let mut xml = NsReader::from_reader(input);
        let config = xml.config_mut();
        config.trim_text(false);
        config.expand_empty_elements = false;
        config.check_end_names = true;
        XmlReader {
            xml,
            buf: Vec::with_capacity(1024),
            skip_buf: Vec::new(),
            records: 0,
            done: false,
        }
    }

    /// A problem outside any record.
    fn outside(
        &self,
        offset: u64,
        kind: RecordKind,
        action: RecordAction,
        message: String,
    ) -> ReadRecord {
        let place = Place {
            number: self.records + 1,
            offset,
            tag: None,
            occurrence: None,
            subfield: None,
        };
        ReadRecord {
            number: self.records + 1,
            offset,
            record: None,
            problems: vec![place.at().problem(kind, action, message, &[])],
        }
    }

    fn syntax_problem(
        &mut self,
        err: &quick_xml::Error,
        number: usize,
        offset: u64,
    ) -> RecordProblem {
        self.done = true;
        let at = self.xml.error_position();
        Place {
            number,
            offset,
            tag: None,
            occurrence: None,
            subfield: None,
        }
        .at()
        .problem(
            RecordKind::XmlSyntax,
            RecordAction::Stopped,
            format!("the document is not well-formed XML at byte {at}: {err}; reading stopped"),
            &[],
        )
    }

    /// Skips the rest of an element whose start tag was just read.
    fn skip(&mut self, name: &[u8]) -> Step<()> {
        let name = name.to_vec();
        self.skip_buf.clear();
        self.xml
            .read_to_end_into(quick_xml::name::QName(&name), &mut self.skip_buf)?;
        Ok(())
    }

    /// Reads the text content of an element up to its end tag; nested elements are skipped and
    /// reported.
    fn read_text(&mut self, place: &Place<'_>, problems: &mut Vec<RecordProblem>) -> Step<String> {
        let mut text = String::new();
        loop {
            self.buf.clear();
            let pos = self.xml.buffer_position();
            let event = self.xml.read_event_into(&mut self.buf)?;
            match event {
                Event::Text(t) => push_text(&mut text, &t, place, problems),
                Event::CData(t) => push_text(&mut text, &t, place, problems),
                Event::GeneralRef(r) => {
                    let name = String::from_utf8_lossy(&r).into_owned();
                    match resolve_ref(&name) {
                        Some(c) => text.push(c),
                        None => {
                            problems.push(place.at().problem(
                                RecordKind::XmlUnknownEntity,
                                RecordAction::KeptAsText,
                                format!(
                                    "&{name}; at byte {pos} is not a known reference; kept as text"
                                ),
                                name.as_bytes(),
                            ));
                            text.push('&');
                            text.push_str(&name);
                            text.push(';');
                        }
                    }
                }
                Event::Start(e) => {
                    let name = e.name().as_ref().to_vec();
                    problems.push(place.at().problem(
                        RecordKind::XmlUnexpectedElement,
                        RecordAction::Skipped,
                        format!(
                            "element <{}> at byte {pos} inside a text element; skipped with its content",
                            String::from_utf8_lossy(&name)
                        ),
                        &name,
                    ));
                    self.skip(&name)?;
                }
                Event::Empty(e) => {
                    problems.push(place.at().problem(
                        RecordKind::XmlUnexpectedElement,
                        RecordAction::Skipped,
                        format!(
                            "element <{}/> at byte {pos} inside a text element; skipped",
                            String::from_utf8_lossy(e.name().as_ref())
                        ),
                        e.name().as_ref(),
                    ));
                }
                Event::End(_) => return Ok(text),
                Event::Eof => {
                    return Err(quick_xml::Error::IllFormed(
                        quick_xml::errors::IllFormedError::MissingEndTag(String::new()),
                    ))
                }
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {}
            }
        }
    }

    /// Reads a record whose start tag was just read (`empty`: it was `<record/>`).
    fn read_record(&mut self, offset: u64, empty: bool) -> ReadRecord {
        self.records += 1;
        let number = self.records;
        let mut problems = Vec::new();
        let result = if empty {
            Ok((None, Vec::new()))
        } else {
            self.read_record_body(number, offset, &mut problems)
        };
        match result {
            Ok((leader, fields)) => {
                let leader = match leader {
                    Some(l) => l,
                    None => {
                        let place = Place {
                            number,
                            offset,
                            tag: None,
                            occurrence: None,
                            subfield: None,
                        };
                        problems.push(place.at().problem(
                            RecordKind::XmlBadLeader,
                            RecordAction::Replaced,
                            format!(
                                "the record has no <leader>; {:?} used",
                                String::from_utf8_lossy(&DEFAULT_LEADER)
                            ),
                            &[],
                        ));
                        DEFAULT_LEADER
                    }
                };
                if !problems.is_empty() {
                    let cn = control_number(&fields);
                    for p in &mut problems {
                        p.control_number.clone_from(&cn);
                    }
                }
                ReadRecord {
                    number,
                    offset,
                    record: Some(Record { leader, fields }),
                    problems,
                }
            }
            Err(e) => {
                let mut p = self.syntax_problem(&e, number, offset);
                p.message
                    .push_str("; the record it cut short is not returned");
                p.action = RecordAction::Rejected;
                problems.push(p);
                ReadRecord {
                    number,
                    offset,
                    record: None,
                    problems,
                }
            }
        }
    }

    fn read_record_body(
        &mut self,
        number: usize,
        offset: u64,
        problems: &mut Vec<RecordProblem>,
    ) -> Step<(Option<[u8; 24]>, Vec<Field>)> {
        let mut leader: Option<[u8; 24]> = None;
        let mut fields: Vec<Field> = Vec::new();
        loop {
            self.buf.clear();
            let pos = self.xml.buffer_position();
            let place = Place {
                number,
                offset,
                tag: None,
                occurrence: None,
                subfield: None,
            };
            let (ns, event) = self.xml.read_resolved_event_into(&mut self.buf)?;
            let (kind, name, attrs, empty) = match event {
                Event::End(_) => return Ok((leader, fields)),
                Event::Start(e) => (
                    classify(&ns, &e),
                    e.name().as_ref().to_vec(),
                    attributes(&e, &place, problems),
                    false,
                ),
                Event::Empty(e) => (
                    classify(&ns, &e),
                    e.name().as_ref().to_vec(),
                    attributes(&e, &place, problems),
                    true,
                ),
                Event::Text(t) => {
                    if !t.iter().all(u8::is_ascii_whitespace) {
                        place.stray(problems, "text", pos, "record", &t);
                    }
                    continue;
                }
                Event::CData(t) => {
                    place.stray(problems, "CDATA", pos, "record", &t);
                    continue;
                }
                Event::GeneralRef(r) => {
                    place.stray(problems, "a reference", pos, "record", &r);
                    continue;
                }
                Event::Eof => return Err(missing_end("record")),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => continue,
            };
            let first_new = problems.len();
            match kind {
                Name::Leader => {
                    let text = if empty {
                        String::new()
                    } else {
                        self.read_text(&place, problems)?
                    };
                    if leader.is_some() {
                        problems.push(place.at().problem(
                            RecordKind::XmlUnexpectedElement,
                            RecordAction::Skipped,
                            format!("a second <leader> at byte {pos}; skipped"),
                            text.as_bytes(),
                        ));
                    } else {
                        let (l, p) = leader_from_text(&text, &place.at(), RecordKind::XmlBadLeader);
                        problems.extend(p);
                        leader = Some(l);
                    }
                }
                Name::ControlField | Name::DataField => {
                    let Some(tag) = attrs.tag else {
                        problems.push(place.at().problem(
                            RecordKind::XmlMissingAttribute,
                            RecordAction::Skipped,
                            format!(
                                "<{}> at byte {pos} has no tag attribute; skipped with its content",
                                String::from_utf8_lossy(&name)
                            ),
                            &name,
                        ));
                        if !empty {
                            self.skip(&name)?;
                        }
                        continue;
                    };
                    let place = Place {
                        tag: Some(&tag),
                        ..place
                    };
                    if tag.chars().count() != 3 {
                        problems.push(place.at().problem(
                            RecordKind::XmlBadAttribute,
                            RecordAction::Kept,
                            format!("tag {tag:?} at byte {pos} is not three characters; kept"),
                            tag.as_bytes(),
                        ));
                    }
                    let data = if kind == Name::ControlField {
                        FieldData::Control(if empty {
                            String::new()
                        } else {
                            self.read_text(&place, problems)?
                        })
                    } else {
                        let ind1 = indicator(attrs.ind1.as_deref(), "ind1", pos, &place, problems);
                        let ind2 = indicator(attrs.ind2.as_deref(), "ind2", pos, &place, problems);
                        let subfields = if empty {
                            Vec::new()
                        } else {
                            self.read_subfields(&place, problems)?
                        };
                        FieldData::Data {
                            ind1,
                            ind2,
                            subfields,
                        }
                    };
                    if problems.len() > first_new {
                        let occ = fields.iter().filter(|f| f.tag == tag).count() + 1;
                        for p in &mut problems[first_new..] {
                            p.occurrence = Some(occ);
                        }
                    }
                    fields.push(Field { tag, data });
                }
                _ => {
                    problems.push(place.at().problem(
                        RecordKind::XmlUnexpectedElement,
                        RecordAction::Skipped,
                        format!(
                            "element <{}> at byte {pos} is not a MARCXML record element; skipped with its content",
                            String::from_utf8_lossy(&name)
                        ),
                        &name,
                    ));
                    if !empty {
                        self.skip(&name)?;
                    }
                }
            }
        }
    }

    /// Reads the subfields of a data field whose start tag was just read.
    fn read_subfields(
        &mut self,
        place: &Place<'_>,
        problems: &mut Vec<RecordProblem>,
    ) -> Step<Vec<Subfield>> {
        let mut subfields = Vec::new();
        loop {
            self.buf.clear();
            let pos = self.xml.buffer_position();
            let (ns, event) = self.xml.read_resolved_event_into(&mut self.buf)?;
            let (kind, name, attrs, empty) = match event {
                Event::End(_) => return Ok(subfields),
                Event::Start(e) => (
                    classify(&ns, &e),
                    e.name().as_ref().to_vec(),
                    attributes(&e, place, problems),
                    false,
                ),
                Event::Empty(e) => (
                    classify(&ns, &e),
                    e.name().as_ref().to_vec(),
                    attributes(&e, place, problems),
                    true,
                ),
                Event::Text(t) => {
                    if !t.iter().all(u8::is_ascii_whitespace) {
                        place.stray(problems, "text", pos, "datafield", &t);
                    }
                    continue;
                }
                Event::CData(t) => {
                    place.stray(problems, "CDATA", pos, "datafield", &t);
                    continue;
                }
                Event::GeneralRef(r) => {
                    place.stray(problems, "a reference", pos, "datafield", &r);
                    continue;
                }
                Event::Eof => return Err(missing_end("datafield")),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => continue,
            };
            if kind != Name::Subfield {
                problems.push(place.at().problem(
                    RecordKind::XmlUnexpectedElement,
                    RecordAction::Skipped,
                    format!(
                        "element <{}> at byte {pos} inside <datafield>; skipped with its content",
                        String::from_utf8_lossy(&name)
                    ),
                    &name,
                ));
                if !empty {
                    self.skip(&name)?;
                }
                continue;
            }
            let mut chars = attrs.code.as_deref().unwrap_or("").chars();
            let Some(code) = chars.next() else {
                let value = if empty {
                    String::new()
                } else {
                    self.read_text(place, problems)?
                };
                problems.push(place.at().problem(
                    RecordKind::XmlMissingAttribute,
                    RecordAction::Skipped,
                    format!(
                        "<subfield> at byte {pos} has {}; skipped (its text: {value:?})",
                        if attrs.code.is_some() {
                            "an empty code"
                        } else {
                            "no code attribute"
                        }
                    ),
                    value.as_bytes(),
                ));
                continue;
            };
            let place = Place {
                subfield: Some(code),
                tag: place.tag,
                ..*place
            };
            if chars.next().is_some() {
                let given = attrs.code.as_deref().unwrap_or("");
                problems.push(place.at().problem(
                    RecordKind::XmlBadAttribute,
                    RecordAction::Replaced,
                    format!(
                        "subfield code {given:?} at byte {pos} is not one character; {code:?} kept"
                    ),
                    given.as_bytes(),
                ));
            }
            let value = if empty {
                String::new()
            } else {
                self.read_text(&place, problems)?
            };
            subfields.push(Subfield { code, value });
        }
    }
}

impl<R: BufRead> Iterator for XmlReader<R> {
    type Item = ReadRecord;

    fn next(&mut self) -> Option<ReadRecord> {
        if self.done {
            return None;
        }
        loop {
            self.buf.clear();
            let pos = self.xml.buffer_position();
            let (kind, name, empty) = match self.xml.read_resolved_event_into(&mut self.buf) {
                Err(e) => {
                    let number = self.records + 1;
                    let p = self.syntax_problem(&e, number, pos);
                    return Some(ReadRecord {
                        number,
                        offset: pos,
                        record: None,
                        problems: vec![p],
                    });
                }
                Ok((_, Event::Eof)) => {
                    self.done = true;
                    return None;
                }
                Ok((ns, Event::Start(e))) => (classify(&ns, &e), e.name().as_ref().to_vec(), false),
                Ok((ns, Event::Empty(e))) => (classify(&ns, &e), e.name().as_ref().to_vec(), true),
                Ok((_, Event::Decl(d))) => {
                    let enc = d
                        .encoding()
                        .and_then(Result::ok)
                        .map(|e| e.to_ascii_lowercase());
                    match enc.as_deref() {
                        None | Some(b"utf-8" | b"utf8") => continue,
                        Some(other) => {
                            self.done = true;
                            return Some(self.outside(
                                pos,
                                RecordKind::XmlEncoding,
                                RecordAction::Stopped,
                                format!(
                                    "the document is declared as {:?}; only UTF-8 MARCXML is read",
                                    String::from_utf8_lossy(other)
                                ),
                            ));
                        }
                    }
                }
                Ok(_) => continue,
            };
            match kind {
                Name::Record => return Some(self.read_record(pos, empty)),
                Name::Leader | Name::ControlField | Name::DataField | Name::Subfield => {
                    let item = self.outside(
                        pos,
                        RecordKind::XmlUnexpectedElement,
                        RecordAction::Skipped,
                        format!(
                            "<{}> at byte {pos} is outside any <record>; skipped with its content",
                            String::from_utf8_lossy(&name)
                        ),
                    );
                    if !empty {
                        if let Err(e) = self.skip(&name) {
                            let number = self.records + 1;
                            let p = self.syntax_problem(&e, number, pos);
                            let mut item = item;
                            item.problems.push(p);
                            return Some(item);
                        }
                    }
                    return Some(item);
                }
                // A collection, or an envelope around records: look inside.
                Name::Collection | Name::OtherMarc | Name::Foreign => {}
            }
        }
    }
}

pub(super) fn missing_end(name: &str) -> quick_xml::Error {
    quick_xml::Error::IllFormed(quick_xml::errors::IllFormedError::MissingEndTag(
        name.to_owned(),
    ))
}

/// An indicator from its attribute: one character; a missing or empty one becomes a space, a
/// longer one keeps its first character (reported).
pub(super) fn indicator(
    value: Option<&str>,
    name: &str,
    pos: u64,
    place: &Place<'_>,
    problems: &mut Vec<RecordProblem>,
) -> char {
    let Some(value) = value else {
        problems.push(place.at().problem(
            RecordKind::XmlMissingAttribute,
            RecordAction::Replaced,
            format!("<datafield> at byte {pos} has no {name}; a space used"),
            &[],
        ));
        return ' ';
    };
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => c,
        (first, _) => {
            let c = first.unwrap_or(' ');
            problems.push(place.at().problem(
                RecordKind::XmlBadAttribute,
                RecordAction::Replaced,
                format!("{name} {value:?} at byte {pos} is not one character; {c:?} used"),
                value.as_bytes(),
            ));
            c
        }
    }
}

pub(super) fn push_text(
    text: &mut String,
    raw: &[u8],
    place: &Place<'_>,
    problems: &mut Vec<RecordProblem>,
) {
    match std::str::from_utf8(raw) {
        Ok(s) => text.push_str(&normalize_eol(Cow::Borrowed(s))),
        Err(_) => {
            problems.push(place.at().problem(
                RecordKind::InvalidUtf8,
                RecordAction::Replaced,
                "text that is not valid UTF-8; bad bytes read as U+FFFD".to_owned(),
                raw,
            ));
            text.push_str(&normalize_eol(String::from_utf8_lossy(raw)));
        }
    }
}
