//! What a conversion can be told. A JSON job payload fills any subset.

use serde::{Deserialize, Serialize};

use crate::error::ConvertError;

/// Options of [`crate::image_to_dxf`]. `Default` gives the shop's defaults; JSON
/// payloads may fill any subset (`min_area` and `simplify_tolerance`, the old API's
/// names, are accepted as aliases).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConvertOptions {
    /// Longer side of the traced drawing (the bounding box of the kept outlines) in
    /// mm; the aspect ratio is kept. `None`: `pixel_size_mm` applies.
    pub size_mm: Option<f64>,
    /// Millimetres per pixel (`None`: 1, 1 px = 1 mm); not with `size_mm`,
    /// which sets the scale another way.
    #[serde(alias = "mm_per_px")]
    pub pixel_size_mm: Option<f64>,
    /// Grey level 0..=255; pixels at or below it are foreground (before `invert`).
    /// `None`: Otsu's level.
    pub threshold: Option<u8>,
    /// Light shapes on a dark background: the light pixels are cut out.
    pub invert: bool,
    /// When `invert` is false: if most of the image's border pixels come out as
    /// foreground, the background is dark, so invert (reported as `auto_inverted`).
    pub auto_invert: bool,
    /// Outlines enclosing fewer pixels than this are specks and dropped (with
    /// everything inside them).
    #[serde(alias = "min_area")]
    pub min_area_px: f64,
    /// Simplification and arc-fitting tolerance in pixels.
    #[serde(alias = "simplify_tolerance")]
    pub simplify_tolerance_px: f64,
    /// Fit circular arcs (DXF bulges); `false` gives straight segments only.
    pub fit_arcs: bool,
    /// Gaussian blur before the threshold (sigma in pixels, at most 50).
    pub blur_sigma: Option<f32>,
    /// Morphological opening (removes specks and thin spurs), square radius in px.
    pub open_radius_px: u32,
    /// Morphological closing (fills pinholes and thin gaps), square radius in px.
    pub close_radius_px: u32,
    /// Images with more pixels (read from the header, before decoding) are refused.
    pub max_pixels: u64,
    /// Inputs larger than this many bytes are refused.
    pub max_input_bytes: usize,
    /// Point evaluations simplification and arc fitting may spend in total.
    pub work_budget: u64,
    /// Unit pixel edges the kept outlines may have in total (and any one outline
    /// while it is traced); more is refused as too complex. Bounds the memory of
    /// tracing and fitting, whatever the pixel count.
    pub max_outline_points: u64,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            size_mm: None,
            pixel_size_mm: None,
            threshold: None,
            invert: false,
            auto_invert: true,
            min_area_px: 25.0,
            simplify_tolerance_px: 1.0,
            fit_arcs: true,
            blur_sigma: None,
            open_radius_px: 0,
            close_radius_px: 0,
            max_pixels: 40_000_000,
            max_input_bytes: 64 * 1024 * 1024,
            work_budget: 2_000_000_000,
            max_outline_points: 5_000_000,
        }
    }
}

/// Largest morphology radius accepted.
pub const MAX_MORPHOLOGY_RADIUS: u32 = 50;
/// Largest blur sigma accepted.
pub const MAX_BLUR_SIGMA: f32 = 50.0;

impl ConvertOptions {
    /// Check ranges; every error names the option.
    pub fn validate(&self) -> Result<(), ConvertError> {
        let bad =
            |name: &'static str, message: String| ConvertError::InvalidOption { name, message };
        if let Some(s) = self.size_mm {
            if !(s.is_finite() && s > 0.0 && s <= 1e6) {
                return Err(bad("size_mm", format!("{s} is not in (0, 1000000] mm")));
            }
        }
        if let Some(p) = self.pixel_size_mm {
            if !(p.is_finite() && p > 0.0 && p <= 1e3) {
                return Err(bad("pixel_size_mm", format!("{p} is not in (0, 1000] mm")));
            }
            if self.size_mm.is_some() {
                return Err(bad(
                    "pixel_size_mm",
                    "give size_mm (the drawing's longer side) or pixel_size_mm (mm_per_px), \
                     not both: each sets the scale"
                        .into(),
                ));
            }
        }
        if !(self.min_area_px.is_finite() && self.min_area_px >= 0.0) {
            return Err(bad(
                "min_area_px",
                format!("{} is not a non-negative number", self.min_area_px),
            ));
        }
        if !(self.simplify_tolerance_px.is_finite()
            && self.simplify_tolerance_px >= 0.01
            && self.simplify_tolerance_px <= 100.0)
        {
            return Err(bad(
                "simplify_tolerance_px",
                format!("{} is not in [0.01, 100] px", self.simplify_tolerance_px),
            ));
        }
        if let Some(s) = self.blur_sigma {
            if !(s.is_finite() && (0.0..=MAX_BLUR_SIGMA).contains(&s)) {
                return Err(bad(
                    "blur_sigma",
                    format!("{s} is not in [0, {MAX_BLUR_SIGMA}] px"),
                ));
            }
        }
        for (name, r) in [
            ("open_radius_px", self.open_radius_px),
            ("close_radius_px", self.close_radius_px),
        ] {
            if r > MAX_MORPHOLOGY_RADIUS {
                return Err(bad(
                    name,
                    format!("{r} is more than {MAX_MORPHOLOGY_RADIUS} px"),
                ));
            }
        }
        if self.max_pixels == 0 {
            return Err(bad("max_pixels", "must be at least 1".into()));
        }
        if self.max_outline_points == 0 {
            return Err(bad("max_outline_points", "must be at least 1".into()));
        }
        Ok(())
    }
}
