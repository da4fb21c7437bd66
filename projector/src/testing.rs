//! Helpers of the projections' own tests: records made from domain events, and the content
//! key table.

use cqrs_es::DomainEvent;
use uuid::Uuid;
use ward_platform::kafka::{Envelope, Metadata};

use crate::consumer::Record;

/// The record of `event` on partition 0 of its aggregate type's topic, at the offset of its
/// sequence, as the relay would publish it (`{"Type": {fields}}` becomes type, version and
/// payload).
pub fn record<E: DomainEvent>(
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
    event: &E,
) -> anyhow::Result<Record> {
    let serde_json::Value::Object(tagged) = serde_json::to_value(event)? else {
        anyhow::bail!("not an externally tagged event");
    };
    let payload = tagged
        .into_iter()
        .next()
        .map(|(_, payload)| payload)
        .ok_or_else(|| anyhow::anyhow!("no event"))?;
    let envelope = Envelope {
        event_id: Uuid::now_v7(),
        aggregate_type: aggregate_type.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        sequence,
        event_type: event.event_type(),
        event_version: event.event_version(),
        occurred_at: "2026-11-28T09:12:44.120391Z".parse()?,
        payload,
        metadata: Metadata::default(),
    };
    Ok(Record {
        topic: format!("ward.{aggregate_type}.events"),
        partition: 0,
        offset: sequence,
        value: Some(serde_json::to_vec(&envelope)?),
    })
}

/// The write side's content key table, as the projections read it, in a scratch database.
pub async fn content_key_table(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TABLE content_keys (item_type text, item_id text, key bytea NOT NULL, \
         PRIMARY KEY (item_type, item_id))",
    )
    .execute(pool)
    .await?;
    Ok(())
}
