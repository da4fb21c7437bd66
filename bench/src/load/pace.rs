//! The open loop's clock: jobs are scheduled at fixed intervals, whatever the answers do.
//!
//! A closed loop waits for each answer before sending the next request, so when the server
//! stalls the generator stops asking and the stall shows up as one slow request instead of
//! the many a real crowd would have waited through ("coordinated omission"). Here every job
//! has a scheduled start, `start + i / rate`; its latency is measured from that time, also
//! when it had to wait for a free slot under `max_in_flight` or for the scheduler itself.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};

/// Fixed-interval start times over a run.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    interval: Duration,
    end: Instant,
}

impl Schedule {
    /// `rate_per_sec` starts a second from `start` for `duration`.
    pub fn new(start: Instant, rate_per_sec: f64, duration: Duration) -> Self {
        let interval = Duration::from_secs_f64(1.0 / rate_per_sec.max(1e-3));
        Self {
            start,
            interval,
            end: start + duration,
        }
    }

    /// When job `i` is due, or `None` once that is past the end of the run.
    pub fn at(&self, i: u32) -> Option<Instant> {
        let due = self.start + self.interval * i;
        (due < self.end).then_some(due)
    }
}

/// Runs `job(i, scheduled)` at each time of a [`Schedule`], at most `max_in_flight` at once,
/// and passes each result to `done` as it comes. A job that waited for a slot keeps its
/// scheduled time, so it can measure its latency from there. Returns when every job has
/// finished.
pub async fn paced<T, F, Fut>(
    rate_per_sec: f64,
    max_in_flight: usize,
    duration: Duration,
    job: F,
    mut done: impl FnMut(T),
) where
    T: Send + 'static,
    F: Fn(u32, Instant) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let schedule = Schedule::new(Instant::now(), rate_per_sec, duration);
    let slots = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let mut running = JoinSet::new();
    let mut i = 0;
    while let Some(due) = schedule.at(i) {
        sleep_until(due).await;
        // Waiting here delays the sending, never the scheduled time the job measures from.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let work = job(i, due);
        running.spawn(async move {
            let result = work.await;
            drop(slot);
            result
        });
        while let Some(finished) = running.try_join_next() {
            if let Ok(result) = finished {
                done(result);
            }
        }
        i += 1;
    }
    while let Some(finished) = running.join_next().await {
        if let Ok(result) = finished {
            done(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_has_rate_times_duration_starts_at_fixed_intervals() {
        let start = Instant::now();
        let schedule = Schedule::new(start, 100.0, Duration::from_secs(1));
        let starts: Vec<Instant> = (0..).map_while(|i| schedule.at(i)).collect();
        assert_eq!(starts.len(), 100);
        assert_eq!(starts[0], start);
        assert_eq!(starts[10] - starts[9], Duration::from_millis(10));
        assert_eq!(starts[99] - start, Duration::from_millis(990));
    }

    #[tokio::test]
    async fn latency_counts_from_the_scheduled_start_when_a_stall_holds_later_requests_back() {
        // Ten jobs, one every 50 ms, one at a time. The first stalls for 300 ms; the others
        // answer at once but cannot start until it is done, so the second (due at 50 ms,
        // sent at 300 ms) must report at least 250 ms, not the ~0 ms of its own answer.
        let mut latencies = vec![Duration::ZERO; 10];
        paced(
            20.0,
            1,
            Duration::from_millis(500),
            |i, due| async move {
                if i == 0 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                (i, due.elapsed())
            },
            |(i, latency)| latencies[i as usize] = latency,
        )
        .await;
        assert!(latencies[0] >= Duration::from_millis(300), "{latencies:?}");
        assert!(latencies[1] >= Duration::from_millis(250), "{latencies:?}");
        assert!(latencies[2] >= Duration::from_millis(200), "{latencies:?}");
        assert!(latencies[1] > latencies[3], "{latencies:?}");
    }
}
