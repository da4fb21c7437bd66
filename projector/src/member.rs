//! The member read model in MariaDB (MySQL 8 in production): each member's own activity
//! (posts, comments, reviews), affiliations (claims) and notifications. Documented in
//! `docs/read-models/member.md`; the design is ADR 0006.
//!
//! Events name no member, so this is a **privileged** projection: it holds the author key and
//! reads the write side's `item_authors` table (in the event store) to find the member behind
//! an item. What it writes names neither the member nor the item in the clear, and nothing in
//! it can be matched against the public board or the log: rows belong to the member's
//! pseudonym ([`AuthorKey::member_ref`]), are found by keyed hashes of item ids
//! ([`entry_key`]), and everything else — kinds, states and times included — is sealed under
//! a key derived from the member ([`AuthorKey::index_key`]), padded to one length
//! ([`PAD_TO`]). No column counts insertions. The query API opens a member's rows and sorts
//! them in memory.
//!
//! Idempotence: `aggregate_versions` remembers the last sequence applied per post, review
//! and claim aggregate, and an event at or below it is skipped; notifications are also
//! unique per (event, recipient); `notification_reads` keeps the greatest mark. Only
//! `aggregate_versions`, keyed by a hash of the aggregate and owned by nobody, holds a
//! sequence: in a member's own rows one would name the item, joined with the public log's
//! per-aggregate event counts (migrations 0010 and 0011 dropped those columns).

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{MySql, MySqlPool, PgPool, Transaction};
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

/// The associated-data kind of a sealed entry payload (field: the entry key).
pub const ENTRY_SEAL: &str = "member-entry";
/// The associated-data kind of a sealed notification payload (field: the dedupe key).
pub const NOTIFICATION_SEAL: &str = "member-notification";
/// The label of the key that seals read marks, and their associated-data kind (field: the
/// owner). `NotificationsRead` names only the member's pseudonym, so the mark cannot be
/// sealed under the member's own key.
pub use ward_domain::author::READ_MARK_SEAL;

/// Sealed payloads are padded with spaces to a multiple of this many bytes, so that their
/// lengths do not tell a post from a comment, a review or a claim (every payload Ward writes
/// is far shorter: ids, enum names and two times).
pub const PAD_TO: usize = 512;

/// Notifications kept per member: past `KEEP_NOTIFICATIONS + 100`, the oldest are dropped
/// down to `KEEP_NOTIFICATIONS`, so that the query API, which opens them all, stays bounded.
pub const KEEP_NOTIFICATIONS: usize = 1000;

/// The opaque key of an item's entry: `author_ref("member-entry", item, nil)`.
pub fn entry_key(key: &AuthorKey, item: Uuid) -> String {
    key.author_ref(ENTRY_SEAL, item, MemberId(Uuid::nil())).0
}

/// The opaque key of a post, review or claim aggregate in `aggregate_versions`.
pub fn aggregate_key(key: &AuthorKey, aggregate: Uuid) -> String {
    key.author_ref("member-aggregate", aggregate, MemberId(Uuid::nil()))
        .0
}

/// The dedupe key of the notification `event` causes for `recipient`.
fn notification_key(key: &AuthorKey, event: Uuid, recipient: MemberId) -> String {
    key.author_ref(NOTIFICATION_SEAL, event, recipient).0
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

/// Builds `entries`, `notifications` and `notification_reads` from the post, review,
/// affiliation and member topics.
pub struct MemberProjection {
    pool: MySqlPool,
    authors: PgPool,
    key: AuthorKey,
}

impl MemberProjection {
    /// A projection writing to `pool`, finding items' authors in the event store `authors`
    /// (its `item_authors` table) with the author key `key`.
    pub fn new(pool: MySqlPool, authors: PgPool, key: AuthorKey) -> Self {
        Self { pool, authors, key }
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
            authors: &self.authors,
            key: &self.key,
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

/// What an entry's sealed payload says (JSON; absent fields are left out).
#[derive(Debug, Default, Serialize, serde::Deserialize)]
struct EntryPayload {
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

/// An entry to write: its item and payload (kind, state and times are set when written).
struct NewEntry {
    item: Uuid,
    kind: &'static str,
    state: &'static str,
    payload: EntryPayload,
}

/// A member's read mark, sealed in `notification_reads`.
#[derive(Debug, Serialize, serde::Deserialize)]
struct ReadMark {
    /// UTC, rounded down to the minute: a notification is read while its time is not later.
    read_up_to: DateTime<Utc>,
}

/// One batch's transaction and what applying an event needs.
struct Apply<'a> {
    tx: Tx<'static>,
    authors: &'a PgPool,
    key: &'a AuthorKey,
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
                let Some(author) = self.author("post", post).await? else {
                    return Ok(Ok(()));
                };
                let payload = EntryPayload {
                    item_id: post,
                    board: Some(board.as_str().to_owned()),
                    ..EntryPayload::default()
                };
                self.put_entry(author, at, NewEntry::published(post, "post", payload))
                    .await?;
            }
            // An edit changes nothing the member's pages show (rewriting the row would only
            // tell two copies of the database which row the edited item is).
            PostEvent::PostEdited { .. } => {}
            PostEvent::PostDeleted { .. } => self.delete("post", post, at).await?,
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
                self.delete("comment", comment_id, at).await?;
            }
            PostEvent::AnswerAccepted { comment_id } => {
                let Some(answerer) = self.author("comment", comment_id).await? else {
                    return Ok(Ok(()));
                };
                if self.author("post", post).await? != Some(answerer) {
                    let payload = NotificationPayload {
                        kind: "accepted",
                        post_id: Some(post),
                        comment_id: Some(comment_id),
                        ..NotificationPayload::default()
                    };
                    self.notify(answerer, at, payload).await?;
                }
            }
            // Likes and anything newer change nothing here.
            _ => {}
        }
        Ok(Ok(()))
    }

    /// A new comment: an entry for its author; a notification for the author of the comment
    /// it replies to (`reply`) and for the post's author (`comment`, or `answer` to a
    /// question), never for the commenter themselves.
    async fn comment(
        &mut self,
        post: Uuid,
        comment: Uuid,
        parent: Option<Uuid>,
        handle: Handle,
        at: At,
    ) -> anyhow::Result<()> {
        let Some(commenter) = self.author("comment", comment).await? else {
            return Ok(());
        };
        let payload = EntryPayload {
            item_id: comment,
            post_id: Some(post),
            ..EntryPayload::default()
        };
        self.put_entry(
            commenter,
            at,
            NewEntry::published(comment, "comment", payload),
        )
        .await?;
        let mut replied_to = None;
        if let Some(parent) = parent {
            replied_to = self.author("comment", parent).await?;
            if let Some(recipient) = replied_to.filter(|r| *r != commenter) {
                let payload = NotificationPayload {
                    kind: "reply",
                    post_id: Some(post),
                    comment_id: Some(comment),
                    ..NotificationPayload::default()
                };
                self.notify(recipient, at, payload).await?;
            }
        }
        if handle == Handle::OriginalPoster {
            return Ok(());
        }
        let Some(poster) = self.author("post", post).await? else {
            return Ok(());
        };
        if poster == commenter || replied_to == Some(poster) {
            return Ok(());
        }
        let question = self
            .entry(poster, post)
            .await?
            .and_then(|payload| payload.board)
            .is_some_and(|board| board == Board::Qna.as_str());
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
        self.notify(poster, at, payload).await
    }

    async fn review(
        &mut self,
        review: Uuid,
        at: At,
        event: ReviewEvent,
    ) -> anyhow::Result<Verdict> {
        match event {
            ReviewEvent::ReviewWritten { hospital_id, .. } => {
                let Some(author) = self.author("review", review).await? else {
                    return Ok(Ok(()));
                };
                let payload = EntryPayload {
                    item_id: review,
                    hospital_id: Some(hospital_id),
                    ..EntryPayload::default()
                };
                self.put_entry(author, at, NewEntry::published(review, "review", payload))
                    .await?;
            }
            ReviewEvent::ReviewEdited { .. } => {}
            ReviewEvent::ReviewDeleted { .. } => self.delete("review", review, at).await?,
            ReviewEvent::ReviewMarkedHelpful { .. } => {}
        }
        Ok(Ok(()))
    }

    async fn claim(&mut self, claim: Uuid, at: At, event: ClaimEvent) -> anyhow::Result<Verdict> {
        let Some(claimant) = self.author("claim", claim).await? else {
            return Ok(Ok(()));
        };
        if let ClaimEvent::ClaimSubmitted {
            hospital_id,
            job_category,
            tenure,
            ..
        } = event
        {
            let entry = NewEntry {
                item: claim,
                kind: "claim",
                state: "open",
                payload: EntryPayload {
                    item_id: claim,
                    hospital_id: Some(hospital_id),
                    job_category: Some(job_category.as_str().to_owned()),
                    tenure: Some(tenure.as_str().to_owned()),
                    ..EntryPayload::default()
                },
            };
            self.put_entry(claimant, at, entry).await?;
            return Ok(Ok(()));
        }
        let Some(mut payload) = self.entry(claimant, claim).await? else {
            // Submitted before claims were recorded: nothing to update.
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
        self.update_entry(claimant, claim, &payload).await?;
        if let Some((kind, reason)) = notification {
            let payload = NotificationPayload {
                kind,
                claim_id: Some(claim),
                hospital_id,
                reason,
                ..NotificationPayload::default()
            };
            self.notify(claimant, at, payload).await?;
        }
        Ok(Ok(()))
    }

    /// Member events, addressed by pseudonym: the owner of the member's rows.
    async fn member(&mut self, envelope: &Envelope) -> anyhow::Result<Verdict> {
        let owner = envelope.aggregate_id.as_str();
        match envelope.event_type.as_str() {
            "MemberWithdrew" => {
                sqlx::query("INSERT IGNORE INTO withdrawn_owners (owner) VALUES (?)")
                    .bind(owner)
                    .execute(&mut *self.tx)
                    .await?;
                for table in ["entries", "notifications", "notification_reads"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE owner = ?"))
                        .bind(owner)
                        .execute(&mut *self.tx)
                        .await?;
                }
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

    /// The member who wrote (or claimed) the item, from the write side's `item_authors`;
    /// `None` when it is not known — withdrawn members' rows are gone, and items from before
    /// the table (or, for claims, before claims were recorded) have none.
    async fn author(&self, item_type: &str, item: Uuid) -> anyhow::Result<Option<MemberId>> {
        let sealed: Option<(String, String)> = sqlx::query_as(
            "SELECT nonce, ciphertext FROM item_authors WHERE item_type = $1 AND item_id = $2",
        )
        .bind(item_type)
        .bind(item.to_string())
        .fetch_optional(self.authors)
        .await
        .context("reading an item's author")?;
        let Some((nonce, ciphertext)) = sealed else {
            return Ok(None);
        };
        let opened = self.key.item_author_key().open(
            item_type,
            item,
            "author",
            &Sealed { nonce, ciphertext },
        );
        match opened.ok().and_then(|text| Uuid::parse_str(&text).ok()) {
            Some(member) => Ok(Some(MemberId(member))),
            None => {
                // A different author key: the item cannot be filed under anyone.
                tracing::warn!(
                    item_type,
                    "an item's author does not open with the author key"
                );
                Ok(None)
            }
        }
    }

    /// `member`'s pseudonym, the owner of their rows, unless they withdrew. The shared lock
    /// on `withdrawn_owners` orders this batch against a withdrawal applied at the same time
    /// by another replica: either this batch sees it, or the withdrawal waits and then deletes
    /// what this batch wrote.
    async fn owner(&mut self, member: MemberId) -> anyhow::Result<Option<String>> {
        let owner = self.key.member_ref(member).0;
        let withdrawn: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM withdrawn_owners WHERE owner = ? LOCK IN SHARE MODE")
                .bind(&owner)
                .fetch_optional(&mut *self.tx)
                .await?;
        Ok(withdrawn.is_none().then_some(owner))
    }

    /// Writes `entry` for `member`, replacing one the item had (a review written again, a
    /// claim submitted again).
    async fn put_entry(&mut self, member: MemberId, at: At, entry: NewEntry) -> anyhow::Result<()> {
        let Some(owner) = self.owner(member).await? else {
            return Ok(());
        };
        let key = entry_key(self.key, entry.item);
        let payload = EntryPayload {
            kind: entry.kind.to_owned(),
            state: entry.state.to_owned(),
            created_at: at.time,
            updated_at: at.time,
            ..entry.payload
        };
        let sealed = seal_entry(&self.key.index_key(member), &key, &payload)?;
        sqlx::query(
            "INSERT INTO entries (entry_key, owner, nonce, ciphertext) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE owner = VALUES(owner), \
             nonce = VALUES(nonce), ciphertext = VALUES(ciphertext)",
        )
        .bind(&key)
        .bind(&owner)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Marks an item's entry `deleted`. The state is sealed, so the entry is opened with its
    /// author's key; an item with no entry (author unknown) is left alone.
    async fn delete(&mut self, item_type: &str, item: Uuid, at: At) -> anyhow::Result<()> {
        let Some(author) = self.author(item_type, item).await? else {
            return Ok(());
        };
        let Some(mut payload) = self.entry(author, item).await? else {
            return Ok(());
        };
        "deleted".clone_into(&mut payload.state);
        payload.updated_at = at.time;
        self.update_entry(author, item, &payload).await
    }

    /// Seals `payload` again as `member`'s entry of `item`.
    async fn update_entry(
        &mut self,
        member: MemberId,
        item: Uuid,
        payload: &EntryPayload,
    ) -> anyhow::Result<()> {
        let key = entry_key(self.key, item);
        let sealed = seal_entry(&self.key.index_key(member), &key, payload)?;
        sqlx::query("UPDATE entries SET nonce = ?, ciphertext = ? WHERE entry_key = ?")
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(&key)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// `member`'s entry of `item`, opened, if there is one.
    async fn entry(
        &mut self,
        member: MemberId,
        item: Uuid,
    ) -> anyhow::Result<Option<EntryPayload>> {
        let key = entry_key(self.key, item);
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT nonce, ciphertext FROM entries WHERE entry_key = ? AND owner = ? FOR UPDATE",
        )
        .bind(&key)
        .bind(self.key.member_ref(member).0)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some((nonce, ciphertext)) = row else {
            return Ok(None);
        };
        let opened = self.key.index_key(member).open(
            ENTRY_SEAL,
            Uuid::nil(),
            &key,
            &Sealed { nonce, ciphertext },
        );
        let payload = opened
            .ok()
            .and_then(|json| serde_json::from_str(&json).ok())
            .context("an entry's payload does not open with its owner's key")?;
        Ok(Some(payload))
    }

    /// Files a notification for `recipient`, once per event and recipient; keeps the
    /// recipient's newest [`KEEP_NOTIFICATIONS`].
    async fn notify(
        &mut self,
        recipient: MemberId,
        at: At,
        mut payload: NotificationPayload,
    ) -> anyhow::Result<()> {
        let Some(owner) = self.owner(recipient).await? else {
            return Ok(());
        };
        let dedupe = notification_key(self.key, at.event_id, recipient);
        payload.created_at = at.time;
        let json = padded(&payload)?;
        let sealed =
            self.key
                .index_key(recipient)
                .seal(NOTIFICATION_SEAL, Uuid::nil(), &dedupe, &json);
        sqlx::query(
            "INSERT INTO notifications (dedupe_key, owner, nonce, ciphertext) \
             VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE dedupe_key = dedupe_key",
        )
        .bind(&dedupe)
        .bind(&owner)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .execute(&mut *self.tx)
        .await?;
        self.prune(recipient, &owner).await
    }

    /// Drops `recipient`'s oldest notifications (by time, then dedupe key: an order a
    /// rebuild reproduces) once they have more than `KEEP_NOTIFICATIONS + 100`, down to
    /// [`KEEP_NOTIFICATIONS`]. One that does not open counts as oldest.
    async fn prune(&mut self, recipient: MemberId, owner: &str) -> anyhow::Result<()> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE owner = ?")
            .bind(owner)
            .fetch_one(&mut *self.tx)
            .await?;
        if usize::try_from(count).unwrap_or(0) <= KEEP_NOTIFICATIONS + 100 {
            return Ok(());
        }
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT dedupe_key, nonce, ciphertext FROM notifications WHERE owner = ? FOR UPDATE",
        )
        .bind(owner)
        .fetch_all(&mut *self.tx)
        .await?;
        let key = self.key.index_key(recipient);
        let mut dated: Vec<(Option<DateTime<Utc>>, String)> = rows
            .into_iter()
            .map(|(dedupe, nonce, ciphertext)| {
                let time = key
                    .open(
                        NOTIFICATION_SEAL,
                        Uuid::nil(),
                        &dedupe,
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
            sqlx::query("DELETE FROM notifications WHERE dedupe_key = ?")
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
#[derive(serde::Deserialize)]
struct Dated {
    created_at: DateTime<Utc>,
}

impl NewEntry {
    fn published(item: Uuid, kind: &'static str, payload: EntryPayload) -> Self {
        Self {
            item,
            kind,
            state: "published",
            payload,
        }
    }
}

/// Seals an entry's payload (padded) under its owner's key, bound to its entry key.
fn seal_entry(key: &ContentKey, entry_key: &str, payload: &EntryPayload) -> anyhow::Result<Sealed> {
    Ok(key.seal(ENTRY_SEAL, Uuid::nil(), entry_key, &padded(payload)?))
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
        let (item, member) = (Uuid::new_v4(), MemberId(Uuid::new_v4()));
        let entry = entry_key(&key(), item);
        assert_eq!(entry, entry_key(&key(), item));
        assert_eq!(entry.len(), 64);
        assert!(!entry.contains(&item.simple().to_string()));
        assert_ne!(entry, aggregate_key(&key(), item));
        assert_ne!(
            notification_key(&key(), item, member),
            notification_key(&key(), item, MemberId(Uuid::new_v4()))
        );
    }

    #[test]
    fn a_sealed_entry_opens_only_with_its_owners_key_and_entry_key() -> anyhow::Result<()> {
        let (item, member) = (Uuid::new_v4(), MemberId(Uuid::new_v4()));
        let payload = EntryPayload {
            item_id: item,
            job_category: Some("nurse".to_owned()),
            ..EntryPayload::default()
        };
        let entry = entry_key(&key(), item);
        let sealed = seal_entry(&key().index_key(member), &entry, &payload)?;
        assert!(!sealed.ciphertext.contains("nurse"));
        let opened = key()
            .index_key(member)
            .open(ENTRY_SEAL, Uuid::nil(), &entry, &sealed)?;
        assert!(opened.contains(&item.to_string()));
        let other = MemberId(Uuid::new_v4());
        assert!(key()
            .index_key(other)
            .open(ENTRY_SEAL, Uuid::nil(), &entry, &sealed)
            .is_err());
        let elsewhere = entry_key(&key(), Uuid::new_v4());
        assert!(key()
            .index_key(member)
            .open(ENTRY_SEAL, Uuid::nil(), &elsewhere, &sealed)
            .is_err());
        Ok(())
    }

    #[test]
    fn sealed_payloads_have_one_length_whatever_their_kind() -> anyhow::Result<()> {
        let member = MemberId(Uuid::new_v4());
        let post = EntryPayload {
            kind: "post".to_owned(),
            state: "published".to_owned(),
            item_id: Uuid::new_v4(),
            board: Some("qna".to_owned()),
            ..EntryPayload::default()
        };
        let claim = EntryPayload {
            kind: "claim".to_owned(),
            state: "rejected".to_owned(),
            item_id: Uuid::new_v4(),
            hospital_id: Some(Uuid::new_v4()),
            job_category: Some("medical_technician".to_owned()),
            tenure: Some("former".to_owned()),
            reason: Some("not_staff".to_owned()),
            ..EntryPayload::default()
        };
        let index = key().index_key(member);
        let sealed = [
            seal_entry(&index, "a", &post)?,
            seal_entry(&index, "b", &claim)?,
        ];
        assert_eq!(sealed[0].ciphertext.len(), sealed[1].ciphertext.len());
        let opened: EntryPayload =
            serde_json::from_str(&index.open(ENTRY_SEAL, Uuid::nil(), "b", &sealed[1])?)?;
        assert_eq!(opened.reason.as_deref(), Some("not_staff"));
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
