//! Who wrote what, kept on the command side only and sealed:
//! - the private member -> items index, readable only with the author key and the member's
//!   id, so that withdrawal can destroy the content keys of everything the member wrote;
//! - the item -> author table, so that a moderator can suspend "the author of this item"
//!   without learning who it is, and so that the member projector (which holds the author
//!   key; ADR 0006) can file an item under its author's own activity and notifications.
//!
//! Nothing else reads them.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use ward_domain::author::AuthorKey;
use ward_domain::member::MemberId;
use ward_domain::sealed::{ContentKey, Sealed};

use crate::content_keys;

/// Both tables, in the event store database.
#[derive(Clone)]
pub struct MemberItems {
    pool: PgPool,
    key: AuthorKey,
}

/// What [`MemberItems::record`] wrote, to forget if the creation is refused.
#[derive(Debug)]
pub struct Recorded {
    row: i64,
    item_type: String,
    item_id: Uuid,
}

impl MemberItems {
    /// The tables in `pool`, sealed under keys derived from `key`.
    pub fn new(pool: PgPool, key: AuthorKey) -> Self {
        Self { pool, key }
    }

    /// Records that `member` made the item (a claim), in both tables.
    pub async fn record(
        &self,
        member: MemberId,
        item_type: &str,
        item_id: Uuid,
    ) -> anyhow::Result<Recorded> {
        let mut tx = self.pool.begin().await?;
        let recorded = self.record_in(&mut tx, member, item_type, item_id).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    /// Stores the content key of a new item that `member` writes (`post`, `comment`,
    /// `review`) and records its author, in one transaction: one commit instead of two on
    /// every create.
    pub async fn record_new(
        &self,
        member: MemberId,
        item_type: &str,
        item_id: Uuid,
    ) -> anyhow::Result<(ContentKey, Recorded)> {
        let mut tx = self.pool.begin().await?;
        let key = content_keys::create(&mut tx, item_type, item_id).await?;
        let recorded = self.record_in(&mut tx, member, item_type, item_id).await?;
        tx.commit().await?;
        Ok((key, recorded))
    }

    async fn record_in(
        &self,
        connection: &mut PgConnection,
        member: MemberId,
        item_type: &str,
        item_id: Uuid,
    ) -> anyhow::Result<Recorded> {
        let item = format!("{item_type}:{item_id}");
        let indexed = self
            .key
            .index_key(member)
            .seal("index", Uuid::nil(), "item", &item);
        let author =
            self.key
                .item_author_key()
                .seal(item_type, item_id, "author", &member.to_string());
        let row: i64 = sqlx::query_scalar(
            "INSERT INTO member_items (owner, nonce, ciphertext) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(self.key.index_owner(member))
        .bind(&indexed.nonce)
        .bind(&indexed.ciphertext)
        .fetch_one(&mut *connection)
        .await?;
        // A retried create records the same item again: its author stays as first recorded.
        sqlx::query(
            "INSERT INTO item_authors (item_type, item_id, nonce, ciphertext) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (item_type, item_id) DO NOTHING",
        )
        .bind(item_type)
        .bind(item_id.to_string())
        .bind(&author.nonce)
        .bind(&author.ciphertext)
        .execute(&mut *connection)
        .await?;
        Ok(Recorded {
            row,
            item_type: item_type.to_owned(),
            item_id,
        })
    }

    /// Forgets what was recorded for a creation that was refused.
    pub async fn forget(&self, recorded: Recorded) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM member_items WHERE id = $1")
            .bind(recorded.row)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM item_authors WHERE item_type = $1 AND item_id = $2")
            .bind(&recorded.item_type)
            .bind(recorded.item_id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The member who wrote the item, if it is known.
    pub async fn author_of(
        &self,
        item_type: &str,
        item_id: Uuid,
    ) -> anyhow::Result<Option<MemberId>> {
        let sealed: Option<(String, String)> = sqlx::query_as(
            "SELECT nonce, ciphertext FROM item_authors WHERE item_type = $1 AND item_id = $2",
        )
        .bind(item_type)
        .bind(item_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some((nonce, ciphertext)) = sealed else {
            return Ok(None);
        };
        let sealed = Sealed { nonce, ciphertext };
        let member = self
            .key
            .item_author_key()
            .open(item_type, item_id, "author", &sealed)?;
        Ok(Some(MemberId(Uuid::parse_str(&member)?)))
    }

    /// Destroys the content keys of everything `member` wrote, the member's rows in both
    /// tables (claims included) and their sign-in identity link, in one transaction; returns
    /// how many written items were erased.
    /// The ids of the affiliation claims `member` made, from the private index.
    pub async fn claims_of(&self, member: MemberId) -> anyhow::Result<Vec<Uuid>> {
        let key = self.key.index_key(member);
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT nonce, ciphertext FROM member_items WHERE owner = $1")
                .bind(self.key.index_owner(member))
                .fetch_all(&self.pool)
                .await?;
        let mut claims = Vec::new();
        for (nonce, ciphertext) in rows {
            let item = key.open("index", Uuid::nil(), "item", &Sealed { nonce, ciphertext })?;
            if let Some(("claim", id)) = item.split_once(':') {
                claims.push(Uuid::parse_str(id)?);
            }
        }
        Ok(claims)
    }

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
            if item_type == "claim" {
                // The work address that verified the claim may verify someone else now.
                sqlx::query("DELETE FROM verified_emails WHERE claim_id = $1")
                    .bind(item_id)
                    .execute(&mut *tx)
                    .await?;
            }
            for table in ["content_keys", "item_authors"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE item_type = $1 AND item_id = $2"
                ))
                .bind(item_type)
                .bind(item_id)
                .execute(&mut *tx)
                .await?;
            }
            // Claims have no texts, hence no content key to destroy.
            if item_type != "claim" {
                erased += 1;
            }
        }
        sqlx::query("DELETE FROM member_items WHERE owner = $1")
            .bind(&owner)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM identities WHERE member_id = $1")
            .bind(member.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(erased)
    }
}
