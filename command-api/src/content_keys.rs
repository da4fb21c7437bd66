//! The write-side table of per-item content keys. Creating an item stores its key first;
//! deleting an item destroys the key (a trigger on `events`, in the deleting transaction).

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

    /// Makes and stores the key of a new item.
    pub async fn create(&self, item_type: &str, item: Uuid) -> anyhow::Result<ContentKey> {
        let key = ContentKey::generate();
        sqlx::query("INSERT INTO content_keys (item_type, item_id, key) VALUES ($1, $2, $3)")
            .bind(item_type)
            .bind(item.to_string())
            .bind(key.as_bytes().as_slice())
            .execute(&self.pool)
            .await?;
        Ok(key)
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
