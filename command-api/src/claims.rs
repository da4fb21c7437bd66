//! Affiliation claims: a member claims a hospital; a moderator approves or rejects the claim.
//! (Work-email verification arrives with sign-in.)

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use cqrs_es::{AggregateContext, EventStore};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use ward_domain::affiliation::{ClaimCommand, RejectReason, Tenure, VerificationMethod};
use ward_domain::member::JobCategory;
use ward_platform::http::{ApiError, ApiJson, CorrelationId};

use crate::app::AppState;
use crate::execute::{api_error, execute};
use crate::members::{now, Actor};

fn id(text: &str, code: &'static str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found(code, format!("there is no such {what}")))
}

/// The hospital `hospital`, if it is in the catalogue and open.
pub async fn open_hospital(state: &AppState, hospital: &str) -> Result<Uuid, ApiError> {
    let hospital = id(hospital, "hospital_not_found", "hospital")?;
    let mut context = state
        .hospitals
        .load_aggregate(&hospital.to_string())
        .await
        .map_err(ApiError::internal)?;
    if !context.aggregate().is_open() {
        return Err(ApiError::not_found(
            "hospital_not_found",
            "there is no such open hospital",
        ));
    }
    Ok(hospital)
}

/// The body of `POST /api/v1/hospitals/{id}/claims`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClaim {
    job_category: JobCategory,
    tenure: Tenure,
}

/// `POST /api/v1/hospitals/{id}/claims`: claim to work (or have worked) at a hospital.
#[tracing::instrument(skip_all)]
pub async fn submit(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(hospital): Path<String>,
    ApiJson(claim): ApiJson<NewClaim>,
) -> Result<impl IntoResponse, ApiError> {
    let hospital = open_hospital(&state, &hospital).await?;
    let claim_id = state
        .post_services
        .author_key
        .derive_id("affiliation", hospital, actor.member);
    let command = ClaimCommand::Submit {
        hospital_id: hospital,
        job_category: claim.job_category,
        tenure: claim.tenure,
        now: now(),
    };
    let version = execute(
        &*state.claims,
        &(),
        &claim_id.to_string(),
        command,
        &correlation,
    )
    .await
    .map_err(api_error)?;
    Ok((
        StatusCode::CREATED,
        [(
            axum::http::header::LOCATION,
            format!("/api/v1/claims/{claim_id}"),
        )],
        Json(json!({"id": claim_id, "version": version})),
    ))
}

/// `POST /api/v1/claims/{id}/approval`: a moderator verifies a claim.
#[tracing::instrument(skip_all)]
pub async fn approve(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(claim): Path<String>,
) -> Result<Json<Value>, ApiError> {
    actor.moderator_only()?;
    let claim = id(&claim, "claim_not_found", "claim")?;
    let command = ClaimCommand::Verify {
        method: VerificationMethod::Moderator,
        now: now(),
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
    Ok(Json(json!({"id": claim, "version": version})))
}

/// The body of `POST /api/v1/claims/{id}/rejection`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    reason: RejectReason,
}

/// `POST /api/v1/claims/{id}/rejection`: a moderator rejects a claim.
#[tracing::instrument(skip_all)]
pub async fn reject(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(claim): Path<String>,
    ApiJson(rejection): ApiJson<Rejection>,
) -> Result<Json<Value>, ApiError> {
    actor.moderator_only()?;
    let claim = id(&claim, "claim_not_found", "claim")?;
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
    Ok(Json(json!({"id": claim, "version": version})))
}
