//! The one integration-test binary of wjp-geometry (one link, fast CI).

mod integration {
    pub mod fixtures;
    pub mod handmade;
    pub mod hostile;
    pub mod previews;
    pub mod properties;
    pub mod support;
    pub mod svg_read;
    pub mod writer;
}
