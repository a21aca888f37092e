//! Fuzz the CSV analysis with arbitrary bytes under the default options: it must
//! return an analysis or a `CsvError`, never panic, hang or allocate without bound.
//!
//! `scripts/fuzz.sh csv_analysis 600` from the project root (it seeds the corpus
//! from `../shared/fixtures/csv`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wjp_convert::{analyze_components_csv, CsvOptions};

fuzz_target!(|data: &[u8]| {
    match analyze_components_csv(data, &CsvOptions::default()) {
        // The analysis goes out as a job result: serialising it is part of the path.
        Ok(analysis) => {
            let _ = serde_json::to_vec(&analysis);
        }
        Err(e) => assert!(!e.code().is_empty()),
    }
});
