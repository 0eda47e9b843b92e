//! The twelve MARC-8 graphic character sets and lookups into the generated LC tables.

use crate::tables;

/// A MARC-8 graphic character set, named by LC's code table.
///
/// The discriminants index the generated tables; every set but [`Charset::Eacc`] is a single-byte
/// 94-character set and may be designated into either G0 or G1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Charset {
    /// Basic Latin (ASCII), final `B` (0x42).
    Ascii = 0,
    /// Extended Latin (ANSEL), final `E` (0x45), also written `! E`.
    Ansel = 1,
    /// Greek symbols, technique 1 `ESC g`, final `g` (0x67).
    GreekSymbols = 2,
    /// Subscripts, technique 1 `ESC b`, final `b` (0x62).
    Subscript = 3,
    /// Superscripts, technique 1 `ESC p`, final `p` (0x70).
    Superscript = 4,
    /// Basic Hebrew, final `2` (0x32).
    Hebrew = 5,
    /// Basic Cyrillic, final `N` (0x4E).
    Cyrillic = 6,
    /// Extended Cyrillic, final `Q` (0x51).
    ExtCyrillic = 7,
    /// Basic Arabic, final `3` (0x33).
    Arabic = 8,
    /// Extended Arabic, final `4` (0x34).
    ExtArabic = 9,
    /// Basic Greek, final `S` (0x53).
    Greek = 10,
    /// East Asian Character Code (CJK), 3 bytes per character, final `1` (0x31).
    Eacc = 11,
}

/// Every set, in table order.
pub const ALL_CHARSETS: [Charset; 12] = [
    Charset::Ascii,
    Charset::Ansel,
    Charset::GreekSymbols,
    Charset::Subscript,
    Charset::Superscript,
    Charset::Hebrew,
    Charset::Cyrillic,
    Charset::ExtCyrillic,
    Charset::Arabic,
    Charset::ExtArabic,
    Charset::Greek,
    Charset::Eacc,
];

/// What a table position holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// A spacing (base) character.
    Base(char),
    /// A combining mark: written before its base in MARC-8, after it in Unicode.
    Mark(char),
    /// The first half of a double diacritic (ANSEL EB, FA): U+0361 / U+0360 since LC's 2004
    /// mapping; the second field is the pre-2004 half mark (U+FE20 / U+FE22).
    LeftHalf(char, char),
    /// The second half of a double diacritic (ANSEL EC, FB). LC gives it no primary mapping; the
    /// value is LC's alternative, the half mark U+FE21 / U+FE23.
    RightHalf(char),
}

impl Charset {
    /// The set designated by an escape sequence's final byte (the `!` of ANSEL's `! E` already
    /// removed), or `None` if MARC-8 has no such set.
    #[must_use]
    pub fn from_final(final_byte: u8) -> Option<Charset> {
        Some(match final_byte {
            b'B' => Charset::Ascii,
            b'E' => Charset::Ansel,
            b'g' => Charset::GreekSymbols,
            b'b' => Charset::Subscript,
            b'p' => Charset::Superscript,
            b'2' => Charset::Hebrew,
            b'N' => Charset::Cyrillic,
            b'Q' => Charset::ExtCyrillic,
            b'3' => Charset::Arabic,
            b'4' => Charset::ExtArabic,
            b'S' => Charset::Greek,
            b'1' => Charset::Eacc,
            _ => return None,
        })
    }

    /// The final byte that designates this set.
    #[must_use]
    pub fn final_byte(self) -> u8 {
        b"BEgbp2NQ34S1"[self as usize]
    }

    /// True for EACC, the only set with more than one byte per character.
    #[must_use]
    pub fn is_multibyte(self) -> bool {
        self == Charset::Eacc
    }

    /// True for the technique-1 sets (`ESC g`, `ESC b`, `ESC p`), which are left with `ESC s`.
    #[must_use]
    pub fn is_technique1(self) -> bool {
        matches!(
            self,
            Charset::GreekSymbols | Charset::Subscript | Charset::Superscript
        )
    }

    /// LC's name of the set.
    #[must_use]
    pub fn name(self) -> &'static str {
        [
            "Basic Latin (ASCII)",
            "Extended Latin (ANSEL)",
            "Greek Symbols",
            "Subscripts",
            "Superscripts",
            "Basic Hebrew",
            "Basic Cyrillic",
            "Extended Cyrillic",
            "Basic Arabic",
            "Extended Arabic",
            "Basic Greek",
            "Chinese, Japanese, Korean (EACC)",
        ][self as usize]
    }

    /// A short identifier, used in reports and JSON (`"ascii"`, `"ansel"`, …).
    #[must_use]
    pub fn short_name(self) -> &'static str {
        [
            "ascii",
            "ansel",
            "greek_symbols",
            "subscript",
            "superscript",
            "hebrew",
            "cyrillic",
            "ext_cyrillic",
            "arabic",
            "ext_arabic",
            "greek",
            "eacc",
        ][self as usize]
    }

    /// Looks up a graphic byte of a single-byte set. The byte may be given in its GL (0x21–0x7E)
    /// or GR (0xA1–0xFE) form; only `byte & 0x7F` matters. Returns `None` for an unassigned
    /// position, for EACC, and for the control positions below 0x21.
    #[inline]
    #[must_use]
    pub fn lookup(self, byte: u8) -> Option<Mapping> {
        let key = byte & 0x7F;
        if self == Charset::Eacc || key < 0x21 {
            return None;
        }
        decode_entry(tables::SINGLE[self as usize][usize::from(key)], self, key)
    }

    /// Looks up an EACC character by its three bytes (GL or GR form; only the low 7 bits count).
    #[inline]
    #[must_use]
    pub fn lookup_eacc(b1: u8, b2: u8, b3: u8) -> Option<char> {
        eacc_lookup(b1 & 0x7F, b2 & 0x7F, b3 & 0x7F)
    }
}

#[inline]
fn decode_entry(entry: u32, set: Charset, key: u8) -> Option<Mapping> {
    if entry & tables::MAPPED == 0 {
        return None;
    }
    let ch = char::from_u32(entry & tables::CP_MASK)?;
    Some(if entry & tables::RIGHT_HALF != 0 {
        Mapping::RightHalf(ch)
    } else if entry & tables::LEFT_HALF != 0 {
        Mapping::LeftHalf(ch, legacy_half(set, key).unwrap_or(ch))
    } else if entry & tables::COMBINING != 0 {
        Mapping::Mark(ch)
    } else {
        Mapping::Base(ch)
    })
}

fn legacy_half(set: Charset, key: u8) -> Option<char> {
    tables::LEGACY_HALVES
        .iter()
        .find(|&&(s, k, _)| s == set as u8 && k == key)
        .and_then(|&(_, _, cp)| char::from_u32(cp))
}

#[inline]
fn eacc_lookup(b1: u8, b2: u8, b3: u8) -> Option<char> {
    if !(0x21..=0x7E).contains(&b1) || !(0x21..=0x7E).contains(&b2) || !(0x20..=0x7E).contains(&b3)
    {
        return None;
    }
    let pair = usize::from(b1 - 0x21) * 94 + usize::from(b2 - 0x21);
    let row = tables::EACC_PAIR[pair];
    if row == 0 {
        return None;
    }
    let (bitmap, base) = tables::EACC_ROWS[usize::from(row - 1)];
    let bit = 1u128 << (b3 - 0x20);
    if bitmap & bit == 0 {
        return None;
    }
    let rank = (bitmap & (bit - 1)).count_ones() as usize;
    char::from_u32(tables::EACC_VALUES[usize::from(base) + rank])
}

/// One MARC-8 encoding of a Unicode scalar value, as listed by LC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    /// The set the code belongs to.
    pub set: Charset,
    /// The code as LC lists it: GR value for ANSEL / Extended Cyrillic / Extended Arabic, GL for
    /// the other single-byte sets, the 24-bit value for EACC.
    pub code: u32,
    /// True when the code point is LC's alternative (`alt`) mapping rather than the primary one.
    pub is_alt: bool,
}

/// Every MARC-8 code LC maps to or from `ch`, primary mappings first, each group in the order of
/// LC's file. Empty if MARC-8 has no code for `ch` (it may still be reachable by decomposition).
pub fn codes_for(ch: char) -> impl Iterator<Item = Code> {
    reverse_entries(u32::from(ch))
        .iter()
        .map(|&(_, set, code, is_alt)| Code {
            set: ALL_CHARSETS[usize::from(set)],
            code,
            is_alt,
        })
}

/// The entries of the reverse table for one code point. Code points of the BMP (all but a few
/// hundred EACC ideographs) are found in O(1) through an index built on first use: the encoder
/// asks several times per character, and a binary search over the 16,000 entries was most of its
/// time.
fn reverse_entries(cp: u32) -> &'static [(u32, u8, u32, bool)] {
    static BMP: std::sync::OnceLock<Box<[u32]>> = std::sync::OnceLock::new();
    let (start, len) = match usize::try_from(cp).ok().filter(|&c| c < 0x1_0000) {
        Some(c) => {
            // Each slot: start << 8 | count (LC maps no code point more than 255 times).
            let slot = BMP.get_or_init(|| {
                let mut index = vec![0u32; 0x1_0000].into_boxed_slice();
                for (i, e) in tables::REVERSE.iter().enumerate() {
                    if let Some(s) = index.get_mut(e.0 as usize) {
                        if *s == 0 {
                            *s = (i as u32) << 8;
                        }
                        *s += 1;
                    }
                }
                index
            })[c];
            ((slot >> 8) as usize, (slot & 0xFF) as usize)
        }
        None => {
            let start = tables::REVERSE.partition_point(|e| e.0 < cp);
            let len = tables::REVERSE[start..]
                .iter()
                .take_while(|e| e.0 == cp)
                .count();
            (start, len)
        }
    };
    &tables::REVERSE[start..start + len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finals_round_trip() {
        for set in ALL_CHARSETS {
            assert_eq!(Charset::from_final(set.final_byte()), Some(set));
        }
        assert_eq!(Charset::from_final(b'Z'), None);
    }

    #[test]
    fn register_does_not_matter() {
        assert_eq!(
            Charset::Cyrillic.lookup(0x41),
            Charset::Cyrillic.lookup(0xC1)
        );
        assert_eq!(Charset::Ansel.lookup(0xE2), Some(Mapping::Mark('\u{301}')));
        assert_eq!(Charset::Ansel.lookup(0x62), Some(Mapping::Mark('\u{301}')));
    }

    #[test]
    fn double_diacritics() {
        assert_eq!(
            Charset::Ansel.lookup(0xEB),
            Some(Mapping::LeftHalf('\u{361}', '\u{FE20}'))
        );
        assert_eq!(
            Charset::Ansel.lookup(0xEC),
            Some(Mapping::RightHalf('\u{FE21}'))
        );
        assert_eq!(
            Charset::Ansel.lookup(0xFA),
            Some(Mapping::LeftHalf('\u{360}', '\u{FE22}'))
        );
    }

    #[test]
    fn eacc_rank_select() {
        assert_eq!(Charset::lookup_eacc(0x21, 0x30, 0x64), Some('人'));
        assert_eq!(Charset::lookup_eacc(0xA1, 0xB0, 0xE4), Some('人'));
        assert_eq!(Charset::lookup_eacc(0x21, 0x23, 0x20), Some('\u{3000}'));
        assert_eq!(Charset::lookup_eacc(0x6F, 0x76, 0x24), Some('\u{E8B0}'));
        assert_eq!(Charset::lookup_eacc(0x20, 0x30, 0x64), None);
        assert_eq!(Charset::lookup_eacc(0x7E, 0x7E, 0x7E), None);
    }

    #[test]
    fn reverse_prefers_primary_and_lists_all() {
        let codes: Vec<Code> = codes_for('\u{3000}').collect();
        assert!(codes.iter().any(|c| c.code == 0x212320));
        assert!(codes.iter().any(|c| c.code == 0x212321));
        let a: Vec<Code> = codes_for('α').collect();
        assert!(a.iter().any(|c| c.set == Charset::Greek));
        assert!(a.iter().any(|c| c.set == Charset::GreekSymbols));
        assert_eq!(
            codes_for('\u{FE21}').next().map(|c| (c.code, c.is_alt)),
            Some((0xEC, true))
        );
        assert_eq!(codes_for('\u{0900}').count(), 0);
    }

    #[test]
    fn the_index_agrees_with_a_search_for_every_code_point() {
        for cp in (0..0x11_0000u32).filter(|c| !(0xD800..0xE000).contains(c)) {
            let start = tables::REVERSE.partition_point(|e| e.0 < cp);
            let end = tables::REVERSE.partition_point(|e| e.0 <= cp);
            assert_eq!(
                reverse_entries(cp),
                &tables::REVERSE[start..end],
                "U+{cp:04X}"
            );
        }
    }
}
