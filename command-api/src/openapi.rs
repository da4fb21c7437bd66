//! The command API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and served at `GET /api/v1/openapi/commands.json` (other GET paths belong to
//! the query API; a gateway routes this one to command pods).
//!
//! Every operation needs the session cookie ([`SESSION_COOKIE`]); creates accept an
//! `Idempotency-Key` header ([`IdempotencyKey`]). Every error has one body, [`ErrorBody`]: the
//! JSON of `ward_platform::http::ApiError`. Any operation may answer `503`
//! (`service_unavailable`, with `Retry-After`) while Redis or the event store cannot be reached
//! ([`Unavailable`]).

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToResponse, ToSchema};

use crate::{claims, comments, moderation, posts, reviews};

pub use ward_platform::http::{SessionCookie, Unavailable, SESSION_COOKIE};

/// The command API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ward command API",
        version = env!("CARGO_PKG_VERSION"),
        description = "Ward's write side. Every command needs a signed-in member's session \
                       cookie; creates honour `Idempotency-Key`. Errors are \
                       `{\"error\": code, \"message\": text, \"details\"?: any}`; codes are \
                       stable, messages are for people."
    ),
    paths(
        posts::create,
        posts::edit,
        posts::delete,
        posts::like,
        posts::unlike,
        comments::create,
        comments::edit,
        comments::delete,
        comments::accept,
        claims::submit,
        claims::approve,
        claims::reject,
        claims::revoke,
        reviews::write,
        reviews::edit,
        reviews::delete,
        reviews::helpful,
        moderation::report,
        moderation::hide,
        moderation::restore,
        moderation::suspend_author,
        crate::claim_queue::queue,
        crate::email::send_code,
        crate::email::confirm_code,
        crate::members::withdraw,
        crate::members::change,
        crate::members::mark_notifications_read,
    ),
    components(
        schemas(Created, CommentCreated, Changed, Withdrawn, ErrorBody),
        responses(
            Unauthenticated,
            Internal,
            PayloadTooLarge,
            UnsupportedMediaType,
            MalformedJson,
            MalformedJsonOrIdempotencyKey,
            RateLimited,
        )
    ),
    modifiers(&SessionCookie, &Unavailable),
    tags(
        (name = "posts", description = "Posts and likes."),
        (name = "comments", description = "Comments, replies and accepted answers."),
        (name = "claims", description = "Affiliation claims and their moderation."),
        (name = "reviews", description = "Hospital reviews by verified insiders."),
        (name = "moderation", description = "Reports, and moderators' hide and restore."),
        (name = "members", description = "The member's own account: job category, notifications read, withdrawal."),
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`: this document.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `201` to a create: the new item and the version of the aggregate it lives in.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    /// The new item's id: a UUID, except for a report, whose id is its moderation case's
    /// (`<kind>:<target id>`).
    pub id: String,
    /// The aggregate's version after the command: a consistency token for reads.
    pub version: u64,
}

/// `201` to a new comment: the comment, its post and the thread's version.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentCreated {
    /// The comment's id.
    pub id: uuid::Uuid,
    /// The post the comment is on.
    pub post_id: uuid::Uuid,
    /// The post's version after the command: a consistency token for reads.
    pub version: u64,
}

/// `200` to a change: the changed aggregate and its new version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Changed {
    /// The aggregate's id: the post's for posts and comments, the claim's, the review's, or
    /// the moderation case's (`<kind>:<target id>`).
    pub id: String,
    /// The aggregate's version after the command: a consistency token for reads.
    pub version: u64,
}

impl Changed {
    /// The answer for the aggregate `id` at `version`.
    pub fn of(id: impl std::fmt::Display, version: usize) -> Self {
        Self {
            id: id.to_string(),
            version: u64::try_from(version).unwrap_or(u64::MAX),
        }
    }
}

/// The answer to a withdrawal.
#[derive(Debug, Serialize, ToSchema)]
pub struct Withdrawn {
    /// Always true.
    pub withdrawn: bool,
    /// How many of the member's items had their content keys destroyed.
    pub erased_items: u64,
}

pub use ward_platform::http::ErrorBody;

// The error answers that many operations share, as reusable responses
// (`#/components/responses/...`): handlers refer to them with `response = ...`. Each is an
// [`ErrorBody`].

/// `401`: no session, or not a registered member's.
#[derive(Debug, ToResponse)]
#[response(
    description = "Not signed in, or the session is not a registered member's (`unauthenticated`)."
)]
pub struct Unauthenticated(pub ErrorBody);

/// `500`: a failure on the server's side.
#[derive(Debug, ToResponse)]
#[response(description = "Something failed on the server's side (`internal`).")]
pub struct Internal(pub ErrorBody);

/// `413`: the body is too large.
#[derive(Debug, ToResponse)]
#[response(description = "The body is over the size limit (`payload_too_large`).")]
pub struct PayloadTooLarge(pub ErrorBody);

/// `415`: the body is not JSON.
#[derive(Debug, ToResponse)]
#[response(description = "The body is not `application/json` (`unsupported_media_type`).")]
pub struct UnsupportedMediaType(pub ErrorBody);

/// `429`: over the member's rate limit for this kind of command.
#[derive(Debug, ToResponse)]
#[response(
    description = "Over the member's rate limit for this kind of command (`rate_limited`).",
    headers(("Retry-After" = u64, description = "Seconds until the limit's window ends."))
)]
pub struct RateLimited(pub ErrorBody);

/// `400` to a change: the body is not JSON.
#[derive(Debug, ToResponse)]
#[response(description = "Malformed JSON (`malformed_json`).")]
pub struct MalformedJson(pub ErrorBody);

/// `400` to a create: the body is not JSON, or the `Idempotency-Key` is invalid.
#[derive(Debug, ToResponse)]
#[response(
    description = "Malformed JSON (`malformed_json`) or an invalid `Idempotency-Key` \
                   (`idempotency_key_invalid`)."
)]
pub struct MalformedJsonOrIdempotencyKey(pub ErrorBody);

/// The `Idempotency-Key` header of creates.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// Makes the create safe to retry: the same key with the same body answers what the first
    /// request answered and creates nothing more; with another body it is refused (422); while
    /// the first request runs, 409. 1 to 255 visible ASCII characters, kept 24 hours.
    #[param(
        rename = "Idempotency-Key",
        value_type = String,
        required = false,
        min_length = 1,
        max_length = 255
    )]
    pub idempotency_key: Option<String>,
}
