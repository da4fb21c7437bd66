use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DeletedBy, JobCategory, ReviewError, Tenure, RATING};
use crate::author::AuthorRef;
use crate::sealed::EventText;

/// A review's ratings, each 1 (worst) to 5 (best) stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ratings {
    /// Overall.
    pub overall: u8,
    /// Work environment.
    pub work_environment: u8,
    /// Pay and benefits.
    pub pay_benefits: u8,
    /// Management.
    pub management: u8,
    /// Care quality and patient safety.
    pub care_quality: u8,
    /// Work-life balance.
    pub work_life_balance: u8,
}

impl Ratings {
    /// The ratings, if every one is within [`RATING`]; otherwise the first one that is not.
    pub fn checked(self) -> Result<Ratings, ReviewError> {
        for (field, value) in [
            ("overall", self.overall),
            ("work_environment", self.work_environment),
            ("pay_benefits", self.pay_benefits),
            ("management", self.management),
            ("care_quality", self.care_quality),
            ("work_life_balance", self.work_life_balance),
        ] {
            if !RATING.contains(&value) {
                return Err(ReviewError::RatingOutOfRange { field, value });
            }
        }
        Ok(self)
    }
}

/// What happened to a review. Documented field by field in `docs/events-review-moderation.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReviewEvent {
    /// An insider wrote a review (version 1).
    ReviewWritten {
        /// The hospital reviewed.
        hospital_id: Uuid,
        /// The ratings.
        ratings: Ratings,
        /// Trimmed title.
        title: EventText,
        /// Trimmed pros.
        pros: EventText,
        /// Trimmed cons.
        cons: EventText,
        /// Trimmed advice to management, if any.
        advice: Option<EventText>,
        /// Whether the author would recommend working there.
        would_recommend: bool,
        /// The job category of the author's affiliation claim.
        job_category: JobCategory,
        /// Whether the author works there now or used to (from the claim).
        tenure: Tenure,
        /// `author_ref("review", review, member)`; see [`crate::author`].
        author_ref: AuthorRef,
    },
    /// The author changed the review (version 1); carries every content field anew.
    ReviewEdited {
        /// New ratings.
        ratings: Ratings,
        /// New title.
        title: EventText,
        /// New pros.
        pros: EventText,
        /// New cons.
        cons: EventText,
        /// New advice, if any.
        advice: Option<EventText>,
        /// New recommendation.
        would_recommend: bool,
    },
    /// The review was deleted and its content key destroyed (version 1).
    ReviewDeleted {
        /// Whether the author or a moderator deleted it.
        by: DeletedBy,
    },
    /// A member marked the review helpful (version 1).
    ReviewMarkedHelpful {
        /// `author_ref("helpful", review, member)`: one per member, unlinkable elsewhere.
        voter_ref: AuthorRef,
    },
}

impl DomainEvent for ReviewEvent {
    fn event_type(&self) -> String {
        match self {
            ReviewEvent::ReviewWritten { .. } => "ReviewWritten",
            ReviewEvent::ReviewEdited { .. } => "ReviewEdited",
            ReviewEvent::ReviewDeleted { .. } => "ReviewDeleted",
            ReviewEvent::ReviewMarkedHelpful { .. } => "ReviewMarkedHelpful",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
