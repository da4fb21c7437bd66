use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

/// What a member does in a hospital, as the member states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobCategory {
    /// 의사.
    Doctor,
    /// 간호사 (and nursing assistants).
    Nurse,
    /// 약사.
    Pharmacist,
    /// 의료기사: radiology, laboratory, physical therapy, …
    MedicalTechnician,
    /// 행정: administration and office staff.
    Administration,
    /// Anyone else.
    Other,
}

impl JobCategory {
    /// Every job category, in display order.
    pub const ALL: [JobCategory; 6] = [
        JobCategory::Doctor,
        JobCategory::Nurse,
        JobCategory::Pharmacist,
        JobCategory::MedicalTechnician,
        JobCategory::Administration,
        JobCategory::Other,
    ];

    /// The category's name in URLs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            JobCategory::Doctor => "doctor",
            JobCategory::Nurse => "nurse",
            JobCategory::Pharmacist => "pharmacist",
            JobCategory::MedicalTechnician => "medical_technician",
            JobCategory::Administration => "administration",
            JobCategory::Other => "other",
        }
    }

    /// The category named `name`, if there is one.
    pub fn parse(name: &str) -> Option<JobCategory> {
        JobCategory::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// A role beyond plain membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Hides and restores content, suspends members, decides affiliation claims.
    Moderator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 1] = [Role::Moderator];

    /// The role's name in the CLI and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Moderator => "moderator",
        }
    }

    /// The role named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// What happened to a member. No event carries a member id: the aggregate id is the member's
/// pseudonym. Documented field by field in `docs/events.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MemberEvent {
    /// The member signed in for the first time (version 2: `registered_on`).
    MemberRegistered {
        /// The job category the member chose.
        job_category: JobCategory,
        /// The UTC day of registration, in days since 1970-01-01: how old the account is,
        /// for rules that trust older accounts more (reports), and no finer than a day.
        /// Absent in version 1, which reads as unknown.
        #[serde(default)]
        registered_on: Option<u64>,
    },
    /// The member changed their job category (version 1).
    JobCategoryChanged {
        /// The new job category.
        job_category: JobCategory,
    },
    /// The member withdrew ("forget me") (version 1).
    MemberWithdrew {},
    /// A moderator suspended the member (version 1); replaces any earlier suspension.
    MemberSuspended {
        /// End of the suspension, Unix seconds (exclusive).
        until: u64,
    },
    /// A moderator ended the member's suspension early (version 1).
    SuspensionLifted {},
    /// An operator gave the member a role (version 1).
    RoleGranted {
        /// The role.
        role: Role,
    },
    /// An operator took a role away (version 1).
    RoleRevoked {
        /// The role.
        role: Role,
    },
    /// The member has seen their notifications up to a time (version 1).
    NotificationsRead {
        /// Up to when, Unix seconds; later than any earlier mark.
        up_to: u64,
    },
}

impl DomainEvent for MemberEvent {
    fn event_type(&self) -> String {
        match self {
            MemberEvent::MemberRegistered { .. } => "MemberRegistered",
            MemberEvent::JobCategoryChanged { .. } => "JobCategoryChanged",
            MemberEvent::MemberWithdrew {} => "MemberWithdrew",
            MemberEvent::MemberSuspended { .. } => "MemberSuspended",
            MemberEvent::SuspensionLifted {} => "SuspensionLifted",
            MemberEvent::RoleGranted { .. } => "RoleGranted",
            MemberEvent::RoleRevoked { .. } => "RoleRevoked",
            MemberEvent::NotificationsRead { .. } => "NotificationsRead",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            MemberEvent::MemberRegistered { .. } => "2",
            _ => "1",
        }
        .to_owned()
    }
}
