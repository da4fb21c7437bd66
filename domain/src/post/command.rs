use uuid::Uuid;

use crate::member::MemberId;

/// Commands a `Post` accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum PostCommand {
    /// Publish a new post.
    Create(CreatePost),
}

/// Publish a new post. Fields arrive as the member typed them; the aggregate validates them.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatePost {
    /// The new post's id (also the aggregate id); chosen by the command side.
    pub post_id: Uuid,
    /// Who writes it. Used only to derive the author reference; never stored.
    pub author: MemberId,
    /// Board name as requested (`free`, `qna`).
    pub board: String,
    /// Title as typed.
    pub title: String,
    /// Body as typed.
    pub body: String,
}
