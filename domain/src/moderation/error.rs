use std::collections::BTreeMap;

use crate::rule::{BrokenRule, Refusal};
use crate::text::TextError;

/// A rule a moderation command broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModerationError {
    /// The note breaks its text rule.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The member reported this item already.
    #[error("you already reported this")]
    AlreadyReported,
    /// The item is hidden already.
    #[error("this is already hidden")]
    AlreadyHidden,
    /// The item is not hidden, so there is nothing to restore.
    #[error("this is not hidden")]
    NotHidden,
}

impl BrokenRule for ModerationError {
    fn code(&self) -> String {
        match self {
            ModerationError::Text(text) => text.code(),
            ModerationError::AlreadyReported => "already_reported".to_owned(),
            ModerationError::AlreadyHidden => "target_already_hidden".to_owned(),
            ModerationError::NotHidden => "target_not_hidden".to_owned(),
        }
    }

    fn refusal(&self) -> Refusal {
        match self {
            ModerationError::Text(_) => Refusal::Invalid,
            ModerationError::AlreadyReported
            | ModerationError::AlreadyHidden
            | ModerationError::NotHidden => Refusal::Conflict,
        }
    }

    fn details(&self) -> BTreeMap<&'static str, String> {
        match self {
            ModerationError::Text(text) => BrokenRule::details(text),
            _ => BTreeMap::new(),
        }
    }
}
