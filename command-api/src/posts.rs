//! The post endpoints: create, edit, delete, like and unlike.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use cqrs_es::persist::{EventUpcaster, SemanticVersionEventUpcaster};
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use ward_domain::post::{
    upcast_fields, Badge, BadgeRegion, CreatePost, DeletePost, EditPost, Post, PostCommand,
    PostError, Vote,
};
use ward_platform::http::{ApiError, ApiJson, CorrelationId};

use crate::app::AppState;
use crate::create::{text_key, Create, Planned, Record, Requester};
use crate::execute::change;
use crate::labels::Place;
use crate::members::Actor;
use crate::openapi::{
    Changed, Created, ErrorBody, IdempotencyKey, Internal, MalformedJson,
    MalformedJsonOrIdempotencyKey, PayloadTooLarge, RateLimited, Unauthenticated,
    UnsupportedMediaType,
};
use crate::proofs::{insider, post_id};

/// The body of `POST /api/v1/posts`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    board: String,
    title: String,
    body: String,
    /// What the post shows about its author (only at creation): absent for nothing, `{}`
    /// for the member's job category, `{"hospital_id": …}` for a hospital where the member's
    /// claim is verified, with that claim's job category. The post shows the hospital only if
    /// K members of that job category are verified there now; otherwise its region and kind,
    /// if enough of them are at hospitals of that region and kind below K; otherwise the job
    /// category only. Decided once: it never changes afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    badge: Option<BadgeChoice>,
}

/// The badge a member chooses for a post.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BadgeChoice {
    /// A hospital of one of the member's verified claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hospital_id: Option<Uuid>,
}

/// The badge `actor` chose, checked against their verified claim (403 `not_insider`), with
/// what it may show decided now, from the verified-member counts of the claim's job category
/// ([`crate::labels`]): the hospital, its region and kind, or nothing. The event holds only
/// that, so no count crossing K later changes what the post says.
async fn badge(
    state: &AppState,
    actor: &Actor,
    choice: Option<&BadgeChoice>,
) -> Result<Option<Badge>, ApiError> {
    let Some(choice) = choice else {
        return Ok(None);
    };
    let Some(hospital) = choice.hospital_id else {
        return Ok(Some(Badge {
            job_category: actor.job_category,
            hospital_id: None,
            region: None,
        }));
    };
    let proof = insider(state, actor, hospital).await?;
    let (hospital_id, region) = match state.labels.place(hospital, proof.job_category).await? {
        Place::Hospital => (Some(hospital), None),
        Place::Region { sido, kind } => (None, Some(BadgeRegion { sido, kind })),
        Place::Nowhere => (None, None),
    };
    Ok(Some(Badge {
        job_category: proof.job_category,
        hospital_id,
        region,
    }))
}

/// `POST /api/v1/posts`: publishes a post; `201` with its id, version and location. Honours
/// `Idempotency-Key` and the member's post rate limit.
#[utoipa::path(
    post,
    path = "/api/v1/posts",
    operation_id = "create_post",
    tag = "posts",
    params(
        IdempotencyKey,
    ),
    request_body = NewPost,
    security(("session_cookie" = [])),
    responses(
        (status = 201, description = "Published: the post's id and version.", body = Created, headers(("Location" = String, description = "The new post: `/api/v1/posts/{id}`."))),
        (status = 400, response = MalformedJsonOrIdempotencyKey),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or the badge names a hospital where the member's claim is not verified (`not_insider`).", body = ErrorBody),
        (status = 409, description = "A request with this `Idempotency-Key` is still running (`idempotency_key_in_progress`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Unknown, missing or ill-typed fields (`invalid_body`), or the post breaks a rule: an unknown board (`board_unknown`), a text rule (e.g. `title_too_long`, `personal_data`), or the `Idempotency-Key` was used with another body (`idempotency_key_reused`).", body = ErrorBody),
        (status = 429, description = "Over the member's post rate limit (`rate_limited`).", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the limit's window ends."))),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    headers: HeaderMap,
    ApiJson(new): ApiJson<NewPost>,
) -> Result<Response, ApiError> {
    let request = serde_json::to_vec(&new).map_err(ApiError::internal)?;
    let badge = badge(&state, &actor, new.badge.as_ref()).await?;
    let member = actor.member;
    Create::<Post, _> {
        limit: ("post", state.rate_limits.posts),
        store: &*state.posts,
        services: &state.post_services,
        record: Record::Text {
            kind: Post::TYPE,
            keep_key: false,
        },
        exists: |refusal| *refusal == PostError::AlreadyExists,
    }
    .run(
        Requester::new(&state, member, &headers, &correlation),
        &request,
        |key| key,
        |id, content_key| {
            Ok(Planned {
                aggregate_id: id.to_string(),
                command: PostCommand::Create(CreatePost {
                    post_id: id,
                    author: member,
                    board: new.board,
                    title: new.title,
                    body: new.body,
                    content_key: text_key(content_key)?,
                    badge,
                }),
                location: Some(format!("/api/v1/posts/{id}")),
            })
        },
        |id, version| Created {
            id: id.to_string(),
            version,
        },
    )
    .await
}

/// The body of `PATCH /api/v1/posts/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostEdit {
    title: String,
    body: String,
}

/// `PATCH /api/v1/posts/{id}`: the author changes title and body.
#[utoipa::path(
    patch,
    path = "/api/v1/posts/{id}",
    operation_id = "edit_post",
    tag = "posts",
    params(
        ("id" = Uuid, Path, description = "The post's id."),
    ),
    request_body = PostEdit,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Changed: the post's id and new version.", body = Changed),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or only its author may edit a post (`not_author`).", body = ErrorBody),
        (status = 404, description = "There is no such post (`post_not_found`).", body = ErrorBody),
        (status = 409, description = "The post is deleted (`post_deleted`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Unknown, missing or ill-typed fields (`invalid_body`), or a text rule is broken (e.g. `title_too_long`, `personal_data`).", body = ErrorBody),
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
    ApiJson(edit): ApiJson<PostEdit>,
) -> Result<Json<Changed>, ApiError> {
    let id = post_id(&id)?;
    let content_key = state.content_keys.existing(Post::TYPE, id).await?;
    let command = PostCommand::Edit(EditPost {
        post_id: id,
        actor: actor.member,
        title: edit.title,
        body: edit.body,
        content_key,
    });
    let limit = state.rate_limits.edits;
    let aggregate = id.to_string();
    let edited = change(
        &*state.posts,
        &state.post_services,
        &aggregate,
        command,
        &correlation,
    );
    state
        .rate_limiter
        .within("edit", actor.member, limit, edited)
        .await
}

/// `DELETE /api/v1/posts/{id}`: the author or a moderator deletes a post; its content key
/// is destroyed with it.
#[utoipa::path(
    delete,
    path = "/api/v1/posts/{id}",
    operation_id = "delete_post",
    tag = "posts",
    params(
        ("id" = Uuid, Path, description = "The post's id."),
    ),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Deleted: the post's id and new version.", body = Changed),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or only its author or a moderator may delete a post (`not_author`).", body = ErrorBody),
        (status = 404, description = "There is no such post (`post_not_found`).", body = ErrorBody),
        (status = 409, description = "The post is already deleted (`post_deleted`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
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
    let id = post_id(&id)?;
    let command = PostCommand::Delete(DeletePost {
        post_id: id,
        actor: actor.member,
        as_moderator: actor.moderator,
    });
    change(
        &*state.posts,
        &state.post_services,
        &id.to_string(),
        command,
        &correlation,
    )
    .await
}

/// `PUT /api/v1/posts/{id}/like`.
#[utoipa::path(
    put,
    path = "/api/v1/posts/{id}/like",
    operation_id = "like_post",
    tag = "posts",
    params(
        ("id" = Uuid, Path, description = "The post's id."),
    ),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Liked: the post's id and new version.", body = Changed),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or members may not like their own posts (`post_own_like`).", body = ErrorBody),
        (status = 404, description = "There is no such post (`post_not_found`).", body = ErrorBody),
        (status = 409, description = "The member already likes it (`post_already_liked`) or it is deleted (`post_deleted`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn like(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(id): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    vote(&state, &actor, &correlation, &id, PostCommand::Like).await
}

/// `DELETE /api/v1/posts/{id}/like`.
#[utoipa::path(
    delete,
    path = "/api/v1/posts/{id}/like",
    operation_id = "unlike_post",
    tag = "posts",
    params(
        ("id" = Uuid, Path, description = "The post's id."),
    ),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Like withdrawn: the post's id and new version.", body = Changed),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`).", body = ErrorBody),
        (status = 404, description = "There is no such post (`post_not_found`).", body = ErrorBody),
        (status = 409, description = "The member does not like it (`post_not_liked`) or it is deleted (`post_deleted`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn unlike(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(id): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    vote(&state, &actor, &correlation, &id, PostCommand::Unlike).await
}

/// Likes or unlikes the post `id` as `actor`, within the member's like rate limit.
async fn vote(
    state: &AppState,
    actor: &Actor,
    correlation: &CorrelationId,
    id: &str,
    command: fn(Vote) -> PostCommand,
) -> Result<Json<Changed>, ApiError> {
    let id = post_id(id)?;
    let aggregate = id.to_string();
    let voted = change(
        &*state.posts,
        &state.post_services,
        &aggregate,
        command(Vote {
            post_id: id,
            member: actor.member,
        }),
        correlation,
    );
    let limit = state.rate_limits.likes;
    state
        .rate_limiter
        .within("like", actor.member, limit, voted)
        .await
}

/// Upcasters for events stored in older versions (see `ward_domain::post::upcast_fields`).
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(SemanticVersionEventUpcaster::new(
        "PostCreated",
        "2",
        Box::new(|mut payload| {
            if let Some(fields) = payload.get_mut("PostCreated") {
                *fields = upcast_fields("PostCreated", "1", fields.take());
            }
            payload
        }),
    ))]
}
