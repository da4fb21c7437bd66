//! `ward-bench chaos`: random faults under real load, with the invariants checked (issue
//! #20). The run sets up an installation of its own ([`installation`]), sends an open loop
//! of posts, comments, likes, claims, approvals, reviews, refused commands and reads as
//! browser forms would ([`users`]), and meanwhile plays faults drawn from a seed it prints
//! ([`faults`]): `kill -9` of any process (each restarted by its supervisor,
//! [`supervisor`]), restarts and stalls of PostgreSQL, MariaDB and Redis behind proxies of
//! its own ([`proxy`]), `SIGSTOP`/`SIGCONT` pauses. Once the load has stopped and the
//! pipeline settled ([`pipeline`]) it checks, against the ledger of what every user was told
//! ([`ledger`]), that nothing acknowledged was lost or doubled and nothing refused left a
//! trace, that the topics hold each event once, that every read model equals a rebuild from
//! offset 0, that the outbox is empty and no group is stuck ([`checks`]); and it reports per
//! fault how long the service took to be ready again and the projections to catch up, and
//! what users saw meanwhile.
//!
//! # Layout
//!
//! - [`installation`]: databases, Redis prefix, broker, proxies and processes of the run.
//! - [`supervisor`]: each process restarted after it dies; signals, readiness, metrics.
//! - [`proxy`]: a TCP proxy that can cut or stall a server's connections.
//! - [`users`]: the load, with browser-like retries under an `Idempotency-Key`.
//! - [`ledger`]: every request's tries and final answer; counts and windows over them.
//! - [`faults`]: the seeded fault scheduler and each fault's measurements.
//! - [`pipeline`]: outbox, topic ends and stored offsets, read directly.
//! - [`checks`]: the invariants.

pub mod checks;
pub mod faults;
pub mod installation;
pub mod ledger;
pub mod pipeline;
pub mod proxy;
pub mod supervisor;
pub mod users;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::time::Instant;

use self::checks::Invariant;
use self::faults::{seconds, FaultReport, Scheduler};
use self::installation::{Installation, Layout, Servers};
use self::ledger::{count_by_kind, seen_between, Kind, KindCount, Seen};
use self::pipeline::Pipeline;
use self::supervisor::Role;
use self::users::Users;
use crate::table;

/// How long the pipeline may take to settle after the load before a group counts as stuck.
const SETTLE_WITHIN: Duration = Duration::from_secs(180);
/// The load runs this long before the first fault.
const WARM_UP: Duration = Duration::from_secs(3);

/// What to run, and how hard.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// The `ward` binary whose processes the run starts.
    pub ward_bin: PathBuf,
    /// The `tansu` binary (the broker).
    pub tansu_bin: PathBuf,
    /// Requests per second (commands and reads).
    pub rate: f64,
    /// How long the load runs; faults are played meanwhile.
    pub duration: Duration,
    /// Decides the faults and the mix of requests; printed at the start.
    pub seed: u64,
    /// A short functional run: at most 8 requests a second for 40 s, a handful of faults.
    pub smoke: bool,
    /// Restart the machine's real PostgreSQL, MariaDB and Redis instead of cutting their
    /// proxies (only on an otherwise idle machine).
    pub real_restarts: bool,
    /// The shared servers (admin URLs).
    pub servers: Servers,
    /// Members (session tokens) writing; the first is the moderator.
    pub members: usize,
    /// Hospitals to claim and review.
    pub hospitals: usize,
    /// Projector processes per projection.
    pub projectors_per_projection: usize,
    /// Keep the run's folder (logs, the broker's storage) even when every invariant held.
    pub keep_logs: bool,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        Self {
            ward_bin: PathBuf::from("ward"),
            tansu_bin: std::env::var_os("WARD_TANSU_BIN")
                .map_or_else(|| PathBuf::from("tansu"), PathBuf::from),
            rate: 20.0,
            duration: Duration::from_secs(720),
            seed: 1,
            smoke: false,
            real_restarts: false,
            servers: Servers {
                postgres: "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
                mariadb: "mysql://root@127.0.0.1:3306/mysql".to_owned(),
                redis: "redis://127.0.0.1:6379".to_owned(),
            },
            members: 60,
            hospitals: 30,
            projectors_per_projection: 1,
            keep_logs: false,
        }
    }
}

/// What a chaos run found.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosReport {
    /// The seed that drew the faults and the mix.
    pub seed: u64,
    /// The run's id (database names, Redis prefix).
    pub run: String,
    /// Requests per second.
    pub rate: f64,
    /// Seconds of load.
    pub duration_secs: f64,
    /// Whether restarts were of the real servers.
    pub real_restarts: bool,
    /// Each process and how often its supervisor restarted it.
    pub restarts: Vec<(String, u32)>,
    /// Per kind of request: counts and latencies.
    pub kinds: BTreeMap<Kind, KindCount>,
    /// What users saw over the whole run.
    pub overall: Seen,
    /// Each fault.
    pub faults: Vec<FaultReport>,
    /// The invariants, in the order.
    pub invariants: Vec<Invariant>,
    /// Acknowledged commands missing from the event store or a read model.
    pub lost: u64,
    /// Effects recorded or shown more than once.
    pub doubled: u64,
    /// The run's folder, kept for its logs.
    pub logs: Option<PathBuf>,
}

impl ChaosReport {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.invariants.iter().all(Invariant::met)
    }

    /// Faults after which the service was ready again and the projections caught up.
    pub fn survived(&self) -> usize {
        self.faults
            .iter()
            .filter(|f| f.ready_after.is_some() && f.caught_up_after.is_some())
            .count()
    }
}

/// Runs the chaos scenario of `config` and removes its installation.
pub async fn chaos(config: ChaosConfig) -> anyhow::Result<ChaosReport> {
    let config = if config.smoke {
        ChaosConfig {
            rate: config.rate.min(8.0),
            duration: Duration::from_secs(40),
            members: config.members.min(16),
            hospitals: config.hospitals.min(6),
            ..config
        }
    } else {
        config
    };
    eprintln!(
        "chaos: seed {} ({} requests/s for {:.0} s)",
        config.seed,
        config.rate,
        config.duration.as_secs_f64()
    );
    let layout = Layout {
        ward_bin: config.ward_bin.clone(),
        tansu_bin: config.tansu_bin.clone(),
        servers: config.servers.clone(),
        command_apis: 2,
        query_apis: 2,
        projectors_per_projection: config.projectors_per_projection.max(1),
    };
    let mut installation = Installation::create(layout).await?;
    eprintln!(
        "chaos: run {} in {}",
        installation.id,
        installation.dir().display()
    );
    let outcome = run(&config, &mut installation).await;
    let keep = config.keep_logs || !outcome.as_ref().is_ok_and(ChaosReport::passed);
    let logs = installation.remove(keep).await;
    let mut report = outcome?;
    report.logs = logs?;
    Ok(report)
}

async fn run(config: &ChaosConfig, installation: &mut Installation) -> anyhow::Result<ChaosReport> {
    let tokens = installation
        .seed(
            "sessions.txt",
            config.members.max(3),
            config.hospitals.max(1),
        )
        .await?;
    installation.start().await?;
    let pipeline = Pipeline::connect(&installation.config).await?;
    let hospitals: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events WHERE event_type = 'HospitalRegistered' ORDER BY aggregate_id",
    )
    .fetch_all(&pipeline.events)
    .await?;
    let (command_urls, query_urls) = (
        installation.urls(Role::CommandApi),
        installation.urls(Role::QueryApi),
    );
    installation
        .grant_moderator(&query_urls[0], &tokens[0])
        .await?;
    let users = Arc::new(Users::new(
        &installation.id,
        tokens.clone(),
        hospitals.clone(),
        command_urls,
        query_urls.clone(),
        config.seed,
    )?);
    // A few insiders verified by an operator, so reviews start at once; the load's own
    // claims are approved by the moderator through the API.
    for member in 1..tokens.len().min(5) {
        let hospital = member % hospitals.len();
        let claim = users
            .setup_claim(member, hospital)
            .await
            .context("a setup claim was not acknowledged")?;
        let answer = installation.ward(&["claims", "approve", &claim]).await?;
        let version = answer
            .rsplit_once("version ")
            .and_then(|(_, v)| v.trim().trim_end_matches(')').parse().ok())
            .context("ward claims approve answered no version")?;
        users.record_operator(Kind::Approval, &claim, claim.clone(), version);
        users.add_insider(member, hospital);
    }

    eprintln!("chaos: load and faults start");
    let until = Instant::now() + config.duration;
    let scheduler = Scheduler::new(
        installation,
        &pipeline,
        &users,
        config.seed,
        config.smoke,
        config.real_restarts,
    );
    let (mut faults, ()) = tokio::join!(
        scheduler.run(WARM_UP, until),
        users.run(config.rate, config.duration)
    );
    eprintln!("chaos: load done; waiting for the pipeline to settle");
    let settle_started = Instant::now();
    let (settled_after, lag, not_ready) = settle(installation, &pipeline).await;
    let settled_after = settled_after.map(|()| settle_started.elapsed());

    let records = users.records();
    for fault in &mut faults {
        fault.seen = seen_between(&records, fault.at, fault.window_end);
    }
    let overall = seen_between(&records, Duration::ZERO, users.started().elapsed());

    eprintln!("chaos: checking the invariants");
    let (in_store, mut nothing) = checks::event_store(&pipeline, &records).await?;
    let (on_topics, mut published_once, copied) =
        checks::topics(&pipeline, &installation.config).await?;
    if !copied.is_empty() {
        published_once.note = format!(
            "{}; copied after {}",
            published_once.note,
            copies_by_fault(&copied, users.started_at(), &faults)
        );
    }
    let pages = checks::member_pages(&query_urls[0], &users.members()).await?;
    let visible =
        checks::read_models(&pipeline, &installation.id, &records, &pages, &mut nothing).await?;
    let operator: &Installation = installation;
    let rebuilt = checks::rebuilds(&operator.config, |projection| async move {
        operator.ward(&["projector", "rebuild", projection]).await
    })
    .await?;
    let outbox = checks::outbox(pipeline.outbox_len().await?);
    let stuck = checks::no_stuck_group(&faults, settled_after, &lag, &not_ready);
    let (lost, doubled) = (
        in_store.lost + visible.lost,
        in_store.doubled + visible.doubled,
    );
    Ok(ChaosReport {
        seed: config.seed,
        run: installation.id.clone(),
        rate: config.rate,
        duration_secs: config.duration.as_secs_f64(),
        real_restarts: config.real_restarts,
        restarts: installation
            .processes
            .iter()
            .map(|p| (p.spec.name.clone(), p.restarts()))
            .collect(),
        kinds: count_by_kind(&records),
        overall,
        faults,
        invariants: vec![
            in_store.invariant,
            on_topics,
            published_once,
            visible.invariant,
            nothing,
            rebuilt,
            outbox,
            stuck,
        ],
        lost,
        doubled,
        logs: None,
    })
}

/// The faults grouped by what was done to what (a process's name without its number): how
/// often, how soon ready again and caught up (median and worst; `—` when one never was), the
/// tries that failed meanwhile and the worst p99 users saw.
fn fault_kinds(faults: &[FaultReport]) -> Vec<Vec<String>> {
    let mut groups: BTreeMap<(String, String), Vec<&FaultReport>> = BTreeMap::new();
    for fault in faults {
        let target = fault.target.trim_end_matches(|c: char| c.is_ascii_digit());
        let target = target.strip_suffix('-').unwrap_or(target).to_owned();
        groups
            .entry((fault.action.clone(), target))
            .or_default()
            .push(fault);
    }
    let spread = |mut times: Vec<Option<Duration>>| {
        // `None` (never) sorts first; the worst is then `None` if any is.
        times.sort();
        let worst = if times.first().is_some_and(Option::is_none) {
            None
        } else {
            times.last().copied().flatten()
        };
        format!("{}, {}", seconds(times[times.len() / 2]), seconds(worst))
    };
    groups
        .into_iter()
        .map(|((action, target), faults)| {
            vec![
                action,
                target,
                faults.len().to_string(),
                spread(faults.iter().map(|f| f.ready_after).collect()),
                spread(faults.iter().map(|f| f.caught_up_after).collect()),
                faults
                    .iter()
                    .map(|f| f.seen.errors)
                    .sum::<u64>()
                    .to_string(),
                format!(
                    "{:.0}",
                    faults.iter().map(|f| f.seen.p99_ms).fold(0.0, f64::max)
                ),
            ]
        })
        .collect()
}

/// Which faults the copies on the topics followed, e.g. `restart (proxy cut) PostgreSQL ×3`.
/// A copy is published when a fault interrupts the relay after the broker acknowledged a
/// record and before its outbox row was deleted, so the event was committed before that
/// fault's outage ended: each copied event (committed at `copied`, wall-clock) is put down to
/// the first fault whose outage ended after it was committed, if that fault began within 10 s
/// of it.
fn copies_by_fault(
    copied: &[chrono::DateTime<chrono::Utc>],
    started_at: chrono::DateTime<chrono::Utc>,
    faults: &[FaultReport],
) -> String {
    let mut causes: BTreeMap<String, usize> = BTreeMap::new();
    for at in copied {
        let t = (*at - started_at).to_std().unwrap_or_default();
        let cause = faults
            .iter()
            .find(|f| f.at + f.outage >= t)
            .filter(|f| f.at <= t + Duration::from_secs(10))
            .map_or("no fault".to_owned(), |f| {
                format!("{} {}", f.action, f.target)
            });
        *causes.entry(cause).or_default() += 1;
    }
    let causes: Vec<String> = causes.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
    causes.join(", ")
}

/// Waits until the outbox is empty, every projection has applied every record and every
/// process is ready. What was still behind, and which processes were not ready, if that did
/// not happen within [`SETTLE_WITHIN`].
async fn settle(
    installation: &Installation,
    pipeline: &Pipeline,
) -> (Option<()>, BTreeMap<String, pipeline::Lag>, Vec<String>) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + SETTLE_WITHIN;
    let mut lag = BTreeMap::new();
    let mut not_ready = Vec::new();
    while Instant::now() < deadline {
        not_ready.clear();
        for process in &installation.processes {
            if !process.ready(&client).await {
                not_ready.push(process.spec.name.clone());
            }
        }
        let outbox = pipeline.outbox_len().await.unwrap_or(-1);
        if let Ok(marks) = pipeline.watermarks().await {
            if let Ok(behind) = pipeline.lag(&marks).await {
                lag = behind;
                if outbox == 0 && lag.is_empty() && not_ready.is_empty() {
                    return (Some(()), lag, not_ready);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    (None, lag, not_ready)
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut by_action: BTreeMap<&str, usize> = BTreeMap::new();
        for fault in &self.faults {
            let action = fault.action.split(' ').next().unwrap_or_default();
            *by_action.entry(action).or_default() += 1;
        }
        let actions: Vec<String> = by_action.iter().map(|(a, n)| format!("{a} {n}")).collect();
        writeln!(
            f,
            "chaos: seed {}, {:.0} requests/s for {:.0} s, {} faults ({}){}",
            self.seed,
            self.rate,
            self.duration_secs,
            self.faults.len(),
            actions.join(", "),
            if self.real_restarts {
                ", real restarts"
            } else {
                ", restarts played by proxies"
            }
        )?;
        let worst = |pick: fn(&FaultReport) -> Option<Duration>| {
            let values: Vec<Option<Duration>> = self.faults.iter().map(pick).collect();
            if values.iter().any(Option::is_none) {
                None
            } else {
                values.into_iter().flatten().max()
            }
        };
        writeln!(
            f,
            "faults survived {}/{}; commands lost {}; effects doubled {}; worst ready again {}; worst caught up {}\n",
            self.survived(),
            self.faults.len(),
            self.lost,
            self.doubled,
            seconds(worst(|f| f.ready_after)),
            seconds(worst(|f| f.caught_up_after)),
        )?;

        let rows: Vec<Vec<String>> = self
            .invariants
            .iter()
            .map(|i| {
                vec![
                    i.name.to_owned(),
                    i.checked.to_string(),
                    i.failures.to_string(),
                    table::verdict(i.met()).to_owned(),
                    i.note.clone(),
                ]
            })
            .collect();
        table::write(
            f,
            &["invariant", "checked", "failed", "verdict", "note"],
            &rows,
        )?;
        for invariant in self.invariants.iter().filter(|i| !i.met()) {
            for example in &invariant.examples {
                writeln!(f, "  - {}: {example}", invariant.name)?;
            }
        }
        writeln!(f)?;

        let rows: Vec<Vec<String>> = self
            .kinds
            .iter()
            .map(|(kind, c)| {
                vec![
                    kind.label().to_owned(),
                    c.sent.to_string(),
                    c.acked.to_string(),
                    c.refused.to_string(),
                    c.unknown.to_string(),
                    c.retries.to_string(),
                    c.failed_attempts.to_string(),
                    c.busy_attempts.to_string(),
                    format!("{:.1}", c.p50_ms),
                    format!("{:.1}", c.p99_ms),
                ]
            })
            .collect();
        table::write(
            f,
            &[
                "request",
                "sent",
                "2xx",
                "4xx",
                "no answer",
                "retries",
                "failed tries",
                "409 in progress",
                "p50 ms",
                "p99 ms",
            ],
            &rows,
        )?;
        writeln!(
            f,
            "\nwhole run: {} requests, {} failed tries, p99 {:.1} ms, max {:.1} ms\n",
            self.overall.requests, self.overall.errors, self.overall.p99_ms, self.overall.max_ms
        )?;

        table::write(
            f,
            &[
                "fault",
                "target",
                "times",
                "ready again (median, worst)",
                "caught up (median, worst)",
                "failed tries",
                "worst p99 ms",
            ],
            &fault_kinds(&self.faults),
        )?;
        writeln!(f)?;

        let rows: Vec<Vec<String>> = self
            .faults
            .iter()
            .map(|fault| {
                vec![
                    fault.n.to_string(),
                    format!("{:.1}", fault.at.as_secs_f64()),
                    fault.action.clone(),
                    fault.target.clone(),
                    format!("{:.1}", fault.outage.as_secs_f64()),
                    seconds(fault.ready_after),
                    seconds(fault.caught_up_after),
                    fault.seen.requests.to_string(),
                    fault.seen.errors.to_string(),
                    format!("{:.0}", fault.seen.p99_ms),
                ]
            })
            .collect();
        table::write(
            f,
            &[
                "#",
                "at s",
                "fault",
                "target",
                "outage s",
                "ready again",
                "caught up",
                "requests",
                "failed tries",
                "p99 ms",
            ],
            &rows,
        )?;
        let restarted: Vec<String> = self
            .restarts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        writeln!(f, "\nrestarts by the supervisor: {}", restarted.join(", "))?;
        if let Some(logs) = &self.logs {
            writeln!(f, "logs: {}", logs.display())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(action: &str, target: &str, ready: u64, caught_up: Option<u64>) -> FaultReport {
        FaultReport {
            n: 1,
            action: action.to_owned(),
            target: target.to_owned(),
            at: Duration::ZERO,
            outage: Duration::from_secs(1),
            ready_after: Some(Duration::from_secs(ready)),
            caught_up_after: caught_up.map(Duration::from_secs),
            window_end: Duration::from_secs(ready),
            seen: Seen::default(),
        }
    }

    #[test]
    fn faults_are_grouped_by_action_and_process_kind() {
        let rows = fault_kinds(&[
            fault("kill -9", "projector-board-1", 2, Some(5)),
            fault("kill -9", "projector-board-2", 4, Some(7)),
            fault("kill -9", "projector-board-1", 3, None),
            fault("restart", "Redis", 5, Some(6)),
        ]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][..3], ["kill -9", "projector-board", "3"]);
        assert_eq!(rows[0][3], "3.0 s, 4.0 s");
        assert_eq!(rows[0][4], "5.0 s, —", "one never caught up");
        assert_eq!(rows[1][1], "Redis");
    }
}
