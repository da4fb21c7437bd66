use uuid::Uuid;

use crate::member::MemberId;
use crate::sealed::ContentKey;

/// Commands a `Post` accepts.
#[derive(Debug, Clone)]
pub enum PostCommand {
    /// Publish a new post.
    Create(CreatePost),
    /// Delete a post (its author, or a moderator).
    Delete(DeletePost),
}

/// Publish a new post. Fields arrive as the member typed them; the aggregate validates them.
#[derive(Debug, Clone)]
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
    /// The post's data key, already stored in the key table; seals title and body.
    pub content_key: ContentKey,
}

/// Delete a post. Deleting destroys its content key (see `docs/privacy.md`).
#[derive(Debug, Clone)]
pub struct DeletePost {
    /// The post.
    pub post_id: Uuid,
    /// Who asks.
    pub actor: MemberId,
    /// Whether the actor acts as a moderator (the command side checked the role).
    pub as_moderator: bool,
}
