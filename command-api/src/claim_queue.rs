//! The moderators' queue of open affiliation claims, how a moderator's approval is asked of
//! a claim (never their own), and the sweep that expires claims nobody decided within 14
//! days.
//!
//! The queue and the sweep read the event store itself (a claim is open while its latest
//! event is `ClaimSubmitted`): the queue is moderators' tooling on the write side, not a
//! public read model. A moderator sees the hospital, the job category and tenure claimed
//! and the claim's age — nothing about who claimed it, which the events do not say either.

use axum::extract::State;
use axum::Json;
use cqrs_es::{AggregateContext, EventStore};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;
use uuid::Uuid;
use ward_domain::affiliation::{AffiliationClaim, ClaimCommand, ClaimError};
use ward_platform::http::{ApiError, ApiQuery, CorrelationId};

use crate::app::{AppState, Store};
use crate::execute::execute;
use crate::members::{now, Actor};
use crate::openapi::{ErrorBody, Internal, Unauthenticated};

/// A claim is open this long at most (14 days, as the domain says).
const OPEN_FOR_SECS: i64 = 14 * 86_400;

/// An open claim, as a moderator sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct OpenClaim {
    /// The claim's id (for approval or rejection).
    pub id: String,
    /// The hospital claimed.
    pub hospital_id: String,
    /// Its name.
    pub hospital_name: Option<String>,
    /// The job category claimed.
    pub job_category: String,
    /// `current` or `former`.
    pub tenure: String,
    /// When it was submitted, Unix seconds.
    pub submitted_at: i64,
}

/// A page of the queue.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Queue {
    /// Oldest first.
    pub claims: Vec<OpenClaim>,
    /// Days each claim has been waiting, in the same order.
    pub ages_days: Vec<i64>,
}

/// Query of `GET /api/v1/moderation/claims`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    /// Most claims, 1 to 200 (default 50).
    limit: Option<i64>,
}

/// Open claims, oldest first; with `submitted_before`, only those submitted before it.
pub async fn open_claims(
    pool: &PgPool,
    limit: i64,
    submitted_before: Option<i64>,
) -> anyhow::Result<Vec<OpenClaim>> {
    Ok(sqlx::query_as(
        "WITH latest AS ( \
             SELECT DISTINCT ON (aggregate_id) aggregate_id, event_type, payload \
             FROM events WHERE aggregate_type = 'affiliation' \
             ORDER BY aggregate_id, sequence DESC), \
         open AS ( \
             SELECT aggregate_id AS id, \
                    payload -> 'ClaimSubmitted' ->> 'hospital_id' AS hospital_id, \
                    payload -> 'ClaimSubmitted' ->> 'job_category' AS job_category, \
                    payload -> 'ClaimSubmitted' ->> 'tenure' AS tenure, \
                    (payload -> 'ClaimSubmitted' ->> 'submitted_at')::bigint AS submitted_at \
             FROM latest WHERE event_type = 'ClaimSubmitted') \
         SELECT o.id, o.hospital_id, o.job_category, o.tenure, o.submitted_at, \
                (SELECT h.payload -> h.event_type -> 'profile' ->> 'name' FROM events h \
                 WHERE h.aggregate_type = 'hospital' AND h.aggregate_id = o.hospital_id \
                   AND h.event_type IN ('HospitalRegistered', 'HospitalUpdated') \
                 ORDER BY h.sequence DESC LIMIT 1) AS hospital_name \
         FROM open o WHERE ($1::bigint IS NULL OR o.submitted_at < $1) \
         ORDER BY o.submitted_at, o.id LIMIT $2",
    )
    .bind(submitted_before)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// `GET /api/v1/moderation/claims?limit`: the open claims, oldest first (moderators only).
#[utoipa::path(
    get,
    path = "/api/v1/moderation/claims",
    operation_id = "claim_queue",
    tag = "claims",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "1 to 200, default 50.")),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Open claims, oldest first.", body = Queue),
        (status = 400, description = "An unknown query parameter (`invalid_query`).", body = ErrorBody),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "Only moderators see the queue (`moderator_only`), or the member is suspended (`member_suspended`).", body = ErrorBody),
        (status = 422, description = "A limit out of range (`limit_out_of_range`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn queue(
    State(state): State<AppState>,
    actor: Actor,
    ApiQuery(params): ApiQuery<QueueParams>,
) -> Result<Json<Queue>, ApiError> {
    actor.moderator_only()?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid(
            "limit_out_of_range",
            "limit must be between 1 and 200",
        ));
    }
    let claims = open_claims(&state.pool, limit, None)
        .await
        .map_err(ApiError::internal)?;
    let today = i64::try_from(now()).unwrap_or(i64::MAX);
    let ages_days = claims
        .iter()
        .map(|c| (today - c.submitted_at).max(0) / 86_400)
        .collect();
    Ok(Json(Queue { claims, ages_days }))
}

/// The command by which moderator `actor` approves `claim`. The claim's events name nobody,
/// but its id derives from the claimant and the hospital, so the moderator is the claimant
/// exactly when the id derived from them and the claim's hospital is the claim's; the claim
/// aggregate then refuses (`own_claim`) and the claim stays open for another moderator.
pub async fn approval(
    state: &AppState,
    actor: &Actor,
    claim: Uuid,
) -> Result<ClaimCommand, ApiError> {
    let mut context = state
        .claims
        .load_aggregate(&claim.to_string())
        .await
        .map_err(crate::execute::api_error)?;
    let by_claimant = context.aggregate().hospital_id().is_some_and(|hospital| {
        state
            .post_services
            .author_key
            .derive_id("affiliation", hospital, actor.member)
            == claim
    });
    Ok(ClaimCommand::Approve {
        by_claimant,
        now: now(),
    })
}

/// Expires every claim still open 14 days after it was submitted; how many it expired.
pub async fn expire_stale(
    pool: &PgPool,
    claims: &Store<AffiliationClaim>,
) -> anyhow::Result<usize> {
    let now = now();
    let cutoff = i64::try_from(now).unwrap_or(i64::MAX) - OPEN_FOR_SECS;
    let correlation = CorrelationId(format!("claim-expiry-{now}"));
    let mut expired = 0;
    loop {
        let stale = open_claims(pool, 100, Some(cutoff + 1)).await?;
        if stale.is_empty() {
            return Ok(expired);
        }
        let batch = stale.len();
        for claim in stale {
            match execute(
                claims,
                &(),
                &claim.id,
                ClaimCommand::Expire { now },
                &correlation,
            )
            .await
            {
                Ok(_) => expired += 1,
                // Decided meanwhile by a moderator or the member: nothing to expire.
                Err(cqrs_es::AggregateError::UserError(
                    ClaimError::NotOpen(_) | ClaimError::NotExpired { .. },
                )) => {}
                Err(error) => anyhow::bail!("expiring claim {}: {error}", claim.id),
            }
        }
        if batch < 100 {
            return Ok(expired);
        }
    }
}

/// Runs [`expire_stale`] every `every` until `shutdown`.
pub async fn expire_periodically(
    pool: PgPool,
    claims: std::sync::Arc<Store<AffiliationClaim>>,
    every: std::time::Duration,
    shutdown: CancellationToken,
) {
    loop {
        match expire_stale(&pool, &claims).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "expired claims nobody decided in 14 days"),
            Err(error) => tracing::warn!(error = format!("{error:#}"), "expiring claims"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
