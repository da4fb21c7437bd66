//! The operational endpoints every Ward process serves — `/livez`, `/readyz`, `/metrics` —
//! and the layer that counts and times HTTP requests.
//!
//! Readiness checks come in two kinds. A *required* dependency is one without which the
//! process serves nothing useful: while it fails, `/readyz` answers `503` and names it under
//! `failing`, and the load balancer stops sending requests. A *degrading* one is needed by
//! some answers only (the broker, for a command API that still accepts commands into the
//! outbox; Redis, for a query API that still reads its databases): while it fails, `/readyz`
//! stays `200` and names it under `degraded`, so the process keeps serving what it can and
//! answers the rest `503 service_unavailable` itself, with `Retry-After`. Either way the gauge
//! `<service>_dependency_up{dependency}` says, as of the last readiness run, which answered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::config::RedisConfig;

/// One dependency check for `/readyz`: resolves to `Err` with a reason when the dependency
/// cannot be used right now.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// How long one readiness check may take before it counts as failed.
pub(crate) const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a request may take before it is answered `503 service_unavailable`: far longer
/// than any healthy request (the longest, a read-your-writes wait, gives up after 2 s; a pool
/// gives up acquiring after 5 s), so it only ends requests held by a stalled dependency — a
/// database or Redis that stopped answering but keeps its connections open — which would
/// otherwise hang until TCP gives up. The handler is dropped: an open transaction rolls back,
/// and a retry with the same `Idempotency-Key` gets the first answer if the commit made it.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(15);

/// Whether a process can serve without a dependency ([module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Without it the process serves nothing useful: not ready.
    Required,
    /// Without it the process serves less: ready, but degraded.
    Degrading,
}

/// Collects a process's metrics and readiness checks before it starts serving.
pub struct OpsBuilder {
    registry: Registry,
    checks: Vec<(&'static str, Need, Check)>,
    deadline: Duration,
}

impl OpsBuilder {
    /// Answers requests still running after `deadline` with `503` instead of
    /// [`REQUEST_DEADLINE`] (for tests).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The registry to register this service's own metrics in.
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Adds a named readiness check of a required dependency.
    pub fn check(self, name: &'static str, check: Check) -> Self {
        self.check_for(name, Need::Required, check)
    }

    /// Adds a named readiness check of a dependency the process needs as `need` says.
    pub fn check_for(mut self, name: &'static str, need: Need, check: Check) -> Self {
        self.checks.push((name, need, check));
        self
    }

    /// Freezes the registry and checks.
    pub fn build(mut self) -> Ops {
        let http = HttpMetrics {
            deadline: self.deadline,
            ..HttpMetrics::default()
        };
        self.registry.register(
            "http_requests",
            "HTTP requests served, by route and status",
            http.requests.clone(),
        );
        self.registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by route and status",
            http.latency.clone(),
        );
        let up = Family::<DependencyLabels, Gauge>::default();
        self.registry.register(
            "dependency_up",
            "Whether each dependency answered at the last readiness check (1) or not (0)",
            up.clone(),
        );
        Ops {
            inner: Arc::new(OpsInner {
                registry: self.registry,
                checks: self.checks,
                up,
            }),
            http,
        }
    }
}

/// A process's operational state: metrics registry, readiness checks, HTTP metrics.
#[derive(Clone)]
pub struct Ops {
    inner: Arc<OpsInner>,
    http: HttpMetrics,
}

struct OpsInner {
    registry: Registry,
    checks: Vec<(&'static str, Need, Check)>,
    up: Family<DependencyLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DependencyLabels {
    dependency: &'static str,
}

/// What the readiness checks found: the dependencies that failed, by need.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Required dependencies that failed: the process is not ready.
    pub failing: Vec<&'static str>,
    /// Degrading dependencies that failed: the process is ready, but serves less.
    pub degraded: Vec<&'static str>,
}

impl Ops {
    /// Starts collecting for the process `service` (a metric prefix, e.g. `ward_query`).
    pub fn builder(service: &str) -> OpsBuilder {
        OpsBuilder {
            registry: Registry::with_prefix(service),
            checks: Vec::new(),
            deadline: REQUEST_DEADLINE,
        }
    }

    /// `/livez`, `/readyz` and `/metrics`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/livez", get(|| async { Json(json!({"status": "live"})) }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }

    /// Wraps `router` with the HTTP metrics layer and adds the operational endpoints.
    pub fn instrument(&self, router: Router) -> Router {
        router
            .merge(self.router())
            .layer(axum::middleware::from_fn_with_state(
                self.http.clone(),
                track,
            ))
    }

    /// Runs every readiness check at once; returns those that failed, by need, and sets
    /// `dependency_up`.
    pub async fn readiness(&self) -> Readiness {
        let runs = self
            .inner
            .checks
            .iter()
            .map(|(name, need, check)| async move {
                let up = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
                    Ok(Ok(())) => true,
                    Ok(Err(error)) => {
                        tracing::warn!(
                            check = name,
                            error = format!("{error:#}"),
                            "readiness check failed"
                        );
                        false
                    }
                    Err(_) => {
                        tracing::warn!(check = name, "readiness check timed out");
                        false
                    }
                };
                self.inner
                    .up
                    .get_or_create(&DependencyLabels { dependency: name })
                    .set(i64::from(up));
                (*name, *need, up)
            });
        let mut readiness = Readiness::default();
        for (name, need, up) in futures::future::join_all(runs).await {
            match (up, need) {
                (true, _) => {}
                (false, Need::Required) => readiness.failing.push(name),
                (false, Need::Degrading) => readiness.degraded.push(name),
            }
        }
        readiness
    }
}

async fn readyz(State(ops): State<Ops>) -> Response {
    let Readiness { failing, degraded } = ops.readiness().await;
    let mut body = if failing.is_empty() {
        json!({"status": "ready"})
    } else {
        json!({"status": "not_ready", "failing": failing})
    };
    if !degraded.is_empty() {
        body["degraded"] = json!(degraded);
    }
    let status = if failing.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(ops): State<Ops>) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &ops.inner.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "encoding metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone)]
struct HttpMetrics {
    requests: Family<HttpLabels, Counter>,
    latency: Family<HttpLabels, Histogram>,
    /// [`REQUEST_DEADLINE`], or a test's own.
    deadline: Duration,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
            }),
            deadline: REQUEST_DEADLINE,
        }
    }
}

async fn track(State(http): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    // The matched route template, never the raw path: ids in paths would explode the label set.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = match tokio::time::timeout(http.deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let passed = format!(
                "{method} {route} passed its deadline of {:?}",
                http.deadline
            );
            crate::http::ApiError::unavailable(passed).into_response()
        }
    };
    let labels = HttpLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    http.requests.get_or_create(&labels).inc();
    http.latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Readiness of a PostgreSQL or MySQL pool: one round trip.
pub fn sql_check<DB: sqlx::Database>(pool: sqlx::Pool<DB>) -> Check
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            sqlx::Executor::execute(&mut *conn, "SELECT 1").await?;
            Ok(())
        })
    })
}

/// Readiness of Redis: a PING.
pub fn redis_check(redis: redis::aio::ConnectionManager) -> Check {
    Arc::new(move || {
        let mut redis = redis.clone();
        Box::pin(async move {
            let _: String = redis::cmd("PING").query_async(&mut redis).await?;
            Ok(())
        })
    })
}

/// Opens a Redis connection manager, which reconnects by itself.
pub async fn connect_redis(config: &RedisConfig) -> anyhow::Result<redis::aio::ConnectionManager> {
    // Bounded waits: while Redis is down, requests fail within seconds (503), never hang.
    let bounded = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(std::time::Duration::from_secs(1))
        .set_response_timeout(std::time::Duration::from_secs(2))
        .set_number_of_retries(1);
    Ok(redis_client(config)?
        .get_connection_manager_with_config(bounded)
        .await?)
}

/// A client of the configured Redis, for connections of their own (a subscription).
pub fn redis_client(config: &RedisConfig) -> anyhow::Result<redis::Client> {
    Ok(redis::Client::open(config.url.expose_secret())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answering(up: bool) -> Check {
        Arc::new(move || {
            Box::pin(async move {
                anyhow::ensure!(up, "down");
                Ok(())
            })
        })
    }

    #[tokio::test]
    async fn a_request_held_past_the_deadline_is_answered_503_and_counted() -> anyhow::Result<()> {
        let ops = Ops::builder("ward_test")
            .deadline(Duration::from_millis(100))
            .build();
        let stalled = Router::new().route(
            "/stalled",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "never"
            }),
        );
        let app = ops.instrument(stalled);
        let started = Instant::now();
        let request = Request::builder()
            .uri("/stalled")
            .body(axum::body::Body::empty())?;
        let response = tower::ServiceExt::oneshot(app, request).await?;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let labels = HttpLabels {
            method: "GET".to_owned(),
            route: "/stalled".to_owned(),
            status: 503,
        };
        assert_eq!(ops.http.requests.get_or_create(&labels).get(), 1);
        Ok(())
    }

    #[tokio::test]
    async fn a_failing_degrading_dependency_leaves_the_process_ready_and_a_required_one_does_not(
    ) -> anyhow::Result<()> {
        let ops = Ops::builder("ward_test")
            .check("database", answering(true))
            .check_for("broker", Need::Degrading, answering(false))
            .build();
        assert_eq!(
            ops.readiness().await,
            Readiness {
                failing: vec![],
                degraded: vec!["broker"]
            }
        );
        let ops = Ops::builder("ward_test")
            .check("database", answering(false))
            .check_for("broker", Need::Degrading, answering(true))
            .build();
        assert_eq!(
            ops.readiness().await,
            Readiness {
                failing: vec!["database"],
                degraded: vec![]
            }
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &ops.inner.registry)?;
        assert!(
            text.contains("ward_test_dependency_up{dependency=\"database\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("ward_test_dependency_up{dependency=\"broker\"} 1"),
            "{text}"
        );
        Ok(())
    }
}
