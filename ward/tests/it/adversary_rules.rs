//! Rules that an attacker with an ordinary account (or a moderator's role, or a copy of a
//! read model, or the analyst's replay) must not get around, played against the real stack:
//! new unverified accounts cannot hide items by reporting them, a moderator cannot verify
//! their own claim, a review follows its author's standing at the hospital, the member read
//! model keeps no aggregate sequence in a member's rows, and the replay never opens a badge's
//! hospital.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use ward::replay::{replay, Filter, Format};
use ward_command_api::members;
use ward_command_api::session::{Session, SessionStore};
use ward_domain::hospital::HospitalKind;
use ward_domain::member::{JobCategory, MemberCommand, MemberId, Role, DAY_SECS};

const WAIT: Duration = Duration::from_secs(30);

/// The events of one type, as stored: `(aggregate id, payload)`, in commit order.
async fn stored(stack: &Stack, event_type: &str) -> Result<Vec<(String, Value)>> {
    Ok(sqlx::query_as(
        "SELECT aggregate_id, payload::jsonb FROM events WHERE event_type = $1 \
         ORDER BY aggregate_id, sequence",
    )
    .bind(event_type)
    .fetch_all(&stack.events_db().await?)
    .await?)
}

/// `cookie`'s member claims `hospital`; the claim's id.
async fn submit_claim(commands: &Http, cookie: &str, hospital: Uuid) -> Result<String> {
    let answer = commands
        .post(
            cookie,
            &format!("/api/v1/hospitals/{hospital}/claims"),
            json!({"job_category": "nurse", "tenure": "current"}),
        )
        .await?;
    Ok(answer["id"].as_str().unwrap_or_default().to_owned())
}

/// A fresh member whose claim to `hospital` `moderator` approved: id, cookie and claim id.
async fn verified_member(
    stack: &Stack,
    commands: &Http,
    moderator: &str,
    hospital: Uuid,
) -> Result<(MemberId, String, String)> {
    let (member, cookie) = stack.member(&[]).await?;
    let claim = submit_claim(commands, &cookie, hospital).await?;
    commands
        .post(
            moderator,
            &format!("/api/v1/claims/{claim}/approval"),
            json!({}),
        )
        .await?;
    Ok((member, cookie, claim))
}

fn review(title: &str) -> Value {
    json!({
        "ratings": {"overall": 4, "work_environment": 3, "pay_benefits": 2, "management": 3,
                    "care_quality": 4, "work_life_balance": 2},
        "title": title,
        "pros": "교육 체계가 잘 갖춰져 있고 선배들이 친절합니다.",
        "cons": "인력이 부족해서 야간 근무가 너무 힘듭니다.",
        "would_recommend": true
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_from_new_unverified_accounts_do_not_hide_an_item() -> Result {
    let mut stack = Stack::new().await?;
    stack.config.command_api.auto_hide_reports = 3;
    let api = stack.command_api().await?;
    let commands = Http::new(&api);
    let hospital = register_hospital(&stack, "가병원", "서울", HospitalKind::General).await?;
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let author = stack.session().await?;
    let post = commands
        .post(
            &author,
            "/api/v1/posts",
            json!({"board": "free", "title": "멀쩡한 글", "body": "본문"}),
        )
        .await?;
    let report = json!({"kind": "post", "target_id": post["id"], "reason": "spam"});

    // Three accounts made a moment ago, none verified anywhere: their reports are taken…
    for _ in 0..3 {
        let sybil = stack.session().await?;
        commands
            .post(&sybil, "/api/v1/reports", report.clone())
            .await?;
    }
    assert_eq!(
        stored(&stack, "ReportFiled").await?.len(),
        3,
        "reports kept"
    );
    // … but hide nothing.
    assert!(
        stored(&stack, "TargetHidden").await?.is_empty(),
        "new unverified accounts hid an item"
    );

    // Three verified staff members (of any hospital) do.
    for _ in 0..3 {
        let (_, insider, _) = verified_member(&stack, &commands, &moderator, hospital).await?;
        commands
            .post(&insider, "/api/v1/reports", report.clone())
            .await?;
    }
    let hidden = stored(&stack, "TargetHidden").await?;
    assert_eq!(hidden.len(), 1, "{hidden:?}");
    assert_eq!(hidden[0].1["TargetHidden"]["cause"], "automatic");
    stack.finish().await
}

/// A member who registered `days` days ago, never verified anywhere: their session cookie.
async fn member_registered_days_ago(stack: &Stack, days: u64) -> Result<String> {
    let member = MemberId(Uuid::new_v4());
    let store = ward_command_api::app::store(stack.events_db().await?);
    let register = MemberCommand::Register {
        job_category: JobCategory::Nurse,
        now: members::now() - days * DAY_SECS,
    };
    members::run(&store, &stack.author_key()?, member, register).await?;
    let redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    SessionStore::new(redis, &stack.config)
        .create(&Session::new(member))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_from_accounts_old_enough_count_without_a_verified_claim() -> Result {
    let mut stack = Stack::new().await?;
    stack.config.command_api.auto_hide_reports = 2;
    stack.config.command_api.report_weight_min_age_days = 7;
    let api = stack.command_api().await?;
    let commands = Http::new(&api);
    let author = stack.session().await?;
    let post = commands
        .post(
            &author,
            "/api/v1/posts",
            json!({"board": "free", "title": "신고될 글", "body": "본문"}),
        )
        .await?;
    let report = json!({"kind": "post", "target_id": post["id"], "reason": "abuse"});
    // Six days old does not count yet; seven and eight do.
    for days in [6, 7] {
        let reporter = member_registered_days_ago(&stack, days).await?;
        commands
            .post(&reporter, "/api/v1/reports", report.clone())
            .await?;
    }
    assert!(stored(&stack, "TargetHidden").await?.is_empty());
    let reporter = member_registered_days_ago(&stack, 8).await?;
    commands.post(&reporter, "/api/v1/reports", report).await?;
    assert_eq!(stored(&stack, "TargetHidden").await?.len(), 1);
    // The reports say whether they counted, and nothing more about their reporters.
    let counts: Vec<Value> = stored(&stack, "ReportFiled")
        .await?
        .into_iter()
        .map(|(_, payload)| payload["ReportFiled"]["counts"].clone())
        .collect();
    let counted = counts.iter().filter(|c| **c == json!(true)).count();
    assert_eq!((counts.len(), counted), (3, 2), "{counts:?}");
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_api_refuses_to_start_with_an_out_of_range_minimum_age() -> Result {
    let mut stack = Stack::new().await?;
    stack.config.command_api.report_weight_min_age_days = 366;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let started = ward_command_api::run(
        &stack.config,
        listener,
        tokio_util::sync::CancellationToken::new(),
    )
    .await;
    let error = format!("{:#}", started.err().unwrap_or_else(|| anyhow::anyhow!("")));
    assert!(
        error.contains("command_api.report_weight_min_age_days is 366; it must be 0 to 365"),
        "{error}"
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moderator_cannot_approve_their_own_claim() -> Result {
    let stack = Stack::new().await?;
    let api = stack.command_api().await?;
    let commands = Http::new(&api);
    let hospital = register_hospital(&stack, "나병원", "부산", HospitalKind::General).await?;
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let (_, colleague) = stack.member(&[Role::Moderator]).await?;
    let own = submit_claim(&commands, &moderator, hospital).await?;

    let approval = format!("/api/v1/claims/{own}/approval");
    let (status, body) = commands
        .send(Some(&moderator), Method::POST, &approval, Some(json!({})))
        .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("own_claim")),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    // Still open: in the queue, nothing recorded but the submission.
    let queue = commands
        .ok(
            Some(&colleague),
            Method::GET,
            "/api/v1/moderation/claims",
            None,
        )
        .await?;
    let open: Vec<&str> = queue["claims"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(open, [own.as_str()]);
    assert!(stored(&stack, "ClaimVerified").await?.is_empty());

    // Another moderator may approve it.
    commands.post(&colleague, &approval, json!({})).await?;
    assert_eq!(stored(&stack, "ClaimVerified").await?.len(), 1);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_author_whose_claim_was_revoked_cannot_edit_their_review() -> Result {
    let stack = Stack::new().await?;
    let api = stack.command_api().await?;
    let commands = Http::new(&api);
    let hospital = register_hospital(&stack, "다병원", "대구", HospitalKind::General).await?;
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let (_, author, claim) = verified_member(&stack, &commands, &moderator, hospital).await?;
    let written = commands
        .post(
            &author,
            &format!("/api/v1/hospitals/{hospital}/reviews"),
            review("처음 쓴 리뷰"),
        )
        .await?;
    let path = format!("/api/v1/reviews/{}", written["id"].as_str().unwrap_or(""));
    // While verified, the author edits.
    commands
        .ok(
            Some(&author),
            Method::PATCH,
            &path,
            Some(review("고친 리뷰")),
        )
        .await?;

    commands
        .post(
            &moderator,
            &format!("/api/v1/claims/{claim}/revocation"),
            json!({}),
        )
        .await?;
    let (status, body) = commands
        .send(
            Some(&author),
            Method::PATCH,
            &path,
            Some(review("취소 후 고친 리뷰")),
        )
        .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("not_insider")),
        "{body}"
    );
    assert_eq!(stored(&stack, "ReviewEdited").await?.len(), 1, "no edit");

    // Claiming again is not enough: only a verified claim is.
    submit_claim(&commands, &author, hospital).await?;
    let (status, body) = commands
        .send(
            Some(&author),
            Method::PATCH,
            &path,
            Some(review("다시 신청 후 고친 리뷰")),
        )
        .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("not_insider")),
        "{body}"
    );
    // Someone else is still told they are not the author.
    let stranger = stack.session().await?;
    let (status, body) = commands
        .send(
            Some(&stranger),
            Method::PATCH,
            &path,
            Some(review("남이 고친 리뷰")),
        )
        .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("not_author")),
        "{body}"
    );
    stack.finish().await
}

/// The sequence of the last event of each item's aggregate that concerns the item itself —
/// what a per-item `version` would hold — keyed by item id; and each member pseudonym's last
/// `NotificationsRead`. All read from the event store, as an attacker reads the public log.
async fn item_versions(stack: &Stack) -> Result<(BTreeMap<Uuid, i64>, BTreeMap<String, i64>)> {
    let events: Vec<(String, String, i64, String, Value)> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, payload::jsonb FROM events \
         ORDER BY aggregate_type, aggregate_id, sequence",
    )
    .fetch_all(&stack.events_db().await?)
    .await?;
    let mut items = BTreeMap::new();
    let mut reads = BTreeMap::new();
    for (aggregate_type, aggregate_id, sequence, event_type, payload) in events {
        let fields = &payload[&event_type];
        let item = match (aggregate_type.as_str(), event_type.as_str()) {
            ("member", "NotificationsRead") => {
                reads.insert(aggregate_id, sequence);
                continue;
            }
            ("post", "PostLiked" | "PostUnliked" | "AnswerAccepted") => continue,
            ("post", _) => match fields["comment_id"].as_str() {
                Some(comment) => comment.to_owned(),
                None => aggregate_id,
            },
            ("review", "ReviewMarkedHelpful") => continue,
            ("review" | "affiliation", _) => aggregate_id,
            _ => continue,
        };
        items.insert(Uuid::parse_str(&item)?, sequence);
    }
    Ok((items, reads))
}

/// The member database's own bookkeeping: the redelivery guard (keyed by a hash of the
/// aggregate, no item's or member's row), every projection's offsets and rejects, and the
/// schema's migrations.
const BOOKKEEPING_TABLES: &[&str] = &[
    "aggregate_versions",
    "projector_offsets",
    "projector_rejects",
    "_sqlx_migrations",
];

/// Tables of the member database that hold items, notifications or read marks, and their
/// integer columns.
async fn member_row_tables(pool: &sqlx::MySqlPool) -> Result<BTreeMap<String, Vec<String>>> {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(data_type AS CHAR) \
         FROM information_schema.columns WHERE table_schema = DATABASE()",
    )
    .fetch_all(pool)
    .await?;
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (table, column, data_type) in columns {
        if BOOKKEEPING_TABLES.contains(&table.as_str()) {
            continue;
        }
        let integers = tables.entry(table).or_default();
        if data_type.contains("int") || data_type == "decimal" {
            integers.push(column);
        }
    }
    Ok(tables)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_member_read_model_keeps_no_aggregate_sequence_in_a_members_rows() -> Result {
    let mut stack = Stack::new().await?;
    stack.config.projector.projections = "member".to_owned();
    let api = stack.command_api().await?;
    let _projector = stack.projector().await?;
    let commands = Http::new(&api);
    let hospital = register_hospital(&stack, "라병원", "광주", HospitalKind::General).await?;
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;

    // A scripted mix: claims, posts edited a different number of times, comments (one edited),
    // a review written and edited, notifications read.
    let mut members = Vec::new();
    for round in 0..3_usize {
        let (_, cookie, _) = verified_member(&stack, &commands, &moderator, hospital).await?;
        let post = commands
            .post(
                &cookie,
                "/api/v1/posts",
                json!({"board": "free", "title": format!("글 {round}"), "body": "본문"}),
            )
            .await?;
        let post_path = format!("/api/v1/posts/{}", post["id"].as_str().unwrap_or(""));
        for edit in 0..=round {
            commands
                .ok(
                    Some(&cookie),
                    Method::PATCH,
                    &post_path,
                    Some(json!({"title": format!("고친 글 {round} {edit}"), "body": "본문"})),
                )
                .await?;
        }
        let written = commands
            .post(
                &cookie,
                &format!("/api/v1/hospitals/{hospital}/reviews"),
                review(&format!("리뷰 {round}")),
            )
            .await?;
        if round > 0 {
            let path = format!("/api/v1/reviews/{}", written["id"].as_str().unwrap_or(""));
            commands
                .ok(
                    Some(&cookie),
                    Method::PATCH,
                    &path,
                    Some(review("고친 리뷰")),
                )
                .await?;
        }
        members.push((cookie, post_path));
    }
    for (i, (cookie, _)) in members.iter().enumerate() {
        let (_, other_post) = &members[(i + 1) % members.len()];
        let comment = commands
            .post(
                cookie,
                &format!("{other_post}/comments"),
                json!({"body": "댓글입니다"}),
            )
            .await?;
        if i == 0 {
            let path = format!(
                "{other_post}/comments/{}",
                comment["id"].as_str().unwrap_or("")
            );
            commands
                .ok(
                    Some(cookie),
                    Method::PATCH,
                    &path,
                    Some(json!({"body": "고친 댓글입니다"})),
                )
                .await?;
        }
        commands
            .post(cookie, "/api/v1/me/notifications/read", json!({}))
            .await?;
    }

    let pool = stack.member_db().await?;
    let (items, reads) = item_versions(&stack).await?;
    let expected_entries = i64::try_from(items.len())?;
    eventually(WAIT, "every item in the member read model", || async {
        let entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
            .fetch_one(&pool)
            .await?;
        let read: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notification_reads")
            .fetch_one(&pool)
            .await?;
        Ok((entries == expected_entries && read == 3).then_some(()))
    })
    .await?;

    // The schema: only `aggregate_versions` (no item's or member's row) keeps a sequence.
    let tables = member_row_tables(&pool).await?;
    for table in ["items", "item_notifications", "notification_reads"] {
        assert!(tables.contains_key(table), "{tables:?}");
    }
    assert!(!tables.contains_key("aggregate_versions"), "{tables:?}");
    for (table, integers) in &tables {
        for column in integers {
            assert!(
                !column.contains("version") && !column.contains("sequence"),
                "{table}.{column} is a sequence number in a member's rows"
            );
        }
    }

    // The values: no integer column of an item's or member's rows agrees with the log's
    // sequences.
    let key = stack.author_key()?;
    let by_entry_key: BTreeMap<String, i64> = items
        .iter()
        .map(|(item, version)| (ward_projector::member::entry_key(&key, *item), *version))
        .collect();
    for (table, integers) in &tables {
        let id = match table.as_str() {
            "items" => "item_key",
            "notification_reads" => "owner",
            "item_notifications" => "dedupe_key",
            other => anyhow::bail!("an unexpected table {other}"),
        };
        let expected = |id: &str| match table.as_str() {
            "items" => by_entry_key.get(id).copied(),
            "notification_reads" => reads.get(id).copied(),
            _ => None,
        };
        for column in integers {
            let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
                "SELECT CAST({id} AS CHAR), CAST(`{column}` AS SIGNED) FROM `{table}`"
            ))
            .fetch_all(&pool)
            .await?;
            let known: Vec<(i64, i64)> = rows
                .into_iter()
                .filter_map(|(id, value)| expected(&id).map(|version| (value, version)))
                .collect();
            if table == "items" {
                assert_eq!(
                    i64::try_from(known.len())?,
                    expected_entries,
                    "every entry read"
                );
            }
            let agreeing = known.iter().filter(|(value, v)| value == v).count();
            assert!(
                known.is_empty() || agreeing * 2 <= known.len(),
                "{table}.{column} equals the item's sequence in {agreeing} of {} rows",
                known.len()
            );
        }
    }
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_replay_never_opens_a_badges_hospital() -> Result {
    let stack = Stack::new().await?;
    let api = stack.command_api().await?;
    let commands = Http::new(&api);
    let hospital = register_hospital(&stack, "마병원", "제주", HospitalKind::General).await?;
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let (_, insider, _) = verified_member(&stack, &commands, &moderator, hospital).await?;
    commands
        .post(
            &insider,
            "/api/v1/posts",
            json!({"board": "free", "title": "배지 글", "body": "본문",
                   "badge": {"hospital_id": hospital}}),
        )
        .await?;

    let filter = Filter {
        aggregate_types: vec!["post".to_owned()],
        event_types: vec!["PostCreated".to_owned()],
        since: None,
        until: None,
    };
    let out = eventually(Duration::from_secs(10), "the post on its topic", || async {
        let mut out = Vec::new();
        let replayed = replay(&stack.config, &filter, Format::Jsonl, true, false, &mut out).await?;
        Ok((replayed.written == 1).then_some(out))
    })
    .await?;
    let text = String::from_utf8(out)?;
    assert!(text.contains("배지 글"), "texts open: {text}");
    assert!(
        !text.contains(&hospital.to_string()) && !text.contains(&hospital.simple().to_string()),
        "the replay shows the badge's hospital: {text}"
    );
    let event: Value = serde_json::from_str(text.trim())?;
    let badge: Value = serde_json::from_str(event["payload"]["badge"].as_str().unwrap_or("null"))?;
    assert_eq!(badge, json!({"job_category": "nurse"}), "{text}");

    let mut csv = Vec::new();
    replay(&stack.config, &filter, Format::Csv, true, false, &mut csv).await?;
    let csv = String::from_utf8(csv)?;
    assert!(csv.contains("job_category"), "{csv}");
    assert!(!csv.contains(&hospital.to_string()), "{csv}");
    stack.finish().await
}

/// The forms under which a dumped value could be matched against public data: its text, and
/// as they apply the minute of a time, an integer (a sequence), a UUID (an item).
fn forms(text: &str) -> Vec<String> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    let text = text.trim();
    let minute = |time: DateTime<Utc>| format!("minute:{}", time.format("%Y-%m-%dT%H:%M"));
    let mut forms = vec![format!("text:{}", text.to_lowercase())];
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        forms.push(minute(time.to_utc()));
    }
    if let Ok(time) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z") {
        forms.push(minute(time.to_utc()));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            forms.push(minute(time.and_utc()));
        }
    }
    if let Ok(number) = text.parse::<i64>() {
        forms.push(format!("int:{number}"));
        let seconds = DateTime::from_timestamp(number, 0).filter(|_| number > 1_000_000_000);
        let millis = DateTime::from_timestamp_millis(number).filter(|_| number > 1_000_000_000_000);
        forms.extend(seconds.into_iter().chain(millis).map(minute));
    }
    if let Ok(id) = Uuid::parse_str(text) {
        forms.push(format!("uuid:{}", id.simple()));
    }
    forms
}

/// Every scalar of a JSON value, descending into strings that hold JSON themselves.
fn scalars(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(fields) => fields.values().for_each(|v| scalars(v, out)),
        Value::Array(items) => items.iter().for_each(|v| scalars(v, out)),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(inner @ (Value::Object(_) | Value::Array(_))) => scalars(&inner, out),
            _ => out.push(text.clone()),
        },
        Value::Null => {}
        other => out.push(other.to_string()),
    }
}

/// What the attacker of a leaked backup (c1) holds besides `ward_member`, as matchable forms:
/// every value of every table of the board read model, every scalar of every event on the
/// topics (texts sealed: no key is in the backup), and the names of the kinds and states that
/// the board and the log show (posts, comments, their states, claims and their decisions).
async fn public_forms(stack: &Stack) -> Result<std::collections::HashSet<String>> {
    let mut values: Vec<String> = [
        "post",
        "comment",
        "review",
        "claim",
        "answer",
        "reply",
        "accepted",
        "claim_verified",
        "claim_rejected",
        "published",
        "deleted",
        "erased",
        "open",
        "verified",
        "rejected",
        "expired",
        "revoked",
    ]
    .map(str::to_owned)
    .to_vec();
    let board = stack.board_db().await?;
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public'",
    )
    .fetch_all(&board)
    .await?;
    for (table, column) in columns {
        let cells: Vec<Option<String>> = sqlx::query_scalar(&format!(
            "SELECT CAST(\"{column}\" AS text) FROM \"{table}\""
        ))
        .fetch_all(&board)
        .await?;
        values.extend(cells.into_iter().flatten());
    }
    let log = log_events(stack).await?;
    anyhow::ensure!(log.len() > 20, "the log is real: {log:?}");
    for event in &log {
        scalars(event, &mut values);
    }
    Ok(values.iter().flat_map(|v| forms(v)).collect())
}

/// The opaque columns an item's or member's row may show in the clear: the keyed hashes that
/// find it, whose read mark it is (the pseudonym, in `notification_reads` only), and its
/// sealed payload.
const OPAQUE_COLUMNS: &[&str] = &["item_key", "dedupe_key", "owner", "nonce", "ciphertext"];

#[tokio::test(flavor = "multi_thread")]
async fn a_dump_of_the_member_read_model_matches_nothing_public() -> Result {
    let stack = Stack::new().await?;
    let (api, _projector, queries) = stack.start_all().await?;
    let (commands, me) = (Http::new(&api), Http::new(&queries));
    let hospital = register_hospital(&stack, "바병원", "울산", HospitalKind::General).await?;
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let page = |cookie: String, path: &'static str| {
        let me = &me;
        async move { me.ok(Some(&cookie), Method::GET, path, None).await }
    };

    // A scripted mix of three members: posts (one a question, one deleted), comments and
    // replies on each other's posts, an accepted answer, a review, claims verified and
    // rejected, notifications read.
    let (_, alice, _) = verified_member(&stack, &commands, &moderator, hospital).await?;
    let (_, bob, _) = verified_member(&stack, &commands, &moderator, hospital).await?;
    let (_, carol) = stack.member(&[]).await?;
    let carol_claim = submit_claim(&commands, &carol, hospital).await?;
    commands
        .post(
            &moderator,
            &format!("/api/v1/claims/{carol_claim}/rejection"),
            json!({"reason": "not_staff"}),
        )
        .await?;
    let id = |answer: Value| answer["id"].as_str().unwrap_or_default().to_owned();
    let new_post = |cookie: String, board: &'static str| {
        let commands = &commands;
        async move {
            let body = json!({"board": board, "title": "제목입니다", "body": "본문입니다"});
            Ok::<_, anyhow::Error>(id(commands.post(&cookie, "/api/v1/posts", body).await?))
        }
    };
    let new_comment = |cookie: String, post: String, parent: Option<String>| {
        let commands = &commands;
        async move {
            let body = json!({"body": "댓글입니다", "parent_id": parent});
            let path = format!("/api/v1/posts/{post}/comments");
            Ok::<_, anyhow::Error>(id(commands.post(&cookie, &path, body).await?))
        }
    };
    let post = new_post(alice.clone(), "free").await?;
    let question = new_post(alice.clone(), "qna").await?;
    let gone = new_post(alice.clone(), "free").await?;
    commands
        .ok(
            Some(&alice),
            Method::DELETE,
            &format!("/api/v1/posts/{gone}"),
            None,
        )
        .await?;
    let bob_post = new_post(bob.clone(), "free").await?;
    let bob_comment = new_comment(bob.clone(), post.clone(), None).await?;
    let bob_answer = new_comment(bob.clone(), question.clone(), None).await?;
    new_comment(carol.clone(), post.clone(), Some(bob_comment.clone())).await?;
    let alice_comment = new_comment(alice.clone(), bob_post.clone(), None).await?;
    commands
        .ok(
            Some(&alice),
            Method::PUT,
            &format!("/api/v1/posts/{question}/accepted-answer"),
            Some(json!({"comment_id": bob_answer})),
        )
        .await?;
    commands
        .post(
            &bob,
            &format!("/api/v1/hospitals/{hospital}/reviews"),
            review("리뷰입니다"),
        )
        .await?;
    for cookie in [&alice, &bob] {
        commands
            .post(cookie, "/api/v1/me/notifications/read", json!({}))
            .await?;
    }

    // The member API answers as it always did: each member's items, states and times, and
    // their notifications, read or not.
    let alice_activity = eventually(WAIT, "Alice's activity", || async {
        let page = page(alice.clone(), "/api/v1/me/activity?limit=100").await?;
        let deleted = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["id"] == gone.as_str() && i["state"] == "deleted");
        Ok((deleted && page["items"].as_array().map_or(0, Vec::len) == 4).then_some(page))
    })
    .await?;
    let board = stack.board_db().await?;
    let minute = |time: chrono::DateTime<chrono::Utc>| time.format("%Y-%m-%dT%H:%M").to_string();
    for item in alice_activity["items"].as_array().into_iter().flatten() {
        let item_id: Uuid = item["id"].as_str().unwrap_or_default().parse()?;
        let public: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
            "SELECT created_at FROM board_posts WHERE id = $1 \
             UNION ALL SELECT created_at FROM board_comments WHERE id = $1",
        )
        .bind(item_id)
        .fetch_optional(&board)
        .await?;
        let shown: chrono::DateTime<chrono::Utc> =
            item["created_at"].as_str().unwrap_or_default().parse()?;
        if let Some(public) = public {
            assert_eq!(minute(shown), minute(public), "{item}");
        }
    }
    let mut kinds: Vec<(String, String)> = alice_activity["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["kind"].to_string(),
                i["id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    kinds.sort();
    let mut expected = vec![
        ("\"comment\"".to_owned(), alice_comment.clone()),
        ("\"post\"".to_owned(), post.clone()),
        ("\"post\"".to_owned(), question.clone()),
        ("\"post\"".to_owned(), gone.clone()),
    ];
    expected.sort();
    assert_eq!(kinds, expected);
    eventually(WAIT, "Bob's pages", || async {
        let activity = page(bob.clone(), "/api/v1/me/activity?limit=100").await?;
        let notes = page(bob.clone(), "/api/v1/me/notifications").await?;
        let claims = page(bob.clone(), "/api/v1/me/affiliations").await?;
        let done = activity["items"].as_array().map_or(0, Vec::len) == 4
            && notes["notifications"].as_array().map_or(0, Vec::len) == 4
            && notes["unread_count"] == 0
            && claims["affiliations"][0]["state"] == "verified";
        Ok(done.then_some(()))
    })
    .await?;
    let alice_notes = eventually(WAIT, "Alice's notifications", || async {
        let notes = page(alice.clone(), "/api/v1/me/notifications").await?;
        let done = notes["notifications"].as_array().map_or(0, Vec::len) == 4
            && notes["unread_count"] == 0;
        Ok(done.then_some(notes))
    })
    .await?;
    // Alice marked hers read after everything that notified her.
    assert!(alice_notes["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|n| n["read"] == true));
    let carol_claims = eventually(WAIT, "Carol's rejected claim", || async {
        let claims = page(carol.clone(), "/api/v1/me/affiliations").await?;
        Ok((claims["affiliations"][0]["state"] == "rejected").then_some(claims))
    })
    .await?;
    assert_eq!(carol_claims["affiliations"][0]["reason"], "not_staff");
    assert_eq!(
        page(carol.clone(), "/api/v1/me/notifications").await?["unread_count"],
        1
    );

    // The schema: items', notifications' and read marks' rows hold only opaque columns, and
    // nothing counts insertions.
    let pool = stack.member_db().await?;
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(extra AS CHAR) \
         FROM information_schema.columns WHERE table_schema = DATABASE()",
    )
    .fetch_all(&pool)
    .await?;
    let owned: std::collections::BTreeSet<&str> = columns
        .iter()
        .map(|(table, _, _)| table.as_str())
        .filter(|table| !BOOKKEEPING_TABLES.contains(table))
        .collect();
    for table in ["items", "item_notifications", "notification_reads"] {
        assert!(owned.contains(table), "{owned:?}");
    }
    // What the attacker finds; every finding is a way to group a member's items.
    let mut findings = Vec::new();
    for (table, column, extra) in &columns {
        if extra.to_lowercase().contains("auto_increment") {
            findings.push(format!("{table}.{column} numbers rows in insertion order"));
        }
        // Only a read mark belongs to a pseudonym; an item's row names nobody (ADR 0014).
        if column == "owner" && table != "notification_reads" {
            findings.push(format!("{table}.{column}: an item's row names its owner"));
        }
        if owned.contains(table.as_str()) && !OPAQUE_COLUMNS.contains(&column.as_str()) {
            findings.push(format!(
                "{table}.{column} is in the clear in a member's rows"
            ));
        }
    }

    // The values: nothing in a member's rows but the pseudonym (the member aggregate's id,
    // which names no item) equals a time, kind, state, id or sequence of the public side,
    // and no payload is longer than another of its table.
    let public = public_forms(&stack).await?;
    for table in &owned {
        let cells: Vec<(String, String)> = columns
            .iter()
            .filter(|(t, column, _)| t == table && column != "owner")
            .map(|(_, column, _)| (column.clone(), format!("CAST(`{column}` AS CHAR)")))
            .collect();
        for (column, value) in cells {
            let values: Vec<Option<String>> =
                sqlx::query_scalar(&format!("SELECT {value} FROM `{table}`"))
                    .fetch_all(&pool)
                    .await?;
            for value in values.into_iter().flatten() {
                let matched: Vec<String> = forms(&value)
                    .into_iter()
                    .filter(|form| public.contains(form))
                    .collect();
                if !matched.is_empty() {
                    findings.push(format!(
                        "{table}.{column} = {value:?} matches public data: {matched:?}"
                    ));
                }
            }
        }
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM `{table}`"))
            .fetch_one(&pool)
            .await?;
        assert!(rows > 0, "{table} holds rows to check");
        if columns
            .iter()
            .any(|(t, column, _)| t == table && column == "ciphertext")
        {
            let sizes: i64 = sqlx::query_scalar(&format!(
                "SELECT COUNT(DISTINCT LENGTH(ciphertext)) FROM `{table}`"
            ))
            .fetch_one(&pool)
            .await?;
            if sizes > 1 {
                findings.push(format!(
                    "{table}: sealed payloads of {sizes} lengths tell rows apart"
                ));
            }
        }
    }
    assert!(
        findings.is_empty(),
        "{} findings in a dump of ward_member: {:#?}",
        findings.len(),
        findings.iter().take(200).collect::<Vec<_>>()
    );
    stack.finish().await
}

/// Every item (post, comment, review, claim) the log shows.
fn logged_items(log: &[Value]) -> Result<std::collections::BTreeSet<Uuid>> {
    let mut items = std::collections::BTreeSet::new();
    for event in log {
        let event_type = event["event_type"].as_str().unwrap_or_default();
        let payload = &event["payload"];
        let fields = payload.get(event_type).unwrap_or(payload);
        match event_type {
            "PostCreated" | "ReviewWritten" | "ClaimSubmitted" => {
                items.insert(event["aggregate_id"].as_str().unwrap_or_default().parse()?);
            }
            "CommentAdded" => {
                items.insert(fields["comment_id"].as_str().unwrap_or_default().parse()?);
            }
            _ => {}
        }
    }
    Ok(items)
}

/// (c2) of `docs/privacy.md` against the member read model: a dump of `ward_member` and the
/// author key, but no member id and no live session (ADR 0014). The attacker computes every
/// item's keys from the log (`entry_key`, `aggregate_key`), joins the dump's rows on every
/// value they share, transitively, and opens every sealed payload. No two items end up in one
/// group, and an opened payload holds only values the log shows too. Before ADR 0014 every
/// item's row carried its author's pseudonym (`entries.owner`), which grouped each member's
/// items.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_author_key_the_member_read_model_groups_no_members_items() -> Result {
    use std::collections::{BTreeSet, HashMap};
    let mut stack = Stack::new().await?;
    stack.config.projector.projections = "member".to_owned();
    let api = stack.command_api().await?;
    let projector = stack.projector().await?;
    let commands = Http::new(&api);
    let hospital = register_hospital(&stack, "사병원", "대구", HospitalKind::General).await?;
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let id =
        |answer: Value| -> Result<Uuid> { Ok(answer["id"].as_str().unwrap_or_default().parse()?) };

    // Who wrote what: only the test knows. Four members claim (two verified, one rejected,
    // one left open).
    let mut author: BTreeMap<Uuid, usize> = BTreeMap::new();
    let mut m = Vec::new();
    for member in 0..4 {
        let (_, cookie) = stack.member(&[]).await?;
        let claim = id(commands
            .post(
                &cookie,
                &format!("/api/v1/hospitals/{hospital}/claims"),
                json!({"job_category": "nurse", "tenure": "current"}),
            )
            .await?)?;
        match member {
            0 | 1 => {
                commands
                    .post(
                        &moderator,
                        &format!("/api/v1/claims/{claim}/approval"),
                        json!({}),
                    )
                    .await?;
            }
            2 => {
                commands
                    .post(
                        &moderator,
                        &format!("/api/v1/claims/{claim}/rejection"),
                        json!({"reason": "not_staff"}),
                    )
                    .await?;
            }
            _ => {}
        }
        author.insert(claim, member);
        m.push(cookie);
    }
    let mut write = |member: usize, answer: Value| -> Result<String> {
        let item = id(answer)?;
        author.insert(item, member);
        Ok(item.to_string())
    };
    let post = |board: &str| json!({"board": board, "title": "제목입니다", "body": "본문입니다"});
    let comment = |parent: Option<&str>| json!({"body": "댓글입니다", "parent_id": parent});
    let comments = |post: &str| format!("/api/v1/posts/{post}/comments");
    // Posts: each member one, member 0 a question too, member 1 one more that they delete.
    let mut posts = Vec::new();
    for (member, cookie) in m.iter().enumerate() {
        let answer = commands.post(cookie, "/api/v1/posts", post("free")).await?;
        posts.push(write(member, answer)?);
    }
    let question = write(0, commands.post(&m[0], "/api/v1/posts", post("qna")).await?)?;
    let gone = write(
        1,
        commands.post(&m[1], "/api/v1/posts", post("free")).await?,
    )?;
    commands
        .ok(
            Some(&m[1]),
            Method::DELETE,
            &format!("/api/v1/posts/{gone}"),
            None,
        )
        .await?;
    // Comments: member 1 twice on member 0's post (one handle), member 0 answers as the
    // original poster, member 1 replies to themselves; member 2 answers member 0's question
    // (accepted) and comments on their own post; member 0 comments on member 2's post and
    // member 3 replies to that; member 3 comments on member 1's post and replies to
    // themselves.
    let first = write(
        1,
        commands
            .post(&m[1], &comments(&posts[0]), comment(None))
            .await?,
    )?;
    write(
        1,
        commands
            .post(&m[1], &comments(&posts[0]), comment(None))
            .await?,
    )?;
    write(
        0,
        commands
            .post(&m[0], &comments(&posts[0]), comment(Some(&first)))
            .await?,
    )?;
    write(
        1,
        commands
            .post(&m[1], &comments(&posts[0]), comment(Some(&first)))
            .await?,
    )?;
    let answer = write(
        2,
        commands
            .post(&m[2], &comments(&question), comment(None))
            .await?,
    )?;
    commands
        .ok(
            Some(&m[0]),
            Method::PUT,
            &format!("/api/v1/posts/{question}/accepted-answer"),
            Some(json!({"comment_id": answer})),
        )
        .await?;
    write(
        2,
        commands
            .post(&m[2], &comments(&posts[2]), comment(None))
            .await?,
    )?;
    let on_two = write(
        0,
        commands
            .post(&m[0], &comments(&posts[2]), comment(None))
            .await?,
    )?;
    write(
        3,
        commands
            .post(&m[3], &comments(&posts[2]), comment(Some(&on_two)))
            .await?,
    )?;
    let on_one = write(
        3,
        commands
            .post(&m[3], &comments(&posts[1]), comment(None))
            .await?,
    )?;
    write(
        3,
        commands
            .post(&m[3], &comments(&posts[1]), comment(Some(&on_one)))
            .await?,
    )?;
    // Reviews by the verified members; read marks; member 3 withdraws.
    for member in [0, 1] {
        let answer = commands
            .post(
                &m[member],
                &format!("/api/v1/hospitals/{hospital}/reviews"),
                review("리뷰입니다"),
            )
            .await?;
        write(member, answer)?;
        commands
            .post(&m[member], "/api/v1/me/notifications/read", json!({}))
            .await?;
    }
    commands
        .ok(Some(&m[3]), Method::DELETE, "/api/v1/me", None)
        .await?;

    // The projector caught up: every post, review and claim aggregate at its last sequence,
    // both read marks there.
    let events = stack.events_db().await?;
    let (aggregates, sequences): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(last) AS BIGINT) FROM (SELECT MAX(sequence) AS last \
         FROM events WHERE aggregate_type IN ('post', 'review', 'affiliation') \
         GROUP BY aggregate_type, aggregate_id) a",
    )
    .fetch_one(&events)
    .await?;
    let pool = stack.member_db().await?;
    eventually(WAIT, "the member read model to catch up", || async {
        let (applied, sum): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(version), 0) AS SIGNED) FROM aggregate_versions",
        )
        .fetch_one(&pool)
        .await?;
        let reads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notification_reads")
            .fetch_one(&pool)
            .await?;
        Ok((applied == aggregates && sum == sequences && reads == 2).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    projector.stop().await?;

    // The attacker: every item of the log, and the keys the author key computes for it.
    let key = stack.author_key()?;
    let log = log_events(&stack).await?;
    let items = logged_items(&log)?;
    assert_eq!(
        items,
        author.keys().copied().collect::<BTreeSet<_>>(),
        "the log shows every item"
    );
    let mut item_of: HashMap<String, Uuid> = HashMap::new();
    for item in &items {
        item_of.insert(ward_projector::member::entry_key(&key, *item), *item);
        item_of.insert(ward_projector::member::aggregate_key(&key, *item), *item);
    }

    // Join the dump's rows on every value they share, transitively. Values shorter than 12
    // characters (versions, partitions, offsets) are small numbers that items of every member
    // share; only bookkeeping tables hold any.
    let rows = mysql_rows(&pool).await?;
    let mut short = BTreeSet::new();
    let mut group: Vec<usize> = (0..rows.len()).collect();
    fn root(group: &mut [usize], mut row: usize) -> usize {
        while group[row] != row {
            group[row] = group[group[row]];
            row = group[row];
        }
        row
    }
    let mut first_row: HashMap<&str, usize> = HashMap::new();
    for (row, (table, values)) in rows.iter().enumerate() {
        for (column, value) in values {
            if value.len() < 12 {
                short.insert(format!("{table}.{column}"));
                continue;
            }
            match first_row.get(value.as_str()) {
                Some(&other) => {
                    let (a, b) = (root(&mut group, row), root(&mut group, other));
                    group[a] = b;
                }
                None => {
                    first_row.insert(value, row);
                }
            }
        }
    }
    for column in &short {
        let table = column.split('.').next().unwrap_or_default();
        assert!(
            BOOKKEEPING_TABLES.contains(&table),
            "{column} holds values too short to compare"
        );
    }
    let mut grouped: BTreeMap<usize, BTreeSet<Uuid>> = BTreeMap::new();
    for (row, (_, values)) in rows.iter().enumerate() {
        let found: Vec<Uuid> = values
            .iter()
            .filter_map(|(_, value)| item_of.get(value).copied())
            .collect();
        let at = root(&mut group, row);
        grouped.entry(at).or_default().extend(found);
    }
    let found: BTreeSet<Uuid> = grouped.values().flatten().copied().collect();
    assert!(
        found.len() * 2 > items.len(),
        "the attacker finds the rows of most items: {} of {}",
        found.len(),
        items.len()
    );
    let (mut same, mut different) = (Vec::new(), Vec::new());
    for together in grouped.values().filter(|items| items.len() > 1) {
        let members: BTreeSet<usize> = together.iter().map(|item| author[item]).collect();
        if members.len() < together.len() {
            same.push(format!("{together:?} (members {members:?})"));
        } else {
            different.push(format!("{together:?}"));
        }
    }
    assert!(
        same.is_empty(),
        "rows of ward_member group items of one member: {same:#?}"
    );
    assert!(
        different.is_empty(),
        "rows of ward_member join items: {different:#?}"
    );
    assert_eq!(found, items, "every item has its row, alone");

    // Opened with the author key, an item's, notification's or read mark's payload says only
    // what the log says too: kinds, states, times to the minute, ids, boards, handles,
    // claims' fields.
    let public = public_forms(&stack).await?;
    let (item_key, read_mark_key) = (key.item_key(), key.read_mark_key());
    let (mut opened, mut secrets) = (0, Vec::new());
    for (table, values) in &rows {
        let value = |name: &str| {
            values
                .iter()
                .find(|(column, _)| column == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        let sealed = ward_domain::sealed::Sealed {
            nonce: value("nonce"),
            ciphertext: value("ciphertext"),
        };
        let json = match table.as_str() {
            "items" => item_key.open(
                ward_projector::member::ITEM_SEAL,
                Uuid::nil(),
                &value("item_key"),
                &sealed,
            )?,
            "item_notifications" => item_key.open(
                ward_projector::member::NOTIFICATION_SEAL,
                Uuid::nil(),
                &ward_projector::member::notification_field(
                    &value("item_key"),
                    &value("dedupe_key"),
                ),
                &sealed,
            )?,
            "notification_reads" => read_mark_key.open(
                ward_domain::author::READ_MARK_SEAL,
                Uuid::nil(),
                &value("owner"),
                &sealed,
            )?,
            _ => continue,
        };
        opened += 1;
        let mut scalars_of = Vec::new();
        scalars(&serde_json::from_str(&json)?, &mut scalars_of);
        for scalar in scalars_of {
            if !forms(&scalar).iter().any(|form| public.contains(form)) {
                secrets.push(format!("{table}: {scalar}"));
            }
        }
    }
    assert!(
        opened > items.len(),
        "every item and its notifications open"
    );
    assert!(
        secrets.is_empty(),
        "opened payloads hold values the log does not: {secrets:#?}"
    );
    stack.finish().await
}
