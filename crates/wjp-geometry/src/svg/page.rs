//! The root element of every SVG picture of wjp, written by one function so every
//! picture has the same size rule: one user unit is one millimetre of the
//! drawing, and the picture's width and height are the view box's, in `mm`. A
//! viewer shows a part at its real size, and a picture of a report, a conversion,
//! a nesting and a toolpath of the same part are the same size.

use crate::number::decimal;

/// Decimals of the view box and size: a micrometre.
const DECIMALS: usize = 3;

/// The opening `<svg>` tag of a picture showing the drawing rectangle of SVG user
/// coordinates `min_x, min_y, width, height` (millimetres), at real size.
/// Widths and heights are kept positive (a degenerate drawing still has a size).
pub fn svg_open(min_x: f64, min_y: f64, width: f64, height: f64) -> String {
    let (w, h) = (width.max(1e-3), height.max(1e-3));
    let n = |v: f64| decimal(v, DECIMALS);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}mm\" height=\"{}mm\" viewBox=\"{} {} {} {}\">",
        n(w),
        n(h),
        n(min_x),
        n(min_y),
        n(w),
        n(h)
    )
}

#[cfg(test)]
mod tests {
    use super::svg_open;

    #[test]
    fn size_is_the_view_box_in_millimetres() {
        assert_eq!(
            svg_open(-5.0, 2.5, 120.25, 0.0),
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"120.25mm\" height=\"0.001mm\" viewBox=\"-5 2.5 120.25 0.001\">"
        );
    }
}
