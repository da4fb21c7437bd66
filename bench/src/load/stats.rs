//! Counting answers and latencies during a run, and the report made from them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::table;

/// The slowest latency a histogram holds, in microseconds; slower ones count as this.
const MAX_MICROS: u64 = 60_000_000;

/// A latency histogram in microseconds, three significant digits.
#[derive(Clone)]
pub struct Latencies(Histogram<u64>);

impl Latencies {
    /// An empty histogram.
    #[expect(
        clippy::expect_used,
        reason = "bounds 1 µs to 60 s with 3 significant digits are valid by construction"
    )]
    pub fn new() -> Self {
        Self(Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds"))
    }

    /// Counts one latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(MAX_MICROS);
        self.0.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Latencies) {
        // Both have the same bounds, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// How many latencies were counted.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether none were counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// p50, p99, p99.9 and max.
    pub fn summary(&self) -> Latency {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latency {
            p50_ms: ms(self.0.value_at_quantile(0.5)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            p999_ms: ms(self.0.value_at_quantile(0.999)),
            max_ms: ms(self.0.max()),
        }
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

/// Latency percentiles of a run, in milliseconds (microsecond precision).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

/// How one request ended: its status, or a transport error (refused, reset, timed out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer with this status.
    Status(u16),
    /// No HTTP answer.
    Transport,
    /// Never sent: its turn came after the open loop stopped waiting for a backlog.
    Unsent,
}

impl Outcome {
    /// 2xx and 3xx are successes; everything else is an error.
    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Status(s) if (200..400).contains(&s))
    }

    /// The status, or `transport`, as reports name it.
    pub fn label(self) -> String {
        match self {
            Outcome::Status(s) => s.to_string(),
            Outcome::Transport => "transport".to_owned(),
            Outcome::Unsent => "unsent".to_owned(),
        }
    }
}

/// Requests and errors of one target.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct TargetCount {
    /// Requests answered or failed.
    pub requests: u64,
    /// Of them, errors.
    pub errors: u64,
}

/// What a run counted so far; each worker keeps its own and they are merged at the end.
#[derive(Default)]
pub struct Stats {
    latencies: Latencies,
    errors: BTreeMap<String, u64>,
    targets: BTreeMap<String, TargetCount>,
}

impl Stats {
    /// Counts one request to `target` that ended with `outcome` after `latency`.
    pub fn record(&mut self, target: &str, outcome: Outcome, latency: Duration) {
        self.latencies.record(latency);
        let count = match self.targets.get_mut(target) {
            Some(count) => count,
            None => self.targets.entry(target.to_owned()).or_default(),
        };
        count.requests += 1;
        if !outcome.is_ok() {
            count.errors += 1;
            *self.errors.entry(outcome.label()).or_default() += 1;
        }
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: Stats) {
        self.latencies.merge(&other.latencies);
        for (status, n) in other.errors {
            *self.errors.entry(status).or_default() += n;
        }
        for (target, count) in other.targets {
            let mine = self.targets.entry(target).or_default();
            mine.requests += count.requests;
            mine.errors += count.errors;
        }
    }

    /// The report of a run described by `mode` that took `elapsed`.
    pub fn report(self, mode: String, elapsed: Duration) -> LoadReport {
        let requests = self.latencies.len();
        let errors: u64 = self.errors.values().sum();
        let secs = elapsed.as_secs_f64().max(f64::EPSILON);
        LoadReport {
            mode,
            requests,
            errors,
            errors_by_status: self.errors,
            elapsed_secs: elapsed.as_secs_f64(),
            rps: requests as f64 / secs,
            ok_rps: (requests - errors) as f64 / secs,
            latency: self.latencies.summary(),
            targets: self.targets,
        }
    }
}

/// The result of one load run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// How the load was made, e.g. `closed loop, 300 connections`.
    pub mode: String,
    /// Requests answered or failed.
    pub requests: u64,
    /// Of them, answers other than 2xx/3xx and transport errors.
    pub errors: u64,
    /// Errors by status (`"429"`, `"transport"`).
    pub errors_by_status: BTreeMap<String, u64>,
    /// From the first request to the last answer.
    pub elapsed_secs: f64,
    /// Requests per second, errors included.
    pub rps: f64,
    /// Successful requests per second: what the goals compare.
    pub ok_rps: f64,
    /// Latency percentiles; in an open loop measured from each request's scheduled start.
    pub latency: Latency,
    /// Requests and errors per target name.
    pub targets: BTreeMap<String, TargetCount>,
}

impl LoadReport {
    /// Column names matching [`LoadReport::row`].
    pub const HEADERS: [&'static str; 9] = [
        "run", "requests", "req/s", "ok/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors",
    ];

    /// This run as one table row named `label`.
    pub fn row(&self, label: &str) -> Vec<String> {
        vec![
            label.to_owned(),
            self.requests.to_string(),
            table::num(self.rps),
            table::num(self.ok_rps),
            format!("{:.2}", self.latency.p50_ms),
            format!("{:.2}", self.latency.p99_ms),
            format!("{:.2}", self.latency.p999_ms),
            format!("{:.2}", self.latency.max_ms),
            self.error_summary(),
        ]
    }

    /// `0`, or the count with each status, e.g. `12 (429: 10, transport: 2)`.
    pub fn error_summary(&self) -> String {
        if self.errors == 0 {
            return "0".to_owned();
        }
        let each: Vec<String> = self
            .errors_by_status
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect();
        format!("{} ({})", self.errors, each.join(", "))
    }

    /// Writes the per-target counts as a table.
    pub fn write_targets(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<Vec<String>> = self
            .targets
            .iter()
            .map(|(name, c)| vec![name.clone(), c.requests.to_string(), c.errors.to_string()])
            .collect();
        table::write(f, &["target", "requests", "errors"], &rows)
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}, {:.1} s", self.mode, self.elapsed_secs)?;
        table::write(f, &Self::HEADERS, &[self.row("all")])?;
        writeln!(f)?;
        self.write_targets(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_counted_per_status_and_target() {
        let mut a = Stats::default();
        a.record("post", Outcome::Status(201), Duration::from_millis(2));
        a.record("post", Outcome::Status(429), Duration::from_millis(1));
        let mut b = Stats::default();
        b.record("comment", Outcome::Transport, Duration::from_millis(3));
        b.record("comment", Outcome::Status(304), Duration::from_millis(4));
        a.merge(b);
        let report = a.report("test".to_owned(), Duration::from_secs(2));
        assert_eq!(report.requests, 4);
        assert_eq!(report.errors, 2);
        assert_eq!(report.error_summary(), "2 (429: 1, transport: 1)");
        assert_eq!(report.targets["post"].errors, 1);
        assert_eq!(report.targets["comment"].requests, 2);
        assert!((report.rps - 2.0).abs() < 1e-9);
        assert!((report.ok_rps - 1.0).abs() < 1e-9);
        assert!((report.latency.max_ms - 4.0).abs() < 0.01);
    }
}
