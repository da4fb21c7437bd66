//! The `Moderation` aggregate: everything that happens to one reported or moderated item — a
//! post, a comment or a review — reports by members, automatic hiding when enough distinct
//! members whose reports count reported it, and a moderator's hiding and restoring.
//!
//! Which reports count is the command side's decision (a verified claim at any hospital, or
//! an account older than a configured age), passed as a bare yes/no in [`Report::counts`]:
//! the aggregate never learns who the reporter is or why.
//!
//! The aggregate id is `"{kind}:{target_id}"` ([`aggregate_id`]), so every report of one item
//! meets in one place, and "one report per member per item" holds from the aggregate's own
//! state. Reporters appear only as per-item references (`author_ref("report", item, member)`),
//! and moderators not at all: the command side checks the role, the events never name who hid
//! or restored. `TargetHidden` and `TargetRestored` feed the public moderation log.
//!
//! # Layout
//! - `command`: what a member or a moderator asks for.
//! - `event`: what happened, as stored and published, and the target kinds and report reasons.
//! - `error`: the rules a command can break, each with a stable code.
//! - `aggregate`: the rules themselves; `tests`: their given/when/then tests.

mod aggregate;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use aggregate::{Moderation, ModerationServices, DEFAULT_AUTO_HIDE_THRESHOLD};
pub use command::{Hide, ModerationCommand, Report, Restore};
pub use error::ModerationError;
pub use event::{HiddenCause, ModerationEvent, ReportReason, TargetKind};

use uuid::Uuid;

use crate::text::TextRule;

/// A note with a report (to moderators only) or with a moderator's decision (public): 1–500
/// characters after trimming, no personal data. A blank note counts as none.
pub const NOTE: TextRule = TextRule {
    field: "note",
    min: 1,
    max: 500,
    public: true,
};

/// The id of the moderation aggregate of `kind`/`target_id`, e.g. `post:0190…`.
pub fn aggregate_id(kind: TargetKind, target_id: Uuid) -> String {
    format!("{}:{target_id}", kind.as_str())
}
