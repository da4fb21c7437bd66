//! The board read model through the query API: badges under k-anonymity, threads with
//! handles and accepted answers, hot and top orders, Korean search, moderation state and
//! its public log, the cache with ETags, and read-your-writes.

use std::time::Duration;

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use ward_domain::hospital::HospitalKind;
use ward_domain::member::Role;

/// Posts `title` on `board` as `cookie` with `badge`; its id and version.
async fn post(
    commands: &Http,
    cookie: &str,
    board: &str,
    title: &str,
    badge: Option<Value>,
) -> Result<(String, i64)> {
    let mut body = json!({"board": board, "title": title, "body": format!("{title}의 본문입니다")});
    if let Some(badge) = badge {
        body["badge"] = badge;
    }
    let answer = commands.post(cookie, "/api/v1/posts", body).await?;
    Ok(id_and_version(&answer))
}

/// Waits until the query API shows post `id` at `version` or later; the post.
async fn shown(queries: &Http, id: &str, version: i64) -> Result<Value> {
    eventually(
        Duration::from_secs(10),
        "the post in the read model",
        || async {
            let (status, post) = queries
                .send(None, Method::GET, &format!("/api/v1/posts/{id}"), None)
                .await?;
            Ok((status == 200 && post["version"].as_i64() >= Some(version)).then_some(post))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn badges_name_a_hospital_only_from_k_verified_members_on() -> Result {
    let mut stack = Stack::new().await?;
    stack.config.query_api.k_anonymity = 2;
    let (commands, _projector, queries) = stack.start_all().await?;
    let (commands, queries) = (Http::new(&commands), Http::new(&queries));
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let small = register_hospital(&stack, "작은숲병원", "제주", HospitalKind::Hospital).await?;
    let big = register_hospital(&stack, "큰바다병원", "부산", HospitalKind::General).await?;
    let neighbour = register_hospital(&stack, "옆동네병원", "부산", HospitalKind::General).await?;

    // One verified nurse at the small hospital: below K for the hospital and for 제주 · hospital.
    let nurse = insider(&stack, &commands, &moderator, small, "nurse").await?;
    let badge = json!({"hospital_id": small});
    let (lonely, v) = post(
        &commands,
        &nurse,
        "free",
        "혼자 쓰는 글",
        Some(badge.clone()),
    )
    .await?;
    let shown_post = shown(&queries, &lonely, v).await?;
    assert_eq!(
        shown_post["badge"],
        json!({"job_category": "nurse", "hospital": null, "region": null})
    );

    // Someone claiming a hospital they are not verified at is refused.
    let outsider = stack.session().await?;
    let (status, refused) = commands
        .send(
            Some(&outsider),
            Method::POST,
            "/api/v1/posts",
            Some(json!({"board": "free", "title": "t", "body": "b", "badge": badge})),
        )
        .await?;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("not_insider"))
    );

    // One verified doctor at each of two 부산 general hospitals: the region reaches K for
    // doctors, neither hospital does. (A nurse there would not count: K is per job category.)
    let doctor = insider(&stack, &commands, &moderator, big, "doctor").await?;
    insider(&stack, &commands, &moderator, neighbour, "doctor").await?;
    let (regional, v) = post(
        &commands,
        &doctor,
        "qna",
        "지역 표시 글",
        Some(json!({"hospital_id": big})),
    )
    .await?;
    // Decided when written, from the counts of the write side: no waiting for the claims'
    // own topic.
    let expected = json!({"job_category": "doctor", "hospital": null, "region": {"sido": "부산", "kind": "general"}});
    assert_eq!(shown(&queries, &regional, v).await?["badge"], expected);

    // A job-category-only badge shows the member's own job category (the test harness
    // registers members as nurses), and no badge at all.
    let (job_only, v) = post(&commands, &doctor, "free", "직종만", Some(json!({}))).await?;
    assert_eq!(
        shown(&queries, &job_only, v).await?["badge"],
        json!({"job_category": "nurse", "hospital": null, "region": null})
    );
    let (bare, v) = post(&commands, &doctor, "free", "배지 없음", None).await?;
    assert_eq!(shown(&queries, &bare, v).await?["badge"], Value::Null);

    // Below K, no answer anywhere carries the hospitals' names.
    for path in [
        "/api/v1/boards/free/posts".to_owned(),
        "/api/v1/boards/qna/posts".to_owned(),
        format!("/api/v1/posts/{lonely}"),
        format!("/api/v1/posts/{regional}"),
        format!("/api/v1/posts?q={}", urlencode("본문")),
    ] {
        let text = queries.get(&path).await?.to_string();
        for name in ["작은숲병원", "큰바다병원", "옆동네병원"] {
            assert!(!text.contains(name), "{path} names {name}: {text}");
        }
    }

    // A second verified doctor at the big hospital brings it to K for doctors: a new post
    // names it, and the earlier one stays as it was written.
    insider(&stack, &commands, &moderator, big, "doctor").await?;
    let (named, v) = post(
        &commands,
        &doctor,
        "qna",
        "이름 표시 글",
        Some(json!({"hospital_id": big})),
    )
    .await?;
    assert_eq!(
        shown(&queries, &named, v).await?["badge"]["hospital"],
        json!({"id": big, "name": "큰바다병원"})
    );
    assert_eq!(
        queries.get(&format!("/api/v1/posts/{regional}")).await?["badge"],
        expected
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn threads_show_handles_replies_counts_and_the_accepted_answer() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let (commands, queries) = (Http::new(&commands), Http::new(&queries));
    let asker = stack.session().await?;
    let (question, _) = post(&commands, &asker, "qna", "야간 근무 질문", None).await?;
    let first = stack.session().await?;
    let second = stack.session().await?;
    let comments = format!("/api/v1/posts/{question}/comments");
    let answer = commands
        .post(&first, &comments, json!({"body": "첫 번째 답"}))
        .await?;
    let answer_id = answer["id"].as_str().unwrap_or_default().to_owned();
    commands
        .post(
            &asker,
            &comments,
            json!({"body": "고맙습니다", "parent_id": answer_id}),
        )
        .await?;
    let doomed = commands
        .post(&second, &comments, json!({"body": "지울 댓글"}))
        .await?;
    let doomed_id = doomed["id"].as_str().unwrap_or_default();
    commands
        .ok(
            Some(&second),
            Method::DELETE,
            &format!("{comments}/{doomed_id}"),
            None,
        )
        .await?;
    commands
        .ok(
            Some(&first),
            Method::PUT,
            &format!("/api/v1/posts/{question}/like"),
            None,
        )
        .await?;
    commands
        .ok(
            Some(&second),
            Method::PUT,
            &format!("/api/v1/posts/{question}/like"),
            None,
        )
        .await?;
    let accepted = commands
        .ok(
            Some(&asker),
            Method::PUT,
            &format!("/api/v1/posts/{question}/accepted-answer"),
            Some(json!({"comment_id": answer_id})),
        )
        .await?;
    let version = accepted["version"].as_i64().unwrap_or_default();

    let thread = shown(&queries, &question, version).await?;
    assert_eq!(thread["like_count"], 2);
    assert_eq!(
        thread["comment_count"], 2,
        "the deleted comment is not counted"
    );
    assert_eq!(thread["accepted_comment_id"], json!(answer_id));
    let top = thread["comments"].as_array().cloned().unwrap_or_default();
    assert_eq!(top.len(), 2, "{thread}");
    assert_eq!(top[0]["handle"], json!({"anonymous": 1}));
    assert_eq!(top[0]["body"], "첫 번째 답");
    assert_eq!(top[0]["accepted"], true);
    assert_eq!(top[0]["replies"][0]["handle"], "original_poster");
    assert_eq!(top[0]["replies"][0]["body"], "고맙습니다");
    assert_eq!(top[1]["handle"], json!({"anonymous": 2}));
    assert_eq!(
        (top[1]["state"].as_str(), &top[1]["body"]),
        (Some("deleted"), &Value::Null)
    );
    for time in [&thread["created_at"], &top[0]["created_at"]] {
        assert!(
            time.as_str().is_some_and(|t| t.ends_with(":00Z")),
            "{time} is not to the minute"
        );
    }

    let listed = queries.get("/api/v1/boards/qna/posts").await?;
    assert_eq!(listed["posts"][0]["answered"], true);
    assert_eq!(listed["posts"][0]["comment_count"], 2);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_and_top_orders_page_without_gaps_and_search_finds_korean_substrings() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let (commands, queries) = (Http::new(&commands), Http::new(&queries));
    let author = stack.session().await?;
    let titles = [
        "세브란스 신규 간호사",
        "야간 근무표",
        "주차 문제",
        "식당 메뉴",
        "교육 일정",
    ];
    let mut ids = Vec::new();
    let mut versions = Vec::new();
    for title in titles {
        let (id, version) = post(&commands, &author, "free", title, None).await?;
        ids.push(id);
        versions.push(version);
    }
    // Likes: 3 on the third post, 1 on the fifth.
    for (post_index, likes) in [(2, 3), (4, 1)] {
        for _ in 0..likes {
            let liker = stack.session().await?;
            let answer = commands
                .ok(
                    Some(&liker),
                    Method::PUT,
                    &format!("/api/v1/posts/{}/like", ids[post_index]),
                    None,
                )
                .await?;
            versions[post_index] = answer["version"].as_i64().unwrap_or_default();
        }
    }
    // Each post on its partition: wait for every one of them.
    for (id, version) in ids.iter().zip(&versions) {
        shown(&queries, id, *version).await?;
    }

    let walk = |sort: &'static str| {
        let queries = &queries;
        async move {
            let mut seen: Vec<Value> = Vec::new();
            let mut cursor = String::new();
            loop {
                let page = queries
                    .get(&format!(
                        "/api/v1/boards/free/posts?sort={sort}&limit=2{cursor}"
                    ))
                    .await?;
                seen.extend(page["posts"].as_array().cloned().unwrap_or_default());
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = format!("&cursor={next}"),
                    None => return Ok::<_, anyhow::Error>(seen),
                }
            }
        }
    };
    let top = walk("top").await?;
    let top_ids: Vec<&str> = top.iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(top_ids.len(), 5, "each post once: {top_ids:?}");
    assert_eq!(
        &top_ids[..2],
        &[ids[2].as_str(), ids[4].as_str()],
        "most liked first"
    );
    let hot = walk("hot").await?;
    let hot_ids: Vec<&str> = hot.iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(hot_ids.len(), 5, "each post once: {hot_ids:?}");
    // Written within moments of each other, the liked posts are the hottest.
    assert_eq!(&hot_ids[..2], &[ids[2].as_str(), ids[4].as_str()]);

    // A two-syllable Korean substring finds the post; so does a word inside the body.
    for (q, expected) in [("브란", &ids[0]), ("근무", &ids[1]), ("메뉴의 본", &ids[3])] {
        let found = queries
            .get(&format!("/api/v1/posts?q={}", urlencode(q)))
            .await?;
        let found: Vec<&str> = found["posts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["id"].as_str())
            .collect();
        assert_eq!(found, vec![expected.as_str()], "searching {q}");
    }
    let wildcard = queries.get("/api/v1/posts?q=%25%25").await?;
    assert_eq!(
        wildcard["posts"],
        json!([]),
        "% is a character, not a wildcard"
    );

    for (path, status, code) in [
        ("/api/v1/posts?q=a", 422, "search_text_length"),
        // PostgreSQL's text cannot hold NUL: refused, not failed (found by api_fuzz).
        (
            "/api/v1/posts?q=%EC%84%9C%00%EC%9A%B8",
            422,
            "search_text_invalid",
        ),
        ("/api/v1/posts", 422, "search_text_length"),
        ("/api/v1/boards/free/posts?sort=best", 422, "sort_unknown"),
        ("/api/v1/boards/nope/posts", 404, "board_not_found"),
        (
            "/api/v1/boards/free/posts?sort=hot&cursor=bm9wZQ",
            400,
            "cursor_invalid",
        ),
        (
            "/api/v1/moderation/log?limit=101",
            422,
            "limit_out_of_range",
        ),
    ] {
        let (got, answer) = queries.send(None, Method::GET, path, None).await?;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(code)),
            "{path}"
        );
    }
    // A cursor of one order is not one of another.
    let page = queries
        .get("/api/v1/boards/free/posts?sort=new&limit=1")
        .await?;
    let new_cursor = page["next_cursor"].as_str().unwrap_or_default();
    let (got, _) = queries
        .send(
            None,
            Method::GET,
            &format!("/api/v1/boards/free/posts?sort=top&cursor={new_cursor}"),
            None,
        )
        .await?;
    assert_eq!(got, 400);
    stack.finish().await
}

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn hidden_posts_leave_the_board_and_the_public_log_says_so() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let (commands, queries) = (Http::new(&commands), Http::new(&queries));
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let author = stack.session().await?;
    let (id, v) = post(&commands, &author, "free", "숨겨질 글", None).await?;
    shown(&queries, &id, v).await?;
    commands
        .post(
            &moderator,
            &format!("/api/v1/moderation/post/{id}/hide"),
            json!({"reason": "abuse", "note": "운영 원칙 위반"}),
        )
        .await?;
    let hidden = eventually(Duration::from_secs(10), "the post hidden", || async {
        let post = queries.get(&format!("/api/v1/posts/{id}")).await?;
        Ok((post["state"] == "hidden").then_some(post))
    })
    .await?;
    assert_eq!(
        (&hidden["title"], &hidden["body"]),
        (&Value::Null, &Value::Null)
    );
    let board = queries.get("/api/v1/boards/free/posts").await?;
    assert_eq!(board["posts"], json!([]));
    let log = queries.get("/api/v1/moderation/log").await?;
    let entry = &log["entries"][0];
    assert_eq!(entry["target_id"], json!(id));
    assert_eq!(entry["action"], "hidden");
    assert_eq!(entry["cause"], "moderator");
    assert_eq!(entry["reason"], "abuse");
    assert_eq!(entry["note"], "운영 원칙 위반");
    assert!(
        !log.to_string().contains(&moderator),
        "the log names nobody"
    );

    commands
        .post(
            &moderator,
            &format!("/api/v1/moderation/post/{id}/restore"),
            json!({"note": "검토 결과 문제 없음"}),
        )
        .await?;
    eventually(Duration::from_secs(10), "the post back", || async {
        let board = queries.get("/api/v1/boards/free/posts").await?;
        Ok((board["posts"][0]["id"] == json!(id)).then_some(()))
    })
    .await?;
    let log = queries.get("/api/v1/moderation/log").await?;
    assert_eq!(log["entries"][0]["action"], "restored");
    assert_eq!(log["entries"].as_array().map(Vec::len), Some(2));
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn cached_answers_are_fresh_after_each_commit_and_revalidate_with_etags() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let api = Http::new(&commands);
    let author = stack.session().await?;
    let (first, v) = post(&api, &author, "free", "첫 글", None).await?;
    shown(&Http::new(&queries), &first, v).await?;
    let client = reqwest::Client::new();
    let board = queries.url("/api/v1/boards/free/posts");

    // Read-your-writes: the author's first read after the command waits for its version
    // (only signed-in members are kept waiting: `adversary_reader.rs`).
    let (second, v2) = post(&api, &author, "free", "둘째 글", None).await?;
    let response = client
        .get(&board)
        .header("ward-min-version", format!("post:{second}:{v2}"))
        .header("cookie", format!("ward_session={author}"))
        .send()
        .await?;
    assert_eq!(response.headers()["ward-consistency"], "consistent");
    let listed: Value = response.json().await?;
    assert_eq!(
        listed["posts"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );

    // A cached answer, revalidated by its ETag.
    let response = client.get(&board).send().await?;
    let etag = response.headers()["etag"].clone();
    assert_eq!(response.headers()["cache-control"], "public, no-cache");
    let cached: Value = response.json().await?;
    let again = client
        .get(&board)
        .header("if-none-match", etag.clone())
        .send()
        .await?;
    assert_eq!(again.status(), 304);

    // A new post: the next plain read sees it (the projector invalidated the cache), and the
    // old ETag no longer matches.
    let (third, v3) = post(&api, &author, "free", "셋째 글", None).await?;
    let fresh = eventually(Duration::from_secs(10), "the third post", || async {
        let response = client
            .get(&board)
            .header("if-none-match", etag.clone())
            .send()
            .await?;
        if response.status() == 304 {
            return Ok(None);
        }
        let page: Value = response.json().await?;
        Ok((page["posts"].as_array().map(Vec::len) == Some(3)).then_some(page))
    })
    .await?;
    assert_ne!(fresh, cached);
    assert!(fresh.to_string().contains(&third), "v{v3}");

    // Waiting for a version that never comes answers stale after 2 s.
    let response = client
        .get(&board)
        .header("ward-min-version", format!("post:{third}:99"))
        .header("cookie", format!("ward_session={author}"))
        .send()
        .await?;
    assert_eq!(response.headers()["ward-consistency"], "stale");
    let (status, answer) = Http::new(&queries)
        .send(None, Method::GET, "/api/v1/boards/free/posts", None)
        .await?;
    assert_eq!(status, 200, "{answer}");
    let malformed = client
        .get(&board)
        .header("ward-min-version", "post-3")
        .send()
        .await?;
    assert_eq!(malformed.status(), 400);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_withdrawal_erases_the_members_posts_and_comments_in_the_board() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let (commands, queries) = (Http::new(&commands), Http::new(&queries));
    let leaving = stack.session().await?;
    let staying = stack.session().await?;
    let (theirs, theirs_version) =
        post(&commands, &leaving, "free", "떠날 사람의 글", None).await?;
    let (mine, _) = post(&commands, &staying, "free", "남을 사람의 글", None).await?;
    let answer = commands
        .post(
            &leaving,
            &format!("/api/v1/posts/{mine}/comments"),
            json!({"body": "떠날 사람의 댓글"}),
        )
        .await?;
    let v = answer["version"].as_i64().unwrap_or_default();
    shown(&queries, &mine, v).await?;
    // The two posts may sit in different partitions: wait for both before the withdrawal.
    shown(&queries, &theirs, theirs_version).await?;
    commands
        .ok(Some(&leaving), Method::DELETE, "/api/v1/me", None)
        .await?;
    // Erased exactly as a deletion removes (docs/privacy.md).
    let erased = eventually(Duration::from_secs(10), "the post erased", || async {
        let post = queries.get(&format!("/api/v1/posts/{theirs}")).await?;
        Ok((post["state"] == "deleted").then_some(post))
    })
    .await?;
    assert_eq!(erased["title"], Value::Null);
    let thread = queries.get(&format!("/api/v1/posts/{mine}")).await?;
    assert_eq!(thread["state"], "published");
    assert_eq!(thread["comments"][0]["state"], "deleted");
    assert_eq!(thread["comments"][0]["body"], Value::Null);
    let board = queries.get("/api/v1/boards/free/posts").await?;
    assert!(!board.to_string().contains("떠날 사람"), "{board}");
    stack.finish().await
}
