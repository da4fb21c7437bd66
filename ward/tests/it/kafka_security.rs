//! Ward's services against a broker that, like production's Strimzi listener, is reached over
//! TLS only and requires SASL/SCRAM-SHA-512: the whole pipeline works with the right
//! credentials and CA, and the broker is unreachable with a wrong password, an untrusted
//! certificate or without TLS.

use std::time::Duration;

use crate::support::*;
use serde_json::json;
use ward_platform::config::{KafkaConfig, KafkaSasl, ScramMechanism};
use ward_platform::kafka;

/// Turns the stack's broker into a secured one and points the configuration at it.
async fn secured_stack() -> Result<Stack> {
    let mut stack = Stack::new().await?;
    let password = uuid::Uuid::new_v4().to_string();
    let (bootstrap, ca) = stack.broker.secure("ward-test", &password).await?;
    let kafka = &mut stack.config.kafka;
    kafka.bootstrap_servers = bootstrap;
    kafka.tls = true;
    kafka.tls_ca_location = Some(ca);
    kafka.sasl = Some(KafkaSasl {
        mechanism: ScramMechanism::Sha512,
        username: "ward-test".to_owned(),
        password: password.into(),
    });
    Ok(stack)
}

async fn reaches_broker(config: &KafkaConfig) -> bool {
    match kafka::broker_check(config) {
        Ok(check) => check().await.is_ok(),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_runs_over_tls_with_scram_credentials() -> Result {
    let stack = secured_stack().await?;
    assert!(reaches_broker(&stack.config.kafka).await);
    let (commands, _projector, queries) = stack.start_all().await?;
    let (commands, queries) = (Http::new(&commands), Http::new(&queries));
    let cookie = stack.session().await?;

    let (status, created) = commands
        .send(
            Some(&cookie),
            reqwest::Method::POST,
            "/api/v1/posts",
            Some(json!({"board": "free", "title": "보안 연결", "body": "TLS와 SCRAM으로"})),
        )
        .await?;
    assert_eq!(status, 201);
    let listed = eventually(Duration::from_secs(10), "the post listed", || async {
        let page = queries.get("/api/v1/boards/free/posts").await?;
        Ok(page["posts"].as_array().filter(|p| !p.is_empty()).cloned())
    })
    .await?;
    assert_eq!(listed[0]["id"], created["id"]);
    queries.get("/readyz").await?;
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_broker_is_unreachable_without_the_right_credentials_or_tls() -> Result {
    let stack = secured_stack().await?;
    let good = &stack.config.kafka;
    assert!(reaches_broker(good).await, "the right settings work");

    let mut wrong_password = good.clone();
    if let Some(sasl) = wrong_password.sasl.as_mut() {
        sasl.password = "not-the-password".to_owned().into();
    }
    assert!(!reaches_broker(&wrong_password).await, "a wrong password");

    let no_sasl = KafkaConfig {
        sasl: None,
        ..good.clone()
    };
    assert!(!reaches_broker(&no_sasl).await, "no credentials");

    let untrusted = KafkaConfig {
        tls_ca_location: None,
        ..good.clone()
    };
    assert!(
        !reaches_broker(&untrusted).await,
        "a certificate the system does not trust"
    );

    let plaintext = KafkaConfig {
        tls: false,
        ..good.clone()
    };
    assert!(
        !reaches_broker(&plaintext).await,
        "plain TCP to the TLS port"
    );
    stack.finish().await
}
