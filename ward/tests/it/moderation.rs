//! Reports, automatic hiding and moderators' decisions over HTTP.

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use ward_domain::member::Role;

async fn send(
    client: &reqwest::Client,
    api: &Running,
    cookie: &str,
    method: Method,
    path: &str,
    body: Value,
) -> Result<(u16, Value)> {
    let response = client
        .request(method, api.url(path))
        .header("cookie", format!("ward_session={cookie}"))
        .json(&body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread")]
async fn enough_distinct_reports_hide_an_item_until_a_moderator_restores_it() -> Result {
    let mut stack = Stack::new().await?;
    stack.config.command_api.auto_hide_reports = 3;
    // Every account's reports count here; `adversary_rules.rs` tests which ones do.
    stack.config.command_api.report_weight_min_age_days = 0;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let author = stack.session().await?;
    let post = create_post(&client, &commands, &author, "신고될 글").await?;
    let report = json!({"kind": "post", "target_id": post, "reason": "personal_information"});

    let mut reporters = Vec::new();
    for _ in 0..4 {
        reporters.push(stack.session().await?);
    }
    for reporter in &reporters {
        assert_eq!(
            send(
                &client,
                &commands,
                reporter,
                Method::POST,
                "/api/v1/reports",
                report.clone()
            )
            .await?
            .0,
            201
        );
    }
    let (status, body) = send(
        &client,
        &commands,
        &reporters[0],
        Method::POST,
        "/api/v1/reports",
        report.clone(),
    )
    .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("already_reported"))
    );

    let hidden: Vec<Value> = sqlx::query_scalar(
        "SELECT payload -> 'TargetHidden' -> 'cause' FROM events WHERE event_type = 'TargetHidden'",
    )
    .fetch_all(&stack.events_db().await?)
    .await?;
    assert_eq!(hidden, [json!("automatic")], "hidden once, automatically");

    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let restore = format!("/api/v1/moderation/post/{post}/restore");
    assert_eq!(
        send(
            &client,
            &commands,
            &moderator,
            Method::POST,
            &restore,
            json!({"note": "문제없음"})
        )
        .await?
        .0,
        200
    );
    let (status, body) = send(
        &client,
        &commands,
        &moderator,
        Method::POST,
        &restore,
        json!({}),
    )
    .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("target_not_hidden"))
    );
    let hide = format!("/api/v1/moderation/post/{post}/hide");
    assert_eq!(
        send(
            &client,
            &commands,
            &moderator,
            Method::POST,
            &hide,
            json!({"reason": "abuse"})
        )
        .await?
        .0,
        200
    );

    let moderators_named: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'moderation' AND payload::text LIKE '%' || $1 || '%'",
    )
    .bind(moderator.as_str())
    .fetch_one(&stack.events_db().await?)
    .await?;
    assert_eq!(moderators_named, 0);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_name_a_real_item() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let reporter = stack.session().await?;
    for (report, status, code) in [
        (
            json!({"kind": "post", "target_id": Uuid::now_v7(), "reason": "spam"}),
            404,
            "target_not_found",
        ),
        (
            json!({"kind": "comment", "target_id": Uuid::now_v7(), "reason": "spam"}),
            422,
            "post_id_missing",
        ),
        (
            json!({"kind": "post", "target_id": Uuid::now_v7(), "reason": "dislike"}),
            422,
            "invalid_body",
        ),
    ] {
        let (got, body) = send(
            &client,
            &commands,
            &reporter,
            Method::POST,
            "/api/v1/reports",
            report,
        )
        .await?;
        assert_eq!((got, body["error"].as_str()), (status, Some(code)));
    }
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_report_with_its_idempotency_key_is_answered_like_the_first() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let (author, reporter) = (stack.session().await?, stack.session().await?);
    let post = create_post(&client, &commands, &author, "글").await?;
    let report = json!({"kind": "post", "target_id": post, "reason": "spam"});
    let send_keyed = || {
        client
            .post(commands.url("/api/v1/reports"))
            .header("cookie", format!("ward_session={reporter}"))
            .header("idempotency-key", "report-1")
            .json(&report)
            .send()
    };
    let first = send_keyed().await?;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await?;
    let again = send_keyed().await?;
    assert_eq!(again.status(), 201, "a replay, not already_reported");
    assert_eq!(again.json::<Value>().await?, first);
    let reports: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'ReportFiled'")
            .fetch_one(&stack.events_db().await?)
            .await?;
    assert_eq!(reports, 1);
    stack.finish().await
}
