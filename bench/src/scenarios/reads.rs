//! Reads like real traffic: board lists (JSON and HTML), post pages and hospital pages,
//! against the reference server's limit on the same machine in the same run.
//!
//! Goal: Ward serves at least 35 % of the reference's requests per second, with p99 ≤ 50 ms
//! when offered exactly that rate in an open loop.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use serde::Serialize;
use serde_json::Value;

use super::{join, DEV_QUERY_URL, SMOKE_PHASE};
use crate::load::{self, LoadReport, Target, Weighted};
use crate::{reference, table};

/// The share of the reference's rate Ward must serve.
pub const GOAL_SHARE: f64 = 0.35;
/// The p99 Ward must keep at that rate, in milliseconds.
pub const GOAL_P99_MS: f64 = 50.0;

/// What to read and how hard.
#[derive(Debug, Clone)]
pub struct ReadsConfig {
    /// Where the pages are read: by default the query API, which renders them, as the
    /// production Gateway routes page reads to it. `scripts/dev`'s gateway (`DEV_WEB_URL`)
    /// is a local proxy that would add a second HTTP hop on the same two cores.
    pub web_url: String,
    /// The query API serving the JSON.
    pub api_url: String,
    /// Posts whose pages are read in rotation; none leaves post pages out.
    pub post_ids: Vec<String>,
    /// Hospitals whose pages are read in rotation; none leaves hospital pages out.
    pub hospital_ids: Vec<String>,
    /// Concurrent connections of the closed loops, and the open loop's cap on requests in
    /// flight.
    pub connections: usize,
    /// How long each of the three runs lasts.
    pub duration: Duration,
    /// A functional check: 4 connections and a fraction of a second per run.
    pub smoke: bool,
}

impl Default for ReadsConfig {
    fn default() -> Self {
        Self {
            web_url: DEV_QUERY_URL.to_owned(),
            api_url: DEV_QUERY_URL.to_owned(),
            post_ids: Vec::new(),
            hospital_ids: Vec::new(),
            connections: 300,
            duration: Duration::from_secs(30),
            smoke: false,
        }
    }
}

/// The three runs and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ReadsReport {
    /// Concurrent connections of the closed loops.
    pub connections: usize,
    /// Size of the free board's HTML page, which the reference server's body copies.
    pub body_bytes: usize,
    /// The reference server, closed loop.
    pub reference: LoadReport,
    /// Ward, closed loop: its throughput limit.
    pub ward_closed: LoadReport,
    /// The rate offered in the open loop: [`GOAL_SHARE`] of the reference's.
    pub open_rate: f64,
    /// Ward, open loop at `open_rate`: its latency at the goal's load.
    pub ward_open: LoadReport,
    /// Ward's closed-loop successful requests per second over the reference's.
    pub closed_ratio: f64,
    /// Whether Ward reached the goal share in the closed loop, and in the open loop answered
    /// every request without error with p99 within [`GOAL_P99_MS`].
    pub goal_met: bool,
}

impl fmt::Display for ReadsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "reads: {} connections, {:.1} s per run",
            self.connections, self.ward_closed.elapsed_secs
        )?;
        let rows = [
            self.reference
                .row(&format!("reference, {} B body, closed", self.body_bytes)),
            self.ward_closed.row("ward, closed"),
            self.ward_open
                .row(&format!("ward, open at {:.0}/s", self.open_rate)),
        ];
        table::write(f, &LoadReport::HEADERS, &rows)?;
        writeln!(
            f,
            "\nward closed / reference: {}; goal (≥ {} of the reference, open-loop p99 ≤ {GOAL_P99_MS} ms, no errors): {}\n",
            table::percent(self.closed_ratio),
            table::percent(GOAL_SHARE),
            table::verdict(self.goal_met),
        )?;
        writeln!(f, "ward, closed loop, per target:")?;
        self.ward_closed.write_targets(f)
    }
}

/// Measures the reference server, then Ward in a closed loop, then Ward in an open loop at
/// [`GOAL_SHARE`] of the reference's rate.
pub async fn reads(config: ReadsConfig) -> anyhow::Result<ReadsReport> {
    let (connections, duration) = if config.smoke {
        (4, SMOKE_PHASE)
    } else {
        (config.connections.max(1), config.duration)
    };
    let body_bytes = page_size(&join(&config.web_url, "/boards/free")).await?;

    let server = reference::start(body_bytes).await?;
    let reference = load::closed(
        connections,
        duration,
        &[Target::get("reference", server.url())],
    )
    .await;
    server.stop().await?;
    let reference = reference?;

    let plan = || Weighted::groups(mix(&config)).map(Arc::new);
    let ward_closed = load::closed_plan(connections, duration, plan()?).await?;
    let open_rate = (reference.ok_rps * GOAL_SHARE).max(1.0);
    let ward_open = load::open_plan(open_rate, connections, duration, plan()?).await?;

    let closed_ratio = ward_closed.ok_rps / reference.ok_rps.max(f64::EPSILON);
    let goal_met = closed_ratio >= GOAL_SHARE
        && ward_open.errors == 0
        && ward_open.latency.p99_ms <= GOAL_P99_MS;
    Ok(ReadsReport {
        connections,
        body_bytes,
        reference,
        ward_closed,
        open_rate,
        ward_open,
        closed_ratio,
        goal_met,
    })
}

/// The read mix, weighted 3:3:3:1 like real traffic: board JSON, board HTML, post pages,
/// hospital pages (the last two rotating through the given ids).
fn mix(config: &ReadsConfig) -> Vec<(u32, Vec<Target>)> {
    let pages = |name: &str, path: &str, ids: &[String]| -> Vec<Target> {
        ids.iter()
            .map(|id| Target::get(name, join(&config.web_url, &format!("{path}/{id}"))))
            .collect()
    };
    vec![
        (
            3,
            vec![Target::get(
                "board json",
                join(&config.api_url, "/api/v1/boards/free/posts"),
            )],
        ),
        (
            3,
            vec![Target::get(
                "board html",
                join(&config.web_url, "/boards/free"),
            )],
        ),
        (3, pages("post html", "/posts", &config.post_ids)),
        (
            1,
            pages("hospital html", "/hospitals", &config.hospital_ids),
        ),
    ]
}

/// The size in bytes of the page at `url`.
async fn page_size(url: &str) -> anyhow::Result<usize> {
    let response = reqwest::get(url)
        .await
        .with_context(|| format!("reading {url}"))?;
    ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    Ok(response
        .bytes()
        .await
        .with_context(|| format!("reading {url}"))?
        .len())
}

/// Up to 100 post ids of the free board and 100 hospital ids, from the query API at
/// `api_url`, for [`ReadsConfig::post_ids`] and [`ReadsConfig::hospital_ids`].
pub async fn sample_ids(api_url: &str) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let posts = ids(
        &join(api_url, "/api/v1/boards/free/posts?limit=100"),
        "posts",
    )
    .await?;
    let hospitals = ids(&join(api_url, "/api/v1/hospitals?limit=100"), "hospitals").await?;
    Ok((posts, hospitals))
}

/// The `id` of each item of the array `field` of the JSON at `url`.
async fn ids(url: &str, field: &str) -> anyhow::Result<Vec<String>> {
    let response = reqwest::get(url)
        .await
        .with_context(|| format!("reading {url}"))?;
    ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    let page: Value = response
        .json()
        .await
        .with_context(|| format!("reading {url}"))?;
    Ok(page[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect())
}
