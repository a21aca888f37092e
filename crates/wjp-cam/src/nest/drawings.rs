//! The drawings of a nesting: each used sheet as a DXF (wjp-geometry's writer:
//! one layer per part name, holes with their part, millimetres) and as an SVG, and all
//! sheets side by side in one SVG.

use wjp_geometry::dxf::{write_dxf, Layer, Polyline};
use wjp_geometry::svg::{svg_open, PathData, SvgFrame};
use wjp_geometry::{Bbox, Path};

use super::SheetSize;

/// A placed part: its index, outer contour and holes in sheet coordinates.
#[derive(Clone)]
pub(super) struct PlacedPart {
    pub part: usize,
    pub outer: Path,
    pub holes: Vec<Path>,
}

/// The parts placed on one used sheet.
pub(super) struct SheetLayout {
    /// Index of the sheet instance.
    pub sheet: usize,
    pub size: SheetSize,
    pub parts: Vec<PlacedPart>,
}

/// The sheet's DXF: every part's outline and holes on a layer named after the
/// part (so CAM can select, colour or order by part), millimetres. The file
/// reads back as parts with their holes (and G-code can be made from it).
pub(super) fn sheet_dxf(layout: &SheetLayout, names: &[String]) -> String {
    let mut layer_names: Vec<(usize, String)> = Vec::new();
    for p in &layout.parts {
        if !layer_names.iter().any(|(k, _)| *k == p.part) {
            let name = names.get(p.part).map_or("part", String::as_str);
            layer_names.push((p.part, layer_name(name)));
        }
    }
    let layer_of = |part: usize| {
        layer_names
            .iter()
            .find(|(k, _)| *k == part)
            .map_or("0", |(_, n)| n.as_str())
    };
    let mut polylines = Vec::new();
    let mut extent = Bbox::EMPTY;
    for p in &layout.parts {
        extent.union(&p.outer.bbox());
        let layer = layer_of(p.part);
        polylines.push(Polyline {
            layer,
            vertices: &p.outer.vertices,
            closed: true,
        });
        polylines.extend(p.holes.iter().map(|h| Polyline {
            layer,
            vertices: &h.vertices,
            closed: true,
        }));
    }
    let layers: Vec<Layer> = layer_names
        .iter()
        .map(|(k, name)| Layer {
            name,
            // AutoCAD colours 1 to 255, a different one per part as far as they go.
            color: (1 + (*k * 37) % 255) as i16,
        })
        .collect();
    let SheetSize { width, height } = layout.size;
    write_dxf(
        &format!(
            "wjp-cam: sheet {} ({width} x {height} mm) as nested, units mm",
            layout.sheet
        ),
        &layers,
        &polylines,
        extent.to_array().unwrap_or([0.0; 4]),
    )
}

/// A part's name as a DXF layer name: the characters DXF refuses in one (angle
/// brackets, slashes, quotes, colon, semicolon, question mark, asterisk, bar,
/// equals, comma, backquote, controls) become `_`; at most 255 characters.
pub(super) fn layer_name(part: &str) -> String {
    let name: String = part
        .chars()
        .map(|c| {
            if c.is_control() || "<>/\\\":;?*|=,`".contains(c) {
                '_'
            } else {
                c
            }
        })
        .take(255)
        .collect();
    if name.trim().is_empty() {
        "part".into()
    } else {
        name
    }
}

pub(super) fn sheet_svg(layout: &SheetLayout) -> String {
    let SheetSize { width, height } = layout.size;
    svg_document(-5.0, width + 10.0, height + 10.0, &sheet_group(layout, 0.0))
}

/// All used sheets side by side, 20 mm apart.
pub(super) fn all_sheets_svg(layouts: &[SheetLayout]) -> String {
    let total_w: f64 = layouts
        .iter()
        .map(|l| l.size.width + 20.0)
        .sum::<f64>()
        .max(1.0);
    let max_h = layouts.iter().map(|l| l.size.height).fold(1.0, f64::max);
    let mut body = String::new();
    let mut x0 = 0.0;
    for layout in layouts {
        body.push_str(&sheet_group(layout, x0));
        x0 += layout.size.width + 20.0;
    }
    svg_document(-10.0, total_w + 10.0, max_h + 20.0, &body)
}

/// An SVG document in millimetres whose view starts at (`origin`, `origin`).
fn svg_document(origin: f64, width: f64, height: f64, body: &str) -> String {
    format!(
        "{}\n{body}</svg>\n",
        svg_open(origin, origin, width, height)
    )
}

/// One sheet (a grey rectangle) with its parts, each in its own colour with its
/// holes left open, moved right by `x0`.
fn sheet_group(layout: &SheetLayout, x0: f64) -> String {
    let SheetSize {
        width: w,
        height: h,
    } = layout.size;
    let sw = (w.max(h) / 800.0).max(0.1);
    let mut s = format!(
        r#"<g transform="translate({x0} 0)"><rect x="0" y="0" width="{w}" height="{h}" fill="whitesmoke" stroke="black" stroke-width="{sw}"/>"#
    );
    s.push('\n');
    // SVG y = sheet height - sheet y: the sheet's origin is its lower-left corner.
    let frame = SvgFrame {
        left: 0.0,
        top: h,
        decimals: 3,
    };
    for p in &layout.parts {
        let mut d = PathData::new(frame);
        d.path(&p.outer);
        for hole in &p.holes {
            d.path(hole);
        }
        let hue = (p.part * 67) % 360;
        s.push_str(&format!(
            r#"<path d="{}" fill="hsl({hue},60%,70%)" fill-rule="evenodd" stroke="black" stroke-width="{sw}"/>"#,
            d.as_str()
        ));
        s.push('\n');
    }
    s.push_str("</g>\n");
    s
}
