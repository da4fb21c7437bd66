//! The hospital catalogue import, through the real event store, outbox and broker.

use std::time::Duration;

use crate::support::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use uuid::Uuid;
use ward_command_api::hospitals::{import, ImportReport};
use ward_platform::kafka::{self, Envelope};

const HEADER: &str = "암호화요양기호,요양기관명,종별코드,종별코드명,시도코드,시도코드명,시군구코드,시군구코드명,주소,직원이메일도메인";

fn csv(rows: &[&str]) -> anyhow::Result<tempfile::NamedTempFile> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), format!("{HEADER}\n{}\n", rows.join("\n")))?;
    Ok(file)
}

const SNUH: &str =
    ",서울대학교병원,01,상급종합,110000,서울,110016,종로구,서울특별시 종로구 대학로 101,snuh.org";
const AMC: &str =
    ",서울아산병원,01,상급종합,110000,서울,110023,송파구,서울특별시 송파구 올림픽로43길 88,";

#[tokio::test(flavor = "multi_thread")]
async fn importing_twice_changes_nothing_and_a_changed_row_is_one_update() -> Result {
    let stack = Stack::new().await?;
    let first = csv(&[SNUH, AMC])?;
    let report = import(&stack.config, first.path(), false).await?;
    assert_eq!(
        report,
        ImportReport {
            registered: 2,
            ..ImportReport::default()
        }
    );
    let again = import(&stack.config, first.path(), false).await?;
    assert_eq!(
        again,
        ImportReport {
            unchanged: 2,
            ..ImportReport::default()
        }
    );

    let moved = AMC.replace("올림픽로43길 88", "올림픽로43길 90");
    let second = csv(&[SNUH, &moved, ",,01,상급종합,110000,서울,110016,종로구,주소"])?;
    let report = import(&stack.config, second.path(), false).await?;
    assert_eq!(report.updated, 1);
    assert_eq!(report.unchanged, 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].0, 4, "the bad row's line number");
    assert!(
        report.rejected[0].1.starts_with("name_empty"),
        "{:?}",
        report.rejected
    );

    let events: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_type = 'hospital' ORDER BY event_type",
    )
    .fetch_all(&stack.events_db().await?)
    .await?;
    assert_eq!(
        events,
        [
            "HospitalRegistered",
            "HospitalRegistered",
            "HospitalUpdated"
        ]
    );

    // The relay publishes them to the hospital topic.
    let _commands = stack.command_api().await?;
    let consumer: BaseConsumer = kafka::client_config(&stack.config.kafka)
        .set("group.id", format!("test-reader-{}", Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&["ward.hospital.events"])?;
    let types = tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
        let mut types = Vec::new();
        for _ in 0..300 {
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let envelope: Envelope =
                    serde_json::from_slice(message?.payload().unwrap_or_default())?;
                types.push(envelope.event_type);
                if types.len() == 3 {
                    break;
                }
            }
        }
        types.sort();
        Ok(types)
    })
    .await??;
    assert_eq!(
        types,
        [
            "HospitalRegistered",
            "HospitalRegistered",
            "HospitalUpdated"
        ]
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_sample_imports_cleanly() -> Result {
    let stack = Stack::new().await?;
    let sample =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/hospitals/sample.csv");
    let report = import(&stack.config, &sample, false).await?;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert!(report.registered >= 50, "{report:?}");
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_hospital_takes_no_new_claims() -> Result {
    let stack = Stack::new().await?;
    let file = csv(&[SNUH, AMC])?;
    import(&stack.config, file.path(), false).await?;
    let events = stack.events_db().await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events WHERE event_type = 'HospitalRegistered' ORDER BY aggregate_id",
    )
    .fetch_all(&events)
    .await?;
    let (closed, open): (Uuid, Uuid) = (ids[0].parse()?, ids[1].parse()?);
    assert_eq!(
        ward_command_api::hospitals::close(&stack.config, closed).await?,
        2
    );
    assert!(
        ward_command_api::hospitals::close(&stack.config, closed)
            .await
            .is_err(),
        "closed once"
    );

    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let cookie = stack.session().await?;
    let claim = |hospital: Uuid| {
        client
            .post(commands.url(&format!("/api/v1/hospitals/{hospital}/claims")))
            .header("cookie", format!("ward_session={cookie}"))
            .json(&serde_json::json!({"job_category": "nurse", "tenure": "current"}))
            .send()
    };
    let refused = claim(closed).await?;
    assert_eq!(refused.status(), 404);
    assert_eq!(claim(open).await?.status(), 201);
    stack.finish().await
}
