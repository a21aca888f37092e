//! The stable smoke version of the fuzz targets (`fuzz/`): arbitrary and
//! half-structured bytes through both entry points. Each must answer with a result
//! or an error that has a code, never panic. Few, small cases, so CI stays fast; the
//! long runs are `scripts/fuzz.sh csv_analysis` and `scripts/fuzz.sh image_to_dxf`.

use proptest::prelude::*;
use wjp_convert::{analyze_components_csv, image_to_dxf, ConvertOptions, CsvOptions};

/// The fuzz target's limits: small enough that a header claiming a large image
/// costs little in a debug build.
fn image_options() -> ConvertOptions {
    ConvertOptions {
        max_pixels: 100_000,
        work_budget: 5_000_000,
        ..ConvertOptions::default()
    }
}

fn csv_field() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,6}(\\.[0-9]{0,4})?(e[+-]?[0-9]{1,3})?",
        "-?(inf|NaN|infinity|1e999|0x10|1_000)",
        "(true|false|yes|no|maybe|1|0)",
        "[A-Za-z \"',;\\r\\n\\t]{0,12}",
        "\"[^\"]{0,10}\"",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn csv_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Err(e) = analyze_components_csv(&bytes, &CsvOptions::default()) {
            prop_assert!(!e.code().is_empty());
        }
    }

    #[test]
    fn csv_rows_of_odd_fields_never_panic(
        header in proptest::sample::subsequence(
            vec!["ID", "Layer", "Group", "Area_mm2", "Perimeter_mm", "Selected", "area_MM2", "x"],
            0..8,
        ),
        rows in proptest::collection::vec(proptest::collection::vec(csv_field(), 0..8), 0..20),
        separator in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
    ) {
        let mut text = header.join(",");
        for row in rows {
            text += separator;
            text += &row.join(",");
        }
        if let Err(e) = analyze_components_csv(text.as_bytes(), &CsvOptions::default()) {
            prop_assert!(!e.code().is_empty());
        }
    }

    #[test]
    fn image_random_bytes_behind_a_magic_never_panic(
        magic in prop_oneof![
            Just(&b"\x89PNG\r\n\x1a\n"[..]),
            Just(&b"\xff\xd8\xff"[..]),
            Just(&b"BM"[..]),
            Just(&b""[..]),
        ],
        rest in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let bytes = [magic, &rest[..]].concat();
        if let Err(e) = image_to_dxf(&bytes, &image_options()) {
            prop_assert!(!e.code().is_empty());
        }
    }
}
