//! Fuzz the whole analysis (tokenizer, document, expansion, topology, pricing,
//! SVG) with arbitrary bytes: it must return a report or an error, never panic or
//! hang. Tight limits keep each run short.
//!
//! `scripts/fuzz.sh analyze_dxf 600` from the project root (it seeds the corpus
//! from `../shared/fixtures/dxf`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wjp_geometry::{analyze_dxf_bytes, AnalysisOptions, Limits};

fuzz_target!(|data: &[u8]| {
    let options = AnalysisOptions {
        limits: Limits {
            max_entities: 20_000,
            max_expanded_entities: 50_000,
            max_points: 500_000,
            max_minsert_cells: 1_000,
            web_check_budget: 200_000,
            ..Default::default()
        },
        ..Default::default()
    };
    if let Ok(report) = analyze_dxf_bytes(data, &options, &mut |_, _| {}) {
        let _ = report.to_svg();
        let _ = report.summary_text();
    }
});
