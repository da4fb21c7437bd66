//! Start-up: connects the event store, Redis and the broker, migrates, serves the API and
//! runs the outbox relay until shutdown.

use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, patch, post, put};
use axum::Router;
use cqrs_es::persist::PersistedEventStore;
use postgres_es::PostgresEventRepository;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ward_domain::affiliation::AffiliationClaim;
use ward_domain::hospital::Hospital;
use ward_domain::member::Member;
use ward_domain::moderation::{Moderation, ModerationServices};
use ward_domain::post::{Post, PostServices};
use ward_domain::review::{Review, ReviewServices};
use ward_platform::config::{RateLimits, WardConfig};
use ward_platform::http::{correlate, ApiError};
use ward_platform::ops::{redis_check, sql_check, Need, Ops};
use ward_platform::{kafka, ops, shutdown};

use crate::content_keys::ContentKeys;
use crate::idempotency::IdempotencyKeys;
use crate::member_items::MemberItems;
use crate::outbox::Relay;
use crate::rate_limit::RateLimiter;
use crate::session::SessionStore;
use crate::{claims, comments, members, moderation, posts, reviews};

/// The event store's schema, including the outbox and its trigger.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// An event store for aggregate `A`.
pub type Store<A> = PersistedEventStore<PostgresEventRepository, A>;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub(crate) posts: Arc<Store<Post>>,
    pub(crate) members: Arc<Store<Member>>,
    pub(crate) hospitals: Arc<Store<Hospital>>,
    pub(crate) claims: Arc<Store<AffiliationClaim>>,
    pub(crate) reviews: Arc<Store<Review>>,
    pub(crate) review_services: ReviewServices,
    pub(crate) moderation: Arc<Store<Moderation>>,
    pub(crate) moderation_services: ModerationServices,
    pub(crate) content_keys: ContentKeys,
    pub(crate) member_items: MemberItems,
    pub(crate) labels: crate::labels::Labels,
    pub(crate) idempotency: IdempotencyKeys,
    pub(crate) rate_limiter: RateLimiter,
    pub(crate) rate_limits: RateLimits,
    /// `command_api.report_weight_min_age_days`, checked.
    pub(crate) report_weight_min_age_days: u64,
    pub(crate) post_services: PostServices,
    pub(crate) sessions: SessionStore,
    pub(crate) session_cookie: String,
    pub(crate) auth: crate::auth::Auth,
    pub(crate) pool: sqlx::PgPool,
    pub(crate) redis: redis::aio::ConnectionManager,
    pub(crate) redis_prefix: String,
    pub(crate) mailer: crate::email::Mailer,
}

/// Creates the event store database if needed and brings its schema up to date. Safe to run
/// any number of times, also concurrently.
pub async fn migrate(config: &WardConfig) -> anyhow::Result<()> {
    config
        .event_store
        .create_postgres_database()
        .await
        .context("creating the event store database")?;
    let pool = config.event_store.connect_postgres().await?;
    MIGRATOR
        .run(&pool)
        .await
        .context("migrating the event store")?;
    Ok(())
}

/// Runs the command API on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: &WardConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let author_key = config.command_api.author_key()?;
    let report_weight_min_age_days = members::report_weight_min_age_days(config)?;
    migrate(config).await?;
    let pool = config.event_store.connect_postgres().await?;
    let redis = ops::connect_redis(&config.redis)
        .await
        .context("connecting to Redis")?;

    let mut ops = Ops::builder("ward_command");
    let relay = Relay::new(
        pool.clone(),
        config.kafka.clone(),
        redis.clone(),
        &config.redis.key_prefix,
        ops.registry(),
    );
    let ops = ops
        .check("event_store", sql_check(pool.clone()))
        .check("redis", redis_check(redis.clone()))
        // Without the broker commands are still accepted into the outbox: ready, degraded.
        .check_for(
            "kafka",
            Need::Degrading,
            kafka::broker_check(&config.kafka)?,
        )
        .build();

    let state = AppState {
        posts: Arc::new(
            PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone()))
                .with_upcasters(posts::upcasters()),
        ),
        members: Arc::new(store(pool.clone())),
        hospitals: Arc::new(store(pool.clone())),
        claims: Arc::new(store(pool.clone())),
        reviews: Arc::new(store(pool.clone())),
        review_services: ReviewServices {
            author_key: author_key.clone(),
        },
        moderation: Arc::new(store(pool.clone())),
        moderation_services: ModerationServices {
            author_key: author_key.clone(),
            auto_hide_threshold: config.command_api.auto_hide_reports,
        },
        content_keys: ContentKeys::new(pool.clone()),
        member_items: MemberItems::new(pool.clone(), author_key.clone()),
        labels: crate::labels::Labels::new(pool.clone(), config.query_api.k_anonymity),
        idempotency: IdempotencyKeys::new(pool.clone(), author_key.clone()),
        rate_limiter: RateLimiter::new(redis.clone(), &config.redis.key_prefix, author_key.clone()),
        rate_limits: config.command_api.rate_limits.clone(),
        report_weight_min_age_days,
        post_services: PostServices { author_key },
        sessions: SessionStore::new(redis.clone(), config),
        session_cookie: config.command_api.session_cookie.clone(),
        auth: crate::auth::Auth::new(config).context("command_api.auth")?,
        pool,
        redis,
        redis_prefix: config.redis.key_prefix.clone(),
        mailer: crate::email::Mailer::new(config.command_api.mail.as_ref())
            .context("command_api.mail")?,
    };
    let allowed_origins = Arc::new(config.command_api.allowed_origins.clone());
    tokio::spawn(crate::claim_queue::expire_periodically(
        state.pool.clone(),
        state.claims.clone(),
        std::time::Duration::from_secs(3600),
        shutdown.clone(),
    ));
    tokio::spawn(purge_idempotency_keys(
        state.idempotency.clone(),
        shutdown.clone(),
    ));
    let relay = config
        .command_api
        .relay
        .then(|| tokio::spawn(relay.run(shutdown.clone())));
    tracing::info!(address = %listener.local_addr()?, "command API listening");
    let served = shutdown::serve(
        listener,
        router(
            state,
            &ops,
            config.command_api.max_body_bytes,
            allowed_origins,
        ),
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    if let Some(relay) = relay {
        relay.await?;
    }
    served
}

/// Deletes expired idempotency keys every ten minutes until shutdown.
async fn purge_idempotency_keys(keys: IdempotencyKeys, shutdown: CancellationToken) {
    loop {
        if let Err(error) = keys.purge_expired().await {
            tracing::warn!(
                error = format!("{error:#}"),
                "purging expired idempotency keys"
            );
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// The event store of aggregate `A`.
pub fn store<A: cqrs_es::Aggregate>(pool: sqlx::PgPool) -> Store<A> {
    PersistedEventStore::new_event_store(PostgresEventRepository::new(pool))
}

fn router(
    state: AppState,
    ops: &Ops,
    max_body_bytes: usize,
    allowed_origins: crate::csrf::AllowedOrigins,
) -> Router {
    let api = Router::new()
        .route("/api/v1/posts", post(posts::create))
        .route(
            "/api/v1/posts/{id}",
            delete(posts::delete).patch(posts::edit),
        )
        .route(
            "/api/v1/posts/{id}/like",
            put(posts::like).delete(posts::unlike),
        )
        .route("/api/v1/posts/{id}/comments", post(comments::create))
        .route(
            "/api/v1/posts/{id}/comments/{comment}",
            delete(comments::delete).patch(comments::edit),
        )
        .route("/api/v1/posts/{id}/accepted-answer", put(comments::accept))
        .route("/api/v1/hospitals/{id}/claims", post(claims::submit))
        .route("/api/v1/claims/{id}/approval", post(claims::approve))
        .route("/api/v1/claims/{id}/rejection", post(claims::reject))
        .route("/api/v1/hospitals/{id}/reviews", post(reviews::write))
        .route(
            "/api/v1/reviews/{id}",
            patch(reviews::edit).delete(reviews::delete),
        )
        .route("/api/v1/reviews/{id}/helpful", put(reviews::helpful))
        .route("/api/v1/reports", post(moderation::report))
        .route(
            "/api/v1/me",
            delete(members::withdraw).patch(members::change),
        )
        .route("/api/v1/claims/{id}/revocation", post(claims::revoke))
        .route("/api/v1/claims/{id}/email", post(crate::email::send_code))
        .route(
            "/api/v1/claims/{id}/email/confirmation",
            post(crate::email::confirm_code),
        )
        .route(
            "/api/v1/moderation/claims",
            axum::routing::get(crate::claim_queue::queue),
        )
        .route(
            "/api/v1/me/notifications/read",
            post(members::mark_notifications_read),
        )
        .route(
            "/api/v1/moderation/{kind}/{id}/suspend-author",
            post(moderation::suspend_author),
        )
        .route(
            "/api/v1/moderation/{kind}/{id}/hide",
            post(moderation::hide),
        )
        .route(
            "/api/v1/moderation/{kind}/{id}/restore",
            post(moderation::restore),
        )
        .route(
            "/auth/providers",
            axum::routing::get(crate::auth::providers),
        )
        .route(
            "/auth/{provider}/start",
            axum::routing::get(crate::auth::start),
        )
        .route(
            "/auth/{provider}/callback",
            axum::routing::get(crate::auth::callback),
        )
        .route("/auth/signout", post(crate::auth::signout))
        .route(
            "/api/v1/openapi/commands.json",
            axum::routing::get(crate::openapi::document),
        )
        .merge(crate::forms::router())
        .merge(crate::pages::router())
        .fallback(|| async { ApiError::not_found("route_not_found", "no such endpoint") })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state);
    ops.instrument(api)
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(
            allowed_origins,
            crate::csrf::refuse_cross_site,
        ))
        .layer(axum::middleware::from_fn(correlate))
}
