//! Start-up: migrates the read-model databases, starts each configured projection's consumer
//! and serves the operational endpoints until shutdown. Also the one place that knows which
//! projection lives in which database, for `run`, `migrate` and the operator tasks
//! ([`crate::rebuild`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ward_platform::config::{self, DatabaseConfig, WardConfig};
use ward_platform::ops::{connect_redis, redis_client, sql_check, Check, Ops};
use ward_platform::{kafka, shutdown};

use crate::board::{self, BoardProjection};
use crate::consumer::{self, ConsumerMetrics, ConsumerSettings, Projection, Record, StoredOffset};
use crate::hospital::{self, HospitalProjection};
use crate::member::{self, MemberProjection};
use crate::membership::{Beats, Health};

/// Every projection this build has.
pub const PROJECTIONS: [&str; 3] = ["board", "hospital", "member"];

/// One of the projections.
pub enum AnyProjection {
    /// `board`, PostgreSQL.
    Board(BoardProjection),
    /// `hospital`, MySQL protocol.
    Hospital(HospitalProjection),
    /// `member`, MySQL protocol.
    Member(MemberProjection),
}

impl Projection for AnyProjection {
    fn name(&self) -> &'static str {
        match self {
            Self::Board(p) => p.name(),
            Self::Hospital(p) => p.name(),
            Self::Member(p) => p.name(),
        }
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        match self {
            Self::Board(p) => p.aggregate_types(),
            Self::Hospital(p) => p.aggregate_types(),
            Self::Member(p) => p.aggregate_types(),
        }
    }

    async fn stored_offsets(&self, group: &str) -> anyhow::Result<Vec<StoredOffset>> {
        match self {
            Self::Board(p) => p.stored_offsets(group).await,
            Self::Hospital(p) => p.stored_offsets(group).await,
            Self::Member(p) => p.stored_offsets(group).await,
        }
    }

    async fn apply(&self, group: &str, batch: &[Record]) -> anyhow::Result<()> {
        match self {
            Self::Board(p) => p.apply(group, batch).await,
            Self::Hospital(p) => p.apply(group, batch).await,
            Self::Member(p) => p.apply(group, batch).await,
        }
    }
}

impl AnyProjection {
    /// Applies the deletions and erasures held back in the epoch that ends (none in the
    /// member read model, which only its member reads).
    pub async fn release_removals(&self) -> anyhow::Result<usize> {
        match self {
            Self::Board(p) => p.release_removals().await,
            Self::Hospital(p) => p.release_removals().await,
            Self::Member(_) => Ok(0),
        }
    }

    /// The same projection, holding removals back until the end of each epoch.
    fn in_removal_epochs(self) -> Self {
        match self {
            Self::Board(p) => Self::Board(p.in_removal_epochs()),
            Self::Hospital(p) => Self::Hospital(p.in_removal_epochs()),
            Self::Member(p) => Self::Member(p),
        }
    }
}

/// `projector.removal_epoch_secs`, checked; `None` for 0 (removals at once).
pub fn removal_epoch(config: &WardConfig) -> anyhow::Result<Option<Duration>> {
    let secs = config.projector.removal_epoch_secs;
    anyhow::ensure!(
        secs <= 86_400,
        "projector.removal_epoch_secs is {secs}; it must be 0 to 86400"
    );
    Ok((secs > 0).then(|| Duration::from_secs(secs)))
}

/// Ends removal epochs of `projection` at every multiple of `epoch` (Unix time) until
/// shutdown: applies what was held back, then invalidates the query cache. Every replica
/// does so; the first to come takes everything, the others find nothing.
async fn end_epochs(
    projection: Arc<AnyProjection>,
    epoch: Duration,
    mut redis: redis::aio::ConnectionManager,
    prefix: String,
    shutdown: CancellationToken,
) {
    let length = epoch.as_millis().max(1);
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let rest = u64::try_from(length - now % length).unwrap_or(u64::MAX);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(rest)) => {}
        }
        match projection.release_removals().await {
            Ok(0) => {}
            Ok(released) => {
                tracing::info!(
                    projection = projection.name(),
                    released,
                    "removal epoch ended"
                );
                let invalidated =
                    ward_platform::cache::invalidate(&mut redis, &prefix, projection.name()).await;
                if let Err(error) = invalidated {
                    tracing::warn!(%error, "invalidating the query cache after an epoch failed");
                }
            }
            // Held back removals stay; the next epoch applies them.
            Err(error) => tracing::warn!(%error, "ending a removal epoch failed"),
        }
    }
}

/// The live read-model database of projection `name`.
pub fn database<'a>(config: &'a WardConfig, name: &str) -> anyhow::Result<&'a DatabaseConfig> {
    Ok(match name {
        "board" => &config.board_db,
        "hospital" => &config.hospital_db,
        "member" => &config.member_db,
        other => anyhow::bail!(
            "there is no projection {other:?}; choose from {}",
            PROJECTIONS.join(", ")
        ),
    })
}

/// The aggregate types whose topics projection `name` reads.
pub fn aggregate_types(name: &str) -> anyhow::Result<&'static [&'static str]> {
    Ok(match name {
        "board" => board::AGGREGATE_TYPES,
        "hospital" => hospital::AGGREGATE_TYPES,
        "member" => member::AGGREGATE_TYPES,
        other => anyhow::bail!("there is no projection {other:?}"),
    })
}

/// Creates `db` if needed and brings it to projection `name`'s schema.
pub async fn migrate_database(name: &str, db: &DatabaseConfig) -> anyhow::Result<()> {
    let context = || format!("migrating the {name} read model ({})", db.database_name());
    if name == "board" {
        db.create_postgres_database().await.with_context(context)?;
        let pool = db.connect_postgres().await?;
        board::MIGRATOR.run(&pool).await.with_context(context)?;
    } else {
        db.create_mysql_database().await.with_context(context)?;
        let pool = db.connect_mysql().await?;
        let migrator = match name {
            "hospital" => &hospital::MIGRATOR,
            "member" => &member::MIGRATOR,
            other => anyhow::bail!("there is no projection {other:?}"),
        };
        migrator.run(&pool).await.with_context(context)?;
    }
    Ok(())
}

/// Creates the read-model databases if needed and brings their schemas up to date.
pub async fn migrate(config: &WardConfig) -> anyhow::Result<()> {
    for name in PROJECTIONS {
        migrate_database(name, database(config, name)?).await?;
    }
    Ok(())
}

/// Projection `name` writing to `db`, reading content keys from `event_store` (`member`
/// reads nothing there: ADR 0014); with the readiness check of its database.
pub async fn build(
    config: &WardConfig,
    name: &str,
    db: &DatabaseConfig,
    event_store: &PgPool,
) -> anyhow::Result<(AnyProjection, Check)> {
    let keys = event_store.clone();
    Ok(match name {
        "board" => {
            let pool = db.connect_postgres().await?;
            let check = sql_check(pool.clone());
            (
                AnyProjection::Board(BoardProjection::new(pool, keys)),
                check,
            )
        }
        "hospital" => {
            let pool = db.connect_mysql().await?;
            let check = sql_check(pool.clone());
            (
                AnyProjection::Hospital(HospitalProjection::new(pool, keys)),
                check,
            )
        }
        "member" => {
            // It keys and seals rows with the author key (ADR 0006), but never learns who
            // wrote anything: it reads nothing of the write side (ADR 0014).
            let key = config.command_api.author_key()?;
            let pool = db.connect_mysql().await?;
            let check = sql_check(pool.clone());
            (
                AnyProjection::Member(MemberProjection::new(pool, key)),
                check,
            )
        }
        other => anyhow::bail!("there is no projection {other:?}"),
    })
}

/// How projector processes share partitions and judge stalls: `projector.member_ttl_ms`,
/// `unassigned_grace_secs` and `stall_secs`, checked.
pub struct Sharing {
    pub member_ttl: Duration,
    pub unassigned_grace: Duration,
    pub stall: Duration,
}

/// The [`Sharing`] settings of `config`, checked.
pub fn sharing(config: &WardConfig) -> anyhow::Result<Sharing> {
    let (ttl, grace, stall) = (
        config.projector.member_ttl_ms,
        config.projector.unassigned_grace_secs,
        config.projector.stall_secs,
    );
    anyhow::ensure!(
        (1_000..=600_000).contains(&ttl),
        "projector.member_ttl_ms is {ttl}; it must be 1000 to 600000"
    );
    anyhow::ensure!(
        (1..=3_600).contains(&grace),
        "projector.unassigned_grace_secs is {grace}; it must be 1 to 3600"
    );
    anyhow::ensure!(
        (2..=3_600).contains(&stall),
        "projector.stall_secs is {stall}; it must be 2 to 3600"
    );
    Ok(Sharing {
        member_ttl: Duration::from_millis(ttl),
        unassigned_grace: Duration::from_secs(grace),
        stall: Duration::from_secs(stall),
    })
}

/// `projector.watermark_check_ms`, checked.
pub fn watermark_check(config: &WardConfig) -> anyhow::Result<Duration> {
    let ms = config.projector.watermark_check_ms;
    anyhow::ensure!(
        (10..=600_000).contains(&ms),
        "projector.watermark_check_ms is {ms}; it must be 10 to 600000"
    );
    Ok(Duration::from_millis(ms))
}

/// Runs the configured projections until `shutdown` is cancelled, serving `/livez`,
/// `/readyz` and `/metrics` on `listener`.
pub async fn run(
    config: &WardConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let names = config::names(
        &config.projector.projections,
        "projector.projections",
        &PROJECTIONS,
    )?;
    let watermark_check = watermark_check(config)?;
    let removal_epoch = removal_epoch(config)?;
    let sharing = sharing(config)?;
    migrate(config).await?;
    // Content keys live in the event store; in production this is a read-only role.
    let event_store = config.event_store.connect_postgres().await?;
    let redis = connect_redis(&config.redis).await?;
    let mut ops = Ops::builder("ward_projector");
    let metrics = ConsumerMetrics::register(ops.registry());
    ops = ops
        .check("event_store", sql_check(event_store.clone()))
        .check("kafka", kafka::broker_check(&config.kafka)?);
    let settings = ConsumerSettings {
        kafka: config.kafka.clone(),
        group_prefix: config.projector.group_prefix.clone(),
        batch_size: config.projector.batch_size,
        fetch_wait_ms: config.projector.fetch_wait_ms,
        watermark_check,
        cache: Some((redis.clone(), config.redis.key_prefix.clone())),
        notices: Some((
            redis_client(&config.redis)?,
            kafka::appended_channel(&config.redis.key_prefix),
        )),
        partitions: None,
        beats: Some(Beats {
            redis: redis_client(&config.redis)?,
            prefix: config.redis.key_prefix.clone(),
            ttl: sharing.member_ttl,
            stall: sharing.stall,
        }),
        stall: sharing.stall,
        health: Health::default(),
    };
    ops = ops.check(
        "partitions",
        settings
            .health
            .check(sharing.unassigned_grace, sharing.stall),
    );
    let mut consumers = Vec::new();
    for name in names {
        let (projection, check) =
            build(config, name, database(config, name)?, &event_store).await?;
        ops = ops.check(projection.name(), check);
        let projection = match removal_epoch {
            Some(epoch) => {
                let projection = Arc::new(projection.in_removal_epochs());
                tokio::spawn(end_epochs(
                    projection.clone(),
                    epoch,
                    redis.clone(),
                    config.redis.key_prefix.clone(),
                    shutdown.clone(),
                ));
                projection
            }
            None => Arc::new(projection),
        };
        consumers.push(consumer::spawn(
            projection,
            settings.clone(),
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    let consumers = tokio::spawn(watch(consumers, shutdown.clone()));
    let ops = ops.build();
    tracing::info!(address = %listener.local_addr()?, "projector operational endpoints listening");
    let served = shutdown::serve(
        listener,
        ops.instrument(axum::Router::new()),
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    consumers.await??;
    served
}

/// Waits for every consumer. The first to end before `shutdown` — with an error, a panic or
/// none — stops the process, so that its supervisor starts it anew: a process must not stay
/// up, and ready, with one of its projections gone.
async fn watch(
    consumers: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut running = tokio::task::JoinSet::new();
    for consumer in consumers {
        running.spawn(consumer);
    }
    let mut failure = None;
    while let Some(ended) = running.join_next().await {
        let ended = match ended {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) | Err(panic) => Err(anyhow::anyhow!("a consumer panicked: {panic}")),
        };
        if !shutdown.is_cancelled() {
            let error = ended
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("a consumer stopped"));
            tracing::error!(error = format!("{error:#}"), "stopping the projector");
            shutdown.cancel();
            failure.get_or_insert(error);
        } else if let Err(error) = ended {
            failure.get_or_insert(error);
        }
    }
    failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running_until(shutdown: &CancellationToken) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        let shutdown = shutdown.clone();
        tokio::task::spawn_blocking(move || {
            while !shutdown.is_cancelled() {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })
    }

    #[tokio::test]
    async fn a_consumer_that_panics_or_stops_stops_the_process() {
        for ending in ["panic", "error", "return"] {
            let shutdown = CancellationToken::new();
            let ends = tokio::task::spawn_blocking(move || match ending {
                "panic" => panic!("a projection's bug"),
                "error" => anyhow::bail!("the broker refused the consumer"),
                _ => Ok(()),
            });
            let outcome = watch(
                vec![running_until(&shutdown), ends, running_until(&shutdown)],
                shutdown.clone(),
            )
            .await;
            assert!(shutdown.is_cancelled(), "{ending}: the process stops");
            assert!(outcome.is_err(), "{ending}: and says why");
        }
    }

    #[tokio::test]
    async fn consumers_that_end_at_shutdown_stop_the_process_cleanly() {
        let shutdown = CancellationToken::new();
        let watching = tokio::spawn(watch(
            vec![running_until(&shutdown), running_until(&shutdown)],
            shutdown.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!watching.is_finished());
        shutdown.cancel();
        assert!(watching.await.is_ok_and(|outcome| outcome.is_ok()));
    }
}
