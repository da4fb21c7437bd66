//! The board read model in PostgreSQL (`ward_board`): posts with their badges, counts,
//! comments and replies, accepted answers, hot order and search; the moderation state of
//! posts and comments and the public moderation log; hospitals (the names badges show) and
//! which claims are verified. `docs/read-models/board.md` describes it.
//!
//! A badge is stored as the post's event shows it: what was decided when the post was
//! written ([`Badge::shown`]), never a hospital that readers do not see.
//!
//! Idempotence: every row remembers the sequence of the last event applied to it; an event
//! of a post is applied only after moving the post's `version` forward, so a repeated or
//! redelivered event changes nothing.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;
use ward_domain::affiliation::ClaimEvent;
use ward_domain::hospital::HospitalEvent;
use ward_domain::member::MemberEvent;
use ward_domain::moderation::ModerationEvent;
use ward_domain::post::{Badge, EventText, Handle, PostEvent};
use ward_platform::kafka::Envelope;
use ward_platform::time::minute;

use crate::consumer::{Projection, Record, StoredOffset};
use crate::content::{open, ContentKeys, KeyRing, Opened};
use crate::store::{self, aggregate_uuid, name, Rejects, Verdict};

/// The content key a post event will open, if any: read for the whole batch at once.
fn key_wanted(envelope: &Envelope) -> Option<(&'static str, Uuid)> {
    if envelope.aggregate_type != "post" {
        return None;
    }
    match envelope.event_type.as_str() {
        "PostCreated" | "PostEdited" => Some(("post", aggregate_uuid(envelope).ok()?)),
        "CommentAdded" | "CommentEdited" => {
            let id = envelope.payload.get("comment_id")?.as_str()?;
            Some(("comment", Uuid::parse_str(id).ok()?))
        }
        _ => None,
    }
}

/// The board read model's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/board");

/// The aggregate types whose topics this projection reads.
pub const AGGREGATE_TYPES: &[&str] = &["post", "moderation", "hospital", "affiliation", "member"];

/// How many items the erasure sweep checks per query.
const SWEEP_CHUNK: i64 = 1000;

/// Builds the board read model from the post, moderation, hospital, affiliation and member
/// topics.
pub struct BoardProjection {
    pool: PgPool,
    keys: ContentKeys,
    /// Whether deletions and erasures wait for the end of a removal epoch.
    in_epochs: bool,
}

impl BoardProjection {
    /// A projection writing to `pool`, reading content keys from the event store `keys`;
    /// deletions and erasures apply at once.
    pub fn new(pool: PgPool, keys: PgPool) -> Self {
        Self {
            pool,
            keys: ContentKeys::new(keys),
            in_epochs: false,
        }
    }

    /// The same, holding deletions and erasures back until [`Self::release_removals`].
    pub fn in_removal_epochs(self) -> Self {
        Self {
            in_epochs: true,
            ..self
        }
    }

    /// Applies every removal held back so far, in one transaction: the end of an epoch.
    /// Returns how many posts and comments it removed.
    pub async fn release_removals(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let mut released = 0;
        for kind in [Removal::Post, Removal::Comment] {
            let ids: Vec<Uuid> =
                sqlx::query_scalar("DELETE FROM board_removals WHERE kind = $1 RETURNING id")
                    .bind(kind.name())
                    .fetch_all(&mut *tx)
                    .await?;
            released += ids.len();
            remove_now(&mut tx, kind, &ids).await?;
        }
        tx.commit().await?;
        Ok(released)
    }

    /// Removes posts or comments from what readers see, as their deletion does: at once, or
    /// at the end of the current removal epoch.
    async fn remove(&self, tx: &mut Tx<'_>, kind: Removal, ids: &[Uuid]) -> anyhow::Result<()> {
        if !self.in_epochs {
            return remove_now(tx, kind, ids).await;
        }
        sqlx::query(
            "INSERT INTO board_removals (kind, id) SELECT $1, unnest($2::uuid[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(kind.name())
        .bind(ids)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// What a removal takes away.
#[derive(Debug, Clone, Copy)]
enum Removal {
    Post,
    Comment,
}

impl Removal {
    fn name(self) -> &'static str {
        match self {
            Self::Post => "post",
            Self::Comment => "comment",
        }
    }
}

/// Deletes posts or comments as readers see them: an author's deletion, a moderator's and a
/// withdrawal's erasure look the same (texts and badges gone, a comment no longer counted).
async fn remove_now(tx: &mut Tx<'_>, kind: Removal, ids: &[Uuid]) -> anyhow::Result<()> {
    let sql = match kind {
        Removal::Post => {
            "UPDATE board_posts SET state = 'deleted', title = NULL, body = NULL, \
             badge_job_category = NULL, badge_hospital_id = NULL, badge_sido = NULL, \
             badge_kind = NULL WHERE id = ANY($1)"
        }
        Removal::Comment => {
            "WITH gone AS ( \
               UPDATE board_comments SET state = 'deleted', body = NULL \
               WHERE id = ANY($1) AND state <> 'deleted' RETURNING post_id) \
             UPDATE board_posts p SET comment_count = p.comment_count - g.removed \
             FROM (SELECT post_id, count(*) AS removed FROM gone GROUP BY post_id) g \
             WHERE p.id = g.post_id"
        }
    };
    sqlx::query(sql).bind(ids).execute(&mut **tx).await?;
    Ok(())
}

type Tx<'a> = Transaction<'a, Postgres>;

impl Projection for BoardProjection {
    fn name(&self) -> &'static str {
        "board"
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        AGGREGATE_TYPES
    }

    async fn stored_offsets(&self, group: &str) -> anyhow::Result<Vec<StoredOffset>> {
        store::pg::stored_offsets(&self.pool, group).await
    }

    #[tracing::instrument(skip_all, fields(group, records = batch.len()))]
    async fn apply(&self, group: &str, batch: &[Record]) -> anyhow::Result<()> {
        let envelopes: Vec<Result<Envelope, String>> = batch.iter().map(store::envelope).collect();
        let wanted = envelopes.iter().flatten().filter_map(key_wanted).collect();
        let ring = KeyRing::fetch(&self.keys, wanted).await?;
        let mut tx = self.pool.begin().await?;
        let mut rejects = Rejects::default();
        let mut fresh = Fresh::default();
        for (record, envelope) in batch.iter().zip(envelopes) {
            match envelope {
                Ok(envelope) => {
                    let verdict = self
                        .apply_event(&mut tx, &ring, &mut fresh, envelope)
                        .await?;
                    rejects.check(record, verdict);
                }
                Err(reason) => rejects.push(record, reason),
            }
        }
        fresh.write(&mut tx).await?;
        store::pg::finish(&mut tx, group, batch, &rejects).await?;
        tx.commit().await.context("committing a board batch")?;
        Ok(())
    }
}

impl BoardProjection {
    /// Applies one event. The outer error is a database failure (retry the batch); the
    /// inner one an event that can never be applied (reject it and go on).
    ///
    /// New posts and comments, most of a board's events, are collected in `fresh` and
    /// written together; every other event first writes what was collected, so each post
    /// still sees its events in order.
    async fn apply_event(
        &self,
        tx: &mut Tx<'_>,
        ring: &KeyRing,
        fresh: &mut Fresh,
        envelope: Envelope,
    ) -> anyhow::Result<Verdict> {
        let creation = envelope.aggregate_type == "post"
            && matches!(envelope.event_type.as_str(), "PostCreated" | "CommentAdded");
        if !creation {
            fresh.write(tx).await?;
        }
        match envelope.aggregate_type.as_str() {
            "post" => self.post_event(tx, ring, fresh, envelope).await,
            "moderation" => moderation_event(tx, &envelope).await,
            "hospital" => hospital_event(tx, &envelope).await,
            "affiliation" => claim_event(tx, &envelope).await,
            "member" => self.member_event(tx, &envelope).await,
            other => Ok(Err(format!("unexpected aggregate type {other:?}"))),
        }
    }

    async fn post_event(
        &self,
        tx: &mut Tx<'_>,
        ring: &KeyRing,
        fresh: &mut Fresh,
        envelope: Envelope,
    ) -> anyhow::Result<Verdict> {
        let post_id = match aggregate_uuid(&envelope) {
            Ok(id) => id,
            Err(reason) => return Ok(Err(reason)),
        };
        let sequence = envelope.sequence;
        let version = envelope.event_version;
        let event = match PostEvent::from_fields(&envelope.event_type, &version, envelope.payload) {
            Ok(event) => event,
            Err(error) => {
                return Ok(Err(format!(
                    "{} version {version}: {error}",
                    envelope.event_type
                )))
            }
        };
        if let PostEvent::PostCreated {
            board,
            title,
            body,
            badge,
            ..
        } = &event
        {
            let sealed = matches!(title, EventText::Sealed(_));
            let key = ring.get(&self.keys, "post", post_id).await?;
            let opened = |field, text| open(key.as_ref(), "post", post_id, field, text);
            let badge = badge.as_ref().map(|badge| opened("badge", badge));
            let (state, title, body, badge) =
                match (opened("title", title), opened("body", body), badge) {
                    (Opened::Unreadable, ..)
                    | (_, Opened::Unreadable, _)
                    | (.., Some(Opened::Unreadable)) => {
                        return Ok(Err("the content does not open with its key".to_owned()))
                    }
                    // Gone before it was ever shown: as deleted (docs/privacy.md).
                    (Opened::Erased, ..) | (_, Opened::Erased, _) | (.., Some(Opened::Erased)) => {
                        ("deleted", None, None, None)
                    }
                    (Opened::Text(title), Opened::Text(body), Some(Opened::Text(badge))) => {
                        match Badge::shown(&version, &badge) {
                            Ok(badge) => ("published", Some(title), Some(body), Some(badge)),
                            Err(error) => return Ok(Err(format!("the badge is not one: {error}"))),
                        }
                    }
                    (Opened::Text(title), Opened::Text(body), None) => {
                        ("published", Some(title), Some(body), None)
                    }
                };
            let posts = &mut fresh.posts;
            posts.id.push(post_id);
            posts.board.push(board.as_str().to_owned());
            posts.title.push(title);
            posts.body.push(body);
            posts.created_at.push(minute(envelope.occurred_at));
            posts.version.push(sequence);
            posts.state.push(state);
            let (job_category, hospital_id, region) = match badge {
                Some(b) => (Some(name(&b.job_category)), b.hospital_id, b.region),
                None => (None, None, None),
            };
            let (sido, kind) = region.map(|r| (r.sido, r.kind)).unzip();
            posts.badge_job_category.push(job_category);
            posts.badge_hospital_id.push(hospital_id);
            posts.badge_sido.push(sido);
            posts.badge_kind.push(kind);
            posts.sealed.push(sealed);
            return Ok(Ok(()));
        }
        if let PostEvent::CommentAdded {
            comment_id,
            parent_id,
            body,
            handle,
            ..
        } = &event
        {
            let key = ring.get(&self.keys, "comment", *comment_id).await?;
            let (state, body) = match open(key.as_ref(), "comment", *comment_id, "body", body) {
                Opened::Text(body) => ("published", Some(body)),
                Opened::Erased => ("deleted", None),
                Opened::Unreadable => {
                    return Ok(Err("the comment does not open with its key".to_owned()))
                }
            };
            let handle = match handle {
                Handle::OriginalPoster => 0,
                Handle::Anonymous(n) => i32::try_from(*n).unwrap_or(i32::MAX),
            };
            let comments = &mut fresh.comments;
            comments.post_id.push(post_id);
            comments.seq.push(sequence);
            comments.id.push(*comment_id);
            comments.parent_id.push(*parent_id);
            comments.handle.push(handle);
            comments.body.push(body);
            comments.state.push(state);
            comments.created_at.push(minute(envelope.occurred_at));
            return Ok(Ok(()));
        }
        // Every later event first moves the post's version forward; if it cannot, the event
        // was applied already.
        let advanced =
            sqlx::query("UPDATE board_posts SET version = $2 WHERE id = $1 AND version < $2")
                .bind(post_id)
                .bind(sequence)
                .execute(&mut **tx)
                .await?
                .rows_affected();
        if advanced == 0 {
            return Ok(Ok(()));
        }
        match event {
            // Handled above.
            PostEvent::PostCreated { .. } | PostEvent::CommentAdded { .. } => {}
            PostEvent::PostDeleted { .. } => self.remove(tx, Removal::Post, &[post_id]).await?,
            PostEvent::PostEdited { title, body } => {
                let key = ring.get(&self.keys, "post", post_id).await?;
                let opened = |field, text| open(key.as_ref(), "post", post_id, field, text);
                match (opened("title", &title), opened("body", &body)) {
                    (Opened::Text(title), Opened::Text(body)) => {
                        sqlx::query(
                            "UPDATE board_posts SET title = $2, body = $3 \
                             WHERE id = $1 AND state = 'published'",
                        )
                        .bind(post_id)
                        .bind(title)
                        .bind(body)
                        .execute(&mut **tx)
                        .await?;
                    }
                    // Deleted or erased since: a later event (or the sweep) blanks the row.
                    (Opened::Erased, _) | (_, Opened::Erased) => {}
                    _ => return Ok(Err("the content does not open with its key".to_owned())),
                }
            }
            PostEvent::PostLiked { .. } | PostEvent::PostUnliked { .. } => {
                let delta = if matches!(event, PostEvent::PostLiked { .. }) {
                    1
                } else {
                    -1
                };
                sqlx::query("UPDATE board_posts SET like_count = like_count + $2 WHERE id = $1")
                    .bind(post_id)
                    .bind(delta)
                    .execute(&mut **tx)
                    .await?;
            }
            PostEvent::CommentEdited { comment_id, body } => {
                let key = ring.get(&self.keys, "comment", comment_id).await?;
                match open(key.as_ref(), "comment", comment_id, "body", &body) {
                    Opened::Text(body) => {
                        sqlx::query(
                            "UPDATE board_comments SET body = $2 WHERE id = $1 AND state = 'published'",
                        )
                        .bind(comment_id)
                        .bind(body)
                        .execute(&mut **tx)
                        .await?;
                    }
                    Opened::Erased => {}
                    Opened::Unreadable => {
                        return Ok(Err("the comment does not open with its key".to_owned()))
                    }
                }
            }
            PostEvent::CommentDeleted { comment_id, .. } => {
                self.remove(tx, Removal::Comment, &[comment_id]).await?;
            }
            PostEvent::AnswerAccepted { comment_id } => {
                sqlx::query("UPDATE board_posts SET accepted_comment = $2 WHERE id = $1")
                    .bind(post_id)
                    .bind(comment_id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(Ok(()))
    }

    /// A withdrawal destroyed the member's content keys before it was recorded; the log does
    /// not say which items were theirs (that would link them), so the sweep looks for
    /// published posts and comments whose key is gone and removes them as deletions are
    /// removed: in the same epoch as other deletions, looking the same.
    async fn member_event(&self, tx: &mut Tx<'_>, envelope: &Envelope) -> anyhow::Result<Verdict> {
        match store::event::<MemberEvent>(envelope) {
            Ok(MemberEvent::MemberWithdrew {}) => {
                self.sweep(tx, Removal::Post).await?;
                self.sweep(tx, Removal::Comment).await?;
                Ok(Ok(()))
            }
            Ok(_) => Ok(Ok(())),
            Err(reason) => Ok(Err(reason)),
        }
    }

    async fn sweep(&self, tx: &mut Tx<'_>, kind: Removal) -> anyhow::Result<()> {
        let select = match kind {
            Removal::Post => {
                "SELECT id FROM board_posts WHERE state = 'published' AND sealed AND id > $1 \
                 ORDER BY id LIMIT $2"
            }
            Removal::Comment => {
                "SELECT id FROM board_comments WHERE state = 'published' AND id > $1 \
                 ORDER BY id LIMIT $2"
            }
        };
        let mut after = Uuid::nil();
        loop {
            let ids: Vec<Uuid> = sqlx::query_scalar(select)
                .bind(after)
                .bind(SWEEP_CHUNK)
                .fetch_all(&mut **tx)
                .await?;
            let Some(last) = ids.last() else {
                return Ok(());
            };
            after = *last;
            let present = self.keys.present(kind.name(), &ids).await?;
            let gone: Vec<Uuid> = ids.into_iter().filter(|id| !present.contains(id)).collect();
            if !gone.is_empty() {
                tracing::info!(kind = kind.name(), erased = gone.len(), "erasure sweep");
                self.remove(tx, kind, &gone).await?;
            }
        }
    }
}

/// New posts and comments of a batch, column by column, written in two statements.
#[derive(Default)]
struct Fresh {
    posts: NewPosts,
    comments: NewComments,
}

#[derive(Default)]
struct NewPosts {
    id: Vec<Uuid>,
    board: Vec<String>,
    title: Vec<Option<String>>,
    body: Vec<Option<String>>,
    created_at: Vec<DateTime<Utc>>,
    version: Vec<i64>,
    state: Vec<&'static str>,
    badge_job_category: Vec<Option<String>>,
    badge_hospital_id: Vec<Option<Uuid>>,
    badge_sido: Vec<Option<String>>,
    badge_kind: Vec<Option<String>>,
    sealed: Vec<bool>,
}

#[derive(Default)]
struct NewComments {
    post_id: Vec<Uuid>,
    seq: Vec<i64>,
    id: Vec<Uuid>,
    parent_id: Vec<Option<Uuid>>,
    handle: Vec<i32>,
    body: Vec<Option<String>>,
    state: Vec<&'static str>,
    created_at: Vec<DateTime<Utc>>,
}

impl Fresh {
    /// Writes the collected posts, then the comments, and starts over.
    async fn write(&mut self, tx: &mut Tx<'_>) -> anyhow::Result<()> {
        let Self { posts, comments } = std::mem::take(self);
        if !posts.id.is_empty() {
            // A redelivered creation finds the row there and changes nothing.
            sqlx::query(
                "INSERT INTO board_posts (id, board, title, body, created_at, version, state, \
                 badge_job_category, badge_hospital_id, badge_sido, badge_kind, sealed) \
                 SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], \
                   $5::timestamptz[], $6::bigint[], $7::text[], $8::text[], $9::uuid[], \
                   $10::text[], $11::text[], $12::bool[]) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(posts.id)
            .bind(posts.board)
            .bind(posts.title)
            .bind(posts.body)
            .bind(posts.created_at)
            .bind(posts.version)
            .bind(posts.state)
            .bind(posts.badge_job_category)
            .bind(posts.badge_hospital_id)
            .bind(posts.badge_sido)
            .bind(posts.badge_kind)
            .bind(posts.sealed)
            .execute(&mut **tx)
            .await
            .context("writing a batch's new posts")?;
        }
        if !comments.id.is_empty() {
            // A comment counts only if its sequence is past the post's version, which then
            // moves to the last one: a repeated or redelivered comment changes nothing, and a
            // comment of a post the board does not have is dropped, as any later event is.
            sqlx::query(
                "WITH incoming AS ( \
                   SELECT DISTINCT ON (post_id, seq) * FROM UNNEST($1::uuid[], $2::bigint[], \
                     $3::uuid[], $4::uuid[], $5::int[], $6::text[], $7::text[], $8::timestamptz[]) \
                     AS c(post_id, seq, id, parent_id, handle, body, state, created_at)), \
                 fresh AS ( \
                   SELECT c.* FROM incoming c JOIN board_posts p ON p.id = c.post_id \
                   WHERE c.seq > p.version), \
                 advanced AS ( \
                   UPDATE board_posts p SET version = f.last, comment_count = p.comment_count + f.added \
                   FROM (SELECT post_id, max(seq) AS last, \
                           count(*) FILTER (WHERE state = 'published') AS added \
                         FROM fresh GROUP BY post_id) f \
                   WHERE p.id = f.post_id) \
                 INSERT INTO board_comments (id, post_id, parent_id, handle, body, state, created_at, seq) \
                 SELECT id, post_id, parent_id, handle, body, state, created_at, seq FROM fresh \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(comments.post_id)
            .bind(comments.seq)
            .bind(comments.id)
            .bind(comments.parent_id)
            .bind(comments.handle)
            .bind(comments.body)
            .bind(comments.state)
            .bind(comments.created_at)
            .execute(&mut **tx)
            .await
            .context("writing a batch's new comments")?;
        }
        Ok(())
    }
}

async fn moderation_event(tx: &mut Tx<'_>, envelope: &Envelope) -> anyhow::Result<Verdict> {
    let Some((kind, id)) = envelope
        .aggregate_id
        .split_once(':')
        .and_then(|(kind, id)| Some((kind, Uuid::parse_str(id).ok()?)))
    else {
        return Ok(Err(format!(
            "moderation id {:?} is not <kind>:<uuid>",
            envelope.aggregate_id
        )));
    };
    let event = match store::event::<ModerationEvent>(envelope) {
        Ok(event) => event,
        Err(reason) => return Ok(Err(reason)),
    };
    let advanced = sqlx::query(
        "INSERT INTO board_moderation (target_kind, target_id, hidden, version) VALUES ($1, $2, false, $3) \
         ON CONFLICT (target_kind, target_id) DO UPDATE SET version = EXCLUDED.version \
         WHERE board_moderation.version < EXCLUDED.version",
    )
    .bind(kind)
    .bind(id)
    .bind(envelope.sequence)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if advanced == 0 {
        return Ok(Ok(()));
    }
    let (hidden, action, cause, reason, note) = match event {
        ModerationEvent::ReportFiled { .. } => return Ok(Ok(())),
        ModerationEvent::TargetHidden {
            cause,
            reason,
            note,
        } => (
            true,
            "hidden",
            Some(name(&cause)),
            Some(name(&reason)),
            note,
        ),
        ModerationEvent::TargetRestored { note } => (false, "restored", None, None, note),
    };
    sqlx::query(
        "UPDATE board_moderation SET hidden = $3 WHERE target_kind = $1 AND target_id = $2",
    )
    .bind(kind)
    .bind(id)
    .bind(hidden)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO board_moderation_log (event_id, seq, target_kind, target_id, action, cause, reason, note, occurred_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(envelope.event_id)
    .bind(envelope.sequence)
    .bind(kind)
    .bind(id)
    .bind(action)
    .bind(cause)
    .bind(reason)
    .bind(note)
    .bind(minute(envelope.occurred_at))
    .execute(&mut **tx)
    .await?;
    Ok(Ok(()))
}

async fn hospital_event(tx: &mut Tx<'_>, envelope: &Envelope) -> anyhow::Result<Verdict> {
    let id = match aggregate_uuid(envelope) {
        Ok(id) => id,
        Err(reason) => return Ok(Err(reason)),
    };
    let profile = match store::event::<HospitalEvent>(envelope) {
        Ok(
            HospitalEvent::HospitalRegistered { profile }
            | HospitalEvent::HospitalUpdated { profile },
        ) => profile,
        // A closed hospital's badges stay as they were.
        Ok(HospitalEvent::HospitalClosed {}) => return Ok(Ok(())),
        Err(reason) => return Ok(Err(reason)),
    };
    sqlx::query(
        "INSERT INTO board_hospitals (id, name, kind, sido, version) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, \
         sido = EXCLUDED.sido, version = EXCLUDED.version WHERE board_hospitals.version < EXCLUDED.version",
    )
    .bind(id)
    .bind(&profile.name)
    .bind(name(&profile.kind))
    .bind(&profile.sido)
    .bind(envelope.sequence)
    .execute(&mut **tx)
    .await?;
    Ok(Ok(()))
}

async fn claim_event(tx: &mut Tx<'_>, envelope: &Envelope) -> anyhow::Result<Verdict> {
    let id = match aggregate_uuid(envelope) {
        Ok(id) => id,
        Err(reason) => return Ok(Err(reason)),
    };
    let event = match store::event::<ClaimEvent>(envelope) {
        Ok(event) => event,
        Err(reason) => return Ok(Err(reason)),
    };
    if let ClaimEvent::ClaimSubmitted { hospital_id, .. } = event {
        sqlx::query(
            "INSERT INTO board_claims (id, hospital_id, verified, version) VALUES ($1, $2, false, $3) \
             ON CONFLICT (id) DO UPDATE SET hospital_id = EXCLUDED.hospital_id, verified = false, \
             version = EXCLUDED.version WHERE board_claims.version < EXCLUDED.version",
        )
        .bind(id)
        .bind(hospital_id)
        .bind(envelope.sequence)
        .execute(&mut **tx)
        .await?;
        return Ok(Ok(()));
    }
    let verified = matches!(event, ClaimEvent::ClaimVerified { .. });
    sqlx::query(
        "UPDATE board_claims SET verified = $2, version = $3 WHERE id = $1 AND version < $3",
    )
    .bind(id)
    .bind(verified)
    .bind(envelope.sequence)
    .execute(&mut **tx)
    .await?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::record;
    use ward_domain::author::AuthorRef;
    use ward_domain::post::{Board, DeletedBy};
    use ward_domain::sealed::ContentKey;
    use ward_platform::config::DatabaseConfig;

    type Result<T = ()> = anyhow::Result<T>;

    /// A scratch board read model with a content key table beside it, dropped after `body`.
    async fn with_database<F, Fut>(body: F) -> Result
    where
        F: FnOnce(BoardProjection, PgPool) -> Fut,
        Fut: std::future::Future<Output = Result>,
    {
        let name = format!("ward_unit_b_{}", &Uuid::new_v4().simple().to_string()[..12]);
        let server = DatabaseConfig::new("postgres://postgres@127.0.0.1:5432/postgres");
        let config = server.with_database(&name)?;
        config.create_postgres_database().await?;
        let pool = config.connect_postgres().await?;
        MIGRATOR.run(&pool).await?;
        crate::testing::content_key_table(&pool).await?;
        let outcome = body(
            BoardProjection::new(pool.clone(), pool.clone()),
            pool.clone(),
        )
        .await;
        pool.close().await;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&server.connect_postgres().await?)
            .await?;
        outcome
    }

    /// A fresh key for item `kind`/`id`, stored.
    async fn key(pool: &PgPool, kind: &str, id: Uuid) -> Result<ContentKey> {
        let key = ContentKey::generate();
        sqlx::query("INSERT INTO content_keys (item_type, item_id, key) VALUES ($1, $2, $3)")
            .bind(kind)
            .bind(id.to_string())
            .bind(key.as_bytes().as_slice())
            .execute(pool)
            .await?;
        Ok(key)
    }

    async fn created(pool: &PgPool, post: Uuid, title: &str) -> Result<PostEvent> {
        let key = key(pool, "post", post).await?;
        Ok(PostEvent::PostCreated {
            board: Board::Free,
            title: EventText::Sealed(key.seal("post", post, "title", title)),
            body: EventText::Sealed(key.seal("post", post, "body", "본문")),
            author_ref: AuthorRef("ab".repeat(32)),
            badge: None,
        })
    }

    async fn comment(
        pool: &PgPool,
        id: Uuid,
        parent: Option<Uuid>,
        text: &str,
    ) -> Result<PostEvent> {
        let key = key(pool, "comment", id).await?;
        Ok(PostEvent::CommentAdded {
            comment_id: id,
            parent_id: parent,
            body: EventText::Sealed(key.seal("comment", id, "body", text)),
            handle: Handle::Anonymous(1),
            commenter_ref: AuthorRef("cd".repeat(32)),
        })
    }

    /// The record of a post created with `badge` (its JSON, sealed) as event `version`.
    async fn badged(pool: &PgPool, post: Uuid, badge: &str, version: &str) -> Result<Record> {
        let key = key(pool, "post", post).await?;
        let event = PostEvent::PostCreated {
            board: Board::Free,
            title: EventText::Sealed(key.seal("post", post, "title", "배지 글")),
            body: EventText::Sealed(key.seal("post", post, "body", "본문")),
            author_ref: AuthorRef("ab".repeat(32)),
            badge: Some(EventText::Sealed(key.seal("post", post, "badge", badge))),
        };
        let mut record = record("post", &post.to_string(), 1, &event)?;
        let mut envelope: Envelope =
            serde_json::from_slice(record.value.as_deref().unwrap_or_default())?;
        envelope.event_version = version.to_owned();
        record.value = Some(serde_json::to_vec(&envelope)?);
        Ok(record)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn badges_are_stored_as_shown_and_a_version_3_badge_as_its_job_category_only() -> Result {
        with_database(|projection, pool| async move {
            let hospital = Uuid::new_v4();
            let named = format!(r#"{{"job_category":"nurse","hospital_id":"{hospital}"}}"#);
            let regional = r#"{"job_category":"doctor","region":{"sido":"부산","kind":"general"}}"#;
            let posts = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
            let mut batch = vec![
                badged(&pool, posts[0], &named, "4").await?,
                badged(&pool, posts[1], regional, "4").await?,
                // Decided at read time: whether it could show its hospital is not known.
                badged(&pool, posts[2], &named, "3").await?,
            ];
            for (offset, record) in (0..).zip(batch.iter_mut()) {
                record.offset = offset;
            }
            projection.apply("g", &batch).await?;
            type Row = (Option<String>, Option<Uuid>, Option<String>, Option<String>);
            let mut stored: Vec<Row> = Vec::new();
            for post in posts {
                stored.push(
                    sqlx::query_as(
                        "SELECT badge_job_category, badge_hospital_id, badge_sido, badge_kind \
                         FROM board_posts WHERE id = $1",
                    )
                    .bind(post)
                    .fetch_one(&pool)
                    .await?,
                );
            }
            let text = |s: &str| Some(s.to_owned());
            assert_eq!(
                stored,
                [
                    (text("nurse"), Some(hospital), None, None),
                    (text("doctor"), None, text("부산"), text("general")),
                    (text("nurse"), None, None, None),
                ]
            );
            Ok(())
        })
        .await
    }

    /// Every post and comment, in a comparable form.
    async fn snapshot(pool: &PgPool) -> Result<Vec<String>> {
        type PostRow = (Uuid, Option<String>, String, i32, i32, i64);
        let posts: Vec<PostRow> = sqlx::query_as(
            "SELECT id, title, state, comment_count, like_count, version FROM board_posts ORDER BY id",
        )
        .fetch_all(pool)
        .await?;
        type CommentRow = (Uuid, Uuid, Option<Uuid>, Option<String>, String, i64);
        let comments: Vec<CommentRow> = sqlx::query_as(
            "SELECT id, post_id, parent_id, body, state, seq FROM board_comments ORDER BY post_id, seq",
        )
        .fetch_all(pool)
        .await?;
        Ok(posts
            .iter()
            .map(|r| format!("post {r:?}"))
            .chain(comments.iter().map(|r| format!("comment {r:?}")))
            .collect())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn new_posts_and_comments_written_together_keep_each_posts_order_and_count_once() -> Result
    {
        with_database(|projection, pool| async move {
            let (first, second, unknown) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
            let c: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
            let post =
                |id: Uuid, seq, event: &PostEvent| record("post", &id.to_string(), seq, event);
            let mut batch = vec![
                post(first, 1, &created(&pool, first, "첫 글").await?)?,
                post(first, 2, &comment(&pool, c[0], None, "하나").await?)?,
                post(second, 1, &created(&pool, second, "둘째 글").await?)?,
                post(first, 3, &comment(&pool, c[1], Some(c[0]), "둘").await?)?,
                // A comment of a post the board does not have: dropped, like any event of it.
                post(unknown, 2, &comment(&pool, c[2], None, "없는 글").await?)?,
                post(
                    first,
                    4,
                    &PostEvent::PostLiked {
                        liker_ref: AuthorRef("ef".repeat(32)),
                    },
                )?,
                post(second, 2, &comment(&pool, c[3], None, "셋").await?)?,
                post(
                    first,
                    5,
                    &PostEvent::CommentDeleted {
                        comment_id: c[0],
                        by: DeletedBy::Author,
                    },
                )?,
                post(first, 6, &comment(&pool, c[4], None, "넷").await?)?,
            ];
            // The same comment twice in one batch, as a redelivery can do.
            batch.insert(4, batch[3].clone());
            for (offset, record) in (0..).zip(batch.iter_mut()) {
                record.offset = offset;
            }
            projection.apply("g", &batch).await?;
            let once = snapshot(&pool).await?;
            let (f, s) = (first, second);
            let (c0, c1, c3, c4) = (c[0], c[1], c[3], c[4]);
            let mut expected = vec![
                format!("post ({f}, Some(\"첫 글\"), \"published\", 2, 1, 6)"),
                format!("post ({s}, Some(\"둘째 글\"), \"published\", 1, 0, 2)"),
                format!("comment ({c0}, {f}, None, None, \"deleted\", 2)"),
                format!("comment ({c1}, {f}, Some({c0}), Some(\"둘\"), \"published\", 3)"),
                format!("comment ({c4}, {f}, None, Some(\"넷\"), \"published\", 6)"),
                format!("comment ({c3}, {s}, None, Some(\"셋\"), \"published\", 2)"),
            ];
            expected.sort();
            let mut sorted = once.clone();
            sorted.sort();
            assert_eq!(sorted, expected);
            // Redelivered as a whole, then one record at a time in reverse: nothing changes.
            projection.apply("g", &batch).await?;
            for record in batch.iter().rev() {
                projection.apply("g", std::slice::from_ref(record)).await?;
            }
            assert_eq!(snapshot(&pool).await?, once);
            let rejects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projector_rejects")
                .fetch_one(&pool)
                .await?;
            assert_eq!(rejects, 0);
            Ok(())
        })
        .await
    }
}
