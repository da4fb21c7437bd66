//! Per-member rate limits per command kind, as fixed windows in Redis; past the limit the API
//! answers 429 with `Retry-After`.
//!
//! Only commands that succeed use up the budget: a command takes its share before it runs
//! (so concurrent commands cannot overshoot) and gives it back if it is refused for any
//! reason — a broken rule, a conflict, a failure.
//!
//! A counter's key is `author_ref("rate", kind ‖ window length ‖ window number, member)`:
//! never the member id, and no two kinds or two windows of one member share a key, so a copy
//! of Redis links nothing across them. Windows are aligned to the clock (window number =
//! Unix time / length) and keys expire with their window.

use std::future::Future;

use axum::http::StatusCode;
use redis::aio::ConnectionManager;
use uuid::Uuid;
use ward_domain::author::AuthorKey;
use ward_domain::member::MemberId;
use ward_platform::config::Limit;
use ward_platform::http::ApiError;

/// Counts one command unless that would pass the limit (ARGV[1]); a new key lives for the
/// rest of its window (ARGV[2] seconds). Answers `{1, 0}` when counted, else `{0, ttl}`.
const SPEND: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if count > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return {0, redis.call('TTL', KEYS[1])}
end
return {1, 0}
";

/// Gives one command back, unless its window has ended meanwhile.
const REFUND: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end
return 0
";

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

    /// Runs `command` as one `kind` command of `member` within `limit`: refuses it with 429
    /// when the member's budget for the current window is used up, and gives its share back
    /// when it fails.
    pub async fn within<T, F>(
        &self,
        kind: &str,
        member: MemberId,
        limit: Limit,
        command: F,
    ) -> Result<T, ApiError>
    where
        F: Future<Output = Result<T, ApiError>>,
    {
        let key = self.counter(kind, member, limit, chrono::Utc::now().timestamp());
        self.spend(&key, limit).await?;
        let result = command.await;
        if result.is_err() {
            let mut redis = self.redis.clone();
            let _: i64 = redis::Script::new(REFUND)
                .key(&key)
                .invoke_async(&mut redis)
                .await?;
        }
        result
    }

    /// The counter of `member`'s `kind` commands in the window that holds `now` (Unix time).
    fn counter(&self, kind: &str, member: MemberId, limit: Limit, now: i64) -> String {
        let window = now.div_euclid(limit.window_secs.max(1) as i64);
        let scope = format!("rate\0{kind}\0{}\0{window}", limit.window_secs);
        format!(
            "{}rate:{}",
            self.prefix,
            self.key.author_ref(&scope, Uuid::nil(), member).0
        )
    }

    async fn spend(&self, key: &str, limit: Limit) -> Result<(), ApiError> {
        let window = limit.window_secs.max(1);
        let rest = window - chrono::Utc::now().timestamp().rem_euclid(window as i64) as u64;
        let mut redis = self.redis.clone();
        let (counted, ttl): (i64, i64) = redis::Script::new(SPEND)
            .key(key)
            .arg(limit.count)
            .arg(rest)
            .invoke_async(&mut redis)
            .await?;
        if counted == 1 {
            return Ok(());
        }
        let retry_after = u64::try_from(ttl).unwrap_or(rest).max(1);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A limiter on the machine's Redis, under a prefix of its own.
    async fn limiter() -> anyhow::Result<RateLimiter> {
        let client = redis::Client::open("redis://127.0.0.1:6379")?;
        let redis = ConnectionManager::new(client).await?;
        let prefix = format!("test-rate-{}:", Uuid::new_v4());
        let key = AuthorKey::new(&[7; 32])?;
        Ok(RateLimiter::new(redis, &prefix, key))
    }

    /// What a test sees of an answer: its error code, if any.
    fn code<T>(answer: Result<T, ApiError>) -> Option<String> {
        answer.err().map(|e| e.code().to_owned())
    }

    fn refused() -> ApiError {
        ApiError::invalid("pros_too_short", "refused")
    }

    #[tokio::test]
    async fn refused_commands_give_their_share_back() -> anyhow::Result<()> {
        let limiter = limiter().await?;
        let member = MemberId(Uuid::new_v4());
        let limit = Limit {
            count: 2,
            window_secs: 86_400,
        };
        let ok = || async { Ok(()) };
        for _ in 0..5 {
            let refused =
                limiter.within("review", member, limit, async { Err::<(), _>(refused()) });
            assert_eq!(code(refused.await).as_deref(), Some("pros_too_short"));
        }
        for _ in 0..2 {
            assert_eq!(
                code(limiter.within("review", member, limit, ok()).await),
                None
            );
        }
        let over = limiter.within("review", member, limit, ok()).await;
        assert_eq!(code(over).as_deref(), Some("rate_limited"));
        // Another kind has its own budget.
        assert_eq!(
            code(limiter.within("post", member, limit, ok()).await),
            None
        );
        Ok(())
    }

    #[tokio::test]
    async fn counters_share_no_key_across_kinds_windows_or_members() -> anyhow::Result<()> {
        let limiter = limiter().await?;
        let (alice, bob) = (MemberId(Uuid::new_v4()), MemberId(Uuid::new_v4()));
        let limit = Limit {
            count: 6,
            window_secs: 600,
        };
        let now = 1_800_000_000;
        let keys = [
            limiter.counter("post", alice, limit, now),
            limiter.counter("comment", alice, limit, now),
            limiter.counter("post", alice, limit, now + 600),
            limiter.counter("post", bob, limit, now),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
            assert!(!a.contains(&alice.0.to_string()) && !a.contains("post"));
        }
        // The same window, asked later in it, is the same counter.
        assert_eq!(keys[0], limiter.counter("post", alice, limit, now + 1));
        Ok(())
    }
}
