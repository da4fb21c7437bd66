//! What every page carries ([`Chrome`]: language, texts, whether the reader is signed in,
//! where the page is), turning a template into a response with Ward's headers ([`html`]),
//! the error page, and the language switch.

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_LANGUAGE, CONTENT_TYPE, LOCATION, REFERRER_POLICY, SET_COOKIE, VARY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use ward_platform::http::ApiError;

use crate::assets::{CSS, JS};
use crate::lang::{Lang, Texts, LANG_COOKIE};

/// Pages may load only Ward's own stylesheet and script, post forms only to Ward, and are
/// never framed. No inline script or style: nothing a text could smuggle in would run.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
    script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// Korean Standard Time, in which pages show times.
const KST_SECS: i32 = 9 * 3600;

/// The context of every page: the reader's language and texts, whether they are signed in,
/// and the page's own address (for the language link).
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The page's language.
    pub lang: Lang,
    /// The interface texts in it.
    pub t: &'static Texts,
    /// Whether the reader is signed in.
    pub signed_in: bool,
    /// The page's path and query.
    pub here: String,
}

impl Chrome {
    /// The context of a request for `uri` with `headers`.
    pub fn new(uri: &Uri, headers: &HeaderMap, signed_in: bool) -> Self {
        let lang = Lang::of(headers);
        Self {
            lang,
            t: lang.texts(),
            signed_in,
            here: uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        }
    }

    /// The stylesheet's address.
    pub fn css(&self) -> String {
        CSS.url()
    }

    /// The script's address.
    pub fn js(&self) -> String {
        JS.url()
    }

    /// The link that shows this page in the other language.
    pub fn lang_url(&self) -> String {
        format!(
            "/lang/{}?back={}",
            self.lang.other().code(),
            percent_encode(&self.here)
        )
    }

    /// The reader-facing name of an API code.
    pub fn label<'c>(&self, code: &'c str) -> &'c str {
        self.lang.label(code)
    }

    /// A time as readers see it: Korean time, to the minute.
    pub fn when(&self, at: &DateTime<Utc>) -> String {
        FixedOffset::east_opt(KST_SECS).map_or_else(
            || at.format("%Y-%m-%d %H:%M UTC").to_string(),
            |kst| at.with_timezone(&kst).format("%Y-%m-%d %H:%M").to_string(),
        )
    }

    /// A machine-readable time for `<time datetime>`.
    pub fn iso(&self, at: &DateTime<Utc>) -> String {
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Renders `page` as the answer: HTML with the security headers, never stored by shared
/// caches once the reader is signed in.
pub fn html(status: StatusCode, chrome: &Chrome, page: &impl Template) -> Response {
    let body = match page.render() {
        Ok(body) => body,
        Err(error) => {
            // The template's data is never logged: it may hold readers' texts.
            tracing::error!(%error, "rendering a page failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        CONTENT_LANGUAGE,
        HeaderValue::from_static(chrome.lang.code()),
    );
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(if chrome.signed_in {
            "private, no-store"
        } else {
            "no-cache"
        }),
    );
    headers.insert(VARY, HeaderValue::from_static("Cookie, Accept-Language"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A reader's path through Ward is nobody else's business: other sites get no referrer.
    // (`no-referrer` would also make browsers send `Origin: null` on Ward's own forms.)
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    (status, headers, body).into_response()
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// The page's context.
    pub chrome: &'a Chrome,
    /// The HTTP status.
    pub status: u16,
    /// The headline.
    pub title: &'static str,
    /// The stable error code.
    pub code: &'a str,
    /// What went wrong, in the reader's language where the interface has the words.
    pub message: &'a str,
}

/// `error` as a page in the same style as the rest, with its status and code.
pub fn error_page(chrome: &Chrome, error: &ApiError) -> Response {
    let status = error.status();
    let title = match status {
        StatusCode::NOT_FOUND => chrome.t.not_found_title,
        StatusCode::TOO_MANY_REQUESTS => chrome.t.too_many_title,
        _ => chrome.t.error_title,
    };
    let message = chrome
        .lang
        .error_message(error.code())
        .unwrap_or(error.message());
    let mut response = html(
        status,
        chrome,
        &ErrorPage {
            chrome,
            status: status.as_u16(),
            title,
            code: error.code(),
            message,
        },
    );
    if let Some(retry) = error.retry_after() {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(retry));
    }
    response
}

/// The language switch and the assets: routes every web front end serves.
pub fn router() -> Router {
    Router::new()
        .route("/lang/{code}", get(switch_lang))
        .merge(crate::assets::router())
}

#[derive(Debug, Deserialize)]
struct Back {
    back: Option<String>,
}

/// `GET /lang/{ko|en}?back=/path`: remembers the choice for a year and returns to the page.
async fn switch_lang(Path(code): Path<String>, Query(back): Query<Back>) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let target = back
        .back
        .filter(|b| is_local_path(b))
        .unwrap_or_else(|| "/".to_owned());
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    );
    let mut headers = HeaderMap::new();
    if let (Ok(location), Ok(cookie)) = (
        HeaderValue::from_str(&target),
        HeaderValue::from_str(&cookie),
    ) {
        headers.insert(LOCATION, location);
        headers.insert(SET_COOKIE, cookie);
    }
    (StatusCode::SEE_OTHER, headers).into_response()
}

/// Whether `target` is a path on this site (not `//host` or `/\host`, which browsers read as
/// another site).
pub fn is_local_path(target: &str) -> bool {
    target.len() <= 2000
        && target.starts_with('/')
        && !target.starts_with("//")
        && !target.starts_with("/\\")
        && !target.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert!(is_local_path("/boards/free?sort=hot"));
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "",
            "/a\nb",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_error_page_escapes_what_it_shows() -> Result<(), askama::Error> {
        let chrome = Chrome::new(&Uri::from_static("/x"), &HeaderMap::new(), false);
        let page = ErrorPage {
            chrome: &chrome,
            status: 422,
            title: chrome.t.error_title,
            code: "title_too_long",
            message: "<script>alert(1)</script>",
        };
        let html = page.render()?;
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&#60;script&#62;alert(1)") || html.contains("&lt;script&gt;"));
        assert!(html.contains("<html lang=\"ko\">"));
        Ok(())
    }

    #[test]
    fn times_show_in_korean_time() {
        let chrome = Chrome::new(&Uri::from_static("/"), &HeaderMap::new(), false);
        let at = DateTime::parse_from_rfc3339("2026-11-27T23:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(chrome.when(&at), "2026-11-28 08:30");
    }
}
