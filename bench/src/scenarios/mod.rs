//! The benchmark scenarios of issue #8, each against a running Ward and each with its own
//! reference measured in the same run; and the chaos run of issue #20 ([`chaos`]), which sets
//! up a Ward of its own.
//!
//! Members are not created here: the caller passes session tokens (`ward dev-session`,
//! `ward seed`), one member each, so that per-member rate limits spread over many members.
//! (The chaos run makes its own with `ward seed`.)

pub mod chaos;
pub mod commands;
pub mod pgbench;
pub mod reads;
pub mod visibility;

use std::time::Duration;

pub use chaos::{chaos, ChaosConfig, ChaosReport};
pub use commands::{commands, CommandsConfig, CommandsReport, CommandsStep};
pub use reads::{reads, sample_ids, ReadsConfig, ReadsReport};
pub use visibility::{visibility, VisibilityConfig, VisibilityReport};

/// The session cookie's name under `config/ward.dev.toml`.
pub const SESSION_COOKIE: &str = "ward_session";

/// The local web origin of `scripts/dev` (the gateway).
pub const DEV_WEB_URL: &str = "http://127.0.0.1:8000";
/// The local command API of `scripts/dev`.
pub const DEV_COMMAND_URL: &str = "http://127.0.0.1:8080";
/// The local query API of `scripts/dev`.
pub const DEV_QUERY_URL: &str = "http://127.0.0.1:8081";

/// How long each measured phase of a smoke run lasts.
const SMOKE_PHASE: Duration = Duration::from_millis(400);

/// Session tokens from a file with one per line; blank lines and `#` comments are skipped,
/// and a `ward_session=` prefix is allowed.
pub fn parse_sessions(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let token = line
                .strip_prefix(SESSION_COOKIE)
                .and_then(|rest| rest.strip_prefix('='));
            token.unwrap_or(line).to_owned()
        })
        .collect()
}

/// The `Cookie` header value for a session token.
fn cookie(token: &str) -> String {
    format!("{SESSION_COOKIE}={token}")
}

/// `base` and `path` joined with exactly one slash.
fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_one_token_a_line() {
        let text = "# members from ward seed\nabc\n\n  def  \nward_session=ghi\n";
        assert_eq!(parse_sessions(text), ["abc", "def", "ghi"]);
    }

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(join("http://h:1/", "/api/v1"), "http://h:1/api/v1");
        assert_eq!(join("http://h:1", "api/v1"), "http://h:1/api/v1");
    }
}
