//! Start-up and routing of the query API. One binary serves any of the read models; the
//! `query_api.services` switch chooses which, so operators can scale board and hospital
//! queries as separate Deployments.

use axum::response::IntoResponse;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ward_platform::config::{self, WardConfig};
use ward_platform::http::{correlate, ApiError};
use ward_platform::ops::{connect_redis, redis_check, sql_check, Need, Ops};
use ward_platform::session::SessionStore;
use ward_platform::shutdown;

use crate::board;
use crate::cache::{Cache, RedisHealth};
use crate::consistency::Waits;
use crate::hospital;
use crate::pages;

/// Every read model this build can serve.
pub const SERVICES: [&str; 4] = ["board", "member", "hospital", "web"];

/// Runs the query API on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: &WardConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let services = config::names(&config.query_api.services, "query_api.services", &SERVICES)?;
    let redis = connect_redis(&config.redis).await?;
    let mut ops = Ops::builder("ward_query");
    // One breaker for everything of the process that asks Redis.
    let redis_health = RedisHealth::default();
    let cache = Cache::new(
        redis.clone(),
        redis_health.clone(),
        &config.redis.key_prefix,
        config.query_api.cache_ttl_secs,
        ops.registry(),
    );
    // Reads go on without Redis (only a member's own pages need it, for the session), and
    // each read model's database is needed by its answers only: while one fails, the process
    // answers those `503` itself and serves the rest, so it stays ready unless it serves
    // nothing but that read model.
    let read_models = services.iter().filter(|s| **s != "web").count();
    let database = if read_models > 1 {
        Need::Degrading
    } else {
        Need::Required
    };
    ops = ops.check_for("redis", Need::Degrading, redis_check(redis.clone()));
    // One ration of read-your-writes waits for every service of the process.
    let waits = Waits::new(
        SessionStore::new(redis.clone(), config),
        redis_health,
        &config.command_api.session_cookie,
        config.query_api.max_waits,
        config.query_api.max_waits_per_member,
    );
    let mut api = Router::new();
    let (mut board_state, mut hospital_state, mut me_state) = (None, None, None);
    for service in &services {
        match *service {
            "board" => {
                let pool = config.board_db.connect_postgres().await?;
                ops = ops.check_for("board_db", database, sql_check(pool.clone()));
                let state = board::BoardState {
                    pool,
                    cache: cache.clone(),
                    waits: waits.clone(),
                };
                api = api.merge(board::router(state.clone()));
                board_state = Some(state);
            }
            "member" => {
                // Finds and opens the member's own rows: needs the author key (ADR 0006),
                // and the member's private index of their items in the event store, read
                // with the member id of the member's own session (ADR 0014).
                let key = config.command_api.author_key()?;
                let pool = config.member_db.connect_mysql().await?;
                ops = ops.check_for("member_db", database, sql_check(pool.clone()));
                let events = config.event_store.connect_postgres().await?;
                ops = ops.check_for("event_store", database, sql_check(events.clone()));
                let state = crate::me::MeState {
                    pool,
                    events,
                    key,
                    sessions: SessionStore::new(redis.clone(), config),
                    session_cookie: config.command_api.session_cookie.clone(),
                    waits: waits.clone(),
                };
                api = api.merge(crate::me::router(state.clone()));
                me_state = Some(state);
            }
            "hospital" => {
                let pool = config.hospital_db.connect_mysql().await?;
                ops = ops.check_for("hospital_db", database, sql_check(pool.clone()));
                let state = hospital::HospitalState {
                    pool,
                    cache: cache.clone(),
                    k_anonymity: config.query_api.k_anonymity,
                    min_reviews: config.query_api.min_reviews,
                    waits: waits.clone(),
                };
                api = api.merge(hospital::router(state.clone()));
                hospital_state = Some(state);
            }
            "web" => {}
            other => unreachable!("config::names let through {other:?}"),
        }
    }
    let web = services.contains(&"web");
    if web {
        // Pages render the other services' answers in-process (ADR 0010).
        let (Some(board), Some(hospital), Some(me)) = (board_state, hospital_state, me_state)
        else {
            anyhow::bail!("query_api.services: web needs board, hospital and member beside it");
        };
        api = api.merge(pages::router(pages::Pages {
            board,
            hospital,
            me,
            cached: pages::PageCache::default(),
        }));
    }
    let ops = ops.build();
    let api = api
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(crate::openapi::document),
        )
        .fallback(move |parts: axum::http::request::Parts| async move {
            if web && !parts.uri.path().starts_with("/api/") {
                pages::not_found(parts).await
            } else {
                ApiError::not_found("route_not_found", "no such endpoint").into_response()
            }
        });
    tracing::info!(address = %listener.local_addr()?, "query API listening");
    let app = ops
        .instrument(api)
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn(correlate));
    shutdown::serve(listener, app, shutdown).await
}
