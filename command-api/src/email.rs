//! Work-email verification of a claim: the member gives an address at one of the hospital's
//! staff email domains, Ward mails a 6-digit code (valid 15 minutes, 5 attempts), and the
//! right code verifies the claim (`ClaimVerified`, method `work_email`).
//!
//! The address is never stored or logged: Redis keeps the code's hash and the address's keyed
//! hash for 15 minutes, and a verified address is remembered only as
//! `HMAC(identity pepper, "email" ‖ address)` (`verified_emails`), so one address cannot
//! verify claims of several members. After five wrong codes the claim's email verification
//! is locked for an hour.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cqrs_es::{AggregateContext, EventStore};
use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::Rng;
use redis::AsyncCommands;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;
use ward_domain::affiliation::{ClaimCommand, VerificationMethod};
use ward_platform::config::MailConfig;
use ward_platform::http::{ApiError, ApiJson, CorrelationId};

use crate::app::AppState;
use crate::execute::{api_error, execute};
use crate::members::{now, Actor};
use crate::openapi::{ErrorBody, Internal, MalformedJson, Unauthenticated};

/// A code is valid this long.
const CODE_SECS: u64 = 15 * 60;
/// Wrong codes allowed per code.
const ATTEMPTS: u32 = 5;
/// How long five wrong codes lock a claim's email verification.
const LOCK_SECS: u64 = 3600;

/// How mail leaves Ward.
#[derive(Clone)]
pub enum Mailer {
    /// Not configured: work-email verification is off.
    Off,
    /// SMTP.
    Smtp(AsyncSmtpTransport<Tokio1Executor>, Mailbox),
    /// `.eml` files in a folder (local use and tests).
    Files(AsyncFileTransport<Tokio1Executor>, Mailbox),
}

impl Mailer {
    /// The mailer `config` describes.
    pub fn new(config: Option<&MailConfig>) -> anyhow::Result<Self> {
        let Some(config) = config else {
            return Ok(Self::Off);
        };
        let from: Mailbox = config.from.parse()?;
        Ok(match (&config.smtp_url, &config.file_dir) {
            (Some(url), _) => Self::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())?.build(),
                from,
            ),
            (None, Some(dir)) => {
                std::fs::create_dir_all(dir)?;
                Self::Files(AsyncFileTransport::new(dir), from)
            }
            (None, None) => anyhow::bail!("command_api.mail needs smtp_url or file_dir"),
        })
    }

    async fn send(&self, to: Mailbox, code: &str) -> Result<(), ApiError> {
        let build = |from: &Mailbox| {
            Message::builder()
                .from(from.clone())
                .to(to.clone())
                .subject("Ward 인증 코드 / verification code")
                .body(format!(
                    "Ward 병원 인증 코드: {code}\n15분 동안 유효합니다.\n\n\
                     Your Ward verification code: {code}\nIt is valid for 15 minutes.\n"
                ))
                .map_err(ApiError::internal)
        };
        let sent = match self {
            Self::Off => return Err(unavailable()),
            Self::Smtp(transport, from) => transport
                .send(build(from)?)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Self::Files(transport, from) => transport
                .send(build(from)?)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        sent.map_err(|error| {
            // The error names the server, never the address.
            tracing::warn!(error, "sending a verification code failed");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "mail_failed",
                "the code could not be sent; try again later",
            )
        })
    }
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "email_verification_unavailable",
        "work-email verification is not available; ask for a moderator's approval",
    )
}

/// What Redis holds while a code is out.
#[derive(Serialize, Deserialize)]
struct Pending {
    code_hash: String,
    /// Under the current pepper.
    address_hash: String,
    /// Under the previous pepper, during a rotation.
    #[serde(default)]
    previous_address_hash: Option<String>,
    attempts: u32,
}

impl Pending {
    fn address_hashes(&self) -> Vec<String> {
        std::iter::once(self.address_hash.clone())
            .chain(self.previous_address_hash.clone())
            .collect()
    }
}

/// The body of `POST /api/v1/claims/{id}/email`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailAddress {
    /// An address at one of the hospital's staff email domains. Never stored.
    address: String,
}

/// The body of `POST /api/v1/claims/{id}/email/confirmation`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailCode {
    /// The 6-digit code from the mail.
    code: String,
}

/// The claim `id` of `actor` and its hospital, if it is theirs and open.
async fn own_open_claim(
    state: &AppState,
    actor: &Actor,
    id: &str,
) -> Result<(Uuid, Uuid), ApiError> {
    let not_found = || ApiError::not_found("claim_not_found", "there is no such claim of yours");
    let claim = Uuid::parse_str(id).map_err(|_| not_found())?;
    let mut context = state
        .claims
        .load_aggregate(&claim.to_string())
        .await
        .map_err(ApiError::internal)?;
    let aggregate = context.aggregate();
    let hospital = aggregate.hospital_id().ok_or_else(not_found)?;
    let key = &state.post_services.author_key;
    if key.derive_id("affiliation", hospital, actor.member) != claim {
        return Err(not_found());
    }
    if !aggregate.is_open() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "claim_not_open",
            "only an open claim can be verified",
        ));
    }
    Ok((claim, hospital))
}

fn keys(state: &AppState, claim: Uuid) -> (String, String) {
    let prefix = &state.redis_prefix;
    (
        format!("{prefix}email-code:{claim}"),
        format!("{prefix}email-lock:{claim}"),
    )
}

/// `HMAC(pepper, "email" ‖ 0 ‖ address)` under each configured pepper, current first.
fn address_hashes(state: &AppState, address: &str) -> Result<Vec<String>, ApiError> {
    let peppers = state.auth.peppers().ok_or_else(unavailable)?;
    Ok(peppers.all(&[b"email\0", address.as_bytes()]))
}

fn code_hash(claim: Uuid, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{claim}:{code}")))
}

/// `POST /api/v1/claims/{id}/email`: mails a code to a work address of the claim's hospital.
#[utoipa::path(
    post,
    path = "/api/v1/claims/{id}/email",
    operation_id = "send_email_code",
    tag = "claims",
    params(("id" = Uuid, Path, description = "The member's own open claim.")),
    request_body = EmailAddress,
    security(("session_cookie" = [])),
    responses(
        (status = 202, description = "A code was sent; `expires_in` seconds."),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such claim of the member's (`claim_not_found`).", body = ErrorBody),
        (status = 409, description = "The claim is not open (`claim_not_open`), or the address already verified another member's claim (`email_already_used`).", body = ErrorBody),
        (status = 422, description = "Not an address (`email_invalid`), or not at one of the hospital's staff domains (`email_domain_not_allowed`).", body = ErrorBody),
        (status = 423, description = "Five wrong codes locked the claim's email verification for an hour (`claim_locked`).", body = ErrorBody),
        (status = 429, description = "Too many codes requested (`rate_limited`).", body = ErrorBody),
        (status = 503, description = "Work-email verification is not configured (`email_verification_unavailable`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn send_code(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EmailAddress>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if matches!(state.mailer, Mailer::Off) {
        return Err(unavailable());
    }
    let (claim, hospital) = own_open_claim(&state, &actor, &id).await?;
    let address = body.address.trim().to_lowercase();
    let invalid = || ApiError::invalid("email_invalid", "that is not an email address");
    if address.len() > 254 {
        return Err(invalid());
    }
    let mailbox: Mailbox = address.parse().map_err(|_| invalid())?;
    let domain = address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .ok_or_else(invalid)?;
    let mut context = state
        .hospitals
        .load_aggregate(&hospital.to_string())
        .await
        .map_err(ApiError::internal)?;
    if !context
        .aggregate()
        .email_domains()
        .iter()
        .any(|d| d == domain)
    {
        return Err(ApiError::invalid(
            "email_domain_not_allowed",
            "the address is not at one of the hospital's staff email domains",
        ));
    }
    let hashes = address_hashes(&state, &address)?;
    ensure_unused(&state, &hashes, claim).await?;
    let (code_key, lock_key) = keys(&state, claim);
    let mut redis = state.redis.clone();
    let locked: bool = redis.exists(&lock_key).await.map_err(ApiError::internal)?;
    if locked {
        return Err(locked_error());
    }
    state
        .rate_limiter
        .check("email", actor.member, state.rate_limits.email_codes)
        .await?;
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000));
    let pending = Pending {
        code_hash: code_hash(claim, &code),
        address_hash: hashes[0].clone(),
        previous_address_hash: hashes.get(1).cloned(),
        attempts: 0,
    };
    let _: () = redis
        .set_ex(
            &code_key,
            serde_json::to_string(&pending).map_err(ApiError::internal)?,
            CODE_SECS,
        )
        .await
        .map_err(ApiError::internal)?;
    state.mailer.send(mailbox, &code).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"sent": true, "expires_in": CODE_SECS})),
    ))
}

fn locked_error() -> ApiError {
    ApiError::new(
        StatusCode::LOCKED,
        "claim_locked",
        "too many wrong codes; try again in an hour or ask for a moderator's approval",
    )
}

/// Refuses an address (its hashes under every configured pepper) that already verified
/// another claim.
async fn ensure_unused(state: &AppState, hashes: &[String], claim: Uuid) -> Result<(), ApiError> {
    let used_by: Vec<String> =
        sqlx::query_scalar("SELECT claim_id FROM verified_emails WHERE address_hash = ANY($1)")
            .bind(hashes)
            .fetch_all(&state.pool)
            .await
            .map_err(ApiError::internal)?;
    match used_by.iter().find(|other| **other != claim.to_string()) {
        Some(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "email_already_used",
            "this address already verified another member",
        )),
        _ => Ok(()),
    }
}

/// `POST /api/v1/claims/{id}/email/confirmation`: the code verifies the claim.
#[utoipa::path(
    post,
    path = "/api/v1/claims/{id}/email/confirmation",
    operation_id = "confirm_email_code",
    tag = "claims",
    params(("id" = Uuid, Path, description = "The member's own open claim.")),
    request_body = EmailCode,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Verified: the claim's id and version.", body = crate::openapi::Changed),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such claim of the member's (`claim_not_found`).", body = ErrorBody),
        (status = 409, description = "The claim is not open (`claim_not_open`), or the address verified another member meanwhile (`email_already_used`).", body = ErrorBody),
        (status = 410, description = "No code is out, or it expired (`code_expired`).", body = ErrorBody),
        (status = 422, description = "The code is wrong (`code_wrong`, with `attempts_left`).", body = ErrorBody),
        (status = 423, description = "Five wrong codes: locked for an hour (`claim_locked`).", body = ErrorBody),
        (status = 500, response = Internal),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn confirm_code(
    State(state): State<AppState>,
    actor: Actor,
    correlation: CorrelationId,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EmailCode>,
) -> Result<Json<Value>, ApiError> {
    let (claim, _) = own_open_claim(&state, &actor, &id).await?;
    let (code_key, lock_key) = keys(&state, claim);
    let mut redis = state.redis.clone();
    let locked: bool = redis.exists(&lock_key).await.map_err(ApiError::internal)?;
    if locked {
        return Err(locked_error());
    }
    let stored: Option<String> = redis.get(&code_key).await.map_err(ApiError::internal)?;
    let mut pending: Pending = stored
        .and_then(|s| serde_json::from_str(&s).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::GONE,
                "code_expired",
                "no code is valid; ask for a new one",
            )
        })?;
    let given = body.code.trim();
    if code_hash(claim, given) != pending.code_hash {
        pending.attempts += 1;
        if pending.attempts >= ATTEMPTS {
            let _: () = redis.del(&code_key).await.map_err(ApiError::internal)?;
            let _: () = redis
                .set_ex(&lock_key, "1", LOCK_SECS)
                .await
                .map_err(ApiError::internal)?;
            return Err(locked_error());
        }
        let ttl: i64 = redis.ttl(&code_key).await.map_err(ApiError::internal)?;
        let _: () = redis
            .set_ex(
                &code_key,
                serde_json::to_string(&pending).map_err(ApiError::internal)?,
                u64::try_from(ttl).unwrap_or(1).max(1),
            )
            .await
            .map_err(ApiError::internal)?;
        return Err(
            ApiError::invalid("code_wrong", "that code is not the one we sent")
                .with_details(json!({"attempts_left": ATTEMPTS - pending.attempts})),
        );
    }
    // One address, one claim: the first to record it keeps it. Rows under a previous
    // pepper are never written any more, so checking them first leaves no race.
    ensure_unused(&state, &pending.address_hashes(), claim).await?;
    sqlx::query(
        "INSERT INTO verified_emails (address_hash, claim_id) VALUES ($1, $2) \
         ON CONFLICT (address_hash) DO NOTHING",
    )
    .bind(&pending.address_hash)
    .bind(claim.to_string())
    .execute(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    ensure_unused(&state, &pending.address_hashes(), claim).await?;
    let command = ClaimCommand::Verify {
        method: VerificationMethod::WorkEmail,
        now: now(),
    };
    let version = execute(
        &*state.claims,
        &(),
        &claim.to_string(),
        command,
        &correlation,
    )
    .await
    .map_err(api_error)?;
    let _: () = redis.del(&code_key).await.map_err(ApiError::internal)?;
    Ok(Json(json!({"id": claim, "version": version})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_configurations_make_a_mailer() -> anyhow::Result<()> {
        let dev: ward_platform::config::WardConfig =
            ward_platform::config::load(Some(std::path::Path::new("../config/ward.dev.toml")))?;
        // Its sender must parse; the folder goes to a scratch place here.
        let scratch = tempfile::tempdir()?;
        let mut mail = dev.command_api.mail.clone();
        if let Some(mail) = mail.as_mut() {
            mail.file_dir = Some(scratch.path().display().to_string());
        }
        assert!(matches!(Mailer::new(mail.as_ref())?, Mailer::Files(..)));
        let sample: ward_platform::config::WardConfig =
            ward_platform::config::load(Some(std::path::Path::new("../config/ward.sample.toml")))?;
        assert!(matches!(
            Mailer::new(sample.command_api.mail.as_ref())?,
            Mailer::Off
        ));
        Ok(())
    }
}
