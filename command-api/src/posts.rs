//! `POST /api/v1/posts` and `DELETE /api/v1/posts/{id}`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cqrs_es::persist::{EventUpcaster, SemanticVersionEventUpcaster};
use cqrs_es::{Aggregate, AggregateError, EventStore};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use ward_domain::post::{upcast_fields, CreatePost, DeletePost, Post, PostCommand, PostError};
use ward_platform::http::{ApiError, ApiJson, CorrelationId};

use crate::app::AppState;
use crate::execute::{api_error, execute};
use crate::idempotency::{Answer, Claim};
use crate::session::{Member, Session};

/// The role that may delete any post.
pub const MODERATOR: &str = "moderator";

/// The body of `POST /api/v1/posts`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    board: String,
    title: String,
    body: String,
}

/// Publishes a post; answers `201` with its id, version and location. Honours
/// `Idempotency-Key` and the member's post rate limit.
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    Member(session): Member,
    correlation: CorrelationId,
    headers: HeaderMap,
    ApiJson(new): ApiJson<NewPost>,
) -> Result<Response, ApiError> {
    let request = serde_json::to_vec(&new).map_err(ApiError::internal)?;
    let claim = state
        .idempotency
        .claim(session.member_id, &headers, &request)
        .await?;
    if let Claim::Replay(answer) = claim {
        return Ok(answer.into_response());
    }
    let created = create_once(&state, &session, &correlation, &claim, new).await;
    match created {
        Ok(answer) => {
            state.idempotency.answer(&claim, &answer).await?;
            Ok(answer.into_response())
        }
        Err(error) => {
            state.idempotency.release(&claim).await?;
            Err(error)
        }
    }
}

async fn create_once(
    state: &AppState,
    session: &Session,
    correlation: &CorrelationId,
    claim: &Claim,
    new: NewPost,
) -> Result<Answer, ApiError> {
    let id = claim.resource_id();
    let location = format!("/api/v1/posts/{id}");
    let answer = |version: usize| Answer {
        status: StatusCode::CREATED.as_u16(),
        body: json!({"id": id, "version": version}),
        location: Some(location.clone()),
    };
    state
        .rate_limiter
        .check("post", session.member_id, state.rate_limits.posts)
        .await?;
    let content_key = state.content_keys.create(Post::TYPE, id).await?;
    let command = PostCommand::Create(CreatePost {
        post_id: id,
        author: session.member_id,
        board: new.board,
        title: new.title,
        body: new.body,
        content_key,
    });
    match execute::<Post, _>(
        &*state.posts,
        &state.post_services,
        &id.to_string(),
        command,
        correlation,
    )
    .await
    {
        Ok(version) => Ok(answer(version)),
        // A retry of a claimed create whose first attempt committed but never answered.
        Err(AggregateError::UserError(PostError::AlreadyExists))
            if matches!(claim, Claim::New { .. }) =>
        {
            let version = state
                .posts
                .load_events(&id.to_string())
                .await
                .map_err(ApiError::internal)?
                .len();
            Ok(answer(version))
        }
        Err(error) => {
            state.content_keys.discard(Post::TYPE, id).await?;
            Err(api_error(error))
        }
    }
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
