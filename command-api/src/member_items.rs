//! Who wrote what, kept on the command side only, sealed, and readable only with the
//! member's id — which only the member's own session brings (ADR 0014): the private member
//! -> items index (`member_index`), so that withdrawal can destroy the content keys of
//! everything the member wrote, the member's own pages can list their items and a strike
//! against one of their items can find them at their next command.
//!
//! The index has no owner column (ADR 0012): a member's n-th entry sits at the slot
//! `author_ref("index-slot", n, member)`, so every row's key is unrelated to every other
//! row's without the author key and the member id. An entry is written in the same
//! statement as its item's content key, and a copy of the database can join the two (on
//! `xmin`, `ctid` or insertion order), but that links an entry to its own item only: no
//! value, system column, order or time groups two entries, hence two items, of one member.
//!
//! No table says who wrote an item: nothing on the server can find an item's author while
//! the author is away.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use ward_domain::author::AuthorKey;
use ward_domain::member::MemberId;
use ward_domain::sealed::ContentKey;
use ward_platform::member_index;

/// The index and the strikes, in the event store database.
#[derive(Clone)]
pub struct MemberItems {
    pool: PgPool,
    key: AuthorKey,
}

/// What [`MemberItems::record`] wrote, to forget if the creation is refused.
#[derive(Debug)]
pub struct Recorded {
    slot: String,
}

/// Strikes against a member's items, found while the member is signed in.
#[derive(Debug)]
pub struct Strikes {
    /// The longest suspension struck, in days.
    pub days: u32,
    /// The struck items (type, id).
    items: Vec<(String, String)>,
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

    /// The first of `member`'s slots that holds no entry.
    async fn free_slot(&self, db: &mut PgConnection, member: MemberId) -> anyhow::Result<String> {
        let mut from = 0;
        loop {
            let slots = member_index::slots(&self.key, member, from);
            let taken: Vec<String> =
                sqlx::query_scalar("SELECT slot FROM member_index WHERE slot = ANY($1)")
                    .bind(&slots)
                    .fetch_all(&mut *db)
                    .await?;
            if let Some(free) = slots.into_iter().find(|slot| !taken.contains(slot)) {
                return Ok(free);
            }
            from += member_index::SLOTS_PER_PROBE;
        }
    }

    /// The member's index entry and, if given, the item's content key: one statement, so
    /// one commit on every create. A retried create keeps the key first stored (and adds a
    /// second entry naming the same item, which is harmless).
    async fn insert(
        &self,
        member: MemberId,
        item_type: &str,
        item_id: Uuid,
        key: Option<&[u8; 32]>,
    ) -> anyhow::Result<(Recorded, Option<Vec<u8>>)> {
        let indexed = member_index::seal(&self.key, member, item_type, item_id);
        let mut db = self.pool.acquire().await?;
        // Another create of the same member may take the free slot first: then take the next.
        loop {
            let slot = self.free_slot(&mut db, member).await?;
            let (stored, entry_written): (Option<Vec<u8>>, bool) = sqlx::query_as(
                "WITH stored_key AS ( \
                     INSERT INTO content_keys (item_type, item_id, key) \
                     SELECT $4, $5, $6 WHERE $6::bytea IS NOT NULL \
                     ON CONFLICT (item_type, item_id) DO UPDATE SET key = content_keys.key \
                     RETURNING key), \
                 entry AS ( \
                     INSERT INTO member_index (slot, nonce, ciphertext) VALUES ($1, $2, $3) \
                     ON CONFLICT (slot) DO NOTHING RETURNING 1) \
                 SELECT (SELECT key FROM stored_key), EXISTS (SELECT 1 FROM entry)",
            )
            .bind(&slot)
            .bind(&indexed.nonce)
            .bind(&indexed.ciphertext)
            .bind(item_type)
            .bind(item_id.to_string())
            .bind(key.map(|k| k.as_slice()))
            .fetch_one(&mut *db)
            .await?;
            if entry_written {
                return Ok((Recorded { slot }, stored));
            }
        }
    }

    /// Forgets the index entry of a creation that was refused.
    pub async fn forget(&self, recorded: Recorded) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM member_index WHERE slot = $1")
            .bind(&recorded.slot)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether `member`'s index names the item already (a claim submitted again).
    pub async fn has(
        &self,
        member: MemberId,
        item_type: &str,
        item_id: Uuid,
    ) -> anyhow::Result<bool> {
        let mut db = self.pool.acquire().await?;
        let entries = member_index::entries(&mut db, &self.key, member, false).await?;
        Ok(entries
            .iter()
            .any(|entry| entry.item_type == item_type && entry.item_id == item_id))
    }

    /// The ids of the affiliation claims `member` made, from the private index.
    pub async fn claims_of(&self, member: MemberId) -> anyhow::Result<Vec<Uuid>> {
        let mut db = self.pool.acquire().await?;
        let mut claims = Vec::new();
        for entry in member_index::entries(&mut db, &self.key, member, false).await? {
            if entry.item_type == "claim" && !claims.contains(&entry.item_id) {
                claims.push(entry.item_id);
            }
        }
        Ok(claims)
    }

    /// Strikes `item_type`/`item_id` for a suspension of `days` (the longest strike on an
    /// item wins); false when no such item is known (never written, or erased).
    pub async fn strike(&self, item_type: &str, item_id: Uuid, days: u32) -> anyhow::Result<bool> {
        let struck: Option<i32> = sqlx::query_scalar(
            "INSERT INTO strikes (item_type, item_id, days) \
             SELECT $1, $2, $3 WHERE EXISTS \
                 (SELECT 1 FROM content_keys WHERE item_type = $1 AND item_id = $2) \
             ON CONFLICT (item_type, item_id) DO UPDATE \
                 SET days = GREATEST(strikes.days, EXCLUDED.days) \
             RETURNING days",
        )
        .bind(item_type)
        .bind(item_id.to_string())
        .bind(i32::try_from(days)?)
        .fetch_optional(&self.pool)
        .await?;
        Ok(struck.is_some())
    }

    /// The strikes against items `member` wrote: the items and the longest suspension.
    /// Every command asks, so the common case — no strike pending anywhere — costs one
    /// round trip, not a read of the member's index.
    pub async fn strikes_against(&self, member: MemberId) -> anyhow::Result<Option<Strikes>> {
        let mut db = self.pool.acquire().await?;
        let pending: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM strikes)")
            .fetch_one(&mut *db)
            .await?;
        if !pending {
            return Ok(None);
        }
        let entries = member_index::entries(&mut db, &self.key, member, false).await?;
        if entries.is_empty() {
            return Ok(None);
        }
        let (types, ids): (Vec<String>, Vec<String>) = entries
            .into_iter()
            .map(|entry| (entry.item_type, entry.item_id.to_string()))
            .unzip();
        let struck: Vec<(String, String, i32)> = sqlx::query_as(
            "SELECT s.item_type, s.item_id, s.days FROM strikes s \
             JOIN unnest($1::text[], $2::text[]) AS mine (item_type, item_id) \
               ON s.item_type = mine.item_type AND s.item_id = mine.item_id",
        )
        .bind(&types)
        .bind(&ids)
        .fetch_all(&mut *db)
        .await?;
        let Some(days) = struck.iter().map(|(_, _, days)| *days).max() else {
            return Ok(None);
        };
        Ok(Some(Strikes {
            days: u32::try_from(days)?,
            items: struck
                .into_iter()
                .map(|(item_type, item_id, _)| (item_type, item_id))
                .collect(),
        }))
    }

    /// Takes away strikes that have been served (their suspension is recorded).
    pub async fn clear(&self, strikes: Strikes) -> anyhow::Result<()> {
        let (types, ids): (Vec<String>, Vec<String>) = strikes.items.into_iter().unzip();
        sqlx::query(
            "DELETE FROM strikes s USING unnest($1::text[], $2::text[]) AS done (item_type, item_id) \
             WHERE s.item_type = done.item_type AND s.item_id = done.item_id",
        )
        .bind(&types)
        .bind(&ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Destroys the content keys of everything `member` wrote, the member's index entries
    /// (claims included) and their sign-in identity link (the row
    /// `identity`, or a first-form row naming the member), in one transaction; returns how
    /// many written items were erased.
    pub async fn erase_all(
        &self,
        member: MemberId,
        identity: Option<&str>,
    ) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let entries = member_index::entries(&mut tx, &self.key, member, true).await?;
        let mut erased = Vec::new();
        for entry in &entries {
            let (item_type, item_id) = (entry.item_type.as_str(), entry.item_id.to_string());
            if item_type == "claim" {
                // The work address that verified the claim may verify someone else now.
                sqlx::query("DELETE FROM verified_emails WHERE claim_id = $1")
                    .bind(&item_id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM content_keys WHERE item_type = $1 AND item_id = $2")
                .bind(item_type)
                .bind(&item_id)
                .execute(&mut *tx)
                .await?;
            // Claims have no texts, hence no content key to destroy; a retried create may
            // have indexed an item twice.
            if item_type != "claim" && !erased.contains(&(item_type, entry.item_id)) {
                erased.push((item_type, entry.item_id));
            }
        }
        let slots: Vec<&str> = entries.iter().map(|e| e.slot.as_str()).collect();
        sqlx::query("DELETE FROM member_index WHERE slot = ANY($1)")
            .bind(&slots)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM identities WHERE member_id = $1 OR identity = $2")
            .bind(member.0)
            .bind(identity)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(erased.len())
    }
}
