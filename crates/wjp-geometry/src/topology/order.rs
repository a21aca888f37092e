//! Step 8: the cut order. Deeper parts first (an island is cut before the hole
//! around it drops), then nearest neighbour among the parts of one depth; within a
//! part its holes by nearest neighbour, then its outer; open chains from their
//! nearer end. Above 2,000 items a banded sweep replaces nearest neighbour, so
//! ordering stays O(n log n).

use super::Topology;
use crate::geom::{Bbox, Point};

/// Visit order of points: nearest neighbour from `start` when there are few, a
/// serpentine sweep over horizontal bands when there are many (O(n log n)).
fn visit_order(points: &[Point], start: Point) -> Vec<usize> {
    const NEAREST_NEIGHBOUR_MAX: usize = 2000;
    let n = points.len();
    if n <= NEAREST_NEIGHBOUR_MAX {
        let mut left: Vec<usize> = (0..n).collect();
        let mut cur = start;
        let mut out = Vec::with_capacity(n);
        while !left.is_empty() {
            let (k, _) = left
                .iter()
                .enumerate()
                .map(|(k, &i)| (k, points[i].dist(cur)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((0, 0.0));
            let i = left.swap_remove(k);
            cur = points[i];
            out.push(i);
        }
        return out;
    }
    let mut bb = Bbox::EMPTY;
    for p in points {
        bb.add(*p);
    }
    let bands = (n as f64).sqrt().ceil();
    let band_h = (bb.height() / bands).max(1e-9);
    let band = |p: Point| ((p.y - bb.min_y) / band_h).floor() as i64;
    let mut out: Vec<usize> = (0..n).collect();
    out.sort_by(|&a, &b| {
        let (ba, bb_) = (band(points[a]), band(points[b]));
        ba.cmp(&bb_).then_with(|| {
            if ba % 2 == 0 {
                points[a].x.total_cmp(&points[b].x)
            } else {
                points[b].x.total_cmp(&points[a].x)
            }
        })
    });
    out
}

/// What is cut as one piece of the order: a part (its holes, then its outer) or
/// an open chain.
enum CutItem {
    Part(usize),
    Open(usize),
}

/// The head's way through the drawing, built up in cutting order.
struct Route {
    at: Point,
    rapid_mm: f64,
    order: Vec<usize>,
    pierces: Vec<Point>,
}

impl Route {
    /// Travel to `start` and pierce there to cut `contour`.
    fn pierce(&mut self, contour: usize, start: Point) {
        self.rapid_mm += start.dist(self.at);
        self.at = start;
        self.order.push(contour);
        self.pierces.push(start);
    }
}

/// Sets the cut order, the pierce points and the rapid travel from the drawing's
/// lower-left corner.
#[inline(never)] // one call per analysis; kept separate for profiles
pub(super) fn order_cuts(t: &mut Topology) {
    let mut items: Vec<CutItem> = (0..t.parts.len()).map(CutItem::Part).collect();
    for c in &t.contours {
        if !c.closed {
            items.push(CutItem::Open(c.id));
        }
        // Holes without a part (cannot happen: every odd depth has a parent).
    }
    let mut bb = Bbox::EMPTY;
    for c in &t.contours {
        bb.add(Point::new(c.bbox_mm[0], c.bbox_mm[1]));
        bb.add(Point::new(c.bbox_mm[2], c.bbox_mm[3]));
    }
    if bb.is_empty() {
        return;
    }
    let start = Point::new(bb.min_x, bb.min_y);
    t.rapid_start = Some(start);
    let mut route = Route {
        at: start,
        rapid_mm: 0.0,
        order: Vec::new(),
        pierces: Vec::new(),
    };
    // Deeper parts first (an island inside a hole is cut before that hole drops),
    // nearest neighbour among the parts of the same depth.
    let depth: Vec<usize> = items
        .iter()
        .map(|it| match it {
            CutItem::Part(p) => t.contours[t.parts[*p].outer].depth,
            CutItem::Open(_) => 0,
        })
        .collect();
    let max_depth = depth.iter().copied().max().unwrap_or(0);
    for level in (0..=max_depth).rev() {
        let group: Vec<usize> = (0..items.len()).filter(|&k| depth[k] == level).collect();
        let entries: Vec<Point> = group.iter().map(|&k| entry(&items[k], t)).collect();
        for gi in visit_order(&entries, route.at) {
            match &items[group[gi]] {
                CutItem::Part(p) => cut_part(t, *p, &mut route),
                CutItem::Open(c) => {
                    // From the nearer end.
                    let path = &t.contours[*c].path;
                    let here = route.at;
                    let (s, e) = (path.start().unwrap_or(here), path.end().unwrap_or(here));
                    let (s, e) = if e.dist(here) < s.dist(here) {
                        (e, s)
                    } else {
                        (s, e)
                    };
                    route.pierce(*c, s);
                    route.at = e;
                }
            }
        }
    }
    // Holes with no part (should not happen) are appended so nothing is lost.
    for c in &t.contours {
        if !route.order.contains(&c.id) {
            match c.path.start() {
                Some(s) => route.pierce(c.id, s),
                None => route.order.push(c.id),
            }
        }
    }
    t.cut_order = route.order;
    t.pierce_points = route.pierces;
    t.rapid_mm = route.rapid_mm;
}

/// Where the head goes first for an item: a part's first hole (or its outer), an
/// open chain's start.
fn entry(it: &CutItem, t: &Topology) -> Point {
    match it {
        CutItem::Part(p) => {
            let part = &t.parts[*p];
            let c = part.holes.first().copied().unwrap_or(part.outer);
            t.contours[c].path.start().unwrap_or(Point::new(0.0, 0.0))
        }
        CutItem::Open(c) => t.contours[*c].path.start().unwrap_or(Point::new(0.0, 0.0)),
    }
}

/// A part's holes by nearest neighbour, then its outer.
fn cut_part(t: &Topology, p: usize, route: &mut Route) {
    let holes = &t.parts[p].holes;
    let starts: Vec<Point> = holes
        .iter()
        .map(|&h| t.contours[h].path.start().unwrap_or(route.at))
        .collect();
    for hi in visit_order(&starts, route.at) {
        route.pierce(holes[hi], starts[hi]);
    }
    let o = t.parts[p].outer;
    let s = t.contours[o].path.start().unwrap_or(route.at);
    route.pierce(o, s);
}
