use std::collections::BTreeMap;

use crate::rule::{BrokenRule, Refusal};
use crate::text::TextError;

/// A rule a post command broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The board does not exist.
    #[error("there is no board named {0:?}; boards are free and qna")]
    UnknownBoard(String),
    /// The title or body breaks a text rule.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The post was already created.
    #[error("this post already exists")]
    AlreadyExists,
    /// There is no such post.
    #[error("there is no such post")]
    NotFound,
    /// The post was deleted.
    #[error("this post was deleted")]
    Deleted,
    /// Only the author (or a moderator) may do this.
    #[error("only the author may do this")]
    NotAuthor,
    /// Members cannot like their own posts.
    #[error("you cannot like your own post")]
    OwnLike,
    /// Liked already.
    #[error("you already like this post")]
    AlreadyLiked,
    /// Not liked.
    #[error("you do not like this post")]
    NotLiked,
    /// There is no such comment in this thread.
    #[error("there is no such comment")]
    CommentNotFound,
    /// The comment was deleted.
    #[error("this comment was deleted")]
    CommentDeleted,
    /// Replies go one level deep.
    #[error("replies can only be made to top-level comments")]
    ReplyTooDeep,
    /// Answers are accepted on `qna` posts only.
    #[error("only questions on the qna board have accepted answers")]
    NotAQuestion,
    /// An answer was accepted already.
    #[error("this question already has an accepted answer")]
    AnswerAlreadyAccepted,
    /// The question's author cannot accept their own comment.
    #[error("you cannot accept your own comment as the answer")]
    OwnAnswer,
}

impl BrokenRule for PostError {
    fn code(&self) -> String {
        match self {
            PostError::UnknownBoard(_) => "board_unknown".to_owned(),
            PostError::Text(text) => text.code(),
            PostError::AlreadyExists => "post_already_exists".to_owned(),
            PostError::NotFound => "post_not_found".to_owned(),
            PostError::Deleted => "post_deleted".to_owned(),
            PostError::NotAuthor => "not_author".to_owned(),
            PostError::OwnLike => "post_own_like".to_owned(),
            PostError::AlreadyLiked => "post_already_liked".to_owned(),
            PostError::NotLiked => "post_not_liked".to_owned(),
            PostError::CommentNotFound => "comment_not_found".to_owned(),
            PostError::CommentDeleted => "comment_deleted".to_owned(),
            PostError::ReplyTooDeep => "reply_too_deep".to_owned(),
            PostError::NotAQuestion => "not_a_question".to_owned(),
            PostError::AnswerAlreadyAccepted => "answer_already_accepted".to_owned(),
            PostError::OwnAnswer => "own_answer".to_owned(),
        }
    }

    fn refusal(&self) -> Refusal {
        match self {
            PostError::NotFound | PostError::CommentNotFound => Refusal::NotFound,
            PostError::NotAuthor | PostError::OwnLike | PostError::OwnAnswer => Refusal::Forbidden,
            PostError::AlreadyExists
            | PostError::Deleted
            | PostError::AlreadyLiked
            | PostError::NotLiked
            | PostError::CommentDeleted
            | PostError::AnswerAlreadyAccepted => Refusal::Conflict,
            PostError::UnknownBoard(_)
            | PostError::Text(_)
            | PostError::ReplyTooDeep
            | PostError::NotAQuestion => Refusal::Invalid,
        }
    }

    fn details(&self) -> BTreeMap<&'static str, String> {
        match self {
            PostError::Text(text) => BrokenRule::details(text),
            _ => BTreeMap::new(),
        }
    }
}
