//! MARC-8 ⇄ Unicode transcoding, with every unconvertible byte or character reported as data.
//!
//! This is the pure-Rust core of marc8fast. It knows nothing of Python; the `marc8-py` crate
//! wraps it.
//!
//! # MARC-8 in one paragraph
//!
//! MARC-8 is the legacy character encoding of MARC 21 records. Like ISO 2022 it has two graphic
//! registers: bytes 0x21–0x7E read in the set designated as G0, bytes 0xA1–0xFE in the set
//! designated as G1 (initially ASCII and ANSEL). Escape sequences change the designations; the
//! twelve sets of LC's code tables are ASCII, ANSEL, Greek symbols, subscripts, superscripts,
//! Hebrew, Cyrillic, Extended Cyrillic, Arabic, Extended Arabic, Greek and EACC (three bytes per
//! CJK character). Combining marks are stored *before* their base character. SPACE (0x20) and the
//! controls mean the same in every set.
//!
//! # Streaming and one-shot
//!
//! [`Decoder`] is the streaming decoder: input may be cut anywhere, even inside an escape
//! sequence or an EACC character, and the output is the same as for the whole input at once. It
//! appends to a `String`, so it never runs out of output space and needs no status codes.
//! [`decode`] and [`decode_report`] are the one-shot calls; they return the input itself,
//! borrowed, when it is plain ASCII.
//!
//! [`Encoder`] / [`encode`] / [`encode_report`] go the other way. The encoder holds each base
//! character back until it knows which combining marks follow (they are written before it), maps
//! directly when LC has a code and decomposes only when it has none, and prefers the set already
//! designated. Every string ends in G0 = ASCII, G1 = ANSEL.
//!
//! # Records and files
//!
//! [`record`] splits, parses, writes and converts ISO 2709 records. Every subfield is converted
//! from the default sets, leader/09 is set, lengths are recomputed in bytes, and 066 is dropped
//! or rebuilt. A record that cannot be written correctly is rejected, never written corrupt.
//! [`file`](mod@file) streams whole files through worker threads in bounded memory, in input order, and
//! writes atomically. [`validate`] checks files without converting them.
//!
//! [`model`] holds records as values (a leader and fields of Unicode text), read from ISO 2709 and
//! written back by the same record layer; [`reader`] streams them from a file on worker threads
//! and [`writer`] writes them to a file atomically, in a [`writer::Format`].
//! [`marcxml`] and [`marcjson`] write and stream-read MARCXML (LC's `MARC21slim.xsd`) and
//! MARC-in-JSON from and to the [`model`]; [`convert`] converts files between ISO 2709, MARCXML
//! and JSON one record at a time.
//!
//! # The floors, and the path of a record
//!
//! Each module uses only those on the floors below it (a test, `tests/test_architecture_rust.py`,
//! fails on any circle among modules):
//!
//! 1. **Characters**: `charset`, `tables`, `ascii`, `ncr`, `problem`, `kinds`, the [`Decoder`]
//!    and the [`Encoder`] — strings, no records.
//! 2. **One ISO 2709 record**: [`record`] — `split` (where records start and end in a byte
//!    stream, garbage gathered into one problem per stretch), `layout` (the one reading of the
//!    leader and directory, [`record::parse`], [`record::ParseError`]), `write`, `detect`
//!    (MARC-8 or UTF-8?) and `transcode`; the constants, options and [`record::RecordProblem`]
//!    in `record/mod.rs`.
//! 3. **Records as values**: [`model`]; the serializations beside it — [`sink`] (the
//!    [`sink::RecordSink`] trait and ISO 2709), [`marcxml`] and [`marcjson`] (each a `read` and a
//!    `write` half), and `interchange`, what those two share (a positioned problem, the
//!    [`marcxml::ReadRecord`] they yield, the leader as read and as written).
//! 4. **Streams**: `batch`, the one reader of ISO 2709 streams (records grouped into batches,
//!    the same problems whoever reads); [`file`](mod@file) (conversion on worker threads, in input
//!    order), [`validate`], [`reader`] (records as values on worker threads) and [`writer`]
//!    (atomic output files) on top of it; [`convert`] (any format to any format, and the format →
//!    sink factory [`writer::Format::sink`]) at the top. [`search`] (folding and index terms) uses
//!    only the model.
//!
//! The path of an ISO 2709 record through a conversion: bytes → `batch::BatchReader` (the
//! splitter finds the record, garbage before it becomes one problem) → a worker →
//! [`record::transcode_with`] (`layout` reads the structure once, `detect` decides the source
//! encoding, each subfield goes through the [`Decoder`] or the [`Encoder`], `write` puts the
//! leader, directory and fields back) → the output in input order, with the record's problems.
//!
//! # Error reporting
//!
//! Every converter reports problems as [`Problem`] values: a kind, an exact position, the
//! offending bytes, the designations in force, and what was done. There are two error modes:
//! [`ErrorMode::Strict`] returns the first problem as an error, [`ErrorMode::Replace`] writes one
//! U+FFFD per bad unit and goes on with the very next byte, so nothing after a bad byte is lost.
//! A bad unit is: an escape sequence (complete or cut short), one byte with no mapping, one
//! three-byte EACC code with no mapping, an EACC character cut short, or one combining mark with no
//! base.
//!
//! # Normalization
//!
//! Output is the characters as stored (marks after their base, in stored order) unless NFC or NFD
//! is asked for. NFKC/NFKD are not offered: they would destroy the sub- and superscripts.
//!
//! # Tables
//!
//! `tables.rs` is generated from LC's `codetables.xml` by `tools/gen_tables.py`; never edit it.
//!
//! # Panics
//!
//! No function of this crate panics on any input.
//!
//! # Streaming
//!
//! [`Decoder`] and [`Encoder`] take their input in pieces, cut anywhere (inside an escape
//! sequence, between a combining mark and its base): the result is the same as given whole.
//!
//! ```
//! use marc8::{DecodeOptions, Decoder};
//!
//! // A stream cut in the middle of a sequence: the decoder keeps the partial escape.
//! let mut dec = Decoder::new(DecodeOptions::default());
//! let (mut text, mut problems) = (String::new(), Vec::new());
//! dec.decode_to_string(b"\x1B(", &mut text, false, &mut problems).unwrap();
//! dec.decode_to_string(b"NA\x1B(B!", &mut text, true, &mut problems).unwrap();
//! assert_eq!(text, "\u{0430}!"); // ESC ( N: basic Cyrillic in G0, where `A` is the letter а
//! assert!(problems.is_empty());
//! ```
//!
//! ```
//! use marc8::{EncodeOptions, Encoder};
//!
//! // Text given in pieces: one result, as if given whole.
//! let mut enc = Encoder::new(EncodeOptions::default());
//! let (mut bytes, mut problems) = (Vec::new(), Vec::new());
//! enc.encode_from_str("Cafe", &mut bytes, false, &mut problems).unwrap();
//! enc.encode_from_str("\u{301}!", &mut bytes, true, &mut problems).unwrap();
//! assert_eq!(bytes, b"Caf\xE2e!");
//! assert!(problems.is_empty());
//! ```
//!
//! # Safety
//!
//! The crate denies `unsafe` code but for two functions: `ascii::ascii_str`, which views bytes
//! the ASCII scanner found to be below 0x80 as a `str` without validating them again (the scanner
//! is tested exhaustively against its byte-by-byte definition), and the call of Linux's
//! `sync_file_range` in `atomic` (advice to start writing an output to disk early).

// Two `unsafe` blocks in the crate: `ascii::ascii_str`, which skips re-validating bytes the ASCII
// scanner has already proved to be below 0x80, and `atomic::Writeback`'s `sync_file_range`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod ascii;
mod atomic;
mod batch;
mod charset;
pub mod convert;
mod decoder;
mod encoder;
pub mod file;
mod interchange;
mod kinds;
pub mod marcjson;
pub mod marcxml;
pub mod model;
mod ncr;
pub mod pipeline;
mod problem;
pub mod reader;
pub mod record;
pub mod search;
pub mod sink;
mod tables;
#[cfg(test)]
mod testing;
pub mod validate;
pub mod writer;

pub use charset::{codes_for, Charset, Code, Mapping, ALL_CHARSETS};
pub use decoder::{
    decode, decode_append, decode_report, is_verbatim, normalize, DecodeOptions, Decoder,
    ErrorMode, Normalization,
};
pub use encoder::{encode, encode_report, EncodeErrors, EncodeOptions, Encoder};
pub use kinds::{RecordAction, RecordKind, Severity};
pub use problem::{char_shown, hex_bytes, Action, Problem, ProblemKind};
pub use tables::EACC_CODE_COUNT;
