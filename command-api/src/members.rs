//! Members on the command side: registration (what sign-in does on a first visit) and the
//! [`Actor`] extractor, which decides from the member's own aggregate — write-side state,
//! never a read model — whether the caller may act at all, and as what.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use cqrs_es::{AggregateContext, AggregateError, EventStore};
use serde_json::json;
use uuid::Uuid;
use ward_domain::author::AuthorKey;
use ward_domain::member::{JobCategory, Member, MemberCommand, MemberError, MemberId, Role};
use ward_domain::sealed::Sealed;
use ward_platform::config::WardConfig;
use ward_platform::http::{ApiError, CorrelationId};

use crate::app::{AppState, Store};
use crate::execute::execute;
use crate::pepper::{IdentityKeys, Peppers};
use crate::session::Member as Signed;

/// The signed-in, registered, not suspended member making a request.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    /// The member.
    pub member: MemberId,
    /// Whether the member holds the moderator role.
    pub moderator: bool,
    /// The member's job category.
    pub job_category: JobCategory,
    /// How many UTC days have begun since the member registered; unknown for members who
    /// registered before the day was recorded.
    pub age_in_days: Option<u64>,
}

impl Actor {
    /// Refuses with 403 unless the actor is a moderator.
    pub fn moderator_only(&self) -> Result<(), ApiError> {
        if self.moderator {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "moderator_only",
                "only moderators may do this",
            ))
        }
    }
}

impl crate::session::SessionSource for AppState {
    fn sessions(&self) -> &crate::session::SessionStore {
        &self.sessions
    }

    fn session_cookie(&self) -> &str {
        &self.session_cookie
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Signed(session) = Signed::from_request_parts(parts, state).await?;
        let id = state
            .post_services
            .author_key
            .member_ref(session.member_id)
            .0;
        let mut context = state
            .members
            .load_aggregate(&id)
            .await
            .map_err(crate::execute::api_error)?;
        let member = context.aggregate();
        if !member.is_registered() {
            // Never registered, or withdrawn: the session is not a member's any more.
            return Err(ApiError::unauthenticated());
        }
        if member.is_suspended(now()) {
            return Err(suspended(member.suspended_until().unwrap_or_default()));
        }
        // A moderator struck an item of theirs while they were away (ADR 0014): suspend now,
        // then take the strikes away (a crash in between suspends again, never forgets).
        let struck = state
            .member_items
            .strikes_against(session.member_id)
            .await
            .map_err(ApiError::internal)?;
        if let Some(strikes) = struck {
            let (days, at) = (strikes.days, now());
            let key = &state.post_services.author_key;
            run(
                &state.members,
                key,
                session.member_id,
                MemberCommand::Suspend { days, now: at },
            )
            .await
            .map_err(crate::execute::api_error)?;
            state
                .member_items
                .clear(strikes)
                .await
                .map_err(ApiError::internal)?;
            return Err(suspended(
                at + u64::from(days) * ward_domain::member::DAY_SECS,
            ));
        }
        Ok(Actor {
            member: session.member_id,
            moderator: member.has_role(Role::Moderator),
            // A registered member always has one.
            job_category: member.job_category().unwrap_or(JobCategory::Other),
            age_in_days: member.age_in_days(now()),
        })
    }
}

/// 403 `member_suspended` until `until` (Unix seconds).
fn suspended(until: u64) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "member_suspended",
        "your account is suspended",
    )
    .with_details(json!({ "until": until }))
}

/// Runs a member command on `member`'s aggregate (addressed by pseudonym).
pub async fn run(
    store: &Store<Member>,
    key: &AuthorKey,
    member: MemberId,
    command: MemberCommand,
) -> Result<usize, AggregateError<MemberError>> {
    let correlation = CorrelationId(uuid::Uuid::now_v7().to_string());
    execute(store, &(), &key.member_ref(member).0, command, &correlation).await
}

/// Registers `member` on first sign-in.
pub async fn register(
    store: &Store<Member>,
    key: &AuthorKey,
    member: MemberId,
    job_category: JobCategory,
) -> Result<usize, AggregateError<MemberError>> {
    let command = MemberCommand::Register {
        job_category,
        now: now(),
    };
    run(store, key, member, command).await
}

/// The most `command_api.report_weight_min_age_days` may be.
const MAX_REPORT_WEIGHT_MIN_AGE_DAYS: u32 = 365;

/// `command_api.report_weight_min_age_days`, checked at start: 0 to 365.
pub fn report_weight_min_age_days(config: &WardConfig) -> anyhow::Result<u64> {
    let days = config.command_api.report_weight_min_age_days;
    anyhow::ensure!(
        days <= MAX_REPORT_WEIGHT_MIN_AGE_DAYS,
        "command_api.report_weight_min_age_days is {days}; it must be 0 to \
         {MAX_REPORT_WEIGHT_MIN_AGE_DAYS}"
    );
    Ok(u64::from(days))
}

/// Whether `actor`'s reports count towards hiding an item automatically: their account is at
/// least `command_api.report_weight_min_age_days` old, or they hold a verified claim at any
/// hospital. Read from write-side state only; the answer reaches the moderation aggregate as
/// a bare yes/no ([`ward_domain::moderation::Report::counts`]).
pub(crate) async fn reports_count(state: &AppState, actor: &Actor) -> Result<bool, ApiError> {
    let old_enough = actor
        .age_in_days
        .is_some_and(|age| age >= state.report_weight_min_age_days);
    if old_enough {
        return Ok(true);
    }
    verified_anywhere(state, actor.member).await
}

/// Whether `member` holds a verified claim at some hospital (from their private index of
/// claims and each claim's aggregate).
async fn verified_anywhere(state: &AppState, member: MemberId) -> Result<bool, ApiError> {
    let claims = state
        .member_items
        .claims_of(member)
        .await
        .map_err(ApiError::internal)?;
    for claim in claims {
        let mut context = state
            .claims
            .load_aggregate(&claim.to_string())
            .await
            .map_err(ApiError::internal)?;
        if context.aggregate().is_verified() {
            return Ok(true);
        }
    }
    Ok(false)
}

#[utoipa::path(
    delete,
    path = "/api/v1/me",
    operation_id = "withdraw",
    tag = "members",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Withdrawn: the content keys of the member's items are destroyed.", body = crate::openapi::Withdrawn),
        (status = 401, description = "Not signed in (`unauthenticated`).", body = crate::openapi::ErrorBody),
        (status = 404, description = "The session's member was never registered (`member_not_found`).", body = crate::openapi::ErrorBody),
        (status = 409, description = "The member has already withdrawn (`member_withdrawn`).", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
)]
/// `DELETE /api/v1/me`: the member withdraws ("forget me"). The content keys of everything
/// they wrote are destroyed with the private index that found them, so those items read as
/// erased in every replay; the member aggregate records the withdrawal, after which no
/// session of theirs is accepted. Allowed while suspended.
#[tracing::instrument(skip_all)]
pub async fn withdraw(
    axum::extract::State(state): axum::extract::State<AppState>,
    Signed(session): Signed,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let member = session.member_id;
    // A withdrawn member is nobody's colleague any more: their verified claims stop counting
    // (k-anonymity must not count people who left) and their open ones leave the queue.
    end_claims(&state, member).await?;
    let erased = state
        .member_items
        .erase_all(member, session.identity.as_deref())
        .await?;
    run(
        &state.members,
        &state.post_services.author_key,
        member,
        MemberCommand::Withdraw,
    )
    .await
    .map_err(crate::execute::api_error)?;
    // Every session of the member ends, not only this one.
    state.sessions.delete_all(member).await?;
    Ok(axum::Json(
        json!({"withdrawn": true, "erased_items": erased}),
    ))
}

/// Revokes `member`'s verified claims and rejects their open ones, before withdrawal forgets
/// which claims were theirs. Safe to repeat: a claim in any other state is left alone.
async fn end_claims(state: &AppState, member: MemberId) -> Result<(), ApiError> {
    use ward_domain::affiliation::{ClaimCommand, ClaimError, RejectReason};
    let claims = state
        .member_items
        .claims_of(member)
        .await
        .map_err(ApiError::internal)?;
    let correlation = CorrelationId(format!("withdrawal-{}", uuid::Uuid::now_v7()));
    for claim in claims {
        for command in [
            ClaimCommand::Revoke,
            ClaimCommand::Reject {
                reason: RejectReason::Other,
            },
        ] {
            match execute(
                &*state.claims,
                &(),
                &claim.to_string(),
                command,
                &correlation,
            )
            .await
            {
                Ok(_) => break,
                Err(AggregateError::UserError(
                    ClaimError::NotVerified(_) | ClaimError::NotOpen(_) | ClaimError::NotFound,
                )) => {}
                Err(error) => return Err(crate::execute::api_error(error)),
            }
        }
    }
    Ok(())
}

/// Signs in the identity `provider`/`subject`: the member linked to it, registering a new
/// member (with `job_category`) on the first sign-in; returns the member and the identity's
/// row key (the session keeps it, so that withdrawal can delete the row). The row holds the
/// member id sealed under a key that only the subject opens (ADR 0014): the subject itself
/// is neither stored nor logged. The OAuth flow calls this once the provider vouched for the
/// subject. A row stored under the previous pepper (a rotation) or in the first form (a
/// plain keyed hash beside a clear member id) moves to the current form here.
pub async fn sign_in(
    pool: &sqlx::PgPool,
    store: &Store<Member>,
    key: &AuthorKey,
    peppers: &Peppers,
    provider: &str,
    subject: &str,
    job_category: JobCategory,
) -> anyhow::Result<(MemberId, String)> {
    let parts: [&[u8]; 3] = [provider.as_bytes(), &[0], subject.as_bytes()];
    let keys = peppers.identity_keys(&parts)?;
    let current = &keys[0];
    let found = match known_identity(pool, &keys).await? {
        Some(member) => Some(member),
        None => first_form_identity(pool, &peppers.all(&parts)).await?,
    };
    let member = match found {
        Some((member, row)) => {
            if row != current.lookup {
                store_identity(pool, current, member, Some(&row)).await?;
                tracing::info!("an identity link moved to its current form");
            }
            member
        }
        None => {
            // Two first sign-ins at once: one insert wins, both read the winner.
            store_identity(pool, current, MemberId(uuid::Uuid::new_v4()), None).await?;
            known_identity(pool, &keys[..1])
                .await?
                .map(|(member, _)| member)
                .ok_or_else(|| anyhow::anyhow!("an identity row vanished while signing in"))?
        }
    };
    match register(store, key, member, job_category).await {
        Ok(_) | Err(AggregateError::UserError(MemberError::AlreadyRegistered)) => {
            Ok((member, current.lookup.clone()))
        }
        Err(error) => Err(anyhow::anyhow!("registering a member: {error}")),
    }
}

/// The member of a sealed identity row under any of `keys`, and the row's key.
async fn known_identity(
    pool: &sqlx::PgPool,
    keys: &[IdentityKeys],
) -> anyhow::Result<Option<(MemberId, String)>> {
    for keys in keys {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT nonce, ciphertext FROM identities WHERE identity = $1 AND nonce IS NOT NULL",
        )
        .bind(&keys.lookup)
        .fetch_optional(pool)
        .await?;
        if let Some((nonce, ciphertext)) = row {
            let sealed = Sealed { nonce, ciphertext };
            let member = keys
                .seal
                .open(IDENTITY_SEAL, Uuid::nil(), IDENTITY_SEAL, &sealed)?;
            return Ok(Some((
                MemberId(Uuid::parse_str(&member)?),
                keys.lookup.clone(),
            )));
        }
    }
    Ok(None)
}

/// The member of a first-form identity row (a plain keyed hash, the member id in the clear)
/// under any of the `hashes`, and the row's key.
async fn first_form_identity(
    pool: &sqlx::PgPool,
    hashes: &[String],
) -> anyhow::Result<Option<(MemberId, String)>> {
    let row: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT member_id, identity FROM identities \
         WHERE identity = ANY($1) AND member_id IS NOT NULL LIMIT 1",
    )
    .bind(hashes)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(member, identity)| (MemberId(member), identity)))
}

/// Stores `member` sealed under `keys`, replacing the row `replacing` (a move to the current
/// form) or, without it, unless the identity has a row already.
async fn store_identity(
    pool: &sqlx::PgPool,
    keys: &IdentityKeys,
    member: MemberId,
    replacing: Option<&str>,
) -> anyhow::Result<()> {
    let sealed = keys.seal.seal(
        IDENTITY_SEAL,
        Uuid::nil(),
        IDENTITY_SEAL,
        &member.to_string(),
    );
    let mut tx = pool.begin().await?;
    if let Some(row) = replacing {
        sqlx::query("DELETE FROM identities WHERE identity = $1")
            .bind(row)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO identities (identity, nonce, ciphertext) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&keys.lookup)
    .bind(&sealed.nonce)
    .bind(&sealed.ciphertext)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The associated-data kind (and field) of an identity's sealed member id.
const IDENTITY_SEAL: &str = "identity";

/// The body of `PATCH /api/v1/me`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeChange {
    /// The member's job category.
    job_category: JobCategory,
}

/// `PATCH /api/v1/me`: the member changes their job category.
#[utoipa::path(
    patch,
    path = "/api/v1/me",
    operation_id = "change_me",
    tag = "members",
    request_body = MeChange,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Changed.", body = serde_json::Value),
        (status = 400, response = crate::openapi::MalformedJson),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "The member is suspended (`member_suspended`).", body = crate::openapi::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "An unknown job category or a malformed body (`invalid_body`).", body = crate::openapi::ErrorBody),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 500, response = crate::openapi::Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn change(
    axum::extract::State(state): axum::extract::State<AppState>,
    actor: Actor,
    ward_platform::http::ApiJson(change): ward_platform::http::ApiJson<MeChange>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let command = MemberCommand::ChangeJobCategory {
        job_category: change.job_category,
    };
    let changed = async {
        run(
            &state.members,
            &state.post_services.author_key,
            actor.member,
            command,
        )
        .await
        .map_err(crate::execute::api_error)
    };
    let limit = state.rate_limits.profile;
    let version = state
        .rate_limiter
        .within("profile", actor.member, limit, changed)
        .await?;
    Ok(axum::Json(json!({"version": version})))
}

/// The body of `POST /api/v1/me/notifications/read`.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationsRead {
    /// Up to when the member has seen their notifications (RFC 3339); now if absent or later.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    up_to: Option<chrono::DateTime<chrono::Utc>>,
}

/// `POST /api/v1/me/notifications/read`: the member has seen their notifications up to a
/// time (now by default; a later time counts as now); the member read model marks the older
/// ones read. A time not later than the current mark changes nothing. Allowed while
/// suspended.
#[utoipa::path(
    post,
    path = "/api/v1/me/notifications/read",
    operation_id = "mark_notifications_read",
    tag = "members",
    request_body(content = NotificationsRead, description = "Optional; `{}` or no body means now."),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Marked: the member aggregate's version (a consistency token for reads).", body = serde_json::Value),
        (status = 400, response = crate::openapi::MalformedJson),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "The session's member was never registered (`member_not_found`).", body = crate::openapi::ErrorBody),
        (status = 409, description = "The member has withdrawn (`member_withdrawn`), or someone changed it at the same moment (`conflict`).", body = crate::openapi::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "Unknown or ill-typed fields, e.g. `up_to` not an RFC 3339 time (`invalid_body`), or a time before 1970 (`up_to_out_of_range`).", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn mark_notifications_read(
    axum::extract::State(state): axum::extract::State<AppState>,
    Signed(session): Signed,
    request: axum::extract::Request,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    use axum::extract::FromRequest;
    // Like axum's `Option<Json<_>>`: no `Content-Type`, no body.
    let body = if request
        .headers()
        .contains_key(axum::http::header::CONTENT_TYPE)
    {
        ward_platform::http::ApiJson::<NotificationsRead>::from_request(request, &state)
            .await?
            .0
    } else {
        NotificationsRead::default()
    };
    // Nobody has seen the future: a later time would hide notifications still to come.
    let up_to = match body.up_to {
        None => now(),
        Some(time) => u64::try_from(time.timestamp())
            .map_err(|_| ApiError::invalid("up_to_out_of_range", "up_to must not be before 1970"))?
            .min(now()),
    };
    let key = &state.post_services.author_key;
    let command = MemberCommand::MarkNotificationsRead { up_to };
    let mut version = run(&state.members, key, session.member_id, command)
        .await
        .map_err(crate::execute::api_error)?;
    if version == 0 {
        // Nothing recorded (not later than the current mark): answer the current version.
        version = state
            .members
            .load_events(&key.member_ref(session.member_id).0)
            .await
            .map_err(ApiError::internal)?
            .len();
    }
    Ok(axum::Json(json!({"version": version})))
}
