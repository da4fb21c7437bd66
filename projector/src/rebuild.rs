//! Operating projections: where each stands (`ward projector status`), and rebuilding one
//! from offset 0 beside the live read model, then switching readers to it (blue/green).
//!
//! A rebuild of projection P with live database `D`:
//! 1. builds `D_next` from the beginning of P's topics under a throw-away consumer group,
//!    while the live projection keeps serving from `D`, until it has caught up with where
//!    the topics ended when it last looked, then files its offsets under P's live group;
//! 2. `switch` moves `D` aside as `D_previous` and puts `D_next` in its place — PostgreSQL
//!    renames the databases (after refusing and ending connections to them, a sub-second
//!    pause for readers), MySQL renames every table in one atomic `RENAME TABLE` — and makes
//!    the query cache of P stale;
//! 3. the live projector, whose connections now reach the new database, finds it behind its
//!    own position at most by what arrived since step 1 ([`crate::store::Gap`]), seeks back
//!    and catches up: nothing is lost;
//! 4. `drop-previous` drops `D_previous` once the operator is content.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use ward_platform::config::{DatabaseConfig, WardConfig};
use ward_platform::kafka;

use crate::app::{self, AnyProjection};
use crate::consumer::{self, ConsumerMetrics, ConsumerSettings, StoredOffset};
use crate::store;

/// Where a projection stands in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStatus {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset the read model will apply (its stored offset), if it applied any.
    pub applied: Option<i64>,
    /// The offset the partition's next record will get.
    pub end: i64,
    /// Records not yet applied.
    pub lag: i64,
}

/// Where projection `name` stands in each partition of its topics, in database `db`, for
/// consumer group `group`.
pub async fn status_of(
    config: &WardConfig,
    name: &str,
    db: &DatabaseConfig,
    group: &str,
) -> anyhow::Result<Vec<PartitionStatus>> {
    let stored = stored_offsets(db, group).await?;
    let topics: Vec<String> = app::aggregate_types(name)?
        .iter()
        .map(|t| kafka::topic_for(&config.kafka, t))
        .collect();
    let marks = kafka::watermarks(&config.kafka, topics).await?;
    Ok(marks
        .into_iter()
        .map(|mark| {
            let applied = stored
                .iter()
                .find(|s| s.topic == mark.topic && s.partition == mark.partition)
                .map(|s| s.next_offset);
            let lag = (mark.high - applied.unwrap_or(mark.low)).max(0);
            PartitionStatus {
                topic: mark.topic,
                partition: mark.partition,
                applied,
                end: mark.high,
                lag,
            }
        })
        .collect())
}

/// Where the live projection `name` stands.
pub async fn status(config: &WardConfig, name: &str) -> anyhow::Result<Vec<PartitionStatus>> {
    let db = app::database(config, name)?;
    status_of(config, name, db, &live_group(config, name)).await
}

async fn stored_offsets(db: &DatabaseConfig, group: &str) -> anyhow::Result<Vec<StoredOffset>> {
    if db.is_postgres() {
        let pool = db.connect_postgres().await?;
        store::pg::stored_offsets(&pool, group).await
    } else {
        let pool = db.connect_mysql().await?;
        store::mysql::stored_offsets(&pool, group).await
    }
}

fn live_group(config: &WardConfig, name: &str) -> String {
    format!("{}ward-{name}", config.projector.group_prefix)
}

/// The database a rebuild of `live` builds.
pub fn next_database(live: &DatabaseConfig) -> anyhow::Result<DatabaseConfig> {
    live.with_database(&format!("{}_next", checked_name(live)?))
}

/// Where `switch` moves the live database.
pub fn previous_database(live: &DatabaseConfig) -> anyhow::Result<DatabaseConfig> {
    live.with_database(&format!("{}_previous", checked_name(live)?))
}

/// The database's name, if it is safe to splice into DDL (which takes no parameters).
fn checked_name(db: &DatabaseConfig) -> anyhow::Result<&str> {
    let name = db.database_name();
    anyhow::ensure!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "database name {name:?} must be letters, digits and underscores"
    );
    Ok(name)
}

/// How a rebuild went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// Records applied.
    pub records: i64,
    /// How long it took.
    pub elapsed: Duration,
}

/// Whether the topics hold the log the live read model was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// The same log: a rebuild must reach at least as far as the live read model has applied,
    /// since a shorter log means the broker misreports it.
    Kept,
    /// The topics were recreated and refilled (`ward events republish`, docs/operations.md):
    /// the live read model's offsets count records of the lost log and set no floor.
    Replaced,
}

/// Builds projection `name` from offset 0 into its `_next` database, beside the live one,
/// until it has caught up; `progress(applied, total)` is called as it goes.
pub async fn rebuild(
    config: &WardConfig,
    name: &str,
    log: Log,
    progress: impl Fn(i64, i64),
) -> anyhow::Result<Rebuilt> {
    let started = Instant::now();
    let consumers = config.projector.rebuild_consumers;
    anyhow::ensure!(
        (1..=MAX_REBUILD_CONSUMERS).contains(&consumers),
        "projector.rebuild_consumers is {consumers}; it must be 1 to {MAX_REBUILD_CONSUMERS}"
    );
    let watermark_check = app::watermark_check(config)?;
    let live = app::database(config, name)?;
    // The live read model has applied this much of the log: a rebuild that "catches up" to
    // less would replace it with a read model that lost events (a broker misreporting the
    // end of its topics, say).
    let live_status = status_of(config, name, live, &live_group(config, name)).await?;
    let floor: i64 = match log {
        Log::Kept => live_status.iter().filter_map(|s| s.applied).sum(),
        Log::Replaced => 0,
    };
    let mut partitions: Vec<(String, i32)> = live_status
        .into_iter()
        .map(|s| (s.topic, s.partition))
        .collect();
    partitions.sort();
    let next = next_database(live)?;
    drop_database(&next).await?;
    app::migrate_database(name, &next).await?;
    let deferred = defer_indexes(&next).await?;
    let event_store = config.event_store.connect_postgres().await?;
    let (projection, _) = app::build(config, name, &next, &event_store).await?;
    let prefix = format!(
        "{}rebuild-{}-",
        config.projector.group_prefix,
        Uuid::new_v4().simple()
    );
    let group = format!("{prefix}ward-{name}");
    let settings = ConsumerSettings {
        kafka: config.kafka.clone(),
        group_prefix: prefix,
        // A rebuild reads a backlog: big batches spread each transaction's fixed work (key
        // lookups, offsets, commit) over more records, and every fetch finds records, so
        // there is nothing to wait for (and Tansu would hold each fetch this long anyway).
        batch_size: config.projector.batch_size.max(REBUILD_MIN_BATCH),
        fetch_wait_ms: REBUILD_FETCH_WAIT_MS,
        watermark_check,
        cache: None,
        notices: None,
        partitions: None,
        beats: None,
        health: crate::membership::Health::default(),
        stall: app::sharing(config)?.stall,
    };
    let projection = Arc::new(projection);
    let stop = CancellationToken::new();
    // Dealt round-robin, so each consumer gets its share of every topic's partitions.
    let running: Vec<_> = (0..consumers)
        .map(|n| {
            let share = partitions.iter().skip(n).step_by(consumers).cloned();
            consumer::spawn::<AnyProjection>(
                projection.clone(),
                ConsumerSettings {
                    partitions: Some(share.collect()),
                    ..settings.clone()
                },
                ConsumerMetrics::default(),
                stop.clone(),
            )
        })
        .collect();
    let outcome = catch_up(config, name, &next, &group, &running, floor, progress).await;
    stop.cancel();
    for consumer in running {
        consumer.await??;
    }
    let records = outcome?;
    build_indexes(&next, &deferred).await?;
    file_offsets_under(&next, &group, &live_group(config, name)).await?;
    Ok(Rebuilt {
        records,
        elapsed: started.elapsed(),
    })
}

/// Waits until the rebuild has applied every record that was on the topics when it last
/// checked; the records applied.
async fn catch_up(
    config: &WardConfig,
    name: &str,
    next: &DatabaseConfig,
    group: &str,
    consumers: &[tokio::task::JoinHandle<anyhow::Result<()>>],
    floor: i64,
    progress: impl Fn(i64, i64),
) -> anyhow::Result<i64> {
    let patience = Instant::now() + SHORT_LOG_PATIENCE;
    loop {
        anyhow::ensure!(
            !consumers.iter().any(|c| c.is_finished()),
            "a rebuild consumer stopped"
        );
        let status = status_of(config, name, next, group).await?;
        let total: i64 = status.iter().map(|s| s.end).sum();
        let lag: i64 = status.iter().map(|s| s.lag).sum();
        progress(total - lag, total);
        if lag == 0 && total >= floor {
            return Ok(total);
        }
        anyhow::ensure!(
            total >= floor || Instant::now() < patience,
            "the topics end after {total} records, but the live read model has applied \
             {floor}: the broker does not report the whole log, so the rebuild would lose \
             events; nothing was switched"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The rebuild consumer's `fetch.wait.max.ms`: short, since a backlog is always there.
const REBUILD_FETCH_WAIT_MS: u32 = 10;

/// The smallest batch a rebuild applies per transaction, whatever `projector.batch_size`.
const REBUILD_MIN_BATCH: usize = 5000;

/// The most consumers a rebuild runs; more than its topics have partitions would sit idle.
const MAX_REBUILD_CONSUMERS: usize = 16;

/// How long a rebuild waits for the broker to report at least what the live model applied.
const SHORT_LOG_PATIENCE: Duration = Duration::from_secs(30);

/// Drops the secondary indexes of a freshly migrated PostgreSQL `db` and returns their
/// definitions: filling tables without them and building each index once at the end costs
/// far less than keeping them up to date row by row (a post's comment count changes its
/// `hot` rank, so every such update rewrites every index of the post, the text search one
/// included). Unique indexes stay: the projection's `ON CONFLICT` and joins rely on them,
/// and nothing it writes reads the others. MySQL-protocol read models keep theirs.
async fn defer_indexes(db: &DatabaseConfig) -> anyhow::Result<Vec<String>> {
    if !db.is_postgres() {
        return Ok(Vec::new());
    }
    let pool = db.connect_postgres().await?;
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) \
         FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
         WHERE t.relnamespace = current_schema()::regnamespace AND NOT i.indisunique",
    )
    .fetch_all(&pool)
    .await?;
    for (index, _) in &indexes {
        // The name comes from the catalogue, quoted by regclass where it needs to be.
        sqlx::query(&format!("DROP INDEX {index}"))
            .execute(&pool)
            .await?;
    }
    Ok(indexes
        .into_iter()
        .map(|(_, definition)| definition)
        .collect())
}

/// Builds the indexes [`defer_indexes`] dropped, then gathers the planner's statistics, so
/// the rebuilt model answers queries as the live one does from its first moment.
async fn build_indexes(db: &DatabaseConfig, definitions: &[String]) -> anyhow::Result<()> {
    if !db.is_postgres() {
        return Ok(());
    }
    let pool = db.connect_postgres().await?;
    for definition in definitions {
        sqlx::query(definition).execute(&pool).await?;
    }
    sqlx::query("ANALYZE").execute(&pool).await?;
    Ok(())
}

/// Files the rebuild group's offsets (and rejects) under the live group's name.
async fn file_offsets_under(db: &DatabaseConfig, from: &str, to: &str) -> anyhow::Result<()> {
    for table in ["projector_offsets", "projector_rejects"] {
        if db.is_postgres() {
            let pool = db.connect_postgres().await?;
            sqlx::query(&format!(
                "UPDATE {table} SET consumer_group = $1 WHERE consumer_group = $2"
            ))
            .bind(to)
            .bind(from)
            .execute(&pool)
            .await?;
        } else {
            let pool = db.connect_mysql().await?;
            sqlx::query(&format!(
                "UPDATE {table} SET consumer_group = ? WHERE consumer_group = ?"
            ))
            .bind(to)
            .bind(from)
            .execute(&pool)
            .await?;
        }
    }
    Ok(())
}

/// Puts the rebuilt database in place of the live one, which becomes `_previous`, and makes
/// the query cache of the projection stale.
pub async fn switch(config: &WardConfig, name: &str) -> anyhow::Result<()> {
    let live = app::database(config, name)?;
    let (next, previous) = (next_database(live)?, previous_database(live)?);
    let names = (
        checked_name(live)?,
        checked_name(&next)?,
        checked_name(&previous)?,
    );
    // Filing offsets under the live group is a rebuild's last step: a `_next` without them
    // was interrupted (and may lack rows or indexes).
    match stored_offsets(&next, &live_group(config, name)).await {
        Ok(filed) if !filed.is_empty() => {}
        Ok(_) => anyhow::bail!(
            "{} is an unfinished rebuild; run `ward projector rebuild {name}` again",
            names.1
        ),
        Err(error) => {
            return Err(error.context(format!(
                "there is no rebuilt {}; run `ward projector rebuild {name}` first",
                names.1
            )))
        }
    }
    if live.is_postgres() {
        switch_postgres(live, names).await?;
    } else {
        switch_mysql(live, names).await?;
    }
    let mut redis = ward_platform::ops::connect_redis(&config.redis).await?;
    ward_platform::cache::invalidate(&mut redis, &config.redis.key_prefix, name).await?;
    Ok(())
}

async fn switch_postgres(
    live: &DatabaseConfig,
    (live_name, next_name, previous_name): (&str, &str, &str),
) -> anyhow::Result<()> {
    let admin = live.with_database("postgres")?.connect_postgres().await?;
    let exists = |name: &str| {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
        )
        .bind(name.to_owned())
        .fetch_one(&admin)
    };
    anyhow::ensure!(
        !exists(previous_name).await?,
        "{previous_name} still exists; drop it first (ward projector drop-previous)"
    );
    // Refuse new connections, end the current ones, rename: readers pause for a moment and
    // reconnect to the new database under the old name.
    sqlx::query(&format!(
        "ALTER DATABASE \"{live_name}\" ALLOW_CONNECTIONS false"
    ))
    .execute(&admin)
    .await?;
    let renamed = async {
        for attempt in 1..=50 {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = ANY($1) AND pid <> pg_backend_pid()",
            )
            .bind(vec![live_name.to_owned(), next_name.to_owned()])
            .execute(&admin)
            .await?;
            let result = sqlx::query(&format!(
                "ALTER DATABASE \"{live_name}\" RENAME TO \"{previous_name}\""
            ))
            .execute(&admin)
            .await;
            match result {
                Ok(_) => break,
                Err(error) if attempt < 50 => {
                    tracing::debug!(%error, "renaming the live database; retrying");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => return Err(anyhow::Error::from(error)),
            }
        }
        sqlx::query(&format!(
            "ALTER DATABASE \"{next_name}\" RENAME TO \"{live_name}\""
        ))
        .execute(&admin)
        .await?;
        // The previous database stays reachable under its new name, for a switch back.
        sqlx::query(&format!(
            "ALTER DATABASE \"{previous_name}\" ALLOW_CONNECTIONS true"
        ))
        .execute(&admin)
        .await?;
        anyhow::Ok(())
    }
    .await;
    if renamed.is_err() {
        // Leave the live database usable if anything failed.
        let _ = sqlx::query(&format!(
            "ALTER DATABASE \"{live_name}\" ALLOW_CONNECTIONS true"
        ))
        .execute(&admin)
        .await;
    }
    renamed.context("switching the PostgreSQL databases")
}

async fn switch_mysql(
    live: &DatabaseConfig,
    (live_name, next_name, previous_name): (&str, &str, &str),
) -> anyhow::Result<()> {
    let admin = live.with_database("mysql")?.connect_mysql().await?;
    let tables = |schema: &str| {
        sqlx::query_scalar::<_, String>(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
        )
        .bind(schema.to_owned())
        .fetch_all(&admin)
    };
    let (live_tables, next_tables) = (tables(live_name).await?, tables(next_name).await?);
    anyhow::ensure!(
        tables(previous_name).await?.is_empty(),
        "{previous_name} still has tables; drop it first (ward projector drop-previous)"
    );
    sqlx::query(&format!("CREATE DATABASE IF NOT EXISTS `{previous_name}`"))
        .execute(&admin)
        .await?;
    // One statement: readers see the old tables or the new ones, never a mix.
    let moves: Vec<String> = live_tables
        .iter()
        .map(|t| format!("`{live_name}`.`{t}` TO `{previous_name}`.`{t}`"))
        .chain(
            next_tables
                .iter()
                .map(|t| format!("`{next_name}`.`{t}` TO `{live_name}`.`{t}`")),
        )
        .collect();
    sqlx::query(&format!("RENAME TABLE {}", moves.join(", ")))
        .execute(&admin)
        .await
        .context("switching the MySQL tables")?;
    sqlx::query(&format!("DROP DATABASE `{next_name}`"))
        .execute(&admin)
        .await?;
    Ok(())
}

/// Drops the database a switch moved aside.
pub async fn drop_previous(config: &WardConfig, name: &str) -> anyhow::Result<()> {
    drop_database(&previous_database(app::database(config, name)?)?).await
}

async fn drop_database(db: &DatabaseConfig) -> anyhow::Result<()> {
    let name = checked_name(db)?;
    if db.is_postgres() {
        let admin = db.with_database("postgres")?.connect_postgres().await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&admin)
            .await?;
    } else {
        let admin = db.with_database("mysql")?.connect_mysql().await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS `{name}`"))
            .execute(&admin)
            .await?;
    }
    Ok(())
}
