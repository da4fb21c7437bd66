//! The invariants a chaos run must keep, checked once the load has stopped and the pipeline
//! has settled: against the ledger of what users were told, the event store, every record on
//! the topics, the read models, and read models rebuilt from offset 0.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use ward_platform::config::{DatabaseConfig, WardConfig};
use ward_platform::kafka;

use super::faults::FaultReport;
use super::installation::PROJECTIONS;
use super::ledger::{Fate, Kind, Record};
use super::pipeline::Pipeline;
use super::users::marker_prefix;

/// Examples kept per invariant.
const EXAMPLES: usize = 5;

/// One invariant's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Invariant {
    /// What must hold.
    pub name: &'static str,
    /// How many things were checked.
    pub checked: u64,
    /// How many broke it.
    pub failures: u64,
    /// The first few that did.
    pub examples: Vec<String>,
    /// Counts worth showing beside the verdict.
    pub note: String,
}

impl Invariant {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            checked: 0,
            failures: 0,
            examples: Vec::new(),
            note: String::new(),
        }
    }

    /// Counts one thing checked, and whether it held.
    fn check(&mut self, holds: bool, failure: impl FnOnce() -> String) {
        self.checked += 1;
        if !holds {
            self.fail(failure());
        }
    }

    fn fail(&mut self, failure: String) {
        self.failures += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(failure);
        }
    }

    /// Whether it held.
    pub fn met(&self) -> bool {
        self.failures == 0
    }
}

/// One row of the event store.
struct Event {
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    payload: Value,
}

/// The events the load's commands record.
const LOAD_EVENTS: [&str; 6] = [
    "PostCreated",
    "CommentAdded",
    "PostLiked",
    "ClaimSubmitted",
    "ClaimVerified",
    "ReviewWritten",
];

async fn events(pipeline: &Pipeline) -> anyhow::Result<Vec<Event>> {
    let rows: Vec<(String, String, i64, String, String)> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, payload::text FROM events",
    )
    .fetch_all(&pipeline.events)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(aggregate_type, aggregate_id, sequence, event_type, payload)| {
                // postgres-es stores `{"<event type>": {fields}}`; the outbox unwraps it the same.
                let mut payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
                if let Some(fields) = payload.get_mut(&event_type) {
                    payload = fields.take();
                }
                Event {
                    aggregate_type,
                    aggregate_id,
                    sequence,
                    event_type,
                    payload,
                }
            },
        )
        .collect())
}

/// The aggregate a record's command changed: a comment's and a like's post, or the id
/// answered.
fn aggregate_of(record: &Record) -> Option<&str> {
    match record.kind {
        Kind::Comment | Kind::BadComment | Kind::Like | Kind::BadLike | Kind::Approval => {
            record.target.as_deref()
        }
        _ => record.acked().map(|(id, _)| id),
    }
}

/// What an event is about for counting doubles: the created item, or a like's post and liker.
fn identity(event: &Event) -> Option<String> {
    let field = |name: &str| event.payload[name].as_str().unwrap_or_default().to_owned();
    match event.event_type.as_str() {
        "CommentAdded" => Some(format!("comment {}", field("comment_id"))),
        "PostLiked" => Some(format!(
            "like of {} by {}",
            event.aggregate_id,
            field("liker_ref")
        )),
        "PostCreated" | "ClaimSubmitted" | "ClaimVerified" | "ReviewWritten" => {
            Some(format!("{} {}", event.event_type, event.aggregate_id))
        }
        _ => None,
    }
}

/// An invariant with the losses and doubles it found.
pub struct Counted {
    /// The verdict.
    pub invariant: Invariant,
    /// Acknowledged commands missing.
    pub lost: u64,
    /// Effects found more than once.
    pub doubled: u64,
}

/// Invariants 1 and (its event part) 4: every acknowledged command's event is in the store
/// once; every load event is accounted for by an acknowledged command, or at most one each by
/// commands whose answer never came. Returns 1 and 4.
pub async fn event_store(
    pipeline: &Pipeline,
    records: &[Record],
) -> anyhow::Result<(Counted, Invariant)> {
    let events = events(pipeline).await?;
    let (mut lost, mut doubled) = (0, 0);
    let mut once = Invariant::new("every 2xx command is in the event store once");
    let mut nothing = Invariant::new("no 4xx command left anything behind");
    let index: HashMap<(&str, &str, i64), usize> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                (
                    e.aggregate_type.as_str(),
                    e.aggregate_id.as_str(),
                    e.sequence,
                ),
                i,
            )
        })
        .collect();
    let comments: HashMap<&str, usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.event_type == "CommentAdded")
        .filter_map(|(i, e)| Some((e.payload["comment_id"].as_str()?, i)))
        .collect();
    let mut accounted: HashSet<usize> = HashSet::new();
    // Acknowledged with a version: that very event.
    for record in records {
        let (Some((id, version)), Some((aggregate_type, event_type))) =
            (record.acked(), record.kind.event())
        else {
            continue;
        };
        if record.kind.is_invalid() {
            nothing.fail(format!(
                "{} #{} was acknowledged: {id}",
                record.kind.label(),
                record.n
            ));
            continue;
        }
        let aggregate = aggregate_of(record).unwrap_or_default();
        let Some(version) = version else {
            continue;
        };
        // A comment is found by its id: a retry that found it made by an attempt whose
        // answer was lost answers the thread's version then, which may be later.
        let found = if record.kind == Kind::Comment {
            comments
                .get(id)
                .copied()
                .filter(|i| events[*i].aggregate_id == aggregate && events[*i].sequence <= version)
        } else {
            index.get(&(aggregate_type, aggregate, version)).copied()
        };
        let right = found.is_some_and(|i| events[i].event_type == event_type);
        lost += u64::from(!right);
        once.check(right, || {
            format!(
                "{} #{}: no {event_type} at {aggregate_type} {aggregate} sequence {version}",
                record.kind.label(),
                record.n
            )
        });
        if let Some(i) = found {
            accounted.insert(i);
        }
    }
    // Acknowledged without a version ("already done" after a lost answer): one such event
    // of the aggregate.
    for record in records {
        let (Some((_, None)), Some((aggregate_type, event_type))) =
            (record.acked(), record.kind.event())
        else {
            continue;
        };
        let aggregate = aggregate_of(record).unwrap_or_default();
        let found = events.iter().enumerate().position(|(i, e)| {
            !accounted.contains(&i)
                && e.aggregate_type == aggregate_type
                && e.aggregate_id == aggregate
                && e.event_type == event_type
        });
        lost += u64::from(found.is_none());
        once.check(found.is_some(), || {
            format!(
                "{} #{}: no {event_type} of {aggregate_type} {aggregate}",
                record.kind.label(),
                record.n
            )
        });
        if let Some(i) = found {
            accounted.insert(i);
        }
    }
    // Nothing twice.
    let mut seen: HashMap<String, u32> = HashMap::new();
    for event in &events {
        if let Some(identity) = identity(event) {
            *seen.entry(identity).or_default() += 1;
        }
    }
    for (identity, times) in &seen {
        if *times > 1 {
            doubled += u64::from(*times - 1);
            once.fail(format!("{identity} recorded {times} times"));
        }
    }
    // Every other load event needs a command whose answer never came.
    let mut unanswered: Vec<&Record> = records
        .iter()
        .filter(|r| matches!(r.fate, Fate::Unknown { .. }) && r.kind.event().is_some())
        .collect();
    let mut explained = 0;
    for (i, event) in events.iter().enumerate() {
        if accounted.contains(&i) || !LOAD_EVENTS.contains(&event.event_type.as_str()) {
            continue;
        }
        nothing.checked += 1;
        let matching = unanswered.iter().position(|r| {
            r.kind.event().map(|(_, t)| t) == Some(event.event_type.as_str())
                && match r.kind {
                    Kind::Comment | Kind::Like | Kind::Approval => {
                        r.target.as_deref() == Some(event.aggregate_id.as_str())
                    }
                    _ => true,
                }
        });
        match matching {
            Some(at) => {
                unanswered.swap_remove(at);
                explained += 1;
            }
            None => nothing.fail(format!(
                "{} of {} {} (sequence {}) answers to no 2xx and no unanswered command",
                event.event_type, event.aggregate_type, event.aggregate_id, event.sequence
            )),
        }
    }
    once.note = format!("{} events in the store", events.len());
    nothing.note = format!("{explained} events from commands whose answer was lost");
    Ok((
        Counted {
            invariant: once,
            lost,
            doubled,
        },
        nothing,
    ))
}

/// Invariant 2: every event of the store is on its topic, once per (aggregate, sequence):
/// none missing, no two records with different events for one position, none unknown to the
/// store; and, as an invariant of its own, no copy of one. Also returns when each copied event was
/// committed, to find the fault that copied it.
pub async fn topics(
    pipeline: &Pipeline,
    config: &WardConfig,
) -> anyhow::Result<(Invariant, Invariant, Vec<DateTime<Utc>>)> {
    let mut invariant =
        Invariant::new("every event is on its topic once per (aggregate, sequence)");
    // A new relay leader skips rows its predecessor published but did not delete (ADR 0017).
    let mut once = Invariant::new("no event is on its topic twice");
    let stored: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT aggregate_type, aggregate_id, sequence FROM events")
            .fetch_all(&pipeline.events)
            .await?;
    let marks = pipeline.watermarks().await?;
    let records: Vec<Value> = kafka::read(&config.kafka, marks)
        .await?
        .into_iter()
        .map(|value| {
            value
                .and_then(|v| serde_json::from_slice(&v).ok())
                .unwrap_or(Value::Null)
        })
        .collect();
    // (aggregate type, aggregate id, sequence) → (event id, commit time), one per record.
    let mut on_topics: HashMap<(String, String, i64), Vec<(String, String)>> = HashMap::new();
    for record in &records {
        let text = |field: &str| record[field].as_str().unwrap_or_default().to_owned();
        let key = (
            text("aggregate_type"),
            text("aggregate_id"),
            record["sequence"].as_i64().unwrap_or(-1),
        );
        on_topics
            .entry(key)
            .or_default()
            .push((text("event_id"), text("occurred_at")));
    }
    let (mut copied, mut missing) = (Vec::new(), 0);
    let stored_keys: HashSet<(String, String, i64)> = stored.into_iter().collect();
    for key in &stored_keys {
        let found = on_topics.get(key).map(Vec::as_slice).unwrap_or_default();
        let distinct: HashSet<&String> = found.iter().map(|(id, _)| id).collect();
        missing += u64::from(found.is_empty());
        if let Some((_, at)) = found.first().filter(|_| found.len() > distinct.len()) {
            let at = DateTime::parse_from_rfc3339(at).map(|at| at.with_timezone(&Utc));
            for _ in distinct.len()..found.len() {
                copied.push(at.unwrap_or_default());
            }
        }
        invariant.check(distinct.len() == 1, || match distinct.len() {
            0 => format!("{key:?} is on no topic"),
            n => format!("{key:?} is on its topic as {n} different events"),
        });
        once.check(found.len() <= 1, || {
            format!(
                "{key:?} is on its topic {} times (the same event)",
                found.len()
            )
        });
    }
    let strays = on_topics
        .keys()
        .filter(|key| !stored_keys.contains(*key))
        .count();
    for key in on_topics.keys().filter(|key| !stored_keys.contains(*key)) {
        invariant.fail(format!("{key:?} is on a topic but not in the event store"));
    }
    invariant.note = format!(
        "{} records; missing {missing}, not in the store {strays}",
        records.len()
    );
    once.note = format!("copies {}", copied.len());
    Ok((invariant, once, copied))
}

/// Markers found in a table's texts: the record number → how many rows carry it.
fn markers<'a>(run: &str, texts: impl Iterator<Item = &'a str>) -> HashMap<u64, u32> {
    let prefix = marker_prefix(run);
    let mut found = HashMap::new();
    for text in texts {
        let mut rest = text;
        while let Some(at) = rest.find(&prefix) {
            rest = &rest[at + prefix.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let (Ok(n), true) = (digits.parse::<u64>(), rest[digits.len()..].starts_with('z')) {
                *found.entry(n).or_default() += 1;
            }
        }
    }
    found
}

/// Invariant 3, and the read-model part of 4: every acknowledged command is visible once in
/// each read model that shows it; no refused command's text is anywhere; an unanswered one's
/// at most once. `member_pages` are each member's `me/activity` items (kind, id).
pub async fn read_models(
    pipeline: &Pipeline,
    run: &str,
    records: &[Record],
    member_pages: &HashMap<usize, Vec<(String, String)>>,
    nothing: &mut Invariant,
) -> anyhow::Result<Counted> {
    let models = Models::read(pipeline, run).await?;
    let mut counted = Counted {
        invariant: Invariant::new(
            "every 2xx command is visible once in every read model that shows it",
        ),
        lost: 0,
        doubled: 0,
    };
    for record in records {
        let label = format!("{} #{}", record.kind.label(), record.n);
        match &record.fate {
            Fate::Acked { id, version } => {
                for (model, shown) in models.showing(record, id, *version) {
                    counted.shown(shown, || {
                        format!("{label}: {model} shows {id} {shown} times")
                    });
                }
                // The member's own pages list what they wrote, once (for members still
                // signed in: a real Redis restart signs everyone out).
                let pages = record.member.and_then(|m| member_pages.get(&m));
                if let (Some(items), Some(kind)) = (pages, page_kind(record.kind)) {
                    let listed = items.iter().filter(|(k, i)| k == kind && i == id).count();
                    counted.shown(listed as u64, || {
                        format!("{label}: its author's activity lists it {listed} times")
                    });
                }
            }
            Fate::Refused { .. } => {
                let shown = models.marked(record.kind, record.n);
                nothing.check(shown == 0, || {
                    format!("{label}, refused, is in a read model")
                });
            }
            Fate::Unknown { .. } => {
                let shown = models.marked(record.kind, record.n);
                counted.doubled += shown.saturating_sub(1);
                counted.invariant.check(shown <= 1, || {
                    format!("{label}, unanswered, is in a read model {shown} times")
                });
            }
        }
    }
    // Every post shows as many likes as the store holds for it.
    for (post, row) in &models.posts {
        let stored = models.liked.get(post).copied().unwrap_or(0);
        counted.invariant.check(row.likes == stored, || {
            format!(
                "post {post} shows {} likes; the store holds {stored}",
                row.likes
            )
        });
    }
    counted.invariant.note = format!(
        "{} posts, {} comments, {} reviews, {} claims",
        models.posts.len(),
        models.comments.len(),
        models.reviews.len(),
        models.claims.len()
    );
    Ok(counted)
}

impl Counted {
    /// Checks that something is shown exactly once: missing is lost, more is doubled.
    fn shown(&mut self, times: u64, failure: impl FnOnce() -> String) {
        self.lost += u64::from(times == 0);
        self.doubled += times.saturating_sub(1);
        self.invariant.check(times == 1, failure);
    }
}

/// A board post as the read model holds it.
struct PostRow {
    version: i64,
    likes: i64,
}

/// The rows of the read models the checks look at, and the markers in their texts.
struct Models {
    posts: HashMap<String, PostRow>,
    /// Comment → its post.
    comments: HashMap<String, String>,
    /// Claim → verified, in the board model.
    board_claims: HashMap<String, bool>,
    /// Claim → state, in the hospital model.
    claims: HashMap<String, String>,
    reviews: HashSet<String>,
    /// Post → `PostLiked` events in the store.
    liked: HashMap<String, i64>,
    post_markers: HashMap<u64, u32>,
    comment_markers: HashMap<u64, u32>,
    review_markers: HashMap<u64, u32>,
}

impl Models {
    async fn read(pipeline: &Pipeline, run: &str) -> anyhow::Result<Self> {
        let posts: Vec<(String, Option<String>, i64, i32)> =
            sqlx::query_as("SELECT id::text, title, version, like_count FROM board_posts")
                .fetch_all(&pipeline.board)
                .await?;
        let comments: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT id::text, post_id::text, body FROM board_comments")
                .fetch_all(&pipeline.board)
                .await?;
        let reviews: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT CAST(id AS CHAR), CAST(title AS CHAR) FROM reviews")
                .fetch_all(&pipeline.hospital)
                .await?;
        Ok(Self {
            post_markers: markers(run, posts.iter().filter_map(|p| p.1.as_deref())),
            comment_markers: markers(run, comments.iter().filter_map(|c| c.2.as_deref())),
            review_markers: markers(run, reviews.iter().filter_map(|r| r.1.as_deref())),
            posts: posts
                .into_iter()
                .map(|(id, _, version, likes)| {
                    let likes = i64::from(likes);
                    (id, PostRow { version, likes })
                })
                .collect(),
            comments: comments
                .into_iter()
                .map(|(id, post, _)| (id, post))
                .collect(),
            reviews: reviews.into_iter().map(|(id, _)| id).collect(),
            board_claims: sqlx::query_as("SELECT id::text, verified FROM board_claims")
                .fetch_all(&pipeline.board)
                .await?
                .into_iter()
                .collect(),
            claims: sqlx::query_as("SELECT CAST(id AS CHAR), CAST(state AS CHAR) FROM claims")
                .fetch_all(&pipeline.hospital)
                .await?
                .into_iter()
                .collect(),
            liked: sqlx::query_as(
                "SELECT aggregate_id, count(*) FROM events WHERE event_type = 'PostLiked' \
                 GROUP BY aggregate_id",
            )
            .fetch_all(&pipeline.events)
            .await?
            .into_iter()
            .collect(),
        })
    }

    /// How many rows carry the marker of record `n` of `kind`.
    fn marked(&self, kind: Kind, n: u64) -> u64 {
        let table = match kind {
            Kind::Post | Kind::BadPost => &self.post_markers,
            Kind::Comment | Kind::BadComment => &self.comment_markers,
            Kind::Review | Kind::BadReview => &self.review_markers,
            _ => return 0,
        };
        u64::from(table.get(&n).copied().unwrap_or(0))
    }

    /// Whether post `post` is in the board model at `version` or later (any, when the
    /// version is unknown).
    fn post_at(&self, post: &str, version: Option<i64>) -> bool {
        self.posts
            .get(post)
            .is_some_and(|row| version.is_none_or(|v| row.version >= v))
    }

    /// For an acknowledged command answered with `id` and `version`: each read model that
    /// shows it, and how many times it does (0 or 1 for a row found by its key; the marker
    /// count for texts, which shows a double written under another id).
    fn showing(&self, record: &Record, id: &str, version: Option<i64>) -> Vec<(&'static str, u64)> {
        let target = record.target.as_deref().unwrap_or_default();
        let found = |yes: bool| u64::from(yes);
        match record.kind {
            Kind::Post => vec![
                ("the board (row)", found(self.post_at(id, version))),
                ("the board (text)", self.marked(Kind::Post, record.n)),
            ],
            Kind::Comment => vec![
                (
                    "the board (row)",
                    found(
                        self.comments.get(id).is_some_and(|post| post == target)
                            && self.post_at(target, version),
                    ),
                ),
                ("the board (text)", self.marked(Kind::Comment, record.n)),
            ],
            Kind::Like => vec![("the board", found(self.post_at(id, version)))],
            Kind::Claim => vec![
                ("the board", found(self.board_claims.contains_key(id))),
                ("the hospital model", found(self.claims.contains_key(id))),
            ],
            Kind::Approval => vec![
                (
                    "the board (verified)",
                    found(self.board_claims.get(id).copied().unwrap_or(false)),
                ),
                (
                    "the hospital model (verified)",
                    found(self.claims.get(id).is_some_and(|s| s == "verified")),
                ),
            ],
            Kind::Review => vec![
                ("the hospital model (row)", found(self.reviews.contains(id))),
                (
                    "the hospital model (text)",
                    self.marked(Kind::Review, record.n),
                ),
            ],
            _ => Vec::new(),
        }
    }
}

/// The `kind` a member's activity page gives items of this command kind.
fn page_kind(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Post => Some("post"),
        Kind::Comment => Some("comment"),
        Kind::Review => Some("review"),
        _ => None,
    }
}

/// Each signed-in member's `GET /api/v1/me/activity`, every page: (kind, id) of what they
/// wrote. `members` are (member, session token).
pub async fn member_pages(
    query_url: &str,
    members: &[(usize, String)],
) -> anyhow::Result<HashMap<usize, Vec<(String, String)>>> {
    let client = reqwest::Client::new();
    let mut pages = HashMap::new();
    for (member, token) in members {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = client
                .get(format!("{query_url}/api/v1/me/activity"))
                .query(&[("limit", "100")])
                .header("cookie", format!("ward_session={token}"));
            if let Some(cursor) = &cursor {
                request = request.query(&[("cursor", cursor)]);
            }
            let page: Value = request.send().await?.error_for_status()?.json().await?;
            for item in page["items"].as_array().into_iter().flatten() {
                items.push((
                    item["kind"].as_str().unwrap_or_default().to_owned(),
                    item["id"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        pages.insert(*member, items);
    }
    Ok(pages)
}

/// Invariant 5: each read model equals the one `ward projector rebuild` builds from offset 0
/// beside it (`<database>_next`). `rebuild(name)` runs the rebuild.
pub async fn rebuilds<F, Fut>(config: &WardConfig, rebuild: F) -> anyhow::Result<Invariant>
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    let mut invariant = Invariant::new("every read model equals a rebuild from offset 0");
    let mut rows = 0;
    for projection in PROJECTIONS {
        let live_db = match projection {
            "board" => &config.board_db,
            "hospital" => &config.hospital_db,
            _ => &config.member_db,
        };
        rebuild(projection).await?;
        let next_db = live_db.with_database(&format!("{}_next", live_db.database_name()))?;
        let (live, next) = (dump(live_db).await?, dump(&next_db).await?);
        rows += live.len();
        let live_set: HashSet<&String> = live.iter().collect();
        let next_set: HashSet<&String> = next.iter().collect();
        let mut differ: Vec<String> = live_set
            .difference(&next_set)
            .map(|row| format!("{projection}: only live: {row}"))
            .chain(
                next_set
                    .difference(&live_set)
                    .map(|row| format!("{projection}: only rebuilt: {row}")),
            )
            .collect();
        differ.sort();
        invariant.checked += 1;
        if !differ.is_empty() || live.len() != next.len() {
            invariant.failures += 1;
            invariant.examples.extend(
                differ
                    .into_iter()
                    .take(EXAMPLES.saturating_sub(invariant.examples.len())),
            );
        }
    }
    invariant.note = format!("{rows} rows compared");
    Ok(invariant)
}

/// Every row of a read model's own tables (not its offsets), as text, sorted — the
/// comparison of `ward/tests/it/replay_equals_live.rs`. Columns a database numbers by itself
/// (AUTO_INCREMENT) are left out, and so are the member model's sealed payloads (`nonce`,
/// `ciphertext`), which differ by their random nonces.
pub async fn dump(db: &DatabaseConfig) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    if db.is_postgres() {
        let pool = db.connect_postgres().await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' \
             AND table_name NOT IN ('projector_offsets', 'projector_rejects', '_sqlx_migrations')",
        )
        .fetch_all(&pool)
        .await?;
        for table in tables {
            let table_rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT to_jsonb(t)::text FROM \"{table}\" t"))
                    .fetch_all(&pool)
                    .await?;
            rows.extend(table_rows.into_iter().map(|r| format!("{table}: {r}")));
        }
        pool.close().await;
    } else {
        let pool = db.connect_mysql().await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE() \
             AND table_name NOT IN ('projector_offsets', 'projector_rejects', '_sqlx_migrations')",
        )
        .fetch_all(&pool)
        .await?;
        for table in tables {
            let columns: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ? \
                 AND extra NOT LIKE '%auto_increment%' \
                 AND column_name NOT IN ('nonce', 'ciphertext') ORDER BY ordinal_position",
            )
            .bind(&table)
            .fetch_all(&pool)
            .await?;
            let values: Vec<String> = columns
                .iter()
                .map(|c| format!("IFNULL(HEX(`{c}`), '-')"))
                .collect();
            let table_rows: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT CAST(CONCAT_WS('|', {}) AS CHAR) FROM `{table}`",
                values.join(", ")
            ))
            .fetch_all(&pool)
            .await?;
            rows.extend(table_rows.into_iter().map(|r| format!("{table}: {r}")));
        }
        pool.close().await;
    }
    rows.sort();
    Ok(rows)
}

/// Invariant 6.
pub fn outbox(rows: i64) -> Invariant {
    let mut invariant = Invariant::new("the outbox is empty");
    invariant.check(rows == 0, || format!("{rows} rows left in the outbox"));
    invariant
}

/// Invariant 7: no projection stayed behind — neither after a fault (the projections must
/// apply what was committed before it ended within the scheduler's wait, 90 s) nor after the
/// load, when every partition must be applied and every process ready. `lag` is what was
/// still behind when the final wait ended.
pub fn no_stuck_group(
    faults: &[FaultReport],
    settled_after: Option<Duration>,
    lag: &BTreeMap<String, BTreeMap<String, i64>>,
    not_ready: &[String],
) -> Invariant {
    let mut invariant = Invariant::new("no consumer group is stuck");
    // Each spell of faults after which the projections did not catch up, from its first.
    let mut spell_start: Option<&FaultReport> = None;
    for fault in faults {
        invariant.checked += 1;
        match (fault.caught_up_after, spell_start) {
            (None, None) => spell_start = Some(fault),
            (Some(_), Some(first)) => {
                invariant.fail(stuck_after(first, Some(fault)));
                spell_start = None;
            }
            _ => {}
        }
    }
    if let Some(first) = spell_start {
        invariant.fail(stuck_after(first, None));
    }
    for projection in PROJECTIONS {
        let behind = lag.get(projection);
        invariant.check(behind.is_none_or(BTreeMap::is_empty), || {
            let partitions: Vec<String> = behind
                .into_iter()
                .flatten()
                .map(|(partition, n)| format!("{partition}: {n}"))
                .collect();
            format!(
                "{projection} still behind after the load: {}",
                partitions.join(", ")
            )
        });
    }
    for process in not_ready {
        invariant.fail(format!("{process} not ready after the load"));
    }
    invariant.note = match settled_after {
        Some(after) => format!("caught up {:.1} s after the load", after.as_secs_f64()),
        None => "never caught up after the load".to_owned(),
    };
    invariant
}

/// Says that the projections did not catch up after fault `first` until the fault `until`
/// (the first after which they did), or until the end.
fn stuck_after(first: &FaultReport, until: Option<&FaultReport>) -> String {
    let end = match until {
        Some(fault) => format!(
            "until after fault #{} ({} {} at {:.1} s)",
            fault.n,
            fault.action,
            fault.target,
            fault.at.as_secs_f64()
        ),
        None => "until the last fault".to_owned(),
    };
    format!(
        "behind after fault #{} ({} {} at {:.1} s) {end}",
        first.n,
        first.action,
        first.target,
        first.at.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_found_and_counted_in_texts() {
        let texts = [
            "카오스 점검 chaosabgx12z",
            "본문 chaosabgx12z 그리고 chaosabgx7z",
            "chaosabgx9 is not closed, chaosotherx5z is another run's",
        ];
        assert_eq!(marker_prefix("ab0"), "chaosabgx");
        let found = markers("ab0", texts.into_iter());
        assert_eq!(found.get(&12), Some(&2));
        assert_eq!(found.get(&7), Some(&1));
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn a_spell_of_faults_not_caught_up_after_is_one_failure() {
        let fault = |n: usize, caught_up: Option<u64>| FaultReport {
            n,
            action: "kill -9".to_owned(),
            target: "broker".to_owned(),
            at: Duration::from_secs(10 * n as u64),
            outage: Duration::from_secs(1),
            ready_after: Some(Duration::from_secs(2)),
            caught_up_after: caught_up.map(Duration::from_secs),
            window_end: Duration::from_secs(10 * n as u64 + 2),
            seen: Default::default(),
        };
        let faults = [
            fault(1, Some(3)),
            fault(2, None),
            fault(3, None),
            fault(4, Some(5)),
            fault(5, None),
        ];
        let stuck = no_stuck_group(&faults, Some(Duration::ZERO), &BTreeMap::new(), &[]);
        assert_eq!(stuck.failures, 2, "{:?}", stuck.examples);
        assert!(stuck.examples[0].contains("fault #2") && stuck.examples[0].contains("#4"));
        assert!(stuck.examples[1].contains("until the last fault"));
        let fine = no_stuck_group(&faults[..1], Some(Duration::ZERO), &BTreeMap::new(), &[]);
        assert!(fine.met());
    }

    #[test]
    fn an_invariant_keeps_a_few_examples_and_counts_all() {
        let mut invariant = Invariant::new("x");
        for n in 0..10 {
            invariant.check(n % 2 == 0, || format!("odd {n}"));
        }
        assert_eq!((invariant.checked, invariant.failures), (10, 5));
        assert_eq!(invariant.examples.len(), EXAMPLES);
        assert!(!invariant.met());
    }
}
