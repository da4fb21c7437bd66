//! Cross-site request forgery: every state-changing request (any method but GET, HEAD and
//! OPTIONS) must come from Ward's own pages. Browsers say where a request comes from in
//! `Sec-Fetch-Site` and `Origin`; a request whose `Sec-Fetch-Site` is not `same-origin` (or
//! `none`, a user's own navigation), or whose `Origin` is neither the request's own host nor
//! one of `command_api.allowed_origins`, is refused with 403 `cross_site_request`. Requests
//! that carry neither header do not come from a browser page, which cannot omit them, and
//! pass. The session cookie is also `SameSite=Lax`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ward_platform::http::ApiError;

/// Origins allowed besides the request's own host.
pub type AllowedOrigins = Arc<Vec<String>>;

/// Middleware refusing cross-site state-changing requests.
pub async fn refuse_cross_site(
    State(allowed): State<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe || same_site(request.headers(), &allowed) {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        "cross_site_request",
        "this request did not come from Ward's own pages",
    )
    .into_response()
}

fn same_site(headers: &HeaderMap, allowed: &[String]) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    match text(ORIGIN.as_str()) {
        None => true,
        Some(origin) => {
            let authority = origin.split_once("://").map(|(_, rest)| rest);
            allowed.iter().any(|a| a == origin)
                || (authority.is_some() && authority == text(HOST.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = value.parse() {
                headers.insert(*name, value);
            }
        }
        headers
    }

    #[test]
    fn only_same_origin_browser_requests_and_non_browser_clients_pass() {
        let allowed = vec!["https://ward.example.com".to_owned()];
        let host = ("host", "api.ward.example.com");
        for (pairs, expected) in [
            (vec![], true),
            (vec![host, ("sec-fetch-site", "same-origin")], true),
            (vec![host, ("sec-fetch-site", "none")], true),
            (vec![host, ("origin", "https://api.ward.example.com")], true),
            (vec![host, ("origin", "https://ward.example.com")], true),
            (vec![host, ("sec-fetch-site", "cross-site")], false),
            (vec![host, ("sec-fetch-site", "same-site")], false),
            (vec![host, ("origin", "https://evil.example")], false),
            (vec![host, ("origin", "null")], false),
        ] {
            assert_eq!(same_site(&headers(&pairs), &allowed), expected, "{pairs:?}");
        }
    }
}
