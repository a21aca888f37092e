//! Throughput of the analysis over the fixtures: MB/s and files/s, per-file times,
//! and the peak memory (VmHWM) of a process that analyses only the largest file.
//!
//! `cargo run --release -p wjp-geometry --example bench_fixtures [DIR] [--largest-only]`

use std::path::PathBuf;
use std::time::Instant;

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let largest_only = args.iter().any(|a| a == "--largest-only");
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/dxf")
        });
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("dxf"))
        .map(|p| {
            let b = std::fs::read(&p).expect("read");
            (p, b)
        })
        .collect();
    files.sort_by_key(|(_, b)| std::cmp::Reverse(b.len()));
    let opts = wjp_geometry::AnalysisOptions::default();
    if largest_only {
        let before = peak_rss_kib().unwrap_or(0);
        let (p, b) = &files[0];
        let t = Instant::now();
        let r = wjp_geometry::analyze_dxf_bytes(b, &opts, &mut |_, _| {});
        println!(
            "largest: {} ({} bytes) in {:.2} ms, ok={}, peak RSS {} KiB (before analysis {} KiB)",
            p.file_name().unwrap_or_default().to_string_lossy(),
            b.len(),
            t.elapsed().as_secs_f64() * 1e3,
            r.is_ok(),
            peak_rss_kib().unwrap_or(0),
            before
        );
        return;
    }
    // Per-file times (best of 5).
    let mut total_best = 0.0;
    let total_bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    for (p, b) in &files {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let _ = wjp_geometry::analyze_dxf_bytes(b, &opts, &mut |_, _| {});
            best = best.min(t.elapsed().as_secs_f64());
        }
        total_best += best;
        println!(
            "{:<48} {:>9} bytes {:>9.3} ms",
            p.file_name().unwrap_or_default().to_string_lossy(),
            b.len(),
            best * 1e3
        );
    }
    // Whole-set passes.
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        for (_, b) in &files {
            let _ = wjp_geometry::analyze_dxf_bytes(b, &opts, &mut |_, _| {});
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let n = files.len() * rounds;
    println!(
        "{} files, {:.3} MB per pass, {rounds} passes: {:.1} files/s, {:.2} MB/s (sum of best per-file times {:.2} ms)",
        files.len(),
        total_bytes as f64 / 1e6,
        n as f64 / secs,
        (total_bytes * rounds) as f64 / 1e6 / secs,
        total_best * 1e3
    );
}
