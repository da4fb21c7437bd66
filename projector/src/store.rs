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

/// The domain event `E` in `envelope` (for event types without upcasters; posts have
/// `PostEvent::from_fields`).
pub fn event<E: serde::de::DeserializeOwned>(envelope: &Envelope) -> Result<E, String> {
    serde_json::from_value(serde_json::json!({ &envelope.event_type: envelope.payload.clone() }))
        .map_err(|error| {
            format!(
                "{} version {}: {error}",
                envelope.event_type, envelope.event_version
            )
        })
}

/// The envelope's aggregate id as a UUID.
pub fn aggregate_uuid(envelope: &Envelope) -> Result<uuid::Uuid, String> {
    uuid::Uuid::parse_str(&envelope.aggregate_id).map_err(|_| {
        format!(
            "{} id {:?} is not a UUID",
            envelope.aggregate_type, envelope.aggregate_id
        )
    })
}

/// The string a serde enum value serialises to (e.g. `JobCategory::Nurse` → `nurse`).
pub fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// The read model does not hold the records just before the batch: its stored offset for a
/// partition is behind where the consumer is reading (the database was swapped by a rebuild,
/// or restored from a backup). The batch is not applied; the consumer seeks back to the
/// stored offsets and reads the gap.
#[derive(Debug, thiserror::Error)]
#[error("the read model stores offset {stored} for {topic}/{partition}, but the batch starts at {first}")]
pub struct Gap {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// What the read model holds up to.
    pub stored: i64,
    /// Where the batch starts.
    pub first: i64,
}

/// Checks that `stored` (the read model's offsets, read in the batch's transaction) reach up
/// to where `batch` begins in every partition.
fn check_contiguous(stored: &[StoredOffset], batch: &[Record]) -> Result<(), Gap> {
    let mut first: std::collections::BTreeMap<(&str, i32), i64> = Default::default();
    for record in batch {
        let entry = first
            .entry((&record.topic, record.partition))
            .or_insert(record.offset);
        *entry = (*entry).min(record.offset);
    }
    for ((topic, partition), first) in first {
        // Nothing stored: the consumer started at the partition's beginning, wherever that is.
        let Some(stored) = stored
            .iter()
            .find(|s| s.topic == topic && s.partition == partition)
            .map(|s| s.next_offset)
        else {
            continue;
        };
        if stored < first {
            return Err(Gap {
                topic: topic.to_owned(),
                partition,
                stored,
                first,
            });
        }
    }
    Ok(())
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

    /// Records the rejects and the offsets after `batch` in `tx`; fails with [`Gap`] if the
    /// read model does not reach up to the batch.
    pub async fn finish(
        tx: &mut Transaction<'_, Postgres>,
        group: &str,
        batch: &[Record],
        rejects: &Rejects<'_>,
    ) -> anyhow::Result<()> {
        let rows: Vec<(String, i32, i64)> = sqlx::query_as(
            "SELECT topic, partition, next_offset FROM projector_offsets \
             WHERE consumer_group = $1 FOR UPDATE",
        )
        .bind(group)
        .fetch_all(&mut **tx)
        .await?;
        let stored: Vec<StoredOffset> = rows.into_iter().map(StoredOffset::from).collect();
        check_contiguous(&stored, batch)?;
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

    /// Records the rejects and the offsets after `batch` in `tx`; fails with [`Gap`] if the
    /// read model does not reach up to the batch.
    pub async fn finish(
        tx: &mut Transaction<'_, MySql>,
        group: &str,
        batch: &[Record],
        rejects: &Rejects<'_>,
    ) -> anyhow::Result<()> {
        let rows: Vec<(String, i32, i64)> = sqlx::query_as(
            "SELECT topic, `partition`, next_offset FROM projector_offsets \
             WHERE consumer_group = ? FOR UPDATE",
        )
        .bind(group)
        .fetch_all(&mut **tx)
        .await?;
        let stored: Vec<StoredOffset> = rows.into_iter().map(StoredOffset::from).collect();
        check_contiguous(&stored, batch)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::tests::record;

    fn stored(partition: i32, next_offset: i64) -> StoredOffset {
        StoredOffset {
            topic: "t".to_owned(),
            partition,
            next_offset,
        }
    }

    #[test]
    fn a_batch_must_start_where_the_read_model_left_off_or_before() {
        let batch = [record(0, 5), record(0, 6), record(1, 0)];
        assert!(check_contiguous(&[stored(0, 5)], &batch).is_ok());
        assert!(
            check_contiguous(&[stored(0, 6)], &batch).is_ok(),
            "a repeat is harmless"
        );
        let gap = check_contiguous(&[stored(0, 4)], &batch);
        assert!(matches!(
            gap,
            Err(Gap {
                partition: 0,
                stored: 4,
                first: 5,
                ..
            })
        ));
        // Nothing stored: the partition's beginning, wherever retention left it.
        assert!(check_contiguous(&[], &[record(1, 3)]).is_ok());
    }
}
