use std::collections::BTreeMap;

use uuid::Uuid;

use super::ClaimStatus;
use crate::rule::{BrokenRule, Refusal};

/// A rule an affiliation claim command broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// There is no claim (never submitted).
    #[error("there is no such affiliation claim")]
    NotFound,
    /// The claim is open already; it must be decided or expire first.
    #[error("an affiliation claim for this hospital is already open")]
    AlreadyOpen,
    /// The claim is verified already.
    #[error("the affiliation to this hospital is already verified")]
    AlreadyVerified,
    /// Only an open claim can be verified, rejected or expired.
    #[error("this affiliation claim is {}, not open", .0.as_str())]
    NotOpen(ClaimStatus),
    /// Only a verified claim can be revoked.
    #[error("this affiliation claim is {}, not verified", .0.as_str())]
    NotVerified(ClaimStatus),
    /// The claim is younger than its time to live.
    #[error("this affiliation claim stays open until {expires_at} (Unix seconds)")]
    NotExpired {
        /// When it may expire, Unix seconds.
        expires_at: u64,
    },
    /// A moderator asked to approve their own claim.
    #[error("moderators cannot approve their own claim; another moderator decides it")]
    OwnClaim,
    /// The hospital is not the one the claim was opened for (the id derives from it).
    #[error("this affiliation claim is for hospital {claimed}, not {requested}")]
    HospitalMismatch {
        /// The hospital of the claim.
        claimed: Uuid,
        /// The hospital in the command.
        requested: Uuid,
    },
}

impl BrokenRule for ClaimError {
    fn code(&self) -> String {
        match self {
            ClaimError::NotFound => "claim_not_found",
            ClaimError::AlreadyOpen => "claim_already_open",
            ClaimError::AlreadyVerified => "claim_already_verified",
            ClaimError::NotOpen(_) => "claim_not_open",
            ClaimError::NotVerified(_) => "claim_not_verified",
            ClaimError::NotExpired { .. } => "claim_not_expired",
            ClaimError::OwnClaim => "own_claim",
            ClaimError::HospitalMismatch { .. } => "claim_hospital_mismatch",
        }
        .to_owned()
    }

    fn refusal(&self) -> Refusal {
        match self {
            ClaimError::NotFound => Refusal::NotFound,
            ClaimError::OwnClaim => Refusal::Forbidden,
            ClaimError::HospitalMismatch { .. } => Refusal::Invalid,
            ClaimError::AlreadyOpen
            | ClaimError::AlreadyVerified
            | ClaimError::NotOpen(_)
            | ClaimError::NotVerified(_)
            | ClaimError::NotExpired { .. } => Refusal::Conflict,
        }
    }

    fn details(&self) -> BTreeMap<&'static str, String> {
        let mut details = BTreeMap::new();
        match self {
            ClaimError::NotOpen(status) | ClaimError::NotVerified(status) => {
                details.insert("status", status.as_str().to_owned());
            }
            ClaimError::NotExpired { expires_at } => {
                details.insert("expires_at", expires_at.to_string());
            }
            ClaimError::HospitalMismatch { claimed, requested } => {
                details.insert("claimed", claimed.to_string());
                details.insert("requested", requested.to_string());
            }
            ClaimError::NotFound
            | ClaimError::AlreadyOpen
            | ClaimError::AlreadyVerified
            | ClaimError::OwnClaim => {}
        }
        details
    }
}
