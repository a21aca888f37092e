//! Cutting time and cost.
//!
//! Speed follows Zeng's semi-empirical model for abrasive waterjets. For one machine
//! everything but material, quality and thickness is constant, so
//! `u(material, h, q) = K_machine * (N_m / (q * h))^1.15`, with `K_machine`
//! calibrated from one known speed of the shop's machine ([`MachineParams`]).
//! Machinability numbers live in ONE editable table ([`default_materials`]); they
//! are starting points, not certified data.
//!
//! Two pricings sit side by side: the physical one (machine time, abrasive, pierces,
//! setup, material) and the old "per metre" one with its old parameter names and
//! defaults, kept for parity. Every cost line carries the formula with its numbers.

use serde::{Deserialize, Serialize};

/// One material of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Material {
    /// Key used in requests (`mild_steel`, `glass`...).
    pub name: String,
    /// Other names accepted for it (`steel`, `aluminum`...).
    pub aliases: Vec<String>,
    /// Zeng's machinability number N_m (higher cuts faster).
    pub machinability: f64,
    /// Brittle materials (stone, glass) need a slow low-pressure pierce.
    pub brittle: bool,
    /// Density, kg/m³ (for the material cost).
    pub density_kg_m3: f64,
    /// Price per kg of sheet; 0 = material not priced.
    pub price_per_kg: f64,
    /// Thicknesses the shop cuts in this material, `[min, max]` mm; `None`
    /// when the shop set no range (the model's own bound, (0, 500] mm,
    /// still applies). An analysis outside the range is refused, so a quote
    /// is never made for a slab the shop cannot cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thickness_range_mm: Option<[f64; 2]>,
}

impl Default for Material {
    fn default() -> Self {
        Material {
            name: String::new(),
            aliases: Vec::new(),
            machinability: 81.0,
            brittle: false,
            density_kg_m3: 7850.0,
            price_per_kg: 0.0,
            thickness_range_mm: None,
        }
    }
}

fn m(name: &str, aliases: &[&str], nm: f64, brittle: bool, density: f64) -> Material {
    Material {
        name: name.to_owned(),
        aliases: aliases.iter().map(|s| (*s).to_owned()).collect(),
        machinability: nm,
        brittle,
        density_kg_m3: density,
        price_per_kg: 0.0,
        thickness_range_mm: None,
    }
}

/// THE material table: approximate machinability numbers of the abrasive
/// waterjet literature (mid-range of the published spans).
pub fn default_materials() -> Vec<Material> {
    vec![
        m(
            "mild_steel",
            &["steel", "ms", "carbon_steel"],
            81.0,
            false,
            7850.0,
        ),
        m(
            "stainless_steel",
            &["stainless", "ss", "inox"],
            80.0,
            false,
            8000.0,
        ),
        m("titanium", &["ti"], 115.0, false, 4500.0),
        m("copper", &["cu"], 105.0, false, 8960.0),
        m("brass", &[], 130.0, false, 8500.0),
        m("aluminium", &["aluminum", "al"], 210.0, false, 2700.0),
        m("granite", &[], 375.0, true, 2700.0),
        m("glass", &[], 500.0, true, 2500.0),
        m("marble", &[], 525.0, true, 2700.0),
    ]
}

/// The form of a material name or alias that lookups compare: trimmed,
/// lower case, `-` and spaces as `_` (`Mild Steel` is `mild_steel`).
pub fn material_key(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace(['-', ' '], "_")
}

/// Find a material by name or alias (case-insensitive, `-`/space = `_`).
pub fn find_material<'a>(table: &'a [Material], name: &str) -> Option<&'a Material> {
    let key = material_key(name);
    table
        .iter()
        .find(|m| m.name == key || m.aliases.contains(&key))
}

/// Constants of the shop's machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineParams {
    /// Calibration: this material...
    pub calibration_material: String,
    /// ...at this thickness (mm)...
    pub calibration_thickness_mm: f64,
    /// ...and quality...
    pub calibration_quality: u8,
    /// ...cuts at this speed (mm/min).
    pub calibration_speed_mm_min: f64,
    /// Rapid (jet-off) travel speed, mm/min.
    pub rapid_speed_mm_min: f64,
    /// Pierce time of 10 mm mild steel, seconds; scales with thickness and
    /// machinability like the cut speed.
    pub pierce_time_ref_s: f64,
    /// Shortest pierce, seconds.
    pub pierce_time_min_s: f64,
    /// Brittle materials are pierced at this fraction of the cutting pressure;
    /// by Zeng's pressure exponent the pierce is `ratio^(-1.594 * 1.15)` times
    /// slower (about 7.5x at a third of the pressure).
    pub low_pressure_pierce_ratio: f64,
    /// Extra time per sharp corner (slow-down and acceleration), seconds.
    pub corner_slowdown_s: f64,
    /// Arcs below this radius are cut slower...
    pub small_radius_mm: f64,
    /// ...at this fraction of the straight-line speed.
    pub small_radius_speed_factor: f64,
}

impl Default for MachineParams {
    fn default() -> Self {
        MachineParams {
            calibration_material: "mild_steel".into(),
            calibration_thickness_mm: 10.0,
            calibration_quality: 1,
            calibration_speed_mm_min: 280.0,
            rapid_speed_mm_min: 10_000.0,
            pierce_time_ref_s: 3.0,
            pierce_time_min_s: 0.5,
            low_pressure_pierce_ratio: 1.0 / 3.0,
            corner_slowdown_s: 0.2,
            small_radius_mm: 2.0,
            small_radius_speed_factor: 0.5,
        }
    }
}

/// Prices. The first six keep the old service's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pricing {
    /// Old per-metre mode: price per metre of cut.
    pub rate_per_m: f64,
    /// Old per-metre mode: the flat feed, mm/min.
    pub feed: f64,
    /// Old per-metre mode: pierce time in milliseconds.
    pub pierce_ms: f64,
    /// Machine time price per minute (both modes).
    pub machine_rate_per_min: f64,
    /// Price per pierce (both modes).
    pub pierce_cost: f64,
    /// Setup price per job (both modes).
    pub setup_cost: f64,
    /// Abrasive flow, kg/min of jet-on time (physical mode).
    pub abrasive_kg_per_min: f64,
    /// Abrasive price per kg (physical mode).
    pub abrasive_price_per_kg: f64,
    /// Currency label.
    pub currency: String,
    /// Which mode gives `cost.total`: "physical" or "per_metre".
    pub mode: String,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            rate_per_m: 825.0,
            feed: 1200.0,
            pierce_ms: 500.0,
            machine_rate_per_min: 20.0,
            pierce_cost: 1.5,
            setup_cost: 15.0,
            abrasive_kg_per_min: 0.35,
            abrasive_price_per_kg: 30.0,
            currency: "INR".into(),
            mode: "per_metre".into(),
        }
    }
}

/// What the time model needs from the geometry.
#[derive(Debug, Clone, Copy, Default)]
pub struct CutFigures {
    pub cut_length_mm: f64,
    /// Part of the cut length on arcs below `small_radius_mm`.
    pub small_radius_length_mm: f64,
    pub pierces: u64,
    pub sharp_corners: u64,
    pub rapid_mm: f64,
    /// Area of the sheet the material cost is taken on (bounding box), mm².
    pub sheet_area_mm2: f64,
}

/// Cut speed (mm/min) by Zeng's model, calibrated.
pub fn cut_speed_mm_min(
    machine: &MachineParams,
    table: &[Material],
    material: &Material,
    thickness_mm: f64,
    quality: u8,
) -> f64 {
    let cal_nm = find_material(table, &machine.calibration_material)
        .map(|m| m.machinability)
        .unwrap_or(81.0);
    let base = |nm: f64, q: f64, h: f64| (nm / (q * h)).powf(1.15);
    let k = machine.calibration_speed_mm_min
        / base(
            cal_nm,
            machine.calibration_quality.max(1) as f64,
            machine.calibration_thickness_mm,
        );
    k * base(material.machinability, quality as f64, thickness_mm)
}

/// Pierce time (s): the reference pierce scaled like the cut speed (thicker and
/// harder is longer), times the brittle factor for stone and glass.
pub fn pierce_time_s(machine: &MachineParams, material: &Material, thickness_mm: f64) -> f64 {
    let t = machine.pierce_time_ref_s
        * ((thickness_mm / 10.0) * (81.0 / material.machinability)).powf(1.15);
    let t = if material.brittle {
        t * low_pressure_factor(machine)
    } else {
        t
    };
    t.max(machine.pierce_time_min_s)
}

/// How much slower a low-pressure pierce is (Zeng: speed ~ P^1.594, raised to 1.15).
pub fn low_pressure_factor(machine: &MachineParams) -> f64 {
    machine
        .low_pressure_pierce_ratio
        .clamp(0.05, 1.0)
        .powf(-1.594 * 1.15)
}

/// The time estimate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimeEstimate {
    pub material: String,
    pub thickness_mm: f64,
    pub quality: u8,
    pub cut_speed_mm_min: f64,
    pub cut_min: f64,
    pub pierce_s_each: f64,
    pub pierce_min: f64,
    pub rapid_min: f64,
    pub corner_min: f64,
    pub total_min: f64,
    /// How each figure was computed.
    pub formulas: Vec<String>,
}

pub fn estimate_time(
    fig: &CutFigures,
    machine: &MachineParams,
    table: &[Material],
    material: &Material,
    thickness_mm: f64,
    quality: u8,
) -> TimeEstimate {
    let u = cut_speed_mm_min(machine, table, material, thickness_mm, quality);
    let small = fig.small_radius_length_mm.min(fig.cut_length_mm);
    let normal = fig.cut_length_mm - small;
    let f = machine.small_radius_speed_factor.clamp(0.01, 1.0);
    let cut_min = if u > 0.0 {
        normal / u + small / (u * f)
    } else {
        0.0
    };
    let pierce_each = pierce_time_s(machine, material, thickness_mm);
    let pierce_min = fig.pierces as f64 * pierce_each / 60.0;
    let rapid_min = fig.rapid_mm / machine.rapid_speed_mm_min.max(1.0);
    let corner_min = fig.sharp_corners as f64 * machine.corner_slowdown_s / 60.0;
    let total = cut_min + pierce_min + rapid_min + corner_min;
    TimeEstimate {
        material: material.name.clone(),
        thickness_mm,
        quality,
        cut_speed_mm_min: u,
        cut_min,
        pierce_s_each: pierce_each,
        pierce_min,
        rapid_min,
        corner_min,
        total_min: total,
        formulas: vec![
            format!(
                "cut speed u = K * (N_m / (q * h))^1.15 = {u:.2} mm/min (N_m {} for {}, q {quality}, h {thickness_mm} mm; K calibrated to {} mm/min for {} {} mm Q{})",
                material.machinability, material.name, machine.calibration_speed_mm_min,
                machine.calibration_material, machine.calibration_thickness_mm, machine.calibration_quality
            ),
            format!(
                "cut time = {normal:.1} mm / u + {small:.1} mm of arcs under {} mm radius / (u * {f}) = {cut_min:.3} min",
                machine.small_radius_mm
            ),
            format!(
                "pierce time = {} pierces * {pierce_each:.2} s = {pierce_min:.3} min ({} s ref at 10 mm mild steel, scaled (h/10 * 81/N_m)^1.15{})",
                fig.pierces, machine.pierce_time_ref_s,
                if material.brittle { format!(", x{:.2} for a low-pressure pierce at {:.2} of the pressure (brittle material)", low_pressure_factor(machine), machine.low_pressure_pierce_ratio) } else { String::new() }
            ),
            format!(
                "rapid time = {:.1} mm / {} mm/min = {rapid_min:.3} min",
                fig.rapid_mm, machine.rapid_speed_mm_min
            ),
            format!(
                "corner slow-down = {} sharp corners * {} s = {corner_min:.3} min",
                fig.sharp_corners, machine.corner_slowdown_s
            ),
        ],
    }
}

/// One line of a cost breakdown.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CostLine {
    pub name: String,
    pub amount: f64,
    /// How it was computed, with the numbers.
    pub formula: String,
}

/// A priced breakdown.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CostBreakdown {
    pub lines: Vec<CostLine>,
    pub total: f64,
}

impl CostBreakdown {
    fn new(lines: Vec<CostLine>) -> Self {
        let total = lines.iter().map(|l| l.amount).sum();
        CostBreakdown { lines, total }
    }
}

/// The cost part of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CostReport {
    pub currency: String,
    /// The mode whose total is `total`.
    pub mode: String,
    pub total: f64,
    pub physical: CostBreakdown,
    pub per_metre: CostBreakdown,
}

fn line(name: &str, amount: f64, formula: String) -> CostLine {
    CostLine {
        name: name.to_owned(),
        amount,
        formula,
    }
}

/// The old service's pricing: `length_m * rate_per_m + (length_mm / feed + pierces *
/// pierce_ms / 60000) * machine_rate_per_min + pierces * pierce_cost + setup_cost`.
pub fn per_metre_cost(fig: &CutFigures, p: &Pricing) -> CostBreakdown {
    let length_m = fig.cut_length_mm / 1000.0;
    let pierces = fig.pierces as f64;
    let minutes = fig.cut_length_mm / p.feed.max(1e-9) + pierces * p.pierce_ms / 60000.0;
    CostBreakdown::new(vec![
        line(
            "cutting",
            length_m * p.rate_per_m,
            format!("{length_m:.4} m * rate_per_m {}", p.rate_per_m),
        ),
        line(
            "machine",
            minutes * p.machine_rate_per_min,
            format!(
                "({:.1} mm / feed {} mm/min + {} pierces * pierce_ms {} / 60000) = {minutes:.3} min * machine_rate_per_min {}",
                fig.cut_length_mm, p.feed, fig.pierces, p.pierce_ms, p.machine_rate_per_min
            ),
        ),
        line(
            "pierces",
            pierces * p.pierce_cost,
            format!("{} pierces * pierce_cost {}", fig.pierces, p.pierce_cost),
        ),
        line("setup", p.setup_cost, format!("setup_cost {}", p.setup_cost)),
    ])
}

/// The physical pricing from the time estimate.
pub fn physical_cost(
    fig: &CutFigures,
    time: &TimeEstimate,
    p: &Pricing,
    material: &Material,
    thickness_mm: f64,
) -> CostBreakdown {
    let jet_on = time.cut_min + time.pierce_min + time.corner_min;
    let mut lines = vec![
        line(
            "machine",
            time.total_min * p.machine_rate_per_min,
            format!(
                "{:.3} min machine time * machine_rate_per_min {}",
                time.total_min, p.machine_rate_per_min
            ),
        ),
        line(
            "abrasive",
            jet_on * p.abrasive_kg_per_min * p.abrasive_price_per_kg,
            format!(
                "{jet_on:.3} min jet on * {} kg/min * {} per kg",
                p.abrasive_kg_per_min, p.abrasive_price_per_kg
            ),
        ),
        line(
            "pierces",
            fig.pierces as f64 * p.pierce_cost,
            format!("{} pierces * pierce_cost {}", fig.pierces, p.pierce_cost),
        ),
        line(
            "setup",
            p.setup_cost,
            format!("setup_cost {}", p.setup_cost),
        ),
    ];
    let kg = fig.sheet_area_mm2 * 1e-6 * thickness_mm * 1e-3 * material.density_kg_m3;
    lines.push(line(
        "material",
        kg * material.price_per_kg,
        if material.price_per_kg > 0.0 {
            format!(
                "bounding box {:.0} mm² * {thickness_mm} mm * {} kg/m³ = {kg:.3} kg * {} per kg",
                fig.sheet_area_mm2, material.density_kg_m3, material.price_per_kg
            )
        } else {
            format!(
                "not priced: set price_per_kg for {} in the material table ({kg:.3} kg of bounding-box sheet)",
                material.name
            )
        },
    ));
    CostBreakdown::new(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speed(name: &str, h: f64, q: u8) -> f64 {
        let t = default_materials();
        let m = find_material(&t, name).unwrap();
        cut_speed_mm_min(&MachineParams::default(), &t, m, h, q)
    }

    #[test]
    fn doubling_thickness_gives_045() {
        let r = speed("mild_steel", 20.0, 3) / speed("mild_steel", 10.0, 3);
        assert!((r - 0.45).abs() < 0.005, "{r}");
    }

    #[test]
    fn quality_ratios() {
        let q1 = speed("brass", 8.0, 1);
        for (q, want) in [(2u8, 0.45), (3, 0.28), (4, 0.20), (5, 0.157)] {
            let r = speed("brass", 8.0, q) / q1;
            assert!((r - want).abs() < 0.005, "Q{q}: {r}");
        }
    }

    #[test]
    fn calibration_point_is_reproduced() {
        assert!((speed("steel", 10.0, 1) - 280.0).abs() < 1e-9);
    }

    #[test]
    fn per_metre_matches_old_formula() {
        let fig = CutFigures {
            cut_length_mm: 480.0,
            pierces: 2,
            ..Default::default()
        };
        let c = per_metre_cost(&fig, &Pricing::default());
        let want =
            0.48 * 825.0 + (480.0 / 1200.0 + 2.0 * 500.0 / 60000.0) * 20.0 + 2.0 * 1.5 + 15.0;
        assert!((c.total - want).abs() < 1e-9);
    }
}
