//! Keyset pagination cursors: the sort key of the last item of a page, encoded so clients
//! treat it as opaque (and cannot page by anything but the index).
//!
//! Opaque is not tamper-proof: a client can decode a cursor, change it and send it back. So
//! whatever a cursor carries is checked like any input before it reaches a database — times
//! through [`Time`], which takes only the years the read models can store.

use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Datelike, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use ward_platform::http::ApiError;

/// Longest cursor accepted.
const MAX_LEN: usize = 200;

/// Encodes `key`, the sort key of a page's last item (a tuple or struct).
pub fn encode<K: Serialize>(key: &K) -> String {
    // Serialising plain values cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// The key a client sent back as `cursor`, if it sent one; 400 `cursor_invalid` if it is
/// not one this API gave out for this listing.
pub fn decode<K: DeserializeOwned>(text: Option<&str>) -> Result<Option<K>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let key = (text.len() <= MAX_LEN)
        .then(|| URL_SAFE_NO_PAD.decode(text).ok())
        .flatten()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    key.map(Some).ok_or_else(invalid)
}

/// 400 `cursor_invalid`: the cursor is not one this API gave out for this listing.
pub fn invalid() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "cursor_invalid",
        "the cursor is not one this API gave out",
    )
}

/// A time in a cursor. Only years 1000 to 9999 decode — the range of MariaDB's `DATETIME`,
/// and well inside PostgreSQL's — so a tampered time is a 400 `cursor_invalid` like any
/// other foreign cursor, never a database error. It binds to queries as the time itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(try_from = "DateTime<Utc>", into = "DateTime<Utc>")]
#[sqlx(transparent)]
pub struct Time(DateTime<Utc>);

impl TryFrom<DateTime<Utc>> for Time {
    type Error = &'static str;

    fn try_from(time: DateTime<Utc>) -> Result<Self, Self::Error> {
        if (1000..=9999).contains(&time.year()) {
            Ok(Self(time))
        } else {
            Err("a cursor's time lies outside the years 1000 to 9999")
        }
    }
}

impl From<Time> for DateTime<Utc> {
    fn from(time: Time) -> Self {
        time.0
    }
}

/// Checks a `limit` parameter (default 20, at most 100): 422 `limit_out_of_range`.
pub fn limit(requested: Option<i64>) -> Result<i64, ApiError> {
    const DEFAULT: i64 = 20;
    const MAX: i64 = 100;
    let limit = requested.unwrap_or(DEFAULT);
    if (1..=MAX).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid(
            "limit_out_of_range",
            format!("limit must be between 1 and {MAX}"),
        ))
    }
}

/// Cuts `items` (fetched with `limit + 1`) to `limit` and gives the cursor of the next page,
/// made from the last item kept, if there is one.
pub fn page<T, K: Serialize>(
    mut items: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() <= limit {
        return (items, None);
    }
    items.truncate(limit);
    let next = items.last().map(|last| encode(&key(last)));
    (items, next)
}

/// Position after an item in "newest first" order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The item's creation time.
    #[serde(rename = "t")]
    pub created_at: DateTime<Utc>,
    /// The item's id, which breaks ties between equal times.
    #[serde(rename = "i")]
    pub id: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_the_round_trip() -> Result<(), ApiError> {
        let key = (Utc::now(), Uuid::new_v4());
        assert_eq!(decode(Some(&encode(&key)))?, Some(key));
        assert_eq!(decode::<(f64, Uuid)>(None)?, None);
        Ok(())
    }

    #[test]
    fn anything_else_is_not_a_cursor() {
        assert!(decode::<Cursor>(Some("not-a-cursor")).is_err());
        assert!(decode::<Cursor>(Some(&URL_SAFE_NO_PAD.encode(b"{\"t\":1}"))).is_err());
        assert!(decode::<Cursor>(Some(&"a".repeat(500))).is_err());
    }

    #[test]
    fn times_outside_the_storable_years_are_not_cursors() -> Result<(), ApiError> {
        let now = Utc::now();
        let key = (now, Uuid::nil());
        let decoded: Option<(Time, Uuid)> = decode(Some(&encode(&key)))?;
        assert_eq!(decoded.map(|(t, _)| DateTime::<Utc>::from(t)), Some(now));
        for time in [
            "+99999-01-01T00:00:00Z",
            "-0001-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "0999-12-31T23:59:59Z",
            "+10000-01-01T00:00:00Z",
            "0000-00-00T00:00:00Z",
        ] {
            let tampered = URL_SAFE_NO_PAD.encode(format!("[\"{time}\",\"{}\"]", Uuid::nil()));
            let refused = decode::<(Time, Uuid)>(Some(&tampered)).err();
            assert_eq!(
                refused.map(|e| e.code().to_owned()).as_deref(),
                Some("cursor_invalid"),
                "{time}"
            );
        }
        Ok(())
    }

    #[test]
    fn pages_cut_at_the_limit_and_point_past_the_last_item() -> Result<(), ApiError> {
        let (items, next) = page(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(items, vec![1, 2]);
        assert_eq!(decode::<i32>(next.as_deref())?, Some(2));
        assert_eq!(page(vec![1, 2], 2, |n| *n), (vec![1, 2], None));
        Ok(())
    }
}
