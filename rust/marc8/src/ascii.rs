//! Wide scanning of runs that convert verbatim.
//!
//! A byte can be copied as it is while G0 is ASCII and nothing is pending when it is SPACE, a
//! graphic ASCII character or one of the three controls MARC data uses (1D, 1E, 1F): the run
//! stops at every other C0 control (ESC included), at DEL and at every byte ≥ 0x80, so the
//! per-character path sees (and reports) the controls MARC 21 forbids. With NCR expansion on, `&`
//! also ends a run so that the NCR recogniser sees it.
//!
//! The control check costs nothing: "below 0x1D" is one subtract-and-mask test per word, which
//! also covers ESC (0x1B) and replaces the equality test for it the scan had before.
//!
//! Catalogue subfields are short (15 bytes on average in LC's records), so the scan works a
//! 64-bit word at a time (SWAR) rather than in 16-byte vectors, which would leave most fields to a
//! byte-by-byte tail; the last partial word is read overlapping the previous one.

/// 0x01 in every byte of a word (SWAR; also used by the MARCXML direct writer's scan).
pub(crate) const LO: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte of a word.
pub(crate) const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `x` that is zero. Bytes above a zero byte may be flagged too
/// (borrow), so only the lowest flag is exact, which is the one we use.
#[inline(always)]
pub(crate) fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(LO) & !x & HI
}

/// High bit set in each byte of `x` below 0x1D (bytes with the high bit set are left out: the
/// `≥ 0x7F` test flags them). As in [`zero_bytes`], a borrow can only flag bytes above a flagged
/// one, so the lowest flag is exact.
#[inline(always)]
fn below_1d(x: u64) -> u64 {
    x.wrapping_sub(0x1D * LO) & !x & HI
}

/// High bit set in the first byte (lowest in little-endian order) of `w` that stops a run.
#[inline(always)]
fn stops<const AMP: bool>(w: u64) -> u64 {
    // `b >= 0x7F` ⇔ the high bit of b or of b + 1 is set. A carry only leaves a 0xFF byte,
    // itself a stop, so it cannot hide or invent the lowest stop.
    let mut m = (w | w.wrapping_add(LO)) & HI;
    // Controls other than 1D, 1E, 1F (ESC among them).
    m |= below_1d(w);
    if AMP {
        m |= zero_bytes(w ^ (u64::from(b'&') * LO));
    }
    m
}

/// The byte-by-byte definition of a byte that ends a run.
#[inline(always)]
fn stops_byte<const AMP: bool>(b: u8) -> bool {
    !(0x1D..0x7F).contains(&b) || (AMP && b == b'&')
}

#[inline(always)]
fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes);
    u64::from_le_bytes(w)
}

/// Length of the longest prefix of `src` made only of bytes that can be copied verbatim.
#[inline]
pub(crate) fn copyable_prefix<const AMP: bool>(src: &[u8]) -> usize {
    let len = src.len();
    if len < 8 {
        return src
            .iter()
            .position(|&b| stops_byte::<AMP>(b))
            .unwrap_or(len);
    }
    let mut i = 0;
    while i + 16 <= len {
        let (ma, mb) = (
            stops::<AMP>(word(&src[i..i + 8])),
            stops::<AMP>(word(&src[i + 8..i + 16])),
        );
        if ma | mb != 0 {
            return if ma != 0 {
                i + (ma.trailing_zeros() / 8) as usize
            } else {
                i + 8 + (mb.trailing_zeros() / 8) as usize
            };
        }
        i += 16;
    }
    if i + 8 <= len {
        let m = stops::<AMP>(word(&src[i..i + 8]));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    if i < len {
        // The last word overlaps bytes already known to be copyable, so its lowest stop (if
        // any) is at or after `i`. No copy into a padded buffer: that would be a `memcpy` call
        // per short field.
        let m = stops::<AMP>(word(&src[len - 8..]));
        if m != 0 {
            return len - 8 + (m.trailing_zeros() / 8) as usize;
        }
    }
    len
}

/// Views bytes that [`copyable_prefix`] accepted (all below 0x7F) as a `str` without validating
/// them a second time.
#[inline]
#[allow(unsafe_code)]
pub(crate) fn ascii_str(bytes: &[u8]) -> &str {
    debug_assert!(bytes.is_ascii());
    // SAFETY: every byte is below 0x80 (callers pass only prefixes `copyable_prefix` accepted,
    // whose agreement with the byte-by-byte definition is tested exhaustively below and by
    // proptest), and a sequence of such bytes is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference<const AMP: bool>(src: &[u8]) -> usize {
        src.iter()
            .position(|&b| !(0x1D..0x7F).contains(&b) || (AMP && b == b'&'))
            .unwrap_or(src.len())
    }

    #[test]
    fn every_byte_value_at_every_position_and_alignment() {
        for len in 0..40 {
            for at in 0..len {
                for stop in 0..=255u8 {
                    let mut v = vec![b'x'; len];
                    v[at] = stop;
                    // A second candidate later on must not mask the first.
                    if at + 1 < len {
                        v[len - 1] = 0xFF;
                    }
                    assert_eq!(
                        copyable_prefix::<true>(&v),
                        reference::<true>(&v),
                        "{v:02X?}"
                    );
                    assert_eq!(
                        copyable_prefix::<false>(&v),
                        reference::<false>(&v),
                        "{v:02X?}"
                    );
                }
            }
        }
    }

    #[test]
    fn only_marc_controls_are_copyable() {
        assert_eq!(copyable_prefix::<false>(b"a\x1fb\x1e\x1d"), 5);
        assert_eq!(copyable_prefix::<false>(b"a\x1fb\x1e\n"), 4);
        assert_eq!(copyable_prefix::<false>(b"abcdefghijklmno\x01"), 15);
        assert_eq!(copyable_prefix::<false>(b"abcdefghijklmno\x1b"), 15);
        assert_eq!(copyable_prefix::<false>(b""), 0);
    }

    proptest! {
        #[test]
        fn agrees_with_the_definition(v in proptest::collection::vec(any::<u8>(), 0..80),
                                      bias in proptest::collection::vec(0x00u8..0x7F, 0..80)) {
            let mut w = bias;
            w.extend_from_slice(&v);
            prop_assert_eq!(copyable_prefix::<true>(&w), reference::<true>(&w));
            prop_assert_eq!(copyable_prefix::<false>(&w), reference::<false>(&w));
        }
    }
}
