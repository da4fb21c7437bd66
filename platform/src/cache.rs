//! The contract between projectors and the query API's Redis cache: every cached answer of a
//! read model is stored under that read model's current version, and a projector bumps the
//! version after each commit. A reader that fetched before the bump can only write to the old
//! version's keys, which nobody reads any more, so stale data never comes back.

use redis::aio::ConnectionManager;

/// The key holding the current version of `service`'s cache (`board`, `hospital`, `member`).
pub fn version_key(prefix: &str, service: &str) -> String {
    format!("{prefix}cache:{service}:version")
}

/// The key of one cached answer of `service` at `version`.
pub fn entry_key(prefix: &str, service: &str, version: u64, what: &str) -> String {
    format!("{prefix}cache:{service}:{version}:{what}")
}

/// Makes every cached answer of `service` stale.
pub async fn invalidate(
    redis: &mut ConnectionManager,
    prefix: &str,
    service: &str,
) -> redis::RedisResult<u64> {
    redis::cmd("INCR")
        .arg(version_key(prefix, service))
        .query_async(redis)
        .await
}
