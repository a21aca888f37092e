//! `nest`: true-shape nesting of parts on sheets, on the `jagua-rs` collision
//! engine.
//!
//! How it works:
//! - Each part is nested by its **outer contour**, flattened (chords within
//!   `curve_tolerance_mm`), as a simple polygon; its holes are carried along and
//!   written back in the output. jagua-rs inflates every part by half the
//!   separation and deflates the sheet by the same, so outlines end up at least
//!   `gap` apart and at least `gap` from the sheet edge. When an outline has
//!   arcs, the separation given to jagua-rs is `gap + 2 * curve_tolerance_mm`
//!   and flattened outlines keep one tolerance more from the sheet's edge, so
//!   flattening can never eat into the gap; outlines of straight lines keep
//!   exactly the gap (to within [`FIT_SLACK_MM`], 2 micrometres, or half the
//!   gap when that is less). (The gap includes the kerf, as in the shop's practice: it
//!   must be at least the kerf, or two cuts would overlap.)
//! - Placement is a bottom-left fill: for every part copy, for every open sheet,
//!   for every allowed rotation, positions on a grid are tried bottom row first;
//!   the first free one is slid down, left and diagonally down (halving steps)
//!   and the lowest, leftmost result over the rotations wins. A copy that fits no
//!   open sheet opens the next one.
//! - With `allow_parts_in_holes`, every hole of a placed part becomes a small
//!   container of its own (flattened hole, same gap to its edge), tried before the
//!   sheets.
//! - An outline that touches or crosses itself is nested by its convex hull (a
//!   superset, so the gap still holds), with a warning.
//! - The search is anytime: it runs until `time_limit_s` (or `max_iterations`, or
//!   a stop) and a stop returns the best layout so far. The first pass orders
//!   copies by area, largest first, and always completes (there is always a
//!   layout). Further passes perturb the order and the rotations ([`search`]),
//!   taking turns with ruin and recreate ([`refine`]), which takes a few parts
//!   off the last sheet and puts them back lower. After a tenth of the time
//!   (a quarter when the layout takes several sheets) the squeeze ([`squeeze`]) takes over the last sheet: it lowers its top,
//!   lets parts overlap, and moves them until no overlap is left (guided local
//!   search on pair weights), again and again; each layout it gives back has
//!   passed the engine's exact collision test. Layouts compare by
//!   less material left out, fewer failed parts, fewer sheets, then a lower top
//!   on the last sheet.
//! - Every failure is put in our words: a part that fits no sheet is named with
//!   its size and the sheet's, once per part ([`UnplacedPart`]); the engine's
//!   own error texts (which print whole outlines) never reach the caller.
//!
//! The rooms: `options` (what is asked, validation), `parts` (outlines made ready
//! for the engine), `position` (bottom-left placement of one part), `pass` (one
//! greedy pass), `search` (the anytime search), `refine` (ruin and recreate),
//! `squeeze` (overlap minimisation on the last sheet),
//! `result` and `drawings` (the answer, with a DXF and an SVG per sheet). [`nest`]
//! calls them in that order.

mod drawings;
mod options;
mod parts;
mod pass;
mod position;
mod refine;
mod result;
mod search;
mod squeeze;

use std::time::Instant;

use jagua_rs::collision_detection::CDEConfig;
use jagua_rs::entities::Container;
use jagua_rs::geometry::fail_fast::SPSurrogateConfig;
use jagua_rs::io::ext_repr::{ExtContainer, ExtShape};
use jagua_rs::io::import::Importer;
use wjp_geometry::geom::Affine;
use wjp_geometry::{Path, Warning};

use crate::error::CamError;
use parts::PartDef;
use pass::{run_pass, Gene, PartCopy, PassCtx, PassResult};

pub use options::{NestOptions, PartInput, SheetSpec, MAX_THREADS};
pub use result::{
    BestSoFar, CutListEntry, CutPlacement, FailedObject, NestProgress, NestResult, Placement,
    Remnant, SheetResult, UnplacedPart,
};

/// Bounds.
pub const MAX_COPIES: usize = 5000;
pub const MAX_SHEETS: usize = 1000;

/// The size of one sheet instance, mm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SheetSize {
    pub width: f64,
    pub height: f64,
}

impl SheetSize {
    /// The sheet less `inset` on every side, as a region `[x0, y0, x1, y1]`.
    fn region(self, inset: f64) -> [f64; 4] {
        [inset, inset, self.width - inset, self.height - inset]
    }
}

/// A path as placed: mirrored about the drawing's Y axis when `mirrored`, rotated
/// by `rotation_deg` counter-clockwise about the drawing origin, then moved by
/// (x, y). Arcs stay arcs (a mirror turns their bulges the other way).
fn place(path: &Path, mirrored: bool, rotation_deg: f64, x: f64, y: f64) -> Path {
    let turn = Affine::rotate(rotation_deg.to_radians());
    let turn = if mirrored {
        Affine::scale(-1.0, 1.0).then(&turn)
    } else {
        turn
    };
    let placement = turn.then(&Affine::translate(x, y));
    // A rotation is a similarity, so no arc is flattened and the tolerance is unused.
    path.transformed(&placement, 0.0)
}

/// Nest the parts on the sheets. A panic inside the collision engine (none is
/// known) becomes a `geometry_engine_failed` error rather than unwinding into the
/// worker.
///
/// The search is anytime: `progress` hears the best layout's figures as it
/// improves (and its placements each time it does), and when `should_stop` says
/// stop the best layout so far is returned (`stopped_by: "stopped"`), so a
/// cancelled job still has a layout to give.
pub fn nest(
    parts: &[PartInput],
    options: &NestOptions,
    progress: &mut dyn FnMut(&NestProgress),
    should_stop: &dyn Fn() -> bool,
) -> Result<NestResult, CamError> {
    let started = Instant::now();
    nest_with_clock(parts, options, progress, should_stop, &|| {
        started.elapsed().as_secs_f64()
    })
}

/// [`nest`] with the search's time measured by `clock` (seconds since the call
/// began, never decreasing) instead of the wall clock: `time_limit_s` and the
/// share of it each phase of the search gets count in that time. A benchmark
/// on a shared machine passes the search thread's CPU time, so that a run gets
/// the same work whatever else the machine does. `elapsed_s` of the result is
/// still wall time.
pub fn nest_with_clock(
    parts: &[PartInput],
    options: &NestOptions,
    progress: &mut dyn FnMut(&NestProgress),
    should_stop: &dyn Fn() -> bool,
    clock: &(dyn Fn() -> f64 + Sync),
) -> Result<NestResult, CamError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        nest_inner(parts, options, progress, should_stop, clock)
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
    progress: &mut dyn FnMut(&NestProgress),
    should_stop: &dyn Fn() -> bool,
    clock: &(dyn Fn() -> f64 + Sync),
) -> Result<NestResult, CamError> {
    let started = Instant::now();
    let sheets = options::validate(parts, options)?;
    say(progress, 0.0, "preparing parts");
    // A flattened arc lies inside the true one, by up to the curve tolerance:
    // with curved outlines the engine keeps that much more on each side.
    // Outlines of straight lines are exact, and keep exactly the gap (a 94 mm
    // square fits a 100 mm sheet with 3 mm to the edge).
    let curve_allowance = if parts.iter().any(|p| p.outer.has_arcs()) {
        options.curve_tolerance_mm
    } else {
        0.0
    };
    // Never more slack than half the gap: a gap of a hundredth stays positive.
    let slack = FIT_SLACK_MM.min(options.gap / 2.0);
    let separation = options.gap + 2.0 * curve_allowance - slack;
    let importer = importer(separation)?;
    let defs: Vec<PartDef> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| parts::part_def(i, p, options, &importer))
        .collect();
    let mut warnings: Vec<Warning> = defs
        .iter()
        .filter_map(|d| d.note.clone())
        .map(|note| Warning::new("nested_by_hull", 1, note))
        .collect();
    let copies = copies_of(parts);
    let sheet_sizes = sheet_instances(&sheets);
    let sheets_given: u64 = sheets.iter().map(|s| u64::from(s.quantity)).sum();
    if sheets_given > sheet_sizes.len() as u64 {
        // A caller's own list is refused past the limit at its door; sheets
        // added to it at run time (remnants put first) may still pass it.
        warnings.push(Warning::new(
            "sheets_capped",
            1,
            format!(
                "the sheets add up to {sheets_given} and a nest uses at most {MAX_SHEETS}: \
                 the first {MAX_SHEETS} in the order given were used"
            ),
        ));
    }
    // The engine keeps the separation from the container's edge: the container
    // is the sheet grown or shrunk so that this comes to the edge distance (a
    // curved outline needs its allowance once there, not twice).
    let edge_inset = options.edge() - options.gap - curve_allowance - slack;
    let containers = containers(&importer, &sheet_sizes, edge_inset)?;
    let ctx = PassCtx {
        defs: &defs,
        copies: &copies,
        sheet_sizes: &sheet_sizes,
        containers: &containers,
        edge: options.edge(),
        edge_inset,
        margin: separation / 2.0,
        parts_in_holes: options.allow_parts_in_holes,
        importer: &importer,
        tolerance: options.curve_tolerance_mm,
        smallest_part_area: defs
            .iter()
            .filter(|d| d.item.is_some())
            .map(|d| d.net_area)
            .fold(f64::INFINITY, f64::min),
    };
    let order = largest_first(&defs, &copies);
    let first = first_layout(&ctx, &order, progress, should_stop)?;
    let first_summary = search::summary(&ctx, &first);
    progress(&NestProgress {
        fraction: 0.5,
        message: &format!("first layout: {}", first_summary.describe()),
        best: Some(first_summary),
        improved: Some(&result::placements(&defs, &first)),
    });
    // No more searches than cores: a search shares a core with no other.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let threads = u64::from(options.threads).min(cores);
    if threads < u64::from(options.threads) {
        warnings.push(Warning::new(
            "threads_capped",
            1,
            format!(
                "{} searches were asked for and this machine has {cores} cores: {threads} ran",
                options.threads
            ),
        ));
    }
    let outcome = if threads > 1 {
        search::improve_on_threads(
            &ctx,
            first,
            order,
            options,
            threads,
            clock,
            progress,
            should_stop,
        )
    } else {
        let rivals = search::Rivals::none();
        search::improve(
            &ctx,
            first,
            order,
            options,
            clock,
            progress,
            should_stop,
            &rivals,
        )
    };
    say(progress, 0.95, "writing sheets");
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
    let result = result::build_result(
        &defs,
        &outcome,
        &sheet_sizes,
        started,
        warnings,
        options.outputs,
        options.gap,
    );
    let best = search::summary(&ctx, &outcome.best);
    progress(&NestProgress {
        fraction: 1.0,
        message: &format!("done: {}", best.describe()),
        best: Some(best),
        improved: None,
    });
    Ok(result)
}

/// How much closer than the gap (to each other and to the edge) outlines may
/// come, mm (at most half the gap): two micrometres, far below any cutting machine's accuracy, so that
/// parts that fit exactly (a 94 mm square on a 100 mm sheet with 3 mm to the
/// edge) are not refused for a rounding error in the engine's single-precision
/// geometry.
const FIT_SLACK_MM: f64 = 0.002;

/// How much the engine may simplify a part's outline, as a share of its area:
/// it drops points while the outline only grows (never into the part) and grows
/// by at most this share. Placements stay valid for the true outlines, which
/// the outputs use; the engine tests far fewer edges (swim's traced outlines:
/// 1.7 times the search steps in the same time, 2026-12-05, crate BENCHMARKS).
const OUTLINE_SIMPLIFICATION: f32 = 0.001;

/// The collision engine's importer: parts inflated and sheets deflated by half
/// the separation, part outlines simplified outward.
fn importer(separation: f64) -> Result<Importer, CamError> {
    let cde = CDEConfig {
        // No fail-fast surrogates: measured here, generating their poles for detailed
        // outlines (traced designs) cost more than they saved.
        item_surrogate_config: SPSurrogateConfig::none(),
    };
    Importer::new(cde, Some(OUTLINE_SIMPLIFICATION), None)
        .with_min_item_separation(separation as f32)
        .map_err(|_| CamError::Engine {
            what: "separation".into(),
            message: format!("the engine refused a separation of {separation} mm"),
        })
}

/// Every copy of every part, part by part.
fn copies_of(parts: &[PartInput]) -> Vec<PartCopy> {
    let mut copies = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        for c in 0..p.quantity {
            copies.push(PartCopy { part: i, copy: c });
        }
    }
    copies
}

/// The sheet instances in the order given (each spec repeated by its quantity),
/// at most [`MAX_SHEETS`].
fn sheet_instances(sheets: &[SheetSpec]) -> Vec<SheetSize> {
    let mut sizes = Vec::new();
    for s in sheets {
        for _ in 0..s.quantity {
            if sizes.len() < MAX_SHEETS {
                sizes.push(SheetSize {
                    width: s.width,
                    height: s.height,
                });
            }
        }
    }
    sizes
}

/// The empty sheets as the engine's containers.
fn containers(
    importer: &Importer,
    sizes: &[SheetSize],
    inset: f64,
) -> Result<Vec<Container>, CamError> {
    sizes
        .iter()
        .map(|&size| container(importer, size, inset))
        .collect()
}

/// One empty sheet of `size`, less `inset` on every side, as the engine's
/// container.
fn container(
    importer: &Importer,
    SheetSize { width, height }: SheetSize,
    inset: f64,
) -> Result<Container, CamError> {
    importer
        .import_container(&ExtContainer {
            id: 0,
            shape: ExtShape::Rectangle {
                x_min: inset as f32,
                y_min: inset as f32,
                width: (width - 2.0 * inset) as f32,
                height: (height - 2.0 * inset) as f32,
            },
            zones: vec![],
        })
        .map_err(|_| CamError::Engine {
            what: format!("sheet {width} x {height} mm"),
            message: "the engine refused the sheet's outline".into(),
        })
}

/// The order of the first pass: largest net area first (ties in input order),
/// each copy free to take its best rotation.
fn largest_first(defs: &[PartDef], copies: &[PartCopy]) -> Vec<Gene> {
    let mut order: Vec<usize> = (0..copies.len()).collect();
    order.sort_by(|&a, &b| {
        defs[copies[b].part]
            .net_area
            .total_cmp(&defs[copies[a].part].net_area)
            .then(a.cmp(&b))
    });
    order
        .into_iter()
        .map(|copy| Gene {
            copy,
            rotation: None,
        })
        .collect()
}

/// A progress report with no layout yet.
fn say(progress: &mut dyn FnMut(&NestProgress), fraction: f64, message: &str) {
    progress(&NestProgress {
        fraction,
        message,
        best: None,
        improved: None,
    });
}

/// The first layout. It ignores the time limit (there must be a layout) but not
/// a stop.
fn first_layout(
    ctx: &PassCtx,
    order: &[Gene],
    progress: &mut dyn FnMut(&NestProgress),
    should_stop: &dyn Fn() -> bool,
) -> Result<PassResult, CamError> {
    let mut report = |k: usize, n: usize| {
        say(
            progress,
            0.05 + 0.45 * k as f64 / n.max(1) as f64,
            &format!("first layout: {k}/{n} parts"),
        )
    };
    run_pass(ctx, order, &mut report, should_stop, true).ok_or_else(|| CamError::Engine {
        what: "first pass".into(),
        message: "no layout".into(),
    })
}
