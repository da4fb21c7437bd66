//! Per-member rate limits per command kind, as fixed windows in Redis: the first command of a
//! window starts it; past the limit the API answers 429 with `Retry-After`.
//!
//! Keys hold the SHA-256 of the member id, never the id itself, and expire with their window.

use axum::http::StatusCode;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};
use ward_domain::member::MemberId;
use ward_platform::config::Limit;
use ward_platform::http::ApiError;

/// Rate limits in Redis.
#[derive(Clone)]
pub struct RateLimiter {
    redis: ConnectionManager,
    prefix: String,
}

impl RateLimiter {
    /// Limits kept in `redis` under `prefix`.
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
        }
    }

    /// Counts one `kind` command of `member`; refuses it with 429 past `limit`.
    pub async fn check(&self, kind: &str, member: MemberId, limit: Limit) -> Result<(), ApiError> {
        let key = format!(
            "{}rate:{kind}:{}",
            self.prefix,
            hex::encode(Sha256::digest(member.0.as_bytes()))
        );
        let mut redis = self.redis.clone();
        // INCR, then start the window on its first command; both in one round trip.
        let (count, ttl): (u64, i64) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(limit.window_secs)
            .arg("NX")
            .ignore()
            .ttl(&key)
            .query_async(&mut redis)
            .await
            .map_err(ApiError::internal)?;
        if count <= u64::from(limit.count) {
            return Ok(());
        }
        let retry_after = u64::try_from(ttl).unwrap_or(limit.window_secs).max(1);
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "at most {} per {} seconds; try again in {retry_after} seconds",
                limit.count, limit.window_secs
            ),
        )
        .with_retry_after(retry_after))
    }
}
