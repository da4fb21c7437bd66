use std::collections::BTreeMap;

use crate::rule::BrokenRule;
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
}

impl BrokenRule for PostError {
    fn code(&self) -> String {
        match self {
            PostError::UnknownBoard(_) => "board_unknown".to_owned(),
            PostError::Text(text) => text.code(),
            PostError::AlreadyExists => "post_already_exists".to_owned(),
        }
    }

    fn details(&self) -> BTreeMap<&'static str, String> {
        match self {
            PostError::Text(text) => BrokenRule::details(text),
            _ => BTreeMap::new(),
        }
    }
}
