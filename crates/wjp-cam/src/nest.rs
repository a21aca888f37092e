//! `nest`: true-shape nesting of parts on sheets, on the `jagua-rs` collision
//! engine.
//!
//! How it works:
//! - Each part is nested by its **outer contour**, flattened (chords within
//!   `curve_tolerance_mm`), as a simple polygon; its holes are carried along and
//!   written back in the output. jagua-rs inflates every part by half the
//!   separation and deflates the sheet by the same, so outlines end up at least
//!   `gap` apart and at least `gap` from the sheet edge. The separation given to
//!   jagua-rs is `gap + 2 * curve_tolerance_mm`, so flattening can never eat into
//!   the gap. (The gap includes the kerf, as in the shop's practice: it must be at
//!   least the kerf, or two cuts would overlap.)
//! - Placement is a bottom-left fill: for every part copy, for every open sheet,
//!   for every allowed rotation, positions on a grid are tried bottom row first;
//!   the first free one is slid down and left (halving steps) and the lowest,
//!   leftmost result over the rotations wins. A copy that fits no open sheet opens
//!   the next one.
//! - With `allow_parts_in_holes`, every hole of a placed part becomes a small
//!   container of its own (flattened hole, same gap to its edge), tried before the
//!   sheets.
//! - An outline that touches or crosses itself is nested by its convex hull (a
//!   superset, so the gap still holds), with a warning.
//! - The first pass orders copies by area, largest first. Further passes perturb
//!   the best order (swaps) and keep a layout only if it is better (fewer failed
//!   parts, fewer sheets, then a lower top on the last sheet). The search stops at
//!   `time_limit_s`, `max_iterations`, or when `should_stop()` says so; the first
//!   pass always completes, so there is always a layout.

use std::sync::Arc;
use std::time::Instant;

use jagua_rs::collision_detection::hazards::filter::NoFilter;
use jagua_rs::collision_detection::CDEConfig;
use jagua_rs::entities::{Item, Layout};
use jagua_rs::geometry::fail_fast::SPSurrogateConfig;
use jagua_rs::geometry::geo_traits::Transformable;
use jagua_rs::geometry::primitives::SPolygon;
use jagua_rs::geometry::DTransformation;
use jagua_rs::io::export::int_to_ext_transformation;
use jagua_rs::io::ext_repr::{
    ExtContainer, ExtItem, ExtOrientation, ExtRotation, ExtSPolygon, ExtShape,
};
use jagua_rs::io::import::Importer;
use serde::{Deserialize, Serialize};
use wjp_geometry::{AnalysisOptions, Path, Point, Vertex};

use crate::error::CamError;
use crate::Warning;

/// One part to nest: its outer contour and holes (mm, bulges), and how many.
#[derive(Debug, Clone)]
pub struct PartInput {
    pub name: String,
    pub quantity: u32,
    /// Closed outer contour.
    pub outer: Path,
    /// Closed holes inside it.
    pub holes: Vec<Path>,
    /// Allowed rotations in degrees; `None` = the options' `rotations`.
    pub rotations: Option<Vec<f64>>,
}

impl PartInput {
    /// The parts of a DXF (one per outer contour), each `quantity` times. Names are
    /// `name` for a one-part drawing, else `name#1`, `name#2`...
    pub fn from_dxf(
        name: &str,
        bytes: &[u8],
        quantity: u32,
        analysis: &AnalysisOptions,
    ) -> Result<Vec<PartInput>, CamError> {
        let drawing = wjp_geometry::load_drawing(bytes, analysis, &mut |_, _| {})?;
        let cs = drawing.contours();
        let find = |id: usize| cs.iter().find(|c| c.id == id);
        let parts = drawing.parts();
        if parts.is_empty() {
            return Err(CamError::BadPart {
                part: name.to_owned(),
                message: "the drawing has no closed outer contour to nest".into(),
            });
        }
        let mut out = Vec::new();
        for (k, p) in parts.iter().enumerate() {
            let Some(outer) = find(p.outer) else { continue };
            out.push(PartInput {
                name: if parts.len() == 1 {
                    name.to_owned()
                } else {
                    format!("{name}#{}", k + 1)
                },
                quantity,
                outer: outer.path.clone(),
                holes: p
                    .holes
                    .iter()
                    .filter_map(|h| find(*h))
                    .filter(|c| c.closed)
                    .map(|c| c.path.clone())
                    .collect(),
                rotations: None,
            });
        }
        Ok(out)
    }
}

/// A sheet size and how many of it are available.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SheetSpec {
    #[serde(alias = "width_mm")]
    pub width: f64,
    #[serde(alias = "height_mm")]
    pub height: f64,
    pub quantity: u32,
}

impl Default for SheetSpec {
    fn default() -> Self {
        SheetSpec {
            width: 3000.0,
            height: 1500.0,
            quantity: 1,
        }
    }
}

/// Options of [`nest`]; the old API's names (`sheet_width`, `sheet_height`, `gap`,
/// `kerf`, `material`, `thickness`) are the field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NestOptions {
    /// Sheet size (mm) when `sheets` is empty...
    #[serde(alias = "sheet_width_mm")]
    pub sheet_width: f64,
    #[serde(alias = "sheet_height_mm")]
    pub sheet_height: f64,
    /// ...and how many such sheets may be used.
    pub max_sheets: u32,
    /// Several sheet sizes, used in this order (overrides the three above).
    pub sheets: Vec<SheetSpec>,
    /// Least distance between part outlines, and from an outline to the sheet edge
    /// (mm). Includes the kerf; must be at least `kerf`.
    #[serde(alias = "gap_mm")]
    pub gap: f64,
    #[serde(alias = "kerf_mm")]
    pub kerf: f64,
    /// Allowed rotations in degrees (per part overridable).
    pub rotations: Vec<f64>,
    /// "Free" rotation: when set, every multiple of this many degrees (1..=180) is
    /// allowed, for every part, instead of `rotations`.
    pub rotation_step: Option<f64>,
    pub time_limit_s: f64,
    /// Upper bound on improvement passes (the first layout plus this many).
    pub max_iterations: u32,
    /// Arcs are flattened to chords within this (mm); the gap is kept exactly.
    pub curve_tolerance_mm: f64,
    /// Seed of the improvement passes (same seed, same input: same layout).
    pub seed: u64,
    /// Echoed for the G-code step; not used by nesting.
    pub material: String,
    pub thickness: f64,
    /// Write the per-sheet DXF and SVG.
    pub outputs: bool,
    /// Let small parts be placed inside the holes of larger ones (with the same gap
    /// to the hole's edge). Off by default: a part cut inside a hole drops with the
    /// slug unless the shop tabs or catches it.
    pub allow_parts_in_holes: bool,
}

impl Default for NestOptions {
    fn default() -> Self {
        NestOptions {
            sheet_width: 3000.0,
            sheet_height: 1500.0,
            max_sheets: 10,
            sheets: Vec::new(),
            gap: 3.0,
            kerf: 1.1,
            rotations: vec![0.0, 90.0, 180.0, 270.0],
            rotation_step: None,
            time_limit_s: 10.0,
            max_iterations: 200,
            curve_tolerance_mm: 0.05,
            seed: 1,
            material: "mild_steel".into(),
            thickness: 6.0,
            outputs: true,
            allow_parts_in_holes: false,
        }
    }
}

/// Where a part copy went. Its drawing coordinates `p` map to sheet coordinates
/// `R(rotation) p + (x, y)` (rotation counter-clockwise about the drawing origin).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    pub part: String,
    pub part_index: usize,
    /// 0-based copy number of this part.
    pub copy: u32,
    /// 0-based sheet number.
    pub sheet: usize,
    pub x: f64,
    pub y: f64,
    /// Degrees, counter-clockwise.
    pub rotation: f64,
}

/// A part copy that was not placed, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedObject {
    pub part: String,
    pub part_index: usize,
    pub copy: u32,
    pub reason: String,
}

/// One used sheet.
#[derive(Debug, Clone, Serialize)]
pub struct SheetResult {
    pub sheet: usize,
    pub width: f64,
    pub height: f64,
    pub parts: usize,
    /// Net area of the parts on it (outer minus holes), mm².
    pub parts_area_mm2: f64,
    /// Percent of the sheet area.
    pub utilization: f64,
    /// The parts' outlines and holes, placed (R12 ASCII DXF, millimetres).
    pub dxf: String,
    pub svg: String,
}

/// The outcome of [`nest`]. Field names of the old API where they exist.
#[derive(Debug, Clone, Serialize)]
pub struct NestResult {
    pub positioned_objects: Vec<Placement>,
    pub sheets_required: usize,
    /// Parts' net area over the used sheets' area, percent.
    pub final_utilization: f64,
    /// 100 - final_utilization.
    pub waste_percentage: f64,
    pub waste_area_mm2: f64,
    pub failed_objects: Vec<FailedObject>,
    pub sheets: Vec<SheetResult>,
    /// All sheets side by side.
    pub svg: String,
    pub iterations: u32,
    pub elapsed_s: f64,
    /// `completed` (no better layout possible: all placed on one sheet),
    /// `max_iterations`, `time_limit` or `stopped`.
    pub stopped_by: String,
    pub warnings: Vec<Warning>,
}

/// Probes per rotation, about, for parts much smaller than the sheet.
const MAX_PROBES: f64 = 2000.0;
/// Lowest grid rows with a free point whose slides are compared.
const CANDIDATE_ROWS: usize = 3;
/// Bounds.
pub const MAX_COPIES: usize = 5000;
pub const MAX_SHEETS: usize = 1000;
const MAX_OUTLINE_POINTS: usize = 20_000;

/// A placed part: its index, outer contour and holes in sheet coordinates.
type PlacedShape = (usize, Path, Vec<Path>);

struct PartDef {
    name: String,
    outer: Path,
    holes: Vec<Path>,
    net_area: f64,
    rotations: Vec<f64>,
    item: Option<Arc<Item>>,
    /// Why it cannot be nested at all.
    unusable: Option<String>,
    bbox: [f64; 4],
    /// A warning about how it is nested.
    note: Option<String>,
}

#[derive(Clone, Copy)]
struct Copy {
    part: usize,
    copy: u32,
}

#[derive(Clone)]
struct Placed {
    copy: Copy,
    sheet: usize,
    rot_deg: f64,
    int: DTransformation,
}

#[derive(Clone)]
struct PassResult {
    placed: Vec<Placed>,
    failed: Vec<(Copy, String)>,
    sheets_used: usize,
    last_top: f64,
}

impl PassResult {
    fn key(&self) -> (usize, usize, f64) {
        (self.failed.len(), self.sheets_used, self.last_top)
    }
    fn better_than(&self, o: &PassResult) -> bool {
        let (a, b) = (self.key(), o.key());
        (a.0, a.1) < (b.0, b.1) || ((a.0, a.1) == (b.0, b.1) && a.2 < b.2 - 1e-6)
    }
}

/// Nest the parts on the sheets. A panic inside the collision engine (none is
/// known) becomes a `geometry_engine_failed` error rather than unwinding into the
/// worker.
pub fn nest(
    parts: &[PartInput],
    options: &NestOptions,
    progress: &mut dyn FnMut(f64, &str),
    should_stop: &dyn Fn() -> bool,
) -> Result<NestResult, CamError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        nest_inner(parts, options, progress, should_stop)
    }))
    .unwrap_or_else(|_| {
        Err(CamError::Engine {
            what: "nesting".into(),
            message: "the collision engine panicked on this input".into(),
        })
    })
}

fn nest_inner(
    parts: &[PartInput],
    options: &NestOptions,
    progress: &mut dyn FnMut(f64, &str),
    should_stop: &dyn Fn() -> bool,
) -> Result<NestResult, CamError> {
    let started = Instant::now();
    let sheets = validate(parts, options)?;
    let mut warnings = Vec::new();
    progress(0.0, "preparing parts");
    let sep = options.gap + 2.0 * options.curve_tolerance_mm;
    let cde = CDEConfig {
        quadtree_depth: 5,
        cd_threshold: 16,
        // No fail-fast surrogates: measured here, generating their poles for detailed
        // outlines (traced designs) cost more than they saved.
        item_surrogate_config: SPSurrogateConfig::none(),
    };
    let importer = Importer::new(cde, None, None)
        .with_min_item_separation(sep as f32)
        .map_err(|e| CamError::Engine {
            what: "separation".into(),
            message: e.to_string(),
        })?;
    let defs: Vec<PartDef> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| part_def(i, p, options, &importer))
        .collect();
    for d in &defs {
        if let Some(n) = &d.note {
            warnings.push(Warning::new("nested_by_hull", 1, n.clone()));
        }
    }
    let mut copies = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        for c in 0..p.quantity {
            copies.push(Copy { part: i, copy: c });
        }
    }
    // Sheet instances in order.
    let mut sheet_sizes: Vec<(f64, f64)> = Vec::new();
    for s in &sheets {
        for _ in 0..s.quantity {
            if sheet_sizes.len() < MAX_SHEETS {
                sheet_sizes.push((s.width, s.height));
            }
        }
    }
    let mut containers = Vec::new();
    for &(w, h) in &sheet_sizes {
        let c = importer
            .import_container(&ExtContainer {
                id: 0,
                shape: ExtShape::Rectangle {
                    x_min: 0.0,
                    y_min: 0.0,
                    width: w as f32,
                    height: h as f32,
                },
                zones: vec![],
            })
            .map_err(|e| CamError::Engine {
                what: format!("sheet {w} x {h}"),
                message: e.to_string(),
            })?;
        containers.push(c);
    }

    // Pass 0: largest first.
    let mut order: Vec<usize> = (0..copies.len()).collect();
    order.sort_by(|&a, &b| {
        defs[copies[b].part]
            .net_area
            .total_cmp(&defs[copies[a].part].net_area)
            .then(a.cmp(&b))
    });
    let deadline = options.time_limit_s;
    let out_of_time = |t: &Instant| t.elapsed().as_secs_f64() >= deadline;
    let ctx = PassCtx {
        defs: &defs,
        copies: &copies,
        sheet_sizes: &sheet_sizes,
        containers: &containers,
        gap: options.gap,
        margin: sep / 2.0,
        parts_in_holes: options.allow_parts_in_holes,
        importer: &importer,
        tolerance: options.curve_tolerance_mm,
        smallest_part_area: defs
            .iter()
            .filter(|d| d.item.is_some())
            .map(|d| d.net_area)
            .fold(f64::INFINITY, f64::min),
    };
    let mut best = {
        let mut report = |k: usize, n: usize| {
            progress(
                0.05 + 0.45 * k as f64 / n.max(1) as f64,
                &format!("first layout: {k}/{n} parts"),
            )
        };
        // The first layout ignores the time limit (there must be one) but not a stop.
        run_pass(&ctx, &order, &mut report, should_stop, true).ok_or_else(|| CamError::Engine {
            what: "first pass".into(),
            message: "no layout".into(),
        })?
    };
    let mut best_order = order.clone();
    let mut iterations = 1u32;
    let mut rng = options.seed.max(1);
    let mut stopped_by = "max_iterations";
    let trivially_best =
        |r: &PassResult| r.failed.is_empty() && r.sheets_used <= 1 && r.placed.len() <= 1;
    if trivially_best(&best) || copies.len() < 2 {
        stopped_by = "completed";
    } else {
        while iterations <= options.max_iterations {
            if should_stop() {
                stopped_by = "stopped";
                break;
            }
            if out_of_time(&started) {
                stopped_by = "time_limit";
                break;
            }
            let mut cand = best_order.clone();
            let swaps = 1 + (next(&mut rng) % 3) as usize;
            for _ in 0..swaps {
                let a = (next(&mut rng) % cand.len() as u64) as usize;
                let b = (next(&mut rng) % cand.len() as u64) as usize;
                cand.swap(a, b);
            }
            let stop = || should_stop() || out_of_time(&started);
            let r = run_pass(&ctx, &cand, &mut |_, _| {}, &stop, false);
            iterations += 1;
            let Some(r) = r else {
                stopped_by = if should_stop() {
                    "stopped"
                } else {
                    "time_limit"
                };
                break;
            };
            if r.better_than(&best) {
                best = r;
                best_order = cand;
            }
            let frac = if deadline > 0.0 {
                (started.elapsed().as_secs_f64() / deadline).min(1.0)
            } else {
                1.0
            };
            progress(
                0.5 + 0.45 * frac.max(iterations as f64 / (options.max_iterations as f64 + 1.0)),
                &format!("improving: pass {iterations}"),
            );
        }
    }
    progress(0.95, "writing sheets");
    if options.gap < options.kerf * 2.0 {
        warnings.push(Warning::new(
            "narrow_gap",
            1,
            format!(
                "gap {} mm leaves {} mm of web between neighbouring cuts (kerf {} mm)",
                options.gap,
                options.gap - options.kerf,
                options.kerf
            ),
        ));
    }
    let result = build_result(
        &defs,
        &best,
        &sheet_sizes,
        iterations,
        started,
        stopped_by,
        warnings,
        options.outputs,
    );
    progress(1.0, "done");
    Ok(result)
}

fn validate(parts: &[PartInput], o: &NestOptions) -> Result<Vec<SheetSpec>, CamError> {
    let pos = |name: &str, v: f64, max: f64| -> Result<(), CamError> {
        if v.is_finite() && v > 0.0 && v <= max {
            Ok(())
        } else {
            Err(CamError::option(name, format!("{v} is not in (0, {max}]")))
        }
    };
    if !(o.kerf.is_finite() && o.kerf > 0.0 && o.kerf < 20.0) {
        return Err(CamError::option(
            "kerf",
            format!("{} is not in (0, 20) mm", o.kerf),
        ));
    }
    if !(o.gap.is_finite() && o.gap >= o.kerf && o.gap <= 500.0) {
        return Err(CamError::option(
            "gap",
            format!(
                "{} mm must be at least the kerf ({} mm, or two cuts overlap) and at most 500 mm",
                o.gap, o.kerf
            ),
        ));
    }
    if !(o.curve_tolerance_mm.is_finite()
        && o.curve_tolerance_mm >= 0.001
        && o.curve_tolerance_mm <= 5.0)
    {
        return Err(CamError::option(
            "curve_tolerance_mm",
            format!("{} is not in [0.001, 5] mm", o.curve_tolerance_mm),
        ));
    }
    if !(o.time_limit_s.is_finite() && o.time_limit_s >= 0.0 && o.time_limit_s <= 86_400.0) {
        return Err(CamError::option(
            "time_limit_s",
            format!("{} is not in [0, 86400] s", o.time_limit_s),
        ));
    }
    check_rotations("rotations", &o.rotations)?;
    if let Some(step) = o.rotation_step {
        if !(step.is_finite() && (1.0..=180.0).contains(&step)) {
            return Err(CamError::option(
                "rotation_step",
                format!("{step} is not in [1, 180] degrees"),
            ));
        }
    }
    let sheets = if o.sheets.is_empty() {
        vec![SheetSpec {
            width: o.sheet_width,
            height: o.sheet_height,
            quantity: o.max_sheets,
        }]
    } else {
        o.sheets.clone()
    };
    let mut n = 0usize;
    for s in &sheets {
        pos("sheet_width", s.width, 100_000.0)?;
        pos("sheet_height", s.height, 100_000.0)?;
        n += s.quantity as usize;
    }
    if n == 0 {
        return Err(CamError::option(
            "max_sheets",
            "no sheet is available (quantity 0)",
        ));
    }
    if parts.is_empty() {
        return Err(CamError::Empty {
            what: "nest",
            message: "no parts were given".into(),
        });
    }
    let total: usize = parts.iter().map(|p| p.quantity as usize).sum();
    if total == 0 {
        return Err(CamError::Empty {
            what: "nest",
            message: "every part has quantity 0".into(),
        });
    }
    if total > MAX_COPIES {
        return Err(CamError::TooLarge {
            message: format!("{total} part copies (limit {MAX_COPIES})"),
        });
    }
    for p in parts {
        if let Some(r) = &p.rotations {
            check_rotations(&format!("{}.rotations", p.name), r)?;
        }
    }
    Ok(sheets)
}

fn check_rotations(name: &str, r: &[f64]) -> Result<(), CamError> {
    if r.is_empty() || r.len() > 360 || r.iter().any(|a| !a.is_finite()) {
        return Err(CamError::option(
            name,
            "give 1 to 360 finite angles in degrees",
        ));
    }
    Ok(())
}

fn part_def(i: usize, p: &PartInput, o: &NestOptions, importer: &Importer) -> PartDef {
    let mut def = PartDef {
        name: p.name.clone(),
        outer: p.outer.clone(),
        holes: p.holes.clone(),
        net_area: 0.0,
        rotations: match o.rotation_step {
            Some(step) => (0..(360.0 / step).floor() as usize)
                .map(|k| k as f64 * step)
                .collect(),
            None => p.rotations.clone().unwrap_or_else(|| o.rotations.clone()),
        },
        item: None,
        unusable: None,
        bbox: [0.0; 4],
        note: None,
    };
    let bad = |def: &mut PartDef, m: String| def.unusable = Some(m);
    if !p.outer.closed || p.outer.vertices.len() < 2 {
        bad(&mut def, "its outer contour is not closed".into());
        return def;
    }
    let area = p.outer.signed_area().abs();
    def.net_area = area - p.holes.iter().map(|h| h.signed_area().abs()).sum::<f64>();
    let bb = p.outer.bbox();
    def.bbox = [bb.min_x, bb.min_y, bb.max_x, bb.max_y];
    if area.is_nan() || area <= 1e-6 || !def.net_area.is_finite() {
        bad(&mut def, "its outer contour has no area".into());
        return def;
    }
    let mut pts = dedupe(p.outer.flatten(o.curve_tolerance_mm), 1e-3);
    if pts.len() > MAX_OUTLINE_POINTS {
        bad(
            &mut def,
            format!(
                "its outline has {} points after flattening (limit {MAX_OUTLINE_POINTS})",
                pts.len()
            ),
        );
        return def;
    }
    if pts.len() < 3 {
        bad(
            &mut def,
            "its outline has fewer than 3 distinct points".into(),
        );
        return def;
    }
    if !is_simple(&pts) {
        // Self-touching or self-crossing outline: nest its convex hull, which
        // contains it, so the gap still holds (some material is wasted).
        pts = convex_hull(&pts);
        def.note = Some(format!(
            "part \"{}\": its outline touches or crosses itself; it is nested by its convex hull",
            p.name
        ));
    }
    let ext = ExtItem {
        id: i as u64,
        shape: ExtShape::SimplePolygon(ExtSPolygon(
            pts.iter().map(|q| (q.x as f32, q.y as f32)).collect(),
        )),
        orientation: ExtOrientation {
            rotation: ExtRotation::Discrete { angles: vec![0.0] },
            reflection_axes: vec![],
        },
        min_quality: None,
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        importer.import_item(&ext, i)
    })) {
        Ok(Ok(item)) => def.item = Some(item),
        Ok(Err(e)) => bad(
            &mut def,
            format!("its outline is not a simple polygon ({e})"),
        ),
        Err(_) => bad(
            &mut def,
            "the nesting engine could not read its outline".into(),
        ),
    }
    def
}

/// A hole of a placed part, used as a container of its own.
struct HoleSpace {
    sheet: usize,
    layout: Layout,
    region: [f64; 4],
    free_area: f64,
}

/// The sheet as a region `[x0, y0, x1, y1]`.
fn sheet_region((w, h): (f64, f64)) -> [f64; 4] {
    [0.0, 0.0, w, h]
}

/// Upper bound on hole containers per pass.
const MAX_HOLE_SPACES: usize = 500;

/// Register the holes of a part just placed (rotation `rot` degrees, jagua-rs
/// transformation `t`) as containers, if parts may go in holes.
fn add_holes(
    ctx: &PassCtx,
    holes: &mut Vec<HoleSpace>,
    part: usize,
    sheet: usize,
    rot: f64,
    t: DTransformation,
) {
    if !ctx.parts_in_holes || holes.len() >= MAX_HOLE_SPACES {
        return;
    }
    let def = &ctx.defs[part];
    let Some(item) = &def.item else { return };
    let ext = int_to_ext_transformation(&t, &item.shape_orig().pre_transform);
    let (x, y) = ext.translation();
    for h in &def.holes {
        // Chords lie inside a hole's arcs: the flattened hole is never larger.
        let placed = place_path(h, rot, f64::from(x), f64::from(y));
        let pts = dedupe(placed.flatten(ctx.tolerance), 1e-3);
        let area = placed.signed_area().abs();
        if area < ctx.smallest_part_area || pts.len() < 3 || !is_simple(&pts) {
            continue;
        }
        let container = ctx.importer.import_container(&ExtContainer {
            id: 0,
            shape: ExtShape::SimplePolygon(ExtSPolygon(
                pts.iter().map(|q| (q.x as f32, q.y as f32)).collect(),
            )),
            zones: vec![],
        });
        let Ok(container) = container else { continue };
        let bb = placed.bbox();
        holes.push(HoleSpace {
            sheet,
            layout: Layout::new(container),
            region: [bb.min_x, bb.min_y, bb.max_x, bb.max_y],
            free_area: area,
        });
        if holes.len() >= MAX_HOLE_SPACES {
            return;
        }
    }
}

struct PassCtx<'a> {
    defs: &'a [PartDef],
    copies: &'a [Copy],
    sheet_sizes: &'a [(f64, f64)],
    containers: &'a [jagua_rs::entities::Container],
    gap: f64,
    /// How far jagua-rs deflates the sheet (half the separation).
    margin: f64,
    parts_in_holes: bool,
    importer: &'a Importer,
    tolerance: f64,
    smallest_part_area: f64,
}

fn next(s: &mut u64) -> u64 {
    // xorshift64*
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// One greedy pass; `None` if stopped before the end.
///
/// With `keep_on_stop` (the first pass) a stop does not discard the pass: the copies
/// not yet tried are reported as failed ("stopped before ...") and the layout so far
/// is kept.
fn run_pass(
    ctx: &PassCtx,
    order: &[usize],
    report: &mut dyn FnMut(usize, usize),
    stop: &dyn Fn() -> bool,
    keep_on_stop: bool,
) -> Option<PassResult> {
    let n_sheets = ctx.sheet_sizes.len();
    let mut layouts: Vec<Option<Layout>> = (0..n_sheets).map(|_| None).collect();
    let mut tops: Vec<f64> = vec![0.0; n_sheets];
    let mut placed = Vec::new();
    let mut failed = Vec::new();
    // Parts known not to fit an empty sheet of index k.
    let mut no_fit_empty: Vec<Vec<bool>> = vec![vec![false; n_sheets]; ctx.defs.len()];
    // Holes of placed parts, usable as small sheets when the options allow it.
    let mut holes: Vec<HoleSpace> = Vec::new();
    for (k, &ci) in order.iter().enumerate() {
        if k % 4 == 0 {
            report(k, order.len());
            if stop() {
                if !keep_on_stop {
                    return None;
                }
                for &rest in &order[k..] {
                    failed.push((
                        ctx.copies[rest],
                        "not tried: the nesting was stopped before this part".to_string(),
                    ));
                }
                break;
            }
        }
        let copy = ctx.copies[ci];
        let def = &ctx.defs[copy.part];
        let Some(item) = &def.item else {
            failed.push((
                copy,
                def.unusable
                    .clone()
                    .unwrap_or_else(|| "unusable outline".into()),
            ));
            continue;
        };
        let mut done = false;
        // Holes of placed parts first (when allowed), then open sheets, in order.
        for hole in holes.iter_mut() {
            if f64::from(item.area()) > hole.free_area {
                continue;
            }
            if let Some((rot, t, _)) =
                find_position(&hole.layout, item, &def.rotations, hole.region, ctx.margin)
            {
                hole.layout.place_item(item, t);
                hole.free_area -= f64::from(item.area());
                placed.push(Placed {
                    copy,
                    sheet: hole.sheet,
                    rot_deg: rot,
                    int: t,
                });
                done = true;
                break;
            }
        }
        if done {
            continue;
        }
        for (s, slot) in layouts.iter_mut().enumerate() {
            let Some(layout) = slot else { continue };
            if let Some((rot, t, top)) = find_position(
                layout,
                item,
                &def.rotations,
                sheet_region(ctx.sheet_sizes[s]),
                ctx.margin,
            ) {
                layout.place_item(item, t);
                tops[s] = tops[s].max(top);
                placed.push(Placed {
                    copy,
                    sheet: s,
                    rot_deg: rot,
                    int: t,
                });
                add_holes(ctx, &mut holes, copy.part, s, rot, t);
                done = true;
                break;
            }
        }
        if done {
            continue;
        }
        // Then the first unused sheet that takes it.
        let mut reason = None;
        for s in 0..n_sheets {
            if layouts[s].is_some() {
                continue;
            }
            if no_fit_empty[copy.part][s] {
                reason = Some(too_big(def, ctx, s));
                continue;
            }
            let mut layout = Layout::new(ctx.containers[s].clone());
            if let Some((rot, t, top)) = find_position(
                &layout,
                item,
                &def.rotations,
                sheet_region(ctx.sheet_sizes[s]),
                ctx.margin,
            ) {
                layout.place_item(item, t);
                layouts[s] = Some(layout);
                tops[s] = top;
                placed.push(Placed {
                    copy,
                    sheet: s,
                    rot_deg: rot,
                    int: t,
                });
                add_holes(ctx, &mut holes, copy.part, s, rot, t);
                done = true;
                break;
            }
            // Does not fit an empty sheet of this size: remember it for every such sheet.
            for (j, size) in ctx.sheet_sizes.iter().enumerate() {
                if *size == ctx.sheet_sizes[s] {
                    no_fit_empty[copy.part][j] = true;
                }
            }
            reason = Some(too_big(def, ctx, s));
        }
        if !done {
            failed.push((
                copy,
                reason.unwrap_or_else(|| {
                    format!("no room left on the {n_sheets} available sheet(s)")
                }),
            ));
        }
    }
    report(order.len(), order.len());
    let used: Vec<usize> = (0..n_sheets).filter(|&s| layouts[s].is_some()).collect();
    let last_top = used.last().map(|&s| tops[s]).unwrap_or(0.0);
    Some(PassResult {
        placed,
        failed,
        sheets_used: used.len(),
        last_top,
    })
}

fn too_big(def: &PartDef, ctx: &PassCtx, s: usize) -> String {
    let (w, h) = ctx.sheet_sizes[s];
    format!(
        "does not fit on an empty {} x {} mm sheet with a {} mm gap to the edge in any allowed rotation ({}); part is {:.1} x {:.1} mm",
        w,
        h,
        ctx.gap,
        def.rotations
            .iter()
            .map(|r| format!("{r}"))
            .collect::<Vec<_>>()
            .join(", "),
        def.bbox[2] - def.bbox[0],
        def.bbox[3] - def.bbox[1]
    )
}

/// Is the item, rotated by `rad` about its centre and moved by (x, y), free of
/// collisions (other parts, sheet edge)?
fn free(layout: &Layout, item: &Item, rad: f32, x: f64, y: f64) -> bool {
    let t = DTransformation::new(rad, (x as f32, y as f32)).compose();
    let moved: SPolygon = item.shape_cd().as_ref().transform_clone(&t);
    !layout.cde().detect_poly_collision(&moved, &NoFilter)
}

/// Bottom-left position over the allowed rotations: (rotation degrees, internal
/// transformation, top of the placed shape).
fn find_position(
    layout: &Layout,
    item: &Arc<Item>,
    rotations: &[f64],
    [rx0, ry0, rx1, ry1]: [f64; 4],
    margin: f64,
) -> Option<(f64, DTransformation, f64)> {
    let (w, h) = (rx1 - rx0, ry1 - ry0);
    // Cheap necessary condition: the areas must add up (saves the probing on full sheets).
    if f64::from(layout.placed_item_area()) + f64::from(item.area())
        > f64::from(layout.container().area()) * 1.000_001
    {
        return None;
    }
    let mut best: Option<(f64, f64, DTransformation, f64)> = None; // score, rot, t, top
    for &rot in rotations {
        let rad = (rot.to_radians()) as f32;
        let rotated = item
            .shape_cd()
            .transform_clone(&DTransformation::new(rad, (0.0, 0.0)).compose());
        let bb = rotated.bbox();
        let (bx0, by0, bx1, by1) = (
            bb.x_min as f64,
            bb.y_min as f64,
            bb.x_max as f64,
            bb.y_max as f64,
        );
        // Translations keeping the (inflated) shape's box inside the (deflated) sheet.
        let m = margin + 1e-3;
        let (tx0, tx1) = (rx0 + m - bx0, rx1 - m - bx1);
        let (ty0, ty1) = (ry0 + m - by0, ry1 - m - by1);
        if tx1 < tx0 - 1e-6 || ty1 < ty0 - 1e-6 {
            continue;
        }
        let (iw, ih) = (bx1 - bx0, by1 - by0);
        // Probe steps: a quarter of the part, but no more than about MAX_PROBES
        // probes per rotation (small parts on big sheets rely on the slides).
        let coarse = (w * h / MAX_PROBES).sqrt();
        let nx =
            (((tx1 - tx0) / (iw / 4.0).max(w / 60.0).max(coarse)).ceil() as usize).clamp(1, 60);
        let ny =
            (((ty1 - ty0) / (ih / 4.0).max(h / 200.0).max(coarse)).ceil() as usize).clamp(1, 200);
        // The first free grid point of each of the lowest CANDIDATE_ROWS rows that have one.
        let mut starts = Vec::new();
        for j in 0..=ny {
            let y = ty0 + (ty1 - ty0).max(0.0) * j as f64 / ny as f64;
            for i in 0..=nx {
                let x = tx0 + (tx1 - tx0).max(0.0) * i as f64 / nx as f64;
                if free(layout, item, rad, x, y) {
                    starts.push((x, y));
                    break;
                }
            }
            if starts.len() >= CANDIDATE_ROWS {
                break;
            }
        }
        let step0 = ((tx1 - tx0) / nx as f64).max((ty1 - ty0) / ny as f64);
        let min_step = (iw.max(ih) * 5e-4).max(1e-4);
        for (mut x, mut y) in starts {
            // Slide down, then left, with halving steps; a few rounds.
            for _ in 0..4 {
                let mut moved = false;
                let mut step = step0;
                while step > min_step {
                    if y - step >= ty0 - 1e-9 && free(layout, item, rad, x, y - step) {
                        y -= step;
                        moved = true;
                    } else {
                        step /= 2.0;
                    }
                }
                let mut step = step0;
                while step > min_step {
                    if x - step >= tx0 - 1e-9 && free(layout, item, rad, x - step, y) {
                        x -= step;
                        moved = true;
                    } else {
                        step /= 2.0;
                    }
                }
                if !moved {
                    break;
                }
            }
            let top = y + by1;
            let score = top * (w + 1.0) + (x + bx1);
            if best.as_ref().is_none_or(|b| score < b.0 - 1e-9) {
                best = Some((
                    score,
                    rot,
                    DTransformation::new(rad, (x as f32, y as f32)),
                    top,
                ));
            }
        }
    }
    best.map(|(_, rot, t, top)| (rot, t, top))
}

/// Rotate then translate a bulge path (bulges are unchanged by a rotation).
pub fn place_path(path: &Path, rotation_deg: f64, x: f64, y: f64) -> Path {
    let (s, c) = rotation_deg.to_radians().sin_cos();
    Path {
        vertices: path
            .vertices
            .iter()
            .map(|v| Vertex::new(c * v.x - s * v.y + x, s * v.x + c * v.y + y, v.bulge))
            .collect(),
        closed: path.closed,
    }
}

#[allow(clippy::too_many_arguments)]
fn build_result(
    defs: &[PartDef],
    best: &PassResult,
    sheet_sizes: &[(f64, f64)],
    iterations: u32,
    started: Instant,
    stopped_by: &str,
    warnings: Vec<Warning>,
    outputs: bool,
) -> NestResult {
    let mut positioned = Vec::new();
    let mut per_sheet: Vec<Vec<PlacedShape>> = vec![Vec::new(); sheet_sizes.len()];
    for p in &best.placed {
        let def = &defs[p.copy.part];
        let Some(item) = &def.item else { continue };
        let ext = int_to_ext_transformation(&p.int, &item.shape_orig().pre_transform);
        let (tx, ty) = ext.translation();
        let (x, y) = (tx as f64, ty as f64);
        // The angle as asked (jagua-rs works in f32 radians; the f32 error of the
        // angle is far below the flattening allowance in the separation).
        let rot = p.rot_deg.rem_euclid(360.0);
        positioned.push(Placement {
            part: def.name.clone(),
            part_index: p.copy.part,
            copy: p.copy.copy,
            sheet: p.sheet,
            x,
            y,
            rotation: rot,
        });
        if p.sheet < per_sheet.len() {
            per_sheet[p.sheet].push((
                p.copy.part,
                place_path(&def.outer, rot, x, y),
                def.holes.iter().map(|h| place_path(h, rot, x, y)).collect(),
            ));
        }
    }
    positioned.sort_by_key(|p| (p.sheet, p.part_index, p.copy));
    let mut sheets = Vec::new();
    let mut used_area = 0.0;
    let mut parts_area = 0.0;
    let per_sheet: Vec<(usize, Vec<PlacedShape>)> = per_sheet
        .into_iter()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .collect();
    for (s, list) in &per_sheet {
        let s = *s;
        let (w, h) = sheet_sizes[s];
        let area: f64 = list.iter().map(|(pi, _, _)| defs[*pi].net_area).sum();
        used_area += w * h;
        parts_area += area;
        sheets.push(SheetResult {
            sheet: s,
            width: w,
            height: h,
            parts: list.len(),
            parts_area_mm2: area,
            utilization: 100.0 * area / (w * h),
            dxf: if outputs {
                sheet_dxf(list)
            } else {
                String::new()
            },
            svg: if outputs {
                sheet_svg(w, h, list)
            } else {
                String::new()
            },
        });
    }
    let final_utilization = if used_area > 0.0 {
        100.0 * parts_area / used_area
    } else {
        0.0
    };
    let svg = if outputs {
        all_sheets_svg(&per_sheet, sheet_sizes)
    } else {
        String::new()
    };
    NestResult {
        positioned_objects: positioned,
        sheets_required: best.sheets_used,
        final_utilization,
        waste_percentage: if used_area > 0.0 {
            100.0 - final_utilization
        } else {
            0.0
        },
        waste_area_mm2: used_area - parts_area,
        failed_objects: best
            .failed
            .iter()
            .map(|(c, r)| FailedObject {
                part: defs[c.part].name.clone(),
                part_index: c.part,
                copy: c.copy,
                reason: r.clone(),
            })
            .collect(),
        sheets,
        svg,
        iterations,
        elapsed_s: started.elapsed().as_secs_f64(),
        stopped_by: stopped_by.to_owned(),
        warnings,
    }
}

fn sheet_dxf(list: &[PlacedShape]) -> String {
    let mut s = String::from(
        "0\nSECTION\n2\nHEADER\n9\n$ACADVER\n1\nAC1009\n9\n$INSUNITS\n70\n4\n0\nENDSEC\n0\nSECTION\n2\nENTITIES\n",
    );
    let poly = |s: &mut String, p: &Path, layer: &str| {
        s.push_str(&format!(
            "0\nPOLYLINE\n8\n{layer}\n66\n1\n10\n0\n20\n0\n30\n0\n70\n1\n"
        ));
        for v in &p.vertices {
            s.push_str(&format!(
                "0\nVERTEX\n8\n{layer}\n10\n{}\n20\n{}\n30\n0\n",
                v.x, v.y
            ));
            if v.bulge != 0.0 {
                s.push_str(&format!("42\n{}\n", v.bulge));
            }
        }
        s.push_str(&format!("0\nSEQEND\n8\n{layer}\n"));
    };
    for (_, outer, holes) in list {
        poly(&mut s, outer, "OUTER");
        for h in holes {
            poly(&mut s, h, "HOLE");
        }
    }
    s.push_str("0\nENDSEC\n0\nEOF\n");
    s
}

fn sheet_svg(w: f64, h: f64, list: &[PlacedShape]) -> String {
    svg_document(-5.0, w + 10.0, h + 10.0, &sheet_group(w, h, list, 0.0))
}

/// An SVG document in millimetres whose view starts at (`origin`, `origin`).
fn svg_document(origin: f64, width: f64, height: f64, body: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"{origin} {origin} {width} {height}\" \
         width=\"{width}mm\" height=\"{height}mm\">\n{body}</svg>\n"
    )
}

fn sheet_group(w: f64, h: f64, list: &[PlacedShape], x0: f64) -> String {
    let sw = (w.max(h) / 800.0).max(0.1);
    let mut s = format!(
        r#"<g transform="translate({x0} 0)"><rect x="0" y="0" width="{w}" height="{h}" fill="whitesmoke" stroke="black" stroke-width="{sw}"/>"#
    );
    s.push('\n');
    for (pi, outer, holes) in list {
        let mut d = wjp_geometry::svg::PathData::new(wjp_geometry::svg::SvgFrame {
            left: 0.0,
            top: h,
            decimals: 3,
        });
        d.path(outer);
        for hole in holes {
            d.path(hole);
        }
        let d = d.into_string();
        let hue = (pi * 67) % 360;
        s.push_str(&format!(
            r#"<path d="{d}" fill="hsl({hue},60%,70%)" fill-rule="evenodd" stroke="black" stroke-width="{sw}"/>"#
        ));
        s.push('\n');
    }
    s.push_str("</g>\n");
    s
}

fn all_sheets_svg(per_sheet: &[(usize, Vec<PlacedShape>)], sizes: &[(f64, f64)]) -> String {
    let total_w: f64 = per_sheet
        .iter()
        .map(|(i, _)| sizes[*i].0 + 20.0)
        .sum::<f64>()
        .max(1.0);
    let max_h = per_sheet
        .iter()
        .map(|(i, _)| sizes[*i].1)
        .fold(1.0, f64::max);
    let mut body = String::new();
    let mut x0 = 0.0;
    for (i, list) in per_sheet {
        body.push_str(&sheet_group(sizes[*i].0, sizes[*i].1, list, x0));
        x0 += sizes[*i].0 + 20.0;
    }
    svg_document(-10.0, total_w + 10.0, max_h + 20.0, &body)
}

/// Drop points closer than `eps` to the previous kept one (and a closing duplicate).
fn dedupe(pts: Vec<Point>, eps: f64) -> Vec<Point> {
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

fn orient(a: Point, b: Point, c: Point) -> f64 {
    (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
}

fn on_segment(a: Point, b: Point, p: Point) -> bool {
    p.x >= a.x.min(b.x) && p.x <= a.x.max(b.x) && p.y >= a.y.min(b.y) && p.y <= a.y.max(b.y)
}

/// Do segments ab and cd touch or cross?
fn segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool {
    let (o1, o2, o3, o4) = (
        orient(a, b, c),
        orient(a, b, d),
        orient(c, d, a),
        orient(c, d, b),
    );
    if ((o1 > 0.0 && o2 < 0.0) || (o1 < 0.0 && o2 > 0.0))
        && ((o3 > 0.0 && o4 < 0.0) || (o3 < 0.0 && o4 > 0.0))
    {
        return true;
    }
    (o1 == 0.0 && on_segment(a, b, c))
        || (o2 == 0.0 && on_segment(a, b, d))
        || (o3 == 0.0 && on_segment(c, d, a))
        || (o4 == 0.0 && on_segment(c, d, b))
}

/// Is the closed polygon simple (no two non-adjacent edges meet)? Edges are
/// bucketed in a grid, so the work stays near-linear for ordinary outlines.
pub fn is_simple(pts: &[Point]) -> bool {
    let n = pts.len();
    if n < 3 {
        return false;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    );
    for p in pts {
        x0 = x0.min(p.x);
        y0 = y0.min(p.y);
        x1 = x1.max(p.x);
        y1 = y1.max(p.y);
    }
    let g = ((n as f64).sqrt().ceil() as usize).clamp(1, 256);
    let cw = ((x1 - x0) / g as f64).max(1e-12);
    let ch = ((y1 - y0) / g as f64).max(1e-12);
    let cell = |v: f64, lo: f64, c: f64| (((v - lo) / c).floor().max(0.0) as usize).min(g - 1);
    let mut grid: Vec<Vec<usize>> = vec![Vec::new(); g * g];
    let mut budget: u64 = 50_000_000;
    for i in 0..n {
        let (a, b) = (pts[i], pts[(i + 1) % n]);
        let (cx0, cx1) = (cell(a.x.min(b.x), x0, cw), cell(a.x.max(b.x), x0, cw));
        let (cy0, cy1) = (cell(a.y.min(b.y), y0, ch), cell(a.y.max(b.y), y0, ch));
        for gy in cy0..=cy1 {
            for gx in cx0..=cx1 {
                let bucket = &mut grid[gy * g + gx];
                for &j in bucket.iter() {
                    budget = budget.saturating_sub(1);
                    if budget == 0 {
                        return false; // too costly to prove: treat as not simple
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
        let iter: Box<dyn Iterator<Item = &Point>> = if pass == 0 {
            Box::new(p.iter())
        } else {
            Box::new(p.iter().rev())
        };
        for &q in iter {
            while h.len() >= start + 2 && orient(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
                h.pop();
            }
            h.push(q);
        }
        h.pop();
    }
    h
}

/// Points of a placed outline (for checks and pictures).
pub fn outline_points(path: &Path, tol: f64) -> Vec<Point> {
    path.flatten(tol)
}
