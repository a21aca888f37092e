//! Raster image to DXF: decode (with a pixel-count guard read from the header),
//! threshold, trace outlines with their holes, drop specks, simplify and fit arcs,
//! scale the whole drawing, flip Y, write DXF and an SVG preview.
//!
//! Coordinates: the drawing's bounding box (of the kept outlines, on the pixel-edge
//! grid) is scaled as one piece, so every shape keeps its place; its lower-left
//! corner is the DXF origin, x to the right, y up (the image's rows grow downward,
//! so y is flipped). Outer boundaries run counter-clockwise on layer `OUTER`, holes
//! clockwise on layer `INNER`; an island inside a hole is another part's outer.

mod fit;
mod raster;
mod svg;
mod trace;

pub use raster::otsu_level;
pub use wjp_geometry::Vertex;

use serde::Serialize;
use wjp_geometry::dxf::{write_dxf, Layer, Polyline};
use wjp_geometry::{Bbox, Path, Point};

use crate::error::ConvertError;
use crate::options::ConvertOptions;

/// Layer of outer boundaries (even nesting depth).
pub const OUTER_LAYER: &str = "OUTER";
/// Layer of holes (odd nesting depth).
pub const INNER_LAYER: &str = "INNER";

/// A converted image.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The DXF file (R2000, ASCII, `$INSUNITS = 4`).
    pub dxf: String,
    /// An SVG preview in mm.
    pub svg: String,
    pub report: ConversionReport,
    /// The traced contours, in the DXF's coordinates.
    pub contours: Vec<TracedContour>,
}

/// Whether a contour bounds a part or a hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContourRole {
    Outer,
    Hole,
}

/// One closed outline of the output.
#[derive(Debug, Clone, Serialize)]
pub struct TracedContour {
    pub role: ContourRole,
    /// 0 for a part's outer boundary, 1 for its holes, 2 for an island in a hole...
    pub depth: u32,
    /// Index in `Conversion::contours` of the enclosing contour.
    pub parent: Option<usize>,
    pub layer: &'static str,
    /// Counter-clockwise for outers, clockwise for holes.
    pub vertices: Vec<Vertex>,
    /// Enclosed area in mm², positive (of the fitted outline, arcs as arcs).
    pub area_mm2: f64,
    /// Length in mm (arcs as arcs).
    pub length_mm: f64,
    /// `[min_x, min_y, max_x, max_y]` of the vertices in mm.
    pub bbox_mm: [f64; 4],
    /// Pixels enclosed by the traced outline before simplification.
    pub area_px: f64,
    pub arcs: usize,
}

/// What the decoder saw.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub format: &'static str,
    pub width_px: u32,
    pub height_px: u32,
    pub color: String,
}

/// Why outlines were dropped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DroppedCounts {
    /// Enclosing fewer pixels than `min_area_px`.
    pub below_min_area: usize,
    /// Inside an outline that was dropped.
    pub inside_dropped: usize,
}

/// The report of a conversion (JSON in job results).
#[derive(Debug, Clone, Serialize)]
pub struct ConversionReport {
    pub image: ImageInfo,
    pub threshold: u8,
    /// `otsu` or `given`.
    pub threshold_method: &'static str,
    pub inverted: bool,
    /// The image border was mostly dark, so light pixels were taken as the shapes.
    pub auto_inverted: bool,
    /// Share of the image's pixels that are foreground after threshold and morphology.
    pub foreground_fraction: f64,
    pub contours_found: usize,
    pub contours_kept: usize,
    pub contours_dropped: usize,
    pub dropped: DroppedCounts,
    /// Kept outer boundaries (parts, islands included).
    pub outer_count: usize,
    /// Kept holes.
    pub hole_count: usize,
    /// Millimetres per pixel used.
    pub scale_mm_per_px: f64,
    /// Width and height of the drawing in mm.
    pub size_mm: [f64; 2],
    /// DXF `$INSUNITS` written: 4 (millimetres).
    pub insunits: u8,
    pub units: &'static str,
    /// Sum of outer areas minus hole areas, mm².
    pub net_area_mm2: f64,
    /// Total cut length in mm (arcs as arcs).
    pub cut_length_mm: f64,
    pub vertex_count: usize,
    pub arc_count: usize,
    pub line_count: usize,
    pub layers: [&'static str; 2],
    pub warnings: Vec<String>,
    pub options: ConvertOptions,
}

/// Trace a raster image (PNG, JPEG, BMP) into a DXF drawing in mm.
pub fn image_to_dxf(bytes: &[u8], options: &ConvertOptions) -> Result<Conversion, ConvertError> {
    options.validate()?;
    let mask = raster::decode_mask(bytes, options)?;
    let (w, h) = (mask.width as usize, mask.height as usize);
    let fg_count = mask.fg.iter().filter(|&&b| b).count();
    let mut warnings = Vec::new();
    let fraction = fg_count as f64 / (w * h) as f64;
    let touches_border = (0..w).any(|x| mask.fg[x] || mask.fg[(h - 1) * w + x])
        || (0..h).any(|y| mask.fg[y * w] || mask.fg[y * w + w - 1]);
    if touches_border {
        warnings.push(
            "the foreground touches the image border: a shape may be cut off, or the \
             background is dark (try invert)"
                .to_string(),
        );
    }
    if fraction > 0.5 {
        warnings.push(format!(
            "{:.0}% of the image is foreground: if the shapes are light on a dark \
             background, set invert",
            fraction * 100.0
        ));
    }
    // Specks are dropped while tracing, with everything inside them (an outline
    // nested in a speck encloses fewer pixels still), so they cost no memory.
    let traced = trace::trace(
        &mask.fg,
        w,
        h,
        options.min_area_px,
        options.max_outline_points,
    )
    .map_err(|points| ConvertError::TooComplex {
        points: usize::try_from(points).unwrap_or(usize::MAX),
    })?;
    drop(mask.fg);
    let found = traced.found();
    let dropped = DroppedCounts {
        below_min_area: traced.below_min_area,
        inside_dropped: traced.inside_dropped,
    };
    let outlines = traced.outlines;
    if outlines.is_empty() {
        return Err(ConvertError::NoShapes {
            found,
            threshold: mask.threshold,
            min_area_px: options.min_area_px,
        });
    }
    // Parents first (depth order), as the DXF lists them.
    let mut kept: Vec<usize> = (0..outlines.len()).collect();
    kept.sort_by_key(|&i| outlines[i].depth);
    let mut kept_index = vec![0usize; outlines.len()];
    for (k, &i) in kept.iter().enumerate() {
        kept_index[i] = k;
    }

    // The whole drawing is scaled as one piece.
    let mut bb = [i32::MAX, i32::MAX, i32::MIN, i32::MIN];
    for o in &outlines {
        for c in &o.corners {
            bb[0] = bb[0].min(c[0]);
            bb[1] = bb[1].min(c[1]);
            bb[2] = bb[2].max(c[0]);
            bb[3] = bb[3].max(c[1]);
        }
    }
    let (bw, bh) = (f64::from(bb[2] - bb[0]), f64::from(bb[3] - bb[1]));
    let scale = match options.size_mm {
        Some(size) => size / bw.max(bh),
        None => options.pixel_size_mm.unwrap_or(1.0),
    };
    let to_mm = |x: f64, y: f64| {
        Point::new(
            (x - f64::from(bb[0])) * scale,
            (f64::from(bb[3]) - y) * scale,
        )
    };
    let tol = options.simplify_tolerance_px * scale;
    let mut budget = fit::Budget(options.work_budget);

    let mut contours = Vec::with_capacity(outlines.len());
    let mut total_points = 0usize;
    for &i in &kept {
        let o = &outlines[i];
        // Midpoints of the unit pixel edges: on straight runs they lie on the edge,
        // on staircases they follow the area-preserving line between the steps.
        // A corner between two runs of at least 2 px is a real corner (not a step
        // of a staircase): keep it, so squares keep their corners.
        let n = o.corners.len();
        let run = |k: usize| {
            let (a, b) = (o.corners[k % n], o.corners[(k + 1) % n]);
            (b[0] - a[0]).abs() + (b[1] - a[1]).abs()
        };
        let mut dense: Vec<Point> = Vec::new();
        for k in 0..n {
            let (a, b) = (o.corners[k], o.corners[(k + 1) % n]);
            let (dx, dy) = ((b[0] - a[0]).signum(), (b[1] - a[1]).signum());
            let len = run(k);
            if len >= 2 && run(k + n - 1) >= 2 {
                dense.push(to_mm(f64::from(a[0]), f64::from(a[1])));
            }
            for s in 0..len {
                let t = f64::from(s) + 0.5;
                dense.push(to_mm(
                    f64::from(a[0]) + t * f64::from(dx),
                    f64::from(a[1]) + t * f64::from(dy),
                ));
            }
        }
        total_points += dense.len();
        // The Y flip turned the orientation: reverse so outers run counter-clockwise.
        dense.reverse();
        // Start at the point farthest from the centroid: a corner, not mid-edge.
        let cnt = dense.len() as f64;
        let centroid = Point::new(
            dense.iter().map(|p| p.x).sum::<f64>() / cnt,
            dense.iter().map(|p| p.y).sum::<f64>() / cnt,
        );
        let start = (0..dense.len())
            .max_by(|&a, &b| dense[a].dist(centroid).total_cmp(&dense[b].dist(centroid)))
            .unwrap_or(0);
        dense.rotate_left(start);
        let vertices = fit::fit_outline(&dense, tol, options.fit_arcs, &mut budget).ok_or(
            ConvertError::TooComplex {
                points: total_points,
            },
        )?;
        let bbox = Bbox::around(vertices.iter().map(Vertex::point));
        let outline = Path {
            vertices,
            closed: true,
        };
        let hole = o.is_hole();
        contours.push(TracedContour {
            role: if hole {
                ContourRole::Hole
            } else {
                ContourRole::Outer
            },
            depth: o.depth,
            parent: o.parent.map(|p| kept_index[p]),
            layer: if hole { INNER_LAYER } else { OUTER_LAYER },
            area_mm2: outline.signed_area().abs(),
            length_mm: outline.length(),
            bbox_mm: bbox.to_array().unwrap_or([0.0; 4]),
            area_px: o.area_px(),
            arcs: outline.vertices.iter().filter(|v| v.bulge != 0.0).count(),
            vertices: outline.vertices,
        });
    }
    if budget.0 == 0 && options.fit_arcs {
        warnings.push(
            "the work budget ran out while fitting arcs: later outlines are straight segments"
                .into(),
        );
    }

    let extents = [0.0, 0.0, bw * scale, bh * scale];
    let polylines: Vec<Polyline<'_>> = contours
        .iter()
        .map(|c| Polyline {
            layer: c.layer,
            vertices: &c.vertices,
            closed: true,
        })
        .collect();
    let dxf_text = write_dxf(
        "wjp-convert: traced from a raster image, units mm",
        &[
            Layer {
                name: OUTER_LAYER,
                color: 5,
            },
            Layer {
                name: INNER_LAYER,
                color: 1,
            },
        ],
        &polylines,
        extents,
    );
    let svg_contours: Vec<svg::SvgContour<'_>> = contours
        .iter()
        .map(|c| svg::SvgContour {
            hole: c.role == ContourRole::Hole,
            vertices: &c.vertices,
        })
        .collect();
    let svg_text = svg::write_svg(&svg_contours, extents);

    let vertex_count: usize = contours.iter().map(|c| c.vertices.len()).sum();
    let arc_count: usize = contours.iter().map(|c| c.arcs).sum();
    let hole_count = contours
        .iter()
        .filter(|c| c.role == ContourRole::Hole)
        .count();
    let report = ConversionReport {
        image: ImageInfo {
            format: mask.format,
            width_px: mask.width,
            height_px: mask.height,
            color: mask.color,
        },
        threshold: mask.threshold,
        threshold_method: if mask.otsu { "otsu" } else { "given" },
        inverted: options.invert || mask.auto_inverted,
        auto_inverted: mask.auto_inverted,
        foreground_fraction: fraction,
        contours_found: found,
        contours_kept: contours.len(),
        contours_dropped: found - contours.len(),
        dropped,
        outer_count: contours.len() - hole_count,
        hole_count,
        scale_mm_per_px: scale,
        size_mm: [bw * scale, bh * scale],
        insunits: 4,
        units: "mm",
        net_area_mm2: contours
            .iter()
            .map(|c| match c.role {
                ContourRole::Outer => c.area_mm2,
                ContourRole::Hole => -c.area_mm2,
            })
            .sum(),
        cut_length_mm: contours.iter().map(|c| c.length_mm).sum(),
        vertex_count,
        arc_count,
        line_count: vertex_count - arc_count,
        layers: [OUTER_LAYER, INNER_LAYER],
        warnings,
        options: options.clone(),
    };
    Ok(Conversion {
        dxf: dxf_text,
        svg: svg_text,
        report,
        contours,
    })
}
