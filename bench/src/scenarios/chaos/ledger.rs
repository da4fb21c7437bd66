//! What the chaos run's users did and saw: one [`Record`] per command or read, with every
//! attempt and how it ended. The invariants are checked against it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::load::{Latencies, Outcome};

/// What a user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    /// `POST /api/v1/posts`.
    Post,
    /// `POST /api/v1/posts/{id}/comments`.
    Comment,
    /// `PUT /api/v1/posts/{id}/like`.
    Like,
    /// `POST /api/v1/hospitals/{id}/claims`.
    Claim,
    /// A moderator's `POST /api/v1/claims/{id}/approval`, or `ward claims approve`.
    Approval,
    /// `POST /api/v1/hospitals/{id}/reviews` by a verified insider.
    Review,
    /// A post with an empty title: refused (422).
    BadPost,
    /// A comment on a post that does not exist: refused (404).
    BadComment,
    /// A member liking their own post: refused (403).
    BadLike,
    /// A claim at a hospital that does not exist: refused (404).
    BadClaim,
    /// A review by a member with no claim at the hospital: refused (403).
    BadReview,
    /// A page of the free board, or a post, from the query API.
    Read,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 12] = [
        Kind::Post,
        Kind::Comment,
        Kind::Like,
        Kind::Claim,
        Kind::Approval,
        Kind::Review,
        Kind::BadPost,
        Kind::BadComment,
        Kind::BadLike,
        Kind::BadClaim,
        Kind::BadReview,
        Kind::Read,
    ];

    /// Its name in reports.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Post => "post",
            Kind::Comment => "comment",
            Kind::Like => "like",
            Kind::Claim => "claim",
            Kind::Approval => "approval",
            Kind::Review => "review",
            Kind::BadPost => "post, empty title (422)",
            Kind::BadComment => "comment, no such post (404)",
            Kind::BadLike => "like of one's own post (403)",
            Kind::BadClaim => "claim, no such hospital (404)",
            Kind::BadReview => "review by an outsider (403)",
            Kind::Read => "read",
        }
    }

    /// Whether the command is meant to be refused.
    pub fn is_invalid(self) -> bool {
        matches!(
            self,
            Kind::BadPost | Kind::BadComment | Kind::BadLike | Kind::BadClaim | Kind::BadReview
        )
    }

    /// Whether it changes anything (everything but reads).
    pub fn is_command(self) -> bool {
        self != Kind::Read
    }

    /// The aggregate type and event a successful command of this kind records; the same for
    /// an invalid command that wrongly succeeded.
    pub fn event(self) -> Option<(&'static str, &'static str)> {
        match self {
            Kind::Post | Kind::BadPost => Some(("post", "PostCreated")),
            Kind::Comment | Kind::BadComment => Some(("post", "CommentAdded")),
            Kind::Like | Kind::BadLike => Some(("post", "PostLiked")),
            Kind::Claim | Kind::BadClaim => Some(("affiliation", "ClaimSubmitted")),
            Kind::Approval => Some(("affiliation", "ClaimVerified")),
            Kind::Review | Kind::BadReview => Some(("review", "ReviewWritten")),
            Kind::Read => None,
        }
    }
}

/// One try at a request.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    /// When it was sent, from the start of the run.
    pub sent: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// Answered `409 idempotency_key_in_progress`: an earlier try under the same key has
    /// not finished, or was cut off without an answer (held for 30 s).
    pub busy: bool,
}

impl Attempt {
    /// Whether the user saw an error: a transport failure or a 5xx. (A 4xx is an answer;
    /// whether it was the expected one is judged per command.)
    pub fn failed(&self) -> bool {
        match self.outcome {
            Outcome::Status(status) => status >= 500,
            Outcome::Transport | Outcome::Unsent => true,
        }
    }
}

/// How a command ended, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// A 2xx: the aggregate it changed and its version then (unknown when a retry answered
    /// "already done" after an attempt whose answer was lost).
    Acked {
        /// The aggregate's id; for a comment, the comment's own id (its post is the target).
        id: String,
        /// The aggregate's version after the command.
        version: Option<i64>,
    },
    /// A 4xx, with the error code.
    Refused {
        /// The status.
        status: u16,
        /// The `error` field of the answer.
        code: String,
    },
    /// No answer worth the name after every retry (transport errors, 5xx): it may or may not
    /// have happened.
    Unknown {
        /// The last attempt's outcome.
        last: String,
    },
}

/// One command or read, and what came of it.
#[derive(Debug, Clone)]
pub struct Record {
    /// Its number in the run.
    pub n: u64,
    /// What it was.
    pub kind: Kind,
    /// The text marker in its title or body, so its rows can be found in the read models.
    pub marker: String,
    /// The member who sent it (an index into the run's members), if any.
    pub member: Option<usize>,
    /// What it acted on: the post of a comment or like, the hospital of a claim or review,
    /// the claim of an approval.
    pub target: Option<String>,
    /// When it was due, from the start of the run.
    pub due: Duration,
    /// When its final answer came.
    pub finished: Duration,
    /// Every try.
    pub attempts: Vec<Attempt>,
    /// How it ended.
    pub fate: Fate,
    /// Sent while setting the run up, not by the load.
    pub setup: bool,
}

impl Record {
    /// From due to the final answer, retries included: what the user waited.
    pub fn latency(&self) -> Duration {
        self.finished.saturating_sub(self.due)
    }

    /// The acknowledged id and version, if acknowledged.
    pub fn acked(&self) -> Option<(&str, Option<i64>)> {
        match &self.fate {
            Fate::Acked { id, version } => Some((id.as_str(), *version)),
            _ => None,
        }
    }
}

/// Per kind: what the users sent and how it ended.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct KindCount {
    /// Sent by the load.
    pub sent: u64,
    /// Answered 2xx in the end.
    pub acked: u64,
    /// Answered 4xx in the end.
    pub refused: u64,
    /// No answer in the end.
    pub unknown: u64,
    /// Tries beyond the first.
    pub retries: u64,
    /// Tries that failed (transport error or 5xx).
    pub failed_attempts: u64,
    /// Tries answered `409 idempotency_key_in_progress`.
    pub busy_attempts: u64,
    /// Median from due to the final answer, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile of the same.
    pub p99_ms: f64,
}

/// Counts per kind over the load's records (setup records left out).
pub fn count_by_kind(records: &[Record]) -> BTreeMap<Kind, KindCount> {
    let mut counts: BTreeMap<Kind, (KindCount, Latencies)> = BTreeMap::new();
    for record in records.iter().filter(|r| !r.setup) {
        let (count, latencies) = counts.entry(record.kind).or_default();
        count.sent += 1;
        match record.fate {
            Fate::Acked { .. } => count.acked += 1,
            Fate::Refused { .. } => count.refused += 1,
            Fate::Unknown { .. } => count.unknown += 1,
        }
        count.retries += record.attempts.len().saturating_sub(1) as u64;
        count.failed_attempts += record.attempts.iter().filter(|a| a.failed()).count() as u64;
        count.busy_attempts += record.attempts.iter().filter(|a| a.busy).count() as u64;
        latencies.record(record.latency());
    }
    counts
        .into_iter()
        .map(|(kind, (mut count, latencies))| {
            let summary = latencies.summary();
            count.p50_ms = summary.p50_ms;
            count.p99_ms = summary.p99_ms;
            (kind, count)
        })
        .collect()
}

/// What users saw in a window of the run: requests due in it, tries that failed in it, and
/// the 99th percentile of the requests' latencies.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Seen {
    /// Commands and reads due in the window.
    pub requests: u64,
    /// Tries sent in the window that failed (transport error or 5xx).
    pub errors: u64,
    /// 99th percentile, from due to final answer, of the requests due in the window (ms).
    pub p99_ms: f64,
    /// The slowest of them (ms).
    pub max_ms: f64,
}

/// What users saw between `from` and `to`.
pub fn seen_between(records: &[Record], from: Duration, to: Duration) -> Seen {
    let mut latencies = Latencies::new();
    let mut seen = Seen::default();
    for record in records.iter().filter(|r| !r.setup) {
        if (from..=to).contains(&record.due) {
            seen.requests += 1;
            latencies.record(record.latency());
        }
        seen.errors += record
            .attempts
            .iter()
            .filter(|a| (from..=to).contains(&a.sent) && a.failed())
            .count() as u64;
    }
    if !latencies.is_empty() {
        let summary = latencies.summary();
        seen.p99_ms = summary.p99_ms;
        seen.max_ms = summary.max_ms;
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: Kind, due_ms: u64, took_ms: u64, attempts: &[(u64, Outcome)]) -> Record {
        Record {
            n: 0,
            kind,
            marker: String::new(),
            member: None,
            target: None,
            due: Duration::from_millis(due_ms),
            finished: Duration::from_millis(due_ms + took_ms),
            attempts: attempts
                .iter()
                .map(|(sent, outcome)| Attempt {
                    sent: Duration::from_millis(*sent),
                    outcome: *outcome,
                    busy: false,
                })
                .collect(),
            fate: Fate::Acked {
                id: "x".to_owned(),
                version: Some(1),
            },
            setup: false,
        }
    }

    #[test]
    fn a_window_counts_requests_due_and_failed_tries_sent_in_it() {
        let records = [
            record(Kind::Post, 100, 10, &[(100, Outcome::Status(201))]),
            record(
                Kind::Post,
                900,
                2000,
                &[
                    (900, Outcome::Transport),
                    (1500, Outcome::Status(503)),
                    (2800, Outcome::Status(201)),
                ],
            ),
            record(Kind::Read, 3000, 5, &[(3000, Outcome::Status(200))]),
        ];
        let seen = seen_between(
            &records,
            Duration::from_millis(1000),
            Duration::from_millis(3000),
        );
        assert_eq!(seen.requests, 1, "only the read is due in the window");
        assert_eq!(
            seen.errors, 1,
            "the 503 was sent in it, the transport error before"
        );
        let all = seen_between(&records, Duration::ZERO, Duration::from_secs(10));
        assert_eq!((all.requests, all.errors), (3, 2));
        assert!(all.max_ms >= 2000.0);

        let counts = count_by_kind(&records);
        assert_eq!(counts[&Kind::Post].sent, 2);
        assert_eq!(counts[&Kind::Post].retries, 2);
        assert_eq!(counts[&Kind::Post].failed_attempts, 2);
    }
}
