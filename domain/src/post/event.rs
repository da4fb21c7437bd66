use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::author::AuthorRef;

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

/// What happened to a post. Documented field by field in `docs/events.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PostEvent {
    /// A post was published (version 1).
    PostCreated {
        /// The board it is on.
        board: Board,
        /// Trimmed title.
        title: String,
        /// Trimmed body.
        body: String,
        /// Keyed hash of author and post; see [`crate::author`].
        author_ref: AuthorRef,
    },
}

impl DomainEvent for PostEvent {
    fn event_type(&self) -> String {
        match self {
            PostEvent::PostCreated { .. } => "PostCreated".to_owned(),
        }
    }

    fn event_version(&self) -> String {
        match self {
            PostEvent::PostCreated { .. } => "1".to_owned(),
        }
    }
}
