//! No personal data anywhere. A person signs in through a real OpenID Connect provider (the
//! local one, driven through its login form), verifies a claim by a mailed work-email code,
//! posts, comments and reviews — against `ward run` as a child process whose logs (at debug
//! level) are captured. Then every Kafka topic, every table of the event store and of every
//! read-model database, every Redis key and value and the logs are dumped: the person's
//! subject, email address and name appear nowhere.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;
use base64::Engine;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::Method;
use serde_json::json;
use ward_domain::hospital::HospitalKind;
use ward_platform::config::DatabaseConfig;

/// Everything that identifies the person contains this word (the sign-in name is the
/// provider's subject; the work address; the name they would have).
const CANARY: &str = "canary";
const USER: &str = "pii-canary-subject-홍길동";
const DOMAIN: &str = "staff.pii-hospital.test";

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_in_verified_member_leaves_no_personal_data_in_topics_tables_redis_or_logs(
) -> Result {
    let mut stack = Stack::new().await?;
    stack.config.command_api.identity_pepper = Some("test-identity-pepper-0123456789abcdef".into());
    let (command_port, query_port) = (free_port()?, free_port()?);
    let api = format!("http://127.0.0.1:{command_port}");
    let callback = format!("{api}/auth/oidc/callback");
    let idp = DevIdp::start(&callback).await?;
    let scratch = tempfile::tempdir()?;
    let mail = scratch.path().join("mail");
    let log_path = scratch.path().join("ward.log");
    let log = std::fs::File::create(&log_path)?;

    let mut ward = stack
        .ward_command()
        .arg("run")
        .env(
            "WARD_COMMAND_API__LISTEN",
            format!("127.0.0.1:{command_port}"),
        )
        .env("WARD_QUERY_API__LISTEN", format!("127.0.0.1:{query_port}"))
        .env("WARD_PROJECTOR__LISTEN", "127.0.0.1:0")
        .env("WARD_GATEWAY__LISTEN", "127.0.0.1:0")
        .env("WARD_COMMAND_API__SECURE_COOKIES", "false")
        .env("WARD_COMMAND_API__AUTH__OIDC__ISSUER_URL", idp.issuer())
        .env("WARD_COMMAND_API__AUTH__OIDC__CLIENT_ID", idp.client_id())
        .env(
            "WARD_COMMAND_API__AUTH__OIDC__CLIENT_SECRET",
            idp.client_secret(),
        )
        .env("WARD_COMMAND_API__AUTH__OIDC__REDIRECT_URL", &callback)
        .env("WARD_COMMAND_API__MAIL__FROM", "Ward <no-reply@ward.test>")
        .env("WARD_COMMAND_API__MAIL__FILE_DIR", &mail)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()?;
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), "ward run to be live", || async {
        let live = http
            .get(format!("http://127.0.0.1:{query_port}/livez"))
            .send()
            .await;
        let commands = http.get(format!("{api}/livez")).send().await;
        Ok((live.is_ok() && commands.is_ok()).then_some(()))
    })
    .await?;
    let hospital = register_hospital_with_domains(
        &stack,
        "개인정보병원",
        "서울",
        HospitalKind::General,
        &[DOMAIN],
    )
    .await?;

    // Sign in through the provider's real login form.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()?;
    let started = browser.get(format!("{api}/auth/oidc/start")).send().await?;
    anyhow::ensure!(started.status() == 302, "start: {}", started.status());
    let authorize = started
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        authorize.contains("scope=openid") && !authorize.contains("email"),
        "{authorize}"
    );
    let back = dev_idp_login(&browser, &authorize, USER).await?;
    let signed_in = browser.get(&back).send().await?;
    anyhow::ensure!(
        signed_in.status() == 303,
        "callback: {}",
        signed_in.status()
    );
    let session = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.strip_prefix("ward_session="))
        .next()
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(!session.is_empty(), "no session cookie");
    let as_member = |method: Method, path: String, body: serde_json::Value| {
        let (http, api, session) = (&http, &api, &session);
        async move {
            let response = http
                .request(method, format!("{api}{path}"))
                .header(COOKIE, format!("ward_session={session}"))
                .json(&body)
                .send()
                .await?;
            let status = response.status();
            let answer: serde_json::Value = response.json().await.unwrap_or_default();
            anyhow::ensure!(status.is_success(), "{path}: {status} {answer}");
            Ok::<_, anyhow::Error>(answer)
        }
    };

    // Claim the hospital and verify it with a code mailed to the work address.
    let claim = as_member(
        Method::POST,
        format!("/api/v1/hospitals/{hospital}/claims"),
        json!({"job_category": "nurse", "tenure": "current"}),
    )
    .await?;
    let claim = claim["id"].as_str().unwrap_or_default().to_owned();
    let address = format!("{CANARY}.hong@{DOMAIN}");
    as_member(
        Method::POST,
        format!("/api/v1/claims/{claim}/email"),
        json!({"address": address}),
    )
    .await?;
    let six_digits = regex::Regex::new(r"\b(\d{6})\b")?;
    let code = eventually(Duration::from_secs(10), "the mail", || async {
        for entry in std::fs::read_dir(&mail)? {
            let text = std::fs::read_to_string(entry?.path())?.replace("\r\n", "\n");
            let body = text.split_once("\n\n").map_or("", |(_, b)| b);
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            if let Some(code) = six_digits.captures(&decoded) {
                return Ok(code.get(1).map(|m| m.as_str().to_owned()));
            }
        }
        Ok(None)
    })
    .await?;
    as_member(
        Method::POST,
        format!("/api/v1/claims/{claim}/email/confirmation"),
        json!({"code": code}),
    )
    .await?;

    // Write as an insider: a post with the hospital badge, a comment, a review.
    let post = as_member(
        Method::POST,
        "/api/v1/posts".to_owned(),
        json!({"board": "free", "title": "병원 생활", "body": "야간 근무 이야기", "badge": {"hospital_id": hospital}}),
    )
    .await?;
    let post = post["id"].as_str().unwrap_or_default().to_owned();
    as_member(
        Method::POST,
        format!("/api/v1/posts/{post}/comments"),
        json!({"body": "제 댓글"}),
    )
    .await?;
    as_member(
        Method::POST,
        format!("/api/v1/hospitals/{hospital}/reviews"),
        json!({
            "ratings": {"overall": 4, "work_environment": 4, "pay_benefits": 3, "management": 3,
                        "care_quality": 5, "work_life_balance": 3},
            "title": "좋은 병원", "pros": "교육이 체계적이고 동료들이 친절합니다.",
            "cons": "야간 근무가 많아서 피곤한 편입니다.", "would_recommend": true
        }),
    )
    .await?;

    // Everything published and applied: the scenario is in every read model.
    let events = stack.events_db().await?;
    eventually(Duration::from_secs(30), "the read models", || async {
        let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&events)
            .await?;
        let board: i64 = sqlx::query_scalar("SELECT count(*) FROM board_comments")
            .fetch_one(&stack.board_db().await?)
            .await?;
        let reviews: i64 = sqlx::query_scalar("SELECT count(*) FROM reviews")
            .fetch_one(&stack.hospital_db().await?)
            .await?;
        let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
            .fetch_one(&stack.member_db().await?)
            .await?;
        Ok((outbox == 0 && board == 1 && reviews == 1 && entries >= 4).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    ward.start_kill()?;
    ward.wait().await?;

    let mut dump = String::new();
    let mut out = Vec::new();
    let filter = ward::replay::Filter {
        aggregate_types: vec![],
        event_types: vec![],
        since: None,
        until: None,
    };
    // The topics, texts opened with their keys: what an analyst with every key would see.
    ward::replay::replay(
        &stack.config,
        &filter,
        ward::replay::Format::Jsonl,
        true,
        false,
        &mut out,
    )
    .await?;
    anyhow::ensure!(out.len() > 1000, "the topics are not empty");
    dump.push_str(&String::from_utf8(out)?);
    for db in [
        &stack.config.event_store,
        &stack.config.board_db,
        &stack.config.hospital_db,
        &stack.config.member_db,
    ] {
        dump.push_str(&every_row(db).await?.join("\n"));
    }
    let mut redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", stack.config.redis.key_prefix))
        .query_async(&mut redis)
        .await?;
    for key in &keys {
        let kind: String = redis::cmd("TYPE").arg(key).query_async(&mut redis).await?;
        let value: Vec<String> = match kind.as_str() {
            "string" => vec![redis::cmd("GET").arg(key).query_async(&mut redis).await?],
            "set" => {
                redis::cmd("SMEMBERS")
                    .arg(key)
                    .query_async(&mut redis)
                    .await?
            }
            "hash" => {
                redis::cmd("HGETALL")
                    .arg(key)
                    .query_async(&mut redis)
                    .await?
            }
            other => vec![format!("<{other}>")],
        };
        dump.push_str(&format!("{key} {value:?}\n"));
    }
    let logs = std::fs::read_to_string(&log_path)?;
    anyhow::ensure!(logs.contains("signed in"), "the logs were captured");
    dump.push_str(&logs);

    for personal in [CANARY, USER, "홍길동", address.as_str()] {
        if let Some(at) = dump.find(personal) {
            let start = dump[..at]
                .char_indices()
                .rev()
                .nth(120)
                .map_or(0, |(i, _)| i);
            anyhow::bail!(
                "{personal:?} found: …{}…",
                &dump[start..(at + personal.len()).min(dump.len())]
            );
        }
    }
    drop(idp);
    stack.finish().await
}

/// Every row of every table of `db`, every column as text.
async fn every_row(db: &DatabaseConfig) -> Result<Vec<String>> {
    let mut rows = Vec::new();
    if db.is_postgres() {
        let pool = db.connect_postgres().await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&pool)
        .await?;
        for table in tables {
            let found: Vec<String> =
                sqlx::query_scalar(&format!("SELECT to_jsonb(t)::text FROM \"{table}\" t"))
                    .fetch_all(&pool)
                    .await?;
            rows.extend(found.into_iter().map(|r| format!("{table}: {r}")));
        }
    } else {
        let pool = db.connect_mysql().await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()",
        )
        .fetch_all(&pool)
        .await?;
        for table in tables {
            let columns: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ?",
            )
            .bind(&table)
            .fetch_all(&pool)
            .await?;
            let values: Vec<String> = columns
                .iter()
                .map(|c| format!("IFNULL(CAST(`{c}` AS CHAR), '-')"))
                .collect();
            // Bytes, read leniently: a binary column must not hide text next to it.
            let found: Vec<Vec<u8>> = sqlx::query_scalar(&format!(
                "SELECT CAST(CONCAT_WS('|', {}) AS BINARY) FROM `{table}`",
                values.join(", ")
            ))
            .fetch_all(&pool)
            .await?;
            rows.extend(
                found
                    .into_iter()
                    .map(|r| format!("{table}: {}", String::from_utf8_lossy(&r))),
            );
        }
    }
    Ok(rows)
}
