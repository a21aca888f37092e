//! An SVG picture of an analysed drawing: outer contours, holes and open chains in
//! distinct styles, pierce points, rapid moves and the cut order. Arcs are drawn as
//! SVG arcs. Y is flipped (DXF grows up, SVG down); one user unit is a millimetre and
//! the picture is the drawing's real size ([`super::page`]).

use std::fmt::Write as _;

use super::page::svg_open;
use super::path::{PathData, SvgFrame};
use crate::geom::Point;
use crate::report::AnalysisReport;
use crate::topology::ContourRole;

impl AnalysisReport {
    /// An SVG picture of the drawing (see [`render`]).
    pub fn to_svg(&self) -> String {
        render(self)
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Render the report's drawing.
pub fn render(r: &AnalysisReport) -> String {
    let Some([x0, y0, x1, y1]) = r.metrics.bbox_mm else {
        return format!(
            "{}<text x=\"5\" y=\"18\" font-family=\"sans-serif\" font-size=\"8\">no cuttable geometry</text></svg>\n",
            svg_open(0.0, 0.0, 100.0, 30.0)
        );
    };
    let w = (x1 - x0).max(1e-6);
    let h = (y1 - y0).max(1e-6);
    let margin = 0.05 * w.max(h);
    let size = w.max(h);
    let stroke = size / 800.0;
    let frame = SvgFrame {
        left: x0 - margin,
        top: y1 + margin,
        decimals: 6,
    };
    let vw = w + 2.0 * margin;
    let vh = h + 2.0 * margin;
    let mut s = String::new();
    s.push_str(&svg_open(0.0, 0.0, vw, vh));
    s.push('\n');
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
        if c.path.vertices.is_empty() {
            continue;
        }
        let mut d = PathData::new(frame);
        d.path(&c.path);
        let d = d.into_string();
        let _ = writeln!(
            s,
            "<path class=\"{class}\" data-contour=\"{}\" data-layer=\"{}\" d=\"{d}\"/>",
            c.id,
            esc(&c.layer)
        );
    }
    // Rapid moves between pierce points, pierce points, order numbers.
    if r.pierce_points_mm.len() > 1 {
        let mut d = PathData::new(frame);
        for (i, p) in r.pierce_points_mm.iter().enumerate() {
            let p = Point::new(p[0], p[1]);
            if i == 0 {
                d.move_to(p);
            } else {
                d.line_to(p);
            }
        }
        let _ = writeln!(s, "<path class=\"rapid\" d=\"{}\"/>", d.as_str());
    }
    let dot = size / 250.0;
    let label_every = (r.pierce_points_mm.len() / 200).max(1);
    for (i, p) in r.pierce_points_mm.iter().enumerate() {
        let _ = writeln!(
            s,
            "<circle class=\"pierce\" cx=\"{}\" cy=\"{}\" r=\"{}\"/>",
            frame.x(p[0]),
            frame.y(p[1]),
            frame.size(dot)
        );
        if i % label_every == 0 {
            let _ = writeln!(
                s,
                "<text class=\"order\" x=\"{}\" y=\"{}\">{}</text>",
                frame.x(p[0] + dot * 1.5),
                frame.y(p[1] + dot * 1.5),
                i + 1
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
