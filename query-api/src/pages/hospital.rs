//! Hospital pages: search, a hospital with its ratings and reviews, and the review and claim
//! forms. The "write a review" button shows only to a member verified at the hospital who
//! has not reviewed it yet; visitors and unverified members never see it.

use std::collections::HashSet;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;
use ward_platform::http::{ApiError, ApiQuery};
use ward_web::page::percent_encode;
use ward_web::Chrome;

use super::{decode, form_key, query, wanted, Pages, Viewer};
use crate::consistency::Wanted;
use crate::hospital::{
    self, Averages, Distribution, HospitalPage, HospitalProfile, HospitalSummary, ReviewFilter,
    ReviewPage, ReviewView, Search, JOB_CATEGORIES, KINDS,
};

/// The 17 provinces and metropolitan cities (시도), as the catalogue names them.
const REGIONS: [&str; 17] = [
    "서울", "부산", "대구", "인천", "광주", "대전", "울산", "세종", "경기", "강원", "충북", "충남",
    "전북", "전남", "경북", "경남", "제주",
];

#[derive(Template)]
#[template(path = "hospitals.html")]
struct Hospitals<'a> {
    chrome: &'a Chrome,
    q: String,
    sido: String,
    kind: String,
    regions: [&'static str; 17],
    kinds: [&'static str; 8],
    hospitals: Vec<HospitalSummary>,
    next_url: Option<String>,
}

/// `GET /hospitals?q&sido&kind&cursor`: hospital search with region and kind filters.
pub async fn search(State(pages): State<Pages>, viewer: Viewer, uri: Uri) -> Response {
    let result = async {
        let mut params: Search = query(&uri)?;
        // An empty select means "any".
        for field in [&mut params.q, &mut params.sido, &mut params.kind] {
            if field.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *field = None;
            }
        }
        let (q, sido, kind) = (
            params.q.clone().unwrap_or_default(),
            params.sido.clone().unwrap_or_default(),
            params.kind.clone().unwrap_or_default(),
        );
        let page = decode::<HospitalPage>(
            hospital::search(
                State(pages.hospital.clone()),
                ApiQuery(params),
                Wanted::default(),
                HeaderMap::new(),
            )
            .await,
        )
        .await?
        .value;
        let next_url = page.next_cursor.map(|next| {
            format!(
                "/hospitals?q={}&sido={}&kind={}&cursor={next}",
                percent_encode(&q),
                percent_encode(&sido),
                percent_encode(&kind)
            )
        });
        Ok(Hospitals {
            chrome: &viewer.chrome,
            q,
            sido,
            kind,
            regions: REGIONS,
            kinds: KINDS,
            hospitals: page.hospitals,
            next_url,
        })
    }
    .await;
    viewer.page(result)
}

#[derive(Template)]
#[template(path = "hospital.html")]
struct HospitalView<'a> {
    chrome: &'a Chrome,
    h: HospitalProfile,
    reviews: Vec<ReviewView>,
    next_url: Option<String>,
    sort: String,
    job_category: String,
    tenure: String,
    jobs: [&'static str; 6],
    verified_here: bool,
    reviewed: bool,
    mine: HashSet<String>,
    stale: bool,
}

impl HospitalView<'_> {
    fn averages(&self, a: &Averages) -> [(&'static str, f64); 6] {
        let t = self.chrome.t;
        [
            (t.overall, a.overall),
            (t.work_environment, a.work_environment),
            (t.pay_benefits, a.pay_benefits),
            (t.management, a.management),
            (t.care_quality, a.care_quality),
            (t.work_life_balance, a.work_life_balance),
        ]
    }

    fn distribution(&self, d: &Distribution) -> [(u8, i64); 5] {
        [
            (5, d.five),
            (4, d.four),
            (3, d.three),
            (2, d.two),
            (1, d.one),
        ]
    }

    fn total(&self, d: &Distribution) -> i64 {
        (d.one + d.two + d.three + d.four + d.five).max(1)
    }

    fn stars(&self, n: &u8) -> String {
        let n = usize::from(*n.min(&5));
        format!("{}{}", "★".repeat(n), "☆".repeat(5 - n))
    }

    fn is_mine(&self, id: &str) -> bool {
        self.mine.contains(id)
    }

    /// The band of verified members, in the page's language.
    fn verified_members(&self) -> String {
        let band = self.h.verified_members;
        self.chrome.lang.verified_members(band.min, band.max)
    }
}

/// The hospital page's query: the review filter plus `v`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HospitalQuery {
    sort: Option<String>,
    job_category: Option<String>,
    tenure: Option<String>,
    cursor: Option<String>,
    v: Option<String>,
}

/// `GET /hospitals/{id}?sort&job_category&tenure&cursor`: a hospital's information, rating
/// summary and reviews.
pub async fn hospital(
    State(pages): State<Pages>,
    viewer: Viewer,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let result = async {
        let params: HospitalQuery = query(&uri)?;
        let nonempty = |v: Option<String>| v.filter(|v| !v.is_empty());
        let (job_category, tenure) = (nonempty(params.job_category), nonempty(params.tenure));
        let sort = nonempty(params.sort).unwrap_or_else(|| "new".to_owned());
        let wait = wanted(&pages, &viewer, params.v.as_deref());
        let profile = profile_of(&pages, &id, wait.clone()).await?;
        let h = profile.value;
        let page = decode::<ReviewPage>(
            hospital::reviews(
                State(pages.hospital.clone()),
                Path(id.clone()),
                ApiQuery(ReviewFilter {
                    sort: Some(sort.clone()),
                    job_category: job_category.clone(),
                    tenure: tenure.clone(),
                    limit: None,
                    cursor: params.cursor,
                }),
                wait,
                HeaderMap::new(),
            )
            .await,
        )
        .await?;
        let (mut verified_here, mut reviewed, mut mine) = (false, false, HashSet::new());
        if let Some(session) = &viewer.session {
            let members_part = async {
                // After the reader's own review, the member model must know it too.
                pages
                    .me
                    .freshness(wanted(&pages, &viewer, params.v.as_deref()))
                    .await?;
                let hospital_id = Uuid::parse_str(&h.id).map_err(ApiError::internal)?;
                let verified_here = super::me::verified(&pages, session)
                    .await?
                    .iter()
                    .any(|(hospital, _, _)| *hospital == hospital_id);
                let reviewed = super::me::reviewed(&pages, session, hospital_id).await?;
                let ids: Vec<Uuid> = page
                    .value
                    .reviews
                    .iter()
                    .filter_map(|r| Uuid::parse_str(&r.id).ok())
                    .collect();
                let mine: HashSet<String> = pages
                    .me
                    .owned(session.member_id, &ids)
                    .await?
                    .into_iter()
                    .map(|id| id.to_string())
                    .collect();
                Ok::<_, ApiError>((verified_here, reviewed, mine))
            };
            match members_part.await {
                Ok(found) => (verified_here, reviewed, mine) = found,
                // The member model or the event store is down: the page is shown as to any
                // reader (the member's own commands could not run now anyway).
                Err(error) if error.status() == StatusCode::SERVICE_UNAVAILABLE => {}
                Err(error) => return Err(error),
            }
        }
        let next_url = page.value.next_cursor.map(|next| {
            format!(
                "/hospitals/{}?sort={}&job_category={}&tenure={}&cursor={next}",
                h.id,
                percent_encode(&sort),
                percent_encode(job_category.as_deref().unwrap_or("")),
                percent_encode(tenure.as_deref().unwrap_or(""))
            )
        });
        Ok(HospitalView {
            chrome: &viewer.chrome,
            h,
            reviews: page.value.reviews,
            next_url,
            sort,
            job_category: job_category.unwrap_or_default(),
            tenure: tenure.unwrap_or_default(),
            jobs: JOB_CATEGORIES,
            verified_here,
            reviewed,
            mine,
            stale: profile.stale || page.stale,
        })
    }
    .await;
    viewer.page(result)
}

/// The hospital a form is about; 404 when there is none.
async fn hospital_named(pages: &Pages, id: &str) -> Result<HospitalProfile, ApiError> {
    Ok(profile_of(pages, id, Wanted::default()).await?.value)
}

/// The hospital `id` as the API shows it, once the read model reached `wait`.
async fn profile_of(
    pages: &Pages,
    id: &str,
    wait: Wanted,
) -> Result<super::Decoded<HospitalProfile>, ApiError> {
    let answer = hospital::profile(
        State(pages.hospital.clone()),
        Path(id.to_owned()),
        wait,
        HeaderMap::new(),
    )
    .await;
    decode(answer).await
}

#[derive(Template)]
#[template(path = "review_form.html")]
struct ReviewForm<'a> {
    chrome: &'a Chrome,
    id: String,
    name: String,
    ratings: [(&'static str, &'static str); 6],
    key: String,
}

/// `GET /hospitals/{id}/review`: the review form, for members verified at the hospital.
pub async fn review_form(
    State(pages): State<Pages>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let session = viewer.member()?;
        let h = hospital_named(&pages, &id).await?;
        let hospital_id = Uuid::parse_str(&h.id).map_err(ApiError::internal)?;
        let verified = super::me::verified(&pages, session).await?;
        if !verified
            .iter()
            .any(|(hospital, _, _)| *hospital == hospital_id)
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not_insider",
                "only members verified at this hospital can review it",
            ));
        }
        let t = viewer.chrome.t;
        Ok(ReviewForm {
            chrome: &viewer.chrome,
            id: h.id,
            name: h.name,
            ratings: [
                ("overall", t.overall),
                ("work_environment", t.work_environment),
                ("pay_benefits", t.pay_benefits),
                ("management", t.management),
                ("care_quality", t.care_quality),
                ("work_life_balance", t.work_life_balance),
            ],
            key: form_key(),
        })
    }
    .await;
    viewer.page(result)
}

#[derive(Template)]
#[template(path = "claim_form.html")]
struct ClaimForm<'a> {
    chrome: &'a Chrome,
    id: String,
    name: String,
    jobs: [&'static str; 6],
}

/// `GET /hospitals/{id}/claim`: the form claiming to work at the hospital.
pub async fn claim_form(
    State(pages): State<Pages>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        viewer.member()?;
        let h = hospital_named(&pages, &id).await?;
        Ok(ClaimForm {
            chrome: &viewer.chrome,
            id: h.id,
            name: h.name,
            jobs: JOB_CATEGORIES,
        })
    }
    .await;
    viewer.page(result)
}

/// A hospital's name for pages that know only its id; the id when the catalogue lacks it.
pub async fn name_of(pages: &Pages, id: Uuid) -> Result<String, ApiError> {
    match hospital_named(pages, &id.to_string()).await {
        Ok(h) => Ok(h.name),
        Err(error) if error.status() == StatusCode::NOT_FOUND => Ok(id.to_string()),
        Err(error) => Err(error),
    }
}
