//! Sessions: a random 256-bit token in an HttpOnly cookie; Redis holds the session under the
//! SHA-256 of the token, so a copy of Redis does not hand out usable tokens.
//!
//! The command API and the query API recognise a signed-in member the same way: the
//! [`Member`] extractor reads the session cookie of any state that is a [`SessionSource`].
//!
//! Sign-in (`command-api/src/auth.rs`) creates sessions, after an identity provider vouched
//! for the person; [`SessionStore::create`] is a library function, not an HTTP endpoint.

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

use crate::config::WardConfig;
use crate::http::ApiError;

/// What the server knows about a signed-in caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The member. Everything else (roles, suspension) is read from the member's aggregate
    /// on each command, so it is never stale.
    pub member_id: MemberId,
    /// When the member signed in (Unix seconds): the session ends `session_absolute_secs`
    /// later, used or not.
    #[serde(default)]
    pub signed_in_at: i64,
}

impl Session {
    /// A session of `member` starting now.
    pub fn new(member_id: MemberId) -> Self {
        Self {
            member_id,
            signed_in_at: now(),
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Sessions in Redis: each under the SHA-256 of its token, expiring after the idle time
/// (renewed on use) and never outliving the absolute time; and, per member, the set of their
/// sessions' keys, so that withdrawal can end them all.
#[derive(Clone)]
pub struct SessionStore {
    redis: redis::aio::ConnectionManager,
    prefix: String,
    idle: Duration,
    absolute: Duration,
}

impl SessionStore {
    /// A store in `redis` with `config`'s key prefix and session lifetimes.
    pub fn new(redis: redis::aio::ConnectionManager, config: &WardConfig) -> Self {
        Self {
            redis,
            prefix: config.redis.key_prefix.clone(),
            idle: Duration::from_secs(config.command_api.session_idle_secs.max(1)),
            absolute: Duration::from_secs(config.command_api.session_absolute_secs.max(1)),
        }
    }

    /// Stores `session` and returns its new token, the cookie's value.
    pub async fn create(&self, session: &Session) -> anyhow::Result<String> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let key = self.key(&token);
        let index = self.index(session.member_id);
        let mut redis = self.redis.clone();
        let _: () = redis::pipe()
            .atomic()
            .set_ex(&key, serde_json::to_string(session)?, self.ttl(session))
            .sadd(&index, &key)
            .expire(
                &index,
                i64::try_from(self.absolute.as_secs()).unwrap_or(i64::MAX),
            )
            .query_async(&mut redis)
            .await?;
        Ok(token)
    }

    /// The session behind `token`, if it exists and has not run out; renews its idle time.
    pub async fn get(&self, token: &str) -> anyhow::Result<Option<Session>> {
        let key = self.key(token);
        let mut redis = self.redis.clone();
        let stored: Option<String> = redis.get(&key).await?;
        let Some(session) = stored
            .map(|s| serde_json::from_str::<Session>(&s))
            .transpose()?
        else {
            return Ok(None);
        };
        let ttl = self.ttl(&session);
        if ttl == 0 {
            let _: () = redis.del(&key).await?;
            return Ok(None);
        }
        let _: () = redis
            .expire(&key, i64::try_from(ttl).unwrap_or(i64::MAX))
            .await?;
        Ok(Some(session))
    }

    /// Ends the session behind `token` (sign-out, or a sign-in replacing it).
    pub async fn delete(&self, token: &str) -> anyhow::Result<()> {
        let mut redis = self.redis.clone();
        let _: () = redis.del(self.key(token)).await?;
        Ok(())
    }

    /// Ends every session of `member` (withdrawal).
    pub async fn delete_all(&self, member: MemberId) -> anyhow::Result<()> {
        let index = self.index(member);
        let mut redis = self.redis.clone();
        let keys: Vec<String> = redis.smembers(&index).await?;
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.del(key);
        }
        pipe.del(&index);
        let _: () = pipe.query_async(&mut redis).await?;
        Ok(())
    }

    /// Seconds `session` may still live: the idle time, cut at the absolute end.
    fn ttl(&self, session: &Session) -> u64 {
        let ends = session
            .signed_in_at
            .saturating_add(i64::try_from(self.absolute.as_secs()).unwrap_or(i64::MAX));
        let left = u64::try_from(ends.saturating_sub(now())).unwrap_or(0);
        left.min(self.idle.as_secs())
    }

    fn key(&self, token: &str) -> String {
        format!(
            "{}session:{}",
            self.prefix,
            hex::encode(Sha256::digest(token.as_bytes()))
        )
    }

    fn index(&self, member: MemberId) -> String {
        format!(
            "{}member-sessions:{}",
            self.prefix,
            hex::encode(Sha256::digest(member.0.as_bytes()))
        )
    }
}

/// The value of cookie `name` in `headers`, if the request carries it.
pub fn cookie<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
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
        let token =
            cookie(&parts.headers, state.session_cookie()).ok_or_else(ApiError::unauthenticated)?;
        match state.sessions().get(token).await? {
            Some(session) => Ok(Member(session)),
            None => Err(ApiError::unauthenticated()),
        }
    }
}
