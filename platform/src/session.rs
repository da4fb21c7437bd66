//! Sessions: a random 256-bit token in an HttpOnly cookie; Redis holds the session under the
//! SHA-256 of the token, so a copy of Redis does not hand out usable tokens, and sealed under
//! a key derived from the token, so that a copy of Redis (even with every server secret)
//! names no member: only the browser that holds the cookie can open its session.
//!
//! Redis learns no precise time either. A session's key expires at a clock-aligned boundary
//! (`session_expiry_granule_secs`, a day by default), renewed on use to the boundary after
//! the idle time, so that its remaining lifetime tells the day of the last request and not
//! the second, which would line the session up with the item it just wrote. The idle and
//! absolute limits are enforced to the second from the sealed value.
//!
//! The command API and the query API recognise a signed-in member the same way: the
//! [`Member`] extractor reads the session cookie of any state that is a [`SessionSource`].
//!
//! Sign-in (`command-api/src/auth.rs`) creates sessions, after an identity provider vouched
//! for the person; [`SessionStore::create`] is a library function, not an HTTP endpoint.

use axum::extract::FromRequestParts;
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ward_domain::member::MemberId;
use ward_domain::sealed::{ContentKey, Sealed};

use crate::config::WardConfig;
use crate::http::ApiError;

/// What the server knows about a signed-in caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The member. Everything else (roles, suspension) is read from the member's aggregate
    /// on each command, so it is never stale.
    pub member_id: MemberId,
    /// When the member signed in (Unix milliseconds): the session ends
    /// `session_absolute_secs` later, used or not.
    pub signed_in_ms: i64,
    /// When the session was last used (Unix milliseconds): it ends `session_idle_secs`
    /// later.
    pub seen_ms: i64,
    /// The row key of the sign-in identity, for withdrawal to delete (none for sessions
    /// that tools and tests make without signing in).
    pub identity: Option<String>,
}

impl Session {
    /// A session of `member` starting now.
    pub fn new(member_id: MemberId) -> Self {
        let now = now_ms();
        Self {
            member_id,
            signed_in_ms: now,
            seen_ms: now,
            identity: None,
        }
    }

    /// The same, started by signing in with the identity whose row key is `identity`.
    pub fn signed_in(member_id: MemberId, identity: String) -> Self {
        Self {
            identity: Some(identity),
            ..Self::new(member_id)
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Sessions in Redis: each under the SHA-256 of its token, sealed under a key derived from
/// the token, expiring at the granule boundary after its idle time (renewed on use) or its
/// absolute end, whichever is first; and, per member, the set of their sessions' keys, so
/// that withdrawal can end them all.
#[derive(Clone)]
pub struct SessionStore {
    redis: redis::aio::ConnectionManager,
    prefix: String,
    /// The idle and absolute limits, in milliseconds.
    idle: i64,
    absolute: i64,
    /// The expiry granule, in seconds.
    granule: i64,
}

/// The associated-data kind (and field) of a sealed session.
const SESSION_SEAL: &str = "session";

impl SessionStore {
    /// A store in `redis` with `config`'s key prefix and session lifetimes.
    pub fn new(redis: redis::aio::ConnectionManager, config: &WardConfig) -> Self {
        let secs = |value: u64| i64::try_from(value.max(1)).unwrap_or(i64::MAX / 1000);
        let api = &config.command_api;
        Self {
            redis,
            prefix: config.redis.key_prefix.clone(),
            idle: secs(api.session_idle_secs).saturating_mul(1000),
            absolute: secs(api.session_absolute_secs).saturating_mul(1000),
            granule: secs(api.session_expiry_granule_secs),
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
            .add_command(self.store_command(&token, session)?)
            .ignore()
            .sadd(&index, &key)
            .expire_at(&index, self.aligned(session.signed_in_ms + self.absolute))
            .query_async(&mut redis)
            .await?;
        Ok(token)
    }

    /// The session behind `token`, if it exists and has not run out; renews its idle time.
    pub async fn get(&self, token: &str) -> anyhow::Result<Option<Session>> {
        let key = self.key(token);
        let mut redis = self.redis.clone();
        let stored: Option<String> = redis.get(&key).await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let now = now_ms();
        // A value that does not open (a session stored before sessions were sealed) ends.
        let open = Self::open(token, &stored)
            .filter(|s| now < s.signed_in_ms + self.absolute && now < s.seen_ms + self.idle);
        let Some(mut session) = open else {
            let _: () = redis.del(&key).await?;
            return Ok(None);
        };
        session.seen_ms = now;
        let _: () = self
            .store_command(token, &session)?
            .query_async(&mut redis)
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

    /// `SET` of `session` sealed, expiring at the granule boundary after its idle time or
    /// its absolute end, whichever comes first.
    fn store_command(&self, token: &str, session: &Session) -> anyhow::Result<redis::Cmd> {
        let ends = (session.seen_ms + self.idle).min(session.signed_in_ms + self.absolute);
        let sealed = Self::seal_key(token).seal(
            SESSION_SEAL,
            uuid::Uuid::nil(),
            SESSION_SEAL,
            &serde_json::to_string(session)?,
        );
        let mut command = redis::cmd("SET");
        command
            .arg(self.key(token))
            .arg(serde_json::to_string(&sealed)?)
            .arg("EXAT")
            .arg(self.aligned(ends));
        Ok(command)
    }

    /// The session sealed in `stored`, if the key derived from `token` opens it.
    fn open(token: &str, stored: &str) -> Option<Session> {
        let sealed: Sealed = serde_json::from_str(stored).ok()?;
        let json = Self::seal_key(token)
            .open(SESSION_SEAL, uuid::Uuid::nil(), SESSION_SEAL, &sealed)
            .ok()?;
        serde_json::from_str(&json).ok()
    }

    /// The key that seals the session of `token`; Redis never sees the token.
    fn seal_key(token: &str) -> ContentKey {
        let digest = Sha256::new()
            .chain_update(b"ward-session-seal\0")
            .chain_update(token.as_bytes())
            .finalize();
        ContentKey::from_bytes(&digest)
            .unwrap_or_else(|| unreachable!("a SHA-256 digest is 32 bytes"))
    }

    /// The first granule boundary (Unix seconds) at or after `time_ms` (Unix milliseconds).
    fn aligned(&self, time_ms: i64) -> i64 {
        let secs = time_ms.saturating_add(999) / 1000;
        secs.saturating_add(self.granule - 1) / self.granule * self.granule
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
