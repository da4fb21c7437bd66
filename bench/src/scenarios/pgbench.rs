//! The commands' references, both `pgbench` runs in a scratch database at the same
//! concurrency as Ward:
//! - [`Script::OneRow`]: one single-row insert per transaction, the most commits PostgreSQL
//!   makes on this machine (the goal's reference);
//! - [`Script::WardSql`]: the statements a Ward post or comment runs in PostgreSQL before its
//!   `201`, and nothing else, on Ward's own schema (the command API's migrations). It is the
//!   most commands per second this design could reach if the HTTP server, the domain, Redis,
//!   the relay and the projectors cost nothing: a ceiling for Ward, not a goal.

use std::path::PathBuf;
use std::process::Output;

use anyhow::{bail, Context};
use tokio::process::Command;

/// The scratch database, created for a run and dropped after it.
pub const DATABASE: &str = "ward_bench_pgbench";

/// What one pgbench transaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// One insert of a row about the size of a short post.
    OneRow,
    /// A Ward post or comment's statements, half and half, as Ward's run writes them.
    WardSql,
}

/// One insert of a row about the size of a short post.
const ONE_ROW: &str = "INSERT INTO bench_ref (payload) VALUES ('bench post: a short text about a night shift on the ward, about as long as a typical post body');\n";

/// The scratch database's stand-ins for what Ward's statements read, the size of what
/// `ward seed` and the run write: 400 members of one event each, and 1 000 threads of a post
/// and a comment (the run's comments are spread over its posts, about one each). Inserting
/// them also fills the outbox, as Ward's event commits do; it starts empty.
const FIXTURE: &str = "\
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
SELECT 'member', 'bench-member-' || m, 1, 'MemberRegistered', '1.0', \
       json_build_object('MemberRegistered', json_build_object('pad', repeat('m', 20))), \
       json_build_object('correlation_id', md5(m::text)) \
FROM generate_series(1, 400) m; \
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
SELECT 'post', 'bench-thread-' || t, s, 'CommentAdded', '1.0', \
       json_build_object('CommentAdded', json_build_object('pad', repeat('c', 430))), \
       json_build_object('correlation_id', md5(t::text)) \
FROM generate_series(1, 1000) t, generate_series(1, 2) s; \
DELETE FROM outbox; \
ANALYZE";

/// Loads a member's events, as every authenticated command does (the session's member must
/// still be registered and not suspended), then asks whether any strike is pending (none in
/// the run; with one, the command also reads the member's index and their strikes; ADR 0014).
const MEMBER_LOAD: &str = "\\set member random(1, 400)
\\set item random(1, 9223372036854775806)
\\set thread random(1, 1000)
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata FROM events WHERE aggregate_type = 'member' AND aggregate_id = 'bench-member-' || :member ORDER BY sequence;
SELECT EXISTS (SELECT 1 FROM strikes);
";

/// Finds the member's first free index slot (64 slots a query), then records a new item's
/// content key and the member's index entry in one statement, as `member_items::record_new`
/// does (`ITEM` is `post` or `comment`; ADR 0012).
const ITEM_RECORD: &str = "SELECT slot FROM member_index WHERE slot = ANY(ARRAY(SELECT md5(:member || '-' || n) FROM generate_series(0, 63) n));
WITH stored_key AS (INSERT INTO content_keys (item_type, item_id, key) SELECT 'ITEM', md5(:item::text), decode(md5(:item::text) || md5('k' || :item), 'hex') ON CONFLICT (item_type, item_id) DO UPDATE SET key = content_keys.key RETURNING key), entry AS (INSERT INTO member_index (slot, nonce, ciphertext) VALUES (md5('s' || :item), 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn', repeat('i', 96)) ON CONFLICT (slot) DO NOTHING RETURNING 1) SELECT (SELECT key FROM stored_key), EXISTS (SELECT 1 FROM entry);
";

/// One command on a post aggregate: the member, the record of the new `item`, the load of
/// the post `loaded`, and the commit of an `event` of about `size` bytes to the post `id`,
/// whose triggers copy it to the outbox and notify the relay.
fn ward_command(
    item: &str,
    loaded: &str,
    id: &str,
    sequence: u32,
    event: &str,
    size: usize,
) -> String {
    format!(
        "{MEMBER_LOAD}{record}\
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata FROM events WHERE aggregate_type = 'post' AND aggregate_id = {loaded} ORDER BY sequence;
BEGIN;
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ('post', {id}, {sequence}, '{event}', '1.0', json_build_object('{event}', json_build_object('pad', repeat('x', {size}))), json_build_object('correlation_id', md5('m' || :item)));
COMMIT;
",
        record = ITEM_RECORD.replace("ITEM", item)
    )
}

/// A post: its aggregate has no events yet.
fn ward_post() -> String {
    ward_command(
        "post",
        "md5(:item::text)",
        "md5(:item::text)",
        1,
        "PostCreated",
        600,
    )
}

/// A comment: the aggregate loaded is a thread of two events. The event goes to a fresh
/// aggregate id instead of the thread's next sequence, so that concurrent clients never
/// collide; the insert costs the same.
fn ward_comment() -> String {
    ward_command(
        "comment",
        "'bench-thread-' || :thread",
        "md5('c' || :item)",
        3,
        "CommentAdded",
        430,
    )
}

/// A prepared scratch database and scripts for `pgbench`.
pub struct Pgbench {
    admin_url: String,
    url: String,
    scripts: Vec<PathBuf>,
}

impl Pgbench {
    /// Creates the scratch database on the server of `pg_url` (a database to connect to
    /// first, e.g. `postgres://postgres@127.0.0.1:5432/postgres`) with the reference's table,
    /// Ward's event store schema and its fixture, and writes the scripts. `Ok(None)` when
    /// `pgbench` is not installed.
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
        let pool = sqlx::PgPool::connect(&url)
            .await
            .context("connecting to the scratch database")?;
        ward_command_api::app::MIGRATOR
            .run(&pool)
            .await
            .context("giving the scratch database Ward's event store schema")?;
        pool.close().await;
        psql(&url, FIXTURE).await?;
        let dir = std::env::temp_dir();
        let pid = std::process::id();
        let mut scripts = Vec::new();
        for (name, text) in [
            ("one-row", ONE_ROW.to_owned()),
            ("ward-post", ward_post()),
            ("ward-comment", ward_comment()),
        ] {
            let path = dir.join(format!("ward-bench-{pid}-{name}.sql"));
            std::fs::write(&path, text).context("writing a pgbench script")?;
            scripts.push(path);
        }
        Ok(Some(Self {
            admin_url: pg_url.to_owned(),
            url,
            scripts,
        }))
    }

    /// Transactions per second of `clients` connections running `script` for about `secs`
    /// seconds.
    pub async fn tps(&self, script: Script, clients: usize, secs: u64) -> anyhow::Result<f64> {
        let clients = clients.max(1);
        let mut command = Command::new("pgbench");
        command
            .args([
                "-n",
                "-c",
                &clients.to_string(),
                "-j",
                &clients.min(2).to_string(),
            ])
            .args(["-T", &secs.max(1).to_string()]);
        // Ward's statements are prepared once per connection, as sqlx prepares them.
        let files = match script {
            Script::OneRow => &self.scripts[..1],
            Script::WardSql => {
                command.args(["-M", "prepared"]);
                &self.scripts[1..]
            }
        };
        for file in files {
            command.arg("-f").arg(file);
        }
        let output = checked(command.arg(&self.url).output().await, "pgbench")?;
        let text = String::from_utf8_lossy(&output.stdout);
        parse_tps(&text).with_context(|| format!("no tps in pgbench's output: {text}"))
    }

    /// Drops the scratch database and removes the scripts.
    pub async fn clean_up(self) -> anyhow::Result<()> {
        for script in &self.scripts {
            let _ = std::fs::remove_file(script);
        }
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
