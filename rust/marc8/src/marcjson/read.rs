//! Reading MARC-in-JSON: a JSON value with members in document order, its reading as a record,
//! and [`JsonReader`] streaming over a document.

use super::*;

// ------------------------------------------------------------------------------------------------
// A JSON value with object members kept in document order

#[derive(Debug)]
pub(super) enum J {
    Null,
    Bool,
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn type_name(&self) -> &'static str {
        match self {
            J::Null => "null",
            J::Bool => "a boolean",
            J::Num(_) => "a number",
            J::Str(_) => "a string",
            J::Arr(_) => "an array",
            J::Obj(_) => "an object",
        }
    }
}

pub(super) struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = J;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<J, E> {
        let _ = v;
        Ok(J::Bool)
    }
    fn visit_i64<E>(self, v: i64) -> Result<J, E> {
        Ok(J::Num(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J, E> {
        Ok(J::Num(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<J, E> {
        Ok(J::Num(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<J, E> {
        Ok(J::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<J, E> {
        Ok(J::Str(v))
    }
    fn visit_unit<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(J::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
        let mut v = Vec::new();
        while let Some((k, x)) = map.next_entry::<String, J>()? {
            v.push((k, x));
        }
        Ok(J::Obj(v))
    }
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

// ------------------------------------------------------------------------------------------------
// From a JSON value to a record

pub(super) fn one_char(
    value: Option<&J>,
    what: &str,
    at: &At<'_>,
    problems: &mut Vec<RecordProblem>,
) -> Option<char> {
    let text = match value {
        Some(J::Str(s)) => s.as_str(),
        Some(other) => {
            problems.push(at.problem(
                RecordKind::JsonBadStructure,
                RecordAction::Replaced,
                format!(
                    "{what} is {}, not a string; a space used",
                    other.type_name()
                ),
                &[],
            ));
            return None;
        }
        None => {
            problems.push(at.problem(
                RecordKind::JsonBadStructure,
                RecordAction::Replaced,
                format!("{what} is missing; a space used"),
                &[],
            ));
            return None;
        }
    };
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        (first, _) => {
            problems.push(at.problem(
                RecordKind::JsonBadStructure,
                RecordAction::Replaced,
                format!(
                    "{what} {text:?} is not one character; {:?} used",
                    first.unwrap_or(' ')
                ),
                text.as_bytes(),
            ));
            first
        }
    }
}

pub(super) fn data_field(
    members: &[(String, J)],
    at: &At<'_>,
    problems: &mut Vec<RecordProblem>,
) -> FieldData {
    let get = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let ind1 = one_char(get("ind1"), "ind1", at, problems).unwrap_or(' ');
    let ind2 = one_char(get("ind2"), "ind2", at, problems).unwrap_or(' ');
    let mut subfields = Vec::new();
    match get("subfields") {
        Some(J::Arr(items)) => {
            for item in items {
                let J::Obj(pairs) = item else {
                    problems.push(at.problem(
                        RecordKind::JsonBadStructure,
                        RecordAction::Skipped,
                        format!("a subfield is {}, not an object; skipped", item.type_name()),
                        &[],
                    ));
                    continue;
                };
                if pairs.len() != 1 {
                    problems.push(at.problem(
                        RecordKind::JsonBadStructure,
                        RecordAction::Recovered,
                        format!(
                            "a subfield object has {} members instead of one; each read as a subfield, in order",
                            pairs.len()
                        ),
                        &[],
                    ));
                }
                for (code, value) in pairs {
                    let mut chars = code.chars();
                    let Some(c) = chars.next() else {
                        problems.push(at.problem(
                            RecordKind::JsonBadStructure,
                            RecordAction::Skipped,
                            format!("a subfield with an empty code; skipped ({value:?})"),
                            &[],
                        ));
                        continue;
                    };
                    let sub_at = At {
                        subfield: Some(c),
                        tag: at.tag,
                        control_number: None,
                        ..*at
                    };
                    if chars.next().is_some() {
                        problems.push(sub_at.problem(
                            RecordKind::JsonBadStructure,
                            RecordAction::Replaced,
                            format!("subfield code {code:?} is not one character; {c:?} used"),
                            code.as_bytes(),
                        ));
                    }
                    let value = match value {
                        J::Str(s) => s.clone(),
                        J::Num(n) => {
                            problems.push(sub_at.problem(
                                RecordKind::JsonBadStructure,
                                RecordAction::Recovered,
                                format!("subfield value {n} is a number; read as text"),
                                n.as_bytes(),
                            ));
                            n.clone()
                        }
                        other => {
                            problems.push(sub_at.problem(
                                RecordKind::JsonBadStructure,
                                RecordAction::Skipped,
                                format!(
                                    "subfield value is {}, not a string; skipped",
                                    other.type_name()
                                ),
                                &[],
                            ));
                            continue;
                        }
                    };
                    subfields.push(Subfield { code: c, value });
                }
            }
        }
        Some(other) => problems.push(at.problem(
            RecordKind::JsonBadStructure,
            RecordAction::Skipped,
            format!(
                "\"subfields\" is {}, not an array; skipped",
                other.type_name()
            ),
            &[],
        )),
        None => problems.push(at.problem(
            RecordKind::JsonBadStructure,
            RecordAction::Replaced,
            "the data field has no \"subfields\"; read as a field without subfields".to_owned(),
            &[],
        )),
    }
    FieldData::Data {
        ind1,
        ind2,
        subfields,
    }
}

/// Builds a record from one parsed JSON value.
pub(super) fn to_record(value: J, number: usize, offset: u64) -> ReadRecord {
    let mut problems = Vec::new();
    let base = At {
        number,
        offset,
        control_number: None,
        tag: None,
        occurrence: None,
        subfield: None,
    };
    let J::Obj(members) = value else {
        problems.push(base.problem(
            RecordKind::JsonNotARecord,
            RecordAction::Skipped,
            format!(
                "{} where a record (an object) was expected; skipped",
                value.type_name()
            ),
            &[],
        ));
        return ReadRecord {
            number,
            offset,
            record: None,
            problems,
        };
    };
    let get = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let leader = match get("leader") {
        Some(J::Str(s)) => {
            let (l, p) = crate::interchange::leader_from_text(s, &base, RecordKind::JsonBadLeader);
            problems.extend(p);
            l
        }
        other => {
            problems.push(base.problem(
                RecordKind::JsonBadLeader,
                RecordAction::Replaced,
                format!(
                    "the record has {}; {:?} used",
                    match other {
                        None => "no \"leader\"".to_owned(),
                        Some(v) => format!("a \"leader\" that is {}", v.type_name()),
                    },
                    String::from_utf8_lossy(&DEFAULT_LEADER)
                ),
                &[],
            ));
            DEFAULT_LEADER
        }
    };
    let mut fields: Vec<Field> = Vec::new();
    match get("fields") {
        Some(J::Arr(items)) => {
            for item in items {
                let J::Obj(pairs) = item else {
                    problems.push(base.problem(
                        RecordKind::JsonBadStructure,
                        RecordAction::Skipped,
                        format!("a field is {}, not an object; skipped", item.type_name()),
                        &[],
                    ));
                    continue;
                };
                if pairs.len() != 1 {
                    problems.push(base.problem(
                        RecordKind::JsonBadStructure,
                        if pairs.is_empty() {
                            RecordAction::Skipped
                        } else {
                            RecordAction::Recovered
                        },
                        format!(
                            "a field object has {} members instead of one{}",
                            pairs.len(),
                            if pairs.is_empty() {
                                "; skipped"
                            } else {
                                "; each read as a field, in order"
                            }
                        ),
                        &[],
                    ));
                }
                for (tag, v) in pairs {
                    let first = problems.len();
                    let at = At {
                        tag: Some(tag),
                        ..At {
                            control_number: None,
                            ..base
                        }
                    };
                    if tag.chars().count() != 3 {
                        problems.push(at.problem(
                            RecordKind::JsonBadStructure,
                            RecordAction::Kept,
                            format!("tag {tag:?} is not three characters; kept"),
                            tag.as_bytes(),
                        ));
                    }
                    let data = match v {
                        J::Str(s) => Some(FieldData::Control(s.clone())),
                        J::Obj(m) => Some(data_field(m, &at, &mut problems)),
                        other => {
                            problems.push(at.problem(
                                RecordKind::JsonBadStructure,
                                RecordAction::Skipped,
                                format!("the field's value is {}; skipped", other.type_name()),
                                &[],
                            ));
                            None
                        }
                    };
                    if problems.len() > first {
                        let occ = fields.iter().filter(|f| &f.tag == tag).count() + 1;
                        for p in &mut problems[first..] {
                            p.occurrence = Some(occ);
                        }
                    }
                    if let Some(data) = data {
                        fields.push(Field {
                            tag: tag.clone(),
                            data,
                        });
                    }
                }
            }
        }
        other => problems.push(base.problem(
            RecordKind::JsonBadStructure,
            RecordAction::Skipped,
            match other {
                None => "the record has no \"fields\"".to_owned(),
                Some(v) => format!(
                    "\"fields\" is {}, not an array; no field read",
                    v.type_name()
                ),
            },
            &[],
        )),
    }
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

/// Parses one record from its JSON text (a single object, as `Record.as_json()` gives).
#[must_use]
pub fn parse_record(json: &[u8]) -> ReadRecord {
    let mut reader = JsonReader::new(json);
    let first = reader.next();
    match first {
        Some(item) => item,
        None => ReadRecord {
            number: 1,
            offset: 0,
            record: None,
            problems: vec![At {
                number: 1,
                offset: 0,
                control_number: None,
                tag: None,
                occurrence: None,
                subfield: None,
            }
            .problem(
                RecordKind::JsonSyntax,
                RecordAction::Stopped,
                "no JSON value in the input".to_owned(),
                &[],
            )],
        },
    }
}

// ------------------------------------------------------------------------------------------------
// Streaming over a document

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Before the first value.
    Start,
    /// Inside a top-level array: expecting a record or `]`.
    ArrayItem,
    /// Inside a top-level array, after a record: expecting `,` or `]`.
    ArrayNext,
    /// Top-level objects one after another.
    Objects,
    Done,
}

/// A streaming MARC-in-JSON reader: an iterator of [`ReadRecord`]s over a `BufRead`.
pub struct JsonReader<R: BufRead> {
    input: R,
    pos: u64,
    mode: Mode,
    records: usize,
    value: Vec<u8>,
}

impl<R: BufRead> JsonReader<R> {
    /// A reader over a UTF-8 JSON document.
    pub fn new(input: R) -> Self {
        JsonReader {
            input,
            pos: 0,
            mode: Mode::Start,
            records: 0,
            value: Vec::new(),
        }
    }

    fn bump(&mut self) {
        self.input.consume(1);
        self.pos += 1;
    }

    fn skip_ws(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let n = buf
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(buf.len());
            let next = buf.get(n).copied();
            self.input.consume(n);
            self.pos += n as u64;
            if let Some(b) = next {
                return Ok(Some(b));
            }
        }
    }

    /// Copies one JSON value into `self.value`; raw control characters inside strings are
    /// escaped on the way. Returns false if the input ended inside it.
    fn scan_value(&mut self) -> io::Result<bool> {
        self.value.clear();
        let mut depth = 0usize;
        let mut in_str = false;
        let mut escaped = false;
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                // A scalar may end at the end of the input.
                return Ok(!in_str && depth == 0 && !self.value.is_empty());
            }
            let mut used = 0;
            let mut complete = false;
            for &b in buf {
                if in_str {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_str = false;
                        if depth == 0 {
                            self.value.push(b);
                            used += 1;
                            complete = true;
                            break;
                        }
                    } else if b < 0x20 {
                        self.value
                            .extend_from_slice(format!("\\u{b:04x}").as_bytes());
                        used += 1;
                        continue;
                    }
                    self.value.push(b);
                    used += 1;
                    continue;
                }
                match b {
                    b'"' => in_str = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        if depth == 0 {
                            complete = true;
                            break;
                        }
                        depth -= 1;
                        if depth == 0 {
                            self.value.push(b);
                            used += 1;
                            complete = true;
                            break;
                        }
                    }
                    b',' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => {
                        complete = true;
                        break;
                    }
                    _ => {}
                }
                self.value.push(b);
                used += 1;
            }
            self.input.consume(used);
            self.pos += used as u64;
            if complete {
                return Ok(true);
            }
        }
    }

    fn fatal(&mut self, offset: u64, kind: RecordKind, message: String) -> ReadRecord {
        self.mode = Mode::Done;
        let number = self.records + 1;
        ReadRecord {
            number,
            offset,
            record: None,
            problems: vec![At {
                number,
                offset,
                control_number: None,
                tag: None,
                occurrence: None,
                subfield: None,
            }
            .problem(kind, RecordAction::Stopped, message, &[])],
        }
    }

    fn read_value(&mut self) -> ReadRecord {
        let offset = self.pos;
        self.records += 1;
        let number = self.records;
        match self.scan_value() {
            Err(e) => {
                return self.fatal(
                    offset,
                    RecordKind::IoError,
                    format!("reading the input: {e}"),
                )
            }
            Ok(false) => {
                self.mode = Mode::Done;
                let mut item = self.fatal(
                    offset,
                    RecordKind::JsonSyntax,
                    "the input ends inside a record; the record is not returned".to_owned(),
                );
                item.number = number;
                item.problems[0].record = number;
                item.problems[0].action = RecordAction::Rejected;
                return item;
            }
            Ok(true) => {}
        }
        match serde_json::from_slice::<J>(&self.value) {
            Ok(value) => to_record(value, number, offset),
            Err(e) => ReadRecord {
                number,
                offset,
                record: None,
                problems: vec![At {
                    number,
                    offset,
                    control_number: None,
                    tag: None,
                    occurrence: None,
                    subfield: None,
                }
                .problem(
                    RecordKind::JsonSyntax,
                    RecordAction::Rejected,
                    format!("the record is not valid JSON ({e}); skipped"),
                    &self.value,
                )],
            },
        }
    }
}

impl<R: BufRead> Iterator for JsonReader<R> {
    type Item = ReadRecord;

    fn next(&mut self) -> Option<ReadRecord> {
        loop {
            let next = match self.skip_ws() {
                Ok(b) => b,
                Err(e) => {
                    let at = self.pos;
                    return Some(self.fatal(
                        at,
                        RecordKind::IoError,
                        format!("reading the input: {e}"),
                    ));
                }
            };
            let at = self.pos;
            match (self.mode, next) {
                (Mode::Done, _) => return None,
                (Mode::Start, Some(0xEF)) => {
                    // A UTF-8 byte order mark.
                    let bom = self
                        .input
                        .fill_buf()
                        .map(|b| b.starts_with(b"\xEF\xBB\xBF"));
                    if let Ok(true) = bom {
                        self.input.consume(3);
                        self.pos += 3;
                        continue;
                    }
                    return Some(self.fatal(
                        at,
                        RecordKind::JsonSyntax,
                        "the input is not JSON".to_owned(),
                    ));
                }
                (Mode::Start, Some(b'[')) => {
                    self.bump();
                    self.mode = Mode::ArrayItem;
                }
                (Mode::Start | Mode::Objects, Some(b'{')) => {
                    self.mode = Mode::Objects;
                    return Some(self.read_value());
                }
                (Mode::Start, None) | (Mode::Objects, None) => {
                    self.mode = Mode::Done;
                    return None;
                }
                (Mode::ArrayItem, Some(b']')) => {
                    self.bump();
                    self.mode = Mode::Objects;
                }
                (Mode::ArrayNext, Some(b']')) => {
                    self.bump();
                    // Anything after the array is read as more records.
                    self.mode = Mode::Objects;
                }
                (Mode::ArrayNext, Some(b',')) => {
                    self.bump();
                    self.mode = Mode::ArrayItem;
                }
                (Mode::ArrayItem, Some(_)) => {
                    self.mode = Mode::ArrayNext;
                    return Some(self.read_value());
                }
                (Mode::ArrayItem | Mode::ArrayNext, None) => {
                    return Some(self.fatal(
                        at,
                        RecordKind::JsonSyntax,
                        "the input ends inside the array of records".to_owned(),
                    ))
                }
                (_, Some(b)) => {
                    return Some(self.fatal(
                        at,
                        RecordKind::JsonSyntax,
                        format!(
                            "byte {:?} at offset {at} where a record was expected; reading stopped",
                            char::from(b)
                        ),
                    ))
                }
            }
        }
    }
}
