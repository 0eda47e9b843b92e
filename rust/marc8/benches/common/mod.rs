//! What the criterion benches share: where the benchmark corpus lives and how to read its field
//! files (written by `python3 tools/bench_corpus.py`).

use std::path::{Path, PathBuf};

/// All items of one field file, concatenated, with each item's range.
pub struct Fields {
    pub bytes: Vec<u8>,
    pub ranges: Vec<(usize, usize)>,
}

impl Fields {
    /// Each item's bytes, in file order.
    // Each bench compiles its own copy of this module, and encode.rs does not use this.
    #[allow(dead_code)]
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.ranges.iter().map(|&(a, b)| &self.bytes[a..b])
    }
}

/// `rust/marc8`, where the bench's `Cargo.toml` is.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$MARC8FAST_BENCH_DATA`, else `bench-data/` at the repository root.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("MARC8FAST_BENCH_DATA") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => manifest_dir().join("../../bench-data"),
    }
}

/// How to make the field files, for a bench that finds none in `dir`.
pub fn missing_data_hint(dir: &Path) -> String {
    format!(
        "no field files in {}.\n\
         Create them with `python3 tools/bench_corpus.py` (needs yaz: `apt-get install yaz`; \
         about 1.2 GB of disk), or point MARC8FAST_BENCH_DATA at an existing copy.",
        dir.display()
    )
}

/// Reads a file of items, each a little-endian u32 length and that many bytes.
pub fn read_fields(path: &Path) -> Result<Fields, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::with_capacity(raw.len());
    let mut ranges = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let len_bytes: [u8; 4] = raw
            .get(pos..pos + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| format!("{}: truncated length at byte {pos}", path.display()))?;
        let len = u32::from_le_bytes(len_bytes) as usize;
        let item = raw
            .get(pos + 4..pos + 4 + len)
            .ok_or_else(|| format!("{}: truncated item at byte {pos}", path.display()))?;
        let start = bytes.len();
        bytes.extend_from_slice(item);
        ranges.push((start, bytes.len()));
        pos += 4 + len;
    }
    Ok(Fields { bytes, ranges })
}
