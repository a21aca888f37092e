//! Property tests: rigid transforms keep length and area; polygons with holes give
//! the right pierces, length and net area; random bytes never panic.

use std::f64::consts::PI;

use proptest::prelude::*;

use super::support::*;
use wjp_geometry::{analyze_dxf_bytes, AnalysisOptions};

/// A star-shaped closed polyline with random radii and bulges (never self-crossing
/// for bulges kept small).
fn star(radii: &[f64], bulges: &[f64]) -> Vec<(f64, f64, f64)> {
    let n = radii.len();
    (0..n)
        .map(|i| {
            let a = 2.0 * PI * i as f64 / n as f64;
            (radii[i] * a.cos(), radii[i] * a.sin(), bulges[i])
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn rigid_transforms_keep_length_and_area(
        radii in proptest::collection::vec(20.0f64..50.0, 5..12),
        bulge_seed in proptest::collection::vec(-0.15f64..0.15, 12),
        rot in 0.0f64..360.0,
        tx in -1000.0f64..1000.0,
        ty in -1000.0f64..1000.0,
        mirror in any::<bool>(),
    ) {
        let v = star(&radii, &bulge_seed[..radii.len()]);
        let shape = lwpoly(&v, true);
        let plain = analyze(&mm(&shape));
        let blocks = [("S", (0.0, 0.0), shape)];
        let sx = if mirror { -1.0 } else { 1.0 };
        let moved = analyze(&doc(Some(4), &blocks, &insert("S", tx, ty, sx, 1.0, rot, 1, 1, 0.0, 0.0)));
        prop_assert!(close(moved.metrics.cut_length_mm, plain.metrics.cut_length_mm, 1e-9));
        prop_assert!(close(moved.contours[0].area_mm2.abs(), plain.contours[0].area_mm2.abs(), 1e-9));
        prop_assert_eq!(moved.metrics.pierce_count, 1);
    }

    #[test]
    fn polygons_with_holes(
        w in 100.0f64..400.0,
        h in 100.0f64..400.0,
        holes in proptest::collection::vec((0usize..9, 1.0f64..8.0, any::<bool>()), 0..9),
    ) {
        // Holes on a 3 x 3 grid of cells inside the outer, at most one per cell.
        let mut e = lwpoly(&[(0.0, 0.0, 0.0), (w, 0.0, 0.0), (w, h, 0.0), (0.0, h, 0.0)], true);
        let mut used = [false; 9];
        let mut hole_len = 0.0;
        let mut hole_area = 0.0;
        let mut n = 0u64;
        for (cell, r, round) in holes {
            if used[cell] { continue; }
            used[cell] = true;
            let cx = w * (0.25 + 0.25 * (cell % 3) as f64);
            let cy = h * (0.25 + 0.25 * (cell / 3) as f64);
            if round {
                e += &circle(cx, cy, r);
                hole_len += 2.0 * PI * r;
                hole_area += PI * r * r;
            } else {
                e += &lwpoly(&[(cx - r, cy - r, 0.0), (cx - r, cy + r, 0.0), (cx + r, cy + r, 0.0), (cx + r, cy - r, 0.0)], true);
                hole_len += 8.0 * r;
                hole_area += 4.0 * r * r;
            }
            n += 1;
        }
        let r = analyze(&mm(&e));
        prop_assert_eq!(r.metrics.pierce_count, 1 + n);
        prop_assert_eq!(r.metrics.hole_count, n);
        prop_assert_eq!(r.metrics.part_count, 1);
        prop_assert!(close(r.metrics.cut_length_mm, 2.0 * (w + h) + hole_len, 1e-12));
        prop_assert!(close(r.metrics.net_area_mm2, w * h - hole_area, 1e-9));
        // Every hole is cut before the outer.
        let outer = r.parts[0].outer;
        prop_assert_eq!(r.cut_order.last(), Some(&outer));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = analyze_dxf_bytes(&bytes, &AnalysisOptions::default(), &mut |_, _| {});
    }

    #[test]
    fn random_tag_soup_never_panics(tags in proptest::collection::vec((prop_oneof![Just(0), Just(2), Just(10), Just(20), Just(40), Just(42), Just(70), Just(8), 0i32..1100], "[A-Z0-9.\\-]{0,8}"), 0..200)) {
        let mut s = String::from("0\nSECTION\n2\nENTITIES\n");
        for (c, v) in tags {
            s += &format!("{c}\n{v}\n");
        }
        let _ = analyze_dxf_bytes(s.as_bytes(), &AnalysisOptions::default(), &mut |_, _| {});
    }
}
