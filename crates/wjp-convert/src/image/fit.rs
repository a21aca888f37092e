//! From a dense outline to a cuttable one: Douglas-Peucker simplification, then runs
//! of simplified segments replaced by circular arcs (bulges) where every dense point
//! of the run lies within the tolerance of one circle.
//!
//! Invariant: every dense point lies within `tol` of the fitted lines and arcs (they
//! pass through dense points; a run becomes an arc only if all its points fit); then
//! a corner between two straight segments may move by at most `tol` to the
//! intersection of the lines fitted to their points (the grid cuts traced corners).
//! Work is bounded by a budget of point evaluations shared by a whole conversion.

use serde::Serialize;

/// A polyline vertex in mm; `bulge` describes the segment to the next vertex
/// (0 straight, tan(theta/4) for an arc of included angle theta, positive
/// counter-clockwise), as in DXF LWPOLYLINE.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Vertex {
    pub x: f64,
    pub y: f64,
    pub bulge: f64,
}

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

fn seg_dist(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (qx, qy) = (a[0] + t * dx, a[1] + t * dy);
    ((p[0] - qx).powi(2) + (p[1] - qy).powi(2)).sqrt()
}

/// Indices (into `pts`, closed: the last index is `pts.len()`, meaning point 0 again)
/// of the Douglas-Peucker vertices. `None` when the budget ran out.
fn douglas_peucker(pts: &[[f64; 2]], tol: f64, budget: &mut Budget) -> Option<Vec<usize>> {
    let n = pts.len();
    let p = |i: usize| pts[i % n];
    let far = (1..n)
        .max_by(|&a, &b| {
            let da = (p(a)[0] - p(0)[0]).hypot(p(a)[1] - p(0)[1]);
            let db = (p(b)[0] - p(0)[0]).hypot(p(b)[1] - p(0)[1]);
            da.total_cmp(&db)
        })
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
            let d = seg_dist(p(i), pa, pb);
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
fn arc_bulge(pts: &[[f64; 2]], a: usize, b: usize, tol: f64, budget: &mut Budget) -> Option<f64> {
    let n = pts.len();
    let p = |i: usize| pts[i % n];
    if b < a + 2 || !budget.spend(b - a + 1) {
        return None;
    }
    // The circle through both ends that best fits the points between them: its
    // centre lies on the chord's perpendicular bisector, m + s * u, and the
    // algebraic residual |p - c|^2 - r^2 is linear in s (closed-form least squares).
    let (pa, pb) = (p(a), p(b));
    let mid = [(pa[0] + pb[0]) / 2.0, (pa[1] + pb[1]) / 2.0];
    let half = (pb[0] - pa[0]).hypot(pb[1] - pa[1]) / 2.0;
    if half <= 0.0 {
        return None;
    }
    let u = [
        -(pb[1] - pa[1]) / (2.0 * half),
        (pb[0] - pa[0]) / (2.0 * half),
    ];
    let (mut sab, mut sbb) = (0.0f64, 0.0f64);
    for i in a + 1..b {
        let q = p(i);
        let (dx, dy) = (q[0] - mid[0], q[1] - mid[1]);
        let aa = dx * dx + dy * dy - half * half;
        let bb = dx * u[0] + dy * u[1];
        sab += aa * bb;
        sbb += bb * bb;
    }
    if sbb <= 1e-12 * half * half {
        return None;
    }
    let s_off = sab / (2.0 * sbb);
    let centre = [mid[0] + s_off * u[0], mid[1] + s_off * u[1]];
    let r = s_off.hypot(half);
    if !(r.is_finite() && r >= tol) {
        return None;
    }
    let ang = |q: [f64; 2]| (q[1] - centre[1]).atan2(q[0] - centre[0]);
    let mut sweep = 0.0f64;
    let mut prev = ang(pa);
    let mut sign = 0.0f64;
    for i in a + 1..=b {
        let q = p(i);
        if ((q[0] - centre[0]).hypot(q[1] - centre[1]) - r).abs() > tol {
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
    pts: &[[f64; 2]],
    tol: f64,
    fit_arcs: bool,
    budget: &mut Budget,
) -> Option<Vec<Vertex>> {
    let n = pts.len();
    let vertex = |i: usize, bulge: f64| Vertex {
        x: pts[i % n][0],
        y: pts[i % n][1],
        bulge,
    };
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

/// Total-least-squares line through dense points `a..b` (indices mod n), trimmed by
/// two points at each end (the corner region): a point on it and its unit direction.
fn fit_line(pts: &[[f64; 2]], a: usize, b: usize) -> Option<([f64; 2], [f64; 2])> {
    let n = pts.len();
    if b < a + 7 {
        return None;
    }
    let range = a + 2..=b - 2;
    let count = range.clone().count() as f64;
    let (mut mx, mut my) = (0.0, 0.0);
    for i in range.clone() {
        mx += pts[i % n][0];
        my += pts[i % n][1];
    }
    let (mx, my) = (mx / count, my / count);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for i in range {
        let (dx, dy) = (pts[i % n][0] - mx, pts[i % n][1] - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    let angle = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    Some(([mx, my], [angle.cos(), angle.sin()]))
}

/// Where two straight segments meet, move the vertex to the intersection of the
/// lines fitted to their dense points, if that is within `tol` of it: a traced
/// corner is cut by the pixel grid, the intersection restores it.
fn sharpen_corners(pts: &[[f64; 2]], out: &mut [Vertex], at: &[usize], tol: f64) {
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
    let lines: Vec<Option<([f64; 2], [f64; 2])>> = (0..m)
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
        let (Some((p, d)), Some((q, e))) = (lines[prev], lines[i]) else {
            continue;
        };
        let cross = d[0] * e[1] - d[1] * e[0];
        // Nearly parallel lines (under about 10 degrees) have no stable corner.
        if cross.abs() < 0.17 {
            continue;
        }
        let t = ((q[0] - p[0]) * e[1] - (q[1] - p[1]) * e[0]) / cross;
        let x = [p[0] + t * d[0], p[1] + t * d[1]];
        let moved = (x[0] - out[i].x).hypot(x[1] - out[i].y);
        // Exact corners (runs along the pixel grid) stay exact.
        if moved > 1e-9 && moved <= tol {
            out[i].x = x[0];
            out[i].y = x[1];
        }
    }
}

/// Signed area of a closed polyline with bulges (counter-clockwise positive).
pub fn polyline_area(vs: &[Vertex]) -> f64 {
    let n = vs.len();
    let mut area = 0.0;
    for i in 0..n {
        let (a, b) = (vs[i], vs[(i + 1) % n]);
        area += (a.x * b.y - b.x * a.y) / 2.0;
        if a.bulge != 0.0 {
            let theta = 4.0 * a.bulge.atan();
            let c = (b.x - a.x).hypot(b.y - a.y);
            let r = c / (2.0 * (theta / 2.0).sin().abs());
            area += theta.signum() * r * r / 2.0 * (theta.abs() - theta.abs().sin());
        }
    }
    area
}

/// Length of a closed polyline with bulges (arcs measured as arcs).
pub fn polyline_length(vs: &[Vertex]) -> f64 {
    let n = vs.len();
    (0..n)
        .map(|i| {
            let (a, b) = (vs[i], vs[(i + 1) % n]);
            let c = (b.x - a.x).hypot(b.y - a.y);
            if a.bulge == 0.0 {
                c
            } else {
                let theta = 4.0 * a.bulge.atan();
                let r = c / (2.0 * (theta / 2.0).sin().abs());
                r * theta.abs()
            }
        })
        .sum()
}
