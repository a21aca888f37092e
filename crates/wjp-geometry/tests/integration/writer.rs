//! The DXF writer read back by our own reader: what goes out comes back.

use std::collections::HashSet;

use wjp_geometry::dxf::{write_dxf, Layer, Polyline};
use wjp_geometry::{load_drawing, AnalysisOptions, ContourRole, Path, Vertex};

/// A 100 x 60 plate with a rounded corner, a round hole and an open engraving
/// line with an arc, on three layers.
fn drawing() -> Vec<(&'static str, Path)> {
    let outer = Path {
        vertices: vec![
            Vertex::new(0.0, 0.0, 0.0),
            Vertex::new(90.0, 0.0, (std::f64::consts::PI / 8.0).tan()),
            Vertex::new(100.0, 10.0, 0.0),
            Vertex::new(100.0, 60.0, 0.0),
            Vertex::new(0.0, 60.0, 0.0),
        ],
        closed: true,
    };
    // Clockwise, as holes are cut.
    let hole = Path {
        vertices: vec![Vertex::new(40.0, 30.0, -1.0), Vertex::new(20.0, 30.0, -1.0)],
        closed: true,
    };
    let line = Path {
        vertices: vec![
            Vertex::new(60.0, 20.0, 0.0),
            Vertex::new(70.0, 20.0, 0.414_213_562_373),
            Vertex::new(80.0, 30.0, 0.0),
        ],
        closed: false,
    };
    vec![("OUTER", outer), ("INNER", hole), ("OPEN", line)]
}

fn written() -> String {
    let shapes = drawing();
    let polylines: Vec<Polyline<'_>> = shapes
        .iter()
        .map(|(layer, p)| Polyline {
            layer,
            vertices: &p.vertices,
            closed: p.closed,
        })
        .collect();
    let layers: Vec<Layer<'_>> = [("OUTER", 5), ("INNER", 1), ("OPEN", 2)]
        .into_iter()
        .map(|(name, color)| Layer { name, color })
        .collect();
    write_dxf("round trip", &layers, &polylines, [0.0, 0.0, 100.0, 60.0])
}

#[test]
fn written_contours_read_back_with_their_layers_arcs_and_figures() {
    let text = written();
    let d = load_drawing(text.as_bytes(), &AnalysisOptions::default(), &mut |_, _| {}).unwrap();
    // Millimetres, declared: no units warning, no rescale.
    assert_eq!(d.units.declared, 4);
    assert_eq!(d.units.factor_to_mm, 1.0);
    assert!(
        d.warnings.iter().all(|w| !w.code.starts_with("units")),
        "{:?}",
        d.warnings
    );
    assert_eq!(d.file.version.as_deref(), Some("AC1015"));
    let bbox = d.bbox_mm.unwrap();
    for (got, want) in bbox.iter().zip([0.0, 0.0, 100.0, 60.0]) {
        assert!((got - want).abs() < 1e-6, "extents {bbox:?}");
    }
    let shapes = drawing();
    assert_eq!(d.contours().len(), shapes.len());
    for (layer, path) in &shapes {
        let c = d
            .contours()
            .iter()
            .find(|c| c.layer == *layer)
            .unwrap_or_else(|| panic!("no contour on layer {layer}"));
        assert_eq!(c.closed, path.closed, "{layer}");
        assert!(
            (c.length_mm - path.length()).abs() < 1e-5,
            "{layer}: length {}",
            c.length_mm
        );
        assert!(
            (c.area_mm2 - path.signed_area()).abs() < 1e-4,
            "{layer}: area {}",
            c.area_mm2
        );
        assert_eq!(c.vertices().len(), path.vertices.len(), "{layer}");
        for (got, want) in c.vertices().iter().zip(&path.vertices) {
            assert!((got.x - want.x).abs() < 1e-6 && (got.y - want.y).abs() < 1e-6);
            assert!(
                (got.bulge - want.bulge).abs() < 1e-6,
                "{layer}: bulge {}",
                got.bulge
            );
        }
    }
    let role = |layer: &str| d.contours().iter().find(|c| c.layer == layer).unwrap().role;
    assert_eq!(role("OUTER"), ContourRole::Outer);
    assert_eq!(role("INNER"), ContourRole::Hole);
    assert_eq!(role("OPEN"), ContourRole::Open);
    assert_eq!(d.parts().len(), 1);
    assert_eq!(d.parts()[0].holes.len(), 1);
}

#[test]
fn every_object_has_its_own_handle_below_the_handle_seed() {
    // CAD programs that check handles refuse a file with a duplicate handle or a
    // handle seed at or below a handle in use.
    let text = written();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let pairs: Vec<(&str, &str)> = lines.chunks(2).map(|p| (p[0], p[1])).collect();
    let at = pairs
        .iter()
        .position(|p| *p == ("9", "$HANDSEED"))
        .expect("$HANDSEED");
    let hex = |v: &str| u64::from_str_radix(v, 16).unwrap();
    let seed = hex(pairs[at + 1].1);
    let mut handles = HashSet::new();
    for (i, (code, value)) in pairs.iter().enumerate() {
        if i != at + 1 && (*code == "5" || *code == "105") {
            assert!(handles.insert(hex(value)), "handle {value} is used twice");
        }
    }
    assert!(handles.len() > 20);
    assert!(handles.iter().all(|&h| h < seed), "seed {seed:X}");
    assert_eq!(pairs.last(), Some(&("0", "EOF")));
}
