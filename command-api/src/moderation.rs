//! Reports and moderation: members report posts, comments and reviews; enough distinct
//! reporters whose reports count (verified members, or accounts old enough) hide an item
//! automatically; moderators hide and restore. Moderators are never named in events.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use cqrs_es::{AggregateContext, AggregateError, EventStore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;
use ward_domain::moderation::{
    aggregate_id, Hide, Moderation, ModerationCommand, ModerationError, Report, ReportReason,
    Restore, TargetKind,
};
use ward_platform::http::{ApiError, ApiJson, CorrelationId};

use crate::app::AppState;
use crate::create::{Create, Planned, Record, Requester};
use crate::execute::{api_error, change};
use crate::members::{reports_count, Actor};
use crate::openapi::{
    Changed, Created, ErrorBody, IdempotencyKey, Internal, MalformedJson,
    MalformedJsonOrIdempotencyKey, PayloadTooLarge, Unauthenticated, UnsupportedMediaType,
};

/// The body of `POST /api/v1/reports`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    kind: TargetKind,
    target_id: Uuid,
    /// For a comment: the post it is on.
    #[serde(default)]
    post_id: Option<Uuid>,
    reason: ReportReason,
    #[serde(default)]
    note: Option<String>,
}

/// Whether the reported item exists and is live, read from its own aggregate.
async fn target_exists(state: &AppState, report: &NewReport) -> Result<bool, ApiError> {
    Ok(match report.kind {
        TargetKind::Post => {
            let mut post = state
                .posts
                .load_aggregate(&report.target_id.to_string())
                .await
                .map_err(ApiError::internal)?;
            post.aggregate().is_live()
        }
        TargetKind::Comment => match report.post_id {
            None => {
                return Err(ApiError::invalid(
                    "post_id_missing",
                    "a comment is reported with the post_id of its post",
                ))
            }
            Some(post_id) => {
                let mut post = state
                    .posts
                    .load_aggregate(&post_id.to_string())
                    .await
                    .map_err(ApiError::internal)?;
                post.aggregate().has_live_comment(report.target_id)
            }
        },
        TargetKind::Review => {
            let mut review = state
                .reviews
                .load_aggregate(&report.target_id.to_string())
                .await
                .map_err(ApiError::internal)?;
            review.aggregate().is_live()
        }
    })
}

/// `POST /api/v1/reports`: a member reports a post, comment or review (once per target).
/// Honours `Idempotency-Key` and the report rate limit.
#[utoipa::path(
    post,
    path = "/api/v1/reports",
    operation_id = "report",
    tag = "moderation",
    params(
        IdempotencyKey,
    ),
    request_body = NewReport,
    security(("session_cookie" = [])),
    responses(
        (status = 201, description = "Reported: the moderation case's id (`<kind>:<target id>`) and version. Every report reaches moderators; only those by verified members or accounts older than `report_weight_min_age_days` count towards automatic hiding.", body = Created),
        (status = 400, response = MalformedJsonOrIdempotencyKey),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`).", body = ErrorBody),
        (status = 404, description = "There is no such live item to report (`target_not_found`).", body = ErrorBody),
        (status = 409, description = "The member already reported this item (`already_reported`), or a request with this `Idempotency-Key` is still running (`idempotency_key_in_progress`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Unknown, missing or ill-typed fields (`invalid_body`), or a comment is reported without its `post_id` (`post_id_missing`), or the note breaks a text rule (e.g. `note_too_long`, `personal_data`), or the `Idempotency-Key` was used with another body (`idempotency_key_reused`).", body = ErrorBody),
        (status = 429, description = "Over the member's report rate limit (`rate_limited`).", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the limit's window ends."))),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn report(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    headers: HeaderMap,
    ApiJson(report): ApiJson<NewReport>,
) -> Result<Response, ApiError> {
    if !target_exists(&state, &report).await? {
        return Err(ApiError::not_found(
            "target_not_found",
            "there is no such item to report",
        ));
    }
    // Fresh, unverified accounts are recorded but do not hide anything (no sybil hiding).
    let counts = reports_count(&state, &actor).await?;
    let request = serde_json::to_vec(&report).map_err(ApiError::internal)?;
    let case = aggregate_id(report.kind, report.target_id);
    Create::<Moderation, _> {
        limit: ("report", state.rate_limits.reports),
        store: &*state.moderation,
        services: &state.moderation_services,
        record: Record::Nothing,
        exists: |refusal| *refusal == ModerationError::AlreadyReported,
    }
    .run(
        Requester::new(&state, actor.member, &headers, &correlation),
        &request,
        |key| key,
        |_, _| {
            Ok(Planned {
                aggregate_id: case.clone(),
                command: ModerationCommand::Report(Report {
                    kind: report.kind,
                    target_id: report.target_id,
                    reporter: actor.member,
                    reason: report.reason,
                    note: report.note,
                    counts,
                }),
                location: None,
            })
        },
        |_, version| Created {
            id: case.clone(),
            version,
        },
    )
    .await
}

fn target(kind: &str, target_id: &str) -> Result<(TargetKind, Uuid), ApiError> {
    let not_found = || ApiError::not_found("target_not_found", "there is no such item");
    let kind = TargetKind::parse(kind).ok_or_else(not_found)?;
    let target_id = Uuid::parse_str(target_id).map_err(|_| not_found())?;
    Ok((kind, target_id))
}

/// The body of `POST /api/v1/moderation/{kind}/{id}/hide`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HideBody {
    reason: ReportReason,
    #[serde(default)]
    note: Option<String>,
}

/// `POST /api/v1/moderation/{kind}/{id}/hide`: a moderator hides an item.
#[utoipa::path(
    post,
    path = "/api/v1/moderation/{kind}/{id}/hide",
    operation_id = "hide_item",
    tag = "moderation",
    params(
        ("kind" = TargetKind, Path, description = "The kind of item."),
        ("id" = Uuid, Path, description = "The item's id."),
    ),
    request_body = HideBody,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Hidden: the moderation case's id (`<kind>:<target id>`) and new version.", body = Changed),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or only moderators may hide items (`moderator_only`).", body = ErrorBody),
        (status = 404, description = "There is no such kind of item, or the id is not a UUID (`target_not_found`).", body = ErrorBody),
        (status = 409, description = "The item is already hidden (`target_already_hidden`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Unknown, missing or ill-typed fields (`invalid_body`), or the note breaks a text rule (e.g. `note_too_long`, `personal_data`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn hide(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path((kind, target_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<HideBody>,
) -> Result<Json<Changed>, ApiError> {
    actor.moderator_only()?;
    let (kind, target_id) = target(&kind, &target_id)?;
    let command = ModerationCommand::Hide(Hide {
        kind,
        target_id,
        reason: body.reason,
        note: body.note,
    });
    change(
        &*state.moderation,
        &state.moderation_services,
        &aggregate_id(kind, target_id),
        command,
        &correlation,
    )
    .await
}

/// The body of `POST /api/v1/moderation/{kind}/{id}/restore`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    #[serde(default)]
    note: Option<String>,
}

/// `POST /api/v1/moderation/{kind}/{id}/restore`: a moderator restores a hidden item.
#[utoipa::path(
    post,
    path = "/api/v1/moderation/{kind}/{id}/restore",
    operation_id = "restore_item",
    tag = "moderation",
    params(
        ("kind" = TargetKind, Path, description = "The kind of item."),
        ("id" = Uuid, Path, description = "The item's id."),
    ),
    request_body = RestoreBody,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Restored: the moderation case's id (`<kind>:<target id>`) and new version.", body = Changed),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or only moderators may restore items (`moderator_only`).", body = ErrorBody),
        (status = 404, description = "There is no such kind of item, or the id is not a UUID (`target_not_found`).", body = ErrorBody),
        (status = 409, description = "The item is not hidden (`target_not_hidden`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Unknown, missing or ill-typed fields (`invalid_body`), or the note breaks a text rule (e.g. `note_too_long`, `personal_data`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn restore(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path((kind, target_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RestoreBody>,
) -> Result<Json<Changed>, ApiError> {
    actor.moderator_only()?;
    let (kind, target_id) = target(&kind, &target_id)?;
    let command = ModerationCommand::Restore(Restore {
        kind,
        target_id,
        note: body.note,
    });
    change(
        &*state.moderation,
        &state.moderation_services,
        &aggregate_id(kind, target_id),
        command,
        &correlation,
    )
    .await
}

/// The body of `POST /api/v1/moderation/{kind}/{id}/suspend-author`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendBody {
    /// How long, in days (1–365).
    #[schema(minimum = 1, maximum = 365)]
    days: u32,
}

/// `POST /api/v1/moderation/{kind}/{id}/suspend-author`: a moderator suspends whoever wrote
/// the item. Nothing on the server knows who that is while the author is away (ADR 0014), so
/// the item is struck, and the author is suspended at their next command; the moderator
/// never learns who it is, and the answer says nothing about them.
#[utoipa::path(
    post,
    path = "/api/v1/moderation/{kind}/{id}/suspend-author",
    operation_id = "suspend_author",
    tag = "moderation",
    params(
        ("kind" = TargetKind, Path, description = "`post`, `comment` or `review`."),
        ("id" = Uuid, Path, description = "The item's id."),
    ),
    request_body = SuspendBody,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The item is struck: its author is suspended for `days` from their next command (`{\"struck\": true}`).", body = Value),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The caller is suspended (`member_suspended`) or not a moderator (`moderator_only`).", body = ErrorBody),
        (status = 404, description = "No such item, or its author withdrew (`target_not_found`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Days out of range (`suspension_days_out_of_range`) or a malformed body (`invalid_body`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn suspend_author(
    State(state): State<AppState>,
    actor: Actor,
    Path((kind, target_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<SuspendBody>,
) -> Result<Json<Value>, ApiError> {
    actor.moderator_only()?;
    let (kind, target_id) = target(&kind, &target_id)?;
    if !ward_domain::member::SUSPENSION_DAYS.contains(&body.days) {
        return Err(api_error(AggregateError::UserError(
            ward_domain::member::MemberError::SuspensionDaysOutOfRange(body.days),
        )));
    }
    let struck = state
        .member_items
        .strike(kind.as_str(), target_id, body.days)
        .await?;
    if !struck {
        return Err(ApiError::not_found(
            "target_not_found",
            "no such item, or its author withdrew",
        ));
    }
    Ok(Json(json!({"struck": true})))
}
