//! Python keyword arguments → core options.

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
