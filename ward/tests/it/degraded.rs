//! Degraded modes (issue 20): what readers, members and operators see while Redis, MariaDB,
//! PostgreSQL or the broker is down, and that everything comes back by itself once it
//! returns, without a restart. Each outage is played with a [`Switch`], a TCP proxy between
//! one test's stack and the server every test shares (or, for the broker, by stopping the
//! test's own broker).
//!
//! The rule in every case: an answer that needs what is down is a prompt `503
//! service_unavailable` with `Retry-After` — never a `500`, never a hang — and every answer
//! that does not need it is served as usual.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::{json, Value};
use uuid::Uuid;
use ward_domain::hospital::HospitalKind;

/// How long an answer may take while something is down.
const PROMPT: Duration = Duration::from_secs(10);
/// How long the system may take to show something, or to recover.
const WAIT: Duration = Duration::from_secs(30);
/// How long the projectors may take to catch up after the broker restarted (the Kafka client
/// reconnects with a growing back-off, and the records wait in the log).
const BROKER_CATCH_UP: Duration = Duration::from_secs(60);

/// One answer, as a browser or client sees it.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
    took: Duration,
}

impl Answer {
    /// The JSON body (`Null` if it is none).
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// `GET url`, with the session `cookie` if given.
async fn get(url: &str, cookie: Option<&str>) -> Result<Answer> {
    let mut request = reqwest::Client::new().get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("ward_session={cookie}"));
    }
    send(request).await
}

/// `POST /api/v1/posts` as the member with `cookie`.
async fn post(commands: &Running, cookie: &str, title: &str) -> Result<Answer> {
    let request = reqwest::Client::new()
        .post(commands.url("/api/v1/posts"))
        .header("cookie", format!("ward_session={cookie}"))
        .json(&json!({"board": "free", "title": title, "body": "본문"}));
    send(request).await
}

async fn send(request: reqwest::RequestBuilder) -> Result<Answer> {
    let asked = Instant::now();
    let response = request.send().await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await?;
    Ok(Answer {
        status,
        retry_after,
        body,
        took: asked.elapsed(),
    })
}

/// Asserts that `answer` (to `what`) is a prompt `503 service_unavailable` with
/// `Retry-After`; `json` says whether its body is the API's error (pages are HTML).
fn assert_unavailable(answer: &Answer, what: &str, json: bool) {
    assert_eq!(answer.status, 503, "{what}: {}", answer.body);
    assert!(answer.retry_after.is_some(), "{what}: Retry-After");
    if json {
        assert_eq!(
            answer.json()["error"],
            "service_unavailable",
            "{what}: {}",
            answer.body
        );
    }
    assert!(
        answer.took < PROMPT,
        "{what}: answered after {:?}",
        answer.took
    );
}

/// Asserts that `answer` (to `what`) is a prompt `200`.
fn assert_served(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 200, "{what}: {}", answer.body);
    assert!(
        answer.took < PROMPT,
        "{what}: answered after {:?}",
        answer.took
    );
}

/// The ids of the posts `url` (a board listing) answers.
async fn listed(url: &str) -> Result<HashSet<String>> {
    let answer = get(url, None).await?;
    anyhow::ensure!(
        answer.status == 200,
        "{url}: {} {}",
        answer.status,
        answer.body
    );
    Ok(answer.json()["posts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["id"].as_str().map(str::to_owned))
        .collect())
}

/// Waits until the listing at `url` shows `post`.
async fn wait_listed(url: &str, post: Uuid) -> Result {
    wait_listed_within(WAIT, url, post).await
}

/// Waits up to `within` until the listing at `url` shows `post`.
async fn wait_listed_within(within: Duration, url: &str, post: Uuid) -> Result {
    eventually(within, &format!("post {post} at {url}"), || async {
        Ok(listed(url)
            .await
            .ok()
            .filter(|ids| ids.contains(&post.to_string()))
            .map(|_| ()))
    })
    .await
}

/// `/readyz` of `component`: its status and body.
async fn readiness(component: &Running) -> Result<(u16, Value)> {
    let answer = get(&component.url("/readyz"), None).await?;
    Ok((answer.status, answer.json()))
}

/// The names listed under `field` of a `/readyz` body.
fn names(body: &Value, field: &str) -> HashSet<String> {
    body[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

fn set(names: &[&str]) -> HashSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// Waits until the hospital read model holds `hospital` (read straight from MariaDB, so that
/// no answer about it is cached).
async fn wait_projected(stack: &Stack, hospital: Uuid) -> Result {
    let pool = stack.hospital_db().await?;
    eventually(WAIT, "the hospital projected", || async {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM hospitals WHERE id = ?")
            .bind(hospital.to_string())
            .fetch_optional(&pool)
            .await?;
        Ok(found.map(|_| ()))
    })
    .await
}

/// Redis down: readers are served from the databases without the cache, promptly; a member's
/// own pages, which need the session only Redis holds, answer 503; the query API stays ready
/// and says it is without Redis. Once Redis answers again the cache is used again — and does
/// not hide what was projected meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn with_redis_down_reads_come_from_the_databases_and_the_cache_resumes_when_it_returns(
) -> Result {
    let mut stack = Stack::new().await?;
    // The command API keeps its own way to Redis, so that a member can write while the read
    // side is cut off from it: the readers must then see the projector's work, which a cache
    // that missed its invalidation must not hide once Redis is back.
    let commands = stack.command_api().await?;
    let cookie = stack.session().await?;
    let hospital = register_hospital(&stack, "레디스병원", "서울", HospitalKind::General).await?;
    let redis = Switch::to("127.0.0.1:6379").await?;
    stack.config.redis.url = redis.reroute("redis://127.0.0.1:6379").into();
    let (_projector, queries) = (stack.projector().await?, stack.query_api().await?);
    let listing = queries.url("/api/v1/boards/free/posts");
    let before = create_post(&reqwest::Client::new(), &commands, &cookie, "레디스 전").await?;
    wait_listed(&listing, before).await?;
    wait_projected(&stack, hospital).await?;
    assert_served(&get(&listing, None).await?, "the listing, cached");

    redis.cut();
    assert_served(&get(&listing, None).await?, "the listing");
    for page in ["/", "/boards/free", &format!("/hospitals/{hospital}")] {
        assert_served(&get(&queries.url(page), None).await?, page);
    }
    let profile = get(&queries.url(&format!("/api/v1/hospitals/{hospital}")), None).await?;
    assert_served(&profile, "a hospital");
    assert_eq!(profile.json()["name"], "레디스병원");
    // A member reading a public page is shown it signed out; their own pages need Redis.
    assert_served(
        &get(&queries.url("/boards/free"), Some(&cookie)).await?,
        "a public page for a member",
    );
    assert_unavailable(
        &get(&queries.url("/api/v1/me/affiliations"), Some(&cookie)).await?,
        "my affiliations",
        true,
    );
    assert_unavailable(
        &get(&queries.url("/me"), Some(&cookie)).await?,
        "my page",
        false,
    );
    let (status, body) = readiness(&queries).await?;
    assert_eq!((status, names(&body, "degraded")), (200, set(&["redis"])));
    // What is projected meanwhile is read from the database at once...
    let during = create_post(&reqwest::Client::new(), &commands, &cookie, "레디스 중").await?;
    wait_listed(&listing, during).await?;
    // ...and Redis is left alone for a while after it failed, not asked by every request.
    let skipped = metric(
        &queries,
        "ward_query_cache_lookups_total",
        &["outcome=\"skipped\""],
    );
    assert!(skipped.await? > 0.0, "lookups skipped while Redis is down");

    // Redis stays down a while longer: past any retry of the projector's invalidation that
    // gives up after a few attempts.
    tokio::time::sleep(Duration::from_secs(5)).await;

    redis.restore();
    let hits = || {
        metric(
            &queries,
            "ward_query_cache_lookups_total",
            &["outcome=\"hit\""],
        )
    };
    let hits_before = hits().await?;
    eventually(WAIT, "the cache used again", || async {
        get(&listing, None).await?;
        Ok((hits().await? > hits_before).then_some(()))
    })
    .await?;
    // The listing cached before the outage predates the post projected during it.
    wait_listed(&listing, during).await?;
    for _ in 0..5 {
        let ids = listed(&listing).await?;
        assert!(
            ids.contains(&during.to_string()),
            "a stale answer came back"
        );
    }
    eventually(WAIT, "my page again", || async {
        let mine = get(&queries.url("/me"), Some(&cookie)).await?;
        Ok((mine.status == 200).then_some(()))
    })
    .await?;
    let (status, body) = readiness(&queries).await?;
    assert_eq!((status, body["degraded"].clone()), (200, Value::Null));
    stack.finish().await
}

/// MariaDB down: the hospital answers that need it (API and pages) are a prompt 503, while
/// boards keep working end to end (posting, projecting, reading). Once MariaDB is back the
/// hospital projection catches up with what happened meanwhile and the pages answer again.
#[tokio::test(flavor = "multi_thread")]
async fn with_mariadb_down_hospital_reads_answer_503_and_boards_keep_working() -> Result {
    let mut stack = Stack::new().await?;
    let mariadb = Switch::to("127.0.0.1:3306").await?;
    let direct = stack.config.hospital_db.clone();
    for db in [&mut stack.config.hospital_db, &mut stack.config.member_db] {
        db.url = mariadb.reroute(db.url()).into();
    }
    let (commands, _projector, queries) = stack.start_all().await?;
    let cookie = stack.session().await?;
    let hospital = register_hospital(&stack, "마리아병원", "부산", HospitalKind::Hospital).await?;
    let listing = queries.url("/api/v1/boards/free/posts");
    let before = create_post(&reqwest::Client::new(), &commands, &cookie, "마리아 전").await?;
    wait_listed(&listing, before).await?;
    wait_projected(&stack, hospital).await?;

    mariadb.cut();
    let profile = format!("/api/v1/hospitals/{hospital}");
    assert_unavailable(
        &get(&queries.url(&profile), None).await?,
        "a hospital",
        true,
    );
    assert_unavailable(
        &get(&queries.url("/api/v1/hospitals?q=마리아"), None).await?,
        "the hospital search",
        true,
    );
    let page = format!("/hospitals/{hospital}");
    assert_unavailable(
        &get(&queries.url(&page), None).await?,
        "a hospital's page",
        false,
    );
    // Boards: written, projected and read as ever.
    let during = post(&commands, &cookie, "마리아 중").await?;
    assert_eq!(during.status, 201, "{}", during.body);
    let during: Uuid = during.json()["id"].as_str().unwrap_or_default().parse()?;
    wait_listed(&listing, during).await?;
    // The author's page after the post form's redirect, which waits for the post (`?v=`):
    // without the member model it cannot tell the author their own post, but shows it.
    for page in [
        "/boards/free".to_owned(),
        format!("/posts/{during}"),
        format!("/posts/{during}?v=post:{during}:1"),
    ] {
        assert_served(&get(&queries.url(&page), Some(&cookie)).await?, &page);
    }
    let (status, body) = readiness(&queries).await?;
    assert_eq!(
        (status, names(&body, "degraded")),
        (200, set(&["hospital_db", "member_db"]))
    );
    // A hospital registered meanwhile waits for MariaDB in the broker.
    let later = register_hospital(&stack, "나중병원", "부산", HospitalKind::Clinic).await?;

    mariadb.restore();
    eventually(WAIT, "the hospitals again", || async {
        let (first, second) = (
            get(&queries.url(&profile), None).await?,
            get(&queries.url(&format!("/api/v1/hospitals/{later}")), None).await?,
        );
        Ok((first.status == 200 && second.status == 200).then_some(()))
    })
    .await?;
    assert_served(&get(&queries.url(&page), None).await?, "a hospital's page");
    let pool = direct.connect_mysql().await?;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hospitals")
        .fetch_one(&pool)
        .await?;
    assert_eq!(count, 2, "each hospital projected once");
    let (status, body) = readiness(&queries).await?;
    assert_eq!((status, body["degraded"].clone()), (200, Value::Null));
    stack.finish().await
}

/// PostgreSQL stalled — paused, not stopped: its connections stay open and nothing answers —
/// while a member posts: the post is answered `503 service_unavailable` by the request
/// deadline at the latest, never held until TCP gives up; once PostgreSQL answers again, the
/// command API accepts posts without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn with_postgresql_stalled_a_command_answers_503_by_the_deadline_and_recovers() -> Result {
    let mut stack = Stack::new().await?;
    let postgres = Switch::to("127.0.0.1:5432").await?;
    stack.config.event_store.url = postgres.reroute(stack.config.event_store.url()).into();
    let commands = stack.command_api().await?;
    let cookie = stack.session().await?;
    create_post(&reqwest::Client::new(), &commands, &cookie, "멈춤 전").await?;

    postgres.freeze();
    let patience = ward_platform::ops::REQUEST_DEADLINE + PROMPT;
    let stalled = tokio::time::timeout(patience, post(&commands, &cookie, "멈춤 중"))
        .await
        .map_err(|_| anyhow::anyhow!("a post was held past {patience:?}"))??;
    assert_eq!(stalled.status, 503, "{}", stalled.body);
    assert_eq!(stalled.json()["error"], "service_unavailable");
    assert!(stalled.retry_after.is_some());

    postgres.restore();
    eventually(WAIT, "posts accepted again", || async {
        Ok((post(&commands, &cookie, "멈춤 후").await?.status == 201).then_some(()))
    })
    .await?;
    stack.finish().await
}

/// PostgreSQL down (the event store and the board read model): commands and board answers
/// that need it are a prompt 503 while hospital answers keep working; the command API is not
/// ready. Once PostgreSQL is back commands are accepted again and the board catches up.
#[tokio::test(flavor = "multi_thread")]
async fn with_postgresql_down_commands_and_boards_answer_503_and_hospitals_keep_working() -> Result
{
    let mut stack = Stack::new().await?;
    let postgres = Switch::to("127.0.0.1:5432").await?;
    for db in [&mut stack.config.event_store, &mut stack.config.board_db] {
        db.url = postgres.reroute(db.url()).into();
    }
    let (commands, _projector, queries) = stack.start_all().await?;
    let cookie = stack.session().await?;
    let hospital = register_hospital(&stack, "포스트병원", "대구", HospitalKind::Tertiary).await?;
    let listing = queries.url("/api/v1/boards/free/posts");
    let before = create_post(&reqwest::Client::new(), &commands, &cookie, "포스트 전").await?;
    wait_listed(&listing, before).await?;
    wait_projected(&stack, hospital).await?;

    postgres.cut();
    assert_unavailable(
        &post(&commands, &cookie, "포스트 중").await?,
        "a post",
        true,
    );
    // A listing nobody asked for yet must come from the database.
    assert_unavailable(
        &get(&queries.url("/api/v1/boards/free/posts?limit=7"), None).await?,
        "a listing",
        true,
    );
    assert_unavailable(
        &get(&queries.url("/boards/qna"), None).await?,
        "a board's page",
        false,
    );
    let profile = get(&queries.url(&format!("/api/v1/hospitals/{hospital}")), None).await?;
    assert_served(&profile, "a hospital");
    assert_eq!(profile.json()["name"], "포스트병원");
    let page = queries.url(&format!("/hospitals/{hospital}"));
    assert_served(&get(&page, None).await?, "a hospital's page");
    // A member's own part of the page (their reviews, whether they may review) needs the
    // event store: without it the page is shown as to anyone.
    assert_served(
        &get(&page, Some(&cookie)).await?,
        "a hospital's page for a member",
    );
    let (status, body) = readiness(&commands).await?;
    assert_eq!(
        (status, names(&body, "failing")),
        (503, set(&["event_store"]))
    );
    let (status, body) = readiness(&queries).await?;
    assert_eq!(
        (status, names(&body, "degraded")),
        (200, set(&["board_db", "event_store"]))
    );

    postgres.restore();
    let after = eventually(WAIT, "commands accepted again", || async {
        let answer = post(&commands, &cookie, "포스트 후").await?;
        Ok((answer.status == 201).then(|| answer.json()["id"].as_str().map(str::to_owned)))
    })
    .await?
    .unwrap_or_default();
    wait_listed(&listing, after.parse()?).await?;
    let (status, _) = readiness(&commands).await?;
    assert_eq!(status, 200);
    stack.finish().await
}

/// The broker down: commands are still accepted (into the outbox); the command API stays
/// ready but says it is without the broker, and the projector, which can do nothing, is not
/// ready. Once the broker is back the posts arrive and every component is fully ready.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_broker_down_commands_are_accepted_and_readiness_says_so() -> Result {
    let mut stack = Stack::new().await?;
    let (commands, projector, queries) = stack.start_all().await?;
    let cookie = stack.session().await?;
    let listing = queries.url("/api/v1/boards/free/posts");

    stack.broker.stop().await?;
    let during = post(&commands, &cookie, "브로커 중").await?;
    assert_eq!(during.status, 201, "{}", during.body);
    assert!(during.took < PROMPT, "answered after {:?}", during.took);
    let during: Uuid = during.json()["id"].as_str().unwrap_or_default().parse()?;
    let (status, body) = readiness(&commands).await?;
    assert_eq!((status, names(&body, "degraded")), (200, set(&["kafka"])));
    let up = metric(
        &commands,
        "ward_command_dependency_up",
        &["dependency=\"kafka\""],
    );
    assert_eq!(up.await?, 0.0);
    let (status, body) = readiness(&projector).await?;
    assert_eq!(status, 503, "{body}");
    assert!(names(&body, "failing").contains("kafka"), "{body}");
    assert_eq!(readiness(&queries).await?.0, 200);

    stack.broker.resume().await?;
    wait_listed_within(BROKER_CATCH_UP, &listing, during).await?;
    eventually(WAIT, "every component fully ready", || async {
        let (commands, projector) = (readiness(&commands).await?, readiness(&projector).await?);
        let whole = commands == (200, json!({"status": "ready"})) && projector.0 == 200;
        Ok(whole.then_some(()))
    })
    .await?;
    let up = metric(
        &commands,
        "ward_command_dependency_up",
        &["dependency=\"kafka\""],
    );
    assert_eq!(up.await?, 1.0);
    stack.finish().await
}
