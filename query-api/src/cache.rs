//! Answers to anonymous reads: cache-aside in Redis under versioned keys
//! ([`ward_platform::cache`]), and HTTP caching with `ETag`, `Cache-Control` and `304`.
//!
//! A cached answer is the JSON body with its entity tag. The key carries the read model's
//! current version, which projectors bump after each commit: the next read after a commit
//! misses and loads fresh data, and a slow reader that loaded before the commit writes under
//! the old version, which nobody reads any more.
//!
//! Redis is a help here, never a need: while it cannot be reached, answers come from the
//! databases. So that requests do not each wait for Redis's timeouts meanwhile, a failure
//! makes the whole process leave Redis alone for [`REDIS_PAUSE`] ([`RedisHealth`]); the first
//! request after the pause tries it again, and the cache is back as soon as Redis answers.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use redis::aio::ConnectionManager;
use serde::Serialize;
use sha2::{Digest, Sha256};
use ward_platform::cache::{entry_key, version_key};
use ward_platform::http::ApiError;
use ward_platform::session::{Session, SessionStore};

use crate::consistency::Freshness;

/// The header that tells whether an answer reflects the version a client asked for.
pub const CONSISTENCY: &str = "ward-consistency";

/// How long a query process leaves Redis alone after it failed to answer.
pub const REDIS_PAUSE: Duration = Duration::from_secs(5);

/// Whether this process may ask Redis now: a circuit breaker shared by everything of the
/// process that uses Redis (the cache, and the session lookups of pages and waits). After a
/// failure Redis is left alone for [`REDIS_PAUSE`] — requests go without the cache, and
/// without the reader's session where they can — then the next request tries it again.
#[derive(Clone)]
pub struct RedisHealth(Arc<Paused>);

struct Paused {
    /// How long Redis is left alone after a failure.
    pause: Duration,
    /// When the process started; the pause is measured from it.
    epoch: Instant,
    /// Until when (milliseconds after `epoch`) Redis is left alone.
    until_ms: AtomicU64,
}

impl Default for RedisHealth {
    fn default() -> Self {
        Self::pausing(REDIS_PAUSE)
    }
}

impl RedisHealth {
    /// A breaker that leaves Redis alone for `pause` after a failure.
    fn pausing(pause: Duration) -> Self {
        Self(Arc::new(Paused {
            pause,
            epoch: Instant::now(),
            until_ms: AtomicU64::new(0),
        }))
    }

    /// Whether Redis may be asked now (it is not paused after a failure).
    pub fn available(&self) -> bool {
        self.now_ms() >= self.0.until_ms.load(Ordering::Relaxed)
    }

    /// Records that Redis failed to answer `what` with `error`: it is left alone for
    /// [`REDIS_PAUSE`].
    pub fn failed(&self, what: &str, error: &redis::RedisError) {
        let now = self.now_ms();
        let pause = u64::try_from(self.0.pause.as_millis()).unwrap_or(u64::MAX);
        let before = self
            .0
            .until_ms
            .swap(now.saturating_add(pause), Ordering::Relaxed);
        if before <= now {
            let pause = self.0.pause;
            tracing::warn!(%error, what, ?pause, "Redis unavailable; reading without it");
        }
    }

    /// The session behind `token` in `sessions`; `503 service_unavailable` while Redis is
    /// left alone or when it fails to answer (which leaves it alone for a while).
    pub async fn session(
        &self,
        sessions: &SessionStore,
        token: &str,
    ) -> Result<Option<Session>, ApiError> {
        if !self.available() {
            return Err(ApiError::still_unavailable());
        }
        sessions.get(token).await.map_err(|error| {
            if let Some(error) = error.downcast_ref::<redis::RedisError>() {
                self.failed("looking up a session", error);
            }
            ApiError::from(error)
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The Redis cache of one query process.
#[derive(Clone)]
pub struct Cache {
    redis: ConnectionManager,
    health: RedisHealth,
    prefix: String,
    ttl_secs: u64,
    lookups: Family<Lookup, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Lookup {
    service: &'static str,
    outcome: &'static str,
}

/// A JSON answer ready to send: its body and entity tag.
#[derive(Debug, Clone)]
pub struct Answer {
    etag: String,
    body: Vec<u8>,
}

/// The cache key of a request: what it asks for, and every parameter that shapes the answer,
/// as JSON, so that no parameter can run into the next whatever text it holds.
pub fn key(what: &str, parameters: &impl Serialize) -> Result<String, ApiError> {
    let parameters = serde_json::to_string(parameters).map_err(ApiError::internal)?;
    Ok(format!("{what}:{parameters}"))
}

impl Answer {
    /// Serialises `value`.
    pub fn json<T: Serialize>(value: &T) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", hex_prefix(&digest));
        Ok(Self { etag, body })
    }

    fn to_stored(&self) -> Vec<u8> {
        let mut stored = self.etag.as_bytes().to_vec();
        stored.push(b'\n');
        stored.extend_from_slice(&self.body);
        stored
    }

    fn from_stored(stored: Vec<u8>) -> Option<Self> {
        let split = stored.iter().position(|b| *b == b'\n')?;
        let etag = String::from_utf8(stored[..split].to_vec()).ok()?;
        Some(Self {
            etag,
            body: stored[split + 1..].to_vec(),
        })
    }

    /// The public answer: `304` when the client holds it already, otherwise the JSON with
    /// `ETag` and `Cache-Control: public, no-cache` (shared caches may keep it, but revalidate).
    pub fn public(self, request: &HeaderMap, freshness: Freshness) -> Response {
        self.respond(request, "public, no-cache", freshness)
    }

    /// A signed-in member's own answer: never stored by any cache.
    pub fn private(self, request: &HeaderMap, freshness: Freshness) -> Response {
        self.respond(request, "private, no-store", freshness)
    }

    fn respond(
        self,
        request: &HeaderMap,
        cache_control: &'static str,
        freshness: Freshness,
    ) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
        if let Ok(etag) = HeaderValue::from_str(&self.etag) {
            headers.insert(ETAG, etag);
        }
        if let Some(value) = freshness.header() {
            headers.insert(CONSISTENCY, HeaderValue::from_static(value));
        }
        let matches = request
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|tag| {
                let tag = tag.trim();
                tag == "*" || tag.trim_start_matches("W/") == self.etag
            });
        if matches {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        (headers, self.body).into_response()
    }
}

fn hex_prefix(digest: &[u8]) -> String {
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

impl Cache {
    /// A cache in `redis` under `prefix`, entries living `ttl_secs` at most, asking Redis
    /// only while `health` allows; its hit and miss counts go to `registry`.
    pub fn new(
        redis: ConnectionManager,
        health: RedisHealth,
        prefix: &str,
        ttl_secs: u64,
        registry: &mut Registry,
    ) -> Self {
        let lookups = Family::<Lookup, Counter>::default();
        registry.register(
            "cache_lookups",
            "Query cache lookups by service and outcome (hit, miss, bypass; error: Redis \
             failed to answer; skipped: Redis left alone after a failure)",
            lookups.clone(),
        );
        Self {
            redis,
            health,
            prefix: prefix.to_owned(),
            ttl_secs,
            lookups,
        }
    }

    /// The answer to `what` (a key naming the request completely) from `service`'s read
    /// model: from Redis if cached at the current version, else from `load`, then cached.
    /// An answer that must reflect the version a request asked for ([`Freshness::Consistent`])
    /// always loads: a cached one may predate the commit. A `stale` answer promises nothing,
    /// so it is served like any other (a request naming versions that never come costs no
    /// more than an ordinary read). Redis failing never fails the request: the answer is
    /// loaded, and Redis left alone for a while ([`RedisHealth`]).
    pub async fn answer<T, F>(
        &self,
        service: &'static str,
        what: &str,
        freshness: Freshness,
        load: F,
    ) -> Result<Answer, ApiError>
    where
        T: Serialize,
        F: Future<Output = Result<T, ApiError>>,
    {
        if freshness == Freshness::Consistent {
            self.count(service, "bypass");
            return Answer::json(&load.await?);
        }
        if !self.health.available() {
            self.count(service, "skipped");
            return Answer::json(&load.await?);
        }
        let mut redis = self.redis.clone();
        let version: Result<Option<u64>, _> = redis::cmd("GET")
            .arg(version_key(&self.prefix, service))
            .query_async(&mut redis)
            .await;
        let key = match version {
            Ok(version) => entry_key(&self.prefix, service, version.unwrap_or(0), what),
            Err(error) => {
                self.health.failed("reading the cache version", &error);
                self.count(service, "error");
                return Answer::json(&load.await?);
            }
        };
        let cached: Result<Option<Vec<u8>>, _> =
            redis::cmd("GET").arg(&key).query_async(&mut redis).await;
        match cached.map(|stored| stored.and_then(Answer::from_stored)) {
            Ok(Some(answer)) => {
                self.count(service, "hit");
                return Ok(answer);
            }
            Ok(None) => self.count(service, "miss"),
            Err(error) => {
                self.health.failed("reading the cache", &error);
                self.count(service, "error");
                return Answer::json(&load.await?);
            }
        }
        let answer = Answer::json(&load.await?)?;
        let stored: Result<(), _> = redis::cmd("SET")
            .arg(&key)
            .arg(answer.to_stored())
            .arg("EX")
            .arg(self.ttl_secs)
            .query_async(&mut redis)
            .await;
        if let Err(error) = stored {
            self.health.failed("storing in the cache", &error);
        }
        Ok(answer)
    }

    /// The current versions of `services`' caches, in one round trip; `None` if Redis did
    /// not answer or is left alone.
    pub async fn versions(&self, services: &[&str]) -> Option<Vec<u64>> {
        if !self.health.available() {
            return None;
        }
        let keys: Vec<String> = services
            .iter()
            .map(|service| version_key(&self.prefix, service))
            .collect();
        let mut redis = self.redis.clone();
        let versions: Result<Vec<Option<u64>>, _> =
            redis::cmd("MGET").arg(&keys).query_async(&mut redis).await;
        match versions {
            Ok(versions) => Some(
                versions
                    .into_iter()
                    .map(Option::unwrap_or_default)
                    .collect(),
            ),
            Err(error) => {
                self.health.failed("reading the cache versions", &error);
                None
            }
        }
    }

    /// Whether this process may ask Redis now, shared with whatever else of it uses Redis.
    pub fn health(&self) -> &RedisHealth {
        &self.health
    }

    fn count(&self, service: &'static str, outcome: &'static str) {
        self.lookups
            .get_or_create(&Lookup { service, outcome })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_failure_redis_is_left_alone_for_the_pause_then_asked_again() {
        let health = RedisHealth::pausing(Duration::from_millis(200));
        assert!(health.available());
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        health
            .clone()
            .failed("a test", &redis::RedisError::from(refused));
        assert!(!health.available(), "a clone shares the pause");
        std::thread::sleep(Duration::from_millis(250));
        assert!(health.available());
    }
}
