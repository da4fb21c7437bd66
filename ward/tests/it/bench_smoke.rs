//! The benchmark harness works: `ward seed` imports a small data set through the aggregates,
//! and each `ward-bench` scenario (reads, commands, visibility) runs in its smoke mode (a few
//! hundred requests) against the whole system. Nothing here judges speed — benchmarks are
//! measured (bench/README.md), not asserted — only that every request was answered.

use std::time::Duration;

use crate::support::*;
use ward_bench::scenarios::{
    commands, parse_sessions, reads, visibility, CommandsConfig, ReadsConfig, VisibilityConfig,
};

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_and_every_benchmark_scenario_run_in_smoke_mode() -> Result {
    let stack = Stack::new().await?;
    let (commands_api, _projector, queries) = stack.start_all().await?;
    let scratch = tempfile::tempdir()?;
    let sessions_file = scratch.path().join("sessions.txt");
    let plan = ward::seed::Plan {
        posts: 20,
        comments_per_post: 3,
        hospitals: 4,
        reviews: 8,
        members: 10,
        sessions_file: Some(sessions_file.clone()),
    };
    let seeded = ward::seed::seed(&stack.config, &plan).await?;
    anyhow::ensure!(seeded.posts.len() == 20 && seeded.reviews == 8 && seeded.members == 10);
    let sessions = parse_sessions(&std::fs::read_to_string(&sessions_file)?);
    anyhow::ensure!(sessions.len() == 10, "{sessions:?}");

    // The projectors build the read models from the seeded events.
    let http = Http::new(&queries);
    let last = seeded.posts.last().copied().unwrap_or_default();
    let post = eventually(Duration::from_secs(30), "the seeded posts", || async {
        let (status, post) = http
            .send(
                None,
                reqwest::Method::GET,
                &format!("/api/v1/posts/{last}"),
                None,
            )
            .await?;
        Ok((status == 200 && post["comment_count"] == 3).then_some(post))
    })
    .await?;
    anyhow::ensure!(post["title"]
        .as_str()
        .is_some_and(|t| t.contains("근무 이야기")));

    let base = queries.url("");
    let read = reads(ReadsConfig {
        web_url: base.clone(),
        api_url: base.clone(),
        post_ids: seeded.posts.iter().map(ToString::to_string).collect(),
        hospital_ids: seeded.hospitals.iter().map(ToString::to_string).collect(),
        smoke: true,
        ..ReadsConfig::default()
    })
    .await?;
    anyhow::ensure!(
        read.ward_closed.requests > 0 && read.ward_closed.errors == 0,
        "{read}"
    );
    anyhow::ensure!(
        read.reference.requests > 0 && read.ward_open.requests > 0,
        "{read}"
    );

    let wrote = commands(CommandsConfig {
        api_url: commands_api.url(""),
        session_cookies: sessions.clone(),
        smoke: true,
        ..CommandsConfig::default()
    })
    .await?;
    anyhow::ensure!(!wrote.steps.is_empty(), "{wrote}");
    for step in &wrote.steps {
        anyhow::ensure!(step.ward.requests > 0, "{wrote}");
        // Rate limits may refuse some (429); nothing else may fail.
        let failed: u64 = step
            .ward
            .errors_by_status
            .iter()
            .filter(|(status, _)| status.as_str() != "429")
            .map(|(_, n)| n)
            .sum();
        anyhow::ensure!(failed == 0, "{wrote}");
        // Both pgbench references run, or neither (no pgbench on this machine).
        anyhow::ensure!(
            step.pgbench_tps.is_some() == step.ward_sql_tps.is_some(),
            "{wrote}"
        );
    }
    anyhow::ensure!(
        wrote
            .reference_missing
            .as_deref()
            .is_none_or(|why| why.contains("not on PATH")),
        "{wrote}"
    );

    let seen = visibility(VisibilityConfig {
        api_url: commands_api.url(""),
        query_url: base,
        session_cookies: sessions,
        smoke: true,
        ..VisibilityConfig::default()
    })
    .await?;
    anyhow::ensure!(seen.created > 0 && seen.visible > 0, "{seen}");
    stack.finish().await
}
