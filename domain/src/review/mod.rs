//! The `Review` aggregate: an insider's structured review of a hospital — an overall rating
//! and five sub-ratings, a title, pros, cons, optional advice to management and whether they
//! would recommend the hospital — with edits, deletion and "helpful" marks.
//!
//! One review per member per hospital holds by identity: the aggregate id is
//! [`crate::author::AuthorKey::derive_id`]`("review", hospital, member)` (ADR 0004), so a
//! second review by the same member addresses the same aggregate and is refused while the
//! first one lives. After a deletion the member may write a new review on the same aggregate.
//!
//! The command side checks, from the affiliation claim aggregate, that the author is a verified
//! insider of the hospital, and passes what the claim says ([`InsiderProof`]) and whether its
//! label may be shown: k-anonymity per label, decided from the verified counts when the review
//! is written, so that a label is never revealed later and never stored unshown
//! ([`ReviewLabel`]). Texts are sealed with the review's content key, like a post's, so
//! deleting the review shreds them.
//!
//! # Layout
//! - `command`: what a member asks for.
//! - `event`: what happened, as stored and published.
//! - `error`: the rules a command can break, each with a stable code.
//! - `aggregate`: the rules themselves; `tests`: their given/when/then tests.

mod aggregate;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use crate::affiliation::Tenure;
pub use crate::member::JobCategory;
pub use crate::post::DeletedBy;
pub use crate::sealed::EventText;
pub use aggregate::{Review, ReviewServices};
pub use command::{
    DeleteReview, EditReview, InsiderProof, MarkHelpful, ReviewCommand, WriteReview,
};
pub use error::ReviewError;
pub use event::{upcast_fields, Ratings, ReviewEvent, ReviewLabel};

use std::ops::RangeInclusive;

use crate::text::TextRule;

/// Every rating, overall and sub-ratings alike: 1 to 5 stars.
pub const RATING: RangeInclusive<u8> = 1..=5;

/// A review's title: 1–100 characters after trimming, no personal data.
pub const TITLE: TextRule = TextRule {
    field: "title",
    min: 1,
    max: 100,
    public: true,
};
/// What is good about working there: 20–2,000 characters after trimming, no personal data.
pub const PROS: TextRule = TextRule {
    field: "pros",
    min: 20,
    max: 2_000,
    public: true,
};
/// What is bad about working there: 20–2,000 characters after trimming, no personal data.
pub const CONS: TextRule = TextRule {
    field: "cons",
    min: 20,
    max: 2_000,
    public: true,
};
/// Advice to management, when given: 1–1,000 characters after trimming, no personal data.
/// A blank advice counts as none.
pub const ADVICE: TextRule = TextRule {
    field: "advice",
    min: 1,
    max: 1_000,
    public: true,
};
