//! The authorisation matrix, over HTTP: every command of the command API against every kind
//! of caller — visitor, member, insider (verified staff of the hospital), moderator and
//! suspended member. Forbidden combinations are refused with 401/403 and a stable code;
//! allowed ones succeed. Roles and insider rights come from write-side state only.

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use ward_command_api::app::store;
use ward_command_api::members;
use ward_domain::hospital::HospitalKind;
use ward_domain::member::{MemberCommand, Role};

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
const ACTIVE: [Caller; 3] = [Caller::Member, Caller::Insider, Caller::Moderator];

struct World {
    stack: Stack,
    api: Running,
    cookies: Vec<(Caller, String)>,
    moderator: String,
    hospital: Uuid,
    other_hospital: Uuid,
}

type Request = (Method, String, Option<Value>);

impl World {
    async fn new() -> Result<Self> {
        let stack = Stack::new().await?;
        let api = stack.command_api().await?;
        let (hospital, other_hospital) = (
            register_hospital(&stack, "가병원", "서울", HospitalKind::General).await?,
            register_hospital(&stack, "나병원", "서울", HospitalKind::General).await?,
        );
        let (_, moderator) = stack.member(&[Role::Moderator]).await?;
        let (_, member) = stack.member(&[]).await?;
        let (suspended_id, suspended) = stack.member(&[]).await?;
        let members_store = store(stack.events_db().await?);
        let suspend = MemberCommand::Suspend {
            days: 1,
            now: members::now(),
        };
        members::run(&members_store, &stack.author_key()?, suspended_id, suspend).await?;
        let mut world = World {
            stack,
            api,
            cookies: vec![],
            moderator: moderator.clone(),
            hospital,
            other_hospital,
        };
        let insider = world.insider().await?;
        world.cookies = vec![
            (Caller::Member, member),
            (Caller::Insider, insider),
            (Caller::Moderator, moderator),
            (Caller::Suspended, suspended),
        ];
        Ok(world)
    }

    fn cookie(&self, caller: Caller) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(c, _)| *c == caller)
            .map(|(_, cookie)| cookie.as_str())
    }

    async fn send_as(
        &self,
        cookie: Option<&str>,
        (method, path, body): Request,
    ) -> Result<(u16, Value)> {
        Http::new(&self.api).send(cookie, method, &path, body).await
    }

    /// Sends as `cookie` and insists on success; returns the answer's `id`.
    async fn ok(&self, cookie: &str, request: Request) -> Result<String> {
        let (status, body) = self.send_as(Some(cookie), request).await?;
        anyhow::ensure!(
            (200..300).contains(&status),
            "setup failed: {status} {body}"
        );
        Ok(body["id"].as_str().unwrap_or_default().to_owned())
    }

    /// A fresh member with a verified claim to the hospital.
    async fn insider(&self) -> Result<String> {
        let (_, cookie) = self.stack.member(&[]).await?;
        let claim = json!({"job_category": "nurse", "tenure": "current"});
        let id = self
            .ok(
                &cookie,
                (
                    Method::POST,
                    format!("/api/v1/hospitals/{}/claims", self.hospital),
                    Some(claim),
                ),
            )
            .await?;
        self.ok(
            &self.moderator,
            (Method::POST, format!("/api/v1/claims/{id}/approval"), None),
        )
        .await?;
        Ok(cookie)
    }

    /// A post by `cookie`'s member, or by a fresh member when there is none.
    async fn post_by(&self, cookie: Option<&str>, board: &str) -> Result<String> {
        let owned;
        let cookie = match cookie {
            Some(cookie) => cookie,
            None => {
                owned = self.stack.session().await?;
                &owned
            }
        };
        let post = json!({"board": board, "title": "제목", "body": "본문"});
        self.ok(
            cookie,
            (Method::POST, "/api/v1/posts".to_owned(), Some(post)),
        )
        .await
    }

    async fn comment_by_someone(&self, post: &str) -> Result<String> {
        let someone = self.stack.session().await?;
        self.ok(
            &someone,
            (
                Method::POST,
                format!("/api/v1/posts/{post}/comments"),
                Some(json!({"body": "댓글"})),
            ),
        )
        .await
    }

    async fn review_by_an_insider(&self) -> Result<String> {
        let insider = self.insider().await?;
        self.ok(
            &insider,
            (
                Method::POST,
                format!("/api/v1/hospitals/{}/reviews", self.hospital),
                Some(review()),
            ),
        )
        .await
    }

    async fn claim_by_someone(&self) -> Result<String> {
        let someone = self.stack.session().await?;
        let claim = json!({"job_category": "other", "tenure": "former"});
        self.ok(
            &someone,
            (
                Method::POST,
                format!("/api/v1/hospitals/{}/claims", self.hospital),
                Some(claim),
            ),
        )
        .await
    }

    /// The request of `command`, with whatever it needs made first; `own` is the caller's
    /// cookie when the caller is an active member.
    async fn request(&self, command: &str, own: Option<&str>) -> Result<Request> {
        use Method as M;
        Ok(match command {
            "create a post" => (
                M::POST,
                "/api/v1/posts".into(),
                Some(json!({"board": "free", "title": "t", "body": "b"})),
            ),
            "edit one's own post" => (
                M::PATCH,
                format!("/api/v1/posts/{}", self.post_by(own, "free").await?),
                Some(json!({"title": "t2", "body": "b2"})),
            ),
            "edit someone's post" => (
                M::PATCH,
                format!("/api/v1/posts/{}", self.post_by(None, "free").await?),
                Some(json!({"title": "t2", "body": "b2"})),
            ),
            "delete one's own post" => (
                M::DELETE,
                format!("/api/v1/posts/{}", self.post_by(own, "free").await?),
                None,
            ),
            "delete someone's post" => (
                M::DELETE,
                format!("/api/v1/posts/{}", self.post_by(None, "free").await?),
                None,
            ),
            "like a post" => (
                M::PUT,
                format!("/api/v1/posts/{}/like", self.post_by(None, "free").await?),
                None,
            ),
            "unlike a post" => {
                let post = self.post_by(None, "free").await?;
                if let Some(own) = own {
                    self.ok(own, (M::PUT, format!("/api/v1/posts/{post}/like"), None))
                        .await?;
                }
                (M::DELETE, format!("/api/v1/posts/{post}/like"), None)
            }
            "comment" => (
                M::POST,
                format!(
                    "/api/v1/posts/{}/comments",
                    self.post_by(None, "free").await?
                ),
                Some(json!({"body": "댓글"})),
            ),
            "edit someone's comment" | "delete someone's comment" => {
                let post = self.post_by(None, "free").await?;
                let comment = self.comment_by_someone(&post).await?;
                let path = format!("/api/v1/posts/{post}/comments/{comment}");
                if command.starts_with("edit") {
                    (M::PATCH, path, Some(json!({"body": "고침"})))
                } else {
                    (M::DELETE, path, None)
                }
            }
            "accept an answer to one's own question" | "accept an answer to someone's question" => {
                let question = self
                    .post_by(if command.contains("own") { own } else { None }, "qna")
                    .await?;
                let answer = self.comment_by_someone(&question).await?;
                (
                    M::PUT,
                    format!("/api/v1/posts/{question}/accepted-answer"),
                    Some(json!({"comment_id": answer})),
                )
            }
            "claim a hospital" => (
                M::POST,
                format!("/api/v1/hospitals/{}/claims", self.other_hospital),
                Some(json!({"job_category": "doctor", "tenure": "former"})),
            ),
            "approve a claim" => (
                M::POST,
                format!("/api/v1/claims/{}/approval", self.claim_by_someone().await?),
                None,
            ),
            "revoke a verified claim" => {
                let claim = self.claim_by_someone().await?;
                self.ok(
                    &self.moderator,
                    (M::POST, format!("/api/v1/claims/{claim}/approval"), None),
                )
                .await?;
                (M::POST, format!("/api/v1/claims/{claim}/revocation"), None)
            }
            "withdraw" => (M::DELETE, "/api/v1/me".into(), None),
            "mark notifications read" => (
                M::POST,
                "/api/v1/me/notifications/read".into(),
                Some(json!({"up_to": "2030-01-01T00:00:00Z"})),
            ),
            "change one's job category" => (
                M::PATCH,
                "/api/v1/me".into(),
                Some(json!({"job_category": "pharmacist"})),
            ),
            "reject a claim" => (
                M::POST,
                format!(
                    "/api/v1/claims/{}/rejection",
                    self.claim_by_someone().await?
                ),
                Some(json!({"reason": "not_staff"})),
            ),
            "review the hospital" => (
                M::POST,
                format!("/api/v1/hospitals/{}/reviews", self.hospital),
                Some(review()),
            ),
            "edit someone's review" => (
                M::PATCH,
                format!("/api/v1/reviews/{}", self.review_by_an_insider().await?),
                Some(review()),
            ),
            "delete someone's review" => (
                M::DELETE,
                format!("/api/v1/reviews/{}", self.review_by_an_insider().await?),
                None,
            ),
            "mark a review helpful" => (
                M::PUT,
                format!(
                    "/api/v1/reviews/{}/helpful",
                    self.review_by_an_insider().await?
                ),
                None,
            ),
            "report a post" => (
                M::POST,
                "/api/v1/reports".into(),
                Some(
                    json!({"kind": "post", "target_id": self.post_by(None, "free").await?, "reason": "spam"}),
                ),
            ),
            "hide a post" => (
                M::POST,
                format!(
                    "/api/v1/moderation/post/{}/hide",
                    self.post_by(None, "free").await?
                ),
                Some(json!({"reason": "abuse"})),
            ),
            "suspend a post's author" => (
                M::POST,
                format!(
                    "/api/v1/moderation/post/{}/suspend-author",
                    self.post_by(None, "free").await?
                ),
                Some(json!({"days": 1})),
            ),
            "restore a post" => {
                let post = self.post_by(None, "free").await?;
                self.ok(
                    &self.moderator,
                    (
                        M::POST,
                        format!("/api/v1/moderation/post/{post}/hide"),
                        Some(json!({"reason": "abuse"})),
                    ),
                )
                .await?;
                (
                    M::POST,
                    format!("/api/v1/moderation/post/{post}/restore"),
                    Some(json!({})),
                )
            }
            other => anyhow::bail!("no row named {other}"),
        })
    }
}

fn review() -> Value {
    json!({
        "ratings": {"overall": 4, "work_environment": 3, "pay_benefits": 2, "management": 3,
                    "care_quality": 5, "work_life_balance": 2},
        "title": "배울 점이 많은 병원",
        "pros": "교육 체계가 잘 갖춰져 있고 선배들이 친절합니다.",
        "cons": "인력이 부족해서 야간 근무가 너무 힘듭니다.",
        "would_recommend": true
    })
}

/// Every command: who may run it, and what an active member who may not gets.
const MATRIX: &[(&str, &[Caller], (u16, &str))] = &[
    ("create a post", &ACTIVE, (0, "")),
    ("edit one's own post", &ACTIVE, (0, "")),
    ("edit someone's post", &[], (403, "not_author")),
    ("delete one's own post", &ACTIVE, (0, "")),
    (
        "delete someone's post",
        &[Caller::Moderator],
        (403, "not_author"),
    ),
    ("like a post", &ACTIVE, (0, "")),
    ("unlike a post", &ACTIVE, (0, "")),
    ("comment", &ACTIVE, (0, "")),
    ("edit someone's comment", &[], (403, "not_author")),
    (
        "delete someone's comment",
        &[Caller::Moderator],
        (403, "not_author"),
    ),
    ("accept an answer to one's own question", &ACTIVE, (0, "")),
    (
        "accept an answer to someone's question",
        &[],
        (403, "not_author"),
    ),
    ("claim a hospital", &ACTIVE, (0, "")),
    (
        "approve a claim",
        &[Caller::Moderator],
        (403, "moderator_only"),
    ),
    (
        "reject a claim",
        &[Caller::Moderator],
        (403, "moderator_only"),
    ),
    (
        "review the hospital",
        &[Caller::Insider],
        (403, "not_insider"),
    ),
    ("edit someone's review", &[], (403, "not_author")),
    (
        "delete someone's review",
        &[Caller::Moderator],
        (403, "not_author"),
    ),
    ("mark a review helpful", &ACTIVE, (0, "")),
    ("report a post", &ACTIVE, (0, "")),
    ("hide a post", &[Caller::Moderator], (403, "moderator_only")),
    (
        "restore a post",
        &[Caller::Moderator],
        (403, "moderator_only"),
    ),
    (
        "suspend a post's author",
        &[Caller::Moderator],
        (403, "moderator_only"),
    ),
    (
        "revoke a verified claim",
        &[Caller::Moderator],
        (403, "moderator_only"),
    ),
    ("change one's job category", &ACTIVE, (0, "")),
    // A suspended member still reads (and marks) their notifications.
    (
        "mark notifications read",
        &[
            Caller::Member,
            Caller::Insider,
            Caller::Moderator,
            Caller::Suspended,
        ],
        (0, ""),
    ),
    // Last: it ends the callers' membership. Suspended members may still leave.
    (
        "withdraw",
        &[
            Caller::Member,
            Caller::Insider,
            Caller::Moderator,
            Caller::Suspended,
        ],
        (0, ""),
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_command_is_allowed_or_refused_by_role_from_write_side_state() -> Result {
    let world = World::new().await?;
    for &(command, allowed, refused) in MATRIX {
        for caller in CALLERS {
            let own = if ACTIVE.contains(&caller) {
                world.cookie(caller)
            } else {
                None
            };
            let request = world.request(command, own).await?;
            let (status, body) = world.send_as(world.cookie(caller), request).await?;
            let expected = match caller {
                Caller::Visitor => Some((401, "unauthenticated")),
                c if allowed.contains(&c) => None,
                Caller::Suspended => Some((403, "member_suspended")),
                _ => Some(refused),
            };
            match expected {
                Some((want, code)) => assert_eq!(
                    (status, body["error"].as_str()),
                    (want, Some(code)),
                    "{command} as {caller:?}: {body}"
                ),
                None => assert!(
                    (200..300).contains(&status),
                    "{command} as {caller:?} should succeed: {status} {body}"
                ),
            }
        }
    }
    world.stack.finish().await
}
