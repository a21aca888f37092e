//! G-code dialects: every controller-specific word in one documented struct.
//!
//! The old system wrote `G4 P500` meaning 500 ms, which LinuxCNC reads as 500
//! *seconds*, and jet codes without their output number. Here the dwell unit and
//! the jet codes are fields of a named dialect, and the tests read them back.

use serde::Serialize;
use wjp_geometry::number::decimal;

use crate::error::CamError;

/// Unit of the dwell word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DwellUnit {
    /// `G4 P0.5` is half a second (LinuxCNC).
    Seconds,
    /// `G04 P500` is half a second (Fanuc: P is an integer count of milliseconds).
    Milliseconds,
}

/// How comments are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentStyle {
    /// `(comment)`: parentheses may not nest, so `(` and `)` inside are replaced.
    Parentheses,
    /// `; comment` to the end of the line.
    Semicolon,
}

/// A named G-code dialect. All coordinates are millimetres, absolute (`G21 G90`),
/// arcs are `G2` (clockwise) / `G3` (counter-clockwise) with `I`/`J` the centre
/// relative to the arc's start point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dialect {
    pub name: String,
    pub description: String,
    /// Lines written before the first move (units, plane, modes).
    pub preamble: Vec<String>,
    /// Lines written at the end (`M30` ends the program).
    pub postamble: Vec<String>,
    /// Word that opens the jet, with its output number where the controller needs one.
    pub jet_on: String,
    /// Word that closes the jet.
    pub jet_off: String,
    /// Dwell command word (`G4` / `G04`); the dwell value follows as `P`.
    pub dwell_word: String,
    pub dwell_unit: DwellUnit,
    pub comment_style: CommentStyle,
    /// `N10`, `N20`... before every line (not before `%`).
    pub line_numbers: bool,
    pub line_number_step: u32,
    /// Digits after the decimal point for X, Y, I, J and F.
    pub coordinate_decimals: usize,
    /// Always write a decimal point (`X53.0`): a Fanuc control reads `X53` as 53
    /// least increments (0.053 mm), not 53 mm.
    pub always_decimal_point: bool,
    /// Rapid, linear, clockwise-arc and counter-clockwise-arc words.
    pub rapid: String,
    pub linear: String,
    pub arc_cw: String,
    pub arc_ccw: String,
}

impl Dialect {
    /// Names accepted by [`Dialect::named`].
    pub const NAMES: &'static [&'static str] = &["linuxcnc", "fanuc"];

    /// LinuxCNC: jet on the digital output `P0` (`M64 P0` / `M65 P0`, immediate
    /// output on/off), dwell `G4 P` in **seconds**, `( )` comments, `G91.1` (I/J
    /// incremental, LinuxCNC's default made explicit), path blending `G64 P0.02`.
    pub fn linuxcnc() -> Dialect {
        Dialect {
            name: "linuxcnc".into(),
            description:
                "LinuxCNC: M64 P0 / M65 P0 switch digital output 0 (the jet valve); G4 P is seconds"
                    .into(),
            preamble: vec!["G21 G90 G17 G40 G91.1".into(), "G64 P0.02".into()],
            postamble: vec!["M30".into()],
            jet_on: "M64 P0".into(),
            jet_off: "M65 P0".into(),
            dwell_word: "G4".into(),
            dwell_unit: DwellUnit::Seconds,
            comment_style: CommentStyle::Parentheses,
            line_numbers: false,
            line_number_step: 10,
            coordinate_decimals: 4,
            always_decimal_point: false,
            rapid: "G0".into(),
            linear: "G1".into(),
            arc_cw: "G2".into(),
            arc_ccw: "G3".into(),
        }
    }

    /// Fanuc-style: `%` tape markers and program number `O0001`, jet on `M03` and off
    /// `M05` (the spindle output wired to the jet valve on Fanuc-controlled
    /// waterjets), dwell `G04 P` in **milliseconds** (integer), line numbers on,
    /// `( )` comments in capitals.
    pub fn fanuc() -> Dialect {
        Dialect {
            name: "fanuc".into(),
            description:
                "Fanuc-style: M03 / M05 switch the jet (spindle output); G04 P is milliseconds"
                    .into(),
            preamble: vec!["O0001 (WJP)".into(), "G21 G90 G17 G40".into()],
            postamble: vec!["M30".into()],
            jet_on: "M03".into(),
            jet_off: "M05".into(),
            dwell_word: "G04".into(),
            dwell_unit: DwellUnit::Milliseconds,
            comment_style: CommentStyle::Parentheses,
            line_numbers: true,
            line_number_step: 10,
            coordinate_decimals: 3,
            always_decimal_point: true,
            rapid: "G00".into(),
            linear: "G01".into(),
            arc_cw: "G02".into(),
            arc_ccw: "G03".into(),
        }
    }

    /// The dialect of this name (case-insensitive; `linux_cnc`, `emc2` and
    /// `fanuc_style` are accepted too).
    pub fn named(name: &str) -> Result<Dialect, CamError> {
        let key = name.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        match key.as_str() {
            "linuxcnc" | "linux_cnc" | "emc2" => Ok(Dialect::linuxcnc()),
            "fanuc" | "fanuc_style" => Ok(Dialect::fanuc()),
            _ => Err(CamError::UnknownDialect {
                name: name.to_owned(),
                known: Dialect::NAMES.join(", "),
            }),
        }
    }

    /// The dwell words for `seconds` of dwell, e.g. `G4 P0.5` or `G04 P500`.
    pub fn dwell(&self, seconds: f64) -> String {
        match self.dwell_unit {
            DwellUnit::Seconds => format!("{} P{}", self.dwell_word, decimal(seconds, 3)),
            DwellUnit::Milliseconds => {
                format!("{} P{}", self.dwell_word, (seconds * 1000.0).round() as i64)
            }
        }
    }

    /// A comment in this dialect's style.
    pub fn comment(&self, text: &str) -> String {
        let clean: String = text
            .chars()
            .map(|c| match c {
                '(' | ')' | '\n' | '\r' | ';' => ' ',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect();
        let clean = if self.name == "fanuc" {
            clean.to_ascii_uppercase()
        } else {
            clean
        };
        match self.comment_style {
            CommentStyle::Parentheses => format!("({})", clean.trim()),
            CommentStyle::Semicolon => format!("; {}", clean.trim()),
        }
    }

    /// A coordinate or feed value as this dialect writes it.
    pub fn num(&self, v: f64) -> String {
        let s = decimal(v, self.coordinate_decimals);
        if self.always_decimal_point && !s.contains('.') {
            s + ".0"
        } else {
            s
        }
    }

    /// Is this the Fanuc tape format (`%` first and last)?
    pub fn tape_markers(&self) -> bool {
        self.name == "fanuc"
    }
}
