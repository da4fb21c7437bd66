//! `ward events republish`: when the Kafka log is lost, the event store publishes it again —
//! the very records the relay sent, resumable after an interruption — and every read model
//! rebuilt from the new log equals the one it replaces; republished into topics that still
//! hold the events, it changes no read model. Runs the steps of `docs/operations.md`, "The
//! Kafka log is lost or damaged". Also: what migration 0017 gives events stored before it.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use ward_domain::hospital::HospitalKind;
use ward_domain::member::Role;
use ward_platform::config::DatabaseConfig;
use ward_platform::kafka;

/// Commands of every kind the read models show: registrations and a role, a hospital, claims
/// approved by a moderator, posts on both boards, comments, a reply, a deleted comment, an
/// accepted answer, likes, a review marked helpful, a post hidden and another hidden and
/// restored. The session cookies of everyone who acted.
async fn traffic(stack: &Stack, commands: &Http) -> Result<Vec<String>> {
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let hospital = register_hospital(stack, "재발행병원", "서울", HospitalKind::General).await?;
    let (nurse, _) = insider_with_claim(stack, commands, &moderator, hospital, "nurse").await?;
    let doctor = insider(stack, commands, &moderator, hospital, "doctor").await?;
    let reader = stack.session().await?;
    let people = [nurse.clone(), doctor.clone(), reader.clone()];

    let review = commands
        .post(
            &nurse,
            &format!("/api/v1/hospitals/{hospital}/reviews"),
            review_body("재발행 리뷰"),
        )
        .await?;
    let (review, _) = id_and_version(&review);
    commands
        .ok(
            Some(doctor.as_str()),
            Method::PUT,
            &format!("/api/v1/reviews/{review}/helpful"),
            None,
        )
        .await?;

    let mut posts = Vec::new();
    for n in 0..6 {
        let author = &people[n % 3];
        let board = if n % 2 == 0 { "free" } else { "qna" };
        let post = commands
            .post(
                author,
                "/api/v1/posts",
                json!({"board": board, "title": format!("재발행 글 {n}"), "body": "본문"}),
            )
            .await?;
        let (post, _) = id_and_version(&post);
        let mut comments = Vec::new();
        for other in people.iter().filter(|p| *p != author) {
            let comment = commands
                .post(
                    other,
                    &format!("/api/v1/posts/{post}/comments"),
                    json!({"body": "댓글"}),
                )
                .await?;
            comments.push((id_and_version(&comment).0, other.clone()));
            commands
                .ok(
                    Some(other.as_str()),
                    Method::PUT,
                    &format!("/api/v1/posts/{post}/like"),
                    None,
                )
                .await?;
        }
        commands
            .post(
                author,
                &format!("/api/v1/posts/{post}/comments"),
                json!({"body": "답글", "parent_id": comments[0].0}),
            )
            .await?;
        match n {
            1 => {
                commands
                    .ok(
                        Some(author.as_str()),
                        Method::PUT,
                        &format!("/api/v1/posts/{post}/accepted-answer"),
                        Some(json!({"comment_id": comments[0].0})),
                    )
                    .await?;
            }
            2 => {
                let (comment, commenter) = &comments[1];
                commands
                    .ok(
                        Some(commenter.as_str()),
                        Method::DELETE,
                        &format!("/api/v1/posts/{post}/comments/{comment}"),
                        None,
                    )
                    .await?;
            }
            _ => {}
        }
        posts.push(post);
    }
    for (post, actions) in [
        (&posts[3], &["hide"][..]),
        (&posts[4], &["hide", "restore"]),
    ] {
        for action in actions {
            let body = if *action == "hide" {
                json!({"reason": "spam"})
            } else {
                json!({})
            };
            commands
                .post(
                    &moderator,
                    &format!("/api/v1/moderation/post/{post}/{action}"),
                    body,
                )
                .await?;
        }
    }
    Ok(vec![moderator, nurse, doctor, reader])
}

/// Every record of every topic, as `ward replay` writes it, in the store's key order.
async fn log(stack: &Stack) -> Result<Vec<Value>> {
    let mut records = log_events(stack).await?;
    records.sort_by_key(|r| {
        (
            r["aggregate_type"].as_str().map(str::to_owned),
            r["aggregate_id"].as_str().map(str::to_owned),
            r["sequence"].as_i64(),
        )
    });
    Ok(records)
}

/// How many records the topics hold.
async fn records(stack: &Stack) -> Result<i64> {
    let topics = kafka::topic_definitions()?
        .into_iter()
        .map(|t| kafka::topic_for(&stack.config.kafka, &t.aggregate_type))
        .collect();
    let marks = kafka::watermarks(&stack.config.kafka, topics).await?;
    Ok(marks.iter().map(|m| m.high - m.low).sum())
}

async fn events_stored(stack: &Stack) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&stack.events_db().await?)
        .await?)
}

/// Runs `ward <args>` to its end: whether it succeeded, its standard output and error.
async fn ward(stack: &Stack, args: &[&str]) -> Result<(bool, String, String)> {
    let output = stack
        .ward_command()
        .args(args)
        .env("RUST_LOG", "warn")
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output).await??;
    Ok((
        output.status.success(),
        String::from_utf8(output.stdout)?,
        String::from_utf8(output.stderr)?,
    ))
}

/// `ward events republish <args>`, insisting that it succeeds: its standard output.
async fn republish(stack: &Stack, args: &[&str]) -> Result<String> {
    let (ok, out, err) = ward(stack, &[&["events", "republish"], args].concat()).await?;
    anyhow::ensure!(ok, "ward events republish {args:?} failed:\n{out}\n{err}");
    Ok(out)
}

/// The log is lost: every topic deleted and created again, empty.
async fn lose_the_log(stack: &Stack) -> Result {
    let admin: AdminClient<DefaultClientContext> =
        kafka::client_config(&stack.config.kafka).create()?;
    let names: Vec<String> = kafka::topic_definitions()?
        .into_iter()
        .map(|t| kafka::topic_for(&stack.config.kafka, &t.aggregate_type))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for deleted in admin.delete_topics(&names, &options).await? {
        match deleted {
            // Tansu 0.6 deletes every topic when asked to delete one: the others are gone by
            // the time their turn comes.
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, code)) => anyhow::bail!("deleting {topic}: {code}"),
        }
    }
    // Created again only once the broker no longer knows them (creating a topic that still
    // exists is not an error for `create_topics`, and would keep the old records).
    eventually(Duration::from_secs(20), "the topics gone", || async {
        Ok(records(stack).await.is_err().then_some(()))
    })
    .await?;
    let created = kafka::create_topics(&stack.config.kafka).await?;
    assert_eq!(created.len(), names.len(), "{created:?}");
    assert_eq!(records(stack).await?, 0, "the new topics are empty");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_log_is_republished_from_the_event_store_and_every_read_model_rebuilt_as_it_was(
) -> Result {
    let stack = Stack::new().await?;
    let (commands, projector, queries) = stack.start_all().await?;
    let cookies = traffic(&stack, &Http::new(&commands)).await?;
    settle(&stack).await?;
    let models = dumps(&stack.config).await?;
    let reader = Http::new(&queries);
    let cookies: Vec<&String> = cookies.iter().collect();
    let pages = own_pages(&reader, &cookies).await?;
    let original = log(&stack).await?;
    let stored = events_stored(&stack).await?;
    assert_eq!(original.len() as i64, stored, "one record per stored event");

    // The runbook: stop the projectors and every relay, lose the log, create the topics.
    projector.stop().await?;
    commands.stop().await?;
    lose_the_log(&stack).await?;

    // Republish, interrupted after a third, then resumed.
    let third = stored / 3;
    let out = republish(&stack, &["--restart", "--limit", &third.to_string()]).await?;
    assert!(out.contains("stopped at --limit"), "{out}");
    assert_eq!(records(&stack).await?, third);
    let out = republish(&stack, &[]).await?;
    assert!(
        out.contains(&format!(
            "{} events published ({third} by earlier runs); finished",
            stored - third
        )),
        "{out}"
    );
    assert!(out.contains("ward.post.events"), "{out}");
    assert_eq!(
        log(&stack).await?,
        original,
        "the very records the relay published, each once"
    );

    // Rebuild every projection from the new log, and switch. The live read models' offsets
    // count the lost log's records (a record the relay had published twice, twice), so the
    // rebuild is told the log was replaced and is not held to them.
    for projection in ["board", "hospital", "member"] {
        let arguments = [
            "projector",
            "rebuild",
            projection,
            "--switch",
            "--replaced-log",
        ];
        let (ok, out, err) = ward(&stack, &arguments).await?;
        assert!(ok, "rebuilding {projection}:\n{out}\n{err}");
    }
    assert_eq!(
        dumps(&stack.config).await?,
        models,
        "every read model as it was"
    );
    // The member model's sealed rows: what each member reads.
    eventually(
        Duration::from_secs(30),
        "every member's own pages as they were",
        || async {
            Ok((own_pages(&reader, &cookies).await.ok() == Some(pages.clone())).then_some(()))
        },
    )
    .await?;

    // Back in service: new commands reach the rebuilt read models through the new log.
    let commands = stack.command_api().await?;
    let _projector = stack.projector().await?;
    let post = Http::new(&commands)
        .post(
            cookies[3],
            "/api/v1/posts",
            json!({"board": "free", "title": "복구 후", "body": "본문"}),
        )
        .await?;
    let (post, _) = id_and_version(&post);
    eventually(
        Duration::from_secs(20),
        "a new post on the board",
        || async {
            let (status, _) = reader
                .send(None, Method::GET, &format!("/api/v1/posts/{post}"), None)
                .await?;
            Ok((status == 200).then_some(()))
        },
    )
    .await?;
    settle(&stack).await?;
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn republishing_into_topics_that_hold_the_events_changes_no_read_model() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let cookies = traffic(&stack, &Http::new(&commands)).await?;
    settle(&stack).await?;
    let models = dumps(&stack.config).await?;
    let reader = Http::new(&queries);
    let cookies: Vec<&String> = cookies.iter().collect();
    let pages = own_pages(&reader, &cookies).await?;
    let stored = events_stored(&stack).await?;
    assert_eq!(records(&stack).await?, stored);

    // Every event once more, while the projectors run.
    commands.stop().await?;
    let out = republish(&stack, &[]).await?;
    assert!(out.contains(&format!("{stored} events published")), "{out}");
    assert_eq!(records(&stack).await?, 2 * stored);
    settle(&stack).await?;
    assert_eq!(
        dumps(&stack.config).await?,
        models,
        "no comment, like, count, log entry or notification doubled"
    );
    assert_eq!(own_pages(&reader, &cookies).await?, pages);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_republish_waits_for_the_relay_resumes_where_it_stopped_and_is_not_repeated() -> Result {
    let stack = Stack::new().await?;
    // A relay leads: the republish waits for it, saying so, and publishes nothing meanwhile.
    let commands = stack.command_api().await?;
    let mut waiting = stack
        .ward_command()
        .args(["events", "republish"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = waiting
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let said = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("waiting for the outbox relay's leader lock") {
                return Ok(line);
            }
        }
        anyhow::bail!("the republish ended without waiting")
    })
    .await??;
    assert!(said.contains("command_api.relay = false"), "{said}");
    assert_eq!(records(&stack).await?, 0, "nothing published while waiting");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(waiting.try_wait()?.is_none(), "still waiting");
    commands.stop().await?;
    let output =
        tokio::time::timeout(Duration::from_secs(30), waiting.wait_with_output()).await??;
    let out = String::from_utf8(output.stdout)?;
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("0 events published (0 by earlier runs); finished"),
        "an empty store publishes nothing: {out}"
    );
    let out = republish(&stack, &[]).await?;
    assert!(out.contains("nothing to publish"), "{out}");

    // Events committed while no relay runs wait in the outbox.
    let before = chrono::Utc::now().to_rfc3339();
    for n in 0..3 {
        register_hospital(&stack, &format!("병원 {n}"), "부산", HospitalKind::General).await?;
    }
    assert_eq!(records(&stack).await?, 0);
    let out = republish(&stack, &[]).await?;
    assert!(
        out.contains("nothing to publish"),
        "a finished run is not repeated: {out}"
    );
    let out = republish(&stack, &["--restart", "--limit", "2"]).await?;
    assert!(out.contains("2 events published"), "{out}");
    assert_eq!(records(&stack).await?, 2);
    let (ok, _, err) = ward(&stack, &["events", "republish", "--aggregates", "post"]).await?;
    assert!(
        !ok && err.contains("unfinished"),
        "other options while a run is unfinished are refused: {err}"
    );
    let out = republish(&stack, &[]).await?;
    assert!(
        out.contains("1 events published (2 by earlier runs); finished"),
        "{out}"
    );
    let republished = log(&stack).await?;
    assert_eq!(republished.len(), 3, "each event once");

    // The relay leads again: what waited in the outbox is on the topics already, so it
    // deletes those rows without publishing them again (ADR 0017).
    let commands = stack.command_api().await?;
    let events = stack.events_db().await?;
    eventually(Duration::from_secs(20), "the outbox emptied", || async {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&events)
            .await?;
        Ok((left == 0).then_some(()))
    })
    .await?;
    assert_eq!(log(&stack).await?, republished, "each event once");
    assert_eq!(
        metric(
            &commands,
            "ward_command_outbox_already_published_total",
            &[]
        )
        .await?,
        3.0
    );

    commands.stop().await?;

    // The filters: a time after every event, an aggregate type without events, and the
    // hospitals since before they were registered.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let out = republish(&stack, &["--restart", "--since", &later]).await?;
    assert!(out.contains("0 events published"), "{out}");
    let out = republish(&stack, &["--restart", "--aggregates", "post"]).await?;
    assert!(out.contains("0 events published"), "{out}");
    let out = republish(
        &stack,
        &["--restart", "--aggregates", "hospital", "--since", &before],
    )
    .await?;
    assert!(out.contains("3 events published"), "{out}");
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn events_stored_before_migration_0017_keep_the_outboxs_values_or_get_the_migrations(
) -> Result {
    // An event store migrated up to 0016, as the release before left it.
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../command-api/migrations");
    let before = tempfile::tempdir()?;
    for entry in std::fs::read_dir(&source)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().as_ref() < "0017" {
            std::fs::copy(entry.path(), before.path().join(entry.file_name()))?;
        }
    }
    let server = DatabaseConfig::new("postgres://postgres@127.0.0.1:5432/postgres");
    let admin = server.connect_postgres().await?;
    let name = format!(
        "ward_t_{}_upgrade",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&admin)
        .await?;
    let pool = server.with_database(&name)?.connect_postgres().await?;
    sqlx::migrate::Migrator::new(before.path())
        .await?
        .run(&pool)
        .await?;
    // Three events as postgres-es stores them; the relay has published the first two.
    for sequence in 1..=3_i64 {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata) \
             VALUES ('hospital', 'h', $1, 'HospitalClosed', '1', '{\"HospitalClosed\": {}}', '{}')",
        )
        .bind(sequence)
        .execute(&pool)
        .await?;
    }
    let queued: (uuid::Uuid, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT event_id, occurred_at FROM outbox WHERE sequence = 3")
            .fetch_one(&pool)
            .await?;
    sqlx::query("DELETE FROM outbox WHERE sequence < 3")
        .execute(&pool)
        .await?;

    ward_command_api::app::MIGRATOR.run(&pool).await?;
    let stored: Vec<(uuid::Uuid, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT event_id, occurred_at FROM events ORDER BY sequence")
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        stored[2], queued,
        "a queued event keeps what the log will carry"
    );
    assert_eq!(
        stored[0].1, stored[1].1,
        "published ones get the migration's time"
    );
    assert!(stored[0].1 > queued.1, "{stored:?}");
    assert!(
        stored[0].0 != stored[1].0 && stored[0].0 != queued.0,
        "and ids of their own: {stored:?}"
    );

    // From now on the outbox copies the event's id and time, and its fields unwrapped.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) \
         VALUES ('hospital', 'h', 4, 'HospitalClosed', '1', '{\"HospitalClosed\": {\"a\": 1}}', '{}')",
    )
    .execute(&pool)
    .await?;
    let copied: (bool, String) = sqlx::query_as(
        "SELECT e.event_id = o.event_id AND e.occurred_at = o.occurred_at, o.payload::text \
         FROM events e JOIN outbox o USING (aggregate_type, aggregate_id, sequence) \
         WHERE sequence = 4",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(copied, (true, r#"{"a": 1}"#.to_owned()));
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&admin)
        .await?;
    Ok(())
}
