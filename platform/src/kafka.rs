//! Ward's events on the wire: the record envelope, the topic definitions shared by the local
//! broker and the production Kafka manifests, and librdkafka settings.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::KafkaConfig;
use crate::ops::{Check, CHECK_TIMEOUT};

/// The value of every record on a `ward.*.events` topic. Documented in `docs/events.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Unique id of this event (UUIDv7, so ids sort by time).
    pub event_id: Uuid,
    /// The aggregate's type, e.g. `post`; selects the topic.
    pub aggregate_type: String,
    /// The aggregate's id; also the record key, so one aggregate's events stay in order.
    pub aggregate_id: String,
    /// Position of the event within its aggregate, starting at 1.
    pub sequence: i64,
    /// The event's name, e.g. `PostCreated`.
    pub event_type: String,
    /// The version of the payload's schema for this `event_type`.
    pub event_version: String,
    /// When the event was committed to the event store.
    pub occurred_at: DateTime<Utc>,
    /// The event's fields.
    pub payload: serde_json::Value,
    /// What is known about the request that caused the event — deliberately only this.
    pub metadata: Metadata,
}

/// Event metadata. A closed type: anything that is not listed here (an IP address, a user
/// agent, an OAuth subject, an email) cannot reach a topic, even by mistake.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Ties together the events and logs of one request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// One topic as declared in `infra/kafka/topics.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicDefinition {
    /// Topic name without the installation's prefix.
    pub name: String,
    /// The aggregate type whose events the topic carries.
    pub aggregate_type: String,
    /// Partition count; also the most consumers one group can use.
    pub partitions: i32,
    /// Topic-level configs (`retention.ms`, `cleanup.policy`, …).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicFile {
    topics: Vec<TopicDefinition>,
}

/// The topic definitions, from the single source of truth in `infra/kafka/topics.toml`.
pub fn topic_definitions() -> anyhow::Result<Vec<TopicDefinition>> {
    let file: TopicFile = toml_from_str(include_str!("../../infra/kafka/topics.toml"))?;
    Ok(file.topics)
}

fn toml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> anyhow::Result<T> {
    use figment::providers::{Format, Toml};
    Ok(figment::Figment::from(Toml::string(text)).extract()?)
}

/// The topic that carries events of `aggregate_type`, with the installation's prefix.
pub fn topic_for(config: &KafkaConfig, aggregate_type: &str) -> String {
    format!("{}ward.{aggregate_type}.events", config.topic_prefix)
}

/// A notice that records were appended: where a partition ends now. The relay publishes a
/// list of them on Redis ([`appended_channel`]) after the broker acknowledged a batch, so a
/// projector resumes the partitions it paused when it had read them to the end at once,
/// instead of at its next look at the watermarks (ADR 0011). Only a hint: Redis keeps nothing
/// for a subscriber that is away. It names no event and no person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appended {
    /// The topic, with the installation's prefix.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset the partition's next record will get.
    pub end: i64,
}

/// The Redis channel of [`Appended`] notices for the installation whose Redis keys start with
/// `redis_prefix` (channels are shared by every Redis database, so they carry the prefix).
pub fn appended_channel(redis_prefix: &str) -> String {
    format!("{redis_prefix}appended")
}

/// Where one partition of a topic begins and ends now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermarks {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset of its first record.
    pub low: i64,
    /// The offset its next record will get.
    pub high: i64,
}

/// The watermarks of every partition of `topics`.
pub async fn watermarks(
    config: &KafkaConfig,
    topics: Vec<String>,
) -> anyhow::Result<Vec<Watermarks>> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || fetch_watermarks(&config, &topics)).await?
}

fn fetch_watermarks(config: &KafkaConfig, topics: &[String]) -> anyhow::Result<Vec<Watermarks>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let timeout = std::time::Duration::from_secs(10);
    let consumer: BaseConsumer = client_config(config).create()?;
    let mut marks = Vec::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        let mut partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        partitions.sort_unstable();
        anyhow::ensure!(
            !partitions.is_empty(),
            "topic {topic} has no partitions (does it exist?)"
        );
        for partition in partitions {
            let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
            marks.push(Watermarks {
                topic: topic.clone(),
                partition,
                low,
                high,
            });
        }
    }
    Ok(marks)
}

/// The values of the records of each partition in `ranges`, from its `low` up to its `high`
/// (a range may start after the partition's first record), in each partition's order. Reads
/// outside any consumer group: it commits nothing and disturbs no projector.
pub async fn read(
    config: &KafkaConfig,
    ranges: Vec<Watermarks>,
) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || read_blocking(&config, &ranges)).await?
}

fn read_blocking(
    config: &KafkaConfig,
    ranges: &[Watermarks],
) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = client_config(config)
        .set("group.id", format!("ward-read-{}", Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    // (topic, partition) → the offset after the last record to read.
    let mut ends = BTreeMap::new();
    for range in ranges.iter().filter(|r| r.high > r.low) {
        assignment.add_partition_offset(
            &range.topic,
            range.partition,
            Offset::Offset(range.low),
        )?;
        ends.insert((range.topic.clone(), range.partition), range.high);
    }
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    consumer.assign(&assignment)?;
    let mut values = Vec::new();
    while !ends.is_empty() {
        let Some(message) = consumer.poll(Duration::from_secs(30)) else {
            anyhow::bail!(
                "the broker sent nothing for 30 s with records of {} partitions still to read",
                ends.len()
            );
        };
        let message = message?;
        let position = (message.topic().to_owned(), message.partition());
        let Some(&end) = ends.get(&position) else {
            continue;
        };
        if message.offset() < end {
            values.push(message.payload().map(<[u8]>::to_vec));
        }
        if message.offset() + 1 >= end {
            ends.remove(&position);
        }
    }
    Ok(values)
}

/// librdkafka settings common to every client of `config`'s broker.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("broker.address.family", "v4")
        .set("log_level", "4")
        .set("security.protocol", security_protocol(config));
    if config.tls {
        if let Some(ca) = &config.tls_ca_location {
            client.set("ssl.ca.location", ca.to_string_lossy());
        }
    }
    if let Some(sasl) = &config.sasl {
        client
            .set("sasl.mechanism", sasl.mechanism.as_str())
            .set("sasl.username", &sasl.username)
            .set("sasl.password", sasl.password.expose_secret());
    }
    client
}

/// librdkafka's `security.protocol` for the configured TLS and SASL settings.
fn security_protocol(config: &KafkaConfig) -> &'static str {
    match (config.tls, config.sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    }
}

/// Creates every defined topic that does not exist yet. Existing topics are left as they are.
pub async fn create_topics(config: &KafkaConfig) -> anyhow::Result<Vec<String>> {
    let admin: AdminClient<DefaultClientContext> = client_config(config).create()?;
    let definitions = topic_definitions()?;
    let names: Vec<String> = definitions
        .iter()
        .map(|d| format!("{}{}", config.topic_prefix, d.name))
        .collect();
    let topics: Vec<NewTopic<'_>> = definitions
        .iter()
        .zip(&names)
        .map(|(definition, name)| {
            definition.config.iter().fold(
                NewTopic::new(name, definition.partitions, TopicReplication::Fixed(1)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let mut created = Vec::new();
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    Ok(created)
}

/// A readiness check that asks the broker for its metadata.
pub fn broker_check(config: &KafkaConfig) -> anyhow::Result<Check> {
    let admin: Arc<AdminClient<DefaultClientContext>> = Arc::new(client_config(config).create()?);
    Ok(Arc::new(move || {
        let admin = admin.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                admin.inner().fetch_metadata(None, CHECK_TIMEOUT)?;
                anyhow::Ok(())
            })
            .await?
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_definition_is_complete() -> anyhow::Result<()> {
        let definitions = topic_definitions()?;
        assert!(definitions.iter().any(|d| d.name == "ward.post.events"));
        for definition in definitions {
            assert!(definition.partitions > 0, "{}", definition.name);
            assert_eq!(
                definition.config.get("retention.ms").map(String::as_str),
                Some("-1")
            );
            let config = KafkaConfig::default();
            assert_eq!(
                topic_for(&config, &definition.aggregate_type),
                definition.name
            );
        }
        Ok(())
    }

    #[test]
    fn tls_and_sasl_settings_choose_the_security_protocol() {
        let mut config = KafkaConfig::default();
        let protocol =
            |c: &KafkaConfig| client_config(c).get("security.protocol").map(str::to_owned);
        assert_eq!(protocol(&config).as_deref(), Some("plaintext"));
        config.tls_ca_location = Some("/ca.crt".into());
        assert_eq!(client_config(&config).get("ssl.ca.location"), None);
        config.tls = true;
        assert_eq!(protocol(&config).as_deref(), Some("ssl"));
        assert_eq!(
            client_config(&config).get("ssl.ca.location"),
            Some("/ca.crt")
        );
        config.sasl = Some(crate::config::KafkaSasl {
            mechanism: crate::config::ScramMechanism::Sha256,
            username: "ward-relay".to_owned(),
            password: "pw".to_owned().into(),
        });
        assert_eq!(protocol(&config).as_deref(), Some("sasl_ssl"));
        assert_eq!(
            client_config(&config).get("sasl.mechanism"),
            Some("SCRAM-SHA-256")
        );
        config.tls = false;
        assert_eq!(protocol(&config).as_deref(), Some("sasl_plaintext"));
    }

    #[test]
    fn metadata_keeps_nothing_but_the_correlation_id() -> anyhow::Result<()> {
        let metadata: Metadata =
            serde_json::from_str(r#"{"correlation_id":"c1","ip":"10.0.0.1","user_agent":"x"}"#)?;
        assert_eq!(
            serde_json::to_string(&metadata)?,
            r#"{"correlation_id":"c1"}"#
        );
        Ok(())
    }
}
