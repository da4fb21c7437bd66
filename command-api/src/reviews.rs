//! Hospital reviews: only a verified insider of the hospital writes one (one per member per
//! hospital); the author edits; author or moderator deletes; other members mark it helpful.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use cqrs_es::{Aggregate, AggregateContext, EventStore};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use ward_domain::review::{
    DeleteReview, EditReview, MarkHelpful, Ratings, Review, ReviewCommand, ReviewError, WriteReview,
};
use ward_platform::http::{ApiError, ApiJson, CorrelationId};

use crate::app::AppState;
use crate::create::{text_key, Create, Planned, Record, Requester};
use crate::execute::change;
use crate::members::Actor;
use crate::openapi::{
    Changed, Created, ErrorBody, IdempotencyKey, Internal, MalformedJson,
    MalformedJsonOrIdempotencyKey, PayloadTooLarge, RateLimited, Unauthenticated,
    UnsupportedMediaType,
};
use crate::proofs::{insider, insider_proof, open_hospital, review_id};

/// What a review says: the body of `POST /api/v1/hospitals/{id}/reviews` and of
/// `PATCH /api/v1/reviews/{id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

/// Whether `actor` is, now, a verified insider of the hospital that `review` is about — the
/// standing an edit needs, as writing did. False when there is no such review; the aggregate
/// then refuses for that reason first.
async fn insider_of_reviewed(
    state: &AppState,
    actor: &Actor,
    review: Uuid,
) -> Result<bool, ApiError> {
    let mut context = state
        .reviews
        .load_aggregate(&review.to_string())
        .await
        .map_err(ApiError::internal)?;
    match context.aggregate().hospital_id() {
        Some(hospital) => Ok(insider_proof(state, actor, hospital).await?.is_some()),
        None => Ok(false),
    }
}

/// `POST /api/v1/hospitals/{id}/reviews`: a verified insider reviews the hospital (one
/// review per member and hospital). Honours `Idempotency-Key` and the review rate limit.
/// The review shows its author's job category and tenure only if at least K members with
/// both are verified at the hospital now ([`crate::labels`]); that is decided here, once.
#[utoipa::path(
    post,
    path = "/api/v1/hospitals/{id}/reviews",
    operation_id = "write_review",
    tag = "reviews",
    params(
        IdempotencyKey,
        ("id" = Uuid, Path, description = "The hospital's id."),
    ),
    request_body = ReviewBody,
    security(("session_cookie" = [])),
    responses(
        (status = 201, description = "Written: the review's id and version.", body = Created, headers(("Location" = String, description = "The new review: `/api/v1/reviews/{id}`."))),
        (status = 400, response = MalformedJsonOrIdempotencyKey),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or only verified staff of the hospital may review it (`not_insider`).", body = ErrorBody),
        (status = 404, description = "There is no such open hospital (`hospital_not_found`).", body = ErrorBody),
        (status = 409, description = "The member already reviewed this hospital (`review_already_written`), or a request with this `Idempotency-Key` is still running (`idempotency_key_in_progress`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Unknown, missing or ill-typed fields (`invalid_body`), or a rating is not 1 to 5 (`rating_out_of_range`), or a text rule is broken (e.g. `title_too_long`, `personal_data`), or the `Idempotency-Key` was used with another body (`idempotency_key_reused`).", body = ErrorBody),
        (status = 429, description = "Over the member's review rate limit (`rate_limited`).", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the limit's window ends."))),
        (status = 500, response = Internal),
    ),
)]
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
    let member = actor.member;
    // The label is decided now, from the counts now, once (docs/privacy.md).
    let label_shown = state
        .labels
        .label_shown(hospital, insider.job_category, insider.tenure)
        .await?;
    let id = state
        .post_services
        .author_key
        .derive_id("review", hospital, member);
    Create::<Review, _> {
        limit: ("review", state.rate_limits.reviews),
        store: &*state.reviews,
        services: &state.review_services,
        // A refused review keeps the key: it may belong to an earlier, live review.
        record: Record::Text {
            kind: Review::TYPE,
            keep_key: true,
        },
        exists: |refusal| *refusal == ReviewError::AlreadyWritten,
    }
    .run(
        Requester::new(&state, member, &headers, &correlation),
        &request,
        |_| id,
        |id, content_key| {
            Ok(Planned {
                aggregate_id: id.to_string(),
                command: ReviewCommand::Write(WriteReview {
                    review_id: id,
                    hospital_id: hospital,
                    author: member,
                    insider,
                    label_shown,
                    ratings: review.ratings,
                    title: review.title,
                    pros: review.pros,
                    cons: review.cons,
                    advice: review.advice,
                    would_recommend: review.would_recommend,
                    content_key: text_key(content_key)?,
                }),
                location: Some(format!("/api/v1/reviews/{id}")),
            })
        },
        |id, version| Created {
            id: id.to_string(),
            version,
        },
    )
    .await
}

/// `PATCH /api/v1/reviews/{id}`: the author changes the review, while still a verified
/// insider of its hospital (the standing writing it needed).
#[utoipa::path(
    patch,
    path = "/api/v1/reviews/{id}",
    operation_id = "edit_review",
    tag = "reviews",
    params(
        ("id" = Uuid, Path, description = "The review's id."),
    ),
    request_body = ReviewBody,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Changed: the review's id and new version.", body = Changed),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or only its author may edit a review (`not_author`), or the author is no longer verified staff of the hospital, e.g. their claim was revoked (`not_insider`).", body = ErrorBody),
        (status = 404, description = "There is no such review (`review_not_found`).", body = ErrorBody),
        (status = 409, description = "The review is deleted (`review_deleted`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Unknown, missing or ill-typed fields (`invalid_body`), or a rating is not 1 to 5 (`rating_out_of_range`), or a text rule is broken (e.g. `title_too_long`, `personal_data`).", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn edit(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(id): Path<String>,
    ApiJson(review): ApiJson<ReviewBody>,
) -> Result<Json<Changed>, ApiError> {
    let id = review_id(&id)?;
    let content_key = state.content_keys.existing(Review::TYPE, id).await?;
    let command = ReviewCommand::Edit(EditReview {
        review_id: id,
        actor: actor.member,
        insider: insider_of_reviewed(&state, &actor, id).await?,
        ratings: review.ratings,
        title: review.title,
        pros: review.pros,
        cons: review.cons,
        advice: review.advice,
        would_recommend: review.would_recommend,
        content_key,
    });
    let limit = state.rate_limits.edits;
    let aggregate = id.to_string();
    let edited = change(
        &*state.reviews,
        &state.review_services,
        &aggregate,
        command,
        &correlation,
    );
    state
        .rate_limiter
        .within("edit", actor.member, limit, edited)
        .await
}

/// `DELETE /api/v1/reviews/{id}`: the author or a moderator deletes the review; its content
/// key is destroyed with it.
#[utoipa::path(
    delete,
    path = "/api/v1/reviews/{id}",
    operation_id = "delete_review",
    tag = "reviews",
    params(
        ("id" = Uuid, Path, description = "The review's id."),
    ),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Deleted: the review's id and new version.", body = Changed),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or only its author or a moderator may delete a review (`not_author`).", body = ErrorBody),
        (status = 404, description = "There is no such review (`review_not_found`).", body = ErrorBody),
        (status = 409, description = "The review is already deleted (`review_deleted`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(id): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    let id = review_id(&id)?;
    let command = ReviewCommand::Delete(DeleteReview {
        review_id: id,
        actor: actor.member,
        as_moderator: actor.moderator,
    });
    change(
        &*state.reviews,
        &state.review_services,
        &id.to_string(),
        command,
        &correlation,
    )
    .await
}

/// `PUT /api/v1/reviews/{id}/helpful`: another member marks the review helpful, once.
#[utoipa::path(
    put,
    path = "/api/v1/reviews/{id}/helpful",
    operation_id = "mark_review_helpful",
    tag = "reviews",
    params(
        ("id" = Uuid, Path, description = "The review's id."),
    ),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Marked helpful: the review's id and new version.", body = Changed),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or members may not mark their own reviews (`review_own_helpful`).", body = ErrorBody),
        (status = 404, description = "There is no such review (`review_not_found`).", body = ErrorBody),
        (status = 409, description = "The member already marked it (`review_already_helpful`) or it is deleted (`review_deleted`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn helpful(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(id): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    let id = review_id(&id)?;
    change(
        &*state.reviews,
        &state.review_services,
        &id.to_string(),
        ReviewCommand::MarkHelpful(MarkHelpful {
            review_id: id,
            voter: actor.member,
        }),
        &correlation,
    )
    .await
}
