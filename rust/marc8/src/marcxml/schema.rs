//! MARC21slim's patterns for leaders, tags, indicators and subfield codes: what the writers
//! check before they report `xml_schema_invalid` (the model path, [`super::write_parts`]) or
//! decline a record (the direct path, `direct.rs`).

/// Whether a leader matches the schema's pattern
/// `[\d ]{5}[\dA-Za-z ]{1}[\dA-Za-z]{1}[\dA-Za-z ]{3}(2| )(2| )[\d ]{5}[\dA-Za-z ]{3}(4500|    )`.
#[inline]
pub(super) fn leader_in_schema(l: &[u8]) -> bool {
    let digit_or_space = |b: u8| b.is_ascii_digit() || b == b' ';
    let alnum_or_space = |b: u8| b.is_ascii_alphanumeric() || b == b' ';
    l.len() == 24
        && l[0..5].iter().all(|&b| digit_or_space(b))
        && alnum_or_space(l[5])
        && l[6].is_ascii_alphanumeric()
        && l[7..10].iter().all(|&b| alnum_or_space(b))
        && matches!(l[10], b'2' | b' ')
        && matches!(l[11], b'2' | b' ')
        && l[12..17].iter().all(|&b| digit_or_space(b))
        && l[17..20].iter().all(|&b| alnum_or_space(b))
        && (&l[20..24] == b"4500" || &l[20..24] == b"    ")
}

/// Whether a control field's tag matches `00[1-9A-Za-z]`.
#[inline]
pub(super) fn control_tag_in_schema(b: &[u8]) -> bool {
    b.len() == 3 && b[0] == b'0' && b[1] == b'0' && b[2].is_ascii_alphanumeric() && b[2] != b'0'
}

/// Whether a data field's tag matches the schema's pattern (`0` followed by two digits or
/// letters of one case, not `00`; or three digits or letters of one case, not led by `0`).
#[inline]
pub(super) fn data_tag_in_schema(b: &[u8]) -> bool {
    if b.len() != 3 {
        return false;
    }
    let upper = |c: u8| c.is_ascii_digit() || c.is_ascii_uppercase();
    let lower = |c: u8| c.is_ascii_digit() || c.is_ascii_lowercase();
    let lead = |c: u8| c != b'0' && (c.is_ascii_alphanumeric());
    if b[0] == b'0' {
        lead(b[1]) && ((upper(b[1]) && upper(b[2])) || (lower(b[1]) && lower(b[2])))
    } else {
        lead(b[0])
            && ((upper(b[0]) && upper(b[1]) && upper(b[2]))
                || (lower(b[0]) && lower(b[1]) && lower(b[2])))
    }
}

/// Whether an indicator matches `[\\da-z ]`.
#[inline]
pub(super) fn indicator_in_schema(c: char) -> bool {
    c.is_ascii_digit() || c.is_ascii_lowercase() || c == ' '
}

/// Whether a subfield code matches the schema's code pattern (letters, digits and the
/// punctuation listed).
pub(super) fn code_in_schema(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!\"#$%&'()*+,-./:;<=>?{}_^`~[]\\".contains(c)
}
