//! `ward seed`: a benchmark-sized data set (bench/README.md), imported in bulk through the
//! real aggregates and event store. Each command is decided by its aggregate as the command
//! API would decide it, texts are sealed under per-item content keys, and each post is
//! committed with all its comments in one transaction; the outbox, the relay, Kafka and the
//! projectors then build the read models exactly as from live traffic. What it skips is the
//! HTTP layer: sessions, idempotency, rate limits and the member index (so seeded items do
//! not appear in anyone's "my activity").

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, EventStore};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;
use tokio::task::JoinSet;
use uuid::Uuid;
use ward_command_api::app::{store, Store};
use ward_domain::affiliation::Tenure;
use ward_domain::hospital::{Hospital, HospitalCommand, HospitalKind, HospitalProfile};
use ward_domain::member::{JobCategory, MemberId};
use ward_domain::post::{AddComment, CreatePost, Post, PostCommand, PostServices};
use ward_domain::review::{
    InsiderProof, Ratings, Review, ReviewCommand, ReviewServices, WriteReview,
};
use ward_domain::sealed::ContentKey;
use ward_platform::config::WardConfig;

/// Concurrent writers: enough to keep PostgreSQL busy on a small machine.
const WRITERS: usize = 8;

/// How much to seed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Posts, spread over both boards.
    pub posts: usize,
    /// Comments on each post (every third a reply).
    pub comments_per_post: usize,
    /// Hospitals.
    pub hospitals: usize,
    /// Reviews, spread over the hospitals (at most `members` per hospital).
    pub reviews: usize,
    /// Members writing them; also the sessions written to `sessions_file`.
    pub members: usize,
    /// Where to write one session token per member (for `ward-bench`), if anywhere.
    pub sessions_file: Option<PathBuf>,
}

/// What was seeded.
#[derive(Debug, Default)]
pub struct Seeded {
    /// Members registered.
    pub members: usize,
    /// Hospitals registered.
    pub hospitals: Vec<Uuid>,
    /// Posts written.
    pub posts: Vec<Uuid>,
    /// Comments written.
    pub comments: usize,
    /// Reviews written.
    pub reviews: usize,
}

/// Seeds `plan` into the event store of `config`.
pub async fn seed(config: &WardConfig, plan: &Plan) -> anyhow::Result<Seeded> {
    crate::migrate(config).await?;
    let key = config.command_api.author_key()?;
    let pool = config.event_store.connect_postgres().await?;
    let mut seeded = Seeded::default();

    let members: Vec<MemberId> = (0..plan.members.max(1))
        .map(|_| MemberId(Uuid::new_v4()))
        .collect();
    let member_store = store(pool.clone());
    for member in &members {
        ward_command_api::members::register(&member_store, &key, *member, JobCategory::Nurse)
            .await?;
    }
    seeded.members = members.len();
    if let Some(path) = &plan.sessions_file {
        let redis = ward_platform::ops::connect_redis(&config.redis).await?;
        let sessions = ward_platform::session::SessionStore::new(redis, config);
        let mut tokens = String::new();
        for member in &members {
            let session = ward_platform::session::Session::new(*member);
            tokens.push_str(&sessions.create(&session).await?);
            tokens.push('\n');
        }
        std::fs::write(path, tokens)?;
    }

    let hospitals: Store<Hospital> = store(pool.clone());
    for n in 0..plan.hospitals {
        let id = Uuid::new_v4();
        run(&hospitals, &(), id, HospitalCommand::Register(hospital(n))).await?;
        seeded.hospitals.push(id);
    }

    let bar = progress(plan.posts, "posts");
    let members = Arc::new(members);
    let services = Arc::new(PostServices {
        author_key: key.clone(),
    });
    let mut writers = JoinSet::new();
    for writer in 0..WRITERS {
        let (pool, members, services, bar) =
            (pool.clone(), members.clone(), services.clone(), bar.clone());
        let (posts, per_post) = (plan.posts, plan.comments_per_post);
        writers.spawn(async move {
            let store: Store<Post> = store(pool.clone());
            let mut written = Vec::new();
            for n in (writer..posts).step_by(WRITERS) {
                written.push(thread(&pool, &store, &services, &members, n, per_post).await?);
                bar.inc(1);
            }
            anyhow::Ok(written)
        });
    }
    while let Some(written) = writers.join_next().await {
        seeded.posts.extend(written??);
    }
    bar.finish();
    seeded.comments = plan.posts * plan.comments_per_post;

    let bar = progress(plan.reviews, "reviews");
    let reviews: Store<Review> = store(pool.clone());
    let review_services = ReviewServices { author_key: key };
    for n in 0..plan.reviews {
        let Some(hospital) = seeded.hospitals.get(n % seeded.hospitals.len().max(1)) else {
            break;
        };
        // One review per member and hospital, as the domain allows.
        let Some(author) = members.get(n / seeded.hospitals.len()) else {
            break;
        };
        write_review(&pool, &reviews, &review_services, *hospital, *author, n).await?;
        seeded.reviews += 1;
        bar.inc(1);
    }
    bar.finish();
    Ok(seeded)
}

fn progress(length: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(u64::try_from(length).unwrap_or(u64::MAX));
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {what} ({{per_sec}}, {{eta}} left)"
    )) {
        bar.set_style(style);
    }
    bar
}

/// Decides `command` on the new aggregate `id` and commits its events.
async fn run<A: Aggregate>(
    store: &Store<A>,
    services: &A::Services,
    id: Uuid,
    command: A::Command,
) -> anyhow::Result<()>
where
    A::Error: std::error::Error + Send + Sync + 'static,
{
    commit(store, services, id, vec![command]).await
}

/// Decides `commands` one after another on aggregate `id` (each seeing the last's events) and
/// commits all their events in one transaction.
async fn commit<A: Aggregate>(
    store: &Store<A>,
    services: &A::Services,
    id: Uuid,
    commands: Vec<A::Command>,
) -> anyhow::Result<()>
where
    A::Error: std::error::Error + Send + Sync + 'static,
{
    // Seeded aggregates are new: their state starts at the default.
    let context = store.load_aggregate(&id.to_string()).await?;
    let mut aggregate = A::default();
    let mut events = Vec::new();
    for command in commands {
        let sink = EventSink::default();
        aggregate.handle(command, services, &sink).await?;
        for event in sink.collect().await {
            aggregate.apply(event.clone());
            events.push(event);
        }
    }
    let metadata = HashMap::from([("correlation_id".to_owned(), format!("seed-{id}"))]);
    store.commit(events, context, metadata).await?;
    Ok(())
}

/// Stores the content keys of new items in one statement.
async fn keys(pool: &PgPool, items: &[(&str, Uuid, &ContentKey)]) -> anyhow::Result<()> {
    let mut insert = sqlx::QueryBuilder::new("INSERT INTO content_keys (item_type, item_id, key) ");
    insert.push_values(items, |mut row, (kind, id, key)| {
        row.push_bind(*kind)
            .push_bind(id.to_string())
            .push_bind(key.as_bytes().to_vec());
    });
    insert.build().execute(pool).await?;
    Ok(())
}

/// Post number `n` with its comments, committed together.
async fn thread(
    pool: &PgPool,
    store: &Store<Post>,
    services: &PostServices,
    members: &[MemberId],
    n: usize,
    comments: usize,
) -> anyhow::Result<Uuid> {
    let post = Uuid::new_v4();
    let author = members[n % members.len()];
    let post_key = ContentKey::generate();
    let comment_ids: Vec<(Uuid, ContentKey)> = (0..comments)
        .map(|_| (Uuid::new_v4(), ContentKey::generate()))
        .collect();
    let mut items = vec![("post", post, &post_key)];
    items.extend(comment_ids.iter().map(|(id, key)| ("comment", *id, key)));
    keys(pool, &items).await?;
    let board = if n.is_multiple_of(4) { "qna" } else { "free" };
    let mut commands = vec![PostCommand::Create(CreatePost {
        post_id: post,
        author,
        board: board.to_owned(),
        title: format!(
            "{} 근무 이야기 {n}",
            ["야간", "병동", "외래", "수술실"][n % 4]
        ),
        body: format!(
            "벤치마크 글 {n}입니다. 인수인계 시간이 길어져서 퇴근이 늦어지는 날이 많습니다.\n\
             다른 병원은 어떻게 하고 계신지 궁금합니다."
        ),
        content_key: post_key.clone(),
        badge: None,
    })];
    for (i, (comment, key)) in comment_ids.iter().enumerate() {
        let parent = (i % 3 == 2).then(|| comment_ids[i - 1].0);
        commands.push(PostCommand::Comment(AddComment {
            post_id: post,
            comment_id: *comment,
            author: members[(n + i + 1) % members.len()],
            parent_id: parent,
            body: format!("댓글 {i}: 저희 병원도 비슷합니다. 인계 양식을 줄였더니 나아졌어요."),
            content_key: key.clone(),
        }));
    }
    commit(store, services, post, commands).await?;
    Ok(post)
}

async fn write_review(
    pool: &PgPool,
    store: &Store<Review>,
    services: &ReviewServices,
    hospital: Uuid,
    author: MemberId,
    n: usize,
) -> anyhow::Result<()> {
    let id = services.author_key.derive_id("review", hospital, author);
    let key = ContentKey::generate();
    keys(pool, &[("review", id, &key)]).await?;
    let score = |shift: usize| u8::try_from((n + shift) % 5 + 1).unwrap_or(3);
    let command = ReviewCommand::Write(WriteReview {
        review_id: id,
        hospital_id: hospital,
        author,
        insider: InsiderProof {
            job_category: JobCategory::Nurse,
            tenure: if n.is_multiple_of(3) {
                Tenure::Former
            } else {
                Tenure::Current
            },
        },
        // No claims are seeded, so no label has K verified members: the command API would
        // show none.
        label_shown: false,
        ratings: Ratings {
            overall: score(0),
            work_environment: score(1),
            pay_benefits: score(2),
            management: score(3),
            care_quality: score(4),
            work_life_balance: score(5),
        },
        title: format!("근무해 본 솔직한 후기 {n}"),
        pros: "교육 체계가 잘 잡혀 있고 동료들이 서로 잘 도와줍니다.".to_owned(),
        cons: "인력이 부족해서 휴가를 쓰기 어렵고 야간 근무가 잦습니다.".to_owned(),
        advice: Some("인력 충원을 부탁드립니다.".to_owned()),
        would_recommend: !n.is_multiple_of(4),
        content_key: key,
    });
    run(store, services, id, command).await
}

/// The `n`th seeded hospital.
fn hospital(n: usize) -> HospitalProfile {
    const REGIONS: [&str; 6] = ["서울", "부산", "대구", "인천", "광주", "경기"];
    const KINDS: [HospitalKind; 4] = [
        HospitalKind::General,
        HospitalKind::Hospital,
        HospitalKind::Tertiary,
        HospitalKind::Nursing,
    ];
    let sido = REGIONS[n % REGIONS.len()];
    HospitalProfile {
        name: format!("벤치{n}병원"),
        kind: KINDS[n % KINDS.len()],
        address: format!("{sido} 어딘가로 {n}"),
        sido: sido.to_owned(),
        sigungu: "중구".to_owned(),
        institution_code: None,
        email_domains: Vec::new(),
    }
}
