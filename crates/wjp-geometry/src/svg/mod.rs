//! SVG out: the one path writer ([`path`]: bulge polylines as path data, the right
//! way up), the one root element ([`page`]: real millimetres) and the picture of an
//! analysed drawing ([`picture`]).

pub mod page;
pub mod path;
pub mod picture;

pub use page::svg_open;
pub use path::{PathData, SvgFrame};
