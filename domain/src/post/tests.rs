use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::author::{AuthorKey, AuthorRef};
use crate::member::MemberId;
use crate::sealed::ContentKey;
use crate::text::{PersonalData, TextError};

type PostTest = TestFramework<Post>;

#[expect(
    clippy::expect_used,
    reason = "a 32-byte key is long enough: AuthorKey::new cannot fail"
)]
fn services() -> PostServices {
    PostServices {
        author_key: AuthorKey::new(&[1; 32]).expect("a 32-byte key"),
    }
}

fn create(board: &str, title: &str, body: &str) -> CreatePost {
    CreatePost {
        post_id: Uuid::new_v4(),
        author: MemberId(Uuid::new_v4()),
        board: board.to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        content_key: ContentKey::generate(),
        badge: None,
    }
}

fn refused(command: PostCommand, given: Vec<PostEvent>, error: PostError) {
    PostTest::with(services())
        .given(given)
        .when(command)
        .then_expect_error(error);
}

fn created(command: &CreatePost) -> PostEvent {
    let sealed = EventText::Sealed(command.content_key.seal("post", command.post_id, "t", "x"));
    PostEvent::PostCreated {
        board: Board::Free,
        title: sealed.clone(),
        body: sealed,
        author_ref: services()
            .author_key
            .author_ref("post", command.post_id, command.author),
        badge: None,
    }
}

#[test]
fn a_valid_post_is_created_sealed_with_its_key_and_a_keyed_author() {
    let mut command = create("qna", "  야간 근무 질문 ", "\n본문입니다\n");
    let badge = Badge {
        job_category: crate::member::JobCategory::Pharmacist,
        hospital_id: None,
        region: Some(BadgeRegion {
            sido: "부산".to_owned(),
            kind: "general".to_owned(),
        }),
    };
    command.badge = Some(badge.clone());
    let events = PostTest::with(services())
        .given_no_previous_events()
        .when(PostCommand::Create(command.clone()))
        .inspect_result()
        .unwrap_or_else(|e| unreachable!("{e}"));
    let [PostEvent::PostCreated {
        board,
        title,
        body,
        author_ref,
        badge: Some(sealed_badge),
    }] = events.as_slice()
    else {
        unreachable!("one PostCreated, got {events:?}")
    };
    assert_eq!(*board, Board::Qna);
    assert_eq!(
        *author_ref,
        services()
            .author_key
            .author_ref("post", command.post_id, command.author)
    );
    let open = |field: &str, text: &EventText| match text {
        EventText::Sealed(sealed) => command
            .content_key
            .open("post", command.post_id, field, sealed)
            .ok(),
        EventText::Legacy(_) => None,
    };
    assert_eq!(open("title", title).as_deref(), Some("야간 근무 질문"));
    assert_eq!(open("body", body).as_deref(), Some("본문입니다"));
    let opened: Option<Badge> =
        open("badge", sealed_badge).and_then(|json| serde_json::from_str(&json).ok());
    assert_eq!(opened, Some(badge));
}

#[test]
fn an_unknown_board_is_refused() {
    let command = create("secret", "title", "body");
    refused(
        PostCommand::Create(command),
        vec![],
        PostError::UnknownBoard("secret".to_owned()),
    );
}

#[test]
fn a_blank_title_is_refused() {
    let command = create("free", " \t ", "body");
    refused(
        PostCommand::Create(command),
        vec![],
        PostError::Text(TextError::Empty { field: "title" }),
    );
}

#[test]
fn a_title_of_101_characters_is_refused_and_100_is_accepted() {
    let command = create("free", &"가".repeat(101), "body");
    let error = PostError::Text(TextError::TooLong {
        field: "title",
        max: 100,
        actual: 101,
    });
    refused(PostCommand::Create(command), vec![], error);
    let command = create("free", &"가".repeat(100), "body");
    let events = PostTest::with(services())
        .given_no_previous_events()
        .when(PostCommand::Create(command))
        .inspect_result();
    assert!(events.is_ok());
}

#[test]
fn a_blank_body_is_refused() {
    let command = create("free", "title", "   ");
    refused(
        PostCommand::Create(command),
        vec![],
        PostError::Text(TextError::Empty { field: "body" }),
    );
}

#[test]
fn a_body_of_10001_characters_is_refused() {
    let command = create("free", "title", &"x".repeat(10_001));
    let error = PostError::Text(TextError::TooLong {
        field: "body",
        max: 10_000,
        actual: 10_001,
    });
    refused(PostCommand::Create(command), vec![], error);
}

#[test]
fn personal_data_in_the_body_is_refused_and_named() {
    let command = create("free", "title", "수간호사 연락처 010-9876-5432");
    let error = PostError::Text(TextError::PersonalData {
        field: "body",
        found: PersonalData::PhoneNumber,
    });
    refused(PostCommand::Create(command), vec![], error);
}

#[test]
fn a_post_cannot_be_created_twice() {
    let command = create("free", "title", "body");
    let given = vec![created(&command)];
    refused(
        PostCommand::Create(command),
        given,
        PostError::AlreadyExists,
    );
}

fn delete(command: &CreatePost, actor: MemberId, as_moderator: bool) -> PostCommand {
    PostCommand::Delete(DeletePost {
        post_id: command.post_id,
        actor,
        as_moderator,
    })
}

#[test]
fn the_author_deletes_their_post() {
    let command = create("free", "title", "body");
    PostTest::with(services())
        .given(vec![created(&command)])
        .when(delete(&command, command.author, false))
        .then_expect_events(vec![PostEvent::PostDeleted {
            by: DeletedBy::Author,
        }]);
}

#[test]
fn a_moderator_deletes_any_post_and_is_not_named() {
    let command = create("free", "title", "body");
    PostTest::with(services())
        .given(vec![created(&command)])
        .when(delete(&command, MemberId(Uuid::new_v4()), true))
        .then_expect_events(vec![PostEvent::PostDeleted {
            by: DeletedBy::Moderator,
        }]);
}

#[test]
fn another_member_cannot_delete_a_post() {
    let command = create("free", "title", "body");
    let given = vec![created(&command)];
    refused(
        delete(&command, MemberId(Uuid::new_v4()), false),
        given,
        PostError::NotAuthor,
    );
}

#[test]
fn a_missing_or_deleted_post_cannot_be_deleted() {
    let command = create("free", "title", "body");
    refused(
        delete(&command, command.author, false),
        vec![],
        PostError::NotFound,
    );
    let given = vec![
        created(&command),
        PostEvent::PostDeleted {
            by: DeletedBy::Author,
        },
    ];
    refused(
        delete(&command, command.author, false),
        given,
        PostError::Deleted,
    );
}

#[test]
fn a_version_1_post_created_event_is_upcast_to_legacy_texts() -> serde_json::Result<()> {
    let v1 =
        serde_json::json!({"board": "free", "title": "제목", "body": "본문", "author_ref": "ab"});
    let event = PostEvent::from_fields("PostCreated", "1", v1)?;
    assert_eq!(
        event,
        PostEvent::PostCreated {
            board: Board::Free,
            title: EventText::Legacy("제목".to_owned()),
            body: EventText::Legacy("본문".to_owned()),
            author_ref: AuthorRef("ab".to_owned()),
            badge: None,
        }
    );
    Ok(())
}

#[test]
fn a_badge_reads_as_written_from_version_4_and_as_its_job_category_before() {
    let hospital = Uuid::new_v4();
    let named = format!(r#"{{"job_category":"nurse","hospital_id":"{hospital}"}}"#);
    let regional = r#"{"job_category":"doctor","region":{"sido":"제주","kind":"hospital"}}"#;
    let nurse = |hospital_id| Badge {
        job_category: crate::member::JobCategory::Nurse,
        hospital_id,
        region: None,
    };
    assert_eq!(Badge::shown("4", &named).ok(), Some(nurse(Some(hospital))));
    assert_eq!(
        Badge::shown("4", regional).ok(),
        Some(Badge {
            job_category: crate::member::JobCategory::Doctor,
            hospital_id: None,
            region: Some(BadgeRegion {
                sido: "제주".to_owned(),
                kind: "hospital".to_owned(),
            }),
        })
    );
    // Version 3 badges were decided at read time: the hospital chosen is not shown.
    assert_eq!(Badge::shown("3", &named).ok(), Some(nurse(None)));
    assert!(Badge::shown("4", "not a badge").is_err());
    let created = PostEvent::PostCreated {
        board: Board::Free,
        title: EventText::Legacy("t".to_owned()),
        body: EventText::Legacy("b".to_owned()),
        author_ref: AuthorRef("ab".to_owned()),
        badge: None,
    };
    assert_eq!(cqrs_es::DomainEvent::event_version(&created), "4");
}

#[test]
fn a_version_2_post_created_event_reads_as_one_without_a_badge() -> serde_json::Result<()> {
    let v2 = serde_json::json!({"board": "qna", "title": {"legacy": "t"}, "body": {"legacy": "b"}, "author_ref": "ab"});
    let PostEvent::PostCreated { badge, board, .. } =
        PostEvent::from_fields("PostCreated", "2", v2)?
    else {
        unreachable!("a PostCreated")
    };
    assert_eq!((badge, board), (None, Board::Qna));
    Ok(())
}

fn comment_on(post: &CreatePost, author: MemberId, parent_id: Option<Uuid>) -> AddComment {
    AddComment {
        post_id: post.post_id,
        comment_id: Uuid::new_v4(),
        author,
        parent_id,
        body: "댓글입니다".to_owned(),
        content_key: ContentKey::generate(),
    }
}

/// The events a command produces on top of `given`, or the error.
fn run(given: Vec<PostEvent>, command: PostCommand) -> Result<Vec<PostEvent>, PostError> {
    PostTest::with(services())
        .given(given)
        .when(command)
        .inspect_result()
}

fn added(post: &CreatePost, comment: &AddComment, handle: Handle) -> PostEvent {
    PostEvent::CommentAdded {
        comment_id: comment.comment_id,
        parent_id: comment.parent_id,
        body: EventText::Legacy("x".to_owned()),
        handle,
        commenter_ref: services()
            .author_key
            .author_ref("thread", post.post_id, comment.author),
    }
}

fn handle_of(events: &[PostEvent]) -> Option<Handle> {
    match events {
        [PostEvent::CommentAdded { handle, .. }] => Some(*handle),
        _ => None,
    }
}

#[test]
fn commenters_get_stable_per_thread_handles_in_order_of_first_comment() {
    let post = create("free", "title", "body");
    let (first, second) = (MemberId(Uuid::new_v4()), MemberId(Uuid::new_v4()));
    let mut given = vec![created(&post)];
    let by_first = comment_on(&post, first, None);
    assert_eq!(
        handle_of(&run(given.clone(), PostCommand::Comment(by_first.clone())).unwrap_or_default()),
        Some(Handle::Anonymous(1))
    );
    given.push(added(&post, &by_first, Handle::Anonymous(1)));
    let by_op = comment_on(&post, post.author, None);
    assert_eq!(
        handle_of(&run(given.clone(), PostCommand::Comment(by_op)).unwrap_or_default()),
        Some(Handle::OriginalPoster)
    );
    let by_second = comment_on(&post, second, Some(by_first.comment_id));
    assert_eq!(
        handle_of(&run(given.clone(), PostCommand::Comment(by_second.clone())).unwrap_or_default()),
        Some(Handle::Anonymous(2))
    );
    given.push(added(&post, &by_second, Handle::Anonymous(2)));
    let first_again = comment_on(&post, first, None);
    assert_eq!(
        handle_of(&run(given, PostCommand::Comment(first_again)).unwrap_or_default()),
        Some(Handle::Anonymous(1))
    );
}

#[test]
fn the_same_member_gets_unrelated_references_in_two_threads() {
    let (one, two) = (create("free", "a", "b"), create("free", "c", "d"));
    let member = MemberId(Uuid::new_v4());
    let key = services().author_key;
    assert_ne!(
        key.author_ref("thread", one.post_id, member),
        key.author_ref("thread", two.post_id, member)
    );
}

#[test]
fn a_comment_is_sealed_with_its_own_key() {
    let post = create("free", "title", "body");
    let comment = comment_on(&post, MemberId(Uuid::new_v4()), None);
    let events =
        run(vec![created(&post)], PostCommand::Comment(comment.clone())).unwrap_or_default();
    let [PostEvent::CommentAdded {
        body: EventText::Sealed(sealed),
        ..
    }] = events.as_slice()
    else {
        unreachable!("{events:?}")
    };
    assert_eq!(
        comment
            .content_key
            .open("comment", comment.comment_id, "body", sealed)
            .as_deref(),
        Ok("댓글입니다")
    );
}

#[test]
fn replies_go_one_level_deep_and_not_under_deleted_or_missing_comments() {
    let post = create("free", "title", "body");
    let top = comment_on(&post, MemberId(Uuid::new_v4()), None);
    let reply = comment_on(&post, MemberId(Uuid::new_v4()), Some(top.comment_id));
    let given = vec![
        created(&post),
        added(&post, &top, Handle::Anonymous(1)),
        added(&post, &reply, Handle::Anonymous(2)),
    ];
    let deeper = comment_on(&post, MemberId(Uuid::new_v4()), Some(reply.comment_id));
    refused(
        PostCommand::Comment(deeper),
        given.clone(),
        PostError::ReplyTooDeep,
    );
    let orphan = comment_on(&post, MemberId(Uuid::new_v4()), Some(Uuid::new_v4()));
    refused(
        PostCommand::Comment(orphan),
        given.clone(),
        PostError::CommentNotFound,
    );
    let mut deleted = given;
    deleted.push(PostEvent::CommentDeleted {
        comment_id: top.comment_id,
        by: DeletedBy::Author,
    });
    let late = comment_on(&post, MemberId(Uuid::new_v4()), Some(top.comment_id));
    refused(
        PostCommand::Comment(late),
        deleted,
        PostError::CommentDeleted,
    );
}

#[test]
fn comments_are_refused_on_deleted_posts_and_checked_like_any_text() {
    let post = create("free", "title", "body");
    let mut comment = comment_on(&post, MemberId(Uuid::new_v4()), None);
    let gone = vec![
        created(&post),
        PostEvent::PostDeleted {
            by: DeletedBy::Author,
        },
    ];
    refused(
        PostCommand::Comment(comment.clone()),
        gone,
        PostError::Deleted,
    );
    comment.body = "메일 주세요 nurse@example.com".to_owned();
    let error = PostError::Text(TextError::PersonalData {
        field: "comment",
        found: PersonalData::EmailAddress,
    });
    refused(PostCommand::Comment(comment), vec![created(&post)], error);
}

#[test]
fn only_its_author_edits_a_comment_and_a_moderator_may_delete_it() {
    let post = create("free", "title", "body");
    let comment = comment_on(&post, MemberId(Uuid::new_v4()), None);
    let given = vec![created(&post), added(&post, &comment, Handle::Anonymous(1))];
    let edit = |actor| {
        PostCommand::EditComment(EditComment {
            post_id: post.post_id,
            comment_id: comment.comment_id,
            actor,
            body: "고쳤어요".to_owned(),
            content_key: comment.content_key.clone(),
        })
    };
    assert!(matches!(
        run(given.clone(), edit(comment.author)).as_deref(),
        Ok([PostEvent::CommentEdited { .. }])
    ));
    refused(
        edit(MemberId(Uuid::new_v4())),
        given.clone(),
        PostError::NotAuthor,
    );
    let delete = |actor, as_moderator| {
        PostCommand::DeleteComment(DeleteComment {
            post_id: post.post_id,
            comment_id: comment.comment_id,
            actor,
            as_moderator,
        })
    };
    refused(
        delete(MemberId(Uuid::new_v4()), false),
        given.clone(),
        PostError::NotAuthor,
    );
    assert_eq!(
        run(given.clone(), delete(MemberId(Uuid::new_v4()), true)),
        Ok(vec![PostEvent::CommentDeleted {
            comment_id: comment.comment_id,
            by: DeletedBy::Moderator
        }])
    );
    assert_eq!(
        run(given, delete(comment.author, false)),
        Ok(vec![PostEvent::CommentDeleted {
            comment_id: comment.comment_id,
            by: DeletedBy::Author
        }])
    );
}

#[test]
fn only_the_author_edits_a_post() {
    let post = create("free", "title", "body");
    let edit = |actor| {
        PostCommand::Edit(EditPost {
            post_id: post.post_id,
            actor,
            title: "새 제목".to_owned(),
            body: "새 본문".to_owned(),
            content_key: post.content_key.clone(),
        })
    };
    assert!(matches!(
        run(vec![created(&post)], edit(post.author)).as_deref(),
        Ok([PostEvent::PostEdited { .. }])
    ));
    refused(
        edit(MemberId(Uuid::new_v4())),
        vec![created(&post)],
        PostError::NotAuthor,
    );
}

#[test]
fn a_member_likes_a_post_once_and_never_their_own() {
    let post = create("free", "title", "body");
    let member = MemberId(Uuid::new_v4());
    let vote = Vote {
        post_id: post.post_id,
        member,
    };
    let liker_ref = services()
        .author_key
        .author_ref("like", post.post_id, member);
    assert_eq!(
        run(vec![created(&post)], PostCommand::Like(vote.clone())),
        Ok(vec![PostEvent::PostLiked {
            liker_ref: liker_ref.clone()
        }])
    );
    let liked = vec![
        created(&post),
        PostEvent::PostLiked {
            liker_ref: liker_ref.clone(),
        },
    ];
    refused(
        PostCommand::Like(vote.clone()),
        liked.clone(),
        PostError::AlreadyLiked,
    );
    assert_eq!(
        run(liked, PostCommand::Unlike(vote.clone())),
        Ok(vec![PostEvent::PostUnliked { liker_ref }])
    );
    refused(
        PostCommand::Unlike(vote),
        vec![created(&post)],
        PostError::NotLiked,
    );
    refused(
        PostCommand::Like(Vote {
            post_id: post.post_id,
            member: post.author,
        }),
        vec![created(&post)],
        PostError::OwnLike,
    );
}

#[test]
fn the_question_author_accepts_one_answer_by_someone_else() {
    let question = create("qna", "질문", "본문");
    let asked = PostEvent::PostCreated {
        board: Board::Qna,
        title: EventText::Legacy("q".to_owned()),
        body: EventText::Legacy("q".to_owned()),
        author_ref: services()
            .author_key
            .author_ref("post", question.post_id, question.author),
        badge: None,
    };
    let answer = comment_on(&question, MemberId(Uuid::new_v4()), None);
    let own = comment_on(&question, question.author, None);
    let given = vec![
        asked,
        added(&question, &answer, Handle::Anonymous(1)),
        added(&question, &own, Handle::OriginalPoster),
    ];
    let accept = |comment_id, actor| {
        PostCommand::AcceptAnswer(AcceptAnswer {
            post_id: question.post_id,
            comment_id,
            actor,
        })
    };
    assert_eq!(
        run(given.clone(), accept(answer.comment_id, question.author)),
        Ok(vec![PostEvent::AnswerAccepted {
            comment_id: answer.comment_id
        }])
    );
    refused(
        accept(answer.comment_id, answer.author),
        given.clone(),
        PostError::NotAuthor,
    );
    refused(
        accept(own.comment_id, question.author),
        given.clone(),
        PostError::OwnAnswer,
    );
    let mut accepted = given;
    accepted.push(PostEvent::AnswerAccepted {
        comment_id: answer.comment_id,
    });
    refused(
        accept(answer.comment_id, question.author),
        accepted,
        PostError::AnswerAlreadyAccepted,
    );
    let free = create("free", "t", "b");
    let on_free = comment_on(&free, MemberId(Uuid::new_v4()), None);
    let given = vec![created(&free), added(&free, &on_free, Handle::Anonymous(1))];
    refused(
        PostCommand::AcceptAnswer(AcceptAnswer {
            post_id: free.post_id,
            comment_id: on_free.comment_id,
            actor: free.author,
        }),
        given,
        PostError::NotAQuestion,
    );
}
