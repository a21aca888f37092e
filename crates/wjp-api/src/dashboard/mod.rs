//! The operators' dashboard: one HTML page, one stylesheet and a few
//! JavaScript modules (`app.js` imports `dom.js`, `api.js`, `history.js`,
//! `steering.js`, `details.js`, `schedules.js`, `forms.js`),
//! hand-written and built into the binary, served at `/` and `/assets/*`.
//!
//! The page is a client of the public API and nothing more: it reads
//! `/queues`, `/workers`, `/jobs`, follows `/events` (Server-Sent Events read
//! with `fetch`, so the API key travels as a header), and submits through
//! `/upload`, `/analyze-dxf`, `/convert-image` and `/jobs`.
//!
//! **Invariant**: the page and its assets hold no data, so they are served
//! without the API key (a browser cannot send a header when it navigates);
//! the page asks for the key once, keeps it in `sessionStorage`, and every
//! call it makes carries it. No CDN, no build step: what is in `assets/` is
//! what the browser runs.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::{ApiError, Code};
use crate::AppState;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const INDEX: &str = include_str!("../../assets/index.html");

const ASSETS: [Asset; 13] = [
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../assets/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/app.js"),
    },
    Asset {
        name: "dom.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/dom.js"),
    },
    Asset {
        name: "api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/api.js"),
    },
    Asset {
        name: "history.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/history.js"),
    },
    Asset {
        name: "steering.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/steering.js"),
    },
    Asset {
        name: "details.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/details.js"),
    },
    Asset {
        name: "schedules.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/schedules.js"),
    },
    Asset {
        name: "results.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/results.js"),
    },
    Asset {
        name: "throughput.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/throughput.js"),
    },
    Asset {
        name: "thumbs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/thumbs.js"),
    },
    Asset {
        name: "forms.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/forms.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../../assets/icon.svg"),
    },
];

/// Paths served without the API key: the page and its assets.
pub fn is_public(path: &str) -> bool {
    path == "/" || path.starts_with("/assets/")
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
}

/// Headers every dashboard response carries: no sniffing, no framing by
/// other sites, scripts only from this origin.
fn respond(content_type: &'static str, cache: &'static str, body: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; \
             script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

/// The page as served: its form starts at the API's default thickness,
/// so the two cannot disagree.
static PAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    INDEX.replace(
        "{{default_thickness_mm}}",
        &crate::shop::DEFAULT_THICKNESS_MM.to_string(),
    )
});

async fn index() -> Response {
    respond("text/html; charset=utf-8", "no-cache", PAGE.as_str())
}

async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let asset = ASSETS.iter().find(|a| a.name == name).ok_or_else(|| {
        ApiError::new(
            Code::AssetNotFound,
            format!("the dashboard has no asset {name:?}"),
        )
    })?;
    // Revalidated on every load: the binary may have been upgraded.
    Ok(respond(asset.content_type, "no-cache", asset.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_only_embedded_assets() {
        for part in INDEX.split("/assets/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect();
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "index.html links /assets/{name}, which is not embedded"
            );
        }
        assert!(!INDEX.contains("http://") && !INDEX.contains("https://"));
    }

    #[test]
    fn the_modules_import_only_embedded_modules() {
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            for part in asset.body.split("from './").skip(1) {
                let name: String = part.chars().take_while(|c| *c != '\'').collect();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{} imports ./{name}, which is not embedded",
                    asset.name
                );
            }
        }
    }

    #[test]
    fn the_page_fills_in_every_value_it_leaves_open() {
        assert!(INDEX.contains("{{default_thickness_mm}}"));
        assert!(!PAGE.contains("{{"), "a value is left open");
        assert!(PAGE.contains(r#"value="6" required"#));
        assert_eq!(
            crate::shop::DEFAULT_THICKNESS_MM,
            wjp_geometry::AnalysisOptions::default().thickness_mm
        );
        assert_eq!(
            crate::shop::DEFAULT_THICKNESS_MM,
            wjp_cam::GcodeOptions::default().thickness_mm
        );
    }

    #[test]
    fn only_the_page_and_assets_are_public() {
        assert!(is_public("/"));
        assert!(is_public("/assets/app.js"));
        assert!(!is_public("/jobs"));
        assert!(!is_public("/files/output/x.svg"));
    }
}
