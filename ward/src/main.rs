//! `ward`: see the library documentation, or `ward --help`.

/// mimalloc instead of glibc's malloc, whose arena locks were a tenth of the query API's
/// time under load (`bench/README.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use ward::Component;
use ward_platform::config::WardConfig;
use ward_platform::{kafka, shutdown, telemetry};

/// Ward's operator tool and all-in-one runner. Configuration comes from the file named by
/// WARD_CONFIG and from WARD_* variables (see config/ward.sample.toml).
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start components in this process (all of them unless --only is given).
    Run {
        /// Start only these components.
        #[arg(long, value_enum, value_delimiter = ',')]
        only: Vec<Component>,
    },
    /// Create the databases and bring every schema up to date.
    Migrate,
    /// Manage Kafka topics.
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
    /// Make a new member and print a session token for it, for trying Ward locally before
    /// sign-in exists. It creates a fresh anonymous member; it cannot act as anyone else.
    DevSession,
    /// Load a benchmark-sized data set through the aggregates and the event store in bulk
    /// (bench/README.md); the projectors build the read models from it as from live traffic.
    Seed {
        /// Posts, over both boards.
        #[arg(long, default_value_t = 100_000)]
        posts: usize,
        /// Comments on each post.
        #[arg(long, default_value_t = 10)]
        comments_per_post: usize,
        /// Hospitals.
        #[arg(long, default_value_t = 500)]
        hospitals: usize,
        /// Reviews, spread over the hospitals.
        #[arg(long, default_value_t = 20_000)]
        reviews: usize,
        /// Members writing all this (each hospital gets at most this many reviews).
        #[arg(long, default_value_t = 200)]
        members: usize,
        /// Write a session token per member here, one per line (for ward-bench).
        #[arg(long)]
        sessions_file: Option<std::path::PathBuf>,
    },
    /// Manage the hospital catalogue.
    Hospitals {
        #[command(subcommand)]
        command: HospitalsCommand,
    },
    /// Grant or revoke members' roles.
    Members {
        #[command(subcommand)]
        command: MembersCommand,
    },
    /// The moderators' queue of affiliation claims.
    Claims {
        #[command(subcommand)]
        command: ClaimsCommand,
    },
    /// Inspect and rebuild projections.
    Projector {
        #[command(subcommand)]
        command: ProjectorCommand,
    },
    /// Publish the event store into the event topics again (docs/operations.md, "The Kafka
    /// log is lost or damaged").
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Write the event log, from the beginning, as JSON Lines or CSV (for analysts). The log
    /// names no member; sealed texts stay sealed unless --open-texts is given, and erased
    /// ones stay erased.
    Replay {
        /// Only these aggregate types' topics (post, hospital, member, affiliation, review,
        /// moderation); all when omitted.
        #[arg(long, value_delimiter = ',')]
        aggregates: Vec<String>,
        /// Only these event types, e.g. PostCreated,ReviewWritten; all when omitted.
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// Only events that occurred at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only events that occurred before this time (RFC 3339).
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ward::replay::Format,
        /// Open sealed texts with the event store's content keys (needs event_store access).
        #[arg(long)]
        open_texts: bool,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Publish stored events again exactly as the outbox relay did, in sequence order per
    /// aggregate, holding the relay's leader lock (it waits while a relay publishes). An
    /// interrupted run resumes where it stopped when run again with the same options; a
    /// finished one publishes nothing again unless --restart is given.
    Republish {
        /// Only events that occurred at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only these aggregate types (post, hospital, member, affiliation, review,
        /// moderation); all when omitted.
        #[arg(long, value_delimiter = ',')]
        aggregates: Vec<String>,
        /// Forget any earlier run, finished or not, and start from the first event.
        #[arg(long)]
        restart: bool,
        /// Stop after publishing this many events (run again to resume).
        #[arg(long)]
        limit: Option<u64>,
    },
}

#[derive(Subcommand)]
enum HospitalsCommand {
    /// Import a CSV in the layout of the public hospital list (UTF-8 or EUC-KR); re-importing
    /// changes nothing, a changed row is recorded as an update.
    Import {
        /// The CSV file.
        file: std::path::PathBuf,
    },
    /// Mark a hospital closed (its reviews stay readable; no new claims or reviews).
    Close {
        /// The hospital's id.
        id: uuid::Uuid,
    },
}

#[derive(Subcommand)]
enum MembersCommand {
    /// Give a member the moderator role. MEMBER is the reference the member sees at
    /// GET /api/v1/me (Ward cannot tell who anyone is, so the member must hand it over).
    Grant {
        /// The member's reference (64 hex).
        member: String,
        /// The role.
        #[arg(value_enum)]
        role: RoleName,
    },
    /// Take a role away.
    Revoke {
        /// The member's reference (64 hex).
        member: String,
        /// The role.
        #[arg(value_enum)]
        role: RoleName,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleName {
    Moderator,
}

#[derive(Subcommand)]
enum ClaimsCommand {
    /// List the open claims, oldest first: hospital, job category, tenure and age only.
    Queue,
    /// Approve an open claim (verification by a moderator).
    Approve {
        /// The claim's id.
        id: uuid::Uuid,
    },
    /// Reject an open claim.
    Reject {
        /// The claim's id.
        id: uuid::Uuid,
        /// not_staff, insufficient_evidence or other.
        #[arg(long, value_enum)]
        reason: Reason,
    },
    /// Expire the claims nobody decided within 14 days now (the command API does this hourly).
    Expire,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Reason {
    NotStaff,
    InsufficientEvidence,
    Other,
}

#[derive(Subcommand)]
enum ProjectorCommand {
    /// Per projection and partition: the offset applied, the end offset, the lag.
    Status {
        /// Only these projections (board, hospital, member); all when omitted.
        #[arg(value_delimiter = ',')]
        projections: Vec<String>,
    },
    /// Build a projection from offset 0 into <database>_next beside the live one, which keeps
    /// serving; then, with --switch, put it in the live one's place.
    Rebuild {
        /// board, hospital or member.
        projection: String,
        /// Switch readers to the rebuilt read model when it has caught up.
        #[arg(long)]
        switch: bool,
        /// The topics were recreated and refilled by `ward events republish`: the live read
        /// model's offsets refer to the lost log, so the rebuild is not held to them.
        #[arg(long)]
        replaced_log: bool,
    },
    /// Put a rebuilt read model (<database>_next) in the live one's place; the live one is
    /// kept as <database>_previous.
    Switch {
        /// board, hospital or member.
        projection: String,
    },
    /// Drop <database>_previous, which a switch left behind.
    DropPrevious {
        /// board, hospital or member.
        projection: String,
    },
}

#[derive(Subcommand)]
enum TopicsCommand {
    /// Create every topic of infra/kafka/topics.toml that does not exist yet.
    Create,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let cli = Cli::parse();
    let config = WardConfig::load()?;
    match cli.command {
        Command::Run { only } => {
            let components = if only.is_empty() {
                Component::ALL.to_vec()
            } else {
                only
            };
            ward::run(&config, &components, shutdown::on_signal()).await
        }
        Command::Migrate => ward::migrate(&config).await,
        Command::Seed {
            posts,
            comments_per_post,
            hospitals,
            reviews,
            members,
            sessions_file,
        } => {
            let plan = ward::seed::Plan {
                posts,
                comments_per_post,
                hospitals,
                reviews,
                members,
                sessions_file,
            };
            let seeded = ward::seed::seed(&config, &plan).await?;
            println!(
                "seeded {} members, {} hospitals, {} posts, {} comments, {} reviews",
                seeded.members,
                seeded.hospitals.len(),
                seeded.posts.len(),
                seeded.comments,
                seeded.reviews
            );
            Ok(())
        }
        Command::DevSession => {
            println!("{}", ward::dev_session(&config).await?);
            Ok(())
        }
        Command::Hospitals {
            command: HospitalsCommand::Import { file },
        } => {
            let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let report = ward_command_api::hospitals::import(&config, &file, show_progress).await?;
            println!(
                "hospitals: {} registered, {} updated, {} unchanged, {} rejected",
                report.registered,
                report.updated,
                report.unchanged,
                report.rejected.len()
            );
            for (line, reason) in &report.rejected {
                eprintln!("line {line}: {reason}");
            }
            anyhow::ensure!(report.rejected.is_empty(), "some rows were rejected");
            Ok(())
        }
        Command::Hospitals {
            command: HospitalsCommand::Close { id },
        } => {
            let version = ward_command_api::hospitals::close(&config, id).await?;
            println!("hospital {id} closed (version {version})");
            Ok(())
        }
        Command::Replay {
            aggregates,
            events,
            since,
            until,
            format,
            open_texts,
            output,
        } => {
            let filter = ward::replay::Filter {
                aggregate_types: aggregates,
                event_types: events,
                since,
                until,
            };
            let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let mut out: Box<dyn std::io::Write> = match output {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let replayed = ward::replay::replay(
                &config,
                &filter,
                format,
                open_texts,
                show_progress,
                &mut out,
            )
            .await?;
            eprintln!(
                "replay: {} records read, {} events written",
                replayed.read, replayed.written
            );
            Ok(())
        }
        Command::Projector { command } => projector(&config, command).await,
        Command::Events { command } => events(&config, command).await,
        Command::Members { command } => {
            let (member, grant) = match &command {
                MembersCommand::Grant { member, .. } => (member, true),
                MembersCommand::Revoke { member, .. } => (member, false),
            };
            let role = ward_domain::member::Role::Moderator;
            let version = ward::set_role(&config, member, role, grant).await?;
            let done = if grant { "granted" } else { "revoked" };
            println!("moderator role {done} (member version {version})");
            Ok(())
        }
        Command::Claims { command } => claims(&config, command).await,
        Command::Topics {
            command: TopicsCommand::Create,
        } => {
            for topic in kafka::create_topics(&config.kafka).await? {
                println!("created topic {topic}");
            }
            Ok(())
        }
    }
}

async fn projector(config: &WardConfig, command: ProjectorCommand) -> anyhow::Result<()> {
    use ward_projector::app::PROJECTIONS;
    use ward_projector::rebuild;
    match command {
        ProjectorCommand::Status { projections } => {
            let names: Vec<String> = if projections.is_empty() {
                PROJECTIONS.iter().map(|p| (*p).to_owned()).collect()
            } else {
                projections
            };
            println!(
                "{:<10} {:<32} {:>9} {:>12} {:>12} {:>10}",
                "projection", "topic", "partition", "applied", "end", "lag"
            );
            for name in names {
                for p in rebuild::status(config, &name).await? {
                    let applied = p.applied.map_or("-".to_owned(), |a| a.to_string());
                    println!(
                        "{:<10} {:<32} {:>9} {:>12} {:>12} {:>10}",
                        name, p.topic, p.partition, applied, p.end, p.lag
                    );
                }
            }
            Ok(())
        }
        ProjectorCommand::Rebuild {
            projection,
            switch,
            replaced_log,
        } => {
            let log = if replaced_log {
                rebuild::Log::Replaced
            } else {
                rebuild::Log::Kept
            };
            let bar = indicatif::ProgressBar::new(0);
            if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let rebuilt = rebuild::rebuild(config, &projection, log, |done, total| {
                bar.set_length(u64::try_from(total).unwrap_or(0));
                bar.set_position(u64::try_from(done).unwrap_or(0));
            })
            .await?;
            bar.finish_and_clear();
            let seconds = rebuilt.elapsed.as_secs_f64();
            println!(
                "{projection}: rebuilt from {} records in {seconds:.1} s ({:.0} records/s)",
                rebuilt.records,
                rebuilt.records as f64 / seconds.max(0.001)
            );
            if switch {
                rebuild::switch(config, &projection).await?;
                println!(
                    "{projection}: switched; the old read model is kept as <database>_previous"
                );
            }
            Ok(())
        }
        ProjectorCommand::Switch { projection } => {
            rebuild::switch(config, &projection).await?;
            println!("{projection}: switched; the old read model is kept as <database>_previous");
            Ok(())
        }
        ProjectorCommand::DropPrevious { projection } => {
            rebuild::drop_previous(config, &projection).await?;
            println!("{projection}: previous read model dropped");
            Ok(())
        }
    }
}

async fn events(config: &WardConfig, command: EventsCommand) -> anyhow::Result<()> {
    let EventsCommand::Republish {
        since,
        aggregates,
        restart,
        limit,
    } = command;
    let options = ward::republish::Options {
        since,
        aggregate_types: aggregates,
        restart,
        limit,
    };
    let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let done = ward::republish::republish(config, &options, show_progress).await?;
    if let Some(at) = done.finished_before {
        println!(
            "republish: a run with these options finished at {at}; nothing to publish \
             (--restart publishes everything again)"
        );
        return Ok(());
    }
    let state = if done.finished {
        "finished"
    } else {
        "stopped at --limit; run the same command again to resume"
    };
    println!(
        "republish: {} events published ({} by earlier runs); {state}",
        done.published, done.earlier
    );
    for (topic, count) in &done.topics {
        println!("  {topic:<32} {count:>10}");
    }
    Ok(())
}

async fn claims(config: &WardConfig, command: ClaimsCommand) -> anyhow::Result<()> {
    use ward_domain::affiliation::RejectReason;
    match command {
        ClaimsCommand::Queue => {
            let pool = config.event_store.connect_postgres().await?;
            let now = i64::try_from(ward_command_api::members::now()).unwrap_or(i64::MAX);
            println!(
                "{:<38} {:<8} {:<20} {:<8} hospital",
                "claim", "age", "job", "tenure"
            );
            for claim in ward_command_api::claim_queue::open_claims(&pool, 1000, None).await? {
                let days = (now - claim.submitted_at).max(0) / 86_400;
                println!(
                    "{:<38} {:<8} {:<20} {:<8} {}",
                    claim.id,
                    format!("{days}d"),
                    claim.job_category,
                    claim.tenure,
                    claim.hospital_name.unwrap_or(claim.hospital_id)
                );
            }
            Ok(())
        }
        ClaimsCommand::Approve { id } => {
            let version = ward::decide_claim(config, id, None).await?;
            println!("claim {id} verified (version {version})");
            Ok(())
        }
        ClaimsCommand::Reject { id, reason } => {
            let reason = match reason {
                Reason::NotStaff => RejectReason::NotStaff,
                Reason::InsufficientEvidence => RejectReason::InsufficientEvidence,
                Reason::Other => RejectReason::Other,
            };
            let version = ward::decide_claim(config, id, Some(reason)).await?;
            println!("claim {id} rejected (version {version})");
            Ok(())
        }
        ClaimsCommand::Expire => {
            let pool = config.event_store.connect_postgres().await?;
            let store = ward_command_api::app::store(pool.clone());
            let expired = ward_command_api::claim_queue::expire_stale(&pool, &store).await?;
            println!("{expired} claims expired");
            Ok(())
        }
    }
}
