//! How the projector processes of one projection share its partitions without a Kafka
//! consumer group (ADR 0015): each process beats in Redis, every process deals the sorted
//! partitions round-robin over the sorted live processes, and each reads its own share.
//! The read model's offset check fences the moment two processes read one partition.
//!
//! Every process also watches the whole group ([`GroupStalls`]): a partition whose stored
//! offset has stood behind its end for twice [`Beats::stall`] fails `/readyz` of every process,
//! and after four times as long the member it is dealt to is dealt out, so that the deal
//! starts again without it (a live member beats itself back in and seeks its share anew).
//!
//! A process beats only while its consumer is sound: its read model answered within
//! [`Beats::stall`] ([`read_model_answered`]). A process whose consumer hangs on a dead
//! connection, or whose read model is out of its reach, leaves the deal, so that the others
//! read its partitions, and comes back when its read model answers again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::consumer::StoredOffset;
use crate::stalls::GroupStalls;
use tokio_util::sync::CancellationToken;
use ward_platform::config::KafkaConfig;
use ward_platform::kafka;

/// A partition: topic and number.
pub type Partition = (String, i32);

/// How often a process beats and looks at the deal again.
pub const BEAT: Duration = Duration::from_secs(1);
/// How often the topics' partitions are read from the broker again.
const METADATA_EVERY: Duration = Duration::from_secs(30);
/// How often the dealer asks where every partition of the group ends, for [`GroupStalls`]:
/// stalls are judged over twice `projector.stall_secs`, so a coarser look than the consumer's
/// own (every second, for its share) is enough.
const GROUP_ENDS_EVERY: Duration = Duration::from_secs(5);

/// One beat: adds or refreshes `ARGV[1]` at Redis's own time (ms), prunes members silent for
/// `ARGV[2]` ms, keeps the set a while after the last beat, and lists the live members.
const BEAT_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 10)
return redis.call('ZRANGE', KEYS[1], 0, -1)
";

/// Where a process beats: the Redis server and key prefix.
#[derive(Clone)]
pub struct Beats {
    /// The Redis server. The dealer talks to it over a blocking connection of its own, with
    /// timeouts, so that neither a slow Redis nor a runtime shutting down can hold it.
    pub redis: redis::Client,
    /// The installation's key prefix (`redis.key_prefix`).
    pub prefix: String,
    /// How long a silent member stays in the deal (`projector.member_ttl_ms`).
    pub ttl: Duration,
    /// How long the consumer may go without an answer from its read model before the
    /// process leaves the deal (`projector.stall_secs`).
    pub stall: Duration,
}

/// The partitions of `all` that the member at `position` of `members` reads: sorted by
/// topic, then partition, and dealt round-robin, so that each topic spreads over the
/// members and the shares differ by one partition at most.
pub fn deal(all: &[Partition], members: usize, position: usize) -> Vec<Partition> {
    let mut sorted: Vec<&Partition> = all.iter().collect();
    sorted.sort();
    sorted
        .into_iter()
        .enumerate()
        .filter(|(i, _)| members > 0 && i % members == position % members)
        .map(|(_, partition)| partition.clone())
        .collect()
}

/// What the dealer decided last, for the consumer to take up and readiness to judge.
#[derive(Debug, Default)]
pub struct Share {
    /// The partitions this process should read, once known; taken by the consumer.
    wanted: Option<Vec<Partition>>,
    /// Whether `wanted` changed since the consumer last took it.
    changed: bool,
    /// Since when the process has read nothing although it should: no share known yet (the
    /// broker never listed the partitions), or an empty one while the group has fewer live
    /// processes than partitions.
    starved_since: Option<Instant>,
    /// Live members and partitions at the last beat, for the readiness message.
    members: usize,
    partitions: usize,
    /// When the consumer's read model last answered (or the consumer started).
    answered: Option<Instant>,
    /// Since when a partition of the share has had records to read and not advanced.
    stalled_since: Option<Instant>,
    /// The whole group's partitions, as the stored offsets and the topics' ends show them.
    group: GroupStalls,
}

/// The share, shared between the dealer thread, the consumer thread and readiness.
pub type Shared = Arc<Mutex<Share>>;

fn lock(share: &Shared) -> MutexGuard<'_, Share> {
    share
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The new share, if it changed since the consumer last took one.
pub fn take_change(share: &Shared) -> Option<Vec<Partition>> {
    let mut share = lock(share);
    if !share.changed {
        return None;
    }
    share.changed = false;
    share.wanted.clone()
}

/// Whether the share changed since the consumer last took it (without taking it).
pub fn has_change(share: &Shared) -> bool {
    lock(share).changed
}

/// The consumer's read model answered (a batch applied, or its offsets read): the process
/// may stay in the deal.
pub fn read_model_answered(share: &Shared) {
    lock(share).answered = Some(Instant::now());
}

/// Reports since when a partition of the share has stalled ([`crate::follow::Follow::stalled_since`]).
pub fn report_stall(share: &Shared, since: Option<Instant>) {
    lock(share).stalled_since = since;
}

/// Judges the group's stored offsets ([`GroupStalls::judge`]); how many of its partitions
/// have stalled for twice `stall`.
pub fn judge_group(share: &Shared, stored: &[StoredOffset], stall: Duration) -> usize {
    let mut share = lock(share);
    share.group.judge(stored);
    share.group.stalled(stall * 2).len()
}

/// Every group's share in this process, for `/readyz`.
#[derive(Clone, Default)]
pub struct Health(Arc<Mutex<HashMap<String, Shared>>>);

impl Health {
    /// Registers `group`'s share.
    pub fn track(&self, group: &str, share: Shared) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(group.to_owned(), share);
    }

    /// A readiness check that fails while a group's share has been empty for longer than
    /// `grace` although the group has fewer live processes than partitions; while its read
    /// model has not answered for `stall`; and while a partition of its share has stalled for
    /// twice `stall` (seeking it again did not help).
    pub fn check(&self, grace: Duration, stall: Duration) -> ward_platform::ops::Check {
        let groups = self.0.clone();
        Arc::new(move || {
            let groups = groups.clone();
            Box::pin(async move {
                let groups = groups
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for (group, share) in groups.iter() {
                    let share = lock(share);
                    if let Some(at) = share.answered.filter(|at| at.elapsed() > stall) {
                        anyhow::bail!(
                            "{group}: the read model has not answered the consumer for {} s; \
                             this process left the deal",
                            at.elapsed().as_secs()
                        );
                    }
                    if let Some(since) = share.stalled_since.filter(|s| s.elapsed() > stall * 2) {
                        anyhow::bail!(
                            "{group}: a partition with records to read has not advanced for {} s",
                            since.elapsed().as_secs()
                        );
                    }
                    if let Some(((topic, partition), since)) =
                        share.group.stalled(stall * 2).into_iter().next()
                    {
                        anyhow::bail!(
                            "{group}: {topic} partition {partition} has had records to read for \
                             {} s that no process applied",
                            since.elapsed().as_secs()
                        );
                    }
                    if let Some(since) = share.starved_since.filter(|s| s.elapsed() > grace) {
                        anyhow::bail!(
                            "{group}: no partition for {} s while {} processes share {} partitions",
                            since.elapsed().as_secs(),
                            share.members,
                            share.partitions
                        );
                    }
                }
                Ok(())
            })
        })
    }
}

/// Starts the dealer of `group` (reading `topics`) on its own thread until `shutdown`: it
/// beats, reads the partitions from the broker and publishes this process's share. Without
/// `beats` (no Redis), or until the first beat succeeds, the process reads every partition.
pub fn spawn(
    beats: Option<Beats>,
    kafka: KafkaConfig,
    topics: Vec<String>,
    group: String,
    shutdown: CancellationToken,
) -> (Shared, std::thread::JoinHandle<()>) {
    let share: Shared = Arc::default();
    lock(&share).answered = Some(Instant::now());
    let published = share.clone();
    let thread = std::thread::spawn(move || {
        let me = uuid::Uuid::new_v4().to_string();
        let key = beats
            .as_ref()
            .map(|b| format!("{}projector-members:{group}", b.prefix));
        let client: Option<BaseConsumer> = kafka::client_config(&kafka).create().ok();
        let mut redis: Option<redis::Connection> = None;
        let mut partitions: Vec<Partition> = Vec::new();
        let mut read_at: Option<Instant> = None;
        let mut out = false;
        let mut ends_at: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            let sound = beats.as_ref().is_none_or(|b| !unsound(&published, b.stall));
            if sound == out {
                out = !sound;
                if out {
                    tracing::warn!(group, "the read model does not answer; leaving the deal");
                } else {
                    tracing::info!(group, "the read model answers again; back in the deal");
                }
            }
            if read_at.is_none_or(|at| at.elapsed() > METADATA_EVERY) || partitions.is_empty() {
                if let Some(found) = client.as_ref().and_then(|c| read_partitions(c, &topics)) {
                    partitions = found;
                    read_at = Some(Instant::now());
                }
            }
            let ends_due = ends_at.is_none_or(|at| at.elapsed() >= GROUP_ENDS_EVERY);
            if let (Some(client), false, true) = (&client, partitions.is_empty(), ends_due) {
                if let Ok(ends) = crate::follow::latest_offsets(client, &partitions) {
                    lock(&published).group.learn_ends(ends);
                    ends_at = Some(Instant::now());
                }
            }
            let members = match (&beats, &key) {
                (Some(beats), Some(key)) if out => {
                    // Out of the deal until the read model answers again: the others take
                    // this process's partitions once they see it gone.
                    match leave(beats, &mut redis, key, &me) {
                        Ok(()) => Some(Vec::new()),
                        Err(error) => {
                            tracing::debug!(group, %error, "leaving the deal");
                            redis = None;
                            Some(Vec::new())
                        }
                    }
                }
                (Some(beats), Some(key)) => {
                    match beat(beats, &mut redis, key, &me).and_then(|members| {
                        deal_out_stalled(
                            beats,
                            &mut redis,
                            key,
                            &me,
                            &members,
                            &partitions,
                            &published,
                        )
                        .map(|()| members)
                    }) {
                        Ok(members) => Some(members),
                        Err(error) => {
                            tracing::debug!(group, %error, "beating in Redis");
                            redis = None;
                            None
                        }
                    }
                }
                _ => Some(vec![me.clone()]),
            };
            if !partitions.is_empty() {
                publish(&published, &partitions, members.as_deref(), &me);
            }
            judge(&published);
            let until = Instant::now() + BEAT;
            while Instant::now() < until && !shutdown.is_cancelled() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let (Some(beats), Some(key)) = (&beats, &key) {
            if let Err(error) = leave(beats, &mut redis, key, &me) {
                tracing::debug!(group, %error, "leaving the deal");
            }
        }
    });
    (share, thread)
}

/// Whether the consumer's read model has not answered for `stall`.
fn unsound(share: &Shared, stall: Duration) -> bool {
    lock(share).answered.is_some_and(|at| at.elapsed() > stall)
}

/// Publishes this process's share of `partitions` among `members` (`None`: Redis did not
/// answer, keep the share, or read everything if there is none yet; empty: this process left
/// the deal, it reads nothing).
fn publish(share: &Shared, partitions: &[Partition], members: Option<&[String]>, me: &str) {
    let mut share = lock(share);
    let wanted = match members {
        Some([]) => {
            share.members = 0;
            Vec::new()
        }
        Some(members) => {
            let mut members = members.to_vec();
            if !members.iter().any(|m| m == me) {
                members.push(me.to_owned());
                members.sort();
            }
            let position = members.iter().position(|m| m == me).unwrap_or_default();
            share.members = members.len();
            deal(partitions, members.len(), position)
        }
        None => match &share.wanted {
            Some(kept) => kept.clone(),
            None => partitions.to_vec(),
        },
    };
    share.partitions = partitions.len();
    if share.wanted.as_ref() != Some(&wanted) {
        share.wanted = Some(wanted);
        share.changed = true;
    }
}

/// Notes since when the process has been starved, or that it is not.
fn judge(share: &Shared) {
    let mut share = lock(share);
    let empty = share.wanted.as_ref().is_none_or(Vec::is_empty);
    let should_read = share.partitions == 0 || share.members < share.partitions;
    match (empty && should_read, share.starved_since) {
        (true, None) => share.starved_since = Some(Instant::now()),
        (false, Some(_)) => share.starved_since = None,
        _ => {}
    }
}

/// How long the dealer waits for Redis at most.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// The dealer's Redis connection, made if there is none.
fn connection<'c>(
    beats: &Beats,
    redis: &'c mut Option<redis::Connection>,
) -> redis::RedisResult<&'c mut redis::Connection> {
    if redis.is_none() {
        let connection = beats.redis.get_connection_with_timeout(REDIS_TIMEOUT)?;
        connection.set_read_timeout(Some(REDIS_TIMEOUT))?;
        connection.set_write_timeout(Some(REDIS_TIMEOUT))?;
        *redis = Some(connection);
    }
    redis
        .as_mut()
        .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::IoError, "no connection")))
}

/// Deals out the members of `members` to whom a partition is dealt that has stalled for four
/// times `beats.stall`, but for this process (which seeks its own stalled partitions itself).
fn deal_out_stalled(
    beats: &Beats,
    redis: &mut Option<redis::Connection>,
    key: &str,
    me: &str,
    members: &[String],
    partitions: &[Partition],
    share: &Shared,
) -> redis::RedisResult<()> {
    let stalled = lock(share).group.stalled(beats.stall * 4);
    let mut sorted: Vec<&Partition> = partitions.iter().collect();
    sorted.sort();
    for (partition, since) in stalled {
        let Some(index) = sorted.iter().position(|p| **p == partition) else {
            continue;
        };
        let Some(owner) = members.get(index % members.len().max(1)) else {
            continue;
        };
        if owner == me {
            continue;
        }
        tracing::warn!(
            deal = key,
            topic = partition.0,
            partition = partition.1,
            stalled_secs = since.elapsed().as_secs(),
            "a partition has not advanced; dealing out the member it is dealt to"
        );
        redis::cmd("ZREM")
            .arg(key)
            .arg(owner)
            .query::<()>(connection(beats, redis)?)?;
        lock(share).group.forgive(&partition);
    }
    Ok(())
}

/// Takes this process out of the deal.
fn leave(
    beats: &Beats,
    redis: &mut Option<redis::Connection>,
    key: &str,
    me: &str,
) -> redis::RedisResult<()> {
    redis::cmd("ZREM")
        .arg(key)
        .arg(me)
        .query(connection(beats, redis)?)
}

/// One beat; the live members, sorted.
fn beat(
    beats: &Beats,
    redis: &mut Option<redis::Connection>,
    key: &str,
    me: &str,
) -> redis::RedisResult<Vec<String>> {
    let ttl = u64::try_from(beats.ttl.as_millis()).unwrap_or(u64::MAX);
    let mut members: Vec<String> = redis::Script::new(BEAT_SCRIPT)
        .key(key)
        .arg(me)
        .arg(ttl)
        .invoke(connection(beats, redis)?)?;
    members.sort();
    Ok(members)
}

/// Every partition of `topics`, or `None` if the broker did not say for all of them.
fn read_partitions(client: &BaseConsumer, topics: &[String]) -> Option<Vec<Partition>> {
    let mut all = Vec::new();
    for topic in topics {
        let metadata = client
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .ok()?;
        let found = metadata.topics().iter().find(|t| t.name() == topic)?;
        if found.error().is_some() || found.partitions().is_empty() {
            return None;
        }
        all.extend(found.partitions().iter().map(|p| (topic.clone(), p.id())));
    }
    Some(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partitions(topics: &[&str], count: i32) -> Vec<Partition> {
        topics
            .iter()
            .flat_map(|t| (0..count).map(move |p| ((*t).to_owned(), p)))
            .collect()
    }

    #[test]
    fn the_deal_gives_every_partition_to_exactly_one_member_evenly() {
        let all = partitions(&["post", "review", "member"], 3);
        for members in 1..=10 {
            let shares: Vec<Vec<Partition>> =
                (0..members).map(|i| deal(&all, members, i)).collect();
            let mut dealt: Vec<Partition> = shares.iter().flatten().cloned().collect();
            dealt.sort();
            let mut expected = all.clone();
            expected.sort();
            assert_eq!(dealt, expected, "{members} members");
            let (least, most) = (
                shares.iter().map(Vec::len).min().unwrap_or_default(),
                shares.iter().map(Vec::len).max().unwrap_or_default(),
            );
            assert!(most - least <= 1, "{members} members: {least} to {most}");
        }
    }

    #[test]
    fn a_topic_spreads_over_the_members() {
        let all = partitions(&["post", "review"], 4);
        let first = deal(&all, 2, 0);
        assert!(first.iter().any(|p| p.0 == "post") && first.iter().any(|p| p.0 == "review"));
        assert!(first.iter().filter(|p| p.0 == "post").count() == 2);
    }

    #[test]
    fn without_redis_a_process_keeps_its_share_or_reads_everything() {
        let share: Shared = Arc::default();
        let all = partitions(&["post"], 4);
        publish(&share, &all, None, "me");
        assert_eq!(take_change(&share), Some(all.clone()));
        let members = ["a".to_owned(), "me".to_owned()];
        publish(&share, &all, Some(&members), "me");
        let half = take_change(&share).unwrap_or_default();
        assert_eq!(half.len(), 2);
        publish(&share, &all, None, "me");
        assert_eq!(take_change(&share), None, "kept");
    }

    #[test]
    fn a_process_is_starved_only_while_it_reads_nothing_it_should() {
        let share: Shared = Arc::default();
        judge(&share);
        assert!(
            lock(&share).starved_since.is_some(),
            "no partitions known yet"
        );
        let all = partitions(&["post"], 2);
        let one = ["me".to_owned()];
        publish(&share, &all, Some(&one), "me");
        judge(&share);
        assert!(lock(&share).starved_since.is_none(), "reading its share");
        let three = ["a".to_owned(), "b".to_owned(), "me".to_owned()];
        publish(&share, &all, Some(&three), "me");
        judge(&share);
        assert!(take_change(&share).is_some_and(|s| s.is_empty()));
        assert!(
            lock(&share).starved_since.is_none(),
            "more processes than partitions"
        );
    }
}
