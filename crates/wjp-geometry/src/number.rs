//! Numbers as text, the one formatter of the DXF and SVG writers (and of G-code):
//! at most a given number of decimals, trailing zeros trimmed, never `-0`.

/// `v` with at most `decimals` decimals, trailing zeros (and a bare point) trimmed;
/// a value that rounds to zero is `0`, and a non-finite one is written as `0` (no
/// writer may emit `NaN`).
pub fn decimal(v: f64, decimals: usize) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        let kept = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(kept);
    }
    if s == "-0" || s.is_empty() {
        s = "0".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn trims_rounds_and_never_writes_minus_zero() {
        assert_eq!(decimal(1.5, 3), "1.5");
        assert_eq!(decimal(2.0, 3), "2");
        assert_eq!(decimal(100.0, 0), "100");
        assert_eq!(decimal(-0.0004, 3), "0");
        assert_eq!(decimal(-1.23456789, 6), "-1.234568");
        assert_eq!(decimal(f64::NAN, 3), "0");
    }
}
