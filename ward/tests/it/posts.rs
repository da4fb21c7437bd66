//! Deleting posts, crypto-shredding and unlinkable authorship, end to end.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::*;
use serde_json::{json, Value};
use uuid::Uuid;

async fn delete_post(
    client: &reqwest::Client,
    api: &Running,
    cookie: &str,
    id: &str,
) -> Result<(u16, Value)> {
    let response = client
        .delete(api.url(&format!("/api/v1/posts/{id}")))
        .header("cookie", format!("ward_session={cookie}"))
        .send()
        .await?;
    Ok((response.status().as_u16(), response.json().await?))
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_post_shreds_its_content_in_the_log_and_every_read_model() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let client = reqwest::Client::new();
    let (author, other) = (stack.session().await?, stack.session().await?);
    let id = create_post(&client, &commands, &author, "지울 글").await?;
    let board = stack.board_db().await?;
    let state = |id: Uuid| {
        let board = board.clone();
        async move {
            let row: Option<(String, Option<String>)> =
                sqlx::query_as("SELECT state, title FROM board_posts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&board)
                    .await?;
            Ok::<_, anyhow::Error>(row)
        }
    };
    eventually(Duration::from_secs(5), "the post", || async {
        state(id).await
    })
    .await?;

    let events = stack.events_db().await?;
    let payload: String =
        sqlx::query_scalar("SELECT payload::text FROM events WHERE aggregate_id = $1")
            .bind(id.to_string())
            .fetch_one(&events)
            .await?;
    assert!(
        !payload.contains("지울 글") && !payload.contains("본문"),
        "sealed in the log: {payload}"
    );

    assert_eq!(
        delete_post(&client, &commands, &other, &id.to_string())
            .await?
            .0,
        403
    );
    let (status, body) =
        delete_post(&client, &commands, &other, &Uuid::now_v7().to_string()).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("post_not_found"))
    );
    let (status, body) = delete_post(&client, &commands, &author, &id.to_string()).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 2);
    let (status, body) = delete_post(&client, &commands, &author, &id.to_string()).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("post_deleted"))
    );

    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM content_keys WHERE item_id = $1")
        .bind(id.to_string())
        .fetch_one(&events)
        .await?;
    assert_eq!(keys, 0, "the key is destroyed with the deletion");
    eventually(
        Duration::from_secs(5),
        "the deletion in the read model",
        || async {
            Ok(state(id)
                .await?
                .filter(|(s, t)| s == "deleted" && t.is_none()))
        },
    )
    .await?;
    let shown: Value = client
        .get(queries.url(&format!("/api/v1/posts/{id}")))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        (shown["state"].as_str(), &shown["title"]),
        (Some("deleted"), &Value::Null)
    );
    let listed: Value = client
        .get(queries.url("/api/v1/boards/free/posts"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(listed["posts"], json!([]));

    // A replay from offset 0 into a fresh read model cannot recover the content: the creation
    // arrives sealed with a key that no longer exists.
    let keys_only = stack.events_db().await?;
    sqlx::query("DELETE FROM outbox")
        .execute(&keys_only)
        .await?;
    // Into `<board>_next`, which `finish` drops with the test's own databases.
    let mut replay = stack.config.clone();
    replay.board_db = replay
        .board_db
        .with_database(&format!("{}_next", replay.board_db.database_name()))?;
    replay.projector.group_prefix = "rebuild-".to_owned();
    ward::migrate(&replay).await?;
    let rebuilt = replay.board_db.connect_postgres().await?;
    let _replay = stack.projector_with(replay).await?;
    let row = eventually(Duration::from_secs(10), "the replayed post", || async {
        let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT state, title, body FROM board_posts WHERE id = $1 AND version = 2",
        )
        .bind(id)
        .fetch_optional(&rebuilt)
        .await?;
        Ok(row)
    })
    .await?;
    assert_eq!(row, ("deleted".to_owned(), None, None));
    drop(rebuilt);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn two_posts_by_one_member_share_no_author_value_in_the_log() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    create_post(&client, &commands, &cookie, "첫째 글").await?;
    create_post(&client, &commands, &cookie, "둘째 글").await?;
    let rows: Vec<(Value, Value)> = sqlx::query_as(
        "SELECT payload, metadata FROM events WHERE aggregate_type = 'post' ORDER BY aggregate_id",
    )
    .fetch_all(&stack.events_db().await?)
    .await?;
    assert_eq!(rows.len(), 2);
    let values = |(payload, metadata): &(Value, Value)| -> HashSet<String> {
        let mut strings = HashSet::new();
        collect_strings(payload, &mut strings);
        collect_strings(metadata, &mut strings);
        strings
    };
    let common: Vec<String> = values(&rows[0])
        .intersection(&values(&rows[1]))
        .cloned()
        .collect();
    assert_eq!(common, ["free"], "only the board may be shared");
    stack.finish().await
}

fn collect_strings(value: &Value, into: &mut HashSet<String>) {
    match value {
        Value::String(text) => {
            into.insert(text.clone());
        }
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, into)),
        Value::Object(fields) => fields.values().for_each(|v| collect_strings(v, into)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_stored_as_version_1_is_upcast_when_loaded() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    // The walking skeleton stored plain-text PostCreated events (version 1); write one as it did,
    // authored by a member, and delete it through today's code.
    let (member, cookie) = stack.member(&[]).await?;
    let id = Uuid::now_v7();
    let author_ref = stack.author_key()?.author_ref("post", id, member);
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('post', $1, 1, 'PostCreated', '1', $2, '{}')",
    )
    .bind(id.to_string())
    .bind(json!({"PostCreated": {"board": "free", "title": "옛 글", "body": "평문", "author_ref": author_ref.0}}))
    .execute(&stack.events_db().await?)
    .await?;
    let (status, body) = delete_post(&client, &commands, &cookie, &id.to_string()).await?;
    assert_eq!(
        status, 200,
        "the version 1 event loads and proves authorship: {body}"
    );
    assert_eq!(body["version"], 2);
    stack.finish().await
}
