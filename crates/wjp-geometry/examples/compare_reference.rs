//! Print, for each fixture, our figures beside the independent reference ones.
//!
//! `cargo run -p wjp-geometry --example compare_reference [FIXTURE_DIR]`

use std::path::PathBuf;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/dxf")
        });
    let reference = std::fs::read_to_string(dir.join("REFERENCE.jsonl")).expect("REFERENCE.jsonl");
    // `--reference-convention` skips INSERTs with a Z scale of 0, as ezdxf does.
    let opts = wjp_geometry::AnalysisOptions {
        expand_zero_z_scale_inserts: !std::env::args().any(|a| a == "--reference-convention"),
        ..Default::default()
    };
    for line in reference.lines().filter(|l| !l.trim().is_empty()) {
        let r: serde_json::Value = serde_json::from_str(line).expect("json");
        let file = r["file"].as_str().unwrap_or_default();
        match wjp_geometry::analyze_dxf_file(&dir.join(file), &opts, &mut |_, _| {}) {
            Err(e) => println!("{file}: ERROR {} {e}", e.code()),
            Ok(rep) => {
                let f = rep.units.factor_to_mm;
                let len = rep.metrics.geometry_length_mm / f;
                let rl = r["length"].as_f64().unwrap_or(0.0);
                let rel = if rl > 0.0 { (len - rl) / rl } else { len };
                let bb = rep.metrics.bbox_mm.map(|b| b.map(|v| v / f));
                let mut bbdiff = 0.0f64;
                if let (Some(b), Some(rb)) = (bb, r["bbox"].as_array()) {
                    let size = (b[2] - b[0]).max(b[3] - b[1]).max(1e-9);
                    for i in 0..4 {
                        bbdiff = bbdiff.max((b[i] - rb[i].as_f64().unwrap_or(0.0)).abs() / size);
                    }
                }
                let mut counts = String::new();
                for k in wjp_geometry::CUT_ENTITIES {
                    let ours = rep.entity_counts.get(*k).copied().unwrap_or(0);
                    let theirs = r["counts"][*k].as_u64().unwrap_or(0);
                    if ours != theirs {
                        counts.push_str(&format!(" {k}:{ours}/{theirs}"));
                    }
                }
                println!(
                    "{:<48} len {:>14.6} ref {:>14.6} rel {:+.2e} bbox {:.1e} units {}/{} pierces {} {}",
                    file, len, rl, rel, bbdiff, rep.units.declared, r["insunits"], rep.metrics.pierce_count,
                    if counts.is_empty() { String::new() } else { format!("COUNTS{counts}") }
                );
            }
        }
    }
}
