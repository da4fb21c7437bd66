//! Start-up and routing of the query API.

use axum::routing::get;
use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ward_platform::config::{self, WardConfig};
use ward_platform::http::{correlate, ApiError};
use ward_platform::ops::{sql_check, Ops};
use ward_platform::shutdown;

use crate::board;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub(crate) board: PgPool,
}

/// Runs the query API on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: &WardConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Only the board read model exists so far.
    config::names(&config.query_api.services, "query_api.services", &["board"])?;
    let board = config.board_db.connect_postgres().await?;
    let ops = Ops::builder("ward_query")
        .check("board_db", sql_check(board.clone()))
        .build();
    let state = AppState { board };
    tracing::info!(address = %listener.local_addr()?, "query API listening");
    shutdown::serve(listener, router(state, &ops), shutdown).await
}

fn router(state: AppState, ops: &Ops) -> Router {
    let api = Router::new()
        .route("/api/v1/boards/{board}/posts", get(board::list))
        .route("/api/v1/posts/{id}", get(board::show))
        .fallback(|| async { ApiError::not_found("route_not_found", "no such endpoint") })
        .with_state(state);
    ops.instrument(api)
        .layer(axum::middleware::from_fn(correlate))
}
