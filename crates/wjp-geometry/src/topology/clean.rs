//! Step 1: drop paths of no length, count the segments too short to cut well and
//! the polylines too dense to cut smoothly.

use super::{Topology, TopologyOptions};
use crate::expand::SourcePath;
use crate::geom::segment_length;

/// The paths left to join, and how many of them are dense polylines.
pub(super) struct Cleaned {
    pub paths: Vec<SourcePath>,
    /// Polylines with many vertices close together (traced from an image?).
    pub dense_polylines: u64,
}

/// Drop zero-length paths (counted in `t.zero_length`) and the repeated first
/// vertex at the end of closed paths; count tiny segments (`t.tiny_segments`) and
/// dense polylines.
pub(super) fn drop_zero_length(
    paths: Vec<SourcePath>,
    o: &TopologyOptions,
    t: &mut Topology,
) -> Cleaned {
    let mut dense = 0u64;
    let mut live: Vec<SourcePath> = Vec::with_capacity(paths.len());
    for mut sp in paths {
        drop_repeated_start(&mut sp);
        let len = sp.path.length();
        if len <= 1e-9 {
            t.zero_length += 1;
            continue;
        }
        if !sp.flattened {
            let mut segs = 0usize;
            for (a, b, k) in sp.path.segments() {
                segs += 1;
                if segment_length(a, b, k) < o.tiny_segment_mm {
                    t.tiny_segments += 1;
                }
            }
            if (sp.entity == "LWPOLYLINE" || sp.entity == "POLYLINE")
                && sp.path.vertices.len() >= o.dense_polyline_vertices
                && len / (segs.max(1) as f64) < o.dense_polyline_mean_segment_mm
            {
                dense += 1;
            }
        }
        live.push(sp);
    }
    Cleaned {
        paths: live,
        dense_polylines: dense,
    }
}

/// A closed path that repeats its first vertex at the end loses the repeat.
fn drop_repeated_start(sp: &mut SourcePath) {
    let vs = &mut sp.path.vertices;
    if sp.path.closed && vs.len() > 1 && vs[0].point().dist(vs[vs.len() - 1].point()) < 1e-9 {
        vs.pop();
    }
}
