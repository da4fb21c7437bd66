use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{
    Board, CreatePost, DeletePost, DeletedBy, EventText, PostCommand, PostError, PostEvent, BODY,
    TITLE,
};
use crate::author::{AuthorKey, AuthorRef};

/// What a post command handler may use besides the aggregate's own state.
#[derive(Debug, Clone)]
pub struct PostServices {
    /// Derives author references.
    pub author_key: AuthorKey,
}

/// A post, as far as its rules need to know it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Post {
    /// Set by `PostCreated`.
    author_ref: Option<AuthorRef>,
    /// Set by `PostDeleted`.
    deleted: bool,
}

impl Aggregate for Post {
    const TYPE: &'static str = "post";
    type Command = PostCommand;
    type Event = PostEvent;
    type Error = PostError;
    type Services = PostServices;

    async fn handle(
        &mut self,
        command: PostCommand,
        services: &PostServices,
        sink: &EventSink<Self>,
    ) -> Result<(), PostError> {
        let event = match command {
            PostCommand::Create(create) => self.create(create, services)?,
            PostCommand::Delete(delete) => self.delete(&delete, services)?,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: PostEvent) {
        match event {
            PostEvent::PostCreated { author_ref, .. } => self.author_ref = Some(author_ref),
            PostEvent::PostDeleted { .. } => self.deleted = true,
        }
    }
}

impl Post {
    fn create(&self, command: CreatePost, services: &PostServices) -> Result<PostEvent, PostError> {
        if self.author_ref.is_some() {
            return Err(PostError::AlreadyExists);
        }
        let board = Board::parse(&command.board)
            .ok_or_else(|| PostError::UnknownBoard(command.board.clone()))?;
        let title = TITLE.check(&command.title)?;
        let body = BODY.check(&command.body)?;
        let seal = |field: &str, text: &str| {
            EventText::Sealed(
                command
                    .content_key
                    .seal(Self::TYPE, command.post_id, field, text),
            )
        };
        Ok(PostEvent::PostCreated {
            board,
            title: seal("title", &title),
            body: seal("body", &body),
            author_ref: services
                .author_key
                .author_ref(Self::TYPE, command.post_id, command.author),
        })
    }

    fn delete(
        &self,
        command: &DeletePost,
        services: &PostServices,
    ) -> Result<PostEvent, PostError> {
        let author_ref = self.author_ref.as_ref().ok_or(PostError::NotFound)?;
        if self.deleted {
            return Err(PostError::Deleted);
        }
        let by = if services
            .author_key
            .author_ref(Self::TYPE, command.post_id, command.actor)
            == *author_ref
        {
            DeletedBy::Author
        } else if command.as_moderator {
            DeletedBy::Moderator
        } else {
            return Err(PostError::NotAuthor);
        };
        Ok(PostEvent::PostDeleted { by })
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;
    use uuid::Uuid;

    use super::*;
    use crate::member::MemberId;
    use crate::sealed::ContentKey;
    use crate::text::{PersonalData, TextError};

    type PostTest = TestFramework<Post>;

    fn services() -> PostServices {
        PostServices {
            author_key: AuthorKey::new(&[1; 32]).unwrap_or_else(|_| unreachable!()),
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
        }
    }

    #[test]
    fn a_valid_post_is_created_sealed_with_its_key_and_a_keyed_author() {
        let command = create("qna", "  야간 근무 질문 ", "\n본문입니다\n");
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
        let v1 = serde_json::json!({"board": "free", "title": "제목", "body": "본문", "author_ref": "ab"});
        let event = PostEvent::from_fields("PostCreated", "1", v1)?;
        assert_eq!(
            event,
            PostEvent::PostCreated {
                board: Board::Free,
                title: EventText::Legacy("제목".to_owned()),
                body: EventText::Legacy("본문".to_owned()),
                author_ref: AuthorRef("ab".to_owned()),
            }
        );
        Ok(())
    }
}
