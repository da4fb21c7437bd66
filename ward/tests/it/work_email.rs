//! Verifying a claim by a code mailed to a work address: the local mail sink is a folder of
//! `.eml` files; the address is never kept; five wrong codes lock the claim; an address
//! verifies one member only.

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use ward_domain::hospital::HospitalKind;

const DOMAIN: &str = "staff.ward-hospital.test";

#[tokio::test(flavor = "multi_thread")]
async fn a_mailed_code_verifies_a_claim_and_the_address_is_never_kept() -> Result {
    let (stack, mail) = mailing_stack("test-identity-pepper-0123456789abcdef").await?;
    let commands = stack.command_api().await?;
    let commands = Http::new(&commands);
    let hospital = register_hospital_with_domains(
        &stack,
        "메일병원",
        "서울",
        HospitalKind::General,
        &[DOMAIN],
    )
    .await?;
    let address = format!("Nurse.Kim@{DOMAIN}");
    let lower = address.to_lowercase();

    // Alice: a wrong domain, then a code, four wrong guesses and the right one.
    let (_, alice) = stack.member(&[]).await?;
    let alice_claim = claim(&commands, &alice, hospital).await?;
    let commands = &commands;
    let send = |cookie: String, claim: String, address: String| async move {
        send_code(commands, &cookie, &claim, &address).await
    };
    let confirm = |cookie: String, claim: String, code: String| async move {
        confirm_code(commands, &cookie, &claim, &code).await
    };
    let (status, answer) = send(
        alice.clone(),
        alice_claim.clone(),
        "kim@gmail.com".to_owned(),
    )
    .await?;
    assert_eq!(
        (status, answer["error"].as_str()),
        (422, Some("email_domain_not_allowed"))
    );
    let (status, answer) = send(
        alice.clone(),
        alice_claim.clone(),
        "not an address".to_owned(),
    )
    .await?;
    assert_eq!(
        (status, answer["error"].as_str()),
        (422, Some("email_invalid"))
    );
    let (status, _) = send(alice.clone(), alice_claim.clone(), address.clone()).await?;
    assert_eq!(status, 202);
    let code = code_for(mail.path(), &lower)?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in [4, 3] {
        let (status, answer) =
            confirm(alice.clone(), alice_claim.clone(), wrong.to_owned()).await?;
        assert_eq!(
            (status, answer["error"].as_str()),
            (422, Some("code_wrong"))
        );
        assert_eq!(answer["details"]["attempts_left"], left);
    }
    // Someone else cannot use Alice's claim.
    let (_, mallory) = stack.member(&[]).await?;
    let (status, _) = confirm(mallory.clone(), alice_claim.clone(), code.clone()).await?;
    assert_eq!(status, 404);
    let (status, verified) = confirm(alice.clone(), alice_claim.clone(), code.clone()).await?;
    assert_eq!(status, 200, "{verified}");
    // Alice is an insider now: she may review the hospital.
    let review = json!({
        "ratings": {"overall": 4, "work_environment": 4, "pay_benefits": 3, "management": 3, "care_quality": 5, "work_life_balance": 3},
        "title": "메일로 인증한 리뷰", "pros": "교육이 체계적이고 동료들이 친절합니다.",
        "cons": "야간 근무가 많아서 피곤한 편입니다.", "would_recommend": true
    });
    commands
        .post(
            &alice,
            &format!("/api/v1/hospitals/{hospital}/reviews"),
            review,
        )
        .await?;
    let (status, answer) = confirm(alice.clone(), alice_claim.clone(), code).await?;
    assert_eq!(
        (status, answer["error"].as_str()),
        (409, Some("claim_not_open"))
    );

    // Bob may not verify with Alice's address, however he writes it. He is told so only
    // after proving that he reads its mail (docs/privacy.md: no membership oracle).
    let (_, bob) = stack.member(&[]).await?;
    let bob_claim = claim(commands, &bob, hospital).await?;
    let (status, _) = send(bob.clone(), bob_claim.clone(), address.to_uppercase()).await?;
    assert_eq!(status, 202);
    let bob_code = code_for(mail.path(), &address.to_uppercase())?;
    let (status, answer) = confirm(bob.clone(), bob_claim.clone(), bob_code).await?;
    assert_eq!(
        (status, answer["error"].as_str()),
        (409, Some("email_already_used"))
    );

    // Carol guesses wrong five times: her claim's email verification locks.
    let (_, carol) = stack.member(&[]).await?;
    let carol_claim = claim(commands, &carol, hospital).await?;
    let carol_address = format!("carol@{DOMAIN}");
    assert_eq!(
        send(carol.clone(), carol_claim.clone(), carol_address.clone())
            .await?
            .0,
        202
    );
    let carol_code = code_for(mail.path(), &carol_address)?;
    let wrong = if carol_code == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mut last: (u16, Value) = (0, Value::Null);
    for _ in 0..5 {
        last = confirm(carol.clone(), carol_claim.clone(), wrong.to_owned()).await?;
    }
    assert_eq!(
        (last.0, last.1["error"].as_str()),
        (423, Some("claim_locked"))
    );
    let (status, _) = confirm(carol.clone(), carol_claim.clone(), carol_code).await?;
    assert_eq!(status, 423, "even the right code is refused now");
    let (status, _) = send(carol.clone(), carol_claim.clone(), carol_address).await?;
    assert_eq!(status, 423);

    // The address is nowhere but in the mail itself.
    let events: Vec<String> = sqlx::query_scalar("SELECT payload::text FROM events")
        .fetch_all(&stack.events_db().await?)
        .await?;
    let emails: Vec<String> =
        sqlx::query_scalar("SELECT address_hash || claim_id FROM verified_emails")
            .fetch_all(&stack.events_db().await?)
            .await?;
    let mut redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", stack.config.redis.key_prefix))
        .query_async(&mut redis)
        .await?;
    let mut values = Vec::new();
    for key in &keys {
        let value: Option<String> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut redis)
            .await
            .unwrap_or(None);
        values.extend(value);
    }
    let kept = format!("{events:?}{emails:?}{keys:?}{values:?}").to_lowercase();
    // (The domain is the hospital's public data; the person's part of the address is not.)
    assert!(
        !kept.contains("nurse.kim") && !kept.contains("carol@"),
        "an address was kept"
    );
    assert_eq!(emails.len(), 1);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_mail_server_work_email_verification_is_unavailable() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let commands = Http::new(&commands);
    let hospital = register_hospital_with_domains(
        &stack,
        "무메일병원",
        "서울",
        HospitalKind::General,
        &[DOMAIN],
    )
    .await?;
    let (_, member) = stack.member(&[]).await?;
    let claim = claim(&commands, &member, hospital).await?;
    let (status, answer) = commands
        .send(
            Some(&member),
            Method::POST,
            &format!("/api/v1/claims/{claim}/email"),
            Some(json!({"address": format!("a@{DOMAIN}")})),
        )
        .await?;
    assert_eq!(
        (status, answer["error"].as_str()),
        (503, Some("email_verification_unavailable"))
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_stays_used_while_the_pepper_that_hashed_it_is_the_previous_one() -> Result {
    let old = "the old identity pepper, 32 bytes long";
    let (mut stack, mail) = mailing_stack(old).await?;
    let running = stack.command_api().await?;
    let commands = Http::new(&running);
    let hospital = register_hospital_with_domains(
        &stack,
        "회전병원",
        "부산",
        HospitalKind::General,
        &[DOMAIN],
    )
    .await?;
    let address = format!("rotate@{DOMAIN}");
    let (_, alice) = stack.member(&[]).await?;
    let alice_claim = claim(&commands, &alice, hospital).await?;
    let sent = send_code(&commands, &alice, &alice_claim, &address).await?;
    assert_eq!(sent.0, 202);
    let code = code_for(mail.path(), &address)?;
    let verified = confirm_code(&commands, &alice, &alice_claim, &code).await?;
    assert_eq!(verified.0, 200, "{}", verified.1);
    running.stop().await?;

    // The pepper rotates: the address hashed under the old one is still taken.
    stack.config.command_api.identity_pepper =
        Some("the new identity pepper, 32 bytes long".into());
    stack.config.command_api.previous_identity_pepper = Some(old.into());
    let running = stack.command_api().await?;
    let commands = Http::new(&running);
    let (_, bob) = stack.member(&[]).await?;
    let bob_claim = claim(&commands, &bob, hospital).await?;
    let (status, _) = send_code(&commands, &bob, &bob_claim, &address).await?;
    assert_eq!(status, 202);
    let code = code_for(mail.path(), &address)?;
    let (status, answer) = confirm_code(&commands, &bob, &bob_claim, &code).await?;
    assert_eq!(
        (status, answer["error"].as_str()),
        (409, Some("email_already_used"))
    );
    running.stop().await?;

    // Retiring the old pepper forgets it: why docs/operations.md says to keep it.
    stack.config.command_api.previous_identity_pepper = None;
    let running = stack.command_api().await?;
    let commands = Http::new(&running);
    let (status, _) = send_code(&commands, &bob, &bob_claim, &address).await?;
    assert_eq!(status, 202);
    let code = code_for(mail.path(), &address)?;
    let verified = confirm_code(&commands, &bob, &bob_claim, &code).await?;
    assert_eq!(verified.0, 200, "{}", verified.1);
    running.stop().await?;
    stack.finish().await
}
