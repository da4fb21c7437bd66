//! The chaos run's own installation of Ward, isolated from every other on the machine: fresh
//! databases named after the run, its own Redis key prefix, its own Tansu broker with its
//! storage in a temporary folder, proxies in front of the shared database servers and Redis,
//! and its processes — command APIs, query APIs, one or more projectors per projection —
//! under supervision. Everything is removed at the end.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use rand::RngCore;
use reqwest::Url;
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;
use ward_platform::config::{DatabaseConfig, WardConfig};

use super::proxy::{Mode, Proxy};
use super::supervisor::{Role, Spec, Supervised};

/// The projections, each run by its own projector process(es).
pub const PROJECTIONS: [&str; 3] = ["board", "hospital", "member"];
/// How long an operator command (`ward migrate`, `ward seed`, a rebuild) may take.
const OPERATOR_TIMEOUT: Duration = Duration::from_secs(300);

/// The shared servers behind the run's proxies (admin URLs).
#[derive(Debug, Clone)]
pub struct Servers {
    /// A PostgreSQL database to connect to for creating and dropping the run's databases.
    pub postgres: String,
    /// The same for MariaDB.
    pub mariadb: String,
    /// Redis.
    pub redis: String,
}

/// One of the shared servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// PostgreSQL: event store and board read model.
    Postgres,
    /// MariaDB: hospital and member read models.
    MariaDb,
    /// Redis: sessions, rate limits, cache, projector sharing.
    Redis,
}

impl Server {
    /// All three.
    pub const ALL: [Server; 3] = [Server::Postgres, Server::MariaDb, Server::Redis];

    /// Its name in reports.
    pub fn label(self) -> &'static str {
        match self {
            Server::Postgres => "PostgreSQL",
            Server::MariaDb => "MariaDB",
            Server::Redis => "Redis",
        }
    }
}

/// What the installation is made of.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The `ward` binary.
    pub ward_bin: PathBuf,
    /// The `tansu` binary.
    pub tansu_bin: PathBuf,
    /// The shared servers.
    pub servers: Servers,
    /// Command-API processes (each with a relay).
    pub command_apis: usize,
    /// Query-API processes.
    pub query_apis: usize,
    /// Projector processes per projection.
    pub projectors_per_projection: usize,
}

/// The run's installation.
pub struct Installation {
    /// The run's id: in database names, the Redis prefix, idempotency keys and markers.
    pub id: String,
    dir: tempfile::TempDir,
    layout: Layout,
    /// The configuration with the real servers' addresses: the harness's own view, and the
    /// operator commands'.
    pub config: WardConfig,
    /// The environment of Ward's processes: the same, through the proxies.
    process_env: Vec<(String, String)>,
    /// Secrets and settings every `ward` invocation gets.
    common_env: Vec<(String, String)>,
    proxies: Vec<(Server, Proxy)>,
    /// The supervised processes; the broker first.
    pub processes: Vec<Supervised>,
    shutdown: CancellationToken,
    /// Stops the processes should the installation be dropped without [`Installation::remove`].
    _stop_on_drop: tokio_util::sync::DropGuard,
}

impl Installation {
    /// Creates the installation: proxies, the broker, the databases (`ward migrate`), the
    /// topics. Its processes are started by [`Installation::start`].
    pub async fn create(layout: Layout) -> anyhow::Result<Self> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let dir = tempfile::Builder::new()
            .prefix(&format!("ward-chaos-{id}-"))
            .tempdir()
            .context("creating the run's folder")?;
        let servers = &layout.servers;
        let mut proxies = Vec::new();
        for server in Server::ALL {
            let url = url_of(servers, server);
            proxies.push((server, Proxy::start(upstream(url)?).await?));
        }
        let proxy = |server: Server| -> anyhow::Result<std::net::SocketAddr> {
            proxies
                .iter()
                .find(|(s, _)| *s == server)
                .map(|(_, p)| p.address)
                .ok_or_else(|| anyhow::anyhow!("no proxy for {}", server.label()))
        };
        let broker_port = free_port()?;
        let names = |kind: &str| format!("ward_chaos_{id}_{kind}");
        let mut config = WardConfig::local();
        let (pg, my) = (
            DatabaseConfig::new(servers.postgres.clone()),
            DatabaseConfig::new(servers.mariadb.clone()),
        );
        config.event_store = pg.with_database(&names("events"))?;
        config.board_db = pg.with_database(&names("board"))?;
        config.hospital_db = my.with_database(&names("hospital"))?;
        config.member_db = my.with_database(&names("member"))?;
        config.kafka.bootstrap_servers = format!("127.0.0.1:{broker_port}");
        config.redis.key_prefix = format!("ward-chaos:{id}:");
        config.redis.url = servers.redis.clone().into();

        let rate_limited = ["POSTS", "COMMENTS", "LIKES", "CLAIMS", "REVIEWS", "EDITS"];
        let mut common_env = vec![
            (
                "WARD_KAFKA__BOOTSTRAP_SERVERS".to_owned(),
                config.kafka.bootstrap_servers.clone(),
            ),
            (
                "WARD_REDIS__KEY_PREFIX".to_owned(),
                config.redis.key_prefix.clone(),
            ),
            (
                "WARD_COMMAND_API__SESSION_COOKIE".to_owned(),
                "ward_session".to_owned(),
            ),
            ("WARD_COMMAND_API__AUTHOR_KEY".to_owned(), random_key()),
            ("WARD_COMMAND_API__IDENTITY_PEPPER".to_owned(), random_key()),
            // Deletions would wait for the end of a removal epoch; the run deletes nothing,
            // but a rebuild should not wait either.
            (
                "WARD_PROJECTOR__REMOVAL_EPOCH_SECS".to_owned(),
                "0".to_owned(),
            ),
            ("RUST_LOG".to_owned(), "warn".to_owned()),
        ];
        // Members write far faster than people: the limits would refuse the load.
        for limit in rate_limited {
            common_env.push((
                format!("WARD_COMMAND_API__RATE_LIMITS__{limit}__COUNT"),
                "1000000".to_owned(),
            ));
            common_env.push((
                format!("WARD_COMMAND_API__RATE_LIMITS__{limit}__WINDOW_SECS"),
                "60".to_owned(),
            ));
        }
        let databases = |postgres: &str, mariadb: &str, redis: &str| {
            let pg = DatabaseConfig::new(postgres);
            let my = DatabaseConfig::new(mariadb);
            anyhow::Ok(vec![
                (
                    "WARD_EVENT_STORE__URL".to_owned(),
                    pg.with_database(&names("events"))?.url().to_owned(),
                ),
                (
                    "WARD_BOARD_DB__URL".to_owned(),
                    pg.with_database(&names("board"))?.url().to_owned(),
                ),
                (
                    "WARD_HOSPITAL_DB__URL".to_owned(),
                    my.with_database(&names("hospital"))?.url().to_owned(),
                ),
                (
                    "WARD_MEMBER_DB__URL".to_owned(),
                    my.with_database(&names("member"))?.url().to_owned(),
                ),
                ("WARD_REDIS__URL".to_owned(), redis.to_owned()),
            ])
        };
        let mut process_env = common_env.clone();
        process_env.extend(databases(
            &through(&servers.postgres, proxy(Server::Postgres)?)?,
            &through(&servers.mariadb, proxy(Server::MariaDb)?)?,
            &through(&servers.redis, proxy(Server::Redis)?)?,
        )?);
        common_env.extend(databases(
            &servers.postgres,
            &servers.mariadb,
            &servers.redis,
        )?);

        let shutdown = CancellationToken::new();
        let mut installation = Self {
            id,
            dir,
            layout,
            config,
            process_env,
            common_env,
            proxies,
            processes: Vec::new(),
            _stop_on_drop: shutdown.clone().drop_guard(),
            shutdown,
        };
        let broker_dir = installation.dir.path().join("broker");
        std::fs::create_dir_all(&broker_dir)?;
        let url = format!("tcp://127.0.0.1:{broker_port}");
        let broker = Spec {
            name: "broker".to_owned(),
            role: Role::Broker,
            program: installation.layout.tansu_bin.clone(),
            args: [
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "sqlite://tansu.db",
            ]
            .map(str::to_owned)
            .to_vec(),
            env: Vec::new(),
            dir: broker_dir,
            port: broker_port,
            log: installation.dir.path().join("broker.log"),
        };
        installation
            .processes
            .push(Supervised::start(broker, installation.shutdown.clone()));
        let prepared = async {
            wait_for_port(broker_port, Duration::from_secs(30)).await?;
            installation.ward(&["migrate"]).await?;
            installation.ward(&["topics", "create"]).await
        }
        .await;
        match prepared {
            Ok(_) => Ok(installation),
            Err(error) => {
                // Leave nothing behind but the logs.
                if let Ok(Some(logs)) = installation.remove(true).await {
                    eprintln!("chaos: logs in {}", logs.display());
                }
                Err(error)
            }
        }
    }

    /// Starts Ward's processes and waits until every one is ready.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let mut specs = Vec::new();
        for n in 1..=self.layout.command_apis {
            specs.push(self.component(
                format!("command-api-{n}"),
                Role::CommandApi,
                "command-api",
                "WARD_COMMAND_API__LISTEN",
                Vec::new(),
            )?);
        }
        for n in 1..=self.layout.query_apis {
            specs.push(self.component(
                format!("query-api-{n}"),
                Role::QueryApi,
                "query-api",
                "WARD_QUERY_API__LISTEN",
                Vec::new(),
            )?);
        }
        for projection in PROJECTIONS {
            for n in 1..=self.layout.projectors_per_projection {
                specs.push(self.component(
                    format!("projector-{projection}-{n}"),
                    Role::Projector(projection.to_owned()),
                    "projector",
                    "WARD_PROJECTOR__LISTEN",
                    vec![(
                        "WARD_PROJECTOR__PROJECTIONS".to_owned(),
                        projection.to_owned(),
                    )],
                )?);
            }
        }
        for spec in specs {
            self.processes
                .push(Supervised::start(spec, self.shutdown.clone()));
        }
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        for process in &self.processes {
            while !process.ready(&client).await {
                anyhow::ensure!(
                    tokio::time::Instant::now() < deadline,
                    "{} did not become ready (log: {})",
                    process.spec.name,
                    process.spec.log.display()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    fn component(
        &self,
        name: String,
        role: Role,
        only: &str,
        listen: &str,
        extra: Vec<(String, String)>,
    ) -> anyhow::Result<Spec> {
        let port = free_port()?;
        let mut env = self.process_env.clone();
        env.push((listen.to_owned(), format!("127.0.0.1:{port}")));
        env.extend(extra);
        Ok(Spec {
            log: self.dir.path().join(format!("{name}.log")),
            name,
            role,
            program: self.layout.ward_bin.clone(),
            args: vec!["run".to_owned(), "--only".to_owned(), only.to_owned()],
            env,
            dir: self.dir.path().to_path_buf(),
            port,
        })
    }

    /// Runs `ward <args>` as an operator would, against the real servers; its standard
    /// output.
    pub async fn ward(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut command = Command::new(&self.layout.ward_bin);
        command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("WARD_") {
                command.env_remove(name);
            }
        }
        command.envs(self.common_env.iter().map(|(k, v)| (k, v)));
        let output = tokio::time::timeout(OPERATOR_TIMEOUT, command.output())
            .await
            .with_context(|| format!("ward {} took too long", args.join(" ")))?
            .with_context(|| format!("running {}", self.layout.ward_bin.display()))?;
        anyhow::ensure!(
            output.status.success(),
            "ward {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Registers `members` new members and `hospitals` new hospitals with `ward seed`; the
    /// members' session tokens, in order. `name` names the file the tokens are written to.
    pub async fn seed(
        &self,
        name: &str,
        members: usize,
        hospitals: usize,
    ) -> anyhow::Result<Vec<String>> {
        let file = self.dir.path().join(name);
        let (members, hospitals) = (members.to_string(), hospitals.to_string());
        let file_arg = file.display().to_string();
        self.ward(&[
            "seed",
            "--posts",
            "0",
            "--comments-per-post",
            "0",
            "--reviews",
            "0",
            "--hospitals",
            &hospitals,
            "--members",
            &members,
            "--sessions-file",
            &file_arg,
        ])
        .await?;
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        Ok(crate::scenarios::parse_sessions(&text))
    }

    /// Makes the member signed in with `token` a moderator, as an operator would: their
    /// `member_ref` from the query API's `GET /api/v1/me`, then `ward members grant`.
    pub async fn grant_moderator(&self, query_url: &str, token: &str) -> anyhow::Result<()> {
        let me: serde_json::Value = reqwest::Client::new()
            .get(format!("{query_url}/api/v1/me"))
            .header("cookie", format!("ward_session={token}"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let member_ref = me["member_ref"]
            .as_str()
            .context("GET /api/v1/me named no member_ref")?;
        self.ward(&["members", "grant", member_ref, "moderator"])
            .await?;
        Ok(())
    }

    /// The run's folder (logs, the broker's storage).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The proxy in front of `server`.
    pub fn proxy(&self, server: Server) -> Option<&Proxy> {
        self.proxies
            .iter()
            .find(|(s, _)| *s == server)
            .map(|(_, p)| p)
    }

    /// Sets the proxy of `server` to `mode`.
    pub fn set_proxy(&self, server: Server, mode: Mode) {
        if let Some(proxy) = self.proxy(server) {
            proxy.set(mode);
        }
    }

    /// The processes with `role`.
    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &Supervised> {
        self.processes.iter().filter(move |p| p.spec.role == role)
    }

    /// The base URLs of the processes with `role`.
    pub fn urls(&self, role: Role) -> Vec<String> {
        self.with_role(role).map(Supervised::url).collect()
    }

    /// Stops every process, drops the run's databases and Redis keys, and removes its
    /// folder unless `keep_dir` (then its path is returned).
    pub async fn remove(self, keep_dir: bool) -> anyhow::Result<Option<PathBuf>> {
        self.shutdown.cancel();
        for process in self.processes {
            process.stopped().await;
        }
        drop(self.proxies);
        let admin = DatabaseConfig::new(self.layout.servers.postgres.clone())
            .connect_postgres()
            .await?;
        for db in [&self.config.event_store, &self.config.board_db] {
            // With what a rebuild may have left: <name>_next and <name>_previous.
            for suffix in ["", "_next", "_previous"] {
                let name = format!("{}{suffix}", db.database_name());
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&admin)
                    .await?;
            }
        }
        let admin = DatabaseConfig::new(self.layout.servers.mariadb.clone())
            .connect_mysql()
            .await?;
        for db in [&self.config.hospital_db, &self.config.member_db] {
            for suffix in ["", "_next", "_previous"] {
                let name = format!("{}{suffix}", db.database_name());
                sqlx::query(&format!("DROP DATABASE IF EXISTS `{name}`"))
                    .execute(&admin)
                    .await?;
            }
        }
        let client = redis::Client::open(self.layout.servers.redis.as_str())?;
        let mut redis = client.get_multiplexed_async_connection().await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.config.redis.key_prefix))
            .query_async(&mut redis)
            .await?;
        for chunk in keys.chunks(1000) {
            let _: () = redis::cmd("DEL").arg(chunk).query_async(&mut redis).await?;
        }
        if keep_dir {
            Ok(Some(self.dir.keep()))
        } else {
            Ok(None)
        }
    }
}

fn url_of(servers: &Servers, server: Server) -> &str {
    match server {
        Server::Postgres => &servers.postgres,
        Server::MariaDb => &servers.mariadb,
        Server::Redis => &servers.redis,
    }
}

/// `host:port` of a server URL (its scheme's usual port if none is given).
fn upstream(url: &str) -> anyhow::Result<String> {
    let parsed = Url::parse(url).with_context(|| format!("parsing {url}"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("{url} names no host"))?;
    let port = parsed.port().unwrap_or(match parsed.scheme() {
        "mysql" | "mariadb" => 3306,
        "redis" => 6379,
        _ => 5432,
    });
    Ok(format!("{host}:{port}"))
}

/// `url` with its host and port replaced by `address`.
fn through(url: &str, address: std::net::SocketAddr) -> anyhow::Result<String> {
    let mut parsed = Url::parse(url).with_context(|| format!("parsing {url}"))?;
    parsed
        .set_ip_host(address.ip())
        .map_err(|()| anyhow::anyhow!("{url} cannot take another host"))?;
    parsed
        .set_port(Some(address.port()))
        .map_err(|()| anyhow::anyhow!("{url} cannot take another port"))?;
    Ok(parsed.into())
}

/// 32 random bytes in hex: the run's author key and identity pepper.
fn random_key() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// A port nothing listens on now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until something accepts connections on `port`.
pub async fn wait_for_port(port: u16, within: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_sent_through_the_proxy() -> anyhow::Result<()> {
        let proxy: std::net::SocketAddr = "127.0.0.1:4000".parse()?;
        assert_eq!(
            upstream("postgres://postgres@127.0.0.1:5432/postgres")?,
            "127.0.0.1:5432"
        );
        assert_eq!(upstream("mysql://root@localhost/mysql")?, "localhost:3306");
        assert_eq!(upstream("redis://127.0.0.1")?, "127.0.0.1:6379");
        assert_eq!(
            through("postgres://postgres@localhost:5432/postgres", proxy)?,
            "postgres://postgres@127.0.0.1:4000/postgres"
        );
        assert_eq!(
            through("redis://127.0.0.1:6379", proxy)?,
            "redis://127.0.0.1:4000"
        );
        Ok(())
    }
}
