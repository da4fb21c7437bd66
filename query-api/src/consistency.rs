//! Read-your-writes. The command API answers every command with the aggregate's new version;
//! a client that wants to see its own write sends `Ward-Min-Version: <kind>:<id>:<version>`
//! (e.g. `post:0193…:3`). The query API waits up to [`WAIT`] for the read model to reach that
//! version, then answers either way and says which in the `Ward-Consistency` header
//! (`consistent` or `stale`).

use std::future::Future;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use ward_platform::http::ApiError;

/// The request header naming the version a client needs.
pub const MIN_VERSION: &str = "ward-min-version";
/// How long a request waits for the read model at most.
pub const WAIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(10);

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

    /// Waits until `current()` (the read model's version of the aggregate, `None` while it
    /// has none) reaches this version, for [`WAIT`] at most.
    async fn wait<F, Fut>(&self, mut current: F) -> Result<Freshness, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<i64>, ApiError>>,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if current().await?.is_some_and(|v| v >= self.version) {
                return Ok(Freshness::Consistent);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Freshness::Stale);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Whether an answer reflects what the client asked to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The client asked for nothing in particular.
    Any,
    /// The read model had reached the requested version.
    Consistent,
    /// The read model had not reached it within [`WAIT`].
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

impl Wanted {
    /// Waits until `current(id)` (the read model's version of aggregate `id`) reaches the
    /// requested version, if the request names one. `service` can wait only for `kinds`:
    /// another kind is a 400 `min_version_kind_unknown`; an id that is not a UUID names
    /// nothing the read model will ever hold, so the answer is stale at once.
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
        let Some(wanted) = self.0 else {
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
        wanted.wait(|| current(id)).await
    }
}

/// The optional `Ward-Min-Version` header; a malformed one is a 400.
#[derive(Debug, Clone)]
pub struct Wanted(pub Option<MinVersion>);

impl<S: Send + Sync> FromRequestParts<S> for Wanted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(MIN_VERSION) else {
            return Ok(Self(None));
        };
        value
            .to_str()
            .ok()
            .and_then(MinVersion::parse)
            .map(|v| Self(Some(v)))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "min_version_invalid",
                    "Ward-Min-Version must look like <kind>:<id>:<version>, e.g. post:<uuid>:2",
                )
            })
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
}
