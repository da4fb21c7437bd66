use uuid::Uuid;

use super::Badge;
use crate::member::MemberId;
use crate::sealed::ContentKey;

/// Commands a `Post` (a thread: the post and its comments) accepts. Texts arrive as the
/// member typed them; the aggregate validates and seals them.
#[derive(Debug, Clone)]
pub enum PostCommand {
    /// Publish a new post.
    Create(CreatePost),
    /// Change a post's title and body (its author).
    Edit(EditPost),
    /// Delete a post (its author, or a moderator).
    Delete(DeletePost),
    /// Like a post (once per member, not one's own).
    Like(Vote),
    /// Take a like back.
    Unlike(Vote),
    /// Comment on the post, or reply to a top-level comment.
    Comment(AddComment),
    /// Change a comment (its author).
    EditComment(EditComment),
    /// Delete a comment (its author, or a moderator).
    DeleteComment(DeleteComment),
    /// Accept a comment as the answer to a `qna` question (the question's author, once).
    AcceptAnswer(AcceptAnswer),
}

/// Publish a new post.
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
    /// The post's data key, already stored in the key table; seals title, body and badge.
    pub content_key: ContentKey,
    /// What the post shows about its author; the command side checked the hospital the
    /// author chose against their verified claim, and kept of it only what k-anonymity
    /// allowed at that moment (the hospital, its region and kind, or nothing).
    pub badge: Option<Badge>,
}

/// Change a post's title and body.
#[derive(Debug, Clone)]
pub struct EditPost {
    /// The post.
    pub post_id: Uuid,
    /// Who asks; must be the author.
    pub actor: MemberId,
    /// New title.
    pub title: String,
    /// New body.
    pub body: String,
    /// The post's data key.
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

/// A member's like of a post.
#[derive(Debug, Clone)]
pub struct Vote {
    /// The post.
    pub post_id: Uuid,
    /// Who likes it.
    pub member: MemberId,
}

/// Add a comment.
#[derive(Debug, Clone)]
pub struct AddComment {
    /// The post.
    pub post_id: Uuid,
    /// The new comment's id; chosen by the command side.
    pub comment_id: Uuid,
    /// Who writes it.
    pub author: MemberId,
    /// The top-level comment this replies to, if any.
    pub parent_id: Option<Uuid>,
    /// Text as typed.
    pub body: String,
    /// The comment's own data key, already stored in the key table.
    pub content_key: ContentKey,
}

/// Change a comment.
#[derive(Debug, Clone)]
pub struct EditComment {
    /// The post.
    pub post_id: Uuid,
    /// The comment.
    pub comment_id: Uuid,
    /// Who asks; must be the comment's author.
    pub actor: MemberId,
    /// New text.
    pub body: String,
    /// The comment's data key.
    pub content_key: ContentKey,
}

/// Delete a comment; its content key is destroyed with it.
#[derive(Debug, Clone)]
pub struct DeleteComment {
    /// The post.
    pub post_id: Uuid,
    /// The comment.
    pub comment_id: Uuid,
    /// Who asks.
    pub actor: MemberId,
    /// Whether the actor acts as a moderator (the command side checked the role).
    pub as_moderator: bool,
}

/// Accept an answer.
#[derive(Debug, Clone)]
pub struct AcceptAnswer {
    /// The question.
    pub post_id: Uuid,
    /// The comment accepted.
    pub comment_id: Uuid,
    /// Who asks; must be the question's author.
    pub actor: MemberId,
}
