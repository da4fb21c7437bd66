/// A rule a post command broke. Each variant has a stable [`PostError::code`] that API clients
/// can rely on; the message is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The board does not exist.
    #[error("there is no board named {0:?}; boards are free and qna")]
    UnknownBoard(String),
    /// Nothing but white space in the title.
    #[error("the title is empty")]
    TitleEmpty,
    /// Title over the limit.
    #[error("the title has {0} characters; at most {max} are allowed", max = super::TITLE_MAX_CHARS)]
    TitleTooLong(usize),
    /// Nothing but white space in the body.
    #[error("the body is empty")]
    BodyEmpty,
    /// Body over the limit.
    #[error("the body has {0} characters; at most {max} are allowed", max = super::BODY_MAX_CHARS)]
    BodyTooLong(usize),
    /// The post was already created.
    #[error("this post already exists")]
    AlreadyExists,
}

impl PostError {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            PostError::UnknownBoard(_) => "board_unknown",
            PostError::TitleEmpty => "title_empty",
            PostError::TitleTooLong(_) => "title_too_long",
            PostError::BodyEmpty => "body_empty",
            PostError::BodyTooLong(_) => "body_too_long",
            PostError::AlreadyExists => "post_already_exists",
        }
    }
}
