//! The member read model end to end: commands over HTTP, the member projector and the query
//! API's `member` service. A member sees their own posts, comments, reviews, claims and
//! notifications and nobody else's; nobody is notified of their own action; marking read,
//! withdrawal and redelivery work; and a dump of the whole `ward_member` database names no
//! member, no item, no hospital and no job category in the clear. The projector never learns
//! who wrote anything (ADR 0014): a member's pages find their items through the private
//! member index, read with the member id of their own session.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use ward_domain::hospital::HospitalKind;
use ward_domain::member::{MemberId, Role};

const WAIT: Duration = Duration::from_secs(30);

/// The command and query APIs and the projector of one stack, running the member read
/// model only.
struct World {
    stack: Stack,
    http: reqwest::Client,
    commands: Running,
    queries: Running,
    projector: Option<Running>,
}

impl World {
    async fn new() -> Result<Self> {
        let mut stack = Stack::new().await?;
        stack.config.projector.projections = "member".to_owned();
        stack.config.query_api.services = "member".to_owned();
        Ok(Self {
            http: reqwest::Client::new(),
            commands: stack.command_api().await?,
            queries: stack.query_api().await?,
            projector: Some(stack.projector().await?),
            stack,
        })
    }

    /// Sends a command as `cookie`; insists on a 2xx answer and returns its body.
    async fn command(
        &self,
        cookie: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        Http::new(&self.commands)
            .ok(Some(cookie), method, path, body)
            .await
    }

    /// A command answer's `id`.
    async fn create(&self, cookie: &str, path: &str, body: Value) -> Result<String> {
        let answer = self.command(cookie, Method::POST, path, Some(body)).await?;
        Ok(answer["id"].as_str().unwrap_or_default().to_owned())
    }

    async fn post(&self, cookie: &str, board: &str) -> Result<String> {
        let body = json!({"board": board, "title": "제목입니다", "body": "본문입니다"});
        self.create(cookie, "/api/v1/posts", body).await
    }

    async fn comment(&self, cookie: &str, post: &str, parent: Option<&str>) -> Result<String> {
        let body = json!({"body": "댓글입니다", "parent_id": parent});
        self.create(cookie, &format!("/api/v1/posts/{post}/comments"), body)
            .await
    }

    async fn claim(&self, cookie: &str, hospital: Uuid, job_category: &str) -> Result<String> {
        let body = json!({"job_category": job_category, "tenure": "current"});
        self.create(
            cookie,
            &format!("/api/v1/hospitals/{hospital}/claims"),
            body,
        )
        .await
    }

    /// A query as `cookie` (none: anonymous) with extra headers: status, headers, body.
    async fn query(
        &self,
        cookie: Option<&str>,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(u16, reqwest::header::HeaderMap, Value)> {
        let mut request = self.http.get(self.queries.url(path));
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("ward_session={cookie}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        Ok((
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        ))
    }

    /// A member's page, insisting on 200.
    async fn page(&self, cookie: &str, path: &str) -> Result<Value> {
        let (status, _, body) = self.query(Some(cookie), path, &[]).await?;
        anyhow::ensure!(status == 200, "{path}: {status} {body}");
        Ok(body)
    }

    /// Waits until `check` holds for the member's page at `path`; returns the page.
    async fn page_until(
        &self,
        cookie: &str,
        path: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        eventually(WAIT, what, || async {
            let page = self.page(cookie, path).await?;
            Ok(check(&page).then_some(page))
        })
        .await
    }

    /// Every page a member can see.
    async fn everything(&self, cookie: &str) -> Result<Value> {
        Ok(json!({
            "activity": self.page(cookie, "/api/v1/me/activity?limit=100").await?,
            "affiliations": self.page(cookie, "/api/v1/me/affiliations").await?,
            "notifications": self.page(cookie, "/api/v1/me/notifications?limit=100").await?,
        }))
    }
}

fn review() -> Value {
    json!({
        "ratings": {"overall": 4, "work_environment": 3, "pay_benefits": 2, "management": 3,
                    "care_quality": 5, "work_life_balance": 2},
        "title": "배울 점이 많은 병원",
        "pros": "교육 체계가 잘 갖춰져 있고 선배들이 친절합니다.",
        "cons": "인력이 부족해서 야간 근무가 너무 힘듭니다.",
        "would_recommend": true
    })
}

/// `(kind, id)` of every item of an activity page.
fn items(page: &Value) -> BTreeSet<(String, String)> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            (
                item["kind"].as_str().unwrap_or_default().to_owned(),
                item["id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// `(kind, the comment or claim it is about)` of every notification of a page.
fn notices(page: &Value) -> BTreeSet<(String, String)> {
    page["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let about = n["comment_id"].as_str().or(n["claim_id"].as_str());
            (
                n["kind"].as_str().unwrap_or_default().to_owned(),
                about.unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn set<A: AsRef<str>>(pairs: &[(&str, A)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), b.as_ref().to_owned()))
        .collect()
}

/// Every value of every column of every table of the member database, as text.
async fn dump(stack: &Stack) -> Result<String> {
    let pool = stack.member_db().await?;
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(data_type AS CHAR) \
         FROM information_schema.columns WHERE table_schema = DATABASE()",
    )
    .fetch_all(&pool)
    .await?;
    let mut dump = String::new();
    for (table, column, data_type) in columns {
        let value = if data_type.contains("blob") || data_type.contains("binary") {
            format!("LOWER(HEX(`{column}`))")
        } else {
            format!("CAST(`{column}` AS CHAR)")
        };
        let values: Vec<Option<String>> =
            sqlx::query_scalar(&format!("SELECT {value} FROM `{table}`"))
                .fetch_all(&pool)
                .await?;
        for value in values.into_iter().flatten() {
            dump.push_str(&value);
            dump.push('\n');
        }
    }
    Ok(dump)
}

/// How many rows anyone holding `member`'s id (and the author key) reaches: their entries
/// in the write side's member index, the rows and notifications of the items those name,
/// and their read mark.
async fn rows_of(stack: &Stack, member: MemberId) -> Result<i64> {
    let key = stack.author_key()?;
    let mut events = stack.events_db().await?.acquire().await?;
    let entries = ward_platform::member_index::entries(&mut events, &key, member, false).await?;
    let pool = stack.member_db().await?;
    let mut rows = i64::try_from(entries.len())?;
    for entry in &entries {
        let item_key = ward_projector::member::entry_key(&key, entry.item_id);
        for table in ["items", "item_notifications"] {
            let count: i64 =
                sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE item_key = ?"))
                    .bind(&item_key)
                    .fetch_one(&pool)
                    .await?;
            rows += count;
        }
    }
    let reads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notification_reads WHERE owner = ?")
        .bind(key.member_ref(member).0)
        .fetch_one(&pool)
        .await?;
    Ok(rows + reads)
}

#[tokio::test(flavor = "multi_thread")]
async fn members_see_their_own_items_and_notifications_and_nothing_leaks() -> Result {
    let mut world = World::new().await?;
    let stack = &world.stack;
    let hospital = register_hospital(stack, "다병원", "서울", HospitalKind::General).await?;
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let (alice_id, alice) = stack.member(&[]).await?;
    let (bob_id, bob) = stack.member(&[]).await?;
    let (carol_id, carol) = stack.member(&[]).await?;
    let w = &world;

    // Alice: a post, a question, a post she deletes, a comment on her own post (no
    // notification for her), a verified claim and a review.
    let post = w.post(&alice, "free").await?;
    let question = w.post(&alice, "qna").await?;
    let deleted = w.post(&alice, "free").await?;
    w.command(
        &alice,
        Method::DELETE,
        &format!("/api/v1/posts/{deleted}"),
        None,
    )
    .await?;
    let own_comment = w.comment(&alice, &post, None).await?;
    let alice_claim = w.claim(&alice, hospital, "pharmacist").await?;
    w.command(
        &moderator,
        Method::POST,
        &format!("/api/v1/claims/{alice_claim}/approval"),
        None,
    )
    .await?;
    let review = w
        .create(
            &alice,
            &format!("/api/v1/hospitals/{hospital}/reviews"),
            review(),
        )
        .await?;

    // Bob: a comment on Alice's post, an answer to her question (accepted), a claim that is
    // rejected, and a reply to his own comment (no notification for him).
    let bob_comment = w.comment(&bob, &post, None).await?;
    let bob_answer = w.comment(&bob, &question, None).await?;
    let bob_claim = w.claim(&bob, hospital, "medical_technician").await?;
    w.command(
        &moderator,
        Method::POST,
        &format!("/api/v1/claims/{bob_claim}/rejection"),
        Some(json!({"reason": "not_staff"})),
    )
    .await?;
    let bob_reply = w.comment(&bob, &post, Some(&bob_comment)).await?;
    // Carol replies to Bob's comment on Alice's post: Bob gets a reply, Alice a comment.
    let carol_reply = w.comment(&carol, &post, Some(&bob_comment)).await?;
    // Alice answers Bob's comment as the original poster: Bob gets a reply, Alice nothing.
    // Carol replies to Alice's own comment: Alice gets a reply (and not a comment as well).
    let op_reply = w.comment(&alice, &post, Some(&bob_comment)).await?;
    let carol_on_op = w.comment(&carol, &post, Some(&own_comment)).await?;
    w.command(
        &alice,
        Method::PUT,
        &format!("/api/v1/posts/{question}/accepted-answer"),
        Some(json!({"comment_id": bob_answer})),
    )
    .await?;

    // Activity: each member's own items and nobody else's.
    let alice_activity = w
        .page_until(&alice, "/api/v1/me/activity", "Alice's activity", |page| {
            items(page).len() == 6
        })
        .await?;
    assert_eq!(
        items(&alice_activity),
        set(&[
            ("post", &post),
            ("post", &question),
            ("post", &deleted),
            ("comment", &own_comment),
            ("comment", &op_reply),
            ("review", &review),
        ])
    );
    let find = |page: &Value, id: &str| {
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|item| item["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(find(&alice_activity, &deleted)["state"], "deleted");
    assert_eq!(find(&alice_activity, &post)["state"], "published");
    assert_eq!(find(&alice_activity, &question)["board"], "qna");
    assert_eq!(
        find(&alice_activity, &own_comment)["post_id"],
        post.as_str()
    );
    assert_eq!(
        find(&alice_activity, &review)["hospital_id"],
        hospital.to_string()
    );
    let created_at = find(&alice_activity, &post)["created_at"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        created_at.ends_with(":00Z"),
        "times are rounded to the minute: {created_at}"
    );
    // Newest first (to the minute; within one, in the order the projector applied them).
    let posts = w.page(&alice, "/api/v1/me/activity?kind=post").await?;
    assert_eq!(
        items(&posts),
        set(&[("post", &post), ("post", &question), ("post", &deleted)])
    );
    let times: Vec<&str> = posts["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["created_at"].as_str())
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "{times:?}");

    // Pages of two cover everything once.
    let mut paged = BTreeSet::new();
    let mut path = "/api/v1/me/activity?limit=2".to_owned();
    loop {
        let page = w.page(&alice, &path).await?;
        assert!(page["items"].as_array().map_or(0, Vec::len) <= 2);
        paged.extend(items(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/me/activity?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, items(&alice_activity));

    let bob_activity = w
        .page_until(&bob, "/api/v1/me/activity", "Bob's activity", |page| {
            items(page).len() == 3
        })
        .await?;
    assert_eq!(
        items(&bob_activity),
        set(&[
            ("comment", &bob_comment),
            ("comment", &bob_answer),
            ("comment", &bob_reply)
        ])
    );
    let carol_activity = w
        .page_until(&carol, "/api/v1/me/activity", "Carol's activity", |page| {
            items(page).len() == 2
        })
        .await?;
    assert_eq!(
        items(&carol_activity),
        set(&[("comment", &carol_reply), ("comment", &carol_on_op)])
    );
    assert_eq!(
        items(&w.page(&moderator, "/api/v1/me/activity").await?),
        BTreeSet::new()
    );

    // Affiliations.
    let alice_claims = w
        .page_until(&alice, "/api/v1/me/affiliations", "Alice's claim", |page| {
            page["affiliations"][0]["state"] == "verified"
        })
        .await?;
    let claim = &alice_claims["affiliations"][0];
    assert_eq!(
        alice_claims["affiliations"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(claim["id"], alice_claim.as_str());
    assert_eq!(claim["hospital_id"], hospital.to_string());
    assert_eq!(claim["job_category"], "pharmacist");
    assert_eq!(claim["tenure"], "current");
    assert_eq!(claim["method"], "moderator");
    assert!(claim["submitted_at"].is_string() && claim["decided_at"].is_string());
    let bob_claims = w
        .page_until(&bob, "/api/v1/me/affiliations", "Bob's claim", |page| {
            page["affiliations"][0]["state"] == "rejected"
        })
        .await?;
    assert_eq!(bob_claims["affiliations"][0]["id"], bob_claim.as_str());
    assert_eq!(bob_claims["affiliations"][0]["reason"], "not_staff");
    assert_eq!(
        w.page(&carol, "/api/v1/me/affiliations").await?["affiliations"],
        json!([])
    );

    // Notifications: to the right member, never to the actor.
    let alice_expected = set(&[
        ("comment", &bob_comment),
        ("answer", &bob_answer),
        ("comment", &bob_reply),
        ("comment", &carol_reply),
        ("reply", &carol_on_op),
        ("claim_verified", &alice_claim),
    ]);
    let alice_notices = w
        .page_until(
            &alice,
            "/api/v1/me/notifications",
            "Alice's notifications",
            |page| notices(page) == alice_expected,
        )
        .await?;
    assert_eq!(alice_notices["unread_count"], 6);
    let bob_expected = set(&[
        ("reply", &carol_reply),
        ("reply", &op_reply),
        ("accepted", &bob_answer),
        ("claim_rejected", &bob_claim),
    ]);
    let bob_notices = w
        .page_until(
            &bob,
            "/api/v1/me/notifications",
            "Bob's notifications",
            |page| notices(page) == bob_expected,
        )
        .await?;
    let rejected = bob_notices["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["kind"] == "claim_rejected")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(rejected["reason"], "not_staff");
    assert_eq!(rejected["hospital_id"], hospital.to_string());
    for cookie in [&carol, &moderator] {
        let page = w.page(cookie, "/api/v1/me/notifications").await?;
        assert_eq!(page["notifications"], json!([]), "nothing for them");
        assert_eq!(page["unread_count"], 0);
    }

    // Marking read: nothing older than the first notification changes anything; now marks
    // everything read; an earlier time afterwards records nothing.
    let mark = |cookie: String, body: Option<Value>| async move {
        w.command(&cookie, Method::POST, "/api/v1/me/notifications/read", body)
            .await
    };
    let first = mark(
        alice.clone(),
        Some(json!({"up_to": "2001-01-01T00:00:00Z"})),
    )
    .await?;
    let now = mark(alice.clone(), None).await?;
    assert!(now["version"].as_i64() > first["version"].as_i64());
    let again = mark(
        alice.clone(),
        Some(json!({"up_to": "2002-01-01T00:00:00Z"})),
    )
    .await?;
    assert_eq!(
        again["version"], now["version"],
        "an earlier mark records nothing"
    );
    let read = w
        .page_until(
            &alice,
            "/api/v1/me/notifications",
            "the read mark",
            |page| page["unread_count"] == 0,
        )
        .await?;
    assert!(read["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|n| n["read"] == true));
    assert_eq!(
        w.page(&alice, "/api/v1/me/notifications?unread=true")
            .await?["notifications"],
        json!([])
    );
    let bob_unread = w.page(&bob, "/api/v1/me/notifications?unread=true").await?;
    assert_eq!(bob_unread["unread_count"], 4, "Bob's marks are his own");
    assert_eq!(notices(&bob_unread), bob_expected);
    // Bob keeps a read mark too (one that marks nothing read), for his withdrawal to remove.
    mark(bob.clone(), Some(json!({"up_to": "2001-01-01T00:00:00Z"}))).await?;
    let bob_owner = stack.author_key()?.member_ref(bob_id).0;
    eventually(WAIT, "Bob's read mark", || async {
        let marks: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM notification_reads WHERE owner = ?")
                .bind(&bob_owner)
                .fetch_one(&stack.member_db().await?)
                .await?;
        Ok((marks == 1).then_some(()))
    })
    .await?;

    // The dump: a leaked `ward_member` names no member, item, hospital or job category.
    let dump = dump(stack).await?;
    let mut secrets = vec![hospital];
    for id in [
        &post,
        &question,
        &deleted,
        &own_comment,
        &alice_claim,
        &review,
        &bob_comment,
        &bob_answer,
        &bob_claim,
        &bob_reply,
        &carol_reply,
        &op_reply,
        &carol_on_op,
    ] {
        secrets.push(id.parse()?);
    }
    for member in [alice_id, bob_id, carol_id] {
        secrets.push(member.0);
    }
    for secret in &secrets {
        for form in [secret.hyphenated().to_string(), secret.simple().to_string()] {
            assert!(!dump.contains(&form), "the member database shows {form}");
        }
    }
    // Long enough, or with `_`, never to turn up by chance in base64 ciphertexts.
    for category in ["pharmacist", "medical_technician", "not_staff"] {
        assert!(
            !dump.contains(category),
            "the member database shows {category}"
        );
    }
    // Kinds and states are sealed too (ADR 0006, "Revised"); the dump holds the read marks'
    // owners and sealed rows.
    let alice_owner = stack.author_key()?.member_ref(alice_id).0;
    assert!(
        dump.contains(&alice_owner) && dump.lines().count() > 20,
        "the dump is real"
    );

    // Withdrawal removes Bob's read mark and his index entries, so nothing leads to the rows
    // of his items any more (they name nobody and stay); nobody else's.
    let alice_rows = rows_of(stack, alice_id).await?;
    assert!(rows_of(stack, bob_id).await? > 0);
    w.command(&bob, Method::DELETE, "/api/v1/me", None).await?;
    eventually(WAIT, "Bob's rows to go", || async {
        Ok((rows_of(stack, bob_id).await? == 0).then_some(()))
    })
    .await?;
    assert_eq!(rows_of(stack, alice_id).await?, alice_rows);
    // And Bob's sessions ended with it: his pages are closed to that cookie.
    let (status, _, _) = w.query(Some(&bob), "/api/v1/me/activity", &[]).await?;
    assert_eq!(status, 401);
    let before = [
        w.everything(&alice).await?,
        w.everything(&carol).await?,
        w.everything(&moderator).await?,
    ];

    // Redelivery: forget the offsets and the applied versions, replay the whole log; nothing
    // changes, and Bob's rows do not come back.
    let pool = stack.member_db().await?;
    let offsets: i64 =
        sqlx::query_scalar("SELECT CAST(SUM(next_offset) AS SIGNED) FROM projector_offsets")
            .fetch_one(&pool)
            .await?;
    let rows_before = table_sizes(&pool).await?;
    if let Some(projector) = world.projector.take() {
        projector.stop().await?;
    }
    sqlx::query("DELETE FROM projector_offsets")
        .execute(&pool)
        .await?;
    sqlx::query("DELETE FROM aggregate_versions")
        .execute(&pool)
        .await?;
    world.projector = Some(world.stack.projector().await?);
    let w = &world;
    eventually(WAIT, "the replay", || async {
        let replayed: Option<i64> =
            sqlx::query_scalar("SELECT CAST(SUM(next_offset) AS SIGNED) FROM projector_offsets")
                .fetch_one(&pool)
                .await?;
        Ok((replayed == Some(offsets)).then_some(()))
    })
    .await?;
    assert_eq!(table_sizes(&pool).await?, rows_before);
    let after = [
        w.everything(&alice).await?,
        w.everything(&carol).await?,
        w.everything(&moderator).await?,
    ];
    assert_eq!(after, before);
    assert_eq!(rows_of(&world.stack, bob_id).await?, 0);
    world.stack.finish().await
}

/// Row counts of the member tables.
async fn table_sizes(pool: &sqlx::MySqlPool) -> Result<Vec<i64>> {
    let mut sizes = Vec::new();
    for table in [
        "items",
        "item_notifications",
        "notification_reads",
        "aggregate_versions",
        "projector_rejects",
    ] {
        sizes.push(
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(pool)
                .await?,
        );
    }
    Ok(sizes)
}

#[tokio::test(flavor = "multi_thread")]
async fn member_pages_need_a_session_are_private_and_wait_for_a_version() -> Result {
    let world = World::new().await?;
    let w = &world;
    let (_, alice) = w.stack.member(&[]).await?;

    for path in [
        "/api/v1/me/activity",
        "/api/v1/me/affiliations",
        "/api/v1/me/notifications",
    ] {
        let (status, _, body) = w.query(None, path, &[]).await?;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("unauthenticated"))
        );
        let (status, _, body) = w.query(Some("no-such-session"), path, &[]).await?;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("unauthenticated"))
        );
        let (status, headers, _) = w.query(Some(&alice), path, &[]).await?;
        assert_eq!(status, 200);
        assert_eq!(
            headers.get("cache-control").and_then(|v| v.to_str().ok()),
            Some("private, no-store")
        );
        let (status, _, body) = w
            .query(Some(&alice), path, &[("ward-min-version", "member:me:1")])
            .await?;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("min_version_kind_unknown"))
        );
    }
    for (path, status, code) in [
        ("/api/v1/me/activity?kind=claim", 422, "kind_unknown"),
        ("/api/v1/me/activity?limit=0", 422, "limit_out_of_range"),
        ("/api/v1/me/activity?limit=101", 422, "limit_out_of_range"),
        ("/api/v1/me/activity?cursor=nonsense", 400, "cursor_invalid"),
        (
            "/api/v1/me/notifications?unread=maybe",
            400,
            "invalid_query",
        ),
        ("/api/v1/me/notifications?colour=red", 400, "invalid_query"),
    ] {
        let (got, _, body) = w.query(Some(&alice), path, &[]).await?;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{path}"
        );
    }

    // Read-your-writes: the post's version token makes the page wait for it.
    let answer = w
        .command(
            &alice,
            Method::POST,
            "/api/v1/posts",
            Some(json!({"board": "free", "title": "제목입니다", "body": "본문입니다"})),
        )
        .await?;
    let token = format!(
        "post:{}:{}",
        answer["id"].as_str().unwrap_or_default(),
        answer["version"]
    );
    let (status, headers, page) = w
        .query(
            Some(&alice),
            "/api/v1/me/activity",
            &[("ward-min-version", token.as_str())],
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(
        headers
            .get("ward-consistency")
            .and_then(|v| v.to_str().ok()),
        Some("consistent")
    );
    assert_eq!(page["items"][0]["id"], answer["id"]);

    // The command: a malformed time is refused; a visitor is not a member.
    let response = w
        .http
        .post(w.commands.url("/api/v1/me/notifications/read"))
        .header("cookie", format!("ward_session={alice}"))
        .json(&json!({"up_to": "yesterday"}))
        .send()
        .await?;
    assert_eq!(response.status(), 422);
    let response = w
        .http
        .post(w.commands.url("/api/v1/me/notifications/read"))
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    world.stack.finish().await
}
