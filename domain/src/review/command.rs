use uuid::Uuid;

use super::{JobCategory, Ratings, Tenure};
use crate::member::MemberId;
use crate::sealed::ContentKey;

/// Commands a `Review` accepts. Texts arrive as the member typed them; the aggregate validates
/// and seals them.
#[derive(Debug, Clone)]
pub enum ReviewCommand {
    /// Write the member's review of a hospital (again, after a deletion).
    Write(WriteReview),
    /// Change the review's ratings and texts (its author).
    Edit(EditReview),
    /// Delete the review (its author, or a moderator).
    Delete(DeleteReview),
    /// Mark the review helpful (once per member, not one's own).
    MarkHelpful(MarkHelpful),
}

/// What the author's verified affiliation claim says, passed by the command side after it
/// checked that the author is an insider of the hospital.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsiderProof {
    /// The claim's job category.
    pub job_category: JobCategory,
    /// Whether the author works there now or used to.
    pub tenure: Tenure,
}

/// Write a review.
#[derive(Debug, Clone)]
pub struct WriteReview {
    /// The review's id (also the aggregate id):
    /// `AuthorKey::derive_id("review", hospital_id, author)`.
    pub review_id: Uuid,
    /// The hospital reviewed.
    pub hospital_id: Uuid,
    /// Who writes it. Used only to derive the author reference; never stored.
    pub author: MemberId,
    /// What the author's affiliation claim says.
    pub insider: InsiderProof,
    /// Whether the review shows its author's label (the claim's job category and tenure):
    /// the command side found, just now, at least K members with that category and tenure
    /// verified at the hospital. Decided once, here; the label is never added or taken away
    /// later, and when it is not shown the event does not carry it.
    pub label_shown: bool,
    /// The ratings, each 1–5.
    pub ratings: Ratings,
    /// Title as typed.
    pub title: String,
    /// Pros as typed.
    pub pros: String,
    /// Cons as typed.
    pub cons: String,
    /// Advice to management as typed, if any.
    pub advice: Option<String>,
    /// Whether the author would recommend working there.
    pub would_recommend: bool,
    /// The review's data key, already stored in the key table; seals the texts.
    pub content_key: ContentKey,
}

/// Change a review. Its label stays as written (shown or not).
#[derive(Debug, Clone)]
pub struct EditReview {
    /// The review.
    pub review_id: Uuid,
    /// Who asks; must be the author.
    pub actor: MemberId,
    /// Whether the actor is, now, a verified insider of the review's hospital — the standing
    /// writing needed. The command side read it from the claim aggregate; an author whose
    /// claim was revoked (or is open again) may no longer change what the review says,
    /// though they may still delete it.
    pub insider: bool,
    /// New ratings.
    pub ratings: Ratings,
    /// New title.
    pub title: String,
    /// New pros.
    pub pros: String,
    /// New cons.
    pub cons: String,
    /// New advice, if any.
    pub advice: Option<String>,
    /// New recommendation.
    pub would_recommend: bool,
    /// The review's data key.
    pub content_key: ContentKey,
}

/// Delete a review. Deleting destroys its content key (see `docs/privacy.md`).
#[derive(Debug, Clone)]
pub struct DeleteReview {
    /// The review.
    pub review_id: Uuid,
    /// Who asks.
    pub actor: MemberId,
    /// Whether the actor acts as a moderator (the command side checked the role).
    pub as_moderator: bool,
}

/// A member finds a review helpful.
#[derive(Debug, Clone)]
pub struct MarkHelpful {
    /// The review.
    pub review_id: Uuid,
    /// Who marks it.
    pub voter: MemberId,
}
