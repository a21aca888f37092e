//! Curves that are not circular arcs: NURBS splines and ellipses. They are
//! flattened to polylines by adaptive subdivision so that no chord deviates from the
//! curve by more than the stated tolerance, within a point budget.

use super::point::Point;

/// Adaptive flattening of a parametric curve on `[t0, t1]`.
///
/// `min_segments` uniform pieces first, then each piece is halved while its
/// midpoint lies farther than `tol` from the chord (up to 18 halvings). `budget` is
/// the number of points still allowed; when it runs out, subdivision stops (the
/// result is coarser, never unbounded). The first point is not pushed.
pub fn flatten_param<F: Fn(f64) -> Point>(
    f: &F,
    t0: f64,
    t1: f64,
    tol: f64,
    min_segments: usize,
    budget: &mut usize,
    out: &mut Vec<Point>,
) {
    let n = min_segments.max(1);
    let mut a = t0;
    let mut pa = f(t0);
    for i in 1..=n {
        let b = if i == n {
            t1
        } else {
            t0 + (t1 - t0) * i as f64 / n as f64
        };
        let pb = f(b);
        subdivide(f, a, pa, b, pb, tol, 0, budget, out);
        a = b;
        pa = pb;
    }
}

#[allow(clippy::too_many_arguments)]
fn subdivide<F: Fn(f64) -> Point>(
    f: &F,
    a: f64,
    pa: Point,
    b: f64,
    pb: Point,
    tol: f64,
    depth: u32,
    budget: &mut usize,
    out: &mut Vec<Point>,
) {
    let m = 0.5 * (a + b);
    let pm = f(m);
    let dev = super::polygon::point_segment_distance(pm, pa, pb);
    if dev > tol && depth < 18 && *budget > 2 {
        subdivide(f, a, pa, m, pm, tol, depth + 1, budget, out);
        subdivide(f, m, pm, b, pb, tol, depth + 1, budget, out);
    } else {
        *budget = budget.saturating_sub(1);
        out.push(pb);
    }
}

/// A NURBS curve in 3D (projected to the plane by the caller).
#[derive(Debug, Clone)]
pub struct Nurbs {
    pub degree: usize,
    pub knots: Vec<f64>,
    pub weights: Vec<f64>,
    pub control: Vec<[f64; 3]>,
}

impl Nurbs {
    /// Build from DXF data, repairing what is missing: weights default to 1, a knot
    /// vector of the wrong length is replaced by a clamped uniform one. Returns
    /// `None` when there are too few control points. The bool says a repair was made.
    pub fn new(
        degree: usize,
        knots: Vec<f64>,
        weights: Vec<f64>,
        control: Vec<[f64; 3]>,
    ) -> Option<(Nurbs, bool)> {
        let n = control.len();
        if n < 2 {
            return None;
        }
        let p = degree.clamp(1, n - 1);
        let mut repaired = p != degree;
        let weights = if weights.len() == n && weights.iter().all(|w| *w > 0.0) {
            weights
        } else {
            repaired |= !weights.is_empty();
            vec![1.0; n]
        };
        let knots_ok = knots.len() == n + p + 1
            && knots.windows(2).all(|w| w[1] >= w[0])
            && knots[n] > knots[p];
        let knots = if knots_ok {
            knots
        } else {
            repaired = true;
            clamped_uniform(n, p)
        };
        Some((
            Nurbs {
                degree: p,
                knots,
                weights,
                control,
            },
            repaired,
        ))
    }

    pub fn domain(&self) -> (f64, f64) {
        (self.knots[self.degree], self.knots[self.control.len()])
    }

    /// The distinct knot values inside the domain (span boundaries).
    pub fn breakpoints(&self) -> Vec<f64> {
        let (t0, t1) = self.domain();
        let mut v: Vec<f64> = vec![t0];
        for &k in &self.knots[self.degree..=self.control.len()] {
            if k > *v.last().unwrap_or(&t0) && k <= t1 {
                v.push(k);
            }
        }
        if v.len() == 1 {
            v.push(t1);
        }
        v
    }

    fn span(&self, t: f64) -> usize {
        let n = self.control.len();
        let p = self.degree;
        if t >= self.knots[n] {
            // Last non-empty span.
            let mut k = n - 1;
            while k > p && self.knots[k] >= self.knots[n] {
                k -= 1;
            }
            return k;
        }
        if t <= self.knots[p] {
            let mut k = p;
            while k < n - 1 && self.knots[k + 1] <= self.knots[p] {
                k += 1;
            }
            return k;
        }
        // Binary search in [p, n).
        let (mut lo, mut hi) = (p, n);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if t < self.knots[mid] {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        lo
    }

    /// Evaluate (de Boor on homogeneous coordinates).
    pub fn eval(&self, t: f64) -> [f64; 3] {
        let p = self.degree;
        let k = self.span(t);
        let mut d: Vec<[f64; 4]> = (0..=p)
            .map(|j| {
                let i = j + k - p;
                let w = self.weights[i];
                let c = self.control[i];
                [c[0] * w, c[1] * w, c[2] * w, w]
            })
            .collect();
        for r in 1..=p {
            for j in (r..=p).rev() {
                let i = j + k - p;
                let denom = self.knots[i + p + 1 - r] - self.knots[i];
                let alpha = if denom.abs() < 1e-300 {
                    0.0
                } else {
                    (t - self.knots[i]) / denom
                };
                let prev = d[j - 1];
                for (c, v) in d[j].iter_mut().enumerate() {
                    *v = (1.0 - alpha) * prev[c] + alpha * *v;
                }
            }
        }
        let w = d[p][3];
        if w.abs() < 1e-300 {
            return [d[p][0], d[p][1], d[p][2]];
        }
        [d[p][0] / w, d[p][1] / w, d[p][2] / w]
    }
}

fn clamped_uniform(n: usize, p: usize) -> Vec<f64> {
    let inner = n - p;
    let mut k = vec![0.0; p + 1];
    k.extend((1..inner).map(|i| i as f64 / inner as f64));
    k.extend(std::iter::repeat_n(1.0, p + 1));
    k
}

/// A smooth curve through fit points (centripetal Catmull-Rom, as cubic Béziers),
/// used for SPLINEs that carry only fit points. CAD programs use a global cubic
/// interpolation: the two agree at the fit points and differ slightly between them.
pub fn fit_point_curve(fit: &[[f64; 3]], closed: bool) -> Vec<[f64; 3]> {
    // Returns a dense polyline of the curve (8 pieces per span).
    let n = fit.len();
    if n < 3 {
        return fit.to_vec();
    }
    let get = |i: isize| -> [f64; 3] {
        if closed {
            fit[(i.rem_euclid(n as isize)) as usize]
        } else if i < 0 {
            // Reflect the first point.
            let a = fit[0];
            let b = fit[1];
            [2.0 * a[0] - b[0], 2.0 * a[1] - b[1], 2.0 * a[2] - b[2]]
        } else if i as usize >= n {
            let a = fit[n - 1];
            let b = fit[n - 2];
            [2.0 * a[0] - b[0], 2.0 * a[1] - b[1], 2.0 * a[2] - b[2]]
        } else {
            fit[i as usize]
        }
    };
    let spans = if closed { n } else { n - 1 };
    let mut out = vec![fit[0]];
    for s in 0..spans as isize {
        let (p0, p1, p2, p3) = (get(s - 1), get(s), get(s + 1), get(s + 2));
        for k in 1..=16 {
            let t = k as f64 / 16.0;
            let t2 = t * t;
            let t3 = t2 * t;
            let mut q = [0.0; 3];
            for c in 0..3 {
                q[c] = 0.5
                    * ((2.0 * p1[c])
                        + (-p0[c] + p2[c]) * t
                        + (2.0 * p0[c] - 5.0 * p1[c] + 4.0 * p2[c] - p3[c]) * t2
                        + (-p0[c] + 3.0 * p1[c] - 3.0 * p2[c] + p3[c]) * t3);
            }
            out.push(q);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_circle_rational_spline() {
        // Degree 2 rational quarter circle of radius 1.
        let w = std::f64::consts::FRAC_1_SQRT_2;
        let (s, repaired) = Nurbs::new(
            2,
            vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0],
            vec![1.0, w, 1.0],
            vec![[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
        )
        .unwrap();
        assert!(!repaired);
        for i in 0..=10 {
            let p = s.eval(i as f64 / 10.0);
            assert!((p[0].hypot(p[1]) - 1.0).abs() < 1e-12);
        }
        let mut out = vec![];
        let mut budget = 100_000;
        let f = |t: f64| {
            let q = s.eval(t);
            Point::new(q[0], q[1])
        };
        flatten_param(&f, 0.0, 1.0, 1e-6, 4, &mut budget, &mut out);
        let mut len = 0.0;
        let mut prev = Point::new(1.0, 0.0);
        for p in out {
            len += prev.dist(p);
            prev = p;
        }
        assert!((len - std::f64::consts::FRAC_PI_2).abs() < 1e-5);
    }
}
