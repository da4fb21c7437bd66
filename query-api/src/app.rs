//! Start-up and routing of the query API. One binary serves any of the read models; the
//! `query_api.services` switch chooses which, so operators can scale board and hospital
//! queries as separate Deployments.

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ward_platform::config::{self, WardConfig};
use ward_platform::http::{correlate, ApiError};
use ward_platform::ops::{connect_redis, redis_check, sql_check, Ops};
use ward_platform::shutdown;

use crate::board;
use crate::cache::Cache;

/// Every read model this build can serve.
pub const SERVICES: [&str; 1] = ["board"];

/// Runs the query API on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: &WardConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let services = config::names(&config.query_api.services, "query_api.services", &SERVICES)?;
    let redis = connect_redis(&config.redis).await?;
    let mut ops = Ops::builder("ward_query");
    let cache = Cache::new(
        redis.clone(),
        &config.redis.key_prefix,
        config.query_api.cache_ttl_secs,
        ops.registry(),
    );
    ops = ops.check("redis", redis_check(redis));
    let mut api = Router::new();
    for service in services {
        match service {
            "board" => {
                let pool = config.board_db.connect_postgres().await?;
                ops = ops.check("board_db", sql_check(pool.clone()));
                api = api.merge(board::router(board::BoardState {
                    pool,
                    cache: cache.clone(),
                }));
            }
            other => unreachable!("config::names let through {other:?}"),
        }
    }
    let ops = ops.build();
    let api = api.fallback(|| async { ApiError::not_found("route_not_found", "no such endpoint") });
    tracing::info!(address = %listener.local_addr()?, "query API listening");
    let app = ops
        .instrument(api)
        .layer(axum::middleware::from_fn(correlate));
    shutdown::serve(listener, app, shutdown).await
}
