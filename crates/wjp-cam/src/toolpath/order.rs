//! The cut order: a contour only after every contour inside it (holes before
//! their outer, islands before the hole around them, and open chains before the
//! closed contour around them, so a part never drops before its engraving or
//! slit is cut); among the ready ones the nearest to the head next. Above [`NEAREST_NEIGHBOUR_LIMIT`] contours (the
//! greedy search is quadratic), or if parents form a cycle, the rest go deepest
//! first, then along X.

use wjp_geometry::geom::point_in_ring;
use wjp_geometry::{Bbox, Path, Point};

use super::{CutContour, CutRole, NEAREST_NEIGHBOUR_LIMIT};

/// Contour indices in cutting order; `loops` are the offset loops by contour.
pub(super) fn cut_order(contours: &[CutContour], loops: &[Vec<Path>], home: Point) -> Vec<usize> {
    let n = contours.len();
    // Where the head ends up after cutting contour `i`: where its first loop (or
    // the contour as drawn) starts.
    let start_of = |i: usize| -> Point {
        loops[i]
            .first()
            .or(Some(&contours[i].path))
            .and_then(|l| l.vertices.first())
            .map(|v| v.point())
            .unwrap_or(home)
    };
    let parents = parents(contours);
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    if n <= NEAREST_NEIGHBOUR_LIMIT {
        nearest_ready_first(
            contours, &parents, loops, &start_of, home, &mut done, &mut order,
        );
    }
    if order.len() < n {
        let depth = depths(&parents);
        let mut rest: Vec<usize> = (0..n).filter(|&i| !done[i]).collect();
        rest.sort_by(|&a, &b| {
            depth[b]
                .cmp(&depth[a])
                .then(start_of(a).x.total_cmp(&start_of(b).x))
        });
        order.extend(rest);
    }
    order
}

/// Greedy nearest neighbour over the contours whose insides are all cut; stops
/// early only if parents form a cycle.
fn nearest_ready_first(
    contours: &[CutContour],
    parents: &[Option<usize>],
    loops: &[Vec<Path>],
    start_of: &dyn Fn(usize) -> Point,
    home: Point,
    done: &mut [bool],
    order: &mut Vec<usize>,
) {
    let n = contours.len();
    // Children not yet cut, per contour.
    let mut waiting = vec![0usize; n];
    for p in parents {
        if let Some(p) = *p {
            if p < n {
                waiting[p] += 1;
            }
        }
    }
    let samples = sample_points(contours, loops);
    let near_dist = |i: usize, from: Point| -> f64 {
        samples[i]
            .iter()
            .map(|q| q.dist(from))
            .fold(f64::INFINITY, f64::min)
    };
    let mut cur = home;
    for _ in 0..n {
        let mut best: Option<(f64, usize)> = None;
        for i in 0..n {
            if done[i] || waiting[i] > 0 {
                continue;
            }
            let d = near_dist(i, cur);
            if best.is_none_or(|b| d < b.0) {
                best = Some((d, i));
            }
        }
        let Some((_, i)) = best else { break };
        done[i] = true;
        if let Some(p) = parents[i] {
            if p < n {
                waiting[p] = waiting[p].saturating_sub(1);
            }
        }
        order.push(i);
        cur = start_of(i);
    }
}

/// Up to 16 points per contour (of its first loop, or as drawn; an open chain's
/// end too) stand for it in the nearest-neighbour search.
fn sample_points(contours: &[CutContour], loops: &[Vec<Path>]) -> Vec<Vec<Point>> {
    contours
        .iter()
        .zip(loops)
        .map(|(c, l)| {
            let path = l.first().unwrap_or(&c.path);
            let step = (path.vertices.len() / 16).max(1);
            let mut v: Vec<Point> = path
                .vertices
                .iter()
                .step_by(step)
                .map(|v| v.point())
                .collect();
            if c.role == CutRole::Open {
                v.extend(path.end());
            }
            v
        })
        .collect()
}

/// How many contours enclose each contour (bounded, so a parent cycle ends).
fn depths(parents: &[Option<usize>]) -> Vec<usize> {
    let n = parents.len();
    let mut depth = vec![0usize; n];
    for (i, d) in depth.iter_mut().enumerate() {
        let mut p = parents[i];
        let mut k = 0;
        while let Some(q) = p {
            if k > n || q >= n {
                break;
            }
            k += 1;
            p = parents[q];
        }
        *d = k;
    }
    depth
}

/// The contour each one must be cut before. Closed contours keep the parent the
/// drawing's nesting gave them. Open chains have none there (nesting is of closed
/// contours), yet one lying inside a part must be cut while the part is still
/// held by the sheet: its parent here is the smallest closed contour that holds
/// most of its points.
fn parents(contours: &[CutContour]) -> Vec<Option<usize>> {
    let closed: Vec<(usize, Bbox, f64)> = contours
        .iter()
        .enumerate()
        .filter(|(_, c)| c.role != CutRole::Open)
        .map(|(i, c)| (i, c.path.bbox(), c.path.signed_area().abs()))
        .collect();
    let mut rings: Vec<Option<Vec<Point>>> = vec![None; contours.len()];
    contours
        .iter()
        .map(|c| {
            if c.role != CutRole::Open || c.parent.is_some() {
                return c.parent;
            }
            open_chain_parent(&c.path, &closed, contours, &mut rings)
        })
        .collect()
}

/// The smallest of the `closed` contours (index, box, area) holding most points
/// of an open chain; `rings` caches their flattened outlines.
fn open_chain_parent(
    chain: &Path,
    closed: &[(usize, Bbox, f64)],
    contours: &[CutContour],
    rings: &mut [Option<Vec<Point>>],
) -> Option<usize> {
    let bb = chain.bbox();
    let mut candidates: Vec<&(usize, Bbox, f64)> = closed
        .iter()
        .filter(|(_, cb, _)| cb.contains(&bb, 1e-9))
        .collect();
    if candidates.is_empty() {
        return None;
    }
    candidates.sort_by(|a, b| a.2.total_cmp(&b.2));
    // The vertices (16 at most) and the middle of every sampled segment: a
    // majority decides, so a chain ending on an outline still belongs inside.
    let step = (chain.vertices.len() / 16).max(1);
    let samples: Vec<Point> = chain
        .segments()
        .step_by(step)
        .flat_map(|(a, b, k)| [a, wjp_geometry::geom::segment_point(a, b, k, 0.5)])
        .chain(chain.end())
        .collect();
    for &&(j, cb, _) in &candidates {
        let ring = rings[j].get_or_insert_with(|| {
            let tol = (cb.width().max(cb.height()) * 1e-4).max(1e-6);
            contours[j].path.flatten(tol)
        });
        let inside = samples.iter().filter(|p| point_in_ring(**p, ring)).count();
        if inside * 2 > samples.len() {
            return Some(j);
        }
    }
    None
}
