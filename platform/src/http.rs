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

/// Documents in an OpenAPI document that every operation may answer
/// `503 service_unavailable` with `Retry-After` ([`ApiError::unavailable`]) while a service it
/// depends on cannot be reached: adds the reusable response `Unavailable` and refers to it
/// from every operation that does not document a `503` of its own.
pub struct Unavailable;

impl utoipa::Modify for Unavailable {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{header::Header, Content, Ref, RefOr, ResponseBuilder};
        use utoipa::{PartialSchema, ToSchema};
        let response = ResponseBuilder::new()
            .description(
                "A service Ward depends on cannot be reached for now (`service_unavailable`); \
                 try again after `Retry-After` seconds.",
            )
            .header("Retry-After", Header::new(u64::schema()))
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name(ErrorBody::name()))),
            )
            .build();
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .entry(ErrorBody::name().into_owned())
            .or_insert_with(ErrorBody::schema);
        components
            .responses
            .insert("Unavailable".to_owned(), RefOr::T(response));
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("503".to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Unavailable")));
            }
        }
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
        tracing::warn!(error = %format_args!("{error:#}"), "a dependency is unavailable");
        Self::still_unavailable()
    }

    /// 503 like [`ApiError::unavailable`], for a dependency already known to be down (its
    /// failure was logged when it was found out): logs nothing, so an outage does not log a
    /// line per request.
    pub fn still_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "a service Ward depends on is unavailable; try again in a few seconds",
        )
        .with_retry_after(RETRY_AFTER_SECS)
    }

    /// 500: something failed that the client cannot fix. The cause is logged, not answered.
    ///
    /// A failure caused by a dependency that cannot be reached right now is an outage, not a
    /// bug, and answers `503` like [`ApiError::unavailable`]: whatever `error` is — a
    /// `sqlx::Error`, a `redis::RedisError`, an `anyhow::Error` or boxed error carrying one
    /// among its causes — [`unreachable_dependency`] decides, here and in the `From`
    /// conversions, so no call site has to tell the two apart.
    pub fn internal<E: std::fmt::Display + 'static>(error: E) -> Self {
        if as_error(&error).is_some_and(unreachable_dependency) {
            return Self::unavailable(error);
        }
        tracing::error!(error = %format_args!("{error:#}"), "request failed");
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
        Self::internal(error)
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(error: redis::RedisError) -> Self {
        Self::internal(error)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::internal(error)
    }
}

/// Seconds a client is asked to wait before trying again while a dependency is unavailable.
pub const RETRY_AFTER_SECS: u64 = 5;

/// `error` as a standard error with its chain of causes, if it is of a kind that can carry
/// a dependency's failure.
fn as_error(error: &dyn std::any::Any) -> Option<&(dyn std::error::Error + 'static)> {
    type Boxed = Box<dyn std::error::Error + Send + Sync>;
    if let Some(error) = error.downcast_ref::<anyhow::Error>() {
        Some(error.as_ref())
    } else if let Some(error) = error.downcast_ref::<Boxed>() {
        Some(error.as_ref())
    } else if let Some(error) = error.downcast_ref::<sqlx::Error>() {
        Some(error)
    } else if let Some(error) = error.downcast_ref::<redis::RedisError>() {
        Some(error)
    } else {
        None
    }
}

/// Whether `error`, or any error that caused it, says that a service Ward depends on could
/// not be reached — Redis, PostgreSQL or MariaDB refused or dropped the connection, did not
/// answer in time, or is shutting down — rather than that a request to it failed. Such a
/// failure answers `503 service_unavailable` with `Retry-After`, never `500`.
pub fn unreachable_dependency(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |cause| cause.source()).any(|cause| {
        if let Some(error) = cause.downcast_ref::<sqlx::Error>() {
            unreachable_database(error)
        } else if let Some(error) = cause.downcast_ref::<redis::RedisError>() {
            unreachable_redis(error)
        } else {
            false
        }
    })
}

/// Whether `error` says the database could not be reached: the connection failed or broke,
/// the pool found no connection in time, or the server refuses connections for now
/// (SQLSTATE class `08`, connection exception, which MariaDB uses too; PostgreSQL's `57P0x`,
/// shutting down or starting up; `53300`, too many connections).
fn unreachable_database(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }),
        _ => false,
    }
}

/// Whether `error` says Redis could not be reached (rather than that a command failed), or
/// asks to be tried again later: it is loading its data after a restart (`LOADING`), or has
/// no primary right now.
fn unreachable_redis(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error.is_timeout()
        || error.is_unrecoverable_error()
        || matches!(error.retry_method(), redis::RetryMethod::WaitAndRetry)
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
    fn an_unreachable_dependency_is_503_with_retry_after_and_anything_else_500() {
        let refused = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(sqlx::Error::PoolTimedOut);
        let unavailable = [
            ApiError::internal(sqlx::Error::PoolTimedOut),
            ApiError::from(sqlx::Error::Io(refused())),
            ApiError::from(anyhow::Error::new(sqlx::Error::PoolClosed).context("reading posts")),
            ApiError::internal(boxed),
            ApiError::from(redis::RedisError::from(refused())),
            ApiError::from(redis::RedisError::from((
                redis::ErrorKind::BusyLoadingError,
                "Redis is loading the dataset in memory",
            ))),
        ];
        for error in unavailable {
            assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(error.code(), "service_unavailable");
            assert_eq!(error.retry_after(), Some(RETRY_AFTER_SECS));
        }
        let internal = [
            ApiError::internal(sqlx::Error::RowNotFound),
            ApiError::from(anyhow::anyhow!("a claim entry lacks its hospital")),
            ApiError::internal("plain text"),
            ApiError::from(redis::RedisError::from((
                redis::ErrorKind::TypeError,
                "not a number",
            ))),
        ];
        for error in internal {
            assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(error.retry_after(), None);
        }
    }

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
