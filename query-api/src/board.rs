//! The board service: boards, a board's posts (new, hot, top), a post with its comments and
//! replies, search, and the public moderation log, read from the board read model.
//!
//! Badges are shown as they were decided when each post was written (k-anonymity per
//! hospital and job category, from the counts then: `ward_command_api::labels`); the read
//! model holds nothing more, and nothing here counts members.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;
use ward_platform::http::{ApiError, ApiQuery, ErrorBody};

use crate::cache::{self, Cache};
use crate::consistency::{Freshness, Waits, Wanted};
use crate::cursor::{self, Time};
use crate::sql::like_escaped;

/// Boards that exist (the same list as the domain's `Board`).
const BOARDS: [&str; 2] = ["free", "qna"];
/// Characters of the body shown in listings.
const EXCERPT_CHARS: i32 = 200;
/// Most comments a post's page carries.
const MAX_COMMENTS: i64 = 1000;
/// Shortest and longest search text, in characters.
const SEARCH_CHARS: (usize, usize) = (2, 100);
/// The service's name in the cache.
const SERVICE: &str = "board";

/// What the board handlers use.
#[derive(Clone)]
pub struct BoardState {
    /// The board read model.
    pub pool: PgPool,
    /// The query cache.
    pub cache: Cache,
    /// Who may wait for a version, and how many at once.
    pub waits: Waits,
}

impl axum::extract::FromRef<BoardState> for Waits {
    fn from_ref(state: &BoardState) -> Self {
        state.waits.clone()
    }
}

/// The board service's routes.
pub fn router(state: BoardState) -> Router {
    Router::new()
        .route("/api/v1/boards", get(boards))
        .route("/api/v1/boards/{board}/posts", get(list))
        .route("/api/v1/posts", get(search))
        .route("/api/v1/posts/{id}", get(show))
        .route("/api/v1/moderation/log", get(moderation_log))
        .with_state(state)
}

/// What a post shows about its author.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Badge {
    /// The author's job category, e.g. `nurse`.
    pub job_category: Option<String>,
    /// The author's hospital, if at least K members of the author's job category were
    /// verified there when the post was written.
    pub hospital: Option<HospitalName>,
    /// Region and kind instead, if the hospital was below K then but the hospitals of its
    /// region and kind that were below K too had K members of that job category together.
    pub region: Option<Region>,
}

/// A hospital as a badge names it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct HospitalName {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
}

/// A region and kind of hospital, e.g. 서울 · general.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Region {
    /// 시도, e.g. `서울`.
    pub sido: String,
    /// Kind of hospital, e.g. `general`.
    pub kind: String,
}

/// A board.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BoardInfo {
    /// Its name in URLs: `free` or `qna`.
    pub board: String,
    /// Published posts on it.
    pub post_count: i64,
}

/// The boards.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Boards {
    /// Every board.
    pub boards: Vec<BoardInfo>,
}

/// A post in a listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PostSummary {
    /// The post's id.
    pub id: Uuid,
    /// Its board.
    pub board: String,
    /// Its title.
    pub title: String,
    /// The start of its body.
    pub excerpt: String,
    /// What it shows about its author, if the author chose a badge.
    pub badge: Option<Badge>,
    /// Likes.
    pub like_count: i32,
    /// Comments and replies, not counting deleted ones.
    pub comment_count: i32,
    /// Whether a `qna` question has an accepted answer.
    pub answered: bool,
    /// When it was published, to the minute.
    pub created_at: DateTime<Utc>,
}

/// One page of posts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PostPage {
    /// In the order asked for.
    pub posts: Vec<PostSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A whole post with its comments.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PostDetail {
    /// The post's id.
    pub id: Uuid,
    /// Its board.
    pub board: String,
    /// `published`, `hidden` (by moderation), `deleted`, or `erased` (its content key was
    /// destroyed); the texts, badge and comments are absent unless `published`.
    pub state: String,
    /// Its title.
    pub title: Option<String>,
    /// Its body.
    pub body: Option<String>,
    /// What it shows about its author.
    pub badge: Option<Badge>,
    /// Likes.
    pub like_count: i32,
    /// Comments and replies, not counting deleted ones.
    pub comment_count: i32,
    /// The accepted answer of a `qna` question.
    pub accepted_comment_id: Option<Uuid>,
    /// When it was published, to the minute.
    pub created_at: DateTime<Utc>,
    /// The version of the post this shows (compare with a command's answer).
    pub version: i64,
    /// Top-level comments, oldest first, each with its replies.
    pub comments: Vec<CommentView>,
}

/// A comment or reply.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CommentView {
    /// Its id.
    pub id: Uuid,
    /// How its author appears in this thread.
    pub handle: Handle,
    /// `published`, `hidden`, `deleted` or `erased`; the body is absent unless `published`.
    pub state: String,
    /// Its text.
    pub body: Option<String>,
    /// Whether it is the accepted answer.
    pub accepted: bool,
    /// When it was written, to the minute.
    pub created_at: DateTime<Utc>,
    /// Replies, oldest first (top-level comments only).
    #[schema(no_recursion)]
    pub replies: Vec<CommentView>,
}

/// How a comment's author appears in its thread: never who they are, only whether they wrote
/// the post and, if not, which of the thread's other commenters they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Handle {
    /// `"original_poster"`: the post's author (글쓴이).
    OriginalPoster,
    /// `{"anonymous": n}`: the thread's n-th other commenter (익명n), from 1.
    Anonymous(i32),
}

/// An entry of the public moderation log. It never names a moderator or a reporter.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct LogEntry {
    /// `post`, `comment` or `review`.
    pub target_kind: String,
    /// The item's id.
    pub target_id: Uuid,
    /// `hidden` or `restored`.
    pub action: String,
    /// For `hidden`: `automatic` (enough reports) or `moderator`.
    pub cause: Option<String>,
    /// For `hidden`: the report reason.
    pub reason: Option<String>,
    /// The moderator's public note.
    pub note: Option<String>,
    /// When, to the minute.
    pub occurred_at: DateTime<Utc>,
    #[serde(skip)]
    #[schema(ignore)]
    seq: i64,
}

/// One page of the moderation log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    /// Newest first.
    pub entries: Vec<LogEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query parameters of a board listing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub sort: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Query parameters of a search.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    pub q: Option<String>,
    pub board: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Query parameters of plain pages.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct PostRow {
    id: Uuid,
    board: String,
    state: String,
    hidden: bool,
    title: Option<String>,
    body: Option<String>,
    badge_job_category: Option<String>,
    badge_hospital_id: Option<Uuid>,
    badge_hospital_name: Option<String>,
    badge_sido: Option<String>,
    badge_kind: Option<String>,
    like_count: i32,
    comment_count: i32,
    accepted_comment: Option<Uuid>,
    created_at: DateTime<Utc>,
    version: i64,
    hot: f64,
}

/// The columns of `PostRow`; `body` is cut to an excerpt in listings.
const POST_COLUMNS: &str = "p.id, p.board, p.state, p.title, p.badge_job_category, \
    p.badge_hospital_id, (SELECT h.name FROM board_hospitals h WHERE h.id = p.badge_hospital_id) \
    AS badge_hospital_name, p.badge_sido, p.badge_kind, p.like_count, p.comment_count, p.accepted_comment, p.created_at, \
    p.version, p.hot, EXISTS (SELECT 1 FROM board_moderation m WHERE m.target_kind = 'post' \
    AND m.target_id = p.id AND m.hidden) AS hidden";
/// Listed posts: published and not hidden.
const LISTED: &str = "p.state = 'published' AND NOT EXISTS (SELECT 1 FROM board_moderation m \
    WHERE m.target_kind = 'post' AND m.target_id = p.id AND m.hidden)";

impl BoardState {
    /// Waits for the post a client wants to see, if it named one.
    async fn freshness(&self, wanted: Wanted) -> Result<Freshness, ApiError> {
        wanted
            .wait_for("board", &["post"], |id| async move {
                sqlx::query_scalar("SELECT version FROM board_posts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(ApiError::internal)
            })
            .await
    }
}

impl PostRow {
    /// What the post shows about its author, as decided when it was written and stored so:
    /// the job category, and the hospital's name or its region and kind if the badge shows
    /// them. Nothing is counted here (`docs/read-models/board.md`).
    fn badge(&self) -> Option<Badge> {
        let job_category = self.badge_job_category.clone()?;
        let hospital = self
            .badge_hospital_id
            .zip(self.badge_hospital_name.clone())
            .map(|(id, name)| HospitalName { id, name });
        let region = self
            .badge_sido
            .clone()
            .zip(self.badge_kind.clone())
            .map(|(sido, kind)| Region { sido, kind });
        Some(Badge {
            job_category: Some(job_category),
            hospital,
            region,
        })
    }

    /// The row as listed.
    fn summary(self) -> PostSummary {
        PostSummary {
            badge: self.badge(),
            id: self.id,
            board: self.board,
            title: self.title.unwrap_or_default(),
            excerpt: self.body.unwrap_or_default(),
            like_count: self.like_count,
            comment_count: self.comment_count,
            answered: self.accepted_comment.is_some(),
            created_at: self.created_at,
        }
    }
}

fn board_exists(board: &str) -> Result<(), ApiError> {
    if BOARDS.contains(&board) {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "board_not_found",
            format!("there is no board named {board:?}"),
        ))
    }
}

/// `GET /api/v1/boards`.
#[utoipa::path(get, path = "/api/v1/boards", tag = "boards",
    responses((status = 200, description = "The boards.", body = Boards)))]
#[tracing::instrument(skip_all)]
pub async fn boards(
    State(state): State<BoardState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let load = async {
        let counts: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT p.board, count(*) FROM board_posts p WHERE {LISTED} GROUP BY p.board"
        ))
        .fetch_all(&state.pool)
        .await
        .map_err(ApiError::internal)?;
        let boards = BOARDS
            .iter()
            .map(|board| BoardInfo {
                board: (*board).to_owned(),
                post_count: counts
                    .iter()
                    .find(|(b, _)| b == board)
                    .map_or(0, |(_, n)| *n),
            })
            .collect();
        Ok(Boards { boards })
    };
    let answer = state
        .cache
        .answer(SERVICE, "boards", Freshness::Any, load)
        .await?;
    Ok(answer.public(&headers, Freshness::Any))
}

/// `GET /api/v1/boards/{board}/posts?sort&limit&cursor`: `new` (newest first), `hot` (a
/// score of likes and comments that decays with age, `docs/read-models/board.md`) or `top`
/// (most liked); keyset-paginated.
#[utoipa::path(get, path = "/api/v1/boards/{board}/posts", tag = "boards",
    params(
        ("board" = String, Path, description = "`free` or `qna`."),
        ("sort" = Option<String>, Query, description = "`new` (default), `hot` or `top`."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
        ("Ward-Min-Version" = Option<String>, Header, pattern = r"^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[1-9][0-9]{0,17}$", description = "`post:<id>:<version>`: wait until the read model shows it (signed-in members only, 2 s at most; others are told at once)."),
    ),
    responses(
        (status = 200, description = "A page of posts.", body = PostPage),
        (status = 304, description = "Not modified since the `ETag` sent in `If-None-Match`."),
        (status = 400, description = "A malformed cursor (`cursor_invalid`), parameter (`invalid_query`) or `Ward-Min-Version` (`min_version_invalid`).", body = ErrorBody),
        (status = 404, description = "No such board (`board_not_found`).", body = ErrorBody),
        (status = 422, description = "An unknown sort (`sort_unknown`) or a limit out of range (`limit_out_of_range`).", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(board))]
pub async fn list(
    State(state): State<BoardState>,
    Path(board): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
    wanted: Wanted,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    board_exists(&board)?;
    let limit = cursor::limit(params.limit)?;
    let sort = params.sort.as_deref().unwrap_or("new");
    let after = params.cursor.as_deref();
    // Each order has its own keyset, so a cursor of one order is refused by another.
    let (order, keyset, bind): (&str, &str, Keyset) = match sort {
        "new" => (
            "p.created_at DESC, p.id DESC",
            "(p.created_at, p.id) < ($3, $4)",
            Keyset::New(cursor::decode(after)?),
        ),
        "hot" => (
            "p.hot DESC, p.id DESC",
            "(p.hot, p.id) < ($3, $4)",
            Keyset::Hot(cursor::decode(after)?),
        ),
        "top" => (
            "p.like_count DESC, p.created_at DESC, p.id DESC",
            "(p.like_count, p.created_at, p.id) < ($3, $4, $5)",
            Keyset::Top(cursor::decode(after)?),
        ),
        other => {
            return Err(ApiError::invalid(
                "sort_unknown",
                format!("sort must be new, hot or top, not {other:?}"),
            ))
        }
    };
    let freshness = state.freshness(wanted).await?;
    let what = cache::key("posts", &(&board, sort, limit, after))?;
    let load = async {
        let keyset = if bind.is_start() { "TRUE" } else { keyset };
        let sql = format!(
            "SELECT {POST_COLUMNS}, left(p.body, $2) AS body FROM board_posts p \
             WHERE p.board = $1 AND {LISTED} AND {keyset} ORDER BY {order} LIMIT $6"
        );
        let query = sqlx::query_as::<_, PostRow>(&sql)
            .bind(&board)
            .bind(EXCERPT_CHARS);
        let rows = bind
            .bind(query)
            .bind(limit + 1)
            .fetch_all(&state.pool)
            .await
            .map_err(ApiError::internal)?;
        let (rows, next_cursor) = cursor::page(rows, limit, |r| bind.key_of(r));
        let posts = rows.into_iter().map(PostRow::summary).collect();
        Ok(PostPage { posts, next_cursor })
    };
    let answer = state.cache.answer(SERVICE, &what, freshness, load).await?;
    Ok(answer.public(&headers, freshness))
}

/// Where a page of a listing starts, per order.
enum Keyset {
    New(Option<(Time, Uuid)>),
    Hot(Option<(f64, Uuid)>),
    Top(Option<(i32, Time, Uuid)>),
}

type PostQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, PostRow, sqlx::postgres::PgArguments>;

impl Keyset {
    fn is_start(&self) -> bool {
        matches!(
            self,
            Keyset::New(None) | Keyset::Hot(None) | Keyset::Top(None)
        )
    }

    /// Binds `$3`, `$4`, `$5` (unused ones as NULL).
    fn bind<'q>(&self, query: PostQuery<'q>) -> PostQuery<'q> {
        match *self {
            Keyset::New(key) => query
                .bind(key.map(|k| k.0))
                .bind(key.map(|k| k.1))
                .bind(None::<i32>),
            Keyset::Hot(key) => query
                .bind(key.map(|k| k.0))
                .bind(key.map(|k| k.1))
                .bind(None::<i32>),
            Keyset::Top(key) => query
                .bind(key.map(|k| k.0))
                .bind(key.map(|k| k.1))
                .bind(key.map(|k| k.2)),
        }
    }

    /// The cursor value of `row` in this order.
    fn key_of(&self, row: &PostRow) -> serde_json::Value {
        match self {
            Keyset::New(_) => serde_json::json!([row.created_at, row.id]),
            Keyset::Hot(_) => serde_json::json!([row.hot, row.id]),
            Keyset::Top(_) => serde_json::json!([row.like_count, row.created_at, row.id]),
        }
    }
}

/// `GET /api/v1/posts?q&board&limit&cursor`: published posts whose title or body contains
/// `q` (2 to 100 characters, any script: Korean substrings of two syllables match), newest
/// first.
#[utoipa::path(get, path = "/api/v1/posts", tag = "boards",
    params(
        ("q" = String, Query, description = "2 to 100 characters to find in titles and bodies."),
        ("board" = Option<String>, Query, description = "Only this board."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "Matching posts, newest first.", body = PostPage),
        (status = 304, description = "Not modified."),
        (status = 400, description = "A malformed cursor (`cursor_invalid`) or parameter (`invalid_query`).", body = ErrorBody),
        (status = 404, description = "No such board (`board_not_found`).", body = ErrorBody),
        (status = 422, description = "`q` missing, shorter than 2 or longer than 100 characters (`search_text_length`), or holding a NUL character (`search_text_invalid`), or a limit out of range (`limit_out_of_range`).", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
pub async fn search(
    State(state): State<BoardState>,
    ApiQuery(params): ApiQuery<SearchParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let q = params.q.as_deref().map(str::trim).unwrap_or_default();
    let chars = q.chars().count();
    if chars < SEARCH_CHARS.0 || chars > SEARCH_CHARS.1 {
        return Err(ApiError::invalid(
            "search_text_length",
            format!(
                "q must be {} to {} characters long",
                SEARCH_CHARS.0, SEARCH_CHARS.1
            ),
        ));
    }
    // No title or body holds one, and PostgreSQL's text cannot: it would fail the query.
    if q.contains('\0') {
        return Err(ApiError::invalid(
            "search_text_invalid",
            "q must not contain NUL characters",
        ));
    }
    if let Some(board) = &params.board {
        board_exists(board)?;
    }
    let limit = cursor::limit(params.limit)?;
    let after: Option<(Time, Uuid)> = cursor::decode(params.cursor.as_deref())?;
    let what = cache::key("search", &(&params.board, limit, &params.cursor, q))?;
    let load = async {
        let sql = format!(
            "SELECT {POST_COLUMNS}, left(p.body, $2) AS body FROM board_posts p \
             WHERE {LISTED} AND ($3::text IS NULL OR p.board = $3) \
             AND (coalesce(p.title, '') || ' ' || coalesce(p.body, '')) ILIKE '%' || $1 || '%' ESCAPE '!' \
             AND ($4::timestamptz IS NULL OR (p.created_at, p.id) < ($4, $5)) \
             ORDER BY p.created_at DESC, p.id DESC LIMIT $6"
        );
        let rows: Vec<PostRow> = sqlx::query_as(&sql)
            .bind(like_escaped(q))
            .bind(EXCERPT_CHARS)
            .bind(params.board.as_deref())
            .bind(after.map(|a| a.0))
            .bind(after.map(|a| a.1))
            .bind(limit + 1)
            .fetch_all(&state.pool)
            .await
            .map_err(ApiError::internal)?;
        let (rows, next_cursor) = cursor::page(rows, limit, |r| (r.created_at, r.id));
        let posts = rows.into_iter().map(PostRow::summary).collect();
        Ok(PostPage { posts, next_cursor })
    };
    let answer = state
        .cache
        .answer(SERVICE, &what, Freshness::Any, load)
        .await?;
    Ok(answer.public(&headers, Freshness::Any))
}

#[derive(Debug, sqlx::FromRow)]
struct CommentRow {
    id: Uuid,
    parent_id: Option<Uuid>,
    handle: i32,
    state: String,
    hidden: bool,
    body: Option<String>,
    created_at: DateTime<Utc>,
}

/// `GET /api/v1/posts/{id}`: the post with its comments and replies.
#[utoipa::path(get, path = "/api/v1/posts/{id}", tag = "boards",
    params(
        ("id" = Uuid, Path, description = "The post."),
        ("Ward-Min-Version" = Option<String>, Header, pattern = r"^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[1-9][0-9]{0,17}$", description = "`post:<id>:<version>`: wait until the read model shows it (signed-in members only, 2 s at most; others are told at once)."),
    ),
    responses(
        (status = 200, description = "The post.", body = PostDetail),
        (status = 304, description = "Not modified."),
        (status = 400, description = "A malformed `Ward-Min-Version` (`min_version_invalid`).", body = ErrorBody),
        (status = 404, description = "No such post (`post_not_found`).", body = ErrorBody),
    ))]
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
        let row: PostRow = sqlx::query_as(&format!(
            "SELECT {POST_COLUMNS}, p.body FROM board_posts p WHERE p.id = $1"
        ))
        .bind(id)
        .fetch_optional(&state.pool)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)?;
        let state_name = if row.hidden && row.state == "published" {
            "hidden".to_owned()
        } else {
            row.state.clone()
        };
        let visible = state_name == "published";
        let badge = row.badge().filter(|_| visible);
        let comments = if visible {
            comments(&state.pool, id, row.accepted_comment).await?
        } else {
            Vec::new()
        };
        Ok(PostDetail {
            id: row.id,
            board: row.board,
            state: state_name,
            title: row.title.filter(|_| visible),
            body: row.body.filter(|_| visible),
            badge,
            like_count: row.like_count,
            comment_count: row.comment_count,
            accepted_comment_id: row.accepted_comment,
            created_at: row.created_at,
            version: row.version,
            comments,
        })
    };
    let answer = state
        .cache
        .answer(SERVICE, &format!("post:{id}"), freshness, load)
        .await?;
    Ok(answer.public(&headers, freshness))
}

/// A post's comments as a tree one level deep.
async fn comments(
    pool: &PgPool,
    post: Uuid,
    accepted: Option<Uuid>,
) -> Result<Vec<CommentView>, ApiError> {
    let rows: Vec<CommentRow> = sqlx::query_as(
        "SELECT c.id, c.parent_id, c.handle, c.state, c.body, c.created_at, \
         EXISTS (SELECT 1 FROM board_moderation m WHERE m.target_kind = 'comment' \
         AND m.target_id = c.id AND m.hidden) AS hidden \
         FROM board_comments c WHERE c.post_id = $1 ORDER BY c.seq LIMIT $2",
    )
    .bind(post)
    .bind(MAX_COMMENTS)
    .fetch_all(pool)
    .await
    .map_err(ApiError::internal)?;
    let view = |row: CommentRow| {
        let state = if row.hidden && row.state == "published" {
            "hidden".to_owned()
        } else {
            row.state
        };
        let handle = match row.handle {
            0 => Handle::OriginalPoster,
            n => Handle::Anonymous(n),
        };
        CommentView {
            id: row.id,
            handle,
            body: row.body.filter(|_| state == "published"),
            state,
            accepted: accepted == Some(row.id),
            created_at: row.created_at,
            replies: Vec::new(),
        }
    };
    let (top, replies): (Vec<CommentRow>, Vec<CommentRow>) =
        rows.into_iter().partition(|r| r.parent_id.is_none());
    let mut tree: Vec<CommentView> = top.into_iter().map(view).collect();
    for reply in replies {
        let parent = reply.parent_id;
        if let Some(parent) = tree.iter_mut().find(|c| Some(c.id) == parent) {
            parent.replies.push(view(reply));
        }
    }
    Ok(tree)
}

/// `GET /api/v1/moderation/log?limit&cursor`: what moderation hid and restored, newest
/// first. Names no moderator and no reporter.
#[utoipa::path(get, path = "/api/v1/moderation/log", tag = "moderation",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of the log.", body = LogPage),
        (status = 304, description = "Not modified."),
        (status = 400, description = "A malformed cursor (`cursor_invalid`) or parameter (`invalid_query`).", body = ErrorBody),
        (status = 422, description = "A limit out of range (`limit_out_of_range`).", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
pub async fn moderation_log(
    State(state): State<BoardState>,
    ApiQuery(params): ApiQuery<PageParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let limit = cursor::limit(params.limit)?;
    let after: Option<(Time, Uuid, i64)> = cursor::decode(params.cursor.as_deref())?;
    let what = cache::key("log", &(limit, &params.cursor))?;
    let load = async {
        let entries: Vec<LogEntry> = sqlx::query_as(
            "SELECT seq, target_kind, target_id, action, cause, reason, note, occurred_at \
             FROM board_moderation_log \
             WHERE ($1::timestamptz IS NULL OR (occurred_at, target_id, seq) < ($1, $2, $3)) \
             ORDER BY occurred_at DESC, target_id DESC, seq DESC LIMIT $4",
        )
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(after.map(|a| a.2))
        .bind(limit + 1)
        .fetch_all(&state.pool)
        .await
        .map_err(ApiError::internal)?;
        let (entries, next_cursor) =
            cursor::page(entries, limit, |e| (e.occurred_at, e.target_id, e.seq));
        Ok(LogPage {
            entries,
            next_cursor,
        })
    };
    let answer = state
        .cache
        .answer(SERVICE, &what, Freshness::Any, load)
        .await?;
    Ok(answer.public(&headers, Freshness::Any))
}
