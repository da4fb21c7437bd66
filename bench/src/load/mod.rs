//! The HTTP load generator: a closed loop (N workers back to back) and an open loop
//! (requests scheduled at a fixed rate, latency from the scheduled start).
//!
//! What to send comes from a [`Plan`]: [`Weighted`] for a fixed mix of [`Target`]s, or a
//! scenario's own plan when requests depend on earlier answers (comments on posts created
//! during the run).

mod pace;
mod stats;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
// The `bytes` crate's buffer, which reqwest answers with too.
use axum::body::Bytes;
use reqwest::{Client, Method};
use serde_json::Value;
use tokio::time::Instant;

pub use pace::{paced, Schedule};
pub use stats::{Latencies, Latency, LoadReport, Outcome, Stats, TargetCount};

/// How long one request may take before it counts as a transport error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The least time an open loop waits after its schedule for a backlog to be sent.
const MIN_BACKLOG_WAIT: Duration = Duration::from_secs(5);

/// One kind of request in a mix.
#[derive(Debug, Clone)]
pub struct Target {
    /// The name it is counted under.
    pub name: String,
    /// The HTTP method.
    pub method: Method,
    /// The whole URL.
    pub url: String,
    /// A JSON body, sent with `Content-Type: application/json`.
    pub body: Option<Value>,
    /// Extra headers, e.g. `("cookie", "ward_session=…")`.
    pub headers: Vec<(String, String)>,
    /// Its share of the mix relative to the other targets' weights.
    pub weight: u32,
}

impl Target {
    /// `GET url`, weight 1.
    pub fn get(name: &str, url: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            method: Method::GET,
            url: url.into(),
            body: None,
            headers: Vec::new(),
            weight: 1,
        }
    }

    /// `POST url` with a JSON `body`, weight 1.
    pub fn post(name: &str, url: impl Into<String>, body: Value) -> Self {
        Self {
            method: Method::POST,
            body: Some(body),
            ..Self::get(name, url)
        }
    }

    /// The same with `weight`.
    pub fn weight(self, weight: u32) -> Self {
        Self { weight, ..self }
    }

    /// The same with one more header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// What a run sends. Shared by every worker, so it must be cheap and thread-safe.
pub trait Plan: Send + Sync + 'static {
    /// The `n`th request of the run (`n` counts from 0 across all workers).
    fn next(&self, n: u64) -> Target;

    /// Sees each successful answer, e.g. to learn the id of a created post.
    fn answered(&self, _target: &Target, _status: u16, _body: &[u8]) {}
}

/// A fixed mix: deterministic weighted round-robin over groups of targets, rotating through
/// the targets of a group (e.g. one post page after another).
pub struct Weighted {
    groups: Vec<Vec<Target>>,
    /// One cycle: each slot's group and how many times that group came before in the cycle.
    order: Vec<(usize, u64)>,
    weights: Vec<u64>,
}

impl Weighted {
    /// The mix of `targets` by their weights; at least one needs a weight above 0.
    pub fn new(targets: &[Target]) -> anyhow::Result<Self> {
        Self::groups(
            targets
                .iter()
                .map(|t| (t.weight, vec![t.clone()]))
                .collect(),
        )
    }

    /// The mix of `(weight, targets)` groups: a group's turns go to its targets in rotation.
    /// Empty groups are left out; at least one group must be left with a weight above 0.
    pub fn groups(groups: Vec<(u32, Vec<Target>)>) -> anyhow::Result<Self> {
        let groups: Vec<(u32, Vec<Target>)> =
            groups.into_iter().filter(|(_, g)| !g.is_empty()).collect();
        let weights: Vec<u32> = groups.iter().map(|(w, _)| *w).collect();
        let mut seen = vec![0u64; groups.len()];
        let order: Vec<(usize, u64)> = weighted_order(&weights)
            .into_iter()
            .map(|g| {
                seen[g] += 1;
                (g, seen[g] - 1)
            })
            .collect();
        ensure!(!order.is_empty(), "no target has a weight above 0");
        Ok(Self {
            weights: weights.into_iter().map(u64::from).collect(),
            groups: groups.into_iter().map(|(_, g)| g).collect(),
            order,
        })
    }
}

impl Plan for Weighted {
    fn next(&self, n: u64) -> Target {
        // Both remainders are below a `usize` length, so the casts keep their value.
        let len = self.order.len() as u64;
        let (group, k) = self.order[(n % len) as usize];
        let turn = n / len * self.weights[group] + k;
        let targets = &self.groups[group];
        targets[(turn % targets.len() as u64) as usize].clone()
    }
}

/// One cycle of smooth weighted round-robin (as in nginx): indexes into `weights`, each
/// appearing `weight` times, spread out rather than in runs (3:1 gives 0 0 1 0, not 0 0 0 1).
pub fn weighted_order(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|w| i64::from(*w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut order = Vec::new();
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(weights) {
            *c += i64::from(*w);
        }
        let Some((best, _)) = current
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
        else {
            break;
        };
        current[best] -= total;
        order.push(best);
    }
    order
}

/// An HTTP/1.1 client keeping up to `connections` idle connections to each host; it does not
/// follow redirects (a 3xx is an answer) and keeps no cookies of its own.
pub fn client(connections: usize) -> anyhow::Result<Client> {
    Client::builder()
        .pool_max_idle_per_host(connections)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .tcp_nodelay(true)
        .build()
        .context("building the HTTP client")
}

/// Sends `target` and reads the whole body; the status and body, or a transport error.
pub async fn send(client: &Client, target: &Target) -> (Outcome, Bytes) {
    let mut request = client.request(target.method.clone(), &target.url);
    for (name, value) in &target.headers {
        request = request.header(name, value);
    }
    if let Some(body) = &target.body {
        request = request.json(body);
    }
    let Ok(response) = request.send().await else {
        return (Outcome::Transport, Bytes::new());
    };
    let status = response.status().as_u16();
    match response.bytes().await {
        Ok(body) => (Outcome::Status(status), body),
        Err(_) => (Outcome::Transport, Bytes::new()),
    }
}

/// Sends `target` as the plan's request, tells the plan about a success, and counts it with a
/// latency measured from `since`.
async fn exchange(client: &Client, plan: &dyn Plan, target: Target, since: Instant) -> Exchange {
    let (outcome, body) = send(client, &target).await;
    let latency = since.elapsed();
    if let (true, Outcome::Status(status)) = (outcome.is_ok(), outcome) {
        plan.answered(&target, status, &body);
    }
    Exchange {
        target: target.name,
        outcome,
        latency,
    }
}

/// One finished request.
struct Exchange {
    target: String,
    outcome: Outcome,
    latency: Duration,
}

/// Closed loop over a fixed mix: see [`closed_plan`].
pub async fn closed(
    connections: usize,
    duration: Duration,
    targets: &[Target],
) -> anyhow::Result<LoadReport> {
    closed_plan(connections, duration, Arc::new(Weighted::new(targets)?)).await
}

/// Closed loop: `connections` workers each send the plan's requests back to back for
/// `duration` over one shared client; requests still running at the end are waited for.
pub async fn closed_plan(
    connections: usize,
    duration: Duration,
    plan: Arc<dyn Plan>,
) -> anyhow::Result<LoadReport> {
    let client = client(connections)?;
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let (client, plan, counter) = (client.clone(), plan.clone(), counter.clone());
            tokio::spawn(async move {
                let mut stats = Stats::default();
                while Instant::now() < deadline {
                    let target = plan.next(counter.fetch_add(1, Ordering::Relaxed));
                    let sent = Instant::now();
                    let done = exchange(&client, &*plan, target, sent).await;
                    stats.record(&done.target, done.outcome, done.latency);
                }
                stats
            })
        })
        .collect();
    let mut stats = Stats::default();
    for worker in workers {
        stats.merge(worker.await.context("a load worker panicked")?);
    }
    let mode = format!("closed loop, {connections} connections");
    Ok(stats.report(mode, start.elapsed()))
}

/// Open loop over a fixed mix: see [`open_plan`].
pub async fn open(
    rate_per_sec: f64,
    max_in_flight: usize,
    duration: Duration,
    targets: &[Target],
) -> anyhow::Result<LoadReport> {
    open_plan(
        rate_per_sec,
        max_in_flight,
        duration,
        Arc::new(Weighted::new(targets)?),
    )
    .await
}

/// Open loop: the plan's requests are scheduled every `1 / rate_per_sec` for `duration`, at
/// most `max_in_flight` at once, and each latency is measured from the scheduled start
/// ([`paced`]), so a slow server cannot hide its queue by slowing the generator down.
///
/// A server far slower than the rate builds a backlog that could take long to work off; once
/// the schedule has ended and another `duration` (at least 5 s) has passed, the rest of the
/// backlog is not sent but counted as `unsent` errors with the latency they had reached.
pub async fn open_plan(
    rate_per_sec: f64,
    max_in_flight: usize,
    duration: Duration,
    plan: Arc<dyn Plan>,
) -> anyhow::Result<LoadReport> {
    let client = client(max_in_flight)?;
    let start = Instant::now();
    let give_up = start + duration + duration.max(MIN_BACKLOG_WAIT);
    let mut stats = Stats::default();
    paced(
        rate_per_sec,
        max_in_flight,
        duration,
        |i, due| {
            let (client, plan) = (client.clone(), plan.clone());
            async move {
                let target = plan.next(u64::from(i));
                if Instant::now() > give_up {
                    return Exchange {
                        target: target.name,
                        outcome: Outcome::Unsent,
                        latency: due.elapsed(),
                    };
                }
                exchange(&client, &*plan, target, due).await
            }
        },
        |done| stats.record(&done.target, done.outcome, done.latency),
    )
    .await;
    let mode = format!("open loop, {rate_per_sec:.0}/s, at most {max_in_flight} in flight");
    Ok(stats.report(mode, start.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_order_gives_each_target_its_weight_spread_out() {
        assert_eq!(weighted_order(&[3, 1]), vec![0, 0, 1, 0]);
        let order = weighted_order(&[3, 3, 3, 1]);
        assert_eq!(order.len(), 10);
        for (target, weight) in [(0, 3), (1, 3), (2, 3), (3, 1)] {
            assert_eq!(order.iter().filter(|t| **t == target).count(), weight);
        }
        assert_ne!(order[..3], [0, 0, 0], "not in runs: {order:?}");
        assert_eq!(weighted_order(&[0, 2]), vec![1, 1]);
        assert!(weighted_order(&[0, 0]).is_empty());
    }

    #[test]
    fn a_weighted_plan_cycles_through_its_order() -> anyhow::Result<()> {
        let plan = Weighted::new(&[
            Target::get("a", "http://a").weight(2),
            Target::get("b", "http://b"),
        ])?;
        let names: Vec<String> = (0..6).map(|n| plan.next(n).name).collect();
        assert_eq!(names, ["a", "b", "a", "a", "b", "a"]);
        assert!(Weighted::new(&[Target::get("a", "http://a").weight(0)]).is_err());
        Ok(())
    }

    #[test]
    fn a_group_rotates_through_its_targets() -> anyhow::Result<()> {
        let pages = |n: usize| (0..n).map(|i| Target::get("p", format!("/{i}"))).collect();
        let plan = Weighted::groups(vec![
            (2, pages(3)),
            (1, vec![Target::get("b", "/b")]),
            (5, vec![]),
        ])?;
        let urls: Vec<String> = (0..9).map(|n| plan.next(n).url).collect();
        assert_eq!(urls, ["/0", "/b", "/1", "/2", "/b", "/0", "/1", "/b", "/2"]);
        Ok(())
    }

    #[tokio::test]
    async fn both_loops_load_the_reference_server() -> anyhow::Result<()> {
        let server = crate::reference::start(100).await?;
        let targets = [
            Target::get("page", server.url()).weight(3),
            Target::get("missing", format!("{}nothing", server.url())),
        ];
        let closed = closed(2, Duration::from_millis(200), &targets).await?;
        assert!(closed.requests > 0);
        assert_eq!(closed.errors, closed.targets["missing"].requests);
        assert_eq!(closed.errors_by_status.keys().collect::<Vec<_>>(), ["404"]);

        let open = open(200.0, 4, Duration::from_millis(300), &targets).await?;
        assert_eq!(open.requests, 60, "every scheduled request is counted");
        assert_eq!(open.targets["page"].requests, 45);
        server.stop().await?;
        Ok(())
    }
}
