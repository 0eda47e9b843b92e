//! Which code the encoder writes a character with, and how the character behaves (base, mark,
//! half of a double diacritic): LC's reverse table, asked two or three times for every character
//! that is not in a run of ASCII.
//!
//! For a code point of the BMP the answers that do not depend on the encoder's state are worked
//! out on first use and kept, one word per code point ([`memo`]): its [`Kind`], and its code when
//! every code [`choose`] could pick lies in one set (then the preferences cannot change the
//! choice; true of most letters and marks). Only a character with codes in several sets (ASCII
//! digits and punctuation, which the Hebrew, Cyrillic and Arabic sets repeat) goes through the
//! table each time. The memo holds nothing the table does not say: `choose` and `kind` answer
//! exactly what [`choose_slow`] and [`kind_slow`] answer (a test goes through the whole BMP).

use std::sync::atomic::{AtomicU64, Ordering};

use unicode_normalization::char::compose;
use unicode_normalization::UnicodeNormalization;

use super::Kind;
use crate::charset::{codes_for, Charset, Code, Mapping, ALL_CHARSETS};

/// The code to write `c` with: among LC's codes for it (primary ones if it has any; never the
/// decode-only Greek-symbols set), the first one in a set of `prefs` (earlier preferences first),
/// else the first one. `None` if `c` has no usable code.
pub(super) fn choose(c: char, prefs: [Option<Charset>; 3]) -> Option<Code> {
    let word = memo(c);
    match word & CODES {
        NO_CODE => None,
        ONE_CODE => Some(code_of(word)),
        _ => choose_slow(c, prefs),
    }
}

/// The code and kind of `c` if every candidate code of it lies in one set: [`choose`] then
/// gives this code whatever the preferences.
#[inline]
pub(super) fn only_code(c: char) -> Option<(Code, Kind)> {
    let word = memo(c);
    if word & CODES != ONE_CODE {
        return None;
    }
    kind_of(word).map(|k| (code_of(word), k))
}

/// How `c` behaves if it has a usable code; `None` if it has none (it is then a candidate for
/// decomposition). Controls, SPACE and the C1 specials are dealt with before this is asked.
pub(super) fn kind(c: char) -> Option<Kind> {
    kind_of(memo(c))
}

/// The pieces of `c` (which has no code of its own): its full canonical decomposition,
/// recomposed greedily from the left as long as the recomposed character has a code. `None` if
/// `c` does not decompose or a piece has no code.
pub(super) fn decompose(c: char) -> Option<Vec<(char, Kind)>> {
    let full: Vec<char> = std::iter::once(c).nfd().collect();
    if full.len() == 1 && full[0] == c {
        return None;
    }
    let mut pieces = Vec::with_capacity(full.len());
    let mut i = 0;
    while i < full.len() {
        let mut acc = full[i];
        let mut best = kind(acc).map(|k| (i, acc, k));
        for (j, &next) in full.iter().enumerate().skip(i + 1) {
            match compose(acc, next) {
                Some(x) => {
                    acc = x;
                    if let Some(k) = kind(x) {
                        best = Some((j, x, k));
                    }
                }
                None => break,
            }
        }
        let (j, piece, k) = best?;
        pieces.push((piece, k));
        i = j + 1;
    }
    Some(pieces)
}

/// The codes [`choose_slow`] picks among, in LC's order: LC's codes for `c` but the
/// Greek-symbols set's, and only the primary ones if `c` has one.
fn candidates(c: char) -> impl Iterator<Item = Code> {
    let mut first_is_alt: Option<bool> = None;
    codes_for(c)
        .filter(|k| k.set != Charset::GreekSymbols)
        .take_while(move |k| {
            // Primary codes come first: once the alternatives start, stop if there was a primary
            // (go on while this one is primary, or the first one was an alternative too).
            let first_alt = *first_is_alt.get_or_insert(k.is_alt);
            !k.is_alt || first_alt
        })
}

/// [`choose`] from LC's table, without the memo.
fn choose_slow(c: char, prefs: [Option<Charset>; 3]) -> Option<Code> {
    if c == '\u{3000}' {
        // ANSI Z39.64's code, not `21 23 20` ("some implementations").
        return Some(Code {
            set: Charset::Eacc,
            code: 0x21_2321,
            is_alt: false,
        });
    }
    let mut first: Option<Code> = None;
    let mut best: Option<(usize, Code)> = None;
    for k in candidates(c) {
        first.get_or_insert(k);
        if let Some(rank) = prefs.iter().position(|&p| p == Some(k.set)) {
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, k));
                if rank == 0 {
                    break;
                }
            }
        }
    }
    best.map(|(_, k)| k).or(first)
}

/// [`kind`] from LC's table, without the memo.
fn kind_slow(c: char) -> Option<Kind> {
    let code = choose_slow(c, [None; 3])?;
    if code.set == Charset::Eacc {
        return Some(Kind::Base);
    }
    Some(match code.set.lookup(code.code as u8)? {
        Mapping::Base(_) => Kind::Base,
        Mapping::Mark(_) => Kind::Mark,
        Mapping::LeftHalf(modern, _) if modern == c => {
            Kind::ModernOpen(if modern == '\u{360}' { 0xFB } else { 0xEC })
        }
        Mapping::LeftHalf(..) => Kind::LegacyOpen,
        Mapping::RightHalf(_) => Kind::Close,
    })
}

/// What [`choose`] can know of a character without the preferences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Codes {
    /// No usable code: `choose` says `None` whatever the preferences.
    None,
    /// Every candidate lies in one set (or `c` is U+3000): `choose` says this code whatever the
    /// preferences (the first candidate wins among candidates of one set).
    One(Code),
    /// Candidates in several sets: the preferences decide.
    Several,
}

/// The state-free answers for one character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Memo {
    codes: Codes,
    kind: Option<Kind>,
}

fn work_out(c: char) -> Memo {
    let codes = if c == '\u{3000}' {
        choose_slow(c, [None; 3]).map_or(Codes::None, Codes::One)
    } else {
        let mut all = candidates(c);
        match all.next() {
            None => Codes::None,
            Some(first) if all.all(|k| k.set == first.set) => Codes::One(first),
            Some(_) => Codes::Several,
        }
    };
    Memo {
        codes,
        kind: kind_slow(c),
    }
}

/// The memo of `c`, packed: kept for the BMP, one word per code point (512 KiB of zeroed
/// memory, of which only the pages of the scripts met are ever touched), worked out each time
/// above it. A slot is written once with what any thread would write, so relaxed loads and
/// stores suffice. Read through [`code_of`] and [`kind_of`], which unpack only what is asked.
#[inline]
fn memo(c: char) -> u64 {
    if let Some(slot) = SLOTS.get(c as usize) {
        let word = slot.load(Ordering::Relaxed);
        if word != 0 {
            return word;
        }
    }
    memo_first(c)
}

static SLOTS: [AtomicU64; 0x1_0000] = [const { AtomicU64::new(0) }; 0x1_0000];

/// [`memo`] the first time `c` is met (and every time above the BMP), out of line.
#[cold]
#[inline(never)]
fn memo_first(c: char) -> u64 {
    let word = pack(work_out(c));
    if let Some(slot) = SLOTS.get(c as usize) {
        slot.store(word, Ordering::Relaxed);
    }
    word
}

// A slot's word: bit 63 set once worked out; bits 0-23 the code, 24-27 its set (`Charset as
// u8`), 28 is_alt, 29-30 the `Codes` variant, 32-34 the `Kind` variant (0 = none), 40-47 a
// modern left half's closing byte.
const WORKED_OUT: u64 = 1 << 63;
const CODES: u64 = 3 << 29;
const NO_CODE: u64 = 0;
const ONE_CODE: u64 = 1 << 29;
const SEVERAL_CODES: u64 = 2 << 29;

/// The sets by their number (`Charset as u8`), padded to 16 so that four bits index it.
const SETS: [Charset; 16] = {
    let mut sets = [Charset::Ascii; 16];
    let mut i = 0;
    while i < ALL_CHARSETS.len() {
        sets[ALL_CHARSETS[i] as usize] = ALL_CHARSETS[i];
        i += 1;
    }
    sets
};

fn pack(m: Memo) -> u64 {
    let codes = match m.codes {
        Codes::None => NO_CODE,
        Codes::One(k) => {
            ONE_CODE | u64::from(k.code) | (k.set as u64) << 24 | u64::from(k.is_alt) << 28
        }
        Codes::Several => SEVERAL_CODES,
    };
    let (kind, close) = match m.kind {
        None => (0u64, 0u8),
        Some(Kind::Base) => (1, 0),
        Some(Kind::Mark) => (2, 0),
        Some(Kind::ModernOpen(b)) => (3, b),
        Some(Kind::LegacyOpen) => (4, 0),
        Some(Kind::Close) => (5, 0),
    };
    WORKED_OUT | codes | kind << 32 | u64::from(close) << 40
}

/// The code of a word whose variant is `ONE_CODE`.
#[inline]
fn code_of(word: u64) -> Code {
    Code {
        set: SETS[((word >> 24) & 0xF) as usize],
        code: (word & 0xFF_FFFF) as u32,
        is_alt: word & (1 << 28) != 0,
    }
}

#[inline]
fn kind_of(word: u64) -> Option<Kind> {
    match (word >> 32) & 7 {
        0 => None,
        1 => Some(Kind::Base),
        2 => Some(Kind::Mark),
        3 => Some(Kind::ModernOpen((word >> 40) as u8)),
        4 => Some(Kind::LegacyOpen),
        _ => Some(Kind::Close),
    }
}

#[cfg(test)]
fn unpack(word: u64) -> Memo {
    Memo {
        codes: match word & CODES {
            NO_CODE => Codes::None,
            ONE_CODE => Codes::One(code_of(word)),
            _ => Codes::Several,
        },
        kind: kind_of(word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code point of the BMP (and a few above): the memo says what the table says, and
    /// survives its packing; a code it gives as the only one is what `choose_slow` gives under
    /// every preference.
    #[test]
    fn the_memo_answers_what_the_table_answers() {
        let mut prefs: Vec<[Option<Charset>; 3]> = vec![[None; 3]];
        for &a in &ALL_CHARSETS {
            prefs.push([Some(a), None, None]);
            prefs.push([None, Some(a), Some(Charset::Ascii)]);
        }
        let (mut one, mut several) = (0, 0);
        let above = (0x1_0000..0x1_0100).chain([0x2_0000, 0x2_A6D6, 0x10_FFFF]);
        for c in (0..0x1_0000u32).chain(above).filter_map(char::from_u32) {
            let m = work_out(c);
            assert_eq!(unpack(pack(m)), m, "{c:?}");
            assert_eq!(unpack(memo(c)), m, "{c:?}");
            assert_eq!(kind(c), kind_slow(c), "{c:?}");
            match m.codes {
                Codes::One(_) => one += 1,
                Codes::Several => several += 1,
                Codes::None => {}
            }
            for p in &prefs {
                assert_eq!(choose(c, *p), choose_slow(c, *p), "{c:?} {p:?}");
            }
        }
        // The memo is worth having: most characters with codes have them in one set.
        assert!(one > 10 * several && several > 0, "{one} {several}");
    }
}
