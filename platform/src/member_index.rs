//! Reading the private member -> items index (`member_index`, in the event store; ADR 0012):
//! a member's n-th entry sits at the slot `author_ref("index-slot", n, member)` and names
//! one item (`type:id`), sealed under the member's index key. Only a caller that knows the
//! member id — the member's own session — can find or open their entries.
//!
//! The command API writes the index (`command-api/src/member_items.rs`); the query API reads
//! it to list a member's own items (ADR 0014).

use sqlx::PgConnection;
use uuid::Uuid;
use ward_domain::author::AuthorKey;
use ward_domain::member::MemberId;
use ward_domain::sealed::Sealed;

/// Slots asked for in one round trip. Entries are contiguous but for the few holes that
/// refused creations leave (each refilled by the member's next entry), so a probe that finds
/// none of its slots taken has found the end.
pub const SLOTS_PER_PROBE: u64 = 64;

/// One entry of a member's index: its slot and the item it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's slot (its primary key).
    pub slot: String,
    /// `post`, `comment`, `review` or `claim`.
    pub item_type: String,
    /// The item's id.
    pub item_id: Uuid,
}

/// The slot of `member`'s `n`-th index entry.
pub fn slot(key: &AuthorKey, member: MemberId, n: u64) -> String {
    key.author_ref("index-slot", Uuid::from_u128(n.into()), member)
        .0
}

/// `member`'s slots from `from` on, one probe's worth.
pub fn slots(key: &AuthorKey, member: MemberId, from: u64) -> Vec<String> {
    (from..from + SLOTS_PER_PROBE)
        .map(|n| slot(key, member, n))
        .collect()
}

/// `item_type:item_id` sealed as an entry of `member`'s index.
pub fn seal(key: &AuthorKey, member: MemberId, item_type: &str, item_id: Uuid) -> Sealed {
    key.index_key(member).seal(
        "index",
        Uuid::nil(),
        "item",
        &format!("{item_type}:{item_id}"),
    )
}

/// Every entry of `member`'s index; `FOR UPDATE` when `lock`.
pub async fn entries(
    db: &mut PgConnection,
    key: &AuthorKey,
    member: MemberId,
    lock: bool,
) -> anyhow::Result<Vec<Entry>> {
    let index_key = key.index_key(member);
    let sql = if lock {
        "SELECT slot, nonce, ciphertext FROM member_index WHERE slot = ANY($1) FOR UPDATE"
    } else {
        "SELECT slot, nonce, ciphertext FROM member_index WHERE slot = ANY($1)"
    };
    let mut entries = Vec::new();
    let mut from = 0;
    loop {
        let rows: Vec<(String, String, String)> = sqlx::query_as(sql)
            .bind(slots(key, member, from))
            .fetch_all(&mut *db)
            .await?;
        if rows.is_empty() {
            return Ok(entries);
        }
        for (slot, nonce, ciphertext) in rows {
            let item =
                index_key.open("index", Uuid::nil(), "item", &Sealed { nonce, ciphertext })?;
            let Some((item_type, item_id)) = item.split_once(':') else {
                anyhow::bail!("a member index entry does not name an item");
            };
            entries.push(Entry {
                slot,
                item_type: item_type.to_owned(),
                item_id: Uuid::parse_str(item_id)?,
            });
        }
        from += SLOTS_PER_PROBE;
    }
}
