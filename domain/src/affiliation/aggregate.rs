use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ClaimCommand, ClaimError, ClaimEvent, Tenure, VerificationMethod, CLAIM_TTL_SECS};
use crate::member::JobCategory;

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// Submitted, waiting for verification.
    Open,
    /// Verified: the member is an insider of the hospital.
    Verified,
    /// Turned down by a moderator; may be submitted again.
    Rejected,
    /// Not decided in time; may be submitted again.
    Expired,
    /// Verified once, then withdrawn; may be submitted again.
    Revoked,
}

impl ClaimStatus {
    /// The status's name in errors and read models.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Open => "open",
            ClaimStatus::Verified => "verified",
            ClaimStatus::Rejected => "rejected",
            ClaimStatus::Expired => "expired",
            ClaimStatus::Revoked => "revoked",
        }
    }
}

/// An affiliation claim, as far as its rules and the command side's authorisation need to
/// know it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AffiliationClaim {
    /// The latest submission and where it stands; set by `ClaimSubmitted`.
    claim: Option<Submission>,
}

/// The latest submission of a claim.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Submission {
    status: ClaimStatus,
    hospital_id: Uuid,
    job_category: JobCategory,
    tenure: Tenure,
    submitted_at: u64,
}

impl Aggregate for AffiliationClaim {
    const TYPE: &'static str = "affiliation";
    type Command = ClaimCommand;
    type Event = ClaimEvent;
    type Error = ClaimError;
    type Services = ();

    async fn handle(
        &mut self,
        command: ClaimCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ClaimError> {
        let event = self.decide(command)?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: ClaimEvent) {
        let status = match event {
            ClaimEvent::ClaimSubmitted {
                hospital_id,
                job_category,
                tenure,
                submitted_at,
            } => {
                self.claim = Some(Submission {
                    status: ClaimStatus::Open,
                    hospital_id,
                    job_category,
                    tenure,
                    submitted_at,
                });
                return;
            }
            ClaimEvent::ClaimVerified { .. } => ClaimStatus::Verified,
            ClaimEvent::ClaimRejected { .. } => ClaimStatus::Rejected,
            ClaimEvent::ClaimRevoked {} => ClaimStatus::Revoked,
            ClaimEvent::ClaimExpired {} => ClaimStatus::Expired,
        };
        if let Some(claim) = &mut self.claim {
            claim.status = status;
        }
    }
}

impl AffiliationClaim {
    /// Where the claim stands; `None` if it was never submitted.
    pub fn status(&self) -> Option<ClaimStatus> {
        self.claim.map(|claim| claim.status)
    }

    /// Whether the claim is verified: the member is an insider of [`Self::hospital_id`].
    pub fn is_verified(&self) -> bool {
        self.status() == Some(ClaimStatus::Verified)
    }

    /// Whether the claim is open, waiting for verification.
    pub fn is_open(&self) -> bool {
        self.status() == Some(ClaimStatus::Open)
    }

    /// The hospital claimed.
    pub fn hospital_id(&self) -> Option<Uuid> {
        self.claim.map(|claim| claim.hospital_id)
    }

    /// The job category of the latest submission.
    pub fn job_category(&self) -> Option<JobCategory> {
        self.claim.map(|claim| claim.job_category)
    }

    /// The tenure (current or former staff) of the latest submission.
    pub fn tenure(&self) -> Option<Tenure> {
        self.claim.map(|claim| claim.tenure)
    }

    /// When the latest submission was made, Unix seconds.
    pub fn submitted_at(&self) -> Option<u64> {
        self.claim.map(|claim| claim.submitted_at)
    }

    fn decide(&self, command: ClaimCommand) -> Result<ClaimEvent, ClaimError> {
        match command {
            ClaimCommand::Submit {
                hospital_id,
                job_category,
                tenure,
                now,
            } => self.submit(hospital_id, job_category, tenure, now),
            ClaimCommand::Verify { method, now } => self.verify(method, now),
            ClaimCommand::Approve { by_claimant, now } => {
                if by_claimant {
                    // Checked after the state, so that a closed claim still says why first.
                    self.open()?;
                    return Err(ClaimError::OwnClaim);
                }
                self.verify(VerificationMethod::Moderator, now)
            }
            ClaimCommand::Reject { reason } => {
                self.open()?;
                Ok(ClaimEvent::ClaimRejected { reason })
            }
            ClaimCommand::Expire { now } => {
                let expires_at = self.open()?.submitted_at.saturating_add(CLAIM_TTL_SECS);
                if now < expires_at {
                    return Err(ClaimError::NotExpired { expires_at });
                }
                Ok(ClaimEvent::ClaimExpired {})
            }
            ClaimCommand::Revoke => match self.existing()?.status {
                ClaimStatus::Verified => Ok(ClaimEvent::ClaimRevoked {}),
                status => Err(ClaimError::NotVerified(status)),
            },
        }
    }

    fn verify(&self, method: VerificationMethod, now: u64) -> Result<ClaimEvent, ClaimError> {
        self.open()?;
        Ok(ClaimEvent::ClaimVerified {
            method,
            verified_at: now,
        })
    }

    /// The claim, if it was ever submitted.
    fn existing(&self) -> Result<Submission, ClaimError> {
        self.claim.ok_or(ClaimError::NotFound)
    }

    /// The claim, if it is open.
    fn open(&self) -> Result<Submission, ClaimError> {
        let claim = self.existing()?;
        match claim.status {
            ClaimStatus::Open => Ok(claim),
            ClaimStatus::Verified => Err(ClaimError::AlreadyVerified),
            status => Err(ClaimError::NotOpen(status)),
        }
    }

    fn submit(
        &self,
        hospital_id: Uuid,
        job_category: JobCategory,
        tenure: Tenure,
        now: u64,
    ) -> Result<ClaimEvent, ClaimError> {
        if let Some(claim) = self.claim {
            match claim.status {
                ClaimStatus::Open => return Err(ClaimError::AlreadyOpen),
                ClaimStatus::Verified => return Err(ClaimError::AlreadyVerified),
                ClaimStatus::Rejected | ClaimStatus::Expired | ClaimStatus::Revoked => {}
            }
            // The id derives from the hospital, so another hospital means a wrong id.
            if claim.hospital_id != hospital_id {
                return Err(ClaimError::HospitalMismatch {
                    claimed: claim.hospital_id,
                    requested: hospital_id,
                });
            }
        }
        Ok(ClaimEvent::ClaimSubmitted {
            hospital_id,
            job_category,
            tenure,
            submitted_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use cqrs_es::test::TestFramework;
    use cqrs_es::DomainEvent;

    use super::*;
    use crate::affiliation::{RejectReason, VerificationMethod};
    use crate::author::AuthorKey;
    use crate::member::MemberId;
    use crate::rule::{BrokenRule, Refusal};

    type ClaimTest = TestFramework<AffiliationClaim>;

    const NOW: u64 = 1_790_000_000;

    fn hospital() -> Uuid {
        Uuid::from_u128(0x5e01)
    }

    fn submit(now: u64) -> ClaimCommand {
        ClaimCommand::Submit {
            hospital_id: hospital(),
            job_category: JobCategory::Nurse,
            tenure: Tenure::Current,
            now,
        }
    }

    fn submitted() -> ClaimEvent {
        ClaimEvent::ClaimSubmitted {
            hospital_id: hospital(),
            job_category: JobCategory::Nurse,
            tenure: Tenure::Current,
            submitted_at: NOW,
        }
    }

    fn verified() -> ClaimEvent {
        ClaimEvent::ClaimVerified {
            method: VerificationMethod::WorkEmail,
            verified_at: NOW + 60,
        }
    }

    fn rejected() -> ClaimEvent {
        ClaimEvent::ClaimRejected {
            reason: RejectReason::NotStaff,
        }
    }

    /// Histories ending in each closed state: rejected, expired, revoked.
    fn closed() -> [(ClaimStatus, Vec<ClaimEvent>); 3] {
        [
            (ClaimStatus::Rejected, vec![submitted(), rejected()]),
            (
                ClaimStatus::Expired,
                vec![submitted(), ClaimEvent::ClaimExpired {}],
            ),
            (
                ClaimStatus::Revoked,
                vec![submitted(), verified(), ClaimEvent::ClaimRevoked {}],
            ),
        ]
    }

    /// The commands that need an open claim.
    fn deciding() -> [ClaimCommand; 5] {
        [
            ClaimCommand::Verify {
                method: VerificationMethod::Moderator,
                now: NOW + 60,
            },
            ClaimCommand::Approve {
                by_claimant: false,
                now: NOW + 60,
            },
            ClaimCommand::Approve {
                by_claimant: true,
                now: NOW + 60,
            },
            ClaimCommand::Reject {
                reason: RejectReason::Other,
            },
            ClaimCommand::Expire {
                now: NOW + CLAIM_TTL_SECS,
            },
        ]
    }

    fn state(events: Vec<ClaimEvent>) -> AffiliationClaim {
        let mut claim = AffiliationClaim::default();
        for event in events {
            claim.apply(event);
        }
        claim
    }

    #[test]
    fn a_submission_opens_a_claim() {
        ClaimTest::with(())
            .given_no_previous_events()
            .when(submit(NOW))
            .then_expect_events(vec![submitted()]);
    }

    #[test]
    fn a_rejected_expired_or_revoked_claim_can_be_submitted_again() {
        for (_, given) in closed() {
            ClaimTest::with(())
                .given(given)
                .when(ClaimCommand::Submit {
                    hospital_id: hospital(),
                    job_category: JobCategory::Doctor,
                    tenure: Tenure::Former,
                    now: NOW + CLAIM_TTL_SECS + 1,
                })
                .then_expect_events(vec![ClaimEvent::ClaimSubmitted {
                    hospital_id: hospital(),
                    job_category: JobCategory::Doctor,
                    tenure: Tenure::Former,
                    submitted_at: NOW + CLAIM_TTL_SECS + 1,
                }]);
        }
    }

    #[test]
    fn a_second_submission_while_open_is_refused() {
        ClaimTest::with(())
            .given(vec![submitted()])
            .when(submit(NOW + 1))
            .then_expect_error(ClaimError::AlreadyOpen);
    }

    #[test]
    fn a_submission_while_verified_is_refused() {
        ClaimTest::with(())
            .given(vec![submitted(), verified()])
            .when(submit(NOW + 1))
            .then_expect_error(ClaimError::AlreadyVerified);
    }

    #[test]
    fn a_resubmission_for_another_hospital_is_refused() {
        let other = Uuid::from_u128(42);
        ClaimTest::with(())
            .given(vec![submitted(), rejected()])
            .when(ClaimCommand::Submit {
                hospital_id: other,
                job_category: JobCategory::Nurse,
                tenure: Tenure::Current,
                now: NOW,
            })
            .then_expect_error(ClaimError::HospitalMismatch {
                claimed: hospital(),
                requested: other,
            });
    }

    #[test]
    fn an_open_claim_is_verified_by_either_method() {
        for method in VerificationMethod::ALL {
            ClaimTest::with(())
                .given(vec![submitted()])
                .when(ClaimCommand::Verify {
                    method,
                    now: NOW + 300,
                })
                .then_expect_events(vec![ClaimEvent::ClaimVerified {
                    method,
                    verified_at: NOW + 300,
                }]);
        }
    }

    #[test]
    fn a_moderator_approves_someone_elses_open_claim() {
        ClaimTest::with(())
            .given(vec![submitted()])
            .when(ClaimCommand::Approve {
                by_claimant: false,
                now: NOW + 300,
            })
            .then_expect_events(vec![ClaimEvent::ClaimVerified {
                method: VerificationMethod::Moderator,
                verified_at: NOW + 300,
            }]);
    }

    #[test]
    fn a_moderator_cannot_approve_their_own_claim_which_stays_open() {
        let given = vec![submitted()];
        ClaimTest::with(())
            .given(given.clone())
            .when(ClaimCommand::Approve {
                by_claimant: true,
                now: NOW + 300,
            })
            .then_expect_error(ClaimError::OwnClaim);
        assert!(state(given).is_open());
    }

    #[test]
    fn an_open_claim_is_rejected_for_any_reason() {
        for reason in RejectReason::ALL {
            ClaimTest::with(())
                .given(vec![submitted()])
                .when(ClaimCommand::Reject { reason })
                .then_expect_events(vec![ClaimEvent::ClaimRejected { reason }]);
        }
    }

    #[test]
    fn an_open_claim_expires_from_14_days_after_submission() {
        for now in [NOW + CLAIM_TTL_SECS, NOW + 30 * 24 * 3600] {
            ClaimTest::with(())
                .given(vec![submitted()])
                .when(ClaimCommand::Expire { now })
                .then_expect_events(vec![ClaimEvent::ClaimExpired {}]);
        }
    }

    #[test]
    fn an_open_claim_does_not_expire_before_14_days() {
        for now in [NOW, NOW + CLAIM_TTL_SECS - 1] {
            ClaimTest::with(())
                .given(vec![submitted()])
                .when(ClaimCommand::Expire { now })
                .then_expect_error(ClaimError::NotExpired {
                    expires_at: NOW + CLAIM_TTL_SECS,
                });
        }
    }

    #[test]
    fn a_verified_claim_is_revoked() {
        ClaimTest::with(())
            .given(vec![submitted(), verified()])
            .when(ClaimCommand::Revoke)
            .then_expect_events(vec![ClaimEvent::ClaimRevoked {}]);
    }

    #[test]
    fn a_claim_never_submitted_accepts_nothing_but_a_submission() {
        for command in deciding().into_iter().chain([ClaimCommand::Revoke]) {
            ClaimTest::with(())
                .given_no_previous_events()
                .when(command)
                .then_expect_error(ClaimError::NotFound);
        }
    }

    #[test]
    fn a_verified_claim_cannot_be_verified_rejected_or_expired() {
        for command in deciding() {
            ClaimTest::with(())
                .given(vec![submitted(), verified()])
                .when(command)
                .then_expect_error(ClaimError::AlreadyVerified);
        }
    }

    #[test]
    fn a_closed_claim_cannot_be_verified_rejected_or_expired() {
        for (status, given) in closed() {
            for command in deciding() {
                ClaimTest::with(())
                    .given(given.clone())
                    .when(command)
                    .then_expect_error(ClaimError::NotOpen(status));
            }
        }
    }

    #[test]
    fn only_a_verified_claim_can_be_revoked() {
        let [rejected, expired, revoked] = closed();
        for (status, given) in [
            (ClaimStatus::Open, vec![submitted()]),
            rejected,
            expired,
            revoked,
        ] {
            ClaimTest::with(())
                .given(given)
                .when(ClaimCommand::Revoke)
                .then_expect_error(ClaimError::NotVerified(status));
        }
    }

    #[test]
    fn the_read_helpers_follow_the_events() {
        let claim = state(vec![]);
        assert_eq!(claim.status(), None);
        assert!(!claim.is_open() && !claim.is_verified());
        assert_eq!(claim.hospital_id(), None);
        assert_eq!(claim.job_category(), None);
        assert_eq!(claim.tenure(), None);
        assert_eq!(claim.submitted_at(), None);

        let claim = state(vec![submitted()]);
        assert!(claim.is_open() && !claim.is_verified());
        assert_eq!(claim.hospital_id(), Some(hospital()));
        assert_eq!(claim.job_category(), Some(JobCategory::Nurse));
        assert_eq!(claim.tenure(), Some(Tenure::Current));
        assert_eq!(claim.submitted_at(), Some(NOW));

        let claim = state(vec![submitted(), verified()]);
        assert!(claim.is_verified() && !claim.is_open());
        assert_eq!(claim.status(), Some(ClaimStatus::Verified));

        for (status, given) in closed() {
            let claim = state(given);
            assert_eq!(claim.status(), Some(status));
            assert!(!claim.is_open() && !claim.is_verified(), "{status:?}");
            assert_eq!(claim.hospital_id(), Some(hospital()));
        }

        let mut given = vec![submitted(), rejected()];
        given.push(ClaimEvent::ClaimSubmitted {
            hospital_id: hospital(),
            job_category: JobCategory::Pharmacist,
            tenure: Tenure::Former,
            submitted_at: NOW + 99,
        });
        let claim = state(given);
        assert!(claim.is_open());
        assert_eq!(claim.job_category(), Some(JobCategory::Pharmacist));
        assert_eq!(claim.tenure(), Some(Tenure::Former));
        assert_eq!(claim.submitted_at(), Some(NOW + 99));
    }

    #[test]
    fn every_error_has_a_stable_code_and_kind() {
        let mismatch = ClaimError::HospitalMismatch {
            claimed: hospital(),
            requested: Uuid::nil(),
        };
        for (error, code, refusal) in [
            (ClaimError::NotFound, "claim_not_found", Refusal::NotFound),
            (
                ClaimError::AlreadyOpen,
                "claim_already_open",
                Refusal::Conflict,
            ),
            (
                ClaimError::AlreadyVerified,
                "claim_already_verified",
                Refusal::Conflict,
            ),
            (
                ClaimError::NotOpen(ClaimStatus::Rejected),
                "claim_not_open",
                Refusal::Conflict,
            ),
            (
                ClaimError::NotVerified(ClaimStatus::Open),
                "claim_not_verified",
                Refusal::Conflict,
            ),
            (
                ClaimError::NotExpired { expires_at: 1 },
                "claim_not_expired",
                Refusal::Conflict,
            ),
            (
                mismatch.clone(),
                "claim_hospital_mismatch",
                Refusal::Invalid,
            ),
            (ClaimError::OwnClaim, "own_claim", Refusal::Forbidden),
        ] {
            assert_eq!(error.code(), code);
            assert_eq!(error.refusal(), refusal, "{code}");
        }
        let details = ClaimError::NotOpen(ClaimStatus::Expired).details();
        assert_eq!(details.get("status").map(String::as_str), Some("expired"));
        let details = ClaimError::NotExpired { expires_at: 77 }.details();
        assert_eq!(details.get("expires_at").map(String::as_str), Some("77"));
        let details = mismatch.details();
        assert_eq!(
            details.get("claimed"),
            Some(&hospital().hyphenated().to_string())
        );
    }

    #[test]
    fn names_match_their_serialized_form() -> serde_json::Result<()> {
        for tenure in Tenure::ALL {
            assert_eq!(serde_json::to_value(tenure)?, tenure.as_str());
            assert_eq!(Tenure::parse(tenure.as_str()), Some(tenure));
        }
        for method in VerificationMethod::ALL {
            assert_eq!(serde_json::to_value(method)?, method.as_str());
            assert_eq!(VerificationMethod::parse(method.as_str()), Some(method));
        }
        for reason in RejectReason::ALL {
            assert_eq!(serde_json::to_value(reason)?, reason.as_str());
            assert_eq!(RejectReason::parse(reason.as_str()), Some(reason));
        }
        for status in [
            ClaimStatus::Open,
            ClaimStatus::Verified,
            ClaimStatus::Rejected,
            ClaimStatus::Expired,
            ClaimStatus::Revoked,
        ] {
            assert_eq!(serde_json::to_value(status)?, status.as_str());
        }
        assert_eq!(Tenure::parse("retired"), None);
        assert_eq!(CLAIM_TTL_SECS, 1_209_600);
        Ok(())
    }

    #[test]
    fn no_claim_event_carries_the_member_id_or_a_member_reference() -> Result<(), ClaimError> {
        let member = MemberId(Uuid::new_v4());
        let key = AuthorKey::new(&[5; 32]).unwrap_or_else(|e| unreachable!("{e}"));
        let hospital_id = Uuid::new_v4();
        let claim_id = key.derive_id("affiliation", hospital_id, member);
        let forbidden = [
            member.0.hyphenated().to_string(),
            member.0.simple().to_string(),
            key.member_ref(member).0,
            key.author_ref("affiliation", hospital_id, member).0,
            claim_id.hyphenated().to_string(),
        ];
        let submit = |now| ClaimCommand::Submit {
            hospital_id,
            job_category: JobCategory::Doctor,
            tenure: Tenure::Current,
            now,
        };
        // Every transition, one command at a time, so every event comes from a command.
        let mut history = Vec::new();
        for command in [
            submit(NOW),
            ClaimCommand::Reject {
                reason: RejectReason::InsufficientEvidence,
            },
            submit(NOW + 1),
            ClaimCommand::Expire {
                now: NOW + 1 + CLAIM_TTL_SECS,
            },
            submit(NOW + 2 * CLAIM_TTL_SECS),
            ClaimCommand::Verify {
                method: VerificationMethod::WorkEmail,
                now: NOW + 2 * CLAIM_TTL_SECS + 60,
            },
            ClaimCommand::Revoke,
        ] {
            let events = ClaimTest::with(())
                .given(history.clone())
                .when(command)
                .inspect_result()?;
            history.extend(events);
        }
        let types: BTreeSet<String> = history.iter().map(DomainEvent::event_type).collect();
        assert_eq!(types.len(), 5, "every claim event type: {types:?}");
        for event in &history {
            assert_eq!(event.event_version(), "1");
            let json = serde_json::to_string(event).unwrap_or_else(|e| unreachable!("{e}"));
            for secret in &forbidden {
                assert!(!json.contains(secret.as_str()), "{json} carries {secret}");
            }
        }
        Ok(())
    }
}
