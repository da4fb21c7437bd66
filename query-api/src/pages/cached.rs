//! Rendered pages for visitors, kept in this process.
//!
//! A visitor's page (no session cookie, no `?v=` wait) depends only on its address, the
//! reader's language and the read models. It is kept with the versions of the board and
//! hospital caches read *before* it was rendered ([`ward_platform::cache`]): a later request
//! seeing the same versions gets the same bytes, without the Redis reads, JSON decoding and
//! template rendering behind them; any commit of a projector bumps a version and the next
//! request renders afresh. Data read after the versions is at least as new, so a kept page is
//! never older than what the versions promise.
//!
//! The process keeps at most [`BUDGET_BYTES`] of pages and starts over when it would hold
//! more, so the memory it costs has a bound and nothing needs evicting one by one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ward_web::Lang;

use super::{Pages, MAX_ANSWER_BYTES};

/// Most bytes of pages one process keeps.
pub const BUDGET_BYTES: usize = 8 * 1024 * 1024;

/// The read models a visitor's page can show.
const SERVICES: [&str; 2] = ["board", "hospital"];

/// The kept pages of this process.
#[derive(Clone, Default)]
pub struct PageCache(Arc<Mutex<Kept>>);

#[derive(Default)]
struct Kept {
    pages: HashMap<(String, &'static str), Page>,
    bytes: usize,
}

#[derive(Clone)]
struct Page {
    versions: Vec<u64>,
    headers: HeaderMap,
    body: Bytes,
}

impl PageCache {
    fn get(&self, key: &(String, &'static str), versions: &[u64]) -> Option<Page> {
        let kept = self.0.lock().ok()?;
        kept.pages
            .get(key)
            .filter(|page| page.versions == versions)
            .cloned()
    }

    fn put(&self, key: (String, &'static str), page: Page) {
        let Ok(mut kept) = self.0.lock() else {
            return;
        };
        let size = |key: &(String, &str), page: &Page| key.0.len() + page.body.len();
        let added = size(&key, &page);
        if let Some(old) = kept.pages.remove(&key) {
            kept.bytes = kept.bytes.saturating_sub(size(&key, &old));
        }
        if kept.bytes + added > BUDGET_BYTES {
            kept.pages.clear();
            kept.bytes = 0;
        }
        kept.bytes += added;
        kept.pages.insert(key, page);
    }
}

/// The middleware: answers a visitor's page from the process when it is current, and keeps
/// the fresh ones.
pub async fn visitor_pages(State(pages): State<Pages>, request: Request, next: Next) -> Response {
    let visitor = request.method() == Method::GET
        && ward_platform::session::cookie(request.headers(), &pages.me.session_cookie).is_none()
        && !request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("v=")));
    if !visitor {
        return next.run(request).await;
    }
    // Without the versions nothing can be known current: render, keep nothing.
    let Some(versions) = pages.board.cache.versions(&SERVICES).await else {
        return next.run(request).await;
    };
    let key = (
        request.uri().to_string(),
        Lang::of(request.headers()).code(),
    );
    if let Some(page) = pages.cached.get(&key, &versions) {
        return (StatusCode::OK, page.headers, page.body).into_response();
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK || response.headers().contains_key(header::SET_COOKIE) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match to_bytes(body, MAX_ANSWER_BYTES).await {
        Ok(body) => body,
        Err(error) => {
            tracing::warn!(%error, "reading a rendered page");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    pages.cached.put(
        key,
        Page {
            versions,
            headers: parts.headers.clone(),
            body: body.clone(),
        },
    );
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(bytes: usize) -> Page {
        Page {
            versions: vec![1, 1],
            headers: HeaderMap::new(),
            body: Bytes::from(vec![b'x'; bytes]),
        }
    }

    #[test]
    fn pages_are_kept_per_version_within_the_budget() {
        let cache = PageCache::default();
        let key = ("/boards/free".to_owned(), "ko");
        cache.put(key.clone(), page(1000));
        cache.put(key.clone(), page(2000));
        let bytes = cache.0.lock().map(|kept| kept.bytes).unwrap_or_default();
        assert_eq!(bytes, key.0.len() + 2000, "a page replaced is counted once");
        assert!(cache.get(&key, &[1, 1]).is_some());
        assert!(
            cache.get(&key, &[1, 2]).is_none(),
            "another version is not this page"
        );
        assert!(cache.get(&(key.0.clone(), "en"), &[1, 1]).is_none());
        // A page that would pass the budget starts the cache over.
        let big = ("/hospitals".to_owned(), "ko");
        cache.put(big.clone(), page(BUDGET_BYTES - 10));
        assert!(cache.get(&key, &[1, 1]).is_none());
        assert!(cache.get(&big, &[1, 1]).is_some());
    }
}
