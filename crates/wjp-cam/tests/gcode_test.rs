//! G-code: the program read back by an independent reader must follow the kerf
//! offsets, in the right order, with the dialect's words and units.

use crate::support::*;
use wjp_cam::{generate_gcode, GcodeOptions, LeadKind, LeadOptions, OpenContourPolicy};

const KERF: f64 = 1.1;

/// Signed distance to the square [0,100]² (positive outside).
fn sd_square(p: (f64, f64)) -> f64 {
    let dx = (p.0 - 50.0).abs() - 50.0;
    let dy = (p.1 - 50.0).abs() - 50.0;
    let out = (dx.max(0.0).powi(2) + dy.max(0.0).powi(2)).sqrt();
    out + dx.max(dy).min(0.0)
}

/// Signed distance to the circle of radius 10 at (50, 50) (positive outside).
fn sd_circle(p: (f64, f64)) -> f64 {
    ((p.0 - 50.0).powi(2) + (p.1 - 50.0).powi(2)).sqrt() - 10.0
}

fn no_leads() -> GcodeOptions {
    GcodeOptions {
        lead_in: LeadOptions {
            kind: LeadKind::None,
            length_mm: 0.0,
        },
        lead_out: LeadOptions {
            kind: LeadKind::None,
            length_mm: 0.0,
        },
        pierce_dwell_s: Some(0.5),
        ..GcodeOptions::default()
    }
}

fn sim_of(p: &wjp_cam::GcodeProgram) -> Sim {
    simulate(&p.program, &p.dialect.jet_on, &p.dialect.jet_off)
}

#[test]
fn square_with_hole_follows_the_kerf_offsets_holes_first() {
    let prog = generate_gcode(&square_with_hole(), &no_leads()).unwrap();
    let sim = sim_of(&prog);
    assert_eq!(prog.summary.pierces, 2, "one pierce per closed contour");
    assert_eq!(sim.jet_ons, 2);
    assert_eq!(sim.jet_offs, 2);
    assert!(!prog.program.contains("NaN") && !prog.program.contains("inf"));
    assert!(prog.program.contains("G21 G90"));
    assert!(sim.ended_with_m30);
    // Every jet-on move lies kerf/2 outside the square or kerf/2 inside the hole.
    let mut first_block_of = [usize::MAX, usize::MAX]; // [hole, outer]
    let mut cut_moves = 0;
    for m in sim.moves.iter().filter(|m| m.jet) {
        assert_ne!(m.motion, common_rapid(), "no rapid with the jet on");
        cut_moves += 1;
        for p in m.samples(16) {
            let (ds, dc) = (sd_square(p), sd_circle(p));
            if dc.abs() < ds.abs() {
                assert!(
                    (dc + KERF / 2.0).abs() < 0.01,
                    "hole cut at {p:?} is {dc} from the circle, want -{}",
                    KERF / 2.0
                );
                first_block_of[0] = first_block_of[0].min(m.block);
            } else {
                assert!(
                    (ds - KERF / 2.0).abs() < 0.01,
                    "outer cut at {p:?} is {ds} from the square, want +{}",
                    KERF / 2.0
                );
                first_block_of[1] = first_block_of[1].min(m.block);
            }
        }
    }
    assert!(cut_moves >= 6);
    assert!(
        first_block_of[0] < first_block_of[1],
        "the hole is cut before its outer"
    );
    // Arcs stay arcs: the hole is G2/G3, and the outer's rounded corners too.
    assert!(
        sim.motion_words.iter().any(|w| w == "G3"),
        "hole cut counter-clockwise as G3"
    );
    assert!(
        sim.motion_words.iter().any(|w| w == "G2"),
        "outer cut clockwise, corners as G2"
    );
    assert!(
        sim.max_arc_radius_error < 0.002,
        "arc radius error {}",
        sim.max_arc_radius_error
    );
    // Lengths: 400 + 2π·0.55 (outer, rounded corners) + 2π·9.45 (hole).
    let want = 400.0 + 2.0 * std::f64::consts::PI * 10.0;
    assert!(
        (prog.summary.contour_length_mm - want).abs() < 0.01,
        "{}",
        prog.summary.contour_length_mm
    );
    let simulated: f64 = sim.moves.iter().filter(|m| m.jet).map(|m| m.length()).sum();
    assert!(
        (simulated - prog.summary.cut_length_mm).abs() < 0.05,
        "{simulated}"
    );
    let rapid: f64 = sim
        .moves
        .iter()
        .filter(|m| !m.jet)
        .map(|m| m.length())
        .sum();
    assert!((rapid - prog.summary.rapid_length_mm).abs() < 0.05);
}

fn common_rapid() -> Motion {
    Motion::Rapid
}

#[test]
fn outer_is_cut_clockwise_and_hole_counter_clockwise() {
    let prog = generate_gcode(&square_with_hole(), &no_leads()).unwrap();
    let sim = sim_of(&prog);
    for block in 1..=2 {
        let pts: Vec<(f64, f64)> = sim
            .moves
            .iter()
            .filter(|m| m.jet && m.block == block)
            .flat_map(|m| m.samples(8))
            .collect();
        let a = signed_area(&pts);
        if block == 1 {
            assert!(a > 0.0, "hole counter-clockwise, area {a}");
        } else {
            assert!(a < 0.0, "outer clockwise, area {a}");
        }
    }
}

#[test]
fn linuxcnc_dwell_is_seconds_and_jet_has_its_output_number() {
    let prog = generate_gcode(&square_with_hole(), &no_leads()).unwrap();
    assert!(prog.program.contains("\nG4 P0.5\n"), "{}", prog.program);
    assert!(!prog.program.contains("P500"));
    assert!(prog.program.contains("M64 P0") && prog.program.contains("M65 P0"));
    let sim = sim_of(&prog);
    assert_eq!(sim.dwell_p, vec![0.5, 0.5]);
}

#[test]
fn fanuc_dwell_is_milliseconds_with_line_numbers() {
    let opts = GcodeOptions {
        dialect: "fanuc".into(),
        ..no_leads()
    };
    let prog = generate_gcode(&square_with_hole(), &opts).unwrap();
    let sim = sim_of(&prog);
    assert_eq!(sim.dwell_p, vec![500.0, 500.0]);
    assert!(prog.program.starts_with("%\n"));
    assert!(prog.program.trim_end().ends_with('%'));
    assert!(prog.program.lines().nth(1).unwrap().starts_with("O0001"));
    assert!(prog.program.lines().nth(2).unwrap().starts_with("N10 "));
    // Every coordinate and feed has a decimal point (Fanuc reads X53 as 0.053 mm).
    for line in prog.program.lines().filter(|l| !l.contains('(')) {
        for w in line.split_whitespace().skip(1) {
            if matches!(w.chars().next(), Some('X' | 'Y' | 'I' | 'J' | 'F')) {
                assert!(w.contains('.'), "{w} in {line}");
            }
        }
    }
    assert_eq!(sim.jet_ons, 2);
    assert!(sim.ended_with_m30);
    assert!(sim.motion_words.iter().any(|w| w == "G03"));
}

#[test]
fn model_dwell_and_feed_come_from_the_speed_model() {
    let opts = GcodeOptions {
        pierce_dwell_s: None,
        ..no_leads()
    };
    let steel = generate_gcode(&square_with_hole(), &opts).unwrap();
    let glass = generate_gcode(
        &square_with_hole(),
        &GcodeOptions {
            material: "glass".into(),
            ..opts.clone()
        },
    )
    .unwrap();
    let a = wjp_geometry::AnalysisOptions::default();
    let mat = wjp_geometry::cost::find_material(&a.materials, "mild_steel").unwrap();
    let u = wjp_geometry::cost::cut_speed_mm_min(&a.machine, &a.materials, mat, 6.0, 3);
    assert!((steel.summary.feed_mm_min - u).abs() < 1e-9);
    let sim = sim_of(&steel);
    assert!(sim
        .moves
        .iter()
        .filter(|m| m.jet)
        .all(|m| (m.feed - u).abs() < 0.06 || m.feed < u));
    assert!(glass.summary.feed_mm_min > steel.summary.feed_mm_min);
    let dwell = wjp_geometry::cost::pierce_time_s(&a.machine, mat, 6.0);
    assert!((sim.dwell_p[0] - dwell).abs() < 0.001);
    // Time is the cost model's, with the toolpath's figures.
    let t = &steel.summary.time;
    assert!((t.total_min - (t.cut_min + t.pierce_min + t.rapid_min + t.corner_min)).abs() < 1e-9);
    assert!(steel.summary.estimated_time_min > 0.0);
}

#[test]
fn leads_are_on_the_scrap_side() {
    for kind in [LeadKind::Arc, LeadKind::Line] {
        let opts = GcodeOptions {
            lead_in: LeadOptions {
                kind,
                length_mm: 4.0,
            },
            lead_out: LeadOptions {
                kind,
                length_mm: 2.0,
            },
            ..GcodeOptions::default()
        };
        let prog = generate_gcode(&square_with_hole(), &opts).unwrap();
        let sim = sim_of(&prog);
        assert_eq!(prog.summary.pierces, 2);
        assert!(prog.summary.lead_length_mm > 0.0);
        for m in sim.moves.iter().filter(|m| m.jet) {
            for p in m.samples(16) {
                // Scrap: outside the square, or inside the hole; and the kerf never
                // reaches the part.
                let material = sd_square(p) < 0.0 && sd_circle(p) > 0.0;
                assert!(!material, "{kind:?}: jet at {p:?} is inside the part");
                assert!(
                    sd_square(p).abs() >= KERF / 2.0 - 0.01
                        || sd_circle(p).abs() >= KERF / 2.0 - 0.01
                );
            }
        }
        // The pierce (first point of each block) is clear of the part by more than kerf/2.
        for b in 1..=2 {
            let first = sim.moves.iter().find(|m| m.jet && m.block == b).unwrap();
            let p = first.from;
            let clear = sd_square(p).max(-sd_circle(p));
            assert!(
                clear > KERF / 2.0 + 0.5,
                "{kind:?}: pierce {p:?} clearance {clear}"
            );
        }
    }
}

#[test]
fn open_contours_are_cut_uncompensated_with_a_warning_or_refused() {
    let bytes = dxf(&(rect(0.0, 0.0, 50.0, 50.0) + &line(100.0, 0.0, 150.0, 0.0)));
    let prog = generate_gcode(&bytes, &no_leads()).unwrap();
    assert_eq!(prog.summary.pierces, 2);
    assert!(prog
        .warnings
        .iter()
        .any(|w| w.code == "open_contour_uncompensated"));
    let sim = sim_of(&prog);
    // The open line is cut exactly on the drawn line.
    assert!(sim.moves.iter().any(|m| m.jet
        && m.from.1.abs() < 1e-9
        && m.to.1.abs() < 1e-9
        && (m.to.0 - m.from.0).abs() > 49.9));
    let err = generate_gcode(
        &bytes,
        &GcodeOptions {
            open_contours: OpenContourPolicy::Refuse,
            ..no_leads()
        },
    )
    .unwrap_err();
    assert_eq!(err.code(), "open_contours");
}

#[test]
fn bad_input_gives_clear_errors() {
    let b = square_with_hole();
    for kerf in [0.0, -1.0, f64::NAN, 50.0] {
        let e = generate_gcode(
            &b,
            &GcodeOptions {
                kerf_mm: kerf,
                ..GcodeOptions::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.code(), "invalid_option", "kerf {kerf}");
        assert!(e.to_string().contains("kerf"));
    }
    let e = generate_gcode(
        &b,
        &GcodeOptions {
            dialect: "haas".into(),
            ..GcodeOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "unknown_dialect");
    assert!(e.to_string().contains("linuxcnc"));
    let e = generate_gcode(
        &b,
        &GcodeOptions {
            material: "unobtainium".into(),
            ..GcodeOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "unknown_material");
    assert!(e.to_string().contains("unobtainium"));
    let e = generate_gcode(
        &b,
        &GcodeOptions {
            quality: 9,
            ..GcodeOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "invalid_option");
    let e = generate_gcode(&dxf(""), &GcodeOptions::default()).unwrap_err();
    assert_eq!(e.code(), "nothing_to_do");
    let e = generate_gcode(b"this is not a dxf", &GcodeOptions::default());
    assert!(e.is_err());
}

#[test]
fn options_accept_the_old_api_names() {
    let o: GcodeOptions =
        serde_json::from_str(r#"{"material":"steel","thickness":10,"kerf":0.9,"dialect":"fanuc"}"#)
            .unwrap();
    assert_eq!(o.thickness_mm, 10.0);
    assert_eq!(o.kerf_mm, 0.9);
    assert_eq!(o.quality, 3);
    let p = generate_gcode(&square_with_hole(), &o).unwrap();
    assert_eq!(p.summary.dialect, "fanuc");
}

#[test]
fn hole_smaller_than_the_kerf_is_reported() {
    let bytes = dxf(&(rect(0.0, 0.0, 50.0, 50.0) + &circle(25.0, 25.0, 0.4)));
    let prog = generate_gcode(&bytes, &no_leads()).unwrap();
    assert_eq!(prog.summary.pierces, 1);
    assert!(prog
        .warnings
        .iter()
        .any(|w| w.code == "hole_smaller_than_kerf"));
}

#[test]
fn every_fixture_gives_a_readable_program_or_a_clear_error() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/dxf");
    let mut ok = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().and_then(|s| s.to_str()) != Some("dxf") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        match generate_gcode(
            &bytes,
            &GcodeOptions {
                svg: false,
                ..GcodeOptions::default()
            },
        ) {
            Ok(p) => {
                ok += 1;
                assert!(
                    !p.program.contains("NaN") && !p.program.contains("inf"),
                    "{path:?}"
                );
                let sim = sim_of(&p);
                assert_eq!(sim.jet_ons as u64, p.summary.pierces, "{path:?}");
                assert!(
                    sim.max_arc_radius_error < 0.002,
                    "{path:?}: {}",
                    sim.max_arc_radius_error
                );
                assert!(sim.ended_with_m30);
            }
            Err(e) => assert!(!e.code().is_empty(), "{path:?}"),
        }
    }
    assert!(ok >= 10, "only {ok} fixtures gave a program");
}

#[test]
fn an_island_is_cut_before_the_hole_around_it_and_the_hole_before_the_outer() {
    let bytes = dxf(&(rect(0.0, 0.0, 200.0, 200.0)
        + &rect(50.0, 50.0, 100.0, 100.0)
        + &circle(100.0, 100.0, 20.0)));
    let prog = generate_gcode(&bytes, &GcodeOptions::default()).unwrap();
    let sim = sim_of(&prog);
    let roles: Vec<&str> = sim
        .comments
        .iter()
        .filter(|c| c.starts_with("part "))
        .filter_map(|c| c.split_whitespace().nth(4))
        .collect();
    assert_eq!(roles, vec!["outer", "hole", "outer"], "{:?}", sim.comments);
    // The first block is the island: kerf/2 outside the disc.
    for m in sim.moves.iter().filter(|m| m.jet && m.block == 1).skip(1) {
        let d = ((m.to.0 - 100.0).powi(2) + (m.to.1 - 100.0).powi(2)).sqrt();
        assert!(
            d >= 20.0 + KERF / 2.0 - 0.01,
            "island cut at {d} from the centre"
        );
    }
}

#[test]
fn a_plate_with_many_holes_cuts_every_hole_first() {
    let mut e = rect(0.0, 0.0, 410.0, 410.0);
    for i in 0..40 {
        for j in 0..40 {
            e += &circle(10.0 + 10.0 * i as f64, 10.0 + 10.0 * j as f64, 3.0);
        }
    }
    let prog = generate_gcode(
        &dxf(&e),
        &GcodeOptions {
            svg: false,
            ..GcodeOptions::default()
        },
    )
    .unwrap();
    assert_eq!(prog.summary.pierces, 1601);
    let sim = sim_of(&prog);
    assert_eq!(sim.jet_ons, 1601);
    // The last block is the outer boundary, every other one a hole.
    let last = sim
        .moves
        .iter()
        .filter(|m| m.jet && m.block == 1601)
        .count();
    assert!(last >= 4);
    assert!(
        sim.comments.last().unwrap().contains("outer"),
        "{:?}",
        sim.comments.last()
    );
    assert!(sim.comments.iter().filter(|c| c.contains(" hole")).count() == 1600);
    // Nearest neighbour: the rapids are far shorter than visiting holes in a bad order;
    // 1600 holes 10 mm apart need about 16 m of travel.
    assert!(
        prog.summary.rapid_length_mm < 25_000.0,
        "{}",
        prog.summary.rapid_length_mm
    );
}

/// Which contour of `square_with_open_chain_and_hole` a cut block follows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Drawn {
    Outer,
    Chain,
    Hole,
}

#[test]
fn everything_inside_a_part_is_cut_before_its_outline() {
    // A 100 mm square with an open chain (an engraved V) and a round hole inside;
    // the hole is nearer the home corner, the chain farther than the outline from
    // the hole, so nearest-neighbour alone would cut the outline before the chain.
    let chain = lwpoly(
        &[(30.0, 80.0, 0.0), (45.0, 70.0, 0.0), (60.0, 80.0, 0.0)],
        false,
    );
    let bytes = dxf(&(rect(0.0, 0.0, 100.0, 100.0) + &chain + &circle(70.0, 30.0, 10.0)));
    let prog = generate_gcode(&bytes, &no_leads()).unwrap();
    let sim = sim_of(&prog);
    assert_eq!(sim.jet_ons, 3, "one pierce per contour and chain");
    let mut order: Vec<Drawn> = Vec::new();
    for block in 1..=sim.jet_ons {
        let pts: Vec<(f64, f64)> = sim
            .moves
            .iter()
            .filter(|m| m.jet && m.block == block)
            .flat_map(|m| m.samples(8))
            .collect();
        let on = |f: &dyn Fn((f64, f64)) -> bool| !pts.is_empty() && pts.iter().all(|p| f(*p));
        let kind = if on(&|p| ((p.0 - 70.0).hypot(p.1 - 30.0) - 10.0).abs() < 1.0) {
            Drawn::Hole
        } else if on(&|p| (29.0..=61.0).contains(&p.0) && (69.0..=81.0).contains(&p.1)) {
            Drawn::Chain
        } else if on(&|p| sd_square(p).abs() < 1.0) {
            Drawn::Outer
        } else {
            panic!("block {block} follows no contour: {pts:?}");
        };
        order.push(kind);
    }
    assert_eq!(order.len(), 3);
    assert_eq!(
        order.last(),
        Some(&Drawn::Outer),
        "the outline is cut last: {order:?}"
    );
    assert!(order.contains(&Drawn::Chain) && order.contains(&Drawn::Hole));
}

#[test]
fn toolpath_picture_is_the_drawing_at_real_size() {
    let prog = generate_gcode(&square_with_hole(), &no_leads()).unwrap();
    let (w, h, vb) = crate::svg_read::millimetre_size(&prog.svg);
    assert!((w - vb[2]).abs() < 1e-3 && (h - vb[3]).abs() < 1e-3);
    assert!((100.0..=120.0).contains(&w), "{w} mm for a 100 mm square");
    // The first paths draw the contours as drawn: the square and the circle.
    let tags = crate::svg_read::path_tags(&prog.svg);
    let mut drawn: Vec<(f64, f64)> = tags[..2]
        .iter()
        .map(|t| {
            let d = crate::svg_read::attribute_of(t, "d").expect("d");
            let sub = &crate::svg_read::parse_path(&d)[0];
            (sub.length(), sub.signed_area().abs())
        })
        .collect();
    drawn.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pi = std::f64::consts::PI;
    // 3 decimals: each point within 7.1e-4.
    assert!((drawn[0].0 - 20.0 * pi).abs() < 0.01, "{drawn:?}");
    assert!((drawn[0].1 - 100.0 * pi).abs() < 0.02, "{drawn:?}");
    assert!((drawn[1].0 - 400.0).abs() < 0.01, "{drawn:?}");
    assert!((drawn[1].1 - 10_000.0).abs() < 0.3, "{drawn:?}");
}

#[test]
fn what_the_jet_cannot_cut_as_drawn_is_said_with_the_program() {
    // A 0.5 mm slot (narrower than the 1.1 mm kerf) beside the outer boundary,
    // 0.4 mm from it: the slot is cut away, and the web between them too.
    let bytes = dxf(&(rect(0.0, 0.0, 100.0, 100.0) + &rect(10.0, 0.4, 30.0, 0.5)));
    let program = generate_gcode(&bytes, &GcodeOptions::default()).unwrap();
    let codes: Vec<&str> = program.warnings.iter().map(|w| w.code.as_str()).collect();
    for code in ["feature_smaller_than_kerf", "narrow_web"] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    // The same drawing without the slot draws no such warning.
    let clean = generate_gcode(
        &dxf(&rect(0.0, 0.0, 100.0, 100.0)),
        &GcodeOptions::default(),
    )
    .unwrap();
    assert!(
        clean.warnings.iter().all(|w| w.code != "narrow_web"),
        "{:?}",
        clean.warnings
    );
}
