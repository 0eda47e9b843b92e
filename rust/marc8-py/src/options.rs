//! Python keyword arguments → core options.

use marc8::model::ReadOptions;
use marc8::record::{RecordOptions, Target, Trust};
use marc8::{DecodeOptions, EncodeErrors, EncodeOptions, ErrorMode, Normalization};
use pyo3::PyResult;

use crate::errors::bad_option;

pub(crate) fn decode_options(
    errors: &str,
    normalize: Option<&str>,
    expand_ncr: bool,
    legacy_ligatures: bool,
) -> PyResult<DecodeOptions> {
    let errors = match errors {
        "strict" => ErrorMode::Strict,
        "replace" => ErrorMode::Replace,
        other => return Err(bad_option("errors", other, "'strict' or 'replace'")),
    };
    let normalize = match normalize {
        None => Normalization::None,
        Some(n) if n.eq_ignore_ascii_case("nfc") => Normalization::Nfc,
        Some(n) if n.eq_ignore_ascii_case("nfd") => Normalization::Nfd,
        Some(other) => {
            return Err(bad_option(
                "normalize",
                other,
                "None, 'NFC' or 'NFD' (NFKC/NFKD would destroy sub- and superscripts)",
            ))
        }
    };
    Ok(DecodeOptions {
        errors,
        normalize,
        expand_ncr,
        legacy_ligatures,
    })
}

pub(crate) fn encode_options(errors: &str) -> PyResult<EncodeOptions> {
    let errors =
        match errors {
            "strict" => EncodeErrors::Strict,
            "lossless" => EncodeErrors::Lossless,
            "lossy" => EncodeErrors::Lossy,
            other => return Err(bad_option(
                "errors",
                other,
                "'strict', 'lossless' (LC's &#xXXXX; references) or 'lossy' (the fill character |)",
            )),
        };
    Ok(EncodeOptions { errors })
}

/// The encoding named by the keyword argument `arg` (`to`, `encoding`).
pub(crate) fn target(arg: &str, value: &str) -> PyResult<Target> {
    match value {
        "utf8" | "utf-8" | "UTF-8" => Ok(Target::Utf8),
        "marc8" | "marc-8" | "MARC-8" => Ok(Target::Marc8),
        other => Err(bad_option(arg, other, "'utf8' or 'marc8'")),
    }
}

pub(crate) fn encoding_options(encoding: &str, errors: &str) -> PyResult<(Target, EncodeErrors)> {
    Ok((
        target("encoding", encoding)?,
        encode_options(errors)?.errors,
    ))
}

pub(crate) fn read_options(
    trust: &str,
    normalize: Option<&str>,
    expand_ncr: bool,
    legacy_ligatures: bool,
) -> PyResult<ReadOptions> {
    Ok(ReadOptions {
        decode: decode_options("replace", normalize, expand_ncr, legacy_ligatures)?,
        trust: trust_option(trust)?,
    })
}

/// The `trust` keyword argument.
pub(crate) fn trust_option(trust: &str) -> PyResult<Trust> {
    match trust {
        "leader" => Ok(Trust::Leader),
        "data" => Ok(Trust::Data),
        other => Err(bad_option("trust", other, "'leader' or 'data'")),
    }
}

/// Keyword arguments → record options.
pub(crate) fn record_options(
    to: &str,
    errors: Option<&str>,
    normalize: Option<&str>,
    expand_ncr: bool,
    legacy_ligatures: bool,
    trust: &str,
) -> PyResult<RecordOptions> {
    let target = target("to", to)?;
    let mut opts = RecordOptions::new(target);
    opts.decode = decode_options("replace", normalize, expand_ncr, legacy_ligatures)?;
    match (target, errors) {
        (_, None) => {}
        (Target::Utf8, Some("strict")) => opts.decode.errors = ErrorMode::Strict,
        (Target::Utf8, Some("replace")) => {}
        (Target::Utf8, Some(other)) => {
            return Err(bad_option(
                "errors (to='utf8')",
                other,
                "'replace' or 'strict'",
            ))
        }
        (Target::Marc8, Some(e)) => opts.encode = encode_options(e)?,
    }
    opts.trust = trust_option(trust)?;
    Ok(opts)
}
