//! The web UI in a real browser: `ward run` (every component and the single origin) as a
//! child process, the local identity provider, and `web/e2e/web.test.mjs` driving Debian's
//! Chromium through playwright-core. A visitor browses and finds no write buttons; a member
//! signs in with JavaScript off, posts and sees the post; another comments, verifies their
//! hospital by a mailed code and reviews it; a moderator hides the reported post. Screenshots
//! of the key pages and `ward run`'s log are kept in `$CARGO_TARGET_TMPDIR/web-e2e` (or
//! `WEB_E2E_ARTIFACTS`).

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;
use ward_domain::hospital::HospitalKind;

const DOMAIN: &str = "staff.e2e-hospital.test";

#[tokio::test(flavor = "multi_thread")]
async fn visitors_members_insiders_and_moderators_use_ward_in_a_browser() -> Result {
    let mut stack = Stack::new().await?;
    stack.config.command_api.identity_pepper = Some("test-identity-pepper-0123456789abcdef".into());
    let (command_port, query_port, web_port) = (free_port()?, free_port()?, free_port()?);
    let web = format!("http://127.0.0.1:{web_port}");
    let callback = format!("{web}/auth/oidc/callback");
    let idp = DevIdp::start(&callback).await?;
    let scratch = tempfile::tempdir()?;
    let mail = scratch.path().join("mail");
    let artifacts = std::env::var("WEB_E2E_ARTIFACTS")
        .unwrap_or_else(|_| format!("{}/web-e2e", env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&artifacts)?;
    let log_path = std::path::Path::new(&artifacts).join("ward.log");
    let log = std::fs::File::create(&log_path)?;
    let configure = |command: &mut tokio::process::Command| {
        command
            .env("WARD_COMMAND_API__SECURE_COOKIES", "false")
            .env("WARD_COMMAND_API__MAIL__FROM", "Ward <no-reply@ward.test>")
            .env("WARD_COMMAND_API__MAIL__FILE_DIR", &mail)
            // One verified member is enough to show labels, one review enough for ratings,
            // so a single insider's review changes the hospital's numbers.
            .env("WARD_QUERY_API__K_ANONYMITY", "1")
            .env("WARD_QUERY_API__MIN_REVIEWS", "1");
    };
    let mut run = stack.ward_command();
    configure(&mut run);
    let mut ward = run
        .arg("run")
        .env(
            "WARD_COMMAND_API__LISTEN",
            format!("127.0.0.1:{command_port}"),
        )
        .env("WARD_QUERY_API__LISTEN", format!("127.0.0.1:{query_port}"))
        .env("WARD_PROJECTOR__LISTEN", "127.0.0.1:0")
        .env("WARD_GATEWAY__LISTEN", format!("127.0.0.1:{web_port}"))
        .env("WARD_COMMAND_API__AUTH__OIDC__ISSUER_URL", idp.issuer())
        .env("WARD_COMMAND_API__AUTH__OIDC__CLIENT_ID", idp.client_id())
        .env(
            "WARD_COMMAND_API__AUTH__OIDC__CLIENT_SECRET",
            idp.client_secret(),
        )
        .env("WARD_COMMAND_API__AUTH__OIDC__REDIRECT_URL", &callback)
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()?;
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), "ward run to be live", || async {
        let page = http.get(format!("{web}/")).send().await;
        Ok(page.is_ok_and(|p| p.status() == 200).then_some(()))
    })
    .await?;
    let hospital = register_hospital_with_domains(
        &stack,
        "이투이병원",
        "서울",
        HospitalKind::General,
        &[DOMAIN],
    )
    .await?;
    eventually(Duration::from_secs(20), "the hospital's page", || async {
        let page = http
            .get(format!("{web}/hospitals/{hospital}"))
            .send()
            .await?;
        Ok((page.status() == 200).then_some(()))
    })
    .await?;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/e2e/web.test.mjs");
    // The moderator grant runs `ward` with the same configuration as the running system.
    let mut node = stack.ward_command();
    configure(&mut node);
    let node_bin = std::env::var("WARD_NODE_BIN").unwrap_or_else(|_| "node".to_owned());
    let outcome = tokio::process::Command::new(node_bin)
        .arg(script)
        .envs(node.as_std().get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("E2E_URL", &web)
        .env("E2E_IDP", idp.issuer())
        .env("E2E_HOSPITAL", hospital.to_string())
        .env("E2E_DOMAIN", DOMAIN)
        .env("E2E_MAIL_DIR", &mail)
        .env("E2E_WARD_BIN", env!("CARGO_BIN_EXE_ward"))
        .env("E2E_ARTIFACTS", &artifacts)
        .kill_on_drop(true)
        .output()
        .await?;
    let _ = ward.start_kill();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&outcome.stdout),
        String::from_utf8_lossy(&outcome.stderr)
    );
    println!("{printed}");
    if !outcome.status.success() {
        let logs = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: String = logs
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        anyhow::bail!(
            "the browser test failed ({}):\n{printed}\nward run's last lines:\n{tail}",
            outcome.status
        );
    }
    stack.finish().await
}
