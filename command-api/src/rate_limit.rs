//! Per-member rate limits per command kind, as fixed windows in Redis: the first command of a
//! window starts it; past the limit the API answers 429 with `Retry-After`.
//!
//! Keys hold a keyed hash of the member (`author_ref("rate", nil, member)`), never the id,
//! and expire with their window.

use axum::http::StatusCode;
use redis::aio::ConnectionManager;
use uuid::Uuid;
use ward_domain::author::AuthorKey;
use ward_domain::member::MemberId;
use ward_platform::config::Limit;
use ward_platform::http::ApiError;

/// Rate limits in Redis.
#[derive(Clone)]
pub struct RateLimiter {
    redis: ConnectionManager,
    prefix: String,
    key: AuthorKey,
}

impl RateLimiter {
    /// Limits kept in `redis` under `prefix`, members named by hashes keyed with `key`.
    pub fn new(redis: ConnectionManager, prefix: &str, key: AuthorKey) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            key,
        }
    }

    /// Counts one `kind` command of `member`; refuses it with 429 past `limit`.
    pub async fn check(&self, kind: &str, member: MemberId, limit: Limit) -> Result<(), ApiError> {
        let key = format!(
            "{}rate:{kind}:{}",
            self.prefix,
            self.key.author_ref("rate", Uuid::nil(), member).0
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
