//! The chaos run's processes — Ward's components and the broker — each restarted after it
//! dies, as an operator's supervisor (systemd, Kubernetes) would, and each reachable for the
//! faults: `kill -9`, `SIGSTOP` and `SIGCONT` by process id, readiness and metrics by port.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long the supervisor waits before restarting a process whose restart delay nobody
/// chose (it died by itself).
const DEFAULT_RESTART_DELAY: Duration = Duration::from_secs(2);

/// What a process is, which decides how it is checked and which faults hit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// `ward run --only command-api` (with its outbox relay).
    CommandApi,
    /// `ward run --only query-api`.
    QueryApi,
    /// `ward run --only projector` for one projection.
    Projector(String),
    /// The Kafka-protocol broker (Tansu).
    Broker,
}

/// How to start one process.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Its name in reports, e.g. `command-api-1`.
    pub name: String,
    /// What it is.
    pub role: Role,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables set for it (on top of the harness's, less any `WARD_*`).
    pub env: Vec<(String, String)>,
    /// Its working directory.
    pub dir: PathBuf,
    /// The port it listens on: HTTP for Ward's components, Kafka for the broker.
    pub port: u16,
    /// Where its standard output and error go (appended across restarts).
    pub log: PathBuf,
}

/// A supervised process.
pub struct Supervised {
    /// How it is started.
    pub spec: Spec,
    pid: watch::Receiver<Option<u32>>,
    restarts: Arc<AtomicU32>,
    next_delay: Arc<Mutex<Option<Duration>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Supervised {
    /// Starts `spec` and keeps it running until `shutdown` is cancelled, when it is killed.
    pub fn start(spec: Spec, shutdown: CancellationToken) -> Self {
        let (pid_sender, pid) = watch::channel(None);
        let restarts = Arc::new(AtomicU32::new(0));
        let next_delay = Arc::new(Mutex::new(None));
        let task = tokio::spawn(supervise(
            spec.clone(),
            pid_sender,
            restarts.clone(),
            next_delay.clone(),
            shutdown,
        ));
        Self {
            spec,
            pid,
            restarts,
            next_delay,
            task,
        }
    }

    /// The running process's id, if one runs now.
    pub fn pid(&self) -> Option<u32> {
        *self.pid.borrow()
    }

    /// Waits until a process runs (after a restart), at most `within`.
    pub async fn running(&self, within: Duration) -> Option<u32> {
        let mut pid = self.pid.clone();
        tokio::time::timeout(within, pid.wait_for(Option::is_some))
            .await
            .ok()
            .and_then(|p| p.ok().and_then(|p| *p))
    }

    /// How many times it was restarted.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// `kill -9`; the supervisor starts it again after `restart_after`. Whether a process
    /// was running to be killed.
    pub async fn kill(&self, restart_after: Duration) -> anyhow::Result<bool> {
        let Some(pid) = self.pid() else {
            return Ok(false);
        };
        if let Ok(mut delay) = self.next_delay.lock() {
            *delay = Some(restart_after);
        }
        // A stopped process dies of SIGKILL too; no SIGCONT needed.
        signal(pid, "KILL").await?;
        Ok(true)
    }

    /// `SIGSTOP`: the process stays, but runs no more until [`Supervised::resume`]. The id
    /// of the process stopped, if one ran.
    pub async fn pause(&self) -> anyhow::Result<Option<u32>> {
        let Some(pid) = self.pid() else {
            return Ok(None);
        };
        signal(pid, "STOP").await?;
        Ok(Some(pid))
    }

    /// `SIGCONT` to the process `pid` stopped by [`Supervised::pause`].
    pub async fn resume(&self, pid: u32) -> anyhow::Result<()> {
        signal(pid, "CONT").await
    }

    /// Whether it answers: `/readyz` with 200 for Ward's components, a TCP connection for
    /// the broker.
    pub async fn ready(&self, client: &reqwest::Client) -> bool {
        match self.spec.role {
            Role::Broker => {
                let connect = TcpStream::connect(("127.0.0.1", self.spec.port));
                matches!(
                    tokio::time::timeout(Duration::from_secs(1), connect).await,
                    Ok(Ok(_))
                )
            }
            _ => {
                let url = format!("http://127.0.0.1:{}/readyz", self.spec.port);
                let answer = client.get(url).timeout(Duration::from_secs(2)).send().await;
                matches!(answer, Ok(response) if response.status() == 200)
            }
        }
    }

    /// A gauge or counter from `/metrics` (the first series whose name ends with `name`).
    pub async fn metric(&self, client: &reqwest::Client, name: &str) -> Option<f64> {
        let url = format!("http://127.0.0.1:{}/metrics", self.spec.port);
        let response = client
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let text = response.text().await.ok()?;
        metric_value(&text, name)
    }

    /// The process's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.spec.port)
    }

    /// Waits for the supervisor to finish after shutdown.
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

/// The value of the first series named `…name` (with or without labels) in OpenMetrics text.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            metric.ends_with(name).then(|| value.parse().ok())?
        })
}

async fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .await
        .context("running kill")?;
    // A process that died meanwhile is not an error: its supervisor restarts it.
    let _ = status;
    Ok(())
}

async fn supervise(
    spec: Spec,
    pid: watch::Sender<Option<u32>>,
    restarts: Arc<AtomicU32>,
    next_delay: Arc<Mutex<Option<Duration>>>,
    shutdown: CancellationToken,
) {
    loop {
        match spawn(&spec) {
            Ok(mut child) => {
                pid.send_replace(child.id());
                tokio::select! {
                    _ = child.wait() => {}
                    () = shutdown.cancelled() => {
                        if let Some(id) = child.id() {
                            let _ = signal(id, "CONT").await;
                        }
                        let _ = child.kill().await;
                    }
                }
                pid.send_replace(None);
            }
            Err(error) => eprintln!("chaos: {} cannot start: {error:#}", spec.name),
        }
        if shutdown.is_cancelled() {
            return;
        }
        let delay = next_delay
            .lock()
            .ok()
            .and_then(|mut d| d.take())
            .unwrap_or(DEFAULT_RESTART_DELAY);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return,
        }
        restarts.fetch_add(1, Ordering::Relaxed);
    }
}

fn spawn(spec: &Spec) -> anyhow::Result<tokio::process::Child> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .with_context(|| format!("opening {}", spec.log.display()))?;
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("WARD_") {
            command.env_remove(name);
        }
    }
    command.envs(spec.env.iter().map(|(k, v)| (k, v)));
    command
        .spawn()
        .with_context(|| format!("starting {}", spec.program.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_found_by_the_end_of_their_name() {
        let text = "# HELP ward_command_outbox_relay_leader 1 while leading\n\
                    ward_command_outbox_relay_leader 1\n\
                    ward_projector_lag{group=\"ward-board\",topic=\"t\",partition=\"0\"} 3\n";
        assert_eq!(metric_value(text, "outbox_relay_leader"), Some(1.0));
        assert_eq!(metric_value(text, "projector_lag"), Some(3.0));
        assert_eq!(metric_value(text, "missing"), None);
    }
}
