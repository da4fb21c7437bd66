//! The local runner's single origin for browsers: a small reverse proxy that routes like the
//! Kubernetes Gateway (`infra/k8s/components/gateway-api/gateway.yaml`): GET and HEAD to the
//! query API; every other method, `/auth/*` and the moderators' page to the command API. Pages and forms then
//! share one origin, so cookies, `SameSite` and the CSRF check behave as in production.
//!
//! It forwards the browser's `Host` (the command API's CSRF check compares `Origin` with it)
//! and adds nothing: no `X-Forwarded-For`, since Ward never learns readers' addresses.
//!
//! Several processes of each API can stand behind it (`gateway.command_api_urls`,
//! `gateway.query_api_urls`): it takes them in turn, and skips one that refuses the
//! connection (a killed process), as the Kubernetes Service's load balancing would. A request
//! that reached a process is never sent to another, so a command runs at most once.
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
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

/// How long the gateway waits for a connection to a process, and for its whole answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the gateway forwards.
#[derive(Debug, Clone)]
pub struct Upstreams {
    /// Base URLs (`http://host:port`) of the command API's processes.
    pub command: Vec<String>,
    /// Base URLs of the query API's processes.
    pub query: Vec<String>,
    /// The command API's largest accepted body.
    pub command_body: usize,
}

/// One API's processes, taken in turn.
struct Turns {
    urls: Vec<String>,
    next: AtomicUsize,
}

impl Turns {
    fn new(urls: Vec<String>) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !urls.is_empty(),
            "the gateway needs at least one URL per API"
        );
        Ok(Self {
            urls,
            next: AtomicUsize::new(0),
        })
    }

    /// Every process once, starting with the one whose turn it is.
    fn round(&self) -> impl Iterator<Item = &str> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..self.urls.len()).map(move |i| self.urls[(start + i) % self.urls.len()].as_str())
    }
}

#[derive(Clone)]
struct Gateway {
    client: reqwest::Client,
    command: Arc<Turns>,
    query: Arc<Turns>,
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

/// Serves the single origin on `listener`, forwarding to `upstreams`, until `shutdown` is
/// cancelled.
pub async fn run(
    listener: TcpListener,
    upstreams: Upstreams,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(ANSWER_TIMEOUT)
        .build()?;
    let app = Router::new().fallback(forward).with_state(Gateway {
        client,
        command: Arc::new(Turns::new(upstreams.command)?),
        query: Arc::new(Turns::new(upstreams.query)?),
        command_body: upstreams.command_body,
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

async fn forward(State(up): State<Gateway>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let to_command = to_command_api(&parts.method, parts.uri.path());
    let turns = if to_command { &up.command } else { &up.query };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    // Read to the end, so that the browser gets the answer, not a reset connection.
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(body) if !(to_command && body.len() > up.command_body) => body,
        _ => return ApiError::payload_too_large().into_response(),
    };
    let mut answer = None;
    for base in turns.round() {
        let mut outgoing = up
            .client
            .request(parts.method.clone(), format!("{base}{path}"))
            .body(body.clone());
        for (name, value) in forwardable(&parts.headers) {
            outgoing = outgoing.header(name, value);
        }
        match outgoing.send().await {
            Ok(sent) => {
                answer = Some(sent);
                break;
            }
            // Refused: the request never reached this process; the next one may take it.
            Err(error) if error.is_connect() => {
                tracing::warn!(%base, %error, "the gateway skips a process it cannot reach");
            }
            Err(error) => {
                tracing::warn!(%error, "the gateway lost a request to a component");
                let status = if error.is_timeout() {
                    StatusCode::GATEWAY_TIMEOUT
                } else {
                    StatusCode::BAD_GATEWAY
                };
                return status.into_response();
            }
        }
    }
    let Some(answer) = answer else {
        return StatusCode::BAD_GATEWAY.into_response();
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
    fn processes_take_turns_and_each_round_offers_every_one_once() -> anyhow::Result<()> {
        let turns = Turns::new(vec!["a".into(), "b".into(), "c".into()])?;
        let rounds: Vec<Vec<&str>> = (0..4).map(|_| turns.round().collect()).collect();
        assert_eq!(
            rounds,
            [
                ["a", "b", "c"],
                ["b", "c", "a"],
                ["c", "a", "b"],
                ["a", "b", "c"]
            ]
        );
        assert!(Turns::new(Vec::new()).is_err());
        Ok(())
    }

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
