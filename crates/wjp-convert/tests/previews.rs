//! The conversion's SVG preview is the traced geometry: read back by the same
//! independent path reader as wjp-geometry's pictures, each outline has the length
//! and area of the contour it draws, and the circle of `simple_shapes.png` has the
//! area of its pixels (a circle, not a lens).

use wjp_convert::{image_to_dxf, ConvertOptions};
use wjp_geometry::Path;

use crate::support::{blobs, fixture, grey};
use crate::svg_read::{attribute_of, millimetre_size, parse_path, path_tags};

#[test]
fn simple_shapes_preview_is_the_geometry() {
    let bytes = fixture("images/simple_shapes.png");
    let conv = image_to_dxf(&bytes, &ConvertOptions::default()).expect("converts");
    let (w, h, vb) = millimetre_size(&conv.svg);
    assert!(
        (w - vb[2]).abs() < 1e-3 && (h - vb[3]).abs() < 1e-3,
        "size {w} mm x {h} mm is the view box {vb:?}"
    );
    let size = conv.report.size_mm;
    assert!(
        w >= size[0] && w < size[0] * 1.1,
        "{w} mm for a {size:?} mm drawing"
    );

    // The first path fills every contour, in the order of `contours`.
    let tags = path_tags(&conv.svg);
    let d = attribute_of(tags[0], "d").expect("path data");
    let subs = parse_path(&d);
    assert_eq!(subs.len(), conv.contours.len());
    for (i, (sub, c)) in subs.iter().zip(&conv.contours).enumerate() {
        let path = Path {
            vertices: c.vertices.clone(),
            closed: true,
        };
        // Written with 6 decimals: each point within 7.1e-7 of the truth.
        let r = 0.5e-6 * std::f64::consts::SQRT_2;
        let (len, area) = (path.length(), path.signed_area());
        assert!(sub.closed, "contour {i} closed");
        assert!(
            (sub.length() - len).abs() <= 1e-6 * len + 4.0 * r * sub.segments as f64,
            "contour {i}: drawn length {} vs {len}",
            sub.length()
        );
        // y is flipped: the drawn signed area is the contour's negated.
        assert!(
            (-sub.signed_area() - area).abs() <= 2e-6 * area.abs() + 2.0 * r * len,
            "contour {i}: drawn area {} vs {area}",
            -sub.signed_area()
        );
    }

    // Independent truth from the pixels: the region holding the circle (it
    // touches the L-bar's upright) has its pixel count as area, 1 mm per pixel.
    let (pw, ph, g) = grey(&bytes);
    let regions = blobs(pw, ph, |x, y| g[y * pw + x] >= 128);
    let with_circle = regions.iter().max_by_key(|b| b.pixels).expect("regions");
    let drawn = subs
        .iter()
        .map(|s| s.signed_area().abs())
        .fold(0.0f64, f64::max);
    let rel = (drawn - with_circle.pixels as f64).abs() / with_circle.pixels as f64;
    assert!(
        rel < 0.03,
        "circle and bar drawn as {drawn} mm2, {} px in the image",
        with_circle.pixels
    );
    assert!(conv.report.arc_count > 0, "the circle is fitted with arcs");
}
