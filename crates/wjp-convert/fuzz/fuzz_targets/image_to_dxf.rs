//! Fuzz the image tracer with arbitrary bytes: it must return a conversion or a
//! `ConvertError`, never panic, hang or allocate without bound.
//!
//! The shop's defaults except the two limits that scale the work: a default-limit
//! image may legitimately take seconds (40 M pixels), which would hide hangs among
//! slow-but-bounded inputs and starve the fuzzer of executions. Tighter limits keep
//! every run short, so libFuzzer's timeout points at real blow-ups.
//!
//! `scripts/fuzz.sh image_to_dxf 600` from the project root (it seeds the corpus
//! from `../shared/fixtures/images`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wjp_convert::{image_to_dxf, ConvertOptions};

fuzz_target!(|data: &[u8]| {
    let options = ConvertOptions {
        max_pixels: 1_000_000,
        work_budget: 50_000_000,
        ..ConvertOptions::default()
    };
    match image_to_dxf(data, &options) {
        Ok(conversion) => {
            let _ = serde_json::to_vec(&conversion.report);
        }
        Err(e) => assert!(!e.code().is_empty()),
    }
});
