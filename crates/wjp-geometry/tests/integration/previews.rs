//! The picture of a report is the geometry: its path data, read back by an
//! independent reader ([`super::svg_read`]) and flattened by SVG's own arc rules,
//! has the length and the area of the contour it draws. Checked on every DXF
//! fixture and on hand-made arcs, circles, bulges and ellipses.

use std::f64::consts::PI;
use std::path::{Path as FsPath, PathBuf};

use super::support::*;
use super::svg_read::{attribute_of, millimetre_size, parse_path, path_tags, Subpath};
use wjp_geometry::{AnalysisOptions, AnalysisReport};

/// Half a unit of the last decimal the picture writes (6 decimals).
const ROUNDING: f64 = 0.5e-6;

/// Absolute tolerances for a drawn contour of length `len`, area `area` and `n`
/// segments: flattening in the reader (arcs in 0.1° steps) is exact to 1e-6
/// relative; rounding moves each written point by at most `ROUNDING` per axis.
fn tolerances(len: f64, area: f64, n: usize) -> (f64, f64) {
    let r = ROUNDING * std::f64::consts::SQRT_2;
    let len_tol = 1e-6 * len + 4.0 * r * n as f64 + 1e-9;
    let area_tol = 2e-6 * area.abs() + 2.0 * r * len + 1e-9;
    (len_tol, area_tol)
}

/// Compare every contour of `report` with its path in `report.to_svg()`; returns
/// how many were compared.
fn check_picture(what: &str, report: &AnalysisReport) -> usize {
    let svg = report.to_svg();
    let (w, h, vb) = millimetre_size(&svg);
    assert!(
        (w - vb[2]).abs() <= 1e-3 * w.max(1.0) && (h - vb[3]).abs() <= 1e-3 * h.max(1.0),
        "{what}: size {w} mm x {h} mm is not the view box {vb:?} in mm"
    );
    let mut drawn = vec![None; report.contours.len()];
    for tag in path_tags(&svg) {
        let Some(id) = attribute_of(tag, "data-contour") else {
            continue;
        };
        let id: usize = id.parse().expect("contour id");
        let d = attribute_of(tag, "d").expect("path data");
        drawn[id] = Some(parse_path(&d));
    }
    let mut compared = 0;
    for c in &report.contours {
        if c.path.vertices.is_empty() {
            continue;
        }
        let subs = drawn[c.id]
            .take()
            .unwrap_or_else(|| panic!("{what}: contour {} is not drawn", c.id));
        assert_eq!(subs.len(), 1, "{what}: contour {} as one subpath", c.id);
        compare(
            &format!("{what}: contour {} ({})", c.id, c.source_entity),
            &subs[0],
            c.path.length(),
            c.path.signed_area(),
            c.closed,
        );
        compared += 1;
    }
    compared
}

/// One drawn subpath against its contour. SVG's y points down, so a drawing's
/// signed area comes back negated.
pub fn compare(what: &str, sub: &Subpath, length: f64, signed_area: f64, closed: bool) {
    let (len_tol, area_tol) = tolerances(length, signed_area, sub.segments);
    assert_eq!(sub.closed, closed, "{what}: closed");
    let got = sub.length();
    assert!(
        (got - length).abs() <= len_tol,
        "{what}: drawn length {got} vs {length} (tolerance {len_tol})"
    );
    if closed {
        let got = -sub.signed_area();
        assert!(
            (got - signed_area).abs() <= area_tol,
            "{what}: drawn area {got} vs {signed_area} (tolerance {area_tol})"
        );
    }
}

fn dxf_files(dir: &FsPath, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            dxf_files(&p, out);
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("dxf")) {
            out.push(p);
        }
    }
}

#[test]
fn every_fixture_is_drawn_as_its_geometry() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    let mut files = Vec::new();
    dxf_files(&root, &mut files);
    assert!(files.len() >= 28, "only {} DXF fixtures", files.len());
    let mut contours = 0;
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let bytes = std::fs::read(file).expect("fixture");
        let report = match wjp_geometry::analyze_dxf_bytes(
            &bytes,
            &AnalysisOptions::default(),
            &mut |_, _| {},
        ) {
            Ok(r) => r,
            Err(e) => panic!("{name}: [{}] {e}", e.code()),
        };
        contours += check_picture(&name, &report);
    }
    assert!(contours >= 400, "only {contours} contours compared");
}

fn drawn(what: &str, bytes: &[u8]) -> AnalysisReport {
    let r = analyze(bytes);
    assert!(check_picture(what, &r) > 0, "{what}: nothing drawn");
    r
}

/// The area of the drawing's one closed contour, from the report.
fn only_area(r: &AnalysisReport) -> f64 {
    let closed: Vec<_> = r.contours.iter().filter(|c| c.closed).collect();
    assert_eq!(closed.len(), 1);
    closed[0].area_mm2.abs()
}

#[test]
fn quarter_discs_in_every_quadrant_both_ways() {
    let r = 10.0;
    for q in 0..4 {
        let a0 = 90.0 * q as f64;
        let (t0, t1) = (a0.to_radians(), (a0 + 90.0).to_radians());
        for ez in [1.0, -1.0] {
            // Under extrusion (0,0,-1) the OCS mirrors x: the arc runs clockwise in
            // the world, from the mirrored end angle.
            let (s, e) = (
                (r * t0.cos() * ez, r * t0.sin()),
                (r * t1.cos() * ez, r * t1.sin()),
            );
            let dxf = mm(&(line(0.0, 0.0, s.0, s.1)
                + &arc(0.0, 0.0, r, a0, a0 + 90.0, ez)
                + &line(e.0, e.1, 0.0, 0.0)));
            let rep = drawn(&format!("quarter {q}, extrusion {ez}"), &dxf);
            assert!(close(only_area(&rep), PI * r * r / 4.0, 1e-9));
            // The open arc alone, too.
            drawn(
                &format!("open arc {q}, extrusion {ez}"),
                &mm(&arc(0.0, 0.0, r, a0, a0 + 90.0, ez)),
            );
            // Three quarters of a disc: an arc over 270 degrees.
            let dxf = mm(&(line(0.0, 0.0, e.0, e.1)
                + &arc(0.0, 0.0, r, a0 + 90.0, a0 + 360.0, ez)
                + &line(s.0, s.1, 0.0, 0.0)));
            let rep = drawn(&format!("three quarters {q}, extrusion {ez}"), &dxf);
            assert!(close(only_area(&rep), 0.75 * PI * r * r, 1e-9));
        }
    }
}

#[test]
fn circles_made_of_arcs() {
    for n in [2, 3, 4] {
        for ez in [1.0, -1.0] {
            let step = 360.0 / n as f64;
            let arcs: String = (0..n)
                .map(|i| {
                    arc(
                        5.0,
                        -3.0,
                        7.0,
                        15.0 + step * i as f64,
                        15.0 + step * (i + 1) as f64,
                        ez,
                    )
                })
                .collect();
            let rep = drawn(&format!("circle of {n} arcs, extrusion {ez}"), &mm(&arcs));
            assert!(close(only_area(&rep), PI * 49.0, 1e-9), "{n} arcs");
        }
    }
    let rep = drawn("CIRCLE", &mm(&circle(1.0, 2.0, 3.0)));
    assert!(close(only_area(&rep), 9.0 * PI, 1e-9));
}

#[test]
fn bulge_polylines() {
    for b in [1.0, -1.0, 0.3, -0.3, 2.5, -2.5] {
        // A slot: two half circles (bulge +-1) or a lens-sided box (+-0.3).
        let v = [
            (0.0, 0.0, 0.0),
            (20.0, 0.0, b),
            (20.0, 10.0, 0.0),
            (0.0, 10.0, b),
        ];
        drawn(&format!("LWPOLYLINE bulge {b}"), &mm(&lwpoly(&v, true)));
        drawn(&format!("POLYLINE bulge {b}"), &mm(&polyline2d(&v, true)));
        drawn(&format!("open bulge {b}"), &mm(&lwpoly(&v[..3], false)));
    }
    // Bulge 1 on both sides of a 10 mm chord: a full circle of radius 5.
    let rep = drawn(
        "circle of two bulges",
        &mm(&lwpoly(&[(0.0, 0.0, 1.0), (10.0, 0.0, 1.0)], true)),
    );
    assert!(close(only_area(&rep), 25.0 * PI, 1e-9));
}

#[test]
fn ellipses_full_and_partial() {
    let full = drawn(
        "full ellipse",
        &mm(&ellipse(3.0, 4.0, 20.0, 10.0, 0.5, 0.0, 2.0 * PI)),
    );
    assert!(close(
        only_area(&full),
        PI * 22.360679775 * 11.1803398875,
        1e-3
    ));
    for (t0, t1) in [(0.3, 2.0), (2.0, 0.3), (PI, 1.5 * PI), (-1.0, 4.0)] {
        drawn(
            &format!("elliptical arc {t0}..{t1}"),
            &mm(&ellipse(3.0, 4.0, 0.0, 20.0, 0.4, t0, t1)),
        );
    }
}

#[test]
fn splines() {
    // A closed periodic-looking cubic and an open rational one.
    let ctrl = [
        (0.0, 0.0),
        (10.0, 0.0),
        (10.0, 10.0),
        (0.0, 10.0),
        (0.0, 0.0),
    ];
    drawn(
        "closed cubic spline",
        &mm(&spline(
            3,
            &[0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0, 1.0],
            &[],
            &ctrl,
        )),
    );
    drawn(
        "fit-point spline",
        &mm(&spline_fit(&[
            (0.0, 0.0),
            (5.0, 3.0),
            (10.0, -2.0),
            (15.0, 4.0),
        ])),
    );
}
