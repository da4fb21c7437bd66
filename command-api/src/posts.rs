//! `POST /api/v1/posts` and `DELETE /api/v1/posts/{id}`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use cqrs_es::persist::{EventUpcaster, SemanticVersionEventUpcaster};
use cqrs_es::Aggregate;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use ward_domain::post::{upcast_fields, CreatePost, DeletePost, Post, PostCommand};
use ward_platform::http::{ApiError, ApiJson, CorrelationId};

use crate::app::AppState;
use crate::execute::{api_error, execute};
use crate::session::Member;

/// The role that may delete any post.
pub const MODERATOR: &str = "moderator";

/// The body of `POST /api/v1/posts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    board: String,
    title: String,
    body: String,
}

/// Publishes a post; answers `201` with its id, version and location.
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    Member(session): Member,
    correlation: CorrelationId,
    ApiJson(new): ApiJson<NewPost>,
) -> Result<impl IntoResponse, ApiError> {
    let id = Uuid::now_v7();
    let content_key = state.content_keys.create(Post::TYPE, id).await?;
    let command = PostCommand::Create(CreatePost {
        post_id: id,
        author: session.member_id,
        board: new.board,
        title: new.title,
        body: new.body,
        content_key,
    });
    let executed = execute::<Post, _>(
        &*state.posts,
        &state.post_services,
        &id.to_string(),
        command,
        &correlation,
    )
    .await;
    let version = match executed {
        Ok(version) => version,
        Err(error) => {
            state.content_keys.discard(Post::TYPE, id).await?;
            return Err(api_error(error));
        }
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/posts/{id}"))],
        Json(json!({"id": id, "version": version})),
    ))
}

/// Deletes a post (its author, or a moderator); its content key is destroyed with it.
#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<AppState>,
    Member(session): Member,
    correlation: CorrelationId,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::not_found("post_not_found", "there is no such post"))?;
    let command = PostCommand::Delete(DeletePost {
        post_id: id,
        actor: session.member_id,
        as_moderator: session.roles.iter().any(|r| r == MODERATOR),
    });
    let version = execute::<Post, _>(
        &*state.posts,
        &state.post_services,
        &id.to_string(),
        command,
        &correlation,
    )
    .await
    .map_err(api_error)?;
    Ok(Json(json!({"id": id, "version": version})))
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
