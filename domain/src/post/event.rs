use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::author::AuthorRef;
use crate::member::JobCategory;
use crate::sealed::EventText;

/// The boards a post can be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Board {
    /// 자유게시판: anything goes (within the rules).
    Free,
    /// Questions and answers.
    Qna,
}

impl Board {
    /// Every board, in display order.
    pub const ALL: [Board; 2] = [Board::Free, Board::Qna];

    /// The board's name in URLs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Board::Free => "free",
            Board::Qna => "qna",
        }
    }

    /// The board named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Board> {
        Board::ALL.into_iter().find(|b| b.as_str() == name)
    }
}

/// Who deleted a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeletedBy {
    /// Its author.
    Author,
    /// A moderator (never named).
    Moderator,
}

/// How a commenter appears in one thread: the post's author as the original poster, everyone
/// else as 익명1, 익명2, … in order of their first comment. Stable within the thread, unrelated
/// across threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handle {
    /// 글쓴이: the post's author.
    OriginalPoster,
    /// 익명N.
    Anonymous(u32),
}

/// What a post shows about its author, decided once, when the post is written: the author
/// chose to show their job category and optionally the hospital of one of their verified
/// claims, and the command side kept of that hospital only what k-anonymity allowed then —
/// the hospital itself, or only its region and kind, or nothing (`command-api`'s `labels`).
/// Carried sealed (field `badge`) so that the log never says more than the public page, and
/// it holds nothing that readers do not see: a later change of the counts never reveals more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Badge {
    /// The author's job category (the claim's, when a hospital was chosen).
    pub job_category: JobCategory,
    /// The hospital of the author's verified claim, when it is shown: at least K members of
    /// this job category were verified there when the post was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hospital_id: Option<Uuid>,
    /// The region and kind of that hospital instead, when only they are shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<BadgeRegion>,
}

/// Where a badge places its author when it may not name their hospital: the hospital's
/// region and kind, shared by enough members of the job category at hospitals that do not
/// show their own name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadgeRegion {
    /// 시도, e.g. `부산`.
    pub sido: String,
    /// The hospital kind as events name it, e.g. `general`.
    pub kind: String,
}

/// The first `PostCreated` version whose badge was decided when the post was written.
const BADGE_DECIDED_AT_WRITE: u32 = 4;

impl Badge {
    /// The badge of a `PostCreated` of `version`, from its opened JSON, as readers may see
    /// it. From version 4 on that is the badge as written. Version 3 carried the hospital the
    /// author chose whatever the counts, for readers to decide at read time; whether K members
    /// of the job category shared it then cannot be known from the log, so such a badge is
    /// read conservatively: its job category only.
    pub fn shown(version: &str, opened: &str) -> serde_json::Result<Badge> {
        let badge: Badge = serde_json::from_str(opened)?;
        let decided = version
            .parse::<u32>()
            .is_ok_and(|v| v >= BADGE_DECIDED_AT_WRITE);
        Ok(if decided {
            badge
        } else {
            Badge {
                job_category: badge.job_category,
                hospital_id: None,
                region: None,
            }
        })
    }
}

/// What happened to a post. Documented field by field in `docs/events.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PostEvent {
    /// A post was published (version 4: sealed texts, and a badge decided when written).
    PostCreated {
        /// The board it is on.
        board: Board,
        /// Trimmed title.
        title: EventText,
        /// Trimmed body.
        body: EventText,
        /// Keyed hash of author and post; see [`crate::author`].
        author_ref: AuthorRef,
        /// The author's [`Badge`] as JSON, sealed like the texts; absent when the author
        /// chose none (and in versions 1 and 2). Read it with [`Badge::shown`].
        #[serde(default)]
        badge: Option<EventText>,
    },
    /// A post was deleted and its content key destroyed (version 1).
    PostDeleted {
        /// Whether the author or a moderator deleted it.
        by: DeletedBy,
    },
    /// The author changed the post (version 1).
    PostEdited {
        /// New title.
        title: EventText,
        /// New body.
        body: EventText,
    },
    /// A member liked the post (version 1).
    PostLiked {
        /// `author_ref("like", post, member)`: one per member, unlinkable elsewhere.
        liker_ref: AuthorRef,
    },
    /// A member took their like back (version 1).
    PostUnliked {
        /// As in `PostLiked`.
        liker_ref: AuthorRef,
    },
    /// A comment or reply was added (version 1).
    CommentAdded {
        /// The comment's id.
        comment_id: Uuid,
        /// The top-level comment it replies to.
        parent_id: Option<Uuid>,
        /// Its text, sealed with the comment's own key.
        body: EventText,
        /// How its author appears in this thread.
        handle: Handle,
        /// `author_ref("thread", post, member)`: the same for every comment of one member in
        /// this thread, unrelated in any other.
        commenter_ref: AuthorRef,
    },
    /// A comment's author changed it (version 1).
    CommentEdited {
        /// The comment.
        comment_id: Uuid,
        /// New text.
        body: EventText,
    },
    /// A comment was deleted and its content key destroyed (version 1).
    CommentDeleted {
        /// The comment.
        comment_id: Uuid,
        /// Whether its author or a moderator deleted it.
        by: DeletedBy,
    },
    /// The question's author accepted a comment as the answer (version 1).
    AnswerAccepted {
        /// The accepted comment.
        comment_id: Uuid,
    },
}

impl DomainEvent for PostEvent {
    fn event_type(&self) -> String {
        match self {
            PostEvent::PostCreated { .. } => "PostCreated",
            PostEvent::PostDeleted { .. } => "PostDeleted",
            PostEvent::PostEdited { .. } => "PostEdited",
            PostEvent::PostLiked { .. } => "PostLiked",
            PostEvent::PostUnliked { .. } => "PostUnliked",
            PostEvent::CommentAdded { .. } => "CommentAdded",
            PostEvent::CommentEdited { .. } => "CommentEdited",
            PostEvent::CommentDeleted { .. } => "CommentDeleted",
            PostEvent::AnswerAccepted { .. } => "AnswerAccepted",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            PostEvent::PostCreated { .. } => "4",
            _ => "1",
        }
        .to_owned()
    }
}

impl PostEvent {
    /// The event from its type, version and fields as stored or published, upcasting older
    /// versions.
    pub fn from_fields(event_type: &str, version: &str, fields: Value) -> serde_json::Result<Self> {
        let fields = upcast_fields(event_type, version, fields);
        serde_json::from_value(serde_json::json!({ event_type: fields }))
    }
}

/// Brings an event's fields to the current version: `PostCreated` 1 carried plain `title`
/// and `body` strings; version 2 carries [`EventText`]s; version 3 adds the optional
/// `badge`, which version 2 reads as absent; version 4 changes what the sealed badge may hold,
/// not the fields, so it needs no upcasting here ([`Badge::shown`] reads both).
pub fn upcast_fields(event_type: &str, version: &str, mut fields: Value) -> Value {
    if event_type == "PostCreated" && version == "1" {
        for field in ["title", "body"] {
            if let Some(text) = fields.get_mut(field) {
                *text = serde_json::json!({ "legacy": text.take() });
            }
        }
    }
    fields
}
