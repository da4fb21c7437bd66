//! The moderators' claim queue (API and operator CLI), the operator granting the moderator
//! role by a member's reference, and claims expiring after 14 days.

use crate::support::*;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;
use ward_command_api::app::store;
use ward_command_api::execute::execute;
use ward_domain::affiliation::{AffiliationClaim, ClaimCommand, RejectReason, Tenure};
use ward_domain::hospital::HospitalKind;
use ward_domain::member::{JobCategory, MemberId, Role};
use ward_platform::http::CorrelationId;

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_makes_a_moderator_who_works_the_queue_that_names_nobody() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let (commands, queries) = (Http::new(&commands), Http::new(&queries));
    let hospital = register_hospital(&stack, "큐병원", "대전", HospitalKind::Hospital).await?;
    let (claimant, claimant_cookie) = stack.member(&[]).await?;
    let claim = commands
        .post(
            &claimant_cookie,
            &format!("/api/v1/hospitals/{hospital}/claims"),
            json!({"job_category": "pharmacist", "tenure": "former"}),
        )
        .await?;
    let claim_id = claim["id"].as_str().unwrap_or_default().to_owned();

    // A member who is not a moderator may not see the queue.
    let (_, future_moderator) = stack.member(&[]).await?;
    let (status, refused) = commands
        .send(
            Some(&future_moderator),
            Method::GET,
            "/api/v1/moderation/claims",
            None,
        )
        .await?;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("moderator_only"))
    );

    // The member hands their reference to an operator, who grants the role.
    let me = queries
        .ok(Some(&future_moderator), Method::GET, "/api/v1/me", None)
        .await?;
    let member_ref = me["member_ref"].as_str().unwrap_or_default().to_owned();
    assert_eq!(member_ref.len(), 64);
    assert!(
        ward::set_role(&stack.config, &"0".repeat(64), Role::Moderator, true)
            .await
            .is_err()
    );
    ward::set_role(&stack.config, &member_ref, Role::Moderator, true).await?;

    let queue = commands
        .ok(
            Some(&future_moderator),
            Method::GET,
            "/api/v1/moderation/claims",
            None,
        )
        .await?;
    let listed = &queue["claims"][0];
    assert_eq!(listed["id"], json!(claim_id));
    assert_eq!(listed["hospital_name"], "큐병원");
    assert_eq!(listed["job_category"], "pharmacist");
    assert_eq!(listed["tenure"], "former");
    assert_eq!(queue["ages_days"], json!([0]));
    let text = queue.to_string();
    assert!(
        !text.contains(&claimant.0.to_string()),
        "the queue names nobody"
    );
    assert!(!text.contains(&stack.author_key()?.member_ref(claimant).0));

    // The operator CLI decides too; a decided claim leaves the queue.
    ward::decide_claim(&stack.config, claim_id.parse()?, None).await?;
    let queue = commands
        .ok(
            Some(&future_moderator),
            Method::GET,
            "/api/v1/moderation/claims",
            None,
        )
        .await?;
    assert_eq!(queue["claims"], json!([]));
    assert!(
        ward::decide_claim(&stack.config, claim_id.parse()?, Some(RejectReason::Other))
            .await
            .is_err(),
        "a verified claim cannot be rejected"
    );

    // Revoking the role takes the queue away again.
    ward::set_role(&stack.config, &member_ref, Role::Moderator, false).await?;
    let (status, _) = commands
        .send(
            Some(&future_moderator),
            Method::GET,
            "/api/v1/moderation/claims",
            None,
        )
        .await?;
    assert_eq!(status, 403);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_nobody_decided_in_14_days_expire_and_younger_ones_stay() -> Result {
    let stack = Stack::new().await?;
    let hospital = register_hospital(&stack, "만료병원", "광주", HospitalKind::Clinic).await?;
    let pool = stack.events_db().await?;
    let claims = store::<AffiliationClaim>(pool.clone());
    let key = stack.author_key()?;
    let now = ward_command_api::members::now();
    let correlation = CorrelationId("expiry-test".to_owned());
    let mut ids = Vec::new();
    for days_ago in [15, 13] {
        let member = MemberId(Uuid::new_v4());
        let id = key.derive_id("affiliation", hospital, member).to_string();
        let submit = ClaimCommand::Submit {
            hospital_id: hospital,
            job_category: JobCategory::Nurse,
            tenure: Tenure::Current,
            now: now - days_ago * 86_400,
        };
        execute(&claims, &(), &id, submit, &correlation).await?;
        ids.push(id);
    }
    let expired = ward_command_api::claim_queue::expire_stale(&pool, &claims).await?;
    assert_eq!(expired, 1);
    let open = ward_command_api::claim_queue::open_claims(&pool, 10, None).await?;
    let open: Vec<&str> = open.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        open,
        vec![ids[1].as_str()],
        "only the 13-day-old claim is still open"
    );
    assert_eq!(
        ward_command_api::claim_queue::expire_stale(&pool, &claims).await?,
        0,
        "expiring twice expires nothing more"
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_withdrawal_revokes_the_members_verified_claims_and_rejects_open_ones() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let commands = Http::new(&commands);
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let (north, south) = (
        register_hospital(&stack, "북병원", "서울", HospitalKind::General).await?,
        register_hospital(&stack, "남병원", "부산", HospitalKind::General).await?,
    );
    let (_, leaving) = stack.member(&[]).await?;
    let mut claims = Vec::new();
    for hospital in [north, south] {
        let claim = commands
            .post(
                &leaving,
                &format!("/api/v1/hospitals/{hospital}/claims"),
                json!({"job_category": "nurse", "tenure": "current"}),
            )
            .await?;
        claims.push(claim["id"].as_str().unwrap_or_default().to_owned());
    }
    ward::decide_claim(&stack.config, claims[0].parse()?, None).await?;
    // Someone else's claim is untouched.
    let (_, staying) = stack.member(&[]).await?;
    let kept = commands
        .post(
            &staying,
            &format!("/api/v1/hospitals/{north}/claims"),
            json!({"job_category": "doctor", "tenure": "current"}),
        )
        .await?;
    let kept = kept["id"].as_str().unwrap_or_default().to_owned();

    commands
        .ok(Some(&leaving), Method::DELETE, "/api/v1/me", None)
        .await?;
    let events = stack.events_db().await?;
    let last = |claim: String| {
        let events = &events;
        async move {
            let last: String = sqlx::query_scalar(
                "SELECT event_type FROM events WHERE aggregate_type = 'affiliation' \
                 AND aggregate_id = $1 ORDER BY sequence DESC LIMIT 1",
            )
            .bind(claim)
            .fetch_one(events)
            .await?;
            Ok::<_, anyhow::Error>(last)
        }
    };
    assert_eq!(last(claims[0].clone()).await?, "ClaimRevoked");
    assert_eq!(last(claims[1].clone()).await?, "ClaimRejected");
    assert_eq!(last(kept.clone()).await?, "ClaimSubmitted");
    let queue = commands
        .ok(
            Some(&moderator),
            Method::GET,
            "/api/v1/moderation/claims",
            None,
        )
        .await?;
    let open: Vec<&str> = queue["claims"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(open, vec![kept.as_str()]);
    stack.finish().await
}
