//! Keyset pagination cursors: the sort key of the last item of a page, encoded so clients
//! treat it as opaque (and cannot page by anything but the index).

use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
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
    key.map(Some).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "cursor_invalid",
            "the cursor is not one this API gave out",
        )
    })
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
    fn pages_cut_at_the_limit_and_point_past_the_last_item() -> Result<(), ApiError> {
        let (items, next) = page(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(items, vec![1, 2]);
        assert_eq!(decode::<i32>(next.as_deref())?, Some(2));
        assert_eq!(page(vec![1, 2], 2, |n| *n), (vec![1, 2], None));
        Ok(())
    }
}
