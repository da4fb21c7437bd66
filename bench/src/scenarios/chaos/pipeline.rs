//! Where the run's events are on their way from the event store to the read models, read
//! straight from the real servers (never through the proxies the faults cut): the outbox,
//! the topics' ends, and each projection's stored offsets.

use std::collections::BTreeMap;

use sqlx::{MySqlPool, PgPool};
use ward_platform::config::WardConfig;
use ward_platform::kafka::{self, Watermarks};

use super::installation::PROJECTIONS;

/// Connections to the run's databases and broker.
pub struct Pipeline {
    /// The event store.
    pub events: PgPool,
    /// The board read model.
    pub board: PgPool,
    /// The hospital read model.
    pub hospital: MySqlPool,
    /// The member read model.
    pub member: MySqlPool,
    config: WardConfig,
}

/// Records a projection has not applied, per partition (only those behind).
pub type Lag = BTreeMap<String, i64>;

impl Pipeline {
    /// Connects to the databases of `config`.
    pub async fn connect(config: &WardConfig) -> anyhow::Result<Self> {
        Ok(Self {
            events: config.event_store.connect_postgres().await?,
            board: config.board_db.connect_postgres().await?,
            hospital: config.hospital_db.connect_mysql().await?,
            member: config.member_db.connect_mysql().await?,
            config: config.clone(),
        })
    }

    /// The id the last outbox row got: every event committed so far has an outbox id up to
    /// this.
    pub async fn outbox_mark(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT last_value FROM outbox_id_seq")
            .fetch_one(&self.events)
            .await?)
    }

    /// Whether every outbox row up to `mark` was published (and deleted).
    pub async fn published_up_to(&self, mark: i64) -> anyhow::Result<bool> {
        Ok(
            sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM outbox WHERE id <= $1)")
                .bind(mark)
                .fetch_one(&self.events)
                .await?,
        )
    }

    /// Rows waiting in the outbox.
    pub async fn outbox_len(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&self.events)
            .await?)
    }

    /// Every topic's partitions and where they end now.
    pub async fn watermarks(&self) -> anyhow::Result<Vec<Watermarks>> {
        let topics = kafka::topic_definitions()?
            .into_iter()
            .map(|t| kafka::topic_for(&self.config.kafka, &t.aggregate_type))
            .collect();
        kafka::watermarks(&self.config.kafka, topics).await
    }

    /// What each projection has not applied of the records up to `marks`, by projection
    /// and `topic/partition`; empty when every projection has caught up with them.
    pub async fn lag(&self, marks: &[Watermarks]) -> anyhow::Result<BTreeMap<String, Lag>> {
        let mut behind = BTreeMap::new();
        for projection in PROJECTIONS {
            let applied = self.applied(projection).await?;
            let topics: Vec<String> = ward_projector::app::aggregate_types(projection)?
                .iter()
                .map(|t| kafka::topic_for(&self.config.kafka, t))
                .collect();
            let mut lag = Lag::new();
            for mark in marks.iter().filter(|m| topics.contains(&m.topic)) {
                let next = applied
                    .get(&(mark.topic.clone(), mark.partition))
                    .copied()
                    .unwrap_or(mark.low);
                if mark.high > next {
                    lag.insert(
                        format!("{}/{}", mark.topic, mark.partition),
                        mark.high - next,
                    );
                }
            }
            if !lag.is_empty() {
                behind.insert(projection.to_owned(), lag);
            }
        }
        Ok(behind)
    }

    /// The offsets projection `name` stored for its live group: (topic, partition) → the
    /// next offset it will apply.
    async fn applied(&self, name: &str) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
        let group = format!("{}ward-{name}", self.config.projector.group_prefix);
        let rows: Vec<(String, i32, i64)> = match name {
            "board" => {
                sqlx::query_as(
                    "SELECT topic, partition, next_offset FROM projector_offsets \
                     WHERE consumer_group = $1",
                )
                .bind(&group)
                .fetch_all(&self.board)
                .await?
            }
            _ => {
                let pool = if name == "hospital" {
                    &self.hospital
                } else {
                    &self.member
                };
                sqlx::query_as(
                    "SELECT CAST(topic AS CHAR), `partition`, next_offset FROM projector_offsets \
                     WHERE consumer_group = ?",
                )
                .bind(&group)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(topic, partition, next)| ((topic, partition), next))
            .collect())
    }
}
