//! Hand-made drawings: one per entity type, and one per mistake the analyser
//! wjp replaced made (numbered as the team's list of them; each test says what
//! the mistake was).

use std::f64::consts::PI;

use super::support::*;
use wjp_geometry::cost::{cut_speed_mm_min, default_materials, find_material, pierce_time_s};
use wjp_geometry::{
    analyze_dxf_bytes, calculate_cost, AnalysisOptions, ContourRole, CostRequest, MachineParams,
};

fn square(x: f64, y: f64, s: f64) -> String {
    lwpoly(
        &[
            (x, y, 0.0),
            (x + s, y, 0.0),
            (x + s, y + s, 0.0),
            (x, y + s, 0.0),
        ],
        true,
    )
}

// Mistake 1: holes counted twice.
#[test]
fn square_with_square_hole_is_480_mm_and_2_pierces() {
    let r = analyze(&mm(&(square(0.0, 0.0, 100.0) + &square(40.0, 40.0, 20.0))));
    assert!((r.metrics.cut_length_mm - 480.0).abs() < 1e-9);
    assert_eq!(r.metrics.pierce_count, 2);
    assert_eq!(r.metrics.part_count, 1);
    assert_eq!(r.metrics.hole_count, 1);
    assert!((r.metrics.net_area_mm2 - 9600.0).abs() < 1e-6);
    assert_eq!(r.parts[0].holes.len(), 1);
    // Holes are cut before their outer.
    let hole = r
        .contours
        .iter()
        .find(|c| c.role == ContourRole::Hole)
        .unwrap()
        .id;
    assert_eq!(r.cut_order.first(), Some(&hole));
}

#[test]
fn square_with_hole_from_loose_lines() {
    let mut e = String::new();
    for (x, y, s) in [(0.0, 0.0, 100.0), (40.0, 40.0, 20.0)] {
        e += &line(x, y, x + s, y);
        e += &line(x + s, y + s, x + s, y); // reversed on purpose
        e += &line(x + s, y + s, x, y + s);
        e += &line(x, y, x, y + s);
    }
    let r = analyze(&mm(&e));
    assert!((r.metrics.cut_length_mm - 480.0).abs() < 1e-9);
    assert_eq!(r.metrics.pierce_count, 2);
    assert_eq!(r.metrics.hole_count, 1);
    assert_eq!(r.metrics.open_chains, 0);
}

#[test]
fn island_inside_a_hole_is_another_part() {
    let r = analyze(&mm(&(square(0.0, 0.0, 100.0)
        + &square(10.0, 10.0, 80.0)
        + &square(30.0, 30.0, 40.0))));
    assert_eq!(r.metrics.part_count, 2);
    assert_eq!(r.metrics.hole_count, 1);
    let depths: Vec<usize> = r.contours.iter().map(|c| c.depth).collect();
    assert!(depths.contains(&2));
    // The island is cut first, while the hole around it still holds it.
    let island = r.contours.iter().find(|c| c.depth == 2).unwrap().id;
    assert_eq!(r.cut_order.first(), Some(&island));
    assert_eq!(r.cut_order.len(), 3);
}

// Mistake 3: bulges ignored.
#[test]
fn bulges_are_measured_as_arcs() {
    // Two half circles of radius 10: a full circle.
    let r = analyze(&mm(&lwpoly(&[(0.0, 0.0, 1.0), (20.0, 0.0, 1.0)], true)));
    assert!(close(r.metrics.cut_length_mm, 20.0 * PI, 1e-12));
    assert!(close(r.contours[0].area_mm2.abs(), 100.0 * PI, 1e-12));
    assert_eq!(r.metrics.bbox_mm.unwrap(), [0.0, -10.0, 20.0, 10.0]);
    // A slot: 40 mm straights with semicircular ends of radius 5.
    let slot = lwpoly(
        &[
            (0.0, 0.0, 0.0),
            (40.0, 0.0, 1.0),
            (40.0, 10.0, 0.0),
            (0.0, 10.0, 1.0),
        ],
        true,
    );
    let r = analyze(&mm(&slot));
    assert!(close(r.metrics.cut_length_mm, 80.0 + 10.0 * PI, 1e-12));
    assert!(close(
        r.contours[0].area_mm2.abs(),
        400.0 + 25.0 * PI,
        1e-12
    ));
    // The same with a 2D POLYLINE.
    let r = analyze(&mm(&polyline2d(
        &[
            (0.0, 0.0, 0.0),
            (40.0, 0.0, 1.0),
            (40.0, 10.0, 0.0),
            (0.0, 10.0, 1.0),
        ],
        true,
    )));
    assert!(close(r.metrics.cut_length_mm, 80.0 + 10.0 * PI, 1e-12));
    assert_eq!(r.entity_counts.get("POLYLINE"), Some(&1));
}

// Mistake 2: wrong $INSUNITS table from code 8 on.
#[test]
fn insunits_table_is_right() {
    for (code, per_unit_mm) in [
        (1, 25.4),
        (2, 304.8),
        (4, 1.0),
        (5, 10.0),
        (6, 1000.0),
        (8, 25.4e-6),
        (9, 0.0254),
        (10, 914.4),
        (11, 1e-7),
        (12, 1e-6),
        (13, 1e-3),
        (14, 100.0),
        (15, 10_000.0),
        (16, 100_000.0),
        (21, 1200.0 / 3937.0 * 1000.0),
    ] {
        let r = analyze(&doc(Some(code), &[], &line(0.0, 0.0, 10.0, 0.0)));
        assert_eq!(r.units.declared, code);
        assert!(
            close(r.units.factor_to_mm, per_unit_mm, 1e-12),
            "code {code}"
        );
        assert!(
            close(r.metrics.cut_length_mm, 10.0 * per_unit_mm, 1e-12),
            "code {code}"
        );
    }
    // Unitless falls back to $MEASUREMENT; missing is a warning.
    let r = analyze(&doc(None, &[], &line(0.0, 0.0, 10.0, 0.0)));
    assert!(has_warning(&r, "units_missing"));
    assert_eq!(r.units.factor_to_mm, 1.0);
}

// Mistake 4: open chains dropped; blocks expanded only when nothing else exists.
#[test]
fn open_chains_are_reported_and_cut() {
    let e = line(0.0, 0.0, 50.0, 0.0)
        + &line(50.0, 0.0, 50.0, 30.0)
        + &line(50.0, 30.0, 0.0, 30.0)
        + &square(100.0, 0.0, 10.0);
    let r = analyze(&mm(&e));
    assert_eq!(r.metrics.open_chains, 1);
    assert_eq!(r.metrics.pierce_count, 2);
    assert!((r.metrics.cut_length_mm - 170.0).abs() < 1e-9);
    assert!(has_warning(&r, "open_contours"));
}

#[test]
fn blocks_are_expanded_beside_other_geometry() {
    let blocks = [("HOLE", (0.0, 0.0), circle(0.0, 0.0, 5.0))];
    let e = square(0.0, 0.0, 100.0) + &place("HOLE", 25.0, 25.0) + &place("HOLE", 75.0, 75.0);
    let r = analyze(&doc(Some(4), &blocks, &e));
    assert_eq!(r.metrics.pierce_count, 3);
    assert_eq!(r.metrics.hole_count, 2);
    assert!(close(r.metrics.cut_length_mm, 400.0 + 20.0 * PI, 1e-12));
}

// Mistake 5: parts silently rescaled to 1000 mm.
#[test]
fn big_parts_are_not_rescaled() {
    let r = analyze(&mm(&square(0.0, 0.0, 5000.0)));
    assert_eq!(r.metrics.bbox_mm.unwrap(), [0.0, 0.0, 5000.0, 5000.0]);
    assert!(!r.units.suspicious);
    // Metres that are really millimetres: flagged, not rescaled.
    let r = analyze(&doc(Some(6), &[], &square(0.0, 0.0, 600.0)));
    assert_eq!(r.metrics.bbox_mm.unwrap(), [0.0, 0.0, 600_000.0, 600_000.0]);
    assert!(r.units.suspicious);
    assert!(has_warning(&r, "units_suspicious"));
}

// Mistake 8: material table not physical. Published machinability numbers put
// glass (450-550) above aluminium (200-220): in Zeng's model glass cuts faster, but
// its low-pressure pierce is slower; steel is the slowest of them.
#[test]
fn material_table_is_physical() {
    let t = default_materials();
    let mp = MachineParams::default();
    let speed = |n: &str| cut_speed_mm_min(&mp, &t, find_material(&t, n).unwrap(), 10.0, 3);
    let pierce = |n: &str| pierce_time_s(&mp, find_material(&t, n).unwrap(), 10.0);
    assert!(speed("mild_steel") < speed("brass"));
    assert!(speed("brass") < speed("aluminium"));
    assert!(speed("aluminium") < speed("granite"));
    assert!(speed("aluminium") < speed("glass"));
    assert!(speed("stainless_steel") < speed("titanium"));
    assert!(pierce("glass") > pierce("aluminium"));
    assert!(pierce("marble") > pierce("brass"));
    // Thicker is slower, finer is slower.
    let m = find_material(&t, "aluminium").unwrap();
    assert!(cut_speed_mm_min(&mp, &t, m, 20.0, 3) < cut_speed_mm_min(&mp, &t, m, 10.0, 3));
    assert!(cut_speed_mm_min(&mp, &t, m, 10.0, 5) < cut_speed_mm_min(&mp, &t, m, 10.0, 1));
    // The report uses the model: glass takes less cutting time than steel.
    let d = mm(&square(0.0, 0.0, 100.0));
    let steel = analyze_with(
        &d,
        &AnalysisOptions {
            material: "steel".into(),
            ..Default::default()
        },
    );
    let glass = analyze_with(
        &d,
        &AnalysisOptions {
            material: "glass".into(),
            ..Default::default()
        },
    );
    assert!(glass.time.cut_min < steel.time.cut_min);
    assert!(glass.time.pierce_s_each > steel.time.pierce_s_each / 10.0);
}

#[test]
fn per_metre_pricing_keeps_old_names_and_defaults() {
    let r = analyze(&mm(&(square(0.0, 0.0, 100.0) + &square(40.0, 40.0, 20.0))));
    let want = 0.48 * 825.0 + (480.0 / 1200.0 + 2.0 * 500.0 / 60000.0) * 20.0 + 2.0 * 1.5 + 15.0;
    assert!((r.cost.per_metre.total - want).abs() < 1e-9);
    assert_eq!(r.cost.mode, "per_metre");
    assert!((r.cost.total - want).abs() < 1e-9);
    for l in r.cost.per_metre.lines.iter().chain(&r.cost.physical.lines) {
        assert!(!l.formula.is_empty(), "{}", l.name);
    }
    assert!(r.cost.physical.total > 0.0);
    // JSON options with the old names.
    let o: AnalysisOptions = serde_json::from_str(
        r#"{"material": "aluminum", "thickness": 12, "kerf": 0.9, "pricing": {"rate_per_m": 1000, "mode": "physical"}}"#,
    )
    .unwrap();
    assert_eq!(o.thickness_mm, 12.0);
    assert_eq!(o.kerf_mm, 0.9);
    assert_eq!(o.pricing.rate_per_m, 1000.0);
    assert_eq!(o.pricing.feed, 1200.0);
    let r = analyze_with(&mm(&square(0.0, 0.0, 100.0)), &o);
    assert_eq!(r.cost.mode, "physical");
    assert_eq!(r.options.material, "aluminium");
}

#[test]
fn calculate_cost_applies_old_request_fields() {
    let d = mm(&square(0.0, 0.0, 100.0));
    let req: CostRequest = serde_json::from_str(
        r#"{"rate_per_m": 100, "pierce_cost": 10, "setup_cost": 0, "thickness": 3}"#,
    )
    .unwrap();
    let c = calculate_cost(&d, &req, &AnalysisOptions::default(), &mut |_, _| {}).unwrap();
    let want = 0.4 * 100.0 + (400.0 / 1200.0 + 500.0 / 60000.0) * 20.0 + 10.0;
    assert!((c.total - want).abs() < 1e-9, "{} vs {want}", c.total);
    assert_eq!(c.pierce_count, 1);
    assert_eq!(c.thickness_mm, 3.0);
    let bad = CostRequest {
        material: Some("cheese".into()),
        ..Default::default()
    };
    let e = calculate_cost(&d, &bad, &AnalysisOptions::default(), &mut |_, _| {}).unwrap_err();
    assert_eq!(e.code(), "invalid_option");
}

#[test]
fn progress_is_reported_in_order() {
    let mut seen = Vec::new();
    analyze_dxf_bytes(
        &mm(&square(0.0, 0.0, 10.0)),
        &AnalysisOptions::default(),
        &mut |p, _| seen.push(p),
    )
    .unwrap();
    assert!(seen.len() >= 3);
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(seen.last(), Some(&1.0));
}

// Entity types.
#[test]
fn arc_and_circle() {
    let r = analyze(&mm(&arc(0.0, 0.0, 10.0, 0.0, 90.0, 1.0)));
    assert!(close(r.metrics.cut_length_mm, 5.0 * PI, 1e-12));
    let b = r.metrics.bbox_mm.unwrap();
    for (got, want) in b.iter().zip([0.0, 0.0, 10.0, 10.0]) {
        assert!((got - want).abs() < 1e-9, "{b:?}");
    }
    // Across 0 degrees: from 270 to 90 is a half circle on the right.
    let r = analyze(&mm(&arc(0.0, 0.0, 10.0, 270.0, 90.0, 1.0)));
    assert!(close(r.metrics.cut_length_mm, 10.0 * PI, 1e-12));
    let b = r.metrics.bbox_mm.unwrap();
    assert!(b[0].abs() < 1e-9 && (b[2] - 10.0).abs() < 1e-9);
    let r = analyze(&mm(&circle(5.0, 5.0, 2.0)));
    assert!(close(r.metrics.cut_length_mm, 4.0 * PI, 1e-12));
    assert_eq!(r.metrics.part_count, 1);
}

#[test]
fn ocs_extrusion_minus_z_mirrors_x() {
    let r = analyze(&mm(&circle_ocs(10.0, 0.0, 1.0, -1.0)));
    assert_eq!(r.metrics.bbox_mm.unwrap(), [-11.0, -1.0, -9.0, 1.0]);
    // An arc 0..90 in a mirrored OCS lies in the world's second quadrant.
    let r = analyze(&mm(&arc(0.0, 0.0, 10.0, 0.0, 90.0, -1.0)));
    let b = r.metrics.bbox_mm.unwrap();
    assert!((b[0] + 10.0).abs() < 1e-9 && b[2].abs() < 1e-9 && (b[3] - 10.0).abs() < 1e-9);
    assert!(close(r.metrics.cut_length_mm, 5.0 * PI, 1e-12));
}

#[test]
fn ellipse_full_and_arc() {
    let r = analyze(&mm(&ellipse(0.0, 0.0, 20.0, 0.0, 0.5, 0.0, 2.0 * PI)));
    let want = ellipse_arc_length(20.0, 10.0, 0.0, 2.0 * PI);
    assert!(
        close(r.metrics.cut_length_mm, want, 1e-5),
        "{} vs {want}",
        r.metrics.cut_length_mm
    );
    assert!(close(r.contours[0].area_mm2.abs(), PI * 200.0, 1e-4));
    assert_eq!(r.metrics.closed_contours, 1);
    let r = analyze(&mm(&ellipse(0.0, 0.0, 20.0, 0.0, 0.5, 0.0, PI / 2.0)));
    let want = ellipse_arc_length(20.0, 10.0, 0.0, PI / 2.0);
    assert!(close(r.metrics.cut_length_mm, want, 1e-5));
    assert_eq!(r.metrics.open_chains, 1);
    let b = r.metrics.bbox_mm.unwrap();
    assert!(b[0].abs() < 1e-6 && (b[2] - 20.0).abs() < 1e-6 && (b[3] - 10.0).abs() < 1e-6);
}

#[test]
fn rational_spline_quarter_circle() {
    let w = std::f64::consts::FRAC_1_SQRT_2;
    let s = spline(
        2,
        &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0],
        &[1.0, w, 1.0],
        &[(10.0, 0.0), (10.0, 10.0), (0.0, 10.0)],
    );
    let r = analyze(&mm(&s));
    assert!(
        close(r.metrics.cut_length_mm, 5.0 * PI, 1e-5),
        "{}",
        r.metrics.cut_length_mm
    );
    // A degree-1 spline is its control polygon.
    let s = spline(
        1,
        &[0.0, 0.0, 1.0, 2.0, 2.0],
        &[],
        &[(0.0, 0.0), (3.0, 4.0), (6.0, 0.0)],
    );
    let r = analyze(&mm(&s));
    assert!(close(r.metrics.cut_length_mm, 10.0, 1e-9));
}

#[test]
fn spline_from_fit_points_passes_through_them() {
    let pts = [(0.0, 0.0), (10.0, 5.0), (20.0, 0.0), (30.0, 5.0)];
    let r = analyze(&mm(&spline_fit(&pts)));
    let chord: f64 = pts
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1))
        .sum();
    assert!(r.metrics.cut_length_mm >= chord - 1e-9);
    assert!(r.metrics.cut_length_mm < chord * 1.2);
    let b = r.metrics.bbox_mm.unwrap();
    assert!(b[0].abs() < 1e-9 && (b[2] - 30.0).abs() < 1e-9);
}

#[test]
fn insert_rotation_scale_and_mirror() {
    // Block: a 10 x 5 rectangle with a bulged right side, base at its corner.
    let shape = lwpoly(
        &[
            (0.0, 0.0, 0.0),
            (10.0, 0.0, 0.5),
            (10.0, 5.0, 0.0),
            (0.0, 5.0, 0.0),
        ],
        true,
    );
    let plain = analyze(&mm(&shape));
    let blocks = [("B", (0.0, 0.0), shape.clone())];
    // Rotated 90 degrees, scaled 2: the box becomes (-10..0) x (0..20) plus the bulge.
    let r = analyze(&doc(
        Some(4),
        &blocks,
        &insert("B", 0.0, 0.0, 2.0, 2.0, 90.0, 1, 1, 0.0, 0.0),
    ));
    assert!(close(
        r.metrics.cut_length_mm,
        2.0 * plain.metrics.cut_length_mm,
        1e-12
    ));
    assert!(close(
        r.contours[0].area_mm2.abs(),
        4.0 * plain.contours[0].area_mm2.abs(),
        1e-12
    ));
    let b = r.metrics.bbox_mm.unwrap();
    assert!((b[1]).abs() < 1e-9 && (b[2]).abs() < 1e-9);
    // Mirrored (x scale -1): same length and area, reflected box, arcs flipped.
    let r = analyze(&doc(
        Some(4),
        &blocks,
        &insert("B", 0.0, 0.0, -1.0, 1.0, 0.0, 1, 1, 0.0, 0.0),
    ));
    assert!(close(
        r.metrics.cut_length_mm,
        plain.metrics.cut_length_mm,
        1e-12
    ));
    assert!(close(
        r.contours[0].area_mm2.abs(),
        plain.contours[0].area_mm2.abs(),
        1e-12
    ));
    let pb = plain.metrics.bbox_mm.unwrap();
    let b = r.metrics.bbox_mm.unwrap();
    assert!((b[0] + pb[2]).abs() < 1e-9 && (b[2] + pb[0]).abs() < 1e-9);
}

#[test]
fn minsert_and_nested_blocks() {
    let blocks = [
        ("DOT", (0.0, 0.0), circle(0.0, 0.0, 1.0)),
        (
            "ROW",
            (0.0, 0.0),
            place("DOT", 0.0, 0.0) + &place("DOT", 5.0, 0.0),
        ),
        (
            "GRID",
            (0.0, 0.0),
            insert("ROW", 0.0, 0.0, 1.0, 1.0, 0.0, 2, 3, 20.0, 10.0),
        ),
    ];
    let r = analyze(&doc(Some(4), &blocks, &place("GRID", 100.0, 100.0)));
    assert_eq!(r.entity_counts.get("CIRCLE"), Some(&12));
    assert_eq!(r.metrics.pierce_count, 12);
    assert_eq!(r.metrics.max_block_depth, 3);
    assert_eq!(r.metrics.bbox_mm.unwrap(), [99.0, 99.0, 126.0, 121.0]);
}

#[test]
fn duplicates_are_cut_once() {
    let e = square(0.0, 0.0, 10.0)
        + &square(0.0, 0.0, 10.0)
        + &line(20.0, 0.0, 30.0, 0.0)
        + &line(30.0, 0.0, 20.0, 0.0);
    let r = analyze(&mm(&e));
    assert!((r.metrics.geometry_length_mm - 100.0).abs() < 1e-9);
    assert!((r.metrics.cut_length_mm - 50.0).abs() < 1e-9);
    assert_eq!(r.metrics.duplicate_count, 2);
    assert!(has_warning(&r, "duplicates"));
    // Partly overlapping collinear lines.
    let r = analyze(&mm(
        &(line(0.0, 0.0, 10.0, 0.0) + &line(5.0, 0.0, 15.0, 0.0))
    ));
    assert!((r.metrics.overlap_length_mm - 5.0).abs() < 1e-9);
}

#[test]
fn gaps_within_snap_tolerance_are_closed_and_reported() {
    let e = line(0.0, 0.0, 10.0, 0.0)
        + &line(10.0, 0.0, 10.0, 10.0)
        + &line(10.0, 10.0, 0.0, 10.0)
        + &line(0.0, 10.0, 0.0, 0.02);
    let r = analyze(&mm(&e));
    assert_eq!(r.metrics.closed_contours, 1);
    assert_eq!(r.metrics.gaps_closed, 1);
    assert!(has_warning(&r, "gaps_closed"));
    // Beyond the tolerance it stays open.
    let e = line(0.0, 0.0, 10.0, 0.0)
        + &line(10.0, 0.0, 10.0, 10.0)
        + &line(10.0, 10.0, 0.0, 10.0)
        + &line(0.0, 10.0, 0.0, 0.5);
    let r = analyze(&mm(&e));
    assert_eq!(r.metrics.open_chains, 1);
}

#[test]
fn manufacturability_warnings() {
    // A hole smaller than the kerf, a web thinner than 2 x kerf, an inside radius
    // below kerf / 2, text and a tiny segment.
    let outer = lwpoly(
        &[
            (0.0, 0.0, 0.0),
            (50.0, 0.0, 0.0),
            (50.0, 20.0, 0.0),
            (30.2, 20.0, -1.0),
            (29.8, 20.0, 0.0),
            (0.0, 20.0, 0.0),
        ],
        true,
    );
    let e = outer
        + &circle(10.0, 10.0, 0.3)
        + &square(40.0, 1.0, 5.0)
        + &text("LOGO")
        + &line(100.0, 0.0, 100.01, 0.0);
    let r = analyze(&mm(&e));
    for code in [
        "feature_smaller_than_kerf",
        "narrow_web",
        "inside_radius_below_kerf",
        "text_not_exploded",
        "tiny_segments",
    ] {
        assert!(has_warning(&r, code), "{code}: {:?}", r.warnings);
    }
    assert!(r.metrics.min_web_mm.unwrap() < 2.2);
    assert_eq!(r.not_cut.get("TEXT"), Some(&1));
    assert!((r.metrics.smallest_inside_radius_mm.unwrap() - 0.2).abs() < 1e-9);
}

#[test]
fn cp1252_layer_names() {
    let mut d = mm(&line(0.0, 0.0, 1.0, 0.0));
    let s = String::from_utf8(d.clone())
        .unwrap()
        .replace("8\nCUT\n", "8\nCOUPE_\u{e9}\n");
    d = s.into_bytes();
    // Re-encode the e-acute as a single cp1252 byte.
    let pos = d.windows(2).position(|w| w == [0xC3, 0xA9]).unwrap();
    d.splice(pos..pos + 2, [0xE9]);
    let r = analyze(&d);
    assert_eq!(r.file.encoding, "cp1252");
    assert_eq!(r.contours[0].layer, "COUPE_\u{e9}");
}

#[test]
fn svg_shows_styles_and_arcs() {
    let r = analyze(&mm(&(square(0.0, 0.0, 100.0)
        + &circle(50.0, 50.0, 10.0)
        + &line(200.0, 0.0, 210.0, 0.0))));
    let svg = r.to_svg();
    assert!(svg.contains("class=\"outer\""));
    assert!(svg.contains("class=\"hole\""));
    assert!(svg.contains("class=\"open\""));
    assert!(svg.contains("class=\"pierce\""));
    assert!(
        svg.contains(" A10 10 0 "),
        "the circle is drawn as arcs of radius 10"
    );
    assert!(svg.ends_with("</svg>\n"));
}

#[test]
fn layer_names_carry_intent() {
    let hole_on_outer_layer = square(0.0, 0.0, 100.0).replace("8\nCUT\n", "8\nHOLES\n")
        + &square(10.0, 10.0, 10.0).replace("8\nCUT\n", "8\nETCH\n");
    let r = analyze(&mm(&hole_on_outer_layer));
    assert!(has_warning(&r, "layer_role_mismatch"), "{:?}", r.warnings);
    assert!(has_warning(&r, "surface_layers"), "{:?}", r.warnings);
    let r = analyze(&mm(&square(0.0, 0.0, 100.0)));
    assert!(!has_warning(&r, "layer_role_mismatch"));
}

// Mutated real files: flipped, deleted and inserted bytes never panic.
proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..6,
        edits in proptest::collection::vec((0.0f64..1.0, 0u8..3, proptest::prelude::any::<u8>()), 1..20),
    ) {
        let files = [
            "ezdxf_ASCII_R12.dxf",
            "ezdxf_bin_dxf_r12.dxf",
            "ezdxf_bin_dxf_r2000.dxf",
            "sky_blocks2.dxf",
            "sky_splines.dxf",
            "wjp_medallion_sample.dxf",
        ];
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/dxf")
            .join(files[which]);
        let mut d = std::fs::read(path).unwrap();
        for (at, kind, byte) in edits {
            let i = ((d.len() as f64) * at) as usize;
            match kind {
                0 if i < d.len() => d[i] = byte,
                1 if i < d.len() => {
                    d.remove(i);
                }
                _ => d.insert(i.min(d.len()), byte),
            }
        }
        let _ = analyze_dxf_bytes(&d, &AnalysisOptions::default(), &mut |_, _| {});
    }
}

#[test]
fn drawing_exposes_contours_with_arcs_kept() {
    let d = wjp_geometry::load_drawing(
        &mm(&(circle(50.0, 50.0, 10.0) + &square(0.0, 0.0, 100.0))),
        &AnalysisOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let hole = d
        .contours()
        .iter()
        .find(|c| c.role == ContourRole::Hole)
        .unwrap();
    assert_eq!(hole.vertices().len(), 2);
    assert!(hole
        .vertices()
        .iter()
        .all(|v| (v.bulge.abs() - 1.0).abs() < 1e-12));
    assert_eq!(d.parts().len(), 1);
    assert_eq!(d.parts()[0].holes, vec![hole.id]);
}

/// An ATTDEF (attribute template) of tag `tag` at the block's origin.
fn attdef(tag: &str) -> String {
    format!(
        "0\nATTDEF\n8\n0\n10\n0\n20\n0\n30\n0\n40\n2.5\n1\nDEFAULT\n3\nPrompt\n2\n{tag}\n70\n0\n"
    )
}

/// An ATTRIB (an attribute value carried by the INSERT before it).
fn attrib(tag: &str, value: &str) -> String {
    format!("0\nATTRIB\n8\n0\n10\n1\n20\n1\n30\n0\n40\n2.5\n1\n{value}\n2\n{tag}\n70\n0\n")
}

// A block's ATTDEFs are templates: a MINSERT of 3 x 2 cells of a block with two
// of them was counted as 12 texts. Only the ATTRIBs the INSERT carries are text.
#[test]
fn attribute_templates_in_blocks_are_not_text() {
    let block = circle(0.0, 0.0, 2.0) + &attdef("PART") + &attdef("QTY");
    let minsert = insert("TAG", 0.0, 0.0, 1.0, 1.0, 0.0, 3, 2, 10.0, 10.0)
        .replace("0\nINSERT\n8\nCUT\n", "0\nINSERT\n8\nCUT\n66\n1\n")
        + &attrib("PART", "A-17")
        + &attrib("QTY", "6")
        + "0\nSEQEND\n8\n0\n";
    let r = analyze(&doc(
        Some(4),
        &[("TAG", (0.0, 0.0), block.clone())],
        &minsert,
    ));
    assert_eq!(
        r.entity_counts.get("CIRCLE"),
        Some(&6),
        "{:?}",
        r.entity_counts
    );
    assert_eq!(r.entity_counts.get("ATTDEF"), None, "{:?}", r.entity_counts);
    assert_eq!(
        r.entity_counts.get("ATTRIB"),
        Some(&2),
        "{:?}",
        r.entity_counts
    );
    let text = r
        .warnings
        .iter()
        .find(|w| w.code == "text_not_exploded")
        .expect("the INSERT's attributes are text");
    assert_eq!(text.count, 2, "{}", text.message);
    assert_eq!(r.not_cut.get("ATTRIB"), Some(&2));
    assert!((r.metrics.cut_length_mm - 6.0 * 4.0 * PI).abs() < 1e-9);

    // Without attribute values on the INSERT there is no text at all.
    let plain = insert("TAG", 0.0, 0.0, 1.0, 1.0, 0.0, 3, 2, 10.0, 10.0);
    let r = analyze(&doc(Some(4), &[("TAG", (0.0, 0.0), block)], &plain));
    assert!(!has_warning(&r, "text_not_exploded"), "{:?}", r.warnings);
    assert!(r.entity_counts.keys().all(|k| !k.starts_with("ATT")));
}

// An empty drawing printed "Cut length: -0.00 mm" and quoted its setup cost.
#[test]
fn empty_drawings_say_so_and_have_no_negative_zero() {
    let empty_file = std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/dxf/wjp_MD01_MARB_20_RAW.dxf"),
    )
    .expect("fixture");
    for (what, bytes) in [
        ("no entities", mm("")),
        ("text only", mm(&text("NOTE"))),
        ("wjp_MD01_MARB_20_RAW.dxf", empty_file),
    ] {
        let r = analyze(&bytes);
        assert!(r.empty, "{what}");
        assert_eq!(r.metrics.pierce_count, 0, "{what}");
        let json = serde_json::to_string(&r).expect("serializes");
        assert!(json.contains("\"empty\":true"), "{what}");
        assert!(!json.contains(":-0.0"), "{what}: negative zero in {json}");
        let text = r.summary_text();
        assert!(text.contains("Empty drawing"), "{what}: {text}");
        assert!(
            !text.contains("-0.0") && !text.contains("Cost"),
            "{what}: {text}"
        );
        for v in [
            r.metrics.cut_length_mm,
            r.metrics.geometry_length_mm,
            r.metrics.net_area_mm2,
        ] {
            assert!(v == 0.0 && v.is_sign_positive(), "{what}: {v}");
        }
        let c = calculate_cost(
            &bytes,
            &CostRequest::default(),
            &AnalysisOptions::default(),
            &mut |_, _| {},
        )
        .expect("costs");
        assert!(c.empty && c.cut_length_mm.is_sign_positive(), "{what}");
    }
    let r = analyze(&mm(&square(0.0, 0.0, 10.0)));
    assert!(!r.empty);
    assert!(r.summary_text().contains("Cost"));
}
