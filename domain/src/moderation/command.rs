use uuid::Uuid;

use super::{ReportReason, TargetKind};
use crate::member::MemberId;

/// Commands a `Moderation` accepts. Each names its target; the command side routes it to the
/// aggregate [`super::aggregate_id`]`(kind, target_id)`.
#[derive(Debug, Clone)]
pub enum ModerationCommand {
    /// A member reports the target (once per member).
    Report(Report),
    /// A moderator hides the target.
    Hide(Hide),
    /// A moderator makes a hidden target visible again.
    Restore(Restore),
}

/// A member reports an item. The command side checked that the item exists.
#[derive(Debug, Clone)]
pub struct Report {
    /// What kind of item.
    pub kind: TargetKind,
    /// The item's id.
    pub target_id: Uuid,
    /// Who reports it. Used only to derive the reporter reference; never stored.
    pub reporter: MemberId,
    /// Why.
    pub reason: ReportReason,
    /// A note to moderators, as typed. Checked, but not recorded in the event (see
    /// `docs/events-review-moderation.md`).
    pub note: Option<String>,
    /// Whether the report counts towards automatic hiding. The command side decides it from
    /// the reporter's write-side state (a verified claim at any hospital, or an account older
    /// than `command_api.report_weight_min_age_days`), so that a handful of fresh accounts
    /// cannot hide anything; a report that does not count still reaches moderators.
    pub counts: bool,
}

/// A moderator hides an item. The command side checked the role; the event does not name the
/// moderator.
#[derive(Debug, Clone)]
pub struct Hide {
    /// What kind of item.
    pub kind: TargetKind,
    /// The item's id.
    pub target_id: Uuid,
    /// Why.
    pub reason: ReportReason,
    /// An explanation for the public moderation log, as typed.
    pub note: Option<String>,
}

/// A moderator restores a hidden item. The command side checked the role.
#[derive(Debug, Clone)]
pub struct Restore {
    /// What kind of item.
    pub kind: TargetKind,
    /// The item's id.
    pub target_id: Uuid,
    /// An explanation for the public moderation log, as typed.
    pub note: Option<String>,
}
