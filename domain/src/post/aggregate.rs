use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{Board, CreatePost, PostCommand, PostError, PostEvent, BODY, TITLE};
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
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: PostEvent) {
        match event {
            PostEvent::PostCreated { author_ref, .. } => self.author_ref = Some(author_ref),
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
        Ok(PostEvent::PostCreated {
            board,
            title,
            body,
            author_ref: services
                .author_key
                .author_ref(Self::TYPE, command.post_id, command.author),
        })
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;
    use uuid::Uuid;

    use super::*;
    use crate::member::MemberId;
    use crate::text::{PersonalData, TextError};

    type PostTest = TestFramework<Post>;

    fn services() -> PostServices {
        PostServices {
            author_key: AuthorKey::new(&[1; 32]).unwrap_or_else(|_| unreachable!()),
        }
    }

    fn create(board: &str, title: &str, body: &str) -> (CreatePost, AuthorRef) {
        let command = CreatePost {
            post_id: Uuid::new_v4(),
            author: MemberId(Uuid::new_v4()),
            board: board.to_owned(),
            title: title.to_owned(),
            body: body.to_owned(),
        };
        let author_ref = services()
            .author_key
            .author_ref("post", command.post_id, command.author);
        (command, author_ref)
    }

    #[test]
    fn a_valid_post_is_created_with_trimmed_text_and_a_keyed_author() {
        let (command, author_ref) = create("qna", "  야간 근무 질문 ", "\n본문입니다\n");
        PostTest::with(services())
            .given_no_previous_events()
            .when(PostCommand::Create(command))
            .then_expect_events(vec![PostEvent::PostCreated {
                board: Board::Qna,
                title: "야간 근무 질문".to_owned(),
                body: "본문입니다".to_owned(),
                author_ref,
            }]);
    }

    #[test]
    fn an_unknown_board_is_refused() {
        let (command, _) = create("secret", "title", "body");
        PostTest::with(services())
            .given_no_previous_events()
            .when(PostCommand::Create(command))
            .then_expect_error(PostError::UnknownBoard("secret".to_owned()));
    }

    #[test]
    fn a_blank_title_is_refused() {
        let (command, _) = create("free", " \t ", "body");
        PostTest::with(services())
            .given_no_previous_events()
            .when(PostCommand::Create(command))
            .then_expect_error(PostError::Text(TextError::Empty { field: "title" }));
    }

    #[test]
    fn a_title_of_101_characters_is_refused_and_100_is_accepted() {
        let (command, _) = create("free", &"가".repeat(101), "body");
        PostTest::with(services())
            .given_no_previous_events()
            .when(PostCommand::Create(command))
            .then_expect_error(PostError::Text(TextError::TooLong {
                field: "title",
                max: 100,
                actual: 101,
            }));
        let (command, _) = create("free", &"가".repeat(100), "body");
        let events = PostTest::with(services())
            .given_no_previous_events()
            .when(PostCommand::Create(command))
            .inspect_result();
        assert!(events.is_ok());
    }

    #[test]
    fn a_blank_body_is_refused() {
        let (command, _) = create("free", "title", "   ");
        PostTest::with(services())
            .given_no_previous_events()
            .when(PostCommand::Create(command))
            .then_expect_error(PostError::Text(TextError::Empty { field: "body" }));
    }

    #[test]
    fn a_body_of_10001_characters_is_refused() {
        let (command, _) = create("free", "title", &"x".repeat(10_001));
        PostTest::with(services())
            .given_no_previous_events()
            .when(PostCommand::Create(command))
            .then_expect_error(PostError::Text(TextError::TooLong {
                field: "body",
                max: 10_000,
                actual: 10_001,
            }));
    }

    #[test]
    fn personal_data_in_the_body_is_refused_and_named() {
        let (command, _) = create("free", "title", "수간호사 연락처 010-9876-5432");
        PostTest::with(services())
            .given_no_previous_events()
            .when(PostCommand::Create(command))
            .then_expect_error(PostError::Text(TextError::PersonalData {
                field: "body",
                found: PersonalData::PhoneNumber,
            }));
    }

    #[test]
    fn a_post_cannot_be_created_twice() {
        let (command, author_ref) = create("free", "title", "body");
        PostTest::with(services())
            .given(vec![PostEvent::PostCreated {
                board: Board::Free,
                title: "title".to_owned(),
                body: "body".to_owned(),
                author_ref,
            }])
            .when(PostCommand::Create(command))
            .then_expect_error(PostError::AlreadyExists);
    }
}
