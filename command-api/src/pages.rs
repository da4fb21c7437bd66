//! The command side's two pages: sign-in (the configured identity providers) and the
//! moderators' queue (reported items to hide or restore, open claims to decide). Both read
//! what only the command side has: the providers' configuration and the event store.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use sqlx::PgPool;
use ward_platform::http::ApiError;
use ward_platform::session::cookie;
use ward_web::page::percent_encode;
use ward_web::{error_page, html, Chrome};

use crate::app::AppState;
use crate::claim_queue::{open_claims, OpenClaim};
use crate::members::{now, Actor};

/// Most items of each list the queue shows.
const QUEUE_ITEMS: i64 = 100;

/// The pages' routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/signin", get(sign_in))
        .route("/moderation", get(queue))
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignIn<'a> {
    chrome: &'a Chrome,
    /// (start address, provider name, style class).
    providers: Vec<(String, &'static str, &'static str)>,
}

#[derive(Debug, Deserialize)]
struct SignInQuery {
    return_to: Option<String>,
}

/// `GET /auth/signin?return_to`: the sign-in choices.
async fn sign_in(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let chrome = Chrome::new(
        &uri,
        &headers,
        cookie(&headers, &state.session_cookie).is_some(),
    );
    let return_to = axum::extract::Query::<SignInQuery>::try_from_uri(&uri)
        .ok()
        .and_then(|q| q.0.return_to)
        .filter(|r| ward_web::page::is_local_path(r))
        .unwrap_or_else(|| "/".to_owned());
    let providers = state
        .auth
        .providers()
        .into_iter()
        .map(|name| {
            let (label, class) = match name {
                "kakao" => ("카카오", "kakao"),
                _ => ("OpenID Connect", "oidc"),
            };
            let href = format!(
                "/auth/{name}/start?return_to={}",
                percent_encode(&return_to)
            );
            (href, label, class)
        })
        .collect();
    html(
        StatusCode::OK,
        &chrome,
        &SignIn {
            chrome: &chrome,
            providers,
        },
    )
}

/// A reported item as moderators see it: what, how often and why, never by whom.
#[derive(Debug, sqlx::FromRow)]
struct Reported {
    case_id: String,
    reports: i64,
    reasons: Vec<String>,
    suggested: Option<String>,
    latest: String,
}

/// A reported item ready to show.
struct ReportedView {
    kind: String,
    target_id: String,
    link: Option<String>,
    reports: i64,
    reasons: Vec<String>,
    /// The reason the hide form suggests: the most frequent one reported.
    suggested: String,
    hidden: bool,
}

/// Items with reports that are waiting (latest event a report) or hidden (latest a hide),
/// most reported first.
async fn reported(pool: &PgPool) -> Result<Vec<ReportedView>, ApiError> {
    let rows: Vec<Reported> = sqlx::query_as(
        "SELECT aggregate_id AS case_id, \
         count(*) FILTER (WHERE event_type = 'ReportFiled') AS reports, \
         coalesce(array_agg(DISTINCT payload -> 'ReportFiled' ->> 'reason') \
             FILTER (WHERE event_type = 'ReportFiled'), '{}') AS reasons, \
         mode() WITHIN GROUP (ORDER BY payload -> 'ReportFiled' ->> 'reason') \
             FILTER (WHERE event_type = 'ReportFiled') AS suggested, \
         (array_agg(event_type ORDER BY sequence DESC))[1] AS latest \
         FROM events WHERE aggregate_type = 'moderation' GROUP BY aggregate_id \
         HAVING (array_agg(event_type ORDER BY sequence DESC))[1] IN ('ReportFiled', 'TargetHidden') \
         ORDER BY reports DESC, aggregate_id LIMIT $1",
    )
    .bind(QUEUE_ITEMS)
    .fetch_all(pool)
    .await
    .map_err(ApiError::internal)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let (kind, target) = row.case_id.split_once(':')?;
            Some(ReportedView {
                link: (kind == "post").then(|| format!("/posts/{target}")),
                kind: kind.to_owned(),
                target_id: target.to_owned(),
                reports: row.reports,
                reasons: row.reasons,
                suggested: row.suggested.unwrap_or_default(),
                hidden: row.latest == "TargetHidden",
            })
        })
        .collect())
}

#[derive(Template)]
#[template(path = "moderation.html")]
struct Queue<'a> {
    chrome: &'a Chrome,
    reported: Vec<ReportedView>,
    reasons: [&'static str; 5],
    claims: Vec<(OpenClaim, i64)>,
}

/// `GET /moderation`: the moderators' queue (moderators only).
async fn queue(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let chrome = Chrome::new(
        &uri,
        &headers,
        cookie(&headers, &state.session_cookie).is_some(),
    );
    let result = async {
        actor?.moderator_only()?;
        let reported = reported(&state.pool).await?;
        let today = i64::try_from(now()).unwrap_or(i64::MAX);
        let claims = open_claims(&state.pool, QUEUE_ITEMS, None)
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|c| {
                let days = (today - c.submitted_at).max(0) / 86_400;
                (c, days)
            })
            .collect();
        Ok::<_, ApiError>((reported, claims))
    }
    .await;
    match result {
        Ok((reported, claims)) => html(
            StatusCode::OK,
            &chrome,
            &Queue {
                chrome: &chrome,
                reported,
                reasons: [
                    "personal_information",
                    "abuse",
                    "spam",
                    "false_information",
                    "other",
                ],
                claims,
            },
        ),
        Err(error) => error_page(&chrome, &error),
    }
}
