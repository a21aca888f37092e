//! SVG pictures of a program's toolpath (the sheets of a nesting are drawn in
//! [`mod@crate::nest`]). Path data is wjp-geometry's `svg::PathData`.

use std::fmt::Write;

use wjp_geometry::svg::{svg_open, PathData, SvgFrame};
use wjp_geometry::{Bbox, Point};

use crate::toolpath::{ContourCut, CutContour, CutKind, Move};

/// The drawing (grey), the cuts (blue), leads (green), rapids (red dashes) and
/// pierces (circles).
pub fn toolpath_svg(contours: &[CutContour], cuts: &[ContourCut], home: Point) -> String {
    let mut bb = Bbox::EMPTY;
    for c in contours {
        bb.union(&c.path.bbox());
    }
    for c in cuts {
        bb.add(c.pierce);
        for m in &c.moves {
            if let Move::Cut { to, .. } = m {
                bb.add(*to);
            }
        }
    }
    bb.add(home);
    let pad = 5.0;
    let (x0, y0) = (bb.min_x - pad, bb.min_y - pad);
    let (w, h) = (bb.width() + 2.0 * pad, bb.height() + 2.0 * pad);
    // SVG y = flip - drawing y: the picture spans the same y range as the drawing.
    let flip = bb.max_y + bb.min_y;
    let frame = SvgFrame {
        left: 0.0,
        top: flip,
        decimals: 3,
    };
    let f = |v: f64| frame.size(v);
    let mut s = String::new();
    s.push_str(&svg_open(x0, flip - (y0 + h), w, h));
    s.push('\n');
    let sw = (w.max(h) / 800.0).max(0.05);
    let _ = writeln!(
        s,
        r#"<g fill="none" stroke="grey" stroke-width="{}">"#,
        f(sw)
    );
    for c in contours {
        let mut d = PathData::new(frame);
        d.path(&c.path);
        let _ = writeln!(s, r#"<path d="{}"/>"#, d.as_str());
    }
    s.push_str("</g>\n");
    let mut pos = home;
    let mut rapids = PathData::new(frame);
    let mut cutd = PathData::new(frame);
    let mut leads = PathData::new(frame);
    let mut pierces = String::new();
    for c in cuts {
        rapids.move_to(pos);
        rapids.line_to(c.pierce);
        let _ = write!(
            pierces,
            r#"<circle cx="{}" cy="{}" r="{}"/>"#,
            frame.x(c.pierce.x),
            frame.y(c.pierce.y),
            f(sw * 3.0)
        );
        let mut cur = c.pierce;
        for m in &c.moves {
            if let Move::Cut { to, bulge, kind } = *m {
                let target = if kind == CutKind::Contour {
                    &mut cutd
                } else {
                    &mut leads
                };
                target.move_to(cur);
                target.segment_to(cur, to, bulge);
                cur = to;
            }
        }
        pos = cur;
    }
    let _ = writeln!(
        s,
        r#"<path d="{}" fill="none" stroke="red" stroke-dasharray="{} {}" stroke-width="{}"/>"#,
        rapids.as_str(),
        f(sw * 4.0),
        f(sw * 3.0),
        f(sw)
    );
    let _ = writeln!(
        s,
        r#"<path d="{}" fill="none" stroke="blue" stroke-width="{}"/>"#,
        cutd.as_str(),
        f(sw * 1.5)
    );
    let _ = writeln!(
        s,
        r#"<path d="{}" fill="none" stroke="green" stroke-width="{}"/>"#,
        leads.as_str(),
        f(sw * 1.5)
    );
    let _ = writeln!(s, r#"<g fill="orange">{pierces}</g>"#);
    s.push_str("</svg>\n");
    s
}
