//! The `ward` command: operator tasks (migrations, topics) and the runner that starts any set
//! of Ward's components in one process — all of them for local use — through the same library
//! entry points the separate `ward-*` binaries use.

pub mod gateway;
pub mod replay;
pub mod republish;
pub mod seed;

use std::fmt;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use ward_platform::config::WardConfig;

/// A component `ward run` can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Component {
    /// The command API and its outbox relay.
    CommandApi,
    /// The projectors.
    Projector,
    /// The query API.
    QueryApi,
    /// The single origin for browsers in front of both APIs.
    Gateway,
}

impl Component {
    /// Every component, in start order.
    pub const ALL: [Component; 4] = [
        Component::CommandApi,
        Component::Projector,
        Component::QueryApi,
        Component::Gateway,
    ];

    fn listen(self, config: &WardConfig) -> &str {
        match self {
            Component::CommandApi => &config.command_api.listen,
            Component::Projector => &config.projector.listen,
            Component::QueryApi => &config.query_api.listen,
            Component::Gateway => &config.gateway.listen,
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Component::CommandApi => "command API",
            Component::Projector => "projector",
            Component::QueryApi => "query API",
            Component::Gateway => "web",
        })
    }
}

/// Creates every database Ward needs and brings every schema up to date.
pub async fn migrate(config: &WardConfig) -> anyhow::Result<()> {
    ward_command_api::migrate(config).await?;
    ward_projector::migrate(config).await?;
    Ok(())
}

/// Starts `components` and runs them until `shutdown` is cancelled or one of them fails; a
/// failure stops the others too.
pub async fn run(
    config: &WardConfig,
    components: &[Component],
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // The gateway alone (`ward run --only gateway`, as in docker-compose.yml) needs no database.
    if components.iter().any(|c| *c != Component::Gateway) {
        migrate(config).await?;
    }
    let mut listeners = Vec::new();
    for &component in components {
        let address = component.listen(config);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding the {component} to {address}"))?;
        listeners.push((component, listener));
    }
    // The gateway forwards to the configured processes, else to the APIs started here (their
    // real ports), else to the configured addresses.
    let urls_of = |wanted: Component, configured: &str| -> anyhow::Result<Vec<String>> {
        let configured: Vec<String> = configured
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect();
        if !configured.is_empty() {
            return Ok(configured);
        }
        Ok(vec![match listeners.iter().find(|(c, _)| *c == wanted) {
            Some((_, listener)) => format!("http://{}", listener.local_addr()?),
            None => format!("http://{}", wanted.listen(config)),
        }])
    };
    let upstreams = gateway::Upstreams {
        command: urls_of(Component::CommandApi, &config.gateway.command_api_urls)?,
        query: urls_of(Component::QueryApi, &config.gateway.query_api_urls)?,
        command_body: config.command_api.max_body_bytes,
    };
    let mut tasks = JoinSet::new();
    for (component, listener) in listeners {
        println!("{component:<12} http://{}", listener.local_addr()?);
        let (config, shutdown) = (config.clone(), shutdown.clone());
        let upstreams = upstreams.clone();
        tasks.spawn(async move {
            let result = match component {
                Component::CommandApi => ward_command_api::run(&config, listener, shutdown).await,
                Component::Projector => ward_projector::run(&config, listener, shutdown).await,
                Component::QueryApi => ward_query_api::run(&config, listener, shutdown).await,
                Component::Gateway => gateway::run(listener, upstreams, shutdown).await,
            };
            result.with_context(|| format!("the {component} stopped"))
        });
    }
    let mut outcome = Ok(());
    while let Some(joined) = tasks.join_next().await {
        shutdown.cancel();
        if let Err(error) = joined? {
            tracing::error!(error = format!("{error:#}"), "component failed");
            outcome = outcome.and(Err(error));
        }
    }
    outcome
}

/// Registers a new member (as sign-in will) and returns a session token for it.
pub async fn dev_session(config: &WardConfig) -> anyhow::Result<String> {
    use ward_command_api::{members, session};
    use ward_domain::member::{JobCategory, MemberId};
    let key = config.command_api.author_key()?;
    migrate(config).await?;
    let store = ward_command_api::app::store(config.event_store.connect_postgres().await?);
    let member = MemberId(uuid::Uuid::new_v4());
    members::register(&store, &key, member, JobCategory::Other).await?;
    let redis = ward_platform::ops::connect_redis(&config.redis).await?;
    session::SessionStore::new(redis, config)
        .create(&session::Session::new(member))
        .await
}

/// Grants (`grant`) or revokes a role of the member with pseudonym `member_ref` (what
/// `GET /api/v1/me` shows the member): records `RoleGranted`/`RoleRevoked`; the new version.
pub async fn set_role(
    config: &WardConfig,
    member_ref: &str,
    role: ward_domain::member::Role,
    grant: bool,
) -> anyhow::Result<usize> {
    use cqrs_es::EventStore;
    use ward_domain::member::{Member, MemberCommand};
    anyhow::ensure!(
        member_ref.len() == 64 && member_ref.chars().all(|c| c.is_ascii_hexdigit()),
        "a member reference is 64 hexadecimal characters (GET /api/v1/me shows it)"
    );
    migrate(config).await?;
    let store =
        ward_command_api::app::store::<Member>(config.event_store.connect_postgres().await?);
    let mut context = store.load_aggregate(member_ref).await?;
    anyhow::ensure!(
        cqrs_es::AggregateContext::aggregate(&mut context).is_registered(),
        "no registered member has the reference {member_ref}"
    );
    let command = if grant {
        MemberCommand::GrantRole { role }
    } else {
        MemberCommand::RevokeRole { role }
    };
    let correlation =
        ward_platform::http::CorrelationId(format!("operator-{}", uuid::Uuid::new_v4()));
    Ok(ward_command_api::execute::execute(&store, &(), member_ref, command, &correlation).await?)
}

/// Approves (`approve`) or rejects (with `reason`) an open claim, as a moderator would.
pub async fn decide_claim(
    config: &WardConfig,
    claim: uuid::Uuid,
    decision: Option<ward_domain::affiliation::RejectReason>,
) -> anyhow::Result<usize> {
    use ward_domain::affiliation::{AffiliationClaim, ClaimCommand, VerificationMethod};
    migrate(config).await?;
    let store = ward_command_api::app::store::<AffiliationClaim>(
        config.event_store.connect_postgres().await?,
    );
    let now = ward_command_api::members::now();
    let command = match decision {
        None => ClaimCommand::Verify {
            method: VerificationMethod::Moderator,
            now,
        },
        Some(reason) => ClaimCommand::Reject { reason },
    };
    let correlation =
        ward_platform::http::CorrelationId(format!("operator-{}", uuid::Uuid::new_v4()));
    Ok(
        ward_command_api::execute::execute(&store, &(), &claim.to_string(), command, &correlation)
            .await?,
    )
}
