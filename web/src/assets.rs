//! The stylesheet and the script, compiled into the binary and served under names that carry
//! their content hash (`/assets/ward.3f2a….css`), so browsers keep them for a year and a new
//! release is fetched at once. Nothing is ever loaded from another origin.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

/// One asset: its body and the hashed name it is served under.
#[derive(Debug)]
pub struct Asset {
    /// The file name under `/assets/`, e.g. `ward.3f2a9c01d4e5.css`.
    pub file: String,
    /// What it holds.
    pub body: &'static str,
    /// Its content type.
    pub content_type: &'static str,
}

impl Asset {
    fn new(stem: &str, extension: &str, body: &'static str, content_type: &'static str) -> Self {
        let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
        Self {
            file: format!("{stem}.{hash}.{extension}"),
            body,
            content_type,
        }
    }

    /// Its address.
    pub fn url(&self) -> String {
        format!("/assets/{}", self.file)
    }
}

/// The stylesheet (mobile first, light and dark).
pub static CSS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "ward",
        "css",
        include_str!("../assets/ward.css"),
        "text/css; charset=utf-8",
    )
});

/// The script: progressive enhancement only; every page works without it.
pub static JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "ward",
        "js",
        include_str!("../assets/ward.js"),
        "text/javascript; charset=utf-8",
    )
});

/// `GET /assets/{file}`: the stylesheet and the script under their hashed names.
pub fn router() -> Router {
    Router::new().route("/assets/{file}", get(serve))
}

async fn serve(Path(file): Path<String>) -> Response {
    match [&*CSS, &*JS].into_iter().find(|a| a.file == file) {
        Some(asset) => (
            [
                (CONTENT_TYPE, asset.content_type),
                (CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_stay_within_the_page_budget() {
        assert!(
            CSS.body.len() <= 30 * 1024,
            "CSS is {} bytes",
            CSS.body.len()
        );
        assert!(JS.body.len() <= 20 * 1024, "JS is {} bytes", JS.body.len());
    }

    #[test]
    fn names_carry_the_content_hash() {
        assert!(CSS.file.starts_with("ward.") && CSS.file.ends_with(".css"));
        assert_eq!(CSS.file.len(), "ward.".len() + 12 + ".css".len());
        assert_ne!(CSS.file, JS.file);
    }
}
