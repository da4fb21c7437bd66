use std::collections::BTreeMap;

use crate::rule::{BrokenRule, Refusal};
use crate::text::TextError;

/// A rule a post command broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The board does not exist.
    #[error("there is no board named {0:?}; boards are free and qna")]
    UnknownBoard(String),
    /// The title or body breaks a text rule.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The post was already created.
    #[error("this post already exists")]
    AlreadyExists,
    /// There is no such post.
    #[error("there is no such post")]
    NotFound,
    /// The post was deleted.
    #[error("this post was deleted")]
    Deleted,
    /// Only the author (or a moderator) may do this.
    #[error("only the post's author may do this")]
    NotAuthor,
}

impl BrokenRule for PostError {
    fn code(&self) -> String {
        match self {
            PostError::UnknownBoard(_) => "board_unknown".to_owned(),
            PostError::Text(text) => text.code(),
            PostError::AlreadyExists => "post_already_exists".to_owned(),
            PostError::NotFound => "post_not_found".to_owned(),
            PostError::Deleted => "post_deleted".to_owned(),
            PostError::NotAuthor => "not_author".to_owned(),
        }
    }

    fn refusal(&self) -> Refusal {
        match self {
            PostError::NotFound => Refusal::NotFound,
            PostError::NotAuthor => Refusal::Forbidden,
            PostError::AlreadyExists | PostError::Deleted => Refusal::Conflict,
            PostError::UnknownBoard(_) | PostError::Text(_) => Refusal::Invalid,
        }
    }

    fn details(&self) -> BTreeMap<&'static str, String> {
        match self {
            PostError::Text(text) => BrokenRule::details(text),
            _ => BTreeMap::new(),
        }
    }
}
