//! Sessions: a random 256-bit token in an HttpOnly cookie; Redis holds the session under the
//! SHA-256 of the token, so a copy of Redis does not hand out usable tokens.
//!
//! The command API and the query API recognise a signed-in member the same way: the
//! [`Member`] extractor reads the session cookie of any state that is a [`SessionSource`].
//!
//! Sign-in creates sessions; until it exists, [`SessionStore::create`] is the only way to
//! make one, and it is a library function, not an HTTP endpoint.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ward_domain::member::MemberId;

use crate::config::RedisConfig;
use crate::http::ApiError;

/// How long a session lives without being renewed.
const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// What the server knows about a signed-in caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The member. Everything else (roles, suspension) is read from the member's aggregate
    /// on each command, so it is never stale.
    pub member_id: MemberId,
}

/// Sessions in Redis.
#[derive(Clone)]
pub struct SessionStore {
    redis: redis::aio::ConnectionManager,
    prefix: String,
}

impl SessionStore {
    /// A store in `redis` under `config`'s key prefix.
    pub fn new(redis: redis::aio::ConnectionManager, config: &RedisConfig) -> Self {
        Self {
            redis,
            prefix: config.key_prefix.clone(),
        }
    }

    /// Stores `session` and returns its new token, the cookie's value.
    pub async fn create(&self, session: &Session) -> anyhow::Result<String> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut redis = self.redis.clone();
        let _: () = redis
            .set_ex(
                self.key(&token),
                serde_json::to_string(session)?,
                SESSION_TTL.as_secs(),
            )
            .await?;
        Ok(token)
    }

    /// The session behind `token`, if it exists.
    pub async fn get(&self, token: &str) -> anyhow::Result<Option<Session>> {
        let mut redis = self.redis.clone();
        let stored: Option<String> = redis.get(self.key(token)).await?;
        Ok(stored.map(|s| serde_json::from_str(&s)).transpose()?)
    }

    fn key(&self, token: &str) -> String {
        format!(
            "{}session:{}",
            self.prefix,
            hex::encode(Sha256::digest(token.as_bytes()))
        )
    }
}

/// A handler state that can look sessions up.
pub trait SessionSource {
    /// Where sessions are stored.
    fn sessions(&self) -> &SessionStore;
    /// The name of the session cookie (`command_api.session_cookie`).
    fn session_cookie(&self) -> &str;
}

/// The signed-in member making the request; rejects with 401 `unauthenticated` when the
/// request has no session cookie or its session does not exist.
pub struct Member(pub Session);

impl<S: SessionSource + Send + Sync> FromRequestParts<S> for Member {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == state.session_cookie())
            .map(|(_, value)| value.to_owned())
            .ok_or_else(ApiError::unauthenticated)?;
        match state.sessions().get(&token).await? {
            Some(session) => Ok(Member(session)),
            None => Err(ApiError::unauthenticated()),
        }
    }
}
