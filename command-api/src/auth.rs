//! Sign-in with OAuth 2.0 / OpenID Connect: the authorization-code flow with PKCE (S256) and
//! `state` (plus `nonce` for OpenID Connect), each random, single-use and bound to the
//! browser's pre-login cookie.
//!
//! 1. `GET /auth/{provider}/start?return_to=/path` stores the flow's secrets in Redis under
//!    the SHA-256 of a random pre-login id, sets that id as an HttpOnly cookie, and redirects
//!    to the provider.
//! 2. `GET /auth/{provider}/callback?code&state` takes the record (once: `GETDEL`), checks the
//!    provider and `state`, exchanges the code with the PKCE verifier, learns the subject
//!    (Kakao: the user-info `id`; OpenID Connect: the verified ID token's `sub`, with the
//!    nonce), and signs the member in: `members::sign_in` stores only
//!    `HMAC(pepper, provider ‖ subject)`. Any session the browser had ends, a new one starts
//!    (the id changes at sign-in), and the browser goes to `return_to`.
//! 3. `POST /auth/signout` ends the session.
//!
//! Only the subject is asked for and read: no scope beyond `openid`, no email, nickname or
//! picture; nothing of the person is stored or logged.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, TokenResponse, TokenUrl,
};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{IssuerUrl, Nonce};
use rand::RngCore;
use redis::AsyncCommands;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use ward_domain::member::JobCategory;
use ward_platform::config::{KakaoConfig, OidcConfig, WardConfig};
use ward_platform::http::ApiError;
use ward_platform::session::{cookie, Session};

use crate::app::AppState;
use crate::members;
use crate::pepper::Peppers;

/// How long a started sign-in may take.
const PRELOGIN_SECS: u64 = 600;

/// The configured providers and what sign-in needs.
#[derive(Clone)]
pub struct Auth {
    kakao: Option<KakaoConfig>,
    oidc: Option<Arc<Oidc>>,
    http: oauth2::reqwest::Client,
    peppers: Option<Peppers>,
    secure: bool,
    prefix: String,
}

struct Oidc {
    config: OidcConfig,
    /// Discovered on first use, so the command API starts while the provider is down.
    metadata: OnceCell<CoreProviderMetadata>,
}

/// What a started sign-in must remember until the callback.
#[derive(Debug, Serialize, Deserialize)]
struct PreLogin {
    provider: String,
    state: String,
    verifier: String,
    nonce: Option<String>,
    return_to: String,
}

impl Auth {
    /// Sign-in as `config` describes it.
    pub fn new(config: &WardConfig) -> anyhow::Result<Self> {
        let http = oauth2::reqwest::ClientBuilder::new()
            // Following redirects would open the token and user-info requests to SSRF.
            .redirect(oauth2::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        let auth = &config.command_api.auth;
        Ok(Self {
            kakao: auth.kakao.clone(),
            oidc: auth.oidc.clone().map(|config| {
                Arc::new(Oidc {
                    config,
                    metadata: OnceCell::new(),
                })
            }),
            http,
            peppers: Peppers::from_config(&config.command_api),
            secure: config.command_api.secure_cookies,
            prefix: config.redis.key_prefix.clone(),
        })
    }

    /// The identity peppers, if configured (they also key work addresses).
    pub fn peppers(&self) -> Option<&Peppers> {
        self.peppers.as_ref()
    }

    /// The names of the configured providers.
    pub fn providers(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.kakao.is_some() {
            names.push("kakao");
        }
        if self.oidc.is_some() {
            names.push("oidc");
        }
        names
    }

    fn prelogin_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-ward_prelogin"
        } else {
            "ward_prelogin"
        }
    }

    /// A `Set-Cookie` value: HttpOnly, `SameSite=Lax`, `Path=/`, `Secure` unless in plain-http
    /// development; `max_age` 0 deletes the cookie.
    pub fn cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{age}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    fn prelogin_key(&self, id: &str) -> String {
        format!(
            "{}prelogin:{}",
            self.prefix,
            hex::encode(Sha256::digest(id.as_bytes()))
        )
    }

    async fn oidc_client(
        &self,
        oidc: &Oidc,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        ApiError,
    > {
        let metadata = oidc
            .metadata
            .get_or_try_init(|| async {
                let issuer = IssuerUrl::new(oidc.config.issuer_url.clone())?;
                CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(anyhow::Error::from)
            })
            .await
            .map_err(|error| {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "OpenID Connect discovery failed"
                );
                unavailable()
            })?;
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(oidc.config.client_id.clone()),
            Some(ClientSecret::new(
                oidc.config.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(
            RedirectUrl::new(oidc.config.redirect_url.clone()).map_err(ApiError::internal)?,
        ))
    }
}

fn kakao_client(
    kakao: &KakaoConfig,
) -> Result<
    BasicClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    ApiError,
> {
    Ok(BasicClient::new(ClientId::new(kakao.client_id.clone()))
        .set_client_secret(ClientSecret::new(
            kakao.client_secret.expose_secret().to_owned(),
        ))
        // Kakao takes the client secret in the form body.
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::new(kakao.authorize_url.clone()).map_err(ApiError::internal)?)
        .set_token_uri(TokenUrl::new(kakao.token_url.clone()).map_err(ApiError::internal)?)
        .set_redirect_uri(
            RedirectUrl::new(kakao.redirect_url.clone()).map_err(ApiError::internal)?,
        ))
}

fn unknown_provider(provider: &str) -> ApiError {
    ApiError::not_found(
        "provider_unknown",
        format!("there is no sign-in provider {provider:?}"),
    )
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "sign_in_unavailable",
        "signing in is not possible right now; try again later",
    )
}

fn refused(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// Query of `GET /auth/{provider}/start`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Start {
    return_to: Option<String>,
}

/// Where to send the browser after sign-in: a path on this site only.
fn return_to(requested: Option<String>) -> Result<String, ApiError> {
    let path = requested.unwrap_or_else(|| "/".to_owned());
    let local = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && path.len() <= 200
        && !path.chars().any(char::is_control);
    if local {
        Ok(path)
    } else {
        Err(ApiError::invalid(
            "return_to_invalid",
            "return_to must be a path on this site",
        ))
    }
}

/// `GET /auth/providers`: the configured sign-in providers.
pub async fn providers(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "providers": state.auth.providers() }))
}

/// `GET /auth/{provider}/start`: begins signing in.
#[tracing::instrument(skip_all, fields(provider))]
pub async fn start(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(start): Query<Start>,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    let return_to = return_to(start.return_to)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = match provider.as_str() {
        "kakao" => {
            let kakao = auth
                .kakao
                .as_ref()
                .ok_or_else(|| unknown_provider(&provider))?;
            let (url, csrf) = kakao_client(kakao)?
                .authorize_url(CsrfToken::new_random)
                .set_pkce_challenge(challenge)
                .url();
            (url, csrf, None)
        }
        "oidc" => {
            let oidc = auth
                .oidc
                .as_ref()
                .ok_or_else(|| unknown_provider(&provider))?;
            let (url, csrf, nonce) = auth
                .oidc_client(oidc)
                .await?
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    CsrfToken::new_random,
                    Nonce::new_random,
                )
                .set_pkce_challenge(challenge)
                .url();
            (url, csrf, Some(nonce.secret().clone()))
        }
        _ => return Err(unknown_provider(&provider)),
    };
    let record = PreLogin {
        provider,
        state: csrf.secret().clone(),
        verifier: verifier.secret().clone(),
        nonce,
        return_to,
    };
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut redis = state.redis.clone();
    let _: () = redis
        .set_ex(
            auth.prelogin_key(&id),
            serde_json::to_string(&record).map_err(ApiError::internal)?,
            PRELOGIN_SECS,
        )
        .await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        SET_COOKIE,
        auth.cookie(auth.prelogin_cookie(), &id, Some(PRELOGIN_SECS)),
    );
    headers.insert(
        LOCATION,
        HeaderValue::from_str(url.as_str()).map_err(ApiError::internal)?,
    );
    Ok((StatusCode::FOUND, headers).into_response())
}

/// Query of `GET /auth/{provider}/callback`.
#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/{provider}/callback`: finishes signing in.
#[tracing::instrument(skip_all, fields(provider))]
pub async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(callback): Query<Callback>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    let expired = || {
        refused(
            "sign_in_expired",
            "this sign-in has expired or was used; start again",
        )
    };
    let id = cookie(&headers, auth.prelogin_cookie()).ok_or_else(expired)?;
    let mut redis = state.redis.clone();
    // Single use: whatever happens next, this sign-in cannot be finished twice.
    let stored: Option<String> = redis::cmd("GETDEL")
        .arg(auth.prelogin_key(id))
        .query_async(&mut redis)
        .await?;
    let record: PreLogin = stored
        .and_then(|s| serde_json::from_str(&s).ok())
        .ok_or_else(expired)?;
    if callback.error.is_some() {
        return Err(refused(
            "sign_in_refused",
            "the provider did not sign you in",
        ));
    }
    let same = |a: &str, b: &str| Sha256::digest(a) == Sha256::digest(b);
    let state_matches = callback
        .state
        .as_deref()
        .is_some_and(|s| same(s, &record.state));
    if record.provider != provider || !state_matches {
        return Err(refused(
            "state_mismatch",
            "this answer does not belong to the sign-in you started",
        ));
    }
    let code = callback
        .code
        .ok_or_else(|| refused("code_missing", "the provider sent no code"))?;
    let subject = match provider.as_str() {
        "kakao" => kakao_subject(auth, code, record.verifier).await?,
        "oidc" => oidc_subject(auth, code, record.verifier, record.nonce).await?,
        _ => return Err(unknown_provider(&provider)),
    };
    let peppers = auth.peppers.as_ref().ok_or_else(unavailable)?;
    let (member, identity) = members::sign_in(
        &state.pool,
        &state.members,
        &state.post_services.author_key,
        peppers,
        &provider,
        &subject,
        JobCategory::Other,
    )
    .await
    .map_err(ApiError::internal)?;
    // A new session id at every sign-in: a session planted before it is worth nothing.
    if let Some(old) = cookie(&headers, &state.session_cookie) {
        state.sessions.delete(old).await?;
    }
    let token = state
        .sessions
        .create(&Session::signed_in(member, identity))
        .await?;
    tracing::info!(provider, "signed in");
    let mut response = HeaderMap::new();
    response.append(SET_COOKIE, auth.cookie(&state.session_cookie, &token, None));
    response.append(SET_COOKIE, auth.cookie(auth.prelogin_cookie(), "", Some(0)));
    response.insert(
        LOCATION,
        HeaderValue::from_str(&record.return_to).map_err(ApiError::internal)?,
    );
    Ok((StatusCode::SEE_OTHER, response).into_response())
}

/// The provider refused the code, or could not be reached.
fn provider_error(error: impl std::fmt::Display) -> ApiError {
    // The provider's error text is logged, never what it says about a person (it says none).
    tracing::warn!(%error, "the provider refused the sign-in");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "provider_error",
        "the sign-in provider did not accept this sign-in; start again",
    )
}

/// Kakao's user-info answer: only the id is read.
#[derive(Deserialize)]
struct KakaoUser {
    id: i64,
}

async fn kakao_subject(auth: &Auth, code: String, verifier: String) -> Result<String, ApiError> {
    let kakao = auth
        .kakao
        .as_ref()
        .ok_or_else(|| unknown_provider("kakao"))?;
    let token = kakao_client(kakao)?
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&auth.http)
        .await
        .map_err(provider_error)?;
    let user: KakaoUser = auth
        .http
        .get(&kakao.user_url)
        .bearer_auth(token.access_token().secret())
        .send()
        .await
        .map_err(provider_error)?
        .error_for_status()
        .map_err(provider_error)?
        .bytes()
        .await
        .map_err(provider_error)
        .and_then(|body| serde_json::from_slice(&body).map_err(provider_error))?;
    Ok(user.id.to_string())
}

async fn oidc_subject(
    auth: &Auth,
    code: String,
    verifier: String,
    nonce: Option<String>,
) -> Result<String, ApiError> {
    use openidconnect::TokenResponse as _;
    let oidc = auth.oidc.as_ref().ok_or_else(|| unknown_provider("oidc"))?;
    let client = auth.oidc_client(oidc).await?;
    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(provider_error)?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&auth.http)
        .await
        .map_err(provider_error)?;
    let id_token = response
        .id_token()
        .ok_or_else(|| provider_error("no ID token in the answer"))?;
    let nonce = Nonce::new(nonce.unwrap_or_default());
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .map_err(provider_error)?;
    Ok(claims.subject().as_str().to_owned())
}

/// `POST /auth/signout`: ends the session and deletes its cookie.
pub async fn signout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = cookie(&headers, &state.session_cookie) {
        state.sessions.delete(token).await?;
    }
    let mut response = HeaderMap::new();
    response.insert(
        SET_COOKIE,
        state.auth.cookie(&state.session_cookie, "", Some(0)),
    );
    Ok((StatusCode::NO_CONTENT, response).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_lax_and_secure_unless_in_plain_http_development() -> anyhow::Result<()>
    {
        let mut config = WardConfig::local();
        let secure = Auth::new(&config)?.cookie("__Host-ward_session", "t", None);
        assert_eq!(
            secure,
            "__Host-ward_session=t; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        config.command_api.secure_cookies = false;
        let plain = Auth::new(&config)?.cookie("ward_session", "", Some(0));
        assert_eq!(
            plain,
            "ward_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
        Ok(())
    }

    #[test]
    fn only_local_paths_are_places_to_return_to() {
        for good in [None, Some("/"), Some("/boards/free?sort=hot")] {
            assert!(return_to(good.map(str::to_owned)).is_ok(), "{good:?}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil",
            "boards",
            "/a\nb",
        ] {
            assert!(return_to(Some(bad.to_owned())).is_err(), "{bad:?}");
        }
    }
}
