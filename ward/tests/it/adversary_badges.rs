//! Post badges against the reader (attacker (a)), the leaked backup (c1) and the analyst
//! with `--open-texts` (d) (issue 19, finding 5): a badge names its author's hospital only if
//! K members of the author's job category are verified there, it is decided once, when the
//! post is written, and nothing stored or published holds more of it than readers see.

use std::time::Duration;

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use ward::replay::{replay, Filter, Format};
use ward_domain::hospital::HospitalKind;
use ward_domain::member::Role;
use ward_domain::sealed::{EventText, Sealed};
use ward_projector::content::{open, ContentKeys, Opened};

const WAIT: Duration = Duration::from_secs(15);
/// K for every test here: small, so that a handful of members crosses it.
const K: u32 = 3;

/// A stack with K = [`K`]; its command API, projector and query API, running; clients of the
/// command and query APIs; and a moderator's cookie.
async fn started() -> Result<(Stack, [Running; 3], Http, Http, String)> {
    let mut stack = Stack::new().await?;
    stack.config.query_api.k_anonymity = K;
    let (commands, projector, queries) = stack.start_all().await?;
    let (commands_http, queries_http) = (Http::new(&commands), Http::new(&queries));
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    Ok((
        stack,
        [commands, projector, queries],
        commands_http,
        queries_http,
        moderator,
    ))
}

/// Posts on the free board as `cookie`, showing `hospital` in its badge; the post's id.
async fn post_with_badge(
    commands: &Http,
    cookie: &str,
    hospital: Uuid,
    title: &str,
) -> Result<String> {
    let body = json!({"board": "free", "title": title, "body": "오늘도 길었습니다",
                      "badge": {"hospital_id": hospital}});
    let answer = commands.post(cookie, "/api/v1/posts", body).await?;
    Ok(answer["id"].as_str().unwrap_or_default().to_owned())
}

/// Waits until the board read model holds `claims` verified claims and `hospitals`
/// hospitals, so that whatever a badge could be computed from or name has arrived, and drops
/// the cached answers (the attacker's best case).
async fn settled(stack: &Stack, claims: i64, hospitals: i64) -> Result {
    let pool = stack.board_db().await?;
    eventually(WAIT, "the claims and hospitals in the board", || async {
        let held: (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM board_claims WHERE verified), \
                    (SELECT count(*) FROM board_hospitals)",
        )
        .fetch_one(&pool)
        .await?;
        Ok((held == (claims, hospitals)).then_some(()))
    })
    .await?;
    let mut redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    ward_platform::cache::invalidate(&mut redis, &stack.config.redis.key_prefix, "board").await?;
    Ok(())
}

/// The badge of post `id` as the JSON API shows it, once the post is there.
async fn badge(queries: &Http, id: &str) -> Result<Value> {
    eventually(WAIT, "the post in the read model", || async {
        let (status, post) = queries
            .send(None, Method::GET, &format!("/api/v1/posts/{id}"), None)
            .await?;
        Ok((status == 200).then(|| post["badge"].clone()))
    })
    .await
}

/// The badge of post `id` in the free board's listing.
async fn listed_badge(queries: &Http, id: &str) -> Result<Value> {
    let page = queries.get("/api/v1/boards/free/posts?limit=50").await?;
    let found = page["posts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["id"] == id)
        .map(|p| p["badge"].clone());
    found.ok_or_else(|| anyhow::anyhow!("post {id} is not listed: {page}"))
}

/// Post `id`'s public page, as a visitor reads it in Korean.
async fn page(queries: &Running, id: &str) -> Result<String> {
    let response = reqwest::Client::new()
        .get(queries.url(&format!("/posts/{id}")))
        .header("cookie", "ward_lang=ko")
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "the page of {id}");
    Ok(response.text().await?)
}

/// A badge showing `job` only.
fn job_only(job: &str) -> Value {
    json!({"job_category": job, "hospital": null, "region": null})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lone_pharmacist_is_not_named_by_a_hospital_that_is_named_for_its_nurses() -> Result {
    let (stack, [commands_running, projector, queries_running], commands, queries, moderator) =
        started().await?;
    // K nurses and one pharmacist at a hospital; one more pharmacist at a small hospital of
    // the same region and kind. Two pharmacists in the region: fewer than K.
    let hospital = register_hospital(&stack, "넓은들병원", "광주", HospitalKind::General).await?;
    let small = register_hospital(&stack, "작은뜰병원", "광주", HospitalKind::General).await?;
    let mut nurses = Vec::new();
    for _ in 0..K {
        nurses.push(insider(&stack, &commands, &moderator, hospital, "nurse").await?);
    }
    let pharmacist = insider(&stack, &commands, &moderator, hospital, "pharmacist").await?;
    insider(&stack, &commands, &moderator, small, "pharmacist").await?;
    settled(&stack, i64::from(K) + 2, 2).await?;

    let lone = post_with_badge(&commands, &pharmacist, hospital, "약제부 이야기").await?;
    let nurse = post_with_badge(&commands, &nurses[0], hospital, "병동 이야기").await?;
    let named = json!({"job_category": "nurse", "hospital": {"id": hospital, "name": "넓은들병원"},
                       "region": null});
    assert_eq!(
        badge(&queries, &nurse).await?,
        named,
        "the nurses' hospital"
    );
    assert_eq!(
        badge(&queries, &lone).await?,
        job_only("pharmacist"),
        "the lone pharmacist's post names their hospital or region"
    );
    assert_eq!(listed_badge(&queries, &lone).await?, job_only("pharmacist"));
    assert_eq!(listed_badge(&queries, &nurse).await?, named);
    let lone_page = page(&queries_running, &lone).await?;
    for said in ["넓은들병원", "광주"] {
        assert!(
            !lone_page.contains(said),
            "the pharmacist's page says {said}"
        );
    }
    assert!(page(&queries_running, &nurse).await?.contains("넓은들병원"));
    for running in [commands_running, projector, queries_running] {
        running.stop().await?;
    }
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_badge_does_not_gain_its_hospital_when_the_hospital_later_reaches_k() -> Result {
    let (stack, [commands_running, projector, queries_running], commands, queries, moderator) =
        started().await?;
    let hospital = register_hospital(&stack, "늦은봄병원", "강원", HospitalKind::General).await?;
    let first = insider(&stack, &commands, &moderator, hospital, "nurse").await?;
    settled(&stack, 1, 1).await?;
    let old = post_with_badge(&commands, &first, hospital, "혼자였을 때").await?;
    assert_eq!(badge(&queries, &old).await?, job_only("nurse"));

    // The crawler's "before": then enough nurses verify for the hospital to be named.
    let mut later = Vec::new();
    for _ in 1..K {
        later.push(insider(&stack, &commands, &moderator, hospital, "nurse").await?);
    }
    settled(&stack, i64::from(K), 1).await?;
    let new = post_with_badge(&commands, &later[0], hospital, "셋이 된 뒤").await?;
    let named = json!({"job_category": "nurse", "hospital": {"id": hospital, "name": "늦은봄병원"},
                       "region": null});
    assert_eq!(badge(&queries, &new).await?, named, "a new post names it");

    // The "after": the old post says no more than it did.
    assert_eq!(
        badge(&queries, &old).await?,
        job_only("nurse"),
        "the old post gained its hospital"
    );
    assert_eq!(listed_badge(&queries, &old).await?, job_only("nurse"));
    let old_page = page(&queries_running, &old).await?;
    for said in ["늦은봄병원", "강원"] {
        assert!(
            !old_page.contains(said),
            "the old post's page now says {said}"
        );
    }
    for running in [commands_running, projector, queries_running] {
        running.stop().await?;
    }
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn neither_the_board_database_nor_the_opened_log_holds_a_hospital_readers_do_not_see(
) -> Result {
    let (stack, [commands_running, projector, queries_running], commands, queries, moderator) =
        started().await?;
    // A hospital named for its nurses (none of whom posts) with one pharmacist, and a small
    // hospital with one nurse: both post with a hospital badge that readers do not see.
    let hospital = register_hospital(&stack, "푸른언덕병원", "충북", HospitalKind::General).await?;
    let small = register_hospital(&stack, "작은샘의원", "충북", HospitalKind::Clinic).await?;
    for _ in 0..K {
        insider(&stack, &commands, &moderator, hospital, "nurse").await?;
    }
    let pharmacist = insider(&stack, &commands, &moderator, hospital, "pharmacist").await?;
    let nurse = insider(&stack, &commands, &moderator, small, "nurse").await?;
    settled(&stack, i64::from(K) + 2, 2).await?;
    let posts = [
        post_with_badge(&commands, &pharmacist, hospital, "약제부 소식").await?,
        post_with_badge(&commands, &nurse, small, "의원 소식").await?,
    ];
    // Both projected; what readers see is checked last, the copies first.
    let shown = [
        badge(&queries, &posts[0]).await?,
        badge(&queries, &posts[1]).await?,
    ];
    let hidden = |text: &str| {
        [hospital, small]
            .iter()
            .any(|h| text.contains(&h.to_string()) || text.contains(&h.simple().to_string()))
    };

    // (c1) Every column of every post row of a leaked ward_board.
    let board = stack.board_db().await?;
    let rows: Vec<String> = sqlx::query_scalar("SELECT to_jsonb(p)::text FROM board_posts p")
        .fetch_all(&board)
        .await?;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert!(
            !hidden(row),
            "the board database keeps a hidden hospital: {row}"
        );
    }

    // (d) The sealed badges of the log, opened with the content keys as `--open-texts` does.
    let events = stack.events_db().await?;
    let created: Vec<(String, Value)> = sqlx::query_as(
        "SELECT aggregate_id, payload FROM events \
         WHERE aggregate_type = 'post' AND event_type = 'PostCreated'",
    )
    .fetch_all(&events)
    .await?;
    assert_eq!(created.len(), 2);
    let keys = ContentKeys::new(events.clone());
    for (id, payload) in created {
        let id = Uuid::parse_str(&id)?;
        let sealed: Sealed =
            serde_json::from_value(payload["PostCreated"]["badge"]["sealed"].clone())?;
        let key = keys.get("post", id).await?;
        let Opened::Text(opened) = open(
            key.as_ref(),
            "post",
            id,
            "badge",
            &EventText::Sealed(sealed),
        ) else {
            anyhow::bail!("the badge of {id} does not open");
        };
        assert!(opened.contains("job_category"), "{opened}");
        assert!(
            !hidden(&opened),
            "the log's badge names a hidden hospital: {opened}"
        );
    }
    let filter = Filter {
        aggregate_types: vec!["post".to_owned()],
        event_types: vec!["PostCreated".to_owned()],
        since: None,
        until: None,
    };
    let replayed = eventually(WAIT, "the posts on their topic", || async {
        let mut out = Vec::new();
        let replayed = replay(&stack.config, &filter, Format::Jsonl, true, false, &mut out).await?;
        Ok((replayed.written == 2).then_some(out))
    })
    .await?;
    let replayed = String::from_utf8(replayed)?;
    assert!(replayed.contains("job_category"), "{replayed}");
    assert!(
        !hidden(&replayed),
        "the replay names a hidden hospital: {replayed}"
    );
    assert_eq!(shown, [job_only("pharmacist"), job_only("nurse")]);
    for running in [commands_running, projector, queries_running] {
        running.stop().await?;
    }
    stack.finish().await
}
