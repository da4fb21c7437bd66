//! The chaos run's users: an open loop of posts, comments, likes, claims, approvals, reviews,
//! a few commands meant to be refused, and reads, sent as a browser form would send them —
//! each create with an `Idempotency-Key`, and every request tried again, with the same key,
//! after a timeout, a dropped connection or a 5xx, on the next replica, for up to a minute.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Client, Method};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::ledger::{Attempt, Fate, Kind, Record};
use crate::load::{paced, Outcome};

/// How long one try may take before the user's browser gives up on it.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries per request at most.
const MAX_ATTEMPTS: usize = 15;
/// No try is started this long after the request was due. An `Idempotency-Key` whose first
/// request died mid-way answers `409 idempotency_key_in_progress` for 30 s, then may be
/// tried again: a user patient for a minute gets through.
const GIVE_UP_AFTER: Duration = Duration::from_secs(65);
/// The longest pause between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// Requests in flight at most.
const MAX_IN_FLIGHT: usize = 2000;

/// The share of each kind in the mix (out of their sum).
const MIX: [(Kind, u32); 12] = [
    (Kind::Post, 26),
    (Kind::Comment, 24),
    (Kind::Like, 14),
    (Kind::Claim, 8),
    (Kind::Approval, 6),
    (Kind::Review, 6),
    (Kind::BadPost, 1),
    (Kind::BadComment, 1),
    (Kind::BadLike, 1),
    (Kind::BadClaim, 1),
    (Kind::BadReview, 1),
    (Kind::Read, 11),
];

/// What exists so far, for the next request to act on. Members are known by a number of
/// the run's own; each signed-in member's session token is kept by it.
struct World {
    /// The signed-in members' session tokens (`ward_session`).
    tokens: HashMap<usize, String>,
    /// The member who approves claims and writes nothing else.
    moderator: usize,
    /// The other signed-in members.
    writers: Vec<usize>,
    /// The number the next member gets.
    next_member: usize,
    hospitals: Vec<String>,
    /// Acknowledged posts and their authors.
    posts: Vec<(String, usize)>,
    /// (member, post) pairs liked or being liked.
    liked: HashSet<(usize, String)>,
    /// (member, hospital) pairs with a claim sent, or kept free of one (an outsider's
    /// review).
    claimed: HashSet<(usize, usize)>,
    /// Acknowledged claims waiting for the moderator.
    pending: VecDeque<String>,
    /// Each acknowledged claim's (member, hospital).
    claims: HashMap<String, (usize, usize)>,
    /// Verified (member, hospital) pairs that have not reviewed yet.
    insiders: Vec<(usize, usize)>,
    rng: StdRng,
}

/// The load's users and what they have done.
pub struct Users {
    world: Mutex<World>,
    records: Mutex<Vec<Record>>,
    client: Client,
    command_urls: Vec<String>,
    query_urls: Vec<String>,
    next_replica: AtomicUsize,
    next_number: AtomicU64,
    started: Instant,
    /// The same moment by the wall clock (events carry their commit time).
    started_at: chrono::DateTime<chrono::Utc>,
    /// Distinguishes this run's idempotency keys and markers.
    run: String,
}

/// What one request is.
struct Request {
    kind: Kind,
    member: Option<usize>,
    target: Option<String>,
    marker: String,
    method: Method,
    path: String,
    body: Option<Value>,
    /// Sent to the query API instead of the command API.
    read: bool,
    /// Sent with an `Idempotency-Key`.
    idempotent: bool,
    /// Sent while setting the run up.
    setup: bool,
}

impl Users {
    /// Users signed in with session `tokens` (the first is the moderator's; members are
    /// numbered in this order) acting on `hospitals` through the replicas at `command_urls`
    /// and `query_urls`; `seed` decides the mix.
    pub fn new(
        run: &str,
        tokens: Vec<String>,
        hospitals: Vec<String>,
        command_urls: Vec<String>,
        query_urls: Vec<String>,
        seed: u64,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(tokens.len() >= 3, "a chaos run needs at least 3 members");
        anyhow::ensure!(!hospitals.is_empty(), "a chaos run needs hospitals");
        let client = Client::builder()
            .pool_max_idle_per_host(64)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(ATTEMPT_TIMEOUT)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            world: Mutex::new(World {
                writers: (1..tokens.len()).collect(),
                moderator: 0,
                next_member: tokens.len(),
                tokens: tokens.into_iter().enumerate().collect(),
                hospitals,
                posts: Vec::new(),
                liked: HashSet::new(),
                claimed: HashSet::new(),
                pending: VecDeque::new(),
                claims: HashMap::new(),
                insiders: Vec::new(),
                rng: StdRng::seed_from_u64(seed),
            }),
            records: Mutex::new(Vec::new()),
            client,
            command_urls,
            query_urls,
            next_replica: AtomicUsize::new(0),
            next_number: AtomicU64::new(1),
            started: Instant::now(),
            started_at: chrono::Utc::now(),
            run: run.to_owned(),
        })
    }

    /// When the run started (every record's times count from here).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// When the run started, by the wall clock.
    pub fn started_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.started_at
    }

    /// Every record so far.
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Records a command made outside the load (`ward claims approve`).
    pub fn record_operator(&self, kind: Kind, target: &str, id: String, version: i64) {
        let now = self.started.elapsed();
        let record = Record {
            n: self.next_number(),
            kind,
            marker: String::new(),
            member: None,
            target: Some(target.to_owned()),
            due: now,
            finished: now,
            attempts: Vec::new(),
            fate: Fate::Acked {
                id,
                version: Some(version),
            },
            setup: true,
        };
        if let Ok(mut records) = self.records.lock() {
            records.push(record);
        }
    }

    /// The signed-in members: their numbers and session tokens.
    pub fn members(&self) -> Vec<(usize, String)> {
        self.world
            .lock()
            .map(|w| w.tokens.iter().map(|(m, t)| (*m, t.clone())).collect())
            .unwrap_or_default()
    }

    /// Every member was signed out (Redis restarted without persistence): members sign in
    /// anew with `tokens` (the first is the new moderator's), as new members — what the old
    /// ones had claimed is theirs no more. Returns the new moderator's number.
    pub fn sign_in_again(&self, tokens: Vec<String>) -> Option<usize> {
        let mut world = self.world.lock().ok()?;
        let first = world.next_member;
        world.next_member += tokens.len();
        world.tokens = tokens
            .into_iter()
            .enumerate()
            .map(|(i, t)| (first + i, t))
            .collect();
        world.moderator = first;
        world.writers = (first + 1..world.next_member).collect();
        world.pending.clear();
        world.insiders.clear();
        Some(first)
    }

    /// A verified insider: `member` may review `hospital` (an index into the hospitals).
    pub fn add_insider(&self, member: usize, hospital: usize) {
        if let Ok(mut world) = self.world.lock() {
            world.claimed.insert((member, hospital));
            world.insiders.push((member, hospital));
        }
    }

    /// Sends a claim of `member` at hospital number `hospital` during setup; its id, if
    /// acknowledged.
    pub async fn setup_claim(&self, member: usize, hospital: usize) -> Option<String> {
        let request = {
            let Ok(mut world) = self.world.lock() else {
                return None;
            };
            world.claimed.insert((member, hospital));
            let hospital_id = world.hospitals[hospital].clone();
            let mut request = self.claim(member, &hospital_id, String::new());
            request.setup = true;
            request
        };
        let n = self.next_number();
        let record = self.perform(n, request, Instant::now()).await;
        let id = record.acked().map(|(id, _)| id.to_owned());
        self.keep(record);
        id
    }

    /// The load: `rate` requests a second for `duration`, each retried as a browser would;
    /// returns once every request has its final answer.
    pub async fn run(self: &Arc<Self>, rate: f64, duration: Duration) {
        paced(
            rate,
            MAX_IN_FLIGHT,
            duration,
            |_, due| {
                let users = self.clone();
                async move {
                    let n = users.next_number();
                    let request = users.next_request(n);
                    let record = users.perform(n, request, due).await;
                    users.learn(&record);
                    users.keep(record);
                }
            },
            |()| {},
        )
        .await;
    }

    fn next_number(&self) -> u64 {
        self.next_number.fetch_add(1, Ordering::Relaxed)
    }

    fn keep(&self, record: Record) {
        if let Ok(mut records) = self.records.lock() {
            records.push(record);
        }
    }

    /// The marker of request `n`: see [`marker_prefix`].
    fn marker(&self, n: u64) -> String {
        format!("{}{n}z", marker_prefix(&self.run))
    }

    /// Picks the `n`th request from the mix, falling back to what is possible now.
    fn next_request(&self, n: u64) -> Request {
        let marker = self.marker(n);
        let Ok(mut world) = self.world.lock() else {
            return self.read(None);
        };
        let total: u32 = MIX.iter().map(|(_, w)| w).sum();
        let mut pick = world.rng.gen_range(0..total);
        let mut kind = Kind::Read;
        for (k, weight) in MIX {
            if pick < weight {
                kind = k;
                break;
            }
            pick -= weight;
        }
        let writers = world.writers.clone();
        let member = writers[world.rng.gen_range(0..writers.len())];
        loop {
            match kind {
                Kind::Post => return self.post(member, marker, "카오스 점검"),
                Kind::BadPost => return self.post(member, marker, ""),
                Kind::Comment => {
                    let Some((post, _)) = world.random_post() else {
                        kind = Kind::Post;
                        continue;
                    };
                    return self.comment(member, &post, marker, Kind::Comment);
                }
                Kind::BadComment => {
                    let nowhere = uuid::Uuid::new_v4().to_string();
                    return self.comment(member, &nowhere, marker, Kind::BadComment);
                }
                Kind::Like => {
                    let found = (0..8).find_map(|_| {
                        let (post, author) = world.random_post()?;
                        let liker = writers[world.rng.gen_range(0..writers.len())];
                        (liker != author && !world.liked.contains(&(liker, post.clone())))
                            .then_some((liker, post))
                    });
                    let Some((liker, post)) = found else {
                        kind = Kind::Post;
                        continue;
                    };
                    world.liked.insert((liker, post.clone()));
                    return self.like(liker, &post, Kind::Like);
                }
                Kind::BadLike => {
                    // An author still signed in.
                    let found = (0..8).find_map(|_| {
                        world
                            .random_post()
                            .filter(|(_, author)| world.tokens.contains_key(author))
                    });
                    let Some((post, author)) = found else {
                        kind = Kind::Post;
                        continue;
                    };
                    return self.like(author, &post, Kind::BadLike);
                }
                Kind::Claim | Kind::BadReview => {
                    let Some(hospital) = world.free_hospital(member) else {
                        kind = Kind::Post;
                        continue;
                    };
                    world.claimed.insert((member, hospital));
                    let hospital = world.hospitals[hospital].clone();
                    if kind == Kind::Claim {
                        return self.claim(member, &hospital, marker);
                    }
                    return self.review(member, &hospital, marker, Kind::BadReview);
                }
                Kind::BadClaim => {
                    let nowhere = uuid::Uuid::new_v4().to_string();
                    let mut request = self.claim(member, &nowhere, marker);
                    request.kind = Kind::BadClaim;
                    return request;
                }
                Kind::Approval => {
                    let Some(claim) = world.pending.pop_front() else {
                        kind = Kind::Claim;
                        continue;
                    };
                    return Request {
                        kind: Kind::Approval,
                        member: Some(world.moderator),
                        target: Some(claim.clone()),
                        marker: String::new(),
                        method: Method::POST,
                        path: format!("/api/v1/claims/{claim}/approval"),
                        body: Some(json!({})),
                        read: false,
                        idempotent: false,
                        setup: false,
                    };
                }
                Kind::Review => {
                    if world.insiders.is_empty() {
                        kind = Kind::Claim;
                        continue;
                    }
                    let insiders = world.insiders.len();
                    let pick = world.rng.gen_range(0..insiders);
                    let (insider, hospital) = world.insiders.swap_remove(pick);
                    let hospital = world.hospitals[hospital].clone();
                    return self.review(insider, &hospital, marker, Kind::Review);
                }
                Kind::Read => {
                    let post = world.random_post().map(|(post, _)| post);
                    return self.read(post);
                }
            }
        }
    }

    fn post(&self, member: usize, marker: String, title: &str) -> Request {
        let (kind, title) = if title.is_empty() {
            (Kind::BadPost, String::new())
        } else {
            (Kind::Post, format!("{title} {marker}"))
        };
        Request {
            kind,
            member: Some(member),
            target: None,
            method: Method::POST,
            path: "/api/v1/posts".to_owned(),
            body: Some(json!({
                "board": "free",
                "title": title,
                "body": format!("장애가 나도 글이 한 번만 남는지 봅니다. {marker}"),
            })),
            marker,
            read: false,
            idempotent: true,
            setup: false,
        }
    }

    fn comment(&self, member: usize, post: &str, marker: String, kind: Kind) -> Request {
        Request {
            kind,
            member: Some(member),
            target: Some(post.to_owned()),
            method: Method::POST,
            path: format!("/api/v1/posts/{post}/comments"),
            body: Some(
                json!({"body": format!("저희 병원도 비슷합니다. {marker}"), "parent_id": null}),
            ),
            marker,
            read: false,
            idempotent: true,
            setup: false,
        }
    }

    fn like(&self, member: usize, post: &str, kind: Kind) -> Request {
        Request {
            kind,
            member: Some(member),
            target: Some(post.to_owned()),
            marker: String::new(),
            method: Method::PUT,
            path: format!("/api/v1/posts/{post}/like"),
            body: None,
            read: false,
            idempotent: false,
            setup: false,
        }
    }

    fn claim(&self, member: usize, hospital: &str, marker: String) -> Request {
        Request {
            kind: Kind::Claim,
            member: Some(member),
            target: Some(hospital.to_owned()),
            marker,
            method: Method::POST,
            path: format!("/api/v1/hospitals/{hospital}/claims"),
            body: Some(json!({"job_category": "nurse", "tenure": "current"})),
            read: false,
            idempotent: true,
            setup: false,
        }
    }

    fn review(&self, member: usize, hospital: &str, marker: String, kind: Kind) -> Request {
        Request {
            kind,
            member: Some(member),
            target: Some(hospital.to_owned()),
            method: Method::POST,
            path: format!("/api/v1/hospitals/{hospital}/reviews"),
            body: Some(json!({
                "ratings": {"overall": 4, "work_environment": 4, "pay_benefits": 3,
                            "management": 3, "care_quality": 5, "work_life_balance": 3},
                "title": format!("장애 중에 쓴 후기 {marker}"),
                "pros": "교육이 체계적이고 동료들이 친절합니다.",
                "cons": "야간 근무가 많아서 피곤한 편입니다.",
                "would_recommend": true
            })),
            marker,
            read: false,
            idempotent: true,
            setup: false,
        }
    }

    fn read(&self, post: Option<String>) -> Request {
        let path = match &post {
            Some(post) => format!("/api/v1/posts/{post}"),
            None => "/api/v1/boards/free/posts".to_owned(),
        };
        Request {
            kind: Kind::Read,
            member: None,
            target: post,
            marker: String::new(),
            method: Method::GET,
            path,
            body: None,
            read: true,
            idempotent: false,
            setup: false,
        }
    }

    /// Sends `request` until it has an answer worth keeping, as a browser form would.
    async fn perform(&self, n: u64, request: Request, due: Instant) -> Record {
        let cookie = request.member.and_then(|m| {
            let world = self.world.lock().ok()?;
            Some(format!("ward_session={}", world.tokens.get(&m)?))
        });
        let key = format!("chaos-{}-{n}", self.run);
        let mut attempts = Vec::new();
        let mut ambiguous = false;
        let fate = loop {
            let urls = if request.read {
                &self.query_urls
            } else {
                &self.command_urls
            };
            let replica = self.next_replica.fetch_add(1, Ordering::Relaxed) % urls.len();
            let mut http = self.client.request(
                request.method.clone(),
                format!("{}{}", urls[replica], request.path),
            );
            if let Some(cookie) = &cookie {
                http = http.header("cookie", cookie);
            }
            if request.idempotent {
                http = http.header("idempotency-key", &key);
            }
            if let Some(body) = &request.body {
                http = http.json(body);
            }
            let sent = self.started.elapsed();
            let answer = match http.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match response.bytes().await {
                        Ok(body) => Some((status, serde_json::from_slice::<Value>(&body).ok())),
                        Err(_) => None,
                    }
                }
                Err(_) => None,
            };
            let outcome = answer
                .as_ref()
                .map_or(Outcome::Transport, |(s, _)| Outcome::Status(*s));
            let busy = answer.as_ref().is_some_and(|(status, body)| {
                *status == 409
                    && body.as_ref().and_then(|b| b["error"].as_str())
                        == Some("idempotency_key_in_progress")
            });
            attempts.push(Attempt {
                sent,
                outcome,
                busy,
            });
            let verdict = judge(request.kind, answer, ambiguous);
            match verdict {
                Verdict::Done(fate) => break fate,
                Verdict::Again { lost } => {
                    ambiguous |= lost;
                    let waited = due.elapsed();
                    if attempts.len() >= MAX_ATTEMPTS || waited >= GIVE_UP_AFTER {
                        break Fate::Unknown {
                            last: outcome.label(),
                        };
                    }
                    let backoff = Duration::from_millis(250 << attempts.len().min(5) as u32);
                    tokio::time::sleep(backoff.min(MAX_BACKOFF)).await;
                }
            }
        };
        // "Already done" names no id: the request's target is the aggregate it changed.
        let fate = match fate {
            Fate::Acked { id, version } if id.is_empty() => Fate::Acked {
                id: request.target.clone().unwrap_or_default(),
                version,
            },
            fate => fate,
        };
        Record {
            n,
            kind: request.kind,
            marker: request.marker,
            member: request.member,
            target: request.target,
            due: due.saturating_duration_since(self.started),
            finished: self.started.elapsed(),
            attempts,
            fate,
            setup: request.setup,
        }
    }

    /// Remembers what an answer made possible: a post to comment on and like, a claim to
    /// approve, an insider who may review.
    fn learn(&self, record: &Record) {
        let Some((id, _)) = record.acked() else {
            return;
        };
        let Ok(mut world) = self.world.lock() else {
            return;
        };
        match (record.kind, record.member) {
            (Kind::Post, Some(author)) => world.posts.push((id.to_owned(), author)),
            (Kind::Claim, Some(member)) if !record.setup => {
                if let Some(hospital) = record
                    .target
                    .as_ref()
                    .and_then(|h| world.hospitals.iter().position(|x| x == h))
                {
                    world.claims.insert(id.to_owned(), (member, hospital));
                    world.pending.push_back(id.to_owned());
                }
            }
            (Kind::Approval, _) => {
                let claim = record.target.as_deref().unwrap_or_default();
                if let Some(pair) = world.claims.get(claim).copied() {
                    world.insiders.push(pair);
                }
            }
            _ => {}
        }
    }
}

/// What every marker of run `run` starts with; the request's number and a `z` follow. No
/// other text contains it by chance, and it is all letters, so that with the number it never
/// looks like a phone number to the personal-data rules (the run's id is hex: its digits
/// become letters).
pub fn marker_prefix(run: &str) -> String {
    let letters: String = run
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from(b'g' + d as u8),
            None => c,
        })
        .collect();
    format!("chaos{letters}x")
}

impl World {
    fn random_post(&mut self) -> Option<(String, usize)> {
        if self.posts.is_empty() {
            return None;
        }
        // Recent posts draw more comments and likes, as on a real board.
        let len = self.posts.len();
        let recent = len.min(50);
        let index = if self.rng.gen_bool(0.7) {
            len - 1 - self.rng.gen_range(0..recent)
        } else {
            self.rng.gen_range(0..len)
        };
        Some(self.posts[index].clone())
    }

    /// A hospital `member` has no claim at yet.
    fn free_hospital(&mut self, member: usize) -> Option<usize> {
        let start = self.rng.gen_range(0..self.hospitals.len());
        (0..self.hospitals.len())
            .map(|i| (start + i) % self.hospitals.len())
            .find(|h| !self.claimed.contains(&(member, *h)))
    }
}

/// What to do after an answer.
enum Verdict {
    /// Keep this as the final answer.
    Done(Fate),
    /// Try again; `lost` when the command may have happened without its answer arriving.
    Again { lost: bool },
}

/// Judges one answer to a request of `kind`; `ambiguous` when an earlier try may have
/// happened without its answer arriving.
fn judge(kind: Kind, answer: Option<(u16, Option<Value>)>, ambiguous: bool) -> Verdict {
    let Some((status, body)) = answer else {
        return Verdict::Again { lost: true };
    };
    let body = body.unwrap_or(Value::Null);
    let code = body["error"].as_str().unwrap_or_default().to_owned();
    match status {
        200..=299 => {
            let id = body["id"].as_str().map(str::to_owned).unwrap_or_default();
            Verdict::Done(Fate::Acked {
                id,
                version: body["version"].as_i64(),
            })
        }
        // A 5xx may have committed before failing (the answer was lost); a timeout at a
        // gateway too.
        500..=599 => Verdict::Again { lost: true },
        409 if matches!(code.as_str(), "idempotency_key_in_progress" | "conflict") => {
            Verdict::Again { lost: false }
        }
        // The earlier try that lost its answer did it: done, at a version nobody told us.
        409 if ambiguous
            && matches!(
                (kind, code.as_str()),
                (Kind::Like, "post_already_liked") | (Kind::Approval, "claim_already_verified")
            ) =>
        {
            Verdict::Done(Fate::Acked {
                id: String::new(),
                version: None,
            })
        }
        // Signed out (a Redis restart loses every session, docs/operations.md): the answer
        // says nothing of an earlier try whose answer was lost, which may have run.
        401 if ambiguous => Verdict::Done(Fate::Unknown {
            last: format!("401 {code} after a lost answer"),
        }),
        _ => Verdict::Done(Fate::Refused { status, code }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_tries_again_after_lost_answers_and_busy_keys_only() {
        let answer = |status, body: Value| Some((status, Some(body)));
        assert!(matches!(
            judge(Kind::Post, None, false),
            Verdict::Again { lost: true }
        ));
        assert!(matches!(
            judge(
                Kind::Post,
                answer(503, json!({"error": "service_unavailable"})),
                false
            ),
            Verdict::Again { lost: true }
        ));
        assert!(matches!(
            judge(
                Kind::Post,
                answer(409, json!({"error": "idempotency_key_in_progress"})),
                false
            ),
            Verdict::Again { lost: false }
        ));
        assert!(matches!(
            judge(
                Kind::Post,
                answer(201, json!({"id": "p", "version": 1})),
                false
            ),
            Verdict::Done(Fate::Acked {
                version: Some(1),
                ..
            })
        ));
        assert!(matches!(
            judge(
                Kind::BadPost,
                answer(422, json!({"error": "title_empty"})),
                false
            ),
            Verdict::Done(Fate::Refused { status: 422, .. })
        ));
        let signed_out = answer(401, json!({"error": "unauthenticated"}));
        assert!(matches!(
            judge(Kind::Comment, signed_out.clone(), true),
            Verdict::Done(Fate::Unknown { .. })
        ));
        assert!(matches!(
            judge(Kind::Comment, signed_out, false),
            Verdict::Done(Fate::Refused { status: 401, .. })
        ));
        let liked_twice = answer(409, json!({"error": "post_already_liked"}));
        assert!(matches!(
            judge(Kind::Like, liked_twice.clone(), true),
            Verdict::Done(Fate::Acked { version: None, .. })
        ));
        assert!(matches!(
            judge(Kind::Like, liked_twice, false),
            Verdict::Done(Fate::Refused { status: 409, .. })
        ));
    }
}
