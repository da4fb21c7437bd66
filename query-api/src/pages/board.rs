//! Board pages: home, listings, a post with its comments, search, the post form and the
//! public moderation log.

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
use crate::board::{
    self, Badge, BoardInfo, Boards, CommentView, Handle, ListParams, LogPage, PageParams,
    PostDetail, PostPage, PostSummary, SearchParams,
};
use crate::consistency::Wanted;

/// Posts of each board the home page shows.
const HOME_POSTS: i64 = 5;

impl Badge {
    /// What a reader sees: job category, then hospital or region and kind.
    pub fn text(&self, chrome: &Chrome) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(job) = &self.job_category {
            parts.push(chrome.label(job).to_owned());
        }
        if let Some(hospital) = &self.hospital {
            parts.push(hospital.name.clone());
        } else if let Some(region) = &self.region {
            parts.push(format!("{} {}", region.sido, chrome.label(&region.kind)));
        }
        if parts.is_empty() {
            chrome.t.anonymous.to_owned()
        } else {
            parts.join(" · ")
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home<'a> {
    chrome: &'a Chrome,
    boards: Vec<BoardInfo>,
    popular: Vec<(&'static str, Vec<PostSummary>)>,
}

/// `GET /`: the boards, each board's popular posts, and the hospital search box.
pub async fn home(State(pages): State<Pages>, viewer: Viewer) -> Response {
    let result = async {
        let boards: Boards =
            decode(board::boards(State(pages.board.clone()), HeaderMap::new()).await)
                .await?
                .value;
        let mut popular = Vec::new();
        for name in ["free", "qna"] {
            let page = decode::<PostPage>(
                board::list(
                    State(pages.board.clone()),
                    Path(name.to_owned()),
                    ApiQuery(ListParams {
                        sort: Some("hot".to_owned()),
                        limit: Some(HOME_POSTS),
                        cursor: None,
                    }),
                    Wanted::default(),
                    HeaderMap::new(),
                )
                .await,
            )
            .await?;
            popular.push((name, page.value.posts));
        }
        Ok(Home {
            chrome: &viewer.chrome,
            boards: boards.boards,
            popular,
        })
    }
    .await;
    viewer.page(result)
}

#[derive(Template)]
#[template(path = "board.html")]
struct Listing<'a> {
    chrome: &'a Chrome,
    board: String,
    sort: String,
    sorts: [(&'static str, &'static str); 3],
    posts: Vec<PostSummary>,
    next_cursor: Option<String>,
    paged: bool,
    stale: bool,
}

/// A page's own query: the API's parameters plus `v`, the version to wait for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingQuery {
    sort: Option<String>,
    cursor: Option<String>,
    v: Option<String>,
}

/// `GET /boards/{board}?sort&cursor`: a board's posts.
pub async fn listing(
    State(pages): State<Pages>,
    viewer: Viewer,
    Path(name): Path<String>,
    uri: Uri,
) -> Response {
    let result = async {
        let params: ListingQuery = query(&uri)?;
        let sort = params.sort.unwrap_or_else(|| "new".to_owned());
        let paged = params.cursor.is_some();
        let page = decode::<PostPage>(
            board::list(
                State(pages.board.clone()),
                Path(name.clone()),
                ApiQuery(ListParams {
                    sort: Some(sort.clone()),
                    limit: None,
                    cursor: params.cursor,
                }),
                wanted(&pages, &viewer, params.v.as_deref()),
                HeaderMap::new(),
            )
            .await,
        )
        .await?;
        let t = viewer.chrome.t;
        Ok(Listing {
            chrome: &viewer.chrome,
            board: name,
            sort,
            sorts: [
                ("new", t.sort_new),
                ("hot", t.sort_hot),
                ("top", t.sort_top),
            ],
            posts: page.value.posts,
            next_cursor: page.value.next_cursor,
            paged,
            stale: page.stale,
        })
    }
    .await;
    viewer.page(result)
}

#[derive(Template)]
#[template(path = "search.html")]
struct Search<'a> {
    chrome: &'a Chrome,
    q: String,
    board: Option<String>,
    posts: Vec<PostSummary>,
    next_cursor: Option<String>,
}

/// `GET /search?q&board&cursor`: posts containing `q`.
pub async fn search(State(pages): State<Pages>, viewer: Viewer, uri: Uri) -> Response {
    let result = async {
        let params: SearchParams = query(&uri)?;
        let q = params.q.clone().unwrap_or_default();
        let board_name = params.board.clone();
        let page = decode::<PostPage>(
            board::search(
                State(pages.board.clone()),
                ApiQuery(params),
                HeaderMap::new(),
            )
            .await,
        )
        .await?;
        let next_cursor = page.value.next_cursor.map(|next| {
            let board_part = board_name
                .as_deref()
                .map(|b| format!("&board={}", percent_encode(b)))
                .unwrap_or_default();
            format!("/search?q={}{board_part}&cursor={next}", percent_encode(&q))
        });
        Ok(Search {
            chrome: &viewer.chrome,
            q,
            board: board_name,
            posts: page.value.posts,
            next_cursor,
        })
    }
    .await;
    viewer.page(result)
}

#[derive(Template)]
#[template(path = "post.html")]
struct PostView<'a> {
    chrome: &'a Chrome,
    post: PostDetail,
    mine: HashSet<Uuid>,
    can_accept: bool,
    stale: bool,
}

impl PostView<'_> {
    fn is_mine(&self, id: &Uuid) -> bool {
        self.mine.contains(id)
    }

    fn form_key(&self) -> String {
        form_key()
    }

    fn handle(&self, comment: &CommentView) -> String {
        match comment.handle {
            Handle::Anonymous(n) => format!("{}{n}", self.chrome.t.anonymous),
            Handle::OriginalPoster => self.chrome.t.original_poster.to_owned(),
        }
    }

    /// A withdrawn member's items are erased exactly as deletions (docs/privacy.md): the same
    /// words.
    fn comment_state(&self, state: &str) -> &'static str {
        match state {
            "hidden" => self.chrome.t.comment_hidden,
            _ => self.chrome.t.comment_deleted,
        }
    }

    fn post_state(&self) -> &'static str {
        match self.post.state.as_str() {
            "hidden" => self.chrome.t.item_hidden,
            _ => self.chrome.t.item_deleted,
        }
    }
}

/// The post `id` as the API shows it, once the read model reached `wait`.
async fn post_detail(
    pages: &Pages,
    id: String,
    wait: Wanted,
) -> Result<super::Decoded<PostDetail>, ApiError> {
    let answer = board::show(State(pages.board.clone()), Path(id), wait, HeaderMap::new()).await;
    decode(answer).await
}

/// A page that waits for a version: `?v=kind:id:version`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// The version the reader's own write produced.
    pub v: Option<String>,
}

/// `GET /posts/{id}`: a post with its comments; its author gets edit and delete, and a
/// `qna` question's author can accept an answer.
pub async fn post(
    State(pages): State<Pages>,
    viewer: Viewer,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let result = async {
        let params: VersionQuery = query(&uri)?;
        let page = post_detail(&pages, id, wanted(&pages, &viewer, params.v.as_deref())).await?;
        let post = page.value;
        let mine = match &viewer.session {
            Some(session) => {
                let mut items = vec![post.id];
                for comment in &post.comments {
                    items.push(comment.id);
                    items.extend(comment.replies.iter().map(|r| r.id));
                }
                let owned = async {
                    // "Is it mine?" is the member model's to say: after the reader's own
                    // write, wait for it there too, or their new post would lack its edit
                    // button.
                    pages
                        .me
                        .freshness(wanted(&pages, &viewer, params.v.as_deref()))
                        .await?;
                    pages.me.owned(session.member_id, &items).await
                };
                match owned.await {
                    Ok(mine) => mine,
                    // The member model or the event store is down: the post is shown as
                    // anyone's (its author's commands could not run now anyway).
                    Err(error) if error.status() == StatusCode::SERVICE_UNAVAILABLE => {
                        HashSet::new()
                    }
                    Err(error) => return Err(error),
                }
            }
            None => HashSet::new(),
        };
        let can_accept =
            post.board == "qna" && post.accepted_comment_id.is_none() && mine.contains(&post.id);
        Ok(PostView {
            chrome: &viewer.chrome,
            post,
            mine,
            can_accept,
            stale: page.stale,
        })
    }
    .await;
    viewer.page(result)
}

#[derive(Template)]
#[template(path = "post_form.html")]
struct PostForm<'a> {
    chrome: &'a Chrome,
    action: String,
    editing: Option<Uuid>,
    board: String,
    title: String,
    body: String,
    badges: Vec<(String, String)>,
    cancel: String,
    key: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPostQuery {
    board: Option<String>,
}

/// `GET /posts/new?board`: the post form, offering the badges the member may show.
pub async fn new_post(State(pages): State<Pages>, viewer: Viewer, uri: Uri) -> Response {
    let result = async {
        let session = viewer.member()?;
        let params: NewPostQuery = query(&uri)?;
        let board = params.board.unwrap_or_else(|| "free".to_owned());
        let t = viewer.chrome.t;
        let mut badges = vec![
            (String::new(), t.badge_none.to_owned()),
            ("job".to_owned(), t.badge_job.to_owned()),
        ];
        for (hospital, name, job) in super::me::verified(&pages, session).await? {
            badges.push((
                hospital.to_string(),
                format!("{} · {name}", viewer.chrome.label(&job)),
            ));
        }
        Ok(PostForm {
            chrome: &viewer.chrome,
            action: "/posts".to_owned(),
            editing: None,
            cancel: format!("/boards/{}", percent_encode(&board)),
            board,
            title: String::new(),
            body: String::new(),
            badges,
            key: form_key(),
        })
    }
    .await;
    viewer.page(result)
}

/// `GET /posts/{id}/edit`: the post form filled in, for its author.
pub async fn edit_post(
    State(pages): State<Pages>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let session = viewer.member()?;
        let post = post_detail(&pages, id, Wanted::default()).await?.value;
        if !pages
            .me
            .owned(session.member_id, &[post.id])
            .await?
            .contains(&post.id)
        {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "not_author",
                "only the post's author can edit it",
            ));
        }
        Ok(PostForm {
            chrome: &viewer.chrome,
            action: format!("/posts/{}/edit", post.id),
            editing: Some(post.id),
            board: post.board,
            title: post.title.unwrap_or_default(),
            body: post.body.unwrap_or_default(),
            badges: Vec::new(),
            cancel: format!("/posts/{}", post.id),
            key: form_key(),
        })
    }
    .await;
    viewer.page(result)
}

#[derive(Template)]
#[template(path = "moderation_log.html")]
struct Log<'a> {
    chrome: &'a Chrome,
    log: LogPage,
}

/// `GET /moderation/log?cursor`: what moderation hid and restored.
pub async fn moderation_log(State(pages): State<Pages>, viewer: Viewer, uri: Uri) -> Response {
    let result = async {
        let params: PageParams = query(&uri)?;
        let log = decode::<LogPage>(
            board::moderation_log(
                State(pages.board.clone()),
                ApiQuery(params),
                HeaderMap::new(),
            )
            .await,
        )
        .await?
        .value;
        Ok(Log {
            chrome: &viewer.chrome,
            log,
        })
    }
    .await;
    viewer.page(result)
}
