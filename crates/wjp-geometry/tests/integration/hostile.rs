//! Hostile inputs: each gives a clear error (or a report), never a panic or a hang.

use super::support::*;
use wjp_geometry::{analyze_dxf_bytes, AnalysisError, AnalysisOptions, Limits};

fn err(bytes: &[u8]) -> AnalysisError {
    match analyze_dxf_bytes(bytes, &AnalysisOptions::default(), &mut |_, _| {}) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[test]
fn cyclic_blocks_are_refused_naming_the_block() {
    let blocks = [
        (
            "A",
            (0.0, 0.0),
            line(0.0, 0.0, 1.0, 0.0) + &place("B", 0.0, 0.0),
        ),
        ("B", (0.0, 0.0), place("A", 1.0, 0.0)),
    ];
    let e = err(&doc(Some(4), &blocks, &place("A", 0.0, 0.0)));
    assert_eq!(e.code(), "dxf_cyclic_block");
    let msg = e.to_string();
    assert!(msg.contains("A -> B -> A"), "{msg}");
    assert!(msg.contains("line "), "{msg}");
    // A block inserting itself.
    let blocks = [("SELF", (0.0, 0.0), place("SELF", 0.0, 0.0))];
    assert_eq!(
        err(&doc(Some(4), &blocks, &place("SELF", 0.0, 0.0))).code(),
        "dxf_cyclic_block"
    );
}

#[test]
fn ten_thousand_deep_nesting_is_refused() {
    let names: Vec<String> = (0..10_000).map(|i| format!("B{i}")).collect();
    let blocks: Vec<(&str, (f64, f64), String)> = (0..10_000)
        .map(|i| {
            let content = if i + 1 < 10_000 {
                place(&names[i + 1], 0.0, 0.0)
            } else {
                line(0.0, 0.0, 1.0, 0.0)
            };
            (names[i].as_str(), (0.0, 0.0), content)
        })
        .collect();
    let e = err(&doc(Some(4), &blocks, &place("B0", 0.0, 0.0)));
    assert_eq!(e.code(), "dxf_too_complex");
    assert!(e.to_string().contains("nested deeper than 64"), "{e}");
}

#[test]
fn exponential_block_bomb_is_bounded() {
    // Each level inserts the next ten times: 10^9 lines if followed.
    let names: Vec<String> = (0..10).map(|i| format!("L{i}")).collect();
    let blocks: Vec<(&str, (f64, f64), String)> = (0..10)
        .map(|i| {
            let content = if i + 1 < 10 {
                (0..10)
                    .map(|k| place(&names[i + 1], k as f64, 0.0))
                    .collect::<String>()
            } else {
                line(0.0, 0.0, 1.0, 0.0)
            };
            (names[i].as_str(), (0.0, 0.0), content)
        })
        .collect();
    let o = AnalysisOptions {
        limits: Limits {
            max_expanded_entities: 100_000,
            ..Default::default()
        },
        ..Default::default()
    };
    let e = analyze_dxf_bytes(
        &doc(Some(4), &blocks, &place("L0", 0.0, 0.0)),
        &o,
        &mut |_, _| {},
    )
    .unwrap_err();
    assert_eq!(e.code(), "dxf_too_complex");
}

#[test]
fn absurd_minsert_is_refused() {
    let blocks = [("D", (0.0, 0.0), circle(0.0, 0.0, 1.0))];
    let e = err(&doc(
        Some(4),
        &blocks,
        &insert("D", 0.0, 0.0, 1.0, 1.0, 0.0, 30_000, 30_000, 1.0, 1.0),
    ));
    assert_eq!(e.code(), "dxf_too_complex");
    assert!(e.to_string().contains("MINSERT"), "{e}");
}

#[test]
fn nan_and_huge_coordinates_are_refused_with_their_line() {
    for bad in ["nan", "NaN", "inf", "1e300", "-1e300"] {
        let d = mm(&format!("0\nLINE\n8\n0\n10\n0\n20\n{bad}\n11\n1\n21\n1\n"));
        let e = err(&d);
        assert_eq!(e.code(), "dxf_bad_coordinate", "{bad}");
        assert!(e.to_string().contains("LINE at line "), "{e}");
        // The number in a few characters, not 300 digits.
        assert!(e.to_string().len() < 200, "{e}");
    }
    // A huge scale on an INSERT.
    let blocks = [("B", (0.0, 0.0), line(0.0, 0.0, 1.0, 0.0))];
    let e = err(&doc(
        Some(4),
        &blocks,
        &insert("B", 0.0, 0.0, 1e300, 1e300, 0.0, 1, 1, 0.0, 0.0),
    ));
    assert_eq!(e.code(), "dxf_bad_coordinate");
}

#[test]
fn not_a_number_where_a_coordinate_belongs() {
    let e = err(&mm("0\nCIRCLE\n8\n0\n10\nabc\n20\n0\n40\n1\n"));
    assert_eq!(e.code(), "dxf_parse_error");
    assert!(e.to_string().contains("line "), "{e}");
}

#[test]
fn truncated_files_never_panic() {
    let d = mm(&(lwpoly(
        &[(0.0, 0.0, 0.5), (10.0, 0.0, 0.0), (10.0, 10.0, 0.0)],
        true,
    ) + &circle(5.0, 5.0, 1.0)));
    for cut in 0..d.len() {
        let r = analyze_dxf_bytes(&d[..cut], &AnalysisOptions::default(), &mut |_, _| {});
        if let Ok(r) = r {
            if cut < d.len() - 4 {
                assert!(
                    r.warnings.iter().any(|w| w.code == "missing_eof"),
                    "cut at {cut}"
                );
            }
        }
    }
}

#[test]
fn truncated_binary_names_the_byte_offset() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/dxf/ezdxf_bin_dxf_r2000.dxf");
    let d = std::fs::read(path).unwrap();
    let mut errors = 0;
    for cut in (23..d.len()).step_by(7) {
        if let Err(e) = analyze_dxf_bytes(&d[..cut], &AnalysisOptions::default(), &mut |_, _| {}) {
            assert!(e.to_string().contains("byte offset"), "{e}");
            errors += 1;
        }
    }
    assert!(errors > 0);
}

#[test]
fn garbage_is_a_parse_error() {
    let e = err(b"\x00\x01\x02 this is not a drawing\nat all\n");
    assert_eq!(e.code(), "dxf_parse_error");
    assert!(e.to_string().contains("line 1"), "{e}");
    let e = err(b"AutoCAD Binary DXF\r\n\x1a\x00\x07\x07");
    assert_eq!(e.code(), "dxf_parse_error");
}

#[test]
fn empty_and_non_dxf_text_are_refused() {
    assert_eq!(err(b"").code(), "dxf_parse_error");
    assert_eq!(err(b"\n\n  \n").code(), "dxf_parse_error");
    let e = err(b"0\nHELLO\n5\nworld\n");
    assert!(e.to_string().contains("not a DXF"), "{e}");
    // A bare entity list without sections is still read.
    let r = analyze(line(0.0, 0.0, 3.0, 4.0).as_bytes());
    assert!((r.metrics.cut_length_mm - 5.0).abs() < 1e-12);
}

#[test]
fn file_size_limit() {
    let o = AnalysisOptions {
        limits: Limits {
            max_file_bytes: 100,
            ..Default::default()
        },
        ..Default::default()
    };
    let e = analyze_dxf_bytes(&mm(&circle(0.0, 0.0, 1.0)), &o, &mut |_, _| {}).unwrap_err();
    assert_eq!(e.code(), "dxf_too_large");
}

#[test]
fn entity_count_limit() {
    let e: String = (0..50)
        .map(|i| line(i as f64, 0.0, i as f64, 1.0))
        .collect();
    let o = AnalysisOptions {
        limits: Limits {
            max_entities: 10,
            ..Default::default()
        },
        ..Default::default()
    };
    let err = analyze_dxf_bytes(&mm(&e), &o, &mut |_, _| {}).unwrap_err();
    assert_eq!(err.code(), "dxf_too_complex");
}

#[test]
fn invalid_options_are_refused() {
    for o in [
        AnalysisOptions {
            quality: 0,
            ..Default::default()
        },
        AnalysisOptions {
            thickness_mm: -1.0,
            ..Default::default()
        },
        AnalysisOptions {
            kerf_mm: f64::NAN,
            ..Default::default()
        },
        AnalysisOptions {
            material: "unobtainium".into(),
            ..Default::default()
        },
    ] {
        let e = analyze_dxf_bytes(&mm(&circle(0.0, 0.0, 1.0)), &o, &mut |_, _| {}).unwrap_err();
        assert_eq!(e.code(), "invalid_option");
    }
}

#[test]
fn missing_file_is_an_io_error() {
    let e = wjp_geometry::analyze_dxf_file(
        std::path::Path::new("/nonexistent/x.dxf"),
        &AnalysisOptions::default(),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert_eq!(e.code(), "dxf_io_error");
}

#[test]
fn perforated_sheet_with_many_holes_is_fast_enough_to_finish() {
    // 90 x 90 = 8100 holes in one sheet: nesting, ordering and the web check must
    // not be quadratic (this would take minutes if they were).
    let mut e = super::support::lwpoly(
        &[
            (0.0, 0.0, 0.0),
            (1000.0, 0.0, 0.0),
            (1000.0, 1000.0, 0.0),
            (0.0, 1000.0, 0.0),
        ],
        true,
    );
    for i in 0..90 {
        for j in 0..90 {
            e += &circle(10.0 + i as f64 * 11.0, 10.0 + j as f64 * 11.0, 2.0);
        }
    }
    let r = super::support::analyze(&mm(&e));
    assert_eq!(r.metrics.part_count, 1);
    assert_eq!(r.metrics.hole_count, 8100);
    assert_eq!(r.metrics.pierce_count, 8101);
    assert_eq!(r.cut_order.last(), Some(&r.parts[0].outer));
}

#[test]
fn star_of_lines_from_one_point_is_bounded() {
    let e: String = (0..4000)
        .map(|k| {
            let a = k as f64 * 0.0015;
            line(0.0, 0.0, 100.0 * a.cos(), 100.0 * a.sin())
        })
        .collect();
    let r = super::support::analyze(&mm(&e));
    assert!(r.metrics.junctions >= 1);
    assert!(r.metrics.pierce_count >= 2000);
}

#[test]
fn a_negative_radius_is_read_as_its_size_and_said() {
    let circle = "0\nCIRCLE\n8\n0\n10\n50\n20\n50\n40\n-10\n";
    let report = analyze_dxf_bytes(&mm(circle), &AnalysisOptions::default(), &mut |_, _| {})
        .expect("a report");
    let warning = report
        .warnings
        .iter()
        .find(|w| w.code == "negative_radius")
        .expect("a negative_radius warning");
    assert!(warning.message.starts_with("1 "), "{}", warning.message);
    // The same drawing as with a radius of 10.
    let plain = analyze_dxf_bytes(
        &mm("0\nCIRCLE\n8\n0\n10\n50\n20\n50\n40\n10\n"),
        &AnalysisOptions::default(),
        &mut |_, _| {},
    )
    .expect("a report");
    assert!((report.metrics.cut_length_mm - plain.metrics.cut_length_mm).abs() < 1e-9);
    assert!(plain.warnings.iter().all(|w| w.code != "negative_radius"));
}
