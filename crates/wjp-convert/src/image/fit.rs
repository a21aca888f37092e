//! From a dense outline to a cuttable one: Douglas-Peucker simplification, then runs
//! of simplified segments replaced by circular arcs (bulges) where every dense point
//! of the run lies within the tolerance of one circle.
//!
//! Invariant: every dense point lies within `tol` of the output (lines and arcs pass
//! through dense points; a run becomes an arc only if all its points fit).
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

/// The bulge of the arc through dense points `a..=b` (indices mod n) if they all lie
/// within `tol` of the circle through the first, middle and last point.
fn arc_bulge(pts: &[[f64; 2]], a: usize, b: usize, tol: f64, budget: &mut Budget) -> Option<f64> {
    let n = pts.len();
    let p = |i: usize| pts[i % n];
    if b < a + 2 || !budget.spend(b - a + 1) {
        return None;
    }
    let (pa, pm, pb) = (p(a), p((a + b) / 2), p(b));
    let (bx, by) = (pb[0] - pa[0], pb[1] - pa[1]);
    let (cx, cy) = (pm[0] - pa[0], pm[1] - pa[1]);
    let d = 2.0 * (bx * cy - by * cx);
    let scale2 = (bx * bx + by * by).max(cx * cx + cy * cy);
    if d.abs() <= 1e-9 * scale2 {
        return None;
    }
    let b2 = bx * bx + by * by;
    let c2 = cx * cx + cy * cy;
    let ux = (cy * b2 - by * c2) / d;
    let uy = (bx * c2 - cx * b2) / d;
    let r = ux.hypot(uy);
    let centre = [pa[0] + ux, pa[1] + uy];
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
                k = j;
            }
            None => {
                out.push(vertex(v[k], 0.0));
                k += 1;
            }
        }
    }
    Some(out)
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
