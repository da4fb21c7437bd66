//! The commands' reference: how many single-row inserts per second PostgreSQL itself commits
//! on this machine at the same concurrency (`pgbench` into a scratch database).

use std::path::PathBuf;
use std::process::Output;

use anyhow::{bail, Context};
use tokio::process::Command;

/// The scratch database, created for a run and dropped after it.
pub const DATABASE: &str = "ward_bench_pgbench";

/// One transaction of the reference: a row about the size of a short post.
const SCRIPT: &str = "INSERT INTO bench_ref (payload) VALUES ('bench post: a short text about a night shift on the ward, about as long as a typical post body');\n";

/// A prepared scratch database and script for `pgbench`.
pub struct Pgbench {
    admin_url: String,
    url: String,
    script: PathBuf,
}

impl Pgbench {
    /// Creates the scratch database on the server of `pg_url` (a database to connect to
    /// first, e.g. `postgres://postgres@127.0.0.1:5432/postgres`) and the script. `Ok(None)`
    /// when `pgbench` is not installed.
    pub async fn prepare(pg_url: &str) -> anyhow::Result<Option<Self>> {
        match Command::new("pgbench").arg("--version").output().await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            other => checked(other, "pgbench --version")?,
        };
        let url = with_database(pg_url, DATABASE);
        psql(
            pg_url,
            &format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"),
        )
        .await?;
        psql(pg_url, &format!("CREATE DATABASE {DATABASE}")).await?;
        psql(
            &url,
            "CREATE TABLE bench_ref (id bigserial PRIMARY KEY, payload text)",
        )
        .await?;
        let script = std::env::temp_dir().join(format!("ward-bench-{}.sql", std::process::id()));
        std::fs::write(&script, SCRIPT).context("writing the pgbench script")?;
        Ok(Some(Self {
            admin_url: pg_url.to_owned(),
            url,
            script,
        }))
    }

    /// Transactions per second of `clients` connections inserting for about `secs` seconds.
    pub async fn tps(&self, clients: usize, secs: u64) -> anyhow::Result<f64> {
        let clients = clients.max(1);
        let output = Command::new("pgbench")
            .args([
                "-n",
                "-c",
                &clients.to_string(),
                "-j",
                &clients.min(2).to_string(),
            ])
            .args(["-T", &secs.max(1).to_string(), "-f"])
            .arg(&self.script)
            .arg(&self.url)
            .output()
            .await;
        let output = checked(output, "pgbench")?;
        let text = String::from_utf8_lossy(&output.stdout);
        parse_tps(&text).with_context(|| format!("no tps in pgbench's output: {text}"))
    }

    /// Drops the scratch database and removes the script.
    pub async fn clean_up(self) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(&self.script);
        psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"),
        )
        .await
    }
}

/// Runs one SQL statement with `psql` against `url`.
async fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let output = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .await;
    checked(output, &format!("psql -c {sql:?}")).map(drop)
}

/// The output of a finished command, or an error naming `what` with its stderr.
fn checked(output: std::io::Result<Output>, what: &str) -> anyhow::Result<Output> {
    let output = output.with_context(|| format!("running {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

/// The transactions per second in pgbench's report: the `tps = X (without initial connection
/// time)` line of PostgreSQL 14 and later, or the `excluding connections establishing` one of
/// earlier versions, else the first `tps =` line.
pub fn parse_tps(output: &str) -> Option<f64> {
    let lines: Vec<&str> = output
        .lines()
        .filter(|line| line.trim_start().starts_with("tps ="))
        .collect();
    let line = lines
        .iter()
        .find(|l| l.contains("without initial connection") || l.contains("excluding"))
        .or(lines.first())?;
    line.trim_start()
        .strip_prefix("tps =")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `url` naming the database `database` instead of its own (the query string is kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_comes_from_the_line_without_connection_time() {
        let modern = "number of failed transactions: 0 (0.000%)\nlatency average = 3.125 ms\ninitial connection time = 10.542 ms\ntps = 640.086781 (without initial connection time)\n";
        assert_eq!(parse_tps(modern), Some(640.086781));
        let old = "tps = 510.5 (including connections establishing)\ntps = 530.25 (excluding connections establishing)\n";
        assert_eq!(parse_tps(old), Some(530.25));
        assert_eq!(parse_tps("tps = 12\n"), Some(12.0));
        assert_eq!(parse_tps("pgbench: error: connection failed\n"), None);
    }

    #[test]
    fn the_scratch_database_replaces_the_url_path() {
        let admin = "postgres://postgres@127.0.0.1:5432/postgres";
        assert_eq!(
            with_database(admin, DATABASE),
            "postgres://postgres@127.0.0.1:5432/ward_bench_pgbench"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://h:5432", "x"),
            "postgresql://h:5432/x"
        );
    }
}
