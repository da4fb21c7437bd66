//! Property: for random command sequences, every read model built live equals the one
//! rebuilt from offset 0, and records delivered again — appended to the topics long after
//! the originals — change nothing.

use std::time::Duration;

use crate::support::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use reqwest::Method;
use serde_json::{json, Value};
use ward_domain::hospital::HospitalKind;
use ward_domain::member::Role;
use ward_platform::kafka;
use ward_projector::rebuild;

/// One command, with indexes into what exists when it runs (taken modulo its length).
#[derive(Debug, Clone)]
enum Op {
    Post {
        author: usize,
        qna: bool,
    },
    Comment {
        author: usize,
        post: usize,
        reply: bool,
    },
    Like {
        member: usize,
        post: usize,
    },
    Unlike {
        member: usize,
        post: usize,
    },
    EditPost {
        post: usize,
    },
    DeletePost {
        post: usize,
    },
    DeleteComment {
        comment: usize,
    },
    Accept {
        comment: usize,
    },
    Hide {
        post: usize,
    },
    Restore {
        post: usize,
    },
    Review {
        insider: usize,
    },
    Helpful {
        member: usize,
        review: usize,
    },
    DeleteReview {
        review: usize,
    },
    Claim {
        member: usize,
        approve: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let i = || 0..16usize;
    prop_oneof![
        4 => (i(), any::<bool>()).prop_map(|(author, qna)| Op::Post { author, qna }),
        4 => (i(), i(), any::<bool>()).prop_map(|(author, post, reply)| Op::Comment { author, post, reply }),
        2 => (i(), i()).prop_map(|(member, post)| Op::Like { member, post }),
        1 => (i(), i()).prop_map(|(member, post)| Op::Unlike { member, post }),
        1 => i().prop_map(|post| Op::EditPost { post }),
        1 => i().prop_map(|post| Op::DeletePost { post }),
        1 => i().prop_map(|comment| Op::DeleteComment { comment }),
        1 => i().prop_map(|comment| Op::Accept { comment }),
        1 => i().prop_map(|post| Op::Hide { post }),
        1 => i().prop_map(|post| Op::Restore { post }),
        2 => i().prop_map(|insider| Op::Review { insider }),
        1 => (i(), i()).prop_map(|(member, review)| Op::Helpful { member, review }),
        1 => i().prop_map(|review| Op::DeleteReview { review }),
        1 => (i(), any::<bool>()).prop_map(|(member, approve)| Op::Claim { member, approve }),
    ]
}

/// What a run made, for later commands to refer to.
#[derive(Default)]
struct Made {
    posts: Vec<(String, String)>,
    comments: Vec<(String, String, String)>,
    reviews: Vec<(String, String)>,
}

fn pick<T>(items: &[T], index: usize) -> Option<&T> {
    (!items.is_empty()).then(|| &items[index % items.len()])
}

#[test]
fn read_models_built_live_equal_those_rebuilt_from_offset_0() -> Result {
    let runtime = tokio::runtime::Runtime::new()?;
    let mut runner = TestRunner::new(Config {
        cases: 3,
        max_shrink_iters: 8,
        ..Config::default()
    });
    let outcome = runner.run(&prop::collection::vec(op(), 15..40), |ops| {
        runtime
            .block_on(case(ops))
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))
    });
    outcome.map_err(|e| anyhow::anyhow!("{e}"))
}

async fn case(ops: Vec<Op>) -> Result {
    let stack = Stack::new().await?;
    let (commands, projector, queries) = stack.start_all().await?;
    let api = Http::new(&commands);
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let hospital = register_hospital(&stack, "속성병원", "서울", HospitalKind::General).await?;
    let mut members = Vec::new();
    for _ in 0..4 {
        members.push(stack.session().await?);
    }
    let mut insiders = Vec::new();
    for job in ["nurse", "doctor"] {
        insiders.push(insider(&stack, &api, &moderator, hospital, job).await?);
    }
    let mut made = Made::default();
    for op in &ops {
        run(
            &api, &moderator, &members, &insiders, hospital, &mut made, op,
        )
        .await?;
    }

    settle(&stack).await?;
    let live = dumps(&stack.config).await?;
    let reader = Http::new(&queries);
    let cookies: Vec<&String> = members
        .iter()
        .chain(&insiders)
        .chain([&moderator])
        .collect();
    let pages = own_pages(&reader, &cookies).await?;
    for name in ["board", "hospital", "member"] {
        rebuild::rebuild(&stack.config, name, rebuild::Log::Kept, |_, _| {}).await?;
        let db = rebuild::next_database(ward_projector::app::database(&stack.config, name)?)?;
        let rebuilt = dump(&db).await?;
        let expected = &live
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
            .unwrap_or_default();
        if &rebuilt != expected {
            anyhow::bail!("{name}: rebuilt differs from live\nlive:    {expected:?}\nrebuilt: {rebuilt:?}\nops: {ops:?}");
        }
        rebuild::switch(&stack.config, name).await?;
    }
    // The member model's contents are sealed (random nonces): compare what members read.
    eventually(
        Duration::from_secs(30),
        "the same pages from the rebuilt models",
        || async {
            Ok((own_pages(&reader, &cookies).await.ok() == Some(pages.clone())).then_some(()))
        },
    )
    .await?;
    anyhow::ensure!(
        dumps(&stack.config).await? == live,
        "the switched models differ\nops: {ops:?}"
    );

    // Deliver a third of every topic's records again, at the end of their partitions.
    redeliver(&stack).await?;
    settle(&stack).await?;
    let again = dumps(&stack.config).await?;
    anyhow::ensure!(
        again == live,
        "redelivered records changed a read model\nops: {ops:?}"
    );

    drop((commands, projector, queries));
    stack.finish().await
}

async fn run(
    api: &Http,
    moderator: &str,
    members: &[String],
    insiders: &[String],
    hospital: uuid::Uuid,
    made: &mut Made,
    op: &Op,
) -> Result {
    let member = |i: usize| members[i % members.len()].as_str();
    let (method, path, body, cookie): (Method, String, Option<Value>, &str) = match op {
        Op::Post { author, qna } => {
            let board = if *qna { "qna" } else { "free" };
            let cookie = member(*author);
            let body =
                json!({"board": board, "title": "속성 글", "body": "무작위 본문", "badge": {}});
            let (status, answer) = api
                .send(Some(cookie), Method::POST, "/api/v1/posts", Some(body))
                .await?;
            anyhow::ensure!(status == 201, "{status} {answer}");
            made.posts.push((
                answer["id"].as_str().unwrap_or_default().to_owned(),
                cookie.to_owned(),
            ));
            return Ok(());
        }
        Op::Comment {
            author,
            post,
            reply,
        } => {
            let Some((post, _)) = pick(&made.posts, *post) else {
                return Ok(());
            };
            let parent = if *reply {
                made.comments
                    .iter()
                    .find(|(p, _, _)| p == post)
                    .map(|(_, c, _)| c.clone())
            } else {
                None
            };
            let cookie = member(*author);
            let body = json!({"body": "무작위 댓글", "parent_id": parent});
            let (status, answer) = api
                .send(
                    Some(cookie),
                    Method::POST,
                    &format!("/api/v1/posts/{post}/comments"),
                    Some(body),
                )
                .await?;
            if status == 201 {
                let id = answer["id"].as_str().unwrap_or_default().to_owned();
                made.comments.push((post.clone(), id, cookie.to_owned()));
            }
            return ensure_no_failure(status, &answer);
        }
        Op::Like { member: m, post } | Op::Unlike { member: m, post } => {
            let Some((post, _)) = pick(&made.posts, *post) else {
                return Ok(());
            };
            let method = if matches!(op, Op::Like { .. }) {
                Method::PUT
            } else {
                Method::DELETE
            };
            (
                method,
                format!("/api/v1/posts/{post}/like"),
                None,
                member(*m),
            )
        }
        Op::EditPost { post } => {
            let Some((post, author)) = pick(&made.posts, *post) else {
                return Ok(());
            };
            let body = json!({"title": "고친 글", "body": "고친 본문"});
            (
                Method::PATCH,
                format!("/api/v1/posts/{post}"),
                Some(body),
                author.as_str(),
            )
        }
        Op::DeletePost { post } => {
            let Some((post, author)) = pick(&made.posts, *post) else {
                return Ok(());
            };
            (
                Method::DELETE,
                format!("/api/v1/posts/{post}"),
                None,
                author.as_str(),
            )
        }
        Op::DeleteComment { comment } => {
            let Some((post, comment, author)) = pick(&made.comments, *comment) else {
                return Ok(());
            };
            (
                Method::DELETE,
                format!("/api/v1/posts/{post}/comments/{comment}"),
                None,
                author.as_str(),
            )
        }
        Op::Accept { comment } => {
            let Some((post, comment, _)) = pick(&made.comments, *comment) else {
                return Ok(());
            };
            let author = made
                .posts
                .iter()
                .find(|(p, _)| p == post)
                .map(|(_, a)| a.as_str())
                .unwrap_or_default();
            let body = json!({"comment_id": comment});
            (
                Method::PUT,
                format!("/api/v1/posts/{post}/accepted-answer"),
                Some(body),
                author,
            )
        }
        Op::Hide { post } | Op::Restore { post } => {
            let Some((post, _)) = pick(&made.posts, *post) else {
                return Ok(());
            };
            let (action, body) = if matches!(op, Op::Hide { .. }) {
                ("hide", json!({"reason": "spam"}))
            } else {
                ("restore", json!({}))
            };
            (
                Method::POST,
                format!("/api/v1/moderation/post/{post}/{action}"),
                Some(body),
                moderator,
            )
        }
        Op::Review { insider } => {
            let cookie = insiders[insider % insiders.len()].as_str();
            let body = json!({
                "ratings": {"overall": 1 + insider % 5, "work_environment": 3, "pay_benefits": 2,
                            "management": 4, "care_quality": 5, "work_life_balance": 1},
                "title": "속성 리뷰", "pros": "장점이 충분히 길게 적혀 있습니다.",
                "cons": "단점도 충분히 길게 적혀 있습니다.", "would_recommend": insider % 2 == 0
            });
            let (status, answer) = api
                .send(
                    Some(cookie),
                    Method::POST,
                    &format!("/api/v1/hospitals/{hospital}/reviews"),
                    Some(body),
                )
                .await?;
            if status == 201 {
                made.reviews.push((
                    answer["id"].as_str().unwrap_or_default().to_owned(),
                    cookie.to_owned(),
                ));
            }
            return ensure_no_failure(status, &answer);
        }
        Op::Helpful { member: m, review } => {
            let Some((review, _)) = pick(&made.reviews, *review) else {
                return Ok(());
            };
            (
                Method::PUT,
                format!("/api/v1/reviews/{review}/helpful"),
                None,
                member(*m),
            )
        }
        Op::DeleteReview { review } => {
            let Some((review, author)) = pick(&made.reviews, *review) else {
                return Ok(());
            };
            (
                Method::DELETE,
                format!("/api/v1/reviews/{review}"),
                None,
                author.as_str(),
            )
        }
        Op::Claim { member: m, approve } => {
            let body = json!({"job_category": "pharmacist", "tenure": "former"});
            let (status, answer) = api
                .send(
                    Some(member(*m)),
                    Method::POST,
                    &format!("/api/v1/hospitals/{hospital}/claims"),
                    Some(body),
                )
                .await?;
            ensure_no_failure(status, &answer)?;
            let Some(claim) = answer["id"].as_str().filter(|_| status == 201) else {
                return Ok(());
            };
            let decision = if *approve {
                (format!("/api/v1/claims/{claim}/approval"), json!({}))
            } else {
                (
                    format!("/api/v1/claims/{claim}/rejection"),
                    json!({"reason": "not_staff"}),
                )
            };
            (Method::POST, decision.0, Some(decision.1), moderator)
        }
    };
    let (status, answer) = api.send(Some(cookie), method, &path, body).await?;
    ensure_no_failure(status, &answer)
}

/// Refusals are part of a random sequence (liking twice, deleting what is gone); server
/// errors are not.
fn ensure_no_failure(status: u16, answer: &Value) -> Result {
    anyhow::ensure!(status < 500, "{status} {answer}");
    Ok(())
}

/// Produces every third record of every topic again, with its key, after all the others.
async fn redeliver(stack: &Stack) -> Result {
    let config = stack.config.kafka.clone();
    let topics: Vec<String> = kafka::topic_definitions()?
        .into_iter()
        .map(|t| kafka::topic_for(&config, &t.aggregate_type))
        .collect();
    let marks = kafka::watermarks(&config, topics).await?;
    tokio::task::spawn_blocking(move || -> Result {
        let consumer: BaseConsumer = kafka::client_config(&config)
            .set("group.id", "redeliver")
            .set("enable.auto.commit", "false")
            .create()?;
        let mut assignment = TopicPartitionList::new();
        let mut left = 0;
        for mark in marks.iter().filter(|m| m.high > m.low) {
            assignment.add_partition_offset(&mark.topic, mark.partition, Offset::Beginning)?;
            left += mark.high - mark.low;
        }
        consumer.assign(&assignment)?;
        let producer: ThreadedProducer<DefaultProducerContext> =
            kafka::client_config(&config).create()?;
        let mut copies = Vec::new();
        while left > 0 {
            let Some(message) = consumer.poll(Duration::from_secs(10)) else {
                anyhow::bail!("records missing while reading them back");
            };
            let message = message?;
            left -= 1;
            if message.offset() % 3 == 0 {
                copies.push((
                    message.topic().to_owned(),
                    message.key().map(<[u8]>::to_vec),
                    message.payload().map(<[u8]>::to_vec),
                ));
            }
        }
        for (topic, key, payload) in &copies {
            let mut record = BaseRecord::<Vec<u8>, Vec<u8>>::to(topic);
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(payload) = payload {
                record = record.payload(payload);
            }
            producer.send(record).map_err(|(e, _)| e)?;
        }
        producer.flush(Duration::from_secs(10))?;
        Ok(())
    })
    .await?
}
