//! What Ward's HTTP APIs share: the error body, the JSON body extractor that turns every
//! malformed request into such an error, and correlation ids.
//!
//! Errors look like `{"error": "<stable_code>", "message": "...", "details": ...}`. Codes are
//! part of the API; messages are for people and may change.

use std::borrow::Cow;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::json;
use uuid::Uuid;

/// The header that carries a request's correlation id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The name of the session cookie's security scheme in OpenAPI documents.
pub const SESSION_COOKIE: &str = "session_cookie";

/// Declares the session cookie's security scheme in an OpenAPI document.
pub struct SessionCookie;

impl utoipa::Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION_COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "ward_session",
                "The session token. The cookie's name is configurable \
                 (`command_api.session_cookie`): production uses `__Host-ward_session` \
                 (HTTPS only), local development `ward_session`.",
            ))),
        );
    }
}

/// Every error's body, as [`ApiError`] answers it (for OpenAPI documents).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code, e.g. `unauthenticated`, `title_too_long`.
    pub error: String,
    /// For people; may change.
    pub message: String,
    /// Machine-readable details of a broken rule, e.g. `{"field": "title", "max": "100"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub details: Option<serde_json::Value>,
}

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: String,
    details: Option<serde_json::Value>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `status`, stable `code` and a human `message`.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds machine-readable details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 401: the caller must sign in.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in to do this",
        )
    }

    /// 404 with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 422: the request was understood but breaks a rule.
    pub fn invalid(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 413: the request body is over the size limit.
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        )
    }

    /// 503: a service Ward depends on (Redis, a database) cannot be reached; the client may
    /// try again shortly. The cause is logged, not answered.
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        tracing::warn!(%error, "a dependency is unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "a service Ward depends on is unavailable; try again in a few seconds",
        )
        .with_retry_after(5)
    }

    /// 500: something failed that the client cannot fix. The cause is logged, not answered.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; try again later",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Seconds the client should wait before trying again, if the error says.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        let unreachable = error
            .chain()
            .filter_map(|cause| cause.downcast_ref::<redis::RedisError>())
            .any(unreachable_redis);
        if unreachable {
            Self::unavailable(format!("{error:#}"))
        } else {
            Self::internal(format!("{error:#}"))
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(error: redis::RedisError) -> Self {
        if unreachable_redis(&error) {
            Self::unavailable(error)
        } else {
            Self::internal(error)
        }
    }
}

/// Whether `error` says Redis could not be reached (rather than that a command failed).
fn unreachable_redis(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.code, "message": self.message});
        if let Some(details) = self.details {
            body["details"] = details;
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A JSON request body whose every rejection is an [`ApiError`]: 415 without a JSON content
/// type, 413 over the body limit, 400 for malformed JSON, 422 for well-formed JSON of the wrong
/// shape (unknown or missing fields).
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", text)
        }
        JsonRejection::JsonDataError(_) => ApiError::invalid("invalid_body", text),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(),
        other => ApiError::new(other.status(), "bad_request", text),
    }
}

/// Query parameters whose rejection is an [`ApiError`] (400, code `invalid_query`).
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                rejection.body_text(),
            )),
        }
    }
}

/// The correlation id of the request: the client's `x-request-id` when it is a plausible id,
/// otherwise a fresh UUIDv7. It goes into event metadata and logs, and back in the response.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

impl CorrelationId {
    fn from_header(value: Option<&HeaderValue>) -> Self {
        let given = value
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                (1..=64).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .map(str::to_owned);
        Self(given.unwrap_or_else(|| Uuid::now_v7().to_string()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CorrelationId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CorrelationId>()
            .cloned()
            .unwrap_or_else(|| CorrelationId::from_header(parts.headers.get(REQUEST_ID))))
    }
}

/// Middleware: settles the correlation id, runs the request inside a span that carries it,
/// and echoes it in the response.
pub async fn correlate(mut request: Request, next: Next) -> Response {
    let id = CorrelationId::from_header(request.headers().get(REQUEST_ID));
    request.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(
        "request",
        correlation_id = %id.0,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = tracing::Instrument::instrument(next.run(request), span).await;
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plausible_request_id_is_kept_and_anything_else_replaced() {
        let kept = CorrelationId::from_header(Some(&HeaderValue::from_static("abc-123")));
        assert_eq!(kept.0, "abc-123");
        let replaced = CorrelationId::from_header(Some(&HeaderValue::from_static("a b<script>")));
        assert_ne!(replaced.0, "a b<script>");
        assert_eq!(
            Uuid::parse_str(&replaced.0)
                .map(|u| u.get_version_num())
                .ok(),
            Some(7)
        );
    }
}
