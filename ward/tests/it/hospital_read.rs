//! The hospital read model end to end: hospitals imported and claims, reviews, helpful marks
//! and moderation driven over the command API, projected from the broker, read back from the
//! query API — search, profiles with rating summaries, review listings, k-anonymity, caching,
//! read-your-writes and an idempotent replay.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::*;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use ward_command_api::hospitals::{close, import};
use ward_domain::hospital::HospitalKind;
use ward_domain::member::Role;

const WAIT: Duration = Duration::from_secs(15);

/// A stack running the command API (and its relay), the hospital projection and the hospital
/// query service only.
struct World {
    stack: Stack,
    http: reqwest::Client,
    commands: Running,
    projector: Option<Running>,
    queries: Running,
}

/// A query API answer: status, `ETag`, `Ward-Consistency`, body text and JSON.
struct Read {
    status: u16,
    etag: Option<String>,
    consistency: Option<String>,
    text: String,
    json: Value,
}

impl World {
    async fn new(configure: impl FnOnce(&mut Stack)) -> Result<Self> {
        let mut stack = Stack::new().await?;
        stack.config.projector.projections = "hospital".to_owned();
        stack.config.query_api.services = "hospital".to_owned();
        configure(&mut stack);
        let commands = stack.command_api().await?;
        let projector = Some(stack.projector().await?);
        let queries = stack.query_api().await?;
        Ok(Self {
            stack,
            http: reqwest::Client::new(),
            commands,
            projector,
            queries,
        })
    }

    async fn finish(mut self) -> Result {
        if let Some(projector) = self.projector.take() {
            projector.stop().await?;
        }
        self.stack.finish().await
    }

    /// Sends a command as `cookie`; the status and JSON answer.
    async fn command(
        &self,
        cookie: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        Http::new(&self.commands)
            .send(Some(cookie), method, path, body)
            .await
    }

    /// A command that must succeed; its `id` and `version`.
    async fn ok(
        &self,
        cookie: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(String, i64)> {
        let (status, body) = self.command(cookie, method, path, body).await?;
        anyhow::ensure!((200..300).contains(&status), "{path}: {status} {body}");
        Ok((
            body["id"].as_str().unwrap_or_default().to_owned(),
            body["version"].as_i64().unwrap_or_default(),
        ))
    }

    /// A query with optional extra headers.
    async fn read_with(&self, path: &str, headers: &[(&str, &str)]) -> Result<Read> {
        let mut request = self.http.get(self.queries.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (status, etag, consistency) = (
            response.status().as_u16(),
            header(ETAG.as_str()),
            header("ward-consistency"),
        );
        let text = response.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Read {
            status,
            etag,
            consistency,
            text,
            json,
        })
    }

    /// A query that must answer 200; its JSON.
    async fn get(&self, path: &str) -> Result<Value> {
        let read = self.read_with(path, &[]).await?;
        anyhow::ensure!(read.status == 200, "{path}: {} {}", read.status, read.text);
        Ok(read.json)
    }

    /// A query answered once the read model shows `review:<id>:<version>`: it must come back
    /// `consistent`. An anonymous request is checked without waiting (a review not projected
    /// yet is a 404), so this asks again until the projector caught up.
    async fn get_after(&self, path: &str, review: &str, version: i64) -> Result<Value> {
        let token = format!("review:{review}:{version}");
        let read = eventually(WAIT, &format!("{path} at {token}"), || async {
            let read = self
                .read_with(path, &[("ward-min-version", &token)])
                .await?;
            let status = read.status;
            anyhow::ensure!(
                status == 200 || status == 404,
                "{path}: {status} {}",
                read.text
            );
            Ok((status == 200 && read.consistency.as_deref() != Some("stale")).then_some(read))
        })
        .await?;
        assert_eq!(read.consistency.as_deref(), Some("consistent"), "{path}");
        Ok(read.json)
    }

    /// The error code of a query that must fail with `status`.
    async fn refused(&self, path: &str, status: u16) -> Result<String> {
        let read = self.read_with(path, &[]).await?;
        assert_eq!(read.status, status, "{path}: {}", read.text);
        Ok(read.json["error"].as_str().unwrap_or_default().to_owned())
    }

    /// Polls `path` until `check` accepts its JSON.
    async fn until(&self, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Result<Value> {
        eventually(WAIT, what, || async {
            let read = self.read_with(path, &[]).await?;
            Ok((read.status == 200 && check(&read.json)).then_some(read.json))
        })
        .await
    }

    /// A fresh member whose claim to `hospital` a moderator approved: their cookie and claim.
    async fn insider(
        &self,
        moderator: &str,
        hospital: &str,
        job_category: &str,
        tenure: &str,
    ) -> Result<(String, String)> {
        let (_, cookie) = self.stack.member(&[]).await?;
        let claim = self.claim(&cookie, hospital, job_category, tenure).await?;
        self.approve(moderator, &claim).await?;
        Ok((cookie, claim))
    }

    async fn claim(
        &self,
        cookie: &str,
        hospital: &str,
        job_category: &str,
        tenure: &str,
    ) -> Result<String> {
        let body = json!({"job_category": job_category, "tenure": tenure});
        let path = format!("/api/v1/hospitals/{hospital}/claims");
        Ok(self.ok(cookie, Method::POST, &path, Some(body)).await?.0)
    }

    async fn approve(&self, moderator: &str, claim: &str) -> Result {
        let path = format!("/api/v1/claims/{claim}/approval");
        self.ok(moderator, Method::POST, &path, None).await?;
        Ok(())
    }

    /// Writes a review; its id and version.
    async fn review(
        &self,
        cookie: &str,
        hospital: &str,
        title: &str,
        stars: [u8; 6],
        would_recommend: bool,
    ) -> Result<(String, i64)> {
        let path = format!("/api/v1/hospitals/{hospital}/reviews");
        self.ok(
            cookie,
            Method::POST,
            &path,
            Some(review_body(title, stars, would_recommend)),
        )
        .await
    }
}

fn review_body(title: &str, stars: [u8; 6], would_recommend: bool) -> Value {
    let [overall, work_environment, pay_benefits, management, care_quality, work_life_balance] =
        stars;
    json!({
        "ratings": {"overall": overall, "work_environment": work_environment,
                    "pay_benefits": pay_benefits, "management": management,
                    "care_quality": care_quality, "work_life_balance": work_life_balance},
        "title": title,
        "pros": "교육 체계가 잘 갖춰져 있고 선배들이 친절합니다.",
        "cons": "인력이 부족해서 야간 근무가 너무 힘듭니다.",
        "would_recommend": would_recommend
    })
}

/// What the profile must say about `reviews` (ratings and recommendation of each).
fn expected_summary(reviews: &[([u8; 6], bool)]) -> (Value, Value, Value) {
    let n = reviews.len() as f64;
    let average = |i: usize| {
        let sum: f64 = reviews.iter().map(|(stars, _)| f64::from(stars[i])).sum();
        (sum / n * 10.0).round() / 10.0
    };
    let averages = json!({
        "overall": average(0), "work_environment": average(1), "pay_benefits": average(2),
        "management": average(3), "care_quality": average(4), "work_life_balance": average(5),
    });
    let mut distribution = serde_json::Map::new();
    for star in 1..=5u8 {
        let count = reviews.iter().filter(|(stars, _)| stars[0] == star).count();
        distribution.insert(star.to_string(), json!(count));
    }
    let yes = reviews.iter().filter(|(_, yes)| *yes).count() as f64;
    let percent = (yes / n * 100.0).round() as i64;
    (averages, Value::Object(distribution), json!(percent))
}

fn ids(listing: &Value, key: &str) -> Vec<String> {
    listing[key]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every item of a listing, following `next_cursor` page by page from `path` (which has a
/// query string already).
async fn all_pages(world: &World, path: &str, key: &str) -> Result<Vec<String>> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let page = match &cursor {
            None => world.get(path).await?,
            Some(cursor) => world.get(&format!("{path}&cursor={cursor}")).await?,
        };
        seen.extend(ids(&page, key));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(seen),
        }
    }
    anyhow::bail!("{path} never ended")
}

/// One row of the shipped sample list: name, kind, sido, sigungu.
struct SampleRow {
    name: String,
    kind: String,
    sido: String,
}

fn sample() -> Result<(std::path::PathBuf, Vec<SampleRow>)> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/hospitals/sample.csv");
    let text = std::fs::read_to_string(&path)?;
    let rows = text
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            // Name, kind and region come before the only quoted column (the address).
            let fields: Vec<&str> = line.split(',').collect();
            let kind = serde_json::to_value(HospitalKind::from_public_list(fields[3]))?;
            Ok(SampleRow {
                name: fields[1].to_owned(),
                kind: kind.as_str().unwrap_or_default().to_owned(),
                sido: fields[5].to_owned(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((path, rows))
}

fn names(listing: &Value) -> HashSet<String> {
    listing["hospitals"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|h| h["name"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn search_finds_korean_name_parts_filters_pages_and_refuses_bad_queries() -> Result {
    let world = World::new(|_| {}).await?;
    let (path, rows) = sample()?;
    let report = import(&world.stack.config, &path, false).await?;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let total = report.registered;
    let pool = world.stack.hospital_db().await?;
    eventually(WAIT, "every hospital projected", || async {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hospitals")
            .fetch_one(&pool)
            .await?;
        Ok((count as usize == total).then_some(()))
    })
    .await?;

    // Two Korean characters in the middle of a name.
    let expect = |filter: &dyn Fn(&SampleRow) -> bool| -> HashSet<String> {
        rows.iter()
            .filter(|r| filter(r))
            .map(|r| r.name.clone())
            .collect()
    };
    let severance = world
        .get(&format!("/api/v1/hospitals?q={}", url_encode("세브")))
        .await?;
    assert_eq!(names(&severance), expect(&|r| r.name.contains("세브")));
    assert_eq!(names(&severance).len(), 4);
    for hospital in severance["hospitals"].as_array().into_iter().flatten() {
        assert_eq!(
            (&hospital["review_count"], &hospital["verified_members"]),
            (&json!(0), &json!({"min": 0, "max": 4})),
            "no reviews, and fewer than k = 5 verified members (a band, never a count)"
        );
        assert!(hospital["address"].is_string() && hospital["sigungu"].is_string());
    }
    let query = |q: &str, filters: &str| {
        let q: String = url_encode(q);
        format!("/api/v1/hospitals?q={q}{filters}&limit=100")
    };
    let in_seoul = world.get(&query("세브", "&sido=서울")).await?;
    assert_eq!(
        names(&in_seoul),
        expect(&|r| r.name.contains("세브") && r.sido == "서울")
    );
    assert_eq!(names(&in_seoul).len(), 2);
    let general_in_seoul = world
        .get(&format!(
            "/api/v1/hospitals?sido={}&kind=general&limit=100",
            url_encode("서울")
        ))
        .await?;
    assert_eq!(
        names(&general_in_seoul),
        expect(&|r| r.kind == "general" && r.sido == "서울")
    );
    assert!(!names(&general_in_seoul).is_empty());
    let district = world
        .get(&format!(
            "/api/v1/hospitals?sido={}&sigungu={}",
            url_encode("서울"),
            url_encode("종로구")
        ))
        .await?;
    assert!(names(&district).contains("서울대학교병원"));

    // Keyset pages neither skip nor repeat, whatever the page size.
    for (path, expected) in [
        ("/api/v1/hospitals?limit=7".to_owned(), total),
        (
            format!("/api/v1/hospitals?q={}&limit=3", url_encode("병원")),
            expect(&|r| r.name.contains("병원")).len(),
        ),
    ] {
        let paged = all_pages(&world, &path, "hospitals").await?;
        assert_eq!(paged.len(), expected, "{path}");
        assert_eq!(
            paged.iter().collect::<HashSet<_>>().len(),
            expected,
            "{path}"
        );
        let whole = ids(
            &world
                .get(
                    &path
                        .replace("limit=7", "limit=100")
                        .replace("limit=3", "limit=100"),
                )
                .await?,
            "hospitals",
        );
        assert_eq!(paged, whole, "pages follow the one-page order");
    }

    // A closed hospital leaves the search but keeps its profile.
    let closing: Uuid = severance["hospitals"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    close(&world.stack.config, closing).await?;
    let after = world
        .until(&query("세브", ""), "the closed hospital gone", |page| {
            names(page).len() == 3
        })
        .await?;
    assert!(!ids(&after, "hospitals").contains(&closing.to_string()));
    let profile = world.get(&format!("/api/v1/hospitals/{closing}")).await?;
    assert_eq!(profile["closed"], json!(true));

    // Bad queries: a clear code each.
    let long = url_encode(&"가".repeat(51));
    for (path, status, code) in [
        (
            "/api/v1/hospitals?kind=castle".to_owned(),
            422,
            "kind_unknown",
        ),
        (
            "/api/v1/hospitals?limit=0".to_owned(),
            422,
            "limit_out_of_range",
        ),
        (
            "/api/v1/hospitals?limit=101".to_owned(),
            422,
            "limit_out_of_range",
        ),
        ("/api/v1/hospitals?q=".to_owned(), 422, "q_invalid"),
        (format!("/api/v1/hospitals?q={long}"), 422, "q_invalid"),
        (
            "/api/v1/hospitals?cursor=nonsense".to_owned(),
            400,
            "cursor_invalid",
        ),
        (
            "/api/v1/hospitals?colour=red".to_owned(),
            400,
            "invalid_query",
        ),
        (
            format!("/api/v1/hospitals/{}", Uuid::new_v4()),
            404,
            "hospital_not_found",
        ),
        (
            "/api/v1/hospitals/not-an-id".to_owned(),
            404,
            "hospital_not_found",
        ),
        (
            format!("/api/v1/reviews/{}", Uuid::new_v4()),
            404,
            "review_not_found",
        ),
        (
            format!("/api/v1/hospitals/{}/reviews", Uuid::new_v4()),
            404,
            "hospital_not_found",
        ),
        (
            format!("/api/v1/hospitals/{closing}/reviews?sort=best"),
            422,
            "sort_unknown",
        ),
        (
            format!("/api/v1/hospitals/{closing}/reviews?job_category=janitor"),
            422,
            "job_category_unknown",
        ),
        (
            format!("/api/v1/hospitals/{closing}/reviews?tenure=soon"),
            422,
            "tenure_unknown",
        ),
        (
            format!("/api/v1/hospitals/{closing}/reviews?cursor=x"),
            400,
            "cursor_invalid",
        ),
    ] {
        assert_eq!(world.refused(&path, status).await?, code, "{path}");
    }
    // Label filters select among the labels readers see, so they are never refused.
    let filtered = world
        .get(&format!(
            "/api/v1/hospitals/{closing}/reviews?job_category=nurse&tenure=current"
        ))
        .await?;
    assert_eq!(ids(&filtered, "reviews"), Vec::<String>::new());
    // A search cursor is not a review cursor.
    let cursor = world.get("/api/v1/hospitals?limit=1").await?["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        world
            .refused(
                &format!("/api/v1/hospitals/{closing}/reviews?cursor={cursor}"),
                400
            )
            .await?,
        "cursor_invalid"
    );
    let read = world
        .read_with(
            &format!("/api/v1/hospitals/{closing}"),
            &[("ward-min-version", "post:abc:1")],
        )
        .await?;
    assert_eq!(
        (read.status, read.json["error"].as_str()),
        (400, Some("min_version_kind_unknown"))
    );
    // Every kind the domain has is a kind the search takes.
    for kind in [
        HospitalKind::Tertiary,
        HospitalKind::General,
        HospitalKind::Hospital,
        HospitalKind::Nursing,
        HospitalKind::Clinic,
        HospitalKind::Dental,
        HospitalKind::KoreanMedicine,
        HospitalKind::Other,
    ] {
        let name = serde_json::to_value(kind)?;
        let path = format!(
            "/api/v1/hospitals?kind={}",
            name.as_str().unwrap_or_default()
        );
        assert_eq!(world.read_with(&path, &[]).await?.status, 200, "{path}");
    }
    world.finish().await
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const LABELS: [&str; 4] = ["pharmacist", "medical_technician", "current", "former"];

#[tokio::test(flavor = "multi_thread")]
async fn reviews_ratings_and_author_labels_follow_claims_reviews_and_moderation() -> Result {
    let mut world = World::new(|stack| {
        stack.config.query_api.k_anonymity = 3;
        stack.config.query_api.min_reviews = 2;
    })
    .await?;
    let csv = tempfile::NamedTempFile::new()?;
    std::fs::write(
        csv.path(),
        "암호화요양기호,요양기관명,종별코드,종별코드명,시도코드,시도코드명,시군구코드,시군구코드명,주소,직원이메일도메인\n\
         ,한빛세브병원,11,종합병원,110000,서울,110016,종로구,서울특별시 종로구 대학로 7,\n",
    )?;
    import(&world.stack.config, csv.path(), false).await?;
    let found = world
        .until(
            &format!("/api/v1/hospitals?q={}", url_encode("한빛")),
            "the hospital",
            |page| names(page).len() == 1,
        )
        .await?;
    let hospital = found["hospitals"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let profile_path = format!("/api/v1/hospitals/{hospital}");
    let list_path = format!("/api/v1/hospitals/{hospital}/reviews");
    let (_, moderator) = world.stack.member(&[Role::Moderator]).await?;

    // Two insiders, each alone with their label: below k = 3, so no label shows, and label
    // filters find nothing.
    let (a, _) = world
        .insider(&moderator, &hospital, "pharmacist", "current")
        .await?;
    let (b, _) = world
        .insider(&moderator, &hospital, "medical_technician", "former")
        .await?;
    // The API shows only the band [0, 3) for both: the read model itself says when both are in.
    let pool = world.stack.hospital_db().await?;
    let verified = |count: i64| {
        let pool = pool.clone();
        let hospital = hospital.clone();
        async move {
            eventually(WAIT, "the verified claims", || async {
                let verified: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM claims WHERE hospital_id = ? AND state = 'verified'",
                )
                .bind(&hospital)
                .fetch_one(&pool)
                .await?;
                Ok((verified == count).then_some(()))
            })
            .await
        }
    };
    verified(2).await?;
    assert_eq!(
        world.get(&profile_path).await?["verified_members"],
        json!({"min": 0, "max": 2})
    );
    let a_stars = [4, 3, 2, 2, 5, 1];
    let (ra, va) = world
        .review(&a, &hospital, "배울 점이 많은 병원", a_stars, true)
        .await?;
    let shown = world
        .get_after(&format!("/api/v1/reviews/{ra}"), &ra, va)
        .await?;
    assert_eq!(
        (
            shown["state"].as_str(),
            shown["title"].as_str(),
            shown["hospital_id"].as_str(),
            &shown["author"],
            &shown["ratings"]["care_quality"],
        ),
        (
            Some("published"),
            Some("배울 점이 많은 병원"),
            Some(hospital.as_str()),
            &Value::Null,
            &json!(5),
        )
    );
    let created_at = shown["created_at"].as_str().unwrap_or_default();
    assert!(
        created_at.ends_with(":00Z"),
        "rounded down to the minute: {created_at}"
    );
    let profile = world.get_after(&profile_path, &ra, va).await?;
    assert_eq!(profile["review_count"], json!(1));
    for field in ["averages", "distribution", "would_recommend_percent"] {
        assert_eq!(profile[field], Value::Null, "{field} below min_reviews");
    }

    let b_stars = [5, 4, 3, 3, 4, 2];
    let (rb, vb) = world
        .review(&b, &hospital, "야간이 힘든 병원", b_stars, false)
        .await?;
    let profile = world.get_after(&profile_path, &rb, vb).await?;
    let (averages, distribution, percent) = expected_summary(&[(a_stars, true), (b_stars, false)]);
    assert_eq!(profile["review_count"], json!(2));
    assert_eq!(profile["averages"], averages);
    assert_eq!(profile["distribution"], distribution);
    assert_eq!(profile["would_recommend_percent"], percent);

    for path in [
        profile_path.clone(),
        list_path.clone(),
        format!("{list_path}?sort=helpful"),
        format!("/api/v1/reviews/{ra}"),
        format!("/api/v1/reviews/{rb}"),
    ] {
        let read = world.read_with(&path, &[]).await?;
        assert_eq!(read.status, 200);
        for label in LABELS {
            assert!(
                !read.text.contains(label),
                "{path} shows {label} below k: {}",
                read.text
            );
        }
    }
    for filter in ["job_category=pharmacist", "tenure=former"] {
        let page = world.get(&format!("{list_path}?{filter}")).await?;
        assert_eq!(ids(&page, "reviews"), Vec::<String>::new(), "{filter}");
    }

    // Two helpful marks for B's review.
    let mut vh = vb;
    for _ in 0..2 {
        let voter = world.stack.session().await?;
        vh = world
            .ok(
                &voter,
                Method::PUT,
                &format!("/api/v1/reviews/{rb}/helpful"),
                None,
            )
            .await?
            .1;
    }
    let helpful = world
        .get_after(&format!("{list_path}?sort=helpful"), &rb, vh)
        .await?;
    assert_eq!(ids(&helpful, "reviews"), [rb.clone(), ra.clone()]);
    assert_eq!(helpful["reviews"][0]["helpful_count"], json!(2));
    assert_eq!(helpful["reviews"][1]["helpful_count"], json!(0));

    // A third insider takes the hospital to k: its band says so, but A's and B's labels were
    // decided when they wrote, alone with them, and stay hidden (k holds per label, and no
    // label is revealed later).
    let (c, c_claim) = world
        .insider(&moderator, &hospital, "doctor", "current")
        .await?;
    world
        .until(&profile_path, "the hospital at k", |p| {
            p["verified_members"] == json!({"min": 3, "max": 5})
        })
        .await?;
    for path in [
        format!("{list_path}?sort=helpful"),
        format!("/api/v1/reviews/{ra}"),
        format!("/api/v1/reviews/{rb}"),
    ] {
        let text = world.read_with(&path, &[]).await?.text;
        for label in LABELS {
            assert!(!text.contains(label), "{path} shows {label} at k: {text}");
        }
    }

    // Revoked: below k again. Submitted anew: still below. Approved: at k.
    world
        .ok(
            &moderator,
            Method::POST,
            &format!("/api/v1/claims/{c_claim}/revocation"),
            None,
        )
        .await?;
    world
        .until(&profile_path, "a revocation", |p| {
            p["verified_members"] == json!({"min": 0, "max": 2})
        })
        .await?;
    let again = world.claim(&c, &hospital, "doctor", "current").await?;
    assert_eq!(
        again, c_claim,
        "one claim aggregate per member and hospital"
    );
    let open_version: i64 = eventually(WAIT, "the resubmission", || async {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM claims WHERE id = ? AND state = 'open'")
                .bind(&c_claim)
                .fetch_optional(&pool)
                .await?;
        Ok(version)
    })
    .await?;
    assert_eq!(open_version, 4);
    verified(2).await?;
    assert_eq!(
        world.get(&profile_path).await?["verified_members"],
        json!({"min": 0, "max": 2})
    );
    world.approve(&moderator, &c_claim).await?;
    world
        .until(&profile_path, "a re-verification", |p| {
            p["verified_members"] == json!({"min": 3, "max": 5})
        })
        .await?;
    // Two more current doctors: with C, k of them. C's review, written now, is labelled.
    for _ in 0..2 {
        world
            .insider(&moderator, &hospital, "doctor", "current")
            .await?;
    }

    // Cached answers: 304 while unchanged; a new review shows on the next reads.
    let before = world.read_with(&list_path, &[]).await?;
    let etag = before.etag.clone().unwrap_or_default();
    let unchanged = world
        .read_with(&list_path, &[(IF_NONE_MATCH.as_str(), &etag)])
        .await?;
    assert_eq!(unchanged.status, 304);
    let c_stars = [3, 3, 3, 3, 3, 3];
    let (rc, vc) = world
        .review(&c, &hospital, "평범한 병원", c_stars, true)
        .await?;
    world
        .until(&list_path, "the new review listed", |page| {
            ids(page, "reviews").contains(&rc)
        })
        .await?;
    let single = world
        .get_after(&format!("/api/v1/reviews/{rc}"), &rc, vc)
        .await?;
    assert_eq!(
        single["author"],
        json!({"job_category": "doctor", "tenure": "current"})
    );
    // Filters select by the labels shown: C's review only; A's and B's match none.
    for (filter, expected) in [
        ("job_category=doctor", vec![rc.clone()]),
        ("tenure=current", vec![rc.clone()]),
        ("job_category=doctor&tenure=current", vec![rc.clone()]),
        ("job_category=pharmacist", vec![]),
        ("tenure=former", vec![]),
        ("job_category=medical_technician&tenure=former", vec![]),
    ] {
        let page = world.get(&format!("{list_path}?{filter}")).await?;
        assert_eq!(ids(&page, "reviews"), expected, "{filter}");
    }
    let changed = world
        .read_with(&list_path, &[(IF_NONE_MATCH.as_str(), &etag)])
        .await?;
    assert_eq!(changed.status, 200, "the old ETag no longer matches");
    assert!(ids(&changed.json, "reviews").contains(&rc));
    let new_etag = changed.etag.clone().unwrap_or_default();
    assert_ne!(new_etag, etag);
    assert_eq!(
        world
            .read_with(&list_path, &[(IF_NONE_MATCH.as_str(), &new_etag)])
            .await?
            .status,
        304
    );

    // Newest first (times to the minute, then id), and pages that follow the same order.
    let newest = world.get(&list_path).await?;
    let order: Vec<(String, String)> = newest["reviews"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["created_at"].as_str().unwrap_or_default().to_owned(),
                r["id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(order, sorted);
    assert_eq!(
        order.iter().map(|(_, id)| id).collect::<HashSet<_>>(),
        [&ra, &rb, &rc].into_iter().collect::<HashSet<_>>()
    );
    for sort in ["new", "helpful"] {
        let whole = ids(
            &world.get(&format!("{list_path}?sort={sort}")).await?,
            "reviews",
        );
        let paged = all_pages(
            &world,
            &format!("{list_path}?sort={sort}&limit=1"),
            "reviews",
        )
        .await?;
        assert_eq!(paged, whole, "{sort}");
    }
    let three = [(a_stars, true), (b_stars, false), (c_stars, true)];
    let profile = world.get(&profile_path).await?;
    let (averages, distribution, percent) = expected_summary(&three);
    assert_eq!(
        (
            &profile["averages"],
            &profile["distribution"],
            &profile["would_recommend_percent"]
        ),
        (&averages, &distribution, &percent)
    );
    assert_eq!(percent, json!(67));

    // Hidden by a moderator: out of the list and the aggregates; restored: back.
    let hide = format!("/api/v1/moderation/review/{ra}/hide");
    world
        .ok(
            &moderator,
            Method::POST,
            &hide,
            Some(json!({"reason": "abuse"})),
        )
        .await?;
    let profile = world
        .until(&profile_path, "the hidden review uncounted", |p| {
            p["review_count"] == json!(2)
        })
        .await?;
    let (averages, _, _) = expected_summary(&three[1..]);
    assert_eq!(profile["averages"], averages);
    assert!(!ids(&world.get(&list_path).await?, "reviews").contains(&ra));
    let hidden = world.get(&format!("/api/v1/reviews/{ra}")).await?;
    assert_eq!(
        (
            hidden["state"].as_str(),
            &hidden["title"],
            &hidden["ratings"]
        ),
        (Some("hidden"), &Value::Null, &Value::Null)
    );
    let restore = format!("/api/v1/moderation/review/{ra}/restore");
    world
        .ok(&moderator, Method::POST, &restore, Some(json!({})))
        .await?;
    world
        .until(&profile_path, "the restored review counted", |p| {
            p["review_count"] == json!(3)
        })
        .await?;
    assert!(ids(&world.get(&list_path).await?, "reviews").contains(&ra));

    // Edited: read your own write at once.
    let edited_stars = [1, 1, 1, 1, 1, 1];
    let (_, ve) = world
        .ok(
            &a,
            Method::PATCH,
            &format!("/api/v1/reviews/{ra}"),
            Some(review_body("다시 생각해 본 병원", edited_stars, false)),
        )
        .await?;
    let edited = world
        .get_after(&format!("/api/v1/reviews/{ra}"), &ra, ve)
        .await?;
    assert_eq!(edited["title"].as_str(), Some("다시 생각해 본 병원"));
    assert_eq!(edited["ratings"]["overall"], json!(1));
    let profile = world.get_after(&profile_path, &ra, ve).await?;
    let (averages, distribution, percent) =
        expected_summary(&[(edited_stars, false), (b_stars, false), (c_stars, true)]);
    assert_eq!(
        (
            &profile["averages"],
            &profile["distribution"],
            &profile["would_recommend_percent"]
        ),
        (&averages, &distribution, &percent)
    );

    // Deleted: shown by id as deleted, gone from the list and the counts.
    let (_, vd) = world
        .ok(&b, Method::DELETE, &format!("/api/v1/reviews/{rb}"), None)
        .await?;
    let deleted = world
        .get_after(&format!("/api/v1/reviews/{rb}"), &rb, vd)
        .await?;
    assert_eq!(
        (
            deleted["state"].as_str(),
            &deleted["title"],
            &deleted["pros"],
            &deleted["ratings"]
        ),
        (Some("deleted"), &Value::Null, &Value::Null, &Value::Null)
    );
    let list = world.get_after(&list_path, &rb, vd).await?;
    assert_eq!(
        ids(&list, "reviews").into_iter().collect::<HashSet<_>>(),
        [ra.clone(), rc.clone()].into_iter().collect()
    );
    assert_eq!(
        world.get_after(&profile_path, &rb, vd).await?["review_count"],
        json!(2)
    );

    // The author of C's review withdraws: the review is removed exactly as a deletion
    // removes it (docs/privacy.md): no texts, no ratings, not counted.
    world.ok(&c, Method::DELETE, "/api/v1/me", None).await?;
    let erased = world
        .until(&format!("/api/v1/reviews/{rc}"), "the erasure", |r| {
            r["state"] == json!("deleted")
        })
        .await?;
    assert_eq!(
        (&erased["title"], &erased["ratings"]["overall"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(world.get(&profile_path).await?["review_count"], json!(1));

    // A replay of every record into the same read model changes no answer.
    let paths = [
        profile_path.clone(),
        list_path.clone(),
        format!("{list_path}?sort=helpful"),
        format!("/api/v1/reviews/{ra}"),
        format!("/api/v1/reviews/{rb}"),
        format!("/api/v1/reviews/{rc}"),
        format!("/api/v1/hospitals?q={}", url_encode("한빛")),
    ];
    let offsets = || async {
        let rows: Vec<(String, i32, i64)> = sqlx::query_as(
            "SELECT topic, `partition`, next_offset FROM projector_offsets \
             ORDER BY topic, `partition`",
        )
        .fetch_all(&pool)
        .await?;
        Ok::<_, anyhow::Error>(rows)
    };
    // The answers and the offsets they reflect: read while the projector applies nothing
    // (a claim's verification, on its own topic, may still be on its way).
    let (answers, applied) = eventually(WAIT, "the projector at rest", || async {
        let before = offsets().await?;
        let mut answers = Vec::new();
        for path in &paths {
            answers.push(world.get(path).await?);
        }
        Ok((offsets().await? == before).then_some((answers, before)))
    })
    .await?;
    assert!(!applied.is_empty());
    if let Some(projector) = world.projector.take() {
        projector.stop().await?;
    }
    sqlx::query("DELETE FROM projector_offsets")
        .execute(&pool)
        .await?;
    world.projector = Some(world.stack.projector().await?);
    eventually(WAIT, "the replay", || async {
        Ok((offsets().await? == applied).then_some(()))
    })
    .await?;
    for (path, before) in paths.iter().zip(&answers) {
        assert_eq!(&world.get(path).await?, before, "{path} after the replay");
    }
    let rejects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projector_rejects")
        .fetch_one(&pool)
        .await?;
    assert_eq!(rejects, 0, "every record was understood");
    world.finish().await
}
