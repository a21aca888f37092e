//! An SVG preview of the traced drawing, in mm, drawn the right way up: parts filled
//! (holes left open with the even-odd rule), outer boundaries and holes stroked in
//! their layer colours.

use std::fmt::Write;

use wjp_geometry::number::decimal;
use wjp_geometry::svg::{svg_open, PathData, SvgFrame};
use wjp_geometry::Vertex;

pub(crate) struct SvgContour<'a> {
    pub hole: bool,
    pub vertices: &'a [Vertex],
}

/// The preview; `extents` is `[min_x, min_y, max_x, max_y]` in mm. The view box is
/// in drawing millimetres with y negated (drawing y = -SVG y).
pub(crate) fn write_svg(contours: &[SvgContour<'_>], extents: [f64; 4]) -> String {
    let num = |v: f64| decimal(v, 6);
    let margin = ((extents[2] - extents[0]).max(extents[3] - extents[1]) * 0.02).max(1.0);
    let (x0, y0) = (extents[0] - margin, -extents[3] - margin);
    let (w, h) = (
        extents[2] - extents[0] + 2.0 * margin,
        extents[3] - extents[1] + 2.0 * margin,
    );
    let stroke = (w.max(h) / 400.0).max(0.05);
    let mut s = String::new();
    s.push_str(&svg_open(x0, y0, w, h));
    s.push('\n');
    let frame = SvgFrame {
        left: 0.0,
        top: 0.0,
        decimals: 6,
    };
    let mut all = PathData::new(frame);
    let mut outer = PathData::new(frame);
    let mut holes = PathData::new(frame);
    for c in contours {
        all.polyline(c.vertices, true);
        let own = if c.hole { &mut holes } else { &mut outer };
        own.polyline(c.vertices, true);
    }
    let _ = writeln!(
        s,
        "<path d=\"{}\" fill=\"#c8d3e0\" fill-rule=\"evenodd\" stroke=\"none\"/>",
        all.as_str()
    );
    let _ = writeln!(
        s,
        "<path d=\"{}\" fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"{}\"/>",
        outer.as_str(),
        num(stroke)
    );
    let _ = writeln!(
        s,
        "<path d=\"{}\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"{}\"/>",
        holes.as_str(),
        num(stroke)
    );
    s.push_str("</svg>\n");
    s
}
