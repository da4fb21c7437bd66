//! The test harness: every test gets its own Tansu broker (port and storage of its own), its
//! own PostgreSQL databases and its own Redis key prefix, so tests run in parallel and any
//! number of times in a row. Components run in-process on port 0, or — where a test must kill
//! one — as a `ward` child process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use ward_command_api::app::store;
use ward_command_api::members;
use ward_command_api::session::{Session, SessionStore};
use ward_domain::author::AuthorKey;
use ward_domain::member::MemberId;
use ward_domain::member::{JobCategory, MemberCommand, Role};

mod secret {
    pub fn expose(secret: &secrecy::SecretString) -> &str {
        secrecy::ExposeSecret::expose_secret(secret)
    }
}
use ward_platform::config::{DatabaseConfig, WardConfig};
use ward_platform::{kafka, ops};

pub type Result<T = ()> = anyhow::Result<T>;

/// A Tansu broker of this test's own.
pub struct Broker {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Where clients are told to connect, when not straight to `port`.
    advertised: Option<String>,
    /// Whether clients must authenticate with SASL/SCRAM.
    authentication: bool,
    /// The TLS terminator in front of the broker, once it has one.
    tls: Option<Child>,
}

impl Broker {
    pub async fn start() -> Result<Self> {
        let port = StdListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut broker = Self {
            port,
            dir: tempfile::tempdir()?,
            child: None,
            advertised: None,
            authentication: false,
            tls: None,
        };
        broker.resume().await?;
        Ok(broker)
    }

    /// `host:port` for librdkafka.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker (SIGKILL); its storage stays for [`Broker::resume`].
    pub async fn stop(&mut self) -> Result {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Starts the broker on the same port and storage.
    pub async fn resume(&mut self) -> Result {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut command = Command::new(tansu());
        command
            .args(["broker", "--listener-url", &url])
            .args([
                "--advertised-listener-url",
                self.advertised.as_deref().unwrap_or(&url),
            ])
            .args(["--storage-engine", "sqlite://tansu.db"]);
        if self.authentication {
            command.arg("--authentication");
        }
        let child = command
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        wait_for_port(self.port).await
    }

    /// Makes this broker like production's: it requires SASL/SCRAM-SHA-512, knows `user`
    /// with `password`, and is reached over TLS only, with a certificate for `localhost`
    /// whose PEM file is returned (clients trust it as their CA). Tansu 0.6 accepts a
    /// certificate but does not serve TLS yet, so socat terminates TLS in front of it, as a
    /// proxy would; the broker advertises the TLS address, so no client reaches it in plain.
    /// Returns the TLS bootstrap address and the certificate.
    pub async fn secure(&mut self, user: &str, password: &str) -> Result<(String, PathBuf)> {
        let status = Command::new(tansu())
            .args([
                "user",
                "create",
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
            ])
            .args([user, password])
            .stdout(Stdio::null())
            .status()
            .await?;
        anyhow::ensure!(status.success(), "tansu user create: {status}");
        let (cert, key) = (
            self.dir.path().join("cert.pem"),
            self.dir.path().join("key.pem"),
        );
        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await?;
        anyhow::ensure!(status.success(), "openssl req: {status}");
        let tls_port = free_port()?;
        let listen = format!(
            "OPENSSL-LISTEN:{tls_port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
            cert.display(),
            key.display()
        );
        self.tls = Some(
            Command::new("socat")
                .args([listen, format!("TCP:127.0.0.1:{}", self.port)])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()?,
        );
        wait_for_port(tls_port).await?;
        self.stop().await?;
        self.authentication = true;
        self.advertised = Some(format!("tcp://localhost:{tls_port}"));
        self.resume().await?;
        Ok((format!("localhost:{tls_port}"), cert))
    }
}

fn tansu() -> PathBuf {
    std::env::var_os("WARD_TANSU_BIN").map_or_else(|| PathBuf::from("tansu"), PathBuf::from)
}

async fn wait_for_port(port: u16) -> Result {
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "nothing listens on port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// One test's installation of Ward: configuration, broker, databases, topics.
pub struct Stack {
    pub config: WardConfig,
    pub broker: Broker,
    pub id: String,
}

impl Stack {
    pub async fn new() -> Result<Self> {
        ward_platform::telemetry::init();
        let broker = Broker::start().await?;
        let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let mut config = WardConfig::local();
        let server = DatabaseConfig::new("postgres://postgres@127.0.0.1:5432/postgres");
        config.event_store = server.with_database(&format!("ward_t_{id}_events"))?;
        config.board_db = server.with_database(&format!("ward_t_{id}_board"))?;
        let mysql = DatabaseConfig::new("mysql://root@127.0.0.1:3306/mysql");
        config.hospital_db = mysql.with_database(&format!("ward_t_{id}_hospital"))?;
        config.member_db = mysql.with_database(&format!("ward_t_{id}_member"))?;
        config.kafka.bootstrap_servers = broker.bootstrap();
        config.redis.key_prefix = format!("ward-test:{id}:");
        config.command_api.author_key = Some(random_key().into());
        config.command_api.session_cookie = "ward_session".to_owned();
        config.command_api.listen = "127.0.0.1:0".to_owned();
        config.query_api.listen = "127.0.0.1:0".to_owned();
        config.projector.listen = "127.0.0.1:0".to_owned();
        // Tests write far faster than people; the rate-limit tests set their own limits.
        let generous = ward_platform::config::Limit {
            count: 100_000,
            window_secs: 60,
        };
        config.command_api.rate_limits.posts = generous;
        config.command_api.rate_limits.comments = generous;
        // Deletions apply at once; the epoch tests set their own.
        config.projector.removal_epoch_secs = 0;
        ward::migrate(&config).await?;
        kafka::create_topics(&config.kafka).await?;
        Ok(Self { config, broker, id })
    }

    /// Starts the command API in this process.
    pub async fn command_api(&self) -> Result<Running> {
        self.spawn(|config, listener, token| async move {
            ward_command_api::run(&config, listener, token).await
        })
        .await
    }

    /// Starts the whole system in this process: command API, projector and query API.
    pub async fn start_all(&self) -> Result<(Running, Running, Running)> {
        Ok((
            self.command_api().await?,
            self.projector().await?,
            self.query_api().await?,
        ))
    }

    /// Starts the command API in this process on the address configured in
    /// `command_api.listen` (for tests that must know the port before it starts, such as
    /// sign-in's redirect URL).
    pub async fn command_api_on_configured_port(&self) -> Result<Running> {
        let listener = TcpListener::bind(&self.config.command_api.listen).await?;
        self.spawn_on(listener, |config, listener, token| async move {
            ward_command_api::run(&config, listener, token).await
        })
        .await
    }

    /// Starts the query API in this process.
    pub async fn query_api(&self) -> Result<Running> {
        self.spawn(|config, listener, token| async move {
            ward_query_api::run(&config, listener, token).await
        })
        .await
    }

    /// Starts the projector in this process.
    pub async fn projector(&self) -> Result<Running> {
        self.spawn(|config, listener, token| async move {
            ward_projector::run(&config, listener, token).await
        })
        .await
    }

    /// Starts the projector in this process with `config` instead of the stack's.
    pub async fn projector_with(&self, config: WardConfig) -> Result<Running> {
        self.spawn(|_, listener, token| async move {
            ward_projector::run(&config, listener, token).await
        })
        .await
    }

    async fn spawn<F, Fut>(&self, start: F) -> Result<Running>
    where
        F: FnOnce(WardConfig, TcpListener, CancellationToken) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        self.spawn_on(listener, start).await
    }

    async fn spawn_on<F, Fut>(&self, listener: TcpListener, start: F) -> Result<Running>
    where
        F: FnOnce(WardConfig, TcpListener, CancellationToken) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let address = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(start(self.config.clone(), listener, shutdown.clone()));
        let running = Running {
            address,
            shutdown,
            task: Some(task),
        };
        running.wait_live().await?;
        Ok(running)
    }

    /// The `ward` binary, configured through `WARD_*` variables for this test's broker,
    /// databases, Redis prefix and secrets.
    pub fn ward_command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ward"));
        let config = &self.config;
        command
            .env(
                "WARD_KAFKA__BOOTSTRAP_SERVERS",
                &config.kafka.bootstrap_servers,
            )
            .env("WARD_EVENT_STORE__URL", config.event_store.url())
            .env("WARD_BOARD_DB__URL", config.board_db.url())
            .env("WARD_HOSPITAL_DB__URL", config.hospital_db.url())
            .env("WARD_MEMBER_DB__URL", config.member_db.url())
            .env("WARD_REDIS__KEY_PREFIX", &config.redis.key_prefix)
            .env(
                "WARD_COMMAND_API__SESSION_COOKIE",
                &config.command_api.session_cookie,
            )
            .kill_on_drop(true);
        let limits = &config.command_api.rate_limits;
        for (kind, limit) in [("POSTS", &limits.posts), ("COMMENTS", &limits.comments)] {
            let setting = format!("WARD_COMMAND_API__RATE_LIMITS__{kind}");
            command.env(format!("{setting}__COUNT"), limit.count.to_string());
            command.env(
                format!("{setting}__WINDOW_SECS"),
                limit.window_secs.to_string(),
            );
        }
        for (name, secret) in [
            (
                "WARD_COMMAND_API__AUTHOR_KEY",
                &config.command_api.author_key,
            ),
            (
                "WARD_COMMAND_API__IDENTITY_PEPPER",
                &config.command_api.identity_pepper,
            ),
        ] {
            if let Some(secret) = secret {
                command.env(name, secret::expose(secret));
            }
        }
        command
    }

    /// Starts the projector as a child process (`ward run --only projector`).
    pub async fn projector_process(&self, batch_size: usize) -> Result<Child> {
        let child = self
            .ward_command()
            .args(["run", "--only", "projector"])
            .env("WARD_PROJECTOR__LISTEN", "127.0.0.1:0")
            .env("WARD_PROJECTOR__BATCH_SIZE", batch_size.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?;
        Ok(child)
    }

    /// A signed-in, registered member's session cookie value.
    pub async fn session(&self) -> Result<String> {
        Ok(self.member(&[]).await?.1)
    }

    /// A registered member holding `roles`: their id and session cookie value. Registration
    /// runs the same library function sign-in uses.
    pub async fn member(&self, roles: &[Role]) -> Result<(MemberId, String)> {
        let member = MemberId(Uuid::new_v4());
        let store = store(self.events_db().await?);
        let key = self.author_key()?;
        members::register(&store, &key, member, JobCategory::Nurse).await?;
        for role in roles {
            members::run(
                &store,
                &key,
                member,
                MemberCommand::GrantRole { role: *role },
            )
            .await?;
        }
        let redis = ops::connect_redis(&self.config.redis).await?;
        let cookie = SessionStore::new(redis, &self.config)
            .create(&Session::new(member))
            .await?;
        Ok((member, cookie))
    }

    /// The configured author key.
    pub fn author_key(&self) -> Result<AuthorKey> {
        self.config.command_api.author_key()
    }

    pub async fn events_db(&self) -> Result<sqlx::PgPool> {
        self.config.event_store.connect_postgres().await
    }

    pub async fn board_db(&self) -> Result<sqlx::PgPool> {
        self.config.board_db.connect_postgres().await
    }

    pub async fn hospital_db(&self) -> Result<sqlx::MySqlPool> {
        self.config.hospital_db.connect_mysql().await
    }

    pub async fn member_db(&self) -> Result<sqlx::MySqlPool> {
        self.config.member_db.connect_mysql().await
    }

    /// Drops this test's databases and Redis keys.
    pub async fn finish(self) -> Result {
        let admin = DatabaseConfig::new("postgres://postgres@127.0.0.1:5432/postgres")
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
        let admin = DatabaseConfig::new("mysql://root@127.0.0.1:3306/mysql")
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
        let mut redis = ops::connect_redis(&self.config.redis).await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.config.redis.key_prefix))
            .query_async(&mut redis)
            .await?;
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(keys).query_async(&mut redis).await?;
        }
        Ok(())
    }
}

fn random_key() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// A component running in this process.
pub struct Running {
    pub address: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    async fn wait_live(&self) -> Result {
        wait_live(self.address).await
    }

    /// Stops the component gracefully and waits for it.
    pub async fn stop(mut self) -> Result {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Waits until the component at `address` answers `/livez`.
async fn wait_live(address: SocketAddr) -> Result {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = reqwest::get(format!("http://{address}/livez")).await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "{address} never became live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Something answering HTTP: a component in this process, a child process, a gateway.
pub trait Endpoint {
    /// The URL of `path` there.
    fn url(&self, path: &str) -> String;
}

impl Endpoint for Running {
    fn url(&self, path: &str) -> String {
        Running::url(self, path)
    }
}

/// A component running as a child process of the test (`ward run --only <component>`).
pub struct Process {
    pub child: Child,
    pub address: SocketAddr,
}

impl Process {
    /// Kills the process with SIGKILL, as a crash would, and reaps it.
    pub async fn kill(mut self) -> Result {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

/// The sum of metric `name`'s series at `endpoint`'s `/metrics` whose labels contain each of
/// `labels` (e.g. `group="ward-board"`); 0 when there are none.
pub async fn metric(endpoint: &impl Endpoint, name: &str, labels: &[&str]) -> Result<f64> {
    let text = reqwest::get(endpoint.url("/metrics")).await?.text().await?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let matches = (series == name || series.starts_with(&format!("{name}{{")))
                && labels.iter().all(|label| series.contains(label));
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum())
}

impl Endpoint for Process {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

/// An origin given by its base URL (`http://host:port`), such as a gateway's.
pub struct Origin(pub String);

impl Endpoint for Origin {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl Stack {
    /// Starts `component` (`command-api`, `query-api` or `projector`) as a child process on
    /// a port of its own, with the extra `WARD_*` settings `env`, and waits until it is live.
    pub async fn process(&self, component: &str, env: &[(&str, &str)]) -> Result<Process> {
        let setting = match component {
            "command-api" => "WARD_COMMAND_API__LISTEN",
            "query-api" => "WARD_QUERY_API__LISTEN",
            "projector" => "WARD_PROJECTOR__LISTEN",
            other => anyhow::bail!("no component {other}"),
        };
        let address: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let child = self
            .ward_command()
            .args(["run", "--only", component])
            .env(setting, address.to_string())
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?;
        wait_live(address).await?;
        Ok(Process { child, address })
    }
}

/// A port nothing listens on now, for a child process that must be told its port.
pub fn free_port() -> Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Polls `check` until it returns `Some`, or fails after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Creates a post as the member with `cookie`; returns its id.
pub async fn create_post(
    client: &reqwest::Client,
    api: &impl Endpoint,
    cookie: &str,
    title: &str,
) -> Result<Uuid> {
    let response = client
        .post(api.url("/api/v1/posts"))
        .header("cookie", format!("ward_session={cookie}"))
        .json(&serde_json::json!({"board": "free", "title": title, "body": "본문"}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 201, "status {}", response.status());
    let body: serde_json::Value = response.json().await?;
    Ok(body["id"].as_str().unwrap_or_default().parse()?)
}

/// How many rows the board read model holds.
pub async fn board_count(pool: &sqlx::PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM board_posts")
        .fetch_one(pool)
        .await?)
}

/// Waits a moment for stragglers, then checks the board holds each of `ids` exactly once.
pub async fn assert_board_holds_exactly(
    pool: &sqlx::PgPool,
    ids: &std::collections::HashSet<Uuid>,
) -> Result {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM board_posts")
        .fetch_all(pool)
        .await?;
    assert_eq!(stored.len(), ids.len(), "nothing doubled");
    assert_eq!(
        &stored.into_iter().collect::<std::collections::HashSet<_>>(),
        ids,
        "nothing missing"
    );
    Ok(())
}

/// JSON over HTTP to one running component, as a visitor or as a member.
pub struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    pub fn new(component: &Running) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: component.url(""),
        }
    }

    /// Sends `method path` with an optional session cookie and JSON body; the status and
    /// the JSON answer (`Null` when there is none).
    pub async fn send(
        &self,
        cookie: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value)> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("ward_session={cookie}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or_default()))
    }

    /// Like [`Http::send`], insisting on a 2xx answer.
    pub async fn ok(
        &self,
        cookie: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let (status, answer) = self.send(cookie, method.clone(), path, body).await?;
        anyhow::ensure!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        Ok(answer)
    }

    /// `GET path` as a visitor, insisting on 200.
    pub async fn get(&self, path: &str) -> Result<serde_json::Value> {
        self.ok(None, reqwest::Method::GET, path, None).await
    }

    /// `POST path` with `body` as the member with `cookie`, insisting on a 2xx answer.
    pub async fn post(
        &self,
        cookie: &str,
        path: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value> {
        self.ok(Some(cookie), reqwest::Method::POST, path, Some(body))
            .await
    }
}

/// Registers a hospital through the hospital aggregate (as the operator import does).
pub async fn register_hospital(
    stack: &Stack,
    name: &str,
    sido: &str,
    kind: ward_domain::hospital::HospitalKind,
) -> Result<Uuid> {
    register_hospital_with_domains(stack, name, sido, kind, &[]).await
}

/// Registers a hospital whose staff have addresses at `email_domains`.
pub async fn register_hospital_with_domains(
    stack: &Stack,
    name: &str,
    sido: &str,
    kind: ward_domain::hospital::HospitalKind,
    email_domains: &[&str],
) -> Result<Uuid> {
    use ward_domain::hospital::{Hospital, HospitalCommand, HospitalProfile};
    let id = Uuid::new_v4();
    let profile = HospitalProfile {
        name: name.to_owned(),
        kind,
        address: format!("{sido} 어딘가 1"),
        sido: sido.to_owned(),
        sigungu: "종로구".to_owned(),
        institution_code: None,
        email_domains: email_domains.iter().map(|d| (*d).to_owned()).collect(),
    };
    let hospitals = store::<Hospital>(stack.events_db().await?);
    let correlation = ward_platform::http::CorrelationId("test-hospital".to_owned());
    ward_command_api::execute::execute(
        &hospitals,
        &(),
        &id.to_string(),
        HospitalCommand::Register(profile),
        &correlation,
    )
    .await?;
    Ok(id)
}

/// A fresh member whose claim to `hospital` (as `job_category`) a moderator approved; their
/// session cookie.
pub async fn insider(
    stack: &Stack,
    commands: &Http,
    moderator: &str,
    hospital: Uuid,
    job_category: &str,
) -> Result<String> {
    Ok(
        insider_with_claim(stack, commands, moderator, hospital, job_category)
            .await?
            .0,
    )
}

/// Like [`insider`]: the session cookie and the id of the approved claim.
pub async fn insider_with_claim(
    stack: &Stack,
    commands: &Http,
    moderator: &str,
    hospital: Uuid,
    job_category: &str,
) -> Result<(String, Uuid)> {
    let (_, cookie) = stack.member(&[]).await?;
    let claim = serde_json::json!({"job_category": job_category, "tenure": "current"});
    let answer = commands
        .post(
            &cookie,
            &format!("/api/v1/hospitals/{hospital}/claims"),
            claim,
        )
        .await?;
    let id: Uuid = answer["id"].as_str().unwrap_or_default().parse()?;
    commands
        .post(
            moderator,
            &format!("/api/v1/claims/{id}/approval"),
            serde_json::json!({}),
        )
        .await?;
    Ok((cookie, id))
}

/// The local OpenID Connect provider (`infra/dev-idp`, Node and oidc-provider) as a child
/// process of this test: its own port, one client whose secret is made up per start, and
/// any user name signs in (the subject is the user name). `scripts/lib.sh` (`ensure_dev_idp`)
/// installs its npm packages.
pub struct DevIdp {
    issuer: String,
    client_id: String,
    client_secret: String,
    child: Child,
}

impl DevIdp {
    /// Starts the provider with one client allowed to redirect to `redirect_uri` (several may
    /// be given, separated by commas) and waits until its discovery document answers.
    pub async fn start(redirect_uri: &str) -> Result<Self> {
        let port = StdListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let issuer = format!("http://127.0.0.1:{port}");
        let client_id = "ward-test".to_owned();
        let client_secret = format!("secret-{}", Uuid::new_v4().simple());
        let server = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/dev-idp/server.js");
        let child = Command::new(node())
            .arg(server)
            .env("DEV_IDP_PORT", port.to_string())
            .env("DEV_IDP_ISSUER", &issuer)
            .env("DEV_IDP_CLIENT_ID", &client_id)
            .env("DEV_IDP_CLIENT_SECRET", &client_secret)
            .env("DEV_IDP_REDIRECT_URIS", redirect_uri)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| anyhow::anyhow!("cannot start node {server}: {error}"))?;
        let mut idp = Self {
            issuer,
            client_id,
            client_secret,
            child,
        };
        idp.wait_ready().await?;
        Ok(idp)
    }

    async fn wait_ready(&mut self) -> Result {
        let discovery = self.discovery_url();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "dev-idp exited ({status}) before answering; \
                     run `npm ci` in infra/dev-idp (scripts/test does)"
                );
            }
            if let Ok(response) = reqwest::get(&discovery).await {
                if response.status() == 200 {
                    return Ok(());
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "dev-idp never answered {discovery}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }
}

fn node() -> PathBuf {
    std::env::var_os("WARD_NODE_BIN").map_or_else(|| PathBuf::from("node"), PathBuf::from)
}

/// Signs in at the dev provider as `user` the way a browser would: requests `authorize_url`,
/// follows the provider's redirects, fills in its login form (and a consent form, should one
/// appear), and returns the redirect back to the client — the client's `redirect_uri` with
/// `code` and `state`, or with `error` if the provider refused the request — without
/// requesting it. `client` must keep cookies and must not follow redirects:
/// `reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none())`.
pub async fn dev_idp_login(
    client: &reqwest::Client,
    authorize_url: &str,
    user: &str,
) -> Result<String> {
    let authorize = reqwest::Url::parse(authorize_url)?;
    let redirect_uri = authorize
        .query_pairs()
        .find(|(name, _)| name == "redirect_uri")
        .map(|(_, value)| value.into_owned());
    // Back at the client: its redirect_uri, or (if the request named none) another origin.
    let at_client = |url: &reqwest::Url| match &redirect_uri {
        Some(redirect_uri) => url.as_str().starts_with(redirect_uri.as_str()),
        None => url.origin() != authorize.origin(),
    };
    let form = regex::Regex::new(r#"(?is)<form\b([^>]*)>(.*?)</form>"#)?;
    let input = regex::Regex::new(r#"(?is)<input\b([^>]*)>"#)?;
    let attribute = |tag: &str, name: &str| -> Result<Option<String>> {
        let pattern = regex::Regex::new(&format!(r#"(?i)\b{name}\s*=\s*"([^"]*)""#))?;
        Ok(pattern
            .captures(tag)
            .and_then(|found| found.get(1))
            .map(|value| html_unescape(value.as_str())))
    };

    let mut url = authorize.clone();
    let mut response = client.get(url.clone()).send().await?;
    for _ in 0..10 {
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .ok_or_else(|| anyhow::anyhow!("{status} from {url} without a Location"))?
                .to_str()?;
            let next = url.join(location)?;
            if at_client(&next) {
                return Ok(next.into());
            }
            url = next;
            response = client.get(url.clone()).send().await?;
            continue;
        }
        let body = response.text().await?;
        anyhow::ensure!(
            status == 200,
            "{status} from {url}: {}",
            body.chars().take(2000).collect::<String>()
        );
        let found = form
            .captures(&body)
            .ok_or_else(|| anyhow::anyhow!("no form at {url}: {body}"))?;
        let (form_tag, form_body) = (&found[1], &found[2]);
        let action = attribute(form_tag, "action")?.unwrap_or_else(|| url.to_string());
        let mut fields = Vec::new();
        for tag in input.captures_iter(form_body) {
            let tag = &tag[1];
            let Some(name) = attribute(tag, "name")? else {
                continue;
            };
            let kind = attribute(tag, "type")?.unwrap_or_else(|| "text".to_owned());
            let value = match kind.to_ascii_lowercase().as_str() {
                "hidden" => attribute(tag, "value")?.unwrap_or_default(),
                // The dev provider takes any password.
                "password" => "dev".to_owned(),
                _ => user.to_owned(),
            };
            fields.push((name, value));
        }
        url = url.join(&action)?;
        response = client.post(url.clone()).form(&fields).send().await?;
    }
    anyhow::bail!("no redirect back to the client after 10 steps (last: {url})")
}

fn html_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The code in the newest mail to `address` in `dir`.
pub fn code_for(dir: &std::path::Path, address: &str) -> Result<String> {
    let mut mails: Vec<(std::time::SystemTime, String)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        // Mail programs compare addresses without regard to case or quotes.
        let plain = |s: &str| s.to_lowercase().replace('"', "");
        if plain(&text).contains(&plain(address)) {
            mails.push((std::fs::metadata(&path)?.modified()?, text));
        }
    }
    mails.sort();
    let (_, mail) = mails
        .last()
        .ok_or_else(|| anyhow::anyhow!("no mail to {address}"))?;
    // The body is base64 (it is Korean); decode it as a mail program would.
    let mail = mail.replace("\r\n", "\n");
    let (headers, body) = mail.split_once("\n\n").unwrap_or((&mail, ""));
    let body = if headers.contains("Content-Transfer-Encoding: base64") {
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(compact)?)?
    } else {
        body.to_owned()
    };
    let code = regex::Regex::new(r"\b(\d{6})\b")?
        .captures(&body)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_owned())
        .ok_or_else(|| anyhow::anyhow!("no code in {body}"))?;
    Ok(code)
}

/// A stack with `pepper` whose mail goes to files in the returned folder.
pub async fn mailing_stack(pepper: &str) -> Result<(Stack, tempfile::TempDir)> {
    let mail = tempfile::tempdir()?;
    let mut stack = Stack::new().await?;
    stack.config.command_api.identity_pepper = Some(pepper.into());
    stack.config.command_api.mail = Some(ward_platform::config::MailConfig {
        from: "Ward <no-reply@ward.test>".to_owned(),
        smtp_url: None,
        file_dir: Some(mail.path().display().to_string()),
    });
    Ok((stack, mail))
}

/// A review that keeps every rule, titled `title`.
pub fn review_body(title: &str) -> serde_json::Value {
    serde_json::json!({
        "ratings": {"overall": 4, "work_environment": 4, "pay_benefits": 3, "management": 3, "care_quality": 5, "work_life_balance": 3},
        "title": title, "pros": "교육이 체계적이고 동료들이 친절합니다.",
        "cons": "야간 근무가 많아서 피곤한 편입니다.", "would_recommend": true
    })
}

/// Asks for a code for `claim` at `address`: the status and answer.
pub async fn send_code(
    commands: &Http,
    cookie: &str,
    claim: &str,
    address: &str,
) -> Result<(u16, serde_json::Value)> {
    commands
        .send(
            Some(cookie),
            reqwest::Method::POST,
            &format!("/api/v1/claims/{claim}/email"),
            Some(serde_json::json!({"address": address})),
        )
        .await
}

/// Confirms `claim` with `code`: the status and answer.
pub async fn confirm_code(
    commands: &Http,
    cookie: &str,
    claim: &str,
    code: &str,
) -> Result<(u16, serde_json::Value)> {
    commands
        .send(
            Some(cookie),
            reqwest::Method::POST,
            &format!("/api/v1/claims/{claim}/email/confirmation"),
            Some(serde_json::json!({"code": code})),
        )
        .await
}

/// A claim of `cookie`'s member at `hospital`, as a current nurse: its id.
pub async fn claim(commands: &Http, cookie: &str, hospital: uuid::Uuid) -> Result<String> {
    let claim = commands
        .post(
            cookie,
            &format!("/api/v1/hospitals/{hospital}/claims"),
            serde_json::json!({"job_category": "nurse", "tenure": "current"}),
        )
        .await?;
    Ok(claim["id"].as_str().unwrap_or_default().to_owned())
}

/// Every event on every topic of `stack`, as `ward replay` writes them (texts sealed): what an
/// analyst's or a thief's copy of the log holds.
pub async fn log_events(stack: &Stack) -> Result<Vec<serde_json::Value>> {
    use ward::replay::{replay, Filter, Format};
    let everything = Filter {
        aggregate_types: vec![],
        event_types: vec![],
        since: None,
        until: None,
    };
    let mut log = Vec::new();
    replay(
        &stack.config,
        &everything,
        Format::Jsonl,
        false,
        false,
        &mut log,
    )
    .await?;
    String::from_utf8(log)?
        .lines()
        .map(|line| Ok(serde_json::from_str(line)?))
        .collect()
}

/// The id and version of what a create command answered (`{"id", "version"}`).
pub fn id_and_version(answer: &serde_json::Value) -> (String, i64) {
    (
        answer["id"].as_str().unwrap_or_default().to_owned(),
        answer["version"].as_i64().unwrap_or_default(),
    )
}

/// Every row of every table of a MariaDB database: its table and its `(column, value)`
/// pairs, each value as text (binary ones in hex).
pub async fn mysql_rows(pool: &sqlx::MySqlPool) -> Result<Vec<(String, Vec<(String, String)>)>> {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(data_type AS CHAR) \
         FROM information_schema.columns WHERE table_schema = DATABASE() \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await?;
    let mut tables: std::collections::BTreeMap<String, Vec<(String, String)>> =
        std::collections::BTreeMap::new();
    for (table, column, data_type) in columns {
        let cell = if data_type.contains("blob") || data_type.contains("binary") {
            format!("COALESCE(HEX(`{column}`), '')")
        } else {
            format!("COALESCE(CAST(`{column}` AS CHAR), '')")
        };
        tables.entry(table).or_default().push((column, cell));
    }
    let mut rows = Vec::new();
    for (table, cells) in tables {
        let select: Vec<&str> = cells.iter().map(|(_, cell)| cell.as_str()).collect();
        let dumped: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT CONCAT_WS(CHAR(31 USING utf8mb4), {}) FROM `{table}`",
            select.join(", ")
        ))
        .fetch_all(pool)
        .await?;
        for row in dumped {
            let values = cells
                .iter()
                .map(|(column, _)| column.clone())
                .zip(row.split('\u{1f}').map(str::to_owned))
                .collect();
            rows.push((table.clone(), values));
        }
    }
    Ok(rows)
}

/// A TCP proxy to one server (Redis, PostgreSQL, MariaDB) that a test can cut, freeze and
/// restore, to play that server going down or stalling for one stack without touching the
/// server every test shares. While cut it carries nothing: the connections it carried are
/// dropped and its port refuses new ones, as a stopped server's does; restored, it listens on
/// the same port again. While frozen it keeps every connection and accepts new ones but
/// passes no byte on, as a server paused with SIGSTOP does.
pub struct Switch {
    /// Where the proxy listens.
    pub address: SocketAddr,
    flow: tokio::sync::watch::Sender<Flow>,
}

/// What a [`Switch`] does with the bytes it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Open,
    Frozen,
    Cut,
}

impl Switch {
    /// A proxy to `target` (`host:port`), open.
    pub async fn to(target: &str) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let target = target.to_owned();
        let (flow, watch) = tokio::sync::watch::channel(Flow::Open);
        tokio::spawn(async move {
            let mut listener = Some(listener);
            loop {
                let mut state = watch.clone();
                if state.wait_for(|flow| *flow != Flow::Cut).await.is_err() {
                    return; // the switch is gone
                }
                let bound = match listener.take() {
                    Some(listener) => listener,
                    None => match TcpListener::bind(address).await {
                        Ok(listener) => listener,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    },
                };
                loop {
                    tokio::select! {
                        accepted = bound.accept() => {
                            let Ok((client, _)) = accepted else { continue };
                            let (target, state) = (target.clone(), watch.clone());
                            tokio::spawn(async move {
                                let Ok(server) = TcpStream::connect(&target).await else {
                                    return;
                                };
                                let (client_read, client_write) = client.into_split();
                                let (server_read, server_write) = server.into_split();
                                tokio::select! {
                                    () = pipe(client_read, server_write, state.clone()) => {}
                                    () = pipe(server_read, client_write, state) => {}
                                }
                            });
                        }
                        cut = state.wait_for(|flow| *flow == Flow::Cut) => {
                            if cut.is_err() {
                                return;
                            }
                            break; // drops the listener: the port refuses connections
                        }
                    }
                }
            }
        });
        Ok(Self { address, flow })
    }

    /// `url` (`redis://…`, `postgres://…`, `mysql://…`) with its host and port replaced by
    /// the proxy's.
    pub fn reroute(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let user = authority
            .rsplit_once('@')
            .map_or(String::new(), |(user, _)| format!("{user}@"));
        format!("{scheme}://{user}{}{path}", self.address)
    }

    /// The server "goes down": every connection through the proxy is dropped, and new ones
    /// are refused.
    pub fn cut(&self) {
        self.flow.send_replace(Flow::Cut);
    }

    /// The server "stalls": connections stay open, and nothing passes either way.
    pub fn freeze(&self) {
        self.flow.send_replace(Flow::Frozen);
    }

    /// The server is back (after a cut, on the same port; after a freeze, with what it held).
    pub fn restore(&self) {
        self.flow.send_replace(Flow::Open);
    }
}

/// Copies `from` to `to` until either side closes or the switch is cut; while it is frozen,
/// holds what it read.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut state: tokio::sync::watch::Receiver<Flow>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = state.wait_for(|flow| *flow == Flow::Cut) => return,
        };
        let Ok(read @ 1..) = read else { return };
        let flow = state
            .wait_for(|flow| *flow != Flow::Frozen)
            .await
            .map(|flow| *flow)
            .ok();
        if flow != Some(Flow::Open) || to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// Waits until the relay has published everything and every projection has applied it.
pub async fn settle(stack: &Stack) -> Result {
    use ward_projector::rebuild;
    let events = stack.events_db().await?;
    eventually(
        Duration::from_secs(60),
        "everything published and applied",
        || async {
            let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
                .fetch_one(&events)
                .await?;
            if outbox > 0 {
                return Ok(None);
            }
            for name in ["board", "hospital", "member"] {
                if rebuild::status(&stack.config, name)
                    .await?
                    .iter()
                    .any(|p| p.lag > 0)
                {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        },
    )
    .await?;
    // Applied includes the cache invalidation and the member projection's follow-ups.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

/// [`dump`] of each live read model: board, hospital, member.
pub async fn dumps(config: &WardConfig) -> Result<Vec<(String, Vec<String>)>> {
    let mut all = Vec::new();
    for name in ["board", "hospital", "member"] {
        all.push((
            name.to_owned(),
            dump(ward_projector::app::database(config, name)?).await?,
        ));
    }
    Ok(all)
}

/// Every row of a read model's own tables (not its offsets), as text, sorted: the chaos
/// harness's comparison, [`ward_bench::scenarios::chaos::checks::dump`]. It leaves out the
/// member model's sealed payloads, which differ by their random nonces — compare their
/// contents through the query API instead ([`own_pages`]).
pub async fn dump(db: &DatabaseConfig) -> Result<Vec<String>> {
    ward_bench::scenarios::chaos::checks::dump(db).await
}

/// Each member's own pages (activity, affiliations, notifications), as the query API shows
/// them to the members with `cookies`.
pub async fn own_pages(reader: &Http, cookies: &[&String]) -> Result<Vec<serde_json::Value>> {
    let mut pages = Vec::new();
    for cookie in cookies {
        for path in [
            "/api/v1/me/activity?limit=100",
            "/api/v1/me/affiliations",
            "/api/v1/me/notifications?limit=100",
        ] {
            pages.push(
                reader
                    .ok(Some(cookie.as_str()), reqwest::Method::GET, path, None)
                    .await?,
            );
        }
    }
    Ok(pages)
}
