//! The signed-in member's own pages, from the member read model (`ward_member`): their
//! affiliations, their activity and their notifications. Documented in
//! `docs/read-models/member.md`.
//!
//! Every endpoint needs the member's session (the command API's Redis session and cookie);
//! answers are private (`Cache-Control: private, no-store`) and never go through the shared
//! query cache.
//!
//! The read model does not know who wrote what (ADR 0014): it keeps one row per item and the
//! notifications addressed to each item's author. Which items are the member's is read from
//! the write side's private member index (`ward_platform::member_index`, in the event store)
//! with the member id of the member's own session; their rows (`items`) and notifications
//! (`item_notifications`) are then fetched by keyed hash and opened with the item key, all
//! derived from the author key, which this service therefore holds.
//!
//! Nothing but opaque keys is in the clear: kinds, states and times are sealed, so every page
//! opens all of the member's rows (at most [`MAX_ROWS`] per table), then filters, sorts and
//! pages them in memory.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::{MySqlPool, PgPool};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ward_domain::author::AuthorKey;
use ward_domain::member::MemberId;
use ward_domain::sealed::{ContentKey, Sealed};
use ward_platform::http::{ApiError, ApiQuery, ErrorBody};
use ward_platform::member_index;
use ward_platform::session::{Member, SessionSource, SessionStore};

use crate::cache::Answer;
use crate::consistency::{Freshness, Waits, Wanted};
use crate::cursor::{self, Time};

/// The labels of the member projector's item and aggregate keys, and the associated-data
/// kinds it seals payloads under (`projector/src/member.rs`).
const ENTRY_SEAL: &str = "member-entry";
const ITEM_SEAL: &str = "member-item";
const NOTIFICATION_SEAL: &str = "member-notification";
const AGGREGATE_KEY: &str = "member-aggregate";
use ward_domain::author::READ_MARK_SEAL;

/// Most rows of one table (items, notifications) a page opens for one member. Items are what
/// the member wrote and claimed, which the rate limits keep far below this; the projector
/// keeps each item's newest 1 000 notifications. Past it, pages answer 503 `too_many_rows`
/// rather than open without bound.
pub const MAX_ROWS: usize = 10_000;

/// Notifications a member's pages list: the newest 1 000 of all their items'.
pub const KEEP_NOTIFICATIONS: usize = 1000;

/// Item keys asked for in one query (`WHERE item_key IN (…)`).
const KEYS_PER_QUERY: usize = 500;

/// What the member handlers use.
#[derive(Clone)]
pub struct MeState {
    /// The member read model.
    pub pool: MySqlPool,
    /// The event store, for the member's private index of their own items (read only).
    pub events: PgPool,
    /// The author key: it finds and opens the member's index entries and rows.
    pub key: AuthorKey,
    /// The sessions the command API created.
    pub sessions: SessionStore,
    /// The session cookie's name (`command_api.session_cookie`).
    pub session_cookie: String,
    /// Who may wait for a version, and how many at once.
    pub waits: Waits,
}

impl axum::extract::FromRef<MeState> for Waits {
    fn from_ref(state: &MeState) -> Self {
        state.waits.clone()
    }
}

impl SessionSource for MeState {
    fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    fn session_cookie(&self) -> &str {
        &self.session_cookie
    }
}

/// The member service's routes.
pub fn router(state: MeState) -> Router {
    Router::new()
        .route("/api/v1/me", get(whoami))
        .route("/api/v1/me/affiliations", get(affiliations))
        .route("/api/v1/me/activity", get(activity))
        .route("/api/v1/me/notifications", get(notifications))
        .with_state(state)
}

/// The signed-in member's own reference.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// The member's pseudonym: the id of their member aggregate in the event log (64 hex).
    /// It names no person; a member gives it to an operator who is to grant them a role
    /// (`ward members grant <member_ref> moderator`).
    pub member_ref: String,
}

/// `GET /api/v1/me`: the signed-in member's reference.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "whoami",
    tag = "me",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The member's reference.", body = WhoAmI),
        (status = 401, description = "No session (`unauthenticated`).", body = ErrorBody),
    ),
)]
pub async fn whoami(
    State(state): State<MeState>,
    Member(session): Member,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let me = state.me(session.member_id);
    let answer = Answer::json(&WhoAmI {
        member_ref: me.owner,
    })?;
    Ok(answer.private(&headers, Freshness::Any))
}

/// The signed-in member: their id (which finds their index), their pseudonym (which owns
/// their read mark) and the key that opens item rows.
struct Me {
    member: MemberId,
    owner: String,
    key: ContentKey,
}

impl MeState {
    fn me(&self, member: MemberId) -> Me {
        Me {
            member,
            owner: self.key.member_ref(member).0,
            key: self.key.item_key(),
        }
    }

    /// Waits for the post, review or claim a client wants to see, if it named one.
    pub(crate) async fn freshness(&self, wanted: Wanted) -> Result<Freshness, ApiError> {
        let kinds = ["affiliation", "post", "review"];
        wanted
            .wait_for("member", &kinds, |id| async move {
                let key = self
                    .key
                    .author_ref(AGGREGATE_KEY, id, MemberId(Uuid::nil()))
                    .0;
                sqlx::query_scalar("SELECT version FROM aggregate_versions WHERE aggregate_key = ?")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(ApiError::internal)
            })
            .await
    }
}

impl MeState {
    /// Which of `items` (posts, comments, reviews) `member` wrote, so pages offer editing
    /// and deleting to their author only: those named by the member's own index.
    pub async fn owned(
        &self,
        member: MemberId,
        items: &[Uuid],
    ) -> Result<std::collections::HashSet<Uuid>, ApiError> {
        if items.is_empty() {
            return Ok(std::collections::HashSet::new());
        }
        let indexed: std::collections::HashSet<Uuid> =
            self.index(member).await?.into_iter().collect();
        Ok(items
            .iter()
            .filter(|item| indexed.contains(item))
            .copied()
            .collect())
    }

    /// The ids of the items (posts, comments, reviews, claims) of `member`'s private index,
    /// each once, in index order. Only the member's own session brings the member id that
    /// finds and opens them.
    async fn index(&self, member: MemberId) -> Result<Vec<Uuid>, ApiError> {
        let mut db = self.events.acquire().await.map_err(ApiError::internal)?;
        let entries = member_index::entries(&mut db, &self.key, member, false)
            .await
            .map_err(ApiError::internal)?;
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        // A retried create may have indexed an item twice.
        Ok(entries
            .into_iter()
            .map(|entry| entry.item_id)
            .filter(|item| seen.insert(*item))
            .collect())
    }

    /// The keys of the member's items (at most [`MAX_ROWS`]), as `items.item_key`.
    async fn item_keys(&self, me: &Me) -> Result<Vec<String>, ApiError> {
        let items = self.index(me.member).await?;
        too_many(items.len())?;
        Ok(items
            .iter()
            .map(|id| {
                self.key
                    .author_ref(ENTRY_SEAL, *id, MemberId(Uuid::nil()))
                    .0
            })
            .collect())
    }

    /// `columns` of the rows of `table` whose `item_key` is one of `keys`; at most
    /// `MAX_ROWS + 1` of them (more are not read).
    async fn rows_of<T>(
        &self,
        columns: &str,
        table: &str,
        keys: &[String],
    ) -> Result<Vec<T>, ApiError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::mysql::MySqlRow> + Send + Unpin,
    {
        let mut rows = Vec::new();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let sql =
                format!("SELECT {columns} FROM {table} WHERE item_key IN ({placeholders}) LIMIT ?");
            let mut query = sqlx::query_as::<_, T>(&sql);
            for key in chunk {
                query = query.bind(key);
            }
            let left = MAX_ROWS + 1 - rows.len();
            rows.extend(
                query
                    .bind(left as u64)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(ApiError::internal)?,
            );
            if rows.len() > MAX_ROWS {
                break;
            }
        }
        Ok(rows)
    }

    /// Every item of the member, opened: at most [`MAX_ROWS`].
    async fn entries(&self, me: &Me) -> Result<Vec<Entry>, ApiError> {
        let keys = self.item_keys(me).await?;
        let rows: Vec<(String, String, String)> = self
            .rows_of("item_key, nonce, ciphertext", "items", &keys)
            .await?;
        too_many(rows.len())?;
        rows.into_iter()
            .map(|(key, nonce, ciphertext)| {
                let payload = me.open(ITEM_SEAL, &key, nonce, ciphertext)?;
                Ok(Entry { key, payload })
            })
            .collect()
    }

    /// The notifications addressed to the author of any of the member's items, opened: the
    /// newest [`KEEP_NOTIFICATIONS`], of at most [`MAX_ROWS`].
    async fn notifications(&self, me: &Me) -> Result<Vec<Opened>, ApiError> {
        let keys = self.item_keys(me).await?;
        let rows: Vec<(String, String, String, String)> = self
            .rows_of(
                "dedupe_key, item_key, nonce, ciphertext",
                "item_notifications",
                &keys,
            )
            .await?;
        too_many(rows.len())?;
        let mut opened = rows
            .into_iter()
            .map(|(key, item_key, nonce, ciphertext)| {
                // Bound to the item it is filed under and to its dedupe key.
                let field = format!("{item_key}/{key}");
                let payload = me.open(NOTIFICATION_SEAL, &field, nonce, ciphertext)?;
                Ok(Opened { key, payload })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        opened.sort_by(|a, b| b.place().cmp(&a.place()));
        opened.truncate(KEEP_NOTIFICATIONS);
        Ok(opened)
    }

    /// The member's read mark (the epoch if they never marked anything read).
    async fn read_up_to(&self, me: &Me) -> Result<DateTime<Utc>, ApiError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT nonce, ciphertext FROM notification_reads WHERE owner = ?")
                .bind(&me.owner)
                .fetch_optional(&self.pool)
                .await
                .map_err(ApiError::internal)?;
        let Some((nonce, ciphertext)) = row else {
            return Ok(DateTime::UNIX_EPOCH);
        };
        let json = self
            .key
            .read_mark_key()
            .open(
                READ_MARK_SEAL,
                Uuid::nil(),
                &me.owner,
                &Sealed { nonce, ciphertext },
            )
            .map_err(ApiError::internal)?;
        let mark: ReadMark = serde_json::from_str(&json).map_err(ApiError::internal)?;
        Ok(mark.read_up_to)
    }
}

/// 503 `too_many_rows` past [`MAX_ROWS`].
fn too_many(rows: usize) -> Result<(), ApiError> {
    if rows > MAX_ROWS {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too_many_rows",
            format!("this page lists at most {MAX_ROWS} of a member's rows"),
        ));
    }
    Ok(())
}

/// A sealed read mark.
#[derive(Debug, Deserialize)]
struct ReadMark {
    read_up_to: DateTime<Utc>,
}

impl Me {
    /// Opens a payload sealed under `kind` and bound to the row's `row_key`.
    fn open<T: DeserializeOwned>(
        &self,
        kind: &str,
        row_key: &str,
        nonce: String,
        ciphertext: String,
    ) -> Result<T, ApiError> {
        let json = self
            .key
            .open(kind, Uuid::nil(), row_key, &Sealed { nonce, ciphertext })
            .map_err(ApiError::internal)?;
        serde_json::from_str(&json).map_err(ApiError::internal)
    }
}

/// An item's sealed payload, as the member projector writes it (its comment fields, `handle`
/// and `parent`, are for the projector).
#[derive(Debug, Deserialize)]
struct EntryPayload {
    kind: String,
    state: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    item_id: Uuid,
    #[serde(default)]
    post_id: Option<Uuid>,
    #[serde(default)]
    board: Option<String>,
    #[serde(default)]
    hospital_id: Option<Uuid>,
    #[serde(default)]
    job_category: Option<String>,
    #[serde(default)]
    tenure: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// A notification's sealed payload, as the member projector writes it.
#[derive(Debug, Deserialize)]
struct NotificationPayload {
    kind: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    post_id: Option<Uuid>,
    #[serde(default)]
    comment_id: Option<Uuid>,
    #[serde(default)]
    claim_id: Option<Uuid>,
    #[serde(default)]
    hospital_id: Option<Uuid>,
    #[serde(default)]
    reason: Option<String>,
}

/// An item's row, opened.
struct Entry {
    key: String,
    payload: EntryPayload,
}

/// An opened row's place in a page: its time (to the minute), then its keyed hash.
trait Placed {
    fn place(&self) -> (DateTime<Utc>, &str);
}

impl Placed for Entry {
    fn place(&self) -> (DateTime<Utc>, &str) {
        (self.payload.created_at, &self.key)
    }
}

/// One page of `rows`, newest first and, within a minute, by keyed hash (descending): an
/// order a rebuild reproduces. `after` is the cursor: the place of the previous page's last
/// row. At most `limit` rows, and the cursor of the next page if there is one.
fn page_of<T: Placed>(
    mut rows: Vec<T>,
    after: Option<(Time, String)>,
    limit: i64,
) -> (Vec<T>, Option<String>) {
    if let Some((time, last)) = after {
        let time = DateTime::<Utc>::from(time);
        rows.retain(|row| row.place() < (time, last.as_str()));
    }
    rows.sort_by(|a, b| b.place().cmp(&a.place()));
    rows.truncate(usize::try_from(limit + 1).unwrap_or(usize::MAX));
    cursor::page(rows, limit, |row| {
        let (time, key) = row.place();
        (time, key.to_owned())
    })
}

/// One of the member's affiliation claims.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Affiliation {
    /// The claim's id (for `Ward-Min-Version: affiliation:<id>:<version>`).
    pub id: Uuid,
    /// The hospital claimed.
    pub hospital_id: Uuid,
    /// The job category claimed.
    pub job_category: String,
    /// `current` or `former`.
    pub tenure: String,
    /// `open`, `verified`, `rejected`, `expired` or `revoked`.
    pub state: String,
    /// How a verified claim was verified (`work_email`, `moderator`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Why a rejected claim was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was (last) submitted, rounded down to the minute.
    #[schema(value_type = String, format = DateTime)]
    pub submitted_at: DateTime<Utc>,
    /// When it was last decided (verified, rejected, expired, revoked), rounded down to the
    /// minute; absent while open.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided_at: Option<DateTime<Utc>>,
}

/// The member's affiliation claims.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Affiliations {
    /// Newest submission first.
    pub affiliations: Vec<Affiliation>,
}

/// `GET /api/v1/me/affiliations`: the member's affiliation claims and where they stand.
#[utoipa::path(
    get,
    path = "/api/v1/me/affiliations",
    operation_id = "my_affiliations",
    tag = "me",
    params(MinVersionHeader),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The member's claims.", body = Affiliations),
        (status = 400, description = "A malformed `Ward-Min-Version` (`min_version_invalid`) or one naming something else than an affiliation, post or review (`min_version_kind_unknown`).", body = ErrorBody),
        (status = 401, description = "No session (`unauthenticated`).", body = ErrorBody),
        (status = 503, description = "The member has more rows than a page opens (`too_many_rows`), or a service Ward depends on cannot be reached (`service_unavailable`, with `Retry-After`).", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn affiliations(
    State(state): State<MeState>,
    Member(session): Member,
    wanted: Wanted,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let freshness = state.freshness(wanted).await?;
    let me = state.me(session.member_id);
    let mut claims: Vec<Entry> = state
        .entries(&me)
        .await?
        .into_iter()
        .filter(|entry| entry.payload.kind == "claim")
        .collect();
    claims.sort_by(|a, b| b.place().cmp(&a.place()));
    let mut affiliations = Vec::with_capacity(claims.len());
    for Entry { payload, .. } in claims {
        let (Some(hospital_id), Some(job_category), Some(tenure)) =
            (payload.hospital_id, payload.job_category, payload.tenure)
        else {
            return Err(ApiError::internal("a claim entry lacks its hospital"));
        };
        affiliations.push(Affiliation {
            id: payload.item_id,
            hospital_id,
            job_category,
            tenure,
            decided_at: (payload.state != "open").then_some(payload.updated_at),
            state: payload.state,
            method: payload.method,
            reason: payload.reason,
            submitted_at: payload.created_at,
        });
    }
    Ok(Answer::json(&Affiliations { affiliations })?.private(&headers, freshness))
}

/// Query parameters of `GET /api/v1/me/activity`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Only items of this kind: `post`, `comment` or `review`.
    pub kind: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One item the member wrote.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActivityItem {
    /// `post`, `comment` or `review`.
    pub kind: String,
    /// The item's id.
    pub id: Uuid,
    /// A comment's post.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_id: Option<Uuid>,
    /// A post's board.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board: Option<String>,
    /// A review's hospital.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hospital_id: Option<Uuid>,
    /// `published` or `deleted`.
    pub state: String,
    /// When it was written, rounded down to the minute.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

/// One page of the member's activity.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActivityPage {
    /// Newest first.
    pub items: Vec<ActivityItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/me/activity?kind&limit&cursor`: what the member wrote, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/me/activity",
    operation_id = "my_activity",
    tag = "me",
    params(ActivityQuery, MinVersionHeader),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "One page of the member's posts, comments and reviews.", body = ActivityPage),
        (status = 400, description = "An unknown query parameter (`invalid_query`), a cursor this API did not give out (`cursor_invalid`), or a bad `Ward-Min-Version` (`min_version_invalid`, `min_version_kind_unknown`).", body = ErrorBody),
        (status = 401, description = "No session (`unauthenticated`).", body = ErrorBody),
        (status = 422, description = "An unknown kind (`kind_unknown`) or a limit out of 1..=100 (`limit_out_of_range`).", body = ErrorBody),
        (status = 503, description = "The member has more rows than a page opens (`too_many_rows`), or a service Ward depends on cannot be reached (`service_unavailable`, with `Retry-After`).", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn activity(
    State(state): State<MeState>,
    Member(session): Member,
    ApiQuery(query): ApiQuery<ActivityQuery>,
    wanted: Wanted,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let kinds: [&str; 3] = match query.kind.as_deref() {
        None => ["post", "comment", "review"],
        Some(kind @ ("post" | "comment" | "review")) => [kind; 3],
        Some(_) => {
            return Err(ApiError::invalid(
                "kind_unknown",
                "kind must be post, comment or review",
            ))
        }
    };
    let limit = cursor::limit(query.limit)?;
    // Within a minute, by the entry's keyed hash: an order that a rebuild reproduces.
    let after_key: Option<(Time, String)> = cursor::decode(query.cursor.as_deref())?;
    let freshness = state.freshness(wanted).await?;
    let me = state.me(session.member_id);
    let rows: Vec<Entry> = state
        .entries(&me)
        .await?
        .into_iter()
        .filter(|entry| kinds.contains(&entry.payload.kind.as_str()))
        .collect();
    let (rows, next_cursor) = page_of(rows, after_key, limit);
    let items = rows
        .into_iter()
        .map(|Entry { payload, .. }| ActivityItem {
            kind: payload.kind,
            id: payload.item_id,
            post_id: payload.post_id,
            board: payload.board,
            hospital_id: payload.hospital_id,
            state: payload.state,
            created_at: payload.created_at,
        })
        .collect();
    let page = ActivityPage { items, next_cursor };
    Ok(Answer::json(&page)?.private(&headers, freshness))
}

/// Query parameters of `GET /api/v1/me/notifications`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationsQuery {
    /// `true`: only notifications not read yet.
    pub unread: Option<bool>,
    /// Notifications per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Something that happened to the member's items.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    /// `comment` (on the member's post), `answer` (to the member's question), `reply` (to
    /// the member's comment), `accepted` (the member's comment is the accepted answer),
    /// `claim_verified` or `claim_rejected`.
    pub kind: String,
    /// The post concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_id: Option<Uuid>,
    /// The new comment or reply, or the accepted answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<Uuid>,
    /// The claim decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_id: Option<Uuid>,
    /// The claim's hospital.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hospital_id: Option<Uuid>,
    /// Why a claim was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it happened, rounded down to the minute.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Whether it is at or before the member's read mark.
    pub read: bool,
}

/// One page of the member's notifications.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationPage {
    /// Newest first.
    pub notifications: Vec<Notification>,
    /// How many notifications are not read, on every page.
    pub unread_count: i64,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A notification, opened.
struct Opened {
    key: String,
    payload: NotificationPayload,
}

impl Placed for Opened {
    fn place(&self) -> (DateTime<Utc>, &str) {
        (self.payload.created_at, &self.key)
    }
}

/// `GET /api/v1/me/notifications?unread&limit&cursor`: newest first, with the unread count.
/// Marking them read is a command: `POST /api/v1/me/notifications/read`.
#[utoipa::path(
    get,
    path = "/api/v1/me/notifications",
    operation_id = "my_notifications",
    tag = "me",
    params(NotificationsQuery, MinVersionHeader),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "One page of the member's notifications.", body = NotificationPage),
        (status = 400, description = "An unknown or ill-typed query parameter (`invalid_query`), a cursor this API did not give out (`cursor_invalid`), or a bad `Ward-Min-Version` (`min_version_invalid`, `min_version_kind_unknown`).", body = ErrorBody),
        (status = 401, description = "No session (`unauthenticated`).", body = ErrorBody),
        (status = 422, description = "A limit out of 1..=100 (`limit_out_of_range`).", body = ErrorBody),
        (status = 503, description = "The member has more rows than a page opens (`too_many_rows`), or a service Ward depends on cannot be reached (`service_unavailable`, with `Retry-After`).", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn notifications(
    State(state): State<MeState>,
    Member(session): Member,
    ApiQuery(query): ApiQuery<NotificationsQuery>,
    wanted: Wanted,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let limit = cursor::limit(query.limit)?;
    // Within a minute, by the keyed dedupe hash: an order that a rebuild reproduces.
    let after_key: Option<(Time, String)> = cursor::decode(query.cursor.as_deref())?;
    let freshness = state.freshness(wanted).await?;
    let me = state.me(session.member_id);
    let read_up_to = state.read_up_to(&me).await?;
    let mut opened = state.notifications(&me).await?;
    let unread = |n: &Opened| n.payload.created_at > read_up_to;
    let unread_count =
        i64::try_from(opened.iter().filter(|n| unread(n)).count()).map_err(ApiError::internal)?;
    if query.unread.unwrap_or(false) {
        opened.retain(unread);
    }
    let (opened, next_cursor) = page_of(opened, after_key, limit);
    let notifications = opened
        .into_iter()
        .map(|Opened { payload, .. }| Notification {
            kind: payload.kind,
            post_id: payload.post_id,
            comment_id: payload.comment_id,
            claim_id: payload.claim_id,
            hospital_id: payload.hospital_id,
            reason: payload.reason,
            read: payload.created_at <= read_up_to,
            created_at: payload.created_at,
        })
        .collect();
    let page = NotificationPage {
        notifications,
        unread_count,
        next_cursor,
    };
    Ok(Answer::json(&page)?.private(&headers, freshness))
}

/// The `Ward-Min-Version` header, as the member service reads it.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct MinVersionHeader {
    /// Wait (up to 2 s) until the read model reflects this version of a claim, post or
    /// review: `affiliation:<claim id>:<version>`, `post:<post id>:<version>` or
    /// `review:<review id>:<version>`, the version a command answered. The answer says in
    /// `Ward-Consistency` whether it did.
    #[param(
        rename = "Ward-Min-Version",
        value_type = String,
        required = false,
        pattern = r"^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[1-9][0-9]{0,17}$"
    )]
    pub ward_min_version: Option<String>,
}
