//! Random and hostile drawings: never a panic, always a readable program or a clear
//! error, and nesting results that keep their invariants.

use crate::support::*;
use wjp_cam::{generate_gcode, nest, GcodeOptions, NestOptions, PartInput};
use wjp_geometry::AnalysisOptions;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.next()
    }
}

fn random_drawing(r: &mut Rng) -> Vec<u8> {
    let mut e = String::new();
    let n = 1 + (r.next() * 6.0) as usize;
    for _ in 0..n {
        match (r.next() * 4.0) as usize {
            0 => {
                e += &circle(
                    r.range(0.0, 300.0),
                    r.range(0.0, 300.0),
                    r.range(0.01, 80.0),
                )
            }
            1 => {
                e += &line(
                    r.range(0.0, 300.0),
                    r.range(0.0, 300.0),
                    r.range(0.0, 300.0),
                    r.range(0.0, 300.0),
                )
            }
            _ => {
                let k = 3 + (r.next() * 8.0) as usize;
                let (cx, cy, rad) = (
                    r.range(0.0, 300.0),
                    r.range(0.0, 300.0),
                    r.range(0.5, 100.0),
                );
                let v: Vec<(f64, f64, f64)> = (0..k)
                    .map(|i| {
                        let a = i as f64 / k as f64 * std::f64::consts::TAU + r.range(-0.3, 0.3);
                        let rr = rad * r.range(0.3, 1.0);
                        let b = if r.next() < 0.3 {
                            r.range(-1.5, 1.5)
                        } else {
                            0.0
                        };
                        (cx + rr * a.cos(), cy + rr * a.sin(), b)
                    })
                    .collect();
                e += &lwpoly(&v, r.next() < 0.85);
            }
        }
    }
    dxf(&e)
}

#[test]
fn random_drawings_give_programs_the_reader_accepts_or_clear_errors() {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let mut programs = 0;
    for case in 0..60 {
        let bytes = random_drawing(&mut r);
        let kerf = r.range(0.2, 3.0);
        let o = GcodeOptions {
            kerf_mm: kerf,
            dialect: if case % 2 == 0 { "linuxcnc" } else { "fanuc" }.into(),
            svg: case % 5 == 0,
            ..GcodeOptions::default()
        };
        match generate_gcode(&bytes, &o) {
            Ok(p) => {
                programs += 1;
                assert!(
                    !p.program.contains("NaN") && !p.program.contains("inf"),
                    "case {case}"
                );
                let sim = simulate(&p.program, &p.dialect.jet_on, &p.dialect.jet_off);
                assert_eq!(sim.jet_ons as u64, p.summary.pierces, "case {case}");
                assert_eq!(sim.jet_offs, sim.jet_ons, "case {case}");
                assert!(
                    sim.max_arc_radius_error < 0.002,
                    "case {case}: {}",
                    sim.max_arc_radius_error
                );
                assert!(sim.ended_with_m30);
                assert!(
                    p.summary.cut_length_mm.is_finite() && p.summary.estimated_time_min.is_finite()
                );
                // Every arc starts and ends on its circle and has a real radius.
                for m in sim.moves.iter().filter(|m| m.center.is_some()) {
                    let c = m.center.unwrap();
                    let r0 = ((m.from.0 - c.0).powi(2) + (m.from.1 - c.1).powi(2)).sqrt();
                    assert!(r0 > 0.0, "case {case}: zero-radius arc");
                }
            }
            Err(e) => assert!(!e.code().is_empty() && !e.to_string().is_empty()),
        }
    }
    assert!(
        programs >= 30,
        "only {programs} of 60 random drawings gave a program"
    );
}

#[test]
fn random_parts_nest_without_panics_and_account_for_every_copy() {
    let mut r = Rng(12345);
    for case in 0..3 {
        let mut parts = Vec::new();
        for _ in 0..3 {
            if let Ok(ps) =
                PartInput::from_dxf("p", &random_drawing(&mut r), 2, &AnalysisOptions::default())
            {
                parts.extend(ps);
            }
        }
        if parts.is_empty() {
            continue;
        }
        let o = NestOptions {
            sheet_width: 400.0,
            sheet_height: 300.0,
            max_sheets: 1,
            max_iterations: 0,
            outputs: false,
            ..NestOptions::default()
        };
        let res = nest(&parts, &o, &mut |_| {}, &|| false).unwrap();
        let copies: usize = parts.iter().map(|p| p.quantity as usize).sum();
        assert_eq!(
            res.positioned_objects.len() + res.failed_objects.len(),
            copies,
            "case {case}: every copy is placed or failed"
        );
        assert!(res.final_utilization >= 0.0 && res.final_utilization <= 100.0);
        assert!(res
            .positioned_objects
            .iter()
            .all(|p| p.x.is_finite() && p.y.is_finite()));
    }
}

#[test]
fn hostile_bytes_are_errors_not_panics() {
    let o = GcodeOptions::default();
    for bytes in [
        &b""[..],
        b"0\nEOF\n",
        b"0\nSECTION\n2\nENTITIES\n0\nCIRCLE\n10\nnan\n20\n0\n40\n5\n0\nENDSEC\n0\nEOF\n",
        b"0\nSECTION\n2\nENTITIES\n0\nCIRCLE\n10\n0\n20\n0\n40\n0\n0\nENDSEC\n0\nEOF\n",
        b"0\nSECTION\n2\nENTITIES\n0\nLWPOLYLINE\n90\n2\n70\n1\n10\n0\n20\n0\n10\n0\n20\n0\n0\nENDSEC\n0\nEOF\n",
        b"AutoCAD Binary DXF\r\n\x1a\x00garbage",
    ] {
        if let Err(e) = generate_gcode(bytes, &o) {
            assert!(!e.code().is_empty());
        }
    }
}
