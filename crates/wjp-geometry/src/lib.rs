//! # wjp-geometry: what will this drawing cost to cut?
//!
//! A pure, synchronous library (no queues, no HTTP, no async): DXF bytes in, an
//! [`AnalysisReport`] out. The pipeline, one module per step:
//!
//! 1. [`dxf::tokenizer`] turns ASCII or binary DXF into group-code tags (UTF-8 or
//!    cp1252 text, junk after `EOF` ignored, truncation reported with its place).
//! 2. [`dxf::document`] builds header variables, block definitions and typed
//!    entities, tolerating missing sections and handles; it refuses NaN or huge
//!    coordinates, naming the entity and line.
//! 3. [`expand`] expands model space into cut paths in world coordinates: INSERTs
//!    (nested, rotated, mirrored, MINSERT arrays), OCS extrusions, arcs kept as
//!    bulges, ellipses and splines flattened to a stated tolerance. Bounded in
//!    depth, cycles, entity and point counts.
//! 4. [`units`] decides the factor to millimetres (never a silent rescale).
//! 5. [`topology`] joins paths into contours, finds duplicates and gaps, nests
//!    contours into parts with holes, and orders the cuts.
//! 6. [`cost`] estimates time with Zeng's model and prices it two ways (physical
//!    and the old per-metre formula).
//! 7. [`report`] and [`svg`] present the result.
//!
//! Beside the pipeline, for the rest of wjp: [`geom`] is the one place of plane
//! geometry (points and vectors, bulge segments and paths, ring predicates),
//! [`dxf::writer`] the one DXF writer, [`svg::path`] the one SVG path writer,
//! [`number`] the one number formatter, [`warning`] the one warning type.
//!
//! Invariants: nothing here panics on any input, every loop is bounded by the
//! [`Limits`], every length is in millimetres after step 4, and arcs are measured
//! as arcs.

pub mod cost;
pub mod dxf;
pub mod error;
pub mod expand;
pub mod geom;
pub mod number;
pub mod report;
pub mod svg;
pub mod topology;
pub mod units;
pub mod warning;

use std::collections::BTreeMap;
use std::path::Path as FsPath;

use serde::{Deserialize, Serialize};

pub use cost::{
    CostBreakdown, CostLine, CostReport, MachineParams, Material, Pricing, TimeEstimate,
};
pub use error::{AnalysisError, SourcePos};
pub use geom::{Bbox, Path, Point, Vertex};
pub use report::{AnalysisReport, FileInfo, Metrics, OptionsEcho};
pub use topology::{Contour, ContourRole, Part};
pub use units::UnitsReport;
pub use warning::Warning;

/// Block nesting deeper than this is refused even if `Limits::max_block_depth` is
/// larger (expansion recurses once per level).
pub const MAX_BLOCK_DEPTH_CAP: usize = 256;

/// Bounds on the work one analysis may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub max_file_bytes: usize,
    pub max_entities: u64,
    pub max_vertices_per_entity: u64,
    pub max_block_depth: usize,
    pub max_expanded_entities: u64,
    pub max_minsert_cells: u64,
    pub max_points: u64,
    /// Largest coordinate magnitude accepted, in drawing units.
    pub max_coordinate: f64,
    /// Segment pairs the web/gap check may examine.
    pub web_check_budget: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 256 * 1024 * 1024,
            max_entities: 5_000_000,
            max_vertices_per_entity: 2_000_000,
            max_block_depth: 64,
            max_expanded_entities: 5_000_000,
            max_minsert_cells: 100_000,
            max_points: 20_000_000,
            max_coordinate: 1e9,
            web_check_budget: 5_000_000,
        }
    }
}

/// Everything an analysis can be told. `Default` gives the shop's defaults; JSON
/// payloads may fill any subset (`thickness` and `kerf`, the old API's names, are
/// accepted as aliases).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalysisOptions {
    /// Material key or alias from `materials` (`mild_steel`, `steel`, `glass`...).
    pub material: String,
    #[serde(alias = "thickness")]
    pub thickness_mm: f64,
    /// Cut quality 1 (rough separation) to 5 (finest).
    pub quality: u8,
    #[serde(alias = "kerf")]
    pub kerf_mm: f64,
    /// Ends closer than this are joined (gaps up to it are closed and reported).
    pub snap_tolerance_mm: f64,
    /// Ellipses and splines are flattened so no chord is farther than this.
    pub curve_tolerance_mm: f64,
    /// Segments shorter than this are "tiny".
    pub tiny_segment_mm: f64,
    /// Corners turning more than this many degrees are "sharp" (slow-down).
    pub sharp_corner_deg: f64,
    /// Polylines with at least this many vertices...
    pub dense_polyline_vertices: usize,
    /// ...closer than this on average are "dense" (traced from images).
    pub dense_polyline_mean_segment_mm: f64,
    /// A part's largest side outside [min, max] mm makes the units suspicious.
    pub plausible_size_mm: [f64; 2],
    /// Use this `$INSUNITS` code instead of the declared one (explicit rescale).
    pub units_override: Option<i64>,
    /// Expand INSERTs whose Z scale is 0 (true: the Z scale does not affect a flat
    /// cut). ezdxf skips them as non-invertible; `false` reproduces that.
    pub expand_zero_z_scale_inserts: bool,
    pub pricing: Pricing,
    pub machine: MachineParams,
    /// THE material table; edit or replace it to calibrate.
    pub materials: Vec<Material>,
    pub limits: Limits,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            material: "mild_steel".into(),
            thickness_mm: 6.0,
            quality: 3,
            kerf_mm: 1.1,
            snap_tolerance_mm: 0.05,
            curve_tolerance_mm: 0.0002,
            tiny_segment_mm: 0.05,
            sharp_corner_deg: 30.0,
            dense_polyline_vertices: 500,
            dense_polyline_mean_segment_mm: 0.5,
            plausible_size_mm: [1.0, 20_000.0],
            units_override: None,
            expand_zero_z_scale_inserts: true,
            pricing: Pricing::default(),
            machine: MachineParams::default(),
            materials: cost::default_materials(),
            limits: Limits::default(),
        }
    }
}

impl AnalysisOptions {
    /// Check ranges and resolve the material.
    pub fn validate(&self) -> Result<&Material, AnalysisError> {
        let bad = |name: &str, message: String| AnalysisError::InvalidOption {
            name: name.to_owned(),
            message,
        };
        if !(self.thickness_mm > 0.0 && self.thickness_mm <= 500.0) {
            return Err(bad(
                "thickness_mm",
                format!("{} is not in (0, 500] mm", self.thickness_mm),
            ));
        }
        if !(1..=5).contains(&self.quality) {
            return Err(bad("quality", format!("{} is not 1..5", self.quality)));
        }
        if !(self.kerf_mm > 0.0 && self.kerf_mm < 20.0) {
            return Err(bad(
                "kerf_mm",
                format!("{} is not in (0, 20) mm", self.kerf_mm),
            ));
        }
        if !(self.snap_tolerance_mm >= 0.0 && self.snap_tolerance_mm <= 10.0) {
            return Err(bad(
                "snap_tolerance_mm",
                format!("{} is not in [0, 10] mm", self.snap_tolerance_mm),
            ));
        }
        if !(self.curve_tolerance_mm > 0.0 && self.curve_tolerance_mm <= 1.0) {
            return Err(bad(
                "curve_tolerance_mm",
                format!("{} is not in (0, 1] mm", self.curve_tolerance_mm),
            ));
        }
        let material = cost::find_material(&self.materials, &self.material).ok_or_else(|| {
            let names: Vec<&str> = self.materials.iter().map(|m| m.name.as_str()).collect();
            bad(
                "material",
                format!(
                    "unknown material \"{}\"; known: {}",
                    self.material,
                    names.join(", ")
                ),
            )
        })?;
        if let Some([min, max]) = material.thickness_range_mm {
            if !(min..=max).contains(&self.thickness_mm) {
                return Err(bad(
                    "thickness_mm",
                    format!(
                        "{} mm of {} is outside the shop's range for it, {min} to {max} mm",
                        self.thickness_mm, material.name
                    ),
                ));
            }
        }
        Ok(material)
    }
}

/// Entity types that are text: reported with `text_not_exploded`, not cut.
pub const TEXT_ENTITIES: &[&str] = &["TEXT", "MTEXT", "ATTRIB", "ATTDEF"];

/// Entity types that are cut.
pub const CUT_ENTITIES: &[&str] = &[
    "LINE",
    "ARC",
    "CIRCLE",
    "ELLIPSE",
    "SPLINE",
    "LWPOLYLINE",
    "POLYLINE",
];

/// A drawing read, expanded and joined: the contours that nesting and G-code build on.
#[derive(Debug, Clone)]
pub struct Drawing {
    pub file: FileInfo,
    pub units: UnitsReport,
    pub entity_counts: BTreeMap<String, u64>,
    pub geometry_length_mm: f64,
    pub bbox_mm: Option<[f64; 4]>,
    pub topology: topology::Topology,
    pub warnings: Vec<Warning>,
    pub max_block_depth: usize,
    pub paper_space_entities: u64,
}

impl Drawing {
    /// Contours (mm, arcs as bulges), with role, depth, parent and part.
    pub fn contours(&self) -> &[Contour] {
        &self.topology.contours
    }
    /// Parts: each outer contour with its holes.
    pub fn parts(&self) -> &[Part] {
        &self.topology.parts
    }
    /// Nothing to cut: no closed contour and no open chain (a file of text,
    /// dimensions or nothing at all).
    pub fn is_empty(&self) -> bool {
        self.topology.contours.is_empty()
    }
}

/// Read, expand and join a DXF: everything but time and cost.
pub fn load_drawing(
    bytes: &[u8],
    options: &AnalysisOptions,
    progress: &mut dyn FnMut(f64, &str),
) -> Result<Drawing, AnalysisError> {
    options.validate()?;
    let limits = &options.limits;
    if bytes.len() > limits.max_file_bytes {
        return Err(AnalysisError::TooLarge {
            bytes: bytes.len(),
            limit: limits.max_file_bytes,
        });
    }
    progress(0.02, "reading DXF");
    let doc = dxf::read_document(
        bytes,
        &dxf::ReadLimits {
            max_coordinate: limits.max_coordinate,
            max_entities: limits.max_entities,
            max_vertices_per_entity: limits.max_vertices_per_entity,
        },
    )?;
    let mut warnings = Vec::new();
    let mut units = units::resolve(
        doc.header.insunits,
        doc.header.measurement,
        options.units_override,
    );
    progress(0.3, "expanding blocks");
    let factor = units.factor_to_mm;
    let exp = expand::expand(
        &doc,
        expand::ExpandLimits {
            // Recursion: keep the stack bounded whatever the caller asks.
            max_depth: limits.max_block_depth.min(MAX_BLOCK_DEPTH_CAP),
            max_expanded_entities: limits.max_expanded_entities,
            max_minsert_cells: limits.max_minsert_cells,
            max_points: limits.max_points,
            max_coordinate: limits.max_coordinate,
            tolerance: options.curve_tolerance_mm / factor,
            expand_zero_z_scale: options.expand_zero_z_scale_inserts,
        },
    )?;
    // To millimetres.
    let mut paths = exp.paths;
    let mut geometry_length = 0.0;
    let mut bbox = Bbox::EMPTY;
    for sp in &mut paths {
        for v in &mut sp.path.vertices {
            v.x *= factor;
            v.y *= factor;
        }
        geometry_length += sp.path.length();
        bbox.union(&sp.path.bbox());
    }
    let largest = bbox.width().max(bbox.height());
    units::sanity_check(
        &mut units,
        largest,
        options.plausible_size_mm[0],
        options.plausible_size_mm[1],
    );

    // File-level warnings.
    if doc.token_info.missing_eof {
        warnings.push(Warning::new(
            "missing_eof",
            1,
            "the file has no 0/EOF: it may be truncated; what was read is analysed",
        ));
    }
    if doc.token_info.junk_after_eof {
        warnings.push(Warning::new(
            "junk_after_eof",
            1,
            "bytes after 0/EOF were ignored",
        ));
    }
    for n in &doc.notes {
        warnings.push(Warning::new("damaged_structure", 1, n.clone()));
    }
    for (code, msg) in &exp.notes {
        warnings.push(Warning::new(code, 1, msg.clone()));
    }
    if !doc.header.present {
        warnings.push(Warning::new(
            "no_header",
            1,
            "the file has no HEADER section: units are unknown",
        ));
    }
    if !units.declared_present || units.declared == 0 {
        warnings.push(Warning::new(
            "units_missing",
            1,
            format!("$INSUNITS is missing or unitless: {}", units.source),
        ));
    }
    if let Some(note) = &units.note {
        warnings.push(Warning::new("units_suspicious", 1, note.clone()));
    }
    // Text a viewer shows: TEXT, MTEXT, attribute values on INSERTs (ATTRIB)
    // and ATTDEFs loose in model space (those in blocks are templates, never
    // expanded).
    let text = TEXT_ENTITIES
        .iter()
        .map(|t| exp.counts.get(*t).copied().unwrap_or(0))
        .sum::<u64>();
    if text > 0 {
        warnings.push(Warning::new(
            "text_not_exploded",
            text,
            format!("{text} TEXT/MTEXT/attribute entities are not cut: explode them to outlines if they should be"),
        ));
    }
    let mut not_cut: Vec<String> = exp
        .counts
        .iter()
        .filter(|(k, _)| {
            !CUT_ENTITIES.contains(&k.as_str())
                && k.as_str() != "INSERT"
                && !TEXT_ENTITIES.contains(&k.as_str())
        })
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    not_cut.sort();
    if !not_cut.is_empty() {
        warnings.push(Warning::new(
            "not_cut",
            not_cut.len() as u64,
            format!("entities reported but not cut: {}", not_cut.join(", ")),
        ));
    }
    if exp.paper_space > 0 {
        warnings.push(Warning::new(
            "paper_space",
            exp.paper_space,
            format!("{} paper-space entities were ignored", exp.paper_space),
        ));
    }

    progress(0.5, "joining contours");
    let topo = topology::build(
        paths,
        &topology::TopologyOptions {
            snap_tolerance_mm: options.snap_tolerance_mm,
            tiny_segment_mm: options.tiny_segment_mm,
            kerf_mm: options.kerf_mm,
            small_radius_mm: options.machine.small_radius_mm,
            sharp_corner_deg: options.sharp_corner_deg,
            dense_polyline_vertices: options.dense_polyline_vertices,
            dense_polyline_mean_segment_mm: options.dense_polyline_mean_segment_mm,
            web_check_budget: limits.web_check_budget,
        },
    );
    progress(0.8, "contours joined");
    let file = FileInfo {
        bytes: bytes.len(),
        format: if doc.token_info.binary {
            "binary"
        } else {
            "ascii"
        }
        .into(),
        version: doc.header.acadver.clone(),
        encoding: doc.token_info.encoding.into(),
        has_header: doc.header.present,
    };
    Ok(Drawing {
        file,
        units,
        entity_counts: exp.counts,
        geometry_length_mm: geometry_length,
        bbox_mm: bbox.to_array(),
        topology: topo,
        warnings,
        max_block_depth: exp.max_depth,
        paper_space_entities: exp.paper_space,
    })
}

/// The sum of `values`, `0.0` (not `-0.0`) when there are none: `Iterator::sum`
/// of no `f64` is `-0.0`, which an empty drawing's report printed as `-0.00 mm`.
fn total(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |a, b| a + b)
}

fn figures(d: &Drawing) -> cost::CutFigures {
    let t = &d.topology;
    let area = d
        .bbox_mm
        .map(|b| (b[2] - b[0]) * (b[3] - b[1]))
        .unwrap_or(0.0);
    cost::CutFigures {
        cut_length_mm: total(t.contours.iter().map(|c| c.length_mm)),
        small_radius_length_mm: t.small_radius_length_mm,
        pierces: t.contours.len() as u64,
        sharp_corners: t.sharp_corners,
        rapid_mm: t.rapid_mm,
        sheet_area_mm2: area,
    }
}

fn price(
    d: &Drawing,
    options: &AnalysisOptions,
) -> Result<(TimeEstimate, CostReport), AnalysisError> {
    let material = options.validate()?;
    let fig = figures(d);
    let time = cost::estimate_time(
        &fig,
        &options.machine,
        &options.materials,
        material,
        options.thickness_mm,
        options.quality,
    );
    let physical = cost::physical_cost(
        &fig,
        &time,
        &options.pricing,
        material,
        options.thickness_mm,
    );
    let per_metre = cost::per_metre_cost(&fig, &options.pricing);
    let mode = if options.pricing.mode == "physical" {
        "physical"
    } else {
        "per_metre"
    };
    let total = if mode == "physical" {
        physical.total
    } else {
        per_metre.total
    };
    Ok((
        time,
        CostReport {
            currency: options.pricing.currency.clone(),
            mode: mode.into(),
            total,
            physical,
            per_metre,
        },
    ))
}

/// Analyse DXF bytes: the full report.
pub fn analyze_dxf_bytes(
    bytes: &[u8],
    options: &AnalysisOptions,
    progress: &mut dyn FnMut(f64, &str),
) -> Result<AnalysisReport, AnalysisError> {
    let d = load_drawing(bytes, options, progress)?;
    progress(0.85, "estimating time and cost");
    let (time, cost) = price(&d, options)?;
    let material = options.validate()?;
    let t = &d.topology;
    let fig = figures(&d);
    let holes = t
        .contours
        .iter()
        .filter(|c| c.role == ContourRole::Hole)
        .count() as u64;
    let (w_mm, h_mm) = d
        .bbox_mm
        .map(|b| (b[2] - b[0], b[3] - b[1]))
        .unwrap_or((0.0, 0.0));
    let metrics = Metrics {
        cut_length_mm: fig.cut_length_mm,
        pierce_count: fig.pierces,
        geometry_length_mm: d.geometry_length_mm,
        bbox_mm: d.bbox_mm,
        width_mm: w_mm,
        height_mm: h_mm,
        part_count: t.parts.len() as u64,
        hole_count: holes,
        closed_contours: t.contours.iter().filter(|c| c.closed).count() as u64,
        open_chains: t.contours.iter().filter(|c| !c.closed).count() as u64,
        net_area_mm2: total(t.parts.iter().map(|p| p.net_area_mm2)),
        rapid_travel_mm: t.rapid_mm,
        duplicate_count: t.duplicates as u64,
        duplicate_length_mm: t.duplicate_length_mm,
        overlap_length_mm: t.overlap_length_mm,
        gaps_closed: t.gaps_closed as u64,
        max_gap_closed_mm: t.max_gap_closed_mm,
        junctions: t.junctions as u64,
        zero_length_entities: t.zero_length as u64,
        tiny_segments: t.tiny_segments as u64,
        sharp_corners: t.sharp_corners,
        small_radius_length_mm: t.small_radius_length_mm,
        smallest_inside_radius_mm: t
            .contours
            .iter()
            .filter_map(|c| c.smallest_inside_radius_mm)
            .min_by(|a, b| a.total_cmp(b)),
        min_web_mm: t.min_web_mm,
        max_block_depth: d.max_block_depth as u64,
        paper_space_entities: d.paper_space_entities,
    };
    let mut warnings = d.warnings.clone();
    warnings.extend(t.warnings.iter().cloned());
    let not_cut = d
        .entity_counts
        .iter()
        .filter(|(k, _)| !CUT_ENTITIES.contains(&k.as_str()) && k.as_str() != "INSERT")
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let report = AnalysisReport {
        file: d.file.clone(),
        units: d.units.clone(),
        empty: d.is_empty(),
        metrics,
        entity_counts: d.entity_counts.clone(),
        not_cut,
        contours: t.contours.clone(),
        parts: t.parts.clone(),
        cut_order: t.cut_order.clone(),
        pierce_points_mm: t.pierce_points.iter().map(|p| [p.x, p.y]).collect(),
        warnings,
        time,
        cost,
        options: OptionsEcho {
            material: material.name.clone(),
            thickness_mm: options.thickness_mm,
            quality: options.quality,
            kerf_mm: options.kerf_mm,
            snap_tolerance_mm: options.snap_tolerance_mm,
            curve_tolerance_mm: options.curve_tolerance_mm,
        },
    };
    progress(1.0, "done");
    Ok(report)
}

fn read_file(path: &FsPath, limit: usize) -> Result<Vec<u8>, AnalysisError> {
    let io = |cause| AnalysisError::Io {
        path: path.display().to_string(),
        cause,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() as usize > limit {
        return Err(AnalysisError::TooLarge {
            bytes: meta.len() as usize,
            limit,
        });
    }
    std::fs::read(path).map_err(io)
}

/// Analyse a DXF file on disk.
pub fn analyze_dxf_file(
    path: &FsPath,
    options: &AnalysisOptions,
    progress: &mut dyn FnMut(f64, &str),
) -> Result<AnalysisReport, AnalysisError> {
    let bytes = read_file(path, options.limits.max_file_bytes)?;
    analyze_dxf_bytes(&bytes, options, progress)
}

/// The `/cost` request of the old API: every field optional, old names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CostRequest {
    pub material: Option<String>,
    pub thickness: Option<f64>,
    pub kerf: Option<f64>,
    pub rate_per_m: Option<f64>,
    pub pierce_cost: Option<f64>,
    pub setup_cost: Option<f64>,
}

impl CostRequest {
    /// The options with this request's overrides applied.
    pub fn apply(&self, base: &AnalysisOptions) -> AnalysisOptions {
        let mut o = base.clone();
        if let Some(m) = &self.material {
            o.material = m.clone();
        }
        if let Some(t) = self.thickness {
            o.thickness_mm = t;
        }
        if let Some(k) = self.kerf {
            o.kerf_mm = k;
        }
        if let Some(r) = self.rate_per_m {
            o.pricing.rate_per_m = r;
        }
        if let Some(p) = self.pierce_cost {
            o.pricing.pierce_cost = p;
        }
        if let Some(s) = self.setup_cost {
            o.pricing.setup_cost = s;
        }
        o
    }
}

/// The answer of the `calculate_cost` job.
#[derive(Debug, Clone, Serialize)]
pub struct CostSummary {
    pub material: String,
    pub thickness_mm: f64,
    pub kerf_mm: f64,
    pub cut_length_mm: f64,
    pub pierce_count: u64,
    /// Nothing to cut (see [`AnalysisReport::empty`]): the figures are zero and
    /// are not a quote.
    pub empty: bool,
    pub units: UnitsReport,
    pub time: TimeEstimate,
    pub cost: CostReport,
    /// `cost.total`, repeated for old clients.
    pub total: f64,
    pub currency: String,
    pub warnings: Vec<Warning>,
}

/// The `calculate_cost` job: the cost breakdown of DXF bytes for given prices.
pub fn calculate_cost(
    bytes: &[u8],
    request: &CostRequest,
    base: &AnalysisOptions,
    progress: &mut dyn FnMut(f64, &str),
) -> Result<CostSummary, AnalysisError> {
    let options = request.apply(base);
    let material = options.validate()?.name.clone();
    let d = load_drawing(bytes, &options, progress)?;
    progress(0.85, "estimating time and cost");
    let (time, cost) = price(&d, &options)?;
    let fig = figures(&d);
    progress(1.0, "done");
    let mut warnings = d.warnings.clone();
    warnings.extend(d.topology.warnings.iter().cloned());
    Ok(CostSummary {
        material,
        thickness_mm: options.thickness_mm,
        kerf_mm: options.kerf_mm,
        cut_length_mm: fig.cut_length_mm,
        pierce_count: fig.pierces,
        units: d.units.clone(),
        empty: d.is_empty(),
        total: cost.total,
        currency: cost.currency.clone(),
        time,
        cost,
        warnings,
    })
}

/// [`calculate_cost`] on a file on disk.
pub fn calculate_cost_file(
    path: &FsPath,
    request: &CostRequest,
    base: &AnalysisOptions,
    progress: &mut dyn FnMut(f64, &str),
) -> Result<CostSummary, AnalysisError> {
    let bytes = read_file(path, base.limits.max_file_bytes)?;
    calculate_cost(&bytes, request, base, progress)
}
