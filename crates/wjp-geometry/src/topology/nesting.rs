//! Step 5: which closed contour lies inside which. Contours are taken largest
//! first, so a parent's depth is known before its children's; the candidate
//! parents of a contour are found in a grid and tested smallest first on sample
//! points of the contour.

use std::collections::HashMap;

use super::fast_hash::FastHash;
use super::{ring_tol, Contour};
use crate::geom::{bulge_arc, point_in_ring, Bbox, Path, Point};

/// Sets each closed contour's parent (the smallest closed contour that contains
/// it) and depth (how many contain it).
#[inline(never)] // one call per analysis; kept separate for profiles
pub(super) fn nest(contours: &mut [Contour]) {
    let mut idx: Vec<usize> = (0..contours.len())
        .filter(|&i| contours[i].closed)
        .collect();
    // Parents (larger) before children, so depths can be filled in one pass.
    idx.sort_by(|&a, &b| {
        contours[b]
            .area_mm2
            .abs()
            .total_cmp(&contours[a].area_mm2.abs())
    });
    let bbox = |c: &Contour| Bbox::from_array(c.bbox_mm);
    // Candidate parents of a contour contain its first vertex. A uniform grid of
    // about sqrt(n) x sqrt(n) cells finds them: small contours are registered in
    // the cells their box covers, the few big ones are kept in one list.
    let mut extent = Bbox::EMPTY;
    for &i in &idx {
        extent.union(&bbox(&contours[i]));
    }
    let across = ((idx.len() as f64).sqrt().ceil() as i64).clamp(1, 1024);
    let cell = (extent.width().max(extent.height()) / across as f64).max(1e-9);
    let key = |x: f64, y: f64| {
        (
            ((x - extent.min_x) / cell).floor() as i64,
            ((y - extent.min_y) / cell).floor() as i64,
        )
    };
    let mut grid: HashMap<(i64, i64), Vec<usize>, FastHash> = HashMap::default();
    let mut big: Vec<usize> = Vec::new();
    for &i in &idx {
        let b = bbox(&contours[i]);
        let (x0, y0) = key(b.min_x, b.min_y);
        let (x1, y1) = key(b.max_x, b.max_y);
        if (x1 - x0 + 1) * (y1 - y0 + 1) > 64 {
            big.push(i);
        } else {
            for x in x0..=x1 {
                for y in y0..=y1 {
                    grid.entry((x, y)).or_default().push(i);
                }
            }
        }
    }
    let mut rings: HashMap<usize, Vec<Point>> = HashMap::new();
    let mut candidates: Vec<usize> = Vec::new();
    for &i in &idx {
        let bi = bbox(&contours[i]);
        let ai = contours[i].area_mm2.abs();
        let Some(p0) = contours[i].path.start() else {
            continue;
        };
        candidates.clear();
        let from_grid = grid
            .get(&key(p0.x, p0.y))
            .map(|v| v.as_slice())
            .unwrap_or(&[]);
        for &j in big.iter().chain(from_grid) {
            if j != i && contours[j].area_mm2.abs() > ai && bbox(&contours[j]).contains(&bi, 1e-9) {
                candidates.push(j);
            }
        }
        // The parent is the smallest contour that contains this one.
        candidates.sort_by(|&a, &b| {
            contours[a]
                .area_mm2
                .abs()
                .total_cmp(&contours[b].area_mm2.abs())
        });
        let samples = sample_points(&contours[i].path);
        let mut parent = None;
        for &j in &candidates {
            let bj = bbox(&contours[j]);
            let ring = rings
                .entry(j)
                .or_insert_with(|| contours[j].path.flatten(ring_tol(&bj)));
            let inside = samples.iter().filter(|p| point_in_ring(**p, ring)).count();
            if inside * 2 > samples.len() {
                parent = Some(j);
                break;
            }
        }
        contours[i].parent = parent;
        contours[i].depth = parent.map(|p| contours[p].depth + 1).unwrap_or(0);
    }
}

/// Where to test whether a contour lies inside another: its start and the
/// midpoints of its first and middle segments (on the arc for bulges). A majority
/// decides, so one sample lying on the other contour's edge cannot tip the answer.
fn sample_points(p: &Path) -> Vec<Point> {
    let n = p.vertices.len();
    let mut v = Vec::with_capacity(3);
    if n == 0 {
        return v;
    }
    v.push(p.vertices[0].point());
    for i in [0, n / 2] {
        let a = p.vertices[i].point();
        let b = p.vertices[(i + 1) % n].point();
        let m = match bulge_arc(a, b, p.vertices[i].bulge) {
            Some(arc) => arc.point_at(0.5),
            None => a.midpoint(b),
        };
        v.push(m);
    }
    v
}
