//! Step 10: the warnings about what the steps found, in a fixed order: what was
//! cleaned up, what joining did and left open, what the layer names say, and what
//! the kerf cannot cut.

use super::layers::check_layer_intent;
use super::{Contour, Topology, TopologyOptions};
use crate::warning::Warning;

/// Push every warning the figures in `t` call for.
pub(super) fn warn(t: &mut Topology, o: &TopologyOptions, dense_polylines: u64) {
    cleaning(t, o, dense_polylines);
    joining(t, o);
    check_layer_intent(&t.contours, &mut t.warnings);
    manufacturability(t, o);
}

fn cleaning(t: &mut Topology, o: &TopologyOptions, dense: u64) {
    if t.zero_length > 0 {
        t.warnings.push(Warning::new(
            "zero_length",
            t.zero_length as u64,
            format!("{} zero-length entities were ignored", t.zero_length),
        ));
    }
    if t.duplicates > 0 {
        t.warnings.push(Warning::new(
            "duplicates",
            t.duplicates as u64,
            format!(
                "{} duplicate entities ({:.2} mm) would be cut twice; they are counted once",
                t.duplicates, t.duplicate_length_mm
            ),
        ));
    }
    if t.overlap_length_mm > 0.0 {
        t.warnings.push(Warning::new(
            "overlaps",
            1,
            format!(
                "collinear lines overlap over {:.2} mm: that length would be cut twice",
                t.overlap_length_mm
            ),
        ));
    }
    if t.tiny_segments > 0 {
        t.warnings.push(Warning::new(
            "tiny_segments",
            t.tiny_segments as u64,
            format!(
                "{} segments are shorter than {} mm",
                t.tiny_segments, o.tiny_segment_mm
            ),
        ));
    }
    if dense > 0 {
        t.warnings.push(Warning::new(
            "dense_polyline",
            dense,
            format!(
                "{dense} polylines have {}+ vertices under {} mm apart on average (traced from an image?): expect slow, jerky cutting",
                o.dense_polyline_vertices, o.dense_polyline_mean_segment_mm
            ),
        ));
    }
}

fn joining(t: &mut Topology, o: &TopologyOptions) {
    if t.gaps_closed > 0 {
        t.warnings.push(Warning::new(
            "gaps_closed",
            t.gaps_closed as u64,
            format!(
                "{} gaps up to {:.4} mm (snap tolerance {} mm) were closed while joining contours",
                t.gaps_closed, t.max_gap_closed_mm, o.snap_tolerance_mm
            ),
        ));
    }
    if t.junctions > 0 {
        t.warnings.push(Warning::new(
            "junctions",
            t.junctions as u64,
            format!(
                "{} points where three or more entity ends meet: the contour path is ambiguous there",
                t.junctions
            ),
        ));
    }
    let open: Vec<&Contour> = t.contours.iter().filter(|c| !c.closed).collect();
    if !open.is_empty() {
        let mut layers: Vec<&str> = open.iter().map(|c| c.layer.as_str()).collect();
        layers.sort_unstable();
        layers.dedup();
        t.warnings.push(Warning::new(
            "open_contours",
            open.len() as u64,
            format!(
                "{} open chains (layers: {}) are cut as open paths, one pierce each; close them if they are part outlines",
                open.len(),
                layers.join(", ")
            ),
        ));
    }
}

/// Features the jet cannot follow at this kerf.
fn manufacturability(t: &mut Topology, o: &TopologyOptions) {
    let half = o.kerf_mm / 2.0;
    let small_r = t
        .contours
        .iter()
        .filter(|c| c.smallest_inside_radius_mm.is_some_and(|r| r < half))
        .count();
    if small_r > 0 {
        t.warnings.push(Warning::new(
            "inside_radius_below_kerf",
            small_r as u64,
            format!(
                "{small_r} contours have an inside radius below kerf/2 = {half} mm: the jet cannot follow it"
            ),
        ));
    }
    let small_feat = t
        .contours
        .iter()
        .filter(|c| {
            c.closed && (c.bbox_mm[2] - c.bbox_mm[0]).min(c.bbox_mm[3] - c.bbox_mm[1]) < o.kerf_mm
        })
        .count();
    if small_feat > 0 {
        t.warnings.push(Warning::new(
            "feature_smaller_than_kerf",
            small_feat as u64,
            format!(
                "{small_feat} closed contours are narrower than the kerf ({} mm): they will be cut away",
                o.kerf_mm
            ),
        ));
    }
    if let Some(w) = t.min_web_mm {
        if w < 2.0 * o.kerf_mm {
            t.warnings.push(Warning::new(
                "narrow_web",
                1,
                format!(
                    "the narrowest web or gap between contours is {w:.3} mm, below 2 x kerf = {} mm",
                    2.0 * o.kerf_mm
                ),
            ));
        }
    }
}
