//! The analyst's replay of the event log: filters by aggregate, event type and time, writes
//! JSON Lines or CSV, opens texts only while their keys exist, and names no member.

use std::time::Duration;

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use ward::replay::{replay, Filter, Format};

fn all() -> Filter {
    Filter {
        aggregate_types: vec![],
        event_types: vec![],
        since: None,
        until: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_replays_filtered_with_erased_texts_staying_erased() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let commands = Http::new(&commands);
    let (member, cookie) = stack.member(&[]).await?;
    let kept = commands
        .post(
            &cookie,
            "/api/v1/posts",
            json!({"board": "free", "title": "남는 글", "body": "본문 하나"}),
        )
        .await?;
    let gone = commands
        .post(
            &cookie,
            "/api/v1/posts",
            json!({"board": "free", "title": "지운 글", "body": "본문 둘"}),
        )
        .await?;
    let gone_id = gone["id"].as_str().unwrap_or_default();
    commands
        .ok(
            Some(&cookie),
            Method::DELETE,
            &format!("/api/v1/posts/{gone_id}"),
            None,
        )
        .await?;
    let started = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    commands
        .post(
            &cookie,
            &format!(
                "/api/v1/posts/{}/comments",
                kept["id"].as_str().unwrap_or_default()
            ),
            json!({"body": "나중 댓글"}),
        )
        .await?;

    // Everything, as JSON Lines, once the relay has published it all (5 events).
    let lines = eventually(
        Duration::from_secs(10),
        "five events on the topics",
        || async {
            let mut out = Vec::new();
            let replayed =
                replay(&stack.config, &all(), Format::Jsonl, false, false, &mut out).await?;
            Ok((replayed.written >= 5).then_some(out))
        },
    )
    .await?;
    let text = String::from_utf8(lines)?;
    let events: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()?;
    let types: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    for expected in [
        "MemberRegistered",
        "PostCreated",
        "PostDeleted",
        "CommentAdded",
    ] {
        assert!(types.contains(&expected), "{types:?}");
    }
    assert!(
        !text.contains("남는 글"),
        "texts stay sealed without --open-texts"
    );
    assert!(
        !text.contains(&member.0.to_string()),
        "the log names no member"
    );

    // Only post creations, texts opened: the deleted post's stay erased.
    let filter = Filter {
        aggregate_types: vec!["post".to_owned()],
        event_types: vec!["PostCreated".to_owned()],
        ..all()
    };
    let mut out = Vec::new();
    let replayed = replay(&stack.config, &filter, Format::Jsonl, true, false, &mut out).await?;
    assert_eq!(replayed.written, 2);
    let created: Vec<Value> = String::from_utf8(out)?
        .lines()
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()?;
    let by_id = |id: &Value| {
        created
            .iter()
            .find(|e| e["aggregate_id"] == *id)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by_id(&kept["id"])["payload"]["title"], "남는 글");
    assert_eq!(
        by_id(&gone["id"])["payload"]["title"],
        json!({"erased": true})
    );

    // A time range, as CSV: only the comment came after `started`.
    let filter = Filter {
        since: Some(started),
        ..all()
    };
    let mut out = Vec::new();
    replay(&stack.config, &filter, Format::Csv, true, false, &mut out).await?;
    let csv = String::from_utf8(out)?;
    let rows: Vec<&str> = csv.lines().collect();
    assert!(
        rows[0].starts_with("event_id,occurred_at,aggregate_type"),
        "{csv}"
    );
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(
        rows[1].contains("CommentAdded") && rows[1].contains("나중 댓글"),
        "{csv}"
    );

    // An aggregate type no topic carries is refused.
    let filter = Filter {
        aggregate_types: vec!["patient".to_owned()],
        ..all()
    };
    assert!(replay(
        &stack.config,
        &filter,
        Format::Jsonl,
        false,
        false,
        &mut Vec::new()
    )
    .await
    .is_err());
    stack.finish().await
}

/// Tansu 0.6 runs its retention maintenance at every start (and every 10 minutes), and
/// reads `retention.ms = -1` literally: with `cleanup.policy = delete` set on the topic it
/// deleted every record, leaving the watermarks behind. Ward's topics keep Kafka's default
/// policy implicit, which is the same on Kafka and leaves Tansu nothing to delete.
#[tokio::test(flavor = "multi_thread")]
async fn the_event_log_survives_the_brokers_restart_and_maintenance() -> Result {
    let mut stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let commands = Http::new(&commands);
    let (_, cookie) = stack.member(&[]).await?;
    commands
        .post(
            &cookie,
            "/api/v1/posts",
            json!({"board": "free", "title": "오래 남을 글", "body": "영원히"}),
        )
        .await?;
    let before = eventually(Duration::from_secs(10), "the log replayed", || async {
        let mut out = Vec::new();
        let replayed = replay(&stack.config, &all(), Format::Jsonl, false, false, &mut out).await?;
        Ok((replayed.written >= 2).then_some(replayed.written))
    })
    .await?;
    stack.broker.stop().await?;
    stack.broker.resume().await?;
    // The maintenance runs as the broker starts; give it time to finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut out = Vec::new();
    let after = replay(&stack.config, &all(), Format::Jsonl, false, false, &mut out).await?;
    assert_eq!(
        after.written, before,
        "records lost across the broker's restart"
    );
    stack.finish().await
}
