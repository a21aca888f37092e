//! The shop's own figures: `wjp.toml`.
//!
//! A shop's material table, prices, currency and machine calibration are
//! its own, and change more often than the program: they live in a TOML
//! file read at start, not in the code. Which file: `--config PATH` (or
//! `WJP_CONFIG`); without either, `wjp.toml` in the data directory if there
//! is one; without a file, the compiled-in defaults of
//! [`wjp_geometry::cost`], exactly as they were before files existed.
//!
//! The file is checked whole before anything starts: an unknown key is
//! refused with the closest known one suggested, a value of the wrong type
//! or out of range is refused naming its key, and every error carries the
//! file's line and column, so a service never runs on figures it misread.
//! Each value remembers where it came from (the default or a line of the
//! file) for `wjp config show`.
//!
//! Every process of a shop uses the same figures: `wjp api`, its workers,
//! `wjp worker`, and each shop job's own process (`wjp run-job`), which is
//! given the path of the file its parent loaded.
//!
//! ```toml
//! currency = "EUR"
//!
//! [pricing]
//! rate_per_m = 9.5
//! machine_rate_per_hour = 75
//!
//! [calibration]            # one speed measured on the shop's machine
//! material = "mild_steel"
//! thickness_mm = 10
//! quality = 1
//! speed_mm_min = 310
//!
//! [materials.mild_steel]   # changes some figures of a known material
//! price_per_kg = 1.2
//!
//! [materials.bronze]       # adds a material
//! aliases = ["cuzn"]
//! machinability = 125
//! density_kg_m3 = 8800
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use toml::de::{DeTable, DeValue};
use toml::Spanned;
use wjp_geometry::cost::{default_materials, material_key, MachineParams, Material, Pricing};
use wjp_geometry::AnalysisOptions;

/// The file read from the data directory when no path is given.
pub const FILE_NAME: &str = "wjp.toml";

/// What a value must be.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// A finite number above 0.
    Positive,
    /// A finite number of 0 or more.
    NonNegative,
    /// A number in (0, 1].
    Fraction,
    /// A whole number from 1 to 5.
    Quality,
    /// A non-empty string.
    Text,
    /// `per_metre` or `physical`.
    Mode,
    Bool,
    /// A list of strings (names).
    Names,
    /// `[min, max]`, both positive, min <= max.
    Range,
}

/// One key the file may hold.
struct Key {
    name: &'static str,
    rule: Rule,
    /// What the number means, for `wjp config show`.
    unit: &'static str,
}

const fn key(name: &'static str, rule: Rule, unit: &'static str) -> Key {
    Key { name, rule, unit }
}

const TOP: &[Key] = &[key("currency", Rule::Text, "label of every price")];

/// The sections of the file, in the order `config show` prints them.
const SECTIONS: [&str; 4] = ["pricing", "calibration", "machine", "materials"];

const PRICING: &[Key] = &[
    key(
        "mode",
        Rule::Mode,
        "which pricing gives the total: per_metre or physical",
    ),
    key("rate_per_m", Rule::NonNegative, "per metre of cut"),
    key(
        "machine_rate_per_hour",
        Rule::NonNegative,
        "per hour of machine time",
    ),
    key("pierce_cost", Rule::NonNegative, "per pierce"),
    key("setup_cost", Rule::NonNegative, "per job"),
    key(
        "feed",
        Rule::Positive,
        "mm/min, flat feed of the per-metre mode",
    ),
    key(
        "pierce_ms",
        Rule::NonNegative,
        "ms per pierce in the per-metre mode",
    ),
    key(
        "abrasive_kg_per_min",
        Rule::NonNegative,
        "kg/min of jet-on time",
    ),
    key(
        "abrasive_price_per_kg",
        Rule::NonNegative,
        "per kg of abrasive",
    ),
];

const CALIBRATION: &[Key] = &[
    key("material", Rule::Text, "material of the measured cut"),
    key("thickness_mm", Rule::Positive, "mm"),
    key("quality", Rule::Quality, "1 (rough) to 5 (finest)"),
    key("speed_mm_min", Rule::Positive, "mm/min, the measured speed"),
];

const MACHINE: &[Key] = &[
    key("rapid_speed_mm_min", Rule::Positive, "mm/min, jet off"),
    key(
        "pierce_time_ref_s",
        Rule::NonNegative,
        "s, a pierce in 10 mm mild steel",
    ),
    key("pierce_time_min_s", Rule::NonNegative, "s, shortest pierce"),
    key(
        "low_pressure_pierce_ratio",
        Rule::Fraction,
        "fraction of the cutting pressure for brittle materials",
    ),
    key("corner_slowdown_s", Rule::NonNegative, "s per sharp corner"),
    key(
        "small_radius_mm",
        Rule::NonNegative,
        "mm, arcs below are cut slower",
    ),
    key(
        "small_radius_speed_factor",
        Rule::Fraction,
        "fraction of the speed on small arcs",
    ),
];

const MATERIAL: &[Key] = &[
    key("aliases", Rule::Names, "other names accepted"),
    key(
        "machinability",
        Rule::Positive,
        "Zeng's N_m, higher cuts faster",
    ),
    key(
        "brittle",
        Rule::Bool,
        "stone and glass: slow low-pressure pierce",
    ),
    key("density_kg_m3", Rule::Positive, "kg/m³"),
    key(
        "price_per_kg",
        Rule::NonNegative,
        "per kg of sheet; 0 = not priced",
    ),
    key(
        "thickness_range_mm",
        Rule::Range,
        "mm, [min, max] the shop cuts",
    ),
];

fn keys_of(section: &str) -> &'static [Key] {
    match section {
        "pricing" => PRICING,
        "calibration" => CALIBRATION,
        "machine" => MACHINE,
        "materials" => MATERIAL,
        _ => TOP,
    }
}

/// A value read from the file, checked against its [`Rule`].
#[derive(Debug, Clone)]
enum Val {
    Num(f64),
    Text(String),
    Bool(bool),
    Names(Vec<String>),
    Range([f64; 2]),
}

/// Where a value in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    /// Line of the file (1-based).
    File(usize),
}

/// A file that cannot be used: where, and what is wrong.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based; 0 when the file could not be read at all.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(
                f,
                "{} line {}, column {}: {}",
                self.path.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// The figures in force, and where each came from.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// The file read; `None` when the defaults are in force.
    pub path: Option<PathBuf>,
    pub pricing: Pricing,
    pub machine: MachineParams,
    pub materials: Vec<Material>,
    /// `section.key` (`materials.NAME.key` for materials) to the line that
    /// set it; absent keys are defaults.
    lines: BTreeMap<String, usize>,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            path: None,
            pricing: Pricing::default(),
            machine: MachineParams::default(),
            materials: default_materials(),
            lines: BTreeMap::new(),
        }
    }
}

/// The materials `GET /materials` lists.
pub fn material_entries(config: &ShopConfig) -> Vec<wjp_api::materials::MaterialEntry> {
    config
        .materials
        .iter()
        .map(|m| wjp_api::materials::MaterialEntry {
            name: m.name.clone(),
            aliases: m.aliases.clone(),
            thickness_range_mm: m.thickness_range_mm,
        })
        .collect()
}

/// Turns byte offsets of the file into lines and columns.
struct Text<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Text<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |n| before.len() - n - 1)
            + 1;
        (line, column)
    }

    fn line(&self, offset: usize) -> usize {
        self.position(offset).0
    }

    fn error(&self, offset: usize, message: String) -> ConfigError {
        let (line, column) = self.position(offset);
        ConfigError {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }
}

impl ShopConfig {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<ShopConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read the shop's figures: {e}"),
        })?;
        // The child processes of jobs are given this path: make it hold
        // wherever they start.
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        Self::parse(&path, &text)
    }

    /// Checks `text`, the contents of the file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<ShopConfig, ConfigError> {
        let src = Text { path, text };
        let doc = DeTable::parse(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            src.error(
                offset,
                format!("not valid TOML: {}", e.message().trim_end()),
            )
        })?;
        let mut config = ShopConfig {
            path: Some(path.to_path_buf()),
            ..ShopConfig::default()
        };
        for (name_key, value) in doc.get_ref().iter() {
            let (name, at) = (name_key.get_ref().as_ref(), name_key.span().start);
            if SECTIONS.contains(&name) {
                let table = value
                    .get_ref()
                    .as_table()
                    .ok_or_else(|| src.error(at, format!("`{name}` must be a table: [{name}]")))?;
                if name == "materials" {
                    config.read_materials(&src, table)?;
                } else {
                    for (k, v) in table.iter() {
                        let found = check(&src, name, k, v, keys_of(name))?;
                        config.set(name, k.get_ref(), found);
                        config
                            .lines
                            .insert(format!("{name}.{}", k.get_ref()), src.line(k.span().start));
                    }
                }
            } else if TOP.iter().any(|k| k.name == name) {
                let found = check(&src, "", name_key, value, TOP)?;
                config.set("", name, found);
                config.lines.insert(name.to_owned(), src.line(at));
            } else {
                return Err(src.error(at, unknown("", name, TOP, &SECTIONS)));
            }
        }
        config.check_whole(&src)?;
        Ok(config)
    }

    /// `[materials.NAME]` tables: a known name (or alias) changes the
    /// figures given and keeps the others; a new name adds a material,
    /// which must then say how it cuts and what it weighs.
    fn read_materials(&mut self, src: &Text, table: &DeTable) -> Result<(), ConfigError> {
        for (name, fields) in table.iter() {
            let at = name.span().start;
            let key = material_key(name.get_ref());
            if key.is_empty() {
                return Err(src.error(at, "a material needs a name".into()));
            }
            let fields = fields.get_ref().as_table().ok_or_else(|| {
                src.error(
                    at,
                    format!("materials.{key} must be a table: [materials.{key}]"),
                )
            })?;
            let index = match self
                .materials
                .iter()
                .position(|m| m.name == key || m.aliases.iter().any(|a| material_key(a) == key))
            {
                Some(i) => i,
                None => {
                    for needed in ["machinability", "density_kg_m3"] {
                        if !fields.iter().any(|(k, _)| k.get_ref() == needed) {
                            return Err(src.error(
                                at,
                                format!(
                                    "materials.{key} is a new material: give its {needed} \
                                     (known materials: {})",
                                    self.material_names()
                                ),
                            ));
                        }
                    }
                    self.materials.push(Material {
                        name: key.clone(),
                        ..Material::default()
                    });
                    self.lines.insert(format!("materials.{key}"), src.line(at));
                    self.materials.len() - 1
                }
            };
            let section = format!("materials.{}", self.materials[index].name);
            for (k, v) in fields.iter() {
                let found = check(src, &section, k, v, MATERIAL)?;
                let m = &mut self.materials[index];
                match (k.get_ref().as_ref(), found) {
                    ("aliases", Val::Names(list)) => {
                        m.aliases = list.iter().map(|a| material_key(a)).collect()
                    }
                    ("machinability", Val::Num(n)) => m.machinability = n,
                    ("brittle", Val::Bool(b)) => m.brittle = b,
                    ("density_kg_m3", Val::Num(n)) => m.density_kg_m3 = n,
                    ("price_per_kg", Val::Num(n)) => m.price_per_kg = n,
                    ("thickness_range_mm", Val::Range(r)) => m.thickness_range_mm = Some(r),
                    _ => {}
                }
                self.lines.insert(
                    format!("{section}.{}", k.get_ref()),
                    src.line(k.span().start),
                );
            }
        }
        Ok(())
    }

    /// Puts a checked value of a section in its place.
    fn set(&mut self, section: &str, name: &str, value: Val) {
        let (p, c) = (&mut self.pricing, &mut self.machine);
        match (section, name, value) {
            ("", "currency", Val::Text(s)) => p.currency = s,
            ("pricing", "mode", Val::Text(s)) => p.mode = s,
            ("pricing", "rate_per_m", Val::Num(n)) => p.rate_per_m = n,
            ("pricing", "machine_rate_per_hour", Val::Num(n)) => p.machine_rate_per_min = n / 60.0,
            ("pricing", "pierce_cost", Val::Num(n)) => p.pierce_cost = n,
            ("pricing", "setup_cost", Val::Num(n)) => p.setup_cost = n,
            ("pricing", "feed", Val::Num(n)) => p.feed = n,
            ("pricing", "pierce_ms", Val::Num(n)) => p.pierce_ms = n,
            ("pricing", "abrasive_kg_per_min", Val::Num(n)) => p.abrasive_kg_per_min = n,
            ("pricing", "abrasive_price_per_kg", Val::Num(n)) => p.abrasive_price_per_kg = n,
            ("calibration", "material", Val::Text(s)) => c.calibration_material = material_key(&s),
            ("calibration", "thickness_mm", Val::Num(n)) => c.calibration_thickness_mm = n,
            // Checked to be a whole number from 1 to 5.
            ("calibration", "quality", Val::Num(n)) => c.calibration_quality = n as u8,
            ("calibration", "speed_mm_min", Val::Num(n)) => c.calibration_speed_mm_min = n,
            ("machine", "rapid_speed_mm_min", Val::Num(n)) => c.rapid_speed_mm_min = n,
            ("machine", "pierce_time_ref_s", Val::Num(n)) => c.pierce_time_ref_s = n,
            ("machine", "pierce_time_min_s", Val::Num(n)) => c.pierce_time_min_s = n,
            ("machine", "low_pressure_pierce_ratio", Val::Num(n)) => {
                c.low_pressure_pierce_ratio = n
            }
            ("machine", "corner_slowdown_s", Val::Num(n)) => c.corner_slowdown_s = n,
            ("machine", "small_radius_mm", Val::Num(n)) => c.small_radius_mm = n,
            ("machine", "small_radius_speed_factor", Val::Num(n)) => {
                c.small_radius_speed_factor = n
            }
            _ => {}
        }
    }

    /// What only the whole file can tell: the calibration names a material
    /// of the table, and no name or alias means two materials.
    fn check_whole(&self, src: &Text) -> Result<(), ConfigError> {
        let line_of = |key: &str| self.lines.get(key).copied().unwrap_or(1);
        let at_line = |line: usize, message: String| ConfigError {
            path: src.path.to_path_buf(),
            line,
            column: 1,
            message,
        };
        let cal = &self.machine.calibration_material;
        if !self
            .materials
            .iter()
            .any(|m| &m.name == cal || m.aliases.contains(cal))
        {
            return Err(at_line(
                line_of("calibration.material"),
                format!(
                    "calibration.material: unknown material \"{cal}\"; known: {}",
                    self.material_names()
                ),
            ));
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for m in &self.materials {
            for name in std::iter::once(&m.name).chain(&m.aliases) {
                if let Some(other) = seen.insert(name, &m.name) {
                    if other != m.name {
                        return Err(at_line(
                            line_of(&format!("materials.{}.aliases", m.name))
                                .max(line_of(&format!("materials.{}", m.name))),
                            format!(
                                "materials.{}: \"{name}\" already names {other}; \
                                 a name or alias must mean one material",
                                m.name
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn material_names(&self) -> String {
        self.materials
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Where the value of `key` (`pricing.rate_per_m`,
    /// `materials.glass.price_per_kg`, `currency`) came from.
    pub fn source(&self, key: &str) -> Source {
        match self.lines.get(key) {
            Some(line) => Source::File(*line),
            None => Source::Default,
        }
    }

    /// Analysis options with the shop's figures and the defaults for the
    /// rest.
    pub fn analysis_options(&self) -> AnalysisOptions {
        AnalysisOptions {
            pricing: self.pricing.clone(),
            machine: self.machine.clone(),
            materials: self.materials.clone(),
            ..AnalysisOptions::default()
        }
    }

    /// Puts the shop's figures into `options`, parsed from `given`, except
    /// what `given` names itself: a request may still set a figure of its
    /// own (`pricing.rate_per_m`), and keeps the shop's for the others.
    pub fn fill(&self, options: &mut AnalysisOptions, given: &Value) -> Result<(), String> {
        fn merged<T>(shop: &T, given: Option<&Value>) -> Result<T, String>
        where
            T: serde::Serialize + serde::de::DeserializeOwned + Clone,
        {
            let Some(Value::Object(fields)) = given else {
                return Ok(shop.clone());
            };
            let mut value = serde_json::to_value(shop).map_err(|e| e.to_string())?;
            if let Value::Object(base) = &mut value {
                for (k, v) in fields {
                    base.insert(k.clone(), v.clone());
                }
            }
            serde_json::from_value(value).map_err(|e| e.to_string())
        }
        options.pricing = merged(&self.pricing, given.get("pricing"))?;
        options.machine = merged(&self.machine, given.get("machine"))?;
        if given.get("materials").is_none() {
            options.materials = self.materials.clone();
        }
        Ok(())
    }

    /// The figures in force as TOML, each value followed by its unit and
    /// where it came from: `wjp config show`.
    pub fn show(&self) -> String {
        let from = |key: &str| match self.source(key) {
            Source::Default => "default".to_owned(),
            Source::File(line) => match &self.path {
                Some(p) => format!("{}:{line}", p.display()),
                None => format!("line {line}"),
            },
        };
        let mut out = match &self.path {
            Some(p) => format!("# the shop's figures, from {}\n", p.display()),
            None => format!(
                "# the shop's figures: compiled-in defaults (no --config, WJP_CONFIG or \
                 {FILE_NAME} in the data directory)\n"
            ),
        };
        let row = |out: &mut String, key: &str, value: String, unit: &str, source: &str| {
            let assignment = format!("{key} = {value}");
            out.push_str(&format!("{assignment:<40} # {unit}; {source}\n"));
        };
        row(
            &mut out,
            "currency",
            quoted(&self.pricing.currency),
            TOP[0].unit,
            &from("currency"),
        );
        for section in ["pricing", "calibration", "machine"] {
            out.push_str(&format!("\n[{section}]\n"));
            for k in keys_of(section) {
                let value = self.value_of(section, k.name);
                row(
                    &mut out,
                    k.name,
                    value,
                    k.unit,
                    &from(&format!("{section}.{}", k.name)),
                );
            }
        }
        for m in &self.materials {
            let section = format!("materials.{}", m.name);
            let origin = match self.source(&section) {
                Source::Default => "known material".to_owned(),
                Source::File(_) => format!("added at {}", from(&section)),
            };
            out.push_str(&format!("\n[{section}]  # {origin}\n"));
            let range = m.thickness_range_mm.map_or_else(
                || "[]  ".to_owned(),
                |[a, b]| format!("[{}, {}]", num(a), num(b)),
            );
            let values = [
                (
                    "aliases",
                    format!(
                        "[{}]",
                        m.aliases
                            .iter()
                            .map(|a| quoted(a))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                ("machinability", num(m.machinability)),
                ("brittle", m.brittle.to_string()),
                ("density_kg_m3", num(m.density_kg_m3)),
                ("price_per_kg", num(m.price_per_kg)),
                ("thickness_range_mm", range),
            ];
            for (k, (name, value)) in MATERIAL.iter().zip(values) {
                if name == "thickness_range_mm" && m.thickness_range_mm.is_none() {
                    // TOML has no empty value: say it in the comment.
                    out.push_str(&format!(
                        "{:<40} # {}; {}\n",
                        "# thickness_range_mm (none)",
                        k.unit,
                        from(&format!("{section}.{name}"))
                    ));
                    continue;
                }
                row(
                    &mut out,
                    name,
                    value,
                    k.unit,
                    &from(&format!("{section}.{name}")),
                );
            }
        }
        out
    }

    fn value_of(&self, section: &str, name: &str) -> String {
        let (p, c) = (&self.pricing, &self.machine);
        match (section, name) {
            ("pricing", "mode") => quoted(&p.mode),
            ("pricing", "rate_per_m") => num(p.rate_per_m),
            ("pricing", "machine_rate_per_hour") => num(p.machine_rate_per_min * 60.0),
            ("pricing", "pierce_cost") => num(p.pierce_cost),
            ("pricing", "setup_cost") => num(p.setup_cost),
            ("pricing", "feed") => num(p.feed),
            ("pricing", "pierce_ms") => num(p.pierce_ms),
            ("pricing", "abrasive_kg_per_min") => num(p.abrasive_kg_per_min),
            ("pricing", "abrasive_price_per_kg") => num(p.abrasive_price_per_kg),
            ("calibration", "material") => quoted(&c.calibration_material),
            ("calibration", "thickness_mm") => num(c.calibration_thickness_mm),
            ("calibration", "quality") => c.calibration_quality.to_string(),
            ("calibration", "speed_mm_min") => num(c.calibration_speed_mm_min),
            ("machine", "rapid_speed_mm_min") => num(c.rapid_speed_mm_min),
            ("machine", "pierce_time_ref_s") => num(c.pierce_time_ref_s),
            ("machine", "pierce_time_min_s") => num(c.pierce_time_min_s),
            ("machine", "low_pressure_pierce_ratio") => num(c.low_pressure_pierce_ratio),
            ("machine", "corner_slowdown_s") => num(c.corner_slowdown_s),
            ("machine", "small_radius_mm") => num(c.small_radius_mm),
            ("machine", "small_radius_speed_factor") => num(c.small_radius_speed_factor),
            _ => String::new(),
        }
    }
}

/// A number as TOML writes it, without noise digits (`1/3` as 0.333333).
fn num(n: f64) -> String {
    let text = format!("{:.6}", n);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.contains('.') {
        text.to_owned()
    } else {
        format!("{text}.0")
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Checks one `key = value` of `section` against `keys`.
fn check(
    src: &Text,
    section: &str,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    value: &Spanned<DeValue>,
    keys: &[Key],
) -> Result<Val, ConfigError> {
    let name = key.get_ref().as_ref();
    let full = if section.is_empty() {
        name.to_owned()
    } else {
        format!("{section}.{name}")
    };
    let Some(spec) = keys.iter().find(|k| k.name == name) else {
        return Err(src.error(key.span().start, unknown(section, name, keys, &[])));
    };
    let at = value.span().start;
    let wrong = |what: &str| {
        src.error(
            at,
            format!(
                "{full}: expected {what}, found {}",
                describe(value.get_ref())
            ),
        )
    };
    let number = |v: &DeValue| -> Option<f64> {
        match v {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            _ => None,
        }
    };
    let out_of_range = |n: f64, bound: &str| {
        src.error(
            at,
            format!("{full}: {} is out of range: {bound}", num_plain(n)),
        )
    };
    match spec.rule {
        Rule::Positive | Rule::NonNegative | Rule::Fraction => {
            let n = number(value.get_ref()).ok_or_else(|| wrong("a number"))?;
            match spec.rule {
                _ if !n.is_finite() => Err(out_of_range(n, "it must be a finite number")),
                Rule::Positive if n <= 0.0 => Err(out_of_range(n, "it must be more than 0")),
                Rule::NonNegative if n < 0.0 => Err(out_of_range(n, "it must not be negative")),
                Rule::Fraction if !(n > 0.0 && n <= 1.0) => {
                    Err(out_of_range(n, "it must be more than 0 and at most 1"))
                }
                _ => Ok(Val::Num(n)),
            }
        }
        Rule::Quality => {
            let DeValue::Integer(_) = value.get_ref() else {
                return Err(wrong("a whole number from 1 to 5"));
            };
            match number(value.get_ref()) {
                Some(n) if (1.0..=5.0).contains(&n) => Ok(Val::Num(n)),
                Some(n) => Err(out_of_range(n, "quality is 1 to 5")),
                None => Err(wrong("a whole number from 1 to 5")),
            }
        }
        Rule::Text | Rule::Mode => {
            let s = value
                .get_ref()
                .as_str()
                .ok_or_else(|| wrong("a string"))?
                .trim();
            if s.is_empty() {
                return Err(src.error(at, format!("{full}: must not be empty")));
            }
            if spec.rule == Rule::Mode && !["per_metre", "physical"].contains(&s) {
                return Err(src.error(
                    at,
                    format!("{full}: \"{s}\" is not a pricing mode: per_metre or physical"),
                ));
            }
            Ok(Val::Text(s.to_owned()))
        }
        Rule::Bool => value
            .get_ref()
            .as_bool()
            .map(Val::Bool)
            .ok_or_else(|| wrong("true or false")),
        Rule::Names => {
            let list = value
                .get_ref()
                .as_array()
                .ok_or_else(|| wrong("a list of names"))?;
            let mut names = Vec::new();
            for item in list.iter() {
                match item.get_ref().as_str().map(material_key) {
                    Some(n) if !n.is_empty() => names.push(n),
                    _ => {
                        return Err(src.error(
                            item.span().start,
                            format!("{full}: every alias must be a non-empty string"),
                        ))
                    }
                }
            }
            Ok(Val::Names(names))
        }
        Rule::Range => {
            let list = value
                .get_ref()
                .as_array()
                .ok_or_else(|| wrong("[min, max] in mm"))?;
            let numbers: Vec<f64> = list.iter().filter_map(|v| number(v.get_ref())).collect();
            match numbers[..] {
                [a, b]
                    if list.len() == 2 && a.is_finite() && b.is_finite() && 0.0 < a && a <= b =>
                {
                    Ok(Val::Range([a, b]))
                }
                _ => Err(src.error(
                    at,
                    format!("{full}: expected [min, max] in mm, 0 < min <= max"),
                )),
            }
        }
    }
}

fn num_plain(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

/// What a TOML value is, for an error.
fn describe(value: &DeValue) -> String {
    match value {
        DeValue::String(s) => format!("the string \"{s}\""),
        DeValue::Integer(_) | DeValue::Float(_) => "a number".into(),
        DeValue::Boolean(b) => format!("{b}"),
        DeValue::Datetime(_) => "a date".into(),
        DeValue::Array(_) => "a list".into(),
        DeValue::Table(_) => "a table".into(),
    }
}

/// The error for an unknown key, with the closest known name suggested.
fn unknown(section: &str, name: &str, keys: &[Key], sections: &[&str]) -> String {
    let names: Vec<&str> = keys
        .iter()
        .map(|k| k.name)
        .chain(sections.iter().copied())
        .collect();
    let place = if section.is_empty() {
        "at the top of the file".to_owned()
    } else {
        format!("in [{section}]")
    };
    let closest = wjp_api::error::closest(name, names.iter().copied());
    match closest {
        Some(n) => format!("unknown key `{name}` {place}; did you mean `{n}`?"),
        None => format!(
            "unknown key `{name}` {place}; known keys: {}",
            names.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests;
