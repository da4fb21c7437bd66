//! `ward replay`: the analyst's view of the event log. Reads event topics from the beginning
//! up to where they end when it starts, keeps the events of the chosen types and time range,
//! and writes them as JSON Lines or CSV.
//!
//! The log holds no member identities (no event carries one), so neither does the output.
//! Texts members wrote are sealed in the log; they stay sealed unless `--open-texts` is given,
//! and then open only while their content keys exist: deleted items and withdrawn members'
//! items stay erased (`{"erased": true}`). An opened post badge shows what the post's page
//! shows: from `PostCreated` version 4 on, the badge holds only that (it was decided when the
//! post was written, under k-anonymity); a version 3 badge held the chosen hospital whatever
//! the counts, so it opens as its job category only ([`Badge::shown`]).

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::Value;
use uuid::Uuid;
use ward_domain::post::Badge;
use ward_domain::sealed::{EventText, Sealed};
use ward_platform::config::WardConfig;
use ward_platform::kafka::{self, Envelope};
use ward_projector::content::{open, ContentKeys, Opened};

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON envelope per line.
    Jsonl,
    /// One row per event; the payload as a JSON string.
    Csv,
}

/// What to replay.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Aggregate types (topics) to read; all when empty.
    pub aggregate_types: Vec<String>,
    /// Event types to keep; all when empty.
    pub event_types: Vec<String>,
    /// Keep events that occurred at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Keep events that occurred before this time.
    pub until: Option<DateTime<Utc>>,
}

impl Filter {
    fn keeps(&self, envelope: &Envelope) -> bool {
        (self.event_types.is_empty() || self.event_types.contains(&envelope.event_type))
            && self.since.is_none_or(|since| envelope.occurred_at >= since)
            && self.until.is_none_or(|until| envelope.occurred_at < until)
    }
}

/// How a replay went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Records read.
    pub read: u64,
    /// Events written.
    pub written: u64,
}

/// Replays the log of `config`'s installation into `out`. `open_texts` opens sealed texts
/// with the content keys of the event store.
pub async fn replay(
    config: &WardConfig,
    filter: &Filter,
    format: Format,
    open_texts: bool,
    show_progress: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Replayed> {
    let types = chosen_aggregate_types(&filter.aggregate_types)?;
    let keys = if open_texts {
        Some(ContentKeys::new(
            config.event_store.connect_postgres().await?,
        ))
    } else {
        None
    };
    // No consumer group: the replay commits nothing and disturbs no projector.
    let consumer: BaseConsumer = kafka::client_config(&config.kafka)
        .set("group.id", format!("ward-replay-{}", Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .create()?;
    let (assignment, mut remaining, total) = ends(config, &types).await?;
    consumer.assign(&assignment)?;
    let bar = show_progress.then(|| progress_bar(total, "records"));

    let mut sink = match format {
        Format::Jsonl => Sink::Jsonl(out),
        Format::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(out))),
    };
    if let Sink::Csv(writer) = &mut sink {
        writer.write_record([
            "event_id",
            "occurred_at",
            "aggregate_type",
            "aggregate_id",
            "sequence",
            "event_type",
            "event_version",
            "payload",
        ])?;
    }
    let mut replayed = Replayed::default();
    while !remaining.is_empty() {
        let Some(message) = consumer.poll(Duration::from_secs(5)) else {
            anyhow::bail!("the broker sent nothing for 5 s with records still to read");
        };
        let message = message?;
        let position = (message.topic().to_owned(), message.partition());
        if let Some(end) = remaining
            .iter()
            .find(|(p, _)| *p == position)
            .map(|(_, e)| *e)
        {
            if message.offset() + 1 >= end {
                remaining.retain(|(p, _)| *p != position);
            }
        }
        replayed.read += 1;
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        let Some(payload) = message.payload() else {
            continue;
        };
        let mut envelope: Envelope = serde_json::from_slice(payload).with_context(|| {
            format!(
                "record {}/{} is not an event",
                message.topic(),
                message.offset()
            )
        })?;
        if !filter.keeps(&envelope) {
            continue;
        }
        if let Some(keys) = &keys {
            open_payload(keys, &mut envelope).await?;
        }
        match &mut sink {
            Sink::Csv(writer) => {
                writer.write_record([
                    envelope.event_id.to_string(),
                    envelope.occurred_at.to_rfc3339(),
                    envelope.aggregate_type.clone(),
                    envelope.aggregate_id.clone(),
                    envelope.sequence.to_string(),
                    envelope.event_type.clone(),
                    envelope.event_version.clone(),
                    envelope.payload.to_string(),
                ])?;
            }
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut **out, &envelope)?;
                out.write_all(b"\n")?;
            }
        }
        replayed.written += 1;
    }
    match &mut sink {
        Sink::Csv(writer) => writer.flush()?,
        Sink::Jsonl(out) => out.flush()?,
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(replayed)
}

/// The aggregate types `wanted`, all when it is empty; an error names one no topic carries.
pub(crate) fn chosen_aggregate_types(wanted: &[String]) -> anyhow::Result<Vec<String>> {
    let known: Vec<String> = kafka::topic_definitions()?
        .into_iter()
        .map(|t| t.aggregate_type)
        .collect();
    if let Some(unknown) = wanted.iter().find(|t| !known.contains(t)) {
        anyhow::bail!(
            "no topic carries {unknown:?} events; choose from {}",
            known.join(", ")
        );
    }
    Ok(if wanted.is_empty() {
        known
    } else {
        wanted.to_vec()
    })
}

enum Sink<'a> {
    Jsonl(&'a mut dyn Write),
    Csv(Box<csv::Writer<&'a mut dyn Write>>),
}

type Ends = (TopicPartitionList, Vec<((String, i32), i64)>, u64);

/// Every non-empty partition of `types`' topics from the beginning, where each ends now, and
/// how many records that makes.
async fn ends(config: &WardConfig, types: &[String]) -> anyhow::Result<Ends> {
    let topics: Vec<String> = types
        .iter()
        .map(|t| kafka::topic_for(&config.kafka, t))
        .collect();
    let marks = kafka::watermarks(&config.kafka, topics).await?;
    let mut assignment = TopicPartitionList::new();
    let mut remaining = Vec::new();
    let mut total = 0;
    for mark in marks.into_iter().filter(|m| m.high > m.low) {
        assignment.add_partition_offset(&mark.topic, mark.partition, Offset::Beginning)?;
        total += u64::try_from(mark.high - mark.low).unwrap_or(0);
        remaining.push(((mark.topic, mark.partition), mark.high));
    }
    Ok((assignment, remaining, total))
}

/// A progress bar on standard error over `total` things called `unit`.
pub(crate) fn progress_bar(total: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Replaces each sealed text of the payload by its text, or by `{"erased": true}` when its
/// key is gone.
async fn open_payload(keys: &ContentKeys, envelope: &mut Envelope) -> anyhow::Result<()> {
    // Comments are sealed with their own key; everything else with its aggregate's.
    let (kind, id) = match envelope.payload.get("comment_id").and_then(Value::as_str) {
        Some(comment) => ("comment", comment.to_owned()),
        None => (
            envelope.aggregate_type.as_str(),
            envelope.aggregate_id.clone(),
        ),
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return Ok(());
    };
    let version = envelope.event_version.clone();
    let Some(fields) = envelope.payload.as_object_mut() else {
        return Ok(());
    };
    let mut key = None;
    for (field, value) in fields.iter_mut() {
        let Some(sealed) = value.get("sealed") else {
            continue;
        };
        let sealed: Sealed = serde_json::from_value(sealed.clone())?;
        if key.is_none() {
            key = Some(keys.get(kind, id).await?);
        }
        let key = key.as_ref().and_then(Option::as_ref);
        *value = match open(key, kind, id, field, &EventText::Sealed(sealed)) {
            Opened::Text(text) if field == "badge" => shown_badge(&version, &text),
            Opened::Text(text) => Value::String(text),
            Opened::Erased | Opened::Unreadable => erased(),
        };
    }
    Ok(())
}

fn erased() -> Value {
    serde_json::json!({"erased": true})
}

/// An opened post badge of a `PostCreated` of `version` as readers see it, in the same form
/// (JSON text); a badge that does not parse is erased rather than shown.
fn shown_badge(version: &str, badge: &str) -> Value {
    Badge::shown(version, badge)
        .ok()
        .and_then(|shown| serde_json::to_string(&shown).ok())
        .map_or_else(erased, Value::String)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badge_opens_as_written_from_version_4_and_as_its_job_category_before() {
        let hospital = Uuid::new_v4();
        let named = format!(r#"{{"job_category":"pharmacist","hospital_id":"{hospital}"}}"#);
        let text = |text: &str| Value::String(text.to_owned());
        assert_eq!(shown_badge("4", &named), text(&named));
        let regional = r#"{"job_category":"nurse","region":{"sido":"부산","kind":"general"}}"#;
        assert_eq!(shown_badge("4", regional), text(regional));
        assert_eq!(
            shown_badge("3", &named),
            text(r#"{"job_category":"pharmacist"}"#),
            "a badge decided at read time keeps no hospital"
        );
        assert_eq!(
            shown_badge("3", r#"{"job_category":"nurse"}"#),
            text(r#"{"job_category":"nurse"}"#)
        );
        assert_eq!(shown_badge("4", "not a badge"), erased());
    }
}
