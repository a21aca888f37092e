//! `GET /materials`: the shop's materials, for the forms of its clients.
//!
//! The table itself is the shop's (its `wjp.toml`); the API knows nothing
//! of cutting and serves the list the program gives it
//! ([`crate::ApiArgs::materials`]), so a form offers exactly the names a
//! request may use.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use crate::AppState;

/// One material a request may name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaterialEntry {
    /// The name requests use (`mild_steel`).
    pub name: String,
    /// Other names accepted for it (`steel`, `ms`).
    pub aliases: Vec<String>,
    /// Thicknesses the shop cuts in it, `[min, max]` mm; `null` when the
    /// shop set no range.
    pub thickness_range_mm: Option<[f64; 2]>,
}

/// A material's name as the shop's table compares names: case, spaces and
/// `-` aside (`Mild Steel`, `mild-steel` and `mild_steel` are one). The
/// table's own lookup (in the geometry crate, which this crate does not
/// know) compares the same way.
pub fn name_key(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace(['-', ' '], "_")
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/materials", get(list))
}

async fn list(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "success": true, "materials": state.config.materials }))
}

#[cfg(test)]
mod tests {
    use super::name_key;

    /// The table's own lookup and this one must agree on every spelling.
    #[test]
    fn names_compare_as_the_material_table_compares_them() {
        for name in [
            "Mild Steel",
            "mild-steel",
            " mild_steel ",
            "AL",
            "Stainless Steel 304",
            "cu",
        ] {
            assert_eq!(
                name_key(name),
                wjp_geometry::cost::material_key(name),
                "{name:?}"
            );
        }
    }
}
