//! `ward`: see the library documentation, or `ward --help`.

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
    /// Manage the hospital catalogue.
    Hospitals {
        #[command(subcommand)]
        command: HospitalsCommand,
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
