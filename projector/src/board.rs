//! The board read model in PostgreSQL: posts by board, newest first.

use anyhow::Context;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;
use ward_domain::post::{EventText, PostEvent};
use ward_domain::sealed::ContentKey;
use ward_platform::kafka::Envelope;

use crate::consumer::{Projection, Record, StoredOffset};
use crate::store::{self, Rejects, Verdict};

/// The board read model's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/board");

/// Builds `board_posts` from the post topic.
pub struct BoardProjection {
    pool: PgPool,
    keys: PgPool,
}

impl BoardProjection {
    /// A projection writing to `pool`, reading content keys from the event store `keys`.
    pub fn new(pool: PgPool, keys: PgPool) -> Self {
        Self { pool, keys }
    }
}

impl Projection for BoardProjection {
    fn name(&self) -> &'static str {
        "board"
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["post"]
    }

    async fn stored_offsets(&self, group: &str) -> anyhow::Result<Vec<StoredOffset>> {
        store::pg::stored_offsets(&self.pool, group).await
    }

    #[tracing::instrument(skip_all, fields(group, records = batch.len()))]
    async fn apply(&self, group: &str, batch: &[Record]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        let mut rejects = Rejects::default();
        for record in batch {
            match store::envelope(record) {
                Ok(envelope) => {
                    rejects.check(record, apply_event(&mut tx, &self.keys, envelope).await?)
                }
                Err(reason) => rejects.push(record, reason),
            }
        }
        store::pg::finish(&mut tx, group, batch, &rejects).await?;
        tx.commit().await.context("committing a board batch")?;
        Ok(())
    }
}

/// Applies one event. The outer error is a database failure (retry the batch); the inner
/// one an event that can never be applied (reject it and go on).
async fn apply_event(
    tx: &mut Transaction<'_, Postgres>,
    keys: &PgPool,
    envelope: Envelope,
) -> anyhow::Result<Verdict> {
    let Ok(post_id) = Uuid::parse_str(&envelope.aggregate_id) else {
        return Ok(Err(format!(
            "post id {:?} is not a UUID",
            envelope.aggregate_id
        )));
    };
    let event = match PostEvent::from_fields(
        &envelope.event_type,
        &envelope.event_version,
        envelope.payload,
    ) {
        Ok(event) => event,
        Err(error) => {
            return Ok(Err(format!(
                "{} version {}: {error}",
                envelope.event_type, envelope.event_version
            )))
        }
    };
    match event {
        PostEvent::PostCreated {
            board, title, body, ..
        } => {
            let key = content_key(keys, post_id).await?;
            let (state, title, body) = match (
                open(key.as_ref(), post_id, "title", &title),
                open(key.as_ref(), post_id, "body", &body),
            ) {
                (Opened::Text(title), Opened::Text(body)) => ("published", Some(title), Some(body)),
                (Opened::Erased, _) | (_, Opened::Erased) => ("erased", None, None),
                (Opened::Unreadable, _) | (_, Opened::Unreadable) => {
                    return Ok(Err("the content does not open with its key".to_owned()))
                }
            };
            // A redelivered creation finds the row there and changes nothing.
            sqlx::query(
                "INSERT INTO board_posts (id, board, title, body, created_at, version, state) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            )
            .bind(post_id)
            .bind(board.as_str())
            .bind(title)
            .bind(body)
            .bind(envelope.occurred_at)
            .bind(envelope.sequence)
            .bind(state)
            .execute(&mut **tx)
            .await?;
        }
        PostEvent::PostDeleted { .. } => {
            sqlx::query(
                "UPDATE board_posts SET state = 'deleted', title = NULL, body = NULL, version = $2 \
                 WHERE id = $1 AND version < $2",
            )
            .bind(post_id)
            .bind(envelope.sequence)
            .execute(&mut **tx)
            .await?;
        }
        PostEvent::PostEdited { title, body } => {
            let key = content_key(keys, post_id).await?;
            let (title, body) = match (
                open(key.as_ref(), post_id, "title", &title),
                open(key.as_ref(), post_id, "body", &body),
            ) {
                (Opened::Text(title), Opened::Text(body)) => (title, body),
                // Deleted since: the deletion, further on in the log, blanks the row.
                (Opened::Erased, _) | (_, Opened::Erased) => return Ok(Ok(())),
                (Opened::Unreadable, _) | (_, Opened::Unreadable) => {
                    return Ok(Err("the content does not open with its key".to_owned()))
                }
            };
            sqlx::query(
                "UPDATE board_posts SET title = $3, body = $4, version = $2 \
                 WHERE id = $1 AND version < $2 AND state = 'published'",
            )
            .bind(post_id)
            .bind(envelope.sequence)
            .bind(title)
            .bind(body)
            .execute(&mut **tx)
            .await?;
        }
        // Likes, comments and accepted answers are not part of this read model yet; the
        // board read model of the read-side issue projects them. Skipping them here is
        // safe: offsets still advance, and a rebuild from offset 0 picks them up.
        PostEvent::PostLiked { .. }
        | PostEvent::PostUnliked { .. }
        | PostEvent::CommentAdded { .. }
        | PostEvent::CommentEdited { .. }
        | PostEvent::CommentDeleted { .. }
        | PostEvent::AnswerAccepted { .. } => {}
    }
    Ok(Ok(()))
}

/// The post's content key, unless it was destroyed.
async fn content_key(keys: &PgPool, post_id: Uuid) -> anyhow::Result<Option<ContentKey>> {
    let stored: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT key FROM content_keys WHERE item_type = 'post' AND item_id = $1",
    )
    .bind(post_id.to_string())
    .fetch_optional(keys)
    .await
    .context("reading a content key")?;
    Ok(stored.and_then(|bytes| ContentKey::from_bytes(&bytes)))
}

enum Opened {
    Text(String),
    Erased,
    Unreadable,
}

fn open(key: Option<&ContentKey>, post_id: Uuid, field: &str, text: &EventText) -> Opened {
    match (text, key) {
        (EventText::Legacy(text), _) => Opened::Text(text.clone()),
        (EventText::Sealed(_), None) => Opened::Erased,
        (EventText::Sealed(sealed), Some(key)) => match key.open("post", post_id, field, sealed) {
            Ok(text) => Opened::Text(text),
            Err(_) => Opened::Unreadable,
        },
    }
}
