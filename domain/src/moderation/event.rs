use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::author::AuthorRef;

/// The kinds of item members can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A post.
    Post,
    /// A comment or reply on a post.
    Comment,
    /// A hospital review.
    Review,
}

impl TargetKind {
    /// Every kind.
    pub const ALL: [TargetKind; 3] = [TargetKind::Post, TargetKind::Comment, TargetKind::Review];

    /// The kind's name in URLs, aggregate ids and events.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Post => "post",
            TargetKind::Comment => "comment",
            TargetKind::Review => "review",
        }
    }

    /// The kind named `name`, if there is one.
    pub fn parse(name: &str) -> Option<TargetKind> {
        TargetKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Why an item is reported or hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportReason {
    /// It exposes personal information (신상 노출, doxxing).
    PersonalInformation,
    /// Abuse, insults, harassment.
    Abuse,
    /// Spam or advertising.
    Spam,
    /// False information.
    FalseInformation,
    /// Anything else.
    Other,
}

impl ReportReason {
    /// Every reason, most serious first; ties in counting go to the earlier one.
    pub const ALL: [ReportReason; 5] = [
        ReportReason::PersonalInformation,
        ReportReason::Abuse,
        ReportReason::Spam,
        ReportReason::FalseInformation,
        ReportReason::Other,
    ];

    /// The reason's name in URLs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportReason::PersonalInformation => "personal_information",
            ReportReason::Abuse => "abuse",
            ReportReason::Spam => "spam",
            ReportReason::FalseInformation => "false_information",
            ReportReason::Other => "other",
        }
    }

    /// The reason named `name`, if there is one.
    pub fn parse(name: &str) -> Option<ReportReason> {
        ReportReason::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// Why an item was hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenCause {
    /// Enough distinct members reported it; it waits for a moderator's review.
    Automatic,
    /// A moderator (never named) hid it.
    Moderator,
}

/// What happened to a reported or moderated item. The item is the aggregate id,
/// `"{kind}:{target_id}"`. Documented field by field in `docs/events-review-moderation.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ModerationEvent {
    /// A member reported the item (version 2: `counts`). The report's note is not recorded.
    ReportFiled {
        /// What kind of item.
        kind: TargetKind,
        /// The item's id.
        target_id: Uuid,
        /// Why.
        reason: ReportReason,
        /// `author_ref("report", target_id, member)`: one per member and item, unlinkable
        /// elsewhere.
        reporter_ref: AuthorRef,
        /// Whether the report counts towards automatic hiding: the reporter held a verified
        /// claim or an account older than the configured minimum age. A bare yes/no, never
        /// why; every report of every such member carries the same value, and `reporter_ref`
        /// stays per item, so it links no two reports and names nobody. What it does tell a
        /// reader of the log: a `false` report came from a new, unverified account. Version 1
        /// reports (all of which counted) read as `true`.
        #[serde(default = "counted")]
        counts: bool,
    },
    /// The item was hidden from the public (version 1).
    TargetHidden {
        /// Automatically (report threshold) or by a moderator.
        cause: HiddenCause,
        /// The moderator's reason, or the most common reason among the reports.
        reason: ReportReason,
        /// The moderator's public note; none for automatic hiding.
        note: Option<String>,
    },
    /// A moderator made the item visible again (version 1).
    TargetRestored {
        /// The moderator's public note.
        note: Option<String>,
    },
}

impl DomainEvent for ModerationEvent {
    fn event_type(&self) -> String {
        match self {
            ModerationEvent::ReportFiled { .. } => "ReportFiled",
            ModerationEvent::TargetHidden { .. } => "TargetHidden",
            ModerationEvent::TargetRestored { .. } => "TargetRestored",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            ModerationEvent::ReportFiled { .. } => "2",
            _ => "1",
        }
        .to_owned()
    }
}

/// What a version 1 `ReportFiled`, which had no `counts`, reads as: every report counted.
fn counted() -> bool {
    true
}
