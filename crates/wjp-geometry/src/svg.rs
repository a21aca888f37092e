//! An SVG picture of an analysed drawing: outer contours, holes and open chains in
//! distinct styles, pierce points, rapid moves and the cut order. Arcs are drawn as
//! SVG arcs. Y is flipped (DXF grows up, SVG down); units are millimetres.

use std::fmt::Write as _;

use crate::geom::bulge_arc;
use crate::report::AnalysisReport;
use crate::topology::ContourRole;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Render the report's drawing.
pub fn render(r: &AnalysisReport) -> String {
    let Some([x0, y0, x1, y1]) = r.metrics.bbox_mm else {
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"60\" viewBox=\"0 0 200 60\"><text x=\"10\" y=\"35\" font-family=\"sans-serif\" font-size=\"14\">no cuttable geometry</text></svg>\n".to_owned();
    };
    let w = (x1 - x0).max(1e-6);
    let h = (y1 - y0).max(1e-6);
    let margin = 0.05 * w.max(h);
    let size = w.max(h);
    let stroke = size / 800.0;
    let px = |x: f64| x - x0 + margin;
    let py = |y: f64| y1 - y + margin;
    let vw = w + 2.0 * margin;
    let vh = h + 2.0 * margin;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {vw:.4} {vh:.4}\" width=\"{:.0}\" height=\"{:.0}\">",
        800.0 * vw / vw.max(vh),
        800.0 * vh / vw.max(vh)
    );
    let _ = writeln!(
        s,
        "<title>{}</title>",
        esc(&format!(
            "{} contours, {:.1} mm cut, {} pierces",
            r.contours.len(),
            r.metrics.cut_length_mm,
            r.metrics.pierce_count
        ))
    );
    let _ = writeln!(
        s,
        "<style>.outer{{fill:none;stroke:#111;stroke-width:{stroke:.5}}} .hole{{fill:none;stroke:#1565c0;stroke-width:{stroke:.5}}} .open{{fill:none;stroke:#d32f2f;stroke-width:{:.5};stroke-dasharray:{:.5} {:.5}}} .rapid{{fill:none;stroke:#9e9e9e;stroke-width:{:.5};stroke-dasharray:{:.5} {:.5}}} .pierce{{fill:#2e7d32}} .order{{fill:#2e7d32;font-family:sans-serif;font-size:{:.5}px}}</style>",
        stroke * 1.5,
        stroke * 6.0,
        stroke * 3.0,
        stroke * 0.7,
        stroke * 2.0,
        stroke * 2.0,
        size / 60.0
    );
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{vw:.4}\" height=\"{vh:.4}\" fill=\"#fff\"/>"
    );
    for c in &r.contours {
        let class = match c.role {
            ContourRole::Outer => "outer",
            ContourRole::Hole => "hole",
            ContourRole::Open => "open",
        };
        let v = &c.path.vertices;
        if v.is_empty() {
            continue;
        }
        let mut d = format!("M{:.4} {:.4}", px(v[0].x), py(v[0].y));
        for (a, b, k) in c.path.segments() {
            match bulge_arc(a, b, k) {
                Some(arc) => {
                    let large = if arc.sweep.abs() > std::f64::consts::PI {
                        1
                    } else {
                        0
                    };
                    // After the Y flip a counter-clockwise arc runs clockwise on screen,
                    // which is SVG's positive sweep (flag 1).
                    let sweep = if arc.sweep > 0.0 { 1 } else { 0 };
                    let _ = write!(
                        d,
                        " A{:.4} {:.4} 0 {large} {sweep} {:.4} {:.4}",
                        arc.radius,
                        arc.radius,
                        px(b.x),
                        py(b.y)
                    );
                }
                None => {
                    let _ = write!(d, " L{:.4} {:.4}", px(b.x), py(b.y));
                }
            }
        }
        if c.closed {
            d.push_str(" Z");
        }
        let _ = writeln!(
            s,
            "<path class=\"{class}\" data-contour=\"{}\" data-layer=\"{}\" d=\"{d}\"/>",
            c.id,
            esc(&c.layer)
        );
    }
    // Rapid moves between pierce points, pierce points, order numbers.
    if r.pierce_points_mm.len() > 1 {
        let mut d = String::new();
        for (i, p) in r.pierce_points_mm.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.4} {:.4} ",
                if i == 0 { "M" } else { "L" },
                px(p[0]),
                py(p[1])
            );
        }
        let _ = writeln!(s, "<path class=\"rapid\" d=\"{}\"/>", d.trim_end());
    }
    let dot = size / 250.0;
    let label_every = (r.pierce_points_mm.len() / 200).max(1);
    for (i, p) in r.pierce_points_mm.iter().enumerate() {
        let _ = writeln!(
            s,
            "<circle class=\"pierce\" cx=\"{:.4}\" cy=\"{:.4}\" r=\"{dot:.4}\"/>",
            px(p[0]),
            py(p[1])
        );
        if i % label_every == 0 {
            let _ = writeln!(
                s,
                "<text class=\"order\" x=\"{:.4}\" y=\"{:.4}\">{}</text>",
                px(p[0]) + dot * 1.5,
                py(p[1]) - dot * 1.5,
                i + 1
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
