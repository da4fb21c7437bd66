//! The walking skeleton end to end, on real parts: HTTP command → event store → outbox →
//! Tansu → projector → board read model → query API.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use serde_json::{json, Value};
use uuid::Uuid;
use ward_platform::kafka::{self, Envelope};

#[tokio::test(flavor = "multi_thread")]
async fn a_post_created_over_http_is_listed_by_the_query_api_within_five_seconds() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;

    let response = client
        .post(commands.url("/api/v1/posts"))
        .header("cookie", format!("ward_session={cookie}"))
        .json(&json!({"board": "qna", "title": "  야간 근무 수당 질문 ", "body": "어떻게 계산하나요?"}))
        .send()
        .await?;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str()?.to_owned();
    let created: Value = response.json().await?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(created["version"], 1);
    assert_eq!(location, format!("/api/v1/posts/{id}"));

    let listed = eventually(
        Duration::from_secs(5),
        "the post in the listing",
        || async {
            let page: Value = client
                .get(queries.url("/api/v1/boards/qna/posts"))
                .send()
                .await?
                .json()
                .await?;
            Ok(page["posts"].as_array().filter(|p| !p.is_empty()).cloned())
        },
    )
    .await?;
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["title"], "야간 근무 수당 질문");

    let post: Value = client
        .get(queries.url(&location))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(post["body"], "어떻게 계산하나요?");
    assert_eq!(post["board"], "qna");
    assert_eq!(post["version"], 1);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_record_on_the_topic_has_the_documented_envelope() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    let response = client
        .post(commands.url("/api/v1/posts"))
        .header("cookie", format!("ward_session={cookie}"))
        .header("x-request-id", "trace-me-42")
        .header("user-agent", "Secret-Agent/1.0")
        .json(&json!({"board": "free", "title": "제목", "body": "본문"}))
        .send()
        .await?;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let id = response.json::<Value>().await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let consumer: BaseConsumer = kafka::client_config(&stack.config.kafka)
        .set("group.id", format!("test-reader-{}", Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&["ward.post.events"])?;
    let (key, value) = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, Vec<u8>)> {
        for _ in 0..200 {
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message?;
                return Ok((
                    message.key().unwrap_or_default().to_vec(),
                    message.payload().unwrap_or_default().to_vec(),
                ));
            }
        }
        anyhow::bail!("no record arrived within 20 s")
    })
    .await??;

    assert_eq!(key, id.as_bytes(), "records are keyed by aggregate id");
    let raw: Value = serde_json::from_slice(&value)?;
    let keys: HashSet<&str> = raw
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let documented: HashSet<&str> = [
        "event_id",
        "aggregate_type",
        "aggregate_id",
        "sequence",
        "event_type",
        "event_version",
        "occurred_at",
        "payload",
        "metadata",
    ]
    .into();
    assert_eq!(keys, documented);
    let envelope: Envelope = serde_json::from_value(raw.clone())?;
    assert_eq!(envelope.event_id.get_version_num(), 7);
    assert_eq!(envelope.aggregate_type, "post");
    assert_eq!(envelope.aggregate_id, id);
    assert_eq!(envelope.sequence, 1);
    assert_eq!(envelope.event_type, "PostCreated");
    assert_eq!(envelope.event_version, "4");
    assert_eq!(raw["metadata"], json!({"correlation_id": "trace-me-42"}));
    assert_eq!(raw["payload"]["board"], "free");
    let sealed = &raw["payload"]["title"]["sealed"];
    assert!(
        sealed["nonce"].is_string() && sealed["ciphertext"].is_string(),
        "{raw}"
    );
    assert_eq!(
        raw["payload"]["author_ref"].as_str().map(str::len),
        Some(64)
    );
    let text = raw.to_string();
    assert!(
        !text.contains("Secret-Agent") && !text.contains("127.0.0.1") && !text.contains("제목"),
        "{text}"
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_clear_errors_and_write_nothing() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let cookie = format!("ward_session={}", stack.session().await?);
    let url = commands.url("/api/v1/posts");
    let valid = json!({"board": "free", "title": "t", "body": "b"});

    let signed_in = |body: &Value| client.post(&url).header("cookie", &cookie).json(body);
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (client.post(&url).json(&valid), 401, "unauthenticated"),
        (
            client
                .post(&url)
                .header("cookie", "ward_session=forged")
                .json(&valid),
            401,
            "unauthenticated",
        ),
        (
            signed_in(&json!({"board": "secret", "title": "t", "body": "b"})),
            422,
            "board_unknown",
        ),
        (
            signed_in(&json!({"board": "free", "title": "   ", "body": "b"})),
            422,
            "title_empty",
        ),
        (
            signed_in(&json!({"board": "free", "title": "가".repeat(101), "body": "b"})),
            422,
            "title_too_long",
        ),
        (
            signed_in(&json!({"board": "free", "title": "t", "body": ""})),
            422,
            "body_empty",
        ),
        (
            signed_in(&json!({"board": "free", "title": "t", "body": "x".repeat(10_001)})),
            422,
            "body_too_long",
        ),
        (
            signed_in(&json!({"board": "free", "title": "t", "body": "연락처 010-1234-5678"})),
            422,
            "personal_data",
        ),
        (
            signed_in(&json!({"board": "free", "title": "t"})),
            422,
            "invalid_body",
        ),
        (
            signed_in(&json!({"board": "free", "title": "t", "body": "b", "author": "x"})),
            422,
            "invalid_body",
        ),
        (
            client
                .post(&url)
                .header("cookie", &cookie)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "malformed_json",
        ),
        (
            client
                .post(&url)
                .header("cookie", &cookie)
                .body(valid.to_string()),
            415,
            "unsupported_media_type",
        ),
        (
            signed_in(&json!({"board": "free", "title": "t", "body": "x".repeat(70_000)})),
            413,
            "payload_too_large",
        ),
        (
            client
                .post(commands.url("/api/v1/nothing"))
                .header("cookie", &cookie)
                .json(&valid),
            404,
            "route_not_found",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.send().await?;
        assert_eq!(response.status().as_u16(), status, "expected {code}");
        let body: Value = response.json().await?;
        assert_eq!(body["error"], code);
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'post'")
            .fetch_one(&stack.events_db().await?)
            .await?;
    let outbox: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE aggregate_type = 'post'")
            .fetch_one(&stack.events_db().await?)
            .await?;
    assert_eq!(
        (events, outbox),
        (0, 0),
        "refused requests must leave no state"
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_query_api_pages_by_cursor_and_explains_bad_queries() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(create_post(&client, &commands, &cookie, &format!("글 {n}")).await?);
    }
    let board = stack.board_db().await?;
    eventually(Duration::from_secs(5), "five posts", || async {
        Ok((board_count(&board).await? == 5).then_some(()))
    })
    .await?;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = queries.url("/api/v1/boards/free/posts?limit=2");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client.get(url).send().await?.json().await?;
        for post in page["posts"].as_array().into_iter().flatten() {
            let id = post["id"].as_str().unwrap_or_default().parse::<Uuid>()?;
            seen.push((
                post["created_at"].as_str().unwrap_or_default().to_owned(),
                id,
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    // Newest first to the minute (public times say no more), ties in id order, each once.
    let mut ordered = seen.clone();
    ordered.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, ordered, "newest first");
    let mut ids: Vec<Uuid> = seen.into_iter().map(|(_, id)| id).collect();
    ids.sort();
    created.sort();
    assert_eq!(ids, created, "each post once");

    for (path, status, code) in [
        (
            "/api/v1/boards/free/posts?limit=0",
            422,
            "limit_out_of_range",
        ),
        (
            "/api/v1/boards/free/posts?limit=101",
            422,
            "limit_out_of_range",
        ),
        ("/api/v1/boards/free/posts?limit=many", 400, "invalid_query"),
        (
            "/api/v1/boards/free/posts?cursor=bogus",
            400,
            "cursor_invalid",
        ),
        ("/api/v1/boards/secret/posts", 404, "board_not_found"),
        ("/api/v1/posts/not-a-uuid", 404, "post_not_found"),
        (
            &format!("/api/v1/posts/{}", Uuid::now_v7()),
            404,
            "post_not_found",
        ),
    ] {
        let response = client.get(queries.url(path)).send().await?;
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(response.json::<Value>().await?["error"], code, "{path}");
    }
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_projector_killed_mid_stream_loses_and_doubles_nothing() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    let mut ids = HashSet::new();
    for n in 0..300 {
        ids.insert(create_post(&client, &commands, &cookie, &format!("글 {n}")).await?);
    }
    let events = stack.events_db().await?;
    eventually(Duration::from_secs(20), "the outbox to drain", || async {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&events)
            .await?;
        Ok((left == 0).then_some(()))
    })
    .await?;

    // Small batches, so the kill lands between commits.
    let board = stack.board_db().await?;
    let mut projector = stack.projector_process(7).await?;
    let partial = eventually(
        Duration::from_secs(30),
        "the projector to start",
        || async {
            let n = board_count(&board).await?;
            Ok((n > 0).then_some(n))
        },
    )
    .await?;
    projector.start_kill()?; // SIGKILL: no chance to finish its batch
    projector.wait().await?;
    let at_kill = board_count(&board).await?;
    assert!(
        at_kill < 300,
        "the kill must land mid-stream (had {partial}, then {at_kill})"
    );

    let _restarted = stack.projector_process(7).await?;
    eventually(Duration::from_secs(30), "all 300 posts", || async {
        Ok((board_count(&board).await? >= 300).then_some(()))
    })
    .await?;
    assert_board_holds_exactly(&board, &ids).await?;
    // The member projection (MariaDB) was killed in the same process: it, too, ends up with
    // each post exactly once (one row per item).
    let member = stack.member_db().await?;
    eventually(
        Duration::from_secs(30),
        "300 entries in the member model",
        || async {
            let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
                .fetch_one(&member)
                .await?;
            anyhow::ensure!(entries <= 300, "{entries} entries for 300 posts");
            Ok((entries == 300).then_some(()))
        },
    )
    .await?;
    stack.finish().await
}

/// Projector processes share the partitions (ADR 0015) and scale 1 → 3 → 1 while posts
/// keep arriving: the shares are even while three run, two are then killed with SIGKILL mid
/// batch and the last takes up their shares within seconds; then the broker and the last
/// process go down together and come back (the restart that used to leave a process with no
/// partitions). Every acknowledged post reaches the board once.
#[tokio::test(flavor = "multi_thread")]
async fn projector_processes_scale_one_three_one_while_posts_flow_and_nothing_stalls() -> Result {
    let mut stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    let board = stack.board_db().await?;
    let small_batches = [("WARD_PROJECTOR__BATCH_SIZE", "7")];
    let redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    let members = format!(
        "{}projector-members:ward-board",
        stack.config.redis.key_prefix
    );
    let dealt = |count: usize| {
        let (mut redis, members) = (redis.clone(), members.clone());
        async move {
            let dealt: usize = redis::cmd("ZCARD")
                .arg(&members)
                .query_async(&mut redis)
                .await?;
            Ok::<_, anyhow::Error>((dealt == count).then_some(()))
        }
    };
    // Posts flow all along, from a writer of their own.
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let writer = {
        let (client, url, cookie) = (client.clone(), commands.url(""), cookie.clone());
        tokio::spawn(async move {
            let origin = Origin(url.trim_end_matches('/').to_owned());
            let mut ids = HashSet::new();
            for n in 0.. {
                if *stopped.borrow_and_update() {
                    break;
                }
                ids.insert(
                    create_post(&client, &origin, &cookie, &format!("나눠 읽기 {n}")).await?,
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok::<_, anyhow::Error>(ids)
        })
    };

    let mut processes = vec![stack.process("projector", &small_batches).await?];
    eventually(Duration::from_secs(15), "one process dealt in", || dealt(1)).await?;
    let all = eventually(Duration::from_secs(15), "all partitions to one", || async {
        let all = board_share(&processes[0]).await?;
        Ok((all > 0.0).then_some(all))
    })
    .await?;
    for _ in 0..2 {
        processes.push(stack.process("projector", &small_batches).await?);
    }
    eventually(Duration::from_secs(15), "three processes dealt in", || {
        dealt(3)
    })
    .await?;
    eventually(Duration::from_secs(15), "even shares of three", || async {
        let mut shares = Vec::new();
        for process in &processes {
            shares.push(board_share(process).await?);
        }
        let (least, most) = shares
            .iter()
            .fold((f64::MAX, 0.0f64), |(l, m), s| (l.min(*s), m.max(*s)));
        Ok((shares.iter().sum::<f64>() == all && most - least <= 1.0).then_some(()))
    })
    .await?;

    // Two of three die without a word while posts keep coming.
    for process in processes.drain(..2) {
        process.kill().await?;
    }
    eventually(Duration::from_secs(30), "the dead dealt out", || dealt(1)).await?;
    eventually(
        Duration::from_secs(15),
        "every share to the last",
        || async { Ok((board_share(&processes[0]).await? == all).then_some(())) },
    )
    .await?;
    stop.send_replace(true);
    let mut ids = writer.await??;
    let written = ids.len() as i64;
    eventually(Duration::from_secs(30), "every post so far", || async {
        Ok((board_count(&board).await? >= written).then_some(()))
    })
    .await?;

    // The broker and the last process go down together; posts wait in the outbox.
    stack.broker.stop().await?;
    processes.remove(0).kill().await?;
    for n in 0..20 {
        ids.insert(create_post(&client, &commands, &cookie, &format!("밀린 글 {n}")).await?);
    }
    stack.broker.resume().await?;
    let _replacement = stack.process("projector", &small_batches).await?;
    let written = ids.len() as i64;
    eventually(Duration::from_secs(60), "every post", || async {
        Ok((board_count(&board).await? >= written).then_some(()))
    })
    .await?;
    assert_board_holds_exactly(&board, &ids).await?;
    stack.finish().await
}

/// A projector process whose read model stops answering — its connections hang, as behind a
/// network partition, rather than being refused — leaves the deal, and the other process reads
/// its partitions: every post reaches the board. (Before, the hung process kept its share, and
/// the posts on its partitions waited for it as long as the hang lasted, while the others'
/// `/readyz` said ready.) When its read model answers again, it comes back.
#[tokio::test(flavor = "multi_thread")]
async fn a_projector_whose_read_model_hangs_leaves_its_partitions_to_the_others() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    let board = stack.board_db().await?;
    let postgres = Switch::to("127.0.0.1:5432").await?;
    let through_switch = postgres.reroute(stack.config.board_db.url());
    let board_only = [
        ("WARD_PROJECTOR__PROJECTIONS", "board"),
        ("WARD_PROJECTOR__STALL_SECS", "3"),
    ];
    let mut hanging_env = board_only.to_vec();
    hanging_env.push(("WARD_BOARD_DB__URL", &through_switch));
    let steady = stack.process("projector", &board_only).await?;
    let all = eventually(Duration::from_secs(20), "every partition", || async {
        let all = board_share(&steady).await?;
        Ok((all > 0.0).then_some(all))
    })
    .await?;
    let hanging = stack.process("projector", &hanging_env).await?;
    eventually(Duration::from_secs(20), "a share for each", || async {
        let shares = (board_share(&hanging).await?, board_share(&steady).await?);
        Ok((shares.0 > 0.0 && shares.0 + shares.1 == all).then_some(()))
    })
    .await?;
    let mut ids = HashSet::new();
    for n in 0..5 {
        ids.insert(create_post(&client, &commands, &cookie, &format!("before {n}")).await?);
    }
    eventually(Duration::from_secs(15), "the first posts", || async {
        Ok((board_count(&board).await? == 5).then_some(()))
    })
    .await?;

    postgres.freeze();
    for n in 0..20 {
        ids.insert(create_post(&client, &commands, &cookie, &format!("during {n}")).await?);
    }
    eventually(
        Duration::from_secs(30),
        "every post, by the steady process",
        || async { Ok((board_count(&board).await? >= 25).then_some(())) },
    )
    .await?;
    assert_board_holds_exactly(&board, &ids).await?;
    assert_eq!(board_share(&steady).await?, all, "it reads every partition");
    let ready = client.get(hanging.url("/readyz")).send().await?;
    assert_eq!(ready.status(), 503);
    let failing = ready.json::<Value>().await?["failing"].clone();
    assert!(
        failing
            .as_array()
            .is_some_and(|f| f.contains(&json!("partitions"))),
        "the hung process says it is out of the deal: {failing}"
    );

    postgres.restore();
    eventually(
        Duration::from_secs(30),
        "the hung process back in the deal",
        || async {
            Ok(
                (board_share(&hanging).await? > 0.0 && board_share(&steady).await? < all)
                    .then_some(()),
            )
        },
    )
    .await?;
    let after = create_post(&client, &commands, &cookie, "after").await?;
    ids.insert(after);
    eventually(Duration::from_secs(15), "the post after", || async {
        Ok((board_count(&board).await? == 26).then_some(()))
    })
    .await?;
    assert_board_holds_exactly(&board, &ids).await?;
    stack.finish().await
}

/// The shape of the chaos runs' stuck member projection: a member that stays in the deal but
/// applies nothing — here an entry in Redis whose beat lies far ahead, as from a process whose
/// dealer beat on after its consumer died — holds half the partitions. Nothing used to show
/// it: the live process said ready, and its lag gauges covered its own half only. Now every
/// process watches the whole group: its `/readyz` names the partitions no one applies, a
/// metric counts them, and the member they are dealt to is dealt out, after which the live
/// process reads everything and every post arrives.
#[tokio::test(flavor = "multi_thread")]
async fn partitions_dealt_to_a_member_that_applies_nothing_are_reported_and_dealt_anew() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    let board = stack.board_db().await?;
    let process = stack
        .process(
            "projector",
            &[
                ("WARD_PROJECTOR__PROJECTIONS", "board"),
                ("WARD_PROJECTOR__STALL_SECS", "2"),
            ],
        )
        .await?;
    let all = eventually(Duration::from_secs(20), "every partition", || async {
        let share = board_share(&process).await?;
        Ok((share > 0.0).then_some(share))
    })
    .await?;
    let mut redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    let members = format!(
        "{}projector-members:ward-board",
        stack.config.redis.key_prefix
    );
    let far_ahead = chrono::Utc::now().timestamp_millis() + 3_600_000;
    redis::cmd("ZADD")
        .arg(&members)
        .arg(far_ahead)
        .arg("ghost")
        .query_async::<()>(&mut redis)
        .await?;
    eventually(Duration::from_secs(10), "half the partitions", || async {
        Ok((board_share(&process).await? < all).then_some(()))
    })
    .await?;

    let mut ids = HashSet::new();
    for n in 0..24 {
        ids.insert(create_post(&client, &commands, &cookie, &format!("ghost {n}")).await?);
    }
    let failing = eventually(Duration::from_secs(20), "readiness to fail", || async {
        let ready = client.get(process.url("/readyz")).send().await?;
        Ok((ready.status() == 503).then_some(ready.json::<Value>().await?["failing"].clone()))
    })
    .await?;
    assert_eq!(failing, json!(["partitions"]));
    eventually(
        Duration::from_secs(5),
        "the stalled partitions counted",
        || async {
            let stalled = metric(
                &process,
                "ward_projector_group_stalled_partitions",
                &[r#"group="ward-board""#],
            )
            .await?;
            Ok((stalled > 0.0).then_some(()))
        },
    )
    .await?;

    eventually(Duration::from_secs(30), "every post", || async {
        Ok((board_count(&board).await? == 24).then_some(()))
    })
    .await?;
    assert_board_holds_exactly(&board, &ids).await?;
    let ghost: Option<f64> = redis::cmd("ZSCORE")
        .arg(&members)
        .arg("ghost")
        .query_async(&mut redis)
        .await?;
    assert_eq!(ghost, None, "the member that applied nothing was dealt out");
    assert_eq!(board_share(&process).await?, all);
    eventually(Duration::from_secs(15), "ready again", || async {
        let ready = client.get(process.url("/readyz")).send().await?;
        Ok((ready.status() == 200).then_some(()))
    })
    .await?;
    stack.finish().await
}

/// The board partitions `process` reads.
async fn board_share(process: &Process) -> Result<f64> {
    let group = [r#"group="ward-board""#];
    metric(process, "ward_projector_assigned_partitions", &group).await
}

/// 1 while `process`'s relay leads, else 0.
async fn relay_leading(process: &Process) -> Result<f64> {
    metric(process, "ward_command_outbox_relay_leader", &[]).await
}

/// Two command-API processes (two relays, one leading) and three query-API processes behind
/// the gateway take requests in turn. A SIGKILL of the leading command API and of a query API
/// mid-run costs users nothing: the gateway skips the dead, the other relay takes over, and
/// every acknowledged post reaches the board once.
#[tokio::test(flavor = "multi_thread")]
async fn scaled_out_apis_behind_the_gateway_take_turns_and_survive_a_killed_process() -> Result {
    let stack = Stack::new().await?;
    let _projector = stack.projector().await?;
    let mut commands = Vec::new();
    for _ in 0..2 {
        commands.push(stack.process("command-api", &[]).await?);
    }
    let mut queries = Vec::new();
    for _ in 0..3 {
        queries.push(stack.process("query-api", &[]).await?);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gateway = Origin(format!("http://{}", listener.local_addr()?));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let upstreams = ward::gateway::Upstreams {
        command: commands.iter().map(|p| p.url("")).collect(),
        query: queries.iter().map(|p| p.url("")).collect(),
        command_body: stack.config.command_api.max_body_bytes,
    };
    let served = tokio::spawn(ward::gateway::run(listener, upstreams, shutdown.clone()));
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    let mut ids = HashSet::new();
    let round = |n: usize| {
        let (client, gateway, cookie) = (&client, &gateway, &cookie);
        async move {
            let id = create_post(client, gateway, cookie, &format!("차례 {n}")).await?;
            let list = client
                .get(gateway.url("/api/v1/boards/free/posts"))
                .send()
                .await?;
            anyhow::ensure!(list.status() == 200, "read {n}: {}", list.status());
            Ok::<_, anyhow::Error>(id)
        }
    };
    for n in 0..30 {
        ids.insert(round(n).await?);
    }
    let posts = [r#"route="/api/v1/posts""#, r#"status="201""#];
    for process in &commands {
        let served = metric(process, "ward_command_http_requests_total", &posts).await?;
        assert_eq!(served, 15.0, "posts go to each command API in turn");
    }
    let lists = [r#"route="/api/v1/boards/{board}/posts""#, r#"status="200""#];
    for process in &queries {
        let served = metric(process, "ward_query_http_requests_total", &lists).await?;
        assert_eq!(served, 10.0, "reads go to each query API in turn");
    }
    let leader = eventually(Duration::from_secs(10), "one relay leading", || async {
        let states = [
            relay_leading(&commands[0]).await?,
            relay_leading(&commands[1]).await?,
        ];
        Ok((states.iter().sum::<f64>() == 1.0).then(|| usize::from(states[1] == 1.0)))
    })
    .await?;

    commands.remove(leader).kill().await?;
    queries.remove(0).kill().await?;
    for n in 30..60 {
        ids.insert(round(n).await?);
    }
    eventually(
        Duration::from_secs(10),
        "the other relay leading",
        || async { Ok((relay_leading(&commands[0]).await? == 1.0).then_some(())) },
    )
    .await?;
    let board = stack.board_db().await?;
    eventually(Duration::from_secs(30), "all 60 posts", || async {
        Ok((board_count(&board).await? >= 60).then_some(()))
    })
    .await?;
    assert_board_holds_exactly(&board, &ids).await?;
    shutdown.cancel();
    served.await??;
    stack.finish().await
}

/// A body over the command API's limit, sent through the local gateway without
/// `Expect: 100-continue` (as browsers send it), gets the command API's `413`, every time —
/// never a `502` from a connection the command API cut while the body was still arriving.
#[tokio::test(flavor = "multi_thread")]
async fn a_body_too_large_gets_413_through_the_gateway_every_time() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let cookie = stack.session().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gateway = format!("http://{}", listener.local_addr()?);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let upstreams = ward::gateway::Upstreams {
        command: vec![commands.url("").trim_end_matches('/').to_owned()],
        query: vec!["http://127.0.0.1:9".to_owned()],
        command_body: stack.config.command_api.max_body_bytes,
    };
    let served = tokio::spawn(ward::gateway::run(listener, upstreams, shutdown.clone()));
    let client = reqwest::Client::new();
    let body = json!({"board": "free", "title": "큰 글", "body": "가".repeat(700_000)});
    for attempt in 0..12 {
        let answer = client
            .post(format!("{gateway}/api/v1/posts"))
            .header("cookie", format!("ward_session={cookie}"))
            .json(&body)
            .send()
            .await?;
        assert_eq!(answer.status(), 413, "attempt {attempt}");
        let error: Value = answer.json().await?;
        assert_eq!(error["error"], "payload_too_large", "attempt {attempt}");
    }
    shutdown.cancel();
    served.await??;
    stack.finish().await
}

/// Redis down (a degraded mode of issue 20): commands answer `503 service_unavailable` with
/// `Retry-After` within seconds — never `500`, never a hang — and work again once Redis is
/// back, without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn with_redis_down_commands_answer_503_and_recover_when_it_returns() -> Result {
    let mut stack = Stack::new().await?;
    let redis = Switch::to("127.0.0.1:6379").await?;
    stack.config.redis.url = redis.reroute("redis://127.0.0.1:6379").into();
    let commands = stack.command_api().await?;
    let cookie = stack.session().await?;
    let client = reqwest::Client::new();
    create_post(&client, &commands, &cookie, "레디스가 있을 때").await?;
    let post = || {
        client
            .post(commands.url("/api/v1/posts"))
            .header("cookie", format!("ward_session={cookie}"))
            .json(&json!({"board": "free", "title": "레디스", "body": "본문"}))
            .send()
    };

    redis.cut();
    let asked = std::time::Instant::now();
    let answer = post().await?;
    let waited = asked.elapsed();
    assert_eq!(answer.status(), 503);
    assert!(answer.headers().get("retry-after").is_some(), "Retry-After");
    let error: Value = answer.json().await?;
    assert_eq!(error["error"], "service_unavailable");
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );

    redis.restore();
    eventually(
        Duration::from_secs(20),
        "commands to work again",
        || async { Ok((post().await?.status() == 201).then_some(())) },
    )
    .await?;
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_created_while_the_broker_is_down_arrive_exactly_once_after_it_returns() -> Result {
    let mut stack = Stack::new().await?;
    let (commands, _projector) = (stack.command_api().await?, stack.projector().await?);
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    let board = stack.board_db().await?;
    let mut ids = HashSet::new();
    ids.insert(create_post(&client, &commands, &cookie, "before").await?);
    eventually(Duration::from_secs(5), "the first post", || async {
        Ok((board_count(&board).await? == 1).then_some(()))
    })
    .await?;

    stack.broker.stop().await?;
    for n in 0..20 {
        ids.insert(create_post(&client, &commands, &cookie, &format!("during {n}")).await?);
    }
    // Still ready (it accepts commands), but it says what it is without.
    let ready = client.get(commands.url("/readyz")).send().await?;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await?["degraded"], json!(["kafka"]));
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE aggregate_type = 'post'")
            .fetch_one(&stack.events_db().await?)
            .await?;
    assert_eq!(queued, 20, "the commands are safe in the outbox");

    stack.broker.resume().await?;
    eventually(Duration::from_secs(60), "all 21 posts", || async {
        Ok((board_count(&board).await? >= 21).then_some(()))
    })
    .await?;
    assert_board_holds_exactly(&board, &ids).await?;
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn another_relay_takes_over_when_the_leader_stops() -> Result {
    let stack = Stack::new().await?;
    let (first, second, _projector) = (
        stack.command_api().await?,
        stack.command_api().await?,
        stack.projector().await?,
    );
    let client = reqwest::Client::new();
    let leader_gauge = |api: &Running| {
        let url = api.url("/metrics");
        let client = client.clone();
        async move {
            let text = client.get(url).send().await?.text().await?;
            Ok::<_, anyhow::Error>(
                text.lines()
                    .find(|l| l.starts_with("ward_command_outbox_relay_leader "))
                    .map(str::to_owned),
            )
        }
    };
    let leaders = eventually(Duration::from_secs(10), "one leader", || async {
        let states = (leader_gauge(&first).await?, leader_gauge(&second).await?);
        let ones = [&states.0, &states.1]
            .iter()
            .filter(|s| s.as_deref() == Some("ward_command_outbox_relay_leader 1"))
            .count();
        Ok((ones == 1).then_some(states))
    })
    .await?;
    let (leader, follower) = if leaders.0.as_deref() == Some("ward_command_outbox_relay_leader 1") {
        (first, second)
    } else {
        (second, first)
    };
    leader.stop().await?;

    let cookie = stack.session().await?;
    let id = create_post(&client, &follower, &cookie, "after the handover").await?;
    let board = stack.board_db().await?;
    eventually(
        Duration::from_secs(10),
        "the post through the new leader",
        || async {
            let found: Option<Uuid> =
                sqlx::query_scalar("SELECT id FROM board_posts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&board)
                    .await?;
            Ok(found)
        },
    )
    .await?;
    assert_eq!(
        leader_gauge(&follower).await?.as_deref(),
        Some("ward_command_outbox_relay_leader 1")
    );
    stack.finish().await
}

/// The fault the chaos runs found: the broker acknowledged a batch, then the `DELETE` of its
/// outbox rows failed (PostgreSQL's connections were cut), and the next leader published the
/// batch again. Here a trigger refuses the `DELETE` for a while, so every new leadership meets
/// rows that are already on their topics.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_whose_delete_failed_after_the_broker_acknowledged_it_is_published_once() -> Result
{
    let stack = Stack::new().await?;
    let events = stack.events_db().await?;
    sqlx::query(
        "CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'the test refuses deleting outbox rows'; END $$",
    )
    .execute(&events)
    .await?;
    sqlx::query(
        "CREATE TRIGGER refuse_delete BEFORE DELETE ON outbox \
         FOR EACH ROW EXECUTE FUNCTION refuse_delete()",
    )
    .execute(&events)
    .await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    for n in 0..5 {
        create_post(&client, &commands, &cookie, &format!("refused delete {n}")).await?;
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&events)
        .await?;
    eventually(
        Duration::from_secs(10),
        "the batch on its topics",
        || async { Ok((log_events(&stack).await?.len() as i64 >= stored).then_some(())) },
    )
    .await?;
    // The relay steps down after each failed DELETE and leads again a second later.
    tokio::time::sleep(Duration::from_secs(4)).await;
    sqlx::query("DROP TRIGGER refuse_delete ON outbox")
        .execute(&events)
        .await?;
    eventually(Duration::from_secs(10), "an empty outbox", || async {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&events)
            .await?;
        Ok((left == 0).then_some(()))
    })
    .await?;

    let log = log_events(&stack).await?;
    let distinct: HashSet<&str> = log
        .iter()
        .filter_map(|record| record["event_id"].as_str())
        .collect();
    assert_eq!(
        distinct.len() as i64,
        stored,
        "every stored event is on its topic"
    );
    assert_eq!(log.len(), distinct.len(), "and none of them twice");
    assert!(
        metric(
            &commands,
            "ward_command_outbox_already_published_total",
            &[]
        )
        .await?
            >= 1.0,
        "the leader says it found rows on their topics already"
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_service_reports_liveness_readiness_and_metrics() -> Result {
    let stack = Stack::new().await?;
    let running = [
        stack.command_api().await?,
        stack.projector().await?,
        stack.query_api().await?,
    ];
    let client = reqwest::Client::new();
    for (service, prefix) in running
        .iter()
        .zip(["ward_command", "ward_projector", "ward_query"])
    {
        assert_eq!(
            client.get(service.url("/livez")).send().await?.status(),
            200
        );
        let ready = client.get(service.url("/readyz")).send().await?;
        assert_eq!(ready.status(), 200, "{prefix}: {}", ready.text().await?);
        let metrics = client
            .get(service.url("/metrics"))
            .send()
            .await?
            .text()
            .await?;
        assert!(
            metrics.contains(&format!("{prefix}_http_requests_total{{")),
            "{prefix}: {metrics}"
        );
        assert!(
            metrics.contains(&format!("{prefix}_http_request_duration_seconds_bucket{{")),
            "{prefix}"
        );
    }
    let metrics = client
        .get(running[0].url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(metrics.contains("ward_command_outbox_backlog"));
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_projector_gracefully() -> Result {
    let stack = Stack::new().await?;
    let mut projector = stack.projector_process(100).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = projector.id().ok_or_else(|| anyhow::anyhow!("no pid"))?;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    let status = tokio::time::timeout(Duration::from_secs(15), projector.wait()).await??;
    assert!(status.success(), "{status}");
    stack.finish().await
}
