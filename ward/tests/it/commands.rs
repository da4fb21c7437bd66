//! What every command gets: idempotency keys, rate limits, conflict retries.

use crate::support::*;
use serde_json::{json, Value};
use ward_platform::config::Limit;

fn post_request(
    client: &reqwest::Client,
    api: &Running,
    cookie: &str,
    key: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let request = client
        .post(api.url("/api/v1/posts"))
        .header("cookie", format!("ward_session={cookie}"))
        .json(body);
    match key {
        Some(key) => request.header("idempotency-key", key),
        None => request,
    }
}

async fn event_count(stack: &Stack) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'post'")
            .fetch_one(&stack.events_db().await?)
            .await?,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_idempotency_key_and_body_answer_the_same_and_write_once() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    let body = json!({"board": "free", "title": "한 번만", "body": "본문"});

    let first = post_request(&client, &commands, &cookie, Some("k-1"), &body)
        .send()
        .await?;
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await?;
    let again = post_request(&client, &commands, &cookie, Some("k-1"), &body)
        .send()
        .await?;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.json::<Value>().await?, first);
    assert_eq!(event_count(&stack).await?, 1, "no second event");

    let other = json!({"board": "free", "title": "다른 글", "body": "본문"});
    let reused = post_request(&client, &commands, &cookie, Some("k-1"), &other)
        .send()
        .await?;
    assert_eq!(reused.status(), 422);
    assert_eq!(
        reused.json::<Value>().await?["error"],
        "idempotency_key_reused"
    );

    // Another member's identical key is another key.
    let stranger = stack.session().await?;
    let theirs = post_request(&client, &commands, &stranger, Some("k-1"), &body)
        .send()
        .await?;
    assert_eq!(theirs.status(), 201);
    assert_ne!(theirs.json::<Value>().await?["id"], first["id"]);

    // A refused request does not use the key up.
    let blank = json!({"board": "free", "title": " ", "body": "본문"});
    let refused = post_request(&client, &commands, &cookie, Some("k-2"), &blank)
        .send()
        .await?;
    assert_eq!(refused.status(), 422);
    let fixed = post_request(&client, &commands, &cookie, Some("k-2"), &other)
        .send()
        .await?;
    assert_eq!(fixed.status(), 201);

    let bad = post_request(&client, &commands, &cookie, Some("열쇠"), &body)
        .send()
        .await?;
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<Value>().await?["error"],
        "idempotency_key_invalid"
    );
    assert_eq!(event_count(&stack).await?, 3);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_over_the_post_limit_gets_429_with_retry_after() -> Result {
    let mut stack = Stack::new().await?;
    stack.config.command_api.rate_limits.posts = Limit {
        count: 2,
        window_secs: 60,
    };
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let (cookie, other) = (stack.session().await?, stack.session().await?);
    let body = json!({"board": "free", "title": "제목", "body": "본문"});
    for _ in 0..2 {
        assert_eq!(
            post_request(&client, &commands, &cookie, None, &body)
                .send()
                .await?
                .status(),
            201
        );
    }
    let limited = post_request(&client, &commands, &cookie, None, &body)
        .send()
        .await?;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str()?.parse()?;
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.json::<Value>().await?["error"], "rate_limited");
    assert_eq!(
        post_request(&client, &commands, &other, None, &body)
            .send()
            .await?
            .status(),
        201
    );
    assert_eq!(event_count(&stack).await?, 3);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_commands_on_one_post_are_retried_instead_of_refused_as_conflicts() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    let id = create_post(&client, &commands, &cookie, "동시에").await?;
    let deletes = (0..6).map(|_| {
        client
            .delete(commands.url(&format!("/api/v1/posts/{id}")))
            .header("cookie", format!("ward_session={cookie}"))
            .send()
    });
    let mut codes = Vec::new();
    for response in futures::future::join_all(deletes).await {
        let response = response?;
        let status = response.status().as_u16();
        let body: Value = response.json().await?;
        codes.push((status, body["error"].as_str().unwrap_or("").to_owned()));
    }
    codes.sort();
    assert_eq!(codes[0], (200, String::new()), "{codes:?}");
    assert!(
        codes[1..]
            .iter()
            .all(|c| *c == (409, "post_deleted".to_owned())),
        "{codes:?}"
    );
    assert_eq!(event_count(&stack).await?, 2);
    stack.finish().await
}
