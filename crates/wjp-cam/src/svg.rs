//! SVG pictures: the toolpath of a program and the sheets of a nesting.

use std::fmt::Write;

use wjp_geometry::geom::bulge_arc;
use wjp_geometry::{Path, Point};

use crate::toolpath::{ContourCut, CutContour, CutKind, Move};

fn f(v: f64) -> String {
    crate::dialect::trim_num(v, 3)
}

/// SVG path data of a bulge path, Y flipped by `flip_y` (drawing Y up, SVG Y down).
pub fn path_d(path: &Path, flip_y: f64) -> String {
    let mut d = String::new();
    let Some(first) = path.vertices.first() else {
        return d;
    };
    let _ = write!(d, "M{} {}", f(first.x), f(flip_y - first.y));
    for (a, b, k) in path.segments() {
        seg_d(&mut d, a, b, k, flip_y);
    }
    if path.closed {
        d.push('Z');
    }
    d
}

fn seg_d(d: &mut String, a: Point, b: Point, k: f64, flip_y: f64) {
    match bulge_arc(a, b, k) {
        Some(arc) => {
            let large = if arc.sweep.abs() > std::f64::consts::PI {
                1
            } else {
                0
            };
            // Y is flipped, so counter-clockwise in the drawing is clockwise in SVG.
            let sweep = if arc.sweep > 0.0 { 0 } else { 1 };
            let _ = write!(
                d,
                " A{} {} 0 {} {} {} {}",
                f(arc.radius),
                f(arc.radius),
                large,
                sweep,
                f(b.x),
                f(flip_y - b.y)
            );
        }
        None => {
            let _ = write!(d, " L{} {}", f(b.x), f(flip_y - b.y));
        }
    }
}

/// The drawing (grey), the cuts (blue), leads (green), rapids (red dashes) and
/// pierces (circles).
pub fn toolpath_svg(contours: &[CutContour], cuts: &[ContourCut], home: Point) -> String {
    let mut bb = wjp_geometry::Bbox::EMPTY;
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
    let flip = bb.max_y + bb.min_y;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="{} {} {} {}" width="{}mm" height="{}mm">"#,
        f(x0),
        f(flip - (y0 + h)),
        f(w),
        f(h),
        f(w),
        f(h)
    );
    let sw = (w.max(h) / 800.0).max(0.05);
    let _ = writeln!(
        s,
        r#"<g fill="none" stroke="grey" stroke-width="{}">"#,
        f(sw)
    );
    for c in contours {
        let _ = writeln!(s, r#"<path d="{}"/>"#, path_d(&c.path, flip));
    }
    s.push_str("</g>\n");
    let mut pos = home;
    let mut rapids = String::new();
    let mut cutd = String::new();
    let mut leads = String::new();
    let mut pierces = String::new();
    for c in cuts {
        let _ = write!(
            rapids,
            "M{} {} L{} {} ",
            f(pos.x),
            f(flip - pos.y),
            f(c.pierce.x),
            f(flip - c.pierce.y)
        );
        let _ = write!(
            pierces,
            r#"<circle cx="{}" cy="{}" r="{}"/>"#,
            f(c.pierce.x),
            f(flip - c.pierce.y),
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
                let _ = write!(target, "M{} {}", f(cur.x), f(flip - cur.y));
                seg_d(target, cur, to, bulge, flip);
                target.push(' ');
                cur = to;
            }
        }
        pos = cur;
    }
    let _ = writeln!(
        s,
        r#"<path d="{}" fill="none" stroke="red" stroke-dasharray="{} {}" stroke-width="{}"/>"#,
        rapids.trim_end(),
        f(sw * 4.0),
        f(sw * 3.0),
        f(sw)
    );
    let _ = writeln!(
        s,
        r#"<path d="{}" fill="none" stroke="blue" stroke-width="{}"/>"#,
        cutd.trim_end(),
        f(sw * 1.5)
    );
    let _ = writeln!(
        s,
        r#"<path d="{}" fill="none" stroke="green" stroke-width="{}"/>"#,
        leads.trim_end(),
        f(sw * 1.5)
    );
    let _ = writeln!(s, r#"<g fill="orange">{pierces}</g>"#);
    s.push_str("</svg>\n");
    s
}
