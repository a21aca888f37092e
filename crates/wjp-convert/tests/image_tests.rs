//! Image to DXF: the fixture round trip through wjp-geometry, holes, orientation,
//! guard rails.

use wjp_convert::{image_to_dxf, ContourRole, ConvertOptions};
use wjp_geometry::{analyze_dxf_bytes, AnalysisOptions, ContourRole as GeoRole};

use crate::support::{blobs, fixture, grey, png};

fn analyse(dxf: &str) -> wjp_geometry::AnalysisReport {
    analyze_dxf_bytes(dxf.as_bytes(), &AnalysisOptions::default(), &mut |_, _| {})
        .expect("wjp-geometry reads the DXF we wrote")
}

#[test]
fn simple_shapes_round_trip() {
    let bytes = fixture("images/simple_shapes.png");
    // Independent truth: the light shapes of the fixture, by flood fill.
    let (w, h, g) = grey(&bytes);
    let shapes = blobs(w, h, |x, y| g[y * w + x] >= 128);
    // The fixture draws 4 shapes, but the circle overlaps the L-bar's upright
    // (columns 348-352 are solid through the circle's rows): 3 connected regions,
    // so 3 closed outlines are the truth.
    assert_eq!(shapes.len(), 3, "the fixture has 3 regions: {shapes:?}");

    let conv = image_to_dxf(&bytes, &ConvertOptions::default()).unwrap();
    let r = &conv.report;
    assert!(
        r.auto_inverted,
        "light shapes on black are found by auto invert"
    );
    assert_eq!(r.outer_count, shapes.len(), "{r:#?}");
    assert_eq!(r.hole_count, 0);
    assert_eq!(r.insunits, 4);
    assert!(conv.dxf.contains("$INSUNITS\n 70\n4\n"));

    // Scale 1 mm/px; the drawing's origin is the lower-left of the shapes' box.
    let x0 = shapes.iter().map(|b| b.bbox[0]).min().unwrap() as f64;
    let y1 = shapes.iter().map(|b| b.bbox[3]).max().unwrap() as f64;
    let report = analyse(&conv.dxf);
    assert_eq!(report.units.declared, 4);
    assert!((report.units.factor_to_mm - 1.0).abs() < 1e-12);
    let outers: Vec<_> = report
        .contours
        .iter()
        .filter(|c| c.closed && c.role == GeoRole::Outer)
        .collect();
    assert_eq!(
        outers.len(),
        shapes.len(),
        "wjp-geometry sees every region closed"
    );
    assert_eq!(report.metrics.open_chains, 0);
    let mut worst: f64 = 0.0;
    for shape in &shapes {
        // The shape's box in DXF coordinates: x shifted, y flipped.
        let want = [
            shape.bbox[0] as f64 - x0,
            y1 - shape.bbox[3] as f64,
            shape.bbox[2] as f64 - x0,
            y1 - shape.bbox[1] as f64,
        ];
        let c = outers
            .iter()
            .find(|c| (0..4).all(|i| (c.bbox_mm[i] - want[i]).abs() <= 2.0))
            .unwrap_or_else(|| panic!("no outline at {want:?}: {outers:#?}"));
        let rel = (c.area_mm2.abs() - shape.pixels as f64).abs() / shape.pixels as f64;
        eprintln!(
            "shape at {want:?}: {} px, DXF area {:.1} mm2 ({:.2}%), {} vertices",
            shape.pixels,
            c.area_mm2.abs(),
            rel * 100.0,
            c.vertex_count
        );
        worst = worst.max(rel);
    }
    assert!(
        worst < 0.03,
        "areas agree within 3%: worst {:.2}%",
        worst * 100.0
    );
    // Traced, not thousands of pixel steps.
    assert!(r.vertex_count < 200, "{} vertices", r.vertex_count);
    assert!(r.arc_count > 0, "the circle is fitted with arcs");
}

#[test]
fn size_mm_scales_the_whole_drawing() {
    let bytes = fixture("images/simple_shapes.png");
    let one = image_to_dxf(&bytes, &ConvertOptions::default()).unwrap();
    let opts = ConvertOptions {
        size_mm: Some(1000.0),
        ..ConvertOptions::default()
    };
    let big = image_to_dxf(&bytes, &opts).unwrap();
    let [w, h] = big.report.size_mm;
    assert!((w.max(h) - 1000.0).abs() < 1e-9, "{w} x {h}");
    let k = big.report.scale_mm_per_px;
    let [w1, h1] = one.report.size_mm;
    assert!((w / h - w1 / h1).abs() < 1e-9, "aspect ratio kept");
    // Every contour moved with the drawing: same relative places, scaled.
    assert_eq!(one.contours.len(), big.contours.len());
    for (a, b) in one.contours.iter().zip(&big.contours) {
        for i in 0..4 {
            assert!(
                (a.bbox_mm[i] * k - b.bbox_mm[i]).abs() < 2.0 * k,
                "{a:?} {b:?}"
            );
        }
    }
    let report = analyse(&big.dxf);
    let bbox = report.metrics.bbox_mm.unwrap();
    assert!(
        (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]) > 990.0,
        "{bbox:?}"
    );
}

/// Dark pixels where `f` holds, on white.
fn drawing(w: u32, h: u32, f: impl Fn(f64, f64) -> bool) -> Vec<u8> {
    png(w, h, |x, y| {
        if f(x as f64 + 0.5, y as f64 + 0.5) {
            0
        } else {
            255
        }
    })
}

#[test]
fn ring_keeps_its_hole_and_island() {
    let r = |x: f64, y: f64| (x - 100.0).hypot(y - 100.0);
    let ink = |x: f64, y: f64| (30.0..=60.0).contains(&r(x, y)) || r(x, y) <= 12.0;
    let bytes = drawing(200, 200, ink);
    let conv = image_to_dxf(&bytes, &ConvertOptions::default()).unwrap();
    let cs = &conv.contours;
    assert_eq!(cs.len(), 3, "{cs:#?}");
    let outer = cs.iter().position(|c| c.depth == 0).unwrap();
    let hole = cs.iter().position(|c| c.depth == 1).unwrap();
    let island = cs.iter().position(|c| c.depth == 2).unwrap();
    assert_eq!(cs[outer].role, ContourRole::Outer);
    assert_eq!(cs[hole].role, ContourRole::Hole);
    assert_eq!(cs[hole].layer, "INNER");
    assert_eq!(cs[hole].parent, Some(outer));
    assert_eq!(cs[island].role, ContourRole::Outer);
    assert_eq!(cs[island].layer, "OUTER");
    assert_eq!(cs[island].parent, Some(hole));
    assert_eq!(conv.report.hole_count, 1);
    assert!(conv.dxf.contains("\n  8\nINNER\n"));

    // Independent truth: pixel counts of the ring and the hole.
    let (mut ring_px, mut hole_px, mut dot_px) = (0usize, 0usize, 0usize);
    for y in 0..200 {
        for x in 0..200 {
            let d = r(x as f64 + 0.5, y as f64 + 0.5);
            if (30.0..=60.0).contains(&d) {
                ring_px += 1;
            } else if d < 30.0 && d > 12.0 {
                hole_px += 1;
            } else if d <= 12.0 {
                dot_px += 1;
            }
        }
    }
    let report = analyse(&conv.dxf);
    assert_eq!(report.metrics.part_count, 2, "the ring and the island");
    assert_eq!(report.metrics.hole_count, 1);
    assert_eq!(report.metrics.pierce_count, 3);
    let net = report.metrics.net_area_mm2;
    let want = (ring_px + dot_px) as f64;
    eprintln!("ring: net area {net:.1} mm2 vs {want} px");
    assert!(
        (net - want).abs() / want < 0.01,
        "net area {net} vs {want} px (hole {hole_px} px)"
    );
}

#[test]
fn y_is_not_mirrored() {
    // A small block top-left, a large one bottom-right (image rows grow downward).
    let bytes = drawing(100, 80, |x, y| {
        (10.0..30.0).contains(&x) && (5.0..15.0).contains(&y)
            || (50.0..90.0).contains(&x) && (50.0..75.0).contains(&y)
    });
    let conv = image_to_dxf(&bytes, &ConvertOptions::default()).unwrap();
    assert_eq!(conv.contours.len(), 2);
    assert_eq!(conv.report.size_mm, [80.0, 70.0]);
    let small = conv.contours.iter().find(|c| c.area_px == 200.0).unwrap();
    let large = conv.contours.iter().find(|c| c.area_px == 1000.0).unwrap();
    // Drawing box: x 10..90, y 5..75 px; DXF y = 75 - image y.
    let close = |a: [f64; 4], b: [f64; 4]| (0..4).all(|i| (a[i] - b[i]).abs() < 1e-9);
    assert!(
        close(small.bbox_mm, [0.0, 60.0, 20.0, 70.0]),
        "{:?}",
        small.bbox_mm
    );
    assert!(
        close(large.bbox_mm, [40.0, 0.0, 80.0, 25.0]),
        "{:?}",
        large.bbox_mm
    );
    // Outers counter-clockwise.
    let small_outline = wjp_geometry::Path {
        vertices: small.vertices.clone(),
        closed: true,
    };
    assert!(small_outline.signed_area() > 0.0);
}

#[test]
fn svg_preview_snapshot() {
    let bytes = fixture("images/simple_shapes.png");
    let conv = image_to_dxf(&bytes, &ConvertOptions::default()).unwrap();
    assert!(conv.svg.starts_with("<svg"));
    assert!(conv.svg.contains("A"), "arcs drawn as arcs");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/simple_shapes.svg"
    );
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &conv.svg).unwrap();
        std::fs::write(path.replace(".svg", ".dxf"), &conv.dxf).unwrap();
    }
    let want = std::fs::read_to_string(path).expect("snapshot (UPDATE_SNAPSHOTS=1 writes it)");
    assert_eq!(
        conv.svg, want,
        "SVG changed: review, then UPDATE_SNAPSHOTS=1"
    );
}

#[test]
fn decompression_bomb_is_refused_from_the_header() {
    let bytes = crate::support::png_claiming(100_000, 100_000);
    let err = image_to_dxf(&bytes, &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.code(), "too_many_pixels", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("100000 x 100000") && msg.contains("40000000"),
        "{msg}"
    );

    let small = ConvertOptions {
        max_pixels: 1000,
        ..ConvertOptions::default()
    };
    let err = image_to_dxf(&fixture("images/simple_shapes.png"), &small).unwrap_err();
    assert!(
        matches!(
            err,
            wjp_convert::ConvertError::TooManyPixels {
                width: 400,
                height: 400,
                pixels: 160_000,
                limit: 1000
            }
        ),
        "{err:?}"
    );
}

#[test]
fn corrupt_truncated_and_unsupported_inputs_get_clear_errors() {
    let png_bytes = fixture("images/simple_shapes.png");
    let o = ConvertOptions::default();
    let code = |b: &[u8]| image_to_dxf(b, &o).unwrap_err().code();
    assert_eq!(code(&png_bytes[..png_bytes.len() / 2]), "corrupt_image");
    assert_eq!(code(&png_bytes[..40]), "corrupt_image");
    let mut garbled = png_bytes.clone();
    for b in garbled[60..400].iter_mut() {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    assert_eq!(code(&garbled), "corrupt_image");
    assert_eq!(code(b""), "empty_input");
    assert_eq!(
        code(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
        "unsupported_format"
    );
    let dxf = b"  0\nSECTION\n  2\nENTITIES\n  0\nENDSEC\n  0\nEOF\n";
    let err = image_to_dxf(dxf, &o).unwrap_err();
    assert_eq!(err.code(), "unsupported_format");
    assert!(err.to_string().contains("DXF"), "{err}");
    assert_eq!(code(b"hello, not an image"), "unsupported_format");
    // Every prefix of a JPEG: an error or a drawing, never a panic.
    let jpg = fixture("images/sample_image.jpg");
    for cut in (0..jpg.len()).step_by(997) {
        let _ = image_to_dxf(&jpg[..cut], &o);
    }
}

#[test]
fn blank_image_has_no_shapes() {
    let err = image_to_dxf(&png(50, 40, |_, _| 255), &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.code(), "no_shapes", "{err}");
    // Specks below min_area are dropped, and the report says so.
    let specks = drawing(60, 60, |x, y| {
        (10.0..12.0).contains(&x) && (10.0..12.0).contains(&y)
            || (20.0..50.0).contains(&x) && (20.0..50.0).contains(&y)
    });
    let conv = image_to_dxf(&specks, &ConvertOptions::default()).unwrap();
    assert_eq!(conv.report.contours_found, 2);
    assert_eq!(conv.report.contours_kept, 1);
    assert_eq!(conv.report.dropped.below_min_area, 1);
}

#[test]
fn options_from_a_json_payload_with_old_names() {
    let o: ConvertOptions = serde_json::from_str(
        r#"{"min_area": 10, "threshold": 100, "size_mm": 500, "invert": true}"#,
    )
    .unwrap();
    assert_eq!(o.min_area_px, 10.0);
    assert_eq!(o.threshold, Some(100));
    assert_eq!(o.size_mm, Some(500.0));
    assert!(o.invert);
    assert_eq!(o.max_pixels, ConvertOptions::default().max_pixels);
    let bad = ConvertOptions {
        simplify_tolerance_px: 0.0,
        ..ConvertOptions::default()
    };
    let err = image_to_dxf(&fixture("images/simple_shapes.png"), &bad).unwrap_err();
    assert_eq!(err.code(), "invalid_option");
    assert!(err.to_string().contains("simplify_tolerance_px"));
    // Two ways to set the scale at once: neither silently wins.
    let both: ConvertOptions = serde_json::from_str(r#"{"size_mm": 400, "mm_per_px": 2}"#).unwrap();
    let err = image_to_dxf(&fixture("images/simple_shapes.png"), &both).unwrap_err();
    assert_eq!(err.code(), "invalid_option");
    assert!(err.to_string().contains("not both"), "{err}");
}

#[test]
fn photo_fixtures_convert_and_are_read_back() {
    for name in ["images/sample_image.jpg", "images/test_image.png"] {
        let o = ConvertOptions {
            blur_sigma: Some(1.0),
            open_radius_px: 1,
            size_mm: Some(300.0),
            ..ConvertOptions::default()
        };
        let conv = image_to_dxf(&fixture(name), &o).unwrap();
        let report = analyse(&conv.dxf);
        assert_eq!(
            report.metrics.closed_contours as usize,
            conv.contours.len(),
            "{name}: every traced outline is read back closed"
        );
        let ours = conv.report.net_area_mm2;
        let theirs = report.metrics.net_area_mm2;
        assert!(
            (ours - theirs).abs() <= 0.01 * ours.abs().max(1.0),
            "{name}: {ours} vs {theirs}"
        );
    }
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn outlines_enclose_exactly_the_foreground_pixels() {
    // Random masks, saddles everywhere: outer areas minus hole areas is the pixel
    // count, and nesting alternates outer/hole.
    let mut rng = Lcg(7);
    for case in 0..30 {
        let (w, h) = (1 + rng.next() % 40, 1 + rng.next() % 40);
        let density = rng.next() % 100;
        let cells: Vec<bool> = (0..w * h).map(|_| rng.next() % 100 < density).collect();
        let ink = cells.iter().filter(|&&b| b).count() as f64;
        let bytes = png(w as u32, h as u32, |x, y| {
            if cells[(u64::from(y) * w + u64::from(x)) as usize] {
                0
            } else {
                255
            }
        });
        let o = ConvertOptions {
            min_area_px: 0.0,
            threshold: Some(127),
            auto_invert: false,
            ..ConvertOptions::default()
        };
        match image_to_dxf(&bytes, &o) {
            Ok(conv) => {
                let net: f64 = conv
                    .contours
                    .iter()
                    .map(|c| match c.role {
                        ContourRole::Outer => c.area_px,
                        ContourRole::Hole => -c.area_px,
                    })
                    .sum();
                assert_eq!(net, ink, "case {case}: {w}x{h}");
                for c in &conv.contours {
                    match c.parent {
                        Some(p) => {
                            let parent = &conv.contours[p];
                            assert_eq!(parent.depth + 1, c.depth, "case {case}");
                            assert_ne!(parent.role, c.role, "case {case}");
                        }
                        None => {
                            assert_eq!(c.depth, 0);
                            assert_eq!(c.role, ContourRole::Outer);
                        }
                    }
                }
                // Every outline is read back closed by wjp-geometry.
                let report = analyse(&conv.dxf);
                assert_eq!(
                    report.metrics.closed_contours as usize,
                    conv.contours.len(),
                    "case {case}"
                );
            }
            Err(e) => {
                assert_eq!(ink, 0.0, "case {case}: {e}");
                assert_eq!(e.code(), "no_shapes");
            }
        }
    }
}

#[test]
fn mutated_images_never_panic() {
    let base = fixture("images/simple_shapes.png");
    let mut rng = Lcg(11);
    let o = ConvertOptions::default();
    for _ in 0..40 {
        let mut bytes = base.clone();
        for _ in 0..1 + rng.next() % 8 {
            let i = (rng.next() as usize) % bytes.len();
            bytes[i] = rng.next() as u8;
        }
        if let Err(e) = image_to_dxf(&bytes, &o) {
            assert!(!e.code().is_empty());
        }
    }
}

#[test]
fn work_budget_bounds_simplification() {
    let o = ConvertOptions {
        work_budget: 100,
        ..ConvertOptions::default()
    };
    let err = image_to_dxf(&fixture("images/simple_shapes.png"), &o).unwrap_err();
    assert_eq!(err.code(), "too_complex", "{err}");
}

#[test]
fn report_serializes_for_the_job_result() {
    let conv = image_to_dxf(
        &fixture("images/sample_image.jpg"),
        &ConvertOptions::default(),
    )
    .unwrap();
    let json = serde_json::to_value(&conv.report).unwrap();
    eprintln!("{}", serde_json::to_string(&json).unwrap());
    assert_eq!(json["image"]["format"], "JPEG");
    assert_eq!(json["image"]["width_px"], 400);
    assert_eq!(json["insunits"], 4);
    assert_eq!(
        json["contours_found"].as_u64().unwrap(),
        json["contours_kept"].as_u64().unwrap() + json["contours_dropped"].as_u64().unwrap()
    );
    assert_eq!(json["options"]["min_area_px"], 25.0);
}

#[test]
fn many_tiny_outlines_are_counted_not_kept() {
    // Found by looking at the default limits after fuzzing: a checkerboard is one
    // 8-connected foreground with a one-pixel hole per background pixel. A 6000 x
    // 6000 one (a small PNG) used to keep all 18 M holes as outlines before dropping
    // them as specks: 3.1 GB. Specks are now dropped as they are traced, so the kept
    // outlines are the outer square alone, well within a cap far below the holes'
    // total length.
    let side = 600u32;
    let board = png(side, side, |x, y| if (x + y) % 2 == 0 { 0 } else { 255 });
    let holes = (side * side / 2 - 2 * side + 2) as usize;
    let o = ConvertOptions {
        max_outline_points: 10_000,
        auto_invert: false,
        threshold: Some(127),
        ..ConvertOptions::default()
    };
    let conv = image_to_dxf(&board, &o).unwrap();
    assert_eq!(conv.report.contours_kept, 1);
    assert_eq!(conv.report.contours_found, 1 + holes);
    assert_eq!(conv.report.dropped.below_min_area, holes);
    assert_eq!(conv.report.dropped.inside_dropped, 0);

    // Kept, the holes would run over the cap: refused before they take memory.
    let keep_all = ConvertOptions {
        min_area_px: 0.0,
        ..o.clone()
    };
    let err = image_to_dxf(&board, &keep_all).unwrap_err();
    assert_eq!(err.code(), "too_complex", "{err}");
}

#[test]
fn specks_inside_specks_are_counted_as_inside_dropped() {
    // A 6 x 6 ring (enclosing 36 px) around a 4 x 4 hole with a 1-pixel island,
    // next to a 10 x 10 square: with min_area_px 40 the ring goes, and its hole and
    // island are inside a dropped outline.
    let img = png(30, 20, |x, y| {
        let ring = (2..8).contains(&x) && (2..8).contains(&y);
        let hole = (3..7).contains(&x) && (3..7).contains(&y);
        let island = x == 5 && y == 5;
        let square = (15..25).contains(&x) && (5..15).contains(&y);
        if (ring && !hole) || island || square {
            0
        } else {
            255
        }
    });
    let o = ConvertOptions {
        min_area_px: 40.0,
        ..ConvertOptions::default()
    };
    let conv = image_to_dxf(&img, &o).unwrap();
    assert_eq!(conv.report.contours_found, 4);
    assert_eq!(conv.report.contours_kept, 1);
    assert_eq!(conv.report.dropped.below_min_area, 1);
    assert_eq!(conv.report.dropped.inside_dropped, 2);
}
