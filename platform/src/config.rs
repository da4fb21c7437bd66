//! Typed configuration: a TOML file (optional) overlaid by `WARD_*` environment variables,
//! where `__` separates nested keys (`WARD_KAFKA__BOOTSTRAP_SERVERS`).

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Loads `T` from `path` (if given) and then from the environment.
pub fn load<T: DeserializeOwned>(path: Option<&Path>) -> anyhow::Result<T> {
    let mut figment = Figment::new();
    if let Some(path) = path {
        if !path.exists() {
            anyhow::bail!("config file {} does not exist", path.display());
        }
        figment = figment.merge(Toml::file(path));
    }
    figment = figment.merge(
        Env::prefixed("WARD_")
            .ignore(&["CONFIG", "LOG_FORMAT", "TANSU_BIN"])
            .split("__"),
    );
    Ok(figment.extract()?)
}

/// The whole configuration of one Ward installation. Every process reads the same file and
/// uses the sections it needs, so one file (or one set of `WARD_*` variables) describes a
/// deployment. `config/ward.sample.toml` documents every key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WardConfig {
    /// The Kafka-protocol broker.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// Redis: sessions, rate limits, the query cache.
    #[serde(default)]
    pub redis: RedisConfig,
    /// The event store (PostgreSQL), written by the command API.
    #[serde(default = "default_event_store")]
    pub event_store: DatabaseConfig,
    /// The board read model (PostgreSQL), written by the board projector.
    #[serde(default = "default_board_db")]
    pub board_db: DatabaseConfig,
    /// The hospital and review read model (MariaDB or MySQL 8), written by the hospital
    /// projector.
    #[serde(default = "default_hospital_db")]
    pub hospital_db: DatabaseConfig,
    /// The member read model (MySQL protocol: MariaDB or MySQL 8), written by the member
    /// projector.
    #[serde(default = "default_member_db")]
    pub member_db: DatabaseConfig,
    /// The command API.
    #[serde(default)]
    pub command_api: CommandApiConfig,
    /// The query API.
    #[serde(default)]
    pub query_api: QueryApiConfig,
    /// The projectors.
    #[serde(default)]
    pub projector: ProjectorConfig,
    /// The local runner's single origin for browsers (`ward run`).
    #[serde(default)]
    pub gateway: GatewayConfig,
}

impl WardConfig {
    /// Loads the file named by `WARD_CONFIG` (if set), then the `WARD_*` variables.
    pub fn load() -> anyhow::Result<Self> {
        load(std::env::var_os("WARD_CONFIG").as_deref().map(Path::new))
    }

    /// Defaults for a local machine: every service on 127.0.0.1, no secrets set.
    pub fn local() -> Self {
        Self {
            kafka: KafkaConfig::default(),
            redis: RedisConfig::default(),
            event_store: default_event_store(),
            board_db: default_board_db(),
            hospital_db: default_hospital_db(),
            member_db: default_member_db(),
            command_api: CommandApiConfig::default(),
            query_api: QueryApiConfig::default(),
            projector: ProjectorConfig::default(),
            gateway: GatewayConfig::default(),
        }
    }
}

fn default_event_store() -> DatabaseConfig {
    DatabaseConfig::new("postgres://postgres@127.0.0.1:5432/ward_events")
}

fn default_board_db() -> DatabaseConfig {
    DatabaseConfig::new("postgres://postgres@127.0.0.1:5432/ward_board")
}

fn default_hospital_db() -> DatabaseConfig {
    DatabaseConfig::new("mysql://root@127.0.0.1:3306/ward_hospital")
}

fn default_member_db() -> DatabaseConfig {
    DatabaseConfig::new("mysql://root@127.0.0.1:3306/ward_member")
}

/// The command API's own settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandApiConfig {
    /// Address to listen on.
    pub listen: String,
    /// Secret (at least 32 bytes) keying the per-item author references in events. Required;
    /// changing it makes existing authorship uncheckable.
    pub author_key: Option<SecretString>,
    /// Secret keying the sign-in identity link: `HMAC(pepper, provider ‖ subject)` is all
    /// Ward stores of an OAuth identity. Required for sign-in.
    pub identity_pepper: Option<SecretString>,
    /// The pepper `identity_pepper` replaced, while a rotation is under way: identities and
    /// work addresses not found under the current pepper are looked up under this one, and
    /// a member found that way is re-linked under the current pepper at sign-in.
    pub previous_identity_pepper: Option<SecretString>,
    /// Name of the session cookie. `__Host-ward_session` in production (HTTPS only); plain
    /// `ward_session` for http://127.0.0.1 development.
    pub session_cookie: String,
    /// Whether cookies are `Secure` (HTTPS only). Off only for http://127.0.0.1 development.
    pub secure_cookies: bool,
    /// A session ends after this many seconds without use.
    pub session_idle_secs: u64,
    /// A session ends this many seconds after sign-in, used or not.
    pub session_absolute_secs: u64,
    /// Sessions expire in Redis only at multiples of this many seconds (Unix time), so that
    /// a copy of Redis dates a member's last request to this granule, not the second.
    pub session_expiry_granule_secs: u64,
    /// Origins (`https://host[:port]`) allowed to send state-changing requests besides the
    /// request's own host; cross-site requests are refused (CSRF).
    pub allowed_origins: Vec<String>,
    /// The sign-in providers; a provider without a section is not offered.
    pub auth: AuthConfig,
    /// Outgoing mail (work-email codes); without it, work-email verification is off.
    pub mail: Option<MailConfig>,
    /// Largest accepted request body, in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Whether this process runs the outbox relay (only one replica publishes at a time).
    pub relay: bool,
    /// Per-member limits per command kind.
    pub rate_limits: RateLimits,
    /// Distinct reporters that hide an item automatically until a moderator looks at it;
    /// 0 turns automatic hiding off. Only reports that count are counted (below).
    pub auto_hide_reports: u32,
    /// A report counts towards `auto_hide_reports` when its reporter holds a verified claim
    /// at any hospital, or registered this many UTC days before today (0 to 365; 0 lets every
    /// account count). Other reports still reach moderators, so that a handful of fresh
    /// accounts cannot hide anyone's post.
    pub report_weight_min_age_days: u32,
}

/// How many commands of one kind a member may send per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Commands allowed per window.
    pub count: u32,
    /// Window length in seconds.
    pub window_secs: u64,
}

/// Per-member rate limits (defaults in the spirit of Lemmy's).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// New posts: 6 per 10 minutes.
    pub posts: Limit,
    /// New comments: 30 per 10 minutes.
    pub comments: Limit,
    /// New reviews: 3 per day.
    pub reviews: Limit,
    /// Reports: 20 per day.
    pub reports: Limit,
    /// Work-email codes sent: 5 per hour.
    pub email_codes: Limit,
    /// Affiliation claims submitted: 5 per day.
    pub claims: Limit,
    /// Likes and unlikes of posts: 60 per 10 minutes.
    pub likes: Limit,
    /// Edits of posts, comments and reviews: 30 per 10 minutes.
    pub edits: Limit,
    /// Changes of the member's own profile (`PATCH /me`): 10 per hour.
    pub profile: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            posts: Limit {
                count: 6,
                window_secs: 600,
            },
            comments: Limit {
                count: 30,
                window_secs: 600,
            },
            reviews: Limit {
                count: 3,
                window_secs: 86_400,
            },
            reports: Limit {
                count: 20,
                window_secs: 86_400,
            },
            email_codes: Limit {
                count: 5,
                window_secs: 3_600,
            },
            claims: Limit {
                count: 5,
                window_secs: 86_400,
            },
            likes: Limit {
                count: 60,
                window_secs: 600,
            },
            edits: Limit {
                count: 30,
                window_secs: 600,
            },
            profile: Limit {
                count: 10,
                window_secs: 3_600,
            },
        }
    }
}

impl CommandApiConfig {
    /// The author key (`command_api.author_key`): the command API, the member projection and
    /// the member query service need it.
    pub fn author_key(&self) -> anyhow::Result<ward_domain::author::AuthorKey> {
        let secret = self.author_key.as_ref().ok_or_else(|| {
            anyhow::anyhow!("command_api.author_key (WARD_COMMAND_API__AUTHOR_KEY) is not set")
        })?;
        Ok(ward_domain::author::AuthorKey::new(
            secret.expose_secret().as_bytes(),
        )?)
    }
}

impl Default for CommandApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            author_key: None,
            identity_pepper: None,
            previous_identity_pepper: None,
            session_cookie: "__Host-ward_session".to_owned(),
            secure_cookies: true,
            session_idle_secs: 7 * 86_400,
            session_absolute_secs: 30 * 86_400,
            session_expiry_granule_secs: 86_400,
            allowed_origins: Vec::new(),
            auth: AuthConfig::default(),
            mail: None,
            max_body_bytes: 64 * 1024,
            relay: true,
            rate_limits: RateLimits::default(),
            auto_hide_reports: 5,
            report_weight_min_age_days: 7,
        }
    }
}

/// Outgoing mail: SMTP in production, a folder of `.eml` files for local use and tests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The sender, e.g. `Ward <no-reply@ward.example>`.
    pub from: String,
    /// `smtps://user:password@host:465` or `smtp://host:587?tls=required`; a secret.
    pub smtp_url: Option<SecretString>,
    /// Instead of SMTP: write each message as a file into this folder.
    pub file_dir: Option<String>,
}

/// The sign-in providers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Kakao Login.
    pub kakao: Option<KakaoConfig>,
    /// Any OpenID Connect provider, found by discovery.
    pub oidc: Option<OidcConfig>,
}

/// Kakao Login (OAuth 2.0; the Kakao user id is the subject).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KakaoConfig {
    /// The app's REST API key.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: SecretString,
    /// Where Kakao sends the browser back: `https://<host>/auth/kakao/callback`.
    pub redirect_url: String,
    /// Kakao's authorize endpoint.
    #[serde(default = "kakao_authorize_url")]
    pub authorize_url: String,
    /// Kakao's token endpoint.
    #[serde(default = "kakao_token_url")]
    pub token_url: String,
    /// Kakao's user-info endpoint (only the user id is read).
    #[serde(default = "kakao_user_url")]
    pub user_url: String,
}

fn kakao_authorize_url() -> String {
    "https://kauth.kakao.com/oauth/authorize".to_owned()
}

fn kakao_token_url() -> String {
    "https://kauth.kakao.com/oauth/token".to_owned()
}

fn kakao_user_url() -> String {
    "https://kapi.kakao.com/v2/user/me".to_owned()
}

/// An OpenID Connect provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer; `<issuer>/.well-known/openid-configuration` describes it.
    pub issuer_url: String,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret.
    pub client_secret: SecretString,
    /// Where the provider sends the browser back: `https://<host>/auth/oidc/callback`.
    pub redirect_url: String,
}

/// The query API's own settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryApiConfig {
    /// Address to listen on.
    pub listen: String,
    /// Comma-separated services this process runs: the read models' JSON APIs (`board`,
    /// `hospital`, `member`), so each can scale on its own, and `web`, the HTML pages, which
    /// need the other three beside them.
    pub services: String,
    /// K of k-anonymity, decided when an item is written (the command API reads it too): a
    /// post's badge names its author's hospital only if at least K members of the author's
    /// job category are verified there, else its region and kind if the below-K hospitals of
    /// that region and kind have K such members together, else the job category only; a
    /// review shows its author's job category and tenure only if K members with both are
    /// verified at the hospital. Hospitals publish verified members as bands from K.
    pub k_anonymity: u32,
    /// A hospital's rating aggregates are shown only from this many reviews on.
    pub min_reviews: u32,
    /// Seconds a cached anonymous answer lives in Redis at most (it is invalidated earlier,
    /// whenever a projector commits a change to its read model).
    pub cache_ttl_secs: u64,
    /// Most requests one process keeps waiting for a member's own write at once
    /// (`Ward-Min-Version`); past it requests answer at once, `stale` if need be.
    pub max_waits: usize,
    /// Most such requests one member keeps waiting at once (a page waits for two services in
    /// turn).
    pub max_waits_per_member: usize,
}

impl Default for QueryApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8081".to_owned(),
            services: "board,hospital,member,web".to_owned(),
            k_anonymity: 5,
            min_reviews: 3,
            cache_ttl_secs: 300,
            max_waits: 32,
            max_waits_per_member: 2,
        }
    }
}

/// The single origin `ward run` gives browsers: GET and HEAD go to the query API, other
/// methods and `/auth/*` to the command API, as the Kubernetes Gateway routes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Address to listen on.
    pub listen: String,
    /// Comma-separated base URLs (`http://host:port`) of command API processes, taken in
    /// turn; empty: the command API started in the same `ward run`, else `command_api.listen`.
    pub command_api_urls: String,
    /// Comma-separated base URLs of query API processes, taken in turn; empty: the query API
    /// started in the same `ward run`, else `query_api.listen`.
    pub query_api_urls: String,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8000".to_owned(),
            command_api_urls: String::new(),
            query_api_urls: String::new(),
        }
    }
}

/// The projectors' own settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectorConfig {
    /// Address of the operational endpoints (`/livez`, `/readyz`, `/metrics`).
    pub listen: String,
    /// Most records applied in one read-model transaction.
    pub batch_size: usize,
    /// Prepended to consumer group names, so a rebuild (or a test) can consume from offset 0
    /// into a fresh database without disturbing the live group.
    pub group_prefix: String,
    /// Comma-separated projections this process runs (`board`, `hospital`, `member`).
    pub projections: String,
    /// How long the broker may hold a fetch while it has no new records (librdkafka's
    /// `fetch.wait.max.ms`). A projector pauses the partitions it has read to the end and
    /// resumes them when records are appended (ADR 0011), so it fetches when there is
    /// something to read, and a short wait costs nothing while idle. Apache Kafka answers as
    /// soon as records arrive; Tansu 0.6 holds every fetch about this long even when it has
    /// records, so locally it adds to the write-to-read delay (docs/operations.md).
    pub fetch_wait_ms: u32,
    /// How often each consumer asks the broker where its partitions end (10 to 600 000 ms).
    /// The relay's notices wake a paused partition at once; this finds the records no notice
    /// announced (a notice lost while Redis reconnected), and updates the lag metrics.
    pub watermark_check_ms: u64,
    /// Consumers a rebuild runs side by side, each with its own share of the partitions
    /// (dealt by hand, not by a group) and its own broker connection, so the broker serves
    /// their fetches in parallel (1 to 16).
    pub rebuild_consumers: usize,
    /// Deletions and erasures (a withdrawn member's items) reach the public read models
    /// together, at the end of each epoch of this many seconds (aligned to the clock), so a
    /// reader comparing pages cannot tell a withdrawal's items from other deletions of the
    /// same epoch. Longer epochs hide better and take longer to remove a text; 0 removes at
    /// once (tests). 0 to 86 400.
    pub removal_epoch_secs: u64,
    /// Projector processes of one projection share its partitions among themselves (ADR
    /// 0015): a process silent in Redis for this many milliseconds is dealt out, and its
    /// partitions go to the others (1 000 to 600 000).
    pub member_ttl_ms: u64,
    /// `/readyz` fails when a process has read no partition for this many seconds although
    /// it should (1 to 3 600).
    pub unassigned_grace_secs: u64,
    /// A partition with records to read that a consumer has not advanced for this many
    /// seconds is sought again (and fails `/readyz` after twice as long); a process whose read
    /// model has not answered its consumer for this long leaves the deal until it does
    /// (2 to 3 600).
    pub stall_secs: u64,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8082".to_owned(),
            batch_size: 2000,
            group_prefix: String::new(),
            projections: "board,hospital,member".to_owned(),
            fetch_wait_ms: 10,
            watermark_check_ms: 1000,
            rebuild_consumers: 3,
            removal_epoch_secs: 600,
            member_ttl_ms: 6_000,
            unassigned_grace_secs: 30,
            stall_secs: 15,
        }
    }
}

/// The names in a comma-separated list setting, each checked against `known`.
pub fn names<'a>(setting: &'a str, list: &str, known: &[&str]) -> anyhow::Result<Vec<&'a str>> {
    let names: Vec<&str> = setting
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        anyhow::bail!("{list} is empty; choose from {}", known.join(", "));
    }
    if let Some(unknown) = names.iter().find(|n| !known.contains(n)) {
        anyhow::bail!(
            "{list} names {unknown:?}, which this build does not have; choose from {}",
            known.join(", ")
        );
    }
    Ok(names)
}

/// Where a service finds the Kafka-protocol broker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list, as librdkafka's `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// Prepended to every topic name, so several Ward installations (or tests) can share one
    /// broker without seeing each other's records.
    #[serde(default)]
    pub topic_prefix: String,
    /// Talk TLS to the broker (verifying its certificate and host name). Off for the local
    /// broker; on in production, where Strimzi's listener is TLS only.
    #[serde(default)]
    pub tls: bool,
    /// PEM file of the CA that signed the broker's certificate (Strimzi's cluster CA); the
    /// system's trust store when unset. Only read when `tls` is on.
    #[serde(default)]
    pub tls_ca_location: Option<PathBuf>,
    /// SASL/SCRAM credentials; without them the client does not authenticate.
    #[serde(default)]
    pub sasl: Option<KafkaSasl>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".to_owned(),
            topic_prefix: String::new(),
            tls: false,
            tls_ca_location: None,
            sasl: None,
        }
    }
}

/// A component's broker identity: one KafkaUser per component, so the broker's ACLs give
/// each only the rights it needs (`infra/kafka/strimzi/users.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSasl {
    /// The SCRAM mechanism the broker's listener uses.
    #[serde(default)]
    pub mechanism: ScramMechanism,
    pub username: String,
    /// From the environment (`WARD_KAFKA__SASL__PASSWORD`), never from a committed file.
    pub password: SecretString,
}

/// SASL mechanisms Ward's clients offer: SCRAM only (PLAIN would send the password itself).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ScramMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    #[default]
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    /// librdkafka's `sasl.mechanism` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }
}

/// Where a service finds Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db`.
    #[serde(default = "default_redis_url")]
    pub url: SecretString,
    /// Prepended to every key, so installations and tests sharing one Redis stay apart.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
}

fn default_redis_url() -> SecretString {
    SecretString::from("redis://127.0.0.1:6379")
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: default_redis_url(),
            key_prefix: default_key_prefix(),
        }
    }
}

fn default_key_prefix() -> String {
    "ward:".to_owned()
}

/// A SQL database connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` or `mysql://…`; may hold a password, so it never prints.
    pub url: SecretString,
    /// Upper bound of the connection pool.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

fn default_max_connections() -> u32 {
    10
}

impl DatabaseConfig {
    /// A config for `url` with the default pool size.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            max_connections: default_max_connections(),
        }
    }

    /// The URL, for drivers that need it in the clear.
    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }

    /// The database's name: the URL's path.
    pub fn database_name(&self) -> &str {
        let url = self.url();
        let base = url.split_once('?').map_or(url, |(base, _)| base);
        let after_scheme = base.find("://").map_or(0, |i| i + 3);
        base[after_scheme..]
            .split_once('/')
            .map_or("", |(_, name)| name)
    }

    /// Whether the URL names a PostgreSQL server (otherwise MySQL protocol).
    pub fn is_postgres(&self) -> bool {
        self.url().starts_with("postgres")
    }

    /// The same server, another database: `name` replaces the URL's path.
    pub fn with_database(&self, name: &str) -> anyhow::Result<Self> {
        let url = self.url();
        let (base, query) = url
            .split_once('?')
            .map_or((url, None), |(b, q)| (b, Some(q)));
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let server_end = base[scheme_end..]
            .find('/')
            .map_or(base.len(), |i| scheme_end + i);
        let mut new = format!("{}/{name}", &base[..server_end]);
        if let Some(query) = query {
            new = format!("{new}?{query}");
        }
        Ok(Self {
            url: SecretString::from(new),
            max_connections: self.max_connections,
        })
    }

    /// Creates the PostgreSQL database if it does not exist yet.
    pub async fn create_postgres_database(&self) -> anyhow::Result<()> {
        use sqlx::migrate::MigrateDatabase;
        if !sqlx::Postgres::database_exists(self.url()).await? {
            sqlx::Postgres::create_database(self.url()).await?;
        }
        Ok(())
    }

    /// Creates the MySQL/MariaDB database if it does not exist yet (utf8mb4, so Korean and
    /// every other text round-trips).
    pub async fn create_mysql_database(&self) -> anyhow::Result<()> {
        use sqlx::migrate::MigrateDatabase;
        if !sqlx::MySql::database_exists(self.url()).await? {
            sqlx::MySql::create_database(self.url()).await?;
        }
        Ok(())
    }

    /// Opens a MySQL/MariaDB pool. Sessions use UTC and utf8mb4.
    pub async fn connect_mysql(&self) -> anyhow::Result<sqlx::MySqlPool> {
        use std::str::FromStr;
        let options = sqlx::mysql::MySqlConnectOptions::from_str(self.url())?
            .charset("utf8mb4")
            .timezone(Some("+00:00".to_owned()));
        Ok(self.pool_options().connect_with(options).await?)
    }

    /// Opens a PostgreSQL pool.
    pub async fn connect_postgres(&self) -> anyhow::Result<sqlx::PgPool> {
        Ok(self
            .pool_options()
            .connect(self.url.expose_secret())
            .await?)
    }

    /// How every pool behaves. sqlx pings a connection each time it is taken from the pool
    /// by default: a round trip more for every statement outside a transaction (a third of
    /// a command's round trips). Only a connection idle long enough to have been dropped by a
    /// restart or a firewall is pinged here; a live one is used as it is.
    fn pool_options<DB: sqlx::Database>(&self) -> sqlx::pool::PoolOptions<DB> {
        sqlx::pool::PoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for > std::time::Duration::from_secs(10) {
                        sqlx::Connection::ping(connection).await?;
                    }
                    Ok(true)
                })
            })
    }
}

#[cfg(test)]
// figment's `Jail` closures return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        kafka: KafkaConfig,
    }

    #[test]
    fn environment_overrides_the_file() -> anyhow::Result<()> {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "ward.toml",
                "[kafka]\nbootstrap_servers = \"a:1\"\ntopic_prefix = \"x.\"\n",
            )?;
            jail.set_env("WARD_KAFKA__BOOTSTRAP_SERVERS", "b:2");
            let sample: Sample = load(Some(Path::new("ward.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(sample.kafka.bootstrap_servers, "b:2");
            assert_eq!(sample.kafka.topic_prefix, "x.");
            Ok(())
        });
        Ok(())
    }

    #[test]
    fn another_database_on_the_same_server() -> anyhow::Result<()> {
        let db = DatabaseConfig::new("postgres://u:p@h:5432/ward_events?sslmode=disable");
        assert_eq!(
            db.with_database("t_board")?.url(),
            "postgres://u:p@h:5432/t_board?sslmode=disable"
        );
        assert_eq!(
            DatabaseConfig::new("mysql://root@h")
                .with_database("x")?
                .url(),
            "mysql://root@h/x"
        );
        assert_eq!(db.database_name(), "ward_events");
        assert_eq!(
            DatabaseConfig::new("mysql://root@h:3306/m?ssl=1").database_name(),
            "m"
        );
        assert!(db.is_postgres());
        Ok(())
    }

    #[test]
    fn the_whole_configuration_loads_from_the_environment_alone() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("WARD_COMMAND_API__AUTHOR_KEY", "k".repeat(32));
            jail.set_env("WARD_PROJECTOR__BATCH_SIZE", "7");
            // What the Kubernetes manifests set on the command API.
            jail.set_env("WARD_COMMAND_API__IDENTITY_PEPPER", "p".repeat(32));
            jail.set_env("WARD_COMMAND_API__AUTH__KAKAO__CLIENT_ID", "id");
            jail.set_env("WARD_COMMAND_API__AUTH__KAKAO__CLIENT_SECRET", "secret");
            jail.set_env(
                "WARD_COMMAND_API__AUTH__KAKAO__REDIRECT_URL",
                "https://h/auth/kakao/callback",
            );
            jail.set_env("WARD_COMMAND_API__MAIL__FROM", "Ward <no-reply@h>");
            jail.set_env("WARD_COMMAND_API__MAIL__SMTP_URL", "smtps://u:p@h:465");
            let config: WardConfig = load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.projector.batch_size, 7);
            let kakao = config
                .command_api
                .auth
                .kakao
                .as_ref()
                .map(|k| k.client_id.as_str());
            assert_eq!(kakao, Some("id"));
            assert!(config
                .command_api
                .mail
                .is_some_and(|m| m.smtp_url.is_some()));
            assert!(config.command_api.author_key.is_some());
            assert_eq!(config.kafka.bootstrap_servers, "127.0.0.1:9092");
            Ok(())
        });
    }

    #[test]
    fn broker_credentials_come_from_the_environment_and_must_be_whole() {
        figment::Jail::expect_with(|jail| {
            // What the Kubernetes manifests set: TLS with Strimzi's CA, the KafkaUser's name
            // and the password from its Secret.
            jail.set_env("WARD_KAFKA__BOOTSTRAP_SERVERS", "ward-kafka-bootstrap:9093");
            jail.set_env("WARD_KAFKA__TLS", "true");
            jail.set_env("WARD_KAFKA__TLS_CA_LOCATION", "/etc/ward/kafka-ca/ca.crt");
            jail.set_env("WARD_KAFKA__SASL__USERNAME", "ward-relay");
            jail.set_env("WARD_KAFKA__SASL__PASSWORD", "s3cret");
            let sample: WardConfig = load(None).map_err(|e| e.to_string())?;
            let sasl = sample.kafka.sasl.as_ref().ok_or("no sasl")?;
            assert_eq!(sasl.mechanism, ScramMechanism::Sha512);
            assert_eq!(sasl.password.expose_secret(), "s3cret");
            assert!(!format!("{:?}", sample.kafka).contains("s3cret"));
            assert!(sample.kafka.tls);

            jail.clear_env();
            jail.set_env("WARD_KAFKA__BOOTSTRAP_SERVERS", "ward-kafka-bootstrap:9093");
            jail.set_env("WARD_KAFKA__SASL__USERNAME", "ward-relay");
            let missing = load::<WardConfig>(None).err().map(|e| e.to_string());
            assert!(missing.is_some_and(|e| e.contains("password")));

            jail.set_env("WARD_KAFKA__SASL__PASSWORD", "s3cret");
            jail.set_env("WARD_KAFKA__SASL__MECHANISM", "PLAIN");
            assert!(load::<WardConfig>(None).is_err(), "only SCRAM is offered");
            Ok(())
        });
    }

    #[test]
    fn the_sample_and_dev_configurations_load() -> anyhow::Result<()> {
        for file in ["../config/ward.sample.toml", "../config/ward.dev.toml"] {
            let config: WardConfig = load(Some(Path::new(file)))?;
            assert_eq!(config.kafka.bootstrap_servers, "127.0.0.1:9092", "{file}");
        }
        Ok(())
    }

    #[test]
    fn list_settings_name_only_known_things() {
        assert_eq!(names(" board, ", "x", &["board"]).ok(), Some(vec!["board"]));
        assert!(names("board,hospital", "x", &["board"]).is_err());
        assert!(names("", "x", &["board"]).is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "ward.toml",
                "[kafka]\nbootstrap_servers = \"a:1\"\ntypo = 1\n",
            )?;
            assert!(load::<Sample>(Some(Path::new("ward.toml"))).is_err());
            Ok(())
        });
    }
}
