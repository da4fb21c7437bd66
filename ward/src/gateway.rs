//! The local runner's single origin for browsers: a small reverse proxy that routes like the
//! Kubernetes Gateway (`infra/k8s/components/gateway-api/gateway.yaml`): GET and HEAD to the
//! query API; every other method, `/auth/*` and the moderators' page to the command API. Pages and forms then
//! share one origin, so cookies, `SameSite` and the CSRF check behave as in production.
//!
//! It forwards the browser's `Host` (the command API's CSRF check compares `Origin` with it)
//! and adds nothing: no `X-Forwarded-For`, since Ward never learns readers' addresses.
//!
//! It reads a request's whole body before forwarding it, and answers a body over the command
//! API's limit (`command_api.max_body_bytes`) with the command API's own `413`: forwarded,
//! such a body would be cut off by the command API's early answer, and the gateway would see
//! a broken connection instead of the answer (a `502` to the browser; issue 20).

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ward_platform::http::ApiError;

/// Largest request or response body forwarded (the APIs' own limits are smaller).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Hop-by-hop headers, which a proxy does not forward.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

#[derive(Clone)]
struct Upstreams {
    client: reqwest::Client,
    command: String,
    query: String,
    /// The command API's largest accepted body.
    command_body: usize,
}

/// Whether the command API answers `method` on `path`.
pub fn to_command_api(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
        || path.starts_with("/auth/")
        || path == "/moderation"
        || path.starts_with("/api/v1/moderation/claims")
        || path == "/api/v1/openapi/commands.json"
}

/// Serves the single origin on `listener`, forwarding to the command API at `command` (which
/// accepts bodies up to `command_body` bytes) and the query API at `query`
/// (`http://host:port`), until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    command: String,
    query: String,
    command_body: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let app = Router::new().fallback(forward).with_state(Upstreams {
        client,
        command,
        query,
        command_body,
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

fn forwardable(
    headers: &HeaderMap,
) -> impl Iterator<Item = (&axum::http::HeaderName, &axum::http::HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
}

async fn forward(State(up): State<Upstreams>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let to_command = to_command_api(&parts.method, parts.uri.path());
    let base = if to_command { &up.command } else { &up.query };
    let target = format!(
        "{base}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    // Read to the end, so that the browser gets the answer, not a reset connection.
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(body) if !(to_command && body.len() > up.command_body) => body,
        _ => return ApiError::payload_too_large().into_response(),
    };
    let mut outgoing = up.client.request(parts.method, target).body(body);
    for (name, value) in forwardable(&parts.headers) {
        outgoing = outgoing.header(name, value);
    }
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(%error, "the gateway could not reach a component");
            return StatusCode::BAD_GATEWAY.into_response();
        }
    };
    let status = answer.status();
    let mut headers = HeaderMap::new();
    for (name, value) in forwardable(answer.headers()) {
        headers.append(name, value.clone());
    }
    match answer.bytes().await {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_to_the_query_api_and_everything_else_to_the_command_api() {
        assert!(!to_command_api(&Method::GET, "/boards/free"));
        assert!(!to_command_api(&Method::HEAD, "/api/v1/posts/x"));
        assert!(!to_command_api(&Method::GET, "/moderation/log"));
        assert!(to_command_api(&Method::POST, "/posts"));
        assert!(to_command_api(&Method::GET, "/auth/signin"));
        assert!(to_command_api(&Method::GET, "/moderation"));
        assert!(to_command_api(&Method::GET, "/api/v1/moderation/claims"));
        assert!(to_command_api(&Method::DELETE, "/api/v1/me"));
    }
}
