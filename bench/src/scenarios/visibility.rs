//! How soon a new post can be read: posts are created at a steady rate, and each one's query
//! API page is polled from the moment its `201` arrives until it answers `200` — the whole
//! path through the outbox, Kafka, the projector and the cache.
//!
//! Goal: p50 ≤ 50 ms and p99 ≤ 250 ms from `201` to visible.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::commands::new_post;
use super::{cookie, join, DEV_COMMAND_URL, DEV_QUERY_URL};
use crate::load::{self, paced, Latencies, Latency, Outcome};
use crate::table;

/// The p50 goal in milliseconds.
pub const GOAL_P50_MS: f64 = 50.0;
/// The p99 goal in milliseconds.
pub const GOAL_P99_MS: f64 = 250.0;
/// How often a new post's page is asked for at first.
const POLL_EVERY: Duration = Duration::from_millis(2);
/// Later polls wait this fraction of the time waited so far: the error stays within 10 %
/// while a slow pipeline is not swamped by the polls themselves (at 100 posts/s and 1 s to
/// visible, polling every 2 ms would be 50 000 requests a second).
const POLL_BACKOFF: u32 = 10;
/// After this long a post counts as not visible.
const GIVE_UP_AFTER: Duration = Duration::from_secs(5);
/// Requests in flight at most (posts being created or polled).
const MAX_IN_FLIGHT: usize = 1000;

/// Where to write and read, as whom, and how fast.
#[derive(Debug, Clone)]
pub struct VisibilityConfig {
    /// The command API, where posts are created.
    pub api_url: String,
    /// The query API, where they become visible.
    pub query_url: String,
    /// Session tokens, one member each, used in rotation.
    pub session_cookies: Vec<String>,
    /// Posts created per second.
    pub rate: f64,
    /// How long posts are created for.
    pub duration: Duration,
    /// A functional check: at most 10 posts a second for one second.
    pub smoke: bool,
}

impl Default for VisibilityConfig {
    fn default() -> Self {
        Self {
            api_url: DEV_COMMAND_URL.to_owned(),
            query_url: DEV_QUERY_URL.to_owned(),
            session_cookies: Vec::new(),
            rate: 100.0,
            duration: Duration::from_secs(30),
            smoke: false,
        }
    }
}

/// How soon posts became visible.
#[derive(Debug, Clone, Serialize)]
pub struct VisibilityReport {
    /// Posts created per second, as asked.
    pub rate: f64,
    /// Creations sent.
    pub attempted: u64,
    /// Of them, answered `201`.
    pub created: u64,
    /// Creations not answered `201`, by status (`"429"`, `"transport"`).
    pub create_errors: BTreeMap<String, u64>,
    /// Created posts that became visible.
    pub visible: u64,
    /// Created posts not visible within 5 s.
    pub not_visible: u64,
    /// From `201` to the first `200` of the post's page, over the visible posts.
    pub latency: Latency,
    /// Whether every created post became visible with p50 and p99 within the goals.
    pub goal_met: bool,
}

impl fmt::Display for VisibilityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "visibility: posts at {:.0}/s, from 201 to readable",
            self.rate
        )?;
        let errors: Vec<String> = self
            .create_errors
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect();
        let rows = [vec![
            self.attempted.to_string(),
            self.created.to_string(),
            self.visible.to_string(),
            self.not_visible.to_string(),
            format!("{:.2}", self.latency.p50_ms),
            format!("{:.2}", self.latency.p99_ms),
            format!("{:.2}", self.latency.max_ms),
            if errors.is_empty() {
                "0".to_owned()
            } else {
                errors.join(", ")
            },
        ]];
        let headers = [
            "sent",
            "created",
            "visible",
            "not visible",
            "p50 ms",
            "p99 ms",
            "max ms",
            "create errors",
        ];
        table::write(f, &headers, &rows)?;
        writeln!(
            f,
            "\ngoal (p50 ≤ {GOAL_P50_MS} ms, p99 ≤ {GOAL_P99_MS} ms, all visible): {}",
            table::verdict(self.goal_met)
        )
    }
}

/// How one post went.
enum Fate {
    /// Not created.
    Refused(Outcome),
    /// Created, and readable this long after its `201`.
    Visible(Duration),
    /// Created, but not readable within [`GIVE_UP_AFTER`].
    Invisible,
}

/// Creates posts at the configured rate and measures how soon each is readable.
pub async fn visibility(config: VisibilityConfig) -> anyhow::Result<VisibilityReport> {
    anyhow::ensure!(
        !config.session_cookies.is_empty(),
        "no session tokens given"
    );
    let (rate, duration) = if config.smoke {
        (config.rate.min(10.0), Duration::from_secs(1))
    } else {
        (config.rate, config.duration)
    };
    let client = load::client(MAX_IN_FLIGHT)?;
    let cookies: Vec<String> = config.session_cookies.iter().map(|s| cookie(s)).collect();
    let mut report = VisibilityReport {
        rate,
        attempted: 0,
        created: 0,
        create_errors: BTreeMap::new(),
        visible: 0,
        not_visible: 0,
        latency: Latency::default(),
        goal_met: false,
    };
    let mut latencies = Latencies::new();
    paced(
        rate,
        MAX_IN_FLIGHT,
        duration,
        |i, _due| {
            let member = cookies[i as usize % cookies.len()].clone();
            let post = new_post(&config.api_url, u64::from(i)).header("cookie", member);
            let (client, query_url) = (client.clone(), config.query_url.clone());
            async move {
                let (outcome, body) = load::send(&client, &post).await;
                if outcome != Outcome::Status(201) {
                    return Fate::Refused(outcome);
                }
                let created_at = Instant::now();
                let id = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|created| created["id"].as_str().map(str::to_owned));
                match id {
                    Some(id) => {
                        seen(
                            &client,
                            &join(&query_url, &format!("/api/v1/posts/{id}")),
                            created_at,
                        )
                        .await
                    }
                    None => Fate::Invisible,
                }
            }
        },
        |fate| {
            report.attempted += 1;
            match fate {
                Fate::Refused(outcome) => {
                    *report.create_errors.entry(outcome.label()).or_default() += 1;
                }
                Fate::Visible(after) => {
                    report.created += 1;
                    report.visible += 1;
                    latencies.record(after);
                }
                Fate::Invisible => {
                    report.created += 1;
                    report.not_visible += 1;
                }
            }
        },
    )
    .await;
    report.latency = latencies.summary();
    report.goal_met = report.created > 0
        && report.not_visible == 0
        && report.latency.p50_ms <= GOAL_P50_MS
        && report.latency.p99_ms <= GOAL_P99_MS;
    Ok(report)
}

/// Polls `url` every [`POLL_EVERY`] (for the first 20 ms, then every tenth of the time
/// waited so far) until it answers `200`; how long after `since` that was.
async fn seen(client: &reqwest::Client, url: &str, since: Instant) -> Fate {
    while since.elapsed() < GIVE_UP_AFTER {
        if let Ok(response) = client.get(url).send().await {
            let status = response.status();
            // Read the body so the connection can be reused.
            let _ = response.bytes().await;
            if status == reqwest::StatusCode::OK {
                return Fate::Visible(since.elapsed());
            }
        }
        tokio::time::sleep(POLL_EVERY.max(since.elapsed() / POLL_BACKOFF)).await;
    }
    Fate::Invisible
}
