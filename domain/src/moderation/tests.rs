use cqrs_es::test::TestFramework;
use cqrs_es::DomainEvent;
use uuid::Uuid;

use super::ReportReason::{Abuse, FalseInformation, Other, PersonalInformation, Spam};
use super::*;
use crate::author::AuthorKey;
use crate::member::MemberId;
use crate::rule::{BrokenRule, Refusal};
use crate::text::{PersonalData, TextError};

type ModerationTest = TestFramework<Moderation>;

#[expect(
    clippy::expect_used,
    reason = "a 32-byte key is long enough: AuthorKey::new cannot fail"
)]
fn key() -> AuthorKey {
    AuthorKey::new(&[3; 32]).expect("a 32-byte key")
}

fn services() -> ModerationServices {
    ModerationServices::new(key())
}

fn with_threshold(auto_hide_threshold: u32) -> ModerationServices {
    ModerationServices {
        author_key: key(),
        auto_hide_threshold,
    }
}

fn report(target_id: Uuid, reporter: MemberId, reason: ReportReason) -> Report {
    Report {
        kind: TargetKind::Post,
        target_id,
        reporter,
        reason,
        note: None,
        counts: true,
    }
}

/// A report by a member whose reports do not count (a new, unverified account).
fn uncounted_report(target_id: Uuid, reporter: MemberId, reason: ReportReason) -> Report {
    Report {
        counts: false,
        ..report(target_id, reporter, reason)
    }
}

/// The event `report` records.
fn filed(report: &Report) -> ModerationEvent {
    ModerationEvent::ReportFiled {
        kind: report.kind,
        target_id: report.target_id,
        reason: report.reason,
        reporter_ref: key().author_ref("report", report.target_id, report.reporter),
        counts: report.counts,
    }
}

/// `reasons.len()` reports of `target_id` by distinct members.
fn reports(target_id: Uuid, reasons: &[ReportReason]) -> Vec<ModerationEvent> {
    reasons
        .iter()
        .map(|&reason| filed(&report(target_id, MemberId(Uuid::new_v4()), reason)))
        .collect()
}

fn hidden_by_moderator() -> ModerationEvent {
    ModerationEvent::TargetHidden {
        cause: HiddenCause::Moderator,
        reason: ReportReason::Abuse,
        note: None,
    }
}

fn restored() -> ModerationEvent {
    ModerationEvent::TargetRestored { note: None }
}

fn hide(target_id: Uuid, note: Option<&str>) -> ModerationCommand {
    ModerationCommand::Hide(Hide {
        kind: TargetKind::Comment,
        target_id,
        reason: ReportReason::PersonalInformation,
        note: note.map(str::to_owned),
    })
}

fn restore(target_id: Uuid, note: Option<&str>) -> ModerationCommand {
    ModerationCommand::Restore(Restore {
        kind: TargetKind::Comment,
        target_id,
        note: note.map(str::to_owned),
    })
}

fn run(
    services: ModerationServices,
    given: Vec<ModerationEvent>,
    command: ModerationCommand,
) -> Result<Vec<ModerationEvent>, ModerationError> {
    ModerationTest::with(services)
        .given(given)
        .when(command)
        .inspect_result()
}

fn refused(command: ModerationCommand, given: Vec<ModerationEvent>, error: ModerationError) {
    ModerationTest::with(services())
        .given(given)
        .when(command)
        .then_expect_error(error);
}

#[test]
fn the_aggregate_id_names_kind_and_target() {
    let target = Uuid::new_v4();
    assert_eq!(
        aggregate_id(TargetKind::Review, target),
        format!("review:{target}")
    );
    for kind in TargetKind::ALL {
        assert_eq!(TargetKind::parse(kind.as_str()), Some(kind));
    }
    for reason in ReportReason::ALL {
        assert_eq!(ReportReason::parse(reason.as_str()), Some(reason));
    }
    assert_eq!(TargetKind::parse("member"), None);
    assert_eq!(ReportReason::parse("boring"), None);
}

#[test]
fn a_member_reports_an_item_under_a_keyed_reference() {
    let command = report(Uuid::new_v4(), MemberId(Uuid::new_v4()), Spam);
    ModerationTest::with(services())
        .given_no_previous_events()
        .when(ModerationCommand::Report(command.clone()))
        .then_expect_events(vec![filed(&command)]);
}

#[test]
fn a_member_reports_an_item_once() {
    let command = report(Uuid::new_v4(), MemberId(Uuid::new_v4()), Spam);
    let given = vec![filed(&command)];
    let again = Report {
        reason: Abuse,
        ..command.clone()
    };
    refused(
        ModerationCommand::Report(again),
        given.clone(),
        ModerationError::AlreadyReported,
    );
    let other = report(command.target_id, MemberId(Uuid::new_v4()), Spam);
    assert_eq!(
        run(services(), given, ModerationCommand::Report(other.clone())),
        Ok(vec![filed(&other)])
    );
}

#[test]
fn one_member_reporting_two_items_leaves_unrelated_references() {
    let member = MemberId(Uuid::new_v4());
    let (one, two) = (Uuid::new_v4(), Uuid::new_v4());
    assert_ne!(
        key().author_ref("report", one, member),
        key().author_ref("report", two, member)
    );
}

#[test]
fn a_report_note_is_checked_but_never_recorded() -> serde_json::Result<()> {
    let mut command = report(
        Uuid::new_v4(),
        MemberId(Uuid::new_v4()),
        PersonalInformation,
    );
    command.note = Some("  세 번째 문단에 실명이 나옵니다  ".to_owned());
    let events = run(
        services(),
        vec![],
        ModerationCommand::Report(command.clone()),
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(events, vec![filed(&command)]);
    let json = serde_json::to_string(&events)?;
    assert!(!json.contains("실명"), "{json}");
    assert!(!json.contains(&command.reporter.0.to_string()), "{json}");
    command.note = Some("가".repeat(501));
    refused(
        ModerationCommand::Report(command.clone()),
        vec![],
        ModerationError::Text(TextError::TooLong {
            field: "note",
            max: 500,
            actual: 501,
        }),
    );
    command.note = Some("제보자 연락처 010-2345-6789".to_owned());
    refused(
        ModerationCommand::Report(command.clone()),
        vec![],
        ModerationError::Text(TextError::PersonalData {
            field: "note",
            found: PersonalData::PhoneNumber,
        }),
    );
    for note in ["가".repeat(500), " ".to_owned()] {
        command.note = Some(note);
        assert!(run(
            services(),
            vec![],
            ModerationCommand::Report(command.clone())
        )
        .is_ok());
    }
    Ok(())
}

#[test]
fn the_report_that_reaches_the_threshold_hides_the_item_with_the_most_common_reason() {
    let target = Uuid::new_v4();
    let given = reports(target, &[Spam, Abuse, Spam, Other]);
    let fifth = report(target, MemberId(Uuid::new_v4()), Abuse);
    ModerationTest::with(services())
        .given(given.clone())
        .when(ModerationCommand::Report(fifth.clone()))
        .then_expect_events(vec![
            filed(&fifth),
            ModerationEvent::TargetHidden {
                cause: HiddenCause::Automatic,
                reason: Abuse,
                note: None,
            },
        ]);
    // Below the threshold, a report only files.
    let fourth = report(target, MemberId(Uuid::new_v4()), Spam);
    assert_eq!(
        run(
            services(),
            given[..3].to_vec(),
            ModerationCommand::Report(fourth.clone())
        ),
        Ok(vec![filed(&fourth)])
    );
}

#[test]
fn a_tie_between_reasons_goes_to_the_more_serious_one() {
    let target = Uuid::new_v4();
    let last = report(target, MemberId(Uuid::new_v4()), FalseInformation);
    let events = run(
        with_threshold(4),
        reports(target, &[Spam, FalseInformation, PersonalInformation]),
        ModerationCommand::Report(last),
    );
    assert!(
        matches!(
            events.as_deref(),
            Ok([
                ModerationEvent::ReportFiled { .. },
                ModerationEvent::TargetHidden {
                    cause: HiddenCause::Automatic,
                    reason: FalseInformation,
                    note: None
                }
            ])
        ),
        "{events:?}"
    );
    let last = report(target, MemberId(Uuid::new_v4()), Spam);
    let events = run(
        with_threshold(4),
        reports(target, &[Other, PersonalInformation, Spam]),
        ModerationCommand::Report(last),
    );
    assert!(
        matches!(
            events.as_deref(),
            Ok([_, ModerationEvent::TargetHidden { reason: Spam, .. }])
        ),
        "{events:?}"
    );
    let last = report(target, MemberId(Uuid::new_v4()), Other);
    let events = run(
        with_threshold(2),
        reports(target, &[PersonalInformation]),
        ModerationCommand::Report(last),
    );
    assert!(
        matches!(
            events.as_deref(),
            Ok([
                _,
                ModerationEvent::TargetHidden {
                    reason: PersonalInformation,
                    ..
                }
            ])
        ),
        "{events:?}"
    );
}

/// Reports by `count` distinct members, one command at a time, on top of `given`; returns the
/// whole history.
fn report_one_by_one(
    services: &ModerationServices,
    mut given: Vec<ModerationEvent>,
    target: Uuid,
    count: usize,
) -> Vec<ModerationEvent> {
    for _ in 0..count {
        let command = report(target, MemberId(Uuid::new_v4()), Abuse);
        let events = run(
            services.clone(),
            given.clone(),
            ModerationCommand::Report(command),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        given.extend(events);
    }
    given
}

fn automatic_hides(history: &[ModerationEvent]) -> Vec<usize> {
    history
        .iter()
        .enumerate()
        .filter(|(_, event)| {
            matches!(
                event,
                ModerationEvent::TargetHidden {
                    cause: HiddenCause::Automatic,
                    ..
                }
            )
        })
        .map(|(at, _)| at)
        .collect()
}

#[test]
fn the_threshold_hides_automatically_exactly_once() {
    let target = Uuid::new_v4();
    let history = report_one_by_one(&services(), vec![], target, 12);
    // Five reports, the hide right after the fifth, then seven more reports.
    assert_eq!(history.len(), 13);
    assert_eq!(automatic_hides(&history), vec![5]);
    // Once a moderator restored the item, more reports do not hide it again.
    let mut restored_history = history;
    restored_history.push(restored());
    let history = report_one_by_one(&services(), restored_history, target, 10);
    assert_eq!(automatic_hides(&history), vec![5]);
}

#[test]
fn reports_do_not_hide_an_item_a_moderator_hid_or_restored() {
    let target = Uuid::new_v4();
    let mut given = reports(target, &[Abuse, Abuse]);
    given.push(hidden_by_moderator());
    let history = report_one_by_one(&services(), given.clone(), target, 5);
    assert!(automatic_hides(&history).is_empty());
    given.push(restored());
    let history = report_one_by_one(&services(), given, target, 5);
    assert!(automatic_hides(&history).is_empty());
}

#[test]
fn a_threshold_of_zero_turns_automatic_hiding_off_and_one_hides_at_once() {
    let target = Uuid::new_v4();
    let history = report_one_by_one(&with_threshold(0), vec![], target, 6);
    assert!(automatic_hides(&history).is_empty());
    let history = report_one_by_one(&with_threshold(1), vec![], target, 3);
    assert_eq!(automatic_hides(&history), vec![1]);
    assert_eq!(services().auto_hide_threshold, DEFAULT_AUTO_HIDE_THRESHOLD);
    assert_eq!(DEFAULT_AUTO_HIDE_THRESHOLD, 5);
}

#[test]
fn reports_that_do_not_count_are_recorded_but_never_hide_an_item() {
    let target = Uuid::new_v4();
    let mut history = vec![];
    for _ in 0..8 {
        let command = uncounted_report(target, MemberId(Uuid::new_v4()), Spam);
        let events = run(
            with_threshold(3),
            history.clone(),
            ModerationCommand::Report(command.clone()),
        );
        assert_eq!(events, Ok(vec![filed(&command)]), "recorded, nothing more");
        history.extend(events.unwrap_or_default());
    }
    // Counting reports still hide it, at the threshold of counting ones alone.
    let history = report_one_by_one(&with_threshold(3), history, target, 3);
    assert_eq!(automatic_hides(&history), vec![8 + 3]);
}

#[test]
fn an_uncounted_reporter_cannot_report_twice_either() {
    let command = uncounted_report(Uuid::new_v4(), MemberId(Uuid::new_v4()), Spam);
    refused(
        ModerationCommand::Report(command.clone()),
        vec![filed(&command)],
        ModerationError::AlreadyReported,
    );
}

#[test]
fn only_counting_reports_choose_the_automatic_reason() {
    let target = Uuid::new_v4();
    let mut given: Vec<ModerationEvent> = (0..4)
        .map(|_| filed(&uncounted_report(target, MemberId(Uuid::new_v4()), Spam)))
        .collect();
    given.extend(reports(target, &[FalseInformation]));
    let last = report(target, MemberId(Uuid::new_v4()), FalseInformation);
    let events = run(
        with_threshold(2),
        given,
        ModerationCommand::Report(last.clone()),
    );
    assert_eq!(
        events,
        Ok(vec![
            filed(&last),
            ModerationEvent::TargetHidden {
                cause: HiddenCause::Automatic,
                reason: FalseInformation,
                note: None,
            }
        ])
    );
}

#[test]
fn a_version_1_report_counted_as_every_report_then_did() -> serde_json::Result<()> {
    let reporter_ref = key().author_ref("report", Uuid::nil(), MemberId(Uuid::nil()));
    let stored = serde_json::json!({"ReportFiled": {
        "kind": "post", "target_id": Uuid::nil(), "reason": "spam", "reporter_ref": reporter_ref
    }});
    let event: ModerationEvent = serde_json::from_value(stored)?;
    assert!(
        matches!(event, ModerationEvent::ReportFiled { counts: true, .. }),
        "{event:?}"
    );
    Ok(())
}

#[test]
fn whether_a_report_counts_is_the_same_bare_flag_for_every_reporter() -> serde_json::Result<()> {
    // Two members' reports of one item, and one member's reports of two items: apart from the
    // per-item reference, the events differ in nothing but what the member chose.
    let (one, two) = (Uuid::new_v4(), Uuid::new_v4());
    let (alice, bob) = (MemberId(Uuid::new_v4()), MemberId(Uuid::new_v4()));
    let fields = |report: &Report| -> serde_json::Result<serde_json::Value> {
        let mut json = serde_json::to_value(filed(report))?;
        json["ReportFiled"]["reporter_ref"] = serde_json::Value::Null;
        json["ReportFiled"]["target_id"] = serde_json::Value::Null;
        Ok(json)
    };
    for make in [report, uncounted_report] {
        let reports = [
            make(one, alice, Spam),
            make(one, bob, Spam),
            make(two, alice, Spam),
        ];
        let first = fields(&reports[0])?;
        for report in &reports {
            assert_eq!(fields(report)?, first);
        }
        let keys: Vec<String> = first["ReportFiled"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            ["counts", "kind", "reason", "reporter_ref", "target_id"],
            "no new field"
        );
    }
    Ok(())
}

#[test]
fn a_moderator_hides_a_visible_item_with_a_public_note() {
    let target = Uuid::new_v4();
    ModerationTest::with(services())
        .given_no_previous_events()
        .when(hide(target, Some("  실명이 드러나 가렸습니다 ")))
        .then_expect_events(vec![ModerationEvent::TargetHidden {
            cause: HiddenCause::Moderator,
            reason: PersonalInformation,
            note: Some("실명이 드러나 가렸습니다".to_owned()),
        }]);
    ModerationTest::with(services())
        .given(reports(target, &[Spam]))
        .when(hide(target, Some("   ")))
        .then_expect_events(vec![ModerationEvent::TargetHidden {
            cause: HiddenCause::Moderator,
            reason: PersonalInformation,
            note: None,
        }]);
}

#[test]
fn a_hidden_item_cannot_be_hidden_again() {
    let target = Uuid::new_v4();
    refused(
        hide(target, None),
        vec![hidden_by_moderator()],
        ModerationError::AlreadyHidden,
    );
    let mut auto = reports(target, &[Spam; 5]);
    auto.push(ModerationEvent::TargetHidden {
        cause: HiddenCause::Automatic,
        reason: Spam,
        note: None,
    });
    refused(hide(target, None), auto, ModerationError::AlreadyHidden);
}

#[test]
fn a_moderator_restores_a_hidden_item_and_may_hide_it_again() {
    let target = Uuid::new_v4();
    ModerationTest::with(services())
        .given(vec![hidden_by_moderator()])
        .when(restore(target, Some("검토 결과 문제없음")))
        .then_expect_events(vec![ModerationEvent::TargetRestored {
            note: Some("검토 결과 문제없음".to_owned()),
        }]);
    assert!(run(
        services(),
        vec![hidden_by_moderator(), restored()],
        hide(target, None)
    )
    .is_ok());
}

#[test]
fn a_visible_item_cannot_be_restored() {
    let target = Uuid::new_v4();
    refused(restore(target, None), vec![], ModerationError::NotHidden);
    refused(
        restore(target, None),
        vec![hidden_by_moderator(), restored()],
        ModerationError::NotHidden,
    );
}

#[test]
fn moderator_notes_keep_to_the_text_rule() {
    let target = Uuid::new_v4();
    refused(
        hide(target, Some(&"가".repeat(501))),
        vec![],
        ModerationError::Text(TextError::TooLong {
            field: "note",
            max: 500,
            actual: 501,
        }),
    );
    refused(
        restore(target, Some("작성자 메일 someone@example.com")),
        vec![hidden_by_moderator()],
        ModerationError::Text(TextError::PersonalData {
            field: "note",
            found: PersonalData::EmailAddress,
        }),
    );
}

#[test]
fn no_event_carries_a_member_id() -> serde_json::Result<()> {
    let target = Uuid::new_v4();
    let members: Vec<MemberId> = (0..5).map(|_| MemberId(Uuid::new_v4())).collect();
    let mut history = vec![];
    for member in &members {
        let events = run(
            services(),
            history.clone(),
            ModerationCommand::Report(report(target, *member, Abuse)),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        history.extend(events);
    }
    history.push(restored());
    history.push(hidden_by_moderator());
    assert_eq!(automatic_hides(&history).len(), 1);
    for event in &history {
        let json = serde_json::to_string(event)?;
        for member in &members {
            assert!(!json.contains(&member.0.to_string()), "{json}");
            assert!(!json.contains(&member.0.simple().to_string()), "{json}");
        }
    }
    Ok(())
}

#[test]
fn events_have_types_versions_and_snake_case_values() -> serde_json::Result<()> {
    let command = report(Uuid::new_v4(), MemberId(Uuid::new_v4()), FalseInformation);
    let json = serde_json::to_value(filed(&command))?;
    assert_eq!(json["ReportFiled"]["kind"], "post");
    assert_eq!(json["ReportFiled"]["reason"], "false_information");
    let hidden = ModerationEvent::TargetHidden {
        cause: HiddenCause::Automatic,
        reason: PersonalInformation,
        note: None,
    };
    let json = serde_json::to_value(&hidden)?;
    assert_eq!(json["TargetHidden"]["cause"], "automatic");
    assert_eq!(json["TargetHidden"]["reason"], "personal_information");
    assert_eq!(json_counts(&command)?, serde_json::json!(true));
    for (event, event_type, version) in [
        (filed(&command), "ReportFiled", "2"),
        (hidden, "TargetHidden", "1"),
        (restored(), "TargetRestored", "1"),
    ] {
        assert_eq!(event.event_type(), event_type);
        assert_eq!(event.event_version(), version);
    }
    Ok(())
}

fn json_counts(command: &Report) -> serde_json::Result<serde_json::Value> {
    Ok(serde_json::to_value(filed(command))?["ReportFiled"]["counts"].clone())
}

#[test]
fn every_error_has_a_stable_code_and_kind() {
    for (error, code, refusal) in [
        (
            ModerationError::AlreadyReported,
            "already_reported",
            Refusal::Conflict,
        ),
        (
            ModerationError::AlreadyHidden,
            "target_already_hidden",
            Refusal::Conflict,
        ),
        (
            ModerationError::NotHidden,
            "target_not_hidden",
            Refusal::Conflict,
        ),
        (
            ModerationError::Text(TextError::TooLong {
                field: "note",
                max: 500,
                actual: 501,
            }),
            "note_too_long",
            Refusal::Invalid,
        ),
    ] {
        assert_eq!(error.code(), code);
        assert_eq!(error.refusal(), refusal, "{code}");
    }
}
