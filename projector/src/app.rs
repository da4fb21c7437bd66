//! Start-up: migrates the read-model databases, starts each projection's consumer and serves
//! the operational endpoints until shutdown.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ward_platform::config::{self, WardConfig};
use ward_platform::ops::{sql_check, Ops};
use ward_platform::{kafka, shutdown};

use crate::board::{BoardProjection, MIGRATOR};
use crate::consumer::{self, ConsumerMetrics, ConsumerSettings};

/// Creates the read-model databases if needed and brings their schemas up to date.
pub async fn migrate(config: &WardConfig) -> anyhow::Result<()> {
    config
        .board_db
        .create_postgres_database()
        .await
        .context("creating the board database")?;
    let pool = config.board_db.connect_postgres().await?;
    MIGRATOR
        .run(&pool)
        .await
        .context("migrating the board database")?;
    Ok(())
}

/// Runs the projectors until `shutdown` is cancelled, serving `/livez`, `/readyz` and
/// `/metrics` on `listener`.
pub async fn run(
    config: &WardConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Only the board projection exists so far.
    config::names(
        &config.projector.projections,
        "projector.projections",
        &["board"],
    )?;
    migrate(config).await?;
    let pool = config.board_db.connect_postgres().await?;
    // Content keys live in the event store; in production this is a read-only role.
    let keys = config.event_store.connect_postgres().await?;
    let mut ops = Ops::builder("ward_projector");
    let metrics = ConsumerMetrics::register(ops.registry());
    let ops = ops
        .check("board_db", sql_check(pool.clone()))
        .check("content_keys", sql_check(keys.clone()))
        .check("kafka", kafka::broker_check(&config.kafka)?)
        .build();
    let settings = ConsumerSettings {
        kafka: config.kafka.clone(),
        group_prefix: config.projector.group_prefix.clone(),
        batch_size: config.projector.batch_size,
    };
    let board = consumer::spawn(
        Arc::new(BoardProjection::new(pool, keys)),
        settings,
        metrics,
        shutdown.clone(),
    );
    tracing::info!(address = %listener.local_addr()?, "projector operational endpoints listening");
    let served = shutdown::serve(
        listener,
        ops.instrument(axum::Router::new()),
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    board.await??;
    served
}
