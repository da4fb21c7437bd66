use std::collections::BTreeSet;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{
    JobCategory, MemberCommand, MemberError, MemberEvent, Role, DAY_SECS, SUSPENSION_DAYS,
};

/// A member, as far as the rules and the command side's authorisation need to know it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Member {
    /// Set by `MemberRegistered`.
    registered: bool,
    /// Set by `MemberWithdrew`, which also clears everything below.
    withdrawn: bool,
    /// Set by `MemberRegistered` and `JobCategoryChanged`.
    job_category: Option<JobCategory>,
    /// The UTC day of registration (days since 1970-01-01); unknown for members who
    /// registered before it was recorded.
    #[serde(default)]
    registered_on: Option<u64>,
    /// End of the last suspension (Unix seconds, exclusive); cleared by `SuspensionLifted`.
    suspended_until: Option<u64>,
    /// Roles held.
    roles: BTreeSet<Role>,
    /// Up to when the member has seen their notifications (Unix seconds); set by
    /// `NotificationsRead`.
    #[serde(default)]
    notifications_read_up_to: u64,
}

impl Aggregate for Member {
    const TYPE: &'static str = "member";
    type Command = MemberCommand;
    type Event = MemberEvent;
    type Error = MemberError;
    type Services = ();

    async fn handle(
        &mut self,
        command: MemberCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), MemberError> {
        if let Some(event) = self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: MemberEvent) {
        match event {
            MemberEvent::MemberRegistered {
                job_category,
                registered_on,
            } => {
                self.registered = true;
                self.job_category = Some(job_category);
                self.registered_on = registered_on;
            }
            MemberEvent::JobCategoryChanged { job_category } => {
                self.job_category = Some(job_category);
            }
            MemberEvent::MemberWithdrew {} => {
                self.withdrawn = true;
                self.job_category = None;
                self.suspended_until = None;
                self.roles.clear();
            }
            MemberEvent::MemberSuspended { until } => self.suspended_until = Some(until),
            MemberEvent::SuspensionLifted {} => self.suspended_until = None,
            MemberEvent::RoleGranted { role } => {
                self.roles.insert(role);
            }
            MemberEvent::RoleRevoked { role } => {
                self.roles.remove(&role);
            }
            MemberEvent::NotificationsRead { up_to } => self.notifications_read_up_to = up_to,
        }
    }
}

impl Member {
    /// Whether the member registered and has not withdrawn. A suspended member is still
    /// registered; ask [`Member::is_suspended`] too.
    pub fn is_registered(&self) -> bool {
        self.registered && !self.withdrawn
    }

    /// Whether the member withdrew ("forget me").
    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn
    }

    /// Whether a suspension is in force at `now` (Unix seconds).
    pub fn is_suspended(&self, now: u64) -> bool {
        self.suspended_until.is_some_and(|until| now < until)
    }

    /// End of the last suspension not lifted (Unix seconds, exclusive), even if it has run out;
    /// for telling a suspended member until when.
    pub fn suspended_until(&self) -> Option<u64> {
        self.suspended_until
    }

    /// Whether the member holds `role` (never after withdrawal).
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The member's job category, while registered and not withdrawn.
    pub fn job_category(&self) -> Option<JobCategory> {
        self.job_category
    }

    /// How many UTC days have begun since the day the member registered, at `now` (Unix
    /// seconds): 0 on that day, 7 from the seventh midnight after it. `None` when the day is
    /// unknown (registered before it was recorded) or the member withdrew.
    pub fn age_in_days(&self, now: u64) -> Option<u64> {
        let registered_on = self.registered_on.filter(|_| self.is_registered())?;
        Some((now / DAY_SECS).saturating_sub(registered_on))
    }

    /// Up to when the member has seen their notifications (Unix seconds; 0 if never).
    pub fn notifications_read_up_to(&self) -> u64 {
        self.notifications_read_up_to
    }

    fn decide(&self, command: MemberCommand) -> Result<Option<MemberEvent>, MemberError> {
        if self.withdrawn {
            return Err(MemberError::Withdrawn);
        }
        match command {
            MemberCommand::Register { .. } if self.registered => {
                Err(MemberError::AlreadyRegistered)
            }
            MemberCommand::Register { job_category, now } => {
                Ok(Some(MemberEvent::MemberRegistered {
                    job_category,
                    registered_on: Some(now / DAY_SECS),
                }))
            }
            _ if !self.registered => Err(MemberError::NotFound),
            MemberCommand::ChangeJobCategory { job_category } => {
                let changed = self.job_category != Some(job_category);
                Ok(changed.then_some(MemberEvent::JobCategoryChanged { job_category }))
            }
            MemberCommand::Withdraw => Ok(Some(MemberEvent::MemberWithdrew {})),
            MemberCommand::Suspend { days, now } => {
                if !SUSPENSION_DAYS.contains(&days) {
                    return Err(MemberError::SuspensionDaysOutOfRange(days));
                }
                let until = now.saturating_add(u64::from(days) * DAY_SECS);
                Ok(Some(MemberEvent::MemberSuspended { until }))
            }
            MemberCommand::LiftSuspension => match self.suspended_until {
                Some(_) => Ok(Some(MemberEvent::SuspensionLifted {})),
                None => Err(MemberError::NotSuspended),
            },
            MemberCommand::GrantRole { role } if self.has_role(role) => {
                Err(MemberError::RoleAlreadyGranted(role))
            }
            MemberCommand::GrantRole { role } => Ok(Some(MemberEvent::RoleGranted { role })),
            MemberCommand::RevokeRole { role } if !self.has_role(role) => {
                Err(MemberError::RoleNotGranted(role))
            }
            MemberCommand::RevokeRole { role } => Ok(Some(MemberEvent::RoleRevoked { role })),
            MemberCommand::MarkNotificationsRead { up_to } => Ok((up_to
                > self.notifications_read_up_to)
                .then_some(MemberEvent::NotificationsRead { up_to })),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use cqrs_es::test::TestFramework;
    use cqrs_es::DomainEvent;
    use uuid::Uuid;

    use super::*;
    use crate::author::AuthorKey;
    use crate::member::MemberId;
    use crate::rule::{BrokenRule, Refusal};

    type MemberTest = TestFramework<Member>;

    const NOW: u64 = 1_790_000_000;

    fn registered() -> MemberEvent {
        MemberEvent::MemberRegistered {
            job_category: JobCategory::Nurse,
            registered_on: Some(NOW / DAY_SECS),
        }
    }

    fn moderator() -> MemberEvent {
        MemberEvent::RoleGranted {
            role: Role::Moderator,
        }
    }

    fn suspended() -> MemberEvent {
        MemberEvent::MemberSuspended {
            until: NOW + 7 * DAY_SECS,
        }
    }

    /// One of every command.
    fn every_command() -> Vec<MemberCommand> {
        vec![
            MemberCommand::Register {
                job_category: JobCategory::Doctor,
                now: NOW,
            },
            MemberCommand::ChangeJobCategory {
                job_category: JobCategory::Doctor,
            },
            MemberCommand::Withdraw,
            MemberCommand::Suspend { days: 7, now: NOW },
            MemberCommand::LiftSuspension,
            MemberCommand::GrantRole {
                role: Role::Moderator,
            },
            MemberCommand::RevokeRole {
                role: Role::Moderator,
            },
            MemberCommand::MarkNotificationsRead { up_to: NOW },
        ]
    }

    fn state(events: Vec<MemberEvent>) -> Member {
        let mut member = Member::default();
        for event in events {
            member.apply(event);
        }
        member
    }

    #[test]
    fn a_first_sign_in_registers_the_member_with_a_job_category() {
        MemberTest::with(())
            .given_no_previous_events()
            .when(MemberCommand::Register {
                job_category: JobCategory::Nurse,
                now: NOW,
            })
            .then_expect_events(vec![registered()]);
    }

    #[test]
    fn a_member_registers_once() {
        MemberTest::with(())
            .given(vec![registered()])
            .when(MemberCommand::Register {
                job_category: JobCategory::Doctor,
                now: NOW,
            })
            .then_expect_error(MemberError::AlreadyRegistered);
    }

    #[test]
    fn an_unregistered_member_accepts_nothing_but_registration() {
        for command in every_command().into_iter().skip(1) {
            MemberTest::with(())
                .given_no_previous_events()
                .when(command)
                .then_expect_error(MemberError::NotFound);
        }
    }

    #[test]
    fn a_withdrawn_member_accepts_no_command_at_all() {
        for command in every_command() {
            MemberTest::with(())
                .given(vec![
                    registered(),
                    moderator(),
                    suspended(),
                    MemberEvent::MemberWithdrew {},
                ])
                .when(command)
                .then_expect_error(MemberError::Withdrawn);
        }
    }

    #[test]
    fn registration_records_the_day_only() {
        let noon = 20_000 * DAY_SECS + 12 * 3600 + 34;
        MemberTest::with(())
            .given_no_previous_events()
            .when(MemberCommand::Register {
                job_category: JobCategory::Nurse,
                now: noon,
            })
            .then_expect_events(vec![MemberEvent::MemberRegistered {
                job_category: JobCategory::Nurse,
                registered_on: Some(20_000),
            }]);
    }

    #[test]
    fn an_accounts_age_counts_the_utc_days_begun_since_its_registration_day() {
        let day = NOW / DAY_SECS;
        let member = state(vec![registered()]);
        assert_eq!(member.age_in_days(NOW), Some(0));
        assert_eq!(member.age_in_days(day * DAY_SECS + DAY_SECS - 1), Some(0));
        assert_eq!(member.age_in_days((day + 7) * DAY_SECS), Some(7));
        // A clock behind the registration day does not make the account older.
        assert_eq!(member.age_in_days((day - 1) * DAY_SECS), Some(0));
    }

    #[test]
    fn an_account_of_unknown_or_ended_age_has_none() -> serde_json::Result<()> {
        // Version 1 registrations did not record the day.
        let stored = serde_json::json!({"MemberRegistered": {"job_category": "nurse"}});
        let version_1: MemberEvent = serde_json::from_value(stored)?;
        assert_eq!(state(vec![version_1]).age_in_days(NOW), None);
        assert_eq!(Member::default().age_in_days(NOW), None);
        let withdrawn = state(vec![registered(), MemberEvent::MemberWithdrew {}]);
        assert_eq!(withdrawn.age_in_days(NOW + 30 * DAY_SECS), None);
        Ok(())
    }

    #[test]
    fn a_changed_job_category_is_recorded() {
        MemberTest::with(())
            .given(vec![registered()])
            .when(MemberCommand::ChangeJobCategory {
                job_category: JobCategory::MedicalTechnician,
            })
            .then_expect_events(vec![MemberEvent::JobCategoryChanged {
                job_category: JobCategory::MedicalTechnician,
            }]);
    }

    #[test]
    fn an_unchanged_job_category_records_nothing() {
        MemberTest::with(())
            .given(vec![
                registered(),
                MemberEvent::JobCategoryChanged {
                    job_category: JobCategory::Pharmacist,
                },
            ])
            .when(MemberCommand::ChangeJobCategory {
                job_category: JobCategory::Pharmacist,
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_member_withdraws_even_while_suspended_or_a_moderator() {
        MemberTest::with(())
            .given(vec![registered(), moderator(), suspended()])
            .when(MemberCommand::Withdraw)
            .then_expect_events(vec![MemberEvent::MemberWithdrew {}]);
    }

    #[test]
    fn a_suspension_lasts_the_given_days_from_now() {
        for days in [1, 30, 365] {
            MemberTest::with(())
                .given(vec![registered()])
                .when(MemberCommand::Suspend { days, now: NOW })
                .then_expect_events(vec![MemberEvent::MemberSuspended {
                    until: NOW + u64::from(days) * 86_400,
                }]);
        }
    }

    #[test]
    fn a_suspension_of_0_or_366_days_is_refused() {
        for days in [0, 366, u32::MAX] {
            MemberTest::with(())
                .given(vec![registered()])
                .when(MemberCommand::Suspend { days, now: NOW })
                .then_expect_error(MemberError::SuspensionDaysOutOfRange(days));
        }
    }

    #[test]
    fn a_new_suspension_replaces_the_current_one() {
        MemberTest::with(())
            .given(vec![registered(), suspended()])
            .when(MemberCommand::Suspend {
                days: 1,
                now: NOW + DAY_SECS,
            })
            .then_expect_events(vec![MemberEvent::MemberSuspended {
                until: NOW + 2 * DAY_SECS,
            }]);
    }

    #[test]
    fn a_suspension_at_the_end_of_time_saturates() {
        MemberTest::with(())
            .given(vec![registered()])
            .when(MemberCommand::Suspend {
                days: 365,
                now: u64::MAX - 1,
            })
            .then_expect_events(vec![MemberEvent::MemberSuspended { until: u64::MAX }]);
    }

    #[test]
    fn a_suspension_is_lifted() {
        MemberTest::with(())
            .given(vec![registered(), suspended()])
            .when(MemberCommand::LiftSuspension)
            .then_expect_events(vec![MemberEvent::SuspensionLifted {}]);
    }

    #[test]
    fn there_is_nothing_to_lift_without_a_suspension() {
        for given in [
            vec![registered()],
            vec![registered(), suspended(), MemberEvent::SuspensionLifted {}],
        ] {
            MemberTest::with(())
                .given(given)
                .when(MemberCommand::LiftSuspension)
                .then_expect_error(MemberError::NotSuspended);
        }
    }

    #[test]
    fn a_role_is_granted_and_revoked() {
        MemberTest::with(())
            .given(vec![registered()])
            .when(MemberCommand::GrantRole {
                role: Role::Moderator,
            })
            .then_expect_events(vec![moderator()]);
        MemberTest::with(())
            .given(vec![registered(), moderator()])
            .when(MemberCommand::RevokeRole {
                role: Role::Moderator,
            })
            .then_expect_events(vec![MemberEvent::RoleRevoked {
                role: Role::Moderator,
            }]);
        MemberTest::with(())
            .given(vec![
                registered(),
                moderator(),
                MemberEvent::RoleRevoked {
                    role: Role::Moderator,
                },
            ])
            .when(MemberCommand::GrantRole {
                role: Role::Moderator,
            })
            .then_expect_events(vec![moderator()]);
    }

    #[test]
    fn notifications_are_marked_read_up_to_a_later_time_only() {
        MemberTest::with(())
            .given(vec![registered()])
            .when(MemberCommand::MarkNotificationsRead { up_to: NOW })
            .then_expect_events(vec![MemberEvent::NotificationsRead { up_to: NOW }]);
        MemberTest::with(())
            .given(vec![
                registered(),
                MemberEvent::NotificationsRead { up_to: NOW },
            ])
            .when(MemberCommand::MarkNotificationsRead { up_to: NOW + 1 })
            .then_expect_events(vec![MemberEvent::NotificationsRead { up_to: NOW + 1 }]);
    }

    #[test]
    fn a_mark_not_later_than_the_current_one_records_nothing() {
        for up_to in [0, NOW - 1, NOW] {
            MemberTest::with(())
                .given(vec![
                    registered(),
                    MemberEvent::NotificationsRead { up_to: NOW },
                ])
                .when(MemberCommand::MarkNotificationsRead { up_to })
                .then_expect_events(vec![]);
        }
        MemberTest::with(())
            .given(vec![registered()])
            .when(MemberCommand::MarkNotificationsRead { up_to: 0 })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_suspended_member_still_marks_notifications_read() {
        MemberTest::with(())
            .given(vec![registered(), suspended()])
            .when(MemberCommand::MarkNotificationsRead { up_to: NOW })
            .then_expect_events(vec![MemberEvent::NotificationsRead { up_to: NOW }]);
    }

    #[test]
    fn a_held_role_is_not_granted_again() {
        MemberTest::with(())
            .given(vec![registered(), moderator()])
            .when(MemberCommand::GrantRole {
                role: Role::Moderator,
            })
            .then_expect_error(MemberError::RoleAlreadyGranted(Role::Moderator));
    }

    #[test]
    fn a_role_not_held_is_not_revoked() {
        MemberTest::with(())
            .given(vec![registered()])
            .when(MemberCommand::RevokeRole {
                role: Role::Moderator,
            })
            .then_expect_error(MemberError::RoleNotGranted(Role::Moderator));
    }

    #[test]
    fn the_read_helpers_follow_the_events() {
        let member = state(vec![]);
        assert!(!member.is_registered() && !member.is_withdrawn());
        assert_eq!(member.job_category(), None);

        let member = state(vec![
            registered(),
            MemberEvent::JobCategoryChanged {
                job_category: JobCategory::Administration,
            },
            moderator(),
            suspended(),
        ]);
        assert!(member.is_registered() && !member.is_withdrawn());
        assert_eq!(member.job_category(), Some(JobCategory::Administration));
        assert_eq!(member.notifications_read_up_to(), 0);
        assert!(member.has_role(Role::Moderator));
        assert!(member.is_suspended(NOW));
        assert!(member.is_suspended(NOW + 7 * DAY_SECS - 1));
        assert!(!member.is_suspended(NOW + 7 * DAY_SECS));
        assert_eq!(member.suspended_until(), Some(NOW + 7 * DAY_SECS));

        let member = state(vec![
            registered(),
            suspended(),
            MemberEvent::SuspensionLifted {},
        ]);
        assert!(!member.is_suspended(NOW));

        let member = state(vec![
            registered(),
            MemberEvent::NotificationsRead { up_to: NOW },
        ]);
        assert_eq!(member.notifications_read_up_to(), NOW);

        let member = state(vec![
            registered(),
            moderator(),
            suspended(),
            MemberEvent::MemberWithdrew {},
        ]);
        assert!(!member.is_registered() && member.is_withdrawn());
        assert!(!member.has_role(Role::Moderator));
        assert!(!member.is_suspended(NOW));
        assert_eq!(member.job_category(), None);
    }

    #[test]
    fn every_error_has_a_stable_code_and_kind() {
        for (error, code, refusal) in [
            (
                MemberError::AlreadyRegistered,
                "member_already_registered",
                Refusal::Conflict,
            ),
            (MemberError::NotFound, "member_not_found", Refusal::NotFound),
            (
                MemberError::Withdrawn,
                "member_withdrawn",
                Refusal::Conflict,
            ),
            (
                MemberError::SuspensionDaysOutOfRange(0),
                "suspension_days_out_of_range",
                Refusal::Invalid,
            ),
            (
                MemberError::NotSuspended,
                "member_not_suspended",
                Refusal::Conflict,
            ),
            (
                MemberError::RoleAlreadyGranted(Role::Moderator),
                "role_already_granted",
                Refusal::Conflict,
            ),
            (
                MemberError::RoleNotGranted(Role::Moderator),
                "role_not_granted",
                Refusal::Conflict,
            ),
        ] {
            assert_eq!(error.code(), code);
            assert_eq!(error.refusal(), refusal, "{code}");
        }
        let details = MemberError::SuspensionDaysOutOfRange(400).details();
        assert_eq!(details.get("min").map(String::as_str), Some("1"));
        assert_eq!(details.get("max").map(String::as_str), Some("365"));
        assert_eq!(details.get("actual").map(String::as_str), Some("400"));
        let details = MemberError::RoleNotGranted(Role::Moderator).details();
        assert_eq!(details.get("role").map(String::as_str), Some("moderator"));
    }

    #[test]
    fn names_match_their_serialized_form() -> serde_json::Result<()> {
        for category in JobCategory::ALL {
            assert_eq!(serde_json::to_value(category)?, category.as_str());
            assert_eq!(JobCategory::parse(category.as_str()), Some(category));
        }
        for role in Role::ALL {
            assert_eq!(serde_json::to_value(role)?, role.as_str());
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(JobCategory::parse("surgeon"), None);
        assert_eq!(Role::parse("admin"), None);
        Ok(())
    }

    #[test]
    fn no_member_event_carries_the_member_id_or_its_pseudonym() -> Result<(), MemberError> {
        let member = MemberId(Uuid::new_v4());
        let key = AuthorKey::new(&[3; 32]).unwrap_or_else(|e| unreachable!("{e}"));
        let pseudonym = key.member_ref(member);
        // A member's whole life, one command at a time, so every event comes from a command.
        let mut history = Vec::new();
        for command in [
            MemberCommand::Register {
                job_category: JobCategory::Doctor,
                now: NOW,
            },
            MemberCommand::ChangeJobCategory {
                job_category: JobCategory::Nurse,
            },
            MemberCommand::GrantRole {
                role: Role::Moderator,
            },
            MemberCommand::RevokeRole {
                role: Role::Moderator,
            },
            MemberCommand::Suspend { days: 3, now: NOW },
            MemberCommand::LiftSuspension,
            MemberCommand::MarkNotificationsRead { up_to: NOW },
            MemberCommand::Withdraw,
        ] {
            let events = MemberTest::with(())
                .given(history.clone())
                .when(command)
                .inspect_result()?;
            history.extend(events);
        }
        let types: BTreeSet<String> = history.iter().map(DomainEvent::event_type).collect();
        assert_eq!(types.len(), 8, "every member event type: {types:?}");
        for event in &history {
            let version = match event {
                MemberEvent::MemberRegistered { .. } => "2",
                _ => "1",
            };
            assert_eq!(event.event_version(), version);
            let json = serde_json::to_string(event).unwrap_or_else(|e| unreachable!("{e}"));
            for secret in [
                member.0.hyphenated().to_string(),
                member.0.simple().to_string(),
                pseudonym.0.clone(),
            ] {
                assert!(!json.contains(&secret), "{json} carries {secret}");
            }
        }
        Ok(())
    }
}
