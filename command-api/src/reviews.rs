//! Hospital reviews: only a verified insider of the hospital writes one (one per member per
//! hospital); the author edits; author or moderator deletes; other members mark it helpful.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use cqrs_es::{Aggregate, AggregateContext, EventStore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;
use ward_domain::review::{
    DeleteReview, EditReview, InsiderProof, MarkHelpful, Ratings, Review, ReviewCommand,
    ReviewError, WriteReview,
};
use ward_platform::http::{ApiError, ApiJson, CorrelationId};

use crate::app::AppState;
use crate::claims::open_hospital;
use crate::execute::{api_error, execute};
use crate::idempotency::{created_before, Answer};
use crate::members::Actor;

fn review_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::not_found("review_not_found", "there is no such review"))
}

/// What a review says: the body of `POST /api/v1/hospitals/{id}/reviews` and of
/// `PATCH /api/v1/reviews/{id}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    ratings: Ratings,
    title: String,
    pros: String,
    cons: String,
    #[serde(default)]
    advice: Option<String>,
    would_recommend: bool,
}

/// The insider proof of `actor` for `hospital`: their verified claim, read from the claim
/// aggregate (write-side state), or 403.
async fn insider(
    state: &AppState,
    actor: &Actor,
    hospital: Uuid,
) -> Result<InsiderProof, ApiError> {
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
    match (claim.is_verified(), claim.job_category(), claim.tenure()) {
        (true, Some(job_category), Some(tenure)) => Ok(InsiderProof {
            job_category,
            tenure,
        }),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_insider",
            "only verified staff of this hospital may review it",
        )),
    }
}

/// `POST /api/v1/hospitals/{id}/reviews`: a verified insider reviews the hospital (one
/// review per member and hospital). Honours `Idempotency-Key` and the review rate limit.
#[tracing::instrument(skip_all)]
pub async fn write(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    headers: HeaderMap,
    Path(hospital): Path<String>,
    ApiJson(review): ApiJson<ReviewBody>,
) -> Result<Response, ApiError> {
    let hospital = open_hospital(&state, &hospital).await?;
    let insider = insider(&state, &actor, hospital).await?;
    let request = serde_json::to_vec(&(hospital, &review)).map_err(ApiError::internal)?;
    let (state, correlation) = (&state, &correlation);
    state
        .idempotency
        .run(actor.member, &headers, &request, |_, claimed| async move {
            state
                .rate_limiter
                .check("review", actor.member, state.rate_limits.reviews)
                .await?;
            let id = state
                .post_services
                .author_key
                .derive_id("review", hospital, actor.member);
            let content_key = state.content_keys.create(Review::TYPE, id).await?;
            let command = ReviewCommand::Write(WriteReview {
                review_id: id,
                hospital_id: hospital,
                author: actor.member,
                insider,
                ratings: review.ratings,
                title: review.title,
                pros: review.pros,
                cons: review.cons,
                advice: review.advice,
                would_recommend: review.would_recommend,
                content_key,
            });
            // A refused review keeps the key: it may belong to an earlier, live review.
            let version = match execute(
                &*state.reviews,
                &state.review_services,
                &id.to_string(),
                command,
                correlation,
            )
            .await
            {
                Ok(version) => version,
                Err(error) => {
                    created_before(&*state.reviews, &id.to_string(), claimed, error, |e| {
                        *e == ReviewError::AlreadyWritten
                    })
                    .await?
                }
            };
            Ok(Answer {
                status: StatusCode::CREATED.as_u16(),
                body: json!({"id": id, "version": version}),
                location: Some(format!("/api/v1/reviews/{id}")),
            })
        })
        .await
}

async fn run(
    state: &AppState,
    correlation: &CorrelationId,
    id: Uuid,
    command: ReviewCommand,
) -> Result<Json<Value>, ApiError> {
    let version = execute(
        &*state.reviews,
        &state.review_services,
        &id.to_string(),
        command,
        correlation,
    )
    .await
    .map_err(api_error)?;
    Ok(Json(json!({"id": id, "version": version})))
}

/// `PATCH /api/v1/reviews/{id}`: the author changes the review.
#[tracing::instrument(skip_all)]
pub async fn edit(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(id): Path<String>,
    ApiJson(review): ApiJson<ReviewBody>,
) -> Result<Json<Value>, ApiError> {
    let id = review_id(&id)?;
    let content_key = state.content_keys.existing(Review::TYPE, id).await?;
    let command = ReviewCommand::Edit(EditReview {
        review_id: id,
        actor: actor.member,
        ratings: review.ratings,
        title: review.title,
        pros: review.pros,
        cons: review.cons,
        advice: review.advice,
        would_recommend: review.would_recommend,
        content_key,
    });
    run(&state, &correlation, id, command).await
}

/// `DELETE /api/v1/reviews/{id}`: the author or a moderator deletes the review; its content
/// key is destroyed with it.
#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = review_id(&id)?;
    let command = ReviewCommand::Delete(DeleteReview {
        review_id: id,
        actor: actor.member,
        as_moderator: actor.moderator,
    });
    run(&state, &correlation, id, command).await
}

/// `PUT /api/v1/reviews/{id}/helpful`: another member marks the review helpful, once.
#[tracing::instrument(skip_all)]
pub async fn helpful(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = review_id(&id)?;
    run(
        &state,
        &correlation,
        id,
        ReviewCommand::MarkHelpful(MarkHelpful {
            review_id: id,
            voter: actor.member,
        }),
    )
    .await
}
