//! What Ward can and cannot know about you, in plain words.

use askama::Template;
use axum::response::Response;
use ward_web::Chrome;

use super::Viewer;

#[derive(Template)]
#[template(path = "privacy.html")]
struct Privacy<'a> {
    chrome: &'a Chrome,
    korean: bool,
}

/// `GET /privacy`.
pub async fn privacy(viewer: Viewer) -> Response {
    viewer.page(Ok(Privacy {
        chrome: &viewer.chrome,
        korean: viewer.chrome.lang == ward_web::Lang::Ko,
    }))
}
