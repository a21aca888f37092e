//! The analysis report: what the API returns, the CLI prints and the dashboard
//! draws (its picture, `AnalysisReport::to_svg`, is drawn by [`crate::svg`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::cost::{CostReport, TimeEstimate};
use crate::topology::{Contour, Part};
use crate::units::UnitsReport;
use crate::warning::Warning;

/// About the file itself.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct FileInfo {
    pub bytes: usize,
    /// "ascii" or "binary".
    pub format: String,
    /// `$ACADVER` (e.g. AC1009 = R12, AC1032 = 2018) when present.
    pub version: Option<String>,
    pub encoding: String,
    pub has_header: bool,
}

/// Totals of the drawing, in millimetres.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Metrics {
    /// Length the jet travels cutting: every contour and open chain once
    /// (duplicates removed).
    pub cut_length_mm: f64,
    /// One per closed contour and one per open chain.
    pub pierce_count: u64,
    /// Total length of all cuttable geometry, blocks expanded, before removing
    /// duplicates.
    pub geometry_length_mm: f64,
    /// `[min_x, min_y, max_x, max_y]` of all cuttable geometry; null when empty.
    pub bbox_mm: Option<[f64; 4]>,
    pub width_mm: f64,
    pub height_mm: f64,
    pub part_count: u64,
    pub hole_count: u64,
    pub closed_contours: u64,
    pub open_chains: u64,
    /// Sum of the parts' net areas.
    pub net_area_mm2: f64,
    /// Jet-off travel after ordering the cuts, from the drawing's lower-left corner.
    pub rapid_travel_mm: f64,
    pub duplicate_count: u64,
    pub duplicate_length_mm: f64,
    pub overlap_length_mm: f64,
    pub gaps_closed: u64,
    pub max_gap_closed_mm: f64,
    pub junctions: u64,
    pub zero_length_entities: u64,
    pub tiny_segments: u64,
    pub sharp_corners: u64,
    pub small_radius_length_mm: f64,
    pub smallest_inside_radius_mm: Option<f64>,
    /// Narrowest web or gap between contours when below 2 x kerf.
    pub min_web_mm: Option<f64>,
    pub max_block_depth: u64,
    pub paper_space_entities: u64,
}

/// The options the analysis ran with (echoed in the report).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OptionsEcho {
    pub material: String,
    pub thickness_mm: f64,
    pub quality: u8,
    pub kerf_mm: f64,
    pub snap_tolerance_mm: f64,
    pub curve_tolerance_mm: f64,
}

/// The full report of one analysis.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisReport {
    pub file: FileInfo,
    pub units: UnitsReport,
    /// The drawing has nothing to cut (no closed contour, no open chain): every
    /// length is 0 and `time` and `cost` are not a quote (the cost would be the
    /// setup alone). Say "empty drawing" instead of quoting.
    pub empty: bool,
    pub metrics: Metrics,
    /// Every entity type in model space, blocks expanded.
    pub entity_counts: BTreeMap<String, u64>,
    /// The entity types that are reported but not cut (TEXT, HATCH...).
    pub not_cut: BTreeMap<String, u64>,
    pub contours: Vec<Contour>,
    pub parts: Vec<Part>,
    /// Contour ids in cutting order.
    pub cut_order: Vec<usize>,
    /// Pierce points in cutting order, mm.
    pub pierce_points_mm: Vec<[f64; 2]>,
    pub warnings: Vec<Warning>,
    pub time: TimeEstimate,
    pub cost: CostReport,
    pub options: OptionsEcho,
}

impl AnalysisReport {
    /// A readable summary for the CLI.
    pub fn summary_text(&self) -> String {
        let m = &self.metrics;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "DXF {} ({}, {} bytes, {})",
            self.file.version.as_deref().unwrap_or("version unknown"),
            self.file.format,
            self.file.bytes,
            self.file.encoding
        );
        let _ = writeln!(
            s,
            "Units: declared $INSUNITS={} ({}), using {} (x{} to mm; {}){}",
            self.units.declared,
            self.units.declared_name,
            self.units.assumed,
            self.units.factor_to_mm,
            self.units.source,
            if self.units.suspicious {
                " SUSPICIOUS"
            } else {
                ""
            }
        );
        match m.bbox_mm {
            Some(b) => {
                let _ = writeln!(
                    s,
                    "Size: {:.2} x {:.2} mm (bbox {:.3}, {:.3} .. {:.3}, {:.3})",
                    m.width_mm, m.height_mm, b[0], b[1], b[2], b[3]
                );
            }
            None => {
                let _ = writeln!(s, "Size: no cuttable geometry");
            }
        }
        let _ = writeln!(
            s,
            "Cut length: {:.2} mm ({:.3} m); geometry length {:.2} mm",
            m.cut_length_mm,
            m.cut_length_mm / 1000.0,
            m.geometry_length_mm
        );
        let _ = writeln!(
            s,
            "Pierces: {}  Parts: {}  Holes: {}  Closed contours: {}  Open chains: {}",
            m.pierce_count, m.part_count, m.hole_count, m.closed_contours, m.open_chains
        );
        let _ = writeln!(
            s,
            "Net area: {:.1} mm²  Rapid travel: {:.1} mm",
            m.net_area_mm2, m.rapid_travel_mm
        );
        let counts: Vec<String> = self
            .entity_counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(s, "Entities: {}", counts.join(", "));
        if self.empty {
            // A setup cost alone is not a price for nothing: no time, no quote.
            let _ = writeln!(s, "Empty drawing: nothing to cut, no quote");
        } else {
            self.time_and_cost_lines(&mut s);
        }
        if self.warnings.is_empty() {
            let _ = writeln!(s, "Warnings: none");
        } else {
            let _ = writeln!(s, "Warnings:");
            for w in &self.warnings {
                let _ = writeln!(s, "  - [{}] {}", w.code, w.message);
            }
        }
        s
    }

    fn time_and_cost_lines(&self, s: &mut String) {
        let t = &self.time;
        let _ = writeln!(
            s,
            "Time ({} {} mm Q{}): {:.2} min (cut {:.2} at {:.1} mm/min, pierce {:.2}, rapid {:.2}, corners {:.2})",
            t.material,
            t.thickness_mm,
            t.quality,
            t.total_min,
            t.cut_min,
            t.cut_speed_mm_min,
            t.pierce_min,
            t.rapid_min,
            t.corner_min
        );
        let _ = writeln!(
            s,
            "Cost ({}): {:.2} {} [physical {:.2}, per metre {:.2}]",
            self.cost.mode,
            self.cost.total,
            self.cost.currency,
            self.cost.physical.total,
            self.cost.per_metre.total
        );
    }
}
