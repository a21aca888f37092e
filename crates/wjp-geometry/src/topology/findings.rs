//! Step 10: the warnings about what the steps found, in a fixed order: what was
//! cleaned up, what joining did and left open, what the layer names say, and what
//! the kerf cannot cut.

use super::layers::check_layer_intent;
use super::{Topology, TopologyOptions};
use crate::warning::Warning;

/// Push every warning the figures in `t` call for.
pub(super) fn warn(t: &mut Topology, o: &TopologyOptions, dense_polylines: u64) {
    let mut found = Findings(Vec::new());
    cleaning(&mut found, t, o, dense_polylines);
    joining(&mut found, t, o);
    t.warnings.extend(found.0);
    check_layer_intent(&t.contours, &mut t.warnings);
    let mut found = Findings(Vec::new());
    manufacturability(&mut found, t, o);
    t.warnings.extend(found.0);
}

/// Warnings being collected.
struct Findings(Vec<Warning>);

impl Findings {
    /// A warning about `count` things, when there are any (the message is only
    /// written then).
    fn about(&mut self, code: &str, count: usize, message: impl FnOnce() -> String) {
        if count > 0 {
            self.0.push(Warning::new(code, count as u64, message()));
        }
    }
}

fn cleaning(found: &mut Findings, t: &Topology, o: &TopologyOptions, dense: u64) {
    found.about("zero_length", t.zero_length, || {
        format!("{} zero-length entities were ignored", t.zero_length)
    });
    found.about("duplicates", t.duplicates, || {
        format!(
            "{} duplicate entities ({:.2} mm) would be cut twice; they are counted once",
            t.duplicates, t.duplicate_length_mm
        )
    });
    found.about("overlaps", usize::from(t.overlap_length_mm > 0.0), || {
        format!(
            "collinear lines overlap over {:.2} mm: that length would be cut twice",
            t.overlap_length_mm
        )
    });
    found.about("tiny_segments", t.tiny_segments, || {
        format!(
            "{} segments are shorter than {} mm",
            t.tiny_segments, o.tiny_segment_mm
        )
    });
    found.about("dense_polyline", dense as usize, || {
        format!(
            "{dense} polylines have {}+ vertices under {} mm apart on average (traced from an image?): expect slow, jerky cutting",
            o.dense_polyline_vertices, o.dense_polyline_mean_segment_mm
        )
    });
}

fn joining(found: &mut Findings, t: &Topology, o: &TopologyOptions) {
    found.about("gaps_closed", t.gaps_closed, || {
        format!(
            "{} gaps up to {:.4} mm (snap tolerance {} mm) were closed while joining contours",
            t.gaps_closed, t.max_gap_closed_mm, o.snap_tolerance_mm
        )
    });
    found.about("junctions", t.junctions, || {
        format!(
            "{} points where three or more entity ends meet: the contour path is ambiguous there",
            t.junctions
        )
    });
    let open: Vec<&str> = t
        .contours
        .iter()
        .filter(|c| !c.closed)
        .map(|c| c.layer.as_str())
        .collect();
    found.about("open_contours", open.len(), || {
        let mut layers = open.clone();
        layers.sort_unstable();
        layers.dedup();
        format!(
            "{} open chains (layers: {}) are cut as open paths, one pierce each; close them if they are part outlines",
            open.len(),
            layers.join(", ")
        )
    });
}

/// Features the jet cannot follow at this kerf.
fn manufacturability(found: &mut Findings, t: &Topology, o: &TopologyOptions) {
    let half = o.kerf_mm / 2.0;
    let small_r = t
        .contours
        .iter()
        .filter(|c| c.smallest_inside_radius_mm.is_some_and(|r| r < half))
        .count();
    found.about("inside_radius_below_kerf", small_r, || {
        format!(
            "{small_r} contours have an inside radius below kerf/2 = {half} mm: the jet cannot follow it"
        )
    });
    let small_feat = t
        .contours
        .iter()
        .filter(|c| {
            c.closed && (c.bbox_mm[2] - c.bbox_mm[0]).min(c.bbox_mm[3] - c.bbox_mm[1]) < o.kerf_mm
        })
        .count();
    found.about("feature_smaller_than_kerf", small_feat, || {
        format!(
            "{small_feat} closed contours are narrower than the kerf ({} mm): they will be cut away",
            o.kerf_mm
        )
    });
    let narrow = t.min_web_mm.filter(|w| *w < 2.0 * o.kerf_mm);
    found.about("narrow_web", usize::from(narrow.is_some()), || {
        format!(
            "the narrowest web or gap between contours is {:.3} mm, below 2 x kerf = {} mm",
            narrow.unwrap_or_default(),
            2.0 * o.kerf_mm
        )
    });
}
