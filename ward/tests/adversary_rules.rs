//! Rules that an attacker with an ordinary account (or a moderator's role, or a copy of a
//! read model, or the analyst's replay) must not get around, played against the real stack:
//! new unverified accounts cannot hide items by reporting them, a moderator cannot verify
//! their own claim, a review follows its author's standing at the hospital, the member read
//! model keeps no aggregate sequence in a member's rows, and the replay never opens a badge's
//! hospital.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use support::*;
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

/// Tables of the member database with an `owner` column, and their integer columns.
async fn per_owner_tables(pool: &sqlx::MySqlPool) -> Result<BTreeMap<String, Vec<String>>> {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(data_type AS CHAR) \
         FROM information_schema.columns WHERE table_schema = DATABASE() \
         AND table_name IN (SELECT table_name FROM information_schema.columns \
                            WHERE table_schema = DATABASE() AND column_name = 'owner')",
    )
    .fetch_all(pool)
    .await?;
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (table, column, data_type) in columns {
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
        let entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM entries")
            .fetch_one(&pool)
            .await?;
        let read: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notification_reads")
            .fetch_one(&pool)
            .await?;
        Ok((entries == expected_entries && read == 3).then_some(()))
    })
    .await?;

    // The schema: only `aggregate_versions` (no owner) keeps a sequence.
    let tables = per_owner_tables(&pool).await?;
    for table in ["entries", "notifications", "notification_reads"] {
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

    // The values: no integer column of a member's rows agrees with the log's sequences.
    let key = stack.author_key()?;
    let by_entry_key: BTreeMap<String, i64> = items
        .iter()
        .map(|(item, version)| (ward_projector::member::entry_key(&key, *item), *version))
        .collect();
    for (table, integers) in &tables {
        let expected = |row: &(String, String)| match table.as_str() {
            "entries" => by_entry_key.get(&row.0).copied(),
            "notification_reads" => reads.get(&row.1).copied(),
            _ => None,
        };
        for column in integers {
            let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
                "SELECT CAST({id} AS CHAR), owner, CAST(`{column}` AS SIGNED) FROM `{table}`",
                id = if table == "entries" {
                    "entry_key"
                } else {
                    "owner"
                },
            ))
            .fetch_all(&pool)
            .await?;
            let known: Vec<(i64, i64)> = rows
                .into_iter()
                .filter_map(|(id, owner, value)| {
                    expected(&(id, owner)).map(|version| (value, version))
                })
                .collect();
            if table == "entries" {
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

/// The opaque columns a member's row may show in the clear: whose it is (the pseudonym),
/// the keyed hashes that find it, and its sealed payload.
const OPAQUE_COLUMNS: &[&str] = &["owner", "entry_key", "dedupe_key", "nonce", "ciphertext"];

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

    // The schema: a member's rows hold only opaque columns, and nothing counts insertions.
    let pool = stack.member_db().await?;
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(extra AS CHAR) \
         FROM information_schema.columns WHERE table_schema = DATABASE()",
    )
    .fetch_all(&pool)
    .await?;
    let owned: std::collections::BTreeSet<&str> = columns
        .iter()
        .filter(|(_, column, _)| column == "owner")
        .map(|(table, _, _)| table.as_str())
        .collect();
    for table in ["entries", "notifications", "notification_reads"] {
        assert!(owned.contains(table), "{owned:?}");
    }
    // What the attacker finds; every finding is a way to group a member's items.
    let mut findings = Vec::new();
    for (table, column, extra) in &columns {
        if extra.to_lowercase().contains("auto_increment") {
            findings.push(format!("{table}.{column} numbers rows in insertion order"));
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
        assert!(
            *table == "withdrawn_owners" || rows > 0,
            "{table} holds rows to check"
        );
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
