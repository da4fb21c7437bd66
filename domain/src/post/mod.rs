//! The `Post` aggregate: a thread on one of Ward's boards — the post, its comments and
//! replies, likes and the accepted answer. Comments live in the post aggregate so that
//! per-thread handles (글쓴이, 익명1, 익명2, …) are assigned in one place
//! (docs/adr/0005-comments-in-the-post-aggregate.md).
//!
//! # Layout
//! - `command`: what a member asks for.
//! - `event`: what happened, as stored and published.
//! - `error`: the rules a command can break, each with a stable code.
//! - `aggregate`: the rules themselves; `tests`: their given/when/then tests.

mod aggregate;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use crate::sealed::EventText;
pub use aggregate::{Post, PostServices};
pub use command::{
    AcceptAnswer, AddComment, CreatePost, DeleteComment, DeletePost, EditComment, EditPost,
    PostCommand, Vote,
};
pub use error::PostError;
pub use event::{upcast_fields, Badge, BadgeRegion, Board, DeletedBy, Handle, PostEvent};

use crate::text::TextRule;

/// A post's title: 1–100 characters after trimming, no personal data.
pub const TITLE: TextRule = TextRule {
    field: "title",
    min: 1,
    max: 100,
    public: true,
};
/// A post's body: 1–10,000 characters after trimming, no personal data.
pub const BODY: TextRule = TextRule {
    field: "body",
    min: 1,
    max: 10_000,
    public: true,
};
/// A comment: 1–2,000 characters after trimming, no personal data.
pub const COMMENT: TextRule = TextRule {
    field: "comment",
    min: 1,
    max: 2_000,
    public: true,
};
