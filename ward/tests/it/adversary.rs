//! The attackers of `docs/privacy.md`, played against the real stack: an employer probing
//! the work-email step, a member with one mailbox and many accounts, and whoever holds a
//! copy of the event store and Redis without the service's secrets (c1). Each test failed on
//! the code before the fix it guards.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use ward_domain::hospital::HospitalKind;
use ward_domain::member::Role;
use ward_platform::config::Limit;

const DOMAIN: &str = "staff.adversary-hospital.test";

/// Asks for a code for `claim` at `address`: status, answer and how long it took.
async fn timed_send_code(
    commands: &Http,
    cookie: &str,
    claim: &str,
    address: &str,
) -> Result<(u16, Value, Duration)> {
    let started = Instant::now();
    let (status, answer) = send_code(commands, cookie, claim, address).await?;
    Ok((status, answer, started.elapsed()))
}

/// A member who verified a claim at `hospital` with `address`.
async fn verify_with(
    stack: &Stack,
    commands: &Http,
    mail: &std::path::Path,
    hospital: Uuid,
    address: &str,
) -> Result<String> {
    let (_, cookie) = stack.member(&[]).await?;
    let claim = claim(commands, &cookie, hospital).await?;
    let (status, answer) = send_code(commands, &cookie, &claim, address).await?;
    anyhow::ensure!(status == 202, "{status} {answer}");
    let code = code_for(mail, address)?;
    let (status, answer) = confirm_code(commands, &cookie, &claim, &code).await?;
    anyhow::ensure!(status == 200, "{status} {answer}");
    Ok(cookie)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// (b) An employer with the staff list asks for codes for colleagues' addresses: the answer
/// must not differ, in status, body or time, between an address that verified a member and
/// one that did not.
#[tokio::test(flavor = "multi_thread")]
async fn asking_for_a_code_tells_nobody_whether_an_address_is_in_use() -> Result {
    let (mut stack, mail) = mailing_stack("adversary-identity-pepper-0123456789").await?;
    stack.config.command_api.rate_limits.email_codes = Limit {
        count: 10_000,
        window_secs: 60,
    };
    let running = stack.command_api().await?;
    let commands = Http::new(&running);
    let hospital = register_hospital_with_domains(
        &stack,
        "탐지병원",
        "서울",
        HospitalKind::General,
        &[DOMAIN],
    )
    .await?;
    let used = format!("member@{DOMAIN}");
    verify_with(&stack, &commands, mail.path(), hospital, &used).await?;

    let (_, employer) = stack.member(&[]).await?;
    let probe = claim(&commands, &employer, hospital).await?;
    let (mut answers, mut times) = (HashMap::new(), HashMap::new());
    for round in 0..25 {
        let unused = format!("colleague{round}@{DOMAIN}");
        for (class, address) in [("used", used.as_str()), ("unused", unused.as_str())] {
            let (status, answer, took) =
                timed_send_code(&commands, &employer, &probe, address).await?;
            answers
                .entry(class)
                .or_insert_with(BTreeSet::new)
                .insert(format!("{status} {answer}"));
            times.entry(class).or_insert_with(Vec::new).push(took);
        }
    }
    assert_eq!(
        answers["used"], answers["unused"],
        "the answers tell a used address from an unused one"
    );
    assert_eq!(answers["used"].len(), 1, "{:?}", answers["used"]);
    let (used, unused) = (
        median(times["used"].clone()),
        median(times["unused"].clone()),
    );
    let gap = used.abs_diff(unused);
    assert!(
        gap <= Duration::from_millis(3).max(used.max(unused) / 2),
        "the median times differ: used {used:?}, unused {unused:?}"
    );
    running.stop().await?;
    stack.finish().await
}

/// One person with one mailbox and several accounts must not verify more than one of them,
/// whichever way they write the address.
#[tokio::test(flavor = "multi_thread")]
async fn one_mailbox_verifies_one_member_however_it_is_written() -> Result {
    let (stack, mail) = mailing_stack("adversary-identity-pepper-0123456789").await?;
    let running = stack.command_api().await?;
    let commands = Http::new(&running);
    let hospital = register_hospital_with_domains(
        &stack,
        "부풀리기병원",
        "부산",
        HospitalKind::General,
        &[DOMAIN],
    )
    .await?;
    verify_with(
        &stack,
        &commands,
        mail.path(),
        hospital,
        &format!("lee@{DOMAIN}"),
    )
    .await?;
    let (_, second) = stack.member(&[]).await?;
    let second_claim = claim(&commands, &second, hospital).await?;
    for written in [
        format!("lee+1@{DOMAIN}"),
        format!("LEE+ward@{}", DOMAIN.to_uppercase()),
        format!("\"lee\"@{DOMAIN}"),
    ] {
        let (status, answer) = send_code(&commands, &second, &second_claim, &written).await?;
        assert_eq!(status, 202, "{written}: {answer}");
        let code = code_for(mail.path(), &written)?;
        let (status, answer) = confirm_code(&commands, &second, &second_claim, &code).await?;
        assert_eq!(
            (status, answer["error"].as_str()),
            (409, Some("email_already_used")),
            "{written} verified a second member"
        );
    }
    running.stop().await?;
    stack.finish().await
}

/// Every value worth comparing in a JSON value: strings (and JSON inside strings) and
/// numbers, at least 12 characters long (shorter ones are kinds, states and small counts
/// that every item shares).
fn tokens(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => {
            if let Ok(inner @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str(text) {
                tokens(&inner, out);
            } else if text.len() >= 12 {
                out.insert(text.clone());
            }
        }
        Value::Number(number) if number.to_string().len() >= 12 => {
            out.insert(number.to_string());
        }
        Value::Array(values) => values.iter().for_each(|v| tokens(v, out)),
        Value::Object(fields) => fields.values().for_each(|v| tokens(v, out)),
        _ => {}
    }
}

/// A row of the dump: where it was, the transaction that wrote it (PostgreSQL's `xmin`), and
/// its values.
struct Row {
    table: String,
    xmin: Option<String>,
    tokens: BTreeSet<String>,
}

impl Row {
    fn new(table: &str, xmin: Option<String>, value: &Value) -> Self {
        let mut found = BTreeSet::new();
        tokens(value, &mut found);
        Self {
            table: table.to_owned(),
            xmin,
            tokens: found,
        }
    }
}

/// Every row of every table of a PostgreSQL database, with its `xmin`.
async fn dump_postgres(db: &sqlx::PgPool, name: &str) -> Result<Vec<Row>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(db)
    .await?;
    let mut rows = Vec::new();
    for table in tables {
        let dumped: Vec<(String, Value)> = sqlx::query_as(&format!(
            "SELECT t.xmin::text, to_jsonb(t) FROM \"{table}\" t"
        ))
        .fetch_all(db)
        .await?;
        let xmin = |x: String| Some(format!("{name}:{x}"));
        rows.extend(
            dumped
                .into_iter()
                .map(|(x, value)| Row::new(&format!("{name}.{table}"), xmin(x), &value)),
        );
    }
    Ok(rows)
}

/// Every row of every table of a MariaDB database, each value as text (binary ones in hex).
async fn dump_mysql(db: &sqlx::MySqlPool, name: &str) -> Result<Vec<Row>> {
    Ok(mysql_rows(db)
        .await?
        .into_iter()
        .map(|(table, cells)| {
            let values: Vec<Value> = cells.into_iter().map(|(_, value)| json!(value)).collect();
            Row::new(&format!("{name}.{table}"), None, &Value::Array(values))
        })
        .collect())
}

/// Every key of the stack's Redis prefix with its value.
async fn dump_redis(stack: &Stack) -> Result<Vec<Row>> {
    let mut redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", stack.config.redis.key_prefix))
        .query_async(&mut redis)
        .await?;
    let mut rows = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut redis).await?;
        let values: Vec<String> = match kind.as_str() {
            "string" => vec![redis::cmd("GET").arg(&key).query_async(&mut redis).await?],
            "set" => {
                redis::cmd("SMEMBERS")
                    .arg(&key)
                    .query_async(&mut redis)
                    .await?
            }
            "hash" => {
                redis::cmd("HGETALL")
                    .arg(&key)
                    .query_async(&mut redis)
                    .await?
            }
            "list" => {
                redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut redis)
                    .await?
            }
            _ => vec![],
        };
        let value = json!({"key": key, "values": values});
        rows.push(Row::new("redis", None, &value));
    }
    Ok(rows)
}

/// (c1) Whoever holds a copy of every store — the event store, the board, hospital and member
/// read models, Redis and the topics — but none of the secrets tries every join: shared
/// values, rows written in one transaction (`xmin`), and the index's columns. Two items of one
/// member must be linked no more often than two items of different members.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_of_every_store_links_no_two_items_of_a_member() -> Result {
    let stack = Stack::new().await?;
    let (running, projector, queries) = stack.start_all().await?;
    let commands = Http::new(&running);
    let hospital = register_hospital(&stack, "덤프병원", "대전", HospitalKind::General).await?;
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let new_post = |cookie: String, title: &'static str| {
        let commands = &commands;
        async move {
            let post = json!({"board": "free", "title": title, "body": "덤프 공격 시험 본문"});
            let id = commands.post(&cookie, "/api/v1/posts", post).await?["id"].clone();
            Ok::<_, anyhow::Error>(id.as_str().unwrap_or_default().to_owned())
        }
    };
    // Four members: each a verified claim, two posts, a review and a comment on the next
    // member's first post; a fifth posts twice and withdraws.
    let mut members = Vec::new();
    for _ in 0..4 {
        let (cookie, claim) =
            insider_with_claim(&stack, &commands, &moderator, hospital, "nurse").await?;
        let mut items = vec![claim.to_string()];
        for title in ["첫 글입니다", "둘째 글입니다"] {
            items.push(new_post(cookie.clone(), title).await?);
        }
        let review = commands
            .post(
                &cookie,
                &format!("/api/v1/hospitals/{hospital}/reviews"),
                review_body("덤프 리뷰"),
            )
            .await?;
        items.push(review["id"].as_str().unwrap_or_default().to_owned());
        members.push((cookie, items));
    }
    for i in 0..members.len() {
        let post = members[(i + 1) % members.len()].1[1].clone();
        let comment = commands
            .post(
                &members[i].0,
                &format!("/api/v1/posts/{post}/comments"),
                json!({"body": "이웃 글에 단 댓글"}),
            )
            .await?;
        members[i]
            .1
            .push(comment["id"].as_str().unwrap_or_default().to_owned());
    }
    let (_, leaver) = stack.member(&[]).await?;
    let mut left = Vec::new();
    for title in ["떠날 사람의 글", "떠날 사람의 둘째 글"] {
        left.push(new_post(leaver.clone(), title).await?);
    }
    commands
        .ok(Some(&leaver), Method::DELETE, "/api/v1/me", None)
        .await?;
    members.push((leaver, left));
    // Every read model has everything.
    let board = stack.board_db().await?;
    eventually(
        Duration::from_secs(20),
        "the board to hold every post",
        || async {
            let posts: i64 = sqlx::query_scalar("SELECT count(*) FROM board_posts")
                .fetch_one(&board)
                .await?;
            Ok((posts == 10).then_some(()))
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for component in [running, projector, queries] {
        component.stop().await?;
    }

    let mut rows = dump_postgres(&stack.events_db().await?, "events").await?;
    rows.extend(dump_postgres(&board, "board").await?);
    rows.extend(dump_mysql(&stack.hospital_db().await?, "hospital").await?);
    rows.extend(dump_mysql(&stack.member_db().await?, "member").await?);
    rows.extend(dump_redis(&stack).await?);
    let log = log_events(&stack).await?;
    rows.extend(log.iter().map(|event| Row::new("log", None, event)));
    for store in ["events.", "board.", "hospital.", "member.", "redis", "log"] {
        assert!(
            rows.iter().any(|r| r.table.starts_with(store)),
            "nothing dumped from {store}"
        );
    }
    // What the attacker can attach to an item: the rows naming it, and every row written in
    // the same transaction as one of those.
    let linked = |item: &str| -> BTreeSet<String> {
        let xmins: BTreeSet<&str> = rows
            .iter()
            .filter(|r| r.tokens.contains(item))
            .filter_map(|r| r.xmin.as_deref())
            .collect();
        rows.iter()
            .filter(|r| {
                r.tokens.contains(item) || r.xmin.as_deref().is_some_and(|x| xmins.contains(x))
            })
            .flat_map(|r| r.tokens.iter().cloned())
            .filter(|t| t != item)
            .collect()
    };
    let items: Vec<(usize, String, BTreeSet<String>)> = members
        .iter()
        .enumerate()
        .flat_map(|(m, (_, items))| items.iter().map(move |i| (m, i.clone())))
        .map(|(m, i)| {
            let tokens = linked(&i);
            (m, i, tokens)
        })
        .collect();
    // Values attached to half the items or more (times, the hospital) tell nothing apart.
    let mut spread: HashMap<&str, usize> = HashMap::new();
    for (_, _, tokens) in &items {
        for token in tokens {
            *spread.entry(token.as_str()).or_default() += 1;
        }
    }
    let telling = |token: &str| spread[token] * 2 < items.len();
    let (mut same, mut other) = ((0, 0), (0, 0));
    for (a, (ma, _, ta)) in items.iter().enumerate() {
        for (mb, _, tb) in &items[a + 1..] {
            let link = ta.intersection(tb).any(|t| telling(t));
            let pair = if ma == mb { &mut same } else { &mut other };
            pair.0 += usize::from(link);
            pair.1 += 1;
        }
    }
    let rate = |(linked, pairs): (usize, usize)| linked as f64 / pairs as f64;
    assert!(
        rate(same) <= rate(other),
        "two items of one member are linked in {}/{} pairs, of different members in {}/{}",
        same.0,
        same.1,
        other.0,
        other.1
    );
    // The member index in particular: no column but its slot and sealed entry, and no value
    // shared between two of its rows (the leaver's entries are gone).
    let index: Vec<&Row> = rows
        .iter()
        .filter(|r| r.table == "events.member_index")
        .collect();
    assert_eq!(index.len(), 4 * 5, "every item of every member is indexed");
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_name = 'member_index' ORDER BY column_name",
    )
    .fetch_all(&stack.events_db().await?)
    .await?;
    assert_eq!(columns, ["ciphertext", "nonce", "slot"]);
    for (i, a) in index.iter().enumerate() {
        for b in &index[i + 1..] {
            assert!(
                a.tokens.is_disjoint(&b.tokens),
                "two index rows share a value"
            );
        }
    }
    stack.finish().await
}

/// (c1) with a copy of Redis: a rate-limit counter's time to live is the same for every
/// member (windows are aligned to the clock), so it does not tell when a member's first
/// command of a window was sent.
#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_counters_do_not_tell_when_a_member_wrote() -> Result {
    let mut stack = Stack::new().await?;
    let window = Limit {
        count: 100,
        window_secs: 3_600,
    };
    stack.config.command_api.rate_limits.posts = window;
    let running = stack.command_api().await?;
    let commands = Http::new(&running);
    for _ in 0..3 {
        let (_, cookie) = stack.member(&[]).await?;
        let post = json!({"board": "free", "title": "창 맞춤 시험", "body": "본문입니다"});
        commands.post(&cookie, "/api/v1/posts", post).await?;
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    let mut redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}rate:*", stack.config.redis.key_prefix))
        .query_async(&mut redis)
        .await?;
    assert_eq!(keys.len(), 3, "one counter per member");
    let now = chrono::Utc::now().timestamp() as u64;
    let aligned = window.window_secs - now % window.window_secs;
    for key in keys {
        let ttl: u64 = redis::cmd("TTL").arg(&key).query_async(&mut redis).await?;
        assert!(
            ttl.abs_diff(aligned) <= 1,
            "a counter lives {ttl} s, not to the window's end in {aligned} s: it dates its first command"
        );
    }
    running.stop().await?;
    stack.finish().await
}

/// (c1) with a copy of Redis beside the log: a session neither names its member nor dates
/// their last request to the second, so it cannot be lined up with the item that request
/// wrote (the log dates every item precisely).
#[tokio::test(flavor = "multi_thread")]
async fn sessions_in_redis_neither_name_nor_date_their_members() -> Result {
    let stack = Stack::new().await?;
    let running = stack.command_api().await?;
    let commands = Http::new(&running);
    let mut members = Vec::new();
    for n in 0..3 {
        let (member, cookie) = stack.member(&[]).await?;
        let post =
            json!({"board": "free", "title": format!("세션 시험 {n}"), "body": "본문입니다"});
        commands.post(&cookie, "/api/v1/posts", post).await?;
        members.push(member);
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    let mut redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}session:*", stack.config.redis.key_prefix))
        .query_async(&mut redis)
        .await?;
    assert_eq!(keys.len(), 3, "one session per member");
    let granule = stack.config.command_api.session_expiry_granule_secs as i64;
    for key in keys {
        let value: String = redis::cmd("GET").arg(&key).query_async(&mut redis).await?;
        for member in &members {
            assert!(
                !value.contains(&member.0.to_string()),
                "a session names its member: {value}"
            );
        }
        let expires: i64 = redis::cmd("EXPIRETIME")
            .arg(&key)
            .query_async(&mut redis)
            .await?;
        assert_eq!(
            expires % granule,
            0,
            "a session expires at {expires}, its last request plus the idle time: it dates the post"
        );
    }
    running.stop().await?;
    stack.finish().await
}

/// Refused commands do not use up a member's budget; commands that had no limit have one.
#[tokio::test(flavor = "multi_thread")]
async fn only_commands_that_succeed_use_up_a_rate_limit() -> Result {
    let stack = Stack::new().await?;
    let running = stack.command_api().await?;
    let commands = Http::new(&running);
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let hospital = register_hospital(&stack, "한도병원", "광주", HospitalKind::General).await?;
    let writer = insider(&stack, &commands, &moderator, hospital, "nurse").await?;
    let reviews = format!("/api/v1/hospitals/{hospital}/reviews");
    // Three refused reviews (the default limit is three a day), then a good one.
    let mut short = review_body("짧은 장점");
    short["pros"] = json!("짧음");
    for _ in 0..3 {
        let (status, answer) = commands
            .send(Some(&writer), Method::POST, &reviews, Some(short.clone()))
            .await?;
        assert_eq!(
            (status, answer["error"].as_str()),
            (422, Some("pros_too_short"))
        );
    }
    let (status, answer) = commands
        .send(
            Some(&writer),
            Method::POST,
            &reviews,
            Some(review_body("제대로 쓴 리뷰")),
        )
        .await?;
    assert_eq!(status, 201, "a refused review used up the budget: {answer}");

    // Claims: five a day by default.
    let (_, claimer) = stack.member(&[]).await?;
    let mut statuses = Vec::new();
    for n in 0..6 {
        let other = register_hospital(
            &stack,
            &format!("청구병원{n}"),
            "광주",
            HospitalKind::General,
        )
        .await?;
        let (status, _) = commands
            .send(
                Some(&claimer),
                Method::POST,
                &format!("/api/v1/hospitals/{other}/claims"),
                Some(json!({"job_category": "nurse", "tenure": "current"})),
            )
            .await?;
        statuses.push(status);
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 429]);

    // Likes and unlikes: sixty per ten minutes by default, so a loop cannot grow a thread's
    // stream without bound.
    let post = commands
        .post(
            &writer,
            "/api/v1/posts",
            json!({"board": "free", "title": "좋아요 시험", "body": "본문"}),
        )
        .await?;
    let like = format!(
        "/api/v1/posts/{}/like",
        post["id"].as_str().unwrap_or_default()
    );
    let (_, liker) = stack.member(&[]).await?;
    let mut last = 0;
    for n in 0..61 {
        let method = if n % 2 == 0 {
            Method::PUT
        } else {
            Method::DELETE
        };
        last = commands.send(Some(&liker), method, &like, None).await?.0;
    }
    assert_eq!(last, 429, "the 61st like or unlike is refused");
    running.stop().await?;
    stack.finish().await
}

/// The state of the post `id` as a reader sees it, and the post.
async fn post_state(queries: &Http, id: &str) -> Result<(String, Value)> {
    let post = queries.get(&format!("/api/v1/posts/{id}")).await?;
    Ok((post["state"].as_str().unwrap_or_default().to_owned(), post))
}

/// (a) A reader crawling before and after a withdrawal: the withdrawn member's items leave
/// together with the other deletions of their epoch, not at the moment of the withdrawal,
/// and look exactly like deleted ones.
#[tokio::test(flavor = "multi_thread")]
async fn a_withdrawal_leaves_with_its_epochs_deletions_and_looks_like_one() -> Result {
    const EPOCH: u64 = 6;
    let mut stack = Stack::new().await?;
    stack.config.projector.removal_epoch_secs = EPOCH;
    let (commands, projector, queries) = stack.start_all().await?;
    let (commands_http, queries_http) = (Http::new(&commands), Http::new(&queries));
    let mut posts = HashMap::new();
    let mut cookies = HashMap::new();
    for (who, titles) in [
        ("leaver", &["떠날 사람의 첫 글", "떠날 사람의 둘째 글"][..]),
        ("deleter", &["지울 사람의 글"][..]),
        ("stayer", &["남을 사람의 글"][..]),
    ] {
        let (_, cookie) = stack.member(&[]).await?;
        for title in titles {
            let post = json!({"board": "free", "title": title, "body": "에포크 시험 본문"});
            let id = commands_http.post(&cookie, "/api/v1/posts", post).await?;
            posts
                .entry(who)
                .or_insert_with(Vec::new)
                .push(id["id"].as_str().unwrap_or_default().to_owned());
        }
        cookies.insert(who, cookie);
    }
    let stayed = posts["stayer"][0].clone();
    let comment = commands_http
        .post(
            &cookies["leaver"],
            &format!("/api/v1/posts/{stayed}/comments"),
            json!({"body": "떠날 사람의 댓글"}),
        )
        .await?;
    let all: Vec<String> = posts.values().flatten().cloned().collect();
    eventually(
        Duration::from_secs(10),
        "every post and the comment on the board",
        || async {
            for id in &all {
                if post_state(&queries_http, id)
                    .await
                    .map(|s| s.0)
                    .ok()
                    .as_deref()
                    != Some("published")
                {
                    return Ok(None);
                }
            }
            let (_, post) = post_state(&queries_http, &stayed).await?;
            Ok((post["comments"].as_array().map_or(0, Vec::len) == 1).then_some(()))
        },
    )
    .await?;

    // Right after an epoch starts, so that both removals fall in the same epoch.
    let epoch_ms = u128::from(EPOCH) * 1000;
    let into_epoch = |now: u128| now % epoch_ms;
    while !(200..600).contains(&into_epoch(chrono::Utc::now().timestamp_millis() as u128)) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let removed_at = Instant::now();
    commands_http
        .ok(Some(&cookies["leaver"]), Method::DELETE, "/api/v1/me", None)
        .await?;
    let deleted = posts["deleter"][0].clone();
    commands_http
        .ok(
            Some(&cookies["deleter"]),
            Method::DELETE,
            &format!("/api/v1/posts/{deleted}"),
            None,
        )
        .await?;
    let gone: Vec<String> = posts["leaver"]
        .iter()
        .chain(&posts["deleter"])
        .cloned()
        .collect();
    // Crawl until something changes; everything must change in the same snapshot.
    let changed = loop {
        let mut states = HashMap::new();
        for id in &all {
            states.insert(id.clone(), post_state(&queries_http, id).await?.0);
        }
        if states.values().any(|s| s != "published") {
            break states;
        }
        assert!(
            removed_at.elapsed() < Duration::from_secs(EPOCH * 3),
            "nothing was removed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        removed_at.elapsed() >= Duration::from_millis(1_500),
        "removed {:?} after the withdrawal: not held back to the epoch's end",
        removed_at.elapsed()
    );
    for id in &gone {
        assert_eq!(
            changed[id], "deleted",
            "{id} left in another snapshot or looks different"
        );
    }
    assert_eq!(changed[&stayed], "published");
    // An erased post and a deleted one answer alike but for their own ids, times and counts.
    let shape = |mut post: Value| {
        for own in ["id", "created_at", "version", "like_count", "comment_count"] {
            post[own] = Value::Null;
        }
        post
    };
    let erased = shape(post_state(&queries_http, &posts["leaver"][0]).await?.1);
    let removed = shape(post_state(&queries_http, &deleted).await?.1);
    assert_eq!(erased, removed);
    let (_, kept) = post_state(&queries_http, &stayed).await?;
    assert_eq!(kept["comments"][0]["id"], comment["id"]);
    assert_eq!(
        kept["comments"][0]["state"], "deleted",
        "an erased comment looks deleted"
    );
    assert_eq!(kept["comment_count"], 0, "and no longer counts");
    for running in [commands, projector, queries] {
        running.stop().await?;
    }
    stack.finish().await
}

/// The write side's verified-member counts follow the claim events in their own
/// transaction, and decide where a badge may place its author: per (hospital, job category),
/// the region only over hospitals that are themselves below K.
#[tokio::test(flavor = "multi_thread")]
async fn badges_are_placed_by_the_counts_per_job_category() -> Result {
    use ward_command_api::labels::{Labels, Place};
    use ward_domain::member::JobCategory;
    let stack = Stack::new().await?;
    let running = stack.command_api().await?;
    let commands = Http::new(&running);
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let big = register_hospital(&stack, "큰병원", "울산", HospitalKind::General).await?;
    let small = register_hospital(&stack, "작은병원", "울산", HospitalKind::General).await?;
    let other = register_hospital(&stack, "옆병원", "울산", HospitalKind::General).await?;
    let mut claims = Vec::new();
    for _ in 0..2 {
        claims.push(
            insider_with_claim(&stack, &commands, &moderator, big, "nurse")
                .await?
                .1,
        );
    }
    insider_with_claim(&stack, &commands, &moderator, big, "pharmacist").await?;
    insider_with_claim(&stack, &commands, &moderator, small, "pharmacist").await?;
    let labels = Labels::new(stack.events_db().await?, 2);
    // Two nurses at the big hospital: it may be named for nurses, not for its one pharmacist.
    assert_eq!(
        labels.place(big, JobCategory::Nurse).await?,
        Place::Hospital
    );
    // Its pharmacist and the small hospital's are two below-K pharmacists of one region.
    let region = Place::Region {
        sido: "울산".to_owned(),
        kind: "general".to_owned(),
    };
    assert_eq!(labels.place(big, JobCategory::Pharmacist).await?, region);
    assert_eq!(labels.place(small, JobCategory::Pharmacist).await?, region);
    // Nobody verified at the third hospital; no doctor anywhere.
    assert_eq!(
        labels.place(other, JobCategory::Pharmacist).await?,
        Place::Nowhere
    );
    assert_eq!(
        labels.place(big, JobCategory::Doctor).await?,
        Place::Nowhere
    );
    let tenure = ward_domain::affiliation::Tenure::Current;
    assert!(labels.label_shown(big, JobCategory::Nurse, tenure).await?);
    assert!(
        !labels
            .label_shown(big, JobCategory::Pharmacist, tenure)
            .await?
    );
    // A revocation counts down in the same transaction as its event.
    commands
        .post(
            &moderator,
            &format!("/api/v1/claims/{}/revocation", claims[0]),
            json!({}),
        )
        .await?;
    assert_eq!(labels.place(big, JobCategory::Nurse).await?, Place::Nowhere);
    assert!(!labels.label_shown(big, JobCategory::Nurse, tenure).await?);
    running.stop().await?;
    stack.finish().await
}

/// Guessing a code with many requests at once: every try takes one of the five attempts
/// before the code is compared, so no more than four wrong codes are ever answered
/// `code_wrong` before the claim locks.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_guesses_share_the_five_attempts() -> Result {
    let (stack, mail) = mailing_stack("adversary-identity-pepper-0123456789").await?;
    let running = stack.command_api().await?;
    let commands = Http::new(&running);
    let hospital = register_hospital_with_domains(
        &stack,
        "추측병원",
        "인천",
        HospitalKind::General,
        &[DOMAIN],
    )
    .await?;
    let (_, guesser) = stack.member(&[]).await?;
    let claim = claim(&commands, &guesser, hospital).await?;
    let address = format!("guesser@{DOMAIN}");
    assert_eq!(
        send_code(&commands, &guesser, &claim, &address).await?.0,
        202
    );
    let code = code_for(mail.path(), &address)?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let guesses = (0..20).map(|_| confirm_code(&commands, &guesser, &claim, wrong));
    let answers = futures::future::try_join_all(guesses).await?;
    let wrong_answers = answers
        .iter()
        .filter(|(_, a)| a["error"] == "code_wrong")
        .count();
    assert!(
        wrong_answers <= 4,
        "{wrong_answers} guesses were compared: {answers:?}"
    );
    // The others were not compared: locked, or their code was gone by then.
    assert!(
        answers
            .iter()
            .all(|(s, a)| [410, 423].contains(s) || a["error"] == "code_wrong"),
        "{answers:?}"
    );
    // Even the right code is refused now.
    assert_eq!(
        confirm_code(&commands, &guesser, &claim, &code).await?.0,
        423
    );
    running.stop().await?;
    stack.finish().await
}

/// Profile changes and edits have limits too (ten an hour, thirty per ten minutes).
#[tokio::test(flavor = "multi_thread")]
async fn profile_changes_and_edits_are_rate_limited() -> Result {
    let stack = Stack::new().await?;
    let running = stack.command_api().await?;
    let commands = Http::new(&running);
    let (_, member) = stack.member(&[]).await?;
    let mut statuses = Vec::new();
    for n in 0..11 {
        let category = if n % 2 == 0 { "doctor" } else { "nurse" };
        let change = json!({"job_category": category});
        let (status, _) = commands
            .send(Some(&member), Method::PATCH, "/api/v1/me", Some(change))
            .await?;
        statuses.push(status);
    }
    assert_eq!(statuses[..10], [200; 10]);
    assert_eq!(statuses[10], 429);
    let post = json!({"board": "free", "title": "고칠 글", "body": "처음 본문"});
    let id = commands.post(&member, "/api/v1/posts", post).await?["id"].clone();
    let path = format!("/api/v1/posts/{}", id.as_str().unwrap_or_default());
    let mut last = 0;
    for n in 0..31 {
        let edit = json!({"title": "고친 글", "body": format!("고친 본문 {n}")});
        last = commands
            .send(Some(&member), Method::PATCH, &path, Some(edit))
            .await?
            .0;
    }
    assert_eq!(last, 429, "the 31st edit in ten minutes is refused");
    running.stop().await?;
    stack.finish().await
}

/// (c2) Whoever holds every store *and* every server secret — the author key and the
/// identity pepper — but no member's cookie and no OAuth subject (a compromised operator, a
/// subpoena; ADR 0014). Everything that groups a member's items is keyed by the member id
/// (author references, derived ids, index slots), so the attacker collects every id the
/// dumps hold or the secrets open, and computes every reference from each: none is a
/// member's, and no reference in any store comes out of them.
#[tokio::test(flavor = "multi_thread")]
async fn every_secret_without_a_cookie_finds_no_member_behind_any_item() -> Result {
    use ward_command_api::app::store;
    use ward_command_api::members;
    use ward_command_api::pepper::Peppers;
    use ward_domain::member::{JobCategory, MemberId};
    use ward_platform::session::{Session, SessionStore};

    let stack = Stack::new().await?;
    let (running, projector, queries) = stack.start_all().await?;
    let commands = Http::new(&running);
    let hospital = register_hospital(&stack, "운영자병원", "광주", HospitalKind::General).await?;
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let events = stack.events_db().await?;
    let key = stack.author_key()?;
    let pepper = b"the operator's identity pepper, 32 bytes or more";
    let redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    let sessions = SessionStore::new(redis, &stack.config);
    // Three members sign in as the OAuth callback does (identity rows, sealed sessions),
    // claim, post, review and comment on each other's posts.
    let (mut members, mut posts) = (Vec::new(), Vec::new());
    for subject in ["3000000001", "3000000002", "3000000003"] {
        let (member, identity) = members::sign_in(
            &events,
            &store(events.clone()),
            &key,
            &Peppers::new(pepper, None),
            "kakao",
            subject,
            JobCategory::Nurse,
        )
        .await?;
        let cookie = sessions
            .create(&Session::signed_in(member, identity))
            .await?;
        let claim = json!({"job_category": "nurse", "tenure": "current"});
        let path = format!("/api/v1/hospitals/{hospital}/claims");
        let claim = commands.post(&cookie, &path, claim).await?;
        let approval = format!(
            "/api/v1/claims/{}/approval",
            claim["id"].as_str().unwrap_or_default()
        );
        commands.post(&moderator, &approval, json!({})).await?;
        let post = json!({"board": "free", "title": "운영자 시험 글", "body": "본문입니다"});
        posts.push(commands.post(&cookie, "/api/v1/posts", post).await?["id"].clone());
        let review = format!("/api/v1/hospitals/{hospital}/reviews");
        commands
            .post(&cookie, &review, review_body("운영자 리뷰"))
            .await?;
        members.push((member, cookie));
    }
    for (i, (_, cookie)) in members.iter().enumerate() {
        let post = posts[(i + 1) % posts.len()]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let comment = json!({"body": "이웃 글에 단 댓글"});
        commands
            .post(cookie, &format!("/api/v1/posts/{post}/comments"), comment)
            .await?;
    }
    let board = stack.board_db().await?;
    eventually(
        Duration::from_secs(20),
        "the board to hold every post",
        || async {
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM board_comments")
                .fetch_one(&board)
                .await?;
            Ok((count == 3).then_some(()))
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for component in [running, projector, queries] {
        component.stop().await?;
    }

    let mut rows = dump_postgres(&events, "events").await?;
    rows.extend(dump_postgres(&board, "board").await?);
    rows.extend(dump_mysql(&stack.hospital_db().await?, "hospital").await?);
    rows.extend(dump_mysql(&stack.member_db().await?, "member").await?);
    rows.extend(dump_redis(&stack).await?);
    rows.extend(
        log_events(&stack)
            .await?
            .iter()
            .map(|e| Row::new("log", None, e)),
    );
    let values: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.tokens.iter().map(String::as_str))
        .collect();
    // Every id in the clear, and every member id a sealed author record opens to.
    let mut ids: BTreeSet<Uuid> = values
        .iter()
        .filter_map(|v| Uuid::parse_str(v).ok())
        .collect();
    let authors: Option<String> = sqlx::query_scalar("SELECT to_regclass('item_authors')::text")
        .fetch_one(&events)
        .await?;
    if authors.is_some() {
        let sealed: Vec<(String, String, String, String)> =
            sqlx::query_as("SELECT item_type, item_id, nonce, ciphertext FROM item_authors")
                .fetch_all(&events)
                .await?;
        for (kind, item, nonce, ciphertext) in sealed {
            let sealed = ward_domain::sealed::Sealed { nonce, ciphertext };
            // The key `AuthorKey::item_author_key` derived while that table existed.
            let opened = key.index_key(MemberId(Uuid::nil())).open(
                &kind,
                Uuid::parse_str(&item)?,
                "author",
                &sealed,
            )?;
            ids.insert(Uuid::parse_str(&opened)?);
        }
    }
    for (member, _) in &members {
        assert!(
            !ids.contains(&member.0),
            "the stores give away member {member}"
        );
    }
    // The attack: every reference any of those ids could have made, on any item or scope.
    let kinds = [
        "post",
        "review",
        "thread",
        "like",
        "helpful",
        "report",
        "affiliation",
        "member",
    ];
    let scopes: Vec<Uuid> = ids.iter().copied().chain([Uuid::nil()]).collect();
    for candidate in &ids {
        for kind in kinds {
            for scope in &scopes {
                let reference = key.author_ref(kind, *scope, MemberId(*candidate)).0;
                assert!(
                    !values.contains(reference.as_str()),
                    "{candidate} made the {kind} reference on {scope}: a member found"
                );
            }
        }
    }
    stack.finish().await
}
