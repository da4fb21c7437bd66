//! The write-side table of per-item content keys. Creating an item stores its key first;
//! deleting an item destroys the key (a trigger on `events`, in the deleting transaction).

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use ward_domain::sealed::ContentKey;

/// Makes and stores the key of a new item, or returns the key it already has (a retried
/// create addresses the same item); in the caller's transaction, which records the item's
/// author too ([`crate::member_items::MemberItems::record_new`]).
pub async fn create(
    connection: &mut PgConnection,
    item_type: &str,
    item: Uuid,
) -> anyhow::Result<ContentKey> {
    let stored: Vec<u8> = sqlx::query_scalar(
        "INSERT INTO content_keys (item_type, item_id, key) VALUES ($1, $2, $3) \
         ON CONFLICT (item_type, item_id) DO UPDATE SET key = content_keys.key RETURNING key",
    )
    .bind(item_type)
    .bind(item.to_string())
    .bind(ContentKey::generate().as_bytes().as_slice())
    .fetch_one(connection)
    .await?;
    ContentKey::from_bytes(&stored)
        .ok_or_else(|| anyhow::anyhow!("a stored content key is not 32 bytes"))
}

/// Content keys in the event store database.
#[derive(Clone)]
pub struct ContentKeys {
    pool: PgPool,
}

impl ContentKeys {
    /// Keys in `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The key of an existing item; `None` once the item was deleted (or never existed), in
    /// which case a fresh, unstored key is returned so the command can run and be refused by
    /// its aggregate.
    pub async fn existing(&self, item_type: &str, item: Uuid) -> anyhow::Result<ContentKey> {
        let stored: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT key FROM content_keys WHERE item_type = $1 AND item_id = $2",
        )
        .bind(item_type)
        .bind(item.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(stored
            .and_then(|bytes| ContentKey::from_bytes(&bytes))
            .unwrap_or_else(ContentKey::generate))
    }

    /// Removes the key of an item whose creation was refused, so no orphan key stays.
    pub async fn discard(&self, item_type: &str, item: Uuid) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM content_keys WHERE item_type = $1 AND item_id = $2")
            .bind(item_type)
            .bind(item.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
