//! Opening sealed texts: projections read the write side's content keys (a read-only role on
//! the event store in production) and decrypt what members wrote. A destroyed key means the
//! text is erased, for the live projection and for every replay.

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;
use ward_domain::sealed::{ContentKey, EventText};

/// The content keys in the event store.
#[derive(Clone)]
pub struct ContentKeys(PgPool);

/// A sealed text after trying to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// The text.
    Text(String),
    /// Its key is gone (deleted item, withdrawn author): erased.
    Erased,
    /// A key exists but does not open it: the record is corrupt, or the text was sealed with
    /// an earlier key of the same item (a review re-written after deletion), i.e. erased too.
    Unreadable,
}

impl ContentKeys {
    /// Keys read from the event store `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }

    /// The key of item `kind`/`id`, unless it was destroyed.
    pub async fn get(&self, kind: &str, id: Uuid) -> anyhow::Result<Option<ContentKey>> {
        let stored: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT key FROM content_keys WHERE item_type = $1 AND item_id = $2",
        )
        .bind(kind)
        .bind(id.to_string())
        .fetch_optional(&self.0)
        .await
        .context("reading a content key")?;
        Ok(stored.and_then(|bytes| ContentKey::from_bytes(&bytes)))
    }

    /// Which of the items `kind`/`ids` still have a key.
    pub async fn present(&self, kind: &str, ids: &[Uuid]) -> anyhow::Result<Vec<Uuid>> {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let present: Vec<String> = sqlx::query_scalar(
            "SELECT item_id FROM content_keys WHERE item_type = $1 AND item_id = ANY($2)",
        )
        .bind(kind)
        .bind(&ids)
        .fetch_all(&self.0)
        .await
        .context("checking content keys")?;
        Ok(present
            .iter()
            .filter_map(|id| Uuid::parse_str(id).ok())
            .collect())
    }
}

/// Opens `field` of item `kind`/`id` with `key`.
pub fn open(
    key: Option<&ContentKey>,
    kind: &str,
    id: Uuid,
    field: &str,
    text: &EventText,
) -> Opened {
    match (text, key) {
        (EventText::Legacy(text), _) => Opened::Text(text.clone()),
        (EventText::Sealed(_), None) => Opened::Erased,
        (EventText::Sealed(sealed), Some(key)) => match key.open(kind, id, field, sealed) {
            Ok(text) => Opened::Text(text),
            Err(_) => Opened::Unreadable,
        },
    }
}
