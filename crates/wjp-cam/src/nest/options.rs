//! What nesting is asked: the parts ([`PartInput`]), the sheets ([`SheetSpec`])
//! and the options ([`NestOptions`]), and their validation.

use serde::{Deserialize, Serialize};
use wjp_geometry::{AnalysisOptions, Path};

use super::MAX_COPIES;
use crate::error::CamError;

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

/// Options of [`super::nest`]; the old API's names (`sheet_width`, `sheet_height`, `gap`,
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
    /// Upper bound on improvement passes (the first layout plus this many). The
    /// default is high enough that `time_limit_s` ends the search: the search is
    /// anytime and keeps improving until then.
    pub max_iterations: u32,
    /// Arcs are flattened to chords within this (mm); the gap is kept exactly.
    pub curve_tolerance_mm: f64,
    /// Seed of the improvement passes (same seed, same input: same layout).
    pub seed: u64,
    /// Searches run side by side on as many cores, seeds `seed` to `seed +
    /// threads - 1`, each from the first layout; the best layout of all is
    /// kept, and reported as it improves. 1 to [`MAX_THREADS`]; at most the
    /// machine's cores are used (a warning says when fewer than asked).
    pub threads: u32,
    /// Echoed for the G-code step; not used by nesting.
    pub material: String,
    pub thickness: f64,
    /// Write the per-sheet DXF and SVG.
    pub outputs: bool,
    /// Let small parts be placed inside the holes of larger ones (with the same gap
    /// to the hole's edge) when a hole is at least as large as the smallest part.
    /// On by default; off for a machine without a slat bed that catches them (a
    /// part cut inside a hole drops with the slug unless tabbed or caught).
    pub allow_parts_in_holes: bool,
    /// Least distance from a part to the sheet's edge (mm); `None`: the gap.
    pub edge_distance: Option<f64>,
    /// Parts may also be placed mirrored (turned over), for material with the
    /// same two faces. Off by default: a mirrored part is a different part.
    pub allow_mirror: bool,
}

/// Most searches one nest runs side by side ([`NestOptions::threads`]).
pub const MAX_THREADS: u32 = 16;

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
            max_iterations: 1_000_000,
            curve_tolerance_mm: 0.05,
            seed: 1,
            threads: 1,
            material: "mild_steel".into(),
            thickness: 6.0,
            outputs: true,
            allow_parts_in_holes: true,
            edge_distance: None,
            allow_mirror: false,
        }
    }
}

impl NestOptions {
    /// The least distance from a part to the sheet's edge, mm.
    pub fn edge(&self) -> f64 {
        self.edge_distance.unwrap_or(self.gap)
    }
}

/// Check the options and parts; the sheet specs to use (`sheets`, or the single
/// size and `max_sheets`).
pub(super) fn validate(parts: &[PartInput], o: &NestOptions) -> Result<Vec<SheetSpec>, CamError> {
    let pos = |name: &str, v: f64, max: f64| -> Result<(), CamError> {
        if v.is_finite() && v > 0.0 && v <= max {
            Ok(())
        } else {
            Err(CamError::option(name, format!("{v} is not in (0, {max}]")))
        }
    };
    // A zero kerf is a shop's normal choice when the gap already includes it.
    if !(o.kerf.is_finite() && (0.0..20.0).contains(&o.kerf)) {
        return Err(CamError::option(
            "kerf",
            format!("{} is not in [0, 20) mm", o.kerf),
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
    if !(1..=MAX_THREADS).contains(&o.threads) {
        return Err(CamError::option(
            "threads",
            format!("{} is not in [1, {MAX_THREADS}]", o.threads),
        ));
    }
    if let Some(e) = o.edge_distance {
        if !(e.is_finite() && (0.0..=500.0).contains(&e)) {
            return Err(CamError::option(
                "edge_distance",
                format!("{e} is not in [0, 500] mm"),
            ));
        }
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
        if s.width.min(s.height) <= 2.0 * (o.edge() + o.curve_tolerance_mm) {
            return Err(CamError::option(
                if o.sheets.is_empty() {
                    "sheet_width"
                } else {
                    "sheets"
                },
                format!(
                    "a {} x {} mm sheet leaves no room inside the {} mm distance to its edge",
                    s.width,
                    s.height,
                    o.edge()
                ),
            ));
        }
        n += s.quantity as usize;
    }
    if n == 0 {
        return Err(CamError::option(
            "max_sheets",
            "no sheet is available (quantity 0)",
        ));
    }
    for p in parts {
        if let Some(r) = &p.rotations {
            check_rotations(&format!("{}.rotations", p.name), r)?;
        }
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
