//! Start-up: migrates the read-model databases, starts each configured projection's consumer
//! and serves the operational endpoints until shutdown.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use ward_platform::config::{self, WardConfig};
use ward_platform::ops::{connect_redis, sql_check, Ops};
use ward_platform::{kafka, shutdown};

use crate::board::BoardProjection;
use crate::consumer::{self, ConsumerMetrics, ConsumerSettings, Projection};

/// Every projection this build has.
pub const PROJECTIONS: [&str; 1] = ["board"];

/// Creates the read-model databases if needed and brings their schemas up to date.
pub async fn migrate(config: &WardConfig) -> anyhow::Result<()> {
    config
        .board_db
        .create_postgres_database()
        .await
        .context("creating the board database")?;
    let pool = config.board_db.connect_postgres().await?;
    crate::board::MIGRATOR
        .run(&pool)
        .await
        .context("migrating the board database")?;
    Ok(())
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
        cache: Some((redis, config.redis.key_prefix.clone())),
    };
    let mut consumers = Vec::new();
    for name in names {
        match name {
            "board" => {
                let pool = config.board_db.connect_postgres().await?;
                ops = ops.check("board_db", sql_check(pool.clone()));
                let projection = BoardProjection::new(pool, event_store.clone());
                consumers.push(spawn(projection, &settings, &metrics, &shutdown));
            }
            other => unreachable!("config::names let through {other:?}"),
        }
    }
    let ops = ops.build();
    tracing::info!(address = %listener.local_addr()?, "projector operational endpoints listening");
    let served = shutdown::serve(
        listener,
        ops.instrument(axum::Router::new()),
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    for consumer in consumers {
        consumer.await??;
    }
    served
}

fn spawn<P: Projection>(
    projection: P,
    settings: &ConsumerSettings,
    metrics: &ConsumerMetrics,
    shutdown: &CancellationToken,
) -> JoinHandle<anyhow::Result<()>> {
    consumer::spawn(
        Arc::new(projection),
        settings.clone(),
        metrics.clone(),
        shutdown.clone(),
    )
}
