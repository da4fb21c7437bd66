//! The fault scheduler: from the run's seed, one fault after another while the load runs —
//! `kill -9` of a command API, of the relay leader, of a projector of each projection, of a
//! query API, of the broker; restarts of PostgreSQL, MariaDB and Redis (played by cutting
//! their proxies, or for real); `SIGSTOP`/`SIGCONT` pauses of any process or server. Each
//! fault is measured until the affected service is ready again and every projection has
//! applied everything committed before the fault ended.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::time::Instant;

use super::installation::{wait_for_port, Installation, Server, PROJECTIONS};
use super::ledger::Seen;
use super::pipeline::Pipeline;
use super::proxy::Mode;
use super::supervisor::{Role, Supervised};
use super::users::Users;

/// How long a fault's service may take to be ready again before it counts as not.
const READY_WITHIN: Duration = Duration::from_secs(90);
/// How long the projections may take to catch up after a fault before it counts as not.
const CATCH_UP_WITHIN: Duration = Duration::from_secs(90);
/// The same while the projections have not caught up since an earlier fault: a stuck
/// partition would otherwise hold every later fault up for the whole wait.
const CATCH_UP_WHILE_BEHIND: Duration = Duration::from_secs(10);
/// How often readiness and progress are looked at.
const POLL: Duration = Duration::from_millis(100);

/// A fault the scheduler can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9` of a command-API process.
    KillCommandApi,
    /// `kill -9` of the command-API process whose relay leads.
    KillRelayLeader,
    /// `kill -9` of a projector process of this projection.
    KillProjector(&'static str),
    /// `kill -9` of a query-API process.
    KillQueryApi,
    /// `kill -9` of the broker.
    KillBroker,
    /// The server restarts: every connection drops and none is accepted for a while.
    Restart(Server),
    /// A process or server stops answering for a while (`SIGSTOP`, then `SIGCONT`).
    Pause,
}

impl Fault {
    /// One of each, with pauses three times (their target is drawn among every process and
    /// server): the scheduler deals faults from shuffled decks of these.
    fn deck() -> Vec<Fault> {
        let mut deck = vec![
            Fault::KillCommandApi,
            Fault::KillRelayLeader,
            Fault::KillQueryApi,
            Fault::KillBroker,
            Fault::Pause,
            Fault::Pause,
            Fault::Pause,
        ];
        deck.extend(PROJECTIONS.map(Fault::KillProjector));
        deck.extend(Server::ALL.map(Fault::Restart));
        deck
    }

    /// A short run's deck: a kill of the relay leader, of a projector and of the broker, a
    /// restart and a pause.
    fn smoke_deck(rng: &mut StdRng) -> Vec<Fault> {
        let projection = PROJECTIONS[rng.gen_range(0..PROJECTIONS.len())];
        let server = Server::ALL[rng.gen_range(0..Server::ALL.len())];
        vec![
            Fault::KillRelayLeader,
            Fault::KillProjector(projection),
            Fault::Restart(server),
            Fault::Pause,
            Fault::KillBroker,
            Fault::KillQueryApi,
        ]
    }
}

/// One fault and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct FaultReport {
    /// Its number in the run, from 1.
    pub n: usize,
    /// What was done: `kill -9`, `restart`, `pause`.
    pub action: String,
    /// To what: a process's or a server's name.
    pub target: String,
    /// When, from the start of the run.
    pub at: Duration,
    /// How long the service was down or stalled as played: the supervisor's restart delay,
    /// the cut, the pause.
    pub outage: Duration,
    /// From the fault until the affected processes answered `/readyz` again.
    pub ready_after: Option<Duration>,
    /// From the fault until every projection had applied every event committed before the
    /// fault ended.
    pub caught_up_after: Option<Duration>,
    /// Until when its effects are counted (ready again, at least the outage's end).
    pub window_end: Duration,
    /// What users saw from the fault until it was ready again.
    pub seen: Seen,
}

/// Plays faults until `until`, with restarts of the real servers if `real_restarts`.
pub struct Scheduler<'a> {
    installation: &'a Installation,
    pipeline: &'a Pipeline,
    users: &'a Users,
    started: Instant,
    rng: StdRng,
    smoke: bool,
    real_restarts: bool,
    client: reqwest::Client,
    /// Whether the last fault's projections never caught up.
    behind: bool,
}

impl<'a> Scheduler<'a> {
    /// A scheduler over `installation`'s processes while `users` load it (times count from
    /// their start).
    pub fn new(
        installation: &'a Installation,
        pipeline: &'a Pipeline,
        users: &'a Users,
        seed: u64,
        smoke: bool,
        real_restarts: bool,
    ) -> Self {
        Self {
            installation,
            pipeline,
            users,
            started: users.started(),
            // Its own stream from the seed, so the faults do not depend on the load's draws.
            rng: StdRng::seed_from_u64(seed.rotate_left(17) ^ 0x6661_756c_7473),
            smoke,
            real_restarts,
            client: reqwest::Client::new(),
            behind: false,
        }
    }

    /// Plays faults one after another, each measured to its end, until `until`; the first
    /// after `warm_up`. A smoke run plays its short deck once, whole.
    pub async fn run(mut self, warm_up: Duration, until: Instant) -> Vec<FaultReport> {
        let mut reports = Vec::new();
        let mut deck = Vec::new();
        if self.smoke {
            deck = Fault::smoke_deck(&mut self.rng);
            deck.shuffle(&mut self.rng);
        }
        tokio::time::sleep(warm_up).await;
        while Instant::now() < until || (self.smoke && !deck.is_empty()) {
            if deck.is_empty() {
                if self.smoke {
                    break;
                }
                deck = Fault::deck();
                deck.shuffle(&mut self.rng);
            }
            let Some(fault) = deck.pop() else {
                break;
            };
            match self.play(fault, reports.len() + 1).await {
                Ok(report) => {
                    eprintln!(
                        "chaos: fault {} at {:.1} s: {} {} (ready after {}, caught up after {})",
                        report.n,
                        report.at.as_secs_f64(),
                        report.action,
                        report.target,
                        seconds(report.ready_after),
                        seconds(report.caught_up_after)
                    );
                    reports.push(report);
                }
                Err(error) => eprintln!("chaos: fault {fault:?} could not be played: {error:#}"),
            }
            let gap = Duration::from_millis(if self.smoke {
                self.rng.gen_range(300..1000)
            } else {
                self.rng.gen_range(500..2000)
            });
            tokio::time::sleep(gap).await;
        }
        reports
    }

    /// Plays `fault` and measures it.
    async fn play(&mut self, fault: Fault, n: usize) -> anyhow::Result<FaultReport> {
        let installation = self.installation;
        let at = self.started.elapsed();
        let hold = Duration::from_millis(self.rng.gen_range(2000..5000));
        let restart_after = Duration::from_millis(self.rng.gen_range(1000..3000));
        let everyone: Vec<&Supervised> = installation.processes.iter().collect();
        let (action, target, outage, affected): (&str, String, Duration, Vec<&Supervised>) =
            match fault {
                Fault::KillCommandApi
                | Fault::KillRelayLeader
                | Fault::KillProjector(_)
                | Fault::KillQueryApi
                | Fault::KillBroker => {
                    let process = self.victim(fault).await?;
                    process.kill(restart_after).await?;
                    let action = if fault == Fault::KillRelayLeader {
                        "kill -9 (relay leader)"
                    } else {
                        "kill -9"
                    };
                    // The supervisor starts it again after its delay.
                    process
                        .running(restart_after + Duration::from_secs(10))
                        .await;
                    let affected = if process.spec.role == Role::Broker {
                        everyone
                    } else {
                        vec![process]
                    };
                    (action, process.spec.name.clone(), restart_after, affected)
                }
                Fault::Restart(server) => {
                    let started = Instant::now();
                    if self.real_restarts {
                        restart_for_real(server).await?;
                        if server == Server::Redis {
                            self.sign_in_again().await?;
                        }
                    } else {
                        installation.set_proxy(server, Mode::Cut);
                        tokio::time::sleep(hold).await;
                        installation.set_proxy(server, Mode::Up);
                    }
                    let action = if self.real_restarts {
                        "restart"
                    } else {
                        "restart (proxy cut)"
                    };
                    (
                        action,
                        server.label().to_owned(),
                        started.elapsed(),
                        everyone,
                    )
                }
                Fault::Pause => {
                    let targets = installation.processes.len() + Server::ALL.len();
                    let pick = self.rng.gen_range(0..targets);
                    match installation.processes.get(pick) {
                        Some(process) => {
                            let paused = process.pause().await?;
                            tokio::time::sleep(hold).await;
                            if let Some(pid) = paused {
                                process.resume(pid).await?;
                            }
                            let affected = if process.spec.role == Role::Broker {
                                everyone
                            } else {
                                vec![process]
                            };
                            ("pause (SIGSTOP)", process.spec.name.clone(), hold, affected)
                        }
                        None => {
                            let server = Server::ALL[pick - installation.processes.len()];
                            installation.set_proxy(server, Mode::Stalled);
                            tokio::time::sleep(hold).await;
                            installation.set_proxy(server, Mode::Up);
                            (
                                "pause (proxy stall)",
                                server.label().to_owned(),
                                hold,
                                everyone,
                            )
                        }
                    }
                }
            };
        let ended = self.started.elapsed();
        let mark = self
            .until_ok(|p| async move { p.outbox_mark().await })
            .await;
        let ready_after = self
            .ready(&affected)
            .await
            .map(|_| self.started.elapsed() - at);
        let within = if self.behind {
            CATCH_UP_WHILE_BEHIND
        } else {
            CATCH_UP_WITHIN
        };
        let caught_up_after = match mark {
            Some(mark) => self
                .caught_up(mark, within)
                .await
                .map(|()| self.started.elapsed() - at),
            None => None,
        };
        self.behind = caught_up_after.is_none();
        let window_end = ready_after.map_or(ended, |ready| (at + ready).max(ended));
        Ok(FaultReport {
            n,
            action: action.to_owned(),
            target,
            at,
            outage,
            ready_after,
            caught_up_after,
            window_end,
            seen: Seen::default(),
        })
    }

    /// Redis restarted without persistence and took every session with it: the members sign
    /// in again (as new members: the run's sessions are all it knows of them), and the new
    /// first one is made the moderator.
    async fn sign_in_again(&self) -> anyhow::Result<()> {
        let installation = self.installation;
        let count = self.users.members().len();
        let name = format!("sessions-{}.txt", self.started.elapsed().as_millis());
        let tokens = installation.seed(&name, count, 0).await?;
        let query_url = installation
            .urls(Role::QueryApi)
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("no query API"))?;
        // The query API may still be reconnecting to Redis.
        let mut tries = 0;
        while let Err(error) = installation.grant_moderator(&query_url, &tokens[0]).await {
            tries += 1;
            anyhow::ensure!(tries < 30, "granting the new moderator: {error:#}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        self.users.sign_in_again(tokens);
        Ok(())
    }

    /// The process a kill hits.
    async fn victim(&mut self, fault: Fault) -> anyhow::Result<&'a Supervised> {
        let installation = self.installation;
        let role = match fault {
            Fault::KillCommandApi | Fault::KillRelayLeader => Role::CommandApi,
            Fault::KillProjector(projection) => Role::Projector(projection.to_owned()),
            Fault::KillQueryApi => Role::QueryApi,
            _ => Role::Broker,
        };
        let candidates: Vec<&'a Supervised> = installation.with_role(role.clone()).collect();
        anyhow::ensure!(!candidates.is_empty(), "no process is a {role:?}");
        if fault == Fault::KillRelayLeader {
            for candidate in &candidates {
                let leads = candidate.metric(&self.client, "outbox_relay_leader").await;
                if leads == Some(1.0) {
                    return Ok(candidate);
                }
            }
            // No leader right now (one is being elected): any of them.
        }
        Ok(candidates[self.rng.gen_range(0..candidates.len())])
    }

    /// Waits until every process in `affected` is ready; `None` if not within
    /// [`READY_WITHIN`].
    async fn ready(&self, affected: &[&Supervised]) -> Option<()> {
        let deadline = Instant::now() + READY_WITHIN;
        let mut waiting: Vec<&Supervised> = affected.to_vec();
        while Instant::now() < deadline {
            let mut still = Vec::new();
            for process in waiting {
                if !process.ready(&self.client).await {
                    still.push(process);
                }
            }
            if still.is_empty() {
                return Some(());
            }
            waiting = still;
            tokio::time::sleep(POLL).await;
        }
        None
    }

    /// Waits until every event committed up to outbox id `mark` is on its topic and every
    /// projection has applied it; `None` if not `within`.
    async fn caught_up(&self, mark: i64, within: Duration) -> Option<()> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if matches!(self.pipeline.published_up_to(mark).await, Ok(true)) {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let marks = loop {
            if Instant::now() >= deadline {
                return None;
            }
            if let Ok(marks) = self.pipeline.watermarks().await {
                break marks;
            }
            tokio::time::sleep(POLL).await;
        };
        while Instant::now() < deadline {
            if matches!(self.pipeline.lag(&marks).await, Ok(lag) if lag.is_empty()) {
                return Some(());
            }
            tokio::time::sleep(POLL).await;
        }
        None
    }

    /// Asks `what` until it answers, for up to [`READY_WITHIN`].
    async fn until_ok<T, F, Fut>(&self, what: F) -> Option<T>
    where
        F: Fn(&'a Pipeline) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<T>>,
    {
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if let Ok(value) = what(self.pipeline).await {
                return Some(value);
            }
            tokio::time::sleep(POLL).await;
        }
        None
    }
}

/// `12.3 s`, or `—` for never.
pub fn seconds(duration: Option<Duration>) -> String {
    duration.map_or("—".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
}

/// Restarts the machine's own server, with the commands that start it on this kind of
/// machine (`/work/.library/env/machines/rust-svc.md`). Only for a benchmark on an otherwise
/// idle machine: everyone using the server sees it go.
async fn restart_for_real(server: Server) -> anyhow::Result<()> {
    let (script, port) = match server {
        Server::Postgres => (
            "pg_ctlcluster --skip-systemctl-redirect \"$(ls /etc/postgresql | head -n 1)\" main restart",
            5432,
        ),
        Server::MariaDb => (
            "mariadb-admin -uroot shutdown; \
             while mariadb-admin -uroot ping >/dev/null 2>&1; do sleep 0.2; done; \
             start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
            3306,
        ),
        Server::Redis => (
            "redis-cli -p 6379 shutdown nosave; \
             redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' \
             --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
            6379,
        ),
    };
    let status = tokio::process::Command::new("sh")
        .args(["-c", script])
        .stdout(std::process::Stdio::null())
        .status()
        .await?;
    anyhow::ensure!(status.success(), "restarting {}: {status}", server.label());
    wait_for_port(port, Duration::from_secs(60)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deck_holds_every_fault_the_issue_names() {
        let deck = Fault::deck();
        for projection in PROJECTIONS {
            assert!(deck.contains(&Fault::KillProjector(projection)));
        }
        for server in Server::ALL {
            assert!(deck.contains(&Fault::Restart(server)));
        }
        for fault in [
            Fault::KillCommandApi,
            Fault::KillRelayLeader,
            Fault::KillQueryApi,
            Fault::KillBroker,
            Fault::Pause,
        ] {
            assert!(deck.contains(&fault), "{fault:?}");
        }
    }

    #[test]
    fn the_same_seed_deals_the_same_faults() {
        let deal = |seed: u64| {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut deck = Fault::deck();
            deck.shuffle(&mut rng);
            deck
        };
        assert_eq!(deal(7), deal(7));
        assert_ne!(deal(7), deal(8));
    }
}
