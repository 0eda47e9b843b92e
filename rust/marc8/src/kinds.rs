//! Record-level problem kinds and actions as types, each kind with its severity.
//!
//! A [`crate::RecordProblem`] names what went wrong with a [`RecordKind`] and what was done with a
//! [`RecordAction`]. Both keep the stable snake_case identifiers the reports and the Python API
//! have always shown ([`RecordKind::as_str`], [`RecordAction::as_str`]); the character-level
//! [`ProblemKind`] and [`Action`] map onto them one to one.
//!
//! Severity rule: `info` does not fail validation (the data is intact, the fact is worth knowing);
//! `warning` is a structure problem that was always recovered without losing data; `error` is
//! everything else (data lost, replaced, rejected or skipped, or a structure that may have been).
//! `validate` and `convert` fail (exit status 1) on any warning or error, as they always have.

use crate::problem::{Action, ProblemKind};
use std::fmt;

/// How much a problem matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing; the record is intact (`ncr_present`).
    Info,
    /// A structure problem that was recovered without losing data.
    Warning,
    /// Data was lost, replaced, rejected or skipped, or may have been.
    Error,
}

impl Severity {
    /// The stable identifier: `info`, `warning` or `error`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! str_enum {
    (
        $(#[$meta:meta])* $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal $(, $sev:ident)?;)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable snake_case identifier shown in reports.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The value with this identifier, if there is one.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

    };
}

str_enum! {
    /// What went wrong with a record (a stable identifier, see [`RecordKind::as_str`]).
    RecordKind {
        // Character level (the [`ProblemKind`]s).
        /// See [`ProblemKind::UnknownEscape`].
        UnknownEscape = "unknown_escape";
        /// See [`ProblemKind::TruncatedEscape`].
        TruncatedEscape = "truncated_escape";
        /// See [`ProblemKind::UnmappedByte`].
        UnmappedByte = "unmapped_byte";
        /// See [`ProblemKind::TruncatedMultibyte`].
        TruncatedMultibyte = "truncated_multibyte";
        /// See [`ProblemKind::MarkWithoutBase`].
        MarkWithoutBase = "mark_without_base";
        /// See [`ProblemKind::MalformedNcr`].
        MalformedNcr = "malformed_ncr";
        /// See [`ProblemKind::Unmappable`].
        Unmappable = "unmappable";
        /// See [`ProblemKind::InvalidUtf8`].
        InvalidUtf8 = "invalid_utf8";
        /// See [`ProblemKind::ControlCharacter`].
        ControlCharacter = "control_character";
        // ISO 2709 structure.
        /// The leader is malformed.
        BadLeader = "bad_leader";
        /// The directory is malformed.
        BadDirectory = "bad_directory";
        /// The base address of data is wrong.
        BadBaseAddress = "bad_base_address";
        /// A field or record terminator is missing or misplaced.
        BadTerminator = "bad_terminator";
        /// The record length in the leader disagrees with the record (recovered).
        LengthMismatch = "length_mismatch", Warning;
        /// The file ends inside a record.
        TruncatedRecord = "truncated_record";
        /// Bytes between records that are not a record.
        Garbage = "garbage";
        /// A tag is not three ASCII characters.
        BadTag = "bad_tag";
        /// An indicator is not ASCII.
        BadIndicator = "bad_indicator";
        /// A subfield code is not ASCII.
        BadSubfieldCode = "bad_subfield_code";
        /// Field data before the first subfield delimiter.
        DataOutsideSubfield = "data_outside_subfield";
        /// A subfield delimiter inside data that cannot hold one.
        DelimiterInData = "delimiter_in_data";
        /// A field is too long for ISO 2709.
        FieldTooLong = "field_too_long";
        /// A record is too long for ISO 2709.
        RecordTooLong = "record_too_long";
        // Character coding of the record.
        /// Leader/09 disagrees with the data (one of them was trusted).
        Mislabelled = "mislabelled", Warning;
        /// A malformed or unknown 066 field.
        Bad066 = "bad_066";
        /// The record holds numeric character references (`&#xXXXX;`): informational.
        NcrPresent = "ncr_present", Info;
        // MARCXML.
        /// The XML is not well formed.
        XmlSyntax = "xml_syntax";
        /// The XML declares an encoding other than UTF-8.
        XmlEncoding = "xml_encoding";
        /// A character XML 1.0 cannot carry.
        XmlInvalidCharacter = "xml_invalid_character";
        /// An entity reference XML does not define.
        XmlUnknownEntity = "xml_unknown_entity";
        /// An element the MARCXML schema does not allow there.
        XmlUnexpectedElement = "xml_unexpected_element";
        /// Text where the MARCXML schema allows none.
        XmlUnexpectedText = "xml_unexpected_text";
        /// A required attribute is missing.
        XmlMissingAttribute = "xml_missing_attribute";
        /// An attribute value the MARCXML schema does not allow.
        XmlBadAttribute = "xml_bad_attribute";
        /// A malformed MARCXML leader.
        XmlBadLeader = "xml_bad_leader";
        /// A value the MARCXML schema rejects (kept as read).
        XmlSchemaInvalid = "xml_schema_invalid";
        // MARC-in-JSON.
        /// The JSON is not well formed.
        JsonSyntax = "json_syntax";
        /// A JSON value that is not a MARC-in-JSON record.
        JsonNotARecord = "json_not_a_record";
        /// A record whose JSON structure is wrong.
        JsonBadStructure = "json_bad_structure";
        /// A malformed MARC-in-JSON leader.
        JsonBadLeader = "json_bad_leader";
        // Input.
        /// The input could not be read.
        IoError = "io_error";
    }
}

impl RecordKind {
    /// How much a problem of this kind matters (see the module documentation).
    #[must_use]
    pub fn severity(self) -> Severity {
        match self {
            RecordKind::NcrPresent => Severity::Info,
            RecordKind::LengthMismatch | RecordKind::Mislabelled => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

str_enum! {
    /// What was done about a record problem (a stable identifier, see [`RecordAction::as_str`]).
    RecordAction {
        /// See [`Action::Replaced`].
        Replaced = "replaced";
        /// See [`Action::Stopped`].
        Stopped = "stopped";
        /// See [`Action::KeptAsText`].
        KeptAsText = "kept_as_text";
        /// See [`Action::WroteNcr`].
        WroteNcr = "wrote_ncr";
        /// See [`Action::WroteFill`].
        WroteFill = "wrote_fill";
        /// The record was not produced.
        Rejected = "rejected";
        /// The bytes or element were skipped.
        Skipped = "skipped";
        /// The structure was repaired and the record kept.
        Recovered = "recovered";
        /// The value was kept as read.
        Kept = "kept";
        /// The stray data was dropped.
        Dropped = "dropped";
        /// Leader/09 was trusted over the data.
        TrustedLeader = "trusted_leader";
        /// The data was trusted over Leader/09.
        TrustedData = "trusted_data";
        /// Only reported (validation changes nothing).
        Reported = "reported";
    }
}

impl RecordAction {
    /// Whether the record survived this action (it was repaired or one reading was chosen).
    #[must_use]
    pub fn is_recovery(self) -> bool {
        matches!(
            self,
            RecordAction::Recovered | RecordAction::TrustedData | RecordAction::TrustedLeader
        )
    }
}

impl From<ProblemKind> for RecordKind {
    fn from(k: ProblemKind) -> Self {
        match k {
            ProblemKind::UnknownEscape => RecordKind::UnknownEscape,
            ProblemKind::TruncatedEscape => RecordKind::TruncatedEscape,
            ProblemKind::UnmappedByte => RecordKind::UnmappedByte,
            ProblemKind::TruncatedMultibyte => RecordKind::TruncatedMultibyte,
            ProblemKind::MarkWithoutBase => RecordKind::MarkWithoutBase,
            ProblemKind::MalformedNcr => RecordKind::MalformedNcr,
            ProblemKind::Unmappable => RecordKind::Unmappable,
            ProblemKind::InvalidUtf8 => RecordKind::InvalidUtf8,
            ProblemKind::ControlCharacter => RecordKind::ControlCharacter,
        }
    }
}

impl From<Action> for RecordAction {
    fn from(a: Action) -> Self {
        match a {
            Action::Replaced => RecordAction::Replaced,
            Action::Stopped => RecordAction::Stopped,
            Action::KeptAsText => RecordAction::KeptAsText,
            Action::WroteNcr => RecordAction::WroteNcr,
            Action::WroteFill => RecordAction::WroteFill,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for &k in RecordKind::ALL {
            assert_eq!(RecordKind::from_name(k.as_str()), Some(k));
        }
        for &a in RecordAction::ALL {
            assert_eq!(RecordAction::from_name(a.as_str()), Some(a));
        }
        let mut names: Vec<_> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RecordKind::ALL.len());
    }

    #[test]
    fn character_kinds_keep_their_names() {
        for k in [
            ProblemKind::UnknownEscape,
            ProblemKind::TruncatedEscape,
            ProblemKind::UnmappedByte,
            ProblemKind::TruncatedMultibyte,
            ProblemKind::MarkWithoutBase,
            ProblemKind::MalformedNcr,
            ProblemKind::Unmappable,
            ProblemKind::InvalidUtf8,
            ProblemKind::ControlCharacter,
        ] {
            assert_eq!(RecordKind::from(k).as_str(), k.as_str());
        }
        for a in [
            Action::Replaced,
            Action::Stopped,
            Action::KeptAsText,
            Action::WroteNcr,
            Action::WroteFill,
        ] {
            assert_eq!(RecordAction::from(a).as_str(), a.as_str());
        }
    }

    #[test]
    fn only_ncr_present_is_info() {
        let info: Vec<_> = RecordKind::ALL
            .iter()
            .filter(|k| k.severity() == Severity::Info)
            .collect();
        assert_eq!(info, [&RecordKind::NcrPresent]);
    }
}
