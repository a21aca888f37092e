//! Drawing units: the `$INSUNITS` table, the factor to millimetres, and the sanity
//! check. The analysis never rescales silently: a suspicious size is a warning, and
//! the caller may override the units explicitly.

use serde::Serialize;

/// `$INSUNITS` code to (name, millimetres per unit). Code 0 is "unitless".
pub fn insunits(code: i64) -> Option<(&'static str, f64)> {
    Some(match code {
        0 => ("unitless", f64::NAN),
        1 => ("inch", 25.4),
        2 => ("foot", 304.8),
        3 => ("mile", 1_609_344.0),
        4 => ("millimetre", 1.0),
        5 => ("centimetre", 10.0),
        6 => ("metre", 1000.0),
        7 => ("kilometre", 1_000_000.0),
        8 => ("microinch", 25.4e-6),
        9 => ("mil", 0.0254),
        10 => ("yard", 914.4),
        11 => ("angstrom", 1e-7),
        12 => ("nanometre", 1e-6),
        13 => ("micron", 1e-3),
        14 => ("decimetre", 100.0),
        15 => ("decametre", 10_000.0),
        16 => ("hectometre", 100_000.0),
        17 => ("gigametre", 1e12),
        18 => ("astronomical unit", 1.495_978_707e14),
        19 => ("light year", 9.460_730_472_580_8e18),
        20 => ("parsec", 3.085_677_581_491_367e19),
        21 => ("US survey foot", 1200.0 / 3937.0 * 1000.0),
        _ => return None,
    })
}

/// What the report says about units.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnitsReport {
    /// The `$INSUNITS` code as declared (0 when absent).
    pub declared: i64,
    /// Whether `$INSUNITS` was present in the header at all.
    pub declared_present: bool,
    /// Name of the declared unit.
    pub declared_name: String,
    /// `$MEASUREMENT` (0 imperial, 1 metric) when present.
    pub measurement: Option<i64>,
    /// The unit used for the analysis.
    pub assumed: String,
    /// Millimetres per drawing unit, as used.
    pub factor_to_mm: f64,
    /// How the factor was chosen.
    pub source: String,
    /// The drawing size looks wrong for the units (see `note`).
    pub suspicious: bool,
    pub note: Option<String>,
}

/// Decide the factor to millimetres from the header and an optional override code.
pub fn resolve(
    declared: Option<i64>,
    measurement: Option<i64>,
    override_code: Option<i64>,
) -> UnitsReport {
    let code = declared.unwrap_or(0);
    let declared_name = insunits(code)
        .map(|(n, _)| n.to_owned())
        .unwrap_or_else(|| format!("unknown code {code}"));
    let (assumed, factor, source) = if let Some(o) =
        override_code.and_then(|c| insunits(c).filter(|(_, f)| f.is_finite()).map(|u| (c, u)))
    {
        (
            o.1 .0.to_owned(),
            o.1 .1,
            format!("override: units code {} given by the caller", o.0),
        )
    } else {
        match insunits(code) {
            Some((name, f)) if f.is_finite() => (name.to_owned(), f, "$INSUNITS".to_owned()),
            _ => match measurement {
                Some(0) => (
                    "inch".to_owned(),
                    25.4,
                    "$INSUNITS unitless or unknown; $MEASUREMENT = 0 (imperial): inch assumed"
                        .to_owned(),
                ),
                Some(1) => (
                    "millimetre".to_owned(),
                    1.0,
                    "$INSUNITS unitless or unknown; $MEASUREMENT = 1 (metric): millimetre assumed"
                        .to_owned(),
                ),
                _ => (
                    "millimetre".to_owned(),
                    1.0,
                    "no usable $INSUNITS or $MEASUREMENT: millimetre assumed".to_owned(),
                ),
            },
        }
    };
    UnitsReport {
        declared: code,
        declared_present: declared.is_some(),
        declared_name,
        measurement,
        assumed,
        factor_to_mm: factor,
        source,
        suspicious: false,
        note: None,
    }
}

/// The units a person may name for a drawing (a request's `units`, the
/// command line's `--units`), by symbol, with their `$INSUNITS` codes.
pub const UNIT_SYMBOLS: [(&str, i64); 5] = [("mm", 4), ("cm", 5), ("m", 6), ("in", 1), ("ft", 2)];

/// The `$INSUNITS` code of a unit's symbol (`mm`, `in`...).
pub fn symbol_code(symbol: &str) -> Option<i64> {
    UNIT_SYMBOLS
        .iter()
        .find(|(s, _)| *s == symbol)
        .map(|(_, code)| *code)
}

/// How a suspicious-units note introduces the unit that reads the drawing at a
/// plausible size; [`suggested_symbol`] reads it back.
const SUGGESTION: &str = "; read in ";

/// The symbol of the unit a suspicious-units note (of [`sanity_check`])
/// suggests, if it suggests one.
pub fn suggested_symbol(note: &str) -> Option<&'static str> {
    let rest = &note[note.find(SUGGESTION)? + SUGGESTION.len()..];
    let word = rest.split(' ').next()?;
    UNIT_SYMBOLS.iter().map(|(s, _)| *s).find(|s| *s == word)
}

/// Check the size of the drawing in millimetres; set `suspicious` and a note (never
/// rescale). `min_mm` and `max_mm` are the plausible limits of a part's largest side.
pub fn sanity_check(u: &mut UnitsReport, largest_side_mm: f64, min_mm: f64, max_mm: f64) {
    if largest_side_mm <= 0.0 || !largest_side_mm.is_finite() {
        return;
    }
    if largest_side_mm > max_mm || largest_side_mm < min_mm {
        u.suspicious = true;
        let raw = largest_side_mm / u.factor_to_mm;
        // Suggest the first unit that gives a plausible size (millimetres first).
        let suggestion = ["mm", "in", "cm", "m", "ft"]
            .into_iter()
            .filter_map(|symbol| {
                symbol_code(symbol)
                    .and_then(insunits)
                    .map(|(_, f)| (symbol, f))
            })
            .find(|(_, f)| {
                let s = raw * f;
                (10.0..=5000.0).contains(&s)
            });
        let mut note = format!(
            "the drawing's largest side is {:.6} {} = {:.3} mm, outside the plausible {} mm to {} mm for a cut part",
            raw, u.assumed, largest_side_mm, min_mm, max_mm
        );
        if let Some((symbol, f)) = suggestion {
            note.push_str(&format!(
                "{SUGGESTION}{symbol} it would be {:.3} mm",
                raw * f
            ));
        }
        note.push_str(". Figures are NOT rescaled.");
        u.note = Some(note);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_from_code_8_on_is_right() {
        assert_eq!(insunits(8).unwrap().1, 25.4e-6);
        assert_eq!(insunits(9).unwrap().1, 0.0254);
        assert_eq!(insunits(10).unwrap().1, 914.4);
        assert_eq!(insunits(13).unwrap().1, 1e-3);
        assert_eq!(insunits(14).unwrap().1, 100.0);
        assert!((insunits(21).unwrap().1 - 304.800_609_6).abs() < 1e-6);
        assert!(insunits(22).is_none());
    }

    #[test]
    fn unitless_falls_back_to_measurement() {
        assert_eq!(resolve(Some(0), Some(0), None).factor_to_mm, 25.4);
        assert_eq!(resolve(Some(0), Some(1), None).factor_to_mm, 1.0);
        assert_eq!(resolve(None, None, None).factor_to_mm, 1.0);
        assert_eq!(resolve(Some(6), None, Some(4)).factor_to_mm, 1.0);
    }

    #[test]
    fn metres_that_are_millimetres_are_flagged_not_rescaled() {
        let mut u = resolve(Some(6), None, None);
        sanity_check(&mut u, 1000.0 * 1000.0, 1.0, 20_000.0);
        assert!(u.suspicious);
        assert_eq!(u.factor_to_mm, 1000.0);
        let note = u.note.unwrap();
        assert!(
            note.contains("read in mm it would be 1000.000 mm"),
            "{note}"
        );
        assert_eq!(suggested_symbol(&note), Some("mm"));
        assert!(!note.contains("code"), "{note}");
    }
}
