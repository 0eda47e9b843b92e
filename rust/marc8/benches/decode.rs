//! Decoder throughput on real catalogue data, and EACC lookup speed.
//!
//! Data: the field group files written by `python3 tools/bench_corpus.py` (250,000 LC records
//! converted to MARC-8 by yaz, every data-field subfield sorted into ASCII-only, Latin with
//! diacritics, non-Latin, and all of them in file order). They are read from
//! `$MARC8FAST_BENCH_DATA`, else `bench-data/` at the repository root.
//!
//! Run: `cargo bench -p marc8 --bench decode` (add a filter such as `decode/ascii` to run one).
//!
//! * `decode/<group>`: [`marc8::decode_report`] in replace mode on every subfield of the group,
//!   one call per subfield; throughput in MB/s (10^6 bytes) of MARC-8 input.
//! * `decode/mix-one-call`: the same bytes as `mix`, concatenated and decoded in one call (every
//!   subfield of the corpus returns to ASCII at its end, so this is valid MARC-8); the gap to
//!   `mix` is the per-call cost.
//! * `eacc/lookup`: [`marc8::Charset::lookup_eacc`] over all 15,739 EACC codes of LC's tables
//!   (from `tests/data/codetables.tsv`); throughput in lookups.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use marc8::{Charset, DecodeOptions, ErrorMode};

mod common;
use common::{data_dir, manifest_dir, missing_data_hint, read_fields};

const GROUPS: [&str; 4] = ["ascii", "latin", "nonlatin", "mix"];

/// The three bytes of every EACC code in `tests/data/codetables.tsv` (rows whose set is `31`).
fn eacc_codes() -> Result<Vec<[u8; 3]>, String> {
    let path = manifest_dir().join("../../tests/data/codetables.tsv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut codes = Vec::new();
    for line in text.lines() {
        let mut cols = line.split('\t');
        if cols.next() != Some("31") {
            continue;
        }
        let hex = cols.next().unwrap_or_default();
        let v = u32::from_str_radix(hex, 16).map_err(|e| format!("bad EACC code {hex:?}: {e}"))?;
        let [_, b1, b2, b3] = v.to_be_bytes();
        codes.push([b1, b2, b3]);
    }
    Ok(codes)
}

fn bench_decode(c: &mut Criterion, dir: &Path) -> Result<(), String> {
    let opts = DecodeOptions {
        errors: ErrorMode::Replace,
        ..Default::default()
    };
    let mut group = c.benchmark_group("decode");
    // One pass over a group takes 40-400 ms: flat sampling, ten samples.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for name in GROUPS {
        let fields = read_fields(&dir.join(format!("fields-{name}.bin")))?;
        let total = fields.bytes.len() as u64;
        // Sanity check outside the timing: count problems once.
        let problems: usize = fields
            .iter()
            .map(|f| marc8::decode_report(f, &opts).1.len())
            .sum();
        eprintln!(
            "decode/{name}: {} fields, {} bytes, {problems} problems reported",
            fields.ranges.len(),
            total
        );
        group.throughput(Throughput::BytesDecimal(total));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut out_len = 0usize;
                for f in fields.iter() {
                    let (text, problems) = marc8::decode_report(black_box(f), &opts);
                    out_len += text.len() + problems.len();
                }
                out_len
            });
        });
        if name == "mix" {
            group.bench_function("mix-one-call", |b| {
                b.iter(|| {
                    let (text, problems) = marc8::decode_report(black_box(&fields.bytes), &opts);
                    text.len() + problems.len()
                });
            });
        }
    }
    group.finish();
    Ok(())
}

fn bench_eacc(c: &mut Criterion) -> Result<(), String> {
    let codes = eacc_codes()?;
    let mapped = codes
        .iter()
        .filter(|&&[a, b, d]| Charset::lookup_eacc(a, b, d).is_some())
        .count();
    eprintln!("eacc/lookup: {} codes, {mapped} mapped", codes.len());
    let mut group = c.benchmark_group("eacc");
    group.throughput(Throughput::Elements(codes.len() as u64));
    group.bench_function("lookup", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for &[b1, b2, b3] in &codes {
                if let Some(ch) = Charset::lookup_eacc(black_box(b1), black_box(b2), black_box(b3))
                {
                    acc = acc.wrapping_add(u32::from(ch));
                }
            }
            acc
        });
    });
    group.finish();
    Ok(())
}

fn main() {
    let dir = data_dir();
    let mut c = Criterion::default().configure_from_args();
    if let Err(e) = bench_eacc(&mut c) {
        eprintln!("eacc benchmark skipped: {e}");
    }
    if dir.join("fields-mix.bin").exists() {
        if let Err(e) = bench_decode(&mut c, &dir) {
            eprintln!("decode benchmark failed: {e}");
            std::process::exit(1);
        }
    } else {
        eprintln!("decode benchmarks skipped: {}", missing_data_hint(&dir));
    }
    c.final_summary();
}
