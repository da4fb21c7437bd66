//! Threads over HTTP: comments with per-thread handles, replies, likes, edits, accepted
//! answers, and a hot thread under concurrency.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::*;
use serde_json::{json, Value};
use uuid::Uuid;

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(api: &Running) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: api.url(""),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", format!("ward_session={cookie}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    async fn comment(
        &self,
        post: Uuid,
        cookie: &str,
        parent: Option<&str>,
    ) -> Result<(u16, Value)> {
        let body = json!({"body": "댓글", "parent_id": parent});
        self.send(
            reqwest::Method::POST,
            &format!("/api/v1/posts/{post}/comments"),
            cookie,
            Some(body),
        )
        .await
    }
}

/// The handles of the thread's comments, in order, from the event store.
async fn handles(stack: &Stack, post: Uuid) -> Result<Vec<Value>> {
    Ok(sqlx::query_scalar(
        "SELECT payload -> 'CommentAdded' -> 'handle' FROM events \
         WHERE aggregate_id = $1 AND event_type = 'CommentAdded' ORDER BY sequence",
    )
    .bind(post.to_string())
    .fetch_all(&stack.events_db().await?)
    .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn commenters_appear_as_the_original_poster_or_numbered_anonymous_handles() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = Client::new(&commands);
    let (op, first, second) = (
        stack.session().await?,
        stack.session().await?,
        stack.session().await?,
    );
    let post = create_post(&client.http, &commands, &op, "스레드").await?;

    let (status, top) = client.comment(post, &first, None).await?;
    assert_eq!(status, 201, "{top}");
    let top_id = top["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(client.comment(post, &op, None).await?.0, 201);
    let (status, reply) = client.comment(post, &second, Some(&top_id)).await?;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(client.comment(post, &first, None).await?.0, 201);
    let (status, body) = client.comment(post, &second, reply["id"].as_str()).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("reply_too_deep"))
    );
    let (status, body) = client
        .comment(post, &second, Some(&Uuid::now_v7().to_string()))
        .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("comment_not_found"))
    );

    assert_eq!(
        handles(&stack, post).await?,
        [
            json!({"anonymous": 1}),
            json!("original_poster"),
            json!({"anonymous": 2}),
            json!({"anonymous": 1})
        ]
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn likes_edits_deletions_and_accepted_answers_follow_the_rules() -> Result {
    let stack = Stack::new().await?;
    let (commands, _projector, queries) = stack.start_all().await?;
    let client = Client::new(&commands);
    let (author, reader) = (stack.session().await?, stack.session().await?);
    use reqwest::Method;

    let (_, created) = client
        .send(
            Method::POST,
            "/api/v1/posts",
            &author,
            Some(json!({"board": "qna", "title": "질문", "body": "본문"})),
        )
        .await?;
    let post = created["id"].as_str().unwrap_or_default().to_owned();
    let like = format!("/api/v1/posts/{post}/like");
    assert_eq!(client.send(Method::PUT, &like, &reader, None).await?.0, 200);
    assert_eq!(
        client.send(Method::PUT, &like, &reader, None).await?.1["error"],
        "post_already_liked"
    );
    assert_eq!(
        client.send(Method::PUT, &like, &author, None).await?.1["error"],
        "post_own_like"
    );
    assert_eq!(
        client.send(Method::DELETE, &like, &reader, None).await?.0,
        200
    );
    assert_eq!(
        client.send(Method::DELETE, &like, &reader, None).await?.1["error"],
        "post_not_liked"
    );

    let path = format!("/api/v1/posts/{post}");
    let edit = json!({"title": "고친 질문", "body": "고친 본문"});
    assert_eq!(
        client
            .send(Method::PATCH, &path, &reader, Some(edit.clone()))
            .await?
            .0,
        403
    );
    let (status, edited) = client
        .send(Method::PATCH, &path, &author, Some(edit))
        .await?;
    assert_eq!(status, 200);
    let version = edited["version"].as_i64().unwrap_or_default();
    let shown = eventually(
        Duration::from_secs(5),
        "the edit in the read model",
        || async {
            let shown: Value = client
                .http
                .get(queries.url(&path))
                .send()
                .await?
                .json()
                .await?;
            Ok((shown["version"].as_i64() == Some(version)).then_some(shown))
        },
    )
    .await?;
    assert_eq!(shown["title"], "고친 질문");

    let (_, answer) = client.comment(post.parse()?, &reader, None).await?;
    let (_, own) = client.comment(post.parse()?, &author, None).await?;
    let accept = format!("/api/v1/posts/{post}/accepted-answer");
    let by = |comment: &Value| Some(json!({"comment_id": comment["id"]}));
    assert_eq!(
        client
            .send(Method::PUT, &accept, &reader, by(&answer))
            .await?
            .1["error"],
        "not_author"
    );
    assert_eq!(
        client
            .send(Method::PUT, &accept, &author, by(&own))
            .await?
            .1["error"],
        "own_answer"
    );
    assert_eq!(
        client
            .send(Method::PUT, &accept, &author, by(&answer))
            .await?
            .0,
        200
    );
    assert_eq!(
        client
            .send(Method::PUT, &accept, &author, by(&answer))
            .await?
            .1["error"],
        "answer_already_accepted"
    );

    let comment_path = format!(
        "/api/v1/posts/{post}/comments/{}",
        answer["id"].as_str().unwrap_or_default()
    );
    assert_eq!(
        client
            .send(
                Method::PATCH,
                &comment_path,
                &author,
                Some(json!({"body": "x"}))
            )
            .await?
            .0,
        403
    );
    assert_eq!(
        client
            .send(
                Method::PATCH,
                &comment_path,
                &reader,
                Some(json!({"body": "고친 댓글"}))
            )
            .await?
            .0,
        200
    );
    assert_eq!(
        client
            .send(Method::DELETE, &comment_path, &reader, None)
            .await?
            .0,
        200
    );
    let keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM content_keys WHERE item_type = 'comment' AND item_id = $1",
    )
    .bind(answer["id"].as_str().unwrap_or_default())
    .fetch_one(&stack.events_db().await?)
    .await?;
    assert_eq!(keys, 0, "a deleted comment's key is destroyed");
    assert_eq!(
        client
            .send(Method::DELETE, &comment_path, &reader, None)
            .await?
            .1["error"],
        "comment_deleted"
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hot_thread_takes_concurrent_comments_without_losing_or_refusing_any() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = Client::new(&commands);
    let op = stack.session().await?;
    let post = create_post(&client.http, &commands, &op, "인기 글").await?;
    let mut members = Vec::new();
    for _ in 0..12 {
        members.push(stack.session().await?);
    }
    let answers = futures::future::join_all(
        members
            .iter()
            .map(|cookie| client.comment(post, cookie, None)),
    )
    .await;
    for answer in answers {
        let (status, body) = answer?;
        assert_eq!(status, 201, "{body}");
    }
    let handles = handles(&stack, post).await?;
    let distinct: HashSet<String> = handles.iter().map(Value::to_string).collect();
    assert_eq!((handles.len(), distinct.len()), (12, 12), "{handles:?}");
    stack.finish().await
}
