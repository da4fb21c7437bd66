//! Sign-in's identity link and moderators' suspensions, on the write side.

use crate::support::*;
use serde_json::{json, Value};
use ward_command_api::app::store;
use ward_command_api::members;
use ward_command_api::pepper::Peppers;
use ward_domain::member::{JobCategory, MemberId, Role};

/// Signs `subject` in at Kakao under `peppers`, as the OAuth callback does.
async fn sign_in(stack: &Stack, peppers: &Peppers, subject: &str) -> Result<MemberId> {
    let events = stack.events_db().await?;
    let members_store = store(events.clone());
    let key = stack.author_key()?;
    let (member, _) = members::sign_in(
        &events,
        &members_store,
        &key,
        peppers,
        "kakao",
        subject,
        JobCategory::Nurse,
    )
    .await?;
    Ok(member)
}

/// (c2) with the event store and the pepper, but no subject: no identity row names its
/// member, so nothing keyed by member ids can be computed for a member who is not signed
/// in. A row of the first form (a clear member id) moves to the sealed form at the member's
/// next sign-in, keeping the member.
#[tokio::test(flavor = "multi_thread")]
async fn identity_rows_name_no_member_and_first_form_rows_are_sealed_at_sign_in() -> Result {
    let stack = Stack::new().await?;
    let events = stack.events_db().await?;
    let pepper = b"a pepper of at least thirty-two bytes";
    let peppers = Peppers::new(pepper, None);
    let members = [
        sign_in(&stack, &peppers, "1000000001").await?,
        sign_in(&stack, &peppers, "1000000002").await?,
    ];
    // A member from before sealing: the first form, as migration 0008 stored it.
    let returning = MemberId(uuid::Uuid::new_v4());
    let first_form = peppers.current(&[b"kakao", &[0], b"1000000003"]);
    sqlx::query("INSERT INTO identities (identity, member_id) VALUES ($1, $2)")
        .bind(&first_form)
        .bind(returning.0)
        .execute(&events)
        .await?;
    assert_eq!(sign_in(&stack, &peppers, "1000000003").await?, returning);

    let dump: Vec<String> = sqlx::query_scalar("SELECT to_jsonb(i)::text FROM identities i")
        .fetch_all(&events)
        .await?;
    assert_eq!(dump.len(), 3, "{dump:?}");
    for member in members.iter().chain([&returning]) {
        for row in &dump {
            assert!(
                !row.contains(&member.0.to_string()),
                "an identity row names its member: {row}"
            );
        }
    }
    assert!(
        !dump.iter().any(|row| row.contains(&first_form)),
        "the first-form row moved"
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_signs_in_to_one_member_stored_only_as_a_keyed_hash() -> Result {
    let stack = Stack::new().await?;
    let events = stack.events_db().await?;
    let pepper = Peppers::new(b"a pepper of at least thirty-two bytes", None);
    let sign_in = |subject: &'static str| sign_in(&stack, &pepper, subject);
    let first = sign_in("4242424242").await?;
    assert_eq!(
        sign_in("4242424242").await?,
        first,
        "the same identity, the same member"
    );
    assert_ne!(sign_in("1111111111").await?, first);
    let registered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'MemberRegistered'")
            .fetch_one(&events)
            .await?;
    assert_eq!(registered, 2);
    let stored: Vec<String> = sqlx::query_scalar("SELECT identity FROM identities")
        .fetch_all(&events)
        .await?;
    assert!(
        stored
            .iter()
            .all(|i| !i.contains("4242424242") && i.len() == 64),
        "{stored:?}"
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pepper_rotation_keeps_returning_members_and_moves_their_link() -> Result {
    let stack = Stack::new().await?;
    let events = stack.events_db().await?;
    let (old, new) = (
        b"the old pepper, at least thirty-two bytes".as_slice(),
        b"the new pepper, at least thirty-two bytes".as_slice(),
    );
    let identities = || async {
        sqlx::query_scalar::<_, String>("SELECT identity FROM identities ORDER BY identity")
            .fetch_all(&events)
            .await
    };
    let member = sign_in(&stack, &Peppers::new(old, None), "4242424242").await?;
    let before = identities().await?;

    // Rotation under way: the member is found under the old pepper and re-linked.
    let rotating = Peppers::new(new, Some(old));
    assert_eq!(sign_in(&stack, &rotating, "4242424242").await?, member);
    let after = identities().await?;
    assert_eq!(after.len(), 1, "moved, not copied");
    assert_ne!(after, before);
    assert_eq!(sign_in(&stack, &rotating, "4242424242").await?, member);
    // Someone new during the rotation is a new member.
    assert_ne!(sign_in(&stack, &rotating, "1111111111").await?, member);

    // The old pepper retired: the member who returned during the rotation is still known.
    assert_eq!(
        sign_in(&stack, &Peppers::new(new, None), "4242424242").await?,
        member
    );
    assert_eq!(identities().await?.len(), 2);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moderator_suspends_the_author_of_a_post_without_learning_who_it_is() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let (author, bystander) = (stack.session().await?, stack.session().await?);
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let post = create_post(&client, &commands, &author, "문제의 글").await?;

    let suspend = |days: u32| {
        client
            .post(commands.url(&format!("/api/v1/moderation/post/{post}/suspend-author")))
            .header("cookie", format!("ward_session={moderator}"))
            .json(&json!({"days": days}))
            .send()
    };
    let refused = suspend(0).await?;
    assert_eq!(refused.status(), 422);
    assert_eq!(
        refused.json::<Value>().await?["error"],
        "suspension_days_out_of_range"
    );
    let done = suspend(3).await?;
    assert_eq!(done.status(), 200);
    assert_eq!(
        done.json::<Value>().await?,
        json!({"struck": true}),
        "nothing about the author"
    );

    let blocked = client
        .post(commands.url("/api/v1/posts"))
        .header("cookie", format!("ward_session={author}"))
        .json(&json!({"board": "free", "title": "t", "body": "b"}))
        .send()
        .await?;
    assert_eq!(blocked.status(), 403);
    assert_eq!(blocked.json::<Value>().await?["error"], "member_suspended");
    create_post(&client, &commands, &bystander, "괜찮은 글").await?;

    let unknown = client
        .post(commands.url(&format!(
            "/api/v1/moderation/post/{}/suspend-author",
            uuid::Uuid::now_v7()
        )))
        .header("cookie", format!("ward_session={moderator}"))
        .json(&json!({"days": 1}))
        .send()
        .await?;
    assert_eq!(unknown.status(), 404);
    stack.finish().await
}
