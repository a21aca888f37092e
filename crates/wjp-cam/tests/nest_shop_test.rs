//! Nesting as a shop uses it: clear failures, a zero kerf, the triangles that pair
//! into squares, the offcut of the last sheet, the best layout so far. Layouts are
//! checked with the `geo` crate (its polygon distance and boolean operations), not
//! with the nesting engine's own collision test.

use crate::support::*;
use geo::{
    Area, BooleanOps, BoundingRect, Contains, Distance, Euclidean, LineString, Polygon, Rect,
};
use wjp_cam::{nest, NestOptions, NestResult, PartInput, Placement};
use wjp_geometry::AnalysisOptions;

fn part(name: &str, bytes: &[u8], qty: u32) -> PartInput {
    let mut v = PartInput::from_dxf(name, bytes, qty, &AnalysisOptions::default()).unwrap();
    assert_eq!(v.len(), 1);
    let mut p = v.remove(0);
    p.name = name.into();
    p
}

/// A right triangle with legs of `leg` mm.
pub fn triangle(leg: f64, qty: u32) -> PartInput {
    part(
        "triangle",
        &dxf(&lwpoly(
            &[(0.0, 0.0, 0.0), (leg, 0.0, 0.0), (0.0, leg, 0.0)],
            true,
        )),
        qty,
    )
}

fn run(parts: &[PartInput], o: &NestOptions) -> NestResult {
    nest(parts, o, &mut |_| {}, &|| false).unwrap()
}

fn ring(pts: Vec<(f64, f64)>) -> LineString<f64> {
    LineString::from(pts)
}

/// The placed copy as a `geo` polygon (outline and holes), flattened finely.
pub fn placed_polygon(parts: &[PartInput], p: &Placement) -> Polygon<f64> {
    let (s, c) = p.rotation.to_radians().sin_cos();
    let m = if p.mirrored { -1.0 } else { 1.0 };
    let moved = |path: &wjp_geometry::Path| {
        ring(
            path.flatten(0.005)
                .iter()
                .map(|q| (c * m * q.x - s * q.y + p.x, s * m * q.x + c * q.y + p.y))
                .collect(),
        )
    };
    let part = &parts[p.part_index];
    Polygon::new(moved(&part.outer), part.holes.iter().map(moved).collect())
}

/// Every placed copy keeps `gap` (less a flattening allowance) from every other
/// copy on its sheet and from the sheet's edges, by `geo`'s own geometry.
pub fn assert_layout_holds(parts: &[PartInput], r: &NestResult, gap: f64, sizes: &[(f64, f64)]) {
    let tol = 0.02;
    let polys: Vec<(usize, Polygon<f64>)> = r
        .positioned_objects
        .iter()
        .map(|p| (p.sheet, placed_polygon(parts, p)))
        .collect();
    for (k, (sheet, poly)) in polys.iter().enumerate() {
        let (w, h) = sizes[*sheet];
        let inner = Rect::new((gap - tol, gap - tol), (w - gap + tol, h - gap + tol)).to_polygon();
        let outside = poly.difference(&inner).unsigned_area();
        assert!(
            outside < 1e-6,
            "copy {k} has {outside} mm2 outside sheet {sheet} less its {gap} mm edge distance"
        );
        for (other, q) in polys.iter().skip(k + 1) {
            if other != sheet {
                continue;
            }
            let overlap = poly.intersection(q).unsigned_area();
            assert!(overlap < 1e-9, "copies overlap by {overlap} mm2");
            let d = Euclidean.distance(poly, q);
            assert!(
                d >= gap - tol,
                "two copies on sheet {sheet} are {d} mm apart (gap {gap})"
            );
        }
    }
}

fn shop(w: f64, h: f64, sheets: u32) -> NestOptions {
    NestOptions {
        sheet_width: w,
        sheet_height: h,
        max_sheets: sheets,
        time_limit_s: 3600.0,
        max_iterations: 20,
        ..NestOptions::default()
    }
}

#[test]
fn forty_right_triangles_pair_into_squares_on_one_sheet() {
    let parts = vec![triangle(100.0, 40)];
    let o = NestOptions {
        gap: 3.0,
        kerf: 0.0,
        // The first layout does it; a pass and a few refining steps may not undo it.
        max_iterations: 4,
        ..shop(660.0, 450.0, 2)
    };
    let r = run(&parts, &o);
    assert!(r.all_placed, "{:?}", r.unplaced);
    assert_eq!(
        r.sheets_required, 1,
        "a pair makes a square; 6 x 4 squares fit"
    );
    assert_layout_holds(&parts, &r, 3.0, &[(660.0, 450.0); 2]);
}

#[test]
fn a_zero_kerf_is_accepted_and_a_negative_one_refused() {
    let parts = vec![part("sq", &dxf(&rect(0.0, 0.0, 50.0, 50.0)), 2)];
    let o = NestOptions {
        kerf: 0.0,
        gap: 0.5,
        ..shop(200.0, 200.0, 1)
    };
    let r = run(&parts, &o);
    assert_eq!(r.positioned_objects.len(), 2);
    assert_layout_holds(&parts, &r, 0.5, &[(200.0, 200.0)]);
    let e = nest(
        &parts,
        &NestOptions { kerf: -0.1, ..o },
        &mut |_| {},
        &|| false,
    )
    .unwrap_err();
    assert_eq!(e.code(), "invalid_option");
    assert!(e.to_string().contains("kerf"), "{e}");
}

#[test]
fn a_part_that_fits_no_sheet_is_named_once_with_both_sizes() {
    // A traced outline with many points: the engine's own messages would print it.
    let many: Vec<(f64, f64, f64)> = (0..2000)
        .map(|k| {
            let a = k as f64 / 2000.0 * std::f64::consts::TAU;
            let r = 400.0 + 5.0 * (7.0 * a).sin();
            (r * a.cos(), r * a.sin(), 0.0)
        })
        .collect();
    let big = part("flower", &dxf(&lwpoly(&many, true)), 5);
    let small = part("small", &dxf(&rect(0.0, 0.0, 40.0, 40.0)), 2);
    let r = run(&[big, small], &shop(300.0, 300.0, 2));
    assert!(!r.all_placed);
    assert_eq!(
        r.failed_objects.len(),
        5,
        "one per copy, as the old API gave"
    );
    assert_eq!(r.unplaced.len(), 1, "{:?}", r.unplaced);
    let u = &r.unplaced[0];
    assert_eq!((u.part.as_str(), u.copies), ("flower", 5));
    assert!(u.width > 800.0 && u.width < 811.0, "{}", u.width);
    assert!(u.reason.contains("300 x 300 mm"), "{}", u.reason);
    let size = format!("{:.1} x {:.1} mm", u.width, u.height);
    assert!(
        u.reason.contains(&size),
        "the part's size {size}: {}",
        u.reason
    );
    assert!(u.reason.len() < 300, "no shape dump: {}", u.reason);
    assert_eq!(r.positioned_objects.len(), 2);
    // When no copy fits at all, no other order can do better: the search
    // ends after the first layout instead of using its whole budget.
    let alone = part("flower", &dxf(&lwpoly(&many, true)), 5);
    let o = NestOptions {
        max_iterations: 1_000_000,
        ..shop(300.0, 300.0, 2)
    };
    let r = run(&[alone], &o);
    assert!(r.positioned_objects.is_empty());
    assert_eq!((r.stopped_by.as_str(), r.iterations), ("completed", 1));
}

#[test]
fn a_sheet_smaller_than_its_edge_distances_is_refused_by_name() {
    let parts = vec![part("sq", &dxf(&rect(0.0, 0.0, 5.0, 5.0)), 1)];
    let e = nest(&parts, &shop(5.0, 100.0, 1), &mut |_| {}, &|| false).unwrap_err();
    assert_eq!(e.code(), "invalid_option");
    assert!(e.to_string().contains("5 x 100 mm sheet"), "{e}");
}

#[test]
fn the_offcut_of_the_last_sheet_is_one_clean_rectangle() {
    let parts = vec![
        part("plate", &square_with_hole(), 7),
        part("bar", &dxf(&rect(0.0, 0.0, 150.0, 30.0)), 4),
    ];
    let o = shop(500.0, 400.0, 3);
    let r = run(&parts, &o);
    assert!(r.all_placed);
    let rem = r.remnant.as_ref().expect("an offcut");
    assert_eq!(rem.sheet, r.sheets.last().unwrap().sheet);
    assert_eq!((rem.x, rem.width), (0.0, 500.0));
    assert!((rem.y + rem.height - 400.0).abs() < 1e-9);
    assert!(
        rem.height > 100.0,
        "11 small parts leave most of the sheet: {rem:?}"
    );
    let offcut = Rect::new((rem.x, rem.y), (rem.x + rem.width, rem.y + rem.height)).to_polygon();
    for p in r.positioned_objects.iter().filter(|p| p.sheet == rem.sheet) {
        let d = Euclidean.distance(&placed_polygon(&parts, p), &offcut);
        assert!(d >= o.gap - 0.02, "a part is {d} mm from the offcut");
    }
    assert_layout_holds(&parts, &r, o.gap, &[(500.0, 400.0); 3]);
}

/// Five plates with a hole, six bars and six triangles: a mix whose search
/// improves on the first layout several times.
fn plates_bars_and_triangles() -> Vec<PartInput> {
    vec![
        part("plate", &square_with_hole(), 5),
        part("bar", &dxf(&rect(0.0, 0.0, 150.0, 30.0)), 6),
        triangle(80.0, 6),
    ]
}

#[test]
fn a_stop_returns_the_best_layout_reported_so_far() {
    let parts = plates_bars_and_triangles();
    let o = NestOptions {
        max_iterations: 1_000_000,
        ..shop(400.0, 300.0, 4)
    };
    let mut last_layout: Option<Vec<Placement>> = None;
    let passes_seen = std::cell::Cell::new(0);
    let r = nest(
        &parts,
        &o,
        &mut |p| {
            if let Some(layout) = p.improved {
                last_layout = Some(layout.to_vec());
            }
            if p.best.is_some() && p.message.starts_with("improving") {
                passes_seen.set(passes_seen.get() + 1);
            }
        },
        // Stops after a fixed number of reports, not after a time.
        &|| passes_seen.get() >= 12,
    )
    .unwrap();
    assert_eq!(r.stopped_by, "stopped");
    let layout = last_layout.expect("the first layout is reported");
    assert_eq!(
        layout, r.positioned_objects,
        "the last improvement is the answer"
    );
    assert!(r.all_placed);
    assert_layout_holds(&parts, &r, o.gap, &[(400.0, 300.0); 4]);
}

#[test]
fn searches_side_by_side_report_only_better_layouts_and_answer_the_best() {
    let parts = plates_bars_and_triangles();
    let o = NestOptions {
        max_iterations: 1_000_000,
        threads: 2,
        ..shop(400.0, 300.0, 4)
    };
    let mut improvements: Vec<(wjp_cam::BestSoFar, Vec<Placement>)> = Vec::new();
    let mut side_by_side = false;
    let reports = std::cell::Cell::new(0);
    let r = nest(
        &parts,
        &o,
        &mut |p| {
            if let (Some(best), Some(layout)) = (p.best, p.improved) {
                improvements.push((best, layout.to_vec()));
            }
            side_by_side |= p.message.starts_with("improving: 2 searches");
            if p.best.is_some() && p.message.starts_with("improving") {
                reports.set(reports.get() + 1);
            }
        },
        // Stops after a fixed number of reports, not after a time.
        &|| reports.get() >= 40,
    )
    .unwrap();
    assert_eq!(r.stopped_by, "stopped");
    let (_, last) = improvements.last().expect("the first layout is reported");
    assert_eq!(
        last, &r.positioned_objects,
        "the last better layout told is the answer, whichever search found it"
    );
    for pair in improvements.windows(2) {
        let (a, b) = (pair[0].0, pair[1].0);
        assert!(
            b.placed >= a.placed && (b.placed > a.placed || b.sheets <= a.sheets),
            "a later report is never worse: {a:?} then {b:?}"
        );
    }
    assert!(r.all_placed);
    assert_layout_holds(&parts, &r, o.gap, &[(400.0, 300.0); 4]);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        side_by_side,
        cores >= 2,
        "two searches ran where there are two cores: {:?}",
        r.warnings
    );
}

#[test]
fn sheets_past_the_limit_are_cut_with_a_warning_not_in_silence() {
    let parts = vec![part("sq", &dxf(&rect(0.0, 0.0, 50.0, 50.0)), 2)];
    let sheets = |quantity| wjp_cam::SheetSpec {
        width: 200.0,
        height: 200.0,
        quantity,
    };
    let o = NestOptions {
        sheets: vec![sheets(600), sheets(600)],
        ..shop(200.0, 200.0, 1)
    };
    let r = run(&parts, &o);
    assert!(r.all_placed);
    let capped = r.warnings.iter().find(|w| w.code == "sheets_capped");
    let message = &capped.expect("a warning says sheets were left out").message;
    assert!(
        message.contains("1200") && message.contains("1000"),
        "{message}"
    );
    let o = NestOptions {
        sheets: vec![sheets(500), sheets(500)],
        ..o
    };
    let r = run(&parts, &o);
    assert!(r.warnings.iter().all(|w| w.code != "sheets_capped"));
}

#[test]
fn the_count_of_searches_is_bounded_and_capped_at_the_cores() {
    let parts = vec![part("sq", &dxf(&rect(0.0, 0.0, 50.0, 50.0)), 3)];
    for threads in [0, wjp_cam::nest::MAX_THREADS + 1] {
        let o = NestOptions {
            threads,
            ..shop(200.0, 200.0, 1)
        };
        let e = nest(&parts, &o, &mut |_| {}, &|| false).unwrap_err();
        assert_eq!(e.code(), "invalid_option");
        assert!(e.to_string().contains("threads"), "{e}");
    }
    let o = NestOptions {
        threads: wjp_cam::nest::MAX_THREADS,
        ..shop(200.0, 200.0, 1)
    };
    let r = run(&parts, &o);
    assert!(r.all_placed);
    assert_layout_holds(&parts, &r, o.gap, &[(200.0, 200.0)]);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let capped = r.warnings.iter().find(|w| w.code == "threads_capped");
    assert_eq!(
        capped.is_some(),
        cores < wjp_cam::nest::MAX_THREADS as usize,
        "{:?}",
        r.warnings
    );
    if let Some(w) = capped {
        assert!(
            w.message.contains(&format!("{cores} cores")),
            "{}",
            w.message
        );
    }
}

#[test]
fn the_edge_distance_is_kept_apart_from_the_gap() {
    let parts = vec![part("sq", &dxf(&rect(0.0, 0.0, 60.0, 40.0)), 6)];
    let o = NestOptions {
        gap: 2.0,
        edge_distance: Some(12.0),
        ..shop(300.0, 200.0, 1)
    };
    let r = run(&parts, &o);
    assert!(r.all_placed, "{:?}", r.unplaced);
    // Edges checked at 12 mm, neighbours at 2 mm.
    assert_layout_holds(&parts, &r, 2.0, &[(300.0, 200.0)]);
    let sheet = Rect::new((12.0 - 0.02, 12.0 - 0.02), (288.02, 188.02)).to_polygon();
    let mut lowest = f64::INFINITY;
    for p in &r.positioned_objects {
        let poly = placed_polygon(&parts, p);
        assert!(
            poly.difference(&sheet).unsigned_area() < 1e-6,
            "{p:?} is within 12 mm of the edge"
        );
        lowest = lowest.min(p.y);
    }
    assert!(lowest < 12.6, "packed down to the edge distance: {lowest}");
    // Too close to the edge distances for any part: named with the distance.
    let r = run(
        &parts,
        &NestOptions {
            edge_distance: Some(85.0),
            ..o
        },
    );
    assert_eq!(r.unplaced[0].copies, 6);
    assert!(
        r.unplaced[0].reason.contains("85 mm to the edge"),
        "{}",
        r.unplaced[0].reason
    );
}

#[test]
fn parts_go_into_holes_by_default_and_the_holes_are_honoured() {
    // A 200 mm frame with a 120 mm square hole nearly fills the sheet; the four
    // 50 mm squares fit only inside the hole.
    let frame = part(
        "frame",
        &dxf(&(rect(0.0, 0.0, 200.0, 200.0) + &rect(40.0, 40.0, 120.0, 120.0))),
        1,
    );
    let small = part("small", &dxf(&rect(0.0, 0.0, 50.0, 50.0)), 4);
    let parts = vec![frame, small];
    let o = shop(210.0, 210.0, 1);
    let r = run(&parts, &o);
    assert!(r.all_placed, "{:?}", r.unplaced);
    // The frame's polygon has its hole: `geo` measures each small part's distance
    // to the frame's material, so a part across the hole's edge fails here.
    assert_layout_holds(&parts, &r, o.gap, &[(210.0, 210.0)]);
    let r = run(
        &parts,
        &NestOptions {
            allow_parts_in_holes: false,
            ..o
        },
    );
    // Without holes the frame and the small squares do not both fit.
    assert!(!r.all_placed);
    let frame_placed = r.positioned_objects.iter().any(|p| p.part == "frame");
    let smalls = r.positioned_objects.len() - usize::from(frame_placed);
    assert!(!frame_placed || smalls == 0, "{:?}", r.positioned_objects);
}

#[test]
fn a_part_kept_to_its_grain_is_not_turned() {
    let mut long = part("long", &dxf(&rect(0.0, 0.0, 280.0, 50.0)), 1);
    let o = shop(100.0, 300.0, 1);
    let r = run(std::slice::from_ref(&long), &o);
    assert!(r.all_placed, "turned, it fits");
    long.rotations = Some(vec![0.0]);
    let r = run(std::slice::from_ref(&long), &o);
    assert!(!r.all_placed, "kept to its grain, it does not");
    assert!(
        r.unplaced[0].reason.contains("(0)"),
        "{}",
        r.unplaced[0].reason
    );
}

#[test]
fn each_sheet_has_a_layer_per_part_and_the_cut_list_adds_up() {
    let parts = vec![
        part("plate", &square_with_hole(), 3),
        part("bar=1", &dxf(&rect(0.0, 0.0, 150.0, 30.0)), 4),
    ];
    let r = run(&parts, &shop(400.0, 250.0, 3));
    assert!(r.all_placed);
    for s in &r.sheets {
        let on_sheet: Vec<&str> = r
            .positioned_objects
            .iter()
            .filter(|p| p.sheet == s.sheet)
            .map(|p| p.part.as_str())
            .collect();
        for (name, layer) in [("plate", "plate"), ("bar=1", "bar_1")] {
            let tagged = s.dxf.contains(&format!("\n  8\n{layer}\n"));
            assert_eq!(
                tagged,
                on_sheet.contains(&name),
                "sheet {} layer {layer}",
                s.sheet
            );
        }
        // Holes stay with their part, on its layer.
        let d = wjp_geometry::load_drawing(
            s.dxf.as_bytes(),
            &AnalysisOptions::default(),
            &mut |_, _| {},
        )
        .unwrap();
        let holes: usize = d.parts().iter().map(|p| p.holes.len()).sum();
        assert_eq!(holes, on_sheet.iter().filter(|n| **n == "plate").count());
    }
    let mut from_list: Vec<(usize, String, u32, f64, f64, f64)> = Vec::new();
    for e in &r.cut_list {
        assert_eq!(e.quantity, e.placements.len());
        for c in &e.placements {
            from_list.push((e.sheet, e.part.clone(), c.copy, c.x, c.y, c.rotation));
        }
    }
    let placed: Vec<(usize, String, u32, f64, f64, f64)> = r
        .positioned_objects
        .iter()
        .map(|p| (p.sheet, p.part.clone(), p.copy, p.x, p.y, p.rotation))
        .collect();
    assert_eq!(from_list, placed);
}

#[test]
fn a_part_is_turned_over_only_when_mirroring_is_allowed() {
    // A frame whose hole is an L with its upright on the left; the small L has
    // its upright on the right, so it fits the hole only turned over (no
    // rotations allowed), and nowhere else on the sheet.
    let hole = [
        (40.0, 40.0, 0.0),
        (160.0, 40.0, 0.0),
        (160.0, 80.0, 0.0),
        (80.0, 80.0, 0.0),
        (80.0, 160.0, 0.0),
        (40.0, 160.0, 0.0),
    ];
    let frame = part(
        "frame",
        &dxf(&(rect(0.0, 0.0, 200.0, 200.0) + &lwpoly(&hole, true))),
        1,
    );
    let ell = [
        (0.0, 0.0, 0.0),
        (110.0, 0.0, 0.0),
        (110.0, 110.0, 0.0),
        (80.0, 110.0, 0.0),
        (80.0, 30.0, 0.0),
        (0.0, 30.0, 0.0),
    ];
    let small = part("ell", &dxf(&lwpoly(&ell, true)), 1);
    let parts = vec![frame, small];
    let o = NestOptions {
        rotations: vec![0.0],
        ..shop(210.0, 210.0, 1)
    };
    let r = run(&parts, &o);
    assert!(!r.all_placed, "as drawn, the L does not fit the hole");
    assert!(r.positioned_objects.iter().all(|p| !p.mirrored));
    let o = NestOptions {
        allow_mirror: true,
        ..o
    };
    let r = run(&parts, &o);
    assert!(r.all_placed, "{:?}", r.unplaced);
    let ell = r
        .positioned_objects
        .iter()
        .find(|p| p.part == "ell")
        .unwrap();
    assert!(ell.mirrored, "{ell:?}");
    assert_layout_holds(&parts, &r, o.gap, &[(210.0, 210.0)]);
    // The sheet's drawing has the L turned over, inside the hole: it reads back
    // as a part within the frame's hole.
    let d = wjp_geometry::load_drawing(
        r.sheets[0].dxf.as_bytes(),
        &AnalysisOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(d.parts().len(), 2);
}

#[test]
fn the_squeeze_lowers_the_top_of_a_long_sheet_and_keeps_every_gap() {
    // Ells, triangles and bars on a sheet much longer than they need: the first
    // layout only (one step) against the search with a step bound, most of which
    // the squeeze (overlap minimisation on the last sheet) takes.
    let ell = lwpoly(
        &[
            (0.0, 0.0, 0.0),
            (80.0, 0.0, 0.0),
            (80.0, 20.0, 0.0),
            (20.0, 20.0, 0.0),
            (20.0, 60.0, 0.0),
            (0.0, 60.0, 0.0),
        ],
        true,
    );
    let parts = vec![
        part("ell", &dxf(&ell), 6),
        triangle(70.0, 6),
        part("bar", &dxf(&rect(0.0, 0.0, 90.0, 25.0)), 4),
    ];
    let first_only = NestOptions {
        max_iterations: 1,
        ..shop(200.0, 2000.0, 1)
    };
    let first = run(&parts, &first_only);
    let searched = NestOptions {
        max_iterations: 12,
        ..first_only.clone()
    };
    let r = run(&parts, &searched);
    assert!(r.all_placed, "{:?}", r.unplaced);
    assert!(
        r.sheets[0].used_height < first.sheets[0].used_height - 1e-6,
        "searched {} mm, first layout {} mm",
        r.sheets[0].used_height,
        first.sheets[0].used_height
    );
    assert_layout_holds(&parts, &r, searched.gap, &[(200.0, 2000.0)]);
    // The same seed and step bound give the same layout.
    assert_eq!(
        run(&parts, &searched).positioned_objects,
        r.positioned_objects
    );
}

/// The step a progress message names ("improving: step N, ...").
fn step_of(message: &str) -> Option<u32> {
    let rest = message.strip_prefix("improving: step ")?;
    rest.split(',').next()?.parse().ok()
}

#[test]
fn parts_in_holes_ride_with_their_hosts_while_the_sheet_is_squeezed() {
    // Frames whose 60 mm holes take four 25 mm squares each (3 + 25 + 3 + 25 +
    // 3 = 59), and triangles around them: the squeeze has room to lower the top.
    let parts = vec![
        part(
            "frame",
            &dxf(&(rect(0.0, 0.0, 100.0, 100.0) + &rect(20.0, 20.0, 60.0, 60.0))),
            3,
        ),
        part("small", &dxf(&rect(0.0, 0.0, 25.0, 25.0)), 8),
        triangle(90.0, 7),
    ];
    let steps = 300;
    let o = NestOptions {
        max_iterations: steps,
        ..shop(330.0, 1000.0, 1)
    };
    let top = |layout: &[Placement]| {
        layout
            .iter()
            .filter_map(|p| placed_polygon(&parts, p).bounding_rect())
            .map(|b| b.max().y)
            .fold(0.0, f64::max)
    };
    // The greedy passes have the first tenth of the steps; every improvement
    // after it is the squeeze's.
    let mut greedy_top = f64::INFINITY;
    let mut squeezed: Vec<Vec<Placement>> = Vec::new();
    let r = nest(
        &parts,
        &o,
        &mut |p| {
            if let (Some(layout), Some(step)) = (p.improved, step_of(p.message)) {
                if step > steps / 10 + 1 {
                    squeezed.push(layout.to_vec());
                } else {
                    greedy_top = top(layout);
                }
            }
        },
        &|| false,
    )
    .unwrap();
    assert!(r.all_placed, "{:?}", r.unplaced);
    let last = squeezed
        .last()
        .expect("the squeeze lowered a sheet whose frames hold parts");
    assert_eq!(last, &r.positioned_objects, "its last layout is the answer");
    assert!(
        top(last) < 0.9 * greedy_top,
        "the squeeze took the top from {greedy_top} mm to {} mm only",
        top(last)
    );
    for layout in &squeezed {
        let result = NestResult {
            positioned_objects: layout.clone(),
            ..r.clone()
        };
        assert_layout_holds(&parts, &result, o.gap, &[(330.0, 1000.0)]);
        // The small squares went into the frames' holes before the squeeze,
        // and stay there as the frames move.
        let holes: Vec<Polygon<f64>> = layout
            .iter()
            .filter(|p| p.part_index == 0)
            .map(|p| Polygon::new(placed_polygon(&parts, p).interiors()[0].clone(), vec![]))
            .collect();
        let in_holes = layout
            .iter()
            .filter(|p| p.part_index == 1)
            .filter(|p| {
                let square = placed_polygon(&parts, p);
                holes.iter().any(|h| h.contains(&square))
            })
            .count();
        assert_eq!(in_holes, 8, "every small square stays in a hole");
    }
}

#[test]
fn parts_of_straight_lines_that_fit_exactly_are_placed() {
    // 3 + 94 + 3 = 100: the gap to the edge, exactly.
    let parts = vec![part("sq", &dxf(&rect(0.0, 0.0, 94.0, 94.0)), 1)];
    let r = run(&parts, &shop(100.0, 100.0, 1));
    assert!(r.all_placed, "{:?}", r.unplaced);
    assert_layout_holds(&parts, &r, 3.0, &[(100.0, 100.0)]);
    // Four plates make the sheet, 3 mm apart and from the edges:
    // 3 + 1495.5 + 3 + 1495.5 + 3 = 3000 and 3 + 745.5 + 3 + 745.5 + 3 = 1500.
    let parts = vec![part("plate", &dxf(&rect(0.0, 0.0, 1495.5, 745.5)), 4)];
    let o = NestOptions {
        rotations: vec![0.0],
        ..shop(3000.0, 1500.0, 1)
    };
    let r = run(&parts, &o);
    assert!(r.all_placed, "{:?}", r.unplaced);
    assert_layout_holds(&parts, &r, 3.0, &[(3000.0, 1500.0)]);
    // A hair more does not fit.
    let parts = vec![part("sq", &dxf(&rect(0.0, 0.0, 94.01, 94.0)), 1)];
    let r = run(&parts, &shop(100.0, 100.0, 1));
    assert!(!r.all_placed);
    // Without a gap, parts may touch but never overlap.
    let parts = vec![part("sq", &dxf(&rect(0.0, 0.0, 40.0, 40.0)), 4)];
    let o = NestOptions {
        gap: 0.0,
        kerf: 0.0,
        ..shop(100.0, 100.0, 1)
    };
    let r = run(&parts, &o);
    assert!(r.all_placed, "{:?}", r.unplaced);
    assert_layout_holds(&parts, &r, 0.0, &[(100.0, 100.0)]);
}

#[test]
fn the_cut_list_says_where_a_part_drawn_far_from_its_origin_lies() {
    let parts = vec![part("far", &dxf(&rect(1000.0, 2000.0, 80.0, 40.0)), 3)];
    let r = run(&parts, &shop(300.0, 200.0, 1));
    assert!(r.all_placed, "{:?}", r.unplaced);
    let entry = &r.cut_list[0];
    assert_eq!(entry.placements.len(), 3);
    for (c, p) in entry.placements.iter().zip(&r.positioned_objects) {
        let [x0, y0, x1, y1] = c.box_mm;
        let b = placed_polygon(&parts, p).bounding_rect().unwrap();
        for (got, want) in [
            (x0, b.min().x),
            (y0, b.min().y),
            (x1, b.max().x),
            (y1, b.max().y),
        ] {
            assert!((got - want).abs() < 1e-6, "{:?} against {b:?}", c.box_mm);
        }
        assert!(
            x0 >= 2.99 && y0 >= 2.99 && x1 <= 297.01 && y1 <= 197.01,
            "{c:?}"
        );
        // The drawing's origin goes far off the sheet.
        assert!(c.x < -500.0 || c.y < -500.0, "{c:?}");
    }
}
