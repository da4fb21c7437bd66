//! The web pages: server-rendered HTML for browsers, in Korean or English (`ward-web`).
//!
//! A page is the query API's own answer rendered as HTML: each page handler calls the JSON
//! handlers of the board, hospital and member services in-process (so pages get the same
//! validation, k-anonymity, caching and read-your-writes waits), decodes their answers and
//! fills a template. The `web` service therefore needs the other three in the same process
//! (ADR 0010). Forms post to the command API, which answers with a redirect back here
//! carrying the new version in `?v=kind:id:version`: the page waits for it like a
//! `Ward-Min-Version` header, so authors see their own post at once.
//!
//! # Layout
//! - `board`: home, board listings, a post with its comments, search, the post form, the
//!   public moderation log.
//! - `hospital`: hospital search, a hospital with its ratings and reviews, the review and
//!   claim forms.
//! - `me`: my page (affiliations, activity, notifications, withdrawal), a claim's
//!   verification page.
//! - `info`: what Ward can and cannot know about you.
//! - `cached`: visitors' pages kept in the process while the read models do not change.

mod board;
mod cached;
mod hospital;
mod info;
mod me;

use axum::body::to_bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::de::DeserializeOwned;
use ward_platform::http::ApiError;
use ward_platform::session::{cookie, Session};
use ward_web::{error_page, html, Chrome};

pub use cached::PageCache;

use crate::board::BoardState;
use crate::cache::CONSISTENCY;
use crate::consistency::{MinVersion, Wanted};
use crate::hospital::HospitalState;
use crate::me::MeState;

/// Largest JSON answer a page decodes (a post with 1000 comments fits).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// What the pages use: the three read services' states.
#[derive(Clone)]
pub struct Pages {
    /// The board service.
    pub board: BoardState,
    /// The hospital service.
    pub hospital: HospitalState,
    /// The member service (and the sessions).
    pub me: MeState,
    /// Visitors' pages rendered by this process.
    pub cached: PageCache,
}

/// The pages' routes, with the language switch and the assets.
pub fn router(pages: Pages) -> Router {
    Router::new()
        .route("/", get(board::home))
        .route("/boards/{board}", get(board::listing))
        .route("/search", get(board::search))
        .route("/posts/new", get(board::new_post))
        .route("/posts/{id}", get(board::post))
        .route("/posts/{id}/edit", get(board::edit_post))
        .route("/moderation/log", get(board::moderation_log))
        .route("/hospitals", get(hospital::search))
        .route("/hospitals/{id}", get(hospital::hospital))
        .route("/hospitals/{id}/review", get(hospital::review_form))
        .route("/hospitals/{id}/claim", get(hospital::claim_form))
        .route("/me", get(me::my_page))
        .route("/me/claims/{id}", get(me::claim))
        .route("/privacy", get(info::privacy))
        .layer(axum::middleware::from_fn_with_state(
            pages.clone(),
            cached::visitor_pages,
        ))
        .with_state(pages)
        .merge(ward_web::page::router())
}

/// The reader of a page: their language and, if signed in, their session.
pub struct Viewer {
    /// The page's context.
    pub chrome: Chrome,
    /// The reader's session, if they are signed in.
    pub session: Option<Session>,
    /// Whether the reader sent a session cookie but their session could not be looked up
    /// (Redis, which holds sessions, is unavailable). Public pages are shown signed out
    /// meanwhile; a member's own pages answer `503`.
    unknown: bool,
}

impl FromRequestParts<Pages> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, pages: &Pages) -> Result<Self, Self::Rejection> {
        let (session, unknown) = match cookie(&parts.headers, &pages.me.session_cookie) {
            Some(token) => {
                let redis = pages.board.cache.health();
                match redis.session(&pages.me.sessions, token).await {
                    Ok(session) => (session, false),
                    Err(_) => (None, true),
                }
            }
            None => (None, false),
        };
        Ok(Self {
            chrome: Chrome::new(&parts.uri, &parts.headers, session.is_some()),
            session,
            unknown,
        })
    }
}

impl Viewer {
    /// The page, or the error page if building it failed.
    pub fn page(&self, result: Result<impl askama::Template, ApiError>) -> Response {
        match result {
            Ok(page) => html(StatusCode::OK, &self.chrome, &page),
            Err(error) => error_page(&self.chrome, &error),
        }
    }

    /// The signed-in session; 401 `unauthenticated` without one, or 503
    /// `service_unavailable` while sessions cannot be looked up.
    pub fn member(&self) -> Result<&Session, ApiError> {
        match (&self.session, self.unknown) {
            (Some(session), _) => Ok(session),
            (None, true) => Err(ApiError::still_unavailable()),
            (None, false) => Err(ApiError::unauthenticated()),
        }
    }
}

/// The 404 page for any path that is no page.
pub async fn not_found(parts: Parts) -> Response {
    let chrome = Chrome::new(&parts.uri, &parts.headers, false);
    error_page(
        &chrome,
        &ApiError::not_found("route_not_found", "there is no such page"),
    )
}

/// A JSON handler's answer, decoded; `stale` when it did not reach the version the page
/// waited for.
pub struct Decoded<T> {
    /// The answer.
    pub value: T,
    /// Whether the read model had not caught up with the reader's own write yet.
    pub stale: bool,
}

/// Decodes the answer of a JSON handler called in-process.
pub async fn decode<T: DeserializeOwned>(
    answer: Result<Response, ApiError>,
) -> Result<Decoded<T>, ApiError> {
    let response = answer?;
    let stale = response
        .headers()
        .get(CONSISTENCY)
        .is_some_and(|v| v == "stale");
    let bytes = to_bytes(response.into_body(), MAX_ANSWER_BYTES)
        .await
        .map_err(ApiError::internal)?;
    let value = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
    Ok(Decoded { value, stale })
}

/// The `?v=kind:id:version` a form's redirect carries, as a wait for `viewer` (who may wait
/// only if signed in, like a `Ward-Min-Version` header's sender).
pub fn wanted(pages: &Pages, viewer: &Viewer, v: Option<&str>) -> Wanted {
    let member = viewer.session.as_ref().map(|s| s.member_id);
    Wanted::new(v.and_then(MinVersion::parse), &pages.me.waits, member)
}

/// A page's query parameters; malformed ones are a 400 `invalid_query`.
pub fn query<T: DeserializeOwned>(uri: &axum::http::Uri) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|rejection| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                rejection.body_text(),
            )
        })
}

/// A fresh idempotency key for a form, so a double submission creates one item.
pub fn form_key() -> String {
    uuid::Uuid::new_v4().to_string()
}
