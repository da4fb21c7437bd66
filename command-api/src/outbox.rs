//! The outbox relay: publishes the rows that the `events_to_outbox` trigger queued, in order,
//! to one Kafka topic per aggregate type, keyed by aggregate id, and deletes each row only
//! after the broker acknowledged it (`acks=all`, idempotent producer).
//!
//! Exactly one relay publishes at a time: the leader holds a PostgreSQL session-level advisory
//! lock on a connection of its own. If the leader dies its connection closes, the lock is
//! released and another replica's relay, which retries every second, takes over.
//!
//! A crash, a cut connection or a lost leadership between the broker's acknowledgement and
//! the `DELETE` leaves published rows in the outbox. So a relay that becomes leader first reads
//! the tails of the topics the outbox is headed for and deletes, without publishing them again,
//! the rows whose events are already there ([`Relay::already_published`]). What is left is a
//! narrow at-least-once window (a deposed leader whose sends were still in flight when another
//! took over, ADR 0001); consumers therefore still skip events whose sequence they already
//! applied.
//!
//! After each acknowledged batch the relay announces on Redis where each partition it appended
//! to now ends ([`kafka::Appended`]), so projectors that paused caught-up partitions fetch the
//! new records at once (ADR 0011).
//!
//! `ward events republish` publishes stored events again with the same pieces — the leader
//! lock ([`try_lock`], [`release`]), the [`producer`], the envelope ([`EventRow::envelope`])
//! and [`send`] — so that its records are the relay's.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use anyhow::Context;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use ward_platform::config::KafkaConfig;
use ward_platform::kafka::{self, Appended, Envelope, Metadata};

/// The advisory lock key that elects the relay leader ("WARD" and 1). `ward events republish`
/// holds it too, so that no relay publishes while it runs.
const LEADER_LOCK: i64 = 0x5741_5244_0001;
/// Most rows published per round trip.
const BATCH: i64 = 1000;
/// Deleted rows after which the leader vacuums the outbox (see [`Relay::lead`]).
const VACUUM_AFTER: usize = 50_000;
/// How often a follower tries to become leader, and a leader looks without a notification.
const POLL: Duration = Duration::from_secs(1);
/// The PostgreSQL channel the outbox trigger notifies.
const CHANNEL: &str = "ward_outbox";

/// The relay and its metrics.
pub struct Relay {
    pool: PgPool,
    kafka: KafkaConfig,
    /// Where the [`Appended`] notices go, and their channel.
    redis: redis::aio::ConnectionManager,
    channel: String,
    backlog: Gauge,
    leader: Gauge,
    published: Counter,
    skipped: Counter,
}

impl Relay {
    /// A relay over the outbox in `pool` that announces appends on `redis`'s channel for
    /// `redis_prefix`, registering its metrics in `registry`.
    pub fn new(
        pool: PgPool,
        kafka: KafkaConfig,
        redis: redis::aio::ConnectionManager,
        redis_prefix: &str,
        registry: &mut Registry,
    ) -> Self {
        let relay = Self {
            pool,
            kafka,
            redis,
            channel: kafka::appended_channel(redis_prefix),
            backlog: Gauge::default(),
            leader: Gauge::default(),
            published: Counter::default(),
            skipped: Counter::default(),
        };
        registry.register(
            "outbox_backlog",
            "Outbox rows not yet acknowledged by the broker, as the id range the leader sees (an upper bound)",
            relay.backlog.clone(),
        );
        registry.register(
            "outbox_relay_leader",
            "1 while this process's relay holds the leader lock",
            relay.leader.clone(),
        );
        registry.register(
            "outbox_published",
            "Outbox rows published and acknowledged",
            relay.published.clone(),
        );
        registry.register(
            "outbox_already_published",
            "Outbox rows a new leader found on their topic already and deleted without publishing them again",
            relay.skipped.clone(),
        );
        relay
    }

    /// Follows, leads, and after any failure starts over, until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(error) = self.lead(&shutdown).await {
                self.leader.set(0);
                tracing::warn!(error = format!("{error:#}"), "outbox relay stepped down");
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    () = shutdown.cancelled() => {}
                }
            }
        }
        self.leader.set(0);
    }

    /// Waits for the leader lock, then publishes until shutdown or a failure.
    async fn lead(&self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let mut lock = self.pool.acquire().await?.detach();
        loop {
            if try_lock(&mut lock).await? {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
        }
        self.leader.set(1);
        tracing::info!("outbox relay is the leader");
        let producer = producer(&self.kafka)?;
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let mut published_before = self.already_published().await?;
        let mut deleted = 0;
        loop {
            // Still the leader? A broken lock connection means the lock is gone.
            sqlx::query("SELECT 1")
                .execute(&mut lock)
                .await
                .context("lost the leader lock connection")?;
            let published = self.publish_batch(&producer, &mut published_before).await?;
            // The outbox is a queue: every published row leaves a dead tuple at the front of
            // the index the next batch is read from in order. Until a vacuum removes them each
            // read walks past all of them (10 ms a batch after a million rows), and
            // autovacuum may be late, or off. The leader does not wait for it.
            deleted += published;
            if deleted >= VACUUM_AFTER {
                deleted = 0;
                // Not fatal: publishing goes on, only slower.
                if let Err(error) = sqlx::query("VACUUM outbox").execute(&self.pool).await {
                    tracing::warn!(%error, "vacuuming the outbox failed");
                }
            }
            if published as i64 == BATCH {
                continue;
            }
            tokio::select! {
                notified = listener.recv() => {
                    notified?;
                    // Every commit notifies; one pass publishes what all of them queued.
                    while listener.next_buffered().is_some() {}
                }
                () = tokio::time::sleep(POLL) => {}
                () = shutdown.cancelled() => break,
            }
        }
        release(&mut lock).await;
        self.leader.set(0);
        Ok(())
    }

    /// The ids of the events among the last [`BATCH`] records of every partition of the
    /// topics the outbox holds rows for: where the rows a previous leader published but did
    /// not delete are. Only the leader publishes, and it deletes each batch before reading the
    /// next, so such rows belong to one batch, whose records are the last of their partitions.
    async fn already_published(&self) -> anyhow::Result<HashSet<uuid::Uuid>> {
        let types: Vec<String> = sqlx::query_scalar("SELECT DISTINCT aggregate_type FROM outbox")
            .fetch_all(&self.pool)
            .await
            .context("reading the outbox's aggregate types")?;
        if types.is_empty() {
            return Ok(HashSet::new());
        }
        let topics = types
            .iter()
            .map(|t| kafka::topic_for(&self.kafka, t))
            .collect();
        let tails = kafka::watermarks(&self.kafka, topics)
            .await?
            .into_iter()
            .map(|mut mark| {
                mark.low = mark.low.max(mark.high - BATCH);
                mark
            })
            .collect();
        #[derive(serde::Deserialize)]
        struct Id {
            event_id: uuid::Uuid,
        }
        let records = kafka::read(&self.kafka, tails)
            .await
            .context("reading the topics' tails")?;
        Ok(records
            .iter()
            .filter_map(|value| serde_json::from_slice::<Id>(value.as_deref()?).ok())
            .map(|id| id.event_id)
            .collect())
    }

    /// Publishes the oldest rows, but for those in `published_before` (which it deletes
    /// without publishing); deletes those the broker acknowledged, up to the first failure, so
    /// the rows left behind stay in order for the next attempt.
    async fn publish_batch(
        &self,
        producer: &FutureProducer,
        published_before: &mut HashSet<uuid::Uuid>,
    ) -> anyhow::Result<usize> {
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "SELECT id, event_id, aggregate_type, aggregate_id, sequence, event_type, \
                    event_version, payload, metadata, occurred_at \
             FROM outbox ORDER BY id LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await
        .context("reading the outbox")?;
        if rows.is_empty() {
            self.backlog.set(0);
            return Ok(0);
        }
        let (on_topics, to_send): (Vec<&OutboxRow>, Vec<&OutboxRow>) = rows
            .iter()
            .partition(|row| published_before.remove(&row.event.event_id));
        let sent = send(producer, &self.kafka, to_send.iter().map(|row| &row.event)).await?;
        let acknowledged: Vec<i64> = on_topics
            .iter()
            .chain(&to_send[..sent.acknowledged])
            .map(|r| r.id)
            .collect();
        self.announce(sent.ends).await;
        sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
            .bind(&acknowledged)
            .execute(&self.pool)
            .await
            .context("deleting published outbox rows")?;
        self.skipped.inc_by(on_topics.len() as u64);
        self.published.inc_by(sent.acknowledged as u64);
        // The id range left, read from the ends of the primary key: `count(*)` scans the
        // whole table, which under a backlog of a million rows took longer than publishing.
        // Ids of rolled-back transactions are never used, so this may overcount a little.
        let backlog: i64 =
            sqlx::query_scalar("SELECT COALESCE(max(id) - min(id) + 1, 0) FROM outbox")
                .fetch_one(&self.pool)
                .await?;
        self.backlog.set(backlog);
        match sent.failure {
            Some(error) => Err(error),
            None => Ok(acknowledged.len()),
        }
    }

    /// Publishes where each partition appended to now ends. Not fatal: a projector that misses
    /// the notice sees the records at its next look at the watermarks.
    async fn announce(&self, ends: BTreeMap<(String, i32), i64>) {
        if ends.is_empty() {
            return;
        }
        let notices: Vec<Appended> = ends
            .into_iter()
            .map(|((topic, partition), end)| Appended {
                topic,
                partition,
                end,
            })
            .collect();
        let published = match serde_json::to_string(&notices) {
            Ok(payload) => redis::cmd("PUBLISH")
                .arg(&self.channel)
                .arg(payload)
                .query_async::<i64>(&mut self.redis.clone())
                .await
                .map_err(anyhow::Error::from),
            Err(error) => Err(error.into()),
        };
        if let Err(error) = published {
            tracing::warn!(
                error = format!("{error:#}"),
                "announcing appended records failed"
            );
        }
    }
}

/// Takes the leader lock on `lock` (a connection of its own, detached from any pool) if no
/// one holds it: whether it did. The lock is held until [`release`] or until the connection
/// closes.
pub async fn try_lock(lock: &mut PgConnection) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LEADER_LOCK)
        .fetch_one(lock)
        .await
}

/// Gives the leader lock taken with [`try_lock`] back; if that fails, closing the connection
/// does it.
pub async fn release(lock: &mut PgConnection) {
    if let Err(error) = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LEADER_LOCK)
        .execute(lock)
        .await
    {
        tracing::warn!(%error, "releasing the leader lock; closing the connection releases it");
    }
}

/// The relay's producer: idempotent, every in-sync replica acknowledges, no compression
/// (Tansu, the local broker, does not take compressed batches).
pub fn producer(config: &KafkaConfig) -> anyhow::Result<FutureProducer> {
    Ok(kafka::client_config(config)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "none")
        .set("linger.ms", "1")
        .set("message.timeout.ms", "10000")
        .create()?)
}

/// What [`send`] achieved.
pub struct Sent {
    /// How many of the rows, from the first on, the broker acknowledged before any failure:
    /// those may be forgotten, the rest must be sent again, in order.
    pub acknowledged: usize,
    /// Where each partition appended to now ends: the offset after its last record.
    pub ends: BTreeMap<(String, i32), i64>,
    /// The first failure, if any.
    pub failure: Option<anyhow::Error>,
}

/// Produces `rows` in order, each to its aggregate type's topic keyed by its aggregate id, as
/// [`EventRow::envelope`] JSON, and waits for the broker's answers. Stops sending at the first
/// record the producer's queue refuses (the rest count as not acknowledged).
pub async fn send<'a>(
    producer: &FutureProducer,
    config: &KafkaConfig,
    rows: impl IntoIterator<Item = &'a EventRow>,
) -> anyhow::Result<Sent> {
    let mut deliveries = Vec::new();
    for row in rows {
        let topic = kafka::topic_for(config, &row.aggregate_type);
        let value = serde_json::to_vec(&row.envelope()?)?;
        let record = FutureRecord::to(&topic)
            .key(row.aggregate_id.as_str())
            .payload(&value);
        match producer.send_result(record) {
            Ok(delivery) => deliveries.push((topic, delivery)),
            Err((error, _)) => {
                tracing::warn!(%error, "producer queue refused a record");
                break;
            }
        }
    }
    let mut sent = Sent {
        acknowledged: 0,
        ends: BTreeMap::new(),
        failure: None,
    };
    for (topic, delivery) in deliveries {
        match delivery.await {
            Ok(Ok(delivery)) => {
                let end = sent.ends.entry((topic, delivery.partition)).or_default();
                *end = (*end).max(delivery.offset + 1);
                if sent.failure.is_none() {
                    sent.acknowledged += 1;
                }
            }
            Ok(Err((error, _))) => {
                sent.failure
                    .get_or_insert_with(|| anyhow::anyhow!("publishing: {error}"));
            }
            Err(_) => {
                sent.failure
                    .get_or_insert_with(|| anyhow::anyhow!("the producer was dropped"));
            }
        }
    }
    Ok(sent)
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: i64,
    #[sqlx(flatten)]
    event: EventRow,
}

/// One stored event with what its record carries: the columns of an outbox row, and of
/// `events` (which keeps `event_id` and `occurred_at` since migration 0017; the payload there
/// is read through `ward_event_fields`, as the outbox trigger stores it).
#[derive(Debug, sqlx::FromRow)]
pub struct EventRow {
    /// The envelope's `event_id`.
    pub event_id: uuid::Uuid,
    /// The aggregate's type; selects the topic.
    pub aggregate_type: String,
    /// The aggregate's id; the record key.
    pub aggregate_id: String,
    /// The event's position in its aggregate.
    pub sequence: i64,
    /// The event's name.
    pub event_type: String,
    /// Its payload's schema version.
    pub event_version: String,
    /// The event's fields (without postgres-es's `{"EventType": ...}` wrapper).
    pub payload: serde_json::Value,
    /// The metadata as stored; only what [`Metadata`] names is published.
    pub metadata: serde_json::Value,
    /// When the event was committed.
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}

impl EventRow {
    /// The record's value.
    pub fn envelope(&self) -> anyhow::Result<Envelope> {
        Ok(Envelope {
            event_id: self.event_id,
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            sequence: self.sequence,
            event_type: self.event_type.clone(),
            event_version: self.event_version.clone(),
            occurred_at: self.occurred_at,
            payload: self.payload.clone(),
            // Parsed into the closed metadata type: unknown keys never leave the database.
            metadata: serde_json::from_value::<Metadata>(self.metadata.clone())?,
        })
    }
}
