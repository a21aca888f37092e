//! Payload checks. One function per kind, run by `kinds::admit` whenever a
//! job is made (every door: `POST /jobs`, the old endpoints, `wjp submit`,
//! inline runs) and again in the job's process. A payload that passes parses
//! into the handler's type, names no field the kind does not know, and holds
//! values in the ranges the domain functions accept; what cannot be known
//! before the file is read (its units, its geometry) is the job's to find.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use wjp_cam::{GcodeOptions, NestOptions};
use wjp_convert::{ConvertOptions, CsvOptions};
use wjp_geometry::cost::Material;
use wjp_geometry::units::{suggested_symbol, symbol_code, UNIT_SYMBOLS};
use wjp_geometry::{AnalysisError, AnalysisOptions, CostRequest};
use wjp_queue::catalog::PayloadRefusal;
use wjp_queue::HandlerError;

use super::*;

/// What a payload check knows besides the payload.
#[derive(Debug, Clone, Copy)]
pub struct Door<'a> {
    /// The shop's material table: the built-in one with the shop file's
    /// changes and additions.
    pub materials: &'a [Material],
    /// How many jobs the job waits for (`after`), when the job is made;
    /// `None` in the job's own process, which checks the payload again
    /// once its parents' results are in it.
    pub parents: Option<usize>,
}

/// The most any price field may be (per metre, per pierce, per job...): a
/// typo guard, far above any real quote in any currency the shop uses.
pub const MAX_PRICE: f64 = 1_000_000.0;

/// The `$INSUNITS` code of a `units` value, refusing anything else.
pub fn units_field(units: Option<&str>, field: &str) -> Result<Option<i64>, PayloadRefusal> {
    let Some(name) = units else { return Ok(None) };
    symbol_code(name).map(Some).ok_or_else(|| {
        PayloadRefusal::new(
            "invalid_value",
            field,
            format!(
                "{field} {name:?} is not one of {}",
                UNIT_SYMBOLS.map(|(n, _)| n).join(", ")
            ),
        )
    })
}

/// Where a refusal of suspicious units tells the user to give the units.
#[derive(Debug, Clone, Copy)]
pub enum UnitsDoor {
    /// A job payload, or an API request (field `units`).
    Payload,
    /// The command line (`--units`).
    CommandLine,
}

/// The refusal of a drawing whose units look wrong, naming the override
/// that would read it at a plausible size.
pub fn suspicious_units(note: &str, door: UnitsDoor) -> String {
    let suggested = suggested_symbol(note).unwrap_or("mm|cm|m|in|ft");
    let how = match door {
        UnitsDoor::Payload => format!("send \"units\": \"{suggested}\""),
        UnitsDoor::CommandLine => format!("pass --units {suggested}"),
    };
    format!(
        "the drawing's units look wrong, so it is not cut or nested as read: {note} \
         If the drawing is right as declared, give its units explicitly; to read it \
         otherwise, {how}."
    )
}

pub(super) fn refused(refusal: PayloadRefusal) -> HandlerError {
    HandlerError::InvalidPayload(refusal.to_string())
}

/// The default of a payload type as JSON: its keys are the fields the type
/// knows, and its values their JSON types.
fn template<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn field_name(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

/// Refuses a field of `given` that is neither a key of `template` nor in
/// `extra`, and a value whose JSON type differs from its default's; goes
/// into objects (and lists of objects) the template has.
fn known_fields(
    given: &Value,
    template: &Value,
    extra: &[&str],
    at: &str,
) -> Result<(), PayloadRefusal> {
    let Value::Object(given) = given else {
        return Ok(());
    };
    let empty = serde_json::Map::new();
    let known = template.as_object().unwrap_or(&empty);
    for (key, value) in given {
        let field = field_name(at, key);
        let Some(default) = known.get(key) else {
            if extra.contains(&key.as_str()) {
                continue;
            }
            let names = known
                .keys()
                .map(String::as_str)
                .chain(extra.iter().copied());
            let message = wjp_api::error::unknown_field_message(key, names);
            // Inside an object or a list, the message says where.
            let message = if at.is_empty() {
                message
            } else {
                format!("{at}: {message}")
            };
            return Err(PayloadRefusal::new("unknown_field", field, message));
        };
        if value.is_null() {
            continue;
        }
        let same_type = std::mem::discriminant(value) == std::mem::discriminant(default);
        if !default.is_null() && !same_type {
            return Err(PayloadRefusal::new(
                "invalid_value",
                field.clone(),
                format!(
                    "{field} must be {}, not {}",
                    type_name(default),
                    type_name(value)
                ),
            ));
        }
        match (value, default) {
            (Value::Object(_), Value::Object(d)) if !d.is_empty() => {
                // The analysis options nested in G-code options keep their aliases.
                let aliases: &[&str] = if default.get("thickness_mm").is_some() {
                    &["thickness", "kerf"]
                } else {
                    &[]
                };
                known_fields(value, default, aliases, &field)?;
            }
            (Value::Array(items), Value::Array(defaults)) => {
                if let Some(item_template) = defaults.first().filter(|d| d.is_object()) {
                    for (i, item) in items.iter().enumerate() {
                        known_fields(item, item_template, &[], &format!("{field}[{i}]"))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses a payload into a handler's type; a refusal names what is missing
/// or does not fit.
fn parse_payload<T: DeserializeOwned>(payload: &Value) -> Result<T, PayloadRefusal> {
    // The path names the field a value of the wrong type is in
    // (`files[0].quantity`): serde's own text says only what it expected.
    serde_path_to_error::deserialize(payload).map_err(|e| {
        let text = e.inner().to_string();
        let quoted = text.split('`').nth(1).unwrap_or("payload").to_owned();
        if text.starts_with("missing field") {
            PayloadRefusal::new(
                "missing_field",
                quoted.clone(),
                format!("{quoted} is required"),
            )
        } else {
            let field = match e.path().to_string() {
                root if root == "." => culprit::<T>(payload),
                path => Some(path),
            };
            match field {
                Some(field) => {
                    let message = format!("{field}: {text}");
                    PayloadRefusal::new("invalid_value", field, message)
                }
                None => PayloadRefusal::new("invalid_value", "payload", text),
            }
        }
    })
}

/// Most top-level fields [`culprit`] tries one by one.
const CULPRIT_FIELDS: usize = 64;

/// Largest payload (compact JSON) [`culprit`] looks into: each field it
/// tries reads the rest of the payload again, so a refused payload of
/// megabytes (the limit is the operator's `--max-payload-mb`) would cost
/// as many full reads as it has fields; past this size a refusal names no
/// field.
const CULPRIT_PAYLOAD_BYTES: u64 = 64 * 1024;

/// The top-level field of `payload` without which it reads as a `T`: the
/// one whose value has the wrong type, when it belongs to a flattened
/// struct (serde reads those through a buffer whose errors carry no
/// path). Looked for on a refusal only, reading the payload in place.
fn culprit<T: DeserializeOwned>(payload: &Value) -> Option<String> {
    let fields = payload.as_object().filter(|f| f.len() <= CULPRIT_FIELDS)?;
    if wjp_queue::state::json_len(payload) > CULPRIT_PAYLOAD_BYTES {
        return None;
    }
    fields
        .keys()
        .find(|key| {
            let others = fields
                .iter()
                .filter(|(k, _)| k != key)
                .map(|(k, v)| (k.as_str(), v));
            let map = serde::de::value::MapDeserializer::<_, serde_json::Error>::new(others);
            T::deserialize(map).is_ok()
        })
        .cloned()
}

fn out_of_range(field: &str, message: impl std::fmt::Display) -> PayloadRefusal {
    PayloadRefusal::new("out_of_range", field, format!("{field}: {message}"))
}

/// Refuses a material the table does not have, listing the table's names
/// with their aliases.
fn check_material(
    table: &[wjp_geometry::Material],
    name: &str,
    field: &str,
) -> Result<(), PayloadRefusal> {
    if wjp_geometry::cost::find_material(table, name).is_some() {
        return Ok(());
    }
    let known: Vec<String> = table
        .iter()
        .map(|m| {
            if m.aliases.is_empty() {
                m.name.clone()
            } else {
                format!("{} ({})", m.name, m.aliases.join(", "))
            }
        })
        .collect();
    let names = table
        .iter()
        .flat_map(|m| std::iter::once(m.name.as_str()).chain(m.aliases.iter().map(String::as_str)));
    let hint = wjp_api::error::closest(name, names)
        .map(|near| format!("did you mean {near:?}? "))
        .unwrap_or_default();
    Err(PayloadRefusal::new(
        "invalid_value",
        field,
        format!(
            "unknown {field} {name:?}; {hint}known materials (aliases in brackets): {}",
            known.join(", ")
        ),
    ))
}

/// Refuses a price or rate that is negative, not a number, or beyond
/// [`MAX_PRICE`].
fn check_price(field: &str, value: f64) -> Result<(), PayloadRefusal> {
    if value.is_finite() && (0.0..=MAX_PRICE).contains(&value) {
        Ok(())
    } else {
        Err(out_of_range(
            field,
            format!("{value} is not between 0 and {MAX_PRICE}"),
        ))
    }
}

fn check_pricing(p: &wjp_geometry::Pricing, at: &str) -> Result<(), PayloadRefusal> {
    for (name, value) in [
        ("rate_per_m", p.rate_per_m),
        ("pierce_ms", p.pierce_ms),
        ("machine_rate_per_min", p.machine_rate_per_min),
        ("pierce_cost", p.pierce_cost),
        ("setup_cost", p.setup_cost),
        ("abrasive_kg_per_min", p.abrasive_kg_per_min),
        ("abrasive_price_per_kg", p.abrasive_price_per_kg),
    ] {
        check_price(&field_name(at, name), value)?;
    }
    if !(p.feed.is_finite() && p.feed > 0.0 && p.feed <= 100_000.0) {
        return Err(out_of_range(
            &field_name(at, "feed"),
            format!("{} is not in (0, 100000] mm/min", p.feed),
        ));
    }
    if !["physical", "per_metre"].contains(&p.mode.as_str()) {
        let field = field_name(at, "mode");
        return Err(PayloadRefusal::new(
            "invalid_value",
            field.clone(),
            format!("{field} {:?} is not one of physical, per_metre", p.mode),
        ));
    }
    Ok(())
}

/// The old API's names of analysis options, which requests may use, with
/// the options' own names.
const OLD_NAMES: [(&str, &str); 2] = [("thickness_mm", "thickness"), ("kerf_mm", "kerf")];

/// `refusal` naming its field as the request sent it (`thickness`, not
/// `thickness_mm`, when the request said `thickness`); `given` is the
/// object at `at` as sent.
fn as_sent(mut refusal: PayloadRefusal, given: &Value, at: &str) -> PayloadRefusal {
    for (name, old) in OLD_NAMES {
        let field = field_name(at, name);
        if refusal.field == field && given.get(old).is_some_and(|v| !v.is_null()) {
            let sent = field_name(at, old);
            refusal.message = refusal.message.replacen(&field, &sent, 1);
            refusal.field = sent;
        }
    }
    refusal
}

/// Refuses a request that gives no thickness of a material the shop cuts
/// only in a range the default thickness is outside: the thickness is
/// missing, and the default is no value of the client's to blame.
fn check_thickness_given(
    o: &AnalysisOptions,
    given: &Value,
    at: &str,
) -> Result<(), PayloadRefusal> {
    let sent = ["thickness", "thickness_mm"]
        .iter()
        .any(|name| given.get(name).is_some_and(|v| !v.is_null()));
    let material = wjp_geometry::cost::find_material(&o.materials, &o.material);
    let Some((material, [min, max])) = material.and_then(|m| Some((m, m.thickness_range_mm?)))
    else {
        return Ok(());
    };
    if sent || (min..=max).contains(&o.thickness_mm) {
        return Ok(());
    }
    let field = field_name(at, "thickness");
    Err(PayloadRefusal::new(
        "missing_field",
        field.clone(),
        format!(
            "{field} is required for {}: the shop cuts it from {min} to {max} mm; give the \
             sheet's thickness in mm",
            material.name
        ),
    ))
}

/// Checks analysis options: ranges, the material, the pricing, and an
/// `$INSUNITS` override the units table has. `given` is the object at `at`
/// as the request sent it, for the names of its fields.
fn check_analysis(o: &AnalysisOptions, given: &Value, at: &str) -> Result<(), PayloadRefusal> {
    check_material(&o.materials, &o.material, &field_name(at, "material"))?;
    check_thickness_given(o, given, at)?;
    o.validate().map_err(|e| match e {
        AnalysisError::InvalidOption { name, message } => {
            as_sent(out_of_range(&field_name(at, &name), message), given, at)
        }
        other => PayloadRefusal::new("invalid_value", at.to_owned(), other.to_string()),
    })?;
    check_pricing(&o.pricing, &field_name(at, "pricing"))?;
    if let Some(code) = o.units_override {
        if wjp_geometry::units::insunits(code).is_none_or(|(_, f)| !f.is_finite()) {
            return Err(out_of_range(
                &field_name(at, "units_override"),
                format!("{code} is not an $INSUNITS code of a unit (1 to 21); or give units: mm, cm, m, in or ft"),
            ));
        }
    }
    Ok(())
}

/// The G-code and nesting libraries check their options first, before any
/// work: asked with no input, an error other than an option's means the
/// options are fine.
fn cam_option_refusal(e: wjp_cam::CamError) -> Result<(), PayloadRefusal> {
    use wjp_cam::CamError;
    match e {
        CamError::InvalidOption { name, message } => Err(out_of_range(&name, message)),
        CamError::UnknownDialect { name, known } => Err(PayloadRefusal::new(
            "invalid_value",
            "dialect",
            format!("unknown dialect {name:?}; known: {known}"),
        )),
        CamError::Drawing(AnalysisError::InvalidOption { name, message }) => {
            Err(out_of_range(&name, message))
        }
        _ => Ok(()),
    }
}

/// `analyze_dxf`: the drawing, `units`, the old API's frame fields, and any
/// analysis option by name.
pub fn check_analyze_dxf(payload: &Value, door: &Door) -> Result<(), PayloadRefusal> {
    let extra = [
        "dxf_path",
        "units",
        "normalize",
        "target_frame_w",
        "target_frame_h",
        "thickness",
        "kerf",
    ];
    known_fields(payload, &template(&AnalysisOptions::default()), &extra, "")?;
    let mut args: AnalyzeDxf = parse_payload(payload)?;
    // The shop's table, which may add materials to the built-in one.
    args.options.materials = door.materials.to_vec();
    units_field(args.units.as_deref(), "units")?;
    if args.normalize == Some(true) {
        return Err(PayloadRefusal::new(
            "invalid_value",
            "normalize",
            "normalize: true (rescale to a frame) is not done: a drawing is never rescaled \
             silently. If its units are wrong, give them: \"units\": mm, cm, m, in or ft",
        ));
    }
    check_analysis(&args.options, payload, "")
}

/// `calculate_cost`: the drawing, `units` and the old `/cost` fields.
pub fn check_calculate_cost(payload: &Value, door: &Door) -> Result<(), PayloadRefusal> {
    known_fields(
        payload,
        &template(&CostRequest::default()),
        &["dxf_path", "units"],
        "",
    )?;
    let args: CalculateCost = parse_payload(payload)?;
    units_field(args.units.as_deref(), "units")?;
    for (name, value) in [
        ("rate_per_m", args.request.rate_per_m),
        ("pierce_cost", args.request.pierce_cost),
        ("setup_cost", args.request.setup_cost),
    ] {
        if let Some(v) = value {
            check_price(name, v)?;
        }
    }
    // The shop's table, as the job prices with it: its own materials, and
    // the thickness range it cuts each in.
    let shop = AnalysisOptions {
        materials: door.materials.to_vec(),
        ..AnalysisOptions::default()
    };
    let options = args.request.apply(&shop);
    check_analysis(&options, payload, "")
}

/// `convert_image`: the picture and any conversion option by name.
pub fn check_convert_image(payload: &Value, _door: &Door) -> Result<(), PayloadRefusal> {
    known_fields(
        payload,
        &template(&ConvertOptions::default()),
        &["image_path", "mm_per_px", "min_area", "simplify_tolerance"],
        "",
    )?;
    let args: ConvertImage = parse_payload(payload)?;
    args.options.validate().map_err(|e| match e {
        wjp_convert::ConvertError::InvalidOption { name, message } => out_of_range(name, message),
        other => PayloadRefusal::new("invalid_value", "payload", other.to_string()),
    })
}

/// `analyze_csv`: the export, the old API's `report`, and any option by name.
pub fn check_analyze_csv(payload: &Value, _door: &Door) -> Result<(), PayloadRefusal> {
    known_fields(
        payload,
        &template(&CsvOptions::default()),
        &["csv_path", "report"],
        "",
    )?;
    let args: AnalyzeCsv = parse_payload(payload)?;
    match args._report {
        None | Some(Value::Null | Value::Object(_)) => Ok(()),
        Some(_) => Err(PayloadRefusal::new(
            "invalid_value",
            "report",
            "report must be an object (an analysis report) or null",
        )),
    }
}

/// `nest`: one drawing or several (`files`), `units`, and any nesting option.
pub fn check_nest(payload: &Value, door: &Door) -> Result<(), PayloadRefusal> {
    let extra = [
        "dxf_path",
        "quantity",
        "files",
        "units",
        "sheet_width_mm",
        "sheet_height_mm",
        "gap_mm",
        "kerf_mm",
        "allow_partial",
        "use_remnants",
    ];
    known_fields(payload, &template(&NestOptions::default()), &extra, "")?;
    check_sheet_sizes(payload)?;
    let file = json!({ "dxf_path": "", "quantity": 1, "units": null, "rotations": null });
    for (i, item) in payload["files"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        known_fields(item, &file, &[], &format!("files[{i}]"))?;
    }
    let args: Nest = parse_payload(payload)?;
    units_field(args.units.as_deref(), "units")?;
    // A nest's material picks the remnants it may use: a typo would pass
    // over every one of them without a word. Checked when named only: the
    // default need not be in a shop's own table.
    if payload.get("material").is_some() {
        check_material(door.materials, &args.options.material, "material")?;
    }
    let mut parts = Vec::new();
    for (i, f) in args.files.iter().enumerate() {
        units_field(f.units.as_deref(), &format!("files[{i}].units"))?;
        if let Some(rotations) = &f.rotations {
            // The library checks a part's rotations by the part's name.
            parts.push(wjp_cam::PartInput {
                name: format!("files[{i}]"),
                quantity: 0,
                outer: wjp_geometry::Path {
                    vertices: vec![],
                    closed: true,
                },
                holes: vec![],
                rotations: Some(rotations.clone()),
            });
        }
    }
    if args.dxf_path.is_none() && args.files.is_empty() {
        return Err(PayloadRefusal::new(
            "missing_field",
            "dxf_path",
            "nothing to nest: give dxf_path, or files: [{dxf_path, quantity}]",
        ));
    }
    match wjp_cam::nest(&parts, &args.options, &mut |_| {}, &|| false) {
        Ok(_) => {}
        Err(e) => cam_option_refusal(e)?,
    }
    check_copies(&args)?;
    check_sheet_count(&args.options)
}

/// The drawings of a nest and their copies, each of which the job places:
/// one form of giving them (`dxf_path` with its `quantity`, or `files`),
/// and at least one copy of each and at most as many in all as a nest
/// places ([`wjp_cam::nest::MAX_COPIES`]). Every drawing holds one part or
/// more, so the quantities asked bound the part copies from below; a
/// drawing of many parts may still pass the limit, which its job names.
fn check_copies(args: &Nest) -> Result<(), PayloadRefusal> {
    use wjp_cam::nest::MAX_COPIES;
    if args.dxf_path.is_some() && !args.files.is_empty() {
        return Err(PayloadRefusal::new(
            "invalid_value",
            "files",
            "give dxf_path (one drawing, with quantity) or files (several, each with its \
             quantity), not both",
        ));
    }
    if args.dxf_path.is_none() && args.quantity.is_some() {
        return Err(PayloadRefusal::new(
            "invalid_value",
            "quantity",
            "quantity goes with dxf_path; with files, give each file its own quantity \
             (files[i].quantity)",
        ));
    }
    let asked: Vec<(String, u32)> = if args.dxf_path.is_some() {
        vec![("quantity".to_owned(), args.quantity.unwrap_or(1))]
    } else {
        args.files
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("files[{i}].quantity"), f.quantity))
            .collect()
    };
    for (field, quantity) in &asked {
        if *quantity == 0 || *quantity as usize > MAX_COPIES {
            return Err(out_of_range(
                field,
                format!(
                    "{quantity} is not in 1..={MAX_COPIES}: the copies of each part of the \
                     drawing, and a nest places at most {MAX_COPIES} part copies in all"
                ),
            ));
        }
    }
    let total: usize = asked.iter().map(|(_, q)| *q as usize).sum();
    if total > MAX_COPIES {
        return Err(out_of_range(
            "files",
            format!(
                "the quantities add up to {total} copies, at least one part each, and a nest \
                 places at most {MAX_COPIES} part copies"
            ),
        ));
    }
    Ok(())
}

/// The sheets a nest may use, at most [`wjp_cam::nest::MAX_SHEETS`]: a
/// count past it is refused, never cut down without a word.
fn check_sheet_count(options: &NestOptions) -> Result<(), PayloadRefusal> {
    use wjp_cam::nest::MAX_SHEETS;
    if options.sheets.is_empty() {
        if options.max_sheets as usize > MAX_SHEETS {
            return Err(out_of_range(
                "max_sheets",
                format!(
                    "{} is more than the {MAX_SHEETS} sheets a nest may use",
                    options.max_sheets
                ),
            ));
        }
        return Ok(());
    }
    let total: usize = options.sheets.iter().map(|s| s.quantity as usize).sum();
    if total > MAX_SHEETS {
        return Err(out_of_range(
            "sheets",
            format!("their quantities add up to {total} sheets, more than the {MAX_SHEETS} a nest may use"),
        ));
    }
    Ok(())
}

/// A stock sheet is never given a size of its own: `sheets[]` items name
/// only the fields of a sheet, with both sides; the single size
/// (`sheet_width`, `sheet_height`) is given whole or not at all (then the
/// documented 3000 x 1500 mm applies).
fn check_sheet_sizes(payload: &Value) -> Result<(), PayloadRefusal> {
    let given = |item: &Value, names: &[&str]| names.iter().any(|n| !item[*n].is_null());
    let sheet = template(&wjp_cam::SheetSpec::default());
    for (i, item) in payload["sheets"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("sheets[{i}]");
        known_fields(item, &sheet, &["width_mm", "height_mm"], &at)?;
        if !item.is_object() {
            return Err(PayloadRefusal::new(
                "invalid_value",
                at.clone(),
                format!("{at} must be an object: {{\"width\", \"height\", \"quantity\"}} (mm)"),
            ));
        }
        for side in ["width", "height"] {
            if !given(item, &[side, &format!("{side}_mm")]) {
                return Err(PayloadRefusal::new(
                    "missing_field",
                    format!("{at}.{side}"),
                    format!(
                        "{at}.{side} is required: a stock sheet needs its width and height \
                         in mm (quantity is 1 when not given)"
                    ),
                ));
            }
        }
    }
    let width = given(payload, &["sheet_width", "sheet_width_mm"]);
    let height = given(payload, &["sheet_height", "sheet_height_mm"]);
    if width != height {
        let (missing, other) = if width {
            ("sheet_height", "sheet_width")
        } else {
            ("sheet_width", "sheet_height")
        };
        return Err(PayloadRefusal::new(
            "missing_field",
            missing,
            format!(
                "{missing} is required with {other}: give both sides of the sheet in mm \
                 (or neither, for the default 3000 x 1500 mm sheet)"
            ),
        ));
    }
    Ok(())
}

/// `generate_gcode`: the drawing, `units`, and any G-code option by name.
pub fn check_generate_gcode(payload: &Value, door: &Door) -> Result<(), PayloadRefusal> {
    known_fields(
        payload,
        &template(&GcodeOptions::default()),
        &["dxf_path", "sheet", "units", "thickness", "kerf"],
        "",
    )?;
    let mut args: GenerateGcode = parse_payload(payload)?;
    match (&args.dxf_path, args.sheet) {
        (None, Some(sheet)) if door.parents == Some(0) => {
            return Err(PayloadRefusal::new(
                "missing_field",
                "after",
                format!(
                    "sheet {sheet} is a sheet of the nest this job waits for, and it waits \
                     for no job: submit it with after: [the nest's job id] (wjp submit \
                     --after ID), or give dxf_path"
                ),
            ))
        }
        (Some(_), None) | (None, Some(_)) => {}
        (Some(_), Some(_)) => {
            return Err(PayloadRefusal::new(
                "invalid_value",
                "sheet",
                "give dxf_path or sheet, not both",
            ))
        }
        (None, None) => {
            return Err(PayloadRefusal::new(
                "missing_field",
                "dxf_path",
                "dxf_path is required (or sheet: a sheet of the nest this job waits for)",
            ))
        }
    }
    // The shop's table, which may add materials to the built-in one.
    args.options.analysis.materials = door.materials.to_vec();
    units_field(args.units.as_deref(), "units")?;
    check_material(
        &args.options.analysis.materials,
        &args.options.material,
        "material",
    )?;
    // The library cuts with these four of the top level, whatever the
    // analysis options say: they are checked there, by the names sent.
    let analysis = &mut args.options.analysis;
    analysis.material.clone_from(&args.options.material);
    analysis.thickness_mm = args.options.thickness_mm;
    analysis.kerf_mm = args.options.kerf_mm;
    analysis.quality = args.options.quality;
    check_thickness_given(analysis, payload, "")?;
    match wjp_cam::generate_gcode(b"", &args.options) {
        Ok(_) => {}
        Err(e) => cam_option_refusal(e).map_err(|r| as_sent(r, payload, ""))?,
    }
    check_analysis(&args.options.analysis, &payload["analysis"], "analysis")
}

/// The export kinds: an analysis report, and nothing else.
pub fn check_export(payload: &Value, _door: &Door) -> Result<(), PayloadRefusal> {
    known_fields(payload, &json!({ "report": {} }), &[], "")?;
    let args: Export = parse_payload(payload)?;
    if !args.report.is_object() {
        return Err(PayloadRefusal::new(
            "invalid_value",
            "report",
            "report must be an object: the result of an analyze_dxf job",
        ));
    }
    Ok(())
}
