use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::member::JobCategory;

/// Whether a claimant works at the hospital now or used to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Tenure {
    /// 재직 중: works there now.
    Current,
    /// 퇴사: used to work there.
    Former,
}

impl Tenure {
    /// Every tenure.
    pub const ALL: [Tenure; 2] = [Tenure::Current, Tenure::Former];

    /// The tenure's name in URLs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Tenure::Current => "current",
            Tenure::Former => "former",
        }
    }

    /// The tenure named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Tenure> {
        Tenure::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// How a claim was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationMethod {
    /// The member entered a code sent to an address at one of the hospital's email domains.
    WorkEmail,
    /// A moderator approved the claim (never named).
    Moderator,
}

impl VerificationMethod {
    /// Every method.
    pub const ALL: [VerificationMethod; 2] =
        [VerificationMethod::WorkEmail, VerificationMethod::Moderator];

    /// The method's name in URLs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationMethod::WorkEmail => "work_email",
            VerificationMethod::Moderator => "moderator",
        }
    }

    /// The method named `name`, if there is one.
    pub fn parse(name: &str) -> Option<VerificationMethod> {
        VerificationMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == name)
    }
}

/// Why a moderator turned a claim down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The claimant does not work (did not work) there.
    NotStaff,
    /// The evidence does not show it.
    InsufficientEvidence,
    /// Anything else.
    Other,
}

impl RejectReason {
    /// Every reason.
    pub const ALL: [RejectReason; 3] = [
        RejectReason::NotStaff,
        RejectReason::InsufficientEvidence,
        RejectReason::Other,
    ];

    /// The reason's name in URLs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NotStaff => "not_staff",
            RejectReason::InsufficientEvidence => "insufficient_evidence",
            RejectReason::Other => "other",
        }
    }

    /// The reason named `name`, if there is one.
    pub fn parse(name: &str) -> Option<RejectReason> {
        RejectReason::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// What happened to an affiliation claim. No event carries a member reference: the aggregate
/// id is derived from member and hospital with the author key. Documented field by field in
/// `docs/events.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClaimEvent {
    /// A member claimed an affiliation (version 1); the claim is open.
    ClaimSubmitted {
        /// The hospital.
        hospital_id: Uuid,
        /// What the member does (did) there.
        job_category: JobCategory,
        /// Whether the member works there now or used to.
        tenure: Tenure,
        /// When, Unix seconds.
        submitted_at: u64,
    },
    /// The claim was verified (version 1): the member is an insider of the hospital.
    ClaimVerified {
        /// How.
        method: VerificationMethod,
        /// When, Unix seconds.
        verified_at: u64,
    },
    /// A moderator turned the claim down (version 1).
    ClaimRejected {
        /// Why.
        reason: RejectReason,
    },
    /// A verified affiliation was withdrawn (version 1).
    ClaimRevoked {},
    /// The claim stayed open too long and closed (version 1).
    ClaimExpired {},
}

impl DomainEvent for ClaimEvent {
    fn event_type(&self) -> String {
        match self {
            ClaimEvent::ClaimSubmitted { .. } => "ClaimSubmitted",
            ClaimEvent::ClaimVerified { .. } => "ClaimVerified",
            ClaimEvent::ClaimRejected { .. } => "ClaimRejected",
            ClaimEvent::ClaimRevoked {} => "ClaimRevoked",
            ClaimEvent::ClaimExpired {} => "ClaimExpired",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
