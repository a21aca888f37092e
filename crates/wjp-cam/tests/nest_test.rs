//! Nesting: placed outlines never overlap, keep the gap, stay on the sheet; parts
//! that cannot be placed are reported with a reason; utilisation adds up.

use crate::support::*;
use wjp_cam::{nest, NestOptions, NestResult, PartInput, SheetSpec};
use wjp_geometry::{AnalysisOptions, Path, Point};

fn part(name: &str, bytes: &[u8], qty: u32) -> PartInput {
    let mut v = PartInput::from_dxf(name, bytes, qty, &AnalysisOptions::default()).unwrap();
    assert_eq!(v.len(), 1);
    v.remove(0)
}

fn square_hole() -> PartInput {
    part("square_hole", &square_with_hole(), 4)
}
fn ell() -> PartInput {
    part(
        "ell",
        &dxf(&lwpoly(
            &[
                (0.0, 0.0, 0.0),
                (120.0, 0.0, 0.0),
                (120.0, 40.0, 0.0),
                (40.0, 40.0, 0.0),
                (40.0, 90.0, 0.0),
                (0.0, 90.0, 0.0),
            ],
            true,
        )),
        3,
    )
}
fn disc() -> PartInput {
    part("disc", &dxf(&circle(0.0, 0.0, 30.0)), 3)
}

fn opts(w: f64, h: f64, sheets: u32) -> NestOptions {
    NestOptions {
        sheet_width: w,
        sheet_height: h,
        max_sheets: sheets,
        max_iterations: 1,
        time_limit_s: 600.0,
        ..NestOptions::default()
    }
}

fn run(parts: &[PartInput], o: &NestOptions) -> NestResult {
    nest(parts, o, &mut |_| {}, &|| false).unwrap()
}

// ---- an exact (up to flattening) polygon test, independent of the nesting engine

fn seg_dist(a: Point, b: Point, p: Point) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let l2 = dx * dx + dy * dy;
    let t = if l2 > 0.0 {
        (((p.x - a.x) * dx + (p.y - a.y) * dy) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((a.x + t * dx - p.x).powi(2) + (a.y + t * dy - p.y).powi(2)).sqrt()
}
fn cross(o: Point, a: Point, b: Point) -> f64 {
    (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
}
fn segs_cross(a: Point, b: Point, c: Point, d: Point) -> bool {
    let (d1, d2) = (cross(c, d, a), cross(c, d, b));
    let (d3, d4) = (cross(a, b, c), cross(a, b, d));
    d1 * d2 < 0.0 && d3 * d4 < 0.0
}
fn inside(p: Point, poly: &[Point]) -> bool {
    let mut c = false;
    let n = poly.len();
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (poly[i], poly[j]);
        if (a.y > p.y) != (b.y > p.y) && p.x < a.x + (p.y - a.y) / (b.y - a.y) * (b.x - a.x) {
            c = !c;
        }
        j = i;
    }
    c
}
/// Distance between two polygons' boundaries, and 0 if they cross or one is inside the other.
fn poly_distance(a: &[Point], b: &[Point]) -> f64 {
    if inside(a[0], b) || inside(b[0], a) {
        return 0.0;
    }
    let mut best = f64::INFINITY;
    for i in 0..a.len() {
        let (a0, a1) = (a[i], a[(i + 1) % a.len()]);
        for j in 0..b.len() {
            let (b0, b1) = (b[j], b[(j + 1) % b.len()]);
            if segs_cross(a0, a1, b0, b1) {
                return 0.0;
            }
            best = best.min(seg_dist(a0, a1, b0)).min(seg_dist(b0, b1, a0));
        }
    }
    best
}

fn placed_outlines(parts: &[PartInput], r: &NestResult) -> Vec<(usize, Vec<Point>)> {
    r.positioned_objects
        .iter()
        .map(|p| {
            let (s, c) = p.rotation.to_radians().sin_cos();
            let pts: Vec<Point> = parts[p.part_index]
                .outer
                .flatten(0.005)
                .iter()
                .map(|q| Point::new(c * q.x - s * q.y + p.x, s * q.x + c * q.y + p.y))
                .collect();
            (p.sheet, pts)
        })
        .collect()
}

fn check_layout(parts: &[PartInput], o: &NestOptions, r: &NestResult) {
    let outlines = placed_outlines(parts, r);
    let tol = 0.02;
    for (k, (s, pts)) in outlines.iter().enumerate() {
        let (w, h) = if o.sheets.is_empty() {
            (o.sheet_width, o.sheet_height)
        } else {
            (o.sheets[0].width, o.sheets[0].height)
        };
        for p in pts {
            assert!(
                p.x >= o.gap - tol
                    && p.y >= o.gap - tol
                    && p.x <= w - o.gap + tol
                    && p.y <= h - o.gap + tol,
                "part {k} point {p:?} is off sheet {s} or within the edge gap"
            );
        }
        for (s2, pts2) in outlines.iter().skip(k + 1) {
            if s2 != s {
                continue;
            }
            let d = poly_distance(pts, pts2);
            assert!(
                d >= o.gap - tol,
                "two parts on sheet {s} are {d} mm apart (gap {})",
                o.gap
            );
        }
    }
}

#[test]
fn placed_parts_never_overlap_keep_the_gap_and_stay_on_the_sheet() {
    let parts = vec![square_hole(), ell(), disc()];
    let o = opts(400.0, 300.0, 3);
    let r = run(&parts, &o);
    assert_eq!(
        r.positioned_objects.len(),
        10,
        "failed: {:?}",
        r.failed_objects
    );
    assert!(r.failed_objects.is_empty());
    check_layout(&parts, &o, &r);
    assert_eq!(r.sheets_required, r.sheets.len());
    // Every used sheet has a DXF that reads back with its parts and holes.
    for s in &r.sheets {
        let d = wjp_geometry::load_drawing(
            s.dxf.as_bytes(),
            &AnalysisOptions::default(),
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(d.parts().len(), s.parts, "sheet {}", s.sheet);
        let holes: usize = d.parts().iter().map(|p| p.holes.len()).sum();
        let want = r
            .positioned_objects
            .iter()
            .filter(|p| p.sheet == s.sheet && p.part == "square_hole")
            .count();
        assert_eq!(holes, want, "holes are carried with their parts");
        // The sheet's picture is its DXF: real size, and the parts' outlines and
        // holes, read back, enclose the areas of the DXF's contours.
        let (w, h, vb) = crate::svg_read::millimetre_size(&s.svg);
        assert!((w - vb[2]).abs() < 1e-3 && (h - vb[3]).abs() < 1e-3);
        let drawn: f64 = crate::svg_read::path_tags(&s.svg)
            .iter()
            .filter_map(|t| crate::svg_read::attribute_of(t, "d"))
            .flat_map(|d| crate::svg_read::parse_path(&d))
            .map(|sub| sub.signed_area().abs())
            .sum();
        let dxf_area: f64 = d.contours().iter().map(|c| c.area_mm2.abs()).sum();
        assert!(
            (drawn - dxf_area).abs() < 1e-4 * dxf_area,
            "sheet {}: drawn {drawn} mm2, DXF {dxf_area} mm2",
            s.sheet
        );
    }
    assert!(r.svg.contains("<path"));
}

#[test]
fn the_gap_option_is_respected_when_larger() {
    let parts = vec![part("sq", &dxf(&rect(0.0, 0.0, 50.0, 50.0)), 6)];
    // Three improvement passes: they may only replace the layout by a better one.
    let o = NestOptions {
        gap: 10.0,
        max_iterations: 3,
        ..opts(200.0, 200.0, 2)
    };
    let r = run(&parts, &o);
    assert_eq!(r.positioned_objects.len(), 6);
    check_layout(&parts, &o, &r);
    // 6 squares of 50 with 10 mm gaps need 3 x 2 or 2 x 3 cells of 60: 190 mm fits 3 columns.
    assert_eq!(r.sheets_required, 1);
    // ...so some neighbours sit at the gap itself, not farther.
    let outlines = placed_outlines(&parts, &r);
    let closest = (0..outlines.len())
        .flat_map(|i| (i + 1..outlines.len()).map(move |j| (i, j)))
        .map(|(i, j)| poly_distance(&outlines[i].1, &outlines[j].1))
        .fold(f64::INFINITY, f64::min);
    assert!(closest < 10.5, "closest neighbours are {closest} mm apart");
}

#[test]
fn a_part_too_big_is_reported_with_the_reason() {
    let big = part("big", &dxf(&rect(0.0, 0.0, 500.0, 50.0)), 1);
    let small = part("small", &dxf(&rect(0.0, 0.0, 40.0, 40.0)), 2);
    let r = run(&[big, small], &opts(300.0, 300.0, 2));
    assert_eq!(r.failed_objects.len(), 1);
    assert_eq!(r.failed_objects[0].part, "big");
    assert!(
        r.failed_objects[0].reason.contains("does not fit"),
        "{}",
        r.failed_objects[0].reason
    );
    assert!(r.failed_objects[0].reason.contains("300 x 300"));
    assert_eq!(r.positioned_objects.len(), 2);
}

#[test]
fn parts_beyond_the_available_sheets_are_reported() {
    let sq = part("sq", &dxf(&rect(0.0, 0.0, 90.0, 90.0)), 6);
    let r = run(std::slice::from_ref(&sq), &opts(200.0, 200.0, 1));
    // 90 + 3 gaps... at most 2 x 2 on a 200 sheet.
    assert_eq!(r.positioned_objects.len(), 4);
    assert_eq!(r.failed_objects.len(), 2);
    assert!(r
        .failed_objects
        .iter()
        .all(|f| f.reason.contains("no room")));
    let r = run(&[sq], &opts(200.0, 200.0, 3));
    assert_eq!(r.sheets_required, 2);
    assert!(r.failed_objects.is_empty());
    assert!(r.positioned_objects.iter().any(|p| p.sheet == 1));
}

#[test]
fn utilisation_is_net_part_area_over_used_sheet_area() {
    let parts = vec![square_hole()];
    let o = opts(500.0, 500.0, 1);
    let r = run(&parts, &o);
    assert_eq!(r.positioned_objects.len(), 4);
    let net = 4.0 * (10_000.0 - std::f64::consts::PI * 100.0);
    let want = 100.0 * net / 250_000.0;
    assert!(
        (r.final_utilization - want).abs() < 1e-6,
        "{} vs {want}",
        r.final_utilization
    );
    assert!((r.waste_percentage - (100.0 - want)).abs() < 1e-6);
    assert!((r.sheets[0].utilization - want).abs() < 1e-6);
    assert!((r.waste_area_mm2 - (250_000.0 - net)).abs() < 1e-3);
}

#[test]
fn a_long_part_is_rotated_to_fit() {
    let long = part("long", &dxf(&rect(0.0, 0.0, 280.0, 50.0)), 1);
    let o = opts(100.0, 300.0, 1);
    let r = run(std::slice::from_ref(&long), &o);
    assert_eq!(r.positioned_objects.len(), 1, "{:?}", r.failed_objects);
    let rot = r.positioned_objects[0].rotation;
    assert!(rot == 90.0 || rot == 270.0, "rotation {rot}");
    check_layout(&[long], &o, &r);
}

#[test]
fn should_stop_after_the_first_layout_keeps_it() {
    let parts = vec![square_hole(), ell(), disc()];
    let first_done = std::cell::Cell::new(false);
    let mut seen = Vec::new();
    let r = nest(
        &parts,
        &opts(400.0, 300.0, 3),
        &mut |p| {
            seen.push((p.fraction, p.message.to_string()));
            if p.fraction >= 0.5 {
                first_done.set(true);
            }
        },
        &|| first_done.get(),
    )
    .unwrap();
    assert_eq!(r.stopped_by, "stopped");
    assert_eq!(r.iterations, 1);
    assert_eq!(r.positioned_objects.len(), 10);
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress never goes back"
    );
    assert_eq!(seen.last().unwrap().0, 1.0);
}

#[test]
fn should_stop_at_once_reports_every_part_as_not_tried() {
    let parts = vec![square_hole(), disc()];
    let r = nest(&parts, &opts(400.0, 300.0, 3), &mut |_| {}, &|| true).unwrap();
    assert_eq!(r.stopped_by, "stopped");
    assert!(r.positioned_objects.is_empty());
    assert_eq!(r.failed_objects.len(), 7);
    assert!(r
        .failed_objects
        .iter()
        .all(|f| f.reason.contains("stopped")));
    assert_eq!(r.sheets_required, 0);
    assert_eq!(r.final_utilization, 0.0);
}

#[test]
fn a_self_crossing_outline_is_nested_by_its_hull() {
    // A lopsided bow tie: two edges cross.
    let bow = part(
        "bow",
        &dxf(&lwpoly(
            &[
                (0.0, 0.0, 0.0),
                (100.0, 50.0, 0.0),
                (100.0, 0.0, 0.0),
                (0.0, 40.0, 0.0),
            ],
            true,
        )),
        3,
    );
    let o = opts(400.0, 300.0, 1);
    let r = run(std::slice::from_ref(&bow), &o);
    assert!(
        r.warnings.iter().any(|w| w.code == "nested_by_hull"),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.positioned_objects.len(), 3);
    // The hulls keep the gap, so the outlines inside them do too.
    let rect_part = part(
        "hull",
        &dxf(&lwpoly(
            &[
                (0.0, 0.0, 0.0),
                (100.0, 0.0, 0.0),
                (100.0, 50.0, 0.0),
                (0.0, 40.0, 0.0),
            ],
            true,
        )),
        1,
    );
    let boxes = vec![rect_part];
    let as_boxes = NestResult {
        positioned_objects: r
            .positioned_objects
            .iter()
            .map(|p| wjp_cam::Placement {
                part_index: 0,
                ..p.clone()
            })
            .collect(),
        ..r.clone()
    };
    check_layout(&boxes, &o, &as_boxes);
}

#[test]
fn several_sheet_sizes_are_used_in_order() {
    let sq = part("sq", &dxf(&rect(0.0, 0.0, 90.0, 90.0)), 3);
    let o = NestOptions {
        sheets: vec![
            SheetSpec {
                width: 100.0,
                height: 100.0,
                quantity: 1,
            },
            SheetSpec {
                width: 300.0,
                height: 100.0,
                quantity: 1,
            },
        ],
        max_iterations: 1,
        ..NestOptions::default()
    };
    let r = run(&[sq], &o);
    // 90 + 2 x 3 = 96 <= 100: one on the small sheet, two on the long one.
    assert_eq!(
        r.positioned_objects.iter().filter(|p| p.sheet == 0).count(),
        1
    );
    assert_eq!(
        r.positioned_objects.iter().filter(|p| p.sheet == 1).count(),
        2
    );
    assert_eq!(r.sheets[1].width, 300.0);
    // A part too long for the first sheet goes to the second, the first stays unused.
    let long = part("long", &dxf(&rect(0.0, 0.0, 200.0, 50.0)), 1);
    let r = run(&[long], &o);
    assert!(r.failed_objects.is_empty(), "{:?}", r.failed_objects);
    assert_eq!(r.positioned_objects[0].sheet, 1);
    assert_eq!(r.sheets_required, 1);
    assert_eq!(r.sheets[0].sheet, 1);
}

#[test]
fn old_api_names_and_bad_options() {
    let o: NestOptions = serde_json::from_str(
        r#"{"sheet_width":1000,"sheet_height":500,"gap":5,"kerf":1,"material":"steel","thickness":8}"#,
    )
    .unwrap();
    assert_eq!(
        (o.sheet_width, o.sheet_height, o.gap, o.kerf),
        (1000.0, 500.0, 5.0, 1.0)
    );
    assert_eq!(o.rotations, vec![0.0, 90.0, 180.0, 270.0]);
    let p = vec![square_hole()];
    let e = |o: NestOptions| nest(&p, &o, &mut |_| {}, &|| false).unwrap_err();
    assert_eq!(
        e(NestOptions {
            gap: 0.5,
            kerf: 1.1,
            ..o.clone()
        })
        .code(),
        "invalid_option"
    );
    assert_eq!(
        e(NestOptions {
            kerf: -1.0,
            ..o.clone()
        })
        .code(),
        "invalid_option"
    );
    assert_eq!(
        e(NestOptions {
            sheet_width: 0.0,
            ..o.clone()
        })
        .code(),
        "invalid_option"
    );
    assert_eq!(
        e(NestOptions {
            sheet_height: f64::NAN,
            ..o.clone()
        })
        .code(),
        "invalid_option"
    );
    assert_eq!(
        e(NestOptions {
            rotations: vec![],
            ..o.clone()
        })
        .code(),
        "invalid_option"
    );
    assert_eq!(
        e(NestOptions {
            max_sheets: 0,
            ..o.clone()
        })
        .code(),
        "invalid_option"
    );
    let none: Vec<PartInput> = vec![];
    assert_eq!(
        nest(&none, &o, &mut |_| {}, &|| false).unwrap_err().code(),
        "nothing_to_do"
    );
    let open = PartInput::from_dxf(
        "open",
        &dxf(&line(0.0, 0.0, 10.0, 0.0)),
        1,
        &AnalysisOptions::default(),
    );
    assert_eq!(open.unwrap_err().code(), "bad_part");
}

#[test]
fn a_nested_sheet_becomes_a_gcode_program() {
    let parts = vec![square_hole(), disc()];
    let r = run(&parts, &opts(400.0, 300.0, 1));
    let s = &r.sheets[0];
    let prog =
        wjp_cam::generate_gcode(s.dxf.as_bytes(), &wjp_cam::GcodeOptions::default()).unwrap();
    // One pierce per outline and hole: 4 squares with a hole, 3 discs.
    assert_eq!(prog.summary.pierces, 4 * 2 + 3);
    let _ = Path {
        vertices: vec![],
        closed: false,
    };
}

#[test]
fn small_parts_go_into_holes_only_when_allowed() {
    // A 200 mm frame with a 120 mm square hole fills the sheet; four 50 mm squares fit
    // only inside the hole (3 + 50 + 3 + 50 + 3 = 109 <= 120).
    let frame = part(
        "frame",
        &dxf(&(rect(0.0, 0.0, 200.0, 200.0) + &rect(40.0, 40.0, 120.0, 120.0))),
        1,
    );
    let small = part("small", &dxf(&rect(0.0, 0.0, 50.0, 50.0)), 4);
    let parts = vec![frame, small];
    let o = NestOptions {
        allow_parts_in_holes: false,
        ..opts(210.0, 210.0, 1)
    };
    let r = run(&parts, &o);
    assert_eq!(r.positioned_objects.len(), 1);
    assert_eq!(r.failed_objects.len(), 4);
    // On by default.
    let o = opts(210.0, 210.0, 1);
    assert!(o.allow_parts_in_holes);
    let r = run(&parts, &o);
    assert_eq!(r.positioned_objects.len(), 5, "{:?}", r.failed_objects);
    // Where is the hole on the sheet?
    let f = r
        .positioned_objects
        .iter()
        .find(|p| p.part == "frame")
        .unwrap();
    let (s, c) = f.rotation.to_radians().sin_cos();
    let hole: Vec<Point> = parts[0].holes[0]
        .flatten(0.01)
        .iter()
        .map(|q| Point::new(c * q.x - s * q.y + f.x, s * q.x + c * q.y + f.y))
        .collect();
    let outlines = placed_outlines(&parts, &r);
    let smalls: Vec<&Vec<Point>> = r
        .positioned_objects
        .iter()
        .zip(&outlines)
        .filter(|(p, _)| p.part == "small")
        .map(|(_, o)| &o.1)
        .collect();
    for (i, a) in smalls.iter().enumerate() {
        // Inside the hole, at least the gap from its edge...
        assert!(
            a.iter().all(|p| inside(*p, &hole)),
            "small part {i} is not in the hole"
        );
        let h: &[Point] = &hole;
        let d = a
            .iter()
            .flat_map(|p| (0..h.len()).map(move |k| seg_dist(h[k], h[(k + 1) % h.len()], *p)))
            .fold(f64::INFINITY, f64::min);
        assert!(
            d >= o.gap - 0.02,
            "small part {i} is {d} mm from the hole's edge"
        );
        // ...and the gap from each other.
        for b in smalls.iter().skip(i + 1) {
            assert!(poly_distance(a, b) >= o.gap - 0.02);
        }
    }
    // The nested DXF reads back with the small parts as islands in the hole.
    let d = wjp_geometry::load_drawing(
        r.sheets[0].dxf.as_bytes(),
        &AnalysisOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(d.parts().len(), 5);
}

#[test]
fn free_rotation_turns_a_diagonal_bar_flat() {
    // A 200 x 20 bar drawn at 45 degrees fits a 240 x 40 sheet only when turned by 45.
    let (c, s) = (
        std::f64::consts::FRAC_1_SQRT_2,
        std::f64::consts::FRAC_1_SQRT_2,
    );
    let corners = [(0.0, 0.0), (200.0, 0.0), (200.0, 20.0), (0.0, 20.0)];
    let v: Vec<(f64, f64, f64)> = corners
        .iter()
        .map(|(x, y)| (c * x - s * y, s * x + c * y, 0.0))
        .collect();
    let bar = part("bar", &dxf(&lwpoly(&v, true)), 1);
    let o = opts(240.0, 40.0, 1);
    let r = run(std::slice::from_ref(&bar), &o);
    assert_eq!(r.failed_objects.len(), 1, "the right angles cannot fit it");
    let o = NestOptions {
        rotation_step: Some(15.0),
        ..o
    };
    let r = run(std::slice::from_ref(&bar), &o);
    assert_eq!(r.positioned_objects.len(), 1, "{:?}", r.failed_objects);
    assert_eq!(r.positioned_objects[0].rotation % 180.0, 135.0);
    check_layout(&[bar], &o, &r);
    let bad = NestOptions {
        rotation_step: Some(0.0),
        ..o
    };
    assert_eq!(
        nest(&[], &bad, &mut |_| {}, &|| false).unwrap_err().code(),
        "invalid_option"
    );
}

#[test]
fn leads_on_a_nested_sheet_never_cut_a_neighbour() {
    let parts = vec![part("sq", &dxf(&rect(0.0, 0.0, 60.0, 60.0)), 9)];
    let o = opts(200.0, 200.0, 1);
    let r = run(&parts, &o);
    assert_eq!(r.positioned_objects.len(), 9);
    let outlines = placed_outlines(&parts, &r);
    let g = wjp_cam::GcodeOptions {
        lead_in: wjp_cam::LeadOptions {
            kind: wjp_cam::LeadKind::Arc,
            length_mm: 5.0,
        },
        lead_out: wjp_cam::LeadOptions {
            kind: wjp_cam::LeadKind::Line,
            length_mm: 5.0,
        },
        ..wjp_cam::GcodeOptions::default()
    };
    let prog = wjp_cam::generate_gcode(r.sheets[0].dxf.as_bytes(), &g).unwrap();
    assert_eq!(prog.summary.pierces, 9);
    let sim = simulate(&prog.program, &prog.dialect.jet_on, &prog.dialect.jet_off);
    for m in sim.moves.iter().filter(|m| m.jet) {
        for (x, y) in m.samples(12) {
            let p = Point::new(x, y);
            for (k, (_, poly)) in outlines.iter().enumerate() {
                assert!(!inside(p, poly), "the jet at {p:?} is inside part {k}");
                let d = (0..poly.len())
                    .map(|i| seg_dist(poly[i], poly[(i + 1) % poly.len()], p))
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    d >= 1.1 / 2.0 - 0.01,
                    "the jet at {p:?} is {d} mm from part {k}"
                );
            }
        }
    }
}
