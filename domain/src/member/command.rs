use super::{JobCategory, Role};

/// Commands a `Member` accepts. The member is addressed by pseudonym (the aggregate id); no
/// command carries a member id. Who may send which command is checked by the command side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberCommand {
    /// Register the member on first sign-in.
    Register {
        /// The job category the member chose.
        job_category: JobCategory,
        /// The time now, Unix seconds; only its UTC day is recorded.
        now: u64,
    },
    /// Change the job category; the current one records nothing.
    ChangeJobCategory {
        /// The new job category.
        job_category: JobCategory,
    },
    /// "Forget me": the member leaves Ward. Nothing is accepted afterwards.
    Withdraw,
    /// Suspend the member (a moderator; the command side checked the role). A suspension
    /// replaces any current one.
    Suspend {
        /// How long, in days ([`super::SUSPENSION_DAYS`]).
        days: u32,
        /// The time now, Unix seconds.
        now: u64,
    },
    /// End the member's suspension early (a moderator).
    LiftSuspension,
    /// Give the member a role (an operator, through the CLI).
    GrantRole {
        /// The role.
        role: Role,
    },
    /// Take a role away from the member (an operator, through the CLI).
    RevokeRole {
        /// The role.
        role: Role,
    },
    /// The member has seen their notifications up to a time; a time not later than the current
    /// mark records nothing.
    MarkNotificationsRead {
        /// Up to when, Unix seconds.
        up_to: u64,
    },
}
