//! `POST /api/v1/posts`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use ward_domain::post::{CreatePost, Post, PostCommand};
use ward_platform::http::{ApiError, ApiJson, CorrelationId};

use crate::app::AppState;
use crate::execute::{api_error, execute};
use crate::session::Member;

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
    let command = PostCommand::Create(CreatePost {
        post_id: id,
        author: session.member_id,
        board: new.board,
        title: new.title,
        body: new.body,
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
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/posts/{id}"))],
        Json(json!({"id": id, "version": version})),
    ))
}
