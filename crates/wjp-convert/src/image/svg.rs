//! An SVG preview of the traced drawing, in mm, drawn the right way up: parts filled
//! (holes left open with the even-odd rule), outer boundaries and holes stroked in
//! their layer colours.

use std::fmt::Write;

use super::dxf::num;
use super::fit::Vertex;

pub(crate) struct SvgContour<'a> {
    pub hole: bool,
    pub vertices: &'a [Vertex],
}

fn path_data(out: &mut String, vs: &[Vertex], top: f64) {
    let n = vs.len();
    if n == 0 {
        return;
    }
    let y = |v: &Vertex| top - v.y;
    let _ = write!(out, "M{} {}", num(vs[0].x), num(y(&vs[0])));
    for i in 0..n {
        let (a, b) = (&vs[i], &vs[(i + 1) % n]);
        if a.bulge == 0.0 {
            let _ = write!(out, "L{} {}", num(b.x), num(y(b)));
        } else {
            let theta = 4.0 * a.bulge.atan();
            let c = (b.x - a.x).hypot(b.y - a.y);
            let r = c / (2.0 * (theta / 2.0).sin().abs());
            let large = u8::from(theta.abs() > std::f64::consts::PI);
            // Counter-clockwise with y up is clockwise on screen: SVG's sweep 1.
            let sweep = u8::from(theta > 0.0);
            let _ = write!(
                out,
                "A{} {} 0 {large} {sweep} {} {}",
                num(r),
                num(r),
                num(b.x),
                num(y(b))
            );
        }
    }
    out.push('Z');
}

/// The preview; `extents` is `[min_x, min_y, max_x, max_y]` in mm.
pub(crate) fn write_svg(contours: &[SvgContour<'_>], extents: [f64; 4]) -> String {
    let margin = ((extents[2] - extents[0]).max(extents[3] - extents[1]) * 0.02).max(1.0);
    let (x0, y0) = (extents[0] - margin, -extents[3] - margin);
    let (w, h) = (
        extents[2] - extents[0] + 2.0 * margin,
        extents[3] - extents[1] + 2.0 * margin,
    );
    let stroke = (w.max(h) / 400.0).max(0.05);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}mm\" height=\"{}mm\" viewBox=\"{} {} {} {}\">",
        num(w),
        num(h),
        num(x0),
        num(y0),
        num(w),
        num(h)
    );
    let mut all = String::new();
    let mut outer = String::new();
    let mut holes = String::new();
    for c in contours {
        path_data(&mut all, c.vertices, 0.0);
        path_data(
            if c.hole { &mut holes } else { &mut outer },
            c.vertices,
            0.0,
        );
    }
    let _ = writeln!(
        s,
        "<path d=\"{all}\" fill=\"#c8d3e0\" fill-rule=\"evenodd\" stroke=\"none\"/>"
    );
    let _ = writeln!(
        s,
        "<path d=\"{outer}\" fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"{}\"/>",
        num(stroke)
    );
    let _ = writeln!(
        s,
        "<path d=\"{holes}\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"{}\"/>",
        num(stroke)
    );
    s.push_str("</svg>\n");
    s
}
