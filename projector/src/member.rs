//! The member read model in MariaDB (MySQL 8 in production): every post, comment, review and
//! claim, and the notifications addressed to each item's author, for the query API to serve a
//! signed-in member's own activity, affiliations and notifications. Documented in
//! `docs/read-models/member.md`; the design is ADR 0006, revised by ADR 0014.
//!
//! **This projection never learns who wrote anything** (ADR 0014, "pull, not push"). It keeps
//! one row per item ([`item_key`]) and files a notification under the item whose author it is
//! addressed to; the query API finds a member's items in the write side's private member index
//! with the member id of the member's own session, and fetches those items' rows. Who is
//! notified, and who is not (nobody is told of their own action), is decided from the events
//! and the items' own rows: thread handles are per member and thread, so a reply whose handle
//! equals its parent's is the member answering themselves, and `original_poster` is the
//! post's author.
//!
//! Nothing in the clear links two items, or can be matched against the public board or the
//! log: rows are found by keyed hashes of item ids, and everything else — kinds, states and
//! times included — is sealed under [`AuthorKey::item_key`], which is derived from no member,
//! and padded to one length ([`PAD_TO`]). No column counts insertions, no column names an
//! owner. The query API opens a member's rows and sorts them in memory.
//!
//! Idempotence: `aggregate_versions` remembers the last sequence applied per post, review
//! and claim aggregate, and an event at or below it is skipped; notifications are also
//! unique per (event, item); `notification_reads` keeps the greatest mark. Only
//! `aggregate_versions`, keyed by a hash of the aggregate, holds a sequence: in an item's row
//! one would name the item, joined with the public log's per-aggregate event counts.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{MySql, MySqlPool, Transaction};
use uuid::Uuid;
use ward_domain::affiliation::ClaimEvent;
use ward_domain::author::AuthorKey;
use ward_domain::member::{MemberEvent, MemberId};
use ward_domain::post::{Board, Handle, PostEvent};
use ward_domain::review::ReviewEvent;
use ward_domain::sealed::{ContentKey, Sealed};
use ward_platform::kafka::Envelope;

use crate::consumer::{Projection, Record, StoredOffset};
use crate::store::{self, Rejects, Verdict};

/// The member read model's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/member");

/// The aggregate types whose topics this projection reads.
pub const AGGREGATE_TYPES: &[&str] = &["post", "review", "affiliation", "member"];

/// The label of an item's key ([`entry_key`], `items.item_key`).
pub const ENTRY_SEAL: &str = "member-entry";
/// The associated-data kind of a sealed item payload (field: the item key).
pub const ITEM_SEAL: &str = "member-item";
/// The associated-data kind of a sealed notification payload (field: the item key and the
/// dedupe key, [`notification_field`]).
pub const NOTIFICATION_SEAL: &str = "member-notification";
/// The label of a notification's dedupe key.
const NOTIFICATION_KEY: &str = "member-item-notification";
/// The label of the key that seals read marks, and their associated-data kind (field: the
/// owner). `NotificationsRead` names only the member's pseudonym.
pub use ward_domain::author::READ_MARK_SEAL;

/// Sealed payloads are padded with spaces to a multiple of this many bytes, so that their
/// lengths do not tell a post from a comment, a review or a claim (every payload Ward writes
/// is far shorter: ids, enum names and two times).
pub const PAD_TO: usize = 512;

/// Notifications kept per item: past `KEEP_NOTIFICATIONS + 100`, the oldest are dropped
/// down to `KEEP_NOTIFICATIONS`, so that the query API, which opens them all, stays bounded.
pub const KEEP_NOTIFICATIONS: usize = 1000;

/// The opaque key of an item's row: `author_ref("member-entry", item, nil)`.
pub fn entry_key(key: &AuthorKey, item: Uuid) -> String {
    key.author_ref(ENTRY_SEAL, item, MemberId(Uuid::nil())).0
}

/// The opaque key of a post, review or claim aggregate in `aggregate_versions`.
pub fn aggregate_key(key: &AuthorKey, aggregate: Uuid) -> String {
    key.author_ref("member-aggregate", aggregate, MemberId(Uuid::nil()))
        .0
}

/// The dedupe key of the notification `event` causes for the author of `item`: a keyed hash
/// of the two (the item id takes the place of the member id in the reference: a notification
/// is addressed to an item's author, whom this projection does not know).
pub fn notification_key(key: &AuthorKey, event: Uuid, item: Uuid) -> String {
    key.author_ref(NOTIFICATION_KEY, event, MemberId(item)).0
}

/// What a notification's payload is bound to: the item it is filed under and its dedupe key,
/// so that a row moved to another item, or a payload to another row, does not open.
pub fn notification_field(item_key: &str, dedupe_key: &str) -> String {
    format!("{item_key}/{dedupe_key}")
}

/// `payload` as JSON, padded with trailing spaces (which JSON ignores) to a multiple of
/// [`PAD_TO`] bytes.
fn padded(payload: &impl Serialize) -> anyhow::Result<String> {
    let mut json = serde_json::to_string(payload)?;
    let len = json.len().div_ceil(PAD_TO).max(1) * PAD_TO;
    json.extend(std::iter::repeat_n(' ', len - json.len()));
    Ok(json)
}

type Tx<'c> = Transaction<'c, MySql>;

/// Builds `items`, `item_notifications` and `notification_reads` from the post, review,
/// affiliation and member topics.
pub struct MemberProjection {
    pool: MySqlPool,
    key: AuthorKey,
}

impl MemberProjection {
    /// A projection writing to `pool`, keying and sealing rows with keys derived from the
    /// author key `key`. It reads nothing of the write side.
    pub fn new(pool: MySqlPool, key: AuthorKey) -> Self {
        Self { pool, key }
    }
}

impl Projection for MemberProjection {
    fn name(&self) -> &'static str {
        "member"
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        AGGREGATE_TYPES
    }

    async fn stored_offsets(&self, group: &str) -> anyhow::Result<Vec<StoredOffset>> {
        store::mysql::stored_offsets(&self.pool, group).await
    }

    #[tracing::instrument(skip_all, fields(group, records = batch.len()))]
    async fn apply(&self, group: &str, batch: &[Record]) -> anyhow::Result<()> {
        let mut apply = Apply {
            tx: self.pool.begin().await?,
            key: &self.key,
            item_key: self.key.item_key(),
        };
        let mut rejects = Rejects::default();
        for record in batch {
            match store::envelope(record) {
                Ok(envelope) => rejects.check(record, apply.event(envelope).await?),
                Err(reason) => rejects.push(record, reason),
            }
        }
        store::mysql::finish(&mut apply.tx, group, batch, &rejects).await?;
        apply
            .tx
            .commit()
            .await
            .context("committing a member batch")?;
        Ok(())
    }
}

/// What an item's sealed payload says (JSON; absent fields are left out).
#[derive(Debug, Default, Serialize, Deserialize)]
struct ItemPayload {
    /// `post`, `comment`, `review` or `claim`.
    kind: String,
    /// Items: `published` or `deleted`. Claims: `open`, `verified`, `rejected`, `expired`,
    /// `revoked`.
    state: String,
    /// Written (claims: last submitted), UTC, rounded down to the minute.
    created_at: DateTime<Utc>,
    /// Last state change (claims: the decision), UTC, rounded down to the minute.
    updated_at: DateTime<Utc>,
    /// The post, comment, review or claim.
    item_id: Uuid,
    /// A comment's post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    post_id: Option<Uuid>,
    /// A post's board.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    board: Option<String>,
    /// A review's or claim's hospital.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hospital_id: Option<Uuid>,
    /// A claim's job category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    job_category: Option<String>,
    /// A claim's tenure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenure: Option<String>,
    /// How a verified claim was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    /// Why a rejected claim was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// How a comment's author appears in its thread (as the board shows it): equal handles
    /// in one thread are one member, `original_poster` is the post's author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    handle: Option<Handle>,
    /// The comment a reply answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<Uuid>,
}

/// What a notification's sealed payload says.
#[derive(Debug, Default, Serialize)]
struct NotificationPayload {
    /// `comment`, `answer`, `reply`, `accepted`, `claim_verified` or `claim_rejected`.
    kind: &'static str,
    /// When it happened, UTC, rounded down to the minute (set by [`Apply::notify`]).
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_id: Option<Uuid>,
    /// The new comment, the reply, or the accepted answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    comment_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claim_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hospital_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// An item to write: its id and payload (kind, state and times are set when written).
struct NewItem {
    item: Uuid,
    kind: &'static str,
    state: &'static str,
    payload: ItemPayload,
}

/// A member's read mark, sealed in `notification_reads`.
#[derive(Debug, Serialize, Deserialize)]
struct ReadMark {
    /// UTC, rounded down to the minute: a notification is read while its time is not later.
    read_up_to: DateTime<Utc>,
}

/// One batch's transaction and what applying an event needs.
struct Apply<'a> {
    tx: Tx<'static>,
    key: &'a AuthorKey,
    /// [`AuthorKey::item_key`]: seals items and notifications.
    item_key: ContentKey,
}

/// Where an event sits: its envelope's id and time (to the minute). Its aggregate sequence
/// is checked once, in `aggregate_versions`, and written nowhere else.
#[derive(Debug, Clone, Copy)]
struct At {
    event_id: Uuid,
    time: DateTime<Utc>,
}

impl Apply<'_> {
    /// Applies one event. The outer error is a database failure (retry the batch); the
    /// inner one an event that can never be applied (reject it and go on). Reasons name no
    /// item and no member.
    async fn event(&mut self, envelope: Envelope) -> anyhow::Result<Verdict> {
        let at = At {
            event_id: envelope.event_id,
            time: to_the_minute(envelope.occurred_at),
        };
        if envelope.aggregate_type == "member" {
            return self.member(&envelope).await;
        }
        let Ok(aggregate) = Uuid::parse_str(&envelope.aggregate_id) else {
            return Ok(Err(format!(
                "a {} aggregate id is not a UUID",
                envelope.aggregate_type
            )));
        };
        if !self.advance(aggregate, envelope.sequence).await? {
            return Ok(Ok(()));
        }
        match envelope.aggregate_type.as_str() {
            "post" => {
                let event = PostEvent::from_fields(
                    &envelope.event_type,
                    &envelope.event_version,
                    envelope.payload,
                );
                match event {
                    Ok(event) => self.post(aggregate, at, event).await,
                    Err(error) => Ok(Err(format!(
                        "{} version {}: {error}",
                        envelope.event_type, envelope.event_version
                    ))),
                }
            }
            "review" => match store::event::<ReviewEvent>(&envelope) {
                Ok(event) => self.review(aggregate, at, event).await,
                Err(reason) => Ok(Err(reason)),
            },
            "affiliation" => match store::event::<ClaimEvent>(&envelope) {
                Ok(event) => self.claim(aggregate, at, event).await,
                Err(reason) => Ok(Err(reason)),
            },
            other => Ok(Err(format!("aggregate type {other:?} is not projected"))),
        }
    }

    /// Moves the aggregate's applied sequence to `sequence`; false when the event was
    /// applied already.
    async fn advance(&mut self, aggregate: Uuid, sequence: i64) -> anyhow::Result<bool> {
        let key = aggregate_key(self.key, aggregate);
        let applied: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM aggregate_versions WHERE aggregate_key = ? FOR UPDATE",
        )
        .bind(&key)
        .fetch_optional(&mut *self.tx)
        .await?;
        if applied.is_some_and(|applied| applied >= sequence) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO aggregate_versions (aggregate_key, version) VALUES (?, ?) \
             ON DUPLICATE KEY UPDATE version = GREATEST(version, VALUES(version))",
        )
        .bind(&key)
        .bind(sequence)
        .execute(&mut *self.tx)
        .await?;
        Ok(true)
    }

    async fn post(&mut self, post: Uuid, at: At, event: PostEvent) -> anyhow::Result<Verdict> {
        match event {
            PostEvent::PostCreated { board, .. } => {
                let payload = ItemPayload {
                    item_id: post,
                    board: Some(board.as_str().to_owned()),
                    ..ItemPayload::default()
                };
                self.put_item(at, NewItem::published(post, "post", payload))
                    .await?;
            }
            // An edit changes nothing the member's pages show (rewriting the row would only
            // tell two copies of the database which row the edited item is).
            PostEvent::PostEdited { .. } => {}
            PostEvent::PostDeleted { .. } => self.delete(post, at).await?,
            PostEvent::CommentAdded {
                comment_id,
                parent_id,
                handle,
                ..
            } => {
                self.comment(post, comment_id, parent_id, handle, at)
                    .await?
            }
            PostEvent::CommentEdited { .. } => {}
            PostEvent::CommentDeleted { comment_id, .. } => {
                self.delete(comment_id, at).await?;
            }
            PostEvent::AnswerAccepted { comment_id } => {
                // The post's author accepts; they are not told of it when the answer is
                // their own.
                let Some(answer) = self.item(comment_id, false).await? else {
                    return Ok(Ok(()));
                };
                if answer.handle != Some(Handle::OriginalPoster) {
                    let payload = NotificationPayload {
                        kind: "accepted",
                        post_id: Some(post),
                        comment_id: Some(comment_id),
                        ..NotificationPayload::default()
                    };
                    self.notify(comment_id, at, payload).await?;
                }
            }
            // Likes and anything newer change nothing here.
            _ => {}
        }
        Ok(Ok(()))
    }

    /// A new comment: its row; a notification for the author of the comment it replies to
    /// (`reply`) and for the post's author (`comment`, or `answer` to a question), never for
    /// the commenter themselves — decided by thread handles, which are per member and thread.
    async fn comment(
        &mut self,
        post: Uuid,
        comment: Uuid,
        parent: Option<Uuid>,
        handle: Handle,
        at: At,
    ) -> anyhow::Result<()> {
        let payload = ItemPayload {
            item_id: comment,
            post_id: Some(post),
            handle: Some(handle),
            parent,
            ..ItemPayload::default()
        };
        self.put_item(at, NewItem::published(comment, "comment", payload))
            .await?;
        let mut parent_handle = None;
        if let Some(parent) = parent {
            parent_handle = self.item(parent, false).await?.and_then(|p| p.handle);
            // An equal handle: the parent's author answering themselves.
            if parent_handle.is_some_and(|parent_handle| parent_handle != handle) {
                let payload = NotificationPayload {
                    kind: "reply",
                    post_id: Some(post),
                    comment_id: Some(comment),
                    ..NotificationPayload::default()
                };
                self.notify(parent, at, payload).await?;
            }
        }
        // The post's author wrote it, or was told already by `reply`.
        if handle == Handle::OriginalPoster || parent_handle == Some(Handle::OriginalPoster) {
            return Ok(());
        }
        let Some(question) = self.item(post, false).await? else {
            return Ok(());
        };
        let question = question.board.as_deref() == Some(Board::Qna.as_str());
        let payload = NotificationPayload {
            kind: if question && parent.is_none() {
                "answer"
            } else {
                "comment"
            },
            post_id: Some(post),
            comment_id: Some(comment),
            ..NotificationPayload::default()
        };
        self.notify(post, at, payload).await
    }

    async fn review(
        &mut self,
        review: Uuid,
        at: At,
        event: ReviewEvent,
    ) -> anyhow::Result<Verdict> {
        match event {
            ReviewEvent::ReviewWritten { hospital_id, .. } => {
                let payload = ItemPayload {
                    item_id: review,
                    hospital_id: Some(hospital_id),
                    ..ItemPayload::default()
                };
                self.put_item(at, NewItem::published(review, "review", payload))
                    .await?;
            }
            ReviewEvent::ReviewEdited { .. } => {}
            ReviewEvent::ReviewDeleted { .. } => self.delete(review, at).await?,
            ReviewEvent::ReviewMarkedHelpful { .. } => {}
        }
        Ok(Ok(()))
    }

    async fn claim(&mut self, claim: Uuid, at: At, event: ClaimEvent) -> anyhow::Result<Verdict> {
        if let ClaimEvent::ClaimSubmitted {
            hospital_id,
            job_category,
            tenure,
            ..
        } = event
        {
            let item = NewItem {
                item: claim,
                kind: "claim",
                state: "open",
                payload: ItemPayload {
                    item_id: claim,
                    hospital_id: Some(hospital_id),
                    job_category: Some(job_category.as_str().to_owned()),
                    tenure: Some(tenure.as_str().to_owned()),
                    ..ItemPayload::default()
                },
            };
            self.put_item(at, item).await?;
            return Ok(Ok(()));
        }
        let Some(mut payload) = self.item(claim, true).await? else {
            // Submitted before this model saw it (a log that starts later): nothing to update.
            return Ok(Ok(()));
        };
        let (state, notification) = match event {
            ClaimEvent::ClaimVerified { method, .. } => {
                payload.method = Some(method.as_str().to_owned());
                ("verified", Some(("claim_verified", None)))
            }
            ClaimEvent::ClaimRejected { reason } => {
                payload.reason = Some(reason.as_str().to_owned());
                let reason = Some(reason.as_str().to_owned());
                ("rejected", Some(("claim_rejected", reason)))
            }
            ClaimEvent::ClaimExpired {} => ("expired", None),
            ClaimEvent::ClaimRevoked {} => ("revoked", None),
            ClaimEvent::ClaimSubmitted { .. } => return Ok(Ok(())),
        };
        let hospital_id = payload.hospital_id;
        state.clone_into(&mut payload.state);
        payload.updated_at = at.time;
        self.update_item(claim, &payload).await?;
        if let Some((kind, reason)) = notification {
            let payload = NotificationPayload {
                kind,
                claim_id: Some(claim),
                hospital_id,
                reason,
                ..NotificationPayload::default()
            };
            self.notify(claim, at, payload).await?;
        }
        Ok(Ok(()))
    }

    /// Member events, addressed by pseudonym: the owner of the read mark.
    async fn member(&mut self, envelope: &Envelope) -> anyhow::Result<Verdict> {
        let owner = envelope.aggregate_id.as_str();
        match envelope.event_type.as_str() {
            // The member's items stay: their rows name nobody, and the member index that led
            // to them went with the withdrawal.
            "MemberWithdrew" => {
                sqlx::query("DELETE FROM notification_reads WHERE owner = ?")
                    .bind(owner)
                    .execute(&mut *self.tx)
                    .await?;
            }
            "NotificationsRead" => {
                let up_to = match store::event::<MemberEvent>(envelope) {
                    Ok(MemberEvent::NotificationsRead { up_to }) => up_to,
                    Ok(_) => return Ok(Ok(())),
                    Err(reason) => return Ok(Err(reason)),
                };
                let up_to = i64::try_from(up_to)
                    .ok()
                    .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
                    .map(to_the_minute);
                let Some(up_to) = up_to else {
                    return Ok(Err("NotificationsRead: up_to is out of range".to_owned()));
                };
                self.mark_read(owner, up_to).await?;
            }
            // Registration, roles, suspensions: nothing of this read model.
            _ => {}
        }
        Ok(Ok(()))
    }

    /// Writes `item`'s row, replacing one it had (a review written again, a claim submitted
    /// again).
    async fn put_item(&mut self, at: At, item: NewItem) -> anyhow::Result<()> {
        let key = entry_key(self.key, item.item);
        let payload = ItemPayload {
            kind: item.kind.to_owned(),
            state: item.state.to_owned(),
            created_at: at.time,
            updated_at: at.time,
            ..item.payload
        };
        let sealed = seal_item(&self.item_key, &key, &payload)?;
        sqlx::query(
            "INSERT INTO items (item_key, nonce, ciphertext) VALUES (?, ?, ?) \
             ON DUPLICATE KEY UPDATE nonce = VALUES(nonce), ciphertext = VALUES(ciphertext)",
        )
        .bind(&key)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Marks an item `deleted`; an item with no row is left alone.
    async fn delete(&mut self, item: Uuid, at: At) -> anyhow::Result<()> {
        let Some(mut payload) = self.item(item, true).await? else {
            return Ok(());
        };
        "deleted".clone_into(&mut payload.state);
        payload.updated_at = at.time;
        self.update_item(item, &payload).await
    }

    /// Seals `payload` again as `item`'s row.
    async fn update_item(&mut self, item: Uuid, payload: &ItemPayload) -> anyhow::Result<()> {
        let key = entry_key(self.key, item);
        let sealed = seal_item(&self.item_key, &key, payload)?;
        sqlx::query("UPDATE items SET nonce = ?, ciphertext = ? WHERE item_key = ?")
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(&key)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// `item`'s row, opened, if there is one; locked for an update when `lock`.
    async fn item(&mut self, item: Uuid, lock: bool) -> anyhow::Result<Option<ItemPayload>> {
        let key = entry_key(self.key, item);
        let sql = if lock {
            "SELECT nonce, ciphertext FROM items WHERE item_key = ? FOR UPDATE"
        } else {
            "SELECT nonce, ciphertext FROM items WHERE item_key = ?"
        };
        let row: Option<(String, String)> = sqlx::query_as(sql)
            .bind(&key)
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some((nonce, ciphertext)) = row else {
            return Ok(None);
        };
        let payload = self
            .item_key
            .open(ITEM_SEAL, Uuid::nil(), &key, &Sealed { nonce, ciphertext })
            .ok()
            .and_then(|json| serde_json::from_str(&json).ok())
            .context("an item's payload does not open with the item key")?;
        Ok(Some(payload))
    }

    /// Files a notification for the author of `item`, once per event and item; keeps the
    /// item's newest [`KEEP_NOTIFICATIONS`].
    async fn notify(
        &mut self,
        item: Uuid,
        at: At,
        mut payload: NotificationPayload,
    ) -> anyhow::Result<()> {
        let item_key = entry_key(self.key, item);
        let dedupe = notification_key(self.key, at.event_id, item);
        payload.created_at = at.time;
        let sealed = self.item_key.seal(
            NOTIFICATION_SEAL,
            Uuid::nil(),
            &notification_field(&item_key, &dedupe),
            &padded(&payload)?,
        );
        sqlx::query(
            "INSERT INTO item_notifications (dedupe_key, item_key, nonce, ciphertext) \
             VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE dedupe_key = dedupe_key",
        )
        .bind(&dedupe)
        .bind(&item_key)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .execute(&mut *self.tx)
        .await?;
        self.prune(&item_key).await
    }

    /// Drops the oldest notifications of an item (by time, then dedupe key: an order a
    /// rebuild reproduces) once it has more than `KEEP_NOTIFICATIONS + 100`, down to
    /// [`KEEP_NOTIFICATIONS`]. One that does not open counts as oldest.
    async fn prune(&mut self, item_key: &str) -> anyhow::Result<()> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM item_notifications WHERE item_key = ?")
                .bind(item_key)
                .fetch_one(&mut *self.tx)
                .await?;
        if usize::try_from(count).unwrap_or(0) <= KEEP_NOTIFICATIONS + 100 {
            return Ok(());
        }
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT dedupe_key, nonce, ciphertext FROM item_notifications WHERE item_key = ? \
             FOR UPDATE",
        )
        .bind(item_key)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut dated: Vec<(Option<DateTime<Utc>>, String)> = rows
            .into_iter()
            .map(|(dedupe, nonce, ciphertext)| {
                let time = self
                    .item_key
                    .open(
                        NOTIFICATION_SEAL,
                        Uuid::nil(),
                        &notification_field(item_key, &dedupe),
                        &Sealed { nonce, ciphertext },
                    )
                    .ok()
                    .and_then(|json| serde_json::from_str::<Dated>(&json).ok())
                    .map(|dated| dated.created_at);
                (time, dedupe)
            })
            .collect();
        // Newest first; `None` (unreadable) sorts last.
        dated.sort_by(|a, b| b.cmp(a));
        for (_, dedupe) in dated.into_iter().skip(KEEP_NOTIFICATIONS) {
            sqlx::query("DELETE FROM item_notifications WHERE dedupe_key = ?")
                .bind(dedupe)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// Moves `owner`'s read mark to `up_to` unless it is already there or later: the
    /// greatest mark wins, so a redelivery changes nothing.
    async fn mark_read(&mut self, owner: &str, up_to: DateTime<Utc>) -> anyhow::Result<()> {
        let key = self.key.read_mark_key();
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT nonce, ciphertext FROM notification_reads WHERE owner = ? FOR UPDATE",
        )
        .bind(owner)
        .fetch_optional(&mut *self.tx)
        .await?;
        let current = row.and_then(|(nonce, ciphertext)| {
            let json = key
                .open(
                    READ_MARK_SEAL,
                    Uuid::nil(),
                    owner,
                    &Sealed { nonce, ciphertext },
                )
                .ok()?;
            serde_json::from_str::<ReadMark>(&json).ok()
        });
        if current.is_some_and(|mark| mark.read_up_to >= up_to) {
            return Ok(());
        }
        let json = padded(&ReadMark { read_up_to: up_to })?;
        let sealed = key.seal(READ_MARK_SEAL, Uuid::nil(), owner, &json);
        sqlx::query(
            "INSERT INTO notification_reads (owner, nonce, ciphertext) VALUES (?, ?, ?) \
             ON DUPLICATE KEY UPDATE nonce = VALUES(nonce), ciphertext = VALUES(ciphertext)",
        )
        .bind(owner)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

/// The time of a sealed notification (the rest of its payload is for the query API).
#[derive(Deserialize)]
struct Dated {
    created_at: DateTime<Utc>,
}

impl NewItem {
    fn published(item: Uuid, kind: &'static str, payload: ItemPayload) -> Self {
        Self {
            item,
            kind,
            state: "published",
            payload,
        }
    }
}

/// Seals an item's payload (padded) under the item key, bound to the row's key.
fn seal_item(key: &ContentKey, item_key: &str, payload: &ItemPayload) -> anyhow::Result<Sealed> {
    Ok(key.seal(ITEM_SEAL, Uuid::nil(), item_key, &padded(payload)?))
}

/// `time` rounded down to the minute: times in this read model never say more.
fn to_the_minute(time: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = time.timestamp();
    DateTime::from_timestamp(seconds - seconds.rem_euclid(60), 0).unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuthorKey {
        AuthorKey::new(&[9; 32]).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn keys_are_opaque_and_distinct_per_use() {
        let (item, event) = (Uuid::new_v4(), Uuid::new_v4());
        let entry = entry_key(&key(), item);
        assert_eq!(entry, entry_key(&key(), item));
        assert_eq!(entry.len(), 64);
        assert!(!entry.contains(&item.simple().to_string()));
        assert_ne!(entry, aggregate_key(&key(), item));
        let dedupe = notification_key(&key(), event, item);
        assert_eq!(dedupe.len(), 64);
        assert_eq!(dedupe, notification_key(&key(), event, item));
        assert_ne!(dedupe, notification_key(&key(), event, Uuid::new_v4()));
        assert_ne!(dedupe, notification_key(&key(), Uuid::new_v4(), item));
        assert!(!dedupe.contains(&item.simple().to_string()));
        assert!(!dedupe.contains(&event.simple().to_string()));
    }

    #[test]
    fn the_item_key_is_its_own_and_names_no_member() {
        let member = MemberId(Uuid::new_v4());
        let sealed = key()
            .item_key()
            .seal(ITEM_SEAL, Uuid::nil(), "row", "payload");
        for other in [
            key().index_key(member),
            key().index_key(MemberId(Uuid::nil())),
            key().read_mark_key(),
        ] {
            assert!(other.open(ITEM_SEAL, Uuid::nil(), "row", &sealed).is_err());
        }
        assert!(key()
            .item_key()
            .open(ITEM_SEAL, Uuid::nil(), "row", &sealed)
            .is_ok());
    }

    #[test]
    fn a_sealed_item_opens_only_with_the_item_key_and_its_row_key() -> anyhow::Result<()> {
        let item = Uuid::new_v4();
        let payload = ItemPayload {
            item_id: item,
            job_category: Some("nurse".to_owned()),
            ..ItemPayload::default()
        };
        let row = entry_key(&key(), item);
        let sealed = seal_item(&key().item_key(), &row, &payload)?;
        assert!(!sealed.ciphertext.contains("nurse"));
        let opened = key()
            .item_key()
            .open(ITEM_SEAL, Uuid::nil(), &row, &sealed)?;
        assert!(opened.contains(&item.to_string()));
        let other = AuthorKey::new(&[8; 32]).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(other
            .item_key()
            .open(ITEM_SEAL, Uuid::nil(), &row, &sealed)
            .is_err());
        let elsewhere = entry_key(&key(), Uuid::new_v4());
        assert!(key()
            .item_key()
            .open(ITEM_SEAL, Uuid::nil(), &elsewhere, &sealed)
            .is_err());
        Ok(())
    }

    #[test]
    fn a_notification_opens_only_under_its_item_and_dedupe_key() {
        let (item, event) = (Uuid::new_v4(), Uuid::new_v4());
        let (row, dedupe) = (
            entry_key(&key(), item),
            notification_key(&key(), event, item),
        );
        let field = notification_field(&row, &dedupe);
        let sealed = key()
            .item_key()
            .seal(NOTIFICATION_SEAL, Uuid::nil(), &field, "{}");
        let moved = notification_field(&entry_key(&key(), Uuid::new_v4()), &dedupe);
        assert!(key()
            .item_key()
            .open(NOTIFICATION_SEAL, Uuid::nil(), &moved, &sealed)
            .is_err());
        assert!(key()
            .item_key()
            .open(NOTIFICATION_SEAL, Uuid::nil(), &field, &sealed)
            .is_ok());
    }

    #[test]
    fn sealed_payloads_have_one_length_whatever_their_kind() -> anyhow::Result<()> {
        let post = ItemPayload {
            kind: "post".to_owned(),
            state: "published".to_owned(),
            item_id: Uuid::new_v4(),
            board: Some("qna".to_owned()),
            ..ItemPayload::default()
        };
        let reply = ItemPayload {
            kind: "comment".to_owned(),
            state: "deleted".to_owned(),
            item_id: Uuid::new_v4(),
            post_id: Some(Uuid::new_v4()),
            handle: Some(Handle::Anonymous(u32::MAX)),
            parent: Some(Uuid::new_v4()),
            ..ItemPayload::default()
        };
        let claim = ItemPayload {
            kind: "claim".to_owned(),
            state: "rejected".to_owned(),
            item_id: Uuid::new_v4(),
            hospital_id: Some(Uuid::new_v4()),
            job_category: Some("medical_technician".to_owned()),
            tenure: Some("former".to_owned()),
            reason: Some("not_staff".to_owned()),
            ..ItemPayload::default()
        };
        let items = key().item_key();
        let sealed = [
            seal_item(&items, "a", &post)?,
            seal_item(&items, "b", &claim)?,
            seal_item(&items, "c", &reply)?,
        ];
        assert_eq!(sealed[0].ciphertext.len(), sealed[1].ciphertext.len());
        assert_eq!(sealed[0].ciphertext.len(), sealed[2].ciphertext.len());
        let opened: ItemPayload =
            serde_json::from_str(&items.open(ITEM_SEAL, Uuid::nil(), "b", &sealed[1])?)?;
        assert_eq!(opened.reason.as_deref(), Some("not_staff"));
        let opened: ItemPayload =
            serde_json::from_str(&items.open(ITEM_SEAL, Uuid::nil(), "c", &sealed[2])?)?;
        assert_eq!(opened.handle, Some(Handle::Anonymous(u32::MAX)));
        let note = padded(&NotificationPayload {
            kind: "claim_rejected",
            claim_id: Some(Uuid::new_v4()),
            hospital_id: Some(Uuid::new_v4()),
            reason: Some("not_staff".to_owned()),
            ..NotificationPayload::default()
        })?;
        let mark = padded(&ReadMark {
            read_up_to: Utc::now(),
        })?;
        assert_eq!((note.len(), mark.len()), (PAD_TO, PAD_TO));
        Ok(())
    }

    #[test]
    fn times_are_rounded_down_to_the_minute() -> anyhow::Result<()> {
        let time: DateTime<Utc> = "2026-11-28T09:12:59.9Z".parse()?;
        assert_eq!(
            to_the_minute(time),
            "2026-11-28T09:12:00Z".parse::<DateTime<Utc>>()?
        );
        Ok(())
    }
}
