//! Step 9: the web check. The narrowest distance between two different closed
//! contours (a web of material between holes, or a gap between parts), when it is
//! below a limit (2 x kerf): outlines are flattened, their segments registered in
//! a grid of cells at least the limit wide, and only segments in neighbouring
//! cells are compared. Bounded by a budget of cells and pairs.

use std::collections::HashMap;

use super::fast_hash::FastHash;
use super::{ring_tol, Contour};
use crate::geom::{segment_distance, Bbox, Point};
use crate::warning::Warning;

/// A straight piece of a closed contour's flattened outline.
struct WebSegment {
    contour: usize,
    a: Point,
    b: Point,
}

/// Segments by grid cell; a segment is listed in every cell it crosses.
type SegmentGrid = HashMap<(i64, i64), Vec<usize>, FastHash>;

/// Narrowest distance between two different closed contours, when below `limit`
/// (None when all are farther apart). Bounded by `budget` segment pairs.
#[inline(never)] // one call per analysis; kept separate for profiles
pub(super) fn min_web(
    contours: &[Contour],
    limit: f64,
    budget: u64,
    warnings: &mut Vec<Warning>,
) -> Option<f64> {
    if limit <= 0.0 {
        return None;
    }
    let segs = outline_segments(contours, limit);
    let cell = cell_size(contours, segs.len(), limit);
    let Some(grid) = register(&segs, cell, budget) else {
        warnings.push(Warning::new(
            "web_check_skipped",
            1,
            "the web/gap check was stopped: the drawing has too many segments for its budget",
        ));
        return None;
    };
    narrowest(&segs, &grid, limit, budget, warnings)
}

/// The closed contours' outlines as segments, flattened finely enough for
/// `limit`.
fn outline_segments(contours: &[Contour], limit: f64) -> Vec<WebSegment> {
    let mut segs = Vec::new();
    for c in contours.iter().filter(|c| c.closed) {
        let bb = Bbox::from_array(c.bbox_mm);
        let raw = c.path.flatten(ring_tol(&bb).min(limit / 20.0).max(1e-6));
        // Finely flattened curves carry far more points than a web check needs:
        // keep points at least limit/20 apart (the shape moves by far less).
        let step = limit / 20.0;
        let mut pts: Vec<Point> = Vec::with_capacity(raw.len());
        for p in raw {
            if pts.last().is_none_or(|q: &Point| q.dist(p) >= step) {
                pts.push(p);
            }
        }
        for i in 0..pts.len() {
            segs.push(WebSegment {
                contour: c.id,
                a: pts[i],
                b: pts[(i + 1) % pts.len()],
            });
        }
    }
    segs
}

/// Cells at least `limit` wide (so neighbours suffice), at most ~2048 across, and
/// large enough that walking all segments registers about 4 cells per segment.
fn cell_size(contours: &[Contour], n_segments: usize, limit: f64) -> f64 {
    let mut extent = Bbox::EMPTY;
    for c in contours.iter().filter(|c| c.closed) {
        extent.add(Point::new(c.bbox_mm[0], c.bbox_mm[1]));
        extent.add(Point::new(c.bbox_mm[2], c.bbox_mm[3]));
    }
    let total_length: f64 = contours
        .iter()
        .filter(|c| c.closed)
        .map(|c| c.length_mm)
        .sum();
    limit
        .max(1e-3)
        .max(extent.width().max(extent.height()) / 2048.0)
        .max(total_length / (4.0 * n_segments.max(1) as f64))
}

/// Every segment in the cells it crosses; `None` past `budget` registrations.
fn register(segs: &[WebSegment], cell: f64, budget: u64) -> Option<SegmentGrid> {
    let mut grid = SegmentGrid::default();
    let mut inserted = 0u64;
    let key = |p: Point| ((p.x / cell).floor() as i64, (p.y / cell).floor() as i64);
    for (s, WebSegment { a, b, .. }) in segs.iter().enumerate() {
        // Walk the segment in steps shorter than a cell; register each cell once.
        let steps = ((a.dist(*b) / cell).ceil() as u64).max(1);
        let mut last = None;
        for k in 0..=steps {
            let t = k as f64 / steps as f64;
            let cell_key = key(Point::new(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t));
            if last == Some(cell_key) {
                continue;
            }
            last = Some(cell_key);
            inserted += 1;
            if inserted > budget {
                return None;
            }
            let list = grid.entry(cell_key).or_default();
            if list.last() != Some(&s) {
                list.push(s);
            }
        }
    }
    Some(grid)
}

/// The smallest distance below `limit` between segments of different contours in
/// the same or neighbouring cells (each pair of cells visited once).
fn narrowest(
    segs: &[WebSegment],
    grid: &SegmentGrid,
    limit: f64,
    budget: u64,
    warnings: &mut Vec<Warning>,
) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut checked = 0u64;
    for ((x, y), list) in grid {
        for &s in list {
            for dx in 0..=1i64 {
                for dy in -1..=1i64 {
                    if dx == 0 && dy < 0 {
                        continue;
                    }
                    let Some(other) = grid.get(&(x + dx, y + dy)) else {
                        continue;
                    };
                    for &u in other {
                        if segs[s].contour == segs[u].contour || (dx == 0 && dy == 0 && u <= s) {
                            continue;
                        }
                        checked += 1;
                        if checked > budget {
                            warnings.push(Warning::new("web_check_skipped", 1, "the web/gap check was stopped: the drawing has too many close segments for its budget"));
                            return best;
                        }
                        // Cheap box test first: only pairs that could beat the
                        // current best need the exact distance.
                        let bound = best.unwrap_or(limit).min(limit);
                        let (a0, a1, b0, b1) = (segs[s].a, segs[s].b, segs[u].a, segs[u].b);
                        let gap_x =
                            (b0.x.min(b1.x) - a0.x.max(a1.x)).max(a0.x.min(a1.x) - b0.x.max(b1.x));
                        let gap_y =
                            (b0.y.min(b1.y) - a0.y.max(a1.y)).max(a0.y.min(a1.y) - b0.y.max(b1.y));
                        if gap_x >= bound || gap_y >= bound {
                            continue;
                        }
                        let d = segment_distance(a0, a1, b0, b1);
                        if d < limit {
                            best = Some(best.map_or(d, |b| b.min(d)));
                            if d <= 0.0 {
                                // Contours touch or cross: nothing is narrower.
                                return best;
                            }
                        }
                    }
                }
            }
        }
    }
    best
}
