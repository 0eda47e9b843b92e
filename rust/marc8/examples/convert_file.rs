//! Converts a whole file with the core alone (no Python), for profiling the file pipeline:
//! `cargo run --release --example convert_file -- SRC DST utf8|marc8 JOBS`.

use marc8::file::transcode_file;
use marc8::record::{RecordOptions, Target};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: convert_file SRC DST utf8|marc8 JOBS");
        std::process::exit(2);
    }
    let to = if args[3] == "marc8" {
        Target::Marc8
    } else {
        Target::Utf8
    };
    let jobs: usize = args[4].parse().unwrap_or(1);
    let t = std::time::Instant::now();
    match transcode_file(
        Path::new(&args[1]),
        Path::new(&args[2]),
        &RecordOptions::new(to),
        jobs,
        &mut |_| true,
    ) {
        Ok(r) => eprintln!(
            "{} records read, {} written, {} problems, {:.3} s",
            r.records_read,
            r.records_written,
            r.problem_count(),
            t.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
