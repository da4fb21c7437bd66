//! The operational endpoints every Ward process serves — `/livez`, `/readyz`, `/metrics` —
//! and the layer that counts and times HTTP requests.

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

/// Collects a process's metrics and readiness checks before it starts serving.
pub struct OpsBuilder {
    registry: Registry,
    checks: Vec<(&'static str, Check)>,
}

impl OpsBuilder {
    /// The registry to register this service's own metrics in.
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Adds a named readiness check.
    pub fn check(mut self, name: &'static str, check: Check) -> Self {
        self.checks.push((name, check));
        self
    }

    /// Freezes the registry and checks.
    pub fn build(mut self) -> Ops {
        let http = HttpMetrics::default();
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
        Ops {
            inner: Arc::new(OpsInner {
                registry: self.registry,
                checks: self.checks,
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
    checks: Vec<(&'static str, Check)>,
}

impl Ops {
    /// Starts collecting for the process `service` (a metric prefix, e.g. `ward_query`).
    pub fn builder(service: &str) -> OpsBuilder {
        OpsBuilder {
            registry: Registry::with_prefix(service),
            checks: Vec::new(),
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

    /// Runs every readiness check; returns the names of those that failed.
    pub async fn failing_checks(&self) -> Vec<&'static str> {
        let runs = self.inner.checks.iter().map(|(name, check)| async move {
            match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
                Ok(Ok(())) => None,
                Ok(Err(error)) => {
                    tracing::warn!(check = name, %error, "readiness check failed");
                    Some(*name)
                }
                Err(_) => {
                    tracing::warn!(check = name, "readiness check timed out");
                    Some(*name)
                }
            }
        });
        futures::future::join_all(runs)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}

async fn readyz(State(ops): State<Ops>) -> Response {
    let failing = ops.failing_checks().await;
    if failing.is_empty() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "failing": failing})),
        )
            .into_response()
    }
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
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
            }),
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
    let response = next.run(request).await;
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
