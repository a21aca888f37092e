//! SVG out: the one path writer ([`path`]: bulge polylines as path data, the right
//! way up) and the picture of an analysed drawing ([`picture`]).

pub mod path;
pub mod picture;

pub use path::{PathData, SvgFrame};
