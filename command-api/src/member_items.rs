//! Who wrote what, kept on the command side only and sealed:
//! - the private member -> items index, readable only with the author key and the member's
//!   id, so that withdrawal can destroy the content keys of everything the member wrote;
//! - the item -> author table, so that a moderator can suspend "the author of this item"
//!   without learning who it is, and so that the member projector (which holds the author
//!   key; ADR 0006) can file an item under its author's own activity and notifications.
//!
//! Nothing else reads them.

use sqlx::PgPool;
use uuid::Uuid;
use ward_domain::author::AuthorKey;
use ward_domain::member::MemberId;
use ward_domain::sealed::{ContentKey, Sealed};

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
        let (recorded, _) = self.insert(member, item_type, item_id, None).await?;
        Ok(recorded)
    }

    /// Stores the content key of a new item that `member` writes (`post`, `comment`,
    /// `review`) and records its author. A retried create addresses the same item, so it
    /// gets the key already stored.
    pub async fn record_new(
        &self,
        member: MemberId,
        item_type: &str,
        item_id: Uuid,
    ) -> anyhow::Result<(ContentKey, Recorded)> {
        let generated = ContentKey::generate();
        let (recorded, stored) = self
            .insert(member, item_type, item_id, Some(generated.as_bytes()))
            .await?;
        let key = stored
            .as_deref()
            .and_then(ContentKey::from_bytes)
            .ok_or_else(|| anyhow::anyhow!("no 32-byte content key was stored"))?;
        Ok((key, recorded))
    }

    /// The member's index entry, the item's author and, if given, its content key: one
    /// statement, so one round trip and one commit on every create. A retried create keeps
    /// the key and the author first stored.
    async fn insert(
        &self,
        member: MemberId,
        item_type: &str,
        item_id: Uuid,
        key: Option<&[u8; 32]>,
    ) -> anyhow::Result<(Recorded, Option<Vec<u8>>)> {
        let item = format!("{item_type}:{item_id}");
        let indexed = self
            .key
            .index_key(member)
            .seal("index", Uuid::nil(), "item", &item);
        let author =
            self.key
                .item_author_key()
                .seal(item_type, item_id, "author", &member.to_string());
        let (row, stored): (i64, Option<Vec<u8>>) = sqlx::query_as(
            "WITH stored_key AS ( \
                 INSERT INTO content_keys (item_type, item_id, key) \
                 SELECT $4, $5, $8 WHERE $8::bytea IS NOT NULL \
                 ON CONFLICT (item_type, item_id) DO UPDATE SET key = content_keys.key \
                 RETURNING key), \
             author AS ( \
                 INSERT INTO item_authors (item_type, item_id, nonce, ciphertext) \
                 VALUES ($4, $5, $6, $7) ON CONFLICT (item_type, item_id) DO NOTHING), \
             item AS ( \
                 INSERT INTO member_items (owner, nonce, ciphertext) VALUES ($1, $2, $3) \
                 RETURNING id) \
             SELECT item.id, (SELECT key FROM stored_key) FROM item",
        )
        .bind(self.key.index_owner(member))
        .bind(&indexed.nonce)
        .bind(&indexed.ciphertext)
        .bind(item_type)
        .bind(item_id.to_string())
        .bind(&author.nonce)
        .bind(&author.ciphertext)
        .bind(key.map(|k| k.as_slice()))
        .fetch_one(&self.pool)
        .await?;
        Ok((
            Recorded {
                row,
                item_type: item_type.to_owned(),
                item_id,
            },
            stored,
        ))
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
