//! API fuzzing: schemathesis (pinned in `scripts/fuzz/requirements.txt`, installed by
//! `scripts/lib.sh`'s `ensure_schemathesis`) sends generated valid and invalid requests to every
//! operation of both OpenAPI documents, as a signed-in member (a moderator with verified claims,
//! so that every command gets past its permission checks to its rules), against a whole running
//! stack that already holds hospitals, posts, comments, reviews and claims for the path
//! parameters to find. Every answer must be no `5xx` and conform to the document: a documented
//! status code, content type and body schema.
//!
//! Bounded and reproducible: derandomised generation and 40 examples per operation
//! (`scripts/fuzz/schemathesis.toml`), about a minute for both documents; the same inputs every
//! run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::*;
use serde_json::json;
use uuid::Uuid;
use ward_domain::hospital::HospitalKind;
use ward_domain::member::Role;

/// How long one schemathesis run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// The schemathesis executable: `$SCHEMATHESIS_BIN`, or where `ensure_schemathesis` puts it.
fn schemathesis() -> Result<PathBuf> {
    let path = match std::env::var_os("SCHEMATHESIS_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
                .ok_or_else(|| anyhow::anyhow!("neither XDG_CACHE_HOME nor HOME is set"))?;
            cache.join("ward/fuzz-venv/bin/schemathesis")
        }
    };
    anyhow::ensure!(
        path.is_file(),
        "schemathesis is not installed at {}: run `source scripts/lib.sh && ensure_schemathesis` \
         (./scripts/test does)",
        path.display()
    );
    Ok(path)
}

/// The ids that the fuzzer's path parameters (and some body fields) draw from, by the name of
/// the schemathesis dictionary that `scripts/fuzz/schemathesis.toml` binds them with.
#[derive(Default)]
struct Seeded(BTreeMap<&'static str, Vec<Uuid>>);

impl Seeded {
    fn add(&mut self, dictionary: &'static str, id: impl std::fmt::Display) -> Result {
        let id = id.to_string().parse()?;
        self.0.entry(dictionary).or_default().push(id);
        Ok(())
    }

    fn first(&self, dictionary: &str) -> Uuid {
        self.0[dictionary][0]
    }

    /// Writes schemathesis's dictionary files (`<name>.dict`, one quoted id a line) into `dir`.
    fn write(&self, dir: &Path) -> Result {
        for (name, ids) in &self.0 {
            let lines: String = ids.iter().map(|id| format!("\"{id}\"\n")).collect();
            std::fs::write(dir.join(format!("{name}.dict")), lines)?;
        }
        Ok(())
    }
}

/// Creates what the fuzzer's requests may refer to, and returns the fuzzer's session cookie
/// value and the ids. The fuzzer is a moderator with verified claims, so that every command
/// can get past its permission checks; what its deletions, revocations and suspensions may
/// hit is kept apart from what the other operations need, so that those keep finding their
/// targets (a suspended fuzzer would get nothing but `403` after).
async fn seed(stack: &Stack, commands: &Http) -> Result<(String, Seeded)> {
    let mut seeded = Seeded::default();
    let mut hospitals = Vec::new();
    for (name, sido, domain) in [
        ("퍼징병원", "서울특별시", "fuzz.example"),
        ("퍼징요양병원", "부산광역시", "care.example"),
        ("퍼징의원", "대구광역시", "clinic.example"),
    ] {
        let id =
            register_hospital_with_domains(stack, name, sido, HospitalKind::General, &[domain])
                .await?;
        seeded.add("hospitals", id)?;
        hospitals.push(id);
    }
    let (_, approver) = stack.member(&[Role::Moderator]).await?;
    let (_, fuzzer) = stack.member(&[Role::Moderator]).await?;
    let claim = |member: &str, hospital: Uuid| {
        let member = member.to_owned();
        async move {
            let answer = commands
                .post(
                    &member,
                    &format!("/api/v1/hospitals/{hospital}/claims"),
                    json!({"job_category": "nurse", "tenure": "current"}),
                )
                .await?;
            anyhow::Ok(id_and_version(&answer).0)
        }
    };
    let approve = |claim: String| {
        let approver = approver.clone();
        async move {
            commands
                .post(
                    &approver,
                    &format!("/api/v1/claims/{claim}/approval"),
                    json!({}),
                )
                .await?;
            anyhow::Ok(claim)
        }
    };
    // The fuzzer is verified at the first hospital and the third (that claim may be revoked),
    // and has an open claim at the second (for work-email verification).
    approve(claim(&fuzzer, hospitals[0]).await?).await?;
    seeded.add("own_open_claims", claim(&fuzzer, hospitals[1]).await?)?;
    let revocable = approve(claim(&fuzzer, hospitals[2]).await?).await?;
    seeded.add("revocable_claims", revocable)?;
    // Other members' claims, waiting for a moderator.
    for _ in 0..2 {
        let (_, claimant) = stack.member(&[]).await?;
        seeded.add("pending_claims", claim(&claimant, hospitals[0]).await?)?;
    }

    let post = |member: &str, title: &'static str| {
        let member = member.to_owned();
        async move {
            let body = json!({"board": "qna", "title": title, "body": "본문"});
            let answer = commands.post(&member, "/api/v1/posts", body).await?;
            anyhow::Ok(id_and_version(&answer).0)
        }
    };
    let comment = |member: &str, post: Uuid| {
        let member = member.to_owned();
        async move {
            let answer = commands
                .post(
                    &member,
                    &format!("/api/v1/posts/{post}/comments"),
                    json!({"body": "댓글"}),
                )
                .await?;
            anyhow::Ok(id_and_version(&answer).0)
        }
    };
    seeded.add("posts", post(&fuzzer, "퍼징 첫 글").await?)?;
    seeded.add("posts", post(&fuzzer, "퍼징 둘째 글").await?)?;
    seeded.add("mortal_posts", post(&fuzzer, "퍼징 지울 글").await?)?;
    let thread = seeded.first("posts");
    seeded.add("comments", comment(&fuzzer, thread).await?)?;
    seeded.add("mortal_comments", comment(&fuzzer, thread).await?)?;
    // Others' items, for the moderators' actions (suspending the author of one of its own
    // would suspend the fuzzer).
    let (_, bystander) = stack.member(&[]).await?;
    seeded.add("others_items", post(&bystander, "다른 사람 글").await?)?;
    seeded.add("others_items", comment(&approver, thread).await?)?;

    for (dictionary, hospital) in [("reviews", hospitals[0]), ("mortal_reviews", hospitals[2])] {
        let answer = commands
            .post(
                &fuzzer,
                &format!("/api/v1/hospitals/{hospital}/reviews"),
                review_body("퍼징 리뷰"),
            )
            .await?;
        seeded.add(dictionary, id_and_version(&answer).0)?;
    }
    let (insider, _) =
        insider_with_claim(stack, commands, &approver, hospitals[0], "doctor").await?;
    let answer = commands
        .post(
            &insider,
            &format!("/api/v1/hospitals/{}/reviews", hospitals[0]),
            review_body("다른 사람 리뷰"),
        )
        .await?;
    seeded.add("others_reviews", id_and_version(&answer).0)?;
    Ok((fuzzer, seeded))
}

/// One schemathesis run over the document at `document` with the session `cookie`, with
/// `filters` (schemathesis's `--include-…`/`--exclude-…` options); `Err` with its report if it
/// found anything. Returns how many operations it tested.
async fn fuzz(
    executable: &Path,
    dir: &Path,
    cookie: &str,
    document: &str,
    filters: &[&str],
) -> Result<usize> {
    let junit = dir.join(format!("junit-{}.xml", Uuid::new_v4()));
    let mut command = tokio::process::Command::new(executable);
    command
        .current_dir(dir)
        .env("WARD_FUZZ_SESSION", cookie)
        .arg("--config-file")
        .arg(dir.join("schemathesis.toml"))
        .args(["run", document, "--report", "junit", "--report-junit-path"])
        .arg(&junit)
        .args(filters)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(RUN_LIMIT, command.output())
        .await
        .map_err(|_| {
            anyhow::anyhow!("schemathesis ran longer than {RUN_LIMIT:?} on {document}")
        })??;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    anyhow::ensure!(
        output.status.success(),
        "schemathesis found problems in {document} ({}):\n{report}",
        output.status
    );
    // A run that tested nothing would pass too: count the operations it reports.
    let operations = std::fs::read_to_string(&junit)
        .map_err(|error| anyhow::anyhow!("no JUnit report ({error}):\n{report}"))?
        .matches("<testcase ")
        .count();
    eprintln!("{document}: {operations} operations\n{report}");
    Ok(operations)
}

/// How many events the event store holds.
async fn event_count(stack: &Stack) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&stack.events_db().await?)
        .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn fuzzed_requests_get_no_server_error_and_only_documented_answers() -> Result {
    let executable = schemathesis()?;
    // Work-email verification is configured, as in production (mail goes to files).
    let (mut stack, _mail) = mailing_stack("fuzzing pepper").await?;
    // The fuzzer writes far faster than people: 429s would hide everything else.
    let generous = ward_platform::config::Limit {
        count: 100_000,
        window_secs: 60,
    };
    let limits = &mut stack.config.command_api.rate_limits;
    for limit in [
        &mut limits.reviews,
        &mut limits.reports,
        &mut limits.email_codes,
        &mut limits.claims,
        &mut limits.likes,
        &mut limits.edits,
        &mut limits.profile,
    ] {
        *limit = generous;
    }
    let (commands, _projector, queries) = stack.start_all().await?;
    let http = Http::new(&commands);
    let (fuzzer, seeded) = seed(&stack, &http).await?;
    // The read side shows what was seeded before the fuzzer asks for it.
    let review = format!("/api/v1/reviews/{}", seeded.first("mortal_reviews"));
    let post = format!("/api/v1/posts/{}", seeded.first("others_items"));
    eventually(Duration::from_secs(30), "the seeded items", || async {
        let reads = Http::new(&queries);
        let shown = reads.get(&post).await.is_ok() && reads.get(&review).await.is_ok();
        Ok(shown.then_some(()))
    })
    .await?;

    let dir = tempfile::tempdir()?;
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/fuzz/schemathesis.toml");
    std::fs::copy(config, dir.path().join("schemathesis.toml"))?;
    seeded.write(dir.path())?;

    let reads = fuzz(
        &executable,
        dir.path(),
        &fuzzer,
        &queries.url("/api/v1/openapi.json"),
        &[],
    )
    .await?;
    anyhow::ensure!(reads >= 13, "only {reads} query operations tested");

    // Withdrawal signs the member out for good: it gets a member of its own, after the rest.
    let before = event_count(&stack).await?;
    let document = commands.url("/api/v1/openapi/commands.json");
    let writes = fuzz(
        &executable,
        dir.path(),
        &fuzzer,
        &document,
        &["--exclude-operation-id", "withdraw"],
    )
    .await?;
    anyhow::ensure!(writes >= 26, "only {writes} command operations tested");
    // The fuzzer was signed in: its commands got past the session check and were recorded.
    let after = event_count(&stack).await?;
    anyhow::ensure!(
        after > before + 10,
        "the fuzzer's commands recorded {} events",
        after - before
    );
    let (_, leaving) = stack.member(&[]).await?;
    fuzz(
        &executable,
        dir.path(),
        &leaving,
        &document,
        &["--include-operation-id", "withdraw"],
    )
    .await?;

    drop((commands, queries));
    stack.finish().await
}
