use uuid::Uuid;

use super::{RejectReason, Tenure, VerificationMethod};
use crate::member::JobCategory;

/// Commands an `AffiliationClaim` accepts. The claim is addressed by its derived id; no command
/// carries a member id. Who may send which command (the claimant, a moderator, the email-code
/// flow, the expiry sweep) is checked by the command side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimCommand {
    /// Claim an affiliation (the member). Opens the claim, again after a rejection, expiry or
    /// revocation.
    Submit {
        /// The hospital; the one the claim's id was derived from.
        hospital_id: Uuid,
        /// What the member does (did) there.
        job_category: JobCategory,
        /// Whether the member works there now or used to.
        tenure: Tenure,
        /// The time now, Unix seconds.
        now: u64,
    },
    /// Accept an open claim (the email-code flow, or an operator through the CLI).
    Verify {
        /// How it was verified.
        method: VerificationMethod,
        /// The time now, Unix seconds.
        now: u64,
    },
    /// A moderator accepts an open claim, as [`VerificationMethod::Moderator`]. Never their
    /// own: nobody vouches for themselves.
    Approve {
        /// Whether the moderator is the claimant. The command side knows (the claim's id
        /// derives from the claimant and the hospital); the claim's events never say who.
        by_claimant: bool,
        /// The time now, Unix seconds.
        now: u64,
    },
    /// Turn an open claim down (a moderator).
    Reject {
        /// Why.
        reason: RejectReason,
    },
    /// Withdraw a verified affiliation (a moderator).
    Revoke,
    /// Close an open claim nobody decided within [`super::CLAIM_TTL_SECS`] (the expiry sweep).
    Expire {
        /// The time now, Unix seconds.
        now: u64,
    },
}
