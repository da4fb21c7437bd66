//! Hospitals, their rating summaries and their reviews, read from the hospital read model
//! (MariaDB / MySQL 8). Documented in `docs/read-models/hospital.md`.
//!
//! Three privacy rules shape the answers:
//! - **k-anonymity per label, decided once**: a review shows the author label it was written
//!   with, if any. The command side gives a review its label only when at least
//!   `query_api.k_anonymity` members with that job category and tenure were verified at the
//!   hospital when it was written (`ward_command_api::labels`); the read model holds no other
//!   label, so nothing is decided here, a label never appears or goes later, and filtering by
//!   job category or tenure selects only among labels readers see anyway.
//! - **bands, not counts** ([`crate::anonymity`]): a hospital's verified members are
//!   published as a band (`{"min": 5, "max": 9}`), never as the exact number a crawler could
//!   difference.
//! - **minimum reviews**: a hospital's averages, star distribution and recommendation rate
//!   are shown only from `query_api.min_reviews` counted reviews on.
//!
//! A review counts (in listings, counts and aggregates) unless it is deleted or hidden by
//! moderation; an erased review (its author withdrew) counts with its ratings, texts gone.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{MySql, MySqlPool, QueryBuilder};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ward_platform::http::{ApiError, ApiQuery, ErrorBody};

use crate::anonymity::Band;
use crate::cache::{self, Cache};
use crate::consistency::{Freshness, Waits, Wanted};
use crate::cursor::{self, Time};
use crate::sql::like_escaped;

/// What the hospital handlers use.
#[derive(Clone)]
pub struct HospitalState {
    /// The hospital read model.
    pub pool: MySqlPool,
    /// The query cache.
    pub cache: Cache,
    /// K: the first band of verified members is `[0, K)`. (Review labels were decided with
    /// the same K when written.)
    pub k_anonymity: u32,
    /// Counted reviews a hospital needs before its rating aggregates are shown.
    pub min_reviews: u32,
    /// Who may wait for a version, and how many at once.
    pub waits: Waits,
}

impl axum::extract::FromRef<HospitalState> for Waits {
    fn from_ref(state: &HospitalState) -> Self {
        state.waits.clone()
    }
}

/// The hospital service's routes.
pub fn router(state: HospitalState) -> Router {
    Router::new()
        .route("/api/v1/hospitals", get(search))
        .route("/api/v1/hospitals/{id}", get(profile))
        .route("/api/v1/hospitals/{id}/reviews", get(reviews))
        .route("/api/v1/reviews/{id}", get(review))
        .with_state(state)
}

/// Hospital kinds (the domain's `HospitalKind`, as named in events).
pub const KINDS: [&str; 8] = [
    "tertiary",
    "general",
    "hospital",
    "nursing",
    "clinic",
    "dental",
    "korean_medicine",
    "other",
];
/// Job categories (the domain's `JobCategory`).
pub const JOB_CATEGORIES: [&str; 6] = [
    "doctor",
    "nurse",
    "pharmacist",
    "medical_technician",
    "administration",
    "other",
];
/// Tenures (the domain's `Tenure`).
pub const TENURES: [&str; 2] = ["current", "former"];
/// Longest name search, in characters.
const MAX_QUERY_CHARS: usize = 50;
/// Longest region filter, in characters (the catalogue's own limit).
const MAX_REGION_CHARS: usize = 30;

/// The condition of a counted review `r`: neither deleted nor hidden by moderation. The hide
/// lives in its own table, so a hide projected before its review still applies.
const COUNTED: &str = "r.state <> 'deleted' AND NOT EXISTS (SELECT 1 FROM moderation_state m \
     WHERE m.target_kind = 'review' AND m.target_id = r.id AND m.hidden)";
/// The verified members of hospital `h`.
const VERIFIED: &str =
    "(SELECT COUNT(*) FROM claims c WHERE c.hospital_id = h.id AND c.state = 'verified')";

impl HospitalState {
    /// Waits for the review a client wants to see, if it named one.
    async fn freshness(&self, wanted: Wanted) -> Result<Freshness, ApiError> {
        wanted
            .wait_for("hospital", &["review"], |id| async move {
                sqlx::query_scalar("SELECT version FROM reviews WHERE id = ?")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(ApiError::internal)
            })
            .await
    }

    /// Whether the catalogue has `hospital`.
    async fn exists(&self, hospital: &str) -> Result<bool, ApiError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM hospitals WHERE id = ?")
            .bind(hospital)
            .fetch_optional(&self.pool)
            .await
            .map_err(ApiError::internal)?;
        Ok(found.is_some())
    }
}

fn hospital_not_found() -> ApiError {
    ApiError::not_found("hospital_not_found", "there is no such hospital")
}

fn review_not_found() -> ApiError {
    ApiError::not_found("review_not_found", "there is no such review")
}

/// `value` if it is one of `known`, else 422 `code`.
fn known(
    value: Option<String>,
    known: &[&str],
    code: &'static str,
) -> Result<Option<String>, ApiError> {
    match value {
        Some(value) if !known.contains(&value.as_str()) => Err(ApiError::invalid(
            code,
            format!("{value:?} is not one of {}", known.join(", ")),
        )),
        value => Ok(value),
    }
}

// ---------------------------------------------------------------------------------------
// Search

/// Query parameters of the hospital search.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Search {
    /// Part of the name, 1–50 characters (e.g. `세브`).
    pub q: Option<String>,
    /// Province or metropolitan city, exactly (e.g. `서울`).
    pub sido: Option<String>,
    /// District, exactly (e.g. `종로구`).
    pub sigungu: Option<String>,
    /// Kind of institution: `tertiary`, `general`, `hospital`, `nursing`, `clinic`, `dental`,
    /// `korean_medicine` or `other`.
    pub kind: Option<String>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A hospital in search results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HospitalSummary {
    /// The hospital's id.
    pub id: String,
    /// Official name.
    pub name: String,
    /// Kind of institution.
    pub kind: String,
    /// Province or metropolitan city.
    pub sido: String,
    /// District.
    pub sigungu: String,
    /// Street address.
    pub address: String,
    /// Reviews counted (neither deleted nor hidden).
    pub review_count: i64,
    /// How many members' affiliation with the hospital is verified, as a band of counts:
    /// `[0, K)`, then `[K, 2K)`, `[2K, 4K)`, … (K is the k-anonymity threshold).
    pub verified_members: Band,
}

/// A hospital as the search reads it, with its exact count of verified members.
#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: String,
    name: String,
    kind: String,
    sido: String,
    sigungu: String,
    address: String,
    review_count: i64,
    verified_members: i64,
}

impl SummaryRow {
    /// The public view: the count as its band under `k`.
    fn summary(self, k: u32) -> HospitalSummary {
        HospitalSummary {
            id: self.id,
            name: self.name,
            kind: self.kind,
            sido: self.sido,
            sigungu: self.sigungu,
            address: self.address,
            review_count: self.review_count,
            verified_members: Band::of(self.verified_members, k),
        }
    }
}

/// One page of search results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HospitalPage {
    /// By name, then id.
    pub hospitals: Vec<HospitalSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An optional text filter of 1..=`max` characters after trimming, else 422 `code`.
fn text_filter(
    value: Option<String>,
    max: usize,
    code: &'static str,
    what: &str,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let value = value.trim().to_owned();
    let chars = value.chars().count();
    if chars == 0 || chars > max {
        return Err(ApiError::invalid(
            code,
            format!("{what} must be 1 to {max} characters"),
        ));
    }
    Ok(Some(value))
}

/// `GET /api/v1/hospitals`: open hospitals by name part, region and kind, by name.
#[utoipa::path(
    get,
    path = "/api/v1/hospitals",
    operation_id = "search_hospitals",
    tag = "hospitals",
    params(Search),
    responses(
        (status = 200, description = "A page of hospitals (closed ones are left out).", body = HospitalPage),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`."),
        (status = 400, description = "Unknown or ill-typed query parameters (`invalid_query`), or a cursor this API did not give out (`cursor_invalid`).", body = ErrorBody),
        (status = 422, description = "`q` is empty or over 50 characters (`q_invalid`), a region over 30 characters (`sido_invalid`, `sigungu_invalid`), an unknown `kind` (`kind_unknown`), or `limit` not 1–100 (`limit_out_of_range`).", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn search(
    State(state): State<HospitalState>,
    ApiQuery(search): ApiQuery<Search>,
    wanted: Wanted,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let q = text_filter(search.q, MAX_QUERY_CHARS, "q_invalid", "q")?;
    let sido = text_filter(search.sido, MAX_REGION_CHARS, "sido_invalid", "sido")?;
    let sigungu = text_filter(
        search.sigungu,
        MAX_REGION_CHARS,
        "sigungu_invalid",
        "sigungu",
    )?;
    let kind = known(search.kind, &KINDS, "kind_unknown")?;
    let limit = cursor::limit(search.limit)?;
    let after: Option<Uuid> = cursor::decode(search.cursor.as_deref())?;
    let freshness = state.freshness(wanted).await?;
    let what = cache::key("search", &(&q, &sido, &sigungu, &kind, limit, after))?;
    let load = async {
        // The position after the hospital a cursor names; short cursors whatever the name.
        let after = match after {
            None => None,
            Some(id) => {
                let name: Option<String> =
                    sqlx::query_scalar("SELECT name FROM hospitals WHERE id = ?")
                        .bind(id.to_string())
                        .fetch_optional(&state.pool)
                        .await
                        .map_err(ApiError::internal)?;
                let name = name.ok_or_else(cursor::invalid)?;
                Some((name, id.to_string()))
            }
        };
        let mut query = QueryBuilder::<MySql>::new(format!(
            "SELECT h.id, h.name, h.kind, h.sido, h.sigungu, h.address, \
             (SELECT COUNT(*) FROM reviews r WHERE r.hospital_id = h.id AND {COUNTED}) \
             AS review_count, {VERIFIED} AS verified_members FROM hospitals h WHERE NOT h.closed"
        ));
        if let Some(q) = &q {
            query
                .push(" AND h.name LIKE CONCAT('%', ")
                .push_bind(like_escaped(q))
                .push(", '%') ESCAPE '!'");
        }
        for (column, value) in [("sido", &sido), ("sigungu", &sigungu), ("kind", &kind)] {
            if let Some(value) = value {
                query
                    .push(format_args!(" AND h.{column} = "))
                    .push_bind(value.clone());
            }
        }
        if let Some((name, id)) = after {
            query
                .push(" AND (h.name > ")
                .push_bind(name.clone())
                .push(" OR (h.name = ")
                .push_bind(name)
                .push(" AND h.id > ")
                .push_bind(id)
                .push("))");
        }
        query
            .push(" ORDER BY h.name, h.id LIMIT ")
            .push_bind(limit + 1);
        let rows: Vec<SummaryRow> = query
            .build_query_as()
            .fetch_all(&state.pool)
            .await
            .map_err(ApiError::internal)?;
        let (rows, next_cursor) = cursor::page(rows, limit, |h| h.id.clone());
        let hospitals = rows
            .into_iter()
            .map(|row| row.summary(state.k_anonymity))
            .collect();
        Ok(HospitalPage {
            hospitals,
            next_cursor,
        })
    };
    let answer = state
        .cache
        .answer("hospital", &what, freshness, load)
        .await?;
    Ok(answer.public(&headers, freshness))
}

// ---------------------------------------------------------------------------------------
// Profile

/// Average ratings, to one decimal.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Averages {
    /// Overall.
    pub overall: f64,
    /// Work environment.
    pub work_environment: f64,
    /// Pay and benefits.
    pub pay_benefits: f64,
    /// Management.
    pub management: f64,
    /// Care quality and patient safety.
    pub care_quality: f64,
    /// Work-life balance.
    pub work_life_balance: f64,
}

/// How many counted reviews gave each number of overall stars.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Distribution {
    /// One star.
    #[serde(rename = "1")]
    pub one: i64,
    /// Two stars.
    #[serde(rename = "2")]
    pub two: i64,
    /// Three stars.
    #[serde(rename = "3")]
    pub three: i64,
    /// Four stars.
    #[serde(rename = "4")]
    pub four: i64,
    /// Five stars.
    #[serde(rename = "5")]
    pub five: i64,
}

/// A hospital's profile and rating summary.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HospitalProfile {
    /// The hospital's id.
    pub id: String,
    /// Official name.
    pub name: String,
    /// Kind of institution.
    pub kind: String,
    /// Street address.
    pub address: String,
    /// Province or metropolitan city.
    pub sido: String,
    /// District.
    pub sigungu: String,
    /// The public list's institution code, when known.
    pub institution_code: Option<String>,
    /// Whether the hospital closed (its reviews stay readable).
    pub closed: bool,
    /// Reviews counted (neither deleted nor hidden).
    pub review_count: i64,
    /// How many members' affiliation with the hospital is verified, as a band of counts:
    /// `[0, K)`, then `[K, 2K)`, `[2K, 4K)`, … (K is the k-anonymity threshold).
    pub verified_members: Band,
    /// Average ratings; `null` below the minimum number of reviews.
    pub averages: Option<Averages>,
    /// Overall stars given; `null` below the minimum number of reviews.
    pub distribution: Option<Distribution>,
    /// Share of reviewers who would recommend working there, in percent; `null` below the
    /// minimum number of reviews.
    pub would_recommend_percent: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ProfileRow {
    id: String,
    name: String,
    kind: String,
    address: String,
    sido: String,
    sigungu: String,
    institution_code: Option<String>,
    closed: bool,
    verified_members: i64,
}

/// Sums over a hospital's counted reviews.
#[derive(Debug, Default, sqlx::FromRow)]
struct Totals {
    reviews: i64,
    overall: i64,
    work_environment: i64,
    pay_benefits: i64,
    management: i64,
    care_quality: i64,
    work_life_balance: i64,
    stars_1: i64,
    stars_2: i64,
    stars_3: i64,
    stars_4: i64,
    stars_5: i64,
    recommend: i64,
}

/// `part / whole × scale`, rounded half up (`whole` > 0).
fn rounded(part: i64, whole: i64, scale: i64) -> i64 {
    (part * scale * 2 + whole) / (2 * whole)
}

impl Totals {
    fn averages(&self) -> Averages {
        let average = |sum| rounded(sum, self.reviews, 10) as f64 / 10.0;
        Averages {
            overall: average(self.overall),
            work_environment: average(self.work_environment),
            pay_benefits: average(self.pay_benefits),
            management: average(self.management),
            care_quality: average(self.care_quality),
            work_life_balance: average(self.work_life_balance),
        }
    }

    fn distribution(&self) -> Distribution {
        Distribution {
            one: self.stars_1,
            two: self.stars_2,
            three: self.stars_3,
            four: self.stars_4,
            five: self.stars_5,
        }
    }
}

/// `GET /api/v1/hospitals/{id}`: the profile, counts and, from enough reviews on, averages.
#[utoipa::path(
    get,
    path = "/api/v1/hospitals/{id}",
    operation_id = "hospital_profile",
    tag = "hospitals",
    params(
        ("id" = Uuid, Path, description = "The hospital's id."),
        ("Ward-Min-Version" = Option<String>, Header, pattern = r"^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[1-9][0-9]{0,17}$", description = "`review:<id>:<version>`: wait until the read model shows that review version (signed-in members only, 2 s at most; others are told at once)."),
    ),
    responses(
        (status = 200, description = "The hospital; `ward-consistency` says whether a requested version was reached.", body = HospitalProfile),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`."),
        (status = 400, description = "A malformed `Ward-Min-Version` (`min_version_invalid`) or one naming anything but a review (`min_version_kind_unknown`).", body = ErrorBody),
        (status = 404, description = "There is no such hospital (`hospital_not_found`).", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn profile(
    State(state): State<HospitalState>,
    Path(id): Path<String>,
    wanted: Wanted,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| hospital_not_found())?
        .to_string();
    let freshness = state.freshness(wanted).await?;
    let load = async {
        let row: ProfileRow = sqlx::query_as(&format!(
            "SELECT h.id, h.name, h.kind, h.address, h.sido, h.sigungu, h.institution_code, \
             h.closed, {VERIFIED} AS verified_members FROM hospitals h WHERE h.id = ?"
        ))
        .bind(&id)
        .fetch_optional(&state.pool)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(hospital_not_found)?;
        let totals: Totals = sqlx::query_as(&format!(
            "SELECT COUNT(*) AS reviews, \
             CAST(COALESCE(SUM(overall), 0) AS SIGNED) AS overall, \
             CAST(COALESCE(SUM(work_environment), 0) AS SIGNED) AS work_environment, \
             CAST(COALESCE(SUM(pay_benefits), 0) AS SIGNED) AS pay_benefits, \
             CAST(COALESCE(SUM(management), 0) AS SIGNED) AS management, \
             CAST(COALESCE(SUM(care_quality), 0) AS SIGNED) AS care_quality, \
             CAST(COALESCE(SUM(work_life_balance), 0) AS SIGNED) AS work_life_balance, \
             CAST(COALESCE(SUM(overall = 1), 0) AS SIGNED) AS stars_1, \
             CAST(COALESCE(SUM(overall = 2), 0) AS SIGNED) AS stars_2, \
             CAST(COALESCE(SUM(overall = 3), 0) AS SIGNED) AS stars_3, \
             CAST(COALESCE(SUM(overall = 4), 0) AS SIGNED) AS stars_4, \
             CAST(COALESCE(SUM(overall = 5), 0) AS SIGNED) AS stars_5, \
             CAST(COALESCE(SUM(would_recommend), 0) AS SIGNED) AS recommend \
             FROM reviews r WHERE r.hospital_id = ? AND {COUNTED}"
        ))
        .bind(&id)
        .fetch_one(&state.pool)
        .await
        .map_err(ApiError::internal)?;
        let enough = totals.reviews > 0 && totals.reviews >= i64::from(state.min_reviews);
        Ok(HospitalProfile {
            id: row.id,
            name: row.name,
            kind: row.kind,
            address: row.address,
            sido: row.sido,
            sigungu: row.sigungu,
            institution_code: row.institution_code,
            closed: row.closed,
            review_count: totals.reviews,
            verified_members: Band::of(row.verified_members, state.k_anonymity),
            averages: enough.then(|| totals.averages()),
            distribution: enough.then(|| totals.distribution()),
            would_recommend_percent: enough.then(|| rounded(totals.recommend, totals.reviews, 100)),
        })
    };
    let answer = state
        .cache
        .answer("hospital", &format!("hospital:{id}"), freshness, load)
        .await?;
    Ok(answer.public(&headers, freshness))
}

// ---------------------------------------------------------------------------------------
// Reviews

/// A review's ratings, each 1 (worst) to 5 (best) stars.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Ratings {
    /// Overall.
    pub overall: u8,
    /// Work environment.
    pub work_environment: u8,
    /// Pay and benefits.
    pub pay_benefits: u8,
    /// Management.
    pub management: u8,
    /// Care quality and patient safety.
    pub care_quality: u8,
    /// Work-life balance.
    pub work_life_balance: u8,
}

/// What a review says about its author, as decided when it was written: only a label that at
/// least K verified members of the hospital shared then.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Author {
    /// `doctor`, `nurse`, `pharmacist`, `medical_technician`, `administration` or `other`.
    pub job_category: String,
    /// `current` (works there now) or `former`.
    pub tenure: String,
}

/// A review as listed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviewView {
    /// The review's id.
    pub id: String,
    /// The ratings; `null` once deleted or hidden.
    pub ratings: Option<Ratings>,
    /// Title; `null` once deleted, erased or hidden.
    pub title: Option<String>,
    /// What is good about working there.
    pub pros: Option<String>,
    /// What is bad about working there.
    pub cons: Option<String>,
    /// Advice to management, if given.
    pub advice: Option<String>,
    /// Whether the author would recommend working there.
    pub would_recommend: Option<bool>,
    /// Members who found it helpful.
    pub helpful_count: i64,
    /// `published`; `erased` (its author withdrew: texts gone, ratings still count);
    /// `deleted` or `hidden` (only when asked for by id).
    pub state: String,
    /// When it was written, rounded down to the minute.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// The author's job category and tenure, as fixed when the review was written; `null`
    /// when fewer than K members with both were verified at the hospital then (and for
    /// reviews written before labels were decided per label), or once deleted or hidden.
    pub author: Option<Author>,
}

/// One review, with its hospital.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviewDetail {
    /// The hospital reviewed.
    pub hospital_id: String,
    /// The review.
    #[serde(flatten)]
    pub review: ReviewView,
}

/// One page of a hospital's reviews.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviewPage {
    /// Newest or most helpful first.
    pub reviews: Vec<ReviewView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ReviewRow {
    id: String,
    hospital_id: String,
    state: String,
    overall: Option<u8>,
    work_environment: Option<u8>,
    pay_benefits: Option<u8>,
    management: Option<u8>,
    care_quality: Option<u8>,
    work_life_balance: Option<u8>,
    title: Option<String>,
    pros: Option<String>,
    cons: Option<String>,
    advice: Option<String>,
    would_recommend: Option<bool>,
    job_category: Option<String>,
    tenure: Option<String>,
    helpful_count: i64,
    created_at: DateTime<Utc>,
    hidden: bool,
}

/// The columns of a [`ReviewRow`], from `reviews r`.
const REVIEW_COLUMNS: &str = "SELECT r.id, r.hospital_id, r.state, r.overall, \
     r.work_environment, r.pay_benefits, r.management, r.care_quality, r.work_life_balance, \
     r.title, r.pros, r.cons, r.advice, r.would_recommend, r.job_category, r.tenure, \
     r.helpful_count, r.created_at, EXISTS (SELECT 1 FROM moderation_state m \
     WHERE m.target_kind = 'review' AND m.target_id = r.id AND m.hidden) AS hidden \
     FROM reviews r";

impl ReviewRow {
    /// The public view.
    fn view(self) -> ReviewView {
        let hidden = self.hidden && self.state != "deleted";
        let ratings = match (
            self.overall,
            self.work_environment,
            self.pay_benefits,
            self.management,
            self.care_quality,
            self.work_life_balance,
        ) {
            (Some(o), Some(e), Some(p), Some(m), Some(c), Some(w)) if !hidden => Some(Ratings {
                overall: o,
                work_environment: e,
                pay_benefits: p,
                management: m,
                care_quality: c,
                work_life_balance: w,
            }),
            _ => None,
        };
        let shown = |text: Option<String>| text.filter(|_| !hidden);
        let author = match (self.job_category, self.tenure) {
            (Some(job_category), Some(tenure)) if !hidden && self.state != "deleted" => {
                Some(Author {
                    job_category,
                    tenure,
                })
            }
            _ => None,
        };
        ReviewView {
            id: self.id,
            ratings,
            title: shown(self.title),
            pros: shown(self.pros),
            cons: shown(self.cons),
            advice: shown(self.advice),
            would_recommend: self.would_recommend.filter(|_| !hidden),
            helpful_count: self.helpful_count,
            state: if hidden {
                "hidden".to_owned()
            } else {
                self.state
            },
            created_at: ward_platform::time::minute(self.created_at),
            author,
        }
    }
}

/// Query parameters of a hospital's review listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewFilter {
    /// `new` (newest first, the default) or `helpful` (most helpful first).
    pub sort: Option<String>,
    /// Only reviews whose label shows this job category.
    pub job_category: Option<String>,
    /// Only reviews whose label shows `current` or `former` staff.
    pub tenure: Option<String>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (of the same sort).
    pub cursor: Option<String>,
}

/// Where a page of reviews starts: after the item with this sort key.
#[derive(Debug, Clone, Serialize)]
enum After {
    New(Time, Uuid),
    Helpful(i64, Time, Uuid),
}

/// `GET /api/v1/hospitals/{id}/reviews`: counted reviews, newest or most helpful first.
#[utoipa::path(
    get,
    path = "/api/v1/hospitals/{id}/reviews",
    operation_id = "hospital_reviews",
    tag = "hospitals",
    params(
        ("id" = Uuid, Path, description = "The hospital's id."),
        ReviewFilter,
        ("Ward-Min-Version" = Option<String>, Header, pattern = r"^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[1-9][0-9]{0,17}$", description = "`review:<id>:<version>`: wait until the read model shows that review version (signed-in members only, 2 s at most; others are told at once)."),
    ),
    responses(
        (status = 200, description = "A page of reviews (deleted and hidden ones are left out).", body = ReviewPage),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`."),
        (status = 400, description = "Unknown or ill-typed query parameters (`invalid_query`), a cursor this API did not give out for this sort (`cursor_invalid`), or a bad `Ward-Min-Version` (`min_version_invalid`, `min_version_kind_unknown`).", body = ErrorBody),
        (status = 404, description = "There is no such hospital (`hospital_not_found`).", body = ErrorBody),
        (status = 422, description = "An unknown `sort` (`sort_unknown`), `job_category` (`job_category_unknown`) or `tenure` (`tenure_unknown`); or `limit` not 1–100 (`limit_out_of_range`).", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn reviews(
    State(state): State<HospitalState>,
    Path(id): Path<String>,
    ApiQuery(filter): ApiQuery<ReviewFilter>,
    wanted: Wanted,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| hospital_not_found())?
        .to_string();
    let helpful = match filter.sort.as_deref() {
        None | Some("new") => false,
        Some("helpful") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "sort_unknown",
                format!("{other:?} is not one of new, helpful"),
            ))
        }
    };
    let job_category = known(filter.job_category, &JOB_CATEGORIES, "job_category_unknown")?;
    let tenure = known(filter.tenure, &TENURES, "tenure_unknown")?;
    let limit = cursor::limit(filter.limit)?;
    let after = if helpful {
        cursor::decode(filter.cursor.as_deref())?.map(|(h, t, i)| After::Helpful(h, t, i))
    } else {
        cursor::decode(filter.cursor.as_deref())?.map(|(t, i)| After::New(t, i))
    };
    let freshness = state.freshness(wanted).await?;
    let what = cache::key(
        "reviews",
        &(&id, helpful, &job_category, &tenure, limit, &after),
    )?;
    let load = async {
        if !state.exists(&id).await? {
            return Err(hospital_not_found());
        }
        let mut query = QueryBuilder::<MySql>::new(REVIEW_COLUMNS);
        query
            .push(" WHERE r.hospital_id = ")
            .push_bind(id.clone())
            .push(" AND ")
            .push(COUNTED);
        // Over the stored labels, which are the labels readers see: an unlabelled review
        // matches no filter, so no filter tells anything about it.
        for (column, value) in [("job_category", &job_category), ("tenure", &tenure)] {
            if let Some(value) = value {
                query
                    .push(format_args!(" AND r.{column} = "))
                    .push_bind(value.clone());
            }
        }
        match &after {
            None => {}
            Some(After::New(time, id)) => {
                query
                    .push(" AND (r.created_at < ")
                    .push_bind(*time)
                    .push(" OR (r.created_at = ")
                    .push_bind(*time)
                    .push(" AND r.id < ")
                    .push_bind(id.to_string())
                    .push("))");
            }
            Some(After::Helpful(count, time, id)) => {
                query
                    .push(" AND (r.helpful_count < ")
                    .push_bind(*count)
                    .push(" OR (r.helpful_count = ")
                    .push_bind(*count)
                    .push(" AND (r.created_at < ")
                    .push_bind(*time)
                    .push(" OR (r.created_at = ")
                    .push_bind(*time)
                    .push(" AND r.id < ")
                    .push_bind(id.to_string())
                    .push("))))");
            }
        }
        query.push(if helpful {
            " ORDER BY r.helpful_count DESC, r.created_at DESC, r.id DESC LIMIT "
        } else {
            " ORDER BY r.created_at DESC, r.id DESC LIMIT "
        });
        query.push_bind(limit + 1);
        let rows: Vec<ReviewRow> = query
            .build_query_as()
            .fetch_all(&state.pool)
            .await
            .map_err(ApiError::internal)?;
        let (rows, next_cursor) = if helpful {
            cursor::page(rows, limit, |r| {
                (r.helpful_count, r.created_at, r.id.clone())
            })
        } else {
            cursor::page(rows, limit, |r| (r.created_at, r.id.clone()))
        };
        let reviews = rows.into_iter().map(ReviewRow::view).collect();
        Ok(ReviewPage {
            reviews,
            next_cursor,
        })
    };
    let answer = state
        .cache
        .answer("hospital", &what, freshness, load)
        .await?;
    Ok(answer.public(&headers, freshness))
}

/// `GET /api/v1/reviews/{id}`: one review, whatever became of it.
#[utoipa::path(
    get,
    path = "/api/v1/reviews/{id}",
    operation_id = "review",
    tag = "hospitals",
    params(
        ("id" = Uuid, Path, description = "The review's id."),
        ("Ward-Min-Version" = Option<String>, Header, pattern = r"^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[1-9][0-9]{0,17}$", description = "`review:<id>:<version>`: wait until the read model shows that review version (signed-in members only, 2 s at most; others are told at once)."),
    ),
    responses(
        (status = 200, description = "The review; a deleted or hidden one with its `state` and without content.", body = ReviewDetail),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`."),
        (status = 400, description = "A malformed `Ward-Min-Version` (`min_version_invalid`) or one naming anything but a review (`min_version_kind_unknown`).", body = ErrorBody),
        (status = 404, description = "There is no such review (`review_not_found`).", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn review(
    State(state): State<HospitalState>,
    Path(id): Path<String>,
    wanted: Wanted,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| review_not_found())?
        .to_string();
    let freshness = state.freshness(wanted).await?;
    let load = async {
        let row: ReviewRow = sqlx::query_as(&format!("{REVIEW_COLUMNS} WHERE r.id = ?"))
            .bind(&id)
            .fetch_optional(&state.pool)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(review_not_found)?;
        Ok(ReviewDetail {
            hospital_id: row.hospital_id.clone(),
            review: row.view(),
        })
    };
    let answer = state
        .cache
        .answer("hospital", &format!("review:{id}"), freshness, load)
        .await?;
    Ok(answer.public(&headers, freshness))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_and_percentages_round_half_up() {
        assert_eq!(rounded(13, 3, 10), 43, "4.33");
        assert_eq!(rounded(9, 2, 10), 45, "4.5");
        assert_eq!(rounded(7, 4, 10), 18, "1.75");
        assert_eq!(rounded(2, 3, 100), 67, "66.7 %");
        assert_eq!(rounded(1, 8, 100), 13, "12.5 %");
        let totals = Totals {
            reviews: 3,
            overall: 13,
            work_environment: 9,
            pay_benefits: 3,
            management: 6,
            care_quality: 15,
            work_life_balance: 7,
            ..Totals::default()
        };
        assert_eq!(
            totals.averages(),
            Averages {
                overall: 4.3,
                work_environment: 3.0,
                pay_benefits: 1.0,
                management: 2.0,
                care_quality: 5.0,
                work_life_balance: 2.3,
            }
        );
    }

    #[test]
    fn filters_take_known_values_only() {
        assert!(known(Some("nurse".to_owned()), &JOB_CATEGORIES, "c").is_ok());
        assert_eq!(
            known(
                Some("janitor".to_owned()),
                &JOB_CATEGORIES,
                "job_category_unknown"
            )
            .err()
            .map(|e| e.code().to_owned()),
            Some("job_category_unknown".to_owned())
        );
        assert!(matches!(known(None, &KINDS, "c"), Ok(None)));
        assert!(text_filter(Some("  ".to_owned()), 50, "q_invalid", "q").is_err());
        assert!(text_filter(Some("가".repeat(51)), 50, "q_invalid", "q").is_err());
        assert_eq!(
            text_filter(Some(" 세브 ".to_owned()), 50, "q_invalid", "q")
                .ok()
                .flatten(),
            Some("세브".to_owned())
        );
    }

    fn row(state: &str, hidden: bool) -> ReviewRow {
        ReviewRow {
            id: "r".to_owned(),
            hospital_id: "h".to_owned(),
            state: state.to_owned(),
            overall: Some(4),
            work_environment: Some(3),
            pay_benefits: Some(2),
            management: Some(2),
            care_quality: Some(5),
            work_life_balance: Some(1),
            title: Some("제목".to_owned()),
            pros: Some("장점".to_owned()),
            cons: Some("단점".to_owned()),
            advice: None,
            would_recommend: Some(true),
            job_category: Some("nurse".to_owned()),
            tenure: Some("current".to_owned()),
            helpful_count: 2,
            created_at: DateTime::from_timestamp(1_795_809_791, 0).unwrap_or_default(),
            hidden,
        }
    }

    #[test]
    fn a_review_shows_the_label_it_was_written_with_and_nothing_once_hidden() {
        let shown = row("published", false).view();
        assert_eq!(
            shown.author,
            Some(Author {
                job_category: "nurse".to_owned(),
                tenure: "current".to_owned()
            })
        );
        assert_eq!(
            shown.created_at.timestamp() % 60,
            0,
            "rounded to the minute"
        );
        let unlabelled = ReviewRow {
            job_category: None,
            tenure: None,
            ..row("published", false)
        };
        assert_eq!(unlabelled.view().author, None);
        assert_eq!(row("deleted", false).view().author, None);
        let hidden = row("published", true).view();
        assert_eq!(
            (
                hidden.state.as_str(),
                hidden.title,
                hidden.ratings,
                hidden.author
            ),
            ("hidden", None, None, None)
        );
    }
}
