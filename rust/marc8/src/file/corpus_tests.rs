//! The outputs on every ISO 2709 file of `tests/data`, before and after the speed work of issue
//! 22: `corpus_golden.tsv` holds, for each file and target, a hash of the output of
//! [`transcode_stream`] and of the MARCXML written by [`crate::convert::convert_stream`], with
//! the counts of the report, as the code before that work produced them. The conversion must
//! still produce exactly those bytes, with one thread or several, and the batch pipeline of
//! [`crate::convert::convert_file_jobs`] must write what the one-record-at-a-time
//! [`crate::convert::convert_stream`] writes.
//!
//! `MARC8_BLESS=1 cargo test -p marc8 corpus_outputs` rewrites the golden file (only ever from
//! code whose outputs are known to be right: a changed line there is a changed output).

use super::*;
use crate::convert::{convert_file_jobs, convert_stream, ConvertOptions, Format};
use crate::encoder::EncodeErrors;
use crate::model::ReadOptions;
use crate::record::Target;
use std::fs;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/file/corpus_golden.tsv")
}

/// The ISO 2709 files under `dir`, sorted, as paths relative to `tests/data`.
fn iso_files(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            iso_files(&p, root, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("mrc" | "marc")) {
            out.push(p.strip_prefix(root).unwrap().to_owned());
        }
    }
}

/// FNV-1a, 64 bits: enough to tell two outputs apart in a test.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn line(file: &Path, what: &str, out: &[u8], r: &FileReport) -> String {
    format!(
        "{}\t{what}\t{:016x}\t{}\t{}\t{}\t{}\t{}",
        file.display(),
        fnv(out),
        out.len(),
        r.records_read,
        r.records_written,
        r.records_rejected,
        r.problem_count()
    )
}

fn xml_options() -> ConvertOptions {
    ConvertOptions {
        from: Some(Format::Iso2709),
        to: Format::MarcXml,
        read: ReadOptions::default(),
        encoding: Target::Utf8,
        errors: EncodeErrors::default(),
    }
}

#[test]
fn corpus_outputs_are_unchanged_and_the_same_whatever_the_jobs() {
    let root = data_dir();
    let mut files = Vec::new();
    iso_files(&root, &root, &mut files);
    assert!(files.len() >= 20, "{files:?}");
    let tmp = std::env::temp_dir().join(format!("marc8-corpus-{}", std::process::id()));
    fs::create_dir_all(&tmp).unwrap();
    let mut lines = Vec::new();
    for file in &files {
        let input = fs::read(root.join(file)).unwrap();
        for (what, to) in [("utf8", Target::Utf8), ("marc8", Target::Marc8)] {
            let opts = RecordOptions::new(to);
            let mut first: Option<(Vec<u8>, FileReport)> = None;
            for jobs in [1, 2, 3] {
                let mut out = Vec::new();
                let r = transcode_stream(&input[..], &mut out, &opts, jobs, &mut |_| true).unwrap();
                match &first {
                    None => first = Some((out, r)),
                    Some((o, r1)) => {
                        assert!(
                            out == *o,
                            "{} to {what}: jobs={jobs} differs",
                            file.display()
                        );
                        assert_eq!(r, *r1, "{} to {what}: jobs={jobs}", file.display());
                    }
                }
            }
            let (out, r) = first.unwrap();
            lines.push(line(file, what, &out, &r));
        }
        // MARCXML: the record-at-a-time writer, and the batch pipeline on 1 and 2 threads.
        let (_, mut r, xml) =
            convert_stream(&input[..], Vec::new(), &xml_options(), &mut |_| true).unwrap();
        let src = tmp.join("in.mrc");
        fs::write(&src, &input).unwrap();
        for jobs in [1, 2] {
            let dst = tmp.join(format!("out{jobs}.xml"));
            let (format, mut rf) =
                convert_file_jobs(&src, &dst, &xml_options(), jobs, &mut |_| true).unwrap();
            assert_eq!(format, Format::Iso2709);
            let got = fs::read(&dst).unwrap();
            assert!(
                got == xml,
                "{} MARCXML: jobs={jobs} differs",
                file.display()
            );
            (rf.bytes_in, rf.bytes_out) = (r.bytes_in, r.bytes_out);
            r.counts_by_kind = rf.counts_by_kind.clone();
            assert_eq!(rf.records_read, r.records_read, "{}", file.display());
            assert_eq!(rf.records_written, r.records_written, "{}", file.display());
            assert_eq!(
                rf.records_rejected,
                r.records_rejected,
                "{}",
                file.display()
            );
            assert_eq!(rf.records_with_problems, r.records_with_problems);
            assert_eq!(rf.problems, r.problems, "{}", file.display());
        }
        lines.push(line(file, "marcxml", &xml, &r));
    }
    fs::remove_dir_all(&tmp).unwrap();
    let got = lines.join("\n") + "\n";
    if std::env::var_os("MARC8_BLESS").is_some() {
        fs::write(golden_path(), &got).unwrap();
        return;
    }
    let want = fs::read_to_string(golden_path()).unwrap();
    let (want, got): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let changed: Vec<_> = got.iter().filter(|l| !want.contains(l)).collect();
    assert!(
        changed.is_empty() && want.len() == got.len(),
        "outputs changed (file, target, hash, bytes, read, written, rejected, problems):\n{}",
        changed
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
