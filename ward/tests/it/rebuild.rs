//! Operating projections: `status` reports applied and end offsets; a rebuild from offset 0
//! builds the same read model beside the live one while it keeps serving, a switch puts it in
//! place, and the live projector catches the new database up with what came after.

use std::time::Duration;

use crate::support::*;
use serde_json::{json, Value};
use ward_domain::hospital::HospitalKind;
use ward_projector::rebuild;

/// Every row of the board read model's own tables, as text, in a stable order.
async fn board_rows(db: &ward_platform::config::DatabaseConfig) -> Result<Vec<String>> {
    let pool = db.connect_postgres().await?;
    let mut rows = Vec::new();
    for table in [
        "board_posts",
        "board_comments",
        "board_moderation",
        "board_moderation_log",
        "board_hospitals",
        "board_claims",
    ] {
        let mut table_rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT to_jsonb(t)::text FROM {table} t"))
                .fetch_all(&pool)
                .await?;
        table_rows.sort();
        rows.extend(table_rows.into_iter().map(|r| format!("{table}: {r}")));
    }
    Ok(rows)
}

/// Every index of a PostgreSQL read model, as its definition.
async fn indexes(db: &ward_platform::config::DatabaseConfig) -> Result<Vec<String>> {
    let pool = db.connect_postgres().await?;
    let definitions = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
    )
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    Ok(definitions)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuilt_board_equals_the_live_one_and_takes_its_place_without_losing_anything() -> Result
{
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let (commands, queries) = (Http::new(&commands), Http::new(&queries));
    let author = stack.session().await?;
    let mut last = (String::new(), 0);
    for n in 0..8 {
        let post = commands
            .post(
                &author,
                "/api/v1/posts",
                json!({"board": "free", "title": format!("글 {n}"), "body": "본문"}),
            )
            .await?;
        let id = post["id"].as_str().unwrap_or_default().to_owned();
        let comment = commands
            .post(
                &stack.session().await?,
                &format!("/api/v1/posts/{id}/comments"),
                json!({"body": "댓글"}),
            )
            .await?;
        last = (id, comment["version"].as_i64().unwrap_or_default());
    }
    eventually(
        Duration::from_secs(10),
        "the live board caught up",
        || async {
            let path = format!("/api/v1/posts/{}", last.0);
            let (_, post) = queries
                .send(None, reqwest::Method::GET, &path, None)
                .await?;
            Ok((post["version"].as_i64() >= Some(last.1)).then_some(()))
        },
    )
    .await?;
    // Every partition applied (the posts are spread over six).
    let status = eventually(Duration::from_secs(20), "no lag", || async {
        let status = rebuild::status(&stack.config, "board").await?;
        let ended: i64 = status
            .iter()
            .filter(|p| p.topic.ends_with("post.events"))
            .map(|p| p.end)
            .sum();
        Ok((ended == 16 && status.iter().all(|p| p.lag == 0)).then_some(status))
    })
    .await?;
    let post_partitions: Vec<_> = status
        .iter()
        .filter(|p| p.topic.ends_with("post.events"))
        .collect();
    assert_eq!(post_partitions.len(), 6, "{status:?}");
    assert_eq!(
        post_partitions.iter().map(|p| p.end).sum::<i64>(),
        16,
        "8 posts + 8 comments"
    );
    assert!(status.iter().all(|p| p.lag == 0), "{status:?}");

    // Rebuild beside the live read model: the same rows.
    let rebuilt = rebuild::rebuild(&stack.config, "board", rebuild::Log::Kept, |_, _| {}).await?;
    assert!(rebuilt.records >= 16, "{rebuilt:?}");
    let live = stack.config.board_db.clone();
    let next = rebuild::next_database(&live)?;
    assert_eq!(
        board_rows(&next).await?,
        board_rows(&live).await?,
        "replay equals live"
    );
    assert_eq!(
        indexes(&next).await?,
        indexes(&live).await?,
        "the indexes the rebuild deferred are all built"
    );

    // Something arrives after the rebuild caught up, before the switch.
    let late = commands
        .post(
            &author,
            "/api/v1/posts",
            json!({"board": "free", "title": "늦은 글", "body": "본문"}),
        )
        .await?;
    let late_id = late["id"].as_str().unwrap_or_default().to_owned();
    eventually(Duration::from_secs(10), "the late post live", || async {
        let (status, _) = queries
            .send(
                None,
                reqwest::Method::GET,
                &format!("/api/v1/posts/{late_id}"),
                None,
            )
            .await?;
        Ok((status == 200).then_some(()))
    })
    .await?;

    rebuild::switch(&stack.config, "board").await?;
    // Readers reconnect to the rebuilt database; the live projector notices it is behind and
    // brings the late post over. Nothing is lost, nothing doubled.
    let board = eventually(
        Duration::from_secs(20),
        "the late post after the switch",
        || async {
            let (status, board) = queries
                .send(
                    None,
                    reqwest::Method::GET,
                    "/api/v1/boards/free/posts?limit=100",
                    None,
                )
                .await?;
            Ok((status == 200 && board.to_string().contains(&late_id)).then_some(board))
        },
    )
    .await?;
    assert_eq!(board["posts"].as_array().map(Vec::len), Some(9), "{board}");
    let previous = rebuild::previous_database(&live)?;
    let kept: Vec<String> = board_rows(&previous).await?;
    assert!(
        kept.iter().any(|r| r.contains(&late_id)),
        "the old model is kept aside"
    );

    // New posts keep arriving in the new read model.
    let after = commands
        .post(
            &author,
            "/api/v1/posts",
            json!({"board": "free", "title": "전환 후", "body": "본문"}),
        )
        .await?;
    let after_id = after["id"].as_str().unwrap_or_default().to_owned();
    eventually(
        Duration::from_secs(10),
        "a post after the switch",
        || async {
            let (status, _) = queries
                .send(
                    None,
                    reqwest::Method::GET,
                    &format!("/api/v1/posts/{after_id}"),
                    None,
                )
                .await?;
            Ok((status == 200).then_some(()))
        },
    )
    .await?;
    rebuild::drop_previous(&stack.config, "board").await?;
    assert!(
        rebuild::switch(&stack.config, "board").await.is_err(),
        "nothing rebuilt to switch to"
    );
    stack.finish().await
}

/// How many hospitals named 재건… the query API lists (`None` while it cannot answer).
async fn hospital_count(queries: &Http) -> Result<Option<usize>> {
    let (status, page) = queries
        .send(
            None,
            reqwest::Method::GET,
            "/api/v1/hospitals?q=%EC%9E%AC%EA%B1%B4&limit=100",
            None,
        )
        .await?;
    Ok((status == 200).then(|| page["hospitals"].as_array().map_or(0, Vec::len)))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mysql_read_model_is_rebuilt_and_switched_atomically() -> Result {
    let stack = Stack::new().await?;
    let (_commands, _projector, queries) = stack.start_all().await?;
    let queries = Http::new(&queries);
    for n in 0..3 {
        register_hospital(
            &stack,
            &format!("재건병원 {n}"),
            "서울",
            HospitalKind::General,
        )
        .await?;
    }
    eventually(Duration::from_secs(10), "three hospitals", || async {
        Ok((hospital_count(&queries).await? == Some(3)).then_some(()))
    })
    .await?;
    // A rebuild without consumers is refused before it builds anything.
    let mut config = stack.config.clone();
    config.projector.rebuild_consumers = 0;
    let refused = rebuild::rebuild(&config, "hospital", rebuild::Log::Kept, |_, _| {}).await;
    assert!(
        refused.is_err_and(|e| e.to_string().contains("rebuild_consumers is 0")),
        "zero consumers refused"
    );
    assert!(
        rebuild::switch(&config, "hospital").await.is_err(),
        "nothing rebuilt to switch to"
    );
    // Two consumers share the partitions (the board test runs the default three).
    config.projector.rebuild_consumers = 2;
    rebuild::rebuild(&config, "hospital", rebuild::Log::Kept, |_, _| {}).await?;
    register_hospital(&stack, "재건병원 늦게", "서울", HospitalKind::General).await?;
    rebuild::switch(&stack.config, "hospital").await?;
    eventually(
        Duration::from_secs(20),
        "four hospitals after the switch",
        || async { Ok((hospital_count(&queries).await? == Some(4)).then_some(())) },
    )
    .await?;
    let status = rebuild::status(&stack.config, "hospital").await?;
    assert!(
        status.iter().all(|p| p.applied.is_some() || p.end == 0),
        "{status:?}"
    );
    rebuild::drop_previous(&stack.config, "hospital").await?;
    let _: Value = queries.get("/api/v1/hospitals").await?;
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_comment_whose_key_does_not_open_it_is_rejected_and_not_counted() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, _queries) = stack.start_all().await?;
    let commands = Http::new(&commands);
    let author = stack.session().await?;
    let post = commands
        .post(
            &author,
            "/api/v1/posts",
            json!({"board": "free", "title": "글", "body": "본문"}),
        )
        .await?;
    let post_id = post["id"].as_str().unwrap_or_default().to_owned();
    let mut comments = Vec::new();
    for body in ["첫 댓글", "둘째 댓글"] {
        let comment = commands
            .post(
                &author,
                &format!("/api/v1/posts/{post_id}/comments"),
                json!({"body": body}),
            )
            .await?;
        comments.push(comment["id"].as_str().unwrap_or_default().to_owned());
    }
    let board = stack.board_db().await?;
    eventually(Duration::from_secs(10), "both comments live", || async {
        let count: Option<i32> = sqlx::query_scalar("SELECT comment_count FROM board_posts")
            .fetch_optional(&board)
            .await?;
        Ok((count == Some(2)).then_some(()))
    })
    .await?;
    // The second comment's key replaced by another: its sealed text no longer opens.
    sqlx::query("UPDATE content_keys SET key = $1 WHERE item_type = 'comment' AND item_id = $2")
        .bind([7u8; 32].as_slice())
        .bind(&comments[1])
        .execute(&stack.events_db().await?)
        .await?;

    rebuild::rebuild(&stack.config, "board", rebuild::Log::Kept, |_, _| {}).await?;
    let next = rebuild::next_database(&stack.config.board_db)?
        .connect_postgres()
        .await?;
    let count: i32 = sqlx::query_scalar("SELECT comment_count FROM board_posts")
        .fetch_one(&next)
        .await?;
    assert_eq!(count, 1, "only the comment that opens counts");
    let kept: Vec<String> = sqlx::query_scalar("SELECT id::text FROM board_comments")
        .fetch_all(&next)
        .await?;
    assert_eq!(kept, vec![comments[0].clone()]);
    let rejected: Vec<String> = sqlx::query_scalar("SELECT reason FROM projector_rejects")
        .fetch_all(&next)
        .await?;
    assert_eq!(
        rejected,
        vec!["the comment does not open with its key".to_owned()]
    );
    // A rebuild interrupted before its last step (filing its offsets under the live group)
    // is refused by the switch, and the live model stays in place.
    sqlx::query("UPDATE projector_offsets SET consumer_group = 'rebuild-interrupted-ward-board'")
        .execute(&next)
        .await?;
    next.close().await;
    let refused = rebuild::switch(&stack.config, "board").await;
    assert!(
        refused.is_err_and(|e| e.to_string().contains("unfinished rebuild")),
        "an unfinished rebuild is not switched in"
    );
    let live: i32 = sqlx::query_scalar("SELECT comment_count FROM board_posts")
        .fetch_one(&board)
        .await?;
    assert_eq!(live, 2, "the live model still serves");
    stack.finish().await
}

/// After the log was lost and republished, the live read model's offsets count records of the
/// lost log (a record the relay had published twice, twice): a rebuild held to them refuses —
/// its guard against a broker that does not report the whole log — and one told that the log
/// was replaced (`ward projector rebuild --replaced-log`) builds from what the topics hold.
#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_is_held_to_the_live_offsets_unless_the_log_was_replaced() -> Result {
    let stack = Stack::new().await?;
    let (commands, projector, _queries) = stack.start_all().await?;
    let cookie = stack.session().await?;
    let client = reqwest::Client::new();
    let mut ids = std::collections::HashSet::new();
    for n in 0..5 {
        ids.insert(create_post(&client, &commands, &cookie, &format!("다시 세운 글 {n}")).await?);
    }
    let board = stack.board_db().await?;
    eventually(Duration::from_secs(20), "five posts", || async {
        Ok((board_count(&board).await? >= 5).then_some(()))
    })
    .await?;
    projector.stop().await?;
    // The lost log was longer than the one the topics hold now.
    sqlx::query("UPDATE projector_offsets SET next_offset = next_offset + 3")
        .execute(&board)
        .await?;

    let held = rebuild::rebuild(&stack.config, "board", rebuild::Log::Kept, |_, _| {}).await;
    assert!(
        held.is_err_and(|e| e.to_string().contains("does not report the whole log")),
        "held to the live offsets"
    );
    rebuild::rebuild(&stack.config, "board", rebuild::Log::Replaced, |_, _| {}).await?;
    let next = rebuild::next_database(&stack.config.board_db)?
        .connect_postgres()
        .await?;
    assert_board_holds_exactly(&next, &ids).await?;
    next.close().await;
    stack.finish().await
}
