//! A tiny ASCII DXF writer for hand-made cases.

use wjp_geometry::{AnalysisOptions, AnalysisReport};

pub fn f(v: f64) -> String {
    format!("{v}")
}

pub fn line(x1: f64, y1: f64, x2: f64, y2: f64) -> String {
    format!(
        "0\nLINE\n8\nCUT\n10\n{}\n20\n{}\n30\n0\n11\n{}\n21\n{}\n31\n0\n",
        f(x1),
        f(y1),
        f(x2),
        f(y2)
    )
}

/// LWPOLYLINE from (x, y, bulge) vertices.
pub fn lwpoly(v: &[(f64, f64, f64)], closed: bool) -> String {
    let mut s = format!(
        "0\nLWPOLYLINE\n8\nCUT\n90\n{}\n70\n{}\n",
        v.len(),
        if closed { 1 } else { 0 }
    );
    for (x, y, b) in v {
        s += &format!("10\n{}\n20\n{}\n", f(*x), f(*y));
        if *b != 0.0 {
            s += &format!("42\n{}\n", f(*b));
        }
    }
    s
}

/// 2D POLYLINE with VERTEX entities and SEQEND.
pub fn polyline2d(v: &[(f64, f64, f64)], closed: bool) -> String {
    let mut s = format!(
        "0\nPOLYLINE\n8\nCUT\n66\n1\n10\n0\n20\n0\n30\n0\n70\n{}\n",
        if closed { 1 } else { 0 }
    );
    for (x, y, b) in v {
        s += &format!(
            "0\nVERTEX\n8\nCUT\n10\n{}\n20\n{}\n30\n0\n42\n{}\n",
            f(*x),
            f(*y),
            f(*b)
        );
    }
    s + "0\nSEQEND\n8\nCUT\n"
}

pub fn circle(x: f64, y: f64, r: f64) -> String {
    format!(
        "0\nCIRCLE\n8\nCUT\n10\n{}\n20\n{}\n30\n0\n40\n{}\n",
        f(x),
        f(y),
        f(r)
    )
}

pub fn circle_ocs(x: f64, y: f64, r: f64, ez: f64) -> String {
    format!(
        "0\nCIRCLE\n8\nCUT\n10\n{}\n20\n{}\n30\n0\n40\n{}\n210\n0\n220\n0\n230\n{}\n",
        f(x),
        f(y),
        f(r),
        f(ez)
    )
}

pub fn arc(x: f64, y: f64, r: f64, a0: f64, a1: f64, ez: f64) -> String {
    format!(
        "0\nARC\n8\nCUT\n10\n{}\n20\n{}\n30\n0\n40\n{}\n50\n{}\n51\n{}\n210\n0\n220\n0\n230\n{}\n",
        f(x),
        f(y),
        f(r),
        f(a0),
        f(a1),
        f(ez)
    )
}

#[allow(clippy::too_many_arguments)]
pub fn ellipse(cx: f64, cy: f64, mx: f64, my: f64, ratio: f64, t0: f64, t1: f64) -> String {
    format!(
        "0\nELLIPSE\n8\nCUT\n10\n{}\n20\n{}\n30\n0\n11\n{}\n21\n{}\n31\n0\n40\n{}\n41\n{}\n42\n{}\n",
        f(cx),
        f(cy),
        f(mx),
        f(my),
        f(ratio),
        f(t0),
        f(t1)
    )
}

pub fn spline(degree: usize, knots: &[f64], weights: &[f64], ctrl: &[(f64, f64)]) -> String {
    let mut s = format!(
        "0\nSPLINE\n8\nCUT\n70\n8\n71\n{degree}\n72\n{}\n73\n{}\n74\n0\n",
        knots.len(),
        ctrl.len()
    );
    for k in knots {
        s += &format!("40\n{}\n", f(*k));
    }
    for w in weights {
        s += &format!("41\n{}\n", f(*w));
    }
    for (x, y) in ctrl {
        s += &format!("10\n{}\n20\n{}\n30\n0\n", f(*x), f(*y));
    }
    s
}

pub fn spline_fit(fit: &[(f64, f64)]) -> String {
    let mut s = format!(
        "0\nSPLINE\n8\nCUT\n70\n8\n71\n3\n72\n0\n73\n0\n74\n{}\n",
        fit.len()
    );
    for (x, y) in fit {
        s += &format!("11\n{}\n21\n{}\n31\n0\n", f(*x), f(*y));
    }
    s
}

#[allow(clippy::too_many_arguments)]
pub fn insert(
    name: &str,
    x: f64,
    y: f64,
    sx: f64,
    sy: f64,
    rot: f64,
    cols: u32,
    rows: u32,
    cs: f64,
    rs: f64,
) -> String {
    format!(
        "0\nINSERT\n8\nCUT\n2\n{name}\n10\n{}\n20\n{}\n30\n0\n41\n{}\n42\n{}\n43\n1\n50\n{}\n70\n{cols}\n71\n{rows}\n44\n{}\n45\n{}\n",
        f(x),
        f(y),
        f(sx),
        f(sy),
        f(rot),
        f(cs),
        f(rs)
    )
}

pub fn place(name: &str, x: f64, y: f64) -> String {
    insert(name, x, y, 1.0, 1.0, 0.0, 1, 1, 0.0, 0.0)
}

pub fn text(s: &str) -> String {
    format!("0\nTEXT\n8\nNOTES\n10\n0\n20\n0\n30\n0\n40\n2.5\n1\n{s}\n")
}

/// A whole document: `$INSUNITS` (if any), blocks (name, base, content), entities.
pub fn doc(
    insunits: Option<i64>,
    blocks: &[(&str, (f64, f64), String)],
    entities: &str,
) -> Vec<u8> {
    let mut s = String::from("0\nSECTION\n2\nHEADER\n9\n$ACADVER\n1\nAC1015\n");
    if let Some(u) = insunits {
        s += &format!("9\n$INSUNITS\n70\n{u}\n");
    }
    s += "0\nENDSEC\n0\nSECTION\n2\nBLOCKS\n";
    for (name, (bx, by), content) in blocks {
        s += &format!(
            "0\nBLOCK\n8\n0\n2\n{name}\n70\n0\n10\n{}\n20\n{}\n30\n0\n3\n{name}\n",
            f(*bx),
            f(*by)
        );
        s += content;
        s += "0\nENDBLK\n8\n0\n";
    }
    s += "0\nENDSEC\n0\nSECTION\n2\nENTITIES\n";
    s += entities;
    s += "0\nENDSEC\n0\nEOF\n";
    s.into_bytes()
}

pub fn mm(entities: &str) -> Vec<u8> {
    doc(Some(4), &[], entities)
}

pub fn analyze(bytes: &[u8]) -> AnalysisReport {
    analyze_with(bytes, &AnalysisOptions::default())
}

pub fn analyze_with(bytes: &[u8], o: &AnalysisOptions) -> AnalysisReport {
    match wjp_geometry::analyze_dxf_bytes(bytes, o, &mut |_, _| {}) {
        Ok(r) => r,
        Err(e) => panic!("analysis failed: [{}] {e}", e.code()),
    }
}

pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-12)
}

pub fn has_warning(r: &AnalysisReport, code: &str) -> bool {
    r.warnings.iter().any(|w| w.code == code)
}

/// Arc length of an ellipse with semi-axes a, b between parameters t0 and t1,
/// by a fine midpoint rule (independent of the crate's flattening).
pub fn ellipse_arc_length(a: f64, b: f64, t0: f64, t1: f64) -> f64 {
    let n = 200_000;
    let h = (t1 - t0) / n as f64;
    (0..n)
        .map(|i| {
            let t = t0 + (i as f64 + 0.5) * h;
            (a * t.sin()).hypot(b * t.cos()) * h
        })
        .sum()
}
