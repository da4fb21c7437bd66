//! Read-your-writes. The command API answers every command with the aggregate's new version;
//! a client that wants to see its own write sends `Ward-Min-Version: <kind>:<id>:<version>`
//! (e.g. `post:0193…:3`; pages take it as `?v=`). The query API checks whether the read
//! model has reached that version, may wait up to [`WAIT`] for it, then answers either way and
//! says which in the `Ward-Consistency` header (`consistent` or `stale`).
//!
//! # Who may wait, and how many
//! A wait holds a connection and polls the read model (every 10 ms at first, backing off to
//! 100 ms) past every cache, so waits are rationed ([`Waits`]):
//! - **Only signed-in members wait.** Every command that yields a version needs a session, so
//!   a reader without one has no write of their own to wait for. An anonymous request is
//!   checked once instead — `consistent` if the read model has the version, else `stale` at
//!   once — which costs what any uncached read costs.
//! - **A member waits for `query_api.max_waits_per_member` requests at once (default 2), a
//!   process for `query_api.max_waits` (default 32)**. Past either cap a request is checked
//!   once, like an anonymous one, and answers at once.
//! - A `stale` answer promises nothing, so it comes from the cache like any other; only a
//!   `consistent` one is loaded from the read model itself.
//!
//! The caps count in this process's memory only, by member id and only while a wait is in
//! flight: nothing is stored or logged, and no network address is used.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use ward_domain::member::MemberId;
use ward_platform::http::ApiError;
use ward_platform::session::{cookie, SessionStore};

use crate::cache::RedisHealth;

/// The request header naming the version a client needs.
pub const MIN_VERSION: &str = "ward-min-version";
/// How long a request waits for the read model at most.
pub const WAIT: Duration = Duration::from_secs(2);
/// The first pause between two looks at the read model; each pause doubles up to [`MAX_POLL`].
const POLL: Duration = Duration::from_millis(10);
/// The longest pause between two looks at the read model.
const MAX_POLL: Duration = Duration::from_millis(100);

/// Who may wait for a version, and how many requests at once: one per process, shared by
/// its services.
#[derive(Clone)]
pub struct Waits {
    sessions: SessionStore,
    redis: RedisHealth,
    session_cookie: String,
    turns: Arc<Turns>,
}

/// The places to wait of one process.
struct Turns {
    total: Arc<Semaphore>,
    per_member: usize,
    members: Mutex<HashMap<MemberId, usize>>,
}

/// A member's place among the waiting requests; given back when dropped.
struct Turn {
    _total: OwnedSemaphorePermit,
    member: MemberId,
    turns: Arc<Turns>,
}

impl Turns {
    fn new(total: usize, per_member: usize) -> Arc<Self> {
        Arc::new(Self {
            total: Arc::new(Semaphore::new(total)),
            per_member,
            members: Mutex::new(HashMap::new()),
        })
    }

    /// A place to wait for `member`, unless they or the process hold every place already.
    fn take(self: &Arc<Self>, member: MemberId) -> Option<Turn> {
        let mut members = self.members.lock().ok()?;
        let held = members.get(&member).copied().unwrap_or(0);
        if held >= self.per_member {
            return None;
        }
        let total = self.total.clone().try_acquire_owned().ok()?;
        members.insert(member, held + 1);
        Some(Turn {
            _total: total,
            member,
            turns: self.clone(),
        })
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Ok(mut members) = self.turns.members.lock() {
            if let Some(held) = members.get_mut(&self.member) {
                *held -= 1;
                if *held == 0 {
                    members.remove(&self.member);
                }
            }
        }
    }
}

impl Waits {
    /// Waits for the members of `sessions` (cookie `session_cookie`), looked up while
    /// `redis` allows: `total` requests at once in this process, `per_member` of one member.
    pub fn new(
        sessions: SessionStore,
        redis: RedisHealth,
        session_cookie: &str,
        total: usize,
        per_member: usize,
    ) -> Self {
        Self {
            sessions,
            redis,
            session_cookie: session_cookie.to_owned(),
            turns: Turns::new(total, per_member),
        }
    }

    /// The signed-in member sending `headers`, if their session cookie names a session. While
    /// Redis is unavailable nobody is known, so nobody waits: the answer comes at once.
    async fn member(&self, headers: &HeaderMap) -> Option<MemberId> {
        let token = cookie(headers, &self.session_cookie)?;
        let session = self.redis.session(&self.sessions, token).await.ok()??;
        Some(session.member_id)
    }
}

/// `Ward-Min-Version`, if the request carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinVersion {
    /// The aggregate kind: `post`, `review`, `affiliation`, `member`.
    pub kind: String,
    /// The aggregate id, as the command API gave it.
    pub id: String,
    /// The version the answer must reflect at least.
    pub version: i64,
}

impl MinVersion {
    /// Parses `kind:id:version`.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > 200 {
            return None;
        }
        let (kind, rest) = text.split_once(':')?;
        let (id, version) = rest.rsplit_once(':')?;
        let version: i64 = version.parse().ok()?;
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        (valid(kind) && valid(id) && version >= 1).then(|| Self {
            kind: kind.to_owned(),
            id: id.to_owned(),
            version,
        })
    }
}

/// Whether an answer reflects what the client asked to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The client asked for nothing in particular.
    Any,
    /// The read model had reached the requested version.
    Consistent,
    /// The read model had not reached it: within [`WAIT`] if the reader could wait, at the
    /// first look otherwise.
    Stale,
}

impl Freshness {
    /// The `Ward-Consistency` header's value, if one is due.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Self::Any => None,
            Self::Consistent => Some("consistent"),
            Self::Stale => Some("stale"),
        }
    }
}

/// What a request wants to see: `Ward-Min-Version` (or a page's `?v=`), if it names a
/// version, and the signed-in member asking, who alone may be kept waiting for it.
#[derive(Clone, Default)]
pub struct Wanted {
    version: Option<MinVersion>,
    waiter: Option<(Waits, MemberId)>,
}

impl Wanted {
    /// `version` as `member` asks for it (`None`: an anonymous reader).
    pub fn new(version: Option<MinVersion>, waits: &Waits, member: Option<MemberId>) -> Self {
        Self {
            version,
            waiter: member.map(|member| (waits.clone(), member)),
        }
    }

    /// Checks whether `current(id)` (the read model's version of aggregate `id`, `None`
    /// while it has none) reaches the requested version, if the request names one, and waits
    /// for it if the reader may wait ([module docs](self)). `service` can wait only for
    /// `kinds`: another kind is a 400 `min_version_kind_unknown`; an id that is not a UUID
    /// names nothing the read model will ever hold, so the answer is stale at once.
    pub async fn wait_for<F, Fut>(
        self,
        service: &str,
        kinds: &[&str],
        mut current: F,
    ) -> Result<Freshness, ApiError>
    where
        F: FnMut(uuid::Uuid) -> Fut,
        Fut: Future<Output = Result<Option<i64>, ApiError>>,
    {
        let Some(wanted) = self.version else {
            return Ok(Freshness::Any);
        };
        if !kinds.contains(&wanted.kind.as_str()) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "min_version_kind_unknown",
                format!(
                    "the {service} service waits for a {}, not a {:?}",
                    kinds.join(" or a "),
                    wanted.kind
                ),
            ));
        }
        let Ok(id) = uuid::Uuid::parse_str(&wanted.id) else {
            return Ok(Freshness::Stale);
        };
        let reached = |version: Option<i64>| version.is_some_and(|v| v >= wanted.version);
        if reached(current(id).await?) {
            return Ok(Freshness::Consistent);
        }
        let Some(_turn) = self
            .waiter
            .and_then(|(waits, member)| waits.turns.take(member))
        else {
            return Ok(Freshness::Stale);
        };
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut pause = POLL;
        while tokio::time::Instant::now() < deadline {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::time::sleep(pause.min(left)).await;
            if reached(current(id).await?) {
                return Ok(Freshness::Consistent);
            }
            pause = (pause * 2).min(MAX_POLL);
        }
        Ok(Freshness::Stale)
    }
}

/// `Ward-Min-Version`, if the request carries one (a malformed one is a 400
/// `min_version_invalid`), with the signed-in member sending it.
impl<S: Send + Sync> FromRequestParts<S> for Wanted
where
    Waits: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(MIN_VERSION) else {
            return Ok(Self::default());
        };
        let version = value
            .to_str()
            .ok()
            .and_then(MinVersion::parse)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "min_version_invalid",
                    "Ward-Min-Version must look like <kind>:<id>:<version>, e.g. post:<uuid>:2",
                )
            })?;
        let waits = Waits::from_ref(state);
        let member = waits.member(&parts.headers).await;
        Ok(Self::new(Some(version), &waits, member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_and_nonsense_does_not() {
        let parsed = MinVersion::parse("post:0193a1b2-0000-7000-8000-000000000001:3");
        assert_eq!(
            parsed,
            Some(MinVersion {
                kind: "post".to_owned(),
                id: "0193a1b2-0000-7000-8000-000000000001".to_owned(),
                version: 3
            })
        );
        for bad in [
            "",
            "post",
            "post:x",
            "post:x:0",
            "post:x:-1",
            "post::2",
            ":x:2",
            "post:x y:2",
        ] {
            assert_eq!(MinVersion::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn waits_are_capped_per_member_and_per_process_and_given_back() {
        let turns = Turns::new(3, 2);
        let (alice, bob) = (
            MemberId(uuid::Uuid::new_v4()),
            MemberId(uuid::Uuid::new_v4()),
        );
        let first = turns.take(alice);
        let second = turns.take(alice);
        assert!(first.is_some() && second.is_some());
        assert!(turns.take(alice).is_none(), "alice holds her two places");
        let bobs = turns.take(bob);
        assert!(bobs.is_some());
        assert!(
            turns.take(bob).is_none(),
            "the process holds its three places"
        );
        drop(first);
        assert!(
            turns.take(alice).is_some(),
            "a place given back is taken again"
        );
        drop((second, bobs));
        let remembered = turns.members.lock().map(|m| m.len()).unwrap_or(usize::MAX);
        assert_eq!(
            remembered, 0,
            "no member is remembered once none of their requests waits"
        );
    }
}
