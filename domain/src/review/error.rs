use std::collections::BTreeMap;

use super::RATING;
use crate::rule::{BrokenRule, Refusal};
use crate::text::TextError;

/// A rule a review command broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// A text field breaks its rule.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A rating is not 1 to 5 stars.
    #[error(
        "the {field} rating is {value}; ratings are {min} to {max}",
        min = RATING.start(),
        max = RATING.end()
    )]
    RatingOutOfRange {
        /// The rating's name, e.g. `work_environment`.
        field: &'static str,
        /// What was sent.
        value: u8,
    },
    /// The review id is not the one derived from the author and the hospital.
    #[error("the review id does not belong to this author and hospital")]
    IdMismatch,
    /// The member's review of this hospital exists already.
    #[error("you have already reviewed this hospital; edit your review instead")]
    AlreadyWritten,
    /// There is no such review.
    #[error("there is no such review")]
    NotFound,
    /// The review was deleted.
    #[error("this review was deleted")]
    Deleted,
    /// The member is not (or no longer) a verified insider of the review's hospital.
    #[error("only verified staff of this hospital may review it")]
    NotInsider,
    /// Only the author (or, to delete, a moderator) may do this.
    #[error("only the author may do this")]
    NotAuthor,
    /// Authors cannot mark their own review helpful.
    #[error("you cannot mark your own review helpful")]
    OwnHelpful,
    /// Marked helpful already.
    #[error("you already marked this review helpful")]
    AlreadyHelpful,
}

impl BrokenRule for ReviewError {
    fn code(&self) -> String {
        match self {
            ReviewError::Text(text) => text.code(),
            ReviewError::RatingOutOfRange { .. } => "rating_out_of_range".to_owned(),
            ReviewError::IdMismatch => "review_id_mismatch".to_owned(),
            ReviewError::AlreadyWritten => "review_already_written".to_owned(),
            ReviewError::NotFound => "review_not_found".to_owned(),
            ReviewError::Deleted => "review_deleted".to_owned(),
            ReviewError::NotAuthor => "not_author".to_owned(),
            ReviewError::NotInsider => "not_insider".to_owned(),
            ReviewError::OwnHelpful => "review_own_helpful".to_owned(),
            ReviewError::AlreadyHelpful => "review_already_helpful".to_owned(),
        }
    }

    fn refusal(&self) -> Refusal {
        match self {
            ReviewError::NotFound => Refusal::NotFound,
            ReviewError::NotAuthor | ReviewError::NotInsider | ReviewError::OwnHelpful => {
                Refusal::Forbidden
            }
            ReviewError::AlreadyWritten | ReviewError::Deleted | ReviewError::AlreadyHelpful => {
                Refusal::Conflict
            }
            ReviewError::Text(_)
            | ReviewError::RatingOutOfRange { .. }
            | ReviewError::IdMismatch => Refusal::Invalid,
        }
    }

    fn details(&self) -> BTreeMap<&'static str, String> {
        match self {
            ReviewError::Text(text) => BrokenRule::details(text),
            ReviewError::RatingOutOfRange { field, value } => BTreeMap::from([
                ("field", (*field).to_owned()),
                ("value", value.to_string()),
                ("min", RATING.start().to_string()),
                ("max", RATING.end().to_string()),
            ]),
            _ => BTreeMap::new(),
        }
    }
}
