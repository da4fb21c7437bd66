use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::author::{AuthorKey, AuthorRef};
use crate::member::MemberId;
use crate::rule::{BrokenRule, Refusal};
use crate::sealed::ContentKey;
use crate::text::{PersonalData, TextError};

type ReviewTest = TestFramework<Review>;

#[expect(
    clippy::expect_used,
    reason = "a 32-byte key is long enough: AuthorKey::new cannot fail"
)]
fn services() -> ReviewServices {
    ReviewServices {
        author_key: AuthorKey::new(&[2; 32]).expect("a 32-byte key"),
    }
}

fn key() -> AuthorKey {
    services().author_key
}

const PROS_TEXT: &str = "선배들이 친절하고 교육 체계가 잘 잡혀 있어요.";
const CONS_TEXT: &str = "야간 근무가 잦고 인력이 늘 부족한 편입니다.";

fn ratings() -> Ratings {
    Ratings {
        overall: 4,
        work_environment: 3,
        pay_benefits: 2,
        management: 1,
        care_quality: 5,
        work_life_balance: 3,
    }
}

/// A valid review of a fresh hospital by a fresh member.
fn write() -> WriteReview {
    let (hospital_id, author) = (Uuid::new_v4(), MemberId(Uuid::new_v4()));
    WriteReview {
        review_id: key().derive_id("review", hospital_id, author),
        hospital_id,
        author,
        insider: InsiderProof {
            job_category: JobCategory::Nurse,
            tenure: Tenure::Current,
        },
        label_shown: true,
        ratings: ratings(),
        title: "  간호사로 3년 일해 본 후기 ".to_owned(),
        pros: PROS_TEXT.to_owned(),
        cons: CONS_TEXT.to_owned(),
        advice: Some(" 인력을 늘려 주세요 ".to_owned()),
        would_recommend: true,
        content_key: ContentKey::generate(),
    }
}

/// The event a successful `command` records (texts as legacy placeholders).
fn written(command: &WriteReview) -> ReviewEvent {
    let text = EventText::Legacy("x".to_owned());
    ReviewEvent::ReviewWritten {
        hospital_id: command.hospital_id,
        ratings: command.ratings,
        title: text.clone(),
        pros: text.clone(),
        cons: text,
        advice: None,
        would_recommend: command.would_recommend,
        label: command.label_shown.then_some(ReviewLabel {
            job_category: command.insider.job_category,
            tenure: command.insider.tenure,
        }),
        author_ref: key().author_ref("review", command.review_id, command.author),
    }
}

fn deleted_by_author() -> ReviewEvent {
    ReviewEvent::ReviewDeleted {
        by: DeletedBy::Author,
    }
}

fn edit(command: &WriteReview, actor: MemberId) -> EditReview {
    EditReview {
        review_id: command.review_id,
        actor,
        insider: true,
        ratings: Ratings {
            overall: 2,
            ..ratings()
        },
        title: "다시 생각해 보니".to_owned(),
        pros: PROS_TEXT.to_owned(),
        cons: CONS_TEXT.to_owned(),
        advice: None,
        would_recommend: false,
        content_key: command.content_key.clone(),
    }
}

fn delete(command: &WriteReview, actor: MemberId, as_moderator: bool) -> ReviewCommand {
    ReviewCommand::Delete(DeleteReview {
        review_id: command.review_id,
        actor,
        as_moderator,
    })
}

fn helpful(command: &WriteReview, voter: MemberId) -> ReviewCommand {
    ReviewCommand::MarkHelpful(MarkHelpful {
        review_id: command.review_id,
        voter,
    })
}

/// The events a command records on top of `given`, or the error.
fn run(given: Vec<ReviewEvent>, command: ReviewCommand) -> Result<Vec<ReviewEvent>, ReviewError> {
    ReviewTest::with(services())
        .given(given)
        .when(command)
        .inspect_result()
}

fn refused(command: ReviewCommand, given: Vec<ReviewEvent>, error: ReviewError) {
    ReviewTest::with(services())
        .given(given)
        .when(command)
        .then_expect_error(error);
}

fn open(command: &WriteReview, field: &str, text: &EventText) -> Option<String> {
    match text {
        EventText::Sealed(sealed) => command
            .content_key
            .open("review", command.review_id, field, sealed)
            .ok(),
        EventText::Legacy(_) => None,
    }
}

#[test]
fn an_insider_writes_a_review_sealed_with_its_key_and_a_keyed_author() {
    let command = write();
    let events =
        run(vec![], ReviewCommand::Write(command.clone())).unwrap_or_else(|e| unreachable!("{e}"));
    let [ReviewEvent::ReviewWritten {
        hospital_id,
        ratings: recorded,
        title,
        pros,
        cons,
        advice: Some(advice),
        would_recommend: true,
        label:
            Some(ReviewLabel {
                job_category: JobCategory::Nurse,
                tenure: Tenure::Current,
            }),
        author_ref,
    }] = events.as_slice()
    else {
        unreachable!("one ReviewWritten with advice, got {events:?}")
    };
    assert_eq!(*hospital_id, command.hospital_id);
    assert_eq!(*recorded, ratings());
    assert_eq!(
        *author_ref,
        key().author_ref("review", command.review_id, command.author)
    );
    assert_eq!(
        open(&command, "title", title).as_deref(),
        Some("간호사로 3년 일해 본 후기")
    );
    assert_eq!(open(&command, "pros", pros).as_deref(), Some(PROS_TEXT));
    assert_eq!(open(&command, "cons", cons).as_deref(), Some(CONS_TEXT));
    assert_eq!(
        open(&command, "advice", advice).as_deref(),
        Some("인력을 늘려 주세요")
    );
    // A text opens only as the field it was sealed as.
    assert_eq!(open(&command, "pros", title), None);
}

#[test]
fn events_open_with_the_content_key_and_never_carry_the_member_id() -> serde_json::Result<()> {
    let command = write();
    let voter = MemberId(Uuid::new_v4());
    let moderator = MemberId(Uuid::new_v4());
    let mut given = vec![];
    let mut recorded = vec![];
    for step in [
        ReviewCommand::Write(command.clone()),
        ReviewCommand::Edit(edit(&command, command.author)),
        helpful(&command, voter),
        delete(&command, moderator, true),
    ] {
        let events = run(given.clone(), step).unwrap_or_else(|e| unreachable!("{e}"));
        given.extend(events.iter().cloned());
        recorded.extend(events);
    }
    assert_eq!(recorded.len(), 4);
    let mut opened = 0;
    for event in &recorded {
        let json = serde_json::to_string(event)?;
        for member in [command.author, voter, moderator] {
            assert!(!json.contains(&member.0.to_string()), "{json}");
            assert!(!json.contains(&member.0.simple().to_string()), "{json}");
        }
        for word in ["간호사", "선배", "야간", "인력"] {
            assert!(!json.contains(word), "{json}");
        }
        if let ReviewEvent::ReviewWritten {
            title,
            pros,
            cons,
            advice,
            ..
        }
        | ReviewEvent::ReviewEdited {
            title,
            pros,
            cons,
            advice,
            ..
        } = event
        {
            for (field, text) in [("title", title), ("pros", pros), ("cons", cons)] {
                assert!(open(&command, field, text).is_some(), "{field}");
                opened += 1;
            }
            if let Some(advice) = advice {
                assert!(open(&command, "advice", advice).is_some());
                opened += 1;
            }
        }
    }
    assert_eq!(opened, 7);
    Ok(())
}

#[test]
fn the_review_id_must_be_derived_from_author_and_hospital() {
    let mut command = write();
    command.review_id = Uuid::new_v4();
    refused(
        ReviewCommand::Write(command),
        vec![],
        ReviewError::IdMismatch,
    );
    let mut command = write();
    command.hospital_id = Uuid::new_v4();
    refused(
        ReviewCommand::Write(command),
        vec![],
        ReviewError::IdMismatch,
    );
}

#[test]
fn a_member_reviews_a_hospital_once() {
    let command = write();
    let given = vec![written(&command)];
    refused(
        ReviewCommand::Write(command),
        given,
        ReviewError::AlreadyWritten,
    );
}

#[test]
fn after_a_deletion_the_member_may_review_the_hospital_again() {
    let command = write();
    let voter = MemberId(Uuid::new_v4());
    let given = vec![
        written(&command),
        ReviewEvent::ReviewMarkedHelpful {
            voter_ref: key().author_ref("helpful", command.review_id, voter),
        },
        deleted_by_author(),
    ];
    let events = run(given.clone(), ReviewCommand::Write(command.clone()));
    assert!(matches!(
        events.as_deref(),
        Ok([ReviewEvent::ReviewWritten { .. }])
    ));
    // The new review is live, and helpful marks of the deleted one do not carry over.
    let mut rewritten = given;
    rewritten.push(written(&command));
    assert_eq!(
        run(rewritten.clone(), helpful(&command, voter)),
        Ok(vec![ReviewEvent::ReviewMarkedHelpful {
            voter_ref: key().author_ref("helpful", command.review_id, voter),
        }])
    );
    refused(
        ReviewCommand::Write(command),
        rewritten,
        ReviewError::AlreadyWritten,
    );
}

#[test]
fn a_shown_label_carries_every_job_category_and_tenure_into_the_event() {
    for category in JobCategory::ALL {
        for tenure in Tenure::ALL {
            let mut command = write();
            command.insider = InsiderProof {
                job_category: category,
                tenure,
            };
            let events = run(vec![], ReviewCommand::Write(command));
            let expected = ReviewLabel {
                job_category: category,
                tenure,
            };
            assert!(
                matches!(
                    events.as_deref(),
                    Ok([ReviewEvent::ReviewWritten { label: Some(label), .. }]) if *label == expected
                ),
                "{category:?} {tenure:?}: {events:?}"
            );
        }
    }
}

#[test]
fn a_label_that_is_not_shown_is_not_recorded_at_all() -> serde_json::Result<()> {
    for category in JobCategory::ALL {
        for tenure in Tenure::ALL {
            let mut command = write();
            command.insider = InsiderProof {
                job_category: category,
                tenure,
            };
            command.label_shown = false;
            let events =
                run(vec![], ReviewCommand::Write(command)).unwrap_or_else(|e| unreachable!("{e}"));
            let [written @ ReviewEvent::ReviewWritten { label: None, .. }] = events.as_slice()
            else {
                unreachable!("one ReviewWritten without a label, got {events:?}")
            };
            // Neither the log nor anything built from it can tell the author's category.
            let json = serde_json::to_value(written)?;
            let payload = json["ReviewWritten"]
                .as_object()
                .unwrap_or_else(|| unreachable!("{json}"));
            for field in ["label", "job_category", "tenure"] {
                assert!(!payload.contains_key(field), "{field}: {json}");
            }
        }
    }
    Ok(())
}

#[test]
fn an_edit_keeps_the_label_as_written() -> serde_json::Result<()> {
    for shown in [true, false] {
        let mut command = write();
        command.label_shown = shown;
        let edited = run(
            vec![written(&command)],
            ReviewCommand::Edit(edit(&command, command.author)),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        // The edit says nothing about the author: what `ReviewWritten` decided stands.
        let json = serde_json::to_string(&edited)?;
        for field in ["label", "job_category", "tenure", "nurse", "current"] {
            assert!(!json.contains(field), "{field}: {json}");
        }
    }
    Ok(())
}

#[test]
fn a_label_is_stored_as_snake_case_strings() -> serde_json::Result<()> {
    let mut command = write();
    command.insider = InsiderProof {
        job_category: JobCategory::MedicalTechnician,
        tenure: Tenure::Former,
    };
    let json = serde_json::to_value(written(&command))?;
    let payload = &json["ReviewWritten"];
    assert_eq!(
        payload["label"],
        serde_json::json!({"job_category": "medical_technician", "tenure": "former"})
    );
    assert!(payload.get("job_category").is_none(), "{json}");
    Ok(())
}

#[test]
fn a_version_1_review_written_reads_as_unlabelled() -> serde_json::Result<()> {
    // Version 1 always carried the author's category and tenure; readers saw them only per
    // the hospital's count, so whether the label may show cannot be known: none is read.
    let command = write();
    let mut version_1 = serde_json::to_value(written(&command))?["ReviewWritten"].take();
    if let Some(fields) = version_1.as_object_mut() {
        fields.remove("label");
        fields.insert("job_category".to_owned(), "pharmacist".into());
        fields.insert("tenure".to_owned(), "current".into());
    }
    let read = ReviewEvent::from_fields("ReviewWritten", "1", version_1)?;
    let mut unlabelled = command.clone();
    unlabelled.label_shown = false;
    assert_eq!(read, written(&unlabelled));
    assert_eq!(
        upcast_fields(
            "ReviewWritten",
            "1",
            serde_json::json!({"job_category": "nurse", "tenure": "former", "would_recommend": true})
        ),
        serde_json::json!({"would_recommend": true})
    );

    // Version 2 reads as written, with its label or without.
    for shown in [true, false] {
        let mut command = command.clone();
        command.label_shown = shown;
        let event = written(&command);
        let fields = serde_json::to_value(&event)?["ReviewWritten"].take();
        assert_eq!(
            ReviewEvent::from_fields("ReviewWritten", "2", fields)?,
            event
        );
    }
    let fields = serde_json::to_value(written(&command))?["ReviewWritten"].take();
    assert!(ReviewEvent::from_fields("ReviewWritten", "3", fields).is_err());
    assert!(
        ReviewEvent::from_fields("ReviewDeleted", "2", serde_json::json!({"by": "author"}))
            .is_err()
    );
    Ok(())
}

#[test]
fn every_rating_must_be_one_to_five() {
    type Set = fn(&mut Ratings, u8);
    let setters: [(&str, Set); 6] = [
        ("overall", |r, v| r.overall = v),
        ("work_environment", |r, v| r.work_environment = v),
        ("pay_benefits", |r, v| r.pay_benefits = v),
        ("management", |r, v| r.management = v),
        ("care_quality", |r, v| r.care_quality = v),
        ("work_life_balance", |r, v| r.work_life_balance = v),
    ];
    for (field, set) in setters {
        for value in [0, 6, u8::MAX] {
            let mut command = write();
            set(&mut command.ratings, value);
            refused(
                ReviewCommand::Write(command.clone()),
                vec![],
                ReviewError::RatingOutOfRange { field, value },
            );
            let mut change = edit(&command, command.author);
            set(&mut change.ratings, value);
            refused(
                ReviewCommand::Edit(change),
                vec![written(&command)],
                ReviewError::RatingOutOfRange { field, value },
            );
        }
        for value in [1, 5] {
            let mut command = write();
            set(&mut command.ratings, value);
            assert!(run(vec![], ReviewCommand::Write(command)).is_ok());
        }
    }
}

#[test]
fn a_rating_error_names_the_field_and_the_range() {
    let error = ReviewError::RatingOutOfRange {
        field: "management",
        value: 7,
    };
    assert_eq!(error.code(), "rating_out_of_range");
    assert_eq!(error.refusal(), Refusal::Invalid);
    let details = error.details();
    assert_eq!(details.get("field").map(String::as_str), Some("management"));
    assert_eq!(details.get("value").map(String::as_str), Some("7"));
    assert_eq!(details.get("min").map(String::as_str), Some("1"));
    assert_eq!(details.get("max").map(String::as_str), Some("5"));
}

fn write_with(change: impl FnOnce(&mut WriteReview)) -> ReviewCommand {
    let mut command = write();
    change(&mut command);
    ReviewCommand::Write(command)
}

#[test]
fn texts_keep_to_their_limits() {
    let cases: Vec<(ReviewCommand, TextError)> = vec![
        (
            write_with(|c| c.title = " ".to_owned()),
            TextError::Empty { field: "title" },
        ),
        (
            write_with(|c| c.title = "가".repeat(101)),
            TextError::TooLong {
                field: "title",
                max: 100,
                actual: 101,
            },
        ),
        (
            write_with(|c| c.pros = "가".repeat(19)),
            TextError::TooShort {
                field: "pros",
                min: 20,
                actual: 19,
            },
        ),
        (
            write_with(|c| c.pros = "가".repeat(2_001)),
            TextError::TooLong {
                field: "pros",
                max: 2_000,
                actual: 2_001,
            },
        ),
        (
            write_with(|c| c.cons = format!("  {}  ", "나".repeat(19))),
            TextError::TooShort {
                field: "cons",
                min: 20,
                actual: 19,
            },
        ),
        (
            write_with(|c| c.cons = "나".repeat(2_001)),
            TextError::TooLong {
                field: "cons",
                max: 2_000,
                actual: 2_001,
            },
        ),
        (
            write_with(|c| c.advice = Some("다".repeat(1_001))),
            TextError::TooLong {
                field: "advice",
                max: 1_000,
                actual: 1_001,
            },
        ),
    ];
    for (command, error) in cases {
        refused(command, vec![], ReviewError::Text(error));
    }
    let at_limits = write_with(|c| {
        c.title = "가".repeat(100);
        c.pros = "가".repeat(20);
        c.cons = "나".repeat(2_000);
        c.advice = Some("다".repeat(1_000));
    });
    assert!(run(vec![], at_limits).is_ok());
}

#[test]
fn a_blank_advice_counts_as_none() {
    for advice in [None, Some(String::new()), Some(" \n ".to_owned())] {
        let events = run(vec![], write_with(|c| c.advice = advice.clone()));
        assert!(
            matches!(
                events.as_deref(),
                Ok([ReviewEvent::ReviewWritten { advice: None, .. }])
            ),
            "{advice:?}: {events:?}"
        );
    }
}

#[test]
fn personal_data_in_any_text_is_refused_and_named() {
    let cases = [
        (
            write_with(|c| c.title = "수간호사 010-1234-5678".to_owned()),
            "title",
            PersonalData::PhoneNumber,
        ),
        (
            write_with(|c| c.pros = format!("{PROS_TEXT} 문의는 head.nurse@example.com")),
            "pros",
            PersonalData::EmailAddress,
        ),
        (
            write_with(|c| c.cons = format!("{CONS_TEXT} 부장 주민번호 800101-1234567")),
            "cons",
            PersonalData::ResidentRegistrationNumber,
        ),
        (
            write_with(|c| c.advice = Some("원장님 02-123-4567로 연락 바랍니다".to_owned())),
            "advice",
            PersonalData::PhoneNumber,
        ),
    ];
    for (command, field, found) in cases {
        let error = ReviewError::Text(TextError::PersonalData { field, found });
        assert_eq!(error.code(), "personal_data");
        refused(command, vec![], error);
    }
}

#[test]
fn only_the_author_edits_a_live_review() {
    let command = write();
    let given = vec![written(&command)];
    let events = run(
        given.clone(),
        ReviewCommand::Edit(edit(&command, command.author)),
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    let [ReviewEvent::ReviewEdited {
        ratings: recorded,
        title,
        advice: None,
        would_recommend: false,
        ..
    }] = events.as_slice()
    else {
        unreachable!("one ReviewEdited, got {events:?}")
    };
    assert_eq!(recorded.overall, 2);
    assert_eq!(
        open(&command, "title", title).as_deref(),
        Some("다시 생각해 보니")
    );
    refused(
        ReviewCommand::Edit(edit(&command, MemberId(Uuid::new_v4()))),
        given.clone(),
        ReviewError::NotAuthor,
    );
    let mut bad = edit(&command, command.author);
    bad.pros = "짧아요".to_owned();
    refused(
        ReviewCommand::Edit(bad),
        given.clone(),
        ReviewError::Text(TextError::TooShort {
            field: "pros",
            min: 20,
            actual: 3,
        }),
    );
    refused(
        ReviewCommand::Edit(edit(&command, command.author)),
        vec![],
        ReviewError::NotFound,
    );
    let mut gone = given;
    gone.push(deleted_by_author());
    refused(
        ReviewCommand::Edit(edit(&command, command.author)),
        gone,
        ReviewError::Deleted,
    );
}

#[test]
fn an_author_who_is_no_longer_an_insider_cannot_edit() {
    let command = write();
    let given = vec![written(&command)];
    let lapsed = EditReview {
        insider: false,
        ..edit(&command, command.author)
    };
    refused(
        ReviewCommand::Edit(lapsed.clone()),
        given.clone(),
        ReviewError::NotInsider,
    );
    // Someone else is told they are not the author, whatever their standing; a deleted or
    // missing review says so first.
    let stranger = EditReview {
        actor: MemberId(Uuid::new_v4()),
        ..lapsed.clone()
    };
    refused(
        ReviewCommand::Edit(stranger),
        given.clone(),
        ReviewError::NotAuthor,
    );
    refused(
        ReviewCommand::Edit(lapsed.clone()),
        vec![],
        ReviewError::NotFound,
    );
    let mut gone = given.clone();
    gone.push(deleted_by_author());
    refused(ReviewCommand::Edit(lapsed), gone, ReviewError::Deleted);
    // Deleting needs no standing: the author may still take the review down.
    ReviewTest::with(services())
        .given(given)
        .when(delete(&command, command.author, false))
        .then_expect_events(vec![deleted_by_author()]);
}

#[test]
fn a_review_knows_its_hospital() {
    let command = write();
    let mut review = Review::default();
    assert_eq!(review.hospital_id(), None);
    cqrs_es::Aggregate::apply(&mut review, written(&command));
    assert_eq!(review.hospital_id(), Some(command.hospital_id));
}

#[test]
fn the_author_deletes_their_review() {
    let command = write();
    ReviewTest::with(services())
        .given(vec![written(&command)])
        .when(delete(&command, command.author, false))
        .then_expect_events(vec![deleted_by_author()]);
}

#[test]
fn a_moderator_deletes_any_review_and_is_not_named() {
    let command = write();
    ReviewTest::with(services())
        .given(vec![written(&command)])
        .when(delete(&command, MemberId(Uuid::new_v4()), true))
        .then_expect_events(vec![ReviewEvent::ReviewDeleted {
            by: DeletedBy::Moderator,
        }]);
}

#[test]
fn another_member_cannot_delete_a_review() {
    let command = write();
    refused(
        delete(&command, MemberId(Uuid::new_v4()), false),
        vec![written(&command)],
        ReviewError::NotAuthor,
    );
}

#[test]
fn a_missing_or_deleted_review_cannot_be_deleted() {
    let command = write();
    refused(
        delete(&command, command.author, false),
        vec![],
        ReviewError::NotFound,
    );
    refused(
        delete(&command, command.author, true),
        vec![written(&command), deleted_by_author()],
        ReviewError::Deleted,
    );
}

#[test]
fn a_member_marks_a_review_helpful_once_and_never_their_own() {
    let command = write();
    let voter = MemberId(Uuid::new_v4());
    let voter_ref = key().author_ref("helpful", command.review_id, voter);
    assert_ne!(
        voter_ref,
        key().author_ref("review", command.review_id, voter)
    );
    ReviewTest::with(services())
        .given(vec![written(&command)])
        .when(helpful(&command, voter))
        .then_expect_events(vec![ReviewEvent::ReviewMarkedHelpful {
            voter_ref: voter_ref.clone(),
        }]);
    let marked = vec![
        written(&command),
        ReviewEvent::ReviewMarkedHelpful { voter_ref },
    ];
    refused(
        helpful(&command, voter),
        marked.clone(),
        ReviewError::AlreadyHelpful,
    );
    assert!(run(marked, helpful(&command, MemberId(Uuid::new_v4()))).is_ok());
    refused(
        helpful(&command, command.author),
        vec![written(&command)],
        ReviewError::OwnHelpful,
    );
}

#[test]
fn missing_or_deleted_reviews_cannot_be_marked_helpful() {
    let command = write();
    let voter = MemberId(Uuid::new_v4());
    refused(helpful(&command, voter), vec![], ReviewError::NotFound);
    refused(
        helpful(&command, voter),
        vec![written(&command), deleted_by_author()],
        ReviewError::Deleted,
    );
}

#[test]
fn every_error_has_a_stable_code_and_kind() {
    let cases = [
        (
            ReviewError::IdMismatch,
            "review_id_mismatch",
            Refusal::Invalid,
        ),
        (
            ReviewError::AlreadyWritten,
            "review_already_written",
            Refusal::Conflict,
        ),
        (ReviewError::NotFound, "review_not_found", Refusal::NotFound),
        (ReviewError::Deleted, "review_deleted", Refusal::Conflict),
        (ReviewError::NotAuthor, "not_author", Refusal::Forbidden),
        (ReviewError::NotInsider, "not_insider", Refusal::Forbidden),
        (
            ReviewError::OwnHelpful,
            "review_own_helpful",
            Refusal::Forbidden,
        ),
        (
            ReviewError::AlreadyHelpful,
            "review_already_helpful",
            Refusal::Conflict,
        ),
        (
            ReviewError::Text(TextError::Empty { field: "title" }),
            "title_empty",
            Refusal::Invalid,
        ),
    ];
    for (error, code, refusal) in cases {
        assert_eq!(error.code(), code);
        assert_eq!(error.refusal(), refusal, "{code}");
    }
}

#[test]
fn events_have_types_and_versions() {
    use cqrs_es::DomainEvent;
    let command = write();
    for (event, event_type, version) in [
        (written(&command), "ReviewWritten", "2"),
        (deleted_by_author(), "ReviewDeleted", "1"),
        (
            ReviewEvent::ReviewMarkedHelpful {
                voter_ref: AuthorRef("ab".to_owned()),
            },
            "ReviewMarkedHelpful",
            "1",
        ),
    ] {
        assert_eq!(event.event_type(), event_type);
        assert_eq!(event.event_version(), version, "{event_type}");
    }
}
