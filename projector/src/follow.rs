//! Following the log without polling the broker (ADR 0011).
//!
//! A consumer pauses each partition it has read to the end, so an idle projector sends the
//! broker no fetches, and resumes it as soon as records are known to be past its position.
//! It learns that from two sources:
//! - **the relay's notices**: after the broker acknowledged a batch, the relay publishes on
//!   Redis where each partition it appended to now ends ([`Appended`]). This is the fast
//!   path: the partition is fetched within milliseconds.
//! - **the high watermarks**, which the consumer asks the broker for every second. Notices
//!   are hints (Redis keeps nothing for a subscriber that is away, and records that reach the
//!   log another way announce nothing), so this bounds how late a lost notice makes a
//!   projector.
//!
//! Pausing a partition in librdkafka drops what it had fetched beyond the last record handed
//! to the application and resumes fetching right after that record, so nothing is skipped.
//!
//! A running partition with records to read that does not advance is **stalled**
//! ([`Follow::stalled_since`]): the consumer seeks it again, and readiness reports it if that
//! does not help. The chaos runs saw librdkafka stop handing out one partition's records after
//! a broker restart, while the partition was assigned and not paused.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use ward_platform::kafka::Appended;

use crate::consumer::{next_offsets, Record};

/// A partition: its topic and number.
pub type Key = (String, i32);

/// What a consumer knows of one assigned partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Partition {
    /// The offset of the next record to apply.
    next: i64,
    /// The offset the partition's next record will get, as far as is known.
    end: Option<i64>,
    /// Whether the consumer paused it.
    paused: bool,
    /// Since when it has been running at `next` (assigned, resumed or last advanced).
    since: Instant,
}

/// The consumer's assigned partitions: where it is in each, where each is known to end, and
/// which are paused. Shared between the consumer's thread and the threads that learn ends.
#[derive(Debug)]
pub struct Follow {
    partitions: BTreeMap<Key, Partition>,
    /// Reports how many partitions are paused.
    paused: Gauge,
}

/// [`Follow`] as the threads share it.
pub type Shared = Arc<Mutex<Follow>>;

/// Locks `shared`; a panic elsewhere cannot leave it half-changed (every change is one step).
pub fn lock(shared: &Mutex<Follow>) -> MutexGuard<'_, Follow> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Follow {
    /// Knows nothing yet; reports on `paused` how many partitions it pauses.
    pub fn new(paused: Gauge) -> Self {
        Self {
            partitions: BTreeMap::new(),
            paused,
        }
    }

    /// A new assignment, each partition running from its offset. What is known of where a
    /// partition ends survives a seek, and so does how long it has stood at its offset.
    pub fn assign(&mut self, assignment: Vec<(Key, i64)>) {
        let old = std::mem::take(&mut self.partitions);
        let now = Instant::now();
        self.partitions = assignment
            .into_iter()
            .map(|(key, next)| {
                let before = old.get(&key);
                let partition = Partition {
                    next,
                    end: before.and_then(|p| p.end),
                    paused: false,
                    since: before
                        .filter(|p| p.next == next && !p.paused)
                        .map_or(now, |p| p.since),
                };
                (key, partition)
            })
            .collect();
        self.report();
    }

    /// The assignment was taken away.
    pub fn revoke(&mut self) {
        self.partitions.clear();
        self.report();
    }

    /// `batch` was applied: each of its partitions continues after its last record, and
    /// reaches at least that far.
    pub fn advance(&mut self, batch: &[Record]) {
        for stored in next_offsets(batch) {
            if let Some(p) = self.partitions.get_mut(&(stored.topic, stored.partition)) {
                p.next = stored.next_offset;
                p.since = Instant::now();
                p.end = Some(p.end.map_or(p.next, |end| end.max(p.next)));
            }
        }
    }

    /// The running partitions read to where they are known to end, now marked paused.
    fn caught_up(&mut self) -> Vec<Key> {
        let mut keys = Vec::new();
        for (key, p) in &mut self.partitions {
            if !p.paused && p.end.is_some_and(|end| p.next >= end) {
                p.paused = true;
                keys.push(key.clone());
            }
        }
        self.report();
        keys
    }

    /// Learns where partitions end; the paused ones that now have records past their position,
    /// marked running. Partitions not assigned are ignored.
    fn learn(&mut self, ends: impl IntoIterator<Item = (Key, i64)>) -> Vec<Key> {
        let mut keys = Vec::new();
        for (key, end) in ends {
            let Some(p) = self.partitions.get_mut(&key) else {
                continue;
            };
            p.end = Some(p.end.map_or(end, |known| known.max(end)));
            if p.paused && p.next < end {
                p.paused = false;
                p.since = Instant::now();
                keys.push(key);
            }
        }
        self.report();
        keys
    }

    /// Marks `keys` paused or running again after librdkafka refused to change them.
    fn undo(&mut self, keys: &[Key], paused: bool) {
        for key in keys {
            if let Some(p) = self.partitions.get_mut(key) {
                p.paused = paused;
                p.since = Instant::now();
            }
        }
        self.report();
    }

    /// Every assigned partition.
    pub fn keys(&self) -> Vec<Key> {
        self.partitions.keys().cloned().collect()
    }

    /// Each assigned partition's next offset.
    pub fn positions(&self) -> impl Iterator<Item = (&Key, i64)> {
        self.partitions.iter().map(|(key, p)| (key, p.next))
    }

    /// Since when the longest-stalled partition has been running with records to read and
    /// not advanced, if one has: what the consumer and readiness judge stalls by.
    pub fn stalled_since(&self) -> Option<Instant> {
        self.partitions
            .values()
            .filter(|p| !p.paused && p.end.is_some_and(|end| end > p.next))
            .map(|p| p.since)
            .min()
    }

    /// Whether every assigned partition is paused: the consumer fetches nothing.
    fn idle(&self) -> bool {
        !self.partitions.is_empty() && self.partitions.values().all(|p| p.paused)
    }

    /// Whether a partition's end is unknown (it was just assigned).
    pub fn end_unknown(&self) -> bool {
        self.partitions.values().any(|p| p.end.is_none())
    }

    fn report(&self) {
        let paused = self.partitions.values().filter(|p| p.paused).count();
        self.paused.set(i64::try_from(paused).unwrap_or(i64::MAX));
    }

    /// Records known to be on each partition and not yet applied.
    pub fn lags(&self) -> impl Iterator<Item = (&Key, i64)> {
        self.partitions
            .iter()
            .filter_map(|(key, p)| p.end.map(|end| (key, (end - p.next).max(0))))
    }
}

/// Pauses the running partitions that are read to their known end.
pub fn pause_caught_up<C: ConsumerContext>(consumer: &BaseConsumer<C>, shared: &Mutex<Follow>) {
    let mut follow = lock(shared);
    let keys = follow.caught_up();
    if keys.is_empty() {
        return;
    }
    if let Err(error) = consumer.pause(&list(&keys)) {
        tracing::warn!(%error, "pausing caught-up partitions");
        follow.undo(&keys, false);
    }
}

/// Learns where partitions end, and resumes the paused ones that have records to read.
pub fn learn_ends<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    shared: &Mutex<Follow>,
    ends: impl IntoIterator<Item = (Key, i64)>,
) {
    // Under the lock, so a pause decided on older knowledge cannot overtake this resume.
    let mut follow = lock(shared);
    let idle = follow.idle();
    let keys = follow.learn(ends);
    if keys.is_empty() {
        return;
    }
    if let Err(error) = consumer.resume(&list(&keys)) {
        tracing::warn!(%error, "resuming partitions");
        follow.undo(&keys, true);
        return;
    }
    drop(follow);
    if idle {
        wake(consumer, &keys[0]);
    }
}

/// Makes librdkafka fetch a just-resumed partition now. A resume does not wake the broker
/// thread, which, with every partition paused, sleeps up to a second between looks (measured:
/// the first fetch came 0.9 s after the resume). A request to the partition's leader wakes it;
/// asking where the partition ends is the cheapest one.
fn wake<C: ConsumerContext>(consumer: &BaseConsumer<C>, key: &Key) {
    if let Err(error) = latest_offsets(consumer, std::slice::from_ref(key)) {
        tracing::debug!(%error, "waking the consumer's broker thread");
    }
}

/// Each partition's high watermark, in one request per broker.
pub fn latest_offsets<C: ConsumerContext>(
    client: &BaseConsumer<C>,
    keys: &[Key],
) -> KafkaResult<Vec<(Key, i64)>> {
    let mut latest = TopicPartitionList::new();
    for (topic, partition) in keys {
        latest.add_partition_offset(topic, *partition, Offset::End)?;
    }
    let found = client.offsets_for_times(latest, Duration::from_secs(1))?;
    Ok(found
        .elements()
        .iter()
        .filter_map(|e| match (e.error(), e.offset()) {
            (Ok(()), Offset::Offset(end)) => Some(((e.topic().to_owned(), e.partition()), end)),
            _ => None,
        })
        .collect())
}

fn list(keys: &[Key]) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for (topic, partition) in keys {
        list.add_partition(topic, *partition);
    }
    list
}

/// Listens to the relay's notices on `channel` of `redis` until `shutdown`, resuming
/// `consumer`'s partitions as records are appended; reconnects after a failure.
///
/// A thread of its own: librdkafka's resume waits for the partition's broker thread, which
/// must not hold up a Tokio worker (the whole process's requests would wait with it).
pub fn listen<C: ConsumerContext + 'static>(
    redis: redis::Client,
    channel: String,
    consumer: Arc<BaseConsumer<C>>,
    shared: Shared,
    shutdown: CancellationToken,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !shutdown.is_cancelled() {
            if let Err(error) = listen_once(&redis, &channel, &consumer, &shared, &shutdown) {
                // Meanwhile the watermarks still show new records.
                tracing::warn!(
                    error = format!("{error:#}"),
                    "listening for appended records"
                );
                let until = std::time::Instant::now() + Duration::from_secs(1);
                while std::time::Instant::now() < until && !shutdown.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    })
}

fn listen_once<C: ConsumerContext>(
    redis: &redis::Client,
    channel: &str,
    consumer: &BaseConsumer<C>,
    shared: &Mutex<Follow>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut connection = redis.get_connection()?;
    let mut pubsub = connection.as_pubsub();
    pubsub.subscribe(channel)?;
    // Wakes up now and then to notice a shutdown.
    pubsub.set_read_timeout(Some(Duration::from_millis(200)))?;
    while !shutdown.is_cancelled() {
        let message = match pubsub.get_message() {
            Ok(message) => message,
            Err(error) if error.is_timeout() => continue,
            Err(error) => return Err(error.into()),
        };
        match serde_json::from_slice::<Vec<Appended>>(message.get_payload_bytes()) {
            Ok(notices) => learn_ends(
                consumer,
                shared,
                notices.into_iter().map(|n| ((n.topic, n.partition), n.end)),
            ),
            Err(error) => tracing::warn!(%error, "ignoring a malformed notice of appended records"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::tests::record;

    fn key(partition: i32) -> Key {
        ("t".to_owned(), partition)
    }

    fn following(assignment: &[(i32, i64)]) -> Follow {
        let mut follow = Follow::new(Gauge::default());
        follow.assign(assignment.iter().map(|&(p, next)| (key(p), next)).collect());
        follow
    }

    #[test]
    fn a_partition_whose_end_is_unknown_keeps_running() {
        let mut follow = following(&[(0, 0), (1, 5)]);
        assert!(follow.caught_up().is_empty());
    }

    #[test]
    fn a_partition_read_to_its_known_end_is_paused_once() {
        let mut follow = following(&[(0, 0), (1, 0)]);
        assert!(follow.learn([(key(0), 3), (key(1), 2)]).is_empty());
        follow.advance(&[record(0, 0), record(0, 1), record(1, 0), record(1, 1)]);
        // Partition 0 still has record 2; partition 1 is read to its end.
        assert_eq!(follow.caught_up(), vec![key(1)]);
        assert!(follow.caught_up().is_empty());
        assert_eq!(follow.paused.get(), 1);
    }

    #[test]
    fn applied_records_show_how_far_a_partition_reaches() {
        // Records beyond a stale end: the partition is known to reach past them.
        let mut follow = following(&[(0, 0)]);
        follow.learn([(key(0), 1)]);
        follow.advance(&[record(0, 0), record(0, 1), record(0, 2)]);
        assert_eq!(follow.lags().collect::<Vec<_>>(), vec![(&key(0), 0)]);
        assert_eq!(follow.caught_up(), vec![key(0)]);
    }

    #[test]
    fn a_paused_partition_resumes_only_when_records_are_past_its_position() {
        let mut follow = following(&[(0, 0), (1, 0)]);
        follow.learn([(key(0), 1), (key(1), 1)]);
        follow.advance(&[record(0, 0), record(1, 0)]);
        assert_eq!(follow.caught_up(), vec![key(0), key(1)]);
        // An old notice, and one for a partition this consumer does not have: nothing.
        assert!(follow.learn([(key(0), 1), (key(7), 9)]).is_empty());
        assert_eq!(follow.learn([(key(1), 4)]), vec![key(1)]);
        assert_eq!(follow.paused.get(), 1);
        assert_eq!(
            follow.lags().collect::<Vec<_>>(),
            vec![(&key(0), 0), (&key(1), 3)]
        );
        // Running again, it is not paused before it reaches the new end.
        assert!(follow.caught_up().is_empty());
    }

    #[test]
    fn a_seek_back_runs_every_partition_and_keeps_known_ends() {
        let mut follow = following(&[(0, 0)]);
        follow.learn([(key(0), 4)]);
        follow.advance(&[record(0, 3)]);
        assert_eq!(follow.caught_up(), vec![key(0)]);
        // The read model was found behind: the consumer seeks back to offset 1.
        follow.assign(vec![(key(0), 1)]);
        assert!(follow.caught_up().is_empty());
        assert_eq!(follow.lags().collect::<Vec<_>>(), vec![(&key(0), 3)]);
    }

    #[test]
    fn a_consumer_is_idle_when_every_partition_is_paused() {
        let mut follow = following(&[(0, 0), (1, 0)]);
        assert!(!follow.idle());
        follow.learn([(key(0), 0), (key(1), 0)]);
        follow.caught_up();
        assert!(follow.idle());
        follow.learn([(key(1), 1)]);
        assert!(!follow.idle());
        assert!(!following(&[]).idle());
    }

    #[test]
    fn a_partition_stalls_only_while_it_runs_behind_its_end_without_advancing() {
        let mut follow = following(&[(0, 0), (1, 0)]);
        assert_eq!(follow.stalled_since(), None, "ends unknown");
        follow.learn([(key(0), 0), (key(1), 2)]);
        let behind = follow.stalled_since();
        assert!(behind.is_some(), "partition 1 has records to read");
        std::thread::sleep(Duration::from_millis(5));
        // Seeking again to the same offset does not restart the clock: the stall goes on.
        follow.assign(vec![(key(0), 0), (key(1), 0)]);
        assert_eq!(follow.stalled_since(), behind);
        follow.advance(&[record(1, 0)]);
        assert!(follow.stalled_since() > behind);
        follow.advance(&[record(1, 1)]);
        assert_eq!(follow.stalled_since(), None, "read to its end");
        follow.learn([(key(0), 1)]);
        follow.caught_up();
        assert!(
            follow.stalled_since().is_some(),
            "partition 0 now runs behind"
        );
        follow.advance(&[record(0, 0)]);
        follow.caught_up();
        assert_eq!(follow.stalled_since(), None, "paused at its end");
    }

    #[test]
    fn a_refused_pause_leaves_the_partition_running() {
        let mut follow = following(&[(0, 0)]);
        follow.learn([(key(0), 0)]);
        let keys = follow.caught_up();
        follow.undo(&keys, false);
        assert_eq!(follow.caught_up(), keys);
    }
}
