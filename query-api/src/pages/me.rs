//! The member's own pages: my page (affiliations, notifications, activity, sign-out,
//! withdrawal) and a claim's page, where the member verifies it by work e-mail code or
//! waits for a moderator.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;
use ward_platform::http::{ApiError, ApiQuery};
use ward_platform::session::{Member, Session};
use ward_web::Chrome;

use super::{decode, query, wanted, Pages, Viewer};
use crate::consistency::Wanted;
use crate::me::{
    self, ActivityItem, ActivityPage, ActivityQuery, Affiliation, Affiliations, NotificationPage,
    NotificationsQuery,
};

/// Items of activity and notifications my page shows.
const RECENT: i64 = 20;

/// The member's affiliations.
async fn affiliations(
    pages: &Pages,
    session: &Session,
    wait: Wanted,
) -> Result<super::Decoded<Affiliations>, ApiError> {
    decode(
        me::affiliations(
            State(pages.me.clone()),
            Member(session.clone()),
            wait,
            HeaderMap::new(),
        )
        .await,
    )
    .await
}

/// The hospitals where the member's claim is verified: (hospital, its name, job category).
pub async fn verified(
    pages: &Pages,
    session: &Session,
) -> Result<Vec<(Uuid, String, String)>, ApiError> {
    let mut found = Vec::new();
    for a in affiliations(pages, session, Wanted::default())
        .await?
        .value
        .affiliations
    {
        if a.state == "verified" {
            let name = super::hospital::name_of(pages, a.hospital_id).await?;
            found.push((a.hospital_id, name, a.job_category));
        }
    }
    Ok(found)
}

/// The member's latest `limit` items of activity (of `kind`, if given).
async fn activity(
    pages: &Pages,
    session: &Session,
    kind: Option<&str>,
    limit: i64,
) -> Result<ActivityPage, ApiError> {
    let answer = me::activity(
        State(pages.me.clone()),
        Member(session.clone()),
        ApiQuery(ActivityQuery {
            kind: kind.map(str::to_owned),
            limit: Some(limit),
            cursor: None,
        }),
        Wanted::default(),
        HeaderMap::new(),
    )
    .await;
    Ok(decode(answer).await?.value)
}

/// Whether the member has a review of `hospital` that is not deleted.
pub async fn reviewed(pages: &Pages, session: &Session, hospital: Uuid) -> Result<bool, ApiError> {
    let items = activity(pages, session, Some("review"), 100).await?.items;
    Ok(items
        .iter()
        .any(|i| i.hospital_id == Some(hospital) && i.state != "deleted"))
}

#[derive(Template)]
#[template(path = "me.html")]
struct MyPage<'a> {
    chrome: &'a Chrome,
    affiliations: Vec<(Affiliation, String)>,
    notifications: NotificationPage,
    activity: Vec<ActivityItem>,
    stale: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeQuery {
    v: Option<String>,
}

/// `GET /me`: the member's affiliations, notifications and activity.
pub async fn my_page(State(pages): State<Pages>, viewer: Viewer, uri: Uri) -> Response {
    let result = async {
        let session = viewer.member()?;
        let params: MeQuery = query(&uri)?;
        let found = affiliations(
            &pages,
            session,
            wanted(&pages, &viewer, params.v.as_deref()),
        )
        .await?;
        let mut named = Vec::new();
        for a in found.value.affiliations {
            let name = super::hospital::name_of(&pages, a.hospital_id).await?;
            named.push((a, name));
        }
        let notifications = decode::<NotificationPage>(
            me::notifications(
                State(pages.me.clone()),
                Member(session.clone()),
                ApiQuery(NotificationsQuery {
                    unread: None,
                    limit: Some(RECENT),
                    cursor: None,
                }),
                Wanted::default(),
                HeaderMap::new(),
            )
            .await,
        )
        .await?
        .value;
        let activity = activity(&pages, session, None, RECENT).await?;
        Ok(MyPage {
            chrome: &viewer.chrome,
            affiliations: named,
            notifications,
            activity: activity.items,
            stale: found.stale,
        })
    }
    .await;
    viewer.page(result)
}

#[derive(Template)]
#[template(path = "claim.html")]
struct ClaimPage<'a> {
    chrome: &'a Chrome,
    claim: Affiliation,
    name: String,
    sent: bool,
    stale: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimQuery {
    sent: Option<bool>,
    v: Option<String>,
}

/// `GET /me/claims/{id}?sent&v`: one of the member's claims and how to get it verified.
pub async fn claim(
    State(pages): State<Pages>,
    viewer: Viewer,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let result = async {
        let session = viewer.member()?;
        let params: ClaimQuery = query(&uri)?;
        let not_found = || ApiError::not_found("claim_not_found", "you have no such claim");
        let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
        let found = affiliations(
            &pages,
            session,
            wanted(&pages, &viewer, params.v.as_deref()),
        )
        .await?;
        let claim = found
            .value
            .affiliations
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(not_found)?;
        let name = super::hospital::name_of(&pages, claim.hospital_id).await?;
        Ok(ClaimPage {
            chrome: &viewer.chrome,
            claim,
            name,
            sent: params.sent.unwrap_or(false),
            stale: found.stale,
        })
    }
    .await;
    viewer.page(result)
}
