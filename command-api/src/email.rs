//! Work-email verification of a claim: the member gives an address at one of the hospital's
//! staff email domains, Ward mails a 6-digit code (valid 15 minutes, 5 attempts), and the
//! right code verifies the claim (`ClaimVerified`, method `work_email`).
//!
//! The address is never stored or logged: Redis keeps the code's hash and the address's keyed
//! hash for 15 minutes, and a verified address is remembered only as
//! `HMAC(identity pepper, "email" ‖ address)` (`verified_emails`), so one mailbox cannot
//! verify claims of several members. Addresses are hashed in their [`normalise`]d form, so
//! `Lee+2@SNUH.org` is the same mailbox as `lee@snuh.org`. After five wrong codes the claim's
//! email verification is locked for an hour.
//!
//! **No membership oracle.** Asking for a code answers the same, in the same time, whether or
//! not the address already verified someone: the code is always mailed, and only a correct
//! code (which only the mailbox's owner has) learns that the address cannot verify a second
//! member (`409 email_already_used` on confirmation).

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
use crate::openapi::{
    Changed, ErrorBody, Internal, MalformedJson, PayloadTooLarge, Unauthenticated,
    UnsupportedMediaType,
};

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
                .map_err(|e| smtp_failure(&e)),
            Self::Files(transport, from) => transport
                .send(build(from)?)
                .await
                .map(|_| ())
                .map_err(|_| "the mail file could not be written".to_owned()),
        };
        sent.map_err(|error| {
            tracing::warn!(error, "sending a verification code failed");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "mail_failed",
                "the code could not be sent; try again later",
            )
        })
    }
}

/// What may be logged of a failed SMTP delivery: its class and reply code, never the
/// server's words, which may quote the recipient (`550 <lee@snuh.org>: no such user`).
fn smtp_failure(error: &lettre::transport::smtp::Error) -> String {
    let class = if error.is_permanent() {
        "permanent"
    } else if error.is_transient() {
        "transient"
    } else if error.is_timeout() {
        "timeout"
    } else if error.is_tls() {
        "TLS"
    } else {
        "connection or protocol"
    };
    match error.status() {
        Some(code) => format!("{class} SMTP failure, reply code {code}"),
        None => format!("{class} SMTP failure"),
    }
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "email_verification_unavailable",
        "work-email verification is not available; ask for a moderator's approval",
    )
}

/// What Redis holds while a code is out (its attempts are counted under a key of their own).
#[derive(Serialize, Deserialize)]
struct Pending {
    code_hash: String,
    /// Under the current pepper.
    address_hash: String,
    /// Under the previous pepper, during a rotation.
    #[serde(default)]
    previous_address_hash: Option<String>,
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
        .map_err(api_error)?;
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

/// The Redis keys of a claim's email verification.
struct Keys {
    /// The code that is out ([`Pending`]).
    code: String,
    /// How many confirmations were tried against it.
    attempts: String,
    /// Present while five wrong codes lock the claim.
    lock: String,
}

fn keys(state: &AppState, claim: Uuid) -> Keys {
    let prefix = &state.redis_prefix;
    Keys {
        code: format!("{prefix}email-code:{claim}"),
        attempts: format!("{prefix}email-attempts:{claim}"),
        lock: format!("{prefix}email-lock:{claim}"),
    }
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
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Not an address (`email_invalid`), or not at one of the hospital's staff domains (`email_domain_not_allowed`).", body = ErrorBody),
        (status = 423, description = "Five wrong codes locked the claim's email verification for an hour (`claim_locked`).", body = ErrorBody),
        (status = 429, description = "Too many codes requested (`rate_limited`).", body = ErrorBody),
        (status = 503, description = "Work-email verification is not configured (`email_verification_unavailable`), or a service Ward depends on cannot be reached (`service_unavailable`, with `Retry-After`).", body = ErrorBody),
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
    let invalid = || ApiError::invalid("email_invalid", "that is not an email address");
    let typed = body.address.trim();
    let mailbox: Mailbox = typed.parse().map_err(|_| invalid())?;
    let address = normalise(typed).ok_or_else(invalid)?;
    let mut context = state
        .hospitals
        .load_aggregate(&hospital.to_string())
        .await
        .map_err(api_error)?;
    if !context
        .aggregate()
        .email_domains()
        .contains(&address.domain)
    {
        return Err(ApiError::invalid(
            "email_domain_not_allowed",
            "the address is not at one of the hospital's staff email domains",
        ));
    }
    // Whether the address verified someone already is not looked at here: see the module.
    let hashes = address_hashes(&state, &address.normalised)?;
    let keys = keys(&state, claim);
    let mut redis = state.redis.clone();
    let locked: bool = redis.exists(&keys.lock).await.map_err(ApiError::internal)?;
    if locked {
        return Err(locked_error());
    }
    let send = async {
        let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000));
        let pending = Pending {
            code_hash: code_hash(claim, &code),
            address_hash: hashes[0].clone(),
            previous_address_hash: hashes.get(1).cloned(),
        };
        // A new code starts with all its attempts.
        let _: () = redis::pipe()
            .atomic()
            .set_ex(
                &keys.code,
                serde_json::to_string(&pending).map_err(ApiError::internal)?,
                CODE_SECS,
            )
            .del(&keys.attempts)
            .query_async(&mut redis)
            .await
            .map_err(ApiError::internal)?;
        state.mailer.send(mailbox, &code).await
    };
    let limit = state.rate_limits.email_codes;
    state
        .rate_limiter
        .within("email", actor.member, limit, send)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"sent": true, "expires_in": CODE_SECS})),
    ))
}

/// An address as Ward compares addresses: its hashed form and its domain.
#[derive(Debug, PartialEq, Eq)]
pub struct Address {
    /// `local@domain`, normalised as [`normalise`] says; only ever hashed.
    pub normalised: String,
    /// The domain in lower-case ASCII (IDNA), as hospitals list their staff domains.
    pub domain: String,
}

/// The mailbox an address names, so that one mailbox verifies one member however it is
/// written. The rule (documented in `docs/privacy.md`):
/// - the address is trimmed; at most 254 characters; the domain is what follows the last `@`;
/// - the domain is converted to lower-case ASCII (IDNA: `병원.kr` → `xn--…`), without a final
///   dot;
/// - a quoted local part (`"lee"`) is unquoted (`\x` stands for `x`);
/// - the local part loses any sub-address: everything from the first `+` (`lee+ward` → `lee`);
/// - the local part is lower-cased (mail servers of hospitals treat it case-insensitively).
///
/// `None` when what is left is not an address.
pub fn normalise(address: &str) -> Option<Address> {
    let address = address.trim();
    if address.is_empty() || address.len() > 254 {
        return None;
    }
    let (local, domain) = address.rsplit_once('@')?;
    let domain = idna::domain_to_ascii(domain.strip_suffix('.').unwrap_or(domain)).ok()?;
    if domain.is_empty() || !domain.contains('.') {
        return None;
    }
    let local = match local
        .strip_prefix('"')
        .and_then(|quoted| quoted.strip_suffix('"'))
    {
        Some(quoted) => unquote(quoted)?,
        None => local.to_owned(),
    };
    let local = local.split('+').next().unwrap_or_default().to_lowercase();
    let printable = |c: char| !c.is_control() && !c.is_whitespace() && c != '@';
    if local.is_empty() || !local.chars().all(printable) {
        return None;
    }
    Some(Address {
        normalised: format!("{local}@{domain}"),
        domain,
    })
}

/// A quoted local part's content: `\x` stands for `x`; a lone `"` or `\` is not allowed.
fn unquote(quoted: &str) -> Option<String> {
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
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
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
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
) -> Result<Json<Changed>, ApiError> {
    let (claim, _) = own_open_claim(&state, &actor, &id).await?;
    let keys = keys(&state, claim);
    let mut redis = state.redis.clone();
    let locked: bool = redis.exists(&keys.lock).await.map_err(ApiError::internal)?;
    if locked {
        return Err(locked_error());
    }
    let stored: Option<String> = redis.get(&keys.code).await.map_err(ApiError::internal)?;
    let pending: Pending = stored
        .and_then(|s| serde_json::from_str(&s).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::GONE,
                "code_expired",
                "no code is valid; ask for a new one",
            )
        })?;
    // Every try takes one of the code's attempts before the code is compared, in one atomic
    // step, so concurrent guesses cannot share an attempt.
    let (tried,): (u32,) = redis::pipe()
        .atomic()
        .incr(&keys.attempts, 1)
        .cmd("EXPIRE")
        .arg(&keys.attempts)
        .arg(CODE_SECS)
        .arg("NX")
        .ignore()
        .query_async(&mut redis)
        .await
        .map_err(ApiError::internal)?;
    if tried > ATTEMPTS {
        return Err(locked_error());
    }
    if code_hash(claim, body.code.trim()) != pending.code_hash {
        if tried == ATTEMPTS {
            let _: () = redis::pipe()
                .atomic()
                .del(&keys.code)
                .set_ex(&keys.lock, "1", LOCK_SECS)
                .query_async(&mut redis)
                .await
                .map_err(ApiError::internal)?;
            return Err(locked_error());
        }
        return Err(
            ApiError::invalid("code_wrong", "that code is not the one we sent")
                .with_details(json!({"attempts_left": ATTEMPTS - tried})),
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
    let _: () = redis
        .del(&[&keys.code, &keys.attempts])
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Changed::of(claim, version)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_to_their_mailbox() {
        let mailbox = |a: &str| normalise(a).map(|a| a.normalised);
        let lee = Some("lee@snuh.org".to_owned());
        for same in [
            "lee@snuh.org",
            " Lee@SNUH.org ",
            "lee+1@snuh.org",
            "LEE+ward+x@snuh.org.",
            "\"lee\"@snuh.org",
            "\"l\\ee+q\"@snuh.org",
        ] {
            assert_eq!(mailbox(same), lee, "{same}");
        }
        assert_eq!(
            mailbox("lee.kim@snuh.org").as_deref(),
            Some("lee.kim@snuh.org")
        );
        // An internationalised domain compares in its ASCII form, however it was typed.
        let Some(idn) = normalise("간호사@서울병원.KR") else {
            panic!("an IDN address must normalise");
        };
        assert!(
            idn.domain.starts_with("xn--") && idn.domain.ends_with(".kr"),
            "{idn:?}"
        );
        assert_eq!(idn.normalised, format!("간호사@{}", idn.domain));
        let ascii = normalise(&format!("간호사+2@{}", idn.domain.to_uppercase()));
        assert_eq!(ascii, Some(idn));
        assert_eq!(
            normalise("lee@SNUH.ORG").map(|a| a.domain).as_deref(),
            Some("snuh.org")
        );
        for invalid in [
            "",
            "lee",
            "@snuh.org",
            "+tag@snuh.org",
            "lee@",
            "lee@localhost",
            "\"a\"b\"@x.kr",
            "a b@x.kr",
        ] {
            assert_eq!(normalise(invalid), None, "{invalid}");
        }
        assert_eq!(normalise(&format!("{}@x.kr", "a".repeat(260))), None);
    }

    /// An SMTP server on loopback that refuses every recipient, quoting the address.
    async fn refusing_smtp_server() -> anyhow::Result<u16> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 test ESMTP\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply = if upper.starts_with("RCPT TO:") {
                        format!("550 5.1.1 {}: no such user here\r\n", &line[8..])
                    } else if upper.starts_with("QUIT") {
                        "221 bye\r\n".to_owned()
                    } else {
                        "250 ok\r\n".to_owned()
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() || upper.starts_with("QUIT")
                    {
                        break;
                    }
                }
            }
        });
        Ok(port)
    }

    /// Log lines written while a test runs, to look for what must not be there.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_refused_recipient_is_not_logged() -> anyhow::Result<()> {
        let port = refusing_smtp_server().await?;
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mailer = Mailer::new(Some(&MailConfig {
            from: "Ward <no-reply@ward.test>".to_owned(),
            smtp_url: Some(format!("smtp://127.0.0.1:{port}").into()),
            file_dir: None,
        }))?;
        let to: Mailbox = "secret.nurse@snuh.org".parse()?;
        let sent = mailer.send(to, "123456").await;
        assert_eq!(
            sent.err().map(|e| e.code().to_owned()).as_deref(),
            Some("mail_failed")
        );
        let logged = String::from_utf8(
            captured
                .0
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .clone(),
        )?;
        assert!(
            !logged.contains("secret.nurse"),
            "the recipient was logged: {logged}"
        );
        assert!(
            logged.contains("permanent SMTP failure, reply code 550"),
            "{logged}"
        );
        Ok(())
    }

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
