//! What a request must show before its command runs, shared by the endpoints (which import
//! this, not each other): that the ids in its path name something, that a hospital is open,
//! and that the actor is a verified insider of a hospital.

use cqrs_es::{AggregateContext, AggregateError, EventStore};
use uuid::Uuid;
use ward_domain::review::{InsiderProof, ReviewError};
use ward_platform::http::ApiError;

use crate::app::AppState;
use crate::execute::api_error;
use crate::members::Actor;

/// The id in a path; text that is not a UUID names no `what` (`404 code`).
fn path_id(text: &str, code: &'static str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found(code, format!("there is no such {what}")))
}

/// A post's id from the path.
pub fn post_id(text: &str) -> Result<Uuid, ApiError> {
    path_id(text, "post_not_found", "post")
}

/// A comment's id from the path.
pub fn comment_id(text: &str) -> Result<Uuid, ApiError> {
    path_id(text, "comment_not_found", "comment")
}

/// A review's id from the path.
pub fn review_id(text: &str) -> Result<Uuid, ApiError> {
    path_id(text, "review_not_found", "review")
}

/// A claim's id from the path.
pub fn claim_id(text: &str) -> Result<Uuid, ApiError> {
    path_id(text, "claim_not_found", "claim")
}

/// The hospital `hospital`, if it is in the catalogue and open.
pub async fn open_hospital(state: &AppState, hospital: &str) -> Result<Uuid, ApiError> {
    let hospital = path_id(hospital, "hospital_not_found", "hospital")?;
    let mut context = state
        .hospitals
        .load_aggregate(&hospital.to_string())
        .await
        .map_err(api_error)?;
    if !context.aggregate().is_open() {
        return Err(ApiError::not_found(
            "hospital_not_found",
            "there is no such open hospital",
        ));
    }
    Ok(hospital)
}

/// The insider proof of `actor` for `hospital`: their verified claim, read from the claim
/// aggregate (write-side state), or 403 `not_insider`.
pub async fn insider(
    state: &AppState,
    actor: &Actor,
    hospital: Uuid,
) -> Result<InsiderProof, ApiError> {
    insider_proof(state, actor, hospital)
        .await?
        .ok_or_else(|| api_error(AggregateError::UserError(ReviewError::NotInsider)))
}

/// What `actor`'s claim to `hospital` says, if it is verified.
pub async fn insider_proof(
    state: &AppState,
    actor: &Actor,
    hospital: Uuid,
) -> Result<Option<InsiderProof>, ApiError> {
    let claim = state
        .post_services
        .author_key
        .derive_id("affiliation", hospital, actor.member);
    let mut context = state
        .claims
        .load_aggregate(&claim.to_string())
        .await
        .map_err(ApiError::internal)?;
    let claim = context.aggregate();
    Ok(
        match (claim.is_verified(), claim.job_category(), claim.tenure()) {
            (true, Some(job_category), Some(tenure)) => Some(InsiderProof {
                job_category,
                tenure,
            }),
            _ => None,
        },
    )
}
