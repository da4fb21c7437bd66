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
