//! Answers to anonymous reads: cache-aside in Redis under versioned keys
//! ([`ward_platform::cache`]), and HTTP caching with `ETag`, `Cache-Control` and `304`.
//!
//! A cached answer is the JSON body with its entity tag. The key carries the read model's
//! current version, which projectors bump after each commit: the next read after a commit
//! misses and loads fresh data, and a slow reader that loaded before the commit writes under
//! the old version, which nobody reads any more.

use std::future::Future;

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

use crate::consistency::Freshness;

/// The header that tells whether an answer reflects the version a client asked for.
pub const CONSISTENCY: &str = "ward-consistency";

/// The Redis cache of one query process.
#[derive(Clone)]
pub struct Cache {
    redis: ConnectionManager,
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
    /// A cache in `redis` under `prefix`, entries living `ttl_secs` at most; its hit and miss
    /// counts go to `registry`.
    pub fn new(
        redis: ConnectionManager,
        prefix: &str,
        ttl_secs: u64,
        registry: &mut Registry,
    ) -> Self {
        let lookups = Family::<Lookup, Counter>::default();
        registry.register(
            "cache_lookups",
            "Query cache lookups by service and outcome (hit, miss, bypass, error)",
            lookups.clone(),
        );
        Self {
            redis,
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
    /// more than an ordinary read). Redis failing never fails the request; it only makes it
    /// slower.
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
        let mut redis = self.redis.clone();
        let version: Result<Option<u64>, _> = redis::cmd("GET")
            .arg(version_key(&self.prefix, service))
            .query_async(&mut redis)
            .await;
        let key = match version {
            Ok(version) => entry_key(&self.prefix, service, version.unwrap_or(0), what),
            Err(error) => {
                tracing::warn!(%error, "query cache unavailable");
                self.count(service, "error");
                return Answer::json(&load.await?);
            }
        };
        let cached: Result<Option<Vec<u8>>, _> =
            redis::cmd("GET").arg(&key).query_async(&mut redis).await;
        if let Some(answer) = cached.ok().flatten().and_then(Answer::from_stored) {
            self.count(service, "hit");
            return Ok(answer);
        }
        self.count(service, "miss");
        let answer = Answer::json(&load.await?)?;
        let stored: Result<(), _> = redis::cmd("SET")
            .arg(&key)
            .arg(answer.to_stored())
            .arg("EX")
            .arg(self.ttl_secs)
            .query_async(&mut redis)
            .await;
        if let Err(error) = stored {
            tracing::warn!(%error, "storing in the query cache failed");
        }
        Ok(answer)
    }

    /// The current versions of `services`' caches, in one round trip; `None` if Redis did
    /// not answer.
    pub async fn versions(&self, services: &[&str]) -> Option<Vec<u64>> {
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
                tracing::warn!(%error, "query cache unavailable");
                None
            }
        }
    }

    fn count(&self, service: &'static str, outcome: &'static str) {
        self.lookups
            .get_or_create(&Lookup { service, outcome })
            .inc();
    }
}
