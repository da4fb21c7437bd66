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
use crate::hospital;

/// Every read model this build can serve.
pub const SERVICES: [&str; 3] = ["board", "member", "hospital"];

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
    ops = ops.check("redis", redis_check(redis.clone()));
    let mut api = Router::new();
    for service in services {
        match service {
            "board" => {
                let pool = config.board_db.connect_postgres().await?;
                ops = ops.check("board_db", sql_check(pool.clone()));
                api = api.merge(board::router(board::BoardState {
                    pool,
                    cache: cache.clone(),
                    k_anonymity: i64::from(config.query_api.k_anonymity),
                }));
            }
            "member" => {
                // Finds and opens the member's own rows: needs the author key (ADR 0006).
                let key = config.command_api.author_key()?;
                let pool = config.member_db.connect_mysql().await?;
                ops = ops.check("member_db", sql_check(pool.clone()));
                api = api.merge(crate::me::router(crate::me::MeState {
                    pool,
                    key,
                    sessions: ward_platform::session::SessionStore::new(redis.clone(), config),
                    session_cookie: config.command_api.session_cookie.clone(),
                }));
            }
            "hospital" => {
                let pool = config.hospital_db.connect_mysql().await?;
                ops = ops.check("hospital_db", sql_check(pool.clone()));
                api = api.merge(hospital::router(hospital::HospitalState {
                    pool,
                    cache: cache.clone(),
                    k_anonymity: config.query_api.k_anonymity,
                    min_reviews: config.query_api.min_reviews,
                }));
            }
            other => unreachable!("config::names let through {other:?}"),
        }
    }
    let ops = ops.build();
    let api = api
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(crate::openapi::document),
        )
        .fallback(|| async { ApiError::not_found("route_not_found", "no such endpoint") });
    tracing::info!(address = %listener.local_addr()?, "query API listening");
    let app = ops
        .instrument(api)
        .layer(axum::middleware::from_fn(correlate));
    shutdown::serve(listener, app, shutdown).await
}
