//! Component CSV exports analysed: the analyser's component export (`Area_mm2`,
//! `Perimeter_mm` required; `ID`, `Layer`, `Group`, `Selected` optional) or its
//! lengths export (`layer,id,perimeter_mm,area_mm2`), told apart by the header,
//! case-insensitively. The output keeps the old system's field names.
//!
//! Invariant: bytes, rows, columns and field sizes are capped by [`CsvOptions`]
//! before the work they would cost; every error names the line and column.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::CsvError;

/// Limits and thresholds of the CSV analysis. JSON payloads may fill any subset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CsvOptions {
    pub max_bytes: usize,
    pub max_rows: usize,
    pub max_columns: usize,
    pub max_field_bytes: usize,
    /// Objects listed in `top_objects.largest_by_area`.
    pub top_largest: usize,
    /// Objects listed in `top_objects.smallest_non_zero`.
    pub top_smallest: usize,
    /// Areas below this (mm²) are "tiny".
    pub tiny_area_mm2: f64,
    /// Perimeters below this (mm) are "tiny".
    pub tiny_perimeter_mm: f64,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            max_bytes: 64 * 1024 * 1024,
            max_rows: 1_000_000,
            max_columns: 64,
            max_field_bytes: 1024,
            top_largest: 5,
            top_smallest: 10,
            tiny_area_mm2: 1.0,
            tiny_perimeter_mm: 5.0,
        }
    }
}

/// Which export the header matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CsvFormat {
    /// `ID, Layer, Group, Area_mm2, Perimeter_mm, Selected` (any subset of the
    /// optional columns, any order).
    Component,
    /// `layer, id, perimeter_mm, area_mm2`.
    Lengths,
}

/// Mean, median, min and max of a column.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary4 {
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AreaDistribution {
    pub zero: u64,
    pub tiny_lt1: u64,
    pub small_1to10: u64,
    pub medium_10to100: u64,
    pub large_ge100: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PerimeterDistribution {
    pub tiny_lt5: u64,
    pub small_5to50: u64,
    pub medium_50to100: u64,
    pub large_ge100: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Statistics {
    pub total_objects: u64,
    pub selected_count: u64,
    pub not_selected_count: u64,
    pub total_area_mm2: f64,
    pub total_perimeter_mm: f64,
    /// Sum of the areas above zero.
    pub operable_area_mm2: f64,
    /// Objects with an area above zero.
    pub operable_objects: u64,
    pub area_stats: Summary4,
    pub perimeter_stats: Summary4,
    pub area_distribution: AreaDistribution,
    pub perimeter_distribution: PerimeterDistribution,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LayerStatistics {
    pub count: u64,
    pub total_area: f64,
    pub total_perimeter: f64,
    pub avg_area: f64,
    pub avg_perimeter: f64,
    pub zero_area: u64,
}

/// One row, under the component export's column names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectRow {
    #[serde(rename = "ID")]
    pub id: Option<String>,
    #[serde(rename = "Layer")]
    pub layer: Option<String>,
    #[serde(rename = "Group")]
    pub group: Option<String>,
    #[serde(rename = "Area_mm2")]
    pub area_mm2: f64,
    #[serde(rename = "Perimeter_mm")]
    pub perimeter_mm: f64,
    #[serde(rename = "Selected")]
    pub selected: Option<bool>,
    /// Line of the file (1-based, the header is line 1).
    pub line: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TopObjects {
    pub largest_by_area: Vec<ObjectRow>,
    pub smallest_non_zero: Vec<ObjectRow>,
}

/// A warning or a note: what, how many, and what to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    pub message: String,
    pub action: &'static str,
}

/// Can the design be cut as it is?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Viability {
    Good,
    Fair,
    Poor,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendations {
    pub warnings: Vec<Recommendation>,
    pub info: Vec<Recommendation>,
    pub viability_score: Viability,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CsvSummary {
    /// Total perimeter in metres.
    pub cutting_length_m: f64,
    /// One pierce per object that is cut (a perimeter above zero): a closed
    /// contour or an open chain, with an area or not.
    pub pierces_estimate: u64,
    /// The area the parts cover: outer boundaries less their holes (see
    /// [`net_area`]).
    pub net_operable_area_mm2: f64,
}

/// The analysis, under the old system's field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CsvAnalysis {
    /// Always true (the old API's flag; failures are errors).
    pub success: bool,
    pub format: CsvFormat,
    /// The header as read.
    pub columns: Vec<String>,
    pub statistics: Statistics,
    /// Objects per layer (empty without a layer column).
    pub layer_distribution: BTreeMap<String, u64>,
    pub layer_statistics: BTreeMap<String, LayerStatistics>,
    pub top_objects: TopObjects,
    pub recommendations: Recommendations,
    pub summary: CsvSummary,
}

struct Columns {
    area: usize,
    perimeter: usize,
    id: Option<usize>,
    layer: Option<usize>,
    group: Option<usize>,
    selected: Option<usize>,
}

/// Layers that say an object's role, as the analyser's exports name them.
const OUTER_LAYERS: [&str; 1] = ["OUTER"];
const HOLE_LAYERS: [&str; 3] = ["HOLE", "HOLES", "INNER"];

/// The area the parts cover: each outer boundary less the holes in it.
/// Every area in the file is positive, holes included, so a plain sum
/// counts a hole as material. Holes are told by a role layer (`HOLE`,
/// `INNER`) when the file uses role layers; else, within each group (a
/// part, as wjp's component export writes it), every object but the
/// largest is a hole of the largest; without either, all objects add up.
fn net_area(rows: &[ObjectRow]) -> f64 {
    let layer_is = |r: &ObjectRow, names: &[&str]| {
        r.layer
            .as_deref()
            .is_some_and(|l| names.iter().any(|n| l.trim().eq_ignore_ascii_case(n)))
    };
    let with_area = || rows.iter().filter(|r| r.area_mm2 > 0.0);
    if rows
        .iter()
        .any(|r| layer_is(r, &OUTER_LAYERS) || layer_is(r, &HOLE_LAYERS))
    {
        return with_area()
            .map(|r| {
                if layer_is(r, &HOLE_LAYERS) {
                    -r.area_mm2
                } else {
                    r.area_mm2
                }
            })
            .sum();
    }
    fn group_of(r: &ObjectRow) -> Option<&str> {
        r.group.as_deref().map(str::trim).filter(|g| !g.is_empty())
    }
    // Per group: its largest area and the sum of its areas.
    let mut groups: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut ungrouped = 0.0;
    for r in with_area() {
        match group_of(r) {
            Some(g) => {
                let (largest, total) = groups.entry(g).or_default();
                *largest = largest.max(r.area_mm2);
                *total += r.area_mm2;
            }
            None => ungrouped += r.area_mm2,
        }
    }
    ungrouped
        + groups
            .values()
            .map(|(largest, total)| largest - (total - largest))
            .sum::<f64>()
}

fn summary4(values: &mut [f64]) -> Summary4 {
    if values.is_empty() {
        return Summary4::default();
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Summary4 {
        mean: values.iter().sum::<f64>() / n as f64,
        median,
        min: values[0],
        max: values[n - 1],
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "t" => Some(true),
        "false" | "0" | "no" | "n" | "f" | "" => Some(false),
        _ => None,
    }
}

/// Analyse a component or lengths export.
pub fn analyze_components_csv(bytes: &[u8], options: &CsvOptions) -> Result<CsvAnalysis, CsvError> {
    if bytes.len() > options.max_bytes {
        return Err(CsvError::TooLarge {
            bytes: bytes.len(),
            limit: options.max_bytes,
        });
    }
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(CsvError::WrongEncoding { encoding: "UTF-16" });
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(CsvError::Empty);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let malformed = |e: csv::Error| CsvError::Malformed {
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    };

    let mut record = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut record).map_err(malformed)? {
        return Err(CsvError::Empty);
    }
    if record.len() > options.max_columns {
        return Err(CsvError::TooManyColumns {
            found: record.len(),
            limit: options.max_columns,
        });
    }
    let mut header = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        if field.len() > options.max_field_bytes {
            return Err(CsvError::FieldTooLong {
                line: 1,
                column: i + 1,
                name: "header".into(),
                len: field.len(),
                limit: options.max_field_bytes,
            });
        }
        let name = std::str::from_utf8(field).map_err(|_| CsvError::NotUtf8 {
            line: 1,
            column: i + 1,
            name: "header".into(),
        })?;
        header.push(name.trim().to_string());
    }
    let find = |name: &str| -> Result<Option<usize>, CsvError> {
        let mut found: Option<usize> = None;
        for (i, h) in header.iter().enumerate() {
            if h.eq_ignore_ascii_case(name) {
                if let Some(first) = found {
                    return Err(CsvError::DuplicateColumn {
                        name: h.clone(),
                        first: first + 1,
                        second: i + 1,
                    });
                }
                found = Some(i);
            }
        }
        Ok(found)
    };
    let cols = Columns {
        area: find("Area_mm2")?.ok_or(CsvError::MissingColumn {
            name: "Area_mm2",
            found: header.len(),
        })?,
        perimeter: find("Perimeter_mm")?.ok_or(CsvError::MissingColumn {
            name: "Perimeter_mm",
            found: header.len(),
        })?,
        id: find("ID")?,
        layer: find("Layer")?,
        group: find("Group")?,
        selected: find("Selected")?,
    };
    let lengths_header = ["layer", "id", "perimeter_mm", "area_mm2"];
    let format = if header.len() == 4
        && header
            .iter()
            .zip(lengths_header)
            .all(|(h, want)| h.eq_ignore_ascii_case(want))
    {
        CsvFormat::Lengths
    } else {
        CsvFormat::Component
    };

    let mut rows: Vec<ObjectRow> = Vec::new();
    loop {
        if !reader.read_byte_record(&mut record).map_err(malformed)? {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        // A blank line reads as one empty field: skip it.
        if record.len() == 1 && record[0].iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if record.len() != header.len() {
            return Err(CsvError::RaggedRow {
                line,
                expected: header.len(),
                found: record.len(),
            });
        }
        if rows.len() >= options.max_rows {
            return Err(CsvError::TooManyRows {
                limit: options.max_rows,
            });
        }
        let text = |i: usize| -> Result<&str, CsvError> {
            let field = &record[i];
            if field.len() > options.max_field_bytes {
                return Err(CsvError::FieldTooLong {
                    line,
                    column: i + 1,
                    name: header[i].clone(),
                    len: field.len(),
                    limit: options.max_field_bytes,
                });
            }
            std::str::from_utf8(field)
                .map(str::trim)
                .map_err(|_| CsvError::NotUtf8 {
                    line,
                    column: i + 1,
                    name: header[i].clone(),
                })
        };
        let number = |i: usize| -> Result<f64, CsvError> {
            let s = text(i)?;
            let v: f64 = s.parse().map_err(|_| CsvError::BadNumber {
                line,
                column: i + 1,
                name: header[i].clone(),
                value: s.to_string(),
            })?;
            let bad = |reason| CsvError::BadValue {
                line,
                column: i + 1,
                name: header[i].clone(),
                value: s.to_string(),
                reason,
            };
            if !v.is_finite() {
                return Err(bad("is not a finite number"));
            }
            if v < 0.0 {
                return Err(bad("is negative: areas and perimeters are sizes"));
            }
            Ok(v)
        };
        let opt_text = |c: Option<usize>| -> Result<Option<String>, CsvError> {
            c.map(|i| text(i).map(str::to_string)).transpose()
        };
        let selected = match cols.selected {
            Some(i) => {
                let s = text(i)?;
                Some(parse_bool(s).ok_or_else(|| CsvError::BadValue {
                    line,
                    column: i + 1,
                    name: header[i].clone(),
                    value: s.to_string(),
                    reason: "is not true/false, yes/no or 1/0",
                })?)
            }
            None => None,
        };
        rows.push(ObjectRow {
            id: opt_text(cols.id)?,
            layer: opt_text(cols.layer)?,
            group: opt_text(cols.group)?,
            area_mm2: number(cols.area)?,
            perimeter_mm: number(cols.perimeter)?,
            selected,
            line,
        });
    }
    Ok(analyse_rows(format, header, &rows, options))
}

fn analyse_rows(
    format: CsvFormat,
    columns: Vec<String>,
    rows: &[ObjectRow],
    o: &CsvOptions,
) -> CsvAnalysis {
    let n = rows.len() as u64;
    let mut areas: Vec<f64> = rows.iter().map(|r| r.area_mm2).collect();
    let mut perimeters: Vec<f64> = rows.iter().map(|r| r.perimeter_mm).collect();
    let total_area: f64 = areas.iter().sum();
    let total_perimeter: f64 = perimeters.iter().sum();
    let count = |f: &dyn Fn(&ObjectRow) -> bool| rows.iter().filter(|r| f(r)).count() as u64;
    let zero = count(&|r| r.area_mm2 == 0.0);
    let tiny_area = count(&|r| r.area_mm2 < o.tiny_area_mm2);
    let tiny_perimeter = count(&|r| r.perimeter_mm < o.tiny_perimeter_mm);
    let selected = count(&|r| r.selected == Some(true));
    let operable_area: f64 = rows
        .iter()
        .filter(|r| r.area_mm2 > 0.0)
        .map(|r| r.area_mm2)
        .sum();
    let operable = n - zero;

    let statistics = Statistics {
        total_objects: n,
        selected_count: selected,
        not_selected_count: n - selected,
        total_area_mm2: total_area,
        total_perimeter_mm: total_perimeter,
        operable_area_mm2: operable_area,
        operable_objects: operable,
        area_stats: summary4(&mut areas),
        perimeter_stats: summary4(&mut perimeters),
        area_distribution: AreaDistribution {
            zero,
            tiny_lt1: count(&|r| r.area_mm2 < 1.0),
            small_1to10: count(&|r| (1.0..10.0).contains(&r.area_mm2)),
            medium_10to100: count(&|r| (10.0..100.0).contains(&r.area_mm2)),
            large_ge100: count(&|r| r.area_mm2 >= 100.0),
        },
        perimeter_distribution: PerimeterDistribution {
            tiny_lt5: count(&|r| r.perimeter_mm < 5.0),
            small_5to50: count(&|r| (5.0..50.0).contains(&r.perimeter_mm)),
            medium_50to100: count(&|r| (50.0..100.0).contains(&r.perimeter_mm)),
            large_ge100: count(&|r| r.perimeter_mm >= 100.0),
        },
    };

    let mut layer_distribution: BTreeMap<String, u64> = BTreeMap::new();
    let mut layer_statistics: BTreeMap<String, LayerStatistics> = BTreeMap::new();
    for r in rows {
        if let Some(layer) = &r.layer {
            let name = if layer.is_empty() {
                "0"
            } else {
                layer.as_str()
            };
            *layer_distribution.entry(name.to_string()).or_default() += 1;
            let s = layer_statistics.entry(name.to_string()).or_default();
            s.count += 1;
            s.total_area += r.area_mm2;
            s.total_perimeter += r.perimeter_mm;
            s.zero_area += u64::from(r.area_mm2 == 0.0);
        }
    }
    for s in layer_statistics.values_mut() {
        s.avg_area = s.total_area / s.count as f64;
        s.avg_perimeter = s.total_perimeter / s.count as f64;
    }

    let mut by_area: Vec<&ObjectRow> = rows.iter().collect();
    // Largest first; ties in file order.
    by_area.sort_by(|a, b| b.area_mm2.total_cmp(&a.area_mm2).then(a.line.cmp(&b.line)));
    let largest_by_area = by_area
        .iter()
        .take(o.top_largest)
        .map(|r| (*r).clone())
        .collect();
    let smallest_non_zero = by_area
        .iter()
        .rev()
        .filter(|r| r.area_mm2 > 0.0)
        .take(o.top_smallest)
        .map(|r| (*r).clone())
        .collect();

    let mut warnings = Vec::new();
    let mut info = Vec::new();
    if zero > 0 {
        warnings.push(Recommendation {
            kind: "zero_area",
            count: Some(zero),
            message: format!(
                "{zero} objects have zero area - likely open contours or invalid geometry"
            ),
            action: "Remove zero-area objects or close their contours before quoting",
        });
    }
    if tiny_area * 2 > n {
        warnings.push(Recommendation {
            kind: "too_many_tiny",
            count: Some(tiny_area),
            message: format!(
                "{tiny_area} objects have area < {} mm² - may be too small for waterjet cutting",
                o.tiny_area_mm2
            ),
            action: "Filter out objects below the minimum area or perimeter",
        });
    }
    if tiny_perimeter * 2 > n {
        warnings.push(Recommendation {
            kind: "tiny_perimeter",
            count: Some(tiny_perimeter),
            message: format!(
                "{tiny_perimeter} objects have perimeter < {} mm - very small features",
                o.tiny_perimeter_mm
            ),
            action: "Review whether these features are manufacturable on a waterjet",
        });
    }
    if n == 0 {
        warnings.push(Recommendation {
            kind: "no_objects",
            count: Some(0),
            message: "the file has a header but no objects".into(),
            action: "Export the components again",
        });
    }
    if layer_statistics.len() == 1 {
        info.push(Recommendation {
            kind: "single_layer",
            count: None,
            message: "All objects are on a single layer - consider organizing into OUTER/INNER/HOLE layers".into(),
            action: "Assign outer boundaries and holes to their own layers",
        });
    } else if layer_distribution.get("OUTER") == Some(&1) {
        info.push(Recommendation {
            kind: "single_outer",
            count: Some(1),
            message: "Only 1 object on OUTER layer - ensure proper layer assignment".into(),
            action: "Review layer assignments",
        });
    }
    if rows.iter().any(|r| r.selected.is_some()) && n > 0 {
        if selected == n {
            info.push(Recommendation {
                kind: "all_selected",
                count: Some(selected),
                message: "All objects are selected - consider selective processing".into(),
                action: "Deselect objects you don't want to process",
            });
        } else if selected == 0 {
            info.push(Recommendation {
                kind: "none_selected",
                count: Some(0),
                message: "No objects are selected - select objects to process".into(),
                action: "Select which objects to process",
            });
        }
    }
    let viability_score = if n == 0 || zero * 2 > n {
        Viability::Poor
    } else if zero * 10 > n * 3 {
        Viability::Fair
    } else {
        Viability::Good
    };

    CsvAnalysis {
        success: true,
        format,
        columns,
        statistics,
        layer_distribution,
        layer_statistics,
        top_objects: TopObjects {
            largest_by_area,
            smallest_non_zero,
        },
        recommendations: Recommendations {
            warnings,
            info,
            viability_score,
        },
        summary: CsvSummary {
            cutting_length_m: total_perimeter / 1000.0,
            pierces_estimate: count(&|r| r.perimeter_mm > 0.0),
            net_operable_area_mm2: net_area(rows),
        },
    }
}
