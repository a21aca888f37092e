//! Step 6: parts from the nesting. A closed contour of even depth is a part's
//! outer boundary (an island in a hole, depth 2, is a part of its own); one of odd
//! depth is a hole of the part whose outer contains it.

use super::{Contour, ContourRole, Part};

/// The parts, in contour order; sets each contour's `part` and the holes' role.
/// Contour ids are their indices.
pub(super) fn assemble(contours: &mut [Contour]) -> Vec<Part> {
    let mut parts = Vec::new();
    for c in contours.iter_mut() {
        if c.closed && c.depth % 2 == 0 {
            let pid = parts.len();
            c.part = Some(pid);
            let bb = c.bbox_mm;
            parts.push(Part {
                id: pid,
                outer: c.id,
                holes: Vec::new(),
                net_area_mm2: c.area_mm2.abs(),
                bbox_mm: bb,
                width_mm: bb[2] - bb[0],
                height_mm: bb[3] - bb[1],
                cut_length_mm: c.length_mm,
                pierces: 1,
            });
        }
    }
    for c in 0..contours.len() {
        if !(contours[c].closed && contours[c].depth % 2 == 1) {
            continue;
        }
        contours[c].role = ContourRole::Hole;
        let Some(pid) = contours[c].parent.and_then(|parent| contours[parent].part) else {
            continue;
        };
        contours[c].part = Some(pid);
        let p: &mut Part = &mut parts[pid];
        p.holes.push(c);
        p.net_area_mm2 -= contours[c].area_mm2.abs();
        p.cut_length_mm += contours[c].length_mm;
        p.pierces += 1;
    }
    parts
}
