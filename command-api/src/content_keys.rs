//! The write-side table of per-item content keys. Creating an item stores its key first
//! ([`crate::member_items::MemberItems::record_new`], with the item's author); deleting an
//! item destroys the key (a trigger on `events`, in the deleting transaction).

use sqlx::PgPool;
use uuid::Uuid;
use ward_domain::sealed::ContentKey;

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
