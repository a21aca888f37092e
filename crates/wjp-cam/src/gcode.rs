//! `generate_gcode`: DXF bytes to a G-code program in a named dialect.

use serde::{Deserialize, Serialize};
use wjp_geometry::cost::{
    cut_speed_mm_min, estimate_time, find_material, pierce_time_s, CutFigures,
};
use wjp_geometry::geom::{bulge_arc, segment_length, segment_tangent};
use wjp_geometry::number::decimal;
use wjp_geometry::{AnalysisOptions, ContourRole, Drawing, Point, TimeEstimate, Warning};

use crate::dialect::Dialect;
use crate::error::CamError;
use crate::toolpath::{
    build_toolpath, ContourCut, CutContour, CutKind, CutRole, LeadKind, LeadOptions, Move,
    ToolpathSettings,
};

/// What to do with open contours (chains that enclose nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenContourPolicy {
    /// Cut them along the drawn line, without kerf compensation or leads, and warn
    /// (`open_contour_uncompensated`). The default: engraving lines and slits are open.
    Cut,
    /// Refuse the drawing with `open_contours`.
    Refuse,
}

/// Options of [`generate_gcode`]. JSON payloads may fill any subset; the old API's
/// names `material`, `thickness` and `kerf` are accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GcodeOptions {
    /// Material key or alias of the speed model's table (`mild_steel`, `steel`...).
    pub material: String,
    #[serde(alias = "thickness")]
    pub thickness_mm: f64,
    #[serde(alias = "kerf")]
    pub kerf_mm: f64,
    /// Cut quality 1 (rough separation) to 5 (finest).
    pub quality: u8,
    /// `linuxcnc` or `fanuc`.
    pub dialect: String,
    /// Override the dialect's line-number setting.
    pub line_numbers: Option<bool>,
    pub lead_in: LeadOptions,
    pub lead_out: LeadOptions,
    /// Pierce dwell in seconds; `None` = the speed model's pierce time.
    pub pierce_dwell_s: Option<f64>,
    /// Feed override in mm/min; `None` = the speed model (Zeng) per contour.
    pub feed_mm_min: Option<f64>,
    pub open_contours: OpenContourPolicy,
    /// Emit the SVG picture of the toolpath.
    pub svg: bool,
    /// Everything the DXF reader and the speed model take (units override, snap
    /// tolerance, machine calibration, material table). Its material, thickness,
    /// quality and kerf are replaced by the fields above.
    pub analysis: AnalysisOptions,
}

impl Default for GcodeOptions {
    fn default() -> Self {
        GcodeOptions {
            material: "mild_steel".into(),
            thickness_mm: 6.0,
            kerf_mm: 1.1,
            quality: 3,
            dialect: "linuxcnc".into(),
            line_numbers: None,
            lead_in: LeadOptions::default(),
            lead_out: LeadOptions {
                kind: LeadKind::Line,
                length_mm: 1.0,
            },
            pierce_dwell_s: None,
            feed_mm_min: None,
            open_contours: OpenContourPolicy::Cut,
            svg: true,
            analysis: AnalysisOptions::default(),
        }
    }
}

/// Figures of a program.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GcodeSummary {
    pub dialect: String,
    pub contours: usize,
    pub parts: usize,
    pub pierces: u64,
    /// Jet-on length: contours plus leads, mm.
    pub cut_length_mm: f64,
    /// Offset contours alone, mm.
    pub contour_length_mm: f64,
    pub lead_length_mm: f64,
    /// Jet-off travel from the origin through every pierce and back, mm.
    pub rapid_length_mm: f64,
    pub feed_mm_min: f64,
    pub pierce_dwell_s: f64,
    pub program_lines: usize,
    pub program_bytes: usize,
    pub arcs: usize,
    pub lines: usize,
    /// Time by the same model as the quote (wjp-geometry's `estimate_time`), with
    /// the toolpath's lengths.
    pub time: TimeEstimate,
    pub estimated_time_min: f64,
}

/// A program and what it contains.
#[derive(Debug, Clone, Serialize)]
pub struct GcodeProgram {
    pub program: String,
    pub summary: GcodeSummary,
    pub warnings: Vec<Warning>,
    pub dialect: Dialect,
    /// SVG of the toolpath (empty when `svg = false`).
    pub svg: String,
    /// The toolpath in machine order (not serialized).
    #[serde(skip)]
    pub cuts: Vec<ContourCut>,
}

/// Read a DXF and write its G-code.
pub fn generate_gcode(bytes: &[u8], options: &GcodeOptions) -> Result<GcodeProgram, CamError> {
    let (dialect, analysis) = validate(options)?;
    let drawing = wjp_geometry::load_drawing(bytes, &analysis, &mut |_, _| {})?;
    let contours = contours_of_drawing(&drawing);
    // What the drawing says about its units and contents, and what the jet
    // cannot cut as drawn at this kerf (the analysis's manufacturability
    // findings, made with the program's kerf).
    let mut warnings: Vec<Warning> = drawing
        .warnings
        .iter()
        .chain(&drawing.topology.warnings)
        .filter(|w| {
            matches!(
                w.code.as_str(),
                "units_missing"
                    | "units_suspicious"
                    | "open_contours"
                    | "text_not_exploded"
                    | "inside_radius_below_kerf"
                    | "feature_smaller_than_kerf"
                    | "narrow_web"
            )
        })
        .cloned()
        .collect();
    let parts = drawing.parts().len();
    let out = gcode_for_contours(
        &contours,
        parts,
        options,
        &dialect,
        &analysis,
        &mut warnings,
    )?;
    Ok(out)
}

/// The contours of a drawing as [`CutContour`]s.
pub fn contours_of_drawing(drawing: &Drawing) -> Vec<CutContour> {
    let cs = drawing.contours();
    cs.iter()
        .map(|c| CutContour {
            id: c.id,
            part: c.part,
            role: match (c.closed, c.role) {
                (false, _) | (_, ContourRole::Open) => CutRole::Open,
                (true, ContourRole::Hole) => CutRole::Hole,
                (true, ContourRole::Outer) => CutRole::Outer,
            },
            path: c.path.clone(),
            parent: c.parent.and_then(|p| cs.iter().position(|q| q.id == p)),
        })
        .collect()
}

pub(crate) fn validate(options: &GcodeOptions) -> Result<(Dialect, AnalysisOptions), CamError> {
    let dialect = Dialect::named(&options.dialect)?;
    if !(options.kerf_mm.is_finite() && options.kerf_mm > 0.0 && options.kerf_mm < 20.0) {
        return Err(CamError::option(
            "kerf_mm",
            format!(
                "{} is not in (0, 20) mm: the kerf is the jet's cut width",
                options.kerf_mm
            ),
        ));
    }
    if !(options.thickness_mm.is_finite()
        && options.thickness_mm > 0.0
        && options.thickness_mm <= 500.0)
    {
        return Err(CamError::option(
            "thickness_mm",
            format!("{} is not in (0, 500] mm", options.thickness_mm),
        ));
    }
    if !(1..=5).contains(&options.quality) {
        return Err(CamError::option(
            "quality",
            format!("{} is not 1..5", options.quality),
        ));
    }
    for (name, l) in [("lead_in", options.lead_in), ("lead_out", options.lead_out)] {
        if !(l.length_mm.is_finite() && l.length_mm >= 0.0 && l.length_mm <= 100.0) {
            return Err(CamError::option(
                &format!("{name}.length_mm"),
                format!("{} is not in [0, 100] mm", l.length_mm),
            ));
        }
    }
    if let Some(d) = options.pierce_dwell_s {
        if !(d.is_finite() && (0.0..=600.0).contains(&d)) {
            return Err(CamError::option(
                "pierce_dwell_s",
                format!("{d} is not in [0, 600] s"),
            ));
        }
    }
    if let Some(f) = options.feed_mm_min {
        if !(f.is_finite() && f > 0.0 && f <= 100_000.0) {
            return Err(CamError::option(
                "feed_mm_min",
                format!("{f} is not in (0, 100000] mm/min"),
            ));
        }
    }
    let mut analysis = options.analysis.clone();
    if find_material(&analysis.materials, &options.material).is_none() {
        return Err(CamError::UnknownMaterial {
            name: options.material.clone(),
            known: analysis
                .materials
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    analysis.material = options.material.clone();
    analysis.thickness_mm = options.thickness_mm;
    analysis.kerf_mm = options.kerf_mm;
    analysis.quality = options.quality;
    analysis.validate()?;
    Ok((dialect, analysis))
}

/// Write the program for already-loaded contours (a drawing or a nested sheet).
pub(crate) fn gcode_for_contours(
    contours: &[CutContour],
    parts: usize,
    options: &GcodeOptions,
    dialect: &Dialect,
    analysis: &AnalysisOptions,
    warnings: &mut Vec<Warning>,
) -> Result<GcodeProgram, CamError> {
    if contours.is_empty() {
        return Err(CamError::Empty {
            what: "cut",
            message: "the drawing has no contours on cut entities".into(),
        });
    }
    let open: Vec<&CutContour> = contours
        .iter()
        .filter(|c| c.role == CutRole::Open)
        .collect();
    if !open.is_empty() {
        match options.open_contours {
            OpenContourPolicy::Refuse => {
                return Err(CamError::OpenContours {
                    count: open.len(),
                    first: open[0].id,
                })
            }
            OpenContourPolicy::Cut => warnings.push(Warning::new(
                "open_contour_uncompensated",
                open.len() as u64,
                format!(
                    "{} open contour(s) are cut along the drawn line without kerf compensation or leads (first: contour {})",
                    open.len(),
                    open[0].id
                ),
            )),
        }
    }
    if contours.len() > 200_000 {
        return Err(CamError::TooLarge {
            message: format!("{} contours (limit 200000)", contours.len()),
        });
    }
    let material = find_material(&analysis.materials, &options.material).ok_or_else(|| {
        CamError::UnknownMaterial {
            name: options.material.clone(),
            known: String::new(),
        }
    })?;
    let settings = ToolpathSettings {
        kerf_mm: options.kerf_mm,
        lead_in: options.lead_in,
        lead_out: options.lead_out,
        home: Point::new(0.0, 0.0),
    };
    let cuts = build_toolpath(contours, &settings, warnings)?;
    if cuts.is_empty() {
        return Err(CamError::Empty {
            what: "cut",
            message: "no contour survived kerf compensation".into(),
        });
    }
    let machine = &analysis.machine;
    let model_feed = cut_speed_mm_min(
        machine,
        &analysis.materials,
        material,
        options.thickness_mm,
        options.quality,
    );
    let feed = options.feed_mm_min.unwrap_or(model_feed);
    let small_feed = feed * machine.small_radius_speed_factor.clamp(0.01, 1.0);
    let dwell_s = options
        .pierce_dwell_s
        .unwrap_or_else(|| pierce_time_s(machine, material, options.thickness_mm));

    // ---- write
    let mut w = Writer::new(
        dialect,
        options.line_numbers.unwrap_or(dialect.line_numbers),
    );
    w.raw_percent();
    for l in &dialect.preamble {
        w.line(l);
    }
    w.line(&dialect.comment(&format!(
        "wjp-cam {} | material {} {} mm Q{} | kerf {} mm | feed {} mm/min | pierce {} s",
        dialect.name,
        material.name,
        decimal(options.thickness_mm, 3),
        options.quality,
        decimal(options.kerf_mm, 3),
        decimal(feed, 1),
        decimal(dwell_s, 3)
    )));
    let mut pos = settings.home;
    let mut rapid = 0.0;
    let mut contour_len = 0.0;
    let mut lead_len = 0.0;
    let mut small_len = 0.0;
    let mut sharp = 0u64;
    let (mut arcs, mut lines) = (0usize, 0usize);
    let mut last_feed: Option<f64> = None;
    for cut in &cuts {
        let part = cut
            .part
            .map(|p| format!("part {p}"))
            .unwrap_or_else(|| "no part".into());
        w.line(&dialect.comment(&format!(
            "{part} contour {} {}{}",
            cut.contour,
            match cut.role {
                CutRole::Outer => "outer",
                CutRole::Hole => "hole",
                CutRole::Open => "open",
            },
            if cut.compensated {
                ""
            } else {
                " uncompensated"
            }
        )));
        rapid += pos.dist(cut.pierce);
        w.line(&format!(
            "{} X{} Y{}",
            dialect.rapid,
            dialect.num(cut.pierce.x),
            dialect.num(cut.pierce.y)
        ));
        pos = w.rounded(cut.pierce);
        w.line(&dialect.jet_on);
        w.line(&dialect.dwell(dwell_s));
        let mut prev_t: Option<Point> = None;
        let mut cur_exact = cut.pierce;
        for m in &cut.moves {
            let Move::Cut { to, bulge, kind } = *m else {
                continue;
            };
            let seg_len = segment_length(cur_exact, to, bulge);
            let arc =
                bulge_arc(cur_exact, to, bulge).filter(|a| a.radius < 1e5 && bulge.abs() > 1e-9);
            match kind {
                CutKind::Contour => contour_len += seg_len,
                _ => lead_len += seg_len,
            }
            let small = arc.is_some_and(|a| a.radius < machine.small_radius_mm);
            if small && kind == CutKind::Contour {
                small_len += seg_len;
            }
            if kind == CutKind::Contour && seg_len > 1e-9 {
                let t0 = segment_tangent(cur_exact, to, bulge, false);
                if let Some(pt) = prev_t {
                    let c = pt.dot(t0).clamp(-1.0, 1.0);
                    if c.acos().to_degrees() > analysis.sharp_corner_deg {
                        sharp += 1;
                    }
                }
                prev_t = Some(segment_tangent(cur_exact, to, bulge, true));
            }
            let f = if small { small_feed } else { feed };
            let end = w.rounded(to);
            if end == pos {
                cur_exact = to;
                continue; // shorter than the output resolution
            }
            let mut words = String::new();
            match arc {
                Some(a) => {
                    arcs += 1;
                    words.push_str(if a.sweep < 0.0 {
                        &dialect.arc_cw
                    } else {
                        &dialect.arc_ccw
                    });
                    words.push_str(&format!(
                        " X{} Y{} I{} J{}",
                        dialect.num(end.x),
                        dialect.num(end.y),
                        dialect.num(a.center.x - pos.x),
                        dialect.num(a.center.y - pos.y)
                    ));
                }
                None => {
                    lines += 1;
                    words.push_str(&format!(
                        "{} X{} Y{}",
                        dialect.linear,
                        dialect.num(end.x),
                        dialect.num(end.y)
                    ));
                }
            }
            if last_feed != Some(f) {
                words.push_str(&format!(" F{}", dialect.num((f * 10.0).round() / 10.0)));
                last_feed = Some(f);
            }
            w.line(&words);
            pos = end;
            cur_exact = to;
        }
        w.line(&dialect.jet_off);
    }
    rapid += pos.dist(settings.home);
    w.line(&format!(
        "{} X{} Y{}",
        dialect.rapid,
        dialect.num(0.0),
        dialect.num(0.0)
    ));
    for l in &dialect.postamble {
        w.line(l);
    }
    w.raw_percent();
    let program = w.out;
    let pierces = cuts.len() as u64;
    let fig = CutFigures {
        cut_length_mm: contour_len + lead_len,
        small_radius_length_mm: small_len,
        pierces,
        sharp_corners: sharp,
        rapid_mm: rapid,
        sheet_area_mm2: 0.0,
    };
    let mut time = estimate_time(
        &fig,
        machine,
        &analysis.materials,
        material,
        options.thickness_mm,
        options.quality,
    );
    if options.feed_mm_min.is_some() || options.pierce_dwell_s.is_some() {
        // Recompute the parts the overrides change.
        let normal = fig.cut_length_mm - small_len;
        time.cut_speed_mm_min = feed;
        time.cut_min = normal / feed + small_len / small_feed;
        time.pierce_s_each = dwell_s;
        time.pierce_min = pierces as f64 * dwell_s / 60.0;
        time.total_min = time.cut_min + time.pierce_min + time.rapid_min + time.corner_min;
        time.formulas.push(format!(
            "overrides: feed {} mm/min, pierce dwell {} s",
            decimal(feed, 1),
            decimal(dwell_s, 3)
        ));
    }
    let total = time.total_min;
    let summary = GcodeSummary {
        dialect: dialect.name.clone(),
        contours: cuts
            .iter()
            .map(|c| c.contour)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        parts,
        pierces,
        cut_length_mm: contour_len + lead_len,
        contour_length_mm: contour_len,
        lead_length_mm: lead_len,
        rapid_length_mm: rapid,
        feed_mm_min: feed,
        pierce_dwell_s: dwell_s,
        program_lines: program.lines().count(),
        program_bytes: program.len(),
        arcs,
        lines,
        time,
        estimated_time_min: total,
    };
    let svg = if options.svg {
        crate::svg::toolpath_svg(contours, &cuts, settings.home)
    } else {
        String::new()
    };
    Ok(GcodeProgram {
        program,
        summary,
        warnings: std::mem::take(warnings),
        dialect: dialect.clone(),
        svg,
        cuts,
    })
}

struct Writer<'a> {
    dialect: &'a Dialect,
    numbers: bool,
    n: u64,
    out: String,
}

impl<'a> Writer<'a> {
    fn new(dialect: &'a Dialect, numbers: bool) -> Self {
        Writer {
            dialect,
            numbers,
            n: 0,
            out: String::new(),
        }
    }
    fn line(&mut self, s: &str) {
        // The program number line (`O0001`) never carries a line number.
        if self.numbers && !s.starts_with('O') {
            self.n += u64::from(self.dialect.line_number_step.max(1));
            self.out.push_str(&format!("N{} ", self.n));
        }
        self.out.push_str(s);
        self.out.push('\n');
    }
    fn raw_percent(&mut self) {
        if self.dialect.tape_markers() {
            self.out.push_str("%\n");
        }
    }
    /// The point as the controller will read it back.
    fn rounded(&self, p: Point) -> Point {
        let d = self.dialect.coordinate_decimals;
        let r = |v: f64| decimal(v, d).parse::<f64>().unwrap_or(0.0);
        Point::new(r(p.x), r(p.y))
    }
}
