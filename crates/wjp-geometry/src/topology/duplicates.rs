//! Step 2: exact duplicates are removed (the jet would cut them twice) and the
//! length where straight segments of different paths overlap is measured.

use std::collections::HashMap;

use super::Topology;
use crate::expand::SourcePath;
use crate::geom::{Path, Vertex};

/// Where a path falls in the duplicate search: its length and box corners in
/// steps of the snap tolerance, and whether it is closed. Duplicates fall
/// together; the few paths that share a bucket are compared vertex by vertex.
#[derive(PartialEq, Eq, Hash)]
struct BucketKey {
    length: i64,
    min_x: i64,
    min_y: i64,
    /// `max_x + max_y`: one number for the far corner is enough to sort paths.
    far_corner: i64,
    closed: bool,
}

impl BucketKey {
    fn of(p: &Path, step: f64) -> BucketKey {
        let bb = p.bbox();
        BucketKey {
            length: (p.length() / step).round() as i64,
            min_x: (bb.min_x / step).round() as i64,
            min_y: (bb.min_y / step).round() as i64,
            far_corner: ((bb.max_x + bb.max_y) / step).round() as i64,
            closed: p.closed,
        }
    }
}

/// The paths without their duplicates (counted in `t.duplicates` and
/// `t.duplicate_length_mm`); the first of equal paths is kept.
pub(super) fn remove_duplicates(
    paths: Vec<SourcePath>,
    tol: f64,
    t: &mut Topology,
) -> Vec<SourcePath> {
    let step = tol.max(1e-6);
    let mut buckets: HashMap<BucketKey, Vec<usize>> = HashMap::new();
    let mut unique: Vec<SourcePath> = Vec::with_capacity(paths.len());
    for sp in paths {
        let bucket = buckets.entry(BucketKey::of(&sp.path, step)).or_default();
        if bucket
            .iter()
            .any(|&i| same_path(&unique[i].path, &sp.path, tol))
        {
            t.duplicates += 1;
            t.duplicate_length_mm += sp.path.length();
            continue;
        }
        bucket.push(unique.len());
        unique.push(sp);
    }
    unique
}

/// Are `a` and `b` the same path within `tol`: the same vertices (and bulges), in
/// either direction and, when closed, from any start?
fn same_path(a: &Path, b: &Path, tol: f64) -> bool {
    if a.closed != b.closed || a.vertices.len() != b.vertices.len() {
        return false;
    }
    let eq = |x: &[Vertex], y: &[Vertex], closed: bool| -> bool {
        let n = x.len();
        x.iter().zip(y).enumerate().all(|(i, (p, q))| {
            p.point().dist(q.point()) <= tol
                && (!(closed || i + 1 < n) || (p.bulge - q.bulge).abs() <= 1e-6)
        })
    };
    if !a.closed {
        return eq(&a.vertices, &b.vertices, false)
            || eq(&a.vertices, &b.reversed().vertices, false);
    }
    let n = a.vertices.len();
    for cand in [b.clone(), b.reversed()] {
        for shift in 0..n {
            if cand.vertices[shift].point().dist(a.vertices[0].point()) <= tol {
                let rotated: Vec<Vertex> = (0..n).map(|i| cand.vertices[(i + shift) % n]).collect();
                if eq(&a.vertices, &rotated, true) {
                    return true;
                }
            }
        }
    }
    false
}

/// Which infinite line a straight segment lies on, to the resolution of the
/// buckets: its direction (1e-6 rad) and its distance from the origin (`tol`).
#[derive(PartialEq, Eq, Hash)]
struct LineKey {
    angle: i64,
    offset: i64,
}

/// Total length where straight segments of different paths lie on each other.
#[inline(never)] // one call per analysis; kept separate for profiles
pub(super) fn collinear_overlap(paths: &[SourcePath], tol: f64) -> f64 {
    // Each line's segments as intervals (start, end) along it.
    let mut lines: HashMap<LineKey, Vec<(f64, f64)>> = HashMap::new();
    for sp in paths.iter().filter(|s| !s.flattened) {
        for (a, b, k) in sp.path.segments() {
            if k.abs() > 1e-12 {
                continue;
            }
            let len = a.dist(b);
            if len <= tol {
                continue;
            }
            let mut ang = (b.y - a.y).atan2(b.x - a.x);
            if ang < 0.0 {
                ang += std::f64::consts::PI;
            }
            if ang >= std::f64::consts::PI - 1e-9 {
                ang = 0.0;
            }
            let (s, c) = ang.sin_cos();
            let off = -s * a.x + c * a.y;
            let (t0, t1) = {
                let u = c * a.x + s * a.y;
                let v = c * b.x + s * b.y;
                (u.min(v), u.max(v))
            };
            let key = LineKey {
                angle: (ang / 1e-6).round() as i64,
                offset: (off / tol).round() as i64,
            };
            lines.entry(key).or_default().push((t0, t1));
        }
    }
    let mut total = 0.0;
    for (_, mut iv) in lines {
        if iv.len() < 2 {
            continue;
        }
        iv.sort_by(|x, y| x.0.total_cmp(&y.0));
        let mut end = iv[0].1;
        for &(s, e) in &iv[1..] {
            if s < end - tol {
                total += end.min(e) - s;
            }
            end = end.max(e);
        }
    }
    total
}
