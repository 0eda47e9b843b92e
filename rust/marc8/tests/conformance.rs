//! Exhaustive conformance with LC's code tables: every code decodes to its LC Unicode value, in
//! its normal register and (single-byte sets) in the other one.
//!
//! `tests/data/codetables.tsv` is written by `tools/gen_tables.py` from LC's `codetables.xml`.

use marc8::{decode, DecodeOptions};

const TSV: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/codetables.tsv"
));

struct Entry {
    set: u8,
    marc: u32,
    ucs: Option<char>,
    alt: Option<char>,
    combining: bool,
}

fn entries() -> Vec<Entry> {
    let cp = |s: &str| {
        (!s.is_empty()).then(|| char::from_u32(u32::from_str_radix(s, 16).unwrap()).unwrap())
    };
    TSV.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            Entry {
                set: u8::from_str_radix(c[0], 16).unwrap(),
                marc: u32::from_str_radix(c[1], 16).unwrap(),
                ucs: cp(c[2]),
                alt: cp(c[3]),
                combining: c[4] == "1",
            }
        })
        .collect()
}

/// Sets LC lists by their GR (high-byte) values: they normally sit in G1.
fn listed_as_g1(set: u8) -> bool {
    matches!(set, b'E' | b'Q' | b'4')
}

fn designate(set: u8, g1: bool) -> Vec<u8> {
    match (set, g1) {
        (b'B', false) => vec![],
        (b'g' | b'b' | b'p', false) => vec![0x1B, set],
        (_, false) => vec![0x1B, b'(', set],
        (_, true) => vec![0x1B, b')', set],
    }
}

fn expected(e: &Entry) -> String {
    // A right half of a double diacritic has no primary mapping; alone, it decodes to LC's alt.
    let ch = e.ucs.or(e.alt).unwrap();
    if e.combining {
        format!(" {ch}")
    } else {
        ch.to_string()
    }
}

fn check(input: &[u8], want: &str, what: &str) {
    match decode(input, &DecodeOptions::default()) {
        Ok(got) => assert_eq!(got, want, "{what}: {input:02X?}"),
        Err(p) => panic!("{what}: {input:02X?}: {p}"),
    }
}

#[test]
fn every_code_in_every_register() {
    let all = entries();
    assert_eq!(all.len(), 16_400, "codetables.xml has 16,400 codes");
    let (mut normal, mut other, mut controls, mut esc) = (0, 0, 0, 0);
    for e in &all {
        if e.set == b'1' {
            let b = [(e.marc >> 16) as u8, (e.marc >> 8) as u8, e.marc as u8];
            let mut g0 = b"\x1b$1".to_vec();
            g0.extend_from_slice(&b);
            check(&g0, &expected(e), "EACC G0");
            let mut g1 = b"\x1b$)1".to_vec();
            g1.extend(b.iter().map(|x| x | 0x80));
            check(&g1, &expected(e), "EACC G1");
            normal += 1;
            other += 1;
            continue;
        }
        let byte = e.marc as u8;
        if byte & 0x7F <= 0x20 {
            // Controls and SPACE mean the same in every set and need no designation.
            if byte == 0x1B {
                esc += 1; // ESC introduces escape sequences; it is never text.
                continue;
            }
            check(&[byte], &expected(e), "control");
            controls += 1;
            continue;
        }
        let space_first = |mut v: Vec<u8>, b: u8| {
            // Marks need a base: SPACE is a base in every set.
            v.push(b);
            if e.combining {
                v.push(b' ');
            }
            v
        };
        let g1_normal = listed_as_g1(e.set);
        let input = space_first(
            designate(e.set, g1_normal),
            if g1_normal { byte | 0x80 } else { byte & 0x7F },
        );
        check(&input, &expected(e), "normal register");
        normal += 1;
        let input = space_first(
            designate(e.set, !g1_normal),
            if g1_normal { byte & 0x7F } else { byte | 0x80 },
        );
        check(&input, &expected(e), "other register");
        other += 1;
    }
    assert_eq!(esc, 1);
    assert_eq!(normal + controls + esc, 16_400);
    assert!(other >= 16_000, "{other}");
}
