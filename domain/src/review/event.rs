use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{DeletedBy, JobCategory, ReviewError, Tenure, RATING};
use crate::author::AuthorRef;
use crate::sealed::EventText;

/// A review's ratings, each 1 (worst) to 5 (best) stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ratings {
    /// Overall.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub overall: u8,
    /// Work environment.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub work_environment: u8,
    /// Pay and benefits.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub pay_benefits: u8,
    /// Management.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub management: u8,
    /// Care quality and patient safety.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub care_quality: u8,
    /// Work-life balance.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
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

/// What a review shows about its author: their claim's job category and tenure. Carried by
/// `ReviewWritten` only when readers are to see it — when, at writing, at least K members
/// with that category and tenure were verified at the hospital — so that neither the log
/// nor a read model holds a label the pages do not show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewLabel {
    /// The job category of the author's affiliation claim.
    pub job_category: JobCategory,
    /// Whether the author works there now or used to (from the claim).
    pub tenure: Tenure,
}

/// What happened to a review. Documented field by field in `docs/events.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReviewEvent {
    /// An insider wrote a review (version 2: the label only when shown).
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
        /// The author's label, decided when the review was written and never changed;
        /// absent when it is not shown (and in version 1, see [`upcast_fields`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<ReviewLabel>,
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
        match self {
            ReviewEvent::ReviewWritten { .. } => "2",
            _ => "1",
        }
        .to_owned()
    }
}

impl ReviewEvent {
    /// The event from its type, version and fields as stored or published, upcasting older
    /// versions; an unknown version is an error.
    pub fn from_fields(event_type: &str, version: &str, fields: Value) -> serde_json::Result<Self> {
        let known = match event_type {
            "ReviewWritten" => ["1", "2"].contains(&version),
            _ => version == "1",
        };
        if !known {
            return Err(serde::de::Error::custom(format!(
                "{event_type} version {version} is unknown"
            )));
        }
        let fields = upcast_fields(event_type, version, fields);
        serde_json::from_value(serde_json::json!({ event_type: fields }))
    }
}

/// Brings an event's fields to the current version. `ReviewWritten` version 1 carried the
/// author's `job_category` and `tenure` always, and readers saw them only while the hospital
/// had K verified members, whoever else was verified there; whether K members shared that
/// label when it was written cannot be known now. So version 1 reads conservatively as a
/// review without a label: the fields are dropped.
pub fn upcast_fields(event_type: &str, version: &str, mut fields: Value) -> Value {
    if event_type == "ReviewWritten" && version == "1" {
        if let Some(fields) = fields.as_object_mut() {
            fields.remove("job_category");
            fields.remove("tenure");
        }
    }
    fields
}
