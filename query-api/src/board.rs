//! Board listings and single posts, read from the board read model.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;
use ward_platform::http::{ApiError, ApiQuery};

use crate::cache::Cache;
use crate::consistency::{Freshness, Wanted};
use crate::cursor::Cursor;

/// What the board handlers use.
#[derive(Clone)]
pub struct BoardState {
    /// The board read model.
    pub pool: PgPool,
    /// The query cache.
    pub cache: Cache,
}

/// The board service's routes.
pub fn router(state: BoardState) -> Router {
    Router::new()
        .route("/api/v1/boards/{board}/posts", get(list))
        .route("/api/v1/posts/{id}", get(show))
        .with_state(state)
}

impl BoardState {
    /// Waits for the post a client wants to see, if it named one.
    async fn freshness(&self, wanted: Wanted) -> Result<Freshness, ApiError> {
        let Some(wanted) = wanted.0 else {
            return Ok(Freshness::Any);
        };
        if wanted.kind != "post" {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "min_version_kind_unknown",
                format!("the board service cannot wait for a {:?}", wanted.kind),
            ));
        }
        let Ok(id) = Uuid::parse_str(&wanted.id) else {
            return Ok(Freshness::Stale);
        };
        wanted
            .wait(|| async move {
                sqlx::query_scalar("SELECT version FROM board_posts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(ApiError::internal)
            })
            .await
    }
}

/// Boards that exist (the same list as the domain's `Board`).
const BOARDS: [&str; 2] = ["free", "qna"];
/// Default and largest page sizes.
const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;
/// Characters of the body shown in listings.
const EXCERPT_CHARS: usize = 200;

/// Query parameters of a listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A post in a listing.
#[derive(Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct PostSummary {
    /// The post's id.
    pub id: Uuid,
    /// Its board.
    pub board: String,
    /// Its title.
    pub title: String,
    /// The start of its body.
    pub excerpt: String,
    /// When it was published.
    pub created_at: DateTime<Utc>,
}

/// One page of a board.
#[derive(Debug, Serialize, Deserialize)]
pub struct PostPage {
    /// Newest first.
    pub posts: Vec<PostSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A whole post.
#[derive(Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct PostDetail {
    /// The post's id.
    pub id: Uuid,
    /// Its board.
    pub board: String,
    /// Its title; absent once deleted or erased.
    pub title: Option<String>,
    /// Its body; absent once deleted or erased.
    pub body: Option<String>,
    /// When it was published.
    pub created_at: DateTime<Utc>,
    /// The version of the post this shows (compare with a command's answer).
    pub version: i64,
    /// `published`, `deleted`, or `erased` (its content key was destroyed).
    pub state: String,
}

/// `GET /api/v1/boards/{board}/posts?limit&cursor`: newest first, keyset-paginated.
#[tracing::instrument(skip_all, fields(board))]
pub async fn list(
    State(state): State<BoardState>,
    Path(board): Path<String>,
    ApiQuery(page): ApiQuery<Page>,
    wanted: Wanted,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !BOARDS.contains(&board.as_str()) {
        return Err(ApiError::not_found(
            "board_not_found",
            format!("there is no board named {board:?}"),
        ));
    }
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit_out_of_range",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let after = match page.cursor.as_deref() {
        None => None,
        Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "cursor_invalid",
                "the cursor is not one this API gave out",
            )
        })?),
    };
    let freshness = state.freshness(wanted).await?;
    let what = format!(
        "posts:{board}:{limit}:{}",
        page.cursor.as_deref().unwrap_or("")
    );
    let load = async {
        let mut posts: Vec<PostSummary> = sqlx::query_as(
        "SELECT id, board, title, left(body, $4) AS excerpt, created_at FROM board_posts \
         WHERE board = $1 AND state = 'published' AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $5",
    )
    .bind(&board)
    .bind(after.map(|c| c.created_at))
    .bind(after.map(|c| c.id))
    .bind(EXCERPT_CHARS as i32)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::internal)?;
        let next_cursor = if posts.len() as i64 > limit {
            posts.truncate(limit as usize);
            posts.last().map(|p| {
                Cursor {
                    created_at: p.created_at,
                    id: p.id,
                }
                .encode()
            })
        } else {
            None
        };
        Ok(PostPage { posts, next_cursor })
    };
    let answer = state.cache.answer("board", &what, freshness, load).await?;
    Ok(answer.public(&headers, freshness))
}

/// `GET /api/v1/posts/{id}`.
#[tracing::instrument(skip_all)]
pub async fn show(
    State(state): State<BoardState>,
    Path(id): Path<String>,
    wanted: Wanted,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found("post_not_found", "there is no such post");
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let freshness = state.freshness(wanted).await?;
    let load = async {
        sqlx::query_as::<_, PostDetail>(
        "SELECT id, board, title, body, created_at, version, state FROM board_posts WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await
    .map_err(ApiError::internal)?
    .ok_or_else(not_found)
    };
    let answer = state
        .cache
        .answer("board", &format!("post:{id}"), freshness, load)
        .await?;
    Ok(answer.public(&headers, freshness))
}
