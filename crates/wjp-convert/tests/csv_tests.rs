//! CSV analysis: the lengths fixture against sums from a plain parse, the component
//! export, and every kind of bad file.

use wjp_convert::{analyze_components_csv, CsvFormat, CsvOptions, Viability};

use crate::support::fixture;

fn analyse(text: &str) -> Result<wjp_convert::CsvAnalysis, wjp_convert::CsvError> {
    analyze_components_csv(text.as_bytes(), &CsvOptions::default())
}

#[test]
fn lengths_fixture_matches_a_plain_parse() {
    let bytes = fixture("csv/lengths.csv");
    // Independent figures: split lines and commas by hand.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap().trim(),
        "layer,id,perimeter_mm,area_mm2"
    );
    let (mut n, mut per, mut area, mut holes, mut zero) = (0u64, 0.0f64, 0.0f64, 0u64, 0u64);
    let (mut cut, mut net) = (0u64, 0.0f64);
    let mut max_area: f64 = 0.0;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        n += 1;
        let p: f64 = f[2].trim().parse().unwrap();
        per += p;
        cut += u64::from(p > 0.0);
        let a: f64 = f[3].trim().parse().unwrap();
        area += a;
        zero += u64::from(a == 0.0);
        max_area = max_area.max(a);
        holes += u64::from(f[0] == "HOLE");
        net += if f[0] == "HOLE" { -a } else { a };
    }

    let a = analyze_components_csv(&bytes, &CsvOptions::default()).unwrap();
    assert_eq!(a.format, CsvFormat::Lengths);
    let s = &a.statistics;
    assert_eq!(s.total_objects, n);
    assert_eq!(n, 827);
    assert!(
        (s.total_perimeter_mm - per).abs() < 1e-6 * per,
        "{} vs {per}",
        s.total_perimeter_mm
    );
    assert!((s.total_area_mm2 - area).abs() < 1e-6 * area);
    assert_eq!(s.area_stats.max, max_area);
    assert!((s.area_stats.mean - area / n as f64).abs() < 1e-9 * area);
    assert_eq!(a.layer_distribution["HOLE"], holes);
    assert_eq!(a.layer_distribution["OUTER"], 1);
    assert_eq!(a.layer_statistics["HOLE"].count, holes);
    assert!((a.summary.cutting_length_m - per / 1000.0).abs() < 1e-9 * per);
    assert_eq!(a.top_objects.largest_by_area[0].area_mm2, max_area);
    assert_eq!(
        a.top_objects.largest_by_area[0].layer.as_deref(),
        Some("OUTER")
    );
    assert_eq!(a.top_objects.largest_by_area.len(), 5);
    assert_eq!(a.top_objects.smallest_non_zero.len(), 10);
    let d = &s.area_distribution;
    assert_eq!(
        d.zero + (d.tiny_lt1 - d.zero) + d.small_1to10 + d.medium_10to100 + d.large_ge100,
        n
    );
    // 488 of the 827 objects have zero area (open or degenerate traces): poor.
    assert_eq!(d.zero, zero);
    assert!(zero * 2 > n);
    assert_eq!(a.recommendations.viability_score, Viability::Poor);
    assert_eq!(a.recommendations.warnings[0].kind, "zero_area");
    assert_eq!(a.recommendations.warnings[0].count, Some(zero));
    // Every object with a perimeter is cut, so pierced: the zero-area
    // traces too (they count in the cutting length).
    assert_eq!(a.summary.pierces_estimate, cut);
    assert_eq!(cut, n);
    // Holes are taken off the outer boundary's area, not added to it.
    assert!((a.summary.net_operable_area_mm2 - net).abs() < 1e-6 * area);
    assert!(a.summary.net_operable_area_mm2 < s.operable_area_mm2);
    assert!(a
        .recommendations
        .info
        .iter()
        .any(|r| r.kind == "single_outer"));

    // The JSON keeps the old field names.
    let json = serde_json::to_value(&a).unwrap();
    for key in [
        "statistics",
        "layer_distribution",
        "layer_statistics",
        "top_objects",
        "recommendations",
        "summary",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
    assert!(json["statistics"]["area_distribution"]["tiny_lt1"].is_u64());
    assert!(json["top_objects"]["largest_by_area"][0]["Area_mm2"].is_f64());
    assert_eq!(json["recommendations"]["viability_score"], "poor");
}

#[test]
fn component_export_with_selection_and_warnings() {
    let text = "\u{feff}ID,Layer,Group,Area_mm2,Perimeter_mm,Selected\n\
                1,OUTER,A,1000,130,True\n\
                2,INNER,A,0,12.5,False\n\
                3,INNER,A,0,8,False\n\
                4,INNER,B,0.5,3,False\n\
                5,INNER,B,0,2,false\n\
                \n";
    let a = analyse(text).unwrap();
    assert_eq!(a.format, CsvFormat::Component);
    let s = &a.statistics;
    assert_eq!(s.total_objects, 5);
    assert_eq!(s.selected_count, 1);
    assert_eq!(s.operable_objects, 2);
    assert_eq!(s.operable_area_mm2, 1000.5);
    assert_eq!(s.area_stats.median, 0.0);
    assert_eq!(s.perimeter_stats.median, 8.0);
    assert_eq!(s.area_distribution.zero, 3);
    // Five objects are cut; the INNER one with an area is a hole.
    assert_eq!(a.summary.pierces_estimate, 5);
    assert_eq!(a.summary.net_operable_area_mm2, 999.5);
    assert_eq!(a.layer_statistics["INNER"].zero_area, 3);
    let kinds: Vec<_> = a.recommendations.warnings.iter().map(|w| w.kind).collect();
    assert!(
        kinds.contains(&"zero_area") && kinds.contains(&"too_many_tiny"),
        "{kinds:?}"
    );
    assert_eq!(a.recommendations.warnings[0].count, Some(3));
    assert_eq!(a.recommendations.viability_score, Viability::Poor);
    assert_eq!(a.top_objects.smallest_non_zero[0].id.as_deref(), Some("4"));
    assert_eq!(a.top_objects.smallest_non_zero[0].line, 5);
    // Case-insensitive header, columns in any order, no optional columns.
    let b = analyse("perimeter_MM,AREA_MM2\n10,5\n20,7\n").unwrap();
    assert_eq!(b.statistics.total_area_mm2, 12.0);
    assert!(b.layer_distribution.is_empty());
}

/// wjp's own component export writes each contour on its drawing's layer
/// (here `0`), grouped by part, every area positive: within a part, all
/// but the largest are its holes.
#[test]
fn the_net_area_of_a_component_export_takes_each_parts_holes_off() {
    let text = "ID,Layer,Group,Area_mm2,Perimeter_mm,Selected\n\
                0,0,0,10000,400,true\n\
                1,0,0,314.159,62.832,true\n\
                2,0,0,100,40,true\n\
                3,0,1,2500,200,true\n\
                4,0,,30,22,true\n\
                5,0,,0,15,false\n";
    let a = analyse(text).unwrap();
    let net = (10000.0 - 314.159 - 100.0) + 2500.0 + 30.0;
    assert!((a.summary.net_operable_area_mm2 - net).abs() < 1e-9);
    assert_eq!(a.statistics.operable_area_mm2, 12944.159);
    assert_eq!(a.summary.pierces_estimate, 6);
    // Without layers of roles or groups, nothing says what is a hole.
    let b = analyse("Area_mm2,Perimeter_mm\n100,40\n10,12\n").unwrap();
    assert_eq!(b.summary.net_operable_area_mm2, 110.0);
}

#[test]
fn bad_files_name_the_line_and_column() {
    let err = analyse("ID,Layer,Perimeter_mm\n1,A,3\n").unwrap_err();
    assert_eq!(err.code(), "csv_missing_column");
    assert!(err.to_string().contains("Area_mm2"), "{err}");

    let err = analyse("Area_mm2,Perimeter_mm\n1,2\n3,abc\n").unwrap_err();
    assert_eq!(err.code(), "csv_bad_number");
    let msg = err.to_string();
    // The position and the column, never the file's text: the message may
    // reach someone who did not send the file.
    assert!(
        msg.contains("line 3")
            && msg.contains("column 2")
            && msg.contains("Perimeter_mm")
            && !msg.contains("abc"),
        "{msg}"
    );

    let err = analyse("Area_mm2,Perimeter_mm\n1,2\n3\n").unwrap_err();
    assert_eq!(err.code(), "csv_ragged_row");
    assert!(err.to_string().contains("line 3"), "{err}");

    let err = analyse("Area_mm2,Perimeter_mm\n-1,2\n").unwrap_err();
    assert_eq!(err.code(), "csv_bad_value");
    let err = analyse("Area_mm2,Perimeter_mm\nNaN,2\n").unwrap_err();
    assert_eq!(err.code(), "csv_bad_value");
    let err = analyse("Area_mm2,Perimeter_mm,Selected\n1,2,maybe\n").unwrap_err();
    assert_eq!(err.code(), "csv_bad_value");
    assert!(err.to_string().contains("Selected"));
    let err = analyse("Area_mm2,Perimeter_mm,area_MM2\n1,2,3\n").unwrap_err();
    assert_eq!(err.code(), "csv_duplicate_column");

    assert_eq!(analyse("").unwrap_err().code(), "csv_empty");
    assert_eq!(analyse("  \n\n").unwrap_err().code(), "csv_empty");
    let err = analyze_components_csv(
        b"Area_mm2,Layer,Perimeter_mm\n1,\xe9t\xe9,2\n",
        &CsvOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "csv_not_utf8");
    assert!(
        err.to_string().contains("line 2, column 2 (Layer)"),
        "{err}"
    );
    let err = analyze_components_csv(b"\xff\xfeA\0r\0", &CsvOptions::default()).unwrap_err();
    assert_eq!(err.code(), "csv_wrong_encoding");

    // A header only: analysed, poor.
    let a = analyse("Area_mm2,Perimeter_mm\n").unwrap();
    assert_eq!(a.statistics.total_objects, 0);
    assert_eq!(a.recommendations.viability_score, Viability::Poor);
}

#[test]
fn huge_inputs_are_capped() {
    let wide = format!("Area_mm2,Perimeter_mm,{}\n", vec!["x"; 100_000].join(","));
    let err = analyse(&wide).unwrap_err();
    assert_eq!(err.code(), "csv_too_many_columns");
    assert!(err.to_string().contains("100002"), "{err}");

    let long = format!("Area_mm2,Perimeter_mm,Layer\n1,2,{}\n", "L".repeat(5000));
    let err = analyse(&long).unwrap_err();
    assert_eq!(err.code(), "csv_field_too_long");

    let o = CsvOptions {
        max_rows: 3,
        ..CsvOptions::default()
    };
    let rows = "Area_mm2,Perimeter_mm\n1,1\n1,1\n1,1\n1,1\n";
    let err = analyze_components_csv(rows.as_bytes(), &o).unwrap_err();
    assert_eq!(err.code(), "csv_too_many_rows");
    let o = CsvOptions {
        max_bytes: 10,
        ..CsvOptions::default()
    };
    let err = analyze_components_csv(rows.as_bytes(), &o).unwrap_err();
    assert_eq!(err.code(), "csv_too_large");
}
