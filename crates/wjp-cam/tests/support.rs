//! Shared test support: a tiny DXF writer and an independent G-code reader that
//! simulates the machine.

#![allow(dead_code)]

/// A DXF (R2000-ish, millimetres) around the given entity text.
pub fn dxf(entities: &str) -> Vec<u8> {
    format!(
        "0\nSECTION\n2\nHEADER\n9\n$INSUNITS\n70\n4\n0\nENDSEC\n0\nSECTION\n2\nENTITIES\n{entities}0\nENDSEC\n0\nEOF\n"
    )
    .into_bytes()
}

pub fn lwpoly(v: &[(f64, f64, f64)], closed: bool) -> String {
    let mut s = format!(
        "0\nLWPOLYLINE\n8\nCUT\n90\n{}\n70\n{}\n",
        v.len(),
        if closed { 1 } else { 0 }
    );
    for (x, y, b) in v {
        s += &format!("10\n{x}\n20\n{y}\n");
        if *b != 0.0 {
            s += &format!("42\n{b}\n");
        }
    }
    s
}

pub fn rect(x: f64, y: f64, w: f64, h: f64) -> String {
    lwpoly(
        &[
            (x, y, 0.0),
            (x + w, y, 0.0),
            (x + w, y + h, 0.0),
            (x, y + h, 0.0),
        ],
        true,
    )
}

pub fn circle(x: f64, y: f64, r: f64) -> String {
    format!("0\nCIRCLE\n8\nCUT\n10\n{x}\n20\n{y}\n30\n0\n40\n{r}\n")
}

pub fn line(x1: f64, y1: f64, x2: f64, y2: f64) -> String {
    format!("0\nLINE\n8\nCUT\n10\n{x1}\n20\n{y1}\n30\n0\n11\n{x2}\n21\n{y2}\n31\n0\n")
}

/// The 100 mm square with a 20 mm (diameter) round hole in its middle.
pub fn square_with_hole() -> Vec<u8> {
    dxf(&(rect(0.0, 0.0, 100.0, 100.0) + &circle(50.0, 50.0, 10.0)))
}

// ------------------------------------------------------------------ G-code reader

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Motion {
    Rapid,
    Line,
    Cw,
    Ccw,
}

/// One simulated move.
#[derive(Debug, Clone, Copy)]
pub struct SimMove {
    pub motion: Motion,
    pub from: (f64, f64),
    pub to: (f64, f64),
    /// Absolute centre of an arc.
    pub center: Option<(f64, f64)>,
    pub jet: bool,
    pub feed: f64,
    /// Index of the jet-on block (pierce) this move belongs to.
    pub block: usize,
}

impl SimMove {
    /// Points along the move (`n + 1` of them).
    pub fn samples(&self, n: usize) -> Vec<(f64, f64)> {
        match (self.motion, self.center) {
            (Motion::Cw | Motion::Ccw, Some(c)) => {
                let r = ((self.from.0 - c.0).powi(2) + (self.from.1 - c.1).powi(2)).sqrt();
                let a0 = (self.from.1 - c.1).atan2(self.from.0 - c.0);
                let a1 = (self.to.1 - c.1).atan2(self.to.0 - c.0);
                let mut sweep = a1 - a0;
                let tau = std::f64::consts::TAU;
                if self.motion == Motion::Ccw {
                    while sweep <= 1e-12 {
                        sweep += tau;
                    }
                } else {
                    while sweep >= -1e-12 {
                        sweep -= tau;
                    }
                }
                (0..=n)
                    .map(|i| {
                        let a = a0 + sweep * i as f64 / n as f64;
                        (c.0 + r * a.cos(), c.1 + r * a.sin())
                    })
                    .collect()
            }
            _ => (0..=n)
                .map(|i| {
                    let t = i as f64 / n as f64;
                    (
                        self.from.0 + (self.to.0 - self.from.0) * t,
                        self.from.1 + (self.to.1 - self.from.1) * t,
                    )
                })
                .collect(),
        }
    }
    pub fn length(&self) -> f64 {
        let s = self.samples(64);
        s.windows(2)
            .map(|w| ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt())
            .sum()
    }
}

/// What the simulated machine did.
#[derive(Debug, Default)]
pub struct Sim {
    pub moves: Vec<SimMove>,
    /// Raw `P` values of the dwell words.
    pub dwell_p: Vec<f64>,
    pub jet_ons: usize,
    pub jet_offs: usize,
    /// Largest |r_start - r_end| of any arc.
    pub max_arc_radius_error: f64,
    pub comments: Vec<String>,
    pub motion_words: Vec<String>,
    pub ended_with_m30: bool,
}

/// Read a program; `jet_on` / `jet_off` are the dialect's words (`M64 P0`).
pub fn simulate(program: &str, jet_on: &str, jet_off: &str) -> Sim {
    let mut sim = Sim::default();
    let mut pos = (0.0, 0.0);
    let mut motion = Motion::Rapid;
    let mut jet = false;
    let mut feed = 0.0;
    let mut block = 0usize;
    for raw in program.lines() {
        let mut line = raw.trim().to_string();
        if line == "%" || line.is_empty() {
            continue;
        }
        // Comments.
        while let (Some(a), Some(b)) = (line.find('('), line.find(')')) {
            if b < a {
                break;
            }
            sim.comments.push(line[a + 1..b].to_string());
            line = format!("{}{}", &line[..a], &line[b + 1..]);
        }
        if let Some(i) = line.find(';') {
            sim.comments.push(line[i + 1..].trim().to_string());
            line.truncate(i);
        }
        let mut words: Vec<(char, String)> = line
            .split_whitespace()
            .filter_map(|w| {
                let mut c = w.chars();
                let l = c.next()?.to_ascii_uppercase();
                Some((l, c.as_str().to_string()))
            })
            .collect();
        if words.first().is_some_and(|w| w.0 == 'N') {
            words.remove(0);
        }
        let text: String = words
            .iter()
            .map(|(l, v)| format!("{l}{v}"))
            .collect::<Vec<_>>()
            .join(" ");
        if text.is_empty() {
            continue;
        }
        if text == jet_on {
            jet = true;
            sim.jet_ons += 1;
            block += 1;
            continue;
        }
        if text == jet_off {
            jet = false;
            sim.jet_offs += 1;
            continue;
        }
        if text == "M30" {
            sim.ended_with_m30 = true;
            continue;
        }
        let num = |l: char| -> Option<f64> {
            words
                .iter()
                .find(|w| w.0 == l)
                .map(|w| w.1.parse::<f64>().expect("a number"))
        };
        let gs: Vec<f64> = words
            .iter()
            .filter(|w| w.0 == 'G')
            .map(|w| w.1.parse::<f64>().expect("a G number"))
            .collect();
        if gs.contains(&4.0) {
            sim.dwell_p.push(num('P').expect("dwell has P"));
            continue;
        }
        for g in &gs {
            match *g as i64 {
                0 if *g == 0.0 => motion = Motion::Rapid,
                1 if *g == 1.0 => motion = Motion::Line,
                2 if *g == 2.0 => motion = Motion::Cw,
                3 if *g == 3.0 => motion = Motion::Ccw,
                _ => {}
            }
        }
        if let Some(f) = num('F') {
            feed = f;
        }
        let (x, y) = (num('X'), num('Y'));
        if x.is_none() && y.is_none() {
            continue;
        }
        if gs.iter().any(|g| [0.0, 1.0, 2.0, 3.0].contains(g)) {
            sim.motion_words
                .push(text.split(' ').next().unwrap_or("").to_string());
        } else {
            sim.motion_words.push(String::new());
        }
        let to = (x.unwrap_or(pos.0), y.unwrap_or(pos.1));
        let center = match motion {
            Motion::Cw | Motion::Ccw => {
                let c = (
                    pos.0 + num('I').unwrap_or(0.0),
                    pos.1 + num('J').unwrap_or(0.0),
                );
                let r0 = ((pos.0 - c.0).powi(2) + (pos.1 - c.1).powi(2)).sqrt();
                let r1 = ((to.0 - c.0).powi(2) + (to.1 - c.1).powi(2)).sqrt();
                sim.max_arc_radius_error = sim.max_arc_radius_error.max((r0 - r1).abs());
                Some(c)
            }
            _ => None,
        };
        sim.moves.push(SimMove {
            motion,
            from: pos,
            to,
            center,
            jet,
            feed,
            block,
        });
        pos = to;
    }
    sim
}

/// Signed area of a closed sequence of points (positive counter-clockwise).
pub fn signed_area(pts: &[(f64, f64)]) -> f64 {
    let n = pts.len();
    (0..n)
        .map(|i| {
            let (a, b) = (pts[i], pts[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum::<f64>()
        / 2.0
}
