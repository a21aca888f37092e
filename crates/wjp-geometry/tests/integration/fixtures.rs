//! The real files of `shared/fixtures/dxf` against independent reference figures.

use std::path::PathBuf;

use super::support::{ellipse_arc_length, has_warning};
use wjp_geometry::{analyze_dxf_file, AnalysisOptions, AnalysisReport};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/dxf")
}

fn reference() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir().join("REFERENCE.jsonl")).expect("REFERENCE.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("reference line"))
        .collect()
}

fn run(file: &str, o: &AnalysisOptions) -> AnalysisReport {
    analyze_dxf_file(&dir().join(file), o, &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{file}: [{}] {e}", e.code()))
}

#[test]
fn every_fixture_is_read() {
    let mut n = 0;
    for entry in std::fs::read_dir(dir()).expect("fixture dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("dxf") {
            continue;
        }
        n += 1;
        let r = analyze_dxf_file(&path, &AnalysisOptions::default(), &mut |_, _| {});
        let r = r.unwrap_or_else(|e| panic!("{}: [{}] {e}", path.display(), e.code()));
        // The report serializes and the summary and picture render.
        let json = serde_json::to_value(&r).expect("json");
        for key in [
            "cut_length_mm",
            "pierce_count",
            "geometry_length_mm",
            "bbox_mm",
        ] {
            assert!(json["metrics"].get(key).is_some(), "{key}");
        }
        for key in ["declared", "factor_to_mm"] {
            assert!(json["units"].get(key).is_some(), "{key}");
        }
        for key in [
            "entity_counts",
            "contours",
            "parts",
            "warnings",
            "time",
            "cost",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert!(!r.summary_text().is_empty());
        assert!(r.to_svg().starts_with("<svg"));
    }
    assert!(n >= 28, "only {n} fixtures found");
}

/// Where the reference tool is demonstrably wrong, the expected figure computed by
/// hand from the file's content (drawing units), and why.
fn known_divergence(file: &str, reference_length: f64) -> Option<(f64, &'static str)> {
    use std::f64::consts::PI;
    match file {
        // Ellipses with ratio 1.009533 (> 1, against the spec) close two slots
        // exactly onto lines at y = +-25; the reference mis-measures them. Lines
        // total 2499.452944; four half ellipses a = 24.76393, b = a * 1.009533.
        "ezdxf_duplicate_handles.dxf" => Some((
            2499.452944 + 2.0 * ellipse_arc_length(24.76393, 24.76393 * 1.009533, 0.0, 2.0 * PI),
            "ellipse ratio > 1",
        )),
        // BLOCK_6 holds 6 LINEs, a MINSERT (1 x 14) of a 0.13 radius circle and 3
        // quarter arcs of radius 0.25; the reference stops at the nested INSERT
        // whose Z scale is 0 and keeps only the LINEs.
        "sky_arrayed_holes.dxf" => Some((
            reference_length + 14.0 * 2.0 * PI * 0.13 + 3.0 * 0.25 * PI / 2.0,
            "nested INSERT with Z scale 0",
        )),
        // block_insert (scale 0.5, Z scale 0) holds block01 and block02 at scale 2:
        // block01 = lines 70+60+30+20 and an arc of radius 10 over 270 degrees;
        // block02 = lines 60+20+60 and half an ellipse a = 20, b = 10.
        "sky_blocks2.dxf" => Some((
            reference_length
                + 180.0
                + 15.0 * PI
                + 140.0
                + ellipse_arc_length(20.0, 10.0, PI / 2.0, 3.0 * PI / 2.0),
            "INSERT with Z scale 0",
        )),
        _ => None,
    }
}

#[test]
fn agrees_with_reference_figures() {
    let mut checked = 0;
    let mut report = String::new();
    for r in reference() {
        let file = r["file"].as_str().expect("file");
        if r.get("error").is_some_and(|e| !e.is_null()) {
            continue;
        }
        let rl = r["length"].as_f64().expect("length");
        let ours = run(file, &AnalysisOptions::default());
        let f = ours.units.factor_to_mm;
        assert_eq!(
            ours.units.declared,
            r["insunits"].as_i64().unwrap_or(0),
            "{file}: $INSUNITS"
        );
        let len = ours.metrics.geometry_length_mm / f;
        let (want, why) = match known_divergence(file, rl) {
            Some((w, why)) => {
                // Our default must give the hand-computed figure...
                assert!(
                    (len - w).abs() <= 1e-3 * w,
                    "{file}: {len} vs hand-computed {w} ({why})"
                );
                (w, why)
            }
            None => {
                // Cuttable entity counts agree too (blocks expanded).
                for k in wjp_geometry::CUT_ENTITIES {
                    let theirs = r["counts"][*k].as_u64().unwrap_or(0);
                    let mine = ours.entity_counts.get(*k).copied().unwrap_or(0);
                    assert_eq!(mine, theirs, "{file}: {k} count");
                }
                (rl, "reference")
            }
        };
        if rl > 0.0 {
            assert!(
                (len - want).abs() <= 1e-3 * want,
                "{file}: length {len} vs {want}"
            );
        } else {
            assert_eq!(len, 0.0, "{file}: expected no geometry");
        }
        match (ours.metrics.bbox_mm, r["bbox"].as_array()) {
            (Some(b), Some(rb)) => {
                let size = ((b[2] - b[0]).max(b[3] - b[1]) / f).max(1e-9);
                for i in 0..4 {
                    let want = rb[i].as_f64().expect("bbox value");
                    assert!(
                        (b[i] / f - want).abs() <= 1e-3 * size,
                        "{file}: bbox[{i}] {} vs {want}",
                        b[i] / f
                    );
                }
            }
            (None, None) => {}
            (None, Some(_)) if rl == 0.0 => {}
            (ours_bb, theirs) => panic!("{file}: bbox {ours_bb:?} vs {theirs:?}"),
        }
        report.push_str(&format!("{file}: {len:.6} vs {want:.6} ({why})\n"));
        checked += 1;
    }
    assert!(checked >= 28, "{report}");
}

/// With Z-scale-0 INSERTs skipped (the reference tool's convention), the block
/// fixtures give exactly the reference figures too.
#[test]
fn reference_convention_for_zero_z_scale_inserts() {
    let o = AnalysisOptions {
        expand_zero_z_scale_inserts: false,
        ..Default::default()
    };
    let r = run("sky_blocks2.dxf", &o);
    assert!((r.metrics.geometry_length_mm - 640.0).abs() < 1e-6);
    assert!(has_warning(&r, "insert_zero_z_scale"));
    let r = run("sky_blocks2.dxf", &AnalysisOptions::default());
    assert!(has_warning(&r, "insert_zero_z_scale"));
}

#[test]
fn old_converter_files_are_flagged_not_rescaled() {
    for file in [
        "wjp_designer_test.dxf",
        "wjp_test_file.dxf",
        "wjp_medallion_sample.dxf",
    ] {
        let r = run(file, &AnalysisOptions::default());
        assert_eq!(r.units.declared, 6, "{file}");
        assert_eq!(r.units.factor_to_mm, 1000.0, "{file}");
        assert!(r.units.suspicious, "{file}");
        assert!(has_warning(&r, "units_suspicious"), "{file}");
        // An explicit override reads them as millimetres.
        let o = AnalysisOptions {
            units_override: Some(4),
            ..Default::default()
        };
        let r2 = run(file, &o);
        assert!(!r2.units.suspicious, "{file}");
        assert!(
            (r2.metrics.geometry_length_mm * 1000.0 - r.metrics.geometry_length_mm).abs()
                < 1e-6 * r.metrics.geometry_length_mm
        );
    }
}

#[test]
fn damaged_files_say_what_was_tolerated() {
    let r = run(
        "ezdxf_R12_with_trash_beyond_EOF.dxf",
        &AnalysisOptions::default(),
    );
    assert!(has_warning(&r, "junk_after_eof"));
    assert_eq!(r.metrics.pierce_count, 1);
    for file in ["ezdxf_bin_dxf_r12.dxf", "ezdxf_bin_dxf_r2000.dxf"] {
        let r = run(file, &AnalysisOptions::default());
        assert_eq!(r.file.format, "binary", "{file}");
    }
    let r = run("wjp_MD01_MARB_20_RAW.dxf", &AnalysisOptions::default());
    assert_eq!(r.metrics.cut_length_mm, 0.0);
    assert!(r.metrics.bbox_mm.is_none());
}

#[test]
fn medallion_parts_and_holes() {
    // An outer boundary with circles inside: circles are holes, one part.
    let r = run("wjp_medallion_sample.dxf", &AnalysisOptions::default());
    assert_eq!(r.metrics.pierce_count, 8);
    assert!(r.metrics.part_count >= 1);
    assert!(r.metrics.hole_count >= 1);
    assert_eq!(
        r.metrics.part_count + r.metrics.hole_count + r.metrics.open_chains,
        r.metrics.pierce_count
    );
}
