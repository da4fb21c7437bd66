//! The `Member` aggregate: who a member is on the write side — registration, job category,
//! withdrawal, suspension, roles, and up to when they have read their notifications.
//!
//! The aggregate id is the member's pseudonym, [`crate::author::AuthorKey::member_ref`]; the
//! command side computes it from the signed-in member's id. No member event carries a member
//! id (ADR 0004), so the `member` topic links nothing to a person without the author key.
//!
//! Authorisation reads this aggregate's state ([`Member::is_registered`],
//! [`Member::is_withdrawn`], [`Member::is_suspended`], [`Member::has_role`]) on the write side,
//! never a read model.
//!
//! # Layout
//! - `id`: the member's random id, which never appears in an event.
//! - `command`: what a member, a moderator or an operator asks for.
//! - `event`: what happened, as stored and published, and the job categories and roles.
//! - `error`: the rules a command can break, each with a stable code.
//! - `aggregate`: the rules themselves, with their given/when/then tests.

mod aggregate;
mod command;
mod error;
mod event;
mod id;

pub use aggregate::Member;
pub use command::MemberCommand;
pub use error::MemberError;
pub use event::{JobCategory, MemberEvent, Role};
pub use id::MemberId;

use std::ops::RangeInclusive;

/// How long a moderator may suspend a member for, in days.
pub const SUSPENSION_DAYS: RangeInclusive<u32> = 1..=365;

/// Seconds in a day, for suspensions.
pub const DAY_SECS: u64 = 24 * 3600;
