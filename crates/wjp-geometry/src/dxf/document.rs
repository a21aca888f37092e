//! From tags to a document: header variables, block definitions, entities.
//!
//! The reader is tolerant of the damage real files carry: no HEADER section, a
//! missing `ENDSEC` or `ENDBLK`, entities outside any section, missing or duplicate
//! handles (handles are never used), unknown entity types (kept as [`EntityKind::Other`]
//! so they are counted). It is strict about numbers that geometry depends on: a
//! coordinate that is not a finite number within the configured limit is an error
//! naming the entity and its line.

use std::collections::HashMap;

use super::tokenizer::{Tag, TokenInfo};
use crate::error::{AnalysisError, SourcePos};

pub type P3 = [f64; 3];

/// A vertex of a polyline in the entity's own coordinates, with the bulge of the
/// segment that starts at it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawVertex {
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub bulge: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EntityKind {
    Line {
        p1: P3,
        p2: P3,
    },
    Circle {
        center: P3,
        radius: f64,
        extrusion: P3,
    },
    Arc {
        center: P3,
        radius: f64,
        start_deg: f64,
        end_deg: f64,
        extrusion: P3,
    },
    /// LWPOLYLINE and 2D POLYLINE (OCS), and 3D POLYLINE (WCS, `three_d`).
    Polyline {
        vertices: Vec<RawVertex>,
        closed: bool,
        elevation: f64,
        extrusion: P3,
        three_d: bool,
    },
    Ellipse {
        center: P3,
        major: P3,
        ratio: f64,
        start: f64,
        end: f64,
        extrusion: P3,
    },
    Spline {
        degree: usize,
        closed: bool,
        knots: Vec<f64>,
        weights: Vec<f64>,
        control: Vec<P3>,
        fit: Vec<P3>,
        start_tangent: Option<P3>,
        end_tangent: Option<P3>,
    },
    Insert {
        block: String,
        at: P3,
        scale: P3,
        rotation_deg: f64,
        columns: i64,
        rows: i64,
        column_spacing: f64,
        row_spacing: f64,
        extrusion: P3,
    },
    /// Anything not cut (TEXT, HATCH, DIMENSION, meshes...): counted only.
    Other,
}

/// One entity with what every entity has.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    /// The DXF type name as written (`LINE`, `POLYLINE`, ...), upper case.
    pub type_name: String,
    pub layer: String,
    pub pos: SourcePos,
    /// Group 67 = 1: the entity lives in paper space.
    pub paper_space: bool,
    pub kind: EntityKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub name: String,
    pub base: P3,
    pub entities: Vec<Entity>,
    pub pos: SourcePos,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    pub acadver: Option<String>,
    pub insunits: Option<i64>,
    pub measurement: Option<i64>,
    pub codepage: Option<String>,
    /// The file had a HEADER section at all.
    pub present: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Document {
    pub header: Header,
    /// Block definitions by upper-case name (block names are case-insensitive).
    pub blocks: HashMap<String, Block>,
    pub entities: Vec<Entity>,
    pub token_info: TokenInfo,
    /// Notes on damage that was tolerated.
    pub notes: Vec<String>,
}

/// Limits the reader enforces while building entities.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    pub max_coordinate: f64,
    pub max_entities: u64,
    pub max_vertices_per_entity: u64,
}

struct Cursor<'a> {
    tags: &'a [Tag],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<&'a Tag> {
        self.tags.get(self.i)
    }
    fn is_zero(&self, names: &[&str]) -> bool {
        matches!(self.peek(), Some(t) if t.code == 0 && names.contains(&t.str()))
    }
    /// Takes the tags up to (not including) the next code-0 tag.
    fn body(&mut self) -> &'a [Tag] {
        let start = self.i;
        while let Some(t) = self.tags.get(self.i) {
            if t.code == 0 {
                break;
            }
            self.i += 1;
        }
        &self.tags[start..self.i]
    }
}

/// Build the document from the tag list.
pub fn build(
    tags: &[Tag],
    token_info: TokenInfo,
    limits: &ReadLimits,
) -> Result<Document, AnalysisError> {
    let mut doc = Document {
        token_info,
        ..Default::default()
    };
    let mut cur = Cursor { tags, i: 0 };
    let mut entity_count: u64 = 0;
    while let Some(tag) = cur.peek() {
        if tag.code != 0 {
            // Stray tag outside any entity: skip it.
            cur.i += 1;
            continue;
        }
        match tag.str() {
            "EOF" => break,
            "SECTION" => {
                cur.i += 1;
                let name = match cur.peek() {
                    Some(t) if t.code == 2 => {
                        cur.i += 1;
                        t.str().to_ascii_uppercase()
                    }
                    _ => String::new(),
                };
                match name.as_str() {
                    "HEADER" => read_header(&mut cur, &mut doc.header),
                    "BLOCKS" => read_blocks(&mut cur, &mut doc, limits, &mut entity_count)?,
                    "ENTITIES" => {
                        let list = read_entities(
                            &mut cur,
                            &["ENDSEC", "SECTION", "EOF"],
                            limits,
                            &mut entity_count,
                        )?;
                        doc.entities.extend(list);
                    }
                    _ => skip_section(&mut cur),
                }
                if cur.is_zero(&["ENDSEC"]) {
                    cur.i += 1;
                } else if !cur.is_zero(&["EOF"]) && cur.peek().is_some() {
                    doc.notes.push(format!("section {name} has no ENDSEC"));
                }
            }
            "ENDSEC" => cur.i += 1,
            _ => {
                // Entities outside any section (some exporters write no SECTION
                // markers): read them as model space.
                doc.notes
                    .push(format!("entities outside a section from {}", tag.pos));
                let list = read_entities(
                    &mut cur,
                    &["ENDSEC", "SECTION", "EOF"],
                    limits,
                    &mut entity_count,
                )?;
                doc.entities.extend(list);
            }
        }
    }
    Ok(doc)
}

fn skip_section(cur: &mut Cursor<'_>) {
    while let Some(t) = cur.peek() {
        if t.code == 0 && matches!(t.str(), "ENDSEC" | "EOF" | "SECTION") {
            return;
        }
        cur.i += 1;
    }
}

fn read_header(cur: &mut Cursor<'_>, header: &mut Header) {
    header.present = true;
    let mut var = String::new();
    while let Some(t) = cur.peek() {
        if t.code == 0 {
            return;
        }
        cur.i += 1;
        if t.code == 9 {
            var = t.str().to_ascii_uppercase();
            continue;
        }
        match (var.as_str(), t.code) {
            ("$ACADVER", 1) => header.acadver = Some(t.text()),
            ("$INSUNITS", 70) => header.insunits = t.int(),
            ("$MEASUREMENT", 70) => header.measurement = t.int(),
            ("$DWGCODEPAGE", 3) => header.codepage = Some(t.text()),
            _ => {}
        }
    }
}

fn read_blocks(
    cur: &mut Cursor<'_>,
    doc: &mut Document,
    limits: &ReadLimits,
    count: &mut u64,
) -> Result<(), AnalysisError> {
    loop {
        let Some(t) = cur.peek() else { return Ok(()) };
        if t.code != 0 {
            cur.i += 1;
            continue;
        }
        match t.str() {
            "ENDSEC" | "EOF" | "SECTION" => return Ok(()),
            "BLOCK" => {
                let pos = t.pos;
                cur.i += 1;
                let body = cur.body();
                let mut name = String::new();
                let mut base = [0.0; 3];
                for t in body {
                    match t.code {
                        2 => name = t.text(),
                        3 if name.is_empty() => name = t.text(),
                        10 => base[0] = t.real().unwrap_or(0.0),
                        20 => base[1] = t.real().unwrap_or(0.0),
                        30 => base[2] = t.real().unwrap_or(0.0),
                        _ => {}
                    }
                }
                check_point(&base, "BLOCK base point", pos, limits)?;
                let entities = read_entities(
                    cur,
                    &["ENDBLK", "BLOCK", "ENDSEC", "EOF", "SECTION"],
                    limits,
                    count,
                )?;
                if cur.is_zero(&["ENDBLK"]) {
                    cur.i += 1;
                    cur.body();
                } else {
                    doc.notes.push(format!("block \"{name}\" has no ENDBLK"));
                }
                let key = name.to_ascii_uppercase();
                match doc.blocks.entry(key) {
                    std::collections::hash_map::Entry::Occupied(_) => doc.notes.push(format!(
                        "block \"{name}\" is defined twice; the first is used"
                    )),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(Block {
                            name,
                            base,
                            entities,
                            pos,
                        });
                    }
                }
            }
            _ => {
                // An entity outside BLOCK/ENDBLK: skip it.
                cur.i += 1;
                cur.body();
            }
        }
    }
}

fn read_entities(
    cur: &mut Cursor<'_>,
    stop: &[&str],
    limits: &ReadLimits,
    count: &mut u64,
) -> Result<Vec<Entity>, AnalysisError> {
    let mut out = Vec::new();
    while let Some(t) = cur.peek() {
        if t.code != 0 {
            cur.i += 1;
            continue;
        }
        let name = t.str();
        if stop.contains(&name) {
            break;
        }
        let pos = t.pos;
        let type_name = name.to_ascii_uppercase();
        cur.i += 1;
        let body = cur.body();
        *count += 1;
        if *count > limits.max_entities {
            return Err(AnalysisError::TooComplex {
                what: "too many entities".into(),
                limit: limits.max_entities,
                pos,
            });
        }
        match type_name.as_str() {
            "POLYLINE" => {
                // Followed by VERTEX entities up to SEQEND.
                let mut vertices = Vec::new();
                while cur.is_zero(&["VERTEX"]) {
                    let vpos = cur.peek().map(|t| t.pos).unwrap_or(pos);
                    cur.i += 1;
                    let vb = cur.body();
                    vertices.push((vpos, vb));
                    if vertices.len() as u64 > limits.max_vertices_per_entity {
                        return Err(AnalysisError::TooComplex {
                            what: "too many vertices in one POLYLINE".into(),
                            limit: limits.max_vertices_per_entity,
                            pos,
                        });
                    }
                }
                if cur.is_zero(&["SEQEND"]) {
                    cur.i += 1;
                    cur.body();
                }
                out.push(polyline(body, &vertices, pos, limits)?);
            }
            "VERTEX" | "SEQEND" => {
                // Orphans (stray vertices, the end of an INSERT's attributes): not
                // geometry.
            }
            // An ATTRIB after an INSERT is that insert's text, already in world
            // coordinates: kept (and so counted) once, whatever the INSERT's
            // MINSERT cells; its block's ATTDEFs are only templates.
            _ => out.push(entity(type_name, body, pos, limits)?),
        }
    }
    Ok(out)
}

fn check_num(
    v: f64,
    what: &str,
    pos: SourcePos,
    limits: &ReadLimits,
) -> Result<f64, AnalysisError> {
    if !v.is_finite() || v.abs() > limits.max_coordinate {
        return Err(AnalysisError::BadCoordinate {
            entity: what.to_owned(),
            pos,
            value: v,
            limit: limits.max_coordinate,
        });
    }
    Ok(v)
}

fn check_point(
    p: &P3,
    what: &str,
    pos: SourcePos,
    limits: &ReadLimits,
) -> Result<(), AnalysisError> {
    for v in p {
        check_num(*v, what, pos, limits)?;
    }
    Ok(())
}

fn real_of(t: &Tag, what: &str, limits: &ReadLimits) -> Result<f64, AnalysisError> {
    match t.real() {
        Some(v) => check_num(v, what, t.pos, limits),
        None => Err(AnalysisError::parse(
            format!(
                "{what}: group code {} expects a number, found other text",
                t.code
            ),
            t.pos,
        )),
    }
}

fn common(body: &[Tag]) -> (String, bool) {
    let mut layer = String::from("0");
    let mut paper = false;
    for t in body {
        match t.code {
            8 => layer = t.text(),
            67 => paper = t.int() == Some(1),
            _ => {}
        }
    }
    (layer, paper)
}

fn normalize(e: P3) -> P3 {
    let n = (e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt();
    if n > 1e-12 && n.is_finite() {
        [e[0] / n, e[1] / n, e[2] / n]
    } else {
        [0.0, 0.0, 1.0]
    }
}

fn entity(
    type_name: String,
    body: &[Tag],
    pos: SourcePos,
    limits: &ReadLimits,
) -> Result<Entity, AnalysisError> {
    let (layer, paper_space) = common(body);
    let what = type_name.as_str();
    let kind = match what {
        "LINE" | "CIRCLE" | "ARC" | "ELLIPSE" | "INSERT" => {
            let mut p = [[0.0f64; 3]; 2];
            let mut ext = [0.0, 0.0, 1.0];
            let mut r40 = if what == "ELLIPSE" { 1.0 } else { 0.0 };
            let mut a41 = 0.0f64;
            let mut a42 = if what == "ELLIPSE" {
                std::f64::consts::TAU
            } else {
                1.0
            };
            let mut a43 = 1.0f64;
            let mut a44 = 0.0f64;
            let mut a45 = 0.0f64;
            let mut a50 = 0.0f64;
            let mut a51 = 360.0f64;
            let mut i70 = 1i64;
            let mut i71 = 1i64;
            let mut block = String::new();
            let mut has41 = false;
            for t in body {
                match t.code {
                    10 | 20 | 30 | 11 | 21 | 31 => {
                        let v = real_of(t, what, limits)?;
                        p[(t.code % 10) as usize][(t.code / 10 - 1) as usize] = v;
                    }
                    210 | 220 | 230 => ext[(t.code / 10 - 21) as usize] = real_of(t, what, limits)?,
                    40 => r40 = real_of(t, what, limits)?,
                    41 => {
                        a41 = real_of(t, what, limits)?;
                        has41 = true;
                    }
                    42 => a42 = real_of(t, what, limits)?,
                    43 => a43 = real_of(t, what, limits)?,
                    44 => a44 = real_of(t, what, limits)?,
                    45 => a45 = real_of(t, what, limits)?,
                    50 => a50 = real_of(t, what, limits)?,
                    51 => a51 = real_of(t, what, limits)?,
                    70 => i70 = t.int().unwrap_or(1),
                    71 => i71 = t.int().unwrap_or(1),
                    2 => block = t.text(),
                    _ => {}
                }
            }
            let ext = normalize(ext);
            match what {
                "LINE" => EntityKind::Line { p1: p[0], p2: p[1] },
                "CIRCLE" => EntityKind::Circle {
                    center: p[0],
                    radius: r40,
                    extrusion: ext,
                },
                "ARC" => EntityKind::Arc {
                    center: p[0],
                    radius: r40,
                    start_deg: a50,
                    end_deg: a51,
                    extrusion: ext,
                },
                "ELLIPSE" => EntityKind::Ellipse {
                    center: p[0],
                    major: p[1],
                    ratio: r40,
                    start: if has41 { a41 } else { 0.0 },
                    end: a42,
                    extrusion: ext,
                },
                _ => {
                    let sx = if has41 { a41 } else { 1.0 };
                    EntityKind::Insert {
                        block,
                        at: p[0],
                        scale: [sx, a42, a43],
                        rotation_deg: a50,
                        // For INSERT 70/71 are column/row counts (MINSERT).
                        columns: i70.max(1),
                        rows: i71.max(1),
                        column_spacing: a44,
                        row_spacing: a45,
                        extrusion: ext,
                    }
                }
            }
        }
        "LWPOLYLINE" => {
            let mut vertices: Vec<RawVertex> = Vec::new();
            let mut closed = false;
            let mut elevation = 0.0;
            let mut ext = [0.0, 0.0, 1.0];
            for t in body {
                match t.code {
                    10 => {
                        vertices.push(RawVertex {
                            x: real_of(t, what, limits)?,
                            y: 0.0,
                            z: 0.0,
                            bulge: 0.0,
                        });
                        if vertices.len() as u64 > limits.max_vertices_per_entity {
                            return Err(AnalysisError::TooComplex {
                                what: "too many vertices in one LWPOLYLINE".into(),
                                limit: limits.max_vertices_per_entity,
                                pos,
                            });
                        }
                    }
                    20 => {
                        if let Some(v) = vertices.last_mut() {
                            v.y = real_of(t, what, limits)?;
                        }
                    }
                    42 => {
                        if let Some(v) = vertices.last_mut() {
                            v.bulge = real_of(t, what, limits)?;
                        }
                    }
                    38 => elevation = real_of(t, what, limits)?,
                    70 => closed = t.int().unwrap_or(0) & 1 == 1,
                    210 | 220 | 230 => ext[(t.code / 10 - 21) as usize] = real_of(t, what, limits)?,
                    _ => {}
                }
            }
            EntityKind::Polyline {
                vertices,
                closed,
                elevation,
                extrusion: normalize(ext),
                three_d: false,
            }
        }
        "SPLINE" => {
            let mut degree = 3i64;
            let mut flags = 0i64;
            let mut knots = Vec::new();
            let mut weights = Vec::new();
            let mut control: Vec<P3> = Vec::new();
            let mut fit: Vec<P3> = Vec::new();
            let mut st = None;
            let mut et = None;
            let mut st_v = [0.0; 3];
            let mut et_v = [0.0; 3];
            for t in body {
                let n = control.len() + fit.len() + knots.len();
                if n as u64 > limits.max_vertices_per_entity {
                    return Err(AnalysisError::TooComplex {
                        what: "too many control points or knots in one SPLINE".into(),
                        limit: limits.max_vertices_per_entity,
                        pos,
                    });
                }
                match t.code {
                    70 => flags = t.int().unwrap_or(0),
                    71 => degree = t.int().unwrap_or(3),
                    40 => knots.push(real_of(t, what, limits)?),
                    41 => weights.push(real_of(t, what, limits)?),
                    10 => control.push([real_of(t, what, limits)?, 0.0, 0.0]),
                    20 | 30 => {
                        if let Some(c) = control.last_mut() {
                            c[(t.code / 10 - 1) as usize] = real_of(t, what, limits)?;
                        }
                    }
                    11 => fit.push([real_of(t, what, limits)?, 0.0, 0.0]),
                    21 | 31 => {
                        if let Some(c) = fit.last_mut() {
                            c[(t.code / 10 - 1) as usize] = real_of(t, what, limits)?;
                        }
                    }
                    12 | 22 | 32 => {
                        st_v[(t.code / 10 - 1) as usize] = real_of(t, what, limits)?;
                        st = Some(());
                    }
                    13 | 23 | 33 => {
                        et_v[(t.code / 10 - 1) as usize] = real_of(t, what, limits)?;
                        et = Some(());
                    }
                    _ => {}
                }
            }
            EntityKind::Spline {
                degree: degree.clamp(1, 30) as usize,
                closed: flags & 1 == 1,
                knots,
                weights,
                control,
                fit,
                start_tangent: st.map(|_| st_v),
                end_tangent: et.map(|_| et_v),
            }
        }
        _ => EntityKind::Other,
    };
    Ok(Entity {
        type_name,
        layer,
        pos,
        paper_space,
        kind,
    })
}

fn polyline(
    body: &[Tag],
    vertices: &[(SourcePos, &[Tag])],
    pos: SourcePos,
    limits: &ReadLimits,
) -> Result<Entity, AnalysisError> {
    let (layer, paper_space) = common(body);
    let mut flags = 0i64;
    let mut elevation = 0.0;
    let mut ext = [0.0, 0.0, 1.0];
    for t in body {
        match t.code {
            70 => flags = t.int().unwrap_or(0),
            30 => elevation = real_of(t, "POLYLINE", limits)?,
            210 | 220 | 230 => ext[(t.code / 10 - 21) as usize] = real_of(t, "POLYLINE", limits)?,
            _ => {}
        }
    }
    let mesh = flags & (16 | 64) != 0;
    let three_d = flags & 8 != 0;
    let mut out = Vec::with_capacity(vertices.len());
    for (vpos, vb) in vertices {
        let mut v = RawVertex {
            x: 0.0,
            y: 0.0,
            z: 0.0,
            bulge: 0.0,
        };
        let mut vflags = 0i64;
        for t in *vb {
            match t.code {
                10 => v.x = real_of(t, "VERTEX", limits)?,
                20 => v.y = real_of(t, "VERTEX", limits)?,
                30 => v.z = real_of(t, "VERTEX", limits)?,
                42 => v.bulge = real_of(t, "VERTEX", limits)?,
                70 => vflags = t.int().unwrap_or(0),
                _ => {}
            }
        }
        let _ = vpos;
        // Skip spline-frame control points (16) and polyface face records (128
        // without 64).
        if vflags & 16 != 0 || (vflags & 128 != 0 && vflags & 64 == 0) {
            continue;
        }
        out.push(v);
    }
    let kind = if mesh {
        EntityKind::Other
    } else {
        EntityKind::Polyline {
            vertices: out,
            closed: flags & 1 == 1,
            elevation,
            extrusion: normalize(ext),
            three_d,
        }
    };
    let type_name = if mesh {
        "POLYLINE_MESH".to_owned()
    } else {
        "POLYLINE".to_owned()
    };
    Ok(Entity {
        type_name,
        layer,
        pos,
        paper_space,
        kind,
    })
}
