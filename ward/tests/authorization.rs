//! The authorisation matrix, over HTTP: every command against every kind of caller. Forbidden
//! combinations are refused with 401/403 and a stable code; allowed ones succeed.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::*;
use uuid::Uuid;
use ward_command_api::app::store;
use ward_command_api::execute::execute;
use ward_command_api::members;
use ward_domain::hospital::{Hospital, HospitalCommand, HospitalKind, HospitalProfile};
use ward_domain::member::{MemberCommand, Role};
use ward_platform::http::CorrelationId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Visitor,
    Member,
    Insider,
    Moderator,
    Suspended,
}

const CALLERS: [Caller; 5] = [
    Caller::Visitor,
    Caller::Member,
    Caller::Insider,
    Caller::Moderator,
    Caller::Suspended,
];

struct World {
    http: reqwest::Client,
    api: Running,
    cookies: Vec<(Caller, Option<String>)>,
    hospital: Uuid,
    other_hospital: Uuid,
}

impl World {
    fn cookie(&self, caller: Caller) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(c, _)| *c == caller)
            .and_then(|(_, cookie)| cookie.as_deref())
    }

    async fn send(
        &self,
        caller: Caller,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let mut request = self.http.request(method, self.api.url(path));
        if let Some(cookie) = self.cookie(caller) {
            request = request.header("cookie", format!("ward_session={cookie}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// A post by a fresh member, for commands that need someone else's post.
    async fn someones_post(&self, stack: &Stack) -> Result<Uuid> {
        let author = stack.session().await?;
        create_post(&self.http, &self.api, &author, "남의 글").await
    }
}

async fn hospital(stack: &Stack, name: &str) -> Result<Uuid> {
    let id = Uuid::new_v4();
    let profile = HospitalProfile {
        name: name.to_owned(),
        kind: HospitalKind::General,
        address: "서울특별시 어딘가 1".to_owned(),
        sido: "서울".to_owned(),
        sigungu: "종로구".to_owned(),
        institution_code: None,
        email_domains: vec![],
    };
    let store = store::<Hospital>(stack.events_db().await?);
    execute(
        &store,
        &(),
        &id.to_string(),
        HospitalCommand::Register(profile),
        &CorrelationId("test".to_owned()),
    )
    .await?;
    Ok(id)
}

async fn world(stack: &Stack) -> Result<World> {
    let api = stack.command_api().await?;
    let http = reqwest::Client::new();
    let (hospital, other_hospital) = (
        hospital(stack, "가병원").await?,
        hospital(stack, "나병원").await?,
    );
    let (_, moderator) = stack.member(&[Role::Moderator]).await?;
    let (_, member) = stack.member(&[]).await?;
    let (_, insider) = stack.member(&[]).await?;
    let (suspended_id, suspended) = stack.member(&[]).await?;
    let store = store(stack.events_db().await?);
    members::run(
        &store,
        &stack.author_key()?,
        suspended_id,
        MemberCommand::Suspend {
            days: 1,
            now: members::now(),
        },
    )
    .await?;
    let world = World {
        http,
        api,
        cookies: vec![
            (Caller::Visitor, None),
            (Caller::Member, Some(member)),
            (Caller::Insider, Some(insider)),
            (Caller::Moderator, Some(moderator)),
            (Caller::Suspended, Some(suspended)),
        ],
        hospital,
        other_hospital,
    };
    // The insider claims the hospital; the moderator approves.
    let claim = json!({"job_category": "nurse", "tenure": "current"});
    let (status, claimed) = world
        .send(
            Caller::Insider,
            Method::POST,
            &format!("/api/v1/hospitals/{hospital}/claims"),
            Some(claim),
        )
        .await?;
    assert_eq!(status, 201, "{claimed}");
    let approval = format!(
        "/api/v1/claims/{}/approval",
        claimed["id"].as_str().unwrap_or_default()
    );
    assert_eq!(
        world
            .send(Caller::Moderator, Method::POST, &approval, None)
            .await?
            .0,
        200
    );
    Ok(world)
}

fn review() -> Value {
    json!({
        "ratings": {"overall": 4, "work_environment": 3, "pay_benefits": 2, "management": 3, "care_quality": 5, "work_life_balance": 2},
        "title": "배울 점이 많은 병원",
        "pros": "교육 체계가 잘 갖춰져 있고 선배들이 친절합니다.",
        "cons": "인력이 부족해서 야간 근무가 너무 힘듭니다.",
        "would_recommend": true
    })
}

/// What each caller gets: the expected status and, for refusals, the code.
fn expect<'a>(
    allowed: &'a [Caller],
    refused_member: (u16, &'static str),
) -> impl Fn(Caller) -> (u16, Option<&'static str>) + 'a {
    move |caller| match caller {
        Caller::Visitor => (401, Some("unauthenticated")),
        Caller::Suspended => (403, Some("member_suspended")),
        c if allowed.contains(&c) => (0, None),
        _ => (refused_member.0, Some(refused_member.1)),
    }
}

fn check(
    command: &str,
    caller: Caller,
    (status, body): (u16, Value),
    (want, code): (u16, Option<&str>),
) {
    match code {
        Some(code) => {
            assert_eq!(
                (status, body["error"].as_str()),
                (want, Some(code)),
                "{command} as {caller:?}: {body}"
            );
        }
        None => assert!(
            (200..300).contains(&status),
            "{command} as {caller:?} should succeed: {status} {body}"
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_is_allowed_or_refused_by_role_from_write_side_state() -> Result {
    let stack = Stack::new().await?;
    let world = world(&stack).await?;
    let everyone = [Caller::Member, Caller::Insider, Caller::Moderator];
    let post = json!({"board": "free", "title": "제목", "body": "본문"});

    let mut review_id = String::new();
    for caller in CALLERS {
        let rule = expect(&everyone, (0, ""));
        check(
            "create a post",
            caller,
            world
                .send(caller, Method::POST, "/api/v1/posts", Some(post.clone()))
                .await?,
            rule(caller),
        );

        let target = world.someones_post(&stack).await?;
        let comment = json!({"body": "댓글"});
        check(
            "comment",
            caller,
            world
                .send(
                    caller,
                    Method::POST,
                    &format!("/api/v1/posts/{target}/comments"),
                    Some(comment),
                )
                .await?,
            rule(caller),
        );
        check(
            "like",
            caller,
            world
                .send(
                    caller,
                    Method::PUT,
                    &format!("/api/v1/posts/{target}/like"),
                    None,
                )
                .await?,
            rule(caller),
        );
        check(
            "claim a hospital",
            caller,
            world
                .send(
                    caller,
                    Method::POST,
                    &format!("/api/v1/hospitals/{}/claims", world.other_hospital),
                    Some(json!({"job_category": "doctor", "tenure": "former"})),
                )
                .await?,
            rule(caller),
        );

        let report = json!({"kind": "post", "target_id": target, "reason": "spam"});
        check(
            "report a post",
            caller,
            world
                .send(caller, Method::POST, "/api/v1/reports", Some(report))
                .await?,
            rule(caller),
        );
        check(
            "hide a post",
            caller,
            world
                .send(
                    caller,
                    Method::POST,
                    &format!("/api/v1/moderation/post/{target}/hide"),
                    Some(json!({"reason": "abuse"})),
                )
                .await?,
            expect(&[Caller::Moderator], (403, "moderator_only"))(caller),
        );
        let moderators = expect(&[Caller::Moderator], (403, "not_author"));
        check(
            "delete someone's post",
            caller,
            world
                .send(
                    caller,
                    Method::DELETE,
                    &format!("/api/v1/posts/{target}"),
                    None,
                )
                .await?,
            moderators(caller),
        );
        check(
            "edit someone's post",
            caller,
            world
                .send(
                    caller,
                    Method::PATCH,
                    &format!("/api/v1/posts/{}", world.someones_post(&stack).await?),
                    Some(json!({"title": "t", "body": "b"})),
                )
                .await?,
            expect(&[], (403, "not_author"))(caller),
        );

        let (_, other) = stack.member(&[]).await?;
        let other_claim = {
            let response = world
                .http
                .post(
                    world
                        .api
                        .url(&format!("/api/v1/hospitals/{}/claims", world.hospital)),
                )
                .header("cookie", format!("ward_session={other}"))
                .json(&json!({"job_category": "other", "tenure": "current"}))
                .send()
                .await?;
            response.json::<Value>().await?["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        check(
            "approve a claim",
            caller,
            world
                .send(
                    caller,
                    Method::POST,
                    &format!("/api/v1/claims/{other_claim}/approval"),
                    None,
                )
                .await?,
            expect(&[Caller::Moderator], (403, "moderator_only"))(caller),
        );

        let insiders = expect(&[Caller::Insider], (403, "not_insider"));
        let reviewed = world
            .send(
                caller,
                Method::POST,
                &format!("/api/v1/hospitals/{}/reviews", world.hospital),
                Some(review()),
            )
            .await?;
        if caller == Caller::Insider {
            review_id = reviewed.1["id"].as_str().unwrap_or_default().to_owned();
        }
        check("review the hospital", caller, reviewed, insiders(caller));
    }

    // Marking a review helpful: any member but its author.
    let helpful = format!("/api/v1/reviews/{review_id}/helpful");
    for caller in CALLERS {
        let rule = expect(
            &[Caller::Member, Caller::Moderator],
            (403, "review_own_helpful"),
        );
        check(
            "mark a review helpful",
            caller,
            world.send(caller, Method::PUT, &helpful, None).await?,
            rule(caller),
        );
    }
    stack.finish().await
}
