//! Sign-in over HTTP, as a browser does it: Kakao Login against a local stub that answers
//! with Kakao's documented shapes (Kakao cannot be reached from here), sessions that rotate,
//! expire and end, and cross-site requests refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use sha2::{Digest, Sha256};
use ward_platform::config::KakaoConfig;

const CLIENT_ID: &str = "kakao-rest-api-key";
const CLIENT_SECRET: &str = "kakao-client-secret";
/// The Kakao user the stub signs in, with the personal data Kakao would also send.
const KAKAO_ID: i64 = 4_242_424_242;
const NICKNAME: &str = "홍길동";
const EMAIL: &str = "gildong.hong@example.com";

/// Codes the stub handed out: code -> (PKCE challenge, redirect URI).
type Codes = Arc<Mutex<HashMap<String, (String, String)>>>;

/// A stand-in for Kakao's authorize, token and user-info endpoints.
async fn kakao_stub() -> Result<(String, tokio::task::JoinHandle<()>)> {
    let codes = Codes::default();
    let app = Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .route("/v2/user/me", get(user))
        .with_state(codes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, server))
}

/// Kakao shows its login page; the stub has the user signed in at once.
async fn authorize(
    State(codes): State<Codes>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| query.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID || get("response_type") != "code" {
        return (StatusCode::BAD_REQUEST, "KOE101").into_response();
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        return (StatusCode::BAD_REQUEST, "PKCE required").into_response();
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    let redirect = get("redirect_uri");
    codes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(code.clone(), (get("code_challenge"), redirect.clone()));
    let state = get("state");
    Redirect::to(&format!("{redirect}?code={code}&state={state}")).into_response()
}

/// Kakao's token endpoint: form in, JSON out (`token_type` is `bearer`).
async fn token(State(codes): State<Codes>, Form(form): Form<HashMap<String, String>>) -> Response {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let refuse = |error: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": error, "error_code": "KOE320"})),
        )
            .into_response()
    };
    if get("grant_type") != "authorization_code"
        || get("client_id") != CLIENT_ID
        || get("client_secret") != CLIENT_SECRET
    {
        return refuse("bad client");
    }
    // A code works once.
    let Some((challenge, redirect)) = codes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&get("code"))
    else {
        return refuse("authorization code not found");
    };
    let verified = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(get("code_verifier").as_bytes()));
    if verified != challenge || redirect != get("redirect_uri") {
        return refuse("PKCE verification failed");
    }
    Json(json!({
        "token_type": "bearer",
        "access_token": format!("access-{}", get("code")),
        "expires_in": 21599,
        "refresh_token": "refresh",
        "refresh_token_expires_in": 5183999,
    }))
    .into_response()
}

/// Kakao's user info: the id, and personal data Ward must neither ask for nor keep.
async fn user(headers: HeaderMap) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !bearer.starts_with("Bearer access-") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"code": -401}))).into_response();
    }
    Json(json!({
        "id": KAKAO_ID,
        "connected_at": "2026-11-27T10:00:00Z",
        "properties": {"nickname": NICKNAME},
        "kakao_account": {"email": EMAIL, "profile": {"nickname": NICKNAME}},
    }))
    .into_response()
}

/// A browser without automatic redirects, whose cookies the test carries by hand.
fn browser() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// The value of cookie `name` set by `response`, if it sets one.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A stack whose command API signs in with Kakao at the stub.
async fn kakao_stack(
    configure: impl FnOnce(&mut Stack),
) -> Result<(Stack, Running, tokio::task::JoinHandle<()>)> {
    let mut stack = Stack::new().await?;
    let (stub, server) = kakao_stub().await?;
    // The command API's port must be known for the redirect URL: bind it first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    stack.config.command_api.listen = format!("127.0.0.1:{port}");
    stack.config.command_api.secure_cookies = false;
    stack.config.command_api.identity_pepper = Some("test-identity-pepper-0123456789abcdef".into());
    stack.config.command_api.auth.kakao = Some(KakaoConfig {
        client_id: CLIENT_ID.to_owned(),
        client_secret: CLIENT_SECRET.into(),
        redirect_url: format!("http://127.0.0.1:{port}/auth/kakao/callback"),
        authorize_url: format!("{stub}/oauth/authorize"),
        token_url: format!("{stub}/oauth/token"),
        user_url: format!("{stub}/v2/user/me"),
    });
    configure(&mut stack);
    let commands = stack.command_api_on_configured_port().await?;
    Ok((stack, commands, server))
}

/// Starts signing in; the pre-login cookie and the provider's redirect back (with code and
/// state), not yet followed.
async fn start(browser: &reqwest::Client, commands: &Running) -> Result<(String, String)> {
    let started = browser
        .get(commands.url("/auth/kakao/start?return_to=/boards/free"))
        .send()
        .await?;
    anyhow::ensure!(started.status() == 302, "start: {}", started.status());
    let prelogin = set_cookie(&started, "ward_prelogin")
        .ok_or_else(|| anyhow::anyhow!("no pre-login cookie"))?;
    let authorize = location(&started);
    anyhow::ensure!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    anyhow::ensure!(
        !authorize.contains("scope="),
        "Ward asks for no scope: {authorize}"
    );
    let back = browser.get(&authorize).send().await?;
    Ok((prelogin, location(&back)))
}

/// Follows the provider's redirect back with the pre-login cookie.
async fn finish(
    browser: &reqwest::Client,
    callback: &str,
    prelogin: &str,
    session: Option<&str>,
) -> Result<reqwest::Response> {
    let mut cookies = format!("ward_prelogin={prelogin}");
    if let Some(session) = session {
        cookies.push_str(&format!("; ward_session={session}"));
    }
    Ok(browser.get(callback).header(COOKIE, cookies).send().await?)
}

async fn post_as(commands: &Running, session: &str, headers: &[(&str, &str)]) -> Result<u16> {
    let mut request = reqwest::Client::new()
        .post(commands.url("/api/v1/posts"))
        .header(COOKIE, format!("ward_session={session}"))
        .json(&json!({"board": "free", "title": "로그인 후 첫 글", "body": "본문"}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Ok(request.send().await?.status().as_u16())
}

#[tokio::test(flavor = "multi_thread")]
async fn kakao_sign_in_rotates_the_session_and_keeps_nothing_of_the_person() -> Result {
    let (stack, commands, _stub) = kakao_stack(|_| {}).await?;
    let browser = browser()?;
    let providers: serde_json::Value = browser
        .get(commands.url("/auth/providers"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(providers["providers"], json!(["kakao"]));

    // A session planted before sign-in (fixation) is ended by it.
    let planted = stack.session().await?;
    let (prelogin, callback) = start(&browser, &commands).await?;
    assert!(
        callback.starts_with(&commands.url("/auth/kakao/callback")),
        "{callback}"
    );
    let signed_in = finish(&browser, &callback, &prelogin, Some(&planted)).await?;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(location(&signed_in), "/boards/free");
    let session =
        set_cookie(&signed_in, "ward_session").ok_or_else(|| anyhow::anyhow!("no session"))?;
    assert_ne!(session, planted);
    assert_eq!(
        set_cookie(&signed_in, "ward_prelogin").as_deref(),
        Some(""),
        "pre-login cookie cleared"
    );
    let attributes = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("ward_session="))
        .unwrap_or_default()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attributes.contains(attribute), "{attributes}");
    }
    assert_eq!(post_as(&commands, &session, &[]).await?, 201);
    assert_eq!(
        post_as(&commands, &planted, &[]).await?,
        401,
        "the planted session ended"
    );

    // Signing in again with the same Kakao account is the same member.
    let (prelogin, callback) = start(&browser, &commands).await?;
    let again = finish(&browser, &callback, &prelogin, None).await?;
    let second = set_cookie(&again, "ward_session").ok_or_else(|| anyhow::anyhow!("no session"))?;
    let sessions = ward_platform::session::SessionStore::new(
        ward_platform::ops::connect_redis(&stack.config.redis).await?,
        &stack.config,
    );
    let (a, b) = (sessions.get(&session).await?, sessions.get(&second).await?);
    assert_eq!(a.map(|s| s.member_id), b.map(|s| s.member_id));

    // Nothing of the person is kept: not the Kakao id, nickname or email.
    let identities: Vec<String> = sqlx::query_scalar("SELECT identity FROM identities")
        .fetch_all(&stack.events_db().await?)
        .await?;
    let events: Vec<String> =
        sqlx::query_scalar("SELECT payload::text || metadata::text FROM events")
            .fetch_all(&stack.events_db().await?)
            .await?;
    let kept = format!("{identities:?}{events:?}");
    for personal in [KAKAO_ID.to_string().as_str(), NICKNAME, EMAIL] {
        assert!(!kept.contains(personal), "{personal} was kept");
    }

    // Sign-out ends the session and clears the cookie.
    let out = reqwest::Client::new()
        .post(commands.url("/auth/signout"))
        .header(COOKIE, format!("ward_session={second}"))
        .send()
        .await?;
    assert_eq!(out.status(), 204);
    assert_eq!(set_cookie(&out, "ward_session").as_deref(), Some(""));
    assert_eq!(post_as(&commands, &second, &[]).await?, 401);
    drop(commands);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_state_a_replayed_callback_and_a_code_from_another_sign_in_are_refused() -> Result {
    let (stack, commands, _stub) = kakao_stack(|_| {}).await?;
    let browser = browser()?;
    let refused = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        (
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        )
    };

    // The state the provider sends back must be the one this browser started with.
    let (prelogin, callback) = start(&browser, &commands).await?;
    let forged = callback.replace("state=", "state=forged");
    let answer = finish(&browser, &forged, &prelogin, None).await?;
    assert_eq!(refused(answer).await, (400, "state_mismatch".to_owned()));

    // A finished sign-in cannot be replayed.
    let (prelogin, callback) = start(&browser, &commands).await?;
    assert_eq!(
        finish(&browser, &callback, &prelogin, None).await?.status(),
        303
    );
    let replayed = finish(&browser, &callback, &prelogin, None).await?;
    assert_eq!(refused(replayed).await, (400, "sign_in_expired".to_owned()));

    // Without the pre-login cookie there is nothing to finish.
    let (_, callback) = start(&browser, &commands).await?;
    let anonymous = browser.get(&callback).send().await?;
    assert_eq!(
        refused(anonymous).await,
        (400, "sign_in_expired".to_owned())
    );

    // A code issued to another sign-in (another PKCE challenge) cannot be redeemed with this
    // sign-in's verifier: the provider refuses it.
    let (mine, my_callback) = start(&browser, &commands).await?;
    let (_, their_callback) = start(&browser, &commands).await?;
    let their_code = their_callback
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("code="))
        .unwrap_or_default();
    let my_state = my_callback
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("state="))
        .unwrap_or_default();
    let swapped = format!(
        "{}?code={their_code}&state={my_state}",
        commands.url("/auth/kakao/callback")
    );
    let answer = finish(&browser, &swapped, &mine, None).await?;
    assert_eq!(refused(answer).await, (502, "provider_error".to_owned()));

    // A provider that is not configured, and a return address off the site.
    let unknown = browser.get(commands.url("/auth/oidc/start")).send().await?;
    assert_eq!(refused(unknown).await, (404, "provider_unknown".to_owned()));
    let offsite = browser
        .get(commands.url("/auth/kakao/start?return_to=https://evil.example/"))
        .send()
        .await?;
    assert_eq!(
        refused(offsite).await,
        (422, "return_to_invalid".to_owned())
    );
    drop(commands);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_when_idle_and_at_their_absolute_limit() -> Result {
    let (stack, commands, _stub) = kakao_stack(|stack| {
        stack.config.command_api.session_idle_secs = 2;
        stack.config.command_api.session_absolute_secs = 6;
    })
    .await?;
    let browser = browser()?;
    let sign_in = || async {
        let (prelogin, callback) = start(&browser, &commands).await?;
        let response = finish(&browser, &callback, &prelogin, None).await?;
        set_cookie(&response, "ward_session").ok_or_else(|| anyhow::anyhow!("no session"))
    };
    // Idle: unused for longer than 2 s, the session is gone.
    let idle = sign_in().await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(post_as(&commands, &idle, &[]).await?, 401);
    // Absolute: used every second (more often than the idle time), it still ends 6 s after
    // sign-in. Times are measured, so a slow machine does not make the uses late.
    let busy = sign_in().await?;
    let signed_in = std::time::Instant::now();
    while signed_in.elapsed() < Duration::from_millis(3500) {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(post_as(&commands, &busy, &[]).await?, 201);
    }
    tokio::time::sleep(Duration::from_millis(6500).saturating_sub(signed_in.elapsed())).await;
    assert_eq!(post_as(&commands, &busy, &[]).await?, 401);
    drop(commands);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_site_state_changing_requests_are_refused() -> Result {
    let (stack, commands, _stub) = kakao_stack(|stack| {
        stack.config.command_api.allowed_origins = vec!["https://ward.example.com".to_owned()];
    })
    .await?;
    let session = stack.session().await?;
    let own_origin = commands.url("");
    let own_origin = own_origin.trim_end_matches('/');
    for (headers, expected) in [
        (vec![("origin", "https://evil.example")], 403),
        (vec![("sec-fetch-site", "cross-site")], 403),
        (vec![("origin", "null")], 403),
        (
            vec![("origin", own_origin), ("sec-fetch-site", "same-origin")],
            201,
        ),
        (vec![("origin", "https://ward.example.com")], 201),
        (vec![], 201),
    ] {
        assert_eq!(
            post_as(&commands, &session, &headers).await?,
            expected,
            "{headers:?}"
        );
    }
    let refused = reqwest::Client::new()
        .post(commands.url("/auth/signout"))
        .header("origin", "https://evil.example")
        .send()
        .await?;
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await?;
    assert_eq!(body["error"], "cross_site_request");
    drop(commands);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn withdrawal_forgets_the_identity_and_the_next_sign_in_is_someone_new() -> Result {
    let (stack, commands, _stub) = kakao_stack(|_| {}).await?;
    let browser = browser()?;
    let sign_in = || async {
        let (prelogin, callback) = start(&browser, &commands).await?;
        let response = finish(&browser, &callback, &prelogin, None).await?;
        set_cookie(&response, "ward_session").ok_or_else(|| anyhow::anyhow!("no session"))
    };
    let member_of = |session: String| {
        let config = stack.config.clone();
        async move {
            let redis = ward_platform::ops::connect_redis(&config.redis).await?;
            let store = ward_platform::session::SessionStore::new(redis, &config);
            anyhow::Ok(store.get(&session).await?.map(|s| s.member_id))
        }
    };
    let first = sign_in().await?;
    let member = member_of(first.clone()).await?;
    let identities = || async {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM identities")
            .fetch_one(&stack.events_db().await?)
            .await?;
        anyhow::Ok(count)
    };
    assert_eq!(identities().await?, 1);
    let withdrawn = reqwest::Client::new()
        .delete(commands.url("/api/v1/me"))
        .header(COOKIE, format!("ward_session={first}"))
        .send()
        .await?;
    assert_eq!(withdrawn.status(), 200);
    assert_eq!(identities().await?, 0, "the identity row is deleted");
    let again = member_of(sign_in().await?).await?;
    assert!(again.is_some() && again != member, "a new member");
    drop(commands);
    stack.finish().await
}
