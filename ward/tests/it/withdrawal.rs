//! "Forget me": a member's withdrawal destroys the content keys of everything they wrote,
//! through a private index that names neither the member nor the items in the clear.

use crate::support::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn a_withdrawn_members_posts_and_comments_can_no_longer_be_read_anywhere() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let (leaver, stayer) = (stack.session().await?, stack.session().await?);
    let post = create_post(&client, &commands, &leaver, "떠날 사람의 글").await?;
    let kept = create_post(&client, &commands, &stayer, "남을 사람의 글").await?;
    let comment: Value = client
        .post(commands.url(&format!("/api/v1/posts/{kept}/comments")))
        .header("cookie", format!("ward_session={leaver}"))
        .json(&json!({"body": "떠날 사람의 댓글"}))
        .send()
        .await?
        .json()
        .await?;
    let comment = comment["id"].as_str().unwrap_or_default().to_owned();

    let events = stack.events_db().await?;
    let index: Vec<String> =
        sqlx::query_scalar("SELECT slot || nonce || ciphertext FROM member_index")
            .fetch_all(&events)
            .await?;
    assert_eq!(index.len(), 3, "two posts and a comment are indexed");
    let member_ids: Vec<String> =
        sqlx::query_scalar("SELECT aggregate_id FROM events WHERE aggregate_type = 'member'")
            .fetch_all(&events)
            .await?;
    for row in &index {
        assert!(
            !row.contains(&post.to_string()) && !row.contains(&comment),
            "the index names no item"
        );
        assert!(
            member_ids.iter().all(|m| !row.contains(m.as_str())),
            "the index names no member"
        );
    }

    let response = client
        .delete(commands.url("/api/v1/me"))
        .header("cookie", format!("ward_session={leaver}"))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await?["erased_items"], 2);

    let keys: Vec<String> = sqlx::query_scalar("SELECT item_id FROM content_keys")
        .fetch_all(&events)
        .await?;
    assert!(
        !keys.contains(&post.to_string()) && !keys.contains(&comment),
        "the leaver's keys are gone"
    );
    assert!(
        keys.contains(&kept.to_string()),
        "other members' content stays"
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM member_index")
        .fetch_one(&events)
        .await?;
    assert_eq!(left, 1, "only the stayer's row is left");

    let again = client
        .post(commands.url("/api/v1/posts"))
        .header("cookie", format!("ward_session={leaver}"))
        .json(&json!({"board": "free", "title": "t", "body": "b"}))
        .send()
        .await?;
    assert_eq!(
        again.status(),
        401,
        "a withdrawn member's sessions are dead"
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn withdrawal_ends_every_session_of_the_member_and_no_one_elses() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let (member, phone) = stack.member(&[]).await?;
    let redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    let sessions = ward_platform::session::SessionStore::new(redis, &stack.config);
    let laptop = sessions
        .create(&ward_platform::session::Session::new(member))
        .await?;
    let other = stack.session().await?;
    let response = reqwest::Client::new()
        .delete(commands.url("/api/v1/me"))
        .header("cookie", format!("ward_session={phone}"))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(sessions.get(&phone).await?, None);
    assert_eq!(
        sessions.get(&laptop).await?,
        None,
        "the other device's session too"
    );
    assert!(sessions.get(&other).await?.is_some(), "nobody else's");
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suspended_member_may_still_withdraw_and_a_visitor_may_not() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();
    let (member, cookie) = stack.member(&[]).await?;
    let members_store = ward_command_api::app::store(stack.events_db().await?);
    let suspend = ward_domain::member::MemberCommand::Suspend {
        days: 3,
        now: ward_command_api::members::now(),
    };
    ward_command_api::members::run(&members_store, &stack.author_key()?, member, suspend).await?;
    let visitor = client.delete(commands.url("/api/v1/me")).send().await?;
    assert_eq!(visitor.status(), 401);
    let withdrawn = client
        .delete(commands.url("/api/v1/me"))
        .header("cookie", format!("ward_session={cookie}"))
        .send()
        .await?;
    assert_eq!(withdrawn.status(), 200);
    stack.finish().await
}
