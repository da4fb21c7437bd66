//! The web pages and forms over plain HTTP: post/redirect/get with the version to wait for,
//! one post per form however often it is submitted, errors as pages (or JSON for the page
//! script) with the API's status and code, escaping, languages, headers, compression, the
//! 404 page and the assets' caching. The browser flows are in `web_e2e.rs`.

use std::time::Duration;

use crate::support::*;
use reqwest::header::{
    ACCEPT_ENCODING, ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, COOKIE,
    LOCATION,
};
use reqwest::redirect::Policy;

fn browser() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(Policy::none())
        .build()?)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_post_redirects_to_the_post_which_shows_it_at_once_and_escaped() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let token = stack.session().await?;
    let client = browser()?;
    let key = uuid::Uuid::new_v4().to_string();
    let form = [
        ("board", "free"),
        ("title", "<script>alert('제목')</script>"),
        ("body", "본문 & <b>굵게</b>"),
        ("badge", ""),
        ("idempotency_key", key.as_str()),
    ];
    let submit = || {
        client
            .post(commands.url("/posts"))
            .header(COOKIE, format!("ward_session={token}"))
            .form(&form)
            .send()
    };
    let first = submit().await?;
    anyhow::ensure!(first.status() == 303, "{}", first.status());
    let location = first
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        regex::Regex::new(r"^/posts/[0-9a-f-]{36}\?v=post:[0-9a-f-]{36}:1$")?.is_match(&location),
        "{location}"
    );
    // The same form again (a double click): the same post, not a second one.
    let second = submit().await?;
    anyhow::ensure!(second.headers().get(LOCATION) == first.headers().get(LOCATION));

    // The page waits for the version in `v`, so the author sees the post straight away.
    let page = client
        .get(queries.url(&location))
        .header(COOKIE, format!("ward_session={token}"))
        .send()
        .await?;
    anyhow::ensure!(page.status() == 200);
    anyhow::ensure!(page
        .headers()
        .get(CACHE_CONTROL)
        .is_some_and(|v| v == "private, no-store"));
    let html = page.text().await?;
    anyhow::ensure!(!html.contains("<script>alert"), "unescaped title");
    anyhow::ensure!(
        html.contains("&#60;script&#62;alert(&#39;제목&#39;)&#60;/script&#62;"),
        "{html}"
    );
    anyhow::ensure!(html.contains("본문 &#38; &#60;b&#62;굵게&#60;/b&#62;"));
    // Its author may edit and delete it.
    anyhow::ensure!(html.contains("/edit\"") && html.contains("/delete\""));
    let board = client
        .get(queries.url("/boards/free"))
        .send()
        .await?
        .text()
        .await?;
    anyhow::ensure!(
        board.matches("class=\"item\"").count() == 1,
        "one post listed: {board}"
    );

    // My page's sign-out form ends the session and goes home with the cookie cleared.
    let me = client
        .get(queries.url("/me"))
        .header(COOKIE, format!("ward_session={token}"))
        .send()
        .await?
        .text()
        .await?;
    anyhow::ensure!(me.contains("action=\"/signout\""), "{me}");
    let out = client
        .post(commands.url("/signout"))
        .header(COOKIE, format!("ward_session={token}"))
        .form(&[("go", "")])
        .send()
        .await?;
    anyhow::ensure!(out.status() == 303);
    anyhow::ensure!(out.headers().get(LOCATION).is_some_and(|v| v == "/"));
    anyhow::ensure!(out
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("ward_session=;")));
    let gone = client
        .get(queries.url("/me"))
        .header(COOKIE, format!("ward_session={token}"))
        .send()
        .await?;
    anyhow::ensure!(gone.status() == 401);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn form_errors_are_pages_with_the_api_status_and_code_or_json_for_the_page_script() -> Result
{
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let client = browser()?;

    // A visitor: 401, as a page in Korean.
    let page = client
        .post(commands.url("/posts"))
        .form(&[("board", "free"), ("title", "t"), ("body", "b")])
        .send()
        .await?;
    anyhow::ensure!(page.status() == 401);
    anyhow::ensure!(page
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.to_str().is_ok_and(|v| v.starts_with("text/html"))));
    let html = page.text().await?;
    anyhow::ensure!(html.contains("unauthenticated") && html.contains("로그인이 필요합니다"));

    // A member breaking a rule: 422 with the rule's code; the page script gets JSON in English.
    let token = stack.session().await?;
    let inline = client
        .post(commands.url("/posts"))
        .header(COOKIE, format!("ward_session={token}"))
        .header("ward-inline", "1")
        .header(ACCEPT_LANGUAGE, "en")
        .form(&[
            ("board", "free"),
            ("title", "전화"),
            ("body", "010-1234-5678 로 연락"),
        ])
        .send()
        .await?;
    anyhow::ensure!(inline.status() == 422);
    let answer: serde_json::Value = inline.json().await?;
    anyhow::ensure!(answer["error"] == "personal_data", "{answer}");
    anyhow::ensure!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("personal data")),
        "{answer}"
    );
    // Nothing was written.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let board = Http::new(&queries).get("/api/v1/boards/free/posts").await?;
    anyhow::ensure!(
        board["posts"].as_array().is_some_and(Vec::is_empty),
        "{board}"
    );

    // An unknown board is the API's own refusal, shown as a page.
    let unknown = client
        .post(commands.url("/posts"))
        .header(COOKIE, format!("ward_session={token}"))
        .form(&[("board", "nope"), ("title", "제목"), ("body", "내용")])
        .send()
        .await?;
    anyhow::ensure!(unknown.status() == 422);
    anyhow::ensure!(unknown.text().await?.contains("board_unknown"));
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_speak_korean_or_english_send_safe_headers_compress_and_cache_assets() -> Result {
    let stack = Stack::new().await?;
    let queries = stack.query_api().await?;
    let client = browser()?;

    let korean = client.get(queries.url("/")).send().await?;
    let headers = korean.headers().clone();
    let csp = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    anyhow::ensure!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    anyhow::ensure!(headers
        .get("referrer-policy")
        .is_some_and(|v| v == "same-origin"));
    anyhow::ensure!(headers.get(CACHE_CONTROL).is_some_and(|v| v == "no-cache"));
    let html = korean.text().await?;
    anyhow::ensure!(html.contains("<html lang=\"ko\">") && html.contains("자유게시판"));

    let english = client
        .get(queries.url("/boards/qna"))
        .header(ACCEPT_LANGUAGE, "en-GB,en;q=0.9")
        .send()
        .await?
        .text()
        .await?;
    anyhow::ensure!(english.contains("<html lang=\"en\">") && english.contains("Sign in to post"));
    // The language link's choice outlives Accept-Language.
    let switched = client
        .get(queries.url("/lang/ko?back=%2Fboards%2Fqna"))
        .send()
        .await?;
    anyhow::ensure!(switched.status() == 303);
    anyhow::ensure!(switched
        .headers()
        .get(LOCATION)
        .is_some_and(|v| v == "/boards/qna"));
    let chosen = client
        .get(queries.url("/boards/qna"))
        .header(ACCEPT_LANGUAGE, "en")
        .header(COOKIE, "ward_lang=ko")
        .send()
        .await?
        .text()
        .await?;
    anyhow::ensure!(chosen.contains("<html lang=\"ko\">"));
    // Never back to another site.
    let away = client
        .get(queries.url("/lang/en?back=//evil.example"))
        .send()
        .await?;
    anyhow::ensure!(away.headers().get(LOCATION).is_some_and(|v| v == "/"));

    // HTML is compressed for clients that accept it.
    let gzip = client
        .get(queries.url("/privacy"))
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await?;
    anyhow::ensure!(gzip
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v == "gzip"));

    // Assets are named by their content and cached for a year; old names are gone.
    let stylesheet = regex::Regex::new(r#"href="(/assets/ward\.[0-9a-f]{12}\.css)""#)?
        .captures(&html)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_owned())
        .ok_or_else(|| anyhow::anyhow!("no stylesheet link"))?;
    let css = client.get(queries.url(&stylesheet)).send().await?;
    anyhow::ensure!(css.status() == 200);
    anyhow::ensure!(css
        .headers()
        .get(CACHE_CONTROL)
        .is_some_and(|v| v == "public, max-age=31536000, immutable"));
    let stale = client
        .get(queries.url("/assets/ward.000000000000.css"))
        .send()
        .await?;
    anyhow::ensure!(stale.status() == 404);

    // A page that does not exist is a 404 page; an API path that does not exist stays JSON.
    let missing = client.get(queries.url("/no/such/page")).send().await?;
    anyhow::ensure!(missing.status() == 404);
    anyhow::ensure!(missing.text().await?.contains("route_not_found"));
    let api = client.get(queries.url("/api/v1/nothing")).send().await?;
    anyhow::ensure!(api.status() == 404);
    let body: serde_json::Value = api.json().await?;
    anyhow::ensure!(body["error"] == "route_not_found");

    // Member pages need a session: a visitor gets the 401 page, not somebody's data.
    let me = client.get(queries.url("/me")).send().await?;
    anyhow::ensure!(me.status() == 401);
    stack.finish().await
}

/// The board's lookups in the query cache so far, from the query API's metrics.
async fn board_lookups(client: &reqwest::Client, queries: &Running) -> Result<u64> {
    let metrics = client
        .get(queries.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(metrics
        .lines()
        .filter(|line| {
            line.starts_with("ward_query_cache_lookups_total{")
                && line.contains("service=\"board\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitors_page_is_kept_in_the_process_until_a_projection_changes_it() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let client = browser()?;
    let page = |lang: &'static str| {
        let request = client
            .get(queries.url("/boards/free"))
            .header(ACCEPT_LANGUAGE, lang);
        async move { Result::Ok(request.send().await?.text().await?) }
    };
    let first = page("ko").await?;
    anyhow::ensure!(!first.contains("class=\"item\""), "an empty board: {first}");
    // The same page again: from the process, without asking the board's cache.
    let before = board_lookups(&client, &queries).await?;
    anyhow::ensure!(page("ko").await? == first);
    anyhow::ensure!(
        board_lookups(&client, &queries).await? == before,
        "kept, not rendered"
    );
    // Another language is another page.
    let english = page("en").await?;
    anyhow::ensure!(
        english != first && english.contains("lang=\"en\""),
        "{english}"
    );

    // A new post: once projected, the kept page is stale and visitors see the post.
    let token = stack.session().await?;
    Http::new(&commands)
        .post(
            &token,
            "/api/v1/posts",
            serde_json::json!({"board": "free", "title": "새 글", "body": "본문"}),
        )
        .await?;
    eventually(
        Duration::from_secs(10),
        "the post on the visitor's page",
        || async { Ok(page("ko").await?.contains("새 글").then_some(())) },
    )
    .await?;
    // A member never gets a visitor's page.
    let member = client
        .get(queries.url("/boards/free"))
        .header(COOKIE, format!("ward_session={token}"))
        .send()
        .await?
        .text()
        .await?;
    anyhow::ensure!(member.contains("href=\"/me\""), "{member}");
    anyhow::ensure!(!page("ko").await?.contains("href=\"/me\""));
    stack.finish().await
}
