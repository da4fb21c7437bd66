//! The query API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and served at `GET /api/v1/openapi.json` (the command API serves its own at
//! `/api/v1/openapi/commands.json`; a gateway sends that path to command pods). Any operation
//! may answer `503` (`service_unavailable`, with `Retry-After`) while its read model's database
//! cannot be reached ([`Unavailable`]).

use axum::Json;
use utoipa::OpenApi;

use ward_platform::http::{SessionCookie, Unavailable};

use crate::{board, hospital, me};

/// The query API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ward query API",
        version = env!("CARGO_PKG_VERSION"),
        description = "Ward's read side: read-only, cacheable. Anonymous answers carry `ETag` \
                       and `Cache-Control`; send `If-None-Match` for a `304`. Send \
                       `Ward-Min-Version: <kind>:<id>:<version>` (the version a command \
                       answered) to read your own write: the answer says in \
                       `Ward-Consistency` whether it is `consistent` or `stale`; with a \
                       session, it waits up to 2 s for the version (a few requests at once). \
                       Hospitals' verified members are published as bands \
                       (`{\"min\": 5, \"max\": 9}`), never exact counts. Errors are \
                       `{\"error\": code, \"message\": text, \"details\"?: any}`; codes are \
                       stable, messages are for people."
    ),
    paths(
        board::boards,
        board::list,
        board::search,
        board::show,
        board::moderation_log,
        hospital::search,
        hospital::profile,
        hospital::reviews,
        hospital::review,
        me::whoami,
        me::affiliations,
        me::activity,
        me::notifications,
    ),
    modifiers(&SessionCookie, &Unavailable),
    tags(
        (name = "boards", description = "Boards, posts, comments and search."),
        (name = "moderation", description = "The public moderation log."),
        (name = "hospitals", description = "Hospitals, their rating summaries and reviews."),
        (name = "me", description = "The signed-in member's own affiliations, activity and notifications (never cached by shared caches)."),
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
