//! `ward-bench`: runs one scenario of the benchmark harness against a running Ward (by
//! default the URLs of `scripts/dev`) and prints its report; see `bench/README.md`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use ward_bench::memory::{reset_peak_rss, MemoryReport, Watch};
use ward_bench::scenarios::chaos::installation::Servers;
use ward_bench::scenarios::{
    self, parse_sessions, ChaosConfig, CommandsConfig, ReadsConfig, VisibilityConfig,
    DEV_COMMAND_URL, DEV_QUERY_URL,
};

#[derive(Parser)]
#[command(
    name = "ward-bench",
    about = "Benchmarks a running Ward against references measured in the same run"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// Also write the report as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// A process whose memory to report at the end, as name=pid; repeatable.
    #[arg(long = "watch", global = true)]
    watches: Vec<Watch>,
    /// Start the watched processes' peak memory over before the run (needs the right to
    /// write their /proc/<pid>/clear_refs).
    #[arg(long, global = true)]
    reset_peak: bool,
}

#[derive(Subcommand)]
enum Scenario {
    /// Board lists, post and hospital pages against a minimal server's limit.
    Reads(ReadsArgs),
    /// Posts and comments at rising concurrency against pgbench (one-row inserts; Ward's SQL).
    Commands(CommandsArgs),
    /// How soon a new post can be read through the query API.
    Visibility(VisibilityArgs),
    /// Random faults under load on an installation of its own, then the invariants; exits
    /// non-zero if one failed.
    Chaos(ChaosArgs),
}

#[derive(Args)]
struct ReadsArgs {
    /// Where the pages are read: the query API renders them (the production Gateway routes
    /// page reads there); give the gateway's origin to measure through `scripts/dev`'s proxy.
    #[arg(long, default_value = DEV_QUERY_URL)]
    web_url: String,
    /// The query API.
    #[arg(long, default_value = DEV_QUERY_URL)]
    api_url: String,
    /// A post to read; repeatable. Default: up to 100 from the free board.
    #[arg(long = "post-id")]
    post_ids: Vec<String>,
    /// A hospital to read; repeatable. Default: up to 100 from the hospital list.
    #[arg(long = "hospital-id")]
    hospital_ids: Vec<String>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 300)]
    connections: usize,
    /// Seconds per run (reference, Ward closed loop, Ward open loop).
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// A quick functional check: 4 connections, under a second per run.
    #[arg(long)]
    smoke: bool,
}

#[derive(Args)]
struct CommandsArgs {
    /// The command API.
    #[arg(long, default_value = DEV_COMMAND_URL)]
    api_url: String,
    #[command(flatten)]
    sessions: Sessions,
    /// Concurrency of each step, comma-separated.
    #[arg(long = "concurrency", value_delimiter = ',', default_values_t = [1, 4, 16, 64])]
    concurrencies: Vec<usize>,
    /// Seconds per step, for Ward and for each pgbench reference.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// A database on the PostgreSQL server where pgbench may create its scratch database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pg_url: String,
    /// A quick functional check: concurrencies 1 and 4, under a second each.
    #[arg(long)]
    smoke: bool,
}

#[derive(Args)]
struct VisibilityArgs {
    /// The command API.
    #[arg(long, default_value = DEV_COMMAND_URL)]
    api_url: String,
    /// The query API.
    #[arg(long, default_value = DEV_QUERY_URL)]
    query_url: String,
    #[command(flatten)]
    sessions: Sessions,
    /// Posts created per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds to create posts for.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// A quick functional check: at most 10 posts a second for one second.
    #[arg(long)]
    smoke: bool,
}

#[derive(Args)]
struct ChaosArgs {
    /// Requests per second (commands and reads), in an open loop.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Seconds of load; faults are played meanwhile, one after another.
    #[arg(long, default_value_t = 720.0)]
    duration: f64,
    /// Draws the faults and the mix of requests (random when omitted; printed at the start).
    #[arg(long)]
    seed: Option<u64>,
    /// A short functional run: at most 8 requests a second for 40 s, a handful of faults.
    #[arg(long)]
    smoke: bool,
    /// The `ward` binary to run (default: the one beside this program, else `ward` on PATH).
    #[arg(long)]
    ward_bin: Option<PathBuf>,
    /// The `tansu` binary.
    #[arg(long, env = "WARD_TANSU_BIN", default_value = "tansu")]
    tansu_bin: PathBuf,
    /// Restart the machine's real PostgreSQL, MariaDB and Redis instead of cutting their
    /// proxies. Only on an otherwise idle machine: everything using them sees it.
    #[arg(long)]
    real_restarts: bool,
    /// Projector processes per projection.
    #[arg(long, default_value_t = 1)]
    projectors: usize,
    /// Members writing (the first is the moderator).
    #[arg(long, default_value_t = 60)]
    members: usize,
    /// Hospitals claimed and reviewed.
    #[arg(long, default_value_t = 30)]
    hospitals: usize,
    /// PostgreSQL, for creating and dropping the run's databases.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pg_url: String,
    /// MariaDB, likewise.
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306/mysql")]
    mysql_url: String,
    /// Redis.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Keep the run's folder (the processes' logs) even when every invariant held.
    #[arg(long)]
    keep_logs: bool,
}

/// Members to write as.
#[derive(Args)]
struct Sessions {
    /// A session token (the ward_session cookie's value); repeatable.
    #[arg(long = "session")]
    tokens: Vec<String>,
    /// A file of session tokens, one per line (as `ward seed` writes).
    #[arg(long)]
    sessions_file: Option<PathBuf>,
}

impl Sessions {
    fn tokens(self) -> anyhow::Result<Vec<String>> {
        let mut tokens = self.tokens;
        if let Some(path) = &self.sessions_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            tokens.extend(parse_sessions(&text));
        }
        ensure!(
            !tokens.is_empty(),
            "no members to write as: pass --sessions-file or --session"
        );
        Ok(tokens)
    }
}

/// What `--json` writes.
#[derive(Serialize)]
struct Output<R> {
    scenario: &'static str,
    report: R,
    memory: MemoryReport,
}

fn seconds(secs: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(secs).context("--duration must be a number of seconds")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.reset_peak {
        for watch in &cli.watches {
            reset_peak_rss(watch.pid)?;
        }
    }
    match cli.scenario {
        Scenario::Reads(args) => {
            let (mut post_ids, mut hospital_ids) = (args.post_ids, args.hospital_ids);
            if post_ids.is_empty() || hospital_ids.is_empty() {
                let (posts, hospitals) = scenarios::sample_ids(&args.api_url).await?;
                if post_ids.is_empty() {
                    post_ids = posts;
                }
                if hospital_ids.is_empty() {
                    hospital_ids = hospitals;
                }
            }
            let config = ReadsConfig {
                web_url: args.web_url,
                api_url: args.api_url,
                post_ids,
                hospital_ids,
                connections: args.connections,
                duration: seconds(args.duration)?,
                smoke: args.smoke,
            };
            let report = scenarios::reads(config).await?;
            finish("reads", report, &cli.watches, cli.json)
        }
        Scenario::Commands(args) => {
            let config = CommandsConfig {
                api_url: args.api_url,
                session_cookies: args.sessions.tokens()?,
                concurrencies: args.concurrencies,
                duration: seconds(args.duration)?,
                pg_url: args.pg_url,
                smoke: args.smoke,
            };
            let report = scenarios::commands(config).await?;
            finish("commands", report, &cli.watches, cli.json)
        }
        Scenario::Visibility(args) => {
            let config = VisibilityConfig {
                api_url: args.api_url,
                query_url: args.query_url,
                session_cookies: args.sessions.tokens()?,
                rate: args.rate,
                duration: seconds(args.duration)?,
                smoke: args.smoke,
            };
            let report = scenarios::visibility(config).await?;
            finish("visibility", report, &cli.watches, cli.json)
        }
        Scenario::Chaos(args) => {
            let seed = args.seed.unwrap_or_else(rand::random);
            let ward_bin = args.ward_bin.unwrap_or_else(beside_this_program);
            let config = ChaosConfig {
                ward_bin,
                tansu_bin: args.tansu_bin,
                rate: args.rate,
                duration: seconds(args.duration)?,
                seed,
                smoke: args.smoke,
                real_restarts: args.real_restarts,
                servers: Servers {
                    postgres: args.pg_url,
                    mariadb: args.mysql_url,
                    redis: args.redis_url,
                },
                members: args.members,
                hospitals: args.hospitals,
                projectors_per_projection: args.projectors,
                keep_logs: args.keep_logs,
            };
            let report = scenarios::chaos(config).await?;
            let passed = report.passed();
            finish("chaos", report, &cli.watches, cli.json)?;
            anyhow::ensure!(passed, "an invariant failed (seed {seed})");
            Ok(())
        }
    }
}

/// `ward` beside this program (both are built into the same target folder), else `ward` on
/// PATH.
fn beside_this_program() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("ward")))
        .filter(|ward| ward.exists())
        .unwrap_or_else(|| PathBuf::from("ward"))
}

/// Prints `report` and the watched processes' memory; writes both to `json` if given.
fn finish<R: std::fmt::Display + Serialize>(
    scenario: &'static str,
    report: R,
    watches: &[Watch],
    json: Option<PathBuf>,
) -> anyhow::Result<()> {
    let memory = MemoryReport::of(watches);
    println!("{report}");
    if !watches.is_empty() {
        println!("\n{memory}");
    }
    if let Some(path) = json {
        let output = Output {
            scenario,
            report,
            memory,
        };
        let text = serde_json::to_string_pretty(&output).context("serialising the report")?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
