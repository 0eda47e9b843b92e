//! Converts a whole file with the core alone (no Python), for profiling the file pipeline:
//! `cargo run --release --example convert_file -- SRC DST utf8|marc8 JOBS [READ_SIZE]`.

use marc8::file::{transcode_file_with, StreamOptions};
use marc8::record::{RecordOptions, Target};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 && args.len() != 6 {
        eprintln!("usage: convert_file SRC DST utf8|marc8 JOBS [READ_SIZE]");
        std::process::exit(2);
    }
    let to = if args[3] == "marc8" {
        Target::Marc8
    } else {
        Target::Utf8
    };
    let jobs: usize = args[4].parse().unwrap_or(1);
    let mut stream = StreamOptions::default();
    if let Some(n) = args.get(5).and_then(|n| n.parse().ok()) {
        stream.read_size = n;
    }
    let t = std::time::Instant::now();
    match transcode_file_with(
        Path::new(&args[1]),
        Path::new(&args[2]),
        &RecordOptions::new(to),
        jobs,
        &stream,
        &mut |_, _| true,
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
