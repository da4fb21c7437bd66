//! `Idempotency-Key` on create requests: the same key with the same body answers what the
//! first request answered and writes no second event; the same key with another body is
//! refused (422). Keys are kept 24 hours.
//!
//! A claim fixes the id of the resource to create. If the process dies after the command
//! committed but before the answer was stored, the retry runs the command again with that id,
//! finds the resource already there, and answers as the first request would have.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cqrs_es::{Aggregate, AggregateError, EventStore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;
use ward_domain::author::AuthorKey;
use ward_domain::member::MemberId;
use ward_domain::rule::BrokenRule;
use ward_platform::http::ApiError;

use crate::execute::api_error;

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Longest accepted key.
const MAX_KEY_LEN: usize = 255;
/// A claim without an answer for this long is taken to be a crashed attempt.
const ABANDONED_AFTER_SECS: i64 = 30;

/// The answer to a create request, as stored for replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: serde_json::Value,
    /// `Location` header, if any.
    pub location: Option<String>,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = (status, Json(self.body)).into_response();
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}

/// What to do with a create request.
#[derive(Debug)]
pub enum Claim {
    /// No key was sent: create with a fresh id.
    None,
    /// First (or retried after a crash) attempt under this key: create with `resource_id`.
    New {
        /// The claim's row id.
        id: String,
        /// The id the resource must get.
        resource_id: Uuid,
    },
    /// Answered before: answer the same.
    Replay(Answer),
}

impl Claim {
    /// The id for the resource to create.
    pub fn resource_id(&self) -> Uuid {
        match self {
            Claim::New { resource_id, .. } => *resource_id,
            // Random, not time-ordered: an item's id must not tell when it was written more
            // precisely than its public, minute-rounded time does.
            Claim::None | Claim::Replay(_) => Uuid::new_v4(),
        }
    }
}

/// Idempotency keys in the event store database.
#[derive(Clone)]
pub struct IdempotencyKeys {
    pool: PgPool,
    key: AuthorKey,
}

impl IdempotencyKeys {
    /// Keys in `pool`.
    pub fn new(pool: PgPool, key: AuthorKey) -> Self {
        Self { pool, key }
    }

    /// Claims the request's key, if it has one.
    async fn claim(
        &self,
        member: MemberId,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Claim, ApiError> {
        let Some(key) = headers.get(IDEMPOTENCY_KEY) else {
            return Ok(Claim::None);
        };
        let key = key
            .to_str()
            .ok()
            .filter(|k| {
                (1..=MAX_KEY_LEN).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
            })
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "idempotency_key_invalid",
                    format!(
                        "the Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
                    ),
                )
            })?;
        let id = hex::encode(
            Sha256::new()
                .chain_update(self.key.author_ref("idempotency", Uuid::nil(), member).0)
                .chain_update(key)
                .finalize(),
        );
        let request_hash = hex::encode(Sha256::digest(body));
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO idempotency_keys (id, request_hash, resource_id) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE \
                 SET request_hash = EXCLUDED.request_hash, resource_id = EXCLUDED.resource_id, \
                     response = NULL, created_at = now() \
                 WHERE idempotency_keys.created_at < now() - interval '24 hours' \
             RETURNING resource_id",
        )
        .bind(&id)
        .bind(&request_hash)
        .bind(Uuid::new_v4())
        .fetch_optional(&self.pool)
        .await
        .map_err(ApiError::internal)?;
        if let Some(resource_id) = inserted {
            return Ok(Claim::New { id, resource_id });
        }
        let (stored_hash, resource_id, response, abandoned): (
            String,
            Uuid,
            Option<serde_json::Value>,
            bool,
        ) = sqlx::query_as(
            "SELECT request_hash, resource_id, response, \
                        created_at < now() - make_interval(secs => $2) \
                 FROM idempotency_keys WHERE id = $1",
        )
        .bind(&id)
        .bind(ABANDONED_AFTER_SECS as f64)
        .fetch_one(&self.pool)
        .await
        .map_err(ApiError::internal)?;
        if stored_hash != request_hash {
            return Err(ApiError::invalid(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request body",
            ));
        }
        match response {
            Some(answer) => Ok(Claim::Replay(
                serde_json::from_value(answer).map_err(ApiError::internal)?,
            )),
            None if abandoned => Ok(Claim::New { id, resource_id }),
            None => Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_progress",
                "a request with this Idempotency-Key is still being processed; retry shortly",
            )),
        }
    }

    /// Deletes keys older than 24 hours (a key that old is taken as new anyway); run
    /// periodically, off the request path.
    pub async fn purge_expired(&self) -> anyhow::Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'",
        )
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Runs the create request `create` under the request's key: replays a stored answer, or
    /// calls `create` with the id the new resource must get and whether this is a claimed
    /// attempt (one that may find its resource already created by a crashed first attempt),
    /// then stores its answer. A refused request releases the key.
    pub async fn run<F, Fut>(
        &self,
        member: MemberId,
        headers: &HeaderMap,
        request: &[u8],
        create: F,
    ) -> Result<Response, ApiError>
    where
        F: FnOnce(Uuid, bool) -> Fut,
        Fut: std::future::Future<Output = Result<Answer, ApiError>>,
    {
        let claim = self.claim(member, headers, request).await?;
        if let Claim::Replay(answer) = claim {
            return Ok(answer.into_response());
        }
        match create(claim.resource_id(), matches!(claim, Claim::New { .. })).await {
            Ok(answer) => {
                self.answer(&claim, &answer).await?;
                Ok(answer.into_response())
            }
            Err(error) => {
                self.release(&claim).await?;
                Err(error)
            }
        }
    }

    /// Stores the answer of a claimed request.
    async fn answer(&self, claim: &Claim, answer: &Answer) -> Result<(), ApiError> {
        if let Claim::New { id, .. } = claim {
            sqlx::query("UPDATE idempotency_keys SET response = $2 WHERE id = $1")
                .bind(id)
                .bind(serde_json::to_value(answer).map_err(ApiError::internal)?)
                .execute(&self.pool)
                .await
                .map_err(ApiError::internal)?;
        }
        Ok(())
    }

    /// Releases the claim of a request that was refused, so a corrected retry may use the key.
    async fn release(&self, claim: &Claim) -> Result<(), ApiError> {
        if let Claim::New { id, .. } = claim {
            sqlx::query("DELETE FROM idempotency_keys WHERE id = $1 AND response IS NULL")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(ApiError::internal)?;
        }
        Ok(())
    }
}

/// The version to answer when a claimed create finds its item already made by an earlier
/// attempt whose answer was lost (`duplicate` recognises the aggregate's "already exists"
/// refusal); any other failure is answered as the error it is.
pub async fn created_before<A, S>(
    store: &S,
    id: &str,
    claimed: bool,
    error: AggregateError<A::Error>,
    duplicate: impl Fn(&A::Error) -> bool,
) -> Result<usize, ApiError>
where
    A: Aggregate,
    A::Error: BrokenRule,
    S: EventStore<A>,
{
    match error {
        AggregateError::UserError(ref refusal) if claimed && duplicate(refusal) => {
            Ok(store.load_events(id).await.map_err(api_error)?.len())
        }
        error => Err(api_error(error)),
    }
}
