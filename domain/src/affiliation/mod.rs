//! The `AffiliationClaim` aggregate: a member's claim to work, or to have worked, at a
//! hospital, and its verification.
//!
//! The aggregate id is derived from the member and the hospital,
//! `AuthorKey::derive_id("affiliation", hospital_id, member)` (ADR 0004), so a member has exactly
//! one claim aggregate per hospital and "at most one open or verified claim per member per
//! hospital" holds by identity: a second claim addresses the same aggregate and meets its
//! state. No claim event carries a member reference.
//!
//! "Is M an insider of H" is answered on the write side by loading the claim with the id
//! derived from (M, H) and asking [`AffiliationClaim::is_verified`].
//!
//! ```text
//!  (none) ──Submit──▶ open ──Verify──▶ verified ──Revoke──▶ revoked
//!                      │ ├───Reject──▶ rejected
//!                      │ └───Expire──▶ expired
//!  rejected | expired | revoked ──Submit──▶ open
//! ```
//!
//! The verification flows (work-email code, moderator queue) live on the command side; here
//! are the state machine, events and rules.
//!
//! # Layout
//! - `command`: what a member, a moderator or the expiry sweep asks for.
//! - `event`: what happened, as stored and published, and the claim's vocabulary (tenure,
//!   verification method, rejection reason).
//! - `error`: the rules a command can break, each with a stable code.
//! - `aggregate`: the state machine itself, with its given/when/then tests.

mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::{AffiliationClaim, ClaimStatus};
pub use command::ClaimCommand;
pub use error::ClaimError;
pub use event::{ClaimEvent, RejectReason, Tenure, VerificationMethod};

/// How long a claim stays open before it may expire: 14 days, in seconds.
pub const CLAIM_TTL_SECS: u64 = 14 * 24 * 3600;
