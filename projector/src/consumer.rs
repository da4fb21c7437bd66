//! The consumer loop every projection runs.
//!
//! librdkafka's consumer is driven from one dedicated blocking thread: `poll` runs the
//! rebalance callback on that thread, and the callback must look up the stored offsets before
//! the assignment takes effect. Database work is run on the Tokio runtime with
//! `Handle::block_on`, which is allowed on a blocking thread. Partitions read to their end are
//! paused, and resumed from other threads when records are appended ([`crate::follow`]).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use ward_platform::config::KafkaConfig;
use ward_platform::kafka;

use crate::follow::{self, Follow, Shared};
use crate::membership;
use crate::store::Gap;

/// One record as a projection sees it.
#[derive(Debug, Clone)]
pub struct Record {
    /// The topic, with the installation's prefix.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The record's value (an [`kafka::Envelope`] in JSON), if it has one.
    pub value: Option<Vec<u8>>,
}

/// Where a partition's next record is, as stored by a projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset of the next record to read.
    pub next_offset: i64,
}

/// A read model built from some topics.
pub trait Projection: Send + Sync + 'static {
    /// The projection's name (`board`, `hospital`, `member`): its consumer group is
    /// `<prefix>ward-<name>`, and it names the query cache it invalidates.
    fn name(&self) -> &'static str;

    /// The aggregate types whose topics this projection reads.
    fn aggregate_types(&self) -> &'static [&'static str];

    /// The offsets stored for `group`.
    fn stored_offsets(
        &self,
        group: &str,
    ) -> impl Future<Output = anyhow::Result<Vec<StoredOffset>>> + Send;

    /// Applies `batch` and stores the offsets after it, in one transaction.
    fn apply(
        &self,
        group: &str,
        batch: &[Record],
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The projector's metrics.
#[derive(Clone, Default)]
pub struct ConsumerMetrics {
    lag: Family<PartitionLabels, Gauge>,
    applied: Family<GroupLabels, Counter>,
    paused: Family<GroupLabels, Gauge>,
    assigned: Family<GroupLabels, Gauge>,
    reseeks: Family<GroupLabels, Counter>,
    group_stalled: Family<GroupLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct PartitionLabels {
    group: String,
    topic: String,
    partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    group: String,
}

impl ConsumerMetrics {
    /// Metrics registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "lag",
            "Records on the partition not yet applied to the read model",
            metrics.lag.clone(),
        );
        registry.register(
            "events_applied",
            "Records applied to the read model",
            metrics.applied.clone(),
        );
        registry.register(
            "paused_partitions",
            "Partitions read to their end, paused until records are appended",
            metrics.paused.clone(),
        );
        registry.register(
            "assigned_partitions",
            "Partitions this process reads: its share of the group's (ADR 0015)",
            metrics.assigned.clone(),
        );
        registry.register(
            "stall_reseeks",
            "Times a consumer sought its partitions again because one with records to read had not advanced for projector.stall_secs",
            metrics.reseeks.clone(),
        );
        registry.register(
            "group_stalled_partitions",
            "Partitions of the group (any process's) whose stored offset has stood behind the topic's end for twice projector.stall_secs",
            metrics.group_stalled.clone(),
        );
        metrics
    }
}

/// Settings of one consumer.
#[derive(Clone)]
pub struct ConsumerSettings {
    /// The broker and topic prefix.
    pub kafka: KafkaConfig,
    /// Prepended to the projection's group name.
    pub group_prefix: String,
    /// Most records per transaction.
    pub batch_size: usize,
    /// librdkafka's `fetch.wait.max.ms` (`projector.fetch_wait_ms`).
    pub fetch_wait_ms: u32,
    /// How often to ask the broker where the partitions end (`projector.watermark_check_ms`).
    pub watermark_check: Duration,
    /// The query cache to invalidate after each commit, and its key prefix.
    pub cache: Option<(redis::aio::ConnectionManager, String)>,
    /// Where the relay announces appended records: the Redis server and the channel.
    pub notices: Option<(redis::Client, String)>,
    /// Partitions assigned by hand, for a rebuild's consumers, which divide a fixed set
    /// among themselves. `None`: this process reads its share of every partition, dealt
    /// among the projection's live processes (ADR 0015).
    pub partitions: Option<Vec<(String, i32)>>,
    /// Where processes beat to deal the partitions (Redis); `None` reads every partition.
    pub beats: Option<membership::Beats>,
    /// Where each group's share is reported for readiness.
    pub health: membership::Health,
    /// After how long a partition that does not advance is sought again
    /// (`projector.stall_secs`).
    pub stall: Duration,
}

/// Runs `projection` on a blocking thread until `shutdown` is cancelled; then finishes the
/// batch in hand, commits it and leaves the deal.
pub fn spawn<P: Projection>(
    projection: Arc<P>,
    settings: ConsumerSettings,
    metrics: ConsumerMetrics,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let handle = Handle::current();
    tokio::task::spawn_blocking(move || {
        consume(&handle, projection, &settings, &metrics, &shutdown)
    })
}

fn consume<P: Projection>(
    handle: &Handle,
    projection: Arc<P>,
    settings: &ConsumerSettings,
    metrics: &ConsumerMetrics,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let group = format!("{}ward-{}", settings.group_prefix, projection.name());
    let topics: Vec<String> = projection
        .aggregate_types()
        .iter()
        .map(|t| kafka::topic_for(&settings.kafka, t))
        .collect();
    // A clone: the family's guard must not be held (other consumers register theirs).
    let paused = metrics
        .paused
        .get_or_create(&GroupLabels {
            group: group.clone(),
        })
        .clone();
    let follow: Shared = Arc::new(Mutex::new(Follow::new(paused)));
    let context = SeekToStored {
        handle: handle.clone(),
        projection: projection.clone(),
        group: group.clone(),
        follow: follow.clone(),
    };
    let consumer: BaseConsumer<SeekToStored<P>> = kafka::client_config(&settings.kafka)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("fetch.wait.max.ms", settings.fetch_wait_ms.to_string())
        .create_with_context(context)?;
    // The partitions to read: fixed (a rebuild), or this process's share, dealt anew at
    // every beat; never the broker's consumer group (ADR 0015).
    let helpers = shutdown.child_token();
    // Whichever way this thread ends, a panic included, its dealer leaves the deal with it:
    // a process must not beat for partitions that nothing reads.
    let _helpers_stop = helpers.clone().drop_guard();
    let mut dealer = None;
    match &settings.partitions {
        Some(partitions) => {
            let mut assignment = TopicPartitionList::new();
            for (topic, partition) in partitions {
                assignment.add_partition(topic, *partition);
            }
            consumer
                .context()
                .assign_at_stored_offsets(&consumer, &mut assignment)?;
        }
        None => {
            let (share, thread) = membership::spawn(
                settings.beats.clone(),
                settings.kafka.clone(),
                topics.clone(),
                group.clone(),
                helpers.clone(),
            );
            settings.health.track(&group, share.clone());
            dealer = Some((share, thread));
        }
    }
    let assigned = metrics
        .assigned
        .get_or_create(&GroupLabels {
            group: group.clone(),
        })
        .clone();
    tracing::info!(group, ?topics, "projector consuming");

    let consumer = Arc::new(consumer);
    // The helpers stop with the consumer, whichever way it stops.
    let watcher = watch_ends(
        settings.kafka.clone(),
        settings.watermark_check,
        consumer.clone(),
        follow.clone(),
        metrics.clone(),
        group.clone(),
        helpers.clone(),
    );
    let listener = settings.notices.clone().map(|(redis, channel)| {
        follow::listen(
            redis,
            channel,
            consumer.clone(),
            follow.clone(),
            helpers.clone(),
        )
    });
    let mut progress = Progress {
        follow,
        verified: None,
        sought: None,
    };
    let share = dealer.as_ref().map(|(share, _)| share.clone());
    let mut bump = CacheBump::default();
    'batches: while !shutdown.is_cancelled() {
        if let Some((redis, prefix)) = &settings.cache {
            bump.settle(handle, redis, prefix, projection.name(), &group);
        }
        if let Some(share) = dealer
            .as_ref()
            .and_then(|(share, _)| membership::take_change(share))
        {
            let mut assignment = TopicPartitionList::new();
            for (topic, partition) in &share {
                assignment.add_partition(topic, *partition);
            }
            if let Err(error) = consumer
                .context()
                .assign_at_stored_offsets(&consumer, &mut assignment)
            {
                tracing::error!(group, %error, "taking up this process's share");
            }
            assigned.set(i64::try_from(share.len()).unwrap_or(i64::MAX));
        }
        if progress.verify_due(settings.stall) {
            // Every few seconds, even when idle: is the read model still where we are? A
            // database swapped by a rebuild or restored from a backup may be behind.
            let behind = match handle.block_on(projection.stored_offsets(&group)) {
                Ok(stored) => {
                    if let Some(share) = &share {
                        membership::read_model_answered(share);
                        let stalled = membership::judge_group(share, &stored, settings.stall);
                        metrics
                            .group_stalled
                            .get_or_create(&GroupLabels {
                                group: group.clone(),
                            })
                            .set(i64::try_from(stalled).unwrap_or(i64::MAX));
                    }
                    progress.behind(&stored)
                }
                Err(error) => {
                    tracing::debug!(
                        group,
                        error = format!("{error:#}"),
                        "reading stored offsets"
                    );
                    false
                }
            };
            if behind {
                tracing::warn!(group, "the read model is behind the consumer; seeking back");
                reseek(&consumer, &group);
                continue;
            }
        }
        let stalled_since = follow::lock(&progress.follow).stalled_since();
        if let Some(share) = &share {
            membership::report_stall(share, stalled_since);
        }
        if progress.seek_stalled(stalled_since, settings.stall) {
            tracing::warn!(
                group,
                "a partition with records to read has not advanced; seeking again"
            );
            metrics
                .reseeks
                .get_or_create(&GroupLabels {
                    group: group.clone(),
                })
                .inc();
            reseek(&consumer, &group);
            continue;
        }
        follow::pause_caught_up(&consumer, &progress.follow);
        let batch = poll_batch(&consumer, settings.batch_size);
        if batch.is_empty() {
            continue;
        }
        // Retry until the read model takes the batch: skipping it would lose events.
        loop {
            let Err(error) = handle.block_on(projection.apply(&group, &batch)) else {
                if let Some(share) = &share {
                    membership::read_model_answered(share);
                }
                break;
            };
            if let Some(gap) = error.downcast_ref::<Gap>() {
                // The read model is behind where we read (swapped by a rebuild, or restored):
                // drop the batch and read again from what the read model holds.
                tracing::warn!(group, %gap, "the read model is behind the consumer; seeking back");
                reseek(&consumer, &group);
                continue 'batches;
            }
            tracing::warn!(
                group,
                error = format!("{error:#}"),
                "applying a batch failed; retrying"
            );
            if shutdown.is_cancelled() {
                // Not committed: the batch is read again after the restart.
                break 'batches;
            }
            if share.as_ref().is_some_and(membership::has_change) {
                // The share changed (this process left the deal, or others joined): drop the
                // batch; the new assignment reads from the stored offsets.
                continue 'batches;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        if let Some((redis, prefix)) = &settings.cache {
            bump.owed = true;
            bump.settle(handle, redis, prefix, projection.name(), &group);
        }
        metrics
            .applied
            .get_or_create(&GroupLabels {
                group: group.clone(),
            })
            .inc_by(batch.len() as u64);
        progress.advance(&batch);
    }
    tracing::info!(group, "projector leaving the deal");
    helpers.cancel();
    if dealer.is_some_and(|(_, thread)| thread.join().is_err()) {
        tracing::error!(group, "the dealer panicked");
    }
    if watcher.join().is_err() {
        tracing::error!(group, "the watermark watcher panicked");
    }
    if listener.is_some_and(|listener| listener.join().is_err()) {
        tracing::error!(group, "the notice listener panicked");
    }
    drop(consumer);
    Ok(())
}

/// Assigns the consumer's partitions again, at the offsets the read model stores.
fn reseek<P: Projection>(consumer: &BaseConsumer<SeekToStored<P>>, group: &str) {
    let reseek = consumer.assignment().and_then(|mut assignment| {
        consumer
            .context()
            .assign_at_stored_offsets(consumer, &mut assignment)
    });
    if let Err(error) = reseek {
        tracing::error!(group, %error, "seeking back to the stored offsets");
    }
}

/// The query cache's version bump owed after commits. Until Redis takes it, readers may be
/// served cached answers from before them, so it is retried — at once after a commit, at
/// most once a second while Redis fails — for as long as it takes: a cache that missed a bump
/// while Redis was unreachable would otherwise serve older answers for their whole time to
/// live once Redis is back.
#[derive(Default)]
struct CacheBump {
    /// Whether a commit has not been announced to the cache yet.
    owed: bool,
    /// When the last attempt failed, if it did.
    failed_at: Option<Instant>,
}

impl CacheBump {
    /// Bumps the version if a bump is owed and due.
    fn settle(
        &mut self,
        handle: &Handle,
        redis: &redis::aio::ConnectionManager,
        prefix: &str,
        service: &str,
        group: &str,
    ) {
        let due = self
            .failed_at
            .is_none_or(|failed| failed.elapsed() >= Duration::from_secs(1));
        if !self.owed || !due {
            return;
        }
        let mut redis = redis.clone();
        match handle.block_on(ward_platform::cache::invalidate(
            &mut redis, prefix, service,
        )) {
            Ok(_) => *self = Self::default(),
            Err(error) => {
                if self.failed_at.is_none() {
                    tracing::warn!(
                        group,
                        %error,
                        "invalidating the query cache failed; retrying every second"
                    );
                }
                self.failed_at = Some(Instant::now());
            }
        }
    }
}

/// Up to `max` records: waits a little for the first, then takes what is already there.
fn poll_batch<C: ConsumerContext>(consumer: &BaseConsumer<C>, max: usize) -> Vec<Record> {
    let mut batch = Vec::new();
    let mut wait = Duration::from_millis(100);
    while batch.len() < max {
        match consumer.poll(wait) {
            Some(Ok(message)) => batch.push(Record {
                topic: message.topic().to_owned(),
                partition: message.partition(),
                offset: message.offset(),
                value: message.payload().map(<[u8]>::to_vec),
            }),
            Some(Err(error)) => {
                // Typically the broker is unreachable; librdkafka reconnects by itself.
                tracing::warn!(%error, "consumer error");
                std::thread::sleep(Duration::from_millis(500));
                break;
            }
            None => break,
        }
        wait = Duration::ZERO;
    }
    batch
}

/// The offset after the last record of each partition in `batch`.
pub fn next_offsets(batch: &[Record]) -> Vec<StoredOffset> {
    let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for record in batch {
        let entry = next.entry((&record.topic, record.partition)).or_insert(0);
        *entry = (*entry).max(record.offset + 1);
    }
    next.into_iter()
        .map(|((topic, partition), next_offset)| StoredOffset {
            topic: topic.to_owned(),
            partition,
            next_offset,
        })
        .collect()
}

/// How far this consumer got in each partition (shared with the threads that learn where
/// partitions end), and when it last checked that the read model is not behind it.
struct Progress {
    follow: Shared,
    verified: Option<Instant>,
    /// When the consumer last sought its partitions again because one stalled.
    sought: Option<Instant>,
}

impl Progress {
    /// How often the consumer checks the read model's offsets, at most.
    const EVERY: Duration = Duration::from_secs(5);

    /// Whether it is time to check the read model's offsets again: every [`Self::EVERY`],
    /// and at least three times per `stall`, so that a sound read model answers well within it.
    fn verify_due(&mut self, stall: Duration) -> bool {
        let every = Self::EVERY.min(stall / 3);
        if self.verified.is_some_and(|at| at.elapsed() < every) {
            return false;
        }
        self.verified = Some(Instant::now());
        true
    }

    /// Whether to seek again because a partition has stalled (since `stalled_since`) for
    /// `stall`, at most once per `stall`.
    fn seek_stalled(&mut self, stalled_since: Option<Instant>, stall: Duration) -> bool {
        let due = stalled_since.is_some_and(|since| since.elapsed() > stall)
            && self.sought.is_none_or(|at| at.elapsed() > stall);
        if due {
            self.sought = Some(Instant::now());
        }
        due
    }

    /// Whether the read model stores, for a partition this consumer is assigned, an offset
    /// behind the consumer's position.
    fn behind(&self, stored: &[StoredOffset]) -> bool {
        follow::lock(&self.follow)
            .positions()
            .any(|((topic, partition), next)| {
                let stored = stored
                    .iter()
                    .find(|s| s.topic == *topic && s.partition == *partition)
                    .map_or(0, |s| s.next_offset);
                stored < next
            })
    }

    fn advance(&mut self, batch: &[Record]) {
        follow::lock(&self.follow).advance(batch);
    }
}

/// Asks the broker `every` so often where each assigned partition ends — and as soon as a
/// partition is assigned whose end is unknown — from its own thread and its own connection
/// (the consumer's thread must not wait for it), until `shutdown`: resumes paused partitions
/// that have new records, and reports every partition's lag.
fn watch_ends<C: ConsumerContext + 'static>(
    kafka: KafkaConfig,
    every: Duration,
    consumer: Arc<BaseConsumer<C>>,
    follow: Shared,
    metrics: ConsumerMetrics,
    group: String,
    shutdown: CancellationToken,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let client: Option<BaseConsumer> = kafka::client_config(&kafka).create().ok();
        let mut reported = BTreeSet::new();
        while !shutdown.is_cancelled() {
            let keys = follow::lock(&follow).keys();
            if let (Some(client), false) = (&client, keys.is_empty()) {
                match follow::latest_offsets(client, &keys) {
                    Ok(ends) => follow::learn_ends(&consumer, &follow, ends),
                    Err(error) => tracing::debug!(%error, group, "asking where partitions end"),
                }
            }
            let known = follow::lock(&follow);
            let mut now_reported = BTreeSet::new();
            for ((topic, partition), lag) in known.lags() {
                let labels = PartitionLabels {
                    group: group.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                };
                metrics.lag.get_or_create(&labels).set(lag);
                now_reported.insert(labels);
            }
            drop(known);
            // A partition dealt to another process is its lag to report, not a stale one here.
            for gone in reported.difference(&now_reported) {
                metrics.lag.remove(gone);
            }
            reported = now_reported;
            // Sleep in short steps so neither shutdown nor a new assignment waits.
            let until = Instant::now() + every;
            while Instant::now() < until && !shutdown.is_cancelled() {
                std::thread::sleep(Duration::from_millis(50));
                if follow::lock(&follow).end_unknown() {
                    break;
                }
            }
        }
    })
}

/// The consumer context: on assignment, starts every partition at the offset stored in the
/// read model (or at the beginning when none is stored) instead of Kafka's committed offset.
struct SeekToStored<P> {
    handle: Handle,
    projection: Arc<P>,
    group: String,
    follow: Shared,
}

impl<P: Projection> ClientContext for SeekToStored<P> {}

impl<P: Projection> ConsumerContext for SeekToStored<P> {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        assignment: &mut TopicPartitionList,
    ) {
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.assign_at_stored_offsets(consumer, assignment)
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                follow::lock(&self.follow).revoke();
                consumer.unassign()
            }
            other => {
                tracing::error!(group = self.group, error = ?other, "rebalance failed");
                follow::lock(&self.follow).revoke();
                consumer.unassign()
            }
        };
        if let Err(error) = result {
            tracing::error!(group = self.group, %error, "applying a rebalance");
        }
    }
}

impl<P: Projection> SeekToStored<P> {
    fn assign_at_stored_offsets(
        &self,
        consumer: &BaseConsumer<Self>,
        assignment: &mut TopicPartitionList,
    ) -> KafkaResult<()> {
        let stored = loop {
            match self
                .handle
                .block_on(self.projection.stored_offsets(&self.group))
            {
                Ok(stored) => break stored,
                Err(error) => {
                    tracing::warn!(
                        group = self.group,
                        error = format!("{error:#}"),
                        "reading stored offsets; retrying"
                    );
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        };
        let partitions: Vec<(String, i32)> = assignment
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        let mut positions = Vec::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            let next = stored
                .iter()
                .find(|s| s.topic == topic && s.partition == partition)
                .map(|s| s.next_offset);
            let offset = next.map_or(Offset::Beginning, Offset::Offset);
            assignment.set_partition_offset(&topic, partition, offset)?;
            positions.push(((topic, partition), next.unwrap_or(0)));
        }
        tracing::info!(
            group = self.group,
            partitions = assignment.count(),
            "partitions assigned"
        );
        // Under the lock, so no resume from another thread interleaves with the new state.
        let mut follow = follow::lock(&self.follow);
        follow.assign(positions);
        consumer.assign(assignment)?;
        // Partitions paused before a seek stay paused through `assign`; all run again.
        consumer.resume(assignment)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record of topic `t` without a value.
    pub(crate) fn record(partition: i32, offset: i64) -> Record {
        Record {
            topic: "t".to_owned(),
            partition,
            offset,
            value: None,
        }
    }

    #[test]
    fn the_next_offset_of_each_partition_follows_its_last_record() {
        let next = next_offsets(&[record(0, 5), record(1, 2), record(0, 7), record(0, 6)]);
        assert_eq!(
            next,
            vec![
                StoredOffset {
                    topic: "t".to_owned(),
                    partition: 0,
                    next_offset: 8
                },
                StoredOffset {
                    topic: "t".to_owned(),
                    partition: 1,
                    next_offset: 3
                },
            ]
        );
    }
}
