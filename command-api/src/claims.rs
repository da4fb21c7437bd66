//! Affiliation claims: a member claims a hospital; a moderator approves or rejects the claim.
//! (Work-email verification arrives with sign-in.)

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use ward_domain::affiliation::{AffiliationClaim, ClaimCommand, ClaimError, RejectReason, Tenure};
use ward_domain::member::JobCategory;
use ward_platform::http::{ApiError, ApiJson, CorrelationId};

use crate::app::AppState;
use crate::create::{Create, Planned, Record, Requester};
use crate::execute::{api_error, execute};
use crate::members::{now, Actor};
use crate::openapi::{
    Changed, Created, ErrorBody, IdempotencyKey, Internal, MalformedJson,
    MalformedJsonOrIdempotencyKey, PayloadTooLarge, RateLimited, Unauthenticated,
    UnsupportedMediaType,
};
use crate::proofs::{claim_id, open_hospital};

/// The item type of claims in the member index.
const CLAIM: &str = "claim";

/// The body of `POST /api/v1/hospitals/{id}/claims`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClaim {
    job_category: JobCategory,
    tenure: Tenure,
}

/// `POST /api/v1/hospitals/{id}/claims`: claim to work (or have worked) at a hospital.
/// Honours `Idempotency-Key`.
#[utoipa::path(
    post,
    path = "/api/v1/hospitals/{id}/claims",
    operation_id = "submit_claim",
    tag = "claims",
    params(
        IdempotencyKey,
        ("id" = Uuid, Path, description = "The hospital's id."),
    ),
    request_body = NewClaim,
    security(("session_cookie" = [])),
    responses(
        (status = 201, description = "Claimed: the claim's id and version.", body = Created, headers(("Location" = String, description = "The new claim: `/api/v1/claims/{id}`."))),
        (status = 400, response = MalformedJsonOrIdempotencyKey),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`).", body = ErrorBody),
        (status = 404, description = "There is no such open hospital (`hospital_not_found`).", body = ErrorBody),
        (status = 409, description = "The member already has an open claim on this hospital (`claim_already_open`) or a verified one (`claim_already_verified`), or a request with this `Idempotency-Key` is still running (`idempotency_key_in_progress`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Unknown, missing or ill-typed fields (`invalid_body`), or the `Idempotency-Key` was used with another body (`idempotency_key_reused`).", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn submit(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    headers: HeaderMap,
    Path(hospital): Path<String>,
    ApiJson(claim): ApiJson<NewClaim>,
) -> Result<Response, ApiError> {
    let hospital = open_hospital(&state, &hospital).await?;
    let request = serde_json::to_vec(&(hospital, &claim)).map_err(ApiError::internal)?;
    let member = actor.member;
    let id = state
        .post_services
        .author_key
        .derive_id("affiliation", hospital, member);
    Create::<AffiliationClaim, _> {
        limit: ("claim", state.rate_limits.claims),
        store: &*state.claims,
        services: &(),
        // In the member's index, for withdrawal and the member's own pages.
        record: Record::Listed { kind: CLAIM },
        exists: |refusal| *refusal == ClaimError::AlreadyOpen,
    }
    .run(
        Requester::new(&state, member, &headers, &correlation),
        &request,
        |_| id,
        |id, _| {
            Ok(Planned {
                aggregate_id: id.to_string(),
                command: ClaimCommand::Submit {
                    hospital_id: hospital,
                    job_category: claim.job_category,
                    tenure: claim.tenure,
                    now: now(),
                },
                location: Some(format!("/api/v1/claims/{id}")),
            })
        },
        |id, version| Created {
            id: id.to_string(),
            version,
        },
    )
    .await
}

/// `POST /api/v1/claims/{id}/approval`: a moderator verifies a claim.
#[utoipa::path(
    post,
    path = "/api/v1/claims/{id}/approval",
    operation_id = "approve_claim",
    tag = "claims",
    params(
        ("id" = Uuid, Path, description = "The claim's id."),
    ),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Verified: the claim's id and new version.", body = Changed),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or only moderators may approve claims (`moderator_only`), or the claim is the moderator's own (`own_claim`; it stays open for another moderator).", body = ErrorBody),
        (status = 404, description = "There is no such claim (`claim_not_found`).", body = ErrorBody),
        (status = 409, description = "The claim is already verified (`claim_already_verified`) or otherwise not open (`claim_not_open`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn approve(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(claim): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    actor.moderator_only()?;
    let claim = claim_id(&claim)?;
    let command = crate::claim_queue::approval(&state, &actor, claim).await?;
    let version = execute(
        &*state.claims,
        &(),
        &claim.to_string(),
        command,
        &correlation,
    )
    .await
    .map_err(api_error)?;
    Ok(Json(Changed::of(claim, version)))
}

/// The body of `POST /api/v1/claims/{id}/rejection`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    reason: RejectReason,
}

/// `POST /api/v1/claims/{id}/rejection`: a moderator rejects a claim.
#[utoipa::path(
    post,
    path = "/api/v1/claims/{id}/rejection",
    operation_id = "reject_claim",
    tag = "claims",
    params(
        ("id" = Uuid, Path, description = "The claim's id."),
    ),
    request_body = Rejection,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Rejected: the claim's id and new version.", body = Changed),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or only moderators may reject claims (`moderator_only`).", body = ErrorBody),
        (status = 404, description = "There is no such claim (`claim_not_found`).", body = ErrorBody),
        (status = 409, description = "The claim is already verified (`claim_already_verified`) or otherwise not open (`claim_not_open`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Unknown, missing or ill-typed fields (`invalid_body`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn reject(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(claim): Path<String>,
    ApiJson(rejection): ApiJson<Rejection>,
) -> Result<Json<Changed>, ApiError> {
    actor.moderator_only()?;
    let claim = claim_id(&claim)?;
    let command = ClaimCommand::Reject {
        reason: rejection.reason,
    };
    let version = execute(
        &*state.claims,
        &(),
        &claim.to_string(),
        command,
        &correlation,
    )
    .await
    .map_err(api_error)?;
    Ok(Json(Changed::of(claim, version)))
}

/// `POST /api/v1/claims/{id}/revocation`: a moderator revokes a verified claim (e.g. the
/// member turned out not to work there).
#[utoipa::path(
    post,
    path = "/api/v1/claims/{id}/revocation",
    operation_id = "revoke_claim",
    tag = "claims",
    params(("id" = Uuid, Path, description = "The claim's id.")),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Revoked: the claim's id and new version.", body = Changed),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The caller is suspended (`member_suspended`) or not a moderator (`moderator_only`).", body = ErrorBody),
        (status = 404, description = "There is no such claim (`claim_not_found`).", body = ErrorBody),
        (status = 409, description = "The claim is not verified (`claim_not_verified`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn revoke(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(claim): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    actor.moderator_only()?;
    let claim = claim_id(&claim)?;
    let version = execute(
        &*state.claims,
        &(),
        &claim.to_string(),
        ClaimCommand::Revoke,
        &correlation,
    )
    .await
    .map_err(api_error)?;
    Ok(Json(Changed::of(claim, version)))
}
