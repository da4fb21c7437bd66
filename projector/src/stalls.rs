//! Partitions of a group that no process applies. Each process watches the whole group, not
//! only its share: from the offsets stored in the read model (which every process of the group
//! reads) and the topics' ends (from the broker). A partition whose stored offset stands behind
//! its end is *stalled* once it has stood there long enough — whichever process was meant to
//! read it, and whether or not that process knows.
//!
//! The chaos runs saw a member projector hold half the partitions for minutes while its
//! `/readyz` said ready and its own lag gauges showed nothing: the other half was dealt to a
//! member that beat in Redis but applied nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::consumer::StoredOffset;
use crate::membership::Partition;

/// Where the group's partitions end and how long each has stood behind its end.
#[derive(Debug, Default)]
pub struct GroupStalls {
    ends: BTreeMap<Partition, i64>,
    /// Each partition behind its end: the stored offset last seen, and since when it stands.
    behind: BTreeMap<Partition, (i64, Instant)>,
}

impl GroupStalls {
    /// Learns where partitions end (ends only grow).
    pub fn learn_ends(&mut self, ends: impl IntoIterator<Item = (Partition, i64)>) {
        for (partition, end) in ends {
            let known = self.ends.entry(partition).or_insert(end);
            *known = (*known).max(end);
        }
    }

    /// Judges the group's stored offsets against the known ends.
    pub fn judge(&mut self, stored: &[StoredOffset]) {
        let now = Instant::now();
        let mut behind = BTreeMap::new();
        for (partition, &end) in &self.ends {
            let next = stored
                .iter()
                .find(|s| s.topic == partition.0 && s.partition == partition.1)
                .map_or(0, |s| s.next_offset);
            if next >= end {
                continue;
            }
            let since = match self.behind.get(partition) {
                Some(&(before, since)) if before == next => since,
                _ => now,
            };
            behind.insert(partition.clone(), (next, since));
        }
        self.behind = behind;
    }

    /// The partitions that have stood behind their end for longer than `stall`, with since
    /// when, longest first.
    pub fn stalled(&self, stall: Duration) -> Vec<(Partition, Instant)> {
        let mut stalled: Vec<(Partition, Instant)> = self
            .behind
            .iter()
            .filter(|(_, (_, since))| since.elapsed() > stall)
            .map(|(partition, (_, since))| (partition.clone(), *since))
            .collect();
        stalled.sort_by_key(|(_, since)| *since);
        stalled
    }

    /// Starts `partition`'s clock again (its reader was just dealt out).
    pub fn forgive(&mut self, partition: &Partition) {
        if let Some((_, since)) = self.behind.get_mut(partition) {
            *since = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i32) -> Partition {
        ("t".to_owned(), n)
    }

    fn stored(n: i32, next: i64) -> StoredOffset {
        StoredOffset {
            topic: "t".to_owned(),
            partition: n,
            next_offset: next,
        }
    }

    #[test]
    fn a_partition_stalls_while_its_stored_offset_stands_behind_its_end() {
        let mut stalls = GroupStalls::default();
        stalls.learn_ends([(p(0), 5), (p(1), 3), (p(2), 0)]);
        // Partition 0 has nothing stored yet (reads from 0); 1 is at its end; 2 is empty.
        stalls.judge(&[stored(1, 3)]);
        std::thread::sleep(Duration::from_millis(20));
        let stalled = stalls.stalled(Duration::from_millis(10));
        assert_eq!(stalled.iter().map(|s| &s.0).collect::<Vec<_>>(), [&p(0)]);
        // It advances: the clock starts again.
        stalls.judge(&[stored(0, 2), stored(1, 3)]);
        assert!(stalls.stalled(Duration::from_millis(10)).is_empty());
        std::thread::sleep(Duration::from_millis(20));
        stalls.judge(&[stored(0, 2), stored(1, 3)]);
        assert_eq!(
            stalls.stalled(Duration::from_millis(10)).len(),
            1,
            "stands at 2"
        );
        stalls.forgive(&p(0));
        assert!(
            stalls.stalled(Duration::from_millis(10)).is_empty(),
            "forgiven"
        );
        // New records on partition 1; then everything is applied.
        stalls.learn_ends([(p(1), 4), (p(0), 1)]);
        stalls.judge(&[stored(0, 5), stored(1, 4)]);
        std::thread::sleep(Duration::from_millis(20));
        assert!(stalls.stalled(Duration::from_millis(10)).is_empty());
    }
}
