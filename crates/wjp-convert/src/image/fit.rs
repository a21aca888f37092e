//! From a dense outline to a cuttable one: Douglas-Peucker simplification, then runs
//! of simplified segments replaced by circular arcs (bulges) where every dense point
//! of the run lies within the tolerance of one circle.
//!
//! Invariant: every dense point lies within `tol` of the fitted lines and arcs (they
//! pass through dense points; a run becomes an arc only if all its points fit); then
//! a corner between two straight segments may move by at most `tol` to the
//! intersection of the lines fitted to their points (the grid cuts traced corners).
//! Work is bounded by a budget of point evaluations shared by a whole conversion.

use wjp_geometry::geom::point_segment_distance;
use wjp_geometry::{Point, Vertex};

/// The arc of the largest sweep allowed in one bulge (half a turn: |bulge| <= 1).
const MAX_SWEEP: f64 = std::f64::consts::PI;
/// Longest run of simplified segments tried as one arc.
const MAX_SPAN: usize = 512;

pub(crate) struct Budget(pub u64);

impl Budget {
    fn spend(&mut self, n: usize) -> bool {
        if self.0 < n as u64 {
            self.0 = 0;
            false
        } else {
            self.0 -= n as u64;
            true
        }
    }
}

/// Indices (into `pts`, closed: the last index is `pts.len()`, meaning point 0 again)
/// of the Douglas-Peucker vertices. `None` when the budget ran out.
fn douglas_peucker(pts: &[Point], tol: f64, budget: &mut Budget) -> Option<Vec<usize>> {
    let n = pts.len();
    let p = |i: usize| pts[i % n];
    let far = (1..n)
        .max_by(|&a, &b| p(a).dist(p(0)).total_cmp(&p(b).dist(p(0))))
        .unwrap_or(0);
    let mut keep = vec![false; n + 1];
    keep[0] = true;
    keep[far] = true;
    keep[n] = true;
    let mut stack = vec![(0usize, far), (far, n)];
    while let Some((a, b)) = stack.pop() {
        if b <= a + 1 {
            continue;
        }
        if !budget.spend(b - a) {
            return None;
        }
        let (pa, pb) = (p(a), p(b));
        let (mut worst, mut at) = (-1.0, a);
        for i in a + 1..b {
            let d = point_segment_distance(p(i), pa, pb);
            if d > worst {
                worst = d;
                at = i;
            }
        }
        if worst > tol {
            keep[at] = true;
            stack.push((a, at));
            stack.push((at, b));
        }
    }
    Some((0..=n).filter(|&i| keep[i]).collect())
}

/// The bulge of an arc from dense point `a` to `b` (indices mod n) if all points
/// between lie within `tol` of it.
fn arc_bulge(pts: &[Point], a: usize, b: usize, tol: f64, budget: &mut Budget) -> Option<f64> {
    let n = pts.len();
    let p = |i: usize| pts[i % n];
    if b < a + 2 || !budget.spend(b - a + 1) {
        return None;
    }
    // The circle through both ends that best fits the points between them: its
    // centre lies on the chord's perpendicular bisector, m + s * u, and the
    // algebraic residual |p - c|^2 - r^2 is linear in s (closed-form least squares).
    let (pa, pb) = (p(a), p(b));
    let mid = pa.midpoint(pb);
    let half = pb.dist(pa) / 2.0;
    if half <= 0.0 {
        return None;
    }
    // The unit normal of the chord, to its left.
    let u = Point::new(-(pb.y - pa.y) / (2.0 * half), (pb.x - pa.x) / (2.0 * half));
    let (mut sab, mut sbb) = (0.0f64, 0.0f64);
    for i in a + 1..b {
        let d = p(i) - mid;
        let aa = d.dot(d) - half * half;
        let bb = d.dot(u);
        sab += aa * bb;
        sbb += bb * bb;
    }
    if sbb <= 1e-12 * half * half {
        return None;
    }
    let s_off = sab / (2.0 * sbb);
    let centre = mid + u * s_off;
    let r = s_off.hypot(half);
    if !(r.is_finite() && r >= tol) {
        return None;
    }
    let ang = |q: Point| (q.y - centre.y).atan2(q.x - centre.x);
    let mut sweep = 0.0f64;
    let mut prev = ang(pa);
    let mut sign = 0.0f64;
    for i in a + 1..=b {
        let q = p(i);
        if (q.dist(centre) - r).abs() > tol {
            return None;
        }
        let cur = ang(q);
        let mut step = cur - prev;
        if step > std::f64::consts::PI {
            step -= std::f64::consts::TAU;
        } else if step < -std::f64::consts::PI {
            step += std::f64::consts::TAU;
        }
        if step.abs() > 1e-12 {
            if sign == 0.0 {
                sign = step.signum();
            } else if step.signum() != sign {
                return None;
            }
        }
        sweep += step;
        prev = cur;
        if sweep.abs() > MAX_SWEEP {
            return None;
        }
    }
    Some((sweep / 4.0).tan())
}

/// Simplify a closed dense outline (in its final orientation) and fit arcs.
/// Returns the vertices, or `None` when the budget ran out during simplification.
pub(crate) fn fit_outline(
    pts: &[Point],
    tol: f64,
    fit_arcs: bool,
    budget: &mut Budget,
) -> Option<Vec<Vertex>> {
    let n = pts.len();
    let vertex = |i: usize, bulge: f64| Vertex::new(pts[i % n].x, pts[i % n].y, bulge);
    if n < 4 {
        return Some((0..n).map(|i| vertex(i, 0.0)).collect());
    }
    let v = douglas_peucker(pts, tol, budget)?;
    let m = v.len() - 1;
    let mut out = Vec::with_capacity(m);
    // Dense index of each output vertex.
    let mut at = Vec::with_capacity(m);
    let mut k = 0;
    while k < m {
        let mut best: Option<(usize, f64)> = None;
        if fit_arcs && k + 2 <= m {
            let limit = m.min(k + MAX_SPAN);
            let mut hi = limit + 1;
            let (mut j, mut inc) = (k + 2, 1);
            while j <= limit {
                match arc_bulge(pts, v[k], v[j], tol, budget) {
                    Some(bulge) => {
                        best = Some((j, bulge));
                        if j == limit {
                            break;
                        }
                        j = (j + inc).min(limit);
                        inc *= 2;
                    }
                    None => {
                        hi = j;
                        break;
                    }
                }
            }
            if let Some((mut lo, mut bulge)) = best {
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2;
                    match arc_bulge(pts, v[k], v[mid], tol, budget) {
                        Some(b) => {
                            lo = mid;
                            bulge = b;
                        }
                        None => hi = mid,
                    }
                }
                best = Some((lo, bulge));
            }
        }
        match best {
            Some((j, bulge)) => {
                out.push(vertex(v[k], bulge));
                at.push(v[k]);
                k = j;
            }
            None => {
                out.push(vertex(v[k], 0.0));
                at.push(v[k]);
                k += 1;
            }
        }
    }
    sharpen_corners(pts, &mut out, &at, tol);
    Some(out)
}

/// A straight line: a point on it and its unit direction.
#[derive(Clone, Copy)]
struct FittedLine {
    through: Point,
    direction: Point,
}

/// Total-least-squares line through dense points `a..b` (indices mod n), trimmed by
/// two points at each end (the corner region).
fn fit_line(pts: &[Point], a: usize, b: usize) -> Option<FittedLine> {
    let n = pts.len();
    if b < a + 7 {
        return None;
    }
    let range = a + 2..=b - 2;
    let count = range.clone().count() as f64;
    let (mut mx, mut my) = (0.0, 0.0);
    for i in range.clone() {
        mx += pts[i % n].x;
        my += pts[i % n].y;
    }
    let (mx, my) = (mx / count, my / count);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for i in range {
        let (dx, dy) = (pts[i % n].x - mx, pts[i % n].y - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    let angle = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    Some(FittedLine {
        through: Point::new(mx, my),
        direction: Point::new(angle.cos(), angle.sin()),
    })
}

/// Where two straight segments meet, move the vertex to the intersection of the
/// lines fitted to their dense points, if that is within `tol` of it: a traced
/// corner is cut by the pixel grid, the intersection restores it.
fn sharpen_corners(pts: &[Point], out: &mut [Vertex], at: &[usize], tol: f64) {
    let m = out.len();
    let n = pts.len();
    if m < 3 {
        return;
    }
    // Dense index range of segment i (from vertex i to vertex i + 1), unwrapped.
    let seg = |i: usize| {
        let a = at[i];
        let b = if i + 1 < m { at[i + 1] } else { at[0] + n };
        (a, b)
    };
    let lines: Vec<Option<FittedLine>> = (0..m)
        .map(|i| {
            if out[i].bulge != 0.0 {
                return None;
            }
            let (a, b) = seg(i);
            fit_line(pts, a, b)
        })
        .collect();
    for i in 0..m {
        let prev = (i + m - 1) % m;
        let (Some(before), Some(after)) = (lines[prev], lines[i]) else {
            continue;
        };
        let (p, d) = (before.through, before.direction);
        let (q, e) = (after.through, after.direction);
        let cross = d.cross(e);
        // Nearly parallel lines (under about 10 degrees) have no stable corner.
        if cross.abs() < 0.17 {
            continue;
        }
        let t = (q - p).cross(e) / cross;
        let x = p + d * t;
        let moved = x.dist(out[i].point());
        // Exact corners (runs along the pixel grid) stay exact.
        if moved > 1e-9 && moved <= tol {
            out[i].x = x.x;
            out[i].y = x.y;
        }
    }
}
