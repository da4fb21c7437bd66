//! The reader as adversary (issue 19, attacker (a)): anyone who reads the public pages and
//! APIs over months, crawls them before and after every change, and tampers with what the
//! API hands back. Each test plays one attack against the whole stack (PostgreSQL, MariaDB,
//! Redis, the broker) and fails if the reader learns more than the anonymity rules allow, or
//! can make the service do more work than an ordinary read costs.

use std::time::{Duration, Instant};

use crate::support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use ward_domain::hospital::HospitalKind;
use ward_domain::member::Role;

const WAIT: Duration = Duration::from_secs(15);

/// Posts on the free board as `cookie` with a badge naming `hospital`; its id and version.
async fn post_with_badge(commands: &Http, cookie: &str, hospital: Uuid) -> Result<(String, i64)> {
    let body = json!({"board": "free", "title": "야간 근무 이야기", "body": "오늘도 길었습니다",
                      "badge": {"hospital_id": hospital}});
    let answer = commands.post(cookie, "/api/v1/posts", body).await?;
    Ok(id_and_version(&answer))
}

/// Waits until the board read model holds `count` verified claims: every verification the
/// test made has reached the badges.
async fn board_knows_verified(stack: &Stack, count: i64) -> Result {
    let pool = stack.board_db().await?;
    eventually(WAIT, "the verified claims in the board", || async {
        let verified: i64 = sqlx::query_scalar("SELECT count(*) FROM board_claims WHERE verified")
            .fetch_one(&pool)
            .await?;
        Ok((verified == count).then_some(()))
    })
    .await
}

/// Waits until the hospital read model holds `count` verified claims.
async fn hospitals_know_verified(stack: &Stack, count: i64) -> Result {
    let pool = stack.hospital_db().await?;
    eventually(WAIT, "the verified claims in the hospitals", || async {
        let verified: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM claims WHERE state = 'verified'")
                .fetch_one(&pool)
                .await?;
        Ok((verified == count).then_some(()))
    })
    .await
}

/// Drops every cached answer of `service`, so the next crawl reads the read model itself
/// (the attacker's best case: no cache hides a change from them).
async fn uncached(stack: &Stack, service: &str) -> Result {
    let mut redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    ward_platform::cache::invalidate(&mut redis, &stack.config.redis.key_prefix, service).await?;
    Ok(())
}

/// The post `id` once projected at `version` or later.
async fn projected_post(queries: &Http, id: &str, version: i64) -> Result<Value> {
    eventually(WAIT, "the post in the read model", || async {
        let (status, post) = queries
            .send(None, Method::GET, &format!("/api/v1/posts/{id}"), None)
            .await?;
        Ok((status == 200 && post["version"].as_i64() >= Some(version)).then_some(post))
    })
    .await
}

/// A page or answer as a visitor (or the member with `cookie`) gets it: status and body.
async fn fetch(url: &str, cookie: Option<&str>, lang: &str) -> Result<(u16, String)> {
    let mut cookies = format!("ward_lang={lang}");
    if let Some(cookie) = cookie {
        cookies.push_str(&format!("; ward_session={cookie}"));
    }
    let response = reqwest::Client::new()
        .get(url)
        .header("cookie", cookies)
        .send()
        .await?;
    Ok((response.status().as_u16(), response.text().await?))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_badge_needs_k_members_among_the_hospitals_that_show_it() -> Result {
    let mut stack = Stack::new().await?;
    stack.config.query_api.k_anonymity = 3;
    let (commands, _projector, queries_running) = stack.start_all().await?;
    let (commands, queries) = (Http::new(&commands), Http::new(&queries_running));
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    // A big hospital that shows its own name for nurses, and a small one beside it in
    // 부산 · general.
    let big = register_hospital(&stack, "큰파도병원", "부산", HospitalKind::General).await?;
    let small = register_hospital(&stack, "작은섬병원", "부산", HospitalKind::General).await?;
    for _ in 0..3 {
        insider(&stack, &commands, &moderator, big, "nurse").await?;
    }
    let lonely = insider(&stack, &commands, &moderator, small, "nurse").await?;
    let (post, version) = post_with_badge(&commands, &lonely, small).await?;
    board_knows_verified(&stack, 4).await?;
    uncached(&stack, "board").await?;

    // The region has 4 verified nurses, but 3 of them are at a hospital that shows its own
    // name: a "부산 · general" nurse badge could only ever be the small hospital's one nurse.
    let shown = projected_post(&queries, &post, version).await?;
    assert_eq!(
        (&shown["badge"]["hospital"], &shown["badge"]["region"]),
        (&Value::Null, &Value::Null),
        "the lone member's region is shown: {}",
        shown["badge"]
    );
    for path in [
        "/api/v1/boards/free/posts".to_owned(),
        format!("/api/v1/posts?q={}", "%EC%95%BC%EA%B0%84"), // 야간
    ] {
        let text = queries.get(&path).await?.to_string();
        assert!(!text.contains("\"sido\""), "{path} shows a region: {text}");
    }
    let (status, page) = fetch(&queries_running.url(&format!("/posts/{post}")), None, "ko").await?;
    assert_eq!(status, 200);
    assert!(
        !page.contains("부산 종합병원"),
        "the post page shows the lone member's region"
    );

    // Two verified nurses at a third small hospital: the hospitals that fall back to the
    // region now have K nurses together, so a new post shows the region; the old one stays
    // as it was written.
    let third = register_hospital(&stack, "옆골목병원", "부산", HospitalKind::General).await?;
    for _ in 0..2 {
        insider(&stack, &commands, &moderator, third, "nurse").await?;
    }
    board_knows_verified(&stack, 6).await?;
    uncached(&stack, "board").await?;
    let (later, version) = post_with_badge(&commands, &lonely, small).await?;
    let regional = projected_post(&queries, &later, version).await?;
    assert_eq!(
        (&regional["badge"]["hospital"], &regional["badge"]["region"]),
        (&Value::Null, &json!({"sido": "부산", "kind": "general"})),
    );
    let old = queries.get(&format!("/api/v1/posts/{post}")).await?;
    assert_eq!(
        (&old["badge"]["hospital"], &old["badge"]["region"]),
        (&Value::Null, &Value::Null),
        "the old post gained a region"
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crawler_cannot_tell_that_one_more_member_verified() -> Result {
    let mut stack = Stack::new().await?;
    stack.config.query_api.k_anonymity = 3;
    let (commands, _projector, queries_running) = stack.start_all().await?;
    let (commands, queries) = (Http::new(&commands), Http::new(&queries_running));
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let hospital = register_hospital(&stack, "밝은창병원", "대전", HospitalKind::Hospital).await?;
    let quiet = register_hospital(&stack, "고요한숲의원", "대전", HospitalKind::Clinic).await?;
    for job in ["doctor", "nurse", "pharmacist"] {
        insider(&stack, &commands, &moderator, hospital, job).await?;
    }
    insider(&stack, &commands, &moderator, quiet, "nurse").await?;
    hospitals_know_verified(&stack, 4).await?;
    uncached(&stack, "hospital").await?;

    let profile = format!("/api/v1/hospitals/{hospital}");
    let search = "/api/v1/hospitals?sido=%EB%8C%80%EC%A0%84".to_owned(); // 대전
    let page = queries_running.url(&format!("/hospitals/{hospital}"));
    let crawl = || async {
        Ok::<_, anyhow::Error>((
            queries.get(&profile).await?,
            queries.get(&search).await?,
            fetch(&page, None, "ko").await?.1,
            fetch(&page, None, "en").await?.1,
        ))
    };
    let before = crawl().await?;

    // Only bands are published: 3 members are in [K, 2K), the lone one in [0, K).
    assert_eq!(before.0["verified_members"], json!({"min": 3, "max": 5}));
    let listed: Vec<(Value, Value)> = before.1["hospitals"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| (h["name"].clone(), h["verified_members"].clone()))
        .collect();
    assert_eq!(
        listed,
        [
            (json!("고요한숲의원"), json!({"min": 0, "max": 2})),
            (json!("밝은창병원"), json!({"min": 3, "max": 5})),
        ]
    );
    assert!(before.2.contains("인증 회원 3–5명"), "{}", before.2);
    assert!(before.3.contains("3–5 verified members"), "{}", before.3);
    let (_, quiet_page) = fetch(
        &queries_running.url(&format!("/hospitals/{quiet}")),
        None,
        "en",
    )
    .await?;
    assert!(
        quiet_page.contains("fewer than 3 verified members"),
        "{quiet_page}"
    );

    // One more member verifies: 4 is still in [3, 6).
    insider(&stack, &commands, &moderator, hospital, "administration").await?;
    hospitals_know_verified(&stack, 5).await?;
    uncached(&stack, "hospital").await?;
    let after = crawl().await?;
    let field = |answer: &Value| answer["verified_members"].to_string();
    assert_eq!(field(&before.0), field(&after.0), "the profile's count");
    assert_eq!(
        before.0.to_string(),
        after.0.to_string(),
        "the whole profile"
    );
    assert_eq!(before.1.to_string(), after.1.to_string(), "the search page");
    assert_eq!(before.2, after.2, "the Korean hospital page");
    assert_eq!(before.3, after.3, "the English hospital page");
    for page in [&after.2, &after.3] {
        for exact in ["인증 회원 4", "인증 회원 3<", "4 verified", ">3 verified"] {
            assert!(!page.contains(exact), "the page shows an exact count");
        }
    }

    // The OpenAPI document promises a band, not a number.
    let document = queries.get("/api/v1/openapi.json").await?;
    let schemas = &document["components"]["schemas"];
    for schema in ["HospitalProfile", "HospitalSummary"] {
        let field = &schemas[schema]["properties"]["verified_members"];
        assert_ne!(field["type"], json!("integer"), "{schema}: {field}");
    }
    stack.finish().await
}

/// A cursor as the API encodes them, holding `key`.
fn cursor(key: &Value) -> String {
    URL_SAFE_NO_PAD.encode(key.to_string())
}

/// Times that no read model holds, spelled as a crafted cursor would spell them.
const TAMPERED_TIMES: [&str; 8] = [
    "+99999-01-01T00:00:00Z",
    "99999-01-01T00:00:00Z",
    "0000-00-00T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "-262143-01-01T00:00:00Z",
    "+262142-12-31T23:59:59Z",
    "0999-12-31T23:59:59Z",
];

#[tokio::test(flavor = "multi_thread")]
async fn tampered_cursor_dates_are_refused_as_invalid_cursors() -> Result {
    let stack = Stack::new().await?;
    let (_commands, _projector, queries_running) = stack.start_all().await?;
    let queries = Http::new(&queries_running);
    let hospital =
        register_hospital(&stack, "시간여행병원", "세종", HospitalKind::Hospital).await?;
    let (_, member) = stack.member(&[]).await?;
    eventually(WAIT, "the hospital projected", || async {
        let (status, _) = queries
            .send(
                None,
                Method::GET,
                &format!("/api/v1/hospitals/{hospital}"),
                None,
            )
            .await?;
        Ok((status == 200).then_some(()))
    })
    .await?;

    let id = Uuid::new_v4();
    let mut not_refused = Vec::new();
    for time in TAMPERED_TIMES {
        // Every paged endpoint, with a cursor of the shape it gives out.
        let attempts: [(String, Value, bool); 10] = [
            // MariaDB: hospitals, reviews, the member's activity and notifications.
            (
                "/api/v1/hospitals?".to_owned(),
                json!([time, id.to_string()]),
                false,
            ),
            (
                format!("/api/v1/hospitals/{hospital}/reviews?"),
                json!([time, id]),
                false,
            ),
            (
                format!("/api/v1/hospitals/{hospital}/reviews?sort=helpful&"),
                json!([0, time, id]),
                false,
            ),
            (
                "/api/v1/me/activity?".to_owned(),
                json!([time, "key"]),
                true,
            ),
            (
                "/api/v1/me/notifications?".to_owned(),
                json!([time, "key"]),
                true,
            ),
            (format!("/hospitals/{hospital}?"), json!([time, id]), false),
            // PostgreSQL: boards, search and the moderation log.
            (
                "/api/v1/boards/free/posts?".to_owned(),
                json!([time, id]),
                false,
            ),
            (
                "/api/v1/boards/free/posts?sort=top&".to_owned(),
                json!([0, time, id]),
                false,
            ),
            (
                "/api/v1/posts?q=%EB%B3%B8%EB%AC%B8&".to_owned(),
                json!([time, id]),
                false,
            ),
            (
                "/api/v1/moderation/log?".to_owned(),
                json!([time, id, 1]),
                false,
            ),
        ];
        for (path, key, signed_in) in attempts {
            let url = queries_running.url(&format!("{path}cursor={}", cursor(&key)));
            let cookie = signed_in.then_some(member.as_str());
            // A handler that fails on the cursor may even drop the connection.
            let (status, body) = match fetch(&url, cookie, "en").await {
                Ok(answer) => answer,
                Err(error) => (0, format!("{error:#}")),
            };
            let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let answered = (status, json["error"].as_str().map(str::to_owned));
            // The page shows the API's refusal as an HTML error page with its status and code.
            let page_refused = path.starts_with("/hospitals/")
                && status == 400
                && body.contains("<code>cursor_invalid</code>");
            if answered != (400, Some("cursor_invalid".to_owned())) && !page_refused {
                not_refused.push(format!("{path} {key}: {status} {body}"));
            }
        }
    }
    assert!(
        not_refused.is_empty(),
        "tampered cursors not refused with 400 cursor_invalid:\n{}",
        not_refused.join("\n")
    );
    stack.finish().await
}

/// `GET path` with `Ward-Min-Version: version` as `cookie`: the consistency it claims and
/// how long it took.
async fn timed_wait(
    url: String,
    version: String,
    cookie: Option<String>,
) -> Result<(Option<String>, Duration)> {
    let mut request = reqwest::Client::new()
        .get(url)
        .header("ward-min-version", version);
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("ward_session={cookie}"));
    }
    let started = Instant::now();
    let response = request.send().await?;
    anyhow::ensure!(response.status() == 200, "status {}", response.status());
    let consistency = response
        .headers()
        .get("ward-consistency")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    response.bytes().await?;
    Ok((consistency, started.elapsed()))
}

/// Well under the 2 s a request may wait for its version.
const AT_ONCE: Duration = Duration::from_millis(1000);

#[tokio::test(flavor = "multi_thread")]
async fn waits_for_a_version_are_bounded_per_reader_and_per_process() -> Result {
    let stack = Stack::new().await?;
    // The caps as configured (the defaults); more members sending two requests each than
    // the process lets wait.
    let (process_cap, per_member) = (
        stack.config.query_api.max_waits,
        stack.config.query_api.max_waits_per_member,
    );
    let crowd = process_cap / 2 + 4;
    let queries = stack.query_api().await?;
    let listing = queries.url("/api/v1/boards/free/posts");
    // A version that never comes: nothing is ever projected here.
    let never = || format!("post:{}:7", Uuid::new_v4());

    // An anonymous reader never makes the service wait (and poll the database) for them.
    let (consistency, took) = timed_wait(listing.clone(), never(), None).await?;
    assert_eq!(consistency.as_deref(), Some("stale"));
    assert!(took < AT_ONCE, "an anonymous reader waited {took:?}");

    // A signed-in member may wait, but not for many requests at once.
    let (_, member) = stack.member(&[]).await?;
    let (consistency, took) = timed_wait(listing.clone(), never(), Some(member.clone())).await?;
    assert_eq!(consistency.as_deref(), Some("stale"));
    assert!(
        took >= Duration::from_millis(1500),
        "a member waited {took:?}"
    );
    let mut own = tokio::task::JoinSet::new();
    for _ in 0..per_member + 2 {
        own.spawn(timed_wait(listing.clone(), never(), Some(member.clone())));
    }
    let own = own.join_all().await;
    let at_once = own
        .iter()
        .filter(|r| matches!(r, Ok((Some(c), took)) if c == "stale" && *took < AT_ONCE))
        .count();
    assert!(
        at_once >= 2,
        "one member kept more than {per_member} requests waiting: {own:?}"
    );

    // Many members together, two requests each: past the process's cap, the rest answer
    // at once, stale, whoever sends them.
    let mut members = Vec::new();
    for _ in 0..crowd {
        members.push(stack.member(&[]).await?.1);
    }
    let newcomer = stack.member(&[]).await?.1;
    let mut all = tokio::task::JoinSet::new();
    for member in members.iter().chain(&members) {
        all.spawn(timed_wait(listing.clone(), never(), Some(member.clone())));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (consistency, took) = timed_wait(listing.clone(), never(), Some(newcomer)).await?;
    assert_eq!(consistency.as_deref(), Some("stale"));
    assert!(took < AT_ONCE, "a newcomer waited {took:?} past the cap");
    let answers = all.join_all().await;
    let mut waited = 0;
    for answer in &answers {
        let (consistency, took) = answer.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(consistency.as_deref(), Some("stale"));
        if *took >= AT_ONCE {
            waited += 1;
        }
    }
    assert!(
        waited <= process_cap,
        "{waited} of {} requests waited at once",
        answers.len()
    );
    stack.finish().await
}
