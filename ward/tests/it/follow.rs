//! Projectors follow the log without polling it (ADR 0011): an idle projector pauses every
//! partition it has read to the end, the relay announces appended records on Redis, and a
//! projector resumes on the notice — or, when it hears none, on the partition's watermark.

use std::time::Duration;

use crate::support::*;
use futures::StreamExt;
use ward_platform::kafka::{self, Appended};

/// The partitions of the topics the board projection reads.
fn board_partitions(stack: &Stack) -> Result<i64> {
    let mut partitions = 0;
    for topic in kafka::topic_definitions()? {
        if ward_projector::board::AGGREGATE_TYPES.contains(&topic.aggregate_type.as_str()) {
            partitions += i64::from(topic.partitions);
        }
    }
    anyhow::ensure!(partitions > 0, "{}: the board reads no topic", stack.id);
    Ok(partitions)
}

/// The board projector's paused partitions, as its `/metrics` says.
async fn board_paused(projector: &Running) -> Result<Option<i64>> {
    let metrics = reqwest::get(projector.url("/metrics"))
        .await?
        .text()
        .await?;
    Ok(metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix("ward_projector_paused_partitions{group=\"ward-board\"} ")
        })
        .map(str::parse)
        .transpose()?)
}

/// Waits until the board projector has paused all of its partitions.
async fn all_paused(projector: &Running, partitions: i64) -> Result {
    eventually(
        Duration::from_secs(10),
        "every board partition paused",
        || async { Ok((board_paused(projector).await? == Some(partitions)).then_some(())) },
    )
    .await
}

/// Waits until the post is on the board and the projector, read to the end again, has paused
/// every partition again.
async fn projected_then_paused(stack: &Stack, projector: &Running, partitions: i64) -> Result {
    let board = stack.board_db().await?;
    eventually(Duration::from_secs(5), "the post on the board", || async {
        Ok((board_count(&board).await? == 1).then_some(()))
    })
    .await?;
    all_paused(projector, partitions).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_projector_pauses_its_partitions_and_the_relays_notice_wakes_it() -> Result {
    let stack = Stack::new().await?;
    let partitions = board_partitions(&stack)?;
    let commands = stack.command_api().await?;
    // Watermarks looked at only at the start: after that only a notice can wake a partition.
    let mut config = stack.config.clone();
    config.projector.watermark_check_ms = 600_000;
    let projector = stack.projector_with(config).await?;
    all_paused(&projector, partitions).await?;

    let redis = redis::Client::open(secret_url(&stack))?;
    let mut notices = redis.get_async_pubsub().await?;
    notices
        .subscribe(kafka::appended_channel(&stack.config.redis.key_prefix))
        .await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    create_post(&client, &commands, &cookie, "알림으로 깨우기").await?;

    let posts_topic = kafka::topic_for(&stack.config.kafka, "post");
    let announced = tokio::time::timeout(Duration::from_secs(5), async {
        let mut messages = notices.on_message();
        while let Some(message) = messages.next().await {
            let notices: Vec<Appended> = serde_json::from_slice(message.get_payload_bytes())?;
            if let Some(notice) = notices.into_iter().find(|n| n.topic == posts_topic) {
                return Ok(notice);
            }
        }
        anyhow::bail!("the subscription ended")
    })
    .await??;
    assert_eq!(announced.end, 1, "the post's record is the topic's first");

    projected_then_paused(&stack, &projector, partitions).await?;
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_projector_that_hears_no_notices_sees_new_records_by_their_watermark() -> Result {
    let stack = Stack::new().await?;
    let partitions = board_partitions(&stack)?;
    let commands = stack.command_api().await?;
    // Listening on another installation's channel, this projector hears none of the relay's
    // notices (as when Redis drops them while it reconnects).
    let mut deaf = stack.config.clone();
    deaf.redis.key_prefix = format!("{}deaf:", stack.config.redis.key_prefix);
    let projector = stack.projector_with(deaf).await?;
    all_paused(&projector, partitions).await?;

    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    create_post(&client, &commands, &cookie, "워터마크로 보기").await?;
    projected_then_paused(&stack, &projector, partitions).await?;
    stack.finish().await
}

fn secret_url(stack: &Stack) -> String {
    secrecy::ExposeSecret::expose_secret(&stack.config.redis.url).to_owned()
}
