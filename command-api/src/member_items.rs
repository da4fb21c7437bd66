//! The private member -> items index: which items a member wrote, readable only with the
//! author key and the member's id, so that withdrawal can destroy their content keys. Nothing
//! else reads it.

use sqlx::PgPool;
use uuid::Uuid;
use ward_domain::author::AuthorKey;
use ward_domain::member::MemberId;
use ward_domain::sealed::Sealed;

/// The index in the event store database.
#[derive(Clone)]
pub struct MemberItems {
    pool: PgPool,
    key: AuthorKey,
}

/// One indexed item: its type (the key table's item type) and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// `post`, `comment` or `review`.
    pub item_type: String,
    /// The item's id.
    pub item_id: Uuid,
}

impl MemberItems {
    /// The index in `pool`, sealed under keys derived from `key`.
    pub fn new(pool: PgPool, key: AuthorKey) -> Self {
        Self { pool, key }
    }

    /// Records that `member` wrote the item; returns the row, to forget it if the creation
    /// is refused.
    pub async fn record(
        &self,
        member: MemberId,
        item_type: &str,
        item_id: Uuid,
    ) -> anyhow::Result<i64> {
        let sealed = self.key.index_key(member).seal(
            "index",
            Uuid::nil(),
            "item",
            &format!("{item_type}:{item_id}"),
        );
        Ok(sqlx::query_scalar(
            "INSERT INTO member_items (owner, nonce, ciphertext) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(self.key.index_owner(member))
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Forgets a row recorded for a creation that was refused.
    pub async fn forget(&self, row: i64) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM member_items WHERE id = $1")
            .bind(row)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Destroys the content keys of everything `member` wrote and the member's index rows, in
    /// one transaction; returns how many items were erased.
    pub async fn erase_all(&self, member: MemberId) -> anyhow::Result<usize> {
        let owner = self.key.index_owner(member);
        let key = self.key.index_key(member);
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT nonce, ciphertext FROM member_items WHERE owner = $1 FOR UPDATE",
        )
        .bind(&owner)
        .fetch_all(&mut *tx)
        .await?;
        let mut erased = 0;
        for (nonce, ciphertext) in rows {
            let item = key.open("index", Uuid::nil(), "item", &Sealed { nonce, ciphertext })?;
            let Some((item_type, item_id)) = item.split_once(':') else {
                anyhow::bail!("a member index row does not name an item");
            };
            sqlx::query("DELETE FROM content_keys WHERE item_type = $1 AND item_id = $2")
                .bind(item_type)
                .bind(item_id)
                .execute(&mut *tx)
                .await?;
            erased += 1;
        }
        sqlx::query("DELETE FROM member_items WHERE owner = $1")
            .bind(&owner)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(erased)
    }
}
