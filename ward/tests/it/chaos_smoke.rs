//! `ward-bench chaos` in its smoke mode (issue #20): a few hundred commands from browser-like
//! users while a handful of faults — `kill -9` of the relay leader, a projector, the broker
//! and a query API, a restart and a pause — hit an installation of the run's own (its own
//! databases, Redis prefix and broker; the shared servers are only ever cut through proxies).
//! Every invariant must hold: nothing acknowledged lost or doubled, nothing refused left
//! behind, each event on its topic once (a new relay leader skips what is there already, ADR
//! 0017), every read model equal to its rebuild, the outbox empty, no group stuck. The fault
//! deck comes from a fixed seed, printed; `CHAOS_SEED=<n>` plays another.

use std::time::Duration;

use ward_bench::scenarios::{chaos, ChaosConfig};

#[tokio::test(flavor = "multi_thread")]
async fn a_short_chaos_run_keeps_every_invariant() -> anyhow::Result<()> {
    let seed = match std::env::var("CHAOS_SEED") {
        Ok(seed) => seed.parse()?,
        Err(_) => 3,
    };
    let report = chaos(ChaosConfig {
        ward_bin: env!("CARGO_BIN_EXE_ward").into(),
        seed,
        smoke: true,
        ..ChaosConfig::default()
    })
    .await?;
    println!("{report}");
    let failed: Vec<&str> = report
        .invariants
        .iter()
        .filter(|invariant| !invariant.met())
        .map(|invariant| invariant.name)
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "invariants failed (seed {seed}): {failed:?}\n{report}"
    );
    // The run did what a smoke run is for: faults of every sort, under load.
    let actions: Vec<&str> = report.faults.iter().map(|f| f.action.as_str()).collect();
    for sort in ["kill -9", "restart", "pause"] {
        anyhow::ensure!(
            actions.iter().any(|a| a.starts_with(sort)),
            "no {sort} fault was played: {actions:?}"
        );
    }
    let acknowledged: u64 = report.kinds.values().map(|k| k.acked).sum();
    anyhow::ensure!(
        acknowledged >= 150,
        "only {acknowledged} commands went through"
    );
    anyhow::ensure!(
        report
            .faults
            .iter()
            .all(|f| f.ready_after.is_some_and(|r| r < Duration::from_secs(60))),
        "a service was not ready again within a minute:\n{report}"
    );
    Ok(())
}
