//! The comment endpoints: comment or reply, edit, delete, accept an answer.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use ward_domain::post::{
    AcceptAnswer, AddComment, DeleteComment, EditComment, Post, PostCommand, PostError,
};
use ward_platform::http::{ApiError, ApiJson, CorrelationId};

use crate::app::AppState;
use crate::create::{text_key, Create, Planned, Record, Requester};
use crate::execute::change;
use crate::members::Actor;
use crate::openapi::{
    Changed, CommentCreated, ErrorBody, IdempotencyKey, Internal, MalformedJson,
    MalformedJsonOrIdempotencyKey, PayloadTooLarge, RateLimited, Unauthenticated,
    UnsupportedMediaType,
};
use crate::proofs::{comment_id, post_id};

/// The key table's item type for comments.
const COMMENT: &str = "comment";

/// The body of `POST /api/v1/posts/{id}/comments`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    body: String,
    /// The top-level comment to reply to.
    #[serde(default)]
    parent_id: Option<Uuid>,
}

/// `POST /api/v1/posts/{id}/comments`: comments (or replies); `201` with the comment's id
/// and the thread's version. Honours `Idempotency-Key` and the comment rate limit.
#[utoipa::path(
    post,
    path = "/api/v1/posts/{id}/comments",
    operation_id = "create_comment",
    tag = "comments",
    params(
        IdempotencyKey,
        ("id" = Uuid, Path, description = "The post's id."),
    ),
    request_body = NewComment,
    security(("session_cookie" = [])),
    responses(
        (status = 201, description = "Commented: the comment's id, its post and the thread's version.", body = CommentCreated, headers(("Location" = String, description = "The new comment: `/api/v1/posts/{id}/comments/{comment}`."))),
        (status = 400, response = MalformedJsonOrIdempotencyKey),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`).", body = ErrorBody),
        (status = 404, description = "There is no such post (`post_not_found`) or parent comment (`comment_not_found`).", body = ErrorBody),
        (status = 409, description = "The post is deleted (`post_deleted`) or the parent comment is (`comment_deleted`), or a request with this `Idempotency-Key` is still running (`idempotency_key_in_progress`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Unknown, missing or ill-typed fields (`invalid_body`), or a text rule is broken (e.g. `body_too_long`, `personal_data`), or the parent is itself a reply (`reply_too_deep`), or the `Idempotency-Key` was used with another body (`idempotency_key_reused`).", body = ErrorBody),
        (status = 429, description = "Over the member's comment rate limit (`rate_limited`).", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the limit's window ends."))),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    headers: HeaderMap,
    Path(post): Path<String>,
    ApiJson(new): ApiJson<NewComment>,
) -> Result<Response, ApiError> {
    let post = post_id(&post)?;
    let request = serde_json::to_vec(&(post, &new)).map_err(ApiError::internal)?;
    let member = actor.member;
    Create::<Post, _> {
        limit: ("comment", state.rate_limits.comments),
        store: &*state.posts,
        services: &state.post_services,
        record: Record::Text {
            kind: COMMENT,
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
                aggregate_id: post.to_string(),
                command: PostCommand::Comment(AddComment {
                    post_id: post,
                    comment_id: id,
                    author: member,
                    parent_id: new.parent_id,
                    body: new.body,
                    content_key: text_key(content_key)?,
                }),
                location: Some(format!("/api/v1/posts/{post}/comments/{id}")),
            })
        },
        |id, version| CommentCreated {
            id,
            post_id: post,
            version,
        },
    )
    .await
}

/// The body of `PATCH /api/v1/posts/{id}/comments/{comment}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentEdit {
    body: String,
}

/// `PATCH /api/v1/posts/{id}/comments/{comment}`: its author changes a comment.
#[utoipa::path(
    patch,
    path = "/api/v1/posts/{id}/comments/{comment}",
    operation_id = "edit_comment",
    tag = "comments",
    params(
        ("id" = Uuid, Path, description = "The post's id."),
        ("comment" = Uuid, Path, description = "The comment's id."),
    ),
    request_body = CommentEdit,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Changed: the post's id and the thread's new version.", body = Changed),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or only its author may edit a comment (`not_author`).", body = ErrorBody),
        (status = 404, description = "There is no such post (`post_not_found`) or comment (`comment_not_found`).", body = ErrorBody),
        (status = 409, description = "The post or the comment is deleted (`post_deleted`, `comment_deleted`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Unknown, missing or ill-typed fields (`invalid_body`), or a text rule is broken (e.g. `body_too_long`, `personal_data`).", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn edit(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path((post, comment)): Path<(String, String)>,
    ApiJson(edit): ApiJson<CommentEdit>,
) -> Result<Json<Changed>, ApiError> {
    let (post, comment) = (post_id(&post)?, comment_id(&comment)?);
    let content_key = state.content_keys.existing(COMMENT, comment).await?;
    let command = PostCommand::EditComment(EditComment {
        post_id: post,
        comment_id: comment,
        actor: actor.member,
        body: edit.body,
        content_key,
    });
    let limit = state.rate_limits.edits;
    let aggregate = post.to_string();
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

/// `DELETE /api/v1/posts/{id}/comments/{comment}`: its author or a moderator deletes a
/// comment; its content key is destroyed with it.
#[utoipa::path(
    delete,
    path = "/api/v1/posts/{id}/comments/{comment}",
    operation_id = "delete_comment",
    tag = "comments",
    params(
        ("id" = Uuid, Path, description = "The post's id."),
        ("comment" = Uuid, Path, description = "The comment's id."),
    ),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Deleted: the post's id and the thread's new version.", body = Changed),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or only its author or a moderator may delete a comment (`not_author`).", body = ErrorBody),
        (status = 404, description = "There is no such post (`post_not_found`) or comment (`comment_not_found`).", body = ErrorBody),
        (status = 409, description = "The post or the comment is already deleted (`post_deleted`, `comment_deleted`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path((post, comment)): Path<(String, String)>,
) -> Result<Json<Changed>, ApiError> {
    let (post, comment) = (post_id(&post)?, comment_id(&comment)?);
    let command = PostCommand::DeleteComment(DeleteComment {
        post_id: post,
        comment_id: comment,
        actor: actor.member,
        as_moderator: actor.moderator,
    });
    change(
        &*state.posts,
        &state.post_services,
        &post.to_string(),
        command,
        &correlation,
    )
    .await
}

/// The body of `PUT /api/v1/posts/{id}/accepted-answer`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    comment_id: Uuid,
}

/// `PUT /api/v1/posts/{id}/accepted-answer`: the question's author accepts an answer.
#[utoipa::path(
    put,
    path = "/api/v1/posts/{id}/accepted-answer",
    operation_id = "accept_answer",
    tag = "comments",
    params(
        ("id" = Uuid, Path, description = "The post's id."),
    ),
    request_body = Accepted,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Accepted: the post's id and new version.", body = Changed),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`), or only the question's author may accept an answer (`not_author`), and not their own (`own_answer`).", body = ErrorBody),
        (status = 404, description = "There is no such post (`post_not_found`) or comment (`comment_not_found`).", body = ErrorBody),
        (status = 409, description = "An answer is already accepted (`answer_already_accepted`), or the post or comment is deleted (`post_deleted`, `comment_deleted`), or someone changed it at the same moment (`conflict`).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Unknown, missing or ill-typed fields (`invalid_body`), or the post is not a question (`not_a_question`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn accept(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(post): Path<String>,
    ApiJson(accepted): ApiJson<Accepted>,
) -> Result<Json<Changed>, ApiError> {
    let post = post_id(&post)?;
    let command = PostCommand::AcceptAnswer(AcceptAnswer {
        post_id: post,
        comment_id: accepted.comment_id,
        actor: actor.member,
    });
    change(
        &*state.posts,
        &state.post_services,
        &post.to_string(),
        command,
        &correlation,
    )
    .await
}
