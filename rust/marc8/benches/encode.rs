//! Encoder throughput on real catalogue data.
//!
//! Data: the UTF-8 field group files written by `python3 tools/bench_corpus.py` (every data-field
//! subfield of 250,000 LC records in UTF-8, sorted by script into ASCII-only, Latin with
//! diacritics, non-Latin, and all of them in file order: `utf8-fields-<group>.bin`). They are
//! read from `$MARC8FAST_BENCH_DATA`, else `bench-data/` at the repository root.
//!
//! Run: `cargo bench -p marc8 --bench encode` (add a filter such as `encode/ascii` to run one).
//!
//! * `encode/<group>`: [`marc8::encode_report`] in lossless mode on every subfield of the group,
//!   one call per subfield; throughput in MB/s (10^6 bytes) of UTF-8 input.
//! * `encode/mix-one-call`: the same text as `mix`, concatenated with no separator and encoded
//!   in one call; the gap to `mix` is the per-call cost (one escape back to ASCII at the end of
//!   each non-Latin run is saved where two runs meet, so the output differs slightly).

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use marc8::{EncodeErrors, EncodeOptions};

mod common;
use common::{data_dir, missing_data_hint, read_fields};

const GROUPS: [&str; 4] = ["ascii", "latin", "nonlatin", "mix"];

/// The items of one UTF-8 field file as one string, with each item's range.
struct Texts {
    text: String,
    ranges: Vec<(usize, usize)>,
}

impl Texts {
    fn read(path: &Path) -> Result<Self, String> {
        let fields = read_fields(path)?;
        let text = String::from_utf8(fields.bytes)
            .map_err(|e| format!("{}: not UTF-8: {e}", path.display()))?;
        // Every item must be UTF-8 on its own, not only the concatenation.
        if let Some(&(a, b)) = fields
            .ranges
            .iter()
            .find(|&&(a, b)| !text.is_char_boundary(a) || !text.is_char_boundary(b))
        {
            return Err(format!(
                "{}: item at {a}..{b} is not UTF-8 on its own",
                path.display()
            ));
        }
        Ok(Texts {
            text,
            ranges: fields.ranges,
        })
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        self.ranges.iter().map(|&(a, b)| &self.text[a..b])
    }
}

/// Unmappable characters reported on `texts`, one call per item, and the most frequent ones.
fn sanity(texts: &Texts, opts: &EncodeOptions) -> (usize, usize, String) {
    let mut out_bytes = 0;
    let mut by_char: HashMap<Option<char>, usize> = HashMap::new();
    for t in texts.iter() {
        let (bytes, problems) = marc8::encode_report(t, opts);
        out_bytes += bytes.len();
        for p in problems {
            *by_char.entry(p.ch).or_default() += 1;
        }
    }
    let total = by_char.values().sum();
    let mut top: Vec<(Option<char>, usize)> = by_char.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top = top
        .iter()
        .take(5)
        .map(|&(c, n)| match c {
            Some(c) => format!("U+{:04X}×{n}", u32::from(c)),
            None => format!("(no character)×{n}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    (total, out_bytes, top)
}

fn bench_encode(c: &mut Criterion, dir: &Path) -> Result<(), String> {
    let opts = EncodeOptions {
        errors: EncodeErrors::Lossless,
    };
    let mut group = c.benchmark_group("encode");
    // One pass over a group takes tens to hundreds of ms: flat sampling, ten samples.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for name in GROUPS {
        let texts = Texts::read(&dir.join(format!("utf8-fields-{name}.bin")))?;
        let total = texts.text.len() as u64;
        // Sanity check outside the timing: count unmappable characters once.
        let (unmappable, out_bytes, top) = sanity(&texts, &opts);
        eprintln!(
            "encode/{name}: {} fields, {total} bytes of UTF-8 -> {out_bytes} bytes of MARC-8, \
             {unmappable} unmappable characters reported{}",
            texts.ranges.len(),
            if top.is_empty() {
                String::new()
            } else {
                format!(" ({top})")
            }
        );
        group.throughput(Throughput::BytesDecimal(total));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut out_len = 0usize;
                for t in texts.iter() {
                    let (bytes, problems) = marc8::encode_report(black_box(t), &opts);
                    out_len += bytes.len() + problems.len();
                }
                out_len
            });
        });
        if name == "mix" {
            let (bytes, problems) = marc8::encode_report(&texts.text, &opts);
            eprintln!(
                "encode/mix-one-call: 1 call, {total} bytes of UTF-8 -> {} bytes of MARC-8, \
                 {} unmappable characters reported",
                bytes.len(),
                problems.len()
            );
            group.bench_function("mix-one-call", |b| {
                b.iter(|| {
                    let (bytes, problems) = marc8::encode_report(black_box(&texts.text), &opts);
                    bytes.len() + problems.len()
                });
            });
        }
    }
    group.finish();
    Ok(())
}

fn main() {
    let dir = data_dir();
    if !dir.join("utf8-fields-mix.bin").exists() {
        eprintln!("encode benchmarks skipped: {}", missing_data_hint(&dir));
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    if let Err(e) = bench_encode(&mut c, &dir) {
        eprintln!("encode benchmark failed: {e}");
        std::process::exit(1);
    }
    c.final_summary();
}
