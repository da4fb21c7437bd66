//! HTML forms: the web pages post here, and each form runs the same handler as its JSON
//! endpoint, then follows post/redirect/get.
//!
//! A form's fields become the endpoint's JSON body (so validation, authorisation,
//! idempotency and rate limits are the API's own), the hidden `idempotency_key` field becomes
//! the `Idempotency-Key` header, and the answer is:
//! - success: `303 See Other` to the page that shows the result, carrying the new version as
//!   `?v=kind:id:version` so that page waits for it (read-your-writes for browsers);
//! - failure: the error page in the reader's language with the API's status and code.
//!
//! With the `Ward-Inline: 1` header (sent by the page script), both answers are JSON instead:
//! `{"location": …}` or `{"error", "message"}`, the message in the reader's language, so the
//! script shows errors inside the form without losing what was typed.

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use uuid::Uuid;
use ward_platform::http::{ApiError, ApiJson, CorrelationId};
use ward_platform::session::{cookie, Member};
use ward_web::page::is_local_path;
use ward_web::{error_page, Chrome};

use crate::app::AppState;
use crate::members::Actor;
use crate::openapi::Changed;
use crate::{claims, comments, email, members, moderation, posts, reviews};

/// The header the page script sends to get JSON answers.
const INLINE: &str = "ward-inline";

/// The form routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/posts", post(create_post))
        .route("/posts/{id}/edit", post(edit_post))
        .route("/posts/{id}/delete", post(delete_post))
        .route("/posts/{id}/like", post(like_post))
        .route("/posts/{id}/comments", post(create_comment))
        .route(
            "/posts/{id}/comments/{comment}/delete",
            post(delete_comment),
        )
        .route("/posts/{id}/accepted-answer", post(accept_answer))
        .route("/hospitals/{id}/reviews", post(write_review))
        .route("/reviews/{id}/helpful", post(helpful))
        .route("/reports", post(report))
        .route("/hospitals/{id}/claims", post(submit_claim))
        .route("/claims/{id}/email", post(send_code))
        .route("/claims/{id}/email/confirmation", post(confirm_code))
        .route("/claims/{id}/approval", post(approve_claim))
        .route("/claims/{id}/rejection", post(reject_claim))
        .route("/moderation/{kind}/{id}/hide", post(hide))
        .route("/moderation/{kind}/{id}/restore", post(restore))
        .route("/me/notifications/read", post(notifications_read))
        .route("/me/withdraw", post(withdraw))
        .route("/signout", post(sign_out))
}

/// A submitted form: its fields, and how the browser wants the answer.
pub struct Submitted {
    fields: Vec<(String, String)>,
    inline: bool,
    chrome: Chrome,
}

impl FromRequest<AppState> for Submitted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let headers = request.headers();
        let signed_in = cookie(headers, &state.session_cookie).is_some();
        let chrome = Chrome::new(request.uri(), headers, signed_in);
        let inline = headers.contains_key(INLINE);
        match Form::<Vec<(String, String)>>::from_request(request, state).await {
            Ok(Form(fields)) => Ok(Self {
                fields,
                inline,
                chrome,
            }),
            Err(rejection) => {
                let error =
                    ApiError::new(rejection.status(), "invalid_form", rejection.body_text());
                Err(answer(&chrome, inline, Err(error)))
            }
        }
    }
}

/// Where a form leads on success, and any cookie to set on the way.
struct Done {
    location: String,
    cookie: Option<HeaderValue>,
}

impl Done {
    fn to(location: String) -> Self {
        Self {
            location,
            cookie: None,
        }
    }
}

impl Submitted {
    /// The field `name`, trimmed; absent when missing or blank.
    fn text(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// The endpoint's JSON body made of the text fields `names` (blank ones left out) and
    /// `extra`; fields of the wrong shape are the API's 422 `invalid_body`.
    fn body<T: DeserializeOwned>(&self, names: &[&str], extra: Value) -> Result<T, ApiError> {
        let mut object = Map::new();
        for name in names {
            if let Some(value) = self.text(name) {
                object.insert((*name).to_owned(), Value::String(value.to_owned()));
            }
        }
        if let Value::Object(extra) = extra {
            object.extend(extra);
        }
        serde_json::from_value(Value::Object(object))
            .map_err(|error| ApiError::invalid("invalid_body", error.to_string()))
    }

    /// The request headers an endpoint reads: `Idempotency-Key` from the hidden field.
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(key) = self.text("idempotency_key") {
            if let Ok(value) = HeaderValue::from_str(key) {
                headers.insert("idempotency-key", value);
            }
        }
        headers
    }

    /// The local page named by the `back` field, or `fallback`.
    fn back(&self, fallback: &str) -> String {
        self.text("back")
            .filter(|b| is_local_path(b))
            .unwrap_or(fallback)
            .to_owned()
    }

    fn finish(&self, result: Result<Done, ApiError>) -> Response {
        answer(&self.chrome, self.inline, result)
    }
}

fn answer(chrome: &Chrome, inline: bool, result: Result<Done, ApiError>) -> Response {
    match (result, inline) {
        (Ok(done), true) => {
            let mut response = Json(json!({ "location": done.location })).into_response();
            if let Some(cookie) = done.cookie {
                response.headers_mut().insert(SET_COOKIE, cookie);
            }
            response
        }
        (Ok(done), false) => {
            let mut headers = HeaderMap::new();
            if let Ok(location) = HeaderValue::from_str(&done.location) {
                headers.insert(LOCATION, location);
            }
            if let Some(cookie) = done.cookie {
                headers.insert(SET_COOKIE, cookie);
            }
            (StatusCode::SEE_OTHER, headers).into_response()
        }
        (Err(error), true) => {
            let message = chrome
                .lang
                .error_message(error.code())
                .unwrap_or(error.message());
            let body = json!({"error": error.code(), "message": message});
            (error.status(), Json(body)).into_response()
        }
        (Err(error), false) => error_page(chrome, &error),
    }
}

/// The id and version a create answered (an idempotent create answers a stored response).
async fn read(response: Response) -> Result<Changed, ApiError> {
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map_err(ApiError::internal)?;
    serde_json::from_slice(&bytes).map_err(ApiError::internal)
}

/// `?v=kind:id:version` for the page that shows an aggregate after a command.
fn version_of(kind: &str, done: &Changed) -> String {
    format!("v={kind}:{}:{}", done.id, done.version)
}

fn post_page(id: &str, done: &Changed) -> String {
    format!("/posts/{id}?{}", version_of("post", done))
}

/// The badge choice of the post form: nothing, the job category, or a hospital.
fn badge(choice: Option<&str>) -> Value {
    match choice {
        None | Some("") => Value::Null,
        Some("job") => json!({}),
        Some(hospital) => json!({ "hospital_id": hospital }),
    }
}

async fn create_post(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let mut body = json!({});
        if let Value::Object(choice) = badge(form.text("badge")) {
            body["badge"] = Value::Object(choice);
        }
        let new = form.body(&["board", "title", "body"], body)?;
        let response = posts::create(
            State(state),
            actor,
            correlation,
            form.headers(),
            ApiJson(new),
        )
        .await?;
        let created = read(response).await?;
        Ok(Done::to(post_page(&created.id, &created)))
    }
    .await;
    form.finish(result)
}

async fn edit_post(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let edit = form.body(&["title", "body"], json!({}))?;
        let Json(done) = posts::edit(
            State(state),
            actor,
            correlation,
            Path(id.clone()),
            ApiJson(edit),
        )
        .await?;
        Ok(Done::to(post_page(&id, &done)))
    }
    .await;
    form.finish(result)
}

async fn delete_post(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let Json(done) = posts::delete(State(state), actor, correlation, Path(id.clone())).await?;
        Ok(Done::to(post_page(&id, &done)))
    }
    .await;
    form.finish(result)
}

async fn like_post(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let Json(done) = posts::like(State(state), actor, correlation, Path(id.clone())).await?;
        Ok(Done::to(post_page(&id, &done)))
    }
    .await;
    form.finish(result)
}

async fn create_comment(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let new = form.body(&["body", "parent_id"], json!({}))?;
        let response = comments::create(
            State(state),
            actor,
            correlation,
            form.headers(),
            Path(id.clone()),
            ApiJson(new),
        )
        .await?;
        let created = read(response).await?;
        Ok(Done::to(format!(
            "/posts/{id}?v=post:{id}:{}#c-{}",
            created.version, created.id
        )))
    }
    .await;
    form.finish(result)
}

async fn delete_comment(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path((id, comment)): Path<(String, String)>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let Json(done) = comments::delete(
            State(state),
            actor,
            correlation,
            Path((id.clone(), comment)),
        )
        .await?;
        Ok(Done::to(post_page(&id, &done)))
    }
    .await;
    form.finish(result)
}

async fn accept_answer(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let accepted = form.body(&["comment_id"], json!({}))?;
        let Json(done) = comments::accept(
            State(state),
            actor,
            correlation,
            Path(id.clone()),
            ApiJson(accepted),
        )
        .await?;
        Ok(Done::to(post_page(&id, &done)))
    }
    .await;
    form.finish(result)
}

/// A rating field (1 to 5) of the review form.
fn rating(form: &Submitted, name: &str) -> Value {
    form.text(name)
        .and_then(|v| v.parse::<u8>().ok())
        .map_or(Value::Null, Value::from)
}

async fn write_review(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(hospital): Path<String>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let ratings: Map<String, Value> = [
            "overall",
            "work_environment",
            "pay_benefits",
            "management",
            "care_quality",
            "work_life_balance",
        ]
        .iter()
        .map(|name| ((*name).to_owned(), rating(&form, name)))
        .collect();
        let recommend = form.text("would_recommend").map(|v| v == "true");
        let review = form.body(
            &["title", "pros", "cons", "advice"],
            json!({"ratings": ratings, "would_recommend": recommend}),
        )?;
        let response = reviews::write(
            State(state),
            actor,
            correlation,
            form.headers(),
            Path(hospital.clone()),
            ApiJson(review),
        )
        .await?;
        let created = read(response).await?;
        Ok(Done::to(format!(
            "/hospitals/{hospital}?{}#r-{}",
            version_of("review", &created),
            created.id
        )))
    }
    .await;
    form.finish(result)
}

async fn helpful(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let Json(done) = reviews::helpful(State(state), actor, correlation, Path(id)).await?;
        let hospital = form
            .text("hospital_id")
            .and_then(|h| Uuid::parse_str(h).ok());
        Ok(Done::to(match hospital {
            Some(hospital) => format!("/hospitals/{hospital}?{}", version_of("review", &done)),
            None => "/hospitals".to_owned(),
        }))
    }
    .await;
    form.finish(result)
}

async fn report(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let new = form.body(
            &["kind", "target_id", "post_id", "reason", "note"],
            json!({}),
        )?;
        let _answer = moderation::report(
            State(state),
            actor,
            correlation,
            form.headers(),
            ApiJson(new),
        )
        .await?;
        Ok(Done::to(form.back("/")))
    }
    .await;
    form.finish(result)
}

async fn submit_claim(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(hospital): Path<String>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let claim = form.body(&["job_category", "tenure"], json!({}))?;
        let response = claims::submit(
            State(state),
            actor,
            correlation,
            form.headers(),
            Path(hospital),
            ApiJson(claim),
        )
        .await?;
        let created = read(response).await?;
        Ok(Done::to(format!(
            "/me/claims/{}?{}",
            created.id,
            version_of("affiliation", &created)
        )))
    }
    .await;
    form.finish(result)
}

async fn send_code(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let address = form.body(&["address"], json!({}))?;
        let _answer =
            email::send_code(State(state), actor, Path(id.clone()), ApiJson(address)).await?;
        Ok(Done::to(format!("/me/claims/{id}?sent=true")))
    }
    .await;
    form.finish(result)
}

async fn confirm_code(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let code = form.body(&["code"], json!({}))?;
        let Json(done) = email::confirm_code(
            State(state),
            actor,
            correlation,
            Path(id.clone()),
            ApiJson(code),
        )
        .await?;
        Ok(Done::to(format!(
            "/me/claims/{id}?{}",
            version_of("affiliation", &done)
        )))
    }
    .await;
    form.finish(result)
}

async fn approve_claim(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let _answer = claims::approve(State(state), actor, correlation, Path(id)).await?;
        Ok(Done::to("/moderation".to_owned()))
    }
    .await;
    form.finish(result)
}

async fn reject_claim(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let rejection = form.body(&["reason"], json!({}))?;
        let _answer = claims::reject(
            State(state),
            actor,
            correlation,
            Path(id),
            ApiJson(rejection),
        )
        .await?;
        Ok(Done::to("/moderation".to_owned()))
    }
    .await;
    form.finish(result)
}

async fn hide(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(target): Path<(String, String)>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let body = form.body(&["reason", "note"], json!({}))?;
        let _answer = moderation::hide(
            State(state),
            actor,
            correlation,
            Path(target),
            ApiJson(body),
        )
        .await?;
        Ok(Done::to(form.back("/moderation")))
    }
    .await;
    form.finish(result)
}

async fn restore(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    correlation: CorrelationId,
    Path(target): Path<(String, String)>,
    form: Submitted,
) -> Response {
    let result = async {
        let actor = actor?;
        let body = form.body(&["note"], json!({}))?;
        let _answer = moderation::restore(
            State(state),
            actor,
            correlation,
            Path(target),
            ApiJson(body),
        )
        .await?;
        Ok(Done::to(form.back("/moderation")))
    }
    .await;
    form.finish(result)
}

async fn notifications_read(
    State(state): State<AppState>,
    member: Result<Member, ApiError>,
    form: Submitted,
) -> Response {
    let result = async {
        let member = member?;
        let _answer = members::mark_notifications_read(
            State(state),
            member,
            Request::new(axum::body::Body::empty()),
        )
        .await?;
        Ok(Done::to("/me".to_owned()))
    }
    .await;
    form.finish(result)
}

async fn withdraw(
    State(state): State<AppState>,
    member: Result<Member, ApiError>,
    form: Submitted,
) -> Response {
    let result = async {
        let member = member?;
        if form.text("confirm") != Some("yes") {
            return Err(ApiError::invalid(
                "confirmation_missing",
                "tick the box to confirm that you want to leave",
            ));
        }
        let cookie = state.auth.cookie(&state.session_cookie, "", Some(0));
        let _answer = members::withdraw(State(state), member).await?;
        Ok(Done {
            location: "/".to_owned(),
            cookie: Some(cookie),
        })
    }
    .await;
    form.finish(result)
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap, form: Submitted) -> Response {
    let result = async {
        let response = crate::auth::signout(State(state), headers).await?;
        Ok(Done {
            location: "/".to_owned(),
            cookie: response.headers().get(SET_COOKIE).cloned(),
        })
    }
    .await;
    form.finish(result)
}
