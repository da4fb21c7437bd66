//! Writes: posts and comments at rising concurrency, each step against `pgbench` inserting
//! single rows at the same concurrency (the most PostgreSQL commits on this machine), and
//! against `pgbench` running the statements of Ward's commands alone (the ceiling of this
//! design on this PostgreSQL; see [`Script::WardSql`]).
//!
//! Goal: Ward's successful commands per second are at least 50 % of pgbench's tps.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use super::pgbench::{Pgbench, Script};
use super::{cookie, join, DEV_COMMAND_URL, SMOKE_PHASE};
use crate::load::{self, LoadReport, Plan, Target};
use crate::table;

/// The share of pgbench's tps Ward must reach.
pub const GOAL_SHARE: f64 = 0.5;

/// Where to write, as whom, and how hard.
#[derive(Debug, Clone)]
pub struct CommandsConfig {
    /// The command API.
    pub api_url: String,
    /// Session tokens, one member each; used in rotation so that each member's rate limit
    /// is reached as late as possible.
    pub session_cookies: Vec<String>,
    /// The concurrency of each step, in order.
    pub concurrencies: Vec<usize>,
    /// How long each step lasts (Ward, then pgbench as long).
    pub duration: Duration,
    /// A database on the PostgreSQL server for pgbench's scratch database.
    pub pg_url: String,
    /// A functional check: concurrencies 1 and 4, a fraction of a second each.
    pub smoke: bool,
}

impl Default for CommandsConfig {
    fn default() -> Self {
        Self {
            api_url: DEV_COMMAND_URL.to_owned(),
            session_cookies: Vec::new(),
            concurrencies: vec![1, 4, 16, 64],
            duration: Duration::from_secs(30),
            pg_url: "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
            smoke: false,
        }
    }
}

/// One concurrency step.
#[derive(Debug, Clone, Serialize)]
pub struct CommandsStep {
    /// Concurrent connections (Ward) and clients (pgbench).
    pub concurrency: usize,
    /// Ward's closed loop of posts and comments.
    pub ward: LoadReport,
    /// pgbench's transactions per second; `None` without pgbench.
    pub pgbench_tps: Option<f64>,
    /// Ward's successful commands per second over pgbench's tps.
    pub ratio: Option<f64>,
    /// pgbench's transactions per second running Ward's statements alone.
    pub ward_sql_tps: Option<f64>,
    /// Ward's successful commands per second over `ward_sql_tps`.
    pub of_ward_sql: Option<f64>,
    /// Whether the ratio is at least [`GOAL_SHARE`].
    pub goal_met: Option<bool>,
}

/// Every step.
#[derive(Debug, Clone, Serialize)]
pub struct CommandsReport {
    /// Members whose sessions were used.
    pub members: usize,
    /// The steps, in order.
    pub steps: Vec<CommandsStep>,
    /// Why there is no pgbench reference, if there is none.
    pub reference_missing: Option<String>,
}

impl fmt::Display for CommandsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "commands: posts and comments by {} members",
            self.members
        )?;
        let optional = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        let rows: Vec<Vec<String>> = self
            .steps
            .iter()
            .map(|s| {
                vec![
                    s.concurrency.to_string(),
                    s.ward.requests.to_string(),
                    table::num(s.ward.ok_rps),
                    format!("{:.2}", s.ward.latency.p50_ms),
                    format!("{:.2}", s.ward.latency.p99_ms),
                    s.ward.error_summary(),
                    optional(s.pgbench_tps.map(table::num)),
                    optional(s.ratio.map(table::percent)),
                    optional(s.goal_met.map(|m| table::verdict(m).to_owned())),
                    optional(s.ward_sql_tps.map(table::num)),
                    optional(s.of_ward_sql.map(table::percent)),
                ]
            })
            .collect();
        let headers = [
            "concurrency",
            "commands",
            "ok/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "pgbench tps",
            "ratio",
            "goal ≥ 50 %",
            "Ward's SQL tps",
            "of its SQL",
        ];
        table::write(f, &headers, &rows)?;
        if let Some(why) = &self.reference_missing {
            writeln!(f, "\nno pgbench reference: {why}")?;
        }
        if self
            .steps
            .iter()
            .any(|s| s.ward.errors_by_status.contains_key("429"))
        {
            writeln!(
                f,
                "\n429s: members reached their rate limits (command_api.rate_limits); pass more sessions"
            )?;
        }
        Ok(())
    }
}

/// Measures pgbench's references at every concurrency, then runs Ward's closed loop at each.
pub async fn commands(config: CommandsConfig) -> anyhow::Result<CommandsReport> {
    anyhow::ensure!(
        !config.session_cookies.is_empty(),
        "no session tokens given"
    );
    let (concurrencies, duration) = if config.smoke {
        (vec![1, 4], SMOKE_PHASE)
    } else {
        (config.concurrencies.clone(), config.duration)
    };
    let (pgbench, mut reference_missing) = match Pgbench::prepare(&config.pg_url).await {
        Ok(Some(pgbench)) => (Some(pgbench), None),
        Ok(None) => (None, Some("pgbench is not on PATH".to_owned())),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    // The references first, on a quiet machine: run after a Ward step, they would share it
    // with the relay and projectors still working through what Ward wrote.
    let secs = duration.as_secs_f64().round() as u64;
    let mut references = Vec::new();
    for &concurrency in &concurrencies {
        let mut measure = async |script| match &pgbench {
            Some(pgbench) => match pgbench.tps(script, concurrency, secs).await {
                Ok(tps) => Some(tps),
                Err(e) => {
                    reference_missing.get_or_insert(format!("{e:#}"));
                    None
                }
            },
            None => None,
        };
        references.push((
            measure(Script::OneRow).await,
            measure(Script::WardSql).await,
        ));
    }
    // One plan for every step, so later steps comment on posts of earlier ones and go on
    // through the members where the last step stopped.
    let plan = Arc::new(Writes::new(&config.api_url, &config.session_cookies));
    let mut steps = Vec::new();
    for (concurrency, (pgbench_tps, ward_sql_tps)) in concurrencies.into_iter().zip(references) {
        let ward = load::closed_plan(concurrency, duration, plan.clone()).await?;
        let share = |tps: Option<f64>| tps.map(|tps| ward.ok_rps / tps.max(f64::EPSILON));
        let ratio = share(pgbench_tps);
        steps.push(CommandsStep {
            concurrency,
            pgbench_tps,
            ratio,
            goal_met: ratio.map(|r| r >= GOAL_SHARE),
            ward_sql_tps,
            of_ward_sql: share(ward_sql_tps),
            ward,
        });
    }
    if let Some(pgbench) = pgbench {
        pgbench.clean_up().await?;
    }
    Ok(CommandsReport {
        members: config.session_cookies.len(),
        steps,
        reference_missing,
    })
}

/// Posts and comments in turn; each member in rotation writes one of each, and comments go
/// to posts created earlier in the run, scattered over all of them (a post when there is
/// none yet). Taking `round % created` instead would send many comments to the first few
/// posts, since `created` grows about as fast as `round`: a few ever-hotter threads.
struct Writes {
    api_url: String,
    cookies: Vec<String>,
    turn: AtomicU64,
    created: Mutex<Vec<String>>,
}

impl Writes {
    fn new(api_url: &str, sessions: &[String]) -> Self {
        Self {
            api_url: api_url.to_owned(),
            cookies: sessions.iter().map(|s| cookie(s)).collect(),
            turn: AtomicU64::new(0),
            created: Mutex::new(Vec::new()),
        }
    }
}

impl Plan for Writes {
    fn next(&self, _n: u64) -> Target {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        // Only used modulo lengths, so truncating on a 32-bit target would do no harm.
        let round = (turn / 2) as usize;
        let member = &self.cookies[round % self.cookies.len()];
        let post_id = (turn % 2 == 1)
            .then(|| {
                let created = self.created.lock().ok()?;
                created.get(pick(round, created.len().max(1))).cloned()
            })
            .flatten();
        let target = match post_id {
            Some(id) => Target::post(
                "comment",
                join(&self.api_url, &format!("/api/v1/posts/{id}/comments")),
                json!({"body": format!("벤치 댓글 {turn}: 저도 같은 생각이에요.")}),
            ),
            None => new_post(&self.api_url, turn),
        };
        target.header("cookie", member.clone())
    }

    fn answered(&self, target: &Target, _status: u16, body: &[u8]) {
        if target.name != "post" {
            return;
        }
        let id = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|created| created["id"].as_str().map(str::to_owned));
        if let (Some(id), Ok(mut created)) = (id, self.created.lock()) {
            created.push(id);
        }
    }
}

/// The post (of `created`) that `round` comments on: consecutive rounds spread over all of
/// them (Fibonacci hashing).
fn pick(round: usize, created: usize) -> usize {
    round.wrapping_mul(0x9E37_79B9) % created
}

/// `POST /api/v1/posts` of a short post on the free board, numbered `n`.
pub(super) fn new_post(api_url: &str, n: u64) -> Target {
    Target::post(
        "post",
        join(api_url, "/api/v1/posts"),
        json!({
            "board": "free",
            "title": format!("벤치 글 {n}"),
            "body": format!("본문 {n}: 야간 근무를 마치고 쓰는 벤치마크용 글입니다."),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_take_turns_and_comments_go_to_created_posts() {
        let writes = Writes::new("http://api", &["a".to_owned(), "b".to_owned()]);
        let first: Vec<(String, String)> = (0..4)
            .map(|n| {
                let t = writes.next(n);
                (t.name, t.headers[0].1.clone())
            })
            .collect();
        // No post exists yet, so the comment turns post too.
        assert_eq!(first[0], ("post".to_owned(), "ward_session=a".to_owned()));
        assert_eq!(first[1], ("post".to_owned(), "ward_session=a".to_owned()));
        assert_eq!(first[2].1, "ward_session=b");
        writes.answered(
            &new_post("http://api", 0),
            201,
            br#"{"id":"p1","version":1}"#,
        );
        let _post = writes.next(4);
        let comment = writes.next(5);
        assert_eq!(comment.name, "comment");
        assert_eq!(comment.url, "http://api/api/v1/posts/p1/comments");
        assert_eq!(comment.headers[0].1, "ward_session=a");
    }

    #[test]
    fn comments_are_scattered_over_the_created_posts() {
        // Under a closed loop the posts answered so far trail the rounds by the few still in
        // flight: `round % created` would then pick the same post every round.
        let picked: std::collections::BTreeSet<usize> =
            (100..200).map(|round| pick(round, round - 3)).collect();
        assert!(picked.len() >= 50, "{picked:?}");
        assert!((100..200).all(|round| pick(round, round - 3) < round - 3));
    }
}
