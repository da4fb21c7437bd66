//! What every projection keeps in its read-model database beside its own tables: the offsets
//! it has applied up to and the records it could never apply. Both are written in the same
//! transaction as the batch's changes, so the read model and its position never disagree.
//!
//! PostgreSQL ([`pg`]) and the MySQL protocol ([`mysql`]: MariaDB here, MySQL 8 in
//! production) need their own SQL; the flow is the same:
//!
//! ```text
//! let mut tx = pool.begin().await?;
//! let mut rejects = Rejects::default();
//! for record in batch {
//!     match store::envelope(record) {
//!         Ok(envelope) => rejects.check(record, apply(&mut tx, envelope).await?),
//!         Err(reason) => rejects.push(record, reason),
//!     }
//! }
//! store::pg::finish(&mut tx, group, batch, &rejects).await?;
//! tx.commit().await?;
//! ```

use sqlx::{MySql, Postgres, Transaction};
use ward_platform::kafka::Envelope;

use crate::consumer::{next_offsets, Record, StoredOffset};

/// The outcome of applying one record: `Err` names why it can never be applied (it is
/// recorded as rejected and the projection goes on); database failures are the outer error
/// of the apply functions and make the whole batch retry.
pub type Verdict = Result<(), String>;

/// The envelope in `record`, or why it is not one.
pub fn envelope(record: &Record) -> Result<Envelope, String> {
    let Some(value) = &record.value else {
        return Err("the record has no value".to_owned());
    };
    serde_json::from_slice(value).map_err(|error| format!("not an event envelope: {error}"))
}

/// Records of a batch that were rejected, with the reason.
#[derive(Debug, Default)]
pub struct Rejects<'a>(Vec<(&'a Record, String)>);

impl<'a> Rejects<'a> {
    /// Notes `record` as rejected.
    pub fn push(&mut self, record: &'a Record, reason: String) {
        self.0.push((record, reason));
    }

    /// Notes `record` as rejected if `verdict` says so.
    pub fn check(&mut self, record: &'a Record, verdict: Verdict) {
        if let Err(reason) = verdict {
            self.push(record, reason);
        }
    }

    fn log(&self, group: &str) {
        for (record, reason) in &self.0 {
            tracing::error!(
                group,
                topic = record.topic,
                partition = record.partition,
                offset = record.offset,
                reason,
                "record rejected"
            );
        }
    }
}

/// The SQL for PostgreSQL read models (tables from `migrations/common`-style DDL in each
/// projection's first migration: `projector_offsets`, `projector_rejects`).
pub mod pg {
    use super::*;

    /// The offsets stored for `group`.
    pub async fn stored_offsets(
        pool: &sqlx::PgPool,
        group: &str,
    ) -> anyhow::Result<Vec<StoredOffset>> {
        let rows: Vec<(String, i32, i64)> = sqlx::query_as(
            "SELECT topic, partition, next_offset FROM projector_offsets WHERE consumer_group = $1",
        )
        .bind(group)
        .fetch_all(pool)
        .await?;
        Ok(rows.into_iter().map(StoredOffset::from).collect())
    }

    /// Records the rejects and the offsets after `batch` in `tx`.
    pub async fn finish(
        tx: &mut Transaction<'_, Postgres>,
        group: &str,
        batch: &[Record],
        rejects: &Rejects<'_>,
    ) -> anyhow::Result<()> {
        rejects.log(group);
        for (record, reason) in &rejects.0 {
            sqlx::query(
                "INSERT INTO projector_rejects (consumer_group, topic, partition, \"offset\", reason) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(group)
            .bind(&record.topic)
            .bind(record.partition)
            .bind(record.offset)
            .bind(reason)
            .execute(&mut **tx)
            .await?;
        }
        for stored in next_offsets(batch) {
            // GREATEST: a consumer that lost its partition mid-retry never moves it backwards.
            sqlx::query(
                "INSERT INTO projector_offsets (consumer_group, topic, partition, next_offset) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (consumer_group, topic, partition) \
                 DO UPDATE SET next_offset = GREATEST(projector_offsets.next_offset, EXCLUDED.next_offset)",
            )
            .bind(group)
            .bind(&stored.topic)
            .bind(stored.partition)
            .bind(stored.next_offset)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

/// The SQL for MySQL-protocol read models (portable between MariaDB 10.11 and MySQL 8).
pub mod mysql {
    use super::*;

    /// The offsets stored for `group`.
    pub async fn stored_offsets(
        pool: &sqlx::MySqlPool,
        group: &str,
    ) -> anyhow::Result<Vec<StoredOffset>> {
        let rows: Vec<(String, i32, i64)> = sqlx::query_as(
            "SELECT topic, `partition`, next_offset FROM projector_offsets WHERE consumer_group = ?",
        )
        .bind(group)
        .fetch_all(pool)
        .await?;
        Ok(rows.into_iter().map(StoredOffset::from).collect())
    }

    /// Records the rejects and the offsets after `batch` in `tx`.
    pub async fn finish(
        tx: &mut Transaction<'_, MySql>,
        group: &str,
        batch: &[Record],
        rejects: &Rejects<'_>,
    ) -> anyhow::Result<()> {
        rejects.log(group);
        for (record, reason) in &rejects.0 {
            sqlx::query(
                "INSERT IGNORE INTO projector_rejects (consumer_group, topic, `partition`, `offset`, reason) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(group)
            .bind(&record.topic)
            .bind(record.partition)
            .bind(record.offset)
            .bind(reason)
            .execute(&mut **tx)
            .await?;
        }
        for stored in next_offsets(batch) {
            // VALUES() in ON DUPLICATE KEY UPDATE works on MariaDB and MySQL 8 alike.
            sqlx::query(
                "INSERT INTO projector_offsets (consumer_group, topic, `partition`, next_offset) \
                 VALUES (?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE next_offset = GREATEST(next_offset, VALUES(next_offset))",
            )
            .bind(group)
            .bind(&stored.topic)
            .bind(stored.partition)
            .bind(stored.next_offset)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

impl From<(String, i32, i64)> for StoredOffset {
    fn from((topic, partition, next_offset): (String, i32, i64)) -> Self {
        Self {
            topic,
            partition,
            next_offset,
        }
    }
}
