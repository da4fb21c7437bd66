//! The comment endpoints: comment or reply, edit, delete, accept an answer.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use cqrs_es::AggregateError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;
use ward_domain::post::{
    AcceptAnswer, AddComment, DeleteComment, EditComment, PostCommand, PostError,
};
use ward_platform::http::{ApiError, ApiJson, CorrelationId};

use crate::app::AppState;
use crate::execute::execute;
use crate::idempotency::{created_before, Answer};
use crate::members::Actor;
use crate::posts::{post_id, run};

/// The key table's item type for comments.
const COMMENT: &str = "comment";

fn comment_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id)
        .map_err(|_| ApiError::not_found("comment_not_found", "there is no such comment"))
}

/// The body of `POST /api/v1/posts/{id}/comments`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    body: String,
    /// The top-level comment to reply to.
    #[serde(default)]
    parent_id: Option<Uuid>,
}

/// `POST /api/v1/posts/{id}/comments`: comments (or replies); `201` with the comment's id
/// and the thread's version. Honours `Idempotency-Key` and the comment rate limit.
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
    let (state, correlation) = (&state, &correlation);
    state
        .idempotency
        .run(member, &headers, &request, |id, claimed| async move {
            state
                .rate_limiter
                .check("comment", member, state.rate_limits.comments)
                .await?;
            let content_key = state.content_keys.create(COMMENT, id).await?;
            let command = PostCommand::Comment(AddComment {
                post_id: post,
                comment_id: id,
                author: member,
                parent_id: new.parent_id,
                body: new.body,
                content_key,
            });
            let version = match execute(
                &*state.posts,
                &state.post_services,
                &post.to_string(),
                command,
                correlation,
            )
            .await
            {
                Ok(version) => version,
                Err(error) => {
                    if !matches!(error, AggregateError::UserError(PostError::AlreadyExists)) {
                        state.content_keys.discard(COMMENT, id).await?;
                    }
                    created_before(&*state.posts, &post.to_string(), claimed, error, |e| {
                        *e == PostError::AlreadyExists
                    })
                    .await?
                }
            };
            Ok(Answer {
                status: StatusCode::CREATED.as_u16(),
                body: json!({"id": id, "post_id": post, "version": version}),
                location: Some(format!("/api/v1/posts/{post}/comments/{id}")),
            })
        })
        .await
}

/// The body of `PATCH /api/v1/posts/{id}/comments/{comment}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentEdit {
    body: String,
}

/// `PATCH /api/v1/posts/{id}/comments/{comment}`: its author changes a comment.
#[tracing::instrument(skip_all)]
pub async fn edit(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path((post, comment)): Path<(String, String)>,
    ApiJson(edit): ApiJson<CommentEdit>,
) -> Result<Json<Value>, ApiError> {
    let (post, comment) = (post_id(&post)?, comment_id(&comment)?);
    let content_key = state.content_keys.existing(COMMENT, comment).await?;
    let command = PostCommand::EditComment(EditComment {
        post_id: post,
        comment_id: comment,
        actor: actor.member,
        body: edit.body,
        content_key,
    });
    run(&state, &correlation, post, command).await
}

/// `DELETE /api/v1/posts/{id}/comments/{comment}`: its author or a moderator deletes a
/// comment; its content key is destroyed with it.
#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path((post, comment)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (post, comment) = (post_id(&post)?, comment_id(&comment)?);
    let command = PostCommand::DeleteComment(DeleteComment {
        post_id: post,
        comment_id: comment,
        actor: actor.member,
        as_moderator: actor.moderator,
    });
    run(&state, &correlation, post, command).await
}

/// The body of `PUT /api/v1/posts/{id}/accepted-answer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    comment_id: Uuid,
}

/// `PUT /api/v1/posts/{id}/accepted-answer`: the question's author accepts an answer.
#[tracing::instrument(skip_all)]
pub async fn accept(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(post): Path<String>,
    ApiJson(accepted): ApiJson<Accepted>,
) -> Result<Json<Value>, ApiError> {
    let post = post_id(&post)?;
    let command = PostCommand::AcceptAnswer(AcceptAnswer {
        post_id: post,
        comment_id: accepted.comment_id,
        actor: actor.member,
    });
    run(&state, &correlation, post, command).await
}
