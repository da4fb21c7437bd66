//! Review labels against the reader and the leaked copy (issue 19, finding 5; attackers (a),
//! (c1) and (d) of `docs/privacy.md`). A review's author label — job category and tenure —
//! narrows down who wrote it. k-anonymity must hold per label, not per hospital: a hospital
//! with many nurses and one pharmacist must not label the pharmacist's review. The label is
//! decided once, when the review is written, from the verified counts then, so a crawler
//! never sees an old review gain a label; and what readers are not shown is not in the log
//! or the read model either, so a copy of them or a replay learns no more than the pages.

use std::time::Duration;

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use ward_domain::hospital::HospitalKind;
use ward_domain::member::Role;

const WAIT: Duration = Duration::from_secs(15);
/// K for these tests, small enough to reach with a few insiders.
const K: u32 = 3;

/// The whole stack with K = 3 (the command API decides labels with the same setting).
async fn stack() -> Result<(Stack, Running, Running, Running)> {
    let mut stack = Stack::new().await?;
    stack.config.query_api.k_anonymity = K;
    let (commands, projector, queries) = stack.start_all().await?;
    Ok((stack, commands, projector, queries))
}

/// Writes a review of `hospital` as `cookie`; its id and version.
async fn review(
    commands: &Http,
    cookie: &str,
    hospital: Uuid,
    title: &str,
) -> Result<(String, i64)> {
    let answer = commands
        .post(
            cookie,
            &format!("/api/v1/hospitals/{hospital}/reviews"),
            review_body(title),
        )
        .await?;
    Ok(id_and_version(&answer))
}

/// K current nurses and one current pharmacist verified at `hospital`: the hospital is over
/// K, the pharmacist's label a group of one. Their session cookies.
async fn nurses_and_a_pharmacist(
    stack: &Stack,
    commands: &Http,
    moderator: &str,
    hospital: Uuid,
) -> Result<(Vec<String>, String)> {
    let mut nurses = Vec::new();
    for _ in 0..K {
        nurses.push(insider(stack, commands, moderator, hospital, "nurse").await?);
    }
    let pharmacist = insider(stack, commands, moderator, hospital, "pharmacist").await?;
    Ok((nurses, pharmacist))
}

/// Waits until the hospital read model holds `count` verified claims: every verification
/// (or revocation) the test made has reached what readers are answered from.
async fn hospitals_know_verified(stack: &Stack, count: i64) -> Result {
    let pool = stack.hospital_db().await?;
    eventually(WAIT, "the verified claims in the hospitals", || async {
        let verified: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM claims WHERE state = 'verified'")
                .fetch_one(&pool)
                .await?;
        Ok((verified == count).then_some(()))
    })
    .await
}

/// Waits until the hospital read model holds review `id` at `version` or later.
async fn projected(stack: &Stack, id: &str, version: i64) -> Result {
    let pool = stack.hospital_db().await?;
    eventually(WAIT, "the review in the read model", || async {
        let stored: Option<i64> = sqlx::query_scalar("SELECT version FROM reviews WHERE id = ?")
            .bind(id)
            .fetch_optional(&pool)
            .await?;
        Ok((stored >= Some(version)).then_some(()))
    })
    .await
}

/// Drops every cached hospital answer, so the next crawl reads the read model itself.
async fn uncached(stack: &Stack) -> Result {
    let mut redis = ward_platform::ops::connect_redis(&stack.config.redis).await?;
    ward_platform::cache::invalidate(&mut redis, &stack.config.redis.key_prefix, "hospital")
        .await?;
    Ok(())
}

/// The `author` of review `id` as a crawler sees it: in the hospital's listing and on its
/// own; both must agree.
async fn author(queries: &Http, hospital: Uuid, id: &str) -> Result<Value> {
    let listing = queries
        .get(&format!("/api/v1/hospitals/{hospital}/reviews"))
        .await?;
    let listed = listing["reviews"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["id"] == json!(id))
        .map(|r| r["author"].clone())
        .ok_or_else(|| anyhow::anyhow!("review {id} is not listed: {listing}"))?;
    let single = queries.get(&format!("/api/v1/reviews/{id}")).await?;
    assert_eq!(
        listed, single["author"],
        "listing and single review of {id}"
    );
    Ok(listed)
}

/// The review ids a filtered listing returns.
async fn filtered(queries: &Http, hospital: Uuid, filter: &str) -> Result<Vec<String>> {
    let (status, page) = queries
        .send(
            None,
            Method::GET,
            &format!("/api/v1/hospitals/{hospital}/reviews?{filter}"),
            None,
        )
        .await?;
    assert_eq!(status, 200, "{filter}: {page}");
    Ok(page["reviews"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect())
}

/// The `<article>` of review `id` on the hospital's page, in English.
async fn article(queries: &Running, hospital: Uuid, id: &str) -> Result<String> {
    let page = reqwest::Client::new()
        .get(queries.url(&format!("/hospitals/{hospital}")))
        .header("cookie", "ward_lang=en")
        .send()
        .await?
        .text()
        .await?;
    let start = page
        .find(&format!("id=\"r-{id}\""))
        .ok_or_else(|| anyhow::anyhow!("review {id} is not on the page"))?;
    let end = page[start..]
        .find("</article>")
        .map_or(page.len(), |end| start + end);
    Ok(page[start..end].to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lone_pharmacist_at_a_hospital_over_k_writes_an_unlabelled_review() -> Result {
    let (stack, commands_running, _projector, queries_running) = stack().await?;
    let (commands, queries) = (Http::new(&commands_running), Http::new(&queries_running));
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let hospital = register_hospital(&stack, "넓은들병원", "광주", HospitalKind::General).await?;
    let (nurses, pharmacist) =
        nurses_and_a_pharmacist(&stack, &commands, &moderator, hospital).await?;
    let (by_nurse, nv) = review(&commands, &nurses[0], hospital, "간호사 후기").await?;
    let (by_pharmacist, pv) = review(&commands, &pharmacist, hospital, "약제부 후기").await?;
    hospitals_know_verified(&stack, i64::from(K) + 1).await?;
    projected(&stack, &by_nurse, nv).await?;
    projected(&stack, &by_pharmacist, pv).await?;
    uncached(&stack).await?;

    // The JSON listing and the single review.
    assert_eq!(
        author(&queries, hospital, &by_nurse).await?,
        json!({"job_category": "nurse", "tenure": "current"}),
        "K nurses: the nurse's label shows"
    );
    assert_eq!(
        author(&queries, hospital, &by_pharmacist).await?,
        Value::Null,
        "one pharmacist: their label would name them"
    );

    // The hospital's page.
    let nurse_article = article(&queries_running, hospital, &by_nurse).await?;
    assert!(
        nurse_article.contains("<span class=\"badge\">Nurse · Current</span>"),
        "{nurse_article}"
    );
    let pharmacist_article = article(&queries_running, hospital, &by_pharmacist).await?;
    for shown in ["class=\"badge\"", "Pharmacist", "Current"] {
        assert!(
            !pharmacist_article.contains(shown),
            "the pharmacist's review shows {shown:?}: {pharmacist_article}"
        );
    }

    // Filters select by the label readers see, and nothing else: no filter singles out the
    // pharmacist's review.
    for filter in [
        "job_category=pharmacist",
        "job_category=pharmacist&tenure=current",
    ] {
        assert_eq!(
            filtered(&queries, hospital, filter).await?,
            Vec::<String>::new(),
            "{filter}"
        );
    }
    for filter in ["job_category=nurse", "tenure=current"] {
        assert_eq!(
            filtered(&queries, hospital, filter).await?,
            vec![by_nurse.clone()],
            "{filter}"
        );
    }
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_label_is_decided_when_the_review_is_written_and_never_revealed_later() -> Result {
    let (stack, commands_running, _projector, queries_running) = stack().await?;
    let (commands, queries) = (Http::new(&commands_running), Http::new(&queries_running));
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let hospital =
        register_hospital(&stack, "작은언덕병원", "울산", HospitalKind::Hospital).await?;

    // K − 1 nurses: one of them reviews, below K.
    let mut nurses = Vec::new();
    for _ in 1..K {
        nurses.push(insider_with_claim(&stack, &commands, &moderator, hospital, "nurse").await?);
    }
    let (early, ev) = review(&commands, &nurses[0].0, hospital, "초창기 후기").await?;
    hospitals_know_verified(&stack, i64::from(K) - 1).await?;
    projected(&stack, &early, ev).await?;
    uncached(&stack).await?;
    assert_eq!(author(&queries, hospital, &early).await?, Value::Null);

    // The K-th nurse verifies: the group crosses K. A crawler comparing before and after
    // must not see the early review gain a label — that would tell which reviews were
    // written before this moment, by the few nurses there were then.
    nurses.push(insider_with_claim(&stack, &commands, &moderator, hospital, "nurse").await?);
    hospitals_know_verified(&stack, i64::from(K)).await?;
    uncached(&stack).await?;
    assert_eq!(
        author(&queries, hospital, &early).await?,
        Value::Null,
        "the early review gained its label when the group crossed K"
    );
    let early_article = article(&queries_running, hospital, &early).await?;
    assert!(
        !early_article.contains("class=\"badge\""),
        "{early_article}"
    );

    // Nor does an edit bring it: the label stays as written.
    let edited = commands
        .ok(
            Some(&nurses[0].0),
            Method::PATCH,
            &format!("/api/v1/reviews/{early}"),
            Some(review_body("다시 쓴 초창기 후기")),
        )
        .await?;
    projected(
        &stack,
        &early,
        edited["version"].as_i64().unwrap_or_default(),
    )
    .await?;
    uncached(&stack).await?;
    assert_eq!(author(&queries, hospital, &early).await?, Value::Null);

    // A review written now, with K nurses verified, carries its label.
    let (late, lv) = review(&commands, &nurses[K as usize - 1].0, hospital, "최근 후기").await?;
    projected(&stack, &late, lv).await?;
    uncached(&stack).await?;
    let nurse = json!({"job_category": "nurse", "tenure": "current"});
    assert_eq!(author(&queries, hospital, &late).await?, nurse);
    assert_eq!(
        filtered(&queries, hospital, "job_category=nurse").await?,
        vec![late.clone()],
        "the filter finds the labelled review only"
    );

    // And the label is not withdrawn when the group falls below K again: it was decided
    // once, from the counts then.
    let revoked = nurses[1].1;
    commands
        .ok(
            Some(&moderator),
            Method::POST,
            &format!("/api/v1/claims/{revoked}/revocation"),
            None,
        )
        .await?;
    hospitals_know_verified(&stack, i64::from(K) - 1).await?;
    uncached(&stack).await?;
    assert_eq!(author(&queries, hospital, &late).await?, nurse);
    assert_eq!(author(&queries, hospital, &early).await?, Value::Null);
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_and_a_copy_of_the_read_model_hold_no_label_that_readers_do_not_see() -> Result {
    let (stack, commands_running, _projector, _queries) = stack().await?;
    let commands = Http::new(&commands_running);
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let hospital = register_hospital(&stack, "푸른바다병원", "제주", HospitalKind::General).await?;
    let (nurses, pharmacist) =
        nurses_and_a_pharmacist(&stack, &commands, &moderator, hospital).await?;
    let (by_nurse, nv) = review(&commands, &nurses[0], hospital, "간호사 후기").await?;
    let (by_pharmacist, pv) = review(&commands, &pharmacist, hospital, "약제부 후기").await?;

    // The event store, as a leaked backup or `ward replay` (the same payload goes to the
    // topic) shows it.
    let events = stack.events_db().await?;
    let written = |id: String| {
        let events = events.clone();
        async move {
            let payload: serde_json::Value = sqlx::query_scalar(
                "SELECT payload::jsonb FROM events WHERE aggregate_type = 'review' \
                 AND aggregate_id = $1 AND event_type = 'ReviewWritten'",
            )
            .bind(&id)
            .fetch_one(&events)
            .await?;
            Ok::<_, anyhow::Error>(payload)
        }
    };
    let lone = written(by_pharmacist.clone()).await?;
    let text = lone.to_string();
    for leak in ["job_category", "tenure", "pharmacist", "current"] {
        assert!(
            !text.contains(leak),
            "the pharmacist's ReviewWritten holds {leak:?}: {text}"
        );
    }
    let shown = written(by_nurse.clone()).await?.to_string();
    assert!(
        shown.contains("\"nurse\"") && shown.contains("\"current\""),
        "the nurse's label is in the log as readers see it: {shown}"
    );

    // The hospital read model, as a leaked copy of `ward_hospital` shows it.
    projected(&stack, &by_nurse, nv).await?;
    projected(&stack, &by_pharmacist, pv).await?;
    let hospital_db = stack.hospital_db().await?;
    let label = |id: String| {
        let pool = hospital_db.clone();
        async move {
            let row: (Option<String>, Option<String>) =
                sqlx::query_as("SELECT job_category, tenure FROM reviews WHERE id = ?")
                    .bind(&id)
                    .fetch_one(&pool)
                    .await?;
            Ok::<_, anyhow::Error>(row)
        }
    };
    assert_eq!(
        label(by_pharmacist.clone()).await?,
        (None, None),
        "the read model keeps the label readers never see"
    );
    assert_eq!(
        label(by_nurse.clone()).await?,
        (Some("nurse".to_owned()), Some("current".to_owned()))
    );
    stack.finish().await
}
