//! Opening sealed texts: projections read the write side's content keys (a read-only role on
//! the event store in production) and decrypt what members wrote. A destroyed key means the
//! text is erased, for the live projection and for every replay.

use std::collections::{HashMap, HashSet};

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

/// The content keys a batch needs, read in one query before it is applied: the board's
/// events are mostly comments, each with a key of its own, and one round trip per key
/// bounded how fast a read model could be built.
#[derive(Default)]
pub struct KeyRing {
    asked: HashSet<(&'static str, Uuid)>,
    found: HashMap<(&'static str, Uuid), ContentKey>,
}

impl KeyRing {
    /// Reads the keys of `items` (kind, id) that still exist.
    pub async fn fetch(
        keys: &ContentKeys,
        items: Vec<(&'static str, Uuid)>,
    ) -> anyhow::Result<Self> {
        let asked: HashSet<(&'static str, Uuid)> = items.into_iter().collect();
        if asked.is_empty() {
            return Ok(Self::default());
        }
        let (kinds, ids): (Vec<&str>, Vec<String>) = asked
            .iter()
            .map(|(kind, id)| (*kind, id.to_string()))
            .unzip();
        let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT k.item_type, k.item_id, k.key FROM content_keys k \
             JOIN UNNEST($1::text[], $2::text[]) AS w(item_type, item_id) \
             ON k.item_type = w.item_type AND k.item_id = w.item_id",
        )
        .bind(&kinds)
        .bind(&ids)
        .fetch_all(&keys.0)
        .await
        .context("reading a batch's content keys")?;
        let mut found = HashMap::new();
        for (kind, id, key) in rows {
            let kind = asked.iter().map(|(k, _)| *k).find(|k| *k == kind);
            if let (Some(kind), Ok(id), Some(key)) =
                (kind, Uuid::parse_str(&id), ContentKey::from_bytes(&key))
            {
                found.insert((kind, id), key);
            }
        }
        Ok(Self { asked, found })
    }

    /// The key of `kind`/`id`: from the batch's read if it was asked for, else read now.
    pub async fn get(
        &self,
        keys: &ContentKeys,
        kind: &'static str,
        id: Uuid,
    ) -> anyhow::Result<Option<ContentKey>> {
        if self.asked.contains(&(kind, id)) {
            return Ok(self.found.get(&(kind, id)).cloned());
        }
        keys.get(kind, id).await
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
