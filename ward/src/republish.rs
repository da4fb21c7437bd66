//! `ward events republish`: publishes the event store into the event topics again — after the
//! Kafka log was lost or damaged (all of it), or after its tail was (`--since`) — as the very
//! records the outbox relay sent: the same envelope with the same `event_id` and
//! `occurred_at` (kept in `events` since migration 0017, ADR 0016), to the same topic, keyed
//! by aggregate id, through the relay's idempotent producer (`outbox::send`). Projectors
//! skip an event whose sequence they have applied, so republishing into topics that still
//! hold the events changes no read model.
//!
//! # Order
//! Events are read in the store's primary-key order — aggregate type, aggregate id,
//! sequence — in keyset pages, so each aggregate's events are published in sequence order,
//! one aggregate after another. Only that order matters: the record key puts all of an
//! aggregate's events in one partition, and projectors keep a version per aggregate, not per
//! partition (`docs/architecture.md`, "The read side").
//!
//! A run holds the outbox relay's leader lock (`outbox::try_lock`) from before its first
//! read to after its last acknowledgement, so no relay publishes meanwhile, and waits for it,
//! saying so, while a relay leads. That is what keeps each aggregate in order. Commands are
//! still accepted while a run goes on; their events wait in the outbox, and the relay
//! publishes them once the run has released the lock — after everything the run published of
//! their aggregate. Without the lock, the relay could append an aggregate's newest event
//! before the run reached that aggregate; projectors would apply it and then skip the older,
//! republished ones as already applied. An event the run read that also waited in the outbox
//! is published twice, which projectors skip.
//!
//! # Resuming
//! After each page the broker acknowledged, the run records in `republish_progress` the key
//! of the last event published; an interrupted run (a failure, Ctrl-C, `--limit`) run again
//! with the same options resumes after it, publishing at most the unrecorded part of one page
//! twice. A run with other options is refused while one is unfinished, and a finished run
//! with the same options publishes nothing again; `--restart` starts over in both cases.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{PgConnection, PgPool};
use ward_command_api::outbox::{self, EventRow};
use ward_platform::config::WardConfig;
use ward_platform::kafka;

use crate::replay;

/// Events read and published per round trip (as many as the relay's batch).
const PAGE: i64 = 1000;
/// How often a run that waits for the leader lock tries again.
const LOCK_POLL: Duration = Duration::from_secs(1);
/// How long to wait before sending again what the producer's full queue refused.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(100);

/// What to republish.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only events that occurred at or after this time (all when `None`). Per aggregate that
    /// is a tail: an aggregate's events commit in sequence order.
    pub since: Option<DateTime<Utc>>,
    /// Only these aggregate types; all when empty.
    pub aggregate_types: Vec<String>,
    /// Forget an earlier run, finished or not, and start from the first event.
    pub restart: bool,
    /// Publish at most this many events, then stop as if interrupted.
    pub limit: Option<u64>,
}

/// How a run went.
#[derive(Debug, Default)]
pub struct Republished {
    /// Events this run published, per topic.
    pub topics: BTreeMap<String, u64>,
    /// Events this run published.
    pub published: u64,
    /// Events that earlier, interrupted runs with the same options published (this run
    /// resumed after them).
    pub earlier: u64,
    /// Whether every chosen event is published now (not when `limit` stopped the run).
    pub finished: bool,
    /// When a run with the same options had already finished; this run published nothing.
    pub finished_before: Option<DateTime<Utc>>,
}

/// A row of `republish_progress`.
#[derive(Debug, sqlx::FromRow)]
struct Progress {
    since: Option<DateTime<Utc>>,
    aggregate_types: Vec<String>,
    after_type: String,
    after_id: String,
    after_sequence: i64,
    published: i64,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

/// Republishes the event store of `config`'s installation as `options` say; a progress bar on
/// standard error when `show_progress`.
pub async fn republish(
    config: &WardConfig,
    options: &Options,
    show_progress: bool,
) -> anyhow::Result<Republished> {
    // Checked before anything is touched.
    replay::chosen_aggregate_types(&options.aggregate_types)?;
    ward_command_api::migrate(config).await?;
    let pool = config.event_store.connect_postgres().await?;
    let mut lock = pool.acquire().await?.detach();
    take_the_lead(&mut lock).await?;
    let outcome = publish(config, &pool, &mut lock, options, show_progress).await;
    outbox::release(&mut lock).await;
    outcome
}

/// Waits until this run holds the relay's leader lock on `lock`.
async fn take_the_lead(lock: &mut PgConnection) -> anyhow::Result<()> {
    let mut told = false;
    while !outbox::try_lock(lock)
        .await
        .context("taking the outbox relay's leader lock")?
    {
        if !told {
            eprintln!(
                "waiting for the outbox relay's leader lock: a relay is publishing. Stop every \
                 relay (command_api.relay = false, or stop the command API) to republish; \
                 commands are still accepted into the outbox meanwhile"
            );
            told = true;
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
    Ok(())
}

/// The run itself, under the leader lock held on `lock`.
async fn publish(
    config: &WardConfig,
    pool: &PgPool,
    lock: &mut PgConnection,
    options: &Options,
    show_progress: bool,
) -> anyhow::Result<Republished> {
    let topics: Vec<String> = replay::chosen_aggregate_types(&options.aggregate_types)?
        .iter()
        .map(|t| kafka::topic_for(&config.kafka, t))
        .collect();
    // Both as `republish_progress` stores them, so that a resumed run's options compare equal.
    let mut types = options.aggregate_types.clone();
    types.sort();
    types.dedup();
    let types = types.as_slice();
    let since = options.since.map(|since| since.trunc_subsecs(6));
    // Also the check that every topic exists: producing to a missing one could create it
    // with the broker's default partition count, which would send aggregates elsewhere.
    let marks = kafka::watermarks(&config.kafka, topics).await?;
    let progress = match start(pool, since, types, options.restart).await? {
        Start::Finished(at) => {
            return Ok(Republished {
                finished_before: Some(at),
                ..Republished::default()
            })
        }
        Start::Resume(progress) => {
            eprintln!(
                "resuming the republish started at {} after {} events",
                progress.started_at, progress.published
            );
            progress
        }
        Start::Fresh(progress) => {
            let held: i64 = marks.iter().map(|m| m.high - m.low).sum();
            if held > 0 {
                eprintln!(
                    "the topics already hold {held} records: the republished events follow \
                     them, and projectors skip those they have applied (after recreating lost \
                     topics they should be empty: if a relay published into them first, \
                     recreate them and run again with --restart)"
                );
            }
            progress
        }
    };
    let mut after = (
        progress.after_type,
        progress.after_id,
        progress.after_sequence,
    );
    let mut done = Republished {
        earlier: u64::try_from(progress.published).unwrap_or(0),
        ..Republished::default()
    };
    let bar = if show_progress {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events \
             WHERE (aggregate_type, aggregate_id, sequence) > ($1, $2, $3) \
               AND (cardinality($4::text[]) = 0 OR aggregate_type = ANY($4)) \
               AND ($5::timestamptz IS NULL OR occurred_at >= $5)",
        )
        .bind(&after.0)
        .bind(&after.1)
        .bind(after.2)
        .bind(types)
        .bind(since)
        .fetch_one(pool)
        .await?;
        let left = u64::try_from(left).unwrap_or(0);
        Some(replay::progress_bar(
            options.limit.map_or(left, |limit| limit.min(left)),
            "events",
        ))
    } else {
        None
    };
    let producer = outbox::producer(&config.kafka)?;
    loop {
        let want = match options.limit {
            Some(limit) => PAGE.min(i64::try_from(limit - done.published).unwrap_or(PAGE)),
            None => PAGE,
        };
        if want == 0 {
            break;
        }
        // Still the leader? A broken lock connection means the lock is gone.
        sqlx::query("SELECT 1")
            .execute(&mut *lock)
            .await
            .context("lost the outbox relay's leader lock")?;
        let page: Vec<EventRow> = sqlx::query_as(
            "SELECT event_id, aggregate_type, aggregate_id, sequence, event_type, event_version, \
                    ward_event_fields(payload, event_type) AS payload, metadata, occurred_at \
             FROM events \
             WHERE (aggregate_type, aggregate_id, sequence) > ($1, $2, $3) \
               AND (cardinality($4::text[]) = 0 OR aggregate_type = ANY($4)) \
               AND ($5::timestamptz IS NULL OR occurred_at >= $5) \
             ORDER BY aggregate_type, aggregate_id, sequence LIMIT $6",
        )
        .bind(&after.0)
        .bind(&after.1)
        .bind(after.2)
        .bind(types)
        .bind(since)
        .bind(want)
        .fetch_all(pool)
        .await
        .context("reading the event store")?;
        if page.is_empty() {
            done.finished = true;
            break;
        }
        let sent = outbox::send(&producer, &config.kafka, &page).await?;
        let acknowledged = &page[..sent.acknowledged];
        if let Some(last) = acknowledged.last() {
            after = (
                last.aggregate_type.clone(),
                last.aggregate_id.clone(),
                last.sequence,
            );
            sqlx::query(
                "UPDATE republish_progress SET after_type = $1, after_id = $2, \
                 after_sequence = $3, published = published + $4",
            )
            .bind(&after.0)
            .bind(&after.1)
            .bind(after.2)
            .bind(i64::try_from(acknowledged.len())?)
            .execute(pool)
            .await
            .context("recording the republish's progress")?;
            for row in acknowledged {
                *done
                    .topics
                    .entry(kafka::topic_for(&config.kafka, &row.aggregate_type))
                    .or_default() += 1;
            }
            done.published += acknowledged.len() as u64;
            if let Some(bar) = &bar {
                bar.inc(acknowledged.len() as u64);
            }
        }
        if let Some(error) = sent.failure {
            return Err(error.context(format!(
                "publishing stopped after {} events; run the same command again to resume",
                done.earlier + done.published
            )));
        }
        if acknowledged.len() < page.len() {
            // The producer's queue was full: send the rest again once it has drained a little.
            tokio::time::sleep(QUEUE_FULL_PAUSE).await;
            continue;
        }
        if (page.len() as i64) < want {
            done.finished = true;
            break;
        }
    }
    if done.finished {
        sqlx::query("UPDATE republish_progress SET finished_at = now()")
            .execute(pool)
            .await
            .context("recording the republish's end")?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(done)
}

/// Where a run starts.
enum Start {
    /// From the first event: a new progress row.
    Fresh(Progress),
    /// After an interrupted run with the same options.
    Resume(Progress),
    /// Nowhere: a run with the same options finished then.
    Finished(DateTime<Utc>),
}

/// Decides where a run with `since` and `types` starts, from `republish_progress`.
async fn start(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    types: &[String],
    restart: bool,
) -> anyhow::Result<Start> {
    let current: Option<Progress> = sqlx::query_as(
        "SELECT since, aggregate_types, after_type, after_id, after_sequence, published, \
                started_at, finished_at \
         FROM republish_progress",
    )
    .fetch_optional(pool)
    .await
    .context("reading the republish's progress")?;
    if let (Some(current), false) = (current, restart) {
        if current.since == since && current.aggregate_types == types {
            return Ok(match current.finished_at {
                Some(at) => Start::Finished(at),
                None => Start::Resume(current),
            });
        }
        anyhow::ensure!(
            current.finished_at.is_some(),
            "the republish started at {} ({}) is unfinished: run it again with the same \
             options to resume it, or give --restart to start over with these",
            current.started_at,
            describe(current.since, &current.aggregate_types)
        );
    }
    let fresh = sqlx::query_as(
        "INSERT INTO republish_progress (since, aggregate_types) VALUES ($1, $2) \
         ON CONFLICT (single) DO UPDATE SET since = EXCLUDED.since, \
             aggregate_types = EXCLUDED.aggregate_types, after_type = '', after_id = '', \
             after_sequence = -1, published = 0, started_at = now(), finished_at = NULL \
         RETURNING since, aggregate_types, after_type, after_id, after_sequence, published, \
                   started_at, finished_at",
    )
    .bind(since)
    .bind(types)
    .fetch_one(pool)
    .await
    .context("recording the republish's start")?;
    Ok(Start::Fresh(fresh))
}

/// A run's options as the command line gives them.
fn describe(since: Option<DateTime<Utc>>, types: &[String]) -> String {
    let since = since.map_or("no --since".to_owned(), |since| {
        format!("--since {}", since.to_rfc3339())
    });
    let types = if types.is_empty() {
        "no --aggregates".to_owned()
    } else {
        format!("--aggregates {}", types.join(","))
    };
    format!("{since}, {types}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_options_read_as_its_command_line() -> anyhow::Result<()> {
        let since: DateTime<Utc> = "2026-11-28T09:12:44Z".parse()?;
        assert_eq!(describe(None, &[]), "no --since, no --aggregates");
        assert_eq!(
            describe(Some(since), &["post".to_owned(), "review".to_owned()]),
            "--since 2026-11-28T09:12:44+00:00, --aggregates post,review"
        );
        Ok(())
    }
}
