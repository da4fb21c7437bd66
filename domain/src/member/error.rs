use std::collections::BTreeMap;

use super::{Role, SUSPENSION_DAYS};
use crate::rule::{BrokenRule, Refusal};

/// A rule a member command broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
    /// The member registered already.
    #[error("this member is already registered")]
    AlreadyRegistered,
    /// There is no such member (never registered).
    #[error("there is no such member")]
    NotFound,
    /// The member withdrew; nothing is accepted any more.
    #[error("this member has withdrawn")]
    Withdrawn,
    /// The suspension is shorter or longer than allowed.
    #[error(
        "a suspension of {0} days is not allowed; it lasts {min} to {max} days",
        min = SUSPENSION_DAYS.start(),
        max = SUSPENSION_DAYS.end()
    )]
    SuspensionDaysOutOfRange(u32),
    /// There is no suspension to lift.
    #[error("this member is not suspended")]
    NotSuspended,
    /// The member holds the role already.
    #[error("this member is already a {}", .0.as_str())]
    RoleAlreadyGranted(Role),
    /// The member does not hold the role.
    #[error("this member is not a {}", .0.as_str())]
    RoleNotGranted(Role),
}

impl BrokenRule for MemberError {
    fn code(&self) -> String {
        match self {
            MemberError::AlreadyRegistered => "member_already_registered",
            MemberError::NotFound => "member_not_found",
            MemberError::Withdrawn => "member_withdrawn",
            MemberError::SuspensionDaysOutOfRange(_) => "suspension_days_out_of_range",
            MemberError::NotSuspended => "member_not_suspended",
            MemberError::RoleAlreadyGranted(_) => "role_already_granted",
            MemberError::RoleNotGranted(_) => "role_not_granted",
        }
        .to_owned()
    }

    fn refusal(&self) -> Refusal {
        match self {
            MemberError::NotFound => Refusal::NotFound,
            MemberError::SuspensionDaysOutOfRange(_) => Refusal::Invalid,
            MemberError::AlreadyRegistered
            | MemberError::Withdrawn
            | MemberError::NotSuspended
            | MemberError::RoleAlreadyGranted(_)
            | MemberError::RoleNotGranted(_) => Refusal::Conflict,
        }
    }

    fn details(&self) -> BTreeMap<&'static str, String> {
        let mut details = BTreeMap::new();
        match self {
            MemberError::SuspensionDaysOutOfRange(days) => {
                details.insert("min", SUSPENSION_DAYS.start().to_string());
                details.insert("max", SUSPENSION_DAYS.end().to_string());
                details.insert("actual", days.to_string());
            }
            MemberError::RoleAlreadyGranted(role) | MemberError::RoleNotGranted(role) => {
                details.insert("role", role.as_str().to_owned());
            }
            _ => {}
        }
        details
    }
}
