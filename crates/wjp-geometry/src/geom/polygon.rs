//! Predicates and measures on rings (closed polygons given by their points, the
//! last joined to the first) and straight segments: point in ring, orientation,
//! crossings, distances, simplicity, convex hull.

use super::point::{Bbox, Point};

/// Point-in-polygon (even-odd) on a flattened ring.
pub fn point_in_ring(p: Point, ring: &[Point]) -> bool {
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (ring[i], ring[j]);
        if (a.y > p.y) != (b.y > p.y) {
            let x = a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y);
            if p.x < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Twice the signed area of triangle `a b c`: positive when `c` lies to the left of
/// `a`→`b` (counter-clockwise), 0 when the three are collinear.
pub fn orient(a: Point, b: Point, c: Point) -> f64 {
    (b - a).cross(c - a)
}

/// Do the orientations of two segments' ends, each seen from the other segment,
/// say that they cross at a single interior point?
fn cross_properly(o1: f64, o2: f64, o3: f64, o4: f64) -> bool {
    ((o1 > 0.0 && o2 < 0.0) || (o1 < 0.0 && o2 > 0.0))
        && ((o3 > 0.0 && o4 < 0.0) || (o3 < 0.0 && o4 > 0.0))
}

/// Is `p`, collinear with `a`-`b`, within the segment's box (so on the segment)?
fn within_box(a: Point, b: Point, p: Point) -> bool {
    p.x >= a.x.min(b.x) && p.x <= a.x.max(b.x) && p.y >= a.y.min(b.y) && p.y <= a.y.max(b.y)
}

/// Do segments `a`-`b` and `c`-`d` touch or cross?
pub fn segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool {
    let (o1, o2, o3, o4) = (
        orient(a, b, c),
        orient(a, b, d),
        orient(c, d, a),
        orient(c, d, b),
    );
    if cross_properly(o1, o2, o3, o4) {
        return true;
    }
    (o1 == 0.0 && within_box(a, b, c))
        || (o2 == 0.0 && within_box(a, b, d))
        || (o3 == 0.0 && within_box(c, d, a))
        || (o4 == 0.0 && within_box(c, d, b))
}

/// Distance from `p` to segment `a`-`b`.
pub fn point_segment_distance(p: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let l2 = dx * dx + dy * dy;
    if l2 <= 0.0 {
        return p.dist(a);
    }
    let t = (((p.x - a.x) * dx + (p.y - a.y) * dy) / l2).clamp(0.0, 1.0);
    p.dist(Point::new(a.x + t * dx, a.y + t * dy))
}

/// Distance between two segments (0 when they cross).
pub fn segment_distance(a0: Point, a1: Point, b0: Point, b1: Point) -> f64 {
    let crossing = cross_properly(
        orient(a0, a1, b0),
        orient(a0, a1, b1),
        orient(b0, b1, a0),
        orient(b0, b1, a1),
    );
    if crossing {
        return 0.0;
    }
    point_segment_distance(a0, b0, b1)
        .min(point_segment_distance(a1, b0, b1))
        .min(point_segment_distance(b0, a0, a1))
        .min(point_segment_distance(b1, a0, a1))
}

/// The ring without non-finite points and without points closer than `eps` to the
/// previous kept one (nor, at the end, to the first).
pub fn dedupe_ring(pts: Vec<Point>, eps: f64) -> Vec<Point> {
    let mut out: Vec<Point> = Vec::with_capacity(pts.len());
    for p in pts {
        if !(p.x.is_finite() && p.y.is_finite()) {
            continue;
        }
        if out.last().is_none_or(|q| q.dist(p) > eps) {
            out.push(p);
        }
    }
    while out.len() > 1 && out[0].dist(out[out.len() - 1]) <= eps {
        out.pop();
    }
    out
}

/// Is the ring simple (no two non-adjacent edges meet)? Edges are bucketed in a
/// grid, so the work stays near-linear for ordinary outlines; a ring too costly to
/// prove simple is reported as not simple.
pub fn is_simple(pts: &[Point]) -> bool {
    let n = pts.len();
    if n < 3 {
        return false;
    }
    let extent = Bbox::around(pts.iter().copied());
    let g = ((n as f64).sqrt().ceil() as usize).clamp(1, 256);
    let cw = ((extent.max_x - extent.min_x) / g as f64).max(1e-12);
    let ch = ((extent.max_y - extent.min_y) / g as f64).max(1e-12);
    let cell = |v: f64, lo: f64, c: f64| (((v - lo) / c).floor().max(0.0) as usize).min(g - 1);
    let mut grid: Vec<Vec<usize>> = vec![Vec::new(); g * g];
    let mut budget: u64 = 50_000_000;
    for i in 0..n {
        let (a, b) = (pts[i], pts[(i + 1) % n]);
        let (cx0, cx1) = (
            cell(a.x.min(b.x), extent.min_x, cw),
            cell(a.x.max(b.x), extent.min_x, cw),
        );
        let (cy0, cy1) = (
            cell(a.y.min(b.y), extent.min_y, ch),
            cell(a.y.max(b.y), extent.min_y, ch),
        );
        for gy in cy0..=cy1 {
            for gx in cx0..=cx1 {
                let bucket = &mut grid[gy * g + gx];
                for &j in bucket.iter() {
                    budget = budget.saturating_sub(1);
                    if budget == 0 {
                        return false;
                    }
                    let adjacent = j + 1 == i || (i + 1) % n == j || (j + 1) % n == i;
                    if adjacent {
                        continue;
                    }
                    if segments_meet(a, b, pts[j], pts[(j + 1) % n]) {
                        return false;
                    }
                }
                bucket.push(i);
            }
        }
    }
    true
}

/// Convex hull (Andrew's monotone chain), counter-clockwise.
pub fn convex_hull(pts: &[Point]) -> Vec<Point> {
    let mut p: Vec<Point> = pts.to_vec();
    p.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    p.dedup_by(|a, b| a.x == b.x && a.y == b.y);
    if p.len() < 3 {
        return p;
    }
    let mut h: Vec<Point> = Vec::with_capacity(2 * p.len());
    for pass in 0..2 {
        let start = h.len();
        let chain: Box<dyn Iterator<Item = &Point>> = if pass == 0 {
            Box::new(p.iter())
        } else {
            Box::new(p.iter().rev())
        };
        for &q in chain {
            while h.len() >= start + 2 && orient(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
                h.pop();
            }
            h.push(q);
        }
        h.pop();
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Vec<Point> {
        vec![
            Point::new(0.0, 0.0),
            Point::new(4.0, 0.0),
            Point::new(4.0, 4.0),
            Point::new(0.0, 4.0),
        ]
    }

    #[test]
    fn inside_outside_and_orientation() {
        let sq = square();
        assert!(point_in_ring(Point::new(1.0, 1.0), &sq));
        assert!(!point_in_ring(Point::new(5.0, 1.0), &sq));
        assert!(orient(sq[0], sq[1], sq[2]) > 0.0);
        assert!(orient(sq[0], sq[2], sq[1]) < 0.0);
    }

    #[test]
    fn simple_rings_and_hulls() {
        let sq = square();
        assert!(is_simple(&sq));
        // A bow tie crosses itself; its hull is the square.
        let bow = vec![sq[0], sq[2], sq[1], sq[3]];
        assert!(!is_simple(&bow));
        assert_eq!(convex_hull(&bow).len(), 4);
        assert!(segments_meet(sq[0], sq[2], sq[1], sq[3]));
        assert_eq!(segment_distance(sq[0], sq[2], sq[1], sq[3]), 0.0);
        assert_eq!(segment_distance(sq[0], sq[1], sq[3], sq[2]), 4.0);
    }
}
